//! In-place signing, signing to a new file and batch signing give the same bytes as signing
//! through `Subject::with_signature`; batch signing calls the signer concurrently and keeps
//! going past a bad file. (Crash safety of in-place signing, with failures injected at every
//! step, is tested next to the code in `src/pe/in_place.rs`.)

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use authsign::signer::LocalSigner;
use authsign::{BatchItem, DigestAlgorithm, SignOptions, SignatureAlgorithm, Signer};
use common::fixture;
use x509_cert::Certificate;

fn signer() -> LocalSigner {
    LocalSigner::from_files(
        fixture("pki/leaf-rsa.key"),
        &[fixture("pki/leaf-rsa-chain.pem")],
    )
    .unwrap()
}

/// What the two-pass writer produces: the reference.
fn reference(input: &[u8], opts: &SignOptions) -> Vec<u8> {
    let subject = authsign::open(input).unwrap();
    let pkcs7 = authsign::sign(subject.as_ref(), &signer(), opts).unwrap();
    let mut out = Vec::new();
    subject.with_signature(&pkcs7, &mut out).unwrap();
    out
}

#[test]
fn in_place_and_to_a_new_file_match_with_signature() {
    let dir = tempfile::tempdir().unwrap();
    let mut dual = SignOptions::default();
    dual.digest = DigestAlgorithm::Sha1;
    dual.nested_digests = vec![DigestAlgorithm::Sha256];
    for name in ["hello64.exe", "hello32.exe", "odd64.exe", "lib32.dll"] {
        for opts in [SignOptions::default(), dual.clone()] {
            let original = std::fs::read(fixture(&format!("pe/{name}"))).unwrap();
            let expected = reference(&original, &opts);
            let path = dir.path().join(name);
            std::fs::write(&path, &original).unwrap();
            authsign::sign_file(&path, &signer(), &opts).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), expected, "{name} in place");
            // Re-signing a signed file in place replaces its signature.
            authsign::sign_file(&path, &signer(), &opts).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), expected, "{name} re-signed");

            std::fs::write(&path, &original).unwrap();
            let out = dir.path().join(format!("signed-{name}"));
            authsign::sign_file_to(&path, &out, &signer(), &opts).unwrap();
            assert_eq!(std::fs::read(&out).unwrap(), expected, "{name} -o");
            assert_eq!(std::fs::read(&path).unwrap(), original, "input untouched");
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no journal or temporary file left: {leftovers:?}"
    );
}

/// A signer like an HSM: slow, and counting how many calls overlap.
struct SlowSigner {
    inner: LocalSigner,
    in_flight: AtomicUsize,
    most: AtomicUsize,
}

impl Signer for SlowSigner {
    fn certificates(&self) -> &[Certificate] {
        self.inner.certificates()
    }
    fn algorithm(&self) -> SignatureAlgorithm {
        self.inner.algorithm()
    }
    fn sign_digest(&self, alg: DigestAlgorithm, digest: &[u8]) -> authsign::Result<Vec<u8>> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(30));
        let r = self.inner.sign_digest(alg, digest);
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        r
    }
}

#[test]
fn batch_signs_concurrently_and_reports_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let expected = reference(&original, &SignOptions::default());
    let mut items = Vec::new();
    for i in 0..12 {
        let p = dir.path().join(format!("f{i}.exe"));
        std::fs::write(&p, &original).unwrap();
        items.push(BatchItem::in_place(p));
    }
    let bad = dir.path().join("not-a-pe.exe");
    std::fs::write(&bad, b"MZ but nothing else").unwrap();
    items.insert(5, BatchItem::in_place(&bad));
    let source = dir.path().join("source.exe");
    std::fs::write(&source, &original).unwrap();
    items.push(BatchItem {
        input: source,
        output: Some(dir.path().join("copy.exe")),
    });

    let signer = SlowSigner {
        inner: signer(),
        in_flight: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
    };
    let opts = SignOptions::new().with_batch_workers(4);
    let results = authsign::sign_batch(&items, &signer, &opts);
    assert_eq!(results.len(), items.len());
    for (item, r) in items.iter().zip(&results) {
        if item.input == bad {
            assert!(r.is_err(), "the bad file fails");
            assert_eq!(std::fs::read(&bad).unwrap(), b"MZ but nothing else");
        } else {
            r.as_ref().unwrap();
            let written = item.output.as_ref().unwrap_or(&item.input);
            assert_eq!(
                std::fs::read(written).unwrap(),
                expected,
                "{}",
                written.display()
            );
        }
    }
    assert!(
        signer.most.load(Ordering::SeqCst) > 1,
        "the signer was called concurrently"
    );
}

#[test]
fn the_cli_signs_several_files_in_one_call() {
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let expected = reference(&original, &SignOptions::default());
    let files: Vec<_> = (0..3)
        .map(|i| {
            let p = dir.path().join(format!("f{i}.exe"));
            std::fs::write(&p, &original).unwrap();
            p
        })
        .collect();
    let out = std::process::Command::new(common::example("sign"))
        .arg("--cert")
        .arg(fixture("pki/leaf-rsa-chain.pem"))
        .arg("--key")
        .arg(fixture("pki/leaf-rsa.key"))
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in &files {
        assert_eq!(std::fs::read(f).unwrap(), expected, "{}", f.display());
    }
    // Several inputs with a mode that takes one file: refused, nothing changed.
    let out = std::process::Command::new(common::example("sign"))
        .arg("--remove")
        .args(&files)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&files[1]).unwrap(), expected);
}
