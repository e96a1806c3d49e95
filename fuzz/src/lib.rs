//! Shared bodies of the fuzz targets: every target hands its input to one of these, so a
//! crash found by one target reproduces with the same function from a test.

use std::time::{Duration, SystemTime};

use authsign::signer::LocalSigner;
use authsign::verify::{Policy, Verifier};
use authsign::{DigestAlgorithm, SignOptions};

/// The test PKI's P-256 leaf (fast to sign with) and its chain.
const KEY: &str = include_str!("../../tests/fixtures/pki/leaf-p256.key");
const CHAIN: &str = include_str!("../../tests/fixtures/pki/leaf-p256-chain.pem");
const ROOT: &str = include_str!("../../tests/fixtures/pki/root.pem");

/// A valid unsigned PE (PE32+) used as the carrier of fuzzed signatures.
pub const CARRIER: &[u8] = include_bytes!("../../tests/fixtures/pe/hello64.exe");

/// Magic of a Microsoft cabinet.
pub const CAB_MAGIC: &[u8] = b"MSCF";
/// Magic of a ZIP local file header: how an APPX/MSIX package starts.
pub const APPX_MAGIC: &[u8] = b"PK\x03\x04";
/// Magic of an OLE compound file (MSI).
pub const MSI_MAGIC: &[u8] = &[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];

/// The test signer.
pub fn signer() -> LocalSigner {
    LocalSigner::from_pem(KEY, CHAIN).expect("test key")
}

/// A verifier trusting the test root, at a fixed time inside the test certificates' validity.
pub fn verifier() -> Verifier {
    let anchors = authsign::certificates_from_pem(ROOT.as_bytes()).expect("root");
    let mut policy = Policy::with_trusted(anchors);
    policy.time = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000));
    Verifier::new(policy)
}

/// A writer that accepts and discards bytes but counts them, so huge outputs cost no memory.
#[derive(Default)]
pub struct Count(pub u64);

impl std::io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The digests that adding or removing a signature must not change. For PE and CAB, the
/// SHA-256 file digest. For MSI both SHA-256 digests, without and with the
/// MsiDigitalSignatureEx pre-hash: `Subject::digest` gives the one with the pre-hash only
/// while the file has an `\u{5}MsiDigitalSignatureEx` stream, which removing a signature
/// takes away and signing adds or not, so it changes by design. For APPX/MSIX, the hashes of
/// the block map and the code-integrity catalog: the others hash the ZIP records, which
/// depend on the layout (signtool's or osslsigncode's) the signature was made in.
pub fn stable_digests(data: &[u8]) -> authsign::Result<Vec<Vec<u8>>> {
    if data.starts_with(APPX_MAGIC) {
        let subject = authsign::appx::AppxSubject::parse(&data)?;
        let alg = subject.hash_algorithm();
        let blob = authsign::Subject::digest(&subject, &[alg])?
            .pop()
            .unwrap_or_default();
        let d = authsign::appx::digest::AppxDigest::parse(&blob, alg)?;
        return Ok(vec![d.block_map, d.code_integrity.unwrap_or_default()]);
    }
    if data.starts_with(MSI_MAGIC) {
        return authsign::msi::MsiSubject::parse(&data)?.digests(&[
            (DigestAlgorithm::Sha256, false),
            (DigestAlgorithm::Sha256, true),
        ]);
    }
    authsign::open(&data)?.digest(&[DigestAlgorithm::Sha256])
}

/// Open `data` with `authsign::open` and run every read-only and writing operation of the
/// subject on it: digest, indirect data, signatures, remove, embed a small signature.
/// Errors are fine; panics, hangs and unbounded allocations are bugs.
pub fn exercise_file(data: &[u8]) {
    let Ok(subject) = authsign::open(&data) else {
        return;
    };
    let _ = subject.format();
    // One algorithm keeps executions fast; MultiDigest is covered by the unit tests.
    let _ = subject.digest(&[DigestAlgorithm::Sha256]);
    let digests = stable_digests(data);
    let _ = subject.indirect_data(DigestAlgorithm::Sha256, &Default::default());
    if let Ok(sigs) = subject.signatures() {
        for s in sigs {
            let _ = authsign::cms::SignedData::parse(&s);
        }
    }
    let _ = subject.signature();
    let mut removed = Vec::new();
    if subject.without_signature(&mut removed).is_ok() {
        // What we write must open again, and removing does not change the digest.
        authsign::open(&removed).expect("the file without signature opens");
        if let Ok(d) = &digests {
            assert_eq!(
                &stable_digests(&removed).expect("digest after remove"),
                d,
                "removing the signature changed the digest"
            );
        }
    }
    let _ = subject.with_signature(&[0x30, 0x03, 0x02, 0x01, 0x01], &mut Count::default());
}

/// Parse `data` as a PKCS#7 SignedData and as the Authenticode structures inside it.
pub fn exercise_cms(data: &[u8]) {
    let _ = authsign::cms::tlv::parse_one(data, "fuzz").map(|t| t.children().all("fuzz"));
    let _ = authsign::cms::IndirectData::parse(data);
    if let Ok(sd) = authsign::cms::SignedData::parse(data) {
        for n in sd.nested_signatures() {
            let _ = authsign::cms::SignedData::parse(&n);
        }
        for si in &sd.signer_infos {
            let _ = si.digest_algorithm();
            let _ = si.message_digest();
            let _ = si.content_type();
        }
        // The content we keep is what we parsed.
        if let Some(data) = &sd.indirect_data {
            let again = authsign::cms::IndirectData::parse(&sd.content_der)
                .expect("kept SpcIndirectDataContent parses again");
            assert_eq!(&again, data);
        }
    }
}

/// Verify arbitrary bytes: the first byte chooses between verifying `data[1..]` as a whole
/// file, and embedding `data[1..]` as the signature of a valid PE and verifying that.
pub fn exercise_verify(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let v = verifier();
    if mode & 1 == 0 {
        if let Ok(subject) = authsign::open(&rest) {
            let _ = v.verify(subject.as_ref());
        }
        return;
    }
    let carrier = authsign::open(&CARRIER).expect("carrier");
    let mut signed = Vec::new();
    if carrier.with_signature(rest, &mut signed).is_err() {
        return;
    }
    let subject = authsign::open(&signed).expect("the carrier with a signature opens");
    let _ = v.verify(subject.as_ref());
}

/// Sign `data` (a mutated file) with the test key if it opens, then check: the signed file
/// opens, verifies, has the same digest, and removing the signature keeps the digest.
pub fn exercise_sign_roundtrip(data: &[u8]) {
    let Ok(subject) = authsign::open(&data) else {
        return;
    };
    let Ok(digest) = stable_digests(data) else {
        return;
    };
    let signer = signer();
    let mut opts = SignOptions::default();
    // The test certificate is nobody's publisher.
    opts.subject.allow_publisher_mismatch = true;
    let Ok(pkcs7) = authsign::sign(subject.as_ref(), &signer, &opts) else {
        return;
    };
    let mut signed = Vec::new();
    if subject.with_signature(&pkcs7, &mut signed).is_err() {
        return;
    }
    let signed_subject = authsign::open(&signed).expect("the signed file opens");
    assert_eq!(
        stable_digests(&signed).expect("digest of the signed file"),
        digest,
        "signing changed the digest"
    );
    assert_eq!(
        signed_subject.signature().expect("signature").as_deref(),
        Some(pkcs7.as_slice()),
        "embed then extract changed the PKCS#7"
    );
    let report = verifier().verify(signed_subject.as_ref()).expect("verify");
    // The signature must verify. Problems of the content itself (a package whose files do not
    // match its block map) are the input's: signing neither causes nor repairs them (a change
    // to the content would have changed the digest above).
    let content_only = report
        .errors
        .iter()
        .all(|e| matches!(e, authsign::verify::Problem::Content(_)));
    assert!(
        content_only && report.signatures.iter().all(|s| s.errors.is_empty()),
        "our own signature does not verify: {report:?}"
    );
    let mut removed = Vec::new();
    signed_subject
        .without_signature(&mut removed)
        .expect("remove");
    let unsigned = authsign::open(&removed).expect("the unsigned file opens");
    assert_eq!(
        stable_digests(&removed).expect("digest after remove"),
        digest,
        "sign then remove changed the digest"
    );
    assert!(unsigned.signatures().expect("signatures").is_empty());
}

/// A script: the first byte picks the language (see `ScriptLanguage::ALL`), the rest is the
/// file. Runs every operation of the script subject, and when the file signs: the signed file
/// opens with the same digest and holds exactly our PKCS#7, and removing the signature gives
/// what removing it from the input gives (the input itself when it had no block).
pub fn exercise_script(data: &[u8]) {
    use authsign::script::{ScriptLanguage, ScriptSubject};
    use authsign::Subject;
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let languages = ScriptLanguage::ALL;
    let Some(&language) = languages.get(usize::from(pick) % languages.len()) else {
        return;
    };
    let Ok(subject) = ScriptSubject::parse(text, language) else {
        return;
    };
    let digest = subject.digest(&[DigestAlgorithm::Sha256]);
    let _ = subject.storage_problems();
    if let Ok(sigs) = subject.signatures() {
        for s in sigs {
            let _ = authsign::cms::SignedData::parse(&s);
        }
    }
    let mut removed = Vec::new();
    let removed_ok = subject.without_signature(&mut removed).is_ok();
    if removed_ok {
        let again =
            ScriptSubject::parse(&removed, language).expect("the file without signature opens");
        let mut twice = Vec::new();
        again.without_signature(&mut twice).expect("remove twice");
        assert_eq!(twice, removed, "removing is not idempotent");
    }
    let _ =
        subject.with_signature_unchecked(&[0x30, 0x03, 0x02, 0x01, 0x01], &mut Count::default());
    let _ = subject.signature_patch(&[0x30, 0x03, 0x02, 0x01, 0x01]);
    let (Ok(digest), true) = (digest, removed_ok) else {
        return;
    };
    let Ok(pkcs7) = authsign::sign(&subject, &signer(), &SignOptions::default()) else {
        return;
    };
    let mut signed = Vec::new();
    subject
        .with_signature(&pkcs7, &mut signed)
        .expect("embed our own signature");
    let signed_subject = ScriptSubject::parse(&signed, language).expect("the signed file opens");
    assert_eq!(
        signed_subject
            .digest(&[DigestAlgorithm::Sha256])
            .expect("digest of the signed file"),
        digest,
        "signing changed the digest"
    );
    assert_eq!(
        signed_subject.signatures().expect("signatures"),
        vec![pkcs7],
        "embed then extract changed the PKCS#7"
    );
    let mut unsigned = Vec::new();
    signed_subject
        .without_signature(&mut unsigned)
        .expect("remove");
    assert_eq!(unsigned, removed, "sign then remove is not remove");
}

/// Parse `data` as a catalog and use everything it lists: members, lookups by each member's
/// own digest, the subject operations (through [`exercise_file`]), and removal, which must
/// keep the certificate trust list byte for byte and give a catalog that opens again.
pub fn exercise_catalog(data: &[u8]) {
    let _ = authsign::cat::recognizes(data);
    let Ok(cat) = authsign::cat::CatSubject::from_der(data.to_vec()) else {
        return;
    };
    let c = cat.catalog();
    let _ = c.lookup_algorithms();
    for a in &c.attributes {
        let _ = (a.value_text(), a.to_string());
    }
    for m in &c.members {
        let _ = (m.tag_text(), m.kind(), m.file_name());
        for a in &m.attributes {
            let _ = (a.value_text(), a.to_string());
        }
    }
    // Every member is found by its own digest (the first with that digest, maybe another).
    for m in c.members.iter().take(64) {
        if let Some((alg, digest)) = m.digest() {
            assert!(
                c.find(&[(alg, digest)]).is_some(),
                "a member's own digest finds no member"
            );
        }
    }
    exercise_file(data);
    use authsign::Subject as _;
    let mut removed = Vec::new();
    cat.without_signature(&mut removed)
        .expect("removing a catalog's signature");
    let again = authsign::cat::CatSubject::from_der(removed).expect("the unsigned catalog opens");
    assert_eq!(
        again.certificate_trust_list(),
        cat.certificate_trust_list(),
        "removing the signature changed the list"
    );
    assert_eq!(again.catalog().members.len(), c.members.len());
}
