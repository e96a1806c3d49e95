//! `png_subject`: teach authsign a new file format from outside the crate, the way a Windows
//! SIP teaches Windows one. A PNG is signed with its PKCS#7 in a private ancillary chunk
//! (`dsIG`: ancillary, private, not safe to copy) before `IEND`; the digest covers every byte
//! but that chunk. The subject is registered with `authsign::register_format`, and from then
//! on the unchanged `sign_file_to` and `Verifier::verify_path` handle PNG files.
//!
//! ```text
//! cargo run --example png_subject -- sign --cert chain.pem --key key.pem in.png out.png
//! cargo run --example png_subject -- verify --trusted root.pem out.png
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use authsign::input::SharedInput;
use authsign::verify::{Policy, Verifier};
use authsign::{DigestAlgorithm, Error, Format, FormatHandler, Result, SignOptions, Subject};
use authsign::{Input, SubjectOptions};
use clap::Parser;

const MAGIC: &[u8; 8] = b"\x89PNG\r\n\x1a\n";
/// The signature chunk's type.
const SIG: &[u8; 4] = b"dsIG";
/// Our made-up SIP GUID for PNG (a real SIP registers its own with Windows).
const PNG_SIP_GUID: [u8; 16] = *b"authsign-png-sip";

fn bad(offset: u64, what: &str) -> Error {
    Error::malformed(
        Format::Other("PNG"),
        offset,
        authsign::error::MalformedKind::InvalidValue,
        what,
    )
}

/// One chunk: where it starts, its type, and its data's length.
struct Chunk {
    offset: u64,
    kind: [u8; 4],
    len: u64,
}

impl Chunk {
    /// The whole chunk: length, type, data and CRC.
    fn total(&self) -> u64 {
        12 + self.len
    }
}

/// A PNG file as a subject.
struct PngSubject<'a> {
    input: SharedInput<'a>,
    chunks: Vec<Chunk>,
}

impl<'a> PngSubject<'a> {
    fn parse(input: SharedInput<'a>) -> Result<Self> {
        let mut magic = [0u8; 8];
        input
            .read_exact_at(0, &mut magic)
            .map_err(|_| bad(0, "too short"))?;
        if &magic != MAGIC {
            return Err(bad(0, "not a PNG file"));
        }
        let (mut chunks, mut at) = (Vec::new(), 8u64);
        while at < input.len() {
            let mut head = [0u8; 8];
            input
                .read_exact_at(at, &mut head)
                .map_err(|_| bad(at, "truncated chunk"))?;
            let (len, kind) = head.split_at(4);
            let len = u64::from(u32::from_be_bytes(
                len.try_into().map_err(|_| bad(at, "length"))?,
            ));
            let kind: [u8; 4] = kind.try_into().map_err(|_| bad(at, "type"))?;
            let chunk = Chunk {
                offset: at,
                kind,
                len,
            };
            at = at
                .checked_add(chunk.total())
                .filter(|e| *e <= input.len())
                .ok_or_else(|| bad(at, "chunk past the end"))?;
            chunks.push(chunk);
            if chunks.len() > 100_000 {
                return Err(bad(at, "too many chunks"));
            }
        }
        if chunks.last().is_none_or(|c| &c.kind != b"IEND") {
            return Err(bad(at, "no IEND chunk at the end"));
        }
        Ok(Self { input, chunks })
    }

    /// Copy `len` bytes at `offset` to `sink`, a bounded piece at a time.
    fn copy(&self, offset: u64, len: u64, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<()> {
        let mut buf = vec![0u8; 1 << 16];
        let mut done = 0;
        while done < len {
            let n = (len - done).min(buf.len() as u64) as usize;
            let piece = buf.get_mut(..n).ok_or(Error::Internal("buffer"))?;
            self.input.read_exact_at(offset + done, piece)?;
            sink(piece)?;
            done += n as u64;
        }
        Ok(())
    }

    /// Write the file without signature chunks, with `pkcs7` (if any) in one before IEND.
    fn write(&self, pkcs7: Option<&[u8]>, out: &mut dyn Write) -> Result<()> {
        out.write_all(MAGIC)?;
        for c in self.chunks.iter().filter(|c| &c.kind != SIG) {
            if let (b"IEND", Some(sig)) = (&c.kind, pkcs7) {
                let len = u32::try_from(sig.len())
                    .map_err(|_| Error::InvalidArgument("signature too large".into()))?;
                let crc = crc32(&[SIG.as_slice(), sig].concat());
                out.write_all(&[&len.to_be_bytes()[..], SIG, sig, &crc.to_be_bytes()].concat())?;
            }
            self.copy(c.offset, c.total(), &mut |b| Ok(out.write_all(b)?))?;
        }
        Ok(())
    }
}

/// The CRC-32 PNG chunks carry (ISO 3309, as zlib computes it).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for b in data {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

impl Subject for PngSubject<'_> {
    fn format(&self) -> Format {
        Format::Other("PNG")
    }

    fn digest(&self, algs: &[DigestAlgorithm]) -> Result<Vec<Vec<u8>>> {
        let mut hashers: Vec<_> = algs.iter().map(|a| a.hasher()).collect();
        let mut feed = |b: &[u8]| {
            hashers.iter_mut().for_each(|h| h.update(b));
            Ok(())
        };
        feed(MAGIC)?;
        for c in self.chunks.iter().filter(|c| &c.kind != SIG) {
            self.copy(c.offset, c.total(), &mut feed)?;
        }
        Ok(hashers.into_iter().map(|h| h.finalize()).collect())
    }

    fn indirect_data(&self, alg: DigestAlgorithm, _opts: &SubjectOptions) -> Result<Vec<u8>> {
        let digest = self.digest(&[alg])?.pop().unwrap_or_default();
        let sip = authsign::cms::spc::sip_info(1, &PNG_SIP_GUID)?;
        authsign::cms::spc::indirect_data(&authsign::cms::oids::SPC_SIPINFO, &sip, alg, &digest)
    }

    fn signatures(&self) -> Result<Vec<Vec<u8>>> {
        let Some(c) = self.chunks.iter().find(|c| &c.kind == SIG) else {
            return Ok(Vec::new());
        };
        let mut sig = Vec::new();
        self.copy(c.offset + 8, c.len, &mut |b| {
            sig.extend_from_slice(b);
            Ok(())
        })?;
        Ok(vec![sig])
    }

    fn with_signature_unchecked(&self, pkcs7: &[u8], out: &mut dyn Write) -> Result<()> {
        self.write(Some(pkcs7), out)
    }

    fn without_signature(&self, out: &mut dyn Write) -> Result<()> {
        self.write(None, out)
    }
}

/// Recognises PNG files by their magic number.
struct Png;

impl FormatHandler for Png {
    fn recognizes(&self, head: &[u8], _extension: Option<&str>) -> bool {
        head.starts_with(MAGIC)
    }

    fn open<'a>(&self, input: SharedInput<'a>) -> Result<Box<dyn Subject + 'a>> {
        Ok(Box::new(PngSubject::parse(input)?))
    }
}

/// Sign and verify PNG files with Authenticode.
#[derive(Parser)]
enum Cli {
    /// Sign INPUT into OUTPUT.
    Sign {
        /// Certificate chain, leaf first (PEM).
        #[arg(long)]
        cert: PathBuf,
        /// Private key (PEM).
        #[arg(long)]
        key: PathBuf,
        /// The PNG file to sign.
        input: PathBuf,
        /// Where to write the signed file.
        output: PathBuf,
    },
    /// Verify FILE.
    Verify {
        /// Trust anchor (PEM).
        #[arg(long)]
        trusted: PathBuf,
        /// The signed PNG file.
        file: PathBuf,
    },
}

fn run(cli: Cli) -> Result<bool> {
    authsign::register_format(Png);
    match cli {
        Cli::Sign {
            cert,
            key,
            input,
            output,
        } => {
            let signer = authsign::signer::LocalSigner::from_files(key, &[cert])?;
            authsign::sign_file_to(&input, &output, &signer, &SignOptions::new())?;
            println!("signed: {}", output.display());
            Ok(true)
        }
        Cli::Verify { trusted, file } => {
            let anchors = authsign::certificates_from_pem(&std::fs::read(&trusted)?)?;
            let report = Verifier::new(Policy::windows().trusting(anchors)).verify_path(&file)?;
            println!(
                "{}: {}",
                file.display(),
                if report.is_valid() {
                    "valid"
                } else {
                    "INVALID"
                }
            );
            for code in report.error_codes() {
                println!("  error [{code}]");
            }
            Ok(report.is_valid())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("png_subject: {e}");
            ExitCode::from(2)
        }
    }
}
