//! `sign`: sign, re-sign, nest, attach, two-phase sign or unsign files with Authenticode,
//! like signtool / osslsigncode.
//!
//! ```text
//! cargo run --example sign -- --cert chain.pem --key key.pem app.exe -o app-signed.exe
//! cargo run --example sign -- --cert chain.pem --key key.pem --digest sha1 --digest sha256 app.exe
//! cargo run --example sign -- --remove app-signed.exe -o app.exe
//! cargo run --features http --example sign -- --cert chain.pem --key key.pem \
//!     --timestamp http://tsa.example/ --timestamp-digest sha256 app.exe
//! cargo run --features http --example sign -- --timestamp-only --timestamp http://tsa.example/ app.exe
//! PFX_PASSWORD=... cargo run --example sign -- --pfx signer.pfx --pfx-password-env PFX_PASSWORD app.exe
//! PIN=... cargo run --features pkcs11 --example sign -- --pkcs11-module /usr/lib/softhsm/libsofthsm2.so \
//!     --pkcs11-token codesign --pkcs11-key release --pin-env PIN app.exe
//! PINs and passwords are read from an environment variable or a file, never from the command
//! line. With `--pkcs11-*`, `--cert` gives the chain for tokens that hold only the key.
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
use authsign::signer::{LocalSigner, Secret, Signer};
use authsign::timestamp::{self, TimestampKind, Timestamper};
use authsign::{DigestAlgorithm, Error, FileInput, PendingSignature, Profile, Subject};
use clap::Parser;

/// Sign, attach or remove Authenticode signatures.
#[derive(Parser, Debug)]
#[command(name = "sign", version, about)]
struct Args {
    /// The file to sign: PE (.exe .dll .sys .efi), cabinet (.cab) or installer (.msi).
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
    /// PKCS#12 file (.pfx/.p12) holding the key and its certificates (instead of --key/--cert).
    #[arg(long, conflicts_with = "key")]
    pfx: Option<PathBuf>,
    /// Environment variable holding the PKCS#12 password (without it or --pfx-password-file,
    /// the empty password is used).
    #[arg(long, requires = "pfx")]
    pfx_password_env: Option<String>,
    /// File whose first line is the PKCS#12 password.
    #[arg(long, requires = "pfx", conflicts_with = "pfx_password_env")]
    pfx_password_file: Option<PathBuf>,
    /// PKCS#11 module (shared library) holding the key (needs the `pkcs11` feature).
    #[arg(long, conflicts_with_all = ["key", "pfx"])]
    pkcs11_module: Option<PathBuf>,
    /// Label of the PKCS#11 token (default: the only token present).
    #[arg(long, requires = "pkcs11_module")]
    pkcs11_token: Option<String>,
    /// Serial number of the PKCS#11 token (instead of its label).
    #[arg(long, requires = "pkcs11_module", conflicts_with = "pkcs11_token")]
    pkcs11_token_serial: Option<String>,
    /// Label of the private key on the token.
    #[arg(long, requires = "pkcs11_module")]
    pkcs11_key: Option<String>,
    /// Id (CKA_ID, hex) of the private key on the token (instead of its label).
    #[arg(long, requires = "pkcs11_module", conflicts_with = "pkcs11_key")]
    pkcs11_key_id: Option<String>,
    /// Environment variable holding the token's user PIN.
    #[arg(long, requires = "pkcs11_module")]
    pin_env: Option<String>,
    /// File whose first line is the token's user PIN.
    #[arg(long, requires = "pkcs11_module", conflicts_with = "pin_env")]
    pin_file: Option<PathBuf>,
    /// MSI: write MsiDigitalSignatureEx (always on with the signtool profile).
    #[arg(long)]
    msi_dse: bool,
    /// Remove all signatures instead of signing.
    #[arg(long, conflicts_with_all = ["attach", "detached", "key", "nest", "pfx", "pkcs11_module"])]
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
    /// RFC 3161 timestamp server (signtool /tr); repeat to give fallbacks, tried in order.
    #[arg(long = "timestamp", value_name = "URL")]
    timestamp: Vec<String>,
    /// Digest of the RFC 3161 message imprint (signtool /td).
    #[arg(long, default_value = "sha256")]
    timestamp_digest: DigestAlgorithm,
    /// Legacy Authenticode timestamp server (signtool /t); repeatable.
    #[arg(
        long = "legacy-timestamp",
        value_name = "URL",
        conflicts_with = "timestamp"
    )]
    legacy_timestamp: Vec<String>,
    /// Timestamp the existing signatures (primary and nested) without re-signing
    /// (signtool timestamp); needs --timestamp or --legacy-timestamp.
    #[arg(long, conflicts_with_all = ["key", "remove", "attach", "detached"])]
    timestamp_only: bool,
    /// Retries per timestamp server after a transient failure.
    #[arg(long, default_value_t = 2)]
    timestamp_retries: u32,
    /// Seconds allowed for one timestamp exchange.
    #[arg(long, default_value_t = 30)]
    timestamp_timeout: u64,
}

/// The timestamper and protocol the arguments ask for, if any.
fn timestamper(args: &Args) -> authsign::Result<Option<(Box<dyn Timestamper>, TimestampKind)>> {
    let (urls, kind) = if !args.timestamp.is_empty() {
        (&args.timestamp, TimestampKind::Rfc3161)
    } else if !args.legacy_timestamp.is_empty() {
        (&args.legacy_timestamp, TimestampKind::Legacy)
    } else {
        return Ok(None);
    };
    #[cfg(feature = "http")]
    {
        let ts = authsign::timestamp::HttpTimestamper::new(urls.iter().cloned())
            .with_timeout(Duration::from_secs(args.timestamp_timeout))
            .with_retries(args.timestamp_retries, Duration::from_millis(500));
        Ok(Some((Box::new(ts), kind)))
    }
    #[cfg(not(feature = "http"))]
    {
        let _ = (urls, kind);
        Err(authsign::Error::Unsupported(
            "timestamping needs the \"http\" feature (cargo run --features http ...)".into(),
        ))
    }
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
    opts.subject.msi_dse = args.msi_dse;
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
    let ts = timestamper(args)?;
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
        let mut pkcs7 = pending.finish(&std::fs::read(sig)?)?;
        // The file must still be the one that was prepared.
        check_signature_matches(subject.as_ref(), &pkcs7)?;
        if let Some((ts, kind)) = &ts {
            pkcs7 = timestamp::apply(&pkcs7, ts.as_ref(), *kind, args.timestamp_digest)?;
        }
        embed(args, subject.as_ref(), &pkcs7, output)?;
        return Ok(format!(
            "signed ({}): {}",
            pending.digest_algorithm(),
            output.display()
        ));
    }

    if args.timestamp_only {
        let (ts, kind) = ts.ok_or_else(|| {
            authsign::Error::Unsupported(
                "--timestamp-only needs --timestamp URL or --legacy-timestamp URL".into(),
            )
        })?;
        let signatures = subject.signatures()?;
        let [pkcs7] = signatures.as_slice() else {
            return Err(authsign::Error::Unsupported(format!(
                "--timestamp-only needs exactly one embedded signature, found {}",
                signatures.len()
            )));
        };
        let stamped = timestamp::apply_to_all(pkcs7, ts.as_ref(), kind, args.timestamp_digest)?;
        write_atomically(output, |out| subject.with_signature(&stamped, out))?;
        return Ok(format!("timestamped ({kind}): {}", output.display()));
    }

    let signer = choose_signer(args)?;
    let signer = signer.as_ref();
    if !args.more_inputs.is_empty() {
        return sign_batch(args, signer, &opts);
    }
    // Plain signing: in place (only the changed bytes are written) or copied while hashed.
    // Nesting, detached output and timestamps take the general path below.
    if !args.nest && args.detached.is_none() && ts.is_none() {
        drop(subject);
        match &args.output {
            None => authsign::sign_in_place(&args.input, signer, &opts)?,
            Some(out) => authsign::sign_file_to(&args.input, out, signer, &opts)?,
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
        let before = authsign::cms::SignedData::parse(&existing)?
            .nested_signatures()
            .len();
        let mut pkcs7 = authsign::sign_nested(subject.as_ref(), signer, &opts, &existing)?;
        if let Some((ts, kind)) = &ts {
            let after = authsign::cms::SignedData::parse(&pkcs7)?
                .nested_signatures()
                .len();
            for index in before..after {
                pkcs7 = timestamp::apply_to_nested(
                    &pkcs7,
                    index,
                    ts.as_ref(),
                    *kind,
                    args.timestamp_digest,
                )?;
            }
        }
        write_atomically(output, |out| subject.with_signature(&pkcs7, out))?;
        return Ok(format!("nested signature added: {}", output.display()));
    }
    let mut pkcs7 = authsign::sign(subject.as_ref(), signer, &opts)?;
    if let Some((ts, kind)) = &ts {
        // The primary signature and, with several --digest, each nested one.
        pkcs7 = timestamp::apply_to_all(&pkcs7, ts.as_ref(), *kind, args.timestamp_digest)?;
    }
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

/// A secret from `--X-env VAR` or `--X-file PATH`, if either is given.
fn secret(env: Option<&str>, file: Option<&Path>) -> authsign::Result<Option<Secret>> {
    match (env, file) {
        (Some(var), _) => Secret::from_env(var).map(Some),
        (None, Some(path)) => Secret::from_file(path).map(Some),
        (None, None) => Ok(None),
    }
}

/// The signer the key options name: a PKCS#11 token, a PKCS#12 file, or PEM key and chain.
fn choose_signer(args: &Args) -> authsign::Result<Box<dyn Signer + Send + Sync>> {
    let usage = |m: &str| authsign::Error::Unsupported(m.to_string());
    if let Some(module) = &args.pkcs11_module {
        return pkcs11_signer(args, module);
    }
    if let Some(pfx) = &args.pfx {
        let password = secret(
            args.pfx_password_env.as_deref(),
            args.pfx_password_file.as_deref(),
        )?
        .unwrap_or_else(|| Secret::new(""));
        if !args.certs.is_empty() {
            return Err(usage(
                "--cert cannot be used with --pfx (the chain is in the file)",
            ));
        }
        return pkcs12_signer(pfx, &password);
    }
    let key = args
        .key
        .as_ref()
        .ok_or_else(|| usage("--key (or --pfx, or --pkcs11-module) is required to sign"))?;
    if args.certs.is_empty() {
        return Err(usage("--cert is required to sign"));
    }
    Ok(Box::new(LocalSigner::from_files(key, &args.certs)?))
}

#[cfg(feature = "pkcs12")]
fn pkcs12_signer(pfx: &Path, password: &Secret) -> authsign::Result<Box<dyn Signer + Send + Sync>> {
    Ok(Box::new(LocalSigner::from_pkcs12_file(
        pfx,
        password.expose(),
    )?))
}

#[cfg(not(feature = "pkcs12"))]
fn pkcs12_signer(
    _pfx: &Path,
    _password: &Secret,
) -> authsign::Result<Box<dyn Signer + Send + Sync>> {
    Err(authsign::Error::Unsupported(
        "PKCS#12 files: build with the `pkcs12` feature".into(),
    ))
}

#[cfg(feature = "pkcs11")]
fn pkcs11_signer(args: &Args, module: &Path) -> authsign::Result<Box<dyn Signer + Send + Sync>> {
    use authsign::signer::{KeySelector, Pkcs11Options, Pkcs11Signer, TokenSelector};
    let usage = |m: &str| authsign::Error::Unsupported(m.to_string());
    let token = match (&args.pkcs11_token, &args.pkcs11_token_serial) {
        (Some(label), _) => TokenSelector::Label(label.clone()),
        (None, Some(serial)) => TokenSelector::Serial(serial.clone()),
        (None, None) => TokenSelector::Only,
    };
    let key = match (&args.pkcs11_key, &args.pkcs11_key_id) {
        (Some(label), _) => KeySelector::Label(label.clone()),
        (None, Some(id)) => KeySelector::Id(
            hex::decode(id.trim_start_matches("0x"))
                .map_err(|_| usage("--pkcs11-key-id must be hex, e.g. 01 or a1b2"))?,
        ),
        (None, None) => return Err(usage("--pkcs11-key or --pkcs11-key-id is required")),
    };
    let certificates = if args.certs.is_empty() {
        None
    } else {
        let mut certs = Vec::new();
        for path in &args.certs {
            certs.extend(authsign::certificates_from_pem(&std::fs::read(path)?)?);
        }
        Some(certs)
    };
    let signer = Pkcs11Signer::open(Pkcs11Options {
        module: module.to_path_buf(),
        token,
        key,
        pin: secret(args.pin_env.as_deref(), args.pin_file.as_deref())?,
        certificates,
    })?;
    // A PKCS#11 session is used by one thread at a time.
    Ok(Box::new(authsign::signer::Serialized::new(signer)))
}

#[cfg(not(feature = "pkcs11"))]
fn pkcs11_signer(_args: &Args, _module: &Path) -> authsign::Result<Box<dyn Signer + Send + Sync>> {
    Err(authsign::Error::Unsupported(
        "PKCS#11 tokens: build with `--features pkcs11`".into(),
    ))
}

/// Sign every input in place in one batch call.
fn sign_batch(
    args: &Args,
    signer: &(dyn Signer + Sync),
    opts: &SignOptions,
) -> authsign::Result<String> {
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
