//! Nested and dual signatures and page hashes: byte parity with osslsigncode, verification both
//! ways, order preservation, removal by index, and one pass over the file for dual signing.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use authsign::cms::SignedData;
use authsign::sign::SignOptions;
use authsign::signer::LocalSigner;
use authsign::verify::{Policy, Problem, SignatureKind, Verifier};
use authsign::{DigestAlgorithm, Input, Profile};
use common::{fixture, osslsigncode, pki, require_tool, TempDir};

const T: &str = "1700000000";

fn signer(leaf: &str) -> LocalSigner {
    LocalSigner::from_files(
        pki(&format!("{leaf}.key")),
        &[pki(&format!("{leaf}-chain.pem"))],
    )
    .unwrap()
}

fn opts(alg: DigestAlgorithm) -> SignOptions {
    let mut o = SignOptions::default();
    o.digest = alg;
    o.profile = Profile::Osslsigncode;
    o.signing_time = Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    o
}

fn embed(file: &[u8], pkcs7: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    authsign::open(file)
        .unwrap()
        .with_signature(pkcs7, &mut out)
        .unwrap();
    out
}

fn ossl_sign(
    dir: &TempDir,
    input: &Path,
    out: &str,
    leaf: &str,
    alg: &str,
    extra: &[&str],
) -> Vec<u8> {
    let o = dir.path().join(out);
    let _ = std::fs::remove_file(&o); // osslsigncode refuses to overwrite
    let chain = pki(&format!("{leaf}-chain.pem"));
    let key = pki(&format!("{leaf}.key"));
    let mut args = vec!["sign"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "-certs",
        chain.to_str().unwrap(),
        "-key",
        key.to_str().unwrap(),
        "-h",
        alg,
        "-st",
        T,
        "-in",
        input.to_str().unwrap(),
        "-out",
        o.to_str().unwrap(),
    ]);
    osslsigncode(&args);
    std::fs::read(o).unwrap()
}

fn ossl_verify(_dir: &TempDir, bytes: &[u8]) {
    let (ok, text) = common::osslsigncode_verify_bytes("to-verify.bin", bytes);
    assert!(ok, "{text}");
}

fn verify(bytes: &[u8]) -> authsign::verify::Report {
    let anchors =
        authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap();
    Verifier::new(Policy::with_trusted(anchors))
        .verify(authsign::open(bytes).unwrap().as_ref())
        .unwrap()
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn dual_signing_and_nesting_equal_osslsigncode_sign_then_nest() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    for name in ["pe/hello64.exe", "pe/lib32.dll", "third-party/fbx64.efi"] {
        let input = fixture(name);
        let first = ossl_sign(&dir, &input, "first.bin", "leaf-rsa", "sha1", &[]);
        let theirs = ossl_sign(
            &dir,
            &dir.path().join("first.bin"),
            "nested.bin",
            "leaf-rsa",
            "sha256",
            &["-nest"],
        );

        // One call, both digests from one pass.
        let data = std::fs::read(&input).unwrap();
        let mut o = opts(DigestAlgorithm::Sha1);
        o.nested_digests = vec![DigestAlgorithm::Sha256];
        let pkcs7 = authsign::sign(
            authsign::open(&data).unwrap().as_ref(),
            &signer("leaf-rsa"),
            &o,
        )
        .unwrap();
        assert!(embed(&data, &pkcs7) == theirs, "{name}: dual signing");

        // Nesting into a file signed earlier.
        let subject = authsign::open(&first).unwrap();
        let existing = subject.signature().unwrap().unwrap();
        let nested = authsign::sign::sign_nested(
            subject.as_ref(),
            &signer("leaf-rsa"),
            &opts(DigestAlgorithm::Sha256),
            &existing,
        )
        .unwrap();
        assert!(embed(&first, &nested) == theirs, "{name}: --nest");

        ossl_verify(&dir, &theirs);
        let report = verify(&theirs);
        assert!(report.is_valid(), "{report:#?}");
        assert_eq!(report.signatures.len(), 2);
        assert_eq!(
            report.signatures[1].kind,
            SignatureKind::Nested { parent: 0 }
        );
        assert_eq!(
            report.signatures[1].digest_algorithm,
            Some(DigestAlgorithm::Sha256)
        );
    }
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn nested_signatures_keep_their_order_where_osslsigncode_reorders_them() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    let input = fixture("pe/hello32.exe");
    // Nest an RSA SHA-512 signature, then a (shorter) P-256 SHA-256 one.
    ossl_sign(&dir, &input, "1.bin", "leaf-rsa", "sha1", &[]);
    ossl_sign(
        &dir,
        &dir.path().join("1.bin"),
        "2.bin",
        "leaf-rsa",
        "sha512",
        &["-nest"],
    );
    let theirs = ossl_sign(
        &dir,
        &dir.path().join("2.bin"),
        "3.bin",
        "leaf-p256",
        "sha256",
        &["-nest"],
    );
    // We verify osslsigncode's three-signature file and report every signature, in stored
    // order: OpenSSL re-encodes the attribute values as a DER SET OF, sorted by encoding, so
    // the later, shorter P-256 signature now comes first.
    let report = verify(&theirs);
    assert!(report.is_valid(), "{report:#?}");
    let algs: Vec<_> = report
        .signatures
        .iter()
        .map(|s| s.digest_algorithm.unwrap())
        .collect();
    assert_eq!(
        algs,
        [
            DigestAlgorithm::Sha1,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha512
        ]
    );

    // Ours: appended in signing order; osslsigncode accepts it.
    let data = std::fs::read(&input).unwrap();
    let subject = authsign::open(&data).unwrap();
    let mut pkcs7 = authsign::sign(
        subject.as_ref(),
        &signer("leaf-rsa"),
        &opts(DigestAlgorithm::Sha1),
    )
    .unwrap();
    for (leaf, alg) in [
        ("leaf-rsa", DigestAlgorithm::Sha512),
        ("leaf-p256", DigestAlgorithm::Sha256),
    ] {
        pkcs7 = authsign::sign::sign_nested(subject.as_ref(), &signer(leaf), &opts(alg), &pkcs7)
            .unwrap();
    }
    let ours = embed(&data, &pkcs7);
    ossl_verify(&dir, &ours);
    let report = verify(&ours);
    assert!(report.is_valid(), "{report:#?}");
    let algs: Vec<_> = report
        .signatures
        .iter()
        .map(|s| s.digest_algorithm.unwrap())
        .collect();
    assert_eq!(
        algs,
        [
            DigestAlgorithm::Sha1,
            DigestAlgorithm::Sha512,
            DigestAlgorithm::Sha256
        ],
        "signing order kept"
    );

    // Removing nested signature 0 (the SHA-512 one) keeps the other.
    let removed = authsign::cms::edit::replace_nested_signature(&pkcs7, 0, None).unwrap();
    let sd = SignedData::parse(&removed).unwrap();
    assert_eq!(sd.nested_signatures().len(), 1);
    let report = verify(&embed(&data, &removed));
    assert!(report.is_valid());
    assert_eq!(
        report.signatures[1].digest_algorithm,
        Some(DigestAlgorithm::Sha256)
    );
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn page_hashes_equal_osslsigncode_and_catch_a_changed_page() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    for name in ["pe/hello64.exe", "pe/hello32.exe", "pe/lib64.dll"] {
        let input = fixture(name);
        let data = std::fs::read(&input).unwrap();
        for (alg, h) in [
            (DigestAlgorithm::Sha1, "sha1"),
            (DigestAlgorithm::Sha256, "sha256"),
        ] {
            let theirs = ossl_sign(&dir, &input, "ph.bin", "leaf-rsa", h, &["-ph"]);
            let mut o = opts(alg);
            o.subject.page_hashes = true;
            let pkcs7 = authsign::sign(
                authsign::open(&data).unwrap().as_ref(),
                &signer("leaf-rsa"),
                &o,
            )
            .unwrap();
            let ours = embed(&data, &pkcs7);
            assert!(
                ours == theirs,
                "{name} {h}: page-hashed file differs from osslsigncode -ph"
            );
            ossl_verify(&dir, &ours);
            let report = verify(&ours);
            assert!(report.is_valid(), "{report:#?}");
            let ph = report.signatures[0]
                .page_hashes
                .clone()
                .expect("page hashes");
            assert_eq!(ph.algorithm, alg);
            assert!(ph.pages > 1 && ph.first_mismatch.is_none());

            // A byte changed in the second page of the first section.
            let mut tampered = ours.clone();
            tampered[0x400 + 0x1000 + 10] ^= 0x55;
            let report = verify(&tampered);
            let problems = &report.signatures[0].errors;
            assert!(problems
                .iter()
                .any(|p| matches!(p, Problem::DigestMismatch { .. })));
            assert!(
                problems.contains(&Problem::PageHashMismatch { offset: 0x1400 }),
                "{problems:?}"
            );
        }
    }
}

/// Windows checks page hashes page by page in the processor's page size (4 KiB on x86, x64 and
/// ARM), not in the image's SectionAlignment as osslsigncode does: with SectionAlignment
/// 0x2000 the two tables differ, and ours has 4 KiB pages.
#[test]
fn page_size_is_4_kib_whatever_the_section_alignment() {
    let mut data = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let e = u32::from_le_bytes(data[0x3c..0x40].try_into().unwrap()) as usize;
    data[e + 24 + 32..e + 24 + 36].copy_from_slice(&0x2000u32.to_le_bytes()); // SectionAlignment
    let mut o = opts(DigestAlgorithm::Sha256);
    o.subject.page_hashes = true;
    let subject = authsign::open(&data).unwrap();
    let idc = subject
        .indirect_data(DigestAlgorithm::Sha256, &o.subject)
        .unwrap();
    let parsed = authsign::cms::IndirectData::parse(&idc).unwrap();
    let (_, table) =
        authsign::pe::page_hashes::from_pe_image_data(parsed.data_value.as_deref().unwrap())
            .unwrap()
            .unwrap();
    let offsets: Vec<u32> = table
        .chunks(36)
        .map(|e| u32::from_le_bytes(e[..4].try_into().unwrap()))
        .collect();
    // .text is 6144 bytes at 0x400: pages at 0x400 and 0x1400 (4 KiB apart), not one 8 KiB page.
    assert_eq!(&offsets[..3], &[0, 0x400, 0x1400]);
}

/// An Input that counts the bytes read through it.
struct Counting<'a>(&'a [u8], AtomicU64);

impl Input for Counting<'_> {
    fn len(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.1.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Input::read_exact_at(&self.0, offset, buf)
    }
}

#[test]
fn dual_signing_reads_the_file_once() {
    let data = std::fs::read(fixture("third-party/fbx64.efi")).unwrap();
    let read_for = |nested: Vec<DigestAlgorithm>| {
        let input = Counting(&data, AtomicU64::new(0));
        let subject = authsign::open(&input).unwrap();
        let before = input.1.load(Ordering::Relaxed);
        let mut o = opts(DigestAlgorithm::Sha1);
        o.nested_digests = nested;
        authsign::sign(subject.as_ref(), &signer("leaf-rsa"), &o).unwrap();
        input.1.load(Ordering::Relaxed) - before
    };
    let one = read_for(vec![]);
    let four = read_for(vec![
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha384,
        DigestAlgorithm::Sha512,
    ]);
    assert_eq!(one, four, "four digests read exactly what one digest reads");
    assert!(
        one <= data.len() as u64,
        "one pass: {one} bytes read of {}",
        data.len()
    );
}
