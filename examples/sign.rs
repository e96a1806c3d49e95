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
//! Without -o a file is signed in place, crash-safely. PINs and passwords come from the
//! environment or a file, never the command line. Exit 0 on success, 2 on any error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use authsign::sign::{self, BatchItem, PendingSignature, RequestSigner, SignOptions};
use authsign::signer;
use authsign::{DigestAlgorithm, Error, Profile, Result};
use clap::Parser;

#[path = "common/cli.rs"]
mod common;
use common::usage;
#[path = "common/remote.rs"]
mod remote;

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
    remote: remote::RemoteArgs,
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

/// The operations that need no key on one input: removing, attaching, timestamping, two-phase.
fn without_key(args: &Args, input: &Path) -> Result<String> {
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
        let json = pending.to_json();
        sign::write_atomically(state, |out| Ok(out.write_all(json.as_bytes())?))?;
        let (digest, state) = (hex::encode(pending.digest()), state.display());
        return Ok(format!("prepared: sign {digest} (state in {state})"));
    }
    if let (Some(state), Some(sig)) = (&args.finish, &args.signature) {
        let json = std::fs::read_to_string(state).map_err(|e| Error::at(state, e))?;
        let pending = PendingSignature::from_json(&json)?;
        let signature = std::fs::read(sig).map_err(|e| Error::at(sig, e))?;
        sign::finish_file(input, output, &[pending], &[signature], &opts)?;
        return Ok(format!("signed: {shown}"));
    }
    Err(usage("nothing to do without a key"))
}

/// Sign one input with `signer` (a key, or the signing service): in place, to -o, or into a
/// detached signature.
fn sign_one<R: RequestSigner + ?Sized>(args: &Args, input: &Path, signer: &R) -> Result<String> {
    let opts = options(args)?;
    if let Some(path) = &args.detached {
        let subject = authsign::open_path(input)?;
        let pkcs7 = sign::sign_with(subject.as_ref(), signer, &opts)?;
        sign::write_atomically(path, |out| Ok(out.write_all(&pkcs7)?))?;
        return Ok(format!("wrote detached signature: {}", path.display()));
    }
    match &args.output {
        None => sign::sign_file_with(input, signer, &opts)?,
        Some(out) => sign::sign_file_to_with(input, out, signer, &opts)?,
    };
    let digests: Vec<&str> = args.digests.iter().map(|d| d.name()).collect();
    let shown = args.output.as_deref().unwrap_or(input).display();
    Ok(format!("signed ({}): {shown}", digests.join(" + ")))
}

type Outcomes = Vec<(PathBuf, Result<String>)>;

/// Sign the inputs with `signer`: one input as the flags say, several in place in one batch.
fn sign_all<R: RequestSigner + Sync + ?Sized>(args: &Args, signer: &R) -> Result<Outcomes> {
    if let [input] = args.inputs.as_slice() {
        return Ok(vec![(input.clone(), sign_one(args, input, signer))]);
    }
    if args.output.is_some() || args.detached.is_some() {
        return Err(usage(
            "several inputs are signed in place: no -o or --detached",
        ));
    }
    let items: Vec<BatchItem> = args.inputs.iter().map(BatchItem::in_place).collect();
    let results = sign::sign_batch_with(&items, signer, &options(args)?);
    let results = results.into_iter().map(|r| r.map(|_| "signed".to_string()));
    Ok(args.inputs.iter().cloned().zip(results).collect())
}

fn run(args: &Args) -> Result<Outcomes> {
    let key_free = args.remove
        || args.remove_nested.is_some()
        || args.timestamp_only
        || args.attach.is_some()
        || args.prepare.is_some()
        || args.finish.is_some();
    if key_free {
        let [input] = args.inputs.as_slice() else {
            return Err(usage("--remove, --remove-nested, --timestamp-only, --attach, --prepare and --finish take one input"));
        };
        return Ok(vec![(input.clone(), without_key(args, input))]);
    }
    match &args.remote.remote {
        Some(url) => sign_all(args, &args.remote.signer(url)?),
        None => {
            let signer = args.keys.source(args.key.as_deref(), &args.certs)?.open()?;
            sign_all(args, signer.as_ref())
        }
    }
}

fn main() -> ExitCode {
    use std::io::Write as _;
    let args = Args::parse();
    let first = args.inputs.first().cloned().unwrap_or_default();
    let mut status = ExitCode::SUCCESS;
    for (input, result) in run(&args).unwrap_or_else(|e| vec![(first, Err(e))]) {
        match result {
            Ok(msg) if args.inputs.len() == 1 => println!("{msg}"),
            Ok(msg) => println!("{msg}: {}", input.display()),
            Err(e) => {
                status = ExitCode::from(2);
                let _ = writeln!(std::io::stderr(), "sign: {}: {e}", input.display());
            }
        }
    }
    status
}
