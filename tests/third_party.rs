//! Real signatures made by other tools and vendors: parsed completely, digests matched.

mod common;

use authsign::verify::{Policy, Problem, SignatureKind, Verifier};
use authsign::FileInput;
use common::{data_file, fixture, require_file};

#[test]
fn both_microsoft_signatures_of_the_shim_are_listed_with_matching_digests() {
    let path = data_file("shimx64.efi.signed");
    if !require_file(&path, "run tests/data/fetch.sh") {
        return;
    }
    let input = FileInput::open(&path).unwrap();
    let subject = authsign::open(&input).unwrap();
    let report = Verifier::new(Policy::default())
        .verify(subject.as_ref())
        .unwrap();
    let primaries: Vec<_> = report
        .signatures
        .iter()
        .filter(|s| matches!(s.kind, SignatureKind::Primary { .. }))
        .collect();
    assert_eq!(primaries.len(), 2, "{report:#?}");
    for s in &report.signatures {
        assert!(s.digest_ok(), "{s:#?}");
        assert!(
            s.signer_subject
                .as_deref()
                .unwrap_or("")
                .contains("Microsoft"),
            "{s:#?}"
        );
        // Without Microsoft's roots, the only problem is the chain.
        assert!(
            s.problems.iter().all(|p| matches!(p, Problem::Chain(_))),
            "{s:#?}"
        );
        assert!(!s.problems.is_empty());
    }
    // The two entries are different signatures (2011 and 2023 UEFI CAs).
    assert_ne!(primaries[0].signer_issuer, primaries[1].signer_issuer);
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
        assert!(s.signer_subject.is_some(), "{s:#?}");
        assert!(
            s.problems.iter().all(|p| matches!(p, Problem::Chain(_))),
            "{s:#?}"
        );
    }
}
