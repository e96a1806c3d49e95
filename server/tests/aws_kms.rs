//! authsign-server with AWS KMS keys: moto's local AWS server (tests/common/moto.rs, shared
//! with the library's tests/aws_kms.rs) holds an RSA-2048 and a P-256 key; the server opens
//! each from `--aws-kms-key ID --cert CHAIN` with the standard AWS environment variables
//! pointing at moto, and signs PE, CAB and MSI files for a remote client that authsign and
//! osslsigncode verify, one audit line per request.
#![cfg(feature = "aws-kms")]

mod kit;
#[path = "../../tests/common/moto.rs"]
mod moto;

use std::process::Command;

use authsign::sign;
use authsign::verify::{Policy, Verifier};
use authsign::{DigestAlgorithm, SignOptions};
use kit::{fixture, make_tls, pki, require_file, require_tool, token_hash, Server};

const TOKEN: &str = "ci-kms-secret-token-5e7c";

/// The test files: PE, CAB and MSI.
const FILES: &[&str] = &[
    "pe/hello64.exe",
    "cab/gcab-mszip.cab",
    "third-party/minimal.msi",
];

#[test]
#[cfg_attr(
    not(all(has_moto, has_openssl, has_osslsigncode)),
    ignore = "needs tests/data/moto.sh, openssl, osslsigncode"
)]
fn kms_rsa_and_p256_keys_sign_pe_cab_and_msi_through_the_server() {
    if !require_file(&moto::installed_server(), "run tests/data/moto.sh")
        || !require_tool("openssl")
        || !require_tool("osslsigncode")
    {
        return;
    }
    let moto = moto::Moto::start();
    let aws_env = moto.aws_env(&moto.secret_access_key);
    let env: Vec<(&str, &str)> = aws_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let clients = format!(
        r#"{{"clients":[{{"name":"ci-kms","token_sha256":"{}"}}]}}"#,
        token_hash(TOKEN)
    );
    let roots = authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap();
    for (name, digest) in [
        ("rsa", DigestAlgorithm::Sha256),
        ("p256", DigestAlgorithm::Sha256),
    ] {
        let key = moto.key(name);
        let leaf = authsign::certificates_from_pem(&std::fs::read(&key.chain).unwrap()).unwrap()[0]
            .clone();
        let dir = tempfile::tempdir().unwrap();
        make_tls(dir.path(), "");
        let chain = key.chain.to_str().unwrap();
        let server = Server::start(
            dir.path(),
            &clients,
            &["--aws-kms-key", &key.id, "--cert", chain, "--workers", "1"],
            &env,
        );
        let client = server.client(TOKEN);
        for f in FILES {
            let out = dir
                .path()
                .join(format!("{name}-{}", f.rsplit('/').next().unwrap()));
            sign::sign_file_to_with(
                fixture(f),
                &out,
                &client,
                &SignOptions::new().with_digest(digest),
            )
            .unwrap_or_else(|e| panic!("{name} {f}: {e}"));
            let report = Verifier::new(Policy::with_trusted(roots.clone()))
                .verify_path(&out)
                .unwrap();
            assert!(report.is_valid(), "{name} {f}: {}", report.to_json());
            assert_eq!(
                report.signatures[0].signer.as_ref(),
                Some(&leaf),
                "{name} {f}: not signed by the KMS key's certificate"
            );
            let o = Command::new("osslsigncode")
                .arg("verify")
                .arg("-CAfile")
                .arg(pki("root.pem"))
                .arg("-in")
                .arg(&out)
                .output()
                .unwrap();
            assert!(
                o.status.success(),
                "osslsigncode refuses {name} {f}: {}",
                String::from_utf8_lossy(&o.stdout)
            );
        }
        let serial = hex::encode(leaf.tbs_certificate().serial_number().as_bytes());
        let lines = server.audit_lines();
        assert_eq!(lines.len(), FILES.len(), "{name}: {lines:?}");
        for (line, f) in lines.iter().zip(FILES) {
            assert_eq!(
                (
                    line["client"].as_str(),
                    line["profile"].as_str(),
                    line["outcome"].as_str(),
                    line["certificate_serial"].as_str(),
                    line["file"].as_str(),
                ),
                (
                    Some("ci-kms"),
                    Some("default"),
                    Some("signed"),
                    Some(serial.as_str()),
                    f.rsplit('/').next(),
                ),
                "{name}: {line}"
            );
        }
    }
}
