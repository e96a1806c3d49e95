//! Tampered files are invalid, each for the right reason, and osslsigncode agrees that they are.

mod common;

use authsign::cms::SignedData;
use authsign::signer::LocalSigner;
use authsign::subject::StorageProblem;
use authsign::verify::chain::ChainError;
use authsign::verify::{Policy, Problem, Report, Verifier};
use authsign::{Error, SignOptions};
use common::{fixture, pki, require_tool, TempDir};

fn signed() -> Vec<u8> {
    let data = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let signer =
        LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")]).unwrap();
    let subject = authsign::open(&data).unwrap();
    let mut opts = SignOptions::default();
    opts.signing_time = Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000));
    let pkcs7 = authsign::sign(subject.as_ref(), &signer, &opts).unwrap();
    let mut out = Vec::new();
    subject.with_signature(&pkcs7, &mut out).unwrap();
    out
}

fn verify(bytes: &[u8]) -> authsign::Result<Report> {
    let anchors =
        authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap();
    Verifier::new(Policy::with_trusted(anchors)).verify(authsign::open(bytes)?.as_ref())
}

/// Position of `needle` in `hay` (it must occur).
fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .expect("bytes present")
}

/// osslsigncode's verdict on `bytes`.
fn osslsigncode_accepts(_dir: &TempDir, bytes: &[u8]) -> bool {
    common::osslsigncode_verify_bytes("t.exe", bytes).0
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn tampered_files_are_invalid_for_the_right_reason() {
    let good = signed();
    let report = verify(&good).unwrap();
    assert!(report.is_valid(), "{report:#?}");

    let pkcs7 = authsign::open(&good).unwrap().signature().unwrap().unwrap();
    let sd = SignedData::parse(&pkcs7).unwrap();
    let si = &sd.signer_infos[0];
    let md = si.message_digest().unwrap();
    let sig_at = find(&good, &si.signature);
    let intermediate =
        authsign::certificates_from_pem(&std::fs::read(pki("intermediate.pem")).unwrap()).unwrap();
    let intermediate_der = der::Encode::to_der(&intermediate[0]).unwrap();
    let intermediate_at = find(&good, &intermediate_der);

    type Check = fn(&Report) -> bool;
    let cases: Vec<(&str, usize, Check)> = vec![
        ("a byte in a section", 0x500, |r| {
            matches!(r.signatures[0].errors[..], [Problem::DigestMismatch { .. }])
        }),
        (
            "a digit of the signingTime attribute",
            find(&good, b"231114221320Z") + 11,
            |r| {
                r.signatures[0]
                    .errors
                    .iter()
                    .any(|p| matches!(p, Problem::BadSignature(_)))
                    && r.signatures[0].digest_ok()
            },
        ),
        ("the messageDigest attribute", find(&good, &md) + 3, |r| {
            let p = &r.signatures[0].errors;
            p.contains(&Problem::MessageDigestMismatch)
                && p.iter().any(|p| matches!(p, Problem::BadSignature(_)))
        }),
        ("the signature value", sig_at + 100, |r| {
            matches!(r.signatures[0].errors[..], [Problem::BadSignature(_)])
        }),
        (
            "the intermediate certificate's signature",
            intermediate_at + intermediate_der.len() - 5,
            |r| {
                let p = &r.signatures[0].errors;
                p.len() == 1
                    && matches!(&p[0], Problem::Chain(ChainError::BadSignature { subject, .. }) if subject.contains("Code Signing CA"))
            },
        ),
    ];
    let dir = TempDir::new();
    let oracle = require_tool("osslsigncode");
    assert!(!oracle || osslsigncode_accepts(&dir, &good));
    for (what, at, check) in cases {
        let mut bad = good.clone();
        bad[at] ^= 0x01;
        let report = verify(&bad).unwrap();
        assert!(!report.is_valid() && check(&report), "{what}: {report:#?}");
        if oracle {
            assert!(
                !osslsigncode_accepts(&dir, &bad),
                "{what}: osslsigncode accepts it"
            );
        }
    }

    // Bytes appended after the signature: reported for the file, all signatures still fine.
    let mut appended = good.clone();
    appended.extend_from_slice(&[0xcc; 16]);
    let report = verify(&appended).unwrap();
    assert!(!report.is_valid());
    assert!(report.signatures[0].is_valid());
    assert!(matches!(
        &report.errors[..],
        [Problem::Storage(StorageProblem::TrailingData { bytes: 16 })]
    ));

    // A truncated certificate table: the file cannot be read as signed at all.
    let truncated = &good[..good.len() - 100];
    let err = verify(truncated).unwrap_err();
    assert!(
        matches!(&err, Error::Malformed(m) if m.kind == authsign::error::MalformedKind::Truncated),
        "{err}"
    );
    if oracle {
        assert!(!osslsigncode_accepts(&dir, truncated));
        assert!(!osslsigncode_accepts(&dir, &appended));
    }
}
