//! The crate's front-page example, run for real: sign with an RFC 3161 timestamp from a local
//! TSA, then verify (the doc example points at a public TSA and files that do not exist, so it
//! is compiled, not run).
#![cfg(feature = "http")]

mod common;
mod tsa;

use authsign::verify::{Policy, Verifier};
use authsign::{signer::LocalSigner, SignOptions, TimestampOptions};
use common::{fixture, pki, TempDir};

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn the_front_page_example_signs_with_a_timestamp_and_verifies() {
    if !common::require_tool("openssl") {
        return;
    }
    let tsa = tsa::TsaServer::start(tsa::Protocol::Rfc3161);
    let dir = TempDir::new();
    let (app, signed) = (
        dir.path().join("app.exe"),
        dir.path().join("app-signed.exe"),
    );
    std::fs::copy(fixture("pe/hello64.exe"), &app).unwrap();
    let (key, chain, root) = (
        pki("leaf-rsa.key"),
        pki("leaf-rsa-chain.pem"),
        pki("root.pem"),
    );

    // The example, line for line (paths and the TSA URL aside).
    let signer = LocalSigner::from_files(&key, &[&chain]).unwrap();
    let opts = SignOptions::new().with_timestamp(TimestampOptions::rfc3161_urls([tsa.url()]));
    authsign::sign_file_to(&app, &signed, &signer, &opts).unwrap();

    let roots = authsign::certificates_from_pem(&std::fs::read(&root).unwrap()).unwrap();
    let report = Verifier::new(Policy::windows().trusting(roots))
        .verify_path(&signed)
        .unwrap();
    assert!(report.is_valid(), "{}", report.to_json());
    assert_eq!(report.signatures[0].timestamps.len(), 1);
    assert!(report.signatures[0].timestamp_time().is_some());
}
