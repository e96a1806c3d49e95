//! `verify`: check the Authenticode signatures of files, print their digest, or extract the
//! embedded signature.
//!
//! ```text
//! cargo run --example verify -- --trusted root.pem app.exe
//! cargo run --example verify -- --print-digest sha256 app.exe
//! ```
//! Exit status: 0 when every file is valid, 1 when some signature is invalid, 2 on usage or
//! I/O errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use authsign::verify::{Policy, Report, SignatureKind, Verifier};
use authsign::{DigestAlgorithm, FileInput};
use clap::Parser;

/// `println!` that ignores a closed stdout (`verify ... | head` must not panic).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
use serde_json::{json, Value};

/// Verify Authenticode signatures.
#[derive(Parser, Debug)]
#[command(name = "verify", version, about)]
struct Args {
    /// Files to verify.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// PEM trust anchor (repeatable; a file may hold several certificates).
    #[arg(long)]
    trusted: Vec<PathBuf>,
    /// PEM trust anchor for timestamp authorities (repeatable; --trusted anchors count too).
    #[arg(long)]
    tsa_trusted: Vec<PathBuf>,
    /// Print a JSON array, one object per file.
    #[arg(long)]
    json: bool,
    /// Print the file's Authenticode digest in hex and exit.
    #[arg(long, value_name = "ALG")]
    print_digest: Option<DigestAlgorithm>,
    /// Write the embedded PKCS#7 signature (DER) to this file and exit.
    #[arg(long, value_name = "OUT.p7")]
    extract: Option<PathBuf>,
}

fn load_anchors(paths: &[PathBuf]) -> Result<Vec<x509_cert::Certificate>, String> {
    let mut out = Vec::new();
    for p in paths {
        let pem = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
        out.extend(authsign::certificates_from_pem(&pem).map_err(with_file(p))?);
    }
    Ok(out)
}

/// The JSON object for one file: the library's serialized report plus, per signature, the
/// derived `digest_ok` and `valid` flags the CLI contract promises.
fn report_json(file: &Path, report: &Report) -> Value {
    let signatures: Vec<Value> = report
        .signatures
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
            if let Value::Object(map) = &mut v {
                map.insert("digest_ok".into(), json!(s.digest_ok()));
                map.insert("valid".into(), json!(s.is_valid()));
                let first = s
                    .timestamps
                    .iter()
                    .find(|t| t.is_valid())
                    .or(s.timestamps.first());
                map.insert(
                    "timestamp".into(),
                    serde_json::to_value(first).unwrap_or(Value::Null),
                );
            }
            v
        })
        .collect();
    json!({
        "file": file.display().to_string(),
        "valid": report.is_valid(),
        "signatures": signatures,
        "file_errors": report.file_problems,
        "revocation": "not checked",
    })
}

fn print_human(file: &Path, report: &Report) {
    let verdict = if report.is_valid() {
        "valid"
    } else {
        "INVALID"
    };
    say!("{}: {verdict} (revocation not checked)", file.display());
    if report.signatures.is_empty() {
        say!("  not signed");
    }
    for p in &report.file_problems {
        say!("  error [{}]: {p}", p.code());
    }
    for s in &report.signatures {
        let kind = match s.kind {
            SignatureKind::Primary { entry } => format!("certificate-table entry {entry}"),
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
        if let Some(subject) = &s.signer_subject {
            say!("    signer: {subject}");
        }
        if let Some(t) = &s.signing_time {
            say!("    signing time: {t}");
        }
        for t in &s.timestamps {
            let time = t
                .time
                .map(authsign::timestamp::verify::rfc3339)
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
        for p in &s.problems {
            say!("    error [{}]: {p}", p.code());
        }
    }
}

enum Outcome {
    Valid,
    Invalid,
}

fn run(args: &Args) -> Result<Outcome, String> {
    if let Some(alg) = args.print_digest {
        for f in &args.files {
            let input = FileInput::open(f).map_err(with_file(f))?;
            let subject = authsign::open(&input).map_err(with_file(f))?;
            let d = subject.digest(&[alg]).map_err(with_file(f))?;
            let d = d.into_iter().next().unwrap_or_default();
            if args.files.len() > 1 {
                say!("{}  {}", hex::encode(d), f.display());
            } else {
                say!("{}", hex::encode(d));
            }
        }
        return Ok(Outcome::Valid);
    }
    if let Some(out) = &args.extract {
        let [file] = args.files.as_slice() else {
            return Err("--extract takes exactly one file".into());
        };
        let input = FileInput::open(file).map_err(with_file(file))?;
        let subject = authsign::open(&input).map_err(with_file(file))?;
        let sig = subject.signature().map_err(with_file(file))?;
        let sig = sig.ok_or_else(|| format!("{}: the file is not signed", file.display()))?;
        authsign::sign::write_atomically(out, |w| w.write_all(&sig).map_err(Into::into))
            .map_err(with_file(out))?;
        return Ok(Outcome::Valid);
    }
    let mut policy = Policy::with_trusted(load_anchors(&args.trusted)?);
    policy.tsa_trusted = load_anchors(&args.tsa_trusted)?;
    let verifier = Verifier::new(policy);
    let mut all_valid = true;
    let mut reports = Vec::new();
    for f in &args.files {
        let input = FileInput::open(f).map_err(with_file(f))?;
        let subject = authsign::open(&input).map_err(with_file(f))?;
        let report = verifier.verify(subject.as_ref()).map_err(with_file(f))?;
        all_valid &= report.is_valid();
        if args.json {
            reports.push(report_json(f, &report));
        } else {
            print_human(f, &report);
        }
    }
    if args.json {
        say!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_default()
        );
    }
    Ok(if all_valid {
        Outcome::Valid
    } else {
        Outcome::Invalid
    })
}

/// Prefix an error with the file it concerns.
fn with_file(f: &Path) -> impl Fn(authsign::Error) -> String + '_ {
    move |e| format!("{}: {e}", f.display())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(Outcome::Valid) => ExitCode::SUCCESS,
        Ok(Outcome::Invalid) => ExitCode::from(1),
        Err(e) => {
            eprintln!("verify: {e}");
            ExitCode::from(2)
        }
    }
}
