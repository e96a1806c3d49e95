//! Every signature shape that Windows accepts and shipped files contain, built here (with
//! OpenSSL for the signatures our own signer refuses to make) and verified:
//! - legacy counter-signatures with SHA-1, SHA-256 or MD5, the RSA signature with or without
//!   its DigestInfo (VeriSign's and Symantec's services signed the bare digest), contentType
//!   absent, id-data or id-ct-TSTInfo, signingTime as UTCTime or GeneralizedTime;
//! - RFC 3161 tokens whose TSTInfo imprint uses another digest than the token's signer;
//! - SignedData and SignerInfo version 3 (signer named by subjectKeyIdentifier), from
//!   `openssl cms -keyid`, and the other version numbers;
//! - signed attributes in any order and with BER (long-form) lengths;
//! - MD5 and SHA-1 file digests (valid with a `weak-algorithm` warning under the windows
//!   policy, invalid under strict).

mod common;
mod tsa;

use std::path::Path;

use authsign::cms::tlv::{self, tag};
use authsign::cms::{edit, oids, SignedData};
use authsign::signer::LocalSigner;
use authsign::timestamp::rfc3161::ID_CT_TST_INFO;
use authsign::timestamp::{self, TimestampKind};
use authsign::verify::{Policy, Report, Verifier};
use authsign::{DigestAlgorithm, SignOptions, Signer};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use x509_cert::Certificate;

use common::{fixture, openssl_in, pki, require_tool, TempDir};

fn root() -> Vec<Certificate> {
    authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap()
}

fn windows() -> Verifier {
    Verifier::new(Policy::windows().trusting(root()))
}

fn strict() -> Verifier {
    Verifier::new(Policy::strict().trusting(root()))
}

fn hello() -> Vec<u8> {
    std::fs::read(fixture("pe/hello64.exe")).unwrap()
}

fn leaf() -> LocalSigner {
    LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")]).unwrap()
}

/// A PE signature by the test leaf over hello64.exe (SHA-256, signtool profile).
fn signed_pkcs7() -> Vec<u8> {
    let exe = hello();
    let subject = authsign::open(&exe).unwrap();
    authsign::sign(subject.as_ref(), &leaf(), &SignOptions::default()).unwrap()
}

fn verify_with(verifier: &Verifier, pkcs7: &[u8]) -> Report {
    let exe = hello();
    let subject = authsign::open(&exe).unwrap();
    let mut out = Vec::new();
    subject.with_signature(pkcs7, &mut out).unwrap();
    let signed = authsign::open(&out).unwrap();
    verifier.verify(signed.as_ref()).unwrap()
}

fn codes(report: &Report) -> Vec<&'static str> {
    report.error_codes()
}

fn warning_codes(report: &Report) -> Vec<&'static str> {
    report
        .signatures
        .iter()
        .flat_map(|s| s.warnings.iter().map(|w| w.code()))
        .collect()
}

/// RSA PKCS#1 v1.5 signature of `block` (the DigestInfo, or a bare digest) with `key`, as
/// `openssl pkeyutl` makes it without hashing: what a signer that wraps nothing produces.
fn rsa_sign_raw(dir: &Path, key: &Path, block: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("block.bin"), block).unwrap();
    openssl_in(
        dir,
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            key.to_str().unwrap(),
            "-in",
            "block.bin",
            "-out",
            "sig.bin",
            "-pkeyopt",
            "rsa_padding_mode:pkcs1",
        ],
    );
    std::fs::read(dir.join("sig.bin")).unwrap()
}

/// The DER DigestInfo of `digest`.
fn digest_info(alg: DigestAlgorithm, digest: &[u8]) -> Vec<u8> {
    tlv::sequence(&[&tlv::algorithm_null(&alg.oid()), &tlv::octet_string(digest)])
}

fn attribute(oid: &ObjectIdentifier, value: &[u8]) -> Vec<u8> {
    tlv::sequence(&[&tlv::oid(oid), &tlv::constructed(tag::SET, &[value])])
}

fn issuer_and_serial(cert: &Certificate) -> Vec<u8> {
    tlv::sequence(&[
        &cert.tbs_certificate().issuer().to_der().unwrap(),
        &cert.tbs_certificate().serial_number().to_der().unwrap(),
    ])
}

#[derive(Clone, Copy, Debug)]
enum Time {
    Utc,
    Generalized,
}

/// A legacy counter-signature (PKCS#9 SignerInfo) by the test TSA over `signature_value`.
fn counter_signature(
    dir: &Path,
    signature_value: &[u8],
    alg: DigestAlgorithm,
    with_digest_info: bool,
    content_type: Option<ObjectIdentifier>,
    time: Time,
) -> Vec<u8> {
    let tsa = &authsign::certificates_from_pem(&std::fs::read(pki("tsa.pem")).unwrap()).unwrap()[0];
    let time = match time {
        Time::Utc => tlv::tlv(tag::UTC_TIME, b"240315120000Z"),
        Time::Generalized => tlv::tlv(tag::GENERALIZED_TIME, b"20240315120000Z"),
    };
    let mut attrs = vec![
        attribute(&oids::SIGNING_TIME, &time),
        attribute(
            &oids::MESSAGE_DIGEST,
            &tlv::octet_string(&alg.digest(signature_value)),
        ),
    ];
    if let Some(ct) = content_type {
        attrs.push(attribute(&oids::CONTENT_TYPE, &tlv::oid(&ct)));
    }
    let signed = tlv::set_of(attrs);
    let digest = alg.digest(&signed);
    let block = if with_digest_info {
        digest_info(alg, &digest)
    } else {
        digest
    };
    let signature = rsa_sign_raw(dir, &pki("tsa.key"), &block);
    tlv::sequence(&[
        &tlv::small_uint(1),
        &issuer_and_serial(tsa),
        &tlv::algorithm_null(&alg.oid()),
        &tlv::tlv(
            tag::context(0),
            tlv::parse_one(&signed, "attrs").unwrap().value,
        ),
        &tlv::algorithm_null(&oids::RSA_ENCRYPTION),
        &tlv::octet_string(&signature),
    ])
}

fn with_counter_signature(pkcs7: &[u8], cs: &[u8]) -> Vec<u8> {
    let tsa_der = std::fs::read(pki("tsa.pem")).unwrap();
    let tsa = authsign::certificates_from_pem(&tsa_der).unwrap()[0]
        .to_der()
        .unwrap();
    edit::set_unsigned_attribute(pkcs7, &oids::COUNTER_SIGNATURE, cs, &[tsa]).unwrap()
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn legacy_counter_signatures_in_every_shape_windows_accepts() {
    if !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    let pkcs7 = signed_pkcs7();
    let sig = SignedData::parse(&pkcs7).unwrap().signer_infos[0]
        .signature
        .clone();
    let expected = authsign::time::parse_time("2024-03-15T12:00:00Z").unwrap();
    for alg in [
        DigestAlgorithm::Md5,
        DigestAlgorithm::Sha1,
        DigestAlgorithm::Sha256,
    ] {
        for with_digest_info in [true, false] {
            for content_type in [None, Some(oids::DATA), Some(ID_CT_TST_INFO)] {
                for time in [Time::Utc, Time::Generalized] {
                    let case =
                        format!("{alg} digest_info={with_digest_info} {content_type:?} {time:?}");
                    let cs = counter_signature(
                        dir.path(),
                        &sig,
                        alg,
                        with_digest_info,
                        content_type,
                        time,
                    );
                    let stamped = with_counter_signature(&pkcs7, &cs);
                    let report = verify_with(&windows(), &stamped);
                    assert!(report.is_valid(), "{case}: {}", report.to_json());
                    let ts = &report.signatures[0].timestamps;
                    assert_eq!(ts.len(), 1, "{case}");
                    assert!(
                        ts[0].is_valid() && ts[0].kind == TimestampKind::Legacy,
                        "{case}"
                    );
                    assert_eq!(ts[0].time, Some(expected), "{case}");
                    assert_eq!(ts[0].digest_algorithm, Some(alg), "{case}");

                    // Strict: a bare digest and MD5/SHA-1 fail, each with its own code.
                    let report = verify_with(&strict(), &stamped);
                    let errors = codes(&report);
                    assert_eq!(
                        errors.contains(&"timestamp-bad-signature"),
                        !with_digest_info,
                        "{case}: {errors:?}"
                    );
                    assert_eq!(
                        errors.contains(&"timestamp-weak-algorithm"),
                        alg.is_weak(),
                        "{case}: {errors:?}"
                    );
                    assert_eq!(
                        report.is_valid(),
                        with_digest_info && !alg.is_weak(),
                        "{case}"
                    );
                }
            }
        }
    }
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn broken_counter_signatures_are_named() {
    if !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    let pkcs7 = signed_pkcs7();
    let sig = SignedData::parse(&pkcs7).unwrap().signer_infos[0]
        .signature
        .clone();
    let sha1 = DigestAlgorithm::Sha1;
    // Another content type than id-data / id-ct-TSTInfo.
    let other = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
    let cs = counter_signature(dir.path(), &sig, sha1, true, Some(other), Time::Utc);
    let report = verify_with(&windows(), &with_counter_signature(&pkcs7, &cs));
    assert!(
        codes(&report).contains(&"timestamp-content-type-mismatch"),
        "{}",
        report.to_json()
    );
    // Over another signature value.
    let cs = counter_signature(dir.path(), b"something else", sha1, true, None, Time::Utc);
    let report = verify_with(&windows(), &with_counter_signature(&pkcs7, &cs));
    assert!(
        codes(&report).contains(&"timestamp-imprint-mismatch"),
        "{}",
        report.to_json()
    );
    assert!(!report.is_valid());
}

#[test]
fn rfc3161_imprint_digests_other_than_the_token_signers() {
    // The in-process TSA signs its tokens with SHA-256 whatever imprint digest is asked for.
    let tsa = tsa::FixedTimeTsa::new("20240315120000Z");
    let pkcs7 = signed_pkcs7();
    for alg in [
        DigestAlgorithm::Sha1,
        DigestAlgorithm::Sha384,
        DigestAlgorithm::Sha512,
    ] {
        let stamped = timestamp::apply(&pkcs7, &tsa, TimestampKind::Rfc3161, alg).unwrap();
        let report = verify_with(&windows(), &stamped);
        assert!(report.is_valid(), "{alg}: {}", report.to_json());
        let ts = &report.signatures[0].timestamps[0];
        assert!(ts.is_valid());
        assert_eq!(ts.digest_algorithm, Some(alg));
    }
}

/// Replace the INTEGER at `offset` in `der` (a one-byte version) with `version`.
fn set_version(der: &mut [u8], offset: usize, version: u8) {
    assert_eq!(der[offset], tag::INTEGER);
    assert_eq!(der[offset + 1], 1);
    der[offset + 2] = version;
}

/// Offsets of the SignedData version and the SignerInfo version in a ContentInfo.
fn version_offsets(pkcs7: &[u8]) -> (usize, usize) {
    let ci = tlv::parse_one(pkcs7, "ContentInfo").unwrap();
    let mut r = ci.children();
    r.next("oid").unwrap();
    let sd = r
        .next("[0]")
        .unwrap()
        .children()
        .next("SignedData")
        .unwrap();
    let mut sr = sd.children();
    let version = sr.next("version").unwrap().offset;
    let mut last = None;
    while !sr.is_empty() {
        last = Some(sr.next("child").unwrap());
    }
    let si = last.unwrap().children().next("SignerInfo").unwrap();
    (version, si.children().next("version").unwrap().offset)
}

#[test]
fn signed_data_and_signer_info_versions_are_not_a_verdict() {
    // Versions are not signed; old and new tools write 0, 1 or 3. All verify.
    let pkcs7 = signed_pkcs7();
    let (sd_at, si_at) = version_offsets(&pkcs7);
    for (sd_version, si_version) in [(1, 0), (1, 1), (3, 1), (3, 3)] {
        let mut p = pkcs7.clone();
        set_version(&mut p, sd_at, sd_version);
        set_version(&mut p, si_at, si_version);
        let report = verify_with(&windows(), &p);
        assert!(
            report.is_valid(),
            "v{sd_version}/v{si_version}: {}",
            report.to_json()
        );
    }
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn openssl_cms_version_3_signatures_with_key_identifiers_verify() {
    if !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    let exe = hello();
    let subject = authsign::open(&exe).unwrap();
    let indirect = subject
        .indirect_data(DigestAlgorithm::Sha256, &Default::default())
        .unwrap();
    // messageDigest covers the content octets of SpcIndirectDataContent: give OpenSSL those.
    let content = tlv::parse_one(&indirect, "SpcIndirectDataContent")
        .unwrap()
        .value;
    std::fs::write(dir.path().join("content.bin"), content).unwrap();
    openssl_in(
        dir.path(),
        &[
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-keyid",
            "-nosmimecap",
            "-md",
            "sha256",
            "-econtent_type",
            "1.3.6.1.4.1.311.2.1.4",
            "-in",
            "content.bin",
            "-signer",
            pki("leaf-rsa.pem").to_str().unwrap(),
            "-inkey",
            pki("leaf-rsa.key").to_str().unwrap(),
            "-certfile",
            pki("intermediate.pem").to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            "sig.der",
        ],
    );
    let mut pkcs7 = std::fs::read(dir.path().join("sig.der")).unwrap();
    // OpenSSL wraps eContent in an OCTET STRING; Authenticode stores the SEQUENCE itself
    // (same length, other tag; not covered by the signature).
    let at = pkcs7
        .windows(content.len())
        .position(|w| w == content)
        .expect("eContent");
    let header = if content.len() < 128 {
        2
    } else if content.len() < 256 {
        3
    } else {
        4
    };
    assert_eq!(pkcs7[at - header], tag::OCTET_STRING);
    pkcs7[at - header] = tag::SEQUENCE;
    let sd = SignedData::parse(&pkcs7).unwrap();
    assert_eq!(sd.version, 3);
    assert_eq!(sd.signer_infos[0].version, 3);
    assert!(sd.signer_infos[0].subject_key_identifier.is_some());
    let report = verify_with(&windows(), &pkcs7);
    assert!(report.is_valid(), "{}", report.to_json());
    assert!(report.signatures[0].signing_time.is_some());
}

/// Re-sign `pkcs7`'s SignerInfo over `signed` (a SET of signed attributes, encoded as the
/// caller wants it) and store `stored` (a SET too) as its `[0]`, length octets as they are.
fn resign_with_attributes(pkcs7: &[u8], signed: &[u8], stored: &[u8]) -> Vec<u8> {
    let sd = SignedData::parse(pkcs7).unwrap();
    let si = &sd.signer_infos[0];
    let alg = DigestAlgorithm::Sha256;
    let signature = leaf().sign_digest(alg, &alg.digest(signed)).unwrap();
    let mut stored = stored.to_vec();
    stored[0] = tag::context(0);
    let signer_info = tlv::sequence(&[
        &tlv::small_uint(1),
        &tlv::sequence(&[&si.issuer, &tlv::tlv(tag::INTEGER, &si.serial)]),
        &tlv::algorithm_null(&alg.oid()),
        &stored,
        &si.signature_algorithm,
        &tlv::octet_string(&signature),
    ]);
    let certs: Vec<u8> = sd.certificates.concat();
    let signed_data = tlv::sequence(&[
        &tlv::small_uint(1),
        &tlv::constructed(tag::SET, &[&tlv::algorithm_null(&alg.oid())]),
        &tlv::sequence(&[
            &tlv::oid(&oids::SPC_INDIRECT_DATA),
            &tlv::tlv(tag::context(0), &sd.content_der),
        ]),
        &tlv::tlv(tag::context(0), &certs),
        &tlv::constructed(tag::SET, &[&signer_info]),
    ]);
    tlv::sequence(&[
        &tlv::oid(&oids::SIGNED_DATA),
        &tlv::tlv(tag::context(0), &signed_data),
    ])
}

#[test]
fn signed_attributes_in_any_order_and_with_long_form_lengths_verify_as_stored() {
    let pkcs7 = signed_pkcs7();
    let sd = SignedData::parse(&pkcs7).unwrap();
    let set = sd.signer_infos[0].signed_attributes_der.clone().unwrap();
    let mut attrs: Vec<Vec<u8>> = tlv::parse_one(&set, "set")
        .unwrap()
        .children()
        .all("attr")
        .unwrap()
        .iter()
        .map(|a| a.raw.to_vec())
        .collect();
    attrs.reverse();
    let body = attrs.concat();
    // Not DER: reversed order, and a four-byte length where one or two would do.
    let len = u32::try_from(body.len()).unwrap().to_be_bytes();
    let mut ber = vec![tag::SET, 0x84];
    ber.extend_from_slice(&len);
    ber.extend_from_slice(&body);
    let resigned = resign_with_attributes(&pkcs7, &ber, &ber);
    let report = verify_with(&windows(), &resigned);
    assert!(report.is_valid(), "{}", report.to_json());
    // The signature covers the bytes as stored: signing the DER form of the same attributes
    // and storing the BER form does not verify.
    let der = tlv::constructed(tag::SET, &[&body]);
    let report = verify_with(&windows(), &resign_with_attributes(&pkcs7, &der, &ber));
    assert_eq!(
        codes(&report),
        vec!["bad-signature"],
        "{}",
        report.to_json()
    );
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn md5_and_sha1_file_digests_are_weak_but_accepted_under_windows() {
    if !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    let exe = hello();
    let subject = authsign::open(&exe).unwrap();
    for alg in [DigestAlgorithm::Md5, DigestAlgorithm::Sha1] {
        let file_digest = subject.digest(&[alg]).unwrap().remove(0);
        let indirect = authsign::cms::spc::pe_indirect_data(alg, &file_digest).unwrap();
        let signed = authsign::cms::attributes::signed_attributes(
            &indirect,
            alg,
            &authsign::cms::AttributeOptions::default(),
        )
        .unwrap();
        let signature = rsa_sign_raw(
            dir.path(),
            &pki("leaf-rsa.key"),
            &digest_info(alg, &alg.digest(&signed)),
        );
        let leaf_cert = leaf().certificates()[0].to_der().unwrap();
        let certs: Vec<Vec<u8>> = leaf()
            .certificates()
            .iter()
            .map(|c| c.to_der().unwrap())
            .collect();
        let pkcs7 =
            authsign::cms::signed_data::build(&authsign::cms::signed_data::SignedDataParts {
                indirect_data: &indirect,
                digest_algorithm: alg,
                signed_attributes: &signed,
                certificates: &certs,
                issuer: &Certificate::from_der(&leaf_cert)
                    .unwrap()
                    .tbs_certificate()
                    .issuer()
                    .to_der()
                    .unwrap(),
                serial: &Certificate::from_der(&leaf_cert)
                    .unwrap()
                    .tbs_certificate()
                    .serial_number()
                    .to_der()
                    .unwrap(),
                signature_algorithm: &tlv::algorithm_null(&oids::RSA_ENCRYPTION),
                signature: &signature,
                unsigned_attributes: None,
            })
            .unwrap();
        let report = verify_with(&windows(), &pkcs7);
        assert!(report.is_valid(), "{alg}: {}", report.to_json());
        assert!(report.signatures[0].digest_ok());
        assert!(warning_codes(&report).contains(&"weak-algorithm"), "{alg}");
        let report = verify_with(&strict(), &pkcs7);
        assert!(!report.is_valid());
        assert_eq!(
            codes(&report),
            vec!["weak-algorithm"],
            "{alg}: {}",
            report.to_json()
        );
        // A changed byte is still found with a weak digest.
        let mut signed_file = Vec::new();
        subject.with_signature(&pkcs7, &mut signed_file).unwrap();
        signed_file[0x500] ^= 1;
        let tampered = authsign::open(&signed_file).unwrap();
        let report = windows().verify(tampered.as_ref()).unwrap();
        assert!(codes(&report).contains(&"digest-mismatch"), "{alg}");
    }
}
