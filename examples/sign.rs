//! `sign`: sign, re-sign, nest, attach, two-phase sign or unsign files with Authenticode,
//! like signtool / osslsigncode.
//!
//! ```text
//! cargo run --example sign -- --cert chain.pem --key key.pem app.exe -o app-signed.exe
//! cargo run --example sign -- --cert chain.pem --key key.pem --digest sha1 --digest sha256 app.exe
//! cargo run --example sign -- --remove app-signed.exe -o app.exe
//! cargo run --example sign -- --cert chain.pem --key key.pem a.dll b.dll c.exe   # batch, in place
//! ```
//! Without -o a file is signed in place: only the header fields and the certificate table
//! are written, crash-safely (an undo journal `.NAME.authsign-undo` exists while it runs). With
//! -o the file is copied on a second thread while it is hashed, and the copy patched.
//! Exit status: 0 on success, 2 on any error (one line on stderr).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authsign::sign::{check_signature_matches, write_atomically, SignOptions};
use authsign::signer::LocalSigner;
use authsign::{DigestAlgorithm, Error, FileInput, PendingSignature, Profile, Subject};
use clap::Parser;

/// Sign, attach or remove Authenticode signatures.
#[derive(Parser, Debug)]
#[command(name = "sign", version, about)]
struct Args {
    /// The file to sign (PE: .exe .dll .sys .efi).
    input: PathBuf,
    /// More files to sign in place with the same key, in parallel (plain signing only).
    more_inputs: Vec<PathBuf>,
    /// Where to write the result; without it the input is signed in place, crash-safely.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// PEM certificate chain, leaf first (repeatable).
    #[arg(long = "cert")]
    certs: Vec<PathBuf>,
    /// PEM private key: RSA, P-256 or P-384 (PKCS#8, PKCS#1 or SEC1).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Digest algorithm: sha1, sha256, sha384 or sha512. Repeat it to dual-sign in one pass:
    /// the first is the primary signature, the others are nested in it.
    #[arg(long = "digest", default_values = ["sha256"])]
    digests: Vec<DigestAlgorithm>,
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
    /// PE: include page hashes.
    #[arg(long)]
    page_hashes: bool,
    /// Add the new signature as a nested signature, keeping the existing ones.
    #[arg(long)]
    nest: bool,
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

fn options(args: &Args) -> SignOptions {
    let mut opts = SignOptions::default();
    if let Some((first, rest)) = args.digests.split_first() {
        opts.digest = *first;
        opts.nested_digests = rest.to_vec();
    }
    opts.profile = args.profile;
    opts.signing_time = args.signing_time;
    opts.description.clone_from(&args.description);
    opts.url.clone_from(&args.url);
    opts.subject.page_hashes = args.page_hashes;
    opts
}

fn certificates(args: &Args) -> authsign::Result<Vec<x509_cert::Certificate>> {
    if args.certs.is_empty() {
        return Err(Error::Unsupported("--cert is required to sign".into()));
    }
    let mut out = Vec::new();
    for c in &args.certs {
        out.extend(authsign::certificates_from_pem(&std::fs::read(c)?)?);
    }
    Ok(out)
}

/// Write `pkcs7` into `output`: as the only signature, or nested in the existing one.
fn embed(args: &Args, subject: &dyn Subject, pkcs7: &[u8], output: &Path) -> authsign::Result<()> {
    let combined = match (args.nest, subject.signature()?) {
        (true, Some(existing)) => authsign::nest(&existing, pkcs7)?,
        (true, None) => {
            return Err(Error::Unsupported(
                "--nest: the file is not signed yet".into(),
            ))
        }
        (false, _) => pkcs7.to_vec(),
    };
    write_atomically(output, |out| subject.with_signature(&combined, out))
}

fn run(args: &Args) -> authsign::Result<String> {
    if !args.more_inputs.is_empty() && args.key.is_none() {
        return Err(Error::Unsupported(
            "several inputs: only plain signing (--key) takes more than one file".into(),
        ));
    }
    let file = FileInput::open(&args.input)?;
    let subject = authsign::open(&file)?;
    let output: &Path = args.output.as_deref().unwrap_or(&args.input);

    if args.remove {
        write_atomically(output, |out| subject.without_signature(out))?;
        return Ok(format!("removed signatures: {}", output.display()));
    }
    if let Some(index) = args.remove_nested {
        let existing = subject
            .signature()?
            .ok_or_else(|| Error::Unsupported("the file is not signed".into()))?;
        let pkcs7 = authsign::cms::edit::replace_nested_signature(&existing, index, None)?;
        write_atomically(output, |out| subject.with_signature(&pkcs7, out))?;
        return Ok(format!(
            "removed nested signature {index}: {}",
            output.display()
        ));
    }
    if let Some(sig) = &args.attach {
        let pkcs7 = std::fs::read(sig)?;
        check_signature_matches(subject.as_ref(), &pkcs7)?;
        embed(args, subject.as_ref(), &pkcs7, output)?;
        return Ok(format!("attached {}: {}", sig.display(), output.display()));
    }
    let opts = options(args);
    if let Some(state) = &args.prepare {
        if !opts.nested_digests.is_empty() {
            return Err(Error::Unsupported("--prepare takes one --digest".into()));
        }
        let certs = certificates(args)?;
        let leaf = certs
            .first()
            .ok_or_else(|| Error::Unsupported("no certificate".into()))?;
        let scheme = authsign::SignatureAlgorithm::for_certificate(leaf)?;
        let pending = authsign::prepare(subject.as_ref(), &certs, scheme, &opts)?;
        write_atomically(state, |out| {
            out.write_all(pending.to_json().as_bytes())
                .map_err(Into::into)
        })?;
        return Ok(format!(
            "prepared: sign {} {} (state in {})",
            opts.digest,
            hex::encode(pending.digest()),
            state.display()
        ));
    }
    if let (Some(state), Some(sig)) = (&args.finish, &args.signature) {
        let pending = PendingSignature::from_json(&std::fs::read_to_string(state)?)?;
        let pkcs7 = pending.finish(&std::fs::read(sig)?)?;
        // The file must still be the one that was prepared.
        check_signature_matches(subject.as_ref(), &pkcs7)?;
        embed(args, subject.as_ref(), &pkcs7, output)?;
        return Ok(format!(
            "signed ({}): {}",
            pending.digest_algorithm(),
            output.display()
        ));
    }

    let key = args
        .key
        .as_ref()
        .ok_or_else(|| Error::Unsupported("--key is required to sign".into()))?;
    if args.certs.is_empty() {
        return Err(Error::Unsupported("--cert is required to sign".into()));
    }
    let signer = LocalSigner::from_files(key, &args.certs)?;
    if !args.more_inputs.is_empty() {
        return sign_batch(args, &signer, &opts);
    }
    if !args.nest && args.detached.is_none() {
        drop(subject);
        match &args.output {
            None => authsign::sign_in_place(&args.input, &signer, &opts)?,
            Some(out) => authsign::sign_file_to(&args.input, out, &signer, &opts)?,
        };
        let digests: Vec<&str> = args.digests.iter().map(|d| d.name()).collect();
        return Ok(format!(
            "signed ({}): {}",
            digests.join(" + "),
            output.display()
        ));
    }
    if args.nest {
        let existing = subject
            .signature()?
            .ok_or_else(|| Error::Unsupported("--nest: the file is not signed yet".into()))?;
        let pkcs7 = authsign::sign_nested(subject.as_ref(), &signer, &opts, &existing)?;
        write_atomically(output, |out| subject.with_signature(&pkcs7, out))?;
        return Ok(format!("nested signature added: {}", output.display()));
    }
    let pkcs7 = authsign::sign(subject.as_ref(), &signer, &opts)?;
    if let Some(path) = &args.detached {
        write_atomically(path, |out| out.write_all(&pkcs7).map_err(Into::into))?;
        return Ok(format!("wrote detached signature: {}", path.display()));
    }
    embed(args, subject.as_ref(), &pkcs7, output)?;
    let digests: Vec<&str> = args.digests.iter().map(|d| d.name()).collect();
    Ok(format!(
        "signed ({}): {}",
        digests.join(" + "),
        output.display()
    ))
}

/// Sign every input in place in one batch call.
fn sign_batch(args: &Args, signer: &LocalSigner, opts: &SignOptions) -> authsign::Result<String> {
    if args.output.is_some() || args.nest || args.detached.is_some() {
        return Err(Error::Unsupported(
            "several inputs are signed in place: no -o, --nest or --detached".into(),
        ));
    }
    let items: Vec<authsign::BatchItem> = std::iter::once(&args.input)
        .chain(&args.more_inputs)
        .map(authsign::BatchItem::in_place)
        .collect();
    let results = authsign::sign_batch(&items, signer, opts, 0);
    let mut failed = Vec::new();
    for (item, r) in items.iter().zip(&results) {
        if let Err(e) = r {
            failed.push(format!("{}: {e}", item.input.display()));
        }
    }
    if !failed.is_empty() {
        return Err(Error::Unsupported(format!(
            "{} of {} files failed: {}",
            failed.len(),
            items.len(),
            failed.join("; ")
        )));
    }
    Ok(format!("signed {} files", items.len()))
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
