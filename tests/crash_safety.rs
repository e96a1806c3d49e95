//! Crash-safe output: when writing fails half-way or the signer fails, the input file is
//! unchanged, no output file appears, and no temporary file is left behind.
//!
//! (A failing timestamp server is the third case of issue 10; timestamping is not implemented
//! yet, so it has no test here.)

mod common;

use std::io::{self, Write};
use std::path::Path;

use authsign::signer::LocalSigner;
use authsign::{DigestAlgorithm, Error, SignOptions, SignatureAlgorithm, Signer};
use common::*;
use x509_cert::Certificate;

/// A writer that accepts `budget` bytes, then fails every write.
struct FailingWriter {
    budget: usize,
    written: Vec<u8>,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.budget == 0 {
            return Err(io::Error::other("disk full (test)"));
        }
        let n = buf.len().min(self.budget);
        self.budget -= n;
        self.written.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A signer with the test RSA chain whose key always fails (an HSM that is offline).
struct BrokenSigner(Vec<Certificate>);

impl BrokenSigner {
    fn new() -> Self {
        let pem = std::fs::read(pki("leaf-rsa-chain.pem")).unwrap();
        Self(authsign::certificates_from_pem(&pem).unwrap())
    }
}

impl Signer for BrokenSigner {
    fn certificates(&self) -> &[Certificate] {
        &self.0
    }
    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RsaPkcs1v15
    }
    fn sign_digest(&self, _alg: DigestAlgorithm, _digest: &[u8]) -> authsign::Result<Vec<u8>> {
        Err(Error::Signer("HSM unreachable (test)".into()))
    }
}

/// A signer that returns an empty signature.
struct EmptySigner(BrokenSigner);

impl Signer for EmptySigner {
    fn certificates(&self) -> &[Certificate] {
        self.0.certificates()
    }
    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RsaPkcs1v15
    }
    fn sign_digest(&self, _alg: DigestAlgorithm, _digest: &[u8]) -> authsign::Result<Vec<u8>> {
        Ok(Vec::new())
    }
}

fn rsa_signer() -> LocalSigner {
    LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")]).unwrap()
}

/// Names of the files in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A temp folder holding a copy of hello64.exe as `app.exe`.
fn workspace() -> (TempDir, std::path::PathBuf, Vec<u8>) {
    let dir = TempDir::new();
    let original = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let app = dir.path().join("app.exe");
    std::fs::write(&app, &original).unwrap();
    (dir, app, original)
}

#[test]
fn a_writer_failing_half_way_gives_an_io_error() {
    let data = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let subject = authsign::open(&data).unwrap();
    let pkcs7 = authsign::sign(subject.as_ref(), &rsa_signer(), &SignOptions::default()).unwrap();
    let mut full = Vec::new();
    subject.with_signature(&pkcs7, &mut full).unwrap();
    for budget in [0, 1, 4096, data.len() / 2, full.len() - 1] {
        let mut w = FailingWriter {
            budget,
            written: Vec::new(),
        };
        let r = subject.with_signature(&pkcs7, &mut w);
        assert!(matches!(r, Err(Error::Io(_))), "budget {budget}: {r:?}");
        assert_eq!(w.written, full[..budget], "what was written is a prefix");
        let mut w = FailingWriter {
            budget: budget.min(data.len() / 2),
            written: Vec::new(),
        };
        let r = subject.without_signature(&mut w);
        assert!(matches!(r, Err(Error::Io(_))), "budget {budget}: {r:?}");
    }
}

#[test]
fn write_atomically_leaves_the_target_alone_when_writing_fails() {
    let (dir, app, original) = workspace();
    let subject_bytes = original.clone();
    let subject = authsign::open(&subject_bytes).unwrap();
    let pkcs7 = authsign::sign(subject.as_ref(), &rsa_signer(), &SignOptions::default()).unwrap();
    for budget in [0usize, 1, 10_000] {
        let r = authsign::sign::write_atomically(&app, |out| {
            // The real output, through a sink that fails after `budget` bytes.
            let mut w = FailingWriter {
                budget,
                written: Vec::new(),
            };
            subject.with_signature(&pkcs7, &mut w)?;
            out.write_all(&w.written)?;
            Ok(())
        });
        assert!(matches!(r, Err(Error::Io(_))), "{r:?}");
        assert_eq!(std::fs::read(&app).unwrap(), original, "input changed");
        assert_eq!(
            listing(dir.path()),
            ["app.exe"],
            "temporary file left behind"
        );
    }
    // Failing after part of the data reached the temporary file itself.
    let r = authsign::sign::write_atomically(&app, |out| {
        out.write_all(&original[..5000])?;
        Err(Error::Io(io::Error::other("disk full (test)")))
    });
    assert!(r.is_err());
    assert_eq!(std::fs::read(&app).unwrap(), original);
    assert_eq!(listing(dir.path()), ["app.exe"]);

    // A new output file is not created either.
    let out = dir.path().join("signed.exe");
    let r = authsign::sign::write_atomically(&out, |w| {
        w.write_all(b"MZ")?;
        Err(Error::Signer("test".into()))
    });
    assert!(r.is_err());
    assert!(!out.exists());
    assert_eq!(listing(dir.path()), ["app.exe"]);
}

#[test]
fn write_atomically_replaces_the_target_when_writing_succeeds() {
    let (dir, app, original) = workspace();
    authsign::sign::write_atomically(&app, |out| {
        out.write_all(b"new")?;
        Ok(())
    })
    .unwrap();
    assert_eq!(std::fs::read(&app).unwrap(), b"new");
    assert_ne!(original, b"new");
    assert_eq!(listing(dir.path()), ["app.exe"]);
}

#[test]
fn a_failing_signer_changes_nothing() {
    let (dir, app, original) = workspace();
    let out = dir.path().join("signed.exe");
    let broken = BrokenSigner::new();
    for output in [None, Some(out.as_path())] {
        let r = match output {
            None => authsign::sign_file(&app, &broken, &SignOptions::default()),
            Some(out) => authsign::sign_file_to(&app, out, &broken, &SignOptions::default()),
        };
        assert!(matches!(r, Err(Error::Signer(_))), "{r:?}");
        assert_eq!(std::fs::read(&app).unwrap(), original, "input changed");
        assert!(!out.exists(), "output created");
        assert_eq!(
            listing(dir.path()),
            ["app.exe"],
            "temporary file left behind"
        );
    }
    let empty = EmptySigner(BrokenSigner::new());
    let r = authsign::sign_file(&app, &empty, &SignOptions::default());
    assert!(matches!(r, Err(Error::Signer(_))), "{r:?}");
    assert_eq!(std::fs::read(&app).unwrap(), original);
    assert_eq!(listing(dir.path()), ["app.exe"]);
}

#[test]
fn an_unsignable_input_changes_nothing() {
    let (dir, app, _) = workspace();
    let junk = b"MZ but not a PE file at all".to_vec();
    std::fs::write(&app, &junk).unwrap();
    let r = authsign::sign_file(&app, &rsa_signer(), &SignOptions::default());
    assert!(matches!(r, Err(Error::Malformed(_))), "{r:?}");
    assert_eq!(std::fs::read(&app).unwrap(), junk);
    assert_eq!(listing(dir.path()), ["app.exe"]);
}

#[test]
fn signing_in_place_succeeds_atomically() {
    let (dir, app, original) = workspace();
    let pkcs7 = authsign::sign_file(&app, &rsa_signer(), &SignOptions::default()).unwrap();
    let signed = std::fs::read(&app).unwrap();
    assert_ne!(signed, original);
    assert_eq!(
        authsign::open(&signed).unwrap().signature().unwrap(),
        Some(pkcs7)
    );
    assert_eq!(listing(dir.path()), ["app.exe"]);
}

/// The same for cabinets and MSI: a writer that fails half-way gives an I/O error, and what
/// was written is a prefix of the full output.
#[test]
fn cab_and_msi_writers_failing_half_way_give_io_errors() {
    for f in ["cab/gcab-mszip.cab", "third-party/minimal.msi"] {
        let data = std::fs::read(fixture(f)).unwrap();
        let subject = authsign::open(&data).unwrap();
        let pkcs7 =
            authsign::sign(subject.as_ref(), &rsa_signer(), &SignOptions::default()).unwrap();
        let mut full = Vec::new();
        subject.with_signature(&pkcs7, &mut full).unwrap();
        let mut unsigned = Vec::new();
        subject.without_signature(&mut unsigned).unwrap();
        for budget in [
            0,
            1,
            4096.min(full.len() - 1),
            full.len() / 2,
            full.len() - 1,
        ] {
            let mut w = FailingWriter {
                budget,
                written: Vec::new(),
            };
            let r = subject.with_signature(&pkcs7, &mut w);
            assert!(
                matches!(r, Err(Error::Io(_))),
                "{f}: budget {budget}: {r:?}"
            );
            assert_eq!(
                w.written,
                full[..budget],
                "{f}: what was written is a prefix"
            );
            let budget = budget.min(unsigned.len() - 1);
            let mut w = FailingWriter {
                budget,
                written: Vec::new(),
            };
            let r = subject.without_signature(&mut w);
            assert!(
                matches!(r, Err(Error::Io(_))),
                "{f}: budget {budget}: {r:?}"
            );
            assert_eq!(w.written, unsigned[..budget], "{f}: a prefix");
        }
    }
}
