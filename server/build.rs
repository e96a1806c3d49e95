//! Build script: tells the integration tests which tools and downloaded test data this machine
//! has (openssl, curl, osslsigncode, SoftHSM2, the library's moto venv), like the library's
//! build.rs: a test needing a missing one is reported as ignored; under `CI=true` everything
//! counts as present, so the tests run and fail loudly when something is missing (`.ci/run`
//! installs them).

use std::path::Path;

const TOOLS: &[(&str, &str)] = &[
    ("has_openssl", "openssl"),
    ("has_curl", "curl"),
    ("has_osslsigncode", "osslsigncode"),
    ("has_softhsm2", "softhsm2-util"),
];

/// (cfg name, a file under this package that must exist).
const FILES: &[(&str, &str)] = &[("has_moto", "../tests/data/moto-venv/bin/moto_server")];

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

fn main() {
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-changed=../tests/data");
    let ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    for (cfg, tool) in TOOLS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if ci || on_path(tool) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
    for (cfg, file) in FILES {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if ci || Path::new(file).exists() {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
