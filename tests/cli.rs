//! The example CLIs (`examples/sign.rs`, `examples/verify.rs`) as a user runs them: flags,
//! output, exit codes, and what happens to files on errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use authsign::DigestAlgorithm;
use common::{example, fixture, osslsigncode, osslsigncode_digest, pki, require_tool, TempDir};

fn sign_cmd() -> Command {
    Command::new(example("sign"))
}

fn verify_cmd() -> Command {
    Command::new(example("verify"))
}

fn key_args(leaf: &str) -> Vec<String> {
    vec![
        "--cert".into(),
        pki(&format!("{leaf}-chain.pem")).display().to_string(),
        "--key".into(),
        pki(&format!("{leaf}.key")).display().to_string(),
    ]
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Sign `input` into `dir/name` with the CLI; panics unless it succeeds.
fn sign_to(dir: &TempDir, input: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let out = dir.path().join(name);
    let o = output(
        sign_cmd()
            .args(key_args("leaf-rsa"))
            .args(extra)
            .arg(input)
            .arg("-o")
            .arg(&out),
    );
    assert!(o.status.success(), "sign failed: {}", stderr(&o));
    out
}

fn all_pe_files(dir: &TempDir) -> Vec<PathBuf> {
    let mut v = common::pe_fixtures();
    v.push(fixture("third-party/wineyes.exe"));
    v.push(fixture("third-party/fbx64.efi"));
    v.push(fixture("third-party/fbx64-signed-by-sbsign.efi"));
    v.push(sign_to(
        dir,
        &fixture("pe/hello32.exe"),
        "signed32.exe",
        &[],
    ));
    v.push(sign_to(
        dir,
        &fixture("pe/lib64.dll"),
        "signed64.dll",
        &["--digest", "sha512"],
    ));
    v
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn print_digest_equals_osslsigncode_extract_data() {
    if !require_tool("osslsigncode") || !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    for f in all_pe_files(&dir) {
        for alg in DigestAlgorithm::ALL {
            let o = output(verify_cmd().args(["--print-digest", alg.name()]).arg(&f));
            assert!(o.status.success(), "{}: {}", f.display(), stderr(&o));
            let ours = String::from_utf8_lossy(&o.stdout).trim().to_string();
            assert_eq!(
                ours,
                hex::encode(osslsigncode_digest(&f, alg)),
                "{} {alg}",
                f.display()
            );
        }
    }
}

#[test]
#[cfg_attr(not(has_osslsigncode), ignore = "needs osslsigncode")]
fn cli_osslsigncode_profile_with_signing_time_equals_osslsigncode() {
    if !require_tool("osslsigncode") {
        return;
    }
    let dir = TempDir::new();
    let input = fixture("pe/hello64.exe");
    let ours = sign_to(
        &dir,
        &input,
        "ours.exe",
        &[
            "--profile",
            "osslsigncode",
            "--signing-time",
            "2023-11-14T22:13:20Z",
            "--digest",
            "sha384",
        ],
    );
    let theirs = dir.path().join("theirs.exe");
    osslsigncode(&[
        "sign",
        "-certs",
        pki("leaf-rsa-chain.pem").to_str().unwrap(),
        "-key",
        pki("leaf-rsa.key").to_str().unwrap(),
        "-h",
        "sha384",
        "-st",
        "1700000000",
        "-in",
        input.to_str().unwrap(),
        "-out",
        theirs.to_str().unwrap(),
    ]);
    assert!(std::fs::read(ours).unwrap() == std::fs::read(theirs).unwrap());
}

#[test]
fn verify_accepts_what_sign_wrote_and_reports_it() {
    let dir = TempDir::new();
    let signed = sign_to(
        &dir,
        &fixture("pe/hello64.exe"),
        "s.exe",
        &["--description", "hello", "--url", "https://example.test/"],
    );
    let o = output(
        verify_cmd()
            .arg("--trusted")
            .arg(pki("root.pem"))
            .arg("--json")
            .arg(&signed),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["valid"], true);
    let sig = &v[0]["signatures"][0];
    assert_eq!(sig["index"], 0);
    assert_eq!(sig["digest_algorithm"], "sha256");
    assert_eq!(sig["digest_ok"], true);
    assert_eq!(sig["signed_digest"], sig["computed_digest"]);
    assert_eq!(sig["chain"].as_array().unwrap().len(), 3, "{sig}");

    // The same file against an anchor that did not issue it: invalid, exit 1.
    let o = output(
        verify_cmd()
            .arg("--trusted")
            .arg(pki("leaf-p256.pem"))
            .arg(&signed),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("error [issuer-not-found]"));
}

#[test]
fn verify_exit_codes_for_several_files() {
    let dir = TempDir::new();
    let good = sign_to(&dir, &fixture("pe/hello32.exe"), "good.exe", &[]);
    let mut bytes = std::fs::read(&good).unwrap();
    bytes[0x400] ^= 1; // a byte in the first section
    let bad = dir.path().join("bad.exe");
    std::fs::write(&bad, &bytes).unwrap();
    let root = pki("root.pem");
    let code = |files: &[&Path]| {
        output(verify_cmd().arg("--trusted").arg(&root).args(files))
            .status
            .code()
    };
    assert_eq!(code(&[&good, &good]), Some(0));
    assert_eq!(code(&[&good, &bad]), Some(1));
    assert_eq!(
        code(&[&fixture("pe/hello32.exe")]),
        Some(1),
        "an unsigned file is not valid"
    );
    assert_eq!(code(&[&good, &dir.path().join("missing.exe")]), Some(2));
    let o = output(verify_cmd().arg("--trusted").arg(&root).arg(&bad));
    assert!(String::from_utf8_lossy(&o.stdout).contains("digest-mismatch"));
}

#[test]
fn detached_then_attach_equals_direct_signing() {
    let dir = TempDir::new();
    let input = fixture("pe/lib32.dll");
    let t = ["--signing-time", "1700000000"];
    let direct = sign_to(&dir, &input, "direct.dll", &t);
    let p7 = dir.path().join("sig.p7");
    let o = output(
        sign_cmd()
            .args(key_args("leaf-rsa"))
            .args(t)
            .arg("--detached")
            .arg(&p7)
            .arg(&input),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let attached = dir.path().join("attached.dll");
    let o = output(
        sign_cmd()
            .arg("--attach")
            .arg(&p7)
            .arg(&input)
            .arg("-o")
            .arg(&attached),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(&direct).unwrap() == std::fs::read(&attached).unwrap());

    // --extract gives back the same PKCS#7.
    let extracted = dir.path().join("extracted.p7");
    let o = output(verify_cmd().arg("--extract").arg(&extracted).arg(&attached));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&extracted).unwrap(),
        std::fs::read(&p7).unwrap()
    );

    // A signature made for another file is refused, and nothing is written.
    let other = dir.path().join("other.exe");
    let o = output(
        sign_cmd()
            .arg("--attach")
            .arg(&p7)
            .arg(fixture("pe/hello32.exe"))
            .arg("-o")
            .arg(&other),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("digest mismatch"), "{}", stderr(&o));
    assert!(!other.exists());
}

#[test]
fn signing_in_place_and_removing() {
    let dir = TempDir::new();
    let original = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let f = dir.path().join("inplace.exe");
    std::fs::write(&f, &original).unwrap();
    let o = output(sign_cmd().args(key_args("leaf-p256")).arg(&f));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(std::fs::read(&f).unwrap(), original);
    let o = output(verify_cmd().arg("--trusted").arg(pki("root.pem")).arg(&f));
    assert_eq!(o.status.code(), Some(0));
    let o = output(sign_cmd().arg("--remove").arg(&f));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&f).unwrap(), original);
    // Only the file itself is left: no temporary files.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Files that are not valid PE input, each with a name for failure messages.
fn bad_inputs(dir: &TempDir) -> Vec<PathBuf> {
    let hello = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let e_lfanew = u32::from_le_bytes(hello[0x3c..0x40].try_into().unwrap()) as usize;
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        (
            "random",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
        ),
        ("truncated", hello[..e_lfanew + 40].to_vec()),
        ("mz-only", b"MZ".to_vec()),
    ];
    let mut lfanew_past_end = hello.clone();
    lfanew_past_end[0x3c..0x40].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    cases.push(("e_lfanew-past-end", lfanew_past_end));
    let mut huge_opt = hello.clone();
    huge_opt[e_lfanew + 20..e_lfanew + 22].copy_from_slice(&0xffffu16.to_le_bytes());
    cases.push(("absurd-SizeOfOptionalHeader", huge_opt));
    // Certificate table entry pointing past the end of the file (PE32+: directory at +0xa8+4*8).
    let mut cert_past_end = hello.clone();
    let dir4 = e_lfanew + 24 + 112 + 4 * 8;
    cert_past_end[dir4..dir4 + 4].copy_from_slice(&0x00ff_0000u32.to_le_bytes());
    cert_past_end[dir4 + 4..dir4 + 8].copy_from_slice(&0x100u32.to_le_bytes());
    cases.push(("cert-table-past-end", cert_past_end));
    let mut paths: Vec<PathBuf> = cases
        .into_iter()
        .map(|(name, bytes)| {
            let p = dir.path().join(format!("{name}.exe"));
            std::fs::write(&p, bytes).unwrap();
            p
        })
        .collect();
    paths.push(fixture("third-party/MORE.EXE"));
    paths
}

#[test]
fn bad_input_exits_2_with_one_line_and_touches_nothing() {
    let dir = TempDir::new();
    for input in bad_inputs(&dir) {
        let before = std::fs::read(&input).unwrap();
        let out = dir.path().join("out.exe");
        for cmd in [
            sign_cmd()
                .args(key_args("leaf-rsa"))
                .arg(&input)
                .arg("-o")
                .arg(&out),
            sign_cmd().args(key_args("leaf-rsa")).arg(&input),
        ] {
            let o = output(cmd);
            assert_eq!(
                o.status.code(),
                Some(2),
                "{}: {}",
                input.display(),
                stderr(&o)
            );
            let err = stderr(&o);
            assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
        assert!(!out.exists(), "{}: no output file", input.display());
        assert_eq!(
            std::fs::read(&input).unwrap(),
            before,
            "{}: input unchanged",
            input.display()
        );
        // verify reports a malformed or unsupported file as invalid (exit 1), with a reason,
        // and goes on; --print-digest says why on one line.
        let o = output(verify_cmd().args(["--print-digest", "sha256"]).arg(&input));
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}: {}",
            input.display(),
            stderr(&o)
        );
        assert_eq!(stderr(&o).trim_end().lines().count(), 1);
        let o = output(verify_cmd().arg("--json").arg(&input));
        assert_eq!(
            o.status.code(),
            Some(1),
            "{}: {}",
            input.display(),
            stderr(&o)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let code = v[0]["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            ["malformed", "unsupported-format", "not-signed"].contains(&code.as_str()),
            "{}: {v}",
            input.display()
        );
    }
    // Only the inputs are left: no temporary files.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A folder of every kind of file: one report each, in order, with a reason code; exit 1;
/// no panic. The library's batch API says the same.
#[test]
fn verify_json_over_a_folder_of_every_kind_of_file() {
    let dir = TempDir::new();
    let good = sign_to(&dir, &fixture("pe/hello64.exe"), "a-good.exe", &[]);
    let bytes = std::fs::read(&good).unwrap();
    let mut tampered = bytes.clone();
    tampered[0x500] ^= 1;
    let files: Vec<(&str, Vec<u8>, &str)> = vec![
        ("b-tampered.exe", tampered, "digest-mismatch"),
        (
            "c-truncated.exe",
            bytes[..bytes.len() - 100].to_vec(),
            "malformed",
        ),
        (
            "d-unsigned.exe",
            std::fs::read(fixture("pe/hello64.exe")).unwrap(),
            "not-signed",
        ),
        (
            "e-text.txt",
            b"just some text\n".to_vec(),
            "unsupported-format",
        ),
        ("f-empty.bin", Vec::new(), "unsupported-format"),
        (
            "g-dos.exe",
            std::fs::read(fixture("third-party/MORE.EXE")).unwrap(),
            "malformed",
        ),
    ];
    let mut paths = vec![good.clone()];
    for (name, data, _) in &files {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        paths.push(p);
    }
    let o = output(
        verify_cmd()
            .arg("--json")
            .arg("--trusted")
            .arg(pki("root.pem"))
            .args(&paths),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let entries = v.as_array().unwrap();
    assert_eq!(entries.len(), paths.len());
    assert_eq!(entries[0]["valid"], true);
    for (entry, (name, _, code)) in entries[1..].iter().zip(&files) {
        assert!(entry["file"].as_str().unwrap().ends_with(name));
        assert_eq!(entry["valid"], false, "{name}");
        let all: Vec<&str> = entry["errors"]
            .as_array()
            .unwrap()
            .iter()
            .chain(
                entry["signatures"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .flat_map(|s| s["errors"].as_array().unwrap()),
            )
            .map(|e| e["code"].as_str().unwrap())
            .collect();
        assert!(all.contains(code), "{name}: {all:?}");
    }

    // The library's batch API: the same verdicts, in the same order.
    let anchors =
        authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap();
    let verifier =
        authsign::verify::Verifier::new(authsign::verify::Policy::windows().trusting(anchors));
    let reports = verifier.verify_paths(&paths);
    assert_eq!(reports.len(), paths.len());
    for (r, entry) in reports.iter().zip(entries) {
        assert_eq!(r.is_valid(), entry["valid"] == true, "{}", r.path.display());
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(&json, entry, "library and CLI JSON are the same");
    }
    // A file that cannot be opened: exit 2, and still one complete array.
    let o = output(
        verify_cmd()
            .arg("--json")
            .arg(&good)
            .arg(dir.path().join("missing.exe")),
    );
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["errors"][0]["code"], "cannot-open");
}
