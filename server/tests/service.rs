//! authsign-server end to end, on 127.0.0.1 with TLS (a PKI the tests make with openssl):
//! remote signatures equal local ones byte for byte (PE, CAB, MSI; dual SHA-1 + SHA-256);
//! bad tokens, an untrusting client, oversized and malformed requests are refused with
//! nothing written on the client while the server keeps serving; 40 concurrent clients; curl
//! uploads; the audit log; SIGTERM under load; a PKCS#11 (SoftHSM2) profile; mutual TLS.

mod kit;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use authsign::error::RemoteError;
use authsign::sign::{self, SignOptions};
use authsign::signer::LocalSigner;
use authsign::verify::{Policy, Verifier};
use authsign::{DigestAlgorithm, Error, Profile};
use kit::{example, fixture, make_tls, pki, require_tool, run, token_hash, Server};

const TOKEN: &str = "ci-1-secret-token-4b1d";
const OTHER: &str = "ci-2-secret-token-77aa";
const EXPIRED: &str = "old-secret-token-0000";

/// The test files: PE, CAB and MSI.
const FILES: &[&str] = &[
    "pe/hello64.exe",
    "cab/gcab-mszip.cab",
    "third-party/minimal.msi",
];

fn clients_json() -> String {
    format!(
        r#"{{"clients":[
            {{"name":"ci-1","token_sha256":"{}"}},
            {{"name":"ci-2","token_sha256":"{}","profiles":["default"]}},
            {{"name":"old","token_sha256":"{}","expires":"2020-01-01T00:00:00Z"}}]}}"#,
        token_hash(TOKEN),
        token_hash(OTHER),
        token_hash(EXPIRED)
    )
}

fn key_args() -> Vec<String> {
    vec![
        "--cert".into(),
        pki("leaf-rsa-chain.pem").display().to_string(),
        "--key".into(),
        pki("leaf-rsa.key").display().to_string(),
    ]
}

/// A server with the test RSA key as its default profile.
fn start(dir: &Path, extra: &[&str]) -> Server {
    make_tls(dir, "");
    let mut args: Vec<String> = key_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start(dir, &clients_json(), &args, &[])
}

fn opts() -> SignOptions {
    SignOptions::new()
        .with_profile(Profile::Signtool)
        .with_signing_time(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
}

fn local_signer() -> LocalSigner {
    LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")]).unwrap()
}

fn name_of(f: &str) -> &str {
    f.rsplit('/').next().unwrap()
}

fn verifier() -> Verifier {
    let roots = authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap();
    Verifier::new(Policy::windows().trusting(roots))
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn remote_signatures_equal_local_ones_byte_for_byte() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let client = server.client(TOKEN);
    let dual = opts().with_digests(&[DigestAlgorithm::Sha256, DigestAlgorithm::Sha1]);
    let ossl = opts()
        .with_profile(Profile::Osslsigncode)
        .with_description("app")
        .with_url("https://example.com/");
    for f in FILES {
        for (label, o) in [
            ("signtool", opts()),
            ("dual", dual.clone()),
            ("osslsigncode", ossl.clone()),
        ] {
            let local = dir.path().join(format!("local-{label}-{}", name_of(f)));
            let remote = dir.path().join(format!("remote-{label}-{}", name_of(f)));
            authsign::sign_file_to(fixture(f), &local, &local_signer(), &o).unwrap();
            sign::sign_file_to_with(fixture(f), &remote, &client, &o).unwrap();
            assert!(
                std::fs::read(&local).unwrap() == std::fs::read(&remote).unwrap(),
                "{f} ({label}): remote and local signatures differ"
            );
            let report = verifier().verify_path(&remote).unwrap();
            assert!(report.is_valid(), "{f} ({label}): {report:?}");
        }
        // Dual: two valid signatures (SHA-256 primary, SHA-1 nested).
        let dual_file = dir.path().join(format!("remote-dual-{}", name_of(f)));
        let report = verifier().verify_path(&dual_file).unwrap();
        let json = serde_json::to_value(&report).unwrap().to_string();
        assert!(
            json.contains("sha1") && json.contains("sha256"),
            "{f}: {json}"
        );
    }
    // Packages: one signature, the block map's digest in SpcIndirectDataContent whatever the
    // signature's (osslsigncode profile), the publisher checked on the answer.
    for (f, o) in [
        ("third-party/minimal.msix", Profile::Osslsigncode),
        ("third-party/unsigned.256appx", Profile::Osslsigncode),
        ("third-party/unsigned.512appx", Profile::Osslsigncode),
    ] {
        let o = opts().with_profile(o).allowing_publisher_mismatch(true);
        let (l, r) = (
            dir.path().join(format!("l-{}", name_of(f))),
            dir.path().join(format!("r-{}", name_of(f))),
        );
        authsign::sign_file_to(fixture(f), &l, &local_signer(), &o).unwrap();
        sign::sign_file_to_with(fixture(f), &r, &client, &o).unwrap();
        assert!(
            std::fs::read(&l).unwrap() == std::fs::read(&r).unwrap(),
            "{f}: remote and local differ"
        );
        let strict = o.clone().allowing_publisher_mismatch(false);
        let e = sign::sign_file_to_with(fixture(f), dir.path().join("no.msix"), &client, &strict)
            .unwrap_err();
        assert!(matches!(e, Error::PublisherMismatch(_)), "{f}: {e}");
    }
    // A catalog: its certificate trust list is signed directly (content type szOID_CTL).
    let (l, r) = (dir.path().join("l.cat"), dir.path().join("r.cat"));
    let cat = fixture("third-party/catalog/unsigned.cat");
    authsign::sign_file_to(&cat, &l, &local_signer(), &opts()).unwrap();
    sign::sign_file_to_with(&cat, &r, &client, &opts()).unwrap();
    assert!(
        std::fs::read(&l).unwrap() == std::fs::read(&r).unwrap(),
        "catalog: remote and local differ"
    );
    // Nesting into a signed file numbers like local nesting.
    let once = dir.path().join("once.exe");
    authsign::sign_file_to(fixture("pe/hello64.exe"), &once, &local_signer(), &opts()).unwrap();
    let nest = opts().with_digest(DigestAlgorithm::Sha512).nesting(true);
    let (l, r) = (dir.path().join("nl.exe"), dir.path().join("nr.exe"));
    authsign::sign_file_to(&once, &l, &local_signer(), &nest).unwrap();
    sign::sign_file_to_with(&once, &r, &client, &nest).unwrap();
    assert_eq!(std::fs::read(&l).unwrap(), std::fs::read(&r).unwrap());

    // The `sign` command line: --remote, one file and a batch, equal to local signing.
    let Some(sign_cli) = example("sign") else {
        return;
    };
    let cli = |args: &[&str], files: &[PathBuf]| {
        let o = Command::new(&sign_cli)
            .env("SIGN_TOKEN", TOKEN)
            .args(["--remote", &server.url, "--remote-ca"])
            .arg(dir.path().join("ca.pem"))
            .args(["--token-env", "SIGN_TOKEN", "--signing-time", "1700000000"])
            .args(args)
            .args(files)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let mut batch = Vec::new();
    for f in FILES {
        let p = dir.path().join(format!("cli-{}", name_of(f)));
        std::fs::copy(fixture(f), &p).unwrap();
        batch.push(p);
    }
    cli(&["--digest", "sha256", "--digest", "sha1"], &batch);
    for (f, p) in FILES.iter().zip(&batch) {
        let local = dir.path().join(format!("local-dual-{}", name_of(f)));
        assert!(
            std::fs::read(p).unwrap() == std::fs::read(local).unwrap(),
            "{f}: sign --remote batch differs"
        );
    }
    let out = dir.path().join("cli-out.exe");
    cli(&["-o", out.to_str().unwrap()], &[fixture("pe/hello64.exe")]);
    assert_eq!(
        std::fs::read(out).unwrap(),
        std::fs::read(dir.path().join("local-signtool-hello64.exe")).unwrap()
    );
    if require_tool("osslsigncode") {
        let (ok, text) = osslsigncode_verify(
            &dir.path().join("remote-dual-hello64.exe"),
            &pki("root.pem"),
        );
        assert!(ok, "{text}");
    }
}

fn osslsigncode_verify(path: &Path, ca: &Path) -> (bool, String) {
    let o = Command::new("osslsigncode")
        .arg("verify")
        .arg("-CAfile")
        .arg(ca)
        .arg("-in")
        .arg(path)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// Signing `hello64.exe` into a new file with `client`: the error, and whether the output was
/// left absent and the input unchanged.
fn refused(dir: &Path, client: &authsign::remote::RemoteSigner, o: &SignOptions) -> Error {
    let input = dir.join("in.exe");
    std::fs::copy(fixture("pe/hello64.exe"), &input).unwrap();
    let out = dir.join("out.exe");
    let e = sign::sign_file_to_with(&input, &out, client, o).unwrap_err();
    assert!(!out.exists(), "a refused request wrote {}", out.display());
    let e2 = sign::sign_file_with(&input, client, o).unwrap_err();
    assert_eq!(e.to_string(), e2.to_string());
    assert_eq!(
        std::fs::read(&input).unwrap(),
        std::fs::read(fixture("pe/hello64.exe")).unwrap()
    );
    e
}

fn status(e: &Error) -> u16 {
    match e {
        Error::Remote(RemoteError::Refused { status, .. }) => *status,
        other => panic!("expected a refusal, got {other}"),
    }
}

fn curl(server: &Server, args: &[&str]) -> (u16, Vec<u8>) {
    let o = Command::new("curl")
        .current_dir(&server.dir)
        .args([
            "-sS",
            "--cacert",
            "ca.pem",
            "-o",
            "curl.out",
            "-w",
            "%{http_code}",
        ])
        .args(args)
        .output()
        .unwrap();
    let code = String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    (
        code,
        std::fs::read(server.dir.join("curl.out")).unwrap_or_default(),
    )
}

#[test]
#[cfg_attr(not(all(has_openssl, has_curl)), ignore = "needs openssl and curl")]
fn refusals_write_nothing_and_the_server_keeps_serving() {
    if !require_tool("openssl") || !require_tool("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        &[
            "--max-request",
            "4096",
            "--max-upload",
            "100000",
            "--allow-digest",
            "sha256",
            "--allow-digest",
            "sha1",
        ],
    );
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let wrong = format!("{TOKEN}x");
    for (token, why) in [
        (wrong.as_str(), "wrong"),
        ("nobody-knows-this", "unknown"),
        (EXPIRED, "expired"),
        ("", "empty"),
    ] {
        let e = refused(&work, &server.client(token), &opts());
        assert_eq!(status(&e), 401, "{why}: {e}");
    }
    // A profile the client may not use, a digest the profile does not sign.
    let e = refused(
        &work,
        &server.client(OTHER).with_profile("release"),
        &opts(),
    );
    assert_eq!(status(&e), 403, "{e}");
    let e = refused(
        &work,
        &server.client(TOKEN),
        &opts().with_digest(DigestAlgorithm::Sha512),
    );
    assert_eq!(status(&e), 403, "{e}");
    // A timestamp from a profile without timestamp servers.
    let e = refused(
        &work,
        &server.client(TOKEN).with_server_timestamp(true),
        &opts(),
    );
    assert_eq!(status(&e), 400, "{e}");
    // A client that does not trust the server's certificate: another CA.
    make_tls(&work, "other-");
    let untrusting = authsign::remote::RemoteSigner::new(
        server.url.clone(),
        authsign::signer::Secret::new(TOKEN),
    )
    .with_ca_file(work.join("other-ca.pem"))
    .unwrap()
    .with_retries(0, Duration::ZERO);
    let e = refused(&work, &untrusting, &opts());
    assert!(
        matches!(e, Error::Remote(RemoteError::Transport { .. })),
        "{e}"
    );
    // Oversized: a request over --max-request, an upload over --max-upload.
    let big = dir.path().join("big.exe");
    let mut bytes = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    bytes.resize(bytes.len() + 200_000, 0);
    std::fs::write(&big, &bytes).unwrap();
    let out = dir.path().join("big-signed.exe");
    let long = opts().with_description("x".repeat(10_000));
    let e = sign::sign_file_to_with(&big, &out, &server.client(TOKEN), &long).unwrap_err();
    assert_eq!(status(&e), 413, "{e}");
    assert!(!out.exists());
    let (code, _) = curl(
        &server,
        &[
            "-H",
            &format!("Authorization: Bearer {TOKEN}"),
            // What curl sends on its own for bodies over 1 MiB: the refusal comes before
            // the upload.
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            &format!("@{}", big.display()),
            &format!("{}/v1/upload?name=big.exe", server.url),
        ],
    );
    assert_eq!(code, 413);
    // Malformed: not JSON, JSON of another shape, an SpcIndirectDataContent that is not one,
    // a digest of the wrong length, an unknown algorithm, a bad version.
    let auth = format!("Authorization: Bearer {TOKEN}");
    let sign_url = format!("{}/v1/sign", server.url);
    let good = authsign::remote::protocol::SignRequest::new(
        &authsign::sign::SigningRequest::for_subject(
            authsign::open_path(fixture("pe/hello64.exe"))
                .unwrap()
                .as_ref(),
            &opts(),
        )
        .unwrap(),
        &opts(),
        None,
        false,
    );
    let good_json = serde_json::to_string(&good).unwrap();
    let mut bad_len = good.clone();
    let der = authsign::cms::spc::pe_indirect_data(DigestAlgorithm::Sha256, &[7; 32]).unwrap();
    let mut short = der.clone();
    short.truncate(der.len() - 1);
    bad_len.signatures[0].indirect_data = authsign::remote::protocol::encode_base64(&short);
    let mut mislabeled = good.clone();
    mislabeled.signatures[0].digest_algorithm = "sha3-256".into();
    let mut version = good.clone();
    version.version = 99;
    let mut trailing = good.clone();
    let mut with_tail = der.clone();
    with_tail.push(0);
    trailing.signatures[0].indirect_data = authsign::remote::protocol::encode_base64(&with_tail);
    for body in [
        "this is not json".to_string(),
        r#"{"version":1}"#.to_string(),
        serde_json::to_string(&bad_len).unwrap(),
        serde_json::to_string(&mislabeled).unwrap(),
        serde_json::to_string(&version).unwrap(),
        serde_json::to_string(&trailing).unwrap(),
        good_json.replace(
            "\"signatures\":[",
            "\"signatures\":[{\"digest_algorithm\":\"md5\",\"indirect_data\":\"AAAA\"},",
        ),
    ] {
        let (code, answer) = curl(
            &server,
            &[
                "-H",
                &auth,
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                &body,
                &sign_url,
            ],
        );
        assert_eq!(code, 400, "{body}: {}", String::from_utf8_lossy(&answer));
        let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["error"]["code"], "bad-request");
    }
    // A file that is no signable format, uploaded.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a PE").unwrap();
    let (code, _) = curl(
        &server,
        &[
            "-H",
            &auth,
            "--data-binary",
            &format!("@{}", text.display()),
            &format!("{}/v1/upload?name=notes.bin", server.url),
        ],
    );
    assert_eq!(code, 400);
    // Still serving.
    let (code, body) = curl(&server, &[&format!("{}/health", server.url)]);
    assert_eq!(
        (code, String::from_utf8_lossy(&body).contains("\"ok\"")),
        (200, true)
    );
    let out = dir.path().join("after.exe");
    sign::sign_file_to_with(
        fixture("pe/hello64.exe"),
        &out,
        &server.client(TOKEN),
        &opts(),
    )
    .unwrap();
    assert!(verifier().verify_path(&out).unwrap().is_valid());
    // Nothing secret in the log or the server's output; every refusal has its line.
    let audit = std::fs::read_to_string(&server.audit).unwrap();
    let stderr = std::fs::read_to_string(&server.stderr).unwrap();
    for secret in [TOKEN, OTHER, EXPIRED, wrong.as_str()] {
        assert!(
            !audit.contains(secret) && !stderr.contains(secret),
            "a token leaked"
        );
    }
    let lines = server.audit_lines();
    assert!(
        lines.iter().filter(|l| l["status"] == 401).count() >= 8,
        "{audit}"
    );
    assert!(lines.iter().any(|l| l["status"] == 413));
    assert!(lines
        .iter()
        .any(|l| l["status"] == 403 && l["client"] == "ci-2"));
    assert!(lines
        .iter()
        .any(|l| l["status"] == 401 && l["client"] == "old"));
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn forty_concurrent_clients_all_get_valid_files() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--workers", "2", "--queue", "64"]);
    let results: Vec<(PathBuf, Result<Vec<u8>, Error>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..40)
            .map(|i| {
                let client = server.client(TOKEN);
                let dir = dir.path().to_path_buf();
                s.spawn(move || {
                    let f = FILES[i % FILES.len()];
                    let out = dir.join(format!("c{i}-{}", name_of(f)));
                    let o = SignOptions::new()
                        .with_digests(&[DigestAlgorithm::Sha256, DigestAlgorithm::Sha1]);
                    let r = sign::sign_file_to_with(fixture(f), &out, &client, &o);
                    (out, r)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (out, r) in &results {
        r.as_ref()
            .unwrap_or_else(|e| panic!("{}: {e}", out.display()));
        let report = verifier().verify_path(out).unwrap();
        assert!(report.is_valid(), "{}: {report:?}", out.display());
    }
    let lines = server.audit_lines();
    assert_eq!(
        lines.iter().filter(|l| l["outcome"] == "signed").count(),
        40
    );
}

#[test]
#[cfg_attr(not(all(has_openssl, has_curl)), ignore = "needs openssl and curl")]
fn curl_uploads_equal_sign_remote_and_attach() {
    if !require_tool("openssl") || !require_tool("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[]);
    let auth = format!("Authorization: Bearer {TOKEN}");
    for f in FILES {
        let name = name_of(f);
        let remote = dir.path().join(format!("remote-{name}"));
        let o = opts().with_digests(&[DigestAlgorithm::Sha256, DigestAlgorithm::Sha1]);
        sign::sign_file_to_with(fixture(f), &remote, &server.client(TOKEN), &o).unwrap();
        let query =
            format!("name={name}&digest=sha256&digest=sha1&signing-time=2023-11-14T22:13:20Z");
        let (code, signed) = curl(
            &server,
            &[
                "-H",
                &auth,
                "--data-binary",
                &format!("@{}", fixture(f).display()),
                &format!("{}/v1/upload?{query}", server.url),
            ],
        );
        assert_eq!(code, 200, "{f}: {}", String::from_utf8_lossy(&signed));
        assert!(
            signed == std::fs::read(&remote).unwrap(),
            "{f}: upload differs from sign --remote"
        );
        let (code, pkcs7) = curl(
            &server,
            &[
                "-H",
                &auth,
                "--data-binary",
                &format!("@{}", fixture(f).display()),
                &format!("{}/v1/upload?{query}&response-type=pkcs7", server.url),
            ],
        );
        assert_eq!(code, 200);
        let p7 = dir.path().join(format!("{name}.p7"));
        std::fs::write(&p7, &pkcs7).unwrap();
        let attached = dir.path().join(format!("attached-{name}"));
        match example("sign") {
            Some(cli) => {
                let o = Command::new(cli)
                    .arg("--attach")
                    .arg(&p7)
                    .arg(fixture(f))
                    .arg("-o")
                    .arg(&attached)
                    .output()
                    .unwrap();
                assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            }
            None => {
                sign::embed_file(fixture(f), Some(&attached), &pkcs7, &SignOptions::new()).unwrap()
            }
        }
        assert!(
            std::fs::read(&attached).unwrap() == signed,
            "{f}: attached PKCS#7 differs"
        );
    }
    let lines = server.audit_lines();
    assert!(lines
        .iter()
        .all(|l| l["client"] == "ci-1" && l["outcome"] == "signed"));
    assert!(lines
        .iter()
        .any(|l| l["endpoint"] == "upload" && l["file"] == "minimal.msi"));
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn audit_lines_name_client_and_digest_and_sigterm_loses_none() {
    if !require_tool("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), &["--workers", "2"]);
    // One request: its line has the file digest, the client and the certificate serial.
    let out = dir.path().join("one.exe");
    sign::sign_file_to_with(
        fixture("pe/hello64.exe"),
        &out,
        &server.client(TOKEN),
        &opts(),
    )
    .unwrap();
    let digest = hex::encode(
        &authsign::open_path(fixture("pe/hello64.exe"))
            .unwrap()
            .digest(&[DigestAlgorithm::Sha256])
            .unwrap()[0],
    );
    let lines = server.audit_lines();
    assert_eq!(lines.len(), 1);
    let l = &lines[0];
    assert_eq!(
        (
            l["client"].as_str(),
            l["file"].as_str(),
            l["outcome"].as_str()
        ),
        (Some("ci-1"), Some("hello64.exe"), Some("signed"))
    );
    assert_eq!(l["digests"][0]["algorithm"], "sha256");
    assert_eq!(l["digests"][0]["digest"], digest.as_str());
    assert!(l["certificate_serial"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert!(l["remote"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert!(l["time"].as_str().unwrap().ends_with('Z') && l["duration_ms"].is_number());

    // Load from 8 clients, SIGTERM in the middle: every answered request has its line.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let answered: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|i| {
                let client = server.client(TOKEN);
                let (dir, stop) = (dir.path().to_path_buf(), &stop);
                s.spawn(move || {
                    let mut mine = Vec::new();
                    for n in 0..10_000 {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) && n > 0 {
                            // keep going: the server decides when requests stop being answered
                        }
                        let input = dir.join(format!("load-{i}-{n}.exe"));
                        let mut bytes = std::fs::read(fixture("pe/hello64.exe")).unwrap();
                        bytes.extend_from_slice(format!("{i}-{n}").as_bytes());
                        std::fs::write(&input, bytes).unwrap();
                        let subject = authsign::open_path(&input).unwrap();
                        let d =
                            hex::encode(&subject.digest(&[DigestAlgorithm::Sha256]).unwrap()[0]);
                        match sign::sign_file_with(&input, &client, &SignOptions::new()) {
                            Ok(_) => mine.push(d),
                            Err(_) => break,
                        }
                        let _ = std::fs::remove_file(&input);
                    }
                    mine
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(server.terminate(), "the server did not exit cleanly");
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(answered.len() > 8, "too little load: {}", answered.len());
    let logged: std::collections::HashSet<String> = server
        .audit_lines()
        .iter()
        .filter(|l| l["outcome"] == "signed")
        .map(|l| l["digests"][0]["digest"].as_str().unwrap().to_string())
        .collect();
    let missing: Vec<_> = answered.iter().filter(|d| !logged.contains(*d)).collect();
    assert!(
        missing.is_empty(),
        "{} answered requests have no audit line",
        missing.len()
    );
    let stderr = std::fs::read_to_string(&server.stderr).unwrap();
    assert!(stderr.contains("stopped"), "{stderr}");
    assert!(
        !stderr.contains(TOKEN)
            && !std::fs::read_to_string(&server.audit)
                .unwrap()
                .contains(TOKEN)
    );
}

#[test]
#[cfg_attr(not(all(has_openssl, has_curl)), ignore = "needs openssl and curl")]
fn mutual_tls_refuses_clients_without_a_certificate() {
    if !require_tool("openssl") || !require_tool("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &["--client-ca", "ca.pem"]);
    let input = fixture("pe/hello64.exe");
    let out = dir.path().join("m.exe");
    let e = sign::sign_file_to_with(&input, &out, &server.client(TOKEN), &opts()).unwrap_err();
    assert!(
        matches!(e, Error::Remote(RemoteError::Transport { .. })),
        "{e}"
    );
    assert!(!out.exists());
    let read = |n: &str| std::fs::read(dir.path().join(n)).unwrap();
    let client = server
        .client(TOKEN)
        .with_client_certificate_pem(&read("client.pem"), &read("client.key"))
        .unwrap();
    sign::sign_file_to_with(&input, &out, &client, &opts()).unwrap();
    assert!(verifier().verify_path(&out).unwrap().is_valid());
}

/// SoftHSM2: a profile whose key is on a PKCS#11 token (imported from the test PKI's RSA key),
/// opened once per worker (one session each); RSA PKCS#1 v1.5 is deterministic, so its
/// signatures equal the PEM key's.
#[test]
#[cfg_attr(
    not(all(has_openssl, has_softhsm2)),
    ignore = "needs openssl and SoftHSM2"
)]
fn a_pkcs11_profile_signs_like_the_pem_key() {
    if !require_tool("openssl") || !require_tool("softhsm2-util") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some((module, conf)) = softhsm_token(dir.path()) else {
        return;
    };
    make_tls(dir.path(), "");
    let clients = format!(
        r#"{{"clients":[{{"name":"ci-1","token_sha256":"{}","profiles":["hsm"]}}],
            "profiles":[{{"name":"hsm","workers":2,"digests":["sha256","sha1"],"attributes":"signtool",
              "key":["--pkcs11-module","{}","--pkcs11-token","server-test","--pkcs11-key","release",
                     "--pin-env","TEST_PIN","--cert","{}"]}}]}}"#,
        token_hash(TOKEN),
        module.display(),
        pki("leaf-rsa-chain.pem").display()
    );
    let conf_s = conf.display().to_string();
    let server = Server::start(
        dir.path(),
        &clients,
        &[],
        &[("SOFTHSM2_CONF", &conf_s), ("TEST_PIN", "1234-test")],
    );
    for f in FILES {
        let (l, r) = (
            dir.path().join(format!("l-{}", name_of(f))),
            dir.path().join(format!("r-{}", name_of(f))),
        );
        let o = opts().with_digests(&[DigestAlgorithm::Sha256, DigestAlgorithm::Sha1]);
        authsign::sign_file_to(fixture(f), &l, &local_signer(), &o).unwrap();
        sign::sign_file_to_with(fixture(f), &r, &server.client(TOKEN), &o).unwrap();
        assert!(
            std::fs::read(&l).unwrap() == std::fs::read(&r).unwrap(),
            "{f}: HSM and PEM differ"
        );
    }
    // The profile requires the signtool attributes.
    let e = refused(
        dir.path(),
        &server.client(TOKEN),
        &opts().with_profile(Profile::Osslsigncode),
    );
    assert_eq!(status(&e), 403, "{e}");
}

pub const SOFTHSM_MODULES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// A SoftHSM2 token `server-test` in `dir` holding the test RSA key as `release`; the module
/// and the configuration file.
pub fn softhsm_token(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let module = SOFTHSM_MODULES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    let Some(module) = module else {
        assert!(!kit::in_ci(), "libsofthsm2.so not found");
        eprintln!("note: libsofthsm2.so not found; skipping");
        return None;
    };
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let softhsm = |args: &[&str]| {
        let o = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "softhsm2-util {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    // Test PINs of a throwaway token.
    softhsm(&[
        "--init-token",
        "--free",
        "--label",
        "server-test",
        "--so-pin",
        "5678-so",
        "--pin",
        "1234-test",
    ]);
    let key = pki("leaf-rsa.key");
    softhsm(&[
        "--import",
        key.to_str().unwrap(),
        "--token",
        "server-test",
        "--label",
        "release",
        "--id",
        "01",
        "--pin",
        "1234-test",
    ]);
    let _ = run;
    Some((module, conf))
}
