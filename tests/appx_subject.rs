//! The APPX/MSIX subject: digests of real packages, signtool byte parity (the whole package),
//! removal, tamper detection, the publisher check and bundles.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use authsign::appx::AppxSubject;
use authsign::{DigestAlgorithm, Profile, SignOptions, Subject};
use common::fixture;

fn third_party(name: &str) -> Vec<u8> {
    std::fs::read(fixture("third-party").join(name)).unwrap()
}

/// The APPX digest signtool signed in minimal-signed-by-signtool.msix (from its
/// SpcIndirectDataContent; jsign #81 and osslsigncode print the same).
const SIGNTOOL_BLOB: &str = concat!(
    "41505058",
    "41585043fcabfd6de4b9ca863b926166b191a201f95c39970b516fd603377aaff5109d36",
    "41584344233e5c593b6be0f4d6115afa5f9f4c38d6577c76785bebf21d0743b3e6af08f7",
    "41584354c986d8e13ef80d82bd75427b9c444223746d1bb6eca8556f3508b8ae394bc119",
    "4158424d2be55def3e0008ee701eab04c2141710c6de65eee826cd74ec16133275f2cf3a",
);

#[test]
fn signtool_fixture_digest_is_recomputed() {
    let data = third_party("minimal-signed-by-signtool.msix");
    let s = AppxSubject::parse(&data).unwrap();
    assert!(s.is_signed());
    assert_eq!(s.hash_algorithm(), DigestAlgorithm::Sha256);
    let d = s.digest(&[DigestAlgorithm::Sha256]).unwrap();
    assert_eq!(hex::encode(&d[0]), SIGNTOOL_BLOB);
    let sd = authsign::cms::SignedData::parse(&s.signature().unwrap().unwrap()).unwrap();
    assert_eq!(hex::encode(&sd.indirect_data.digest), SIGNTOOL_BLOB);
    assert!(
        s.content_problems().unwrap().is_empty(),
        "{:?}",
        s.content_problems()
    );
}

/// A test-only RSA signer with the fixture's key (LocalSigner would do, but this keeps the
/// chain exactly as signtool embedded it).
fn signtool_signer() -> authsign::signer::LocalSigner {
    authsign::signer::LocalSigner::from_files(
        fixture("third-party/signtool-msix-key.pem"),
        &[fixture("third-party/signtool-msix-chain.pem")],
    )
    .unwrap()
}

fn signtool_options() -> SignOptions {
    let mut opts = SignOptions::default();
    opts.digest = DigestAlgorithm::Sha256;
    opts.profile = Profile::Signtool;
    opts.subject.allow_publisher_mismatch = true;
    opts
}

fn with(subject: &dyn Subject, pkcs7: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    match pkcs7 {
        Some(p) => subject.with_signature(p, &mut out).unwrap(),
        None => subject.without_signature(&mut out).unwrap(),
    }
    out
}

/// Must-show 1: signtool's package with its signature removed, re-signed with its key and
/// chain (signtool profile, SHA-256): the AppxSignature.p7x is signtool's, and so is the whole
/// package (with the signature entry's time, the one input that cannot be derived, pinned);
/// the same from the 2023 unsigned original that signtool signed.
#[test]
fn signtool_parity_byte_for_byte() {
    let theirs = third_party("minimal-signed-by-signtool.msix");
    let signed = AppxSubject::parse(&theirs).unwrap();
    let their_pkcs7 = signed.signature().unwrap().unwrap();
    let unsigned = with(&signed, None);
    for original in [unsigned, third_party("minimal-2023.msix")] {
        let mut subject = AppxSubject::parse(&original).unwrap();
        assert!(!subject.is_signed());
        subject.set_signature_time(0x735b, 0x56c8);
        let pkcs7 = authsign::sign(&subject, &signtool_signer(), &signtool_options()).unwrap();
        assert!(pkcs7 == their_pkcs7, "PKCS#7 differs from signtool's");
        let ours = with(&subject, Some(&pkcs7));
        assert_eq!(ours.len(), theirs.len());
        assert!(ours == theirs, "package differs from signtool's");
    }
    let _ = (UNIX_EPOCH, Duration::ZERO);
}
