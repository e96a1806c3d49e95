//! `sign`: sign, nest, timestamp, attach, two-phase sign or unsign files with Authenticode,
//! like signtool / osslsigncode. A thin command line over `authsign::sign`.
//!
//! ```text
//! cargo run --example sign -- --cert chain.pem --key key.pem app.exe -o app-signed.exe
//! cargo run --example sign -- --cert chain.pem --key key.pem --digest sha1 --digest sha256 app.exe
//! cargo run --example sign -- --cert chain.pem --key key.pem a.dll b.cab c.msi   # batch, in place
//! cargo run --features http --example sign -- --cert chain.pem --key key.pem \
//!     --timestamp http://tsa.example/ app.exe
//! cargo run --example sign -- --remove app-signed.exe -o app.exe
//! PIN=... cargo run --features pkcs11 --example sign -- --pkcs11-module /usr/lib/softhsm/libsofthsm2.so \
//!     --pkcs11-token codesign --pkcs11-key release --pin-env PIN app.exe
//! TOKEN=... cargo run --features remote --example sign -- --remote https://sign.example:8443 \
//!     --remote-ca signing-ca.pem --token-env TOKEN a.exe b.msi     # through authsign-server
//! ```
//! Without -o a file is signed in place, crash-safely. PINs and passwords come from an
//! environment variable or a file, never from the command line. Exit status: 0 on success,
//! 2 on any error (one line on stderr per failed file).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use authsign::sign::{self, BatchItem, PendingSignature, SignOptions};
use authsign::signer;
use authsign::{DigestAlgorithm, Error, Profile, Result};
use clap::Parser;

#[path = "common/cli.rs"]
mod common;
use common::usage;

/// Sign, attach or remove Authenticode signatures.
#[derive(Parser, Debug)]
#[command(name = "sign", version, about)]
struct Args {
    /// The files: PE (.exe .dll .sys .efi), cabinets (.cab), installers (.msi), packages
    /// (.appx .msix .appxbundle .msixbundle). Several files are signed in place in one
    /// parallel batch.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Where to write the result (one input only); without it the input is changed in place.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Certificate chain, PEM or DER, leaf first (repeatable).
    #[arg(long = "cert")]
    certs: Vec<PathBuf>,
    /// PEM private key: RSA, P-256 or P-384 (PKCS#8, PKCS#1 or SEC1).
    #[arg(long)]
    key: Option<PathBuf>,
    #[command(flatten)]
    keys: common::KeyArgs,
    /// Digest algorithm: sha1, sha256, sha384 or sha512. Repeat it to dual-sign in one pass.
    #[arg(long = "digest", default_values = ["sha256"])]
    digests: Vec<DigestAlgorithm>,
    /// Signed-attribute profile: signtool or osslsigncode.
    #[arg(long, default_value = "signtool")]
    profile: Profile,
    /// Signing time (adds the signingTime attribute): RFC 3339 or Unix seconds.
    #[arg(long, value_parser = authsign::time::parse_time)]
    signing_time: Option<SystemTime>,
    /// Program description (SpcSpOpusInfo).
    #[arg(long)]
    description: Option<String>,
    /// Program URL (SpcSpOpusInfo).
    #[arg(long)]
    url: Option<String>,
    /// PE: include page hashes.
    #[arg(long)]
    page_hashes: bool,
    /// Add the new signature as a nested signature, keeping the existing ones.
    #[arg(long)]
    nest: bool,
    /// MSI: write MsiDigitalSignatureEx (always on with the signtool profile).
    #[arg(long)]
    msi_dse: bool,
    /// APPX/MSIX: sign even though the manifest's Publisher is not the certificate's subject
    /// (Windows will not install such a package).
    #[arg(long)]
    allow_publisher_mismatch: bool,
    /// Remove all signatures instead of signing.
    #[arg(long, conflicts_with_all = ["attach", "detached", "key", "nest"])]
    remove: bool,
    /// Remove the nested signature with this index (0 = the first nested one).
    #[arg(long, value_name = "INDEX", conflicts_with_all = ["attach", "detached", "key", "nest", "remove"])]
    remove_nested: Option<usize>,
    /// Write only the PKCS#7 DER signature to this file; the input is not changed.
    #[arg(long, conflicts_with = "output")]
    detached: Option<PathBuf>,
    /// Embed this detached PKCS#7 signature (checked against the file first).
    #[arg(long, conflicts_with = "key")]
    attach: Option<PathBuf>,
    /// Two-phase signing, step 1: write the digest to sign and the state to this JSON file
    /// (needs --cert, no key).
    #[arg(long, value_name = "STATE.json", conflicts_with_all = ["key", "finish", "attach", "remove"])]
    prepare: Option<PathBuf>,
    /// Two-phase signing, step 2: complete the signature from this state file and --signature.
    #[arg(long, value_name = "STATE.json", requires = "signature", conflicts_with_all = ["key", "attach", "remove"])]
    finish: Option<PathBuf>,
    /// The raw signature (RSA PKCS#1 v1.5 bytes or DER ECDSA) over the prepared digest.
    #[arg(long, value_name = "SIG.bin", requires = "finish")]
    signature: Option<PathBuf>,
    /// Timestamp the existing signatures (primary and nested) without re-signing.
    #[arg(long, conflicts_with_all = ["key", "remove", "attach", "detached"])]
    timestamp_only: bool,
    #[command(flatten)]
    timestamps: common::TimestampArgs,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// Signing through an authsign-server: the file stays here, the key there.
#[derive(clap::Args, Debug)]
struct RemoteArgs {
    /// Sign through the authsign-server at this URL (https://host:port); the file never leaves
    /// this machine (feature `remote`).
    #[arg(long, value_name = "URL", conflicts_with_all = ["key", "pfx", "pkcs11_module", "prepare", "finish", "attach", "remove", "timestamp_only"])]
    remote: Option<String>,
    /// CA certificate (PEM) the server's TLS certificate must chain to (default: the
    /// system's CA bundle).
    #[arg(long, value_name = "CA.pem", requires = "remote")]
    remote_ca: Option<PathBuf>,
    /// Environment variable holding this client's bearer token for --remote.
    #[arg(long, value_name = "VAR", requires = "remote")]
    token_env: Option<String>,
    /// The server's signing profile (default: the client's only one, or the server's default).
    #[arg(long, value_name = "NAME", requires = "remote")]
    remote_profile: Option<String>,
    /// Have the server timestamp the signatures with its profile's timestamp servers.
    #[arg(long, requires = "remote")]
    remote_timestamp: bool,
    /// Client certificate chain (PEM) for servers that require mutual TLS.
    #[arg(long, value_name = "CERT.pem", requires_all = ["remote", "remote_client_key"])]
    remote_client_cert: Option<PathBuf>,
    /// Private key (PEM) of --remote-client-cert.
    #[arg(long, value_name = "KEY.pem", requires = "remote_client_cert")]
    remote_client_key: Option<PathBuf>,
}

#[cfg(feature = "remote")]
fn remote_signer(r: &RemoteArgs, url: &str) -> Result<authsign::remote::RemoteSigner> {
    let var = r
        .token_env
        .as_deref()
        .ok_or_else(|| usage("--remote needs --token-env VAR (the bearer token)"))?;
    let mut server = authsign::remote::RemoteSigner::new(url, signer::Secret::from_env(var)?)
        .with_server_timestamp(r.remote_timestamp);
    if let Some(ca) = &r.remote_ca {
        server = server.with_ca_file(ca)?;
    }
    if let Some(profile) = &r.remote_profile {
        server = server.with_profile(profile);
    }
    if let (Some(cert), Some(key)) = (&r.remote_client_cert, &r.remote_client_key) {
        let read = |p: &PathBuf| std::fs::read(p).map_err(|e| Error::at(p, e));
        server = server.with_client_certificate_pem(&read(cert)?, &read(key)?)?;
    }
    Ok(server)
}

/// Sign `input` (or every input, as a batch) through the server at `url`.
#[cfg(feature = "remote")]
fn run_remote(args: &Args, url: &str) -> Result<Vec<(PathBuf, Result<String>)>> {
    let server = remote_signer(&args.remote, url)?;
    let opts = options(args)?;
    if let [input] = args.inputs.as_slice() {
        let result = (|| {
            if let Some(path) = &args.detached {
                let subject = authsign::open_path(input)?;
                let pkcs7 = sign::sign_with(subject.as_ref(), &server, &opts)?;
                sign::write_atomically(path, |out| Ok(out.write_all(&pkcs7)?))?;
                return Ok(format!("wrote detached signature: {}", path.display()));
            }
            let shown = args
                .output
                .as_deref()
                .unwrap_or(input)
                .display()
                .to_string();
            match &args.output {
                None => sign::sign_file_with(input, &server, &opts)?,
                Some(out) => sign::sign_file_to_with(input, out, &server, &opts)?,
            };
            Ok(format!("signed through {url}: {shown}"))
        })();
        return Ok(vec![(input.clone(), result)]);
    }
    if args.output.is_some() || args.detached.is_some() {
        return Err(usage(
            "several inputs are signed in place: no -o or --detached",
        ));
    }
    let items: Vec<BatchItem> = args.inputs.iter().map(BatchItem::in_place).collect();
    let results = sign::sign_batch_with(&items, &server, &opts);
    Ok(args
        .inputs
        .iter()
        .cloned()
        .zip(results.into_iter().map(|r| r.map(|_| "signed".to_string())))
        .collect())
}

#[cfg(not(feature = "remote"))]
fn run_remote(_args: &Args, _url: &str) -> Result<Vec<(PathBuf, Result<String>)>> {
    Err(usage(
        "--remote needs the \"remote\" feature (cargo run --features remote ...)",
    ))
}

fn options(args: &Args) -> Result<SignOptions> {
    let mut opts = SignOptions::new()
        .with_digests(&args.digests)
        .with_profile(args.profile)
        .with_page_hashes(args.page_hashes)
        .with_msi_dse(args.msi_dse)
        .allowing_publisher_mismatch(args.allow_publisher_mismatch)
        .nesting(args.nest);
    opts.signing_time = args.signing_time;
    opts.description.clone_from(&args.description);
    opts.url.clone_from(&args.url);
    opts.timestamp = args.timestamps.options()?;
    Ok(opts)
}

fn run(args: &Args, input: &Path) -> Result<String> {
    let output = args.output.as_deref();
    let shown = output.unwrap_or(input).display();
    if args.remove {
        sign::remove_signatures_file(input, output)?;
        return Ok(format!("removed signatures: {shown}"));
    }
    if let Some(index) = args.remove_nested {
        sign::remove_nested_file(input, output, index)?;
        return Ok(format!("removed nested signature {index}: {shown}"));
    }
    let opts = options(args)?;
    if let Some(sig) = &args.attach {
        let pkcs7 = std::fs::read(sig).map_err(|e| Error::at(sig, e))?;
        sign::embed_file(input, output, &pkcs7, &opts)?;
        return Ok(format!("attached {}: {shown}", sig.display()));
    }
    if args.timestamp_only {
        sign::timestamp_file(input, output, &opts)?;
        return Ok(format!("timestamped: {shown}"));
    }
    if let Some(state) = &args.prepare {
        let certs = signer::certificates_from_files(&args.certs)?;
        let leaf = certs
            .first()
            .ok_or_else(|| usage("--prepare needs --cert"))?;
        let scheme = authsign::SignatureAlgorithm::for_certificate(leaf)?;
        let subject = authsign::open_path(input)?;
        let [pending] = &sign::prepare(subject.as_ref(), &certs, scheme, &opts)?[..] else {
            return Err(usage("--prepare takes one --digest"));
        };
        sign::write_atomically(
            state,
            |out| Ok(out.write_all(pending.to_json().as_bytes())?),
        )?;
        return Ok(format!(
            "prepared: sign {} (state in {})",
            hex::encode(pending.digest()),
            state.display()
        ));
    }
    if let (Some(state), Some(sig)) = (&args.finish, &args.signature) {
        let json = std::fs::read_to_string(state).map_err(|e| Error::at(state, e))?;
        let pending = PendingSignature::from_json(&json)?;
        let signature = std::fs::read(sig).map_err(|e| Error::at(sig, e))?;
        sign::finish_file(input, output, &[pending], &[signature], &opts)?;
        return Ok(format!("signed: {shown}"));
    }
    let signer = args.keys.source(args.key.as_deref(), &args.certs)?.open()?;
    if let Some(path) = &args.detached {
        let subject = authsign::open_path(input)?;
        let pkcs7 = authsign::sign(subject.as_ref(), signer.as_ref(), &opts)?;
        sign::write_atomically(path, |out| Ok(out.write_all(&pkcs7)?))?;
        return Ok(format!("wrote detached signature: {}", path.display()));
    }
    match output {
        None => authsign::sign_file(input, signer.as_ref(), &opts)?,
        Some(out) => authsign::sign_file_to(input, out, signer.as_ref(), &opts)?,
    };
    let digests: Vec<&str> = args.digests.iter().map(|d| d.name()).collect();
    Ok(format!("signed ({}): {shown}", digests.join(" + ")))
}

/// Sign every input in place in one batch call; one line per failure.
fn batch(args: &Args) -> Result<Vec<(PathBuf, Result<String>)>> {
    if args.output.is_some()
        || args.remove
        || args.remove_nested.is_some()
        || args.timestamp_only
        || args.detached.is_some()
        || args.attach.is_some()
        || args.prepare.is_some()
        || args.finish.is_some()
    {
        return Err(usage("several inputs are signed in place, in one batch: no -o, --remove, --timestamp-only, --detached, --attach, --prepare or --finish"));
    }
    let signer = args.keys.source(args.key.as_deref(), &args.certs)?.open()?;
    let items: Vec<BatchItem> = args.inputs.iter().map(BatchItem::in_place).collect();
    let results = authsign::sign_batch(&items, signer.as_ref(), &options(args)?);
    Ok(args
        .inputs
        .iter()
        .cloned()
        .zip(results.into_iter().map(|r| r.map(|_| "signed".to_string())))
        .collect())
}

fn main() -> ExitCode {
    use std::io::Write as _;
    let args = Args::parse();
    let results = match (&args.remote.remote, args.inputs.as_slice()) {
        (Some(url), _) => match run_remote(&args, url) {
            Ok(r) => r,
            Err(e) => vec![(args.inputs.first().cloned().unwrap_or_default(), Err(e))],
        },
        (None, inputs) => match inputs {
            [one] => vec![(one.clone(), run(&args, one))],
            _ => match batch(&args) {
                Ok(r) => r,
                Err(e) => vec![(args.inputs.first().cloned().unwrap_or_default(), Err(e))],
            },
        },
    };
    let mut failed = false;
    for (input, result) in results {
        match result {
            Ok(msg) if args.inputs.len() == 1 => println!("{msg}"),
            Ok(msg) => println!("{msg}: {}", input.display()),
            Err(e) => {
                failed = true;
                let _ = writeln!(std::io::stderr(), "sign: {}: {e}", input.display());
            }
        }
    }
    if failed {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}
