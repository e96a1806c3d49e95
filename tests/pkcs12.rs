//! PKCS#12 (.pfx/.p12) files as a key source: made by openssl from the test PKI, in OpenSSL 3's
//! default encryption (PBES2, AES-256-CBC, HMAC-SHA256 MAC) and in the legacy ones (3DES keys,
//! 40-bit RC2 certificates, SHA-1 MAC); signing from them must equal signing from the PEM key and
//! chain byte for byte. Passwords reach openssl and the CLI through the environment only.
#![cfg(feature = "pkcs12")]

mod common;
#[cfg(feature = "http")]
mod tsa;

use std::path::{Path, PathBuf};
use std::process::Command;

use authsign::error::CryptoError;
use authsign::signer::{LocalSigner, Signer};
use authsign::{Error, FileInput, SignOptions};
use common::{example, fixture, pki, require_tool, TempDir};

/// The files every key source is tried on. CAB and MSI subjects: one more line each.
const SUBJECTS: &[&str] = &[
    "pe/hello64.exe",
    "pe/hello32.exe",
    "pe/lib64.dll",
    "cab/gcab-mszip.cab",
    "third-party/minimal.msi",
];

const PASSWORD: &str = "p12 test pass: ünïcode";

/// openssl pkcs12 encryption choices.
#[derive(Clone, Copy, Debug)]
enum Encryption {
    /// OpenSSL 3's defaults (PBES2 / PBKDF2-HMAC-SHA256 / AES-256-CBC, SHA-256 MAC).
    Modern,
    /// PKCS#12 PBE with 3DES for key and certificates, SHA-1 MAC (no legacy provider needed).
    Legacy3Des,
    /// `-legacy`: 40-bit RC2 certificates, 3DES key (OpenSSL 1.x default; needs the legacy
    /// provider, so only tried when openssl has it).
    LegacyRc2,
}

/// Writes `leaf`'s key and chain to a .p12 in `dir`, or `None` when this openssl cannot make
/// that kind (the RC2 one without the legacy provider).
fn make_p12(dir: &Path, leaf: &str, enc: Encryption) -> Option<PathBuf> {
    let out = dir.join(format!("{leaf}-{enc:?}.p12"));
    let mut cmd = Command::new("openssl");
    cmd.args(["pkcs12", "-export", "-passout", "env:P12_PASS", "-inkey"])
        .arg(pki(&format!("{leaf}.key")))
        .arg("-in")
        .arg(pki(&format!("{leaf}-chain.pem")))
        .arg("-out")
        .arg(&out)
        .env("P12_PASS", PASSWORD);
    match enc {
        Encryption::Modern => {}
        Encryption::Legacy3Des => {
            cmd.args([
                "-keypbe",
                "PBE-SHA1-3DES",
                "-certpbe",
                "PBE-SHA1-3DES",
                "-macalg",
                "sha1",
            ]);
        }
        Encryption::LegacyRc2 => {
            cmd.arg("-legacy");
        }
    }
    let o = cmd.output().expect("run openssl");
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            matches!(enc, Encryption::LegacyRc2),
            "openssl pkcs12 {enc:?}: {err}"
        );
        assert!(
            !common::in_ci(),
            "openssl cannot write -legacy PKCS#12 in CI: {err}"
        );
        eprintln!("note: openssl cannot write -legacy PKCS#12 here (no legacy provider): {err}");
        return None;
    }
    Some(out)
}

fn sign_with(signer: &dyn Signer, subject_path: &Path) -> Vec<u8> {
    let file = FileInput::open(subject_path).expect("open fixture");
    let subject = authsign::open(&file).expect("subject");
    let pkcs7 = authsign::sign(subject.as_ref(), signer, &SignOptions::default()).expect("sign");
    let mut out = Vec::new();
    subject.with_signature(&pkcs7, &mut out).expect("embed");
    out
}

fn pem_signer(leaf: &str) -> LocalSigner {
    LocalSigner::from_files(
        pki(&format!("{leaf}.key")),
        &[pki(&format!("{leaf}-chain.pem"))],
    )
    .expect("PEM signer")
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn pkcs12_signing_equals_pem_signing_byte_for_byte() {
    if !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    // RSA PKCS#1 v1.5 and RFC 6979 ECDSA are both deterministic, so both must match exactly.
    for leaf in ["leaf-rsa", "leaf-p256"] {
        let pem = pem_signer(leaf);
        for enc in [
            Encryption::Modern,
            Encryption::Legacy3Des,
            Encryption::LegacyRc2,
        ] {
            let Some(p12) = make_p12(dir.path(), leaf, enc) else {
                continue;
            };
            let signer = LocalSigner::from_pkcs12_file(&p12, PASSWORD)
                .unwrap_or_else(|e| panic!("{leaf} {enc:?}: {e}"));
            assert_eq!(signer.algorithm(), pem.algorithm(), "{leaf} {enc:?}");
            assert_eq!(signer.certificates(), pem.certificates(), "{leaf} {enc:?}");
            for subject in SUBJECTS {
                let input = fixture(subject);
                assert!(
                    sign_with(&signer, &input) == sign_with(&pem, &input),
                    "{leaf} {enc:?} {subject}: PKCS#12 and PEM signatures differ"
                );
            }
        }
    }
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn wrong_pkcs12_password_is_an_authentication_error() {
    if !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    let p12 = make_p12(dir.path(), "leaf-rsa", Encryption::Modern).expect("p12");
    let e = LocalSigner::from_pkcs12_file(&p12, "not the password");
    assert!(
        matches!(&e, Err(Error::Crypto(CryptoError::Authentication(m))) if m.contains("wrong PKCS#12 password")),
        "{e:?}"
    );
    let not_p12 = LocalSigner::from_pkcs12_file(pki("leaf-rsa.pem"), PASSWORD);
    assert!(
        matches!(not_p12, Err(Error::Crypto(CryptoError::Key(_)))),
        "{not_p12:?}"
    );
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn cli_pfx_equals_cli_pem_and_osslsigncode_accepts_it() {
    if !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    let p12 = make_p12(dir.path(), "leaf-rsa", Encryption::Modern).expect("p12");
    let input = fixture(SUBJECTS[0]);
    let from_pfx = dir.path().join("pfx.exe");
    let o = Command::new(example("sign"))
        .arg("--pfx")
        .arg(&p12)
        .args(["--pfx-password-env", "AUTHSIGN_TEST_PFX_PASS"])
        .env("AUTHSIGN_TEST_PFX_PASS", PASSWORD)
        .arg(&input)
        .arg("-o")
        .arg(&from_pfx)
        .output()
        .expect("run sign");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let from_pem = dir.path().join("pem.exe");
    let o = Command::new(example("sign"))
        .arg("--cert")
        .arg(pki("leaf-rsa-chain.pem"))
        .arg("--key")
        .arg(pki("leaf-rsa.key"))
        .arg(&input)
        .arg("-o")
        .arg(&from_pem)
        .output()
        .expect("run sign");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read(&from_pfx).ok() == std::fs::read(&from_pem).ok());
    if require_tool("osslsigncode") {
        common::assert_osslsigncode_accepts(&from_pfx);
    }
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn cli_wrong_pfx_password_fails_clearly_and_leaves_the_input_untouched() {
    if !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    let p12 = make_p12(dir.path(), "leaf-rsa", Encryption::Modern).expect("p12");
    let target = dir.path().join("in-place.exe");
    std::fs::copy(fixture(SUBJECTS[0]), &target).expect("copy");
    let before = std::fs::read(&target).expect("read");
    for env in [Some("wrong"), None] {
        let mut cmd = Command::new(example("sign"));
        cmd.arg("--pfx")
            .arg(&p12)
            .args(["--pfx-password-env", "AUTHSIGN_TEST_PFX_PASS"])
            .arg(&target)
            .env_remove("AUTHSIGN_TEST_PFX_PASS");
        if let Some(v) = env {
            cmd.env("AUTHSIGN_TEST_PFX_PASS", v);
        }
        let o = cmd.output().expect("run sign");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        let expected = if env.is_some() {
            "wrong PKCS#12 password"
        } else {
            "AUTHSIGN_TEST_PFX_PASS is not set"
        };
        assert!(err.contains(expected), "{err}");
        assert!(!err.contains("wrong\n") && !err.contains(PASSWORD), "{err}");
        assert_eq!(std::fs::read(&target).expect("read"), before);
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        leftovers.len(),
        2,
        "temporary files left behind: {leftovers:?}"
    );
}

/// `sign --pfx F --timestamp URL *.dll`: one batch call signs and timestamps every DLL (the
/// PKCS#12 key source in a batch, and bounded parallel requests to a local TSA).
#[test]
#[cfg(feature = "http")]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn cli_pfx_batch_signs_and_timestamps_every_dll() {
    if !require_tool("openssl") {
        return;
    }
    let tsa = tsa::TsaServer::start(tsa::Protocol::Rfc3161);
    let dir = TempDir::new();
    let p12 = make_p12(dir.path(), "leaf-rsa", Encryption::Modern).expect("p12");
    let dlls: Vec<PathBuf> = (0..12)
        .map(|i| {
            let p = dir.path().join(format!("lib{i:02}.dll"));
            let src = if i % 2 == 0 {
                "pe/lib64.dll"
            } else {
                "pe/lib32.dll"
            };
            std::fs::copy(fixture(src), &p).unwrap();
            p
        })
        .collect();
    let o = Command::new(example("sign"))
        .arg("--pfx")
        .arg(&p12)
        .args(["--pfx-password-env", "AUTHSIGN_TEST_PFX_PASS"])
        .env("AUTHSIGN_TEST_PFX_PASS", PASSWORD)
        .args(["--timestamp", &tsa.url()])
        .args(&dlls)
        .output()
        .expect("run sign");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(tsa.requests(), dlls.len(), "one timestamp request per file");
    let roots = authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap();
    for dll in &dlls {
        let report =
            authsign::verify::Verifier::new(authsign::verify::Policy::with_trusted(roots.clone()))
                .verify_path(dll)
                .unwrap();
        assert!(report.is_valid(), "{}: {}", dll.display(), report.to_json());
        assert_eq!(
            report.signatures[0].timestamps.len(),
            1,
            "{}",
            dll.display()
        );
    }
    common::assert_osslsigncode_accepts(&dlls[0]);
}
