//! The MSI subject: digests against osslsigncode, byte-for-byte signtool parity, osslsigncode
//! parity with and without MsiDigitalSignatureEx, compact rewriting, tamper detection and
//! hostile compound files.

mod common;

use authsign::msi::MsiSubject;
use authsign::{DigestAlgorithm, Subject};
use common::fixture;

fn third_party(name: &str) -> std::path::PathBuf {
    fixture("third-party").join(name)
}

#[test]
fn signtool_fixture_digests_match_osslsigncode() {
    let data = std::fs::read(third_party("minimal-signed-with-signtool.msi")).unwrap();
    let msi = MsiSubject::parse(&data).unwrap();
    assert!(msi.has_msi_dse());
    assert_eq!(
        hex::encode(msi.msi_dse_prehash(DigestAlgorithm::Sha1)),
        "0a9dd48f46133e8b5d055f5b7ae5e1b652c1f67f"
    );
    assert_eq!(
        hex::encode(msi.msi_dse_stream().unwrap().unwrap()),
        "0a9dd48f46133e8b5d055f5b7ae5e1b652c1f67f"
    );
    assert_eq!(
        hex::encode(&msi.digest(&[DigestAlgorithm::Sha1]).unwrap()[0]),
        "f38258e497510ffaa00a55c46751fdafbdea13fb"
    );
}
