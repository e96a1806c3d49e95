//! Hostile inputs that crashed, hung or exhausted other Authenticode implementations or our
//! fuzz targets: each goes through the generic entry point (`authsign::open`) and every
//! operation (digest, signatures, remove, embed, verify), which must return `Ok` or a typed
//! `Err` quickly, and never panic.
//!
//! - `tests/fixtures/third-party/fuzz-regressions/*.gz`: jsign's OSS-Fuzz crashers for its
//!   PE, CAB, MSI and APPX signers (gzipped, Apache-2.0; see the README beside them).
//! - `tests/fixtures/regressions/*`: what our own fuzz targets (`fuzz/`) found, named
//!   `<target>-<what>`; `cms-*` files are PKCS#7 blobs, `verify-*` files are fuzz inputs of the
//!   verify target (first byte: mode), the others whole files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use authsign::verify::{Policy, Verifier};
use authsign::{DigestAlgorithm, Error, Format};
use common::*;

/// How long one input may take through every operation (debug build, slow CI machine).
const TIME_BOUND: Duration = Duration::from_secs(20);

fn verifier() -> Verifier {
    let anchors =
        authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).expect("root")).unwrap();
    let mut policy = Policy::with_trusted(anchors);
    policy.time = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000));
    Verifier::new(policy)
}

/// An error must be one of the typed variants a caller can act on; `Error` is
/// `#[non_exhaustive]`, so this also documents which ones hostile input produces.
fn assert_typed(e: &Error, name: &str, op: &str) {
    assert!(
        matches!(
            e,
            Error::Malformed(_) | Error::Unsupported(_) | Error::Io(_) | Error::Verify(_)
        ),
        "{name}: {op}: unexpected error kind: {e:?}"
    );
    assert!(!e.to_string().is_empty(), "{name}: {op}: empty message");
}

fn check<T>(r: &authsign::Result<T>, name: &str, op: &str) {
    if let Err(e) = r {
        assert_typed(e, name, op);
    }
}

/// Run `data` through every operation; return a short description of what happened.
fn exercise(data: &[u8], name: &str) -> String {
    let subject = match authsign::open(data) {
        Ok(s) => s,
        Err(e) => {
            assert_typed(&e, name, "open");
            return format!("open: {e}");
        }
    };
    let digest = subject.digest(&DigestAlgorithm::ALL);
    check(&digest, name, "digest");
    check(
        &subject.indirect_data(DigestAlgorithm::Sha256, &Default::default()),
        name,
        "indirect_data",
    );
    let sigs = subject.signatures();
    check(&sigs, name, "signatures");
    if let Ok(sigs) = &sigs {
        for s in sigs {
            check(
                &authsign::cms::SignedData::parse(s),
                name,
                "SignedData::parse",
            );
        }
    }
    let mut removed = Vec::new();
    let r = subject.without_signature(&mut removed);
    check(&r, name, "without_signature");
    if r.is_ok() {
        let again = authsign::open(&removed);
        assert!(
            again.is_ok(),
            "{name}: the file without signature does not open"
        );
    }
    let mut embedded = Vec::new();
    check(
        &subject.with_signature(&[0x30, 0x03, 0x02, 0x01, 0x01], &mut embedded),
        name,
        "with_signature",
    );
    let report = verifier().verify(subject.as_ref());
    check(&report, name, "verify");
    match (&digest, &report) {
        (Ok(_), Ok(r)) => format!(
            "{} signature(s), valid: {}",
            r.signatures.len(),
            r.is_valid()
        ),
        _ => "errors".into(),
    }
}

/// Run `f` in a thread and fail if it panics or takes longer than [`TIME_BOUND`].
fn bounded(name: &str, f: impl FnOnce() -> String + Send + 'static) -> String {
    let start = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(TIME_BOUND) {
        Ok(outcome) => {
            handle.join().expect("thread");
            outcome
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{name}: still running after {:?}", start.elapsed())
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            // The thread dropped the sender without sending: it panicked.
            let err = handle.join().expect_err("thread ended without a result");
            let msg = err
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("{name}: panicked: {msg}")
        }
    }
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"));
    v.sort();
    v
}

fn gunzip(path: &Path) -> Vec<u8> {
    let out = Command::new("gzip")
        .arg("-dc")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run gzip: {e}"));
    assert!(out.status.success(), "gzip -dc {}", path.display());
    out.stdout
}

/// The format the name of a jsign regression says its signer was fuzzing.
fn jsign_format(name: &str) -> Format {
    if name.contains("Cab") {
        Format::Cab
    } else if name.contains("Msi") {
        Format::Msi
    } else if name.contains("Appx") {
        Format::Appx
    } else {
        Format::Pe
    }
}

#[test]
#[cfg_attr(not(has_gzip), ignore = "needs gzip")]
fn jsign_fuzz_regressions_give_typed_results() {
    if !require_tool("gzip") {
        return;
    }
    let files = files_in(&fixture("third-party/fuzz-regressions"));
    assert_eq!(files.len(), 32, "jsign's 32 fuzz regressions");
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = gunzip(&path);
        let format = jsign_format(&name);
        // Each file starts with the magic of the format its fuzzer targeted (two are empty;
        // two of the APPX ones are bare ZIP end records).
        if !data.is_empty() && format != Format::Appx {
            let magic: &[u8] = match format {
                Format::Cab => b"MSCF",
                Format::Msi => &[0xd0, 0xcf, 0x11, 0xe0],
                _ => b"MZ",
            };
            assert!(data.starts_with(magic), "{name}: {format} magic");
        }
        let n = name.clone();
        let outcome = bounded(&name, move || exercise(&data, &n));
        eprintln!("{name}: {outcome}");
    }
}

#[test]
fn our_fuzz_regressions_give_typed_results() {
    let files = files_in(&fixture("regressions"));
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(&path).expect("read");
        let n = name.clone();
        let outcome = if name.starts_with("cms-") {
            bounded(&name, move || {
                let r = authsign::cms::SignedData::parse(&data);
                check(&r, &n, "SignedData::parse");
                format!("{:?}", r.map(|_| ()))
            })
        } else if name.starts_with("verify-") {
            bounded(&name, move || {
                let (mode, rest) = data.split_first().unwrap_or((&0, &[]));
                if mode & 1 == 0 {
                    return exercise(rest, &n);
                }
                // Mode 1: `rest` is the signature of a valid PE.
                let carrier = std::fs::read(fixture("pe/hello64.exe")).unwrap();
                let subject = authsign::open(&carrier).unwrap();
                let mut signed = Vec::new();
                match subject.with_signature(rest, &mut signed) {
                    Ok(()) => exercise(&signed, &n),
                    Err(e) => {
                        assert_typed(&e, &n, "with_signature");
                        format!("with_signature: {e}")
                    }
                }
            })
        } else {
            bounded(&name, move || exercise(&data, &n))
        };
        eprintln!("{name}: {outcome}");
    }
}

#[test]
fn empty_and_tiny_inputs_are_unsupported_or_malformed() {
    for data in [
        &b""[..],
        b"M",
        b"MZ",
        b"MSCF",
        &[0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1],
    ] {
        let err = authsign::open(data).err().expect("not a file");
        assert!(
            matches!(err, Error::Malformed(_) | Error::Unsupported(_)),
            "{data:?}: {err:?}"
        );
    }
}

/// Found by reasoning about the `sign_roundtrip` target's property: a certificate table at an
/// offset that is not a multiple of 8 (the PE specification requires quadword-aligned
/// entries). Signing such a file wrote the new table at the next multiple of 8 after zero
/// padding, but the digest had been computed without that padding, so the new signature
/// never verified; removing the signature likewise changed the digest. Such files are now
/// malformed.
#[test]
fn an_unaligned_certificate_table_is_malformed() {
    let data = std::fs::read(fixture("regressions/pe-unaligned-certificate-table")).unwrap();
    match authsign::open(&data) {
        Err(Error::Malformed(m)) => {
            assert_eq!(m.format, Format::Pe);
            assert_eq!(m.kind, authsign::error::MalformedKind::Inconsistent, "{m}");
            assert!(m.what.contains("aligned"), "{m}");
        }
        Err(e) => panic!("expected a malformed PE, got {e:?}"),
        Ok(subject) => {
            let signer = authsign::signer::LocalSigner::from_files(
                pki("leaf-p256.key"),
                &[pki("leaf-p256-chain.pem")],
            )
            .unwrap();
            let pkcs7 = authsign::sign(subject.as_ref(), &signer, &Default::default()).unwrap();
            let mut signed = Vec::new();
            subject.with_signature(&pkcs7, &mut signed).unwrap();
            let report = verifier().verify(authsign::open(&signed).unwrap().as_ref());
            panic!("a certificate table at an unaligned offset was accepted; signing it gives {report:?}")
        }
    };
}

/// The other side of the same rule: our own signing keeps the table aligned for files of any
/// length, and removing then re-signing keeps the digest.
#[test]
fn signing_files_of_any_length_keeps_the_table_aligned() {
    let base = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let signer = authsign::signer::LocalSigner::from_files(
        pki("leaf-p256.key"),
        &[pki("leaf-p256-chain.pem")],
    )
    .unwrap();
    for extra in 0..8 {
        let mut data = base.clone();
        data.extend(std::iter::repeat_n(0xa5, extra));
        let subject = authsign::open(&data).unwrap();
        let pkcs7 =
            authsign::sign(subject.as_ref(), &signer, &authsign::SignOptions::default()).unwrap();
        let mut signed = Vec::new();
        subject.with_signature(&pkcs7, &mut signed).unwrap();
        let report = verifier()
            .verify(authsign::open(&signed).unwrap().as_ref())
            .unwrap();
        assert!(report.is_valid(), "{extra}: {report:?}");
    }
}
