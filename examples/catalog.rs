//! `catalog`: create catalogs like makecat, list what a catalog holds, and print the hash a
//! catalog lists a file by. A thin layer over `authsign::cat`; sign a catalog with the `sign`
//! example like any other file, and verify files through it with `verify --catalog`.
//!
//! ```text
//! cargo run --example catalog -- create --digest sha256 -o driver.cat driver.inf driver.sys
//! cargo run --example catalog -- list driver.cat
//! cargo run --example catalog -- hash driver.sys
//! ```
//! Exit status: 0 on success, 1 when a file cannot be read or is not a catalog, 2 on usage
//! errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use authsign::cat::{CatSubject, CatalogBuilder, CatalogVersion, NameValue};
use authsign::{DigestAlgorithm, FileInput};
use clap::{Parser, Subcommand};

/// `println!` that ignores a closed stdout (`catalog list ... | head` must not panic).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// Create and inspect Windows catalogs (.cat).
#[derive(Parser, Debug)]
#[command(
    name = "catalog",
    version,
    about = "Create and inspect Windows catalogs (.cat)"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create an unsigned catalog listing FILEs, as makecat does (sign it with `sign`).
    Create {
        /// Member hash: sha1 makes a version 1 catalog (any Windows), sha256 a version 2
        /// catalog (SHA-256 entries plus SHA-1 ones; Windows 8 and later).
        #[arg(long, default_value = "sha256", value_parser = parse_version)]
        digest: CatalogVersion,
        /// The catalog to write.
        #[arg(short = 'o', long = "output", value_name = "OUT.cat")]
        output: PathBuf,
        /// A catalog attribute NAME=VALUE, as text (repeatable; e.g. OSAttr=2:10.0).
        #[arg(long = "attr", value_name = "NAME=VALUE")]
        attributes: Vec<String>,
        /// Leave out the `File` attribute (each member's file name) that inf2cat writes.
        #[arg(long)]
        no_file_names: bool,
        /// Creation time (RFC 3339 or Unix seconds) instead of now.
        #[arg(long, value_parser = authsign::time::parse_time)]
        time: Option<std::time::SystemTime>,
        /// List identifier in hex (16 bytes) instead of a random GUID.
        #[arg(long, value_name = "HEX")]
        list_id: Option<String>,
        /// The files to list.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print what a catalog holds: its header, attributes and members (tag, SIP, digest,
    /// attributes).
    List {
        /// The catalog.
        catalog: PathBuf,
    },
    /// Print the hashes a catalog lists each file by (PE: Authenticode; cabinet: as it is;
    /// anything else: every byte), and how it was hashed.
    Hash {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn parse_version(s: &str) -> Result<CatalogVersion, String> {
    match s.parse::<DigestAlgorithm>() {
        Ok(DigestAlgorithm::Sha1) => Ok(CatalogVersion::V1),
        Ok(DigestAlgorithm::Sha256) => Ok(CatalogVersion::V2),
        _ => Err(format!(
            "{s:?}: catalogs hash members with sha1 (version 1) or sha256 (version 2)"
        )),
    }
}

/// Prefix an error with the file it concerns.
fn with_file(f: &Path) -> impl Fn(authsign::Error) -> String + '_ {
    move |e| format!("{}: {e}", f.display())
}

#[allow(clippy::too_many_arguments)]
fn create(
    version: CatalogVersion,
    output: &Path,
    attributes: &[String],
    no_file_names: bool,
    time: Option<std::time::SystemTime>,
    list_id: Option<&str>,
    files: &[PathBuf],
) -> Result<(), (u8, String)> {
    let mut builder = CatalogBuilder::new(version);
    if let Some(t) = time {
        builder = builder.with_time(t);
    }
    if let Some(id) = list_id {
        let id = hex::decode(id).map_err(|e| (2, format!("--list-id: {e}")))?;
        builder = builder.with_list_identifier(id);
    }
    for a in attributes {
        let (name, value) = a
            .split_once('=')
            .ok_or_else(|| (2, format!("--attr {a:?}: expected NAME=VALUE")))?;
        builder = builder.with_attribute(NameValue::text(name, value));
    }
    for f in files {
        let input = FileInput::open(f).map_err(|e| (1, with_file(f)(e)))?;
        let member = authsign::catalog_member(&input).map_err(|e| (1, with_file(f)(e)))?;
        let member = match (no_file_names, f.file_name().and_then(|n| n.to_str())) {
            (false, Some(name)) => member.with_file_name(name),
            _ => member,
        };
        builder.add_member(member);
    }
    let der = builder.build().map_err(|e| (1, e.to_string()))?;
    authsign::sign::write_atomically(output, |w| w.write_all(&der).map_err(Into::into))
        .map_err(|e| (1, with_file(output)(e)))?;
    say!(
        "created {} (version {version}, {} files)",
        output.display(),
        files.len()
    );
    Ok(())
}

fn list(path: &Path) -> Result<(), (u8, String)> {
    let input = FileInput::open(path).map_err(|e| (1, with_file(path)(e)))?;
    let subject = CatSubject::parse(input).map_err(|e| (1, with_file(path)(e)))?;
    let c = subject.catalog();
    say!("catalog: {}", path.display());
    say!("version: {}", c.version);
    say!("signed: {}", if subject.is_signed() { "yes" } else { "no" });
    if let Some(id) = &c.list_identifier {
        say!("list identifier: {}", hex::encode_upper(id));
    }
    say!("created: {}", authsign::time::format_rfc3339(c.this_update));
    for a in &c.attributes {
        say!("attribute: {a}");
    }
    say!("members: {}", c.members.len());
    for (i, m) in c.members.iter().enumerate() {
        let kind = m.kind().map_or("?".to_string(), |k| k.to_string());
        say!("#{i} tag {} ({kind})", m.tag_text());
        match (&m.indirect_data, m.digest()) {
            (Some(d), _) => say!("    {} {}", d.digest_algorithm, hex::encode(&d.digest)),
            (None, Some((alg, d))) => say!("    {alg} {} (tag)", hex::encode(d)),
            (None, None) => {}
        }
        for a in &m.attributes {
            say!("    {a}");
        }
    }
    Ok(())
}

fn hash(files: &[PathBuf]) -> Result<(), (u8, String)> {
    let algs = [DigestAlgorithm::Sha1, DigestAlgorithm::Sha256];
    for f in files {
        let input = FileInput::open(f).map_err(|e| (1, with_file(f)(e)))?;
        let (kind, digests) =
            authsign::catalog_digests(&input, &algs).map_err(|e| (1, with_file(f)(e)))?;
        let [sha1, sha256] = digests.as_slice() else {
            return Err((1, "two digests expected".into()));
        };
        say!(
            "{}  {kind}  sha1 {}  sha256 {}",
            f.display(),
            hex::encode_upper(sha1),
            hex::encode_upper(sha256)
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match &args.command {
        Command::Create {
            digest,
            output,
            attributes,
            no_file_names,
            time,
            list_id,
            files,
        } => create(
            *digest,
            output,
            attributes,
            *no_file_names,
            *time,
            list_id.as_deref(),
            files,
        ),
        Command::List { catalog } => list(catalog),
        Command::Hash { files } => hash(files),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, e)) => {
            eprintln!("catalog: {e}");
            ExitCode::from(code)
        }
    }
}
