//! What users see from the example CLIs, pinned: help texts, the human report and the JSON
//! report of a deterministic signed file. A change here is a reviewed diff of the snapshot
//! files in tests/snapshots/ (`cargo insta review`, or INSTA_UPDATE=always to rewrite).

mod common;

use std::process::Command;

use common::{example, fixture, pki, TempDir};

fn stdout(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn help_texts() {
    insta::assert_snapshot!(
        "sign-help",
        stdout(Command::new(example("sign")).arg("--help"))
    );
    insta::assert_snapshot!(
        "verify-help",
        stdout(Command::new(example("verify")).arg("--help"))
    );
    insta::assert_snapshot!(
        "catalog-help",
        stdout(Command::new(example("catalog")).arg("--help"))
    );
    insta::assert_snapshot!(
        "catalog-create-help",
        stdout(Command::new(example("catalog")).args(["create", "--help"]))
    );
}

#[test]
fn catalog_list() {
    // jsign's makecat catalog (one PE file, version 2), listed from the test's folder.
    let dir = fixture("third-party/catalog");
    insta::assert_snapshot!(
        "catalog-list",
        stdout(
            Command::new(example("catalog"))
                .current_dir(&dir)
                .args(["list", "cat-wineyes.cat"])
        )
    );
}

#[test]
#[cfg(feature = "remote")]
fn remote_sign_usage() {
    let o = Command::new(example("remote_sign")).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    insta::assert_snapshot!("remote-sign-help", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn verify_reports() {
    // Deterministic: RSA, signtool profile, a fixed signing time.
    let dir = TempDir::new();
    let o = Command::new(example("sign"))
        .current_dir(dir.path())
        .args([
            "--cert",
            pki("leaf-rsa-chain.pem").to_str().unwrap(),
            "--key",
            pki("leaf-rsa.key").to_str().unwrap(),
        ])
        .args([
            "--signing-time",
            "2024-01-01T00:00:00Z",
            "--digest",
            "sha1",
            "--digest",
            "sha256",
        ])
        .arg(fixture("pe/hello64.exe"))
        .args(["-o", "hello64-signed.exe"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let verify = |extra: &[&str]| {
        stdout(
            Command::new(example("verify"))
                .current_dir(dir.path())
                .arg("--trusted")
                .arg(pki("root.pem"))
                .args(extra)
                .arg("hello64-signed.exe"),
        )
    };
    insta::assert_snapshot!("verify-human", verify(&[]));
    insta::assert_snapshot!("verify-json", verify(&["--json"]));
}
