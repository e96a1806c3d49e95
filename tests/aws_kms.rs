//! `AwsKmsSigner` end to end against moto's local AWS server (tests/data/moto.sh installs it;
//! `tests/aws/moto_setup.py` creates the keys; `tests/aws/moto_server.py` adds KMS Sign's
//! `MessageType` `DIGEST`, which moto does not implement). moto runs with IAM authentication on, so every
//! request must carry a SigV4 signature moto checks against the access key it issued: wrong
//! credentials are refused as they are by AWS.
//!
//! Shows: RSA-2048 (through an alias), P-256 (by key id) and P-384 (by ARN) keys created in
//! KMS, each with a certificate issued by the test CA for its public key, sign PE, CAB and MSI
//! files that authsign and osslsigncode verify; the CLI signs a batch of PE files with a KMS
//! key and a local TSA through the standard AWS_ENDPOINT_URL; an unknown key, wrong
//! credentials, a key that cannot sign and a certificate for another key are clear, typed
//! errors, and nothing is written.
#![cfg(feature = "aws-kms")]

mod common;
mod tsa;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use authsign::error::{CryptoError, KeyServiceErrorKind};
use authsign::signer::aws_kms::{AwsCredentials, AwsKmsOptions, AwsKmsSigner};
use authsign::signer::{Secret, SignatureAlgorithm, Signer};
use authsign::verify::{Policy, Verifier};
use authsign::{DigestAlgorithm, Error, SignOptions};
use common::{example, fixture, pki, require_file, TempDir};

const SUBJECTS: &[&str] = &[
    "pe/hello64.exe",
    "cab/gcab-mszip.cab",
    "third-party/minimal.msi",
];

/// A moto server with the test keys, shared by the tests of this file.
struct Moto {
    endpoint: String,
    access_key_id: String,
    secret_access_key: String,
    /// Key name (rsa, p256, p384, encrypt) -> (id, ARN, chain PEM file).
    keys: Vec<(String, String, String, PathBuf)>,
    _server: Child,
    _dir: TempDir,
}

impl Moto {
    fn key(&self, name: &str) -> &(String, String, String, PathBuf) {
        self.keys.iter().find(|k| k.0 == name).expect("key")
    }

    fn options(&self, key_id: &str, chain: &Path) -> AwsKmsOptions {
        let certs =
            authsign::signer::certificates_from_files(&[chain.to_path_buf()]).expect("chain");
        let mut o = AwsKmsOptions::new(key_id, certs);
        o.region = Some("us-east-1".into());
        o.endpoint = Some(self.endpoint.clone());
        o.credentials = Some(AwsCredentials {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: Secret::new(self.secret_access_key.clone()),
            session_token: None,
        });
        o
    }
}

fn venv() -> PathBuf {
    common::data_file("moto-venv/bin")
}

fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| {
        if !require_file(&venv().join("moto_server"), "run tests/data/moto.sh")
            || !common::require_tool("openssl")
        {
            return None;
        }
        Some(start_moto())
    })
    .as_ref()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start_moto() -> Moto {
    let port = free_port();
    // The shell stops moto when this test process ends (its stdin, our pipe, closes).
    let server = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "\"$0\" \"$1\" -H 127.0.0.1 -p {port} >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill $pid"
        ))
        .arg(venv().join("python"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aws/moto_server.py"))
        .env("INITIAL_NO_AUTH_ACTION_COUNT", "3")
        .stdin(Stdio::piped())
        .spawn()
        .expect("start moto_server");
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let endpoint = format!("http://127.0.0.1:{port}");
    let setup = Command::new(venv().join("python"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aws/moto_setup.py"))
        .arg(&endpoint)
        .output()
        .expect("run moto_setup.py");
    assert!(
        setup.status.success(),
        "moto_setup.py: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&setup.stdout).expect("setup JSON");
    let dir = TempDir::new();
    let mut keys = Vec::new();
    for name in ["rsa", "p256", "p384", "encrypt"] {
        let k = &json["keys"][name];
        let (id, arn) = (k["id"].as_str().unwrap(), k["arn"].as_str().unwrap());
        let chain = match k["public_key"].as_str().unwrap() {
            "" => PathBuf::new(),
            public => issue_for_public_key(dir.path(), name, public),
        };
        keys.push((name.to_string(), id.to_string(), arn.to_string(), chain));
    }
    Moto {
        endpoint,
        access_key_id: json["access_key_id"].as_str().unwrap().into(),
        secret_access_key: json["secret_access_key"].as_str().unwrap().into(),
        keys,
        _server: server,
        _dir: dir,
    }
}

/// A code-signing certificate for the base64 DER public key `public`, issued by the test
/// intermediate CA; returns the chain file (leaf, intermediate).
fn issue_for_public_key(dir: &Path, name: &str, public: &str) -> PathBuf {
    use base64ct::Encoding;
    let der = base64ct::Base64::decode_vec(public).expect("base64 public key");
    let s = |p: PathBuf| p.to_str().expect("utf-8").to_string();
    std::fs::write(dir.join(format!("{name}.pub.der")), der).unwrap();
    std::fs::write(
        dir.join("ext.cnf"),
        "[ext]\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n\
         basicConstraints=CA:FALSE\n",
    )
    .unwrap();
    common::openssl_in(
        dir,
        &[
            "pkey",
            "-pubin",
            "-inform",
            "DER",
            "-in",
            &format!("{name}.pub.der"),
            "-out",
            &format!("{name}.pub.pem"),
        ],
    );
    common::openssl_in(
        dir,
        &[
            "x509",
            "-new",
            "-subj",
            &format!("/CN=authsign KMS test {name}"),
            "-force_pubkey",
            &format!("{name}.pub.pem"),
            "-CA",
            &s(pki("intermediate.pem")),
            "-CAkey",
            &s(pki("intermediate.key")),
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "ext",
            "-out",
            &format!("{name}.pem"),
        ],
    );
    let chain = dir.join(format!("{name}-chain.pem"));
    let mut text = std::fs::read(dir.join(format!("{name}.pem"))).unwrap();
    text.extend(std::fs::read(pki("intermediate.pem")).unwrap());
    std::fs::write(&chain, text).unwrap();
    chain
}

fn roots() -> Vec<authsign::Certificate> {
    authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap()
}

fn assert_valid(path: &Path) {
    let report = Verifier::new(Policy::with_trusted(roots()))
        .verify_path(path)
        .expect("verify");
    assert!(
        report.is_valid(),
        "{}: {}",
        path.display(),
        report.to_json()
    );
    if common::require_tool("osslsigncode") {
        common::assert_osslsigncode_accepts(path);
    }
}

fn key_service_kind(e: &Error) -> Option<KeyServiceErrorKind> {
    match e {
        Error::Crypto(CryptoError::KeyService(k)) => Some(k.kind),
        _ => None,
    }
}

#[test]
#[cfg_attr(
    not(all(has_moto, has_openssl, has_osslsigncode)),
    ignore = "needs tests/data/moto.sh, openssl, osslsigncode"
)]
fn kms_rsa_p256_and_p384_keys_sign_pe_cab_and_msi() {
    let Some(moto) = moto() else { return };
    let dir = TempDir::new();
    let (rsa, p256, p384) = (moto.key("rsa"), moto.key("p256"), moto.key("p384"));
    let cases = [
        (
            "alias/authsign-rsa",
            &rsa.3,
            SignatureAlgorithm::RsaPkcs1v15,
            DigestAlgorithm::Sha256,
        ),
        (
            p256.1.as_str(),
            &p256.3,
            SignatureAlgorithm::EcdsaP256,
            DigestAlgorithm::Sha256,
        ),
        (
            p384.2.as_str(),
            &p384.3,
            SignatureAlgorithm::EcdsaP384,
            DigestAlgorithm::Sha384,
        ),
    ];
    for (key_id, chain, scheme, digest) in cases {
        let signer = AwsKmsSigner::open(moto.options(key_id, chain)).expect("open KMS key");
        assert_eq!(signer.algorithm(), scheme, "{key_id}");
        assert!(
            !signer.key_id().starts_with("alias/"),
            "{}",
            signer.key_id()
        );
        let opts = SignOptions::new().with_digests(&[digest]);
        for subject in SUBJECTS {
            let out = dir.path().join(format!(
                "{}-{}",
                key_id.replace(['/', ':'], "_"),
                subject.replace('/', "-")
            ));
            authsign::sign_file_to(fixture(subject), &out, &signer, &opts)
                .unwrap_or_else(|e| panic!("{key_id} {subject}: {e}"));
            assert_valid(&out);
        }
    }
}

#[test]
#[cfg_attr(
    not(all(has_moto, has_openssl)),
    ignore = "needs tests/data/moto.sh, openssl"
)]
fn unknown_keys_wrong_credentials_and_unusable_keys_are_typed_errors() {
    let Some(moto) = moto() else { return };
    let rsa = moto.key("rsa");
    let e = AwsKmsSigner::open(moto.options("alias/no-such-key", &rsa.3)).unwrap_err();
    assert_eq!(
        key_service_kind(&e),
        Some(KeyServiceErrorKind::KeyNotFound),
        "{e}"
    );

    let mut wrong = moto.options(&rsa.1, &rsa.3);
    wrong.credentials = Some(AwsCredentials {
        access_key_id: moto.access_key_id.clone(),
        secret_access_key: Secret::new("wrong-secret-0123456789"),
        session_token: None,
    });
    let e = AwsKmsSigner::open(wrong).unwrap_err();
    assert_eq!(
        key_service_kind(&e),
        Some(KeyServiceErrorKind::Authentication),
        "{e}"
    );
    assert!(!e.to_string().contains("wrong-secret-0123456789"), "{e}");

    let mut unknown = moto.options(&rsa.1, &rsa.3);
    unknown.credentials = Some(AwsCredentials {
        access_key_id: "AKIAUNKNOWNKEY000000".into(),
        secret_access_key: Secret::new("whatever-secret-value"),
        session_token: None,
    });
    let e = AwsKmsSigner::open(unknown).unwrap_err();
    assert_eq!(
        key_service_kind(&e),
        Some(KeyServiceErrorKind::Authentication),
        "{e}"
    );

    // A symmetric key cannot sign; a certificate for another key is refused.
    let e = AwsKmsSigner::open(moto.options(&moto.key("encrypt").1, &rsa.3)).unwrap_err();
    assert_eq!(
        key_service_kind(&e),
        Some(KeyServiceErrorKind::WrongKeyUsage),
        "{e}"
    );
    let e = AwsKmsSigner::open(moto.options(&rsa.1, &moto.key("p256").3)).unwrap_err();
    assert!(
        matches!(e, Error::Crypto(CryptoError::KeyCertificateMismatch)),
        "{e}"
    );

    // A P-384 key signs SHA-384 digests only: SHA-256 is refused before a request is made.
    let p384 = moto.key("p384");
    let signer = AwsKmsSigner::open(moto.options(&p384.1, &p384.3)).expect("open");
    let e = signer
        .sign_digest(DigestAlgorithm::Sha256, &[7; 32])
        .unwrap_err();
    assert_eq!(
        key_service_kind(&e),
        Some(KeyServiceErrorKind::WrongKeyUsage),
        "{e}"
    );
}

/// The `sign` example with moto's endpoint and credentials in the standard AWS variables.
fn sign_cli(moto: &Moto, secret: &str, args: &[&str]) -> std::process::Output {
    Command::new(example("sign"))
        .args(args)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", &moto.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_ENDPOINT_URL_KMS")
        .output()
        .expect("run sign")
}

#[test]
#[cfg_attr(
    not(all(has_moto, has_openssl, has_osslsigncode)),
    ignore = "needs tests/data/moto.sh, openssl, osslsigncode"
)]
fn cli_signs_and_timestamps_a_batch_with_a_kms_key() {
    let Some(moto) = moto() else { return };
    let tsa = tsa::TsaServer::start(tsa::Protocol::Rfc3161);
    let dir = TempDir::new();
    let mut files = Vec::new();
    for (i, pe) in common::pe_fixtures().iter().take(4).enumerate() {
        let ext = pe.extension().unwrap().to_str().unwrap();
        let f = dir.path().join(format!("app{i}.{ext}"));
        std::fs::copy(pe, &f).unwrap();
        files.push(f.to_str().unwrap().to_string());
    }
    let chain = moto.key("rsa").3.to_str().unwrap().to_string();
    let url = tsa.url();
    let mut args = vec![
        "--aws-kms-key",
        "alias/authsign-rsa",
        "--cert",
        &chain,
        "--timestamp",
        &url,
    ];
    args.extend(files.iter().map(String::as_str));
    let o = sign_cli(moto, &moto.secret_access_key, &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(tsa.requests() >= files.len(), "one timestamp per file");
    for f in &files {
        let report = Verifier::new(Policy::with_trusted(roots()))
            .verify_path(f)
            .expect("verify");
        assert!(report.is_valid(), "{f}: {}", report.to_json());
        assert_eq!(
            report.signatures[0].timestamps.len(),
            1,
            "{f} is timestamped"
        );
        common::assert_osslsigncode_accepts(Path::new(f));
    }
}

#[test]
#[cfg_attr(
    not(all(has_moto, has_openssl)),
    ignore = "needs tests/data/moto.sh, openssl"
)]
fn cli_errors_name_the_problem_and_write_nothing() {
    let Some(moto) = moto() else { return };
    let dir = TempDir::new();
    let target = dir.path().join("app.exe");
    std::fs::copy(fixture("pe/hello64.exe"), &target).unwrap();
    let before = std::fs::read(&target).unwrap();
    let chain = moto.key("rsa").3.to_str().unwrap().to_string();
    let t = target.to_str().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "alias/does-not-exist",
            &moto.secret_access_key,
            &["AWS KMS", "key not found"],
        ),
        (
            "alias/authsign-rsa",
            "not-the-secret-key-42",
            &["AWS KMS", "authentication failed"],
        ),
    ];
    for (key, secret, expected) in cases {
        let o = sign_cli(moto, secret, &["--aws-kms-key", key, "--cert", &chain, t]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{key}: {err}");
        for piece in *expected {
            assert!(err.contains(piece), "{key}: {err:?} lacks {piece:?}");
        }
        assert!(!err.contains(*secret), "a secret in the error: {err}");
        assert_eq!(
            std::fs::read(&target).unwrap(),
            before,
            "{key}: file changed"
        );
    }
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        names.push(e.unwrap().file_name());
    }
    assert_eq!(names.len(), 1, "files left behind: {names:?}");
}
