//! Two-phase signing: the digest is prepared on one side, signed elsewhere (openssl), and the
//! file is finished locally; the result equals direct signing byte for byte. (The signing
//! service, authsign-server, has its own tests in server/tests.)

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{example, fixture, openssl_in, pki, require_tool, TempDir};

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn direct(dir: &TempDir, input: &Path, leaf: &str, digest: &str) -> Vec<u8> {
    let out = dir.path().join(format!("direct-{leaf}-{digest}.bin"));
    let o = run(Command::new(example("sign"))
        .args([
            "--cert",
            pki(&format!("{leaf}-chain.pem")).to_str().unwrap(),
        ])
        .args(["--key", pki(&format!("{leaf}.key")).to_str().unwrap()])
        .args(["--digest", digest])
        .arg(input)
        .arg("-o")
        .arg(&out));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(out).unwrap()
}

/// `sign --prepare`: returns the state path and the digest to sign.
fn prepare(dir: &TempDir, input: &Path, leaf: &str, digest: &str) -> (PathBuf, Vec<u8>) {
    let state = dir.path().join("state.json");
    let o = run(Command::new(example("sign"))
        .args([
            "--cert",
            pki(&format!("{leaf}-chain.pem")).to_str().unwrap(),
        ])
        .args(["--digest", digest, "--prepare"])
        .arg(&state)
        .arg(input));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(v["digest_algorithm"], digest);
    (state, hex::decode(v["digest"].as_str().unwrap()).unwrap())
}

fn finish(input: &Path, state: &Path, sig: &Path, out: &Path) -> Output {
    run(Command::new(example("sign"))
        .arg("--finish")
        .arg(state)
        .arg("--signature")
        .arg(sig)
        .arg(input)
        .arg("-o")
        .arg(out))
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn prepare_sign_with_openssl_finish_equals_direct_signing() {
    if !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    let input = fixture("pe/hello32.exe");
    for (leaf, digest) in [
        ("leaf-rsa", "sha256"),
        ("leaf-rsa4096", "sha384"),
        ("leaf-rsa", "sha1"),
    ] {
        let (state, to_sign) = prepare(&dir, &input, leaf, digest);
        std::fs::write(dir.path().join("digest.bin"), &to_sign).unwrap();
        let key = pki(&format!("{leaf}.key"));
        openssl_in(
            dir.path(),
            &[
                "pkeyutl",
                "-sign",
                "-inkey",
                key.to_str().unwrap(),
                "-pkeyopt",
                &format!("digest:{digest}"),
                "-in",
                "digest.bin",
                "-out",
                "sig.bin",
            ],
        );
        let out = dir.path().join("finished.bin");
        let o = finish(&input, &state, &dir.path().join("sig.bin"), &out);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            std::fs::read(&out).unwrap() == direct(&dir, &input, leaf, digest),
            "{leaf} {digest}"
        );
    }

    // ECDSA: openssl signs the digest (randomised), we finish, and the file verifies.
    let (state, to_sign) = prepare(&dir, &input, "leaf-p256", "sha256");
    std::fs::write(dir.path().join("digest.bin"), &to_sign).unwrap();
    let key = pki("leaf-p256.key");
    openssl_in(
        dir.path(),
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            key.to_str().unwrap(),
            "-in",
            "digest.bin",
            "-out",
            "sig.bin",
        ],
    );
    let out = dir.path().join("ec.bin");
    assert!(finish(&input, &state, &dir.path().join("sig.bin"), &out)
        .status
        .success());
    let o = run(Command::new(example("verify"))
        .arg("--trusted")
        .arg(pki("root.pem"))
        .arg(&out));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn finish_refuses_a_wrong_signature_a_changed_file_and_an_edited_state() {
    let dir = TempDir::new();
    let input = fixture("pe/lib64.dll");
    let (state, to_sign) = prepare(&dir, &input, "leaf-rsa", "sha256");
    // Signed by another key (also a valid-looking RSA signature of the right length).
    let other = authsign::signer::LocalSigner::from_files(
        pki("leaf-rsa3072.key"),
        &[pki("leaf-rsa3072.pem")],
    )
    .unwrap();
    let wrong =
        authsign::Signer::sign_digest(&other, authsign::DigestAlgorithm::Sha256, &to_sign).unwrap();
    std::fs::write(dir.path().join("wrong.bin"), wrong).unwrap();
    let out = dir.path().join("out.bin");
    let o = finish(&input, &state, &dir.path().join("wrong.bin"), &out);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not verify"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists());

    // The right signature, but the file changed since prepare: refused with a digest mismatch.
    let good = authsign::signer::LocalSigner::from_files(
        pki("leaf-rsa.key"),
        &[pki("leaf-rsa-chain.pem")],
    )
    .unwrap();
    let sig =
        authsign::Signer::sign_digest(&good, authsign::DigestAlgorithm::Sha256, &to_sign).unwrap();
    std::fs::write(dir.path().join("sig.bin"), &sig).unwrap();
    let o = finish(
        &fixture("pe/hello64.exe"),
        &state,
        &dir.path().join("sig.bin"),
        &out,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("digest mismatch"));
    assert!(!out.exists());

    // An edited state is refused before anything is signed.
    let text = std::fs::read_to_string(&state).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let digest = v["digest"].as_str().unwrap();
    let flipped = format!(
        "{}{}",
        if digest.starts_with('0') { "1" } else { "0" },
        &digest[1..]
    );
    std::fs::write(&state, text.replace(digest, &flipped)).unwrap();
    let o = finish(&input, &state, &dir.path().join("sig.bin"), &out);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("signing state"));
    assert!(!out.exists());
}
