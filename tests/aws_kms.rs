//! `AwsKmsSigner` end to end against moto's local AWS server (tests/data/moto.sh installs it;
//! tests/common/moto.rs, shared with the server's tests, starts it and has
//! `tests/aws/moto_setup.py` create the keys; `tests/aws/moto_server.py` adds KMS Sign's
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
#[path = "common/moto.rs"]
mod moto;
mod tsa;

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use authsign::error::{CryptoError, KeyServiceErrorKind};
use authsign::signer::aws_kms::{AwsCredentials, AwsKmsOptions, AwsKmsSigner};
use authsign::signer::{Secret, SignatureAlgorithm, Signer};
use authsign::verify::{Policy, Verifier};
use authsign::{DigestAlgorithm, Error, SignOptions};
use common::{example, fixture, pki, require_file, TempDir};
use moto::Moto;

const SUBJECTS: &[&str] = &[
    "pe/hello64.exe",
    "cab/gcab-mszip.cab",
    "third-party/minimal.msi",
];

/// Options for the KMS key `key_id` with the certificate chain `chain`, through moto's
/// endpoint with its credentials.
fn kms_options(moto: &Moto, key_id: &str, chain: &Path) -> AwsKmsOptions {
    let certs = authsign::signer::certificates_from_files(&[chain.to_path_buf()]).expect("chain");
    let mut o = AwsKmsOptions::new(key_id, certs);
    o.region = Some("us-east-1".into());
    o.endpoint = Some(moto.endpoint.clone());
    o.credentials = Some(AwsCredentials {
        access_key_id: moto.access_key_id.clone(),
        secret_access_key: Secret::new(moto.secret_access_key.clone()),
        session_token: None,
    });
    o
}

/// The moto server shared by the tests of this file.
fn moto() -> Option<&'static Moto> {
    static MOTO: OnceLock<Option<Moto>> = OnceLock::new();
    MOTO.get_or_init(|| {
        if !require_file(&moto::installed_server(), "run tests/data/moto.sh")
            || !common::require_tool("openssl")
        {
            return None;
        }
        Some(Moto::start())
    })
    .as_ref()
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
            &rsa.chain,
            SignatureAlgorithm::RsaPkcs1v15,
            DigestAlgorithm::Sha256,
        ),
        (
            p256.id.as_str(),
            &p256.chain,
            SignatureAlgorithm::EcdsaP256,
            DigestAlgorithm::Sha256,
        ),
        (
            p384.arn.as_str(),
            &p384.chain,
            SignatureAlgorithm::EcdsaP384,
            DigestAlgorithm::Sha384,
        ),
    ];
    for (key_id, chain, scheme, digest) in cases {
        let signer = AwsKmsSigner::open(kms_options(moto, key_id, chain)).expect("open KMS key");
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
    let e = AwsKmsSigner::open(kms_options(moto, "alias/no-such-key", &rsa.chain)).unwrap_err();
    assert_eq!(
        key_service_kind(&e),
        Some(KeyServiceErrorKind::KeyNotFound),
        "{e}"
    );

    let mut wrong = kms_options(moto, &rsa.id, &rsa.chain);
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

    let mut unknown = kms_options(moto, &rsa.id, &rsa.chain);
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
    let e = AwsKmsSigner::open(kms_options(moto, &moto.key("encrypt").id, &rsa.chain)).unwrap_err();
    assert_eq!(
        key_service_kind(&e),
        Some(KeyServiceErrorKind::WrongKeyUsage),
        "{e}"
    );
    let e = AwsKmsSigner::open(kms_options(moto, &rsa.id, &moto.key("p256").chain)).unwrap_err();
    assert!(
        matches!(e, Error::Crypto(CryptoError::KeyCertificateMismatch)),
        "{e}"
    );

    // A P-384 key signs SHA-384 digests only: SHA-256 is refused before a request is made.
    let p384 = moto.key("p384");
    let signer = AwsKmsSigner::open(kms_options(moto, &p384.id, &p384.chain)).expect("open");
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
        .envs(moto.aws_env(secret))
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
    let chain = moto.key("rsa").chain.to_str().unwrap().to_string();
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
    let chain = moto.key("rsa").chain.to_str().unwrap().to_string();
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
