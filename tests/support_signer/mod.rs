//! Helpers shared by the signer and chain integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The committed test PKI.
pub fn pki() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pki")
}

/// Contents of a file in the test PKI.
pub fn read(name: &str) -> String {
    std::fs::read_to_string(pki().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Whether `openssl` can be run. Without it, tests that need it are skipped with a note, except
/// when `CI=true`, where its absence is a failure.
pub fn have_openssl(test: &str) -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: openssl is required when CI=true but cannot be run");
        }
        eprintln!("note: {test} skipped: openssl not found");
    }
    ok
}

/// Runs openssl with `args` in `dir`, panicking with its stderr on failure.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs openssl with `args` in `dir`, returning whether it succeeded.
pub fn openssl_ok(dir: &Path, args: &[&str]) -> bool {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
