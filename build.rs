//! Build script: tells the integration tests which oracle tools and downloaded test data this
//! machine has, so that a test needing a missing one is reported as ignored instead of passing
//! silently. Under `CI=true` every tool counts as present: the tests then run and fail loudly
//! when one is missing (`.ci/run` installs them all). The published crate has no integration
//! tests, and this script does nothing else.

use std::path::Path;

/// (cfg name, what must exist: a program on PATH, or a file under the package).
const CHECKS: &[(&str, Check)] = &[
    ("has_openssl", Check::Tool("openssl")),
    ("has_osslsigncode", Check::Tool("osslsigncode")),
    ("has_softhsm2", Check::Tool("softhsm2-util")),
    ("has_wixl", Check::Tool("wixl")),
    ("has_msitools", Check::Tool("msiinfo")),
    ("has_cabextract", Check::Tool("cabextract")),
    ("has_gzip", Check::Tool("gzip")),
    ("has_python3", Check::Tool("python3")),
    ("has_unzip", Check::Tool("unzip")),
    (
        "has_moto",
        Check::File("tests/data/moto-venv/bin/moto_server"),
    ),
    (
        "has_fetched_data",
        Check::File("tests/data/venv/bin/python"),
    ),
];

enum Check {
    Tool(&'static str),
    File(&'static str),
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

fn main() {
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-changed=tests/data");
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    for (cfg, check) in CHECKS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        let present = match check {
            Check::Tool(t) => on_path(t),
            Check::File(f) => Path::new(f).exists(),
        };
        if ci || present {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
