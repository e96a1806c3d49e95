//! Helpers shared by the integration tests: fixture paths, oracle tools, temporary folders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A path under tests/fixtures.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// A file of the test PKI (tests/fixtures/pki).
pub fn pki(name: &str) -> PathBuf {
    fixture("pki").join(name)
}

/// The small PE files built by tests/fixtures/pe/build.sh (PE32 and PE32+, EXE and DLL).
pub fn pe_fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixture("pe"))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("exe" | "dll" | "efi" | "sys")))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Whether the oracle tool `name` is on PATH. Under CI (`CI=true`) a missing tool fails the
/// test instead of skipping it.
pub fn require_tool(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
            panic!("{name} is required under CI but is not installed");
        }
        eprintln!("note: {name} not installed; skipping the parts of this test that need it");
    }
    found
}

/// Run a command and return its output, panicking with its stderr if it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run osslsigncode with `args`; panics if it fails.
pub fn osslsigncode(args: &[&str]) -> Output {
    run_ok(Command::new("osslsigncode").args(args))
}

/// A binary built from examples/ (cargo builds them for `cargo test`).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    dir.join("examples").join(name)
}

/// A temporary folder removed on drop.
pub struct TempDir(tempfile::TempDir);

impl TempDir {
    /// A new empty folder.
    pub fn new() -> Self {
        Self(tempfile::tempdir().expect("tempdir"))
    }
    /// Its path.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}
