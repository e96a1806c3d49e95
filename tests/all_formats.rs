//! The same features on every format through the one `Subject` trait: dual signing with
//! nested signatures, RFC 3161 and legacy timestamps on each signature, detached signatures,
//! removal; checked by our verifier and by osslsigncode.

mod common;
mod tsa;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{example, fixture, pki, require_tool, TempDir};
use tsa::{Protocol, TsaServer};

const FILES: &[&str] = &[
    "pe/hello64.exe",
    "cab/gcab-mszip.cab",
    "third-party/minimal.msi",
    // A catalog signs its certificate trust list: the same operations, the list kept.
    "third-party/catalog/cat-wineyes.cat",
];

fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn sign(args: &[&str], input: &Path, output: &Path) {
    run(Command::new(example("sign"))
        .args([
            "--cert",
            pki("leaf-rsa-chain.pem").to_str().unwrap(),
            "--key",
            pki("leaf-rsa.key").to_str().unwrap(),
        ])
        .args(args)
        .arg(input)
        .arg("-o")
        .arg(output));
}

fn verify_json(file: &Path) -> serde_json::Value {
    let o = Command::new(example("verify"))
        .args(["--json", "--trusted"])
        .arg(pki("root.pem"))
        .arg(file)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        serde_json::to_string_pretty(&v).unwrap()
    );
    v[0].clone()
}

fn osslsigncode_verify(file: &Path) {
    common::assert_osslsigncode_accepts(file);
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn dual_signing_and_timestamps_work_on_every_format() {
    if !require_tool("osslsigncode") || !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    let rfc = TsaServer::start(Protocol::Rfc3161);
    let legacy = TsaServer::start(Protocol::Legacy);
    for name in FILES {
        let input = fixture(name);
        let ext = name.rsplit('.').next().unwrap();
        for (label, ts) in [
            ("rfc3161", ["--timestamp", rfc.url().as_str()]),
            ("legacy", ["--legacy-timestamp", legacy.url().as_str()]),
        ] {
            let out: PathBuf = dir.path().join(format!("dual-{label}.{ext}"));
            sign(
                &["--digest", "sha1", "--digest", "sha256", ts[0], ts[1]],
                &input,
                &out,
            );
            let report = verify_json(&out);
            let sigs = report["signatures"].as_array().unwrap();
            assert_eq!(sigs.len(), 2, "{name} {label}: {report}");
            assert_eq!(sigs[0]["digest_algorithm"], "sha1");
            assert_eq!(
                (
                    sigs[1]["kind"].as_str(),
                    sigs[1]["digest_algorithm"].as_str()
                ),
                (Some("nested"), Some("sha256"))
            );
            for s in sigs {
                assert_eq!(s["timestamps"][0]["valid"], true, "{name} {label}: {s}");
            }
            osslsigncode_verify(&out);
        }

        // Detached, then attached to the unsigned file: the same as signing directly.
        let direct = dir.path().join(format!("direct.{ext}"));
        sign(&["--signing-time", "1700000000"], &input, &direct);
        let p7 = dir.path().join("sig.p7");
        run(Command::new(example("sign"))
            .args([
                "--cert",
                pki("leaf-rsa-chain.pem").to_str().unwrap(),
                "--key",
                pki("leaf-rsa.key").to_str().unwrap(),
            ])
            .args(["--signing-time", "1700000000", "--detached"])
            .arg(&p7)
            .arg(&input));
        let attached = dir.path().join(format!("attached.{ext}"));
        run(Command::new(example("sign"))
            .arg("--attach")
            .arg(&p7)
            .arg(&input)
            .arg("-o")
            .arg(&attached));
        assert!(
            std::fs::read(&direct).unwrap() == std::fs::read(&attached).unwrap(),
            "{name}"
        );

        // Removing gives a file with the unsigned file's digest and no signature.
        let removed = dir.path().join(format!("removed.{ext}"));
        run(Command::new(example("sign"))
            .arg("--remove")
            .arg(&attached)
            .arg("-o")
            .arg(&removed));
        let digest = |f: &Path| {
            run(Command::new(example("verify"))
                .args(["--print-digest", "sha256"])
                .arg(f))
        };
        assert_eq!(digest(&removed), digest(&input), "{name}");
        let o = Command::new(example("verify"))
            .arg(&removed)
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(1),
            "{name}: an unsigned file is not valid"
        );
    }
}
