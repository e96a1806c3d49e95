//! `remote_sign`: the library client of authsign-server in a few lines. The file is hashed
//! here, its SpcIndirectDataContent goes to the server, the signatures come back and are
//! embedded here; the key never leaves the server, the file never leaves this machine.
//!
//! ```text
//! AUTHSIGN_TOKEN=... cargo run --features remote --example remote_sign -- \
//!     https://sign.example:8443 signing-ca.pem app.exe [app-signed.exe]
//! ```
//! (`sign --remote URL --remote-ca CA --token-env VAR` is the full command line.)

use authsign::remote::RemoteSigner;
use authsign::signer::Secret;
use authsign::{DigestAlgorithm, SignOptions};

fn main() -> authsign::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, ca, input, rest @ ..] = args.as_slice() else {
        eprintln!("usage: remote_sign URL CA.pem INPUT [OUTPUT]   (token in $AUTHSIGN_TOKEN)");
        std::process::exit(2);
    };
    let server =
        RemoteSigner::new(url.as_str(), Secret::from_env("AUTHSIGN_TOKEN")?).with_ca_file(ca)?;
    // Dual-signed, SHA-256 first with SHA-1 nested, in one request.
    let opts = SignOptions::new().with_digests(&[DigestAlgorithm::Sha256, DigestAlgorithm::Sha1]);
    match rest.first() {
        Some(output) => authsign::sign::sign_file_to_with(input, output, &server, &opts)?,
        None => authsign::sign::sign_file_with(input, &server, &opts)?,
    };
    println!("signed through {url}: {}", rest.first().unwrap_or(input));
    Ok(())
}
