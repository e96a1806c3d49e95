//! `sign`: sign, re-sign or unsign a PE or MSI file with a PEM key, like signtool / osslsigncode.
//!
//! ```text
//! cargo run --example sign -- --cert chain.pem --key key.pem app.exe -o app-signed.exe
//! cargo run --example sign -- --remove app-signed.exe -o app.exe
//! ```
//! Exit status: 0 on success, 2 on any error (one line on stderr).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authsign::sign::{write_atomically, SignOptions};
use authsign::signer::LocalSigner;
use authsign::{DigestAlgorithm, FileInput, Profile};
use clap::Parser;

/// Sign, attach or remove Authenticode signatures.
#[derive(Parser, Debug)]
#[command(name = "sign", version, about)]
struct Args {
    /// The file to sign (PE: .exe .dll .sys .efi; MSI).
    input: PathBuf,
    /// Where to write the result; without it the input is replaced atomically.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// PEM certificate chain, leaf first (repeatable).
    #[arg(long = "cert")]
    certs: Vec<PathBuf>,
    /// PEM private key: RSA, P-256 or P-384 (PKCS#8, PKCS#1 or SEC1).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Digest algorithm: sha1, sha256, sha384 or sha512.
    #[arg(long, default_value = "sha256")]
    digest: DigestAlgorithm,
    /// Signed-attribute profile: signtool or osslsigncode.
    #[arg(long, default_value = "signtool")]
    profile: Profile,
    /// Signing time (adds the signingTime attribute): RFC 3339 or Unix seconds.
    #[arg(long, value_parser = parse_time)]
    signing_time: Option<SystemTime>,
    /// Program description (SpcSpOpusInfo).
    #[arg(long)]
    description: Option<String>,
    /// Program URL (SpcSpOpusInfo).
    #[arg(long)]
    url: Option<String>,
    /// MSI: write MsiDigitalSignatureEx (always on with the signtool profile).
    #[arg(long)]
    msi_dse: bool,
    /// Remove all signatures instead of signing.
    #[arg(long, conflicts_with_all = ["attach", "detached", "key"])]
    remove: bool,
    /// Write only the PKCS#7 DER signature to this file; the input is not changed.
    #[arg(long, conflicts_with = "output")]
    detached: Option<PathBuf>,
    /// Embed this detached PKCS#7 signature (checked against the file first).
    #[arg(long, conflicts_with = "key")]
    attach: Option<PathBuf>,
}

fn parse_time(s: &str) -> Result<SystemTime, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(UNIX_EPOCH + Duration::from_secs(secs));
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("not RFC 3339 or Unix seconds: {e}"))?;
    let secs = u64::try_from(t.unix_timestamp()).map_err(|_| "time before 1970".to_string())?;
    Ok(UNIX_EPOCH + Duration::from_secs(secs))
}

fn run(args: &Args) -> authsign::Result<String> {
    let file = FileInput::open(&args.input)?;
    let subject = authsign::open(&file)?;
    let output: &Path = args.output.as_deref().unwrap_or(&args.input);

    if args.remove {
        write_atomically(output, |out| subject.without_signature(out))?;
        return Ok(format!("removed signatures: {}", output.display()));
    }
    if let Some(sig) = &args.attach {
        let pkcs7 = std::fs::read(sig)?;
        authsign::sign::check_signature_matches(subject.as_ref(), &pkcs7)?;
        write_atomically(output, |out| subject.with_signature(&pkcs7, out))?;
        return Ok(format!("attached {}: {}", sig.display(), output.display()));
    }

    let key = args
        .key
        .as_ref()
        .ok_or_else(|| authsign::Error::Unsupported("--key is required to sign".into()))?;
    if args.certs.is_empty() {
        return Err(authsign::Error::Unsupported(
            "--cert is required to sign".into(),
        ));
    }
    let signer = LocalSigner::from_files(key, &args.certs)?;
    let mut opts = SignOptions::default();
    opts.digest = args.digest;
    opts.profile = args.profile;
    opts.signing_time = args.signing_time;
    opts.description.clone_from(&args.description);
    opts.url.clone_from(&args.url);
    opts.subject.msi_dse = args.msi_dse || args.profile == Profile::Signtool;
    if args.profile == Profile::Osslsigncode {
        // osslsigncode writes SpcSipInfo version 1 for MSI, signtool 2.
        opts.subject.msi_sip_version = Some(1);
    }
    let pkcs7 = authsign::sign(subject.as_ref(), &signer, &opts)?;
    if let Some(path) = &args.detached {
        write_atomically(path, |out| out.write_all(&pkcs7).map_err(Into::into))?;
        return Ok(format!("wrote detached signature: {}", path.display()));
    }
    write_atomically(output, |out| subject.with_signature(&pkcs7, out))?;
    Ok(format!("signed ({}): {}", args.digest, output.display()))
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(msg) => {
            println!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sign: {}: {e}", args.input.display());
            ExitCode::from(2)
        }
    }
}
