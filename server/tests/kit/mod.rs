//! The server tests' kit: fixture paths (the library's tests/fixtures), a TLS PKI made with
//! openssl, running authsign-server on 127.0.0.1 and stopping it, tokens and CLIENTS.json.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use authsign::remote::RemoteSigner;
use authsign::signer::Secret;
use authsign::DigestAlgorithm;

/// A file under the library's tests/fixtures.
pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(path)
}

/// A file of the test PKI.
pub fn pki(name: &str) -> PathBuf {
    fixture("pki").join(name)
}

/// Whether the tests run in CI (`CI=true`), where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Whether `name` is on PATH; in CI a missing tool fails the test.
pub fn require_tool(name: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(name).is_file()));
    if !found {
        assert!(
            !in_ci(),
            "{name} is required in CI (CI=true) but is not on PATH"
        );
        eprintln!("note: {name} not found on PATH; skipping");
    }
    found
}

/// Whether the file `path` exists; in CI a missing file fails the test, elsewhere a note
/// (with `how`, the way to get it) says the test skips.
pub fn require_file(path: &Path, how: &str) -> bool {
    let found = path.is_file();
    if !found {
        assert!(
            !in_ci(),
            "{} is required in CI (CI=true) but is missing; {how}",
            path.display()
        );
        eprintln!("note: {} missing ({how}); skipping", path.display());
    }
    found
}

/// A binary built from the library's examples (`cargo test --workspace` builds them); `None`
/// outside CI when it is not built (after a note).
pub fn example(name: &str) -> Option<PathBuf> {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let path = dir.join("examples").join(name);
    if path.is_file() {
        return Some(path);
    }
    assert!(
        !in_ci(),
        "{} is missing: run the tests with `cargo test --workspace --all-features`",
        path.display()
    );
    eprintln!("note: {} not built; skipping its checks", path.display());
    None
}

/// Run `program` with `args` in `dir`; panic with its output unless it succeeds.
pub fn run(dir: &Path, program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A TLS PKI for 127.0.0.1: `ca.pem`, `server.pem`/`server.key`, and a client certificate
/// `client.pem`/`client.key` (for mutual TLS), made with openssl in `dir` (P-256, fast).
pub fn make_tls(dir: &Path, prefix: &str) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let p = |s: &str| format!("{prefix}{s}");
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    let (ca_key, ca) = (p("ca.key"), p("ca.pem"));
    args.extend([
        "-keyout",
        &ca_key,
        "-out",
        &ca,
        "-days",
        "2",
        "-subj",
        "/CN=authsign test TLS CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    run(dir, "openssl", &args);
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
        ),
        (
            "client",
            "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
        ),
    ] {
        let (key, csr, pem, extf) = (
            p(&format!("{name}.key")),
            p(&format!("{name}.csr")),
            p(&format!("{name}.pem")),
            p(&format!("{name}.ext")),
        );
        std::fs::write(dir.join(&extf), ext).unwrap();
        let mut args = vec!["req"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
        run(dir, "openssl", &args);
        run(
            dir,
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &extf,
            ],
        );
    }
}

/// The SHA-256 of `token`, hex, as CLIENTS.json stores it.
pub fn token_hash(token: &str) -> String {
    hex::encode(DigestAlgorithm::Sha256.digest(token.as_bytes()))
}

/// A running authsign-server; killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub dir: PathBuf,
    pub audit: PathBuf,
    pub stderr: PathBuf,
}

impl Server {
    /// Start the server in `dir` (which holds the TLS files made by [`make_tls`]) with
    /// `clients` as CLIENTS.json and `extra` arguments; waits for its "listening on" line.
    pub fn start(dir: &Path, clients: &str, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let clients_path = dir.join("clients.json");
        std::fs::write(&clients_path, clients).unwrap();
        let audit = dir.join("audit.jsonl");
        let stderr = dir.join("server.stderr");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_authsign-server"));
        cmd.current_dir(dir)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
                "server.pem",
                "--tls-key",
                "server.key",
            ])
            .arg("--clients")
            .arg(&clients_path)
            .arg("--audit")
            .arg(&audit)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start authsign-server");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!(
                    "no listening line: {line:?}; stderr: {}",
                    std::fs::read_to_string(&stderr).unwrap_or_default()
                )
            })
            .to_string();
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
        // Keep reading stdout so the server never blocks on it.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while out.read_line(&mut sink).is_ok_and(|n| n > 0) {}
        });
        Self {
            child,
            url,
            dir: dir.to_path_buf(),
            audit,
            stderr,
        }
    }

    /// A client with `token`, trusting the test TLS CA.
    pub fn client(&self, token: &str) -> RemoteSigner {
        RemoteSigner::new(self.url.clone(), Secret::new(token))
            .with_ca_file(self.dir.join("ca.pem"))
            .unwrap()
            .with_retries(0, std::time::Duration::ZERO)
    }

    /// The audit log's lines, parsed.
    pub fn audit_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.audit)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("an audit line is JSON"))
            .collect()
    }

    /// Send SIGTERM and wait for the server to exit; returns whether it exited with 0.
    pub fn terminate(&mut self) -> bool {
        run(&self.dir, "kill", &["-TERM", &self.child.id().to_string()]);
        self.child.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
