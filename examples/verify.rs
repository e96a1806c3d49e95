//! `verify`: check the Authenticode signatures of files, print their digest, or extract the
//! embedded signature.
//!
//! ```text
//! cargo run --example verify -- --trusted root.pem app.exe lib.dll setup.msi
//! cargo run --example verify -- --json --policy strict --time 2025-01-01T00:00:00Z *.exe
//! cargo run --example verify -- --print-digest sha256 app.exe
//! cargo run --example verify -- --trusted root.pem --catalog driver.cat driver.inf driver.sys
//! ```
//! Exit status: 0 when every file is valid; 1 when any file is invalid, unsigned, unsupported
//! or malformed; 2 on usage errors and files that cannot be opened. Every file is reported,
//! whatever happens to the others; `--json` always prints one complete array.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use authsign::cat::MatchedBy;
use authsign::verify::{FileReport, Policy, Report, RevocationMode, SignatureKind, Verifier};
use authsign::{DigestAlgorithm, FileInput, Format};
use clap::{Parser, ValueEnum};

/// `println!` that ignores a closed stdout (`verify ... | head` must not panic).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// Verify Authenticode signatures.
#[derive(Parser, Debug)]
#[command(name = "verify", version, about)]
struct Args {
    /// Files to verify.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Trust anchor, PEM or DER (repeatable; a PEM file may hold several certificates).
    #[arg(long)]
    trusted: Vec<PathBuf>,
    /// Trust anchor for timestamp authorities only (repeatable; --trusted anchors count too).
    #[arg(long)]
    tsa_trusted: Vec<PathBuf>,
    /// Verification policy: what Windows accepts, or every rule at its strictest.
    #[arg(long, value_enum, default_value_t = PolicyName::Windows)]
    policy: PolicyName,
    /// Verify as of this time (RFC 3339 or Unix seconds) instead of now.
    #[arg(long, value_name = "TIME", value_parser = authsign::time::parse_time)]
    time: Option<std::time::SystemTime>,
    /// Certificate revocation list, PEM or DER (repeatable).
    #[arg(long, value_name = "FILE")]
    crl: Vec<PathBuf>,
    /// Revocation checking: offline (given CRLs only), soft (fetch; unreachable = warning),
    /// hard (fetch; unreachable = error). Fetching needs the `http` feature.
    #[arg(long, default_value = "offline", value_parser = parse_revocation)]
    revocation: RevocationMode,
    /// Print a JSON array, one object per file.
    #[arg(long)]
    json: bool,
    /// Print the file's Authenticode digest in hex and exit.
    #[arg(long, value_name = "ALG")]
    print_digest: Option<DigestAlgorithm>,
    /// Write the embedded PKCS#7 signature (DER) to this file and exit.
    #[arg(long, value_name = "OUT.p7")]
    extract: Option<PathBuf>,
    /// Verify the files through this catalog (.cat): its signature must be valid and it must
    /// list each file, found by the hash Windows computes (the files' own signatures are not
    /// used).
    #[arg(long, value_name = "CAT")]
    catalog: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PolicyName {
    Windows,
    Strict,
}

fn parse_revocation(s: &str) -> Result<RevocationMode, String> {
    s.parse().map_err(|e: authsign::Error| e.to_string())
}

fn load_certificates(paths: &[PathBuf]) -> Result<Vec<x509_cert::Certificate>, String> {
    let mut out = Vec::new();
    for p in paths {
        let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
        out.extend(authsign::certificates_from_bytes(&bytes).map_err(with_file(p))?);
    }
    Ok(out)
}

fn policy(args: &Args) -> Result<Policy, String> {
    let mut policy = match args.policy {
        PolicyName::Windows => Policy::windows(),
        PolicyName::Strict => Policy::strict(),
    }
    .trusting(load_certificates(&args.trusted)?)
    .trusting_tsa(load_certificates(&args.tsa_trusted)?)
    .with_revocation(args.revocation);
    if let Some(t) = args.time {
        policy = policy.with_time(t);
    }
    for path in &args.crl {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        policy = policy.with_crls([bytes]).map_err(with_file(path))?;
    }
    Ok(policy)
}

fn print_human(file: &Path, report: &Report) {
    let verdict = if report.is_valid() {
        "valid"
    } else {
        "INVALID"
    };
    say!("{}: {verdict}", file.display());
    for p in &report.errors {
        say!("  error [{}]: {p}", p.code());
    }
    for p in &report.warnings {
        say!("  warning [{}]: {p}", p.code());
    }
    if let Some(c) = &report.catalog {
        match &c.member {
            Some(m) => {
                let name = m
                    .file_name
                    .as_deref()
                    .map(|n| format!(", File {n:?}"))
                    .unwrap_or_default();
                say!(
                    "  catalog member #{} (tag {}{name}): {} {} by {}",
                    m.index,
                    m.tag,
                    m.digest_algorithm,
                    hex::encode(&m.digest),
                    match m.matched_by {
                        MatchedBy::Tag => "tag",
                        _ => "indirect data",
                    }
                );
            }
            None => say!(
                "  catalog: no member has the file's hash (hashed as {})",
                c.hashed_as
            ),
        }
    }
    for s in &report.signatures {
        let kind = match s.kind {
            SignatureKind::Primary { .. } if report.catalog.is_some() => "the catalog's".into(),
            SignatureKind::Primary { entry } if report.format == Some(Format::Pe) => {
                format!("certificate-table entry {entry}")
            }
            SignatureKind::Primary { .. } => "embedded".into(),
            SignatureKind::Nested { parent } => format!("nested in #{parent}"),
            _ => "signature".into(),
        };
        say!(
            "  #{} ({kind}): {} digest {} {}",
            s.index,
            s.digest_algorithm.map_or("?", |a| a.name()),
            hex::encode(&s.computed_digest),
            if s.digest_ok() {
                "matches"
            } else {
                "DOES NOT MATCH"
            }
        );
        if let Some(subject) = s.signer_subject() {
            say!("    signer: {subject}");
        }
        if let Some(t) = s.signing_time {
            say!("    signing time: {}", authsign::time::format_rfc3339(t));
        }
        for t in &s.timestamps {
            let time = t
                .time
                .map(authsign::time::format_rfc3339)
                .unwrap_or_default();
            let tsa = t.tsa_subject.as_deref().unwrap_or("?");
            let ok = if t.is_valid() { "valid" } else { "INVALID" };
            say!("    timestamp ({}): {time} by {tsa}, {ok}", t.kind);
        }
        if !s.chain.is_empty() {
            say!("    chain: {}", s.chain.join(" <- "));
        }
        if let Some(ph) = &s.page_hashes {
            let status = if ph.first_mismatch.is_none() {
                "all match"
            } else {
                "MISMATCH"
            };
            say!(
                "    page hashes: {} pages ({}), {status}",
                ph.pages,
                ph.algorithm
            );
        }
        for p in &s.errors {
            say!("    error [{}]: {p}", p.code());
        }
        for p in &s.warnings {
            say!("    warning [{}]: {p}", p.code());
        }
    }
}

fn print_digests(args: &Args, alg: DigestAlgorithm) -> ExitCode {
    let mut status = ExitCode::SUCCESS;
    for f in &args.files {
        let digest = FileInput::open(f)
            .map_err(|e| (2, with_file(f)(e)))
            .and_then(|input| {
                let subject = authsign::open_with_extension(&input, extension(f).as_deref())
                    .map_err(|e| (1, with_file(f)(e)))?;
                subject.digest(&[alg]).map_err(|e| (1, with_file(f)(e)))
            });
        match digest {
            Ok(d) => {
                let d = hex::encode(d.into_iter().next().unwrap_or_default());
                if args.files.len() > 1 {
                    say!("{d}  {}", f.display());
                } else {
                    say!("{d}");
                }
            }
            Err((code, e)) => {
                eprintln!("verify: {e}");
                if status == ExitCode::SUCCESS || code == 2 {
                    status = ExitCode::from(code);
                }
            }
        }
    }
    status
}

fn extract(file: &Path, out: &Path) -> Result<(), String> {
    let input = FileInput::open(file).map_err(with_file(file))?;
    let subject = authsign::open_with_extension(&input, extension(file).as_deref())
        .map_err(with_file(file))?;
    let sig = subject.signature().map_err(with_file(file))?;
    let sig = sig.ok_or_else(|| format!("{}: the file is not signed", file.display()))?;
    authsign::sign::write_atomically(out, |w| w.write_all(&sig).map_err(Into::into))
        .map_err(with_file(out))
}

/// The lower-case extension of `path`: how scripts (which have no magic number) are recognised.
fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// Prefix an error with the file it concerns.
fn with_file(f: &Path) -> impl Fn(authsign::Error) -> String + '_ {
    move |e| format!("{}: {e}", f.display())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(alg) = args.print_digest {
        return print_digests(&args, alg);
    }
    if let Some(out) = &args.extract {
        let [file] = args.files.as_slice() else {
            eprintln!("verify: --extract takes exactly one file");
            return ExitCode::from(2);
        };
        return match extract(file, out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("verify: {e}");
                ExitCode::from(1)
            }
        };
    }
    let policy = match policy(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("verify: {e}");
            return ExitCode::from(2);
        }
    };
    let verifier = Verifier::new(policy);
    let reports: Vec<FileReport> = match &args.catalog {
        Some(cat) => match verifier.open_catalog_path(cat) {
            Ok(catalog) => verifier.verify_paths_with_catalog(&catalog, &args.files),
            Err(e) => {
                eprintln!("verify: catalog {e}");
                return ExitCode::from(2);
            }
        },
        None => verifier.verify_paths(&args.files),
    };
    if args.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_else(|_| "[]".into())
        );
    }
    let mut unopened = false;
    for r in &reports {
        match &r.result {
            Ok(report) if !args.json => print_human(&r.path, report),
            Ok(_) => {}
            Err(e) => {
                unopened = true;
                eprintln!("verify: {e}");
            }
        }
    }
    if unopened {
        ExitCode::from(2)
    } else if reports.iter().all(FileReport::is_valid) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
