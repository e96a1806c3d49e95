//! Real signatures made by other tools and vendors: parsed completely, digests matched, and
//! valid once their own top certificates are trusted.

mod common;

use authsign::cms::{generic, oids, SignedData};
use authsign::verify::{Policy, Problem, Report, SignatureKind, TimestampProblem, Verifier};
use authsign::{DigestAlgorithm, FileInput};
use common::{data_file, fixture, osslsigncode_digest, require_file, require_tool};
use der::Decode;
use x509_cert::Certificate;

/// Every certificate embedded anywhere in `pkcs7`: its own set, its nested signatures' and
/// their RFC 3161 timestamp tokens'.
fn embedded_certificates(pkcs7: &[u8], out: &mut Vec<Certificate>) {
    let Ok(sd) = generic::parse_signed_data(pkcs7) else {
        return;
    };
    out.extend(
        sd.certificates
            .iter()
            .filter_map(|c| Certificate::from_der(c).ok()),
    );
    for si in &sd.signer_infos {
        for a in &si.unsigned_attributes {
            if a.oid == oids::SPC_NESTED_SIGNATURE || a.oid == oids::SPC_RFC3161_TIMESTAMP {
                for v in &a.values {
                    embedded_certificates(v, out);
                }
            }
        }
    }
}

/// The top certificates of the embedded chains: those whose issuer is not embedded.
fn tops(signatures: &[Vec<u8>]) -> Vec<Certificate> {
    let mut all = Vec::new();
    for s in signatures {
        embedded_certificates(s, &mut all);
    }
    let subjects: Vec<_> = all
        .iter()
        .map(|c| c.tbs_certificate().subject().clone())
        .collect();
    let mut tops: Vec<Certificate> = all
        .iter()
        .filter(|c| !subjects.contains(c.tbs_certificate().issuer()))
        .cloned()
        .collect();
    tops.dedup();
    tops
}

/// Only trust problems: an issuer not found / untrusted root, for the signer or the TSA.
fn only_trust_problems(report: &Report) -> bool {
    report.signatures.iter().all(|s| {
        !s.errors.is_empty()
            && s.errors.iter().all(|p| match p {
                Problem::Chain(c) | Problem::Timestamp(TimestampProblem::Chain(c)) => {
                    c.is_trust_problem()
                }
                _ => false,
            })
    })
}

/// Parse `path` completely, check every digest (and osslsigncode's), and the verdicts without
/// and with the embedded chains' tops as anchors.
fn check_vendor_file(path: &std::path::Path, primaries: usize, nested: usize) {
    let input = FileInput::open(path).unwrap();
    let subject = authsign::open(&input).unwrap();
    let report = Verifier::new(Policy::default())
        .verify(subject.as_ref())
        .unwrap();
    let count = |primary: bool| {
        report
            .signatures
            .iter()
            .filter(|s| matches!(s.kind, SignatureKind::Primary { .. }) == primary)
            .count()
    };
    assert_eq!(
        (count(true), count(false)),
        (primaries, nested),
        "{}: {report:#?}",
        path.display()
    );
    for s in &report.signatures {
        assert!(s.digest_ok(), "{s:#?}");
        assert!(
            s.signer_subject().unwrap_or_default().contains("Microsoft"),
            "{s:#?}"
        );
        assert!(
            s.timestamps
                .iter()
                .all(|t| t.imprint_ok && t.time.is_some()),
            "{s:#?}"
        );
    }
    assert!(
        only_trust_problems(&report),
        "{}: {report:#?}",
        path.display()
    );
    if require_tool("osslsigncode") && require_tool("openssl") {
        let alg = report.signatures[0].digest_algorithm.unwrap();
        assert_eq!(
            osslsigncode_digest(path, alg),
            report.signatures[0].computed_digest
        );
    }

    let anchors = tops(&subject.signatures().unwrap());
    let trusted = Verifier::new(Policy::with_trusted(anchors))
        .verify(subject.as_ref())
        .unwrap();
    assert!(trusted.is_valid(), "{}: {trusted:#?}", path.display());
}

#[test]
#[cfg_attr(
    not(all(has_fetched_data, has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode, tests/data/fetch.sh data"
)]
fn both_microsoft_signatures_of_the_shim_verify() {
    let path = data_file("shimx64.efi.signed");
    if !require_file(&path, "run tests/data/fetch.sh") {
        return;
    }
    check_vendor_file(&path, 2, 0);
}

#[test]
#[cfg_attr(
    not(all(has_fetched_data, has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode, tests/data/fetch.sh data"
)]
fn microsoft_signed_dlls_from_the_msvc_runtime_wheel_verify() {
    for name in ["vcruntime140.dll", "vcruntime140_1.dll", "msvcp140.dll"] {
        let path = data_file(&format!("msvc/{name}"));
        if !require_file(&path, "run tests/data/fetch.sh") {
            return;
        }
        check_vendor_file(&path, 1, 1);
    }
}

/// fbx64-signed-by-sbsign.efi holds two WIN_CERTIFICATE entries, each a complete signature
/// by the same jsign test certificate. osslsigncode 2.9 refuses the file ("Corrupted
/// attribute certificate table") because it expects the table to hold exactly one entry;
/// UEFI firmware and Windows walk every entry, each 8-byte aligned, and so do we. A correct
/// verifier therefore reports two signatures with matching digests; the only problem without
/// trust settings is the missing issuer (sbsign embedded only the leaf), and trusting that
/// leaf makes both valid.
#[test]
fn sbsign_signatures_are_read_completely() {
    let data = std::fs::read(fixture("third-party/fbx64-signed-by-sbsign.efi")).unwrap();
    let subject = authsign::open(&data).unwrap();
    let report = Verifier::new(Policy::default())
        .verify(subject.as_ref())
        .unwrap();
    assert_eq!(report.signatures.len(), 2, "{report:#?}");
    for s in &report.signatures {
        assert!(s.digest_ok(), "{s:#?}");
        assert_eq!(s.digest_algorithm, Some(DigestAlgorithm::Sha256));
    }
    assert!(only_trust_problems(&report), "{report:#?}");
    let pkcs7 = subject.signature().unwrap().unwrap();
    let leaf = SignedData::parse(&pkcs7).unwrap().certificates[0].clone();
    let leaf = Certificate::from_der(&leaf).unwrap();
    let mut policy = Policy::with_trusted(vec![leaf]);
    policy.time = Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_758_240_000)); // 2025-09-19
    let report = Verifier::new(policy).verify(subject.as_ref()).unwrap();
    assert!(report.is_valid(), "{report:#?}");
}
