//! The MSI subject (Windows Installer databases and other OLE compound files): Authenticode
//! digest, MsiDigitalSignatureEx pre-hash, and reading, embedding and removing the
//! `\u{5}DigitalSignature` stream, the way Windows' MSI SIP and signtool do.
//!
//! The digest covers every stream and storage except the root's `\u{5}DigitalSignature` and
//! `\u{5}MsiDigitalSignatureEx` streams: storages are visited depth first, each storage's
//! children in [`tree::digest_order`] (byte-wise on the UTF-16LE names with their terminator),
//! feeding each stream's contents and, after a storage's children, the storage's CLSID; the
//! root's CLSID comes last.
//!
//! With MsiDigitalSignatureEx, the digest first takes the *pre-hash*: the digest, with the same
//! algorithm, of the entries' metadata in the same order — for the root its CLSID and state
//! bits; for each storage its name (UTF-16LE, no terminator), CLSID, state bits, creation and
//! modification FILETIMEs, then its children; for each stream its name, the low 32 bits of its
//! size, state bits and both FILETIMEs. The pre-hash is also stored as the contents of the
//! `\u{5}MsiDigitalSignatureEx` stream, whose presence tells a verifier to use it.
//!
//! Writing copies every entry into a new, compact compound file of the same version (in a
//! temporary file, so a large MSI is never held in memory), then adds the signature streams:
//! the output depends only on the entries, so re-signing a signed file gives the same bytes as
//! signing the unsigned one.

#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod reader;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod spool;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod tree;

use std::cell::RefCell;
use std::io::{Read, Write};

use cfb::CompoundFile;

use crate::digest::{DigestAlgorithm, Hasher};
use crate::error::{Error, Format, MalformedKind, Result, VerifyError};
use crate::input::{Input, CHUNK};
use crate::subject::{Subject, SubjectOptions};

pub use reader::InputReader;
pub use tree::{EntryKind, MsiEntry};

/// The first 8 bytes of every compound file.
pub const MAGIC: [u8; 8] = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];
/// Name of the root stream holding the PKCS#7 signature.
pub const DIGITAL_SIGNATURE: &str = "\u{5}DigitalSignature";
/// Name of the root stream holding the MsiDigitalSignatureEx pre-hash.
pub const MSI_DIGITAL_SIGNATURE_EX: &str = "\u{5}MsiDigitalSignatureEx";
/// Largest `\u{5}DigitalSignature` stream read (a PKCS#7 with many certificates and
/// timestamps is a few tens of kilobytes).
pub const MAX_SIGNATURE_SIZE: u64 = 16 << 20;

/// A digest variant: the algorithm, and whether the MsiDigitalSignatureEx pre-hash comes first.
type Variant = (DigestAlgorithm, bool);

/// An opened MSI (OLE compound file).
pub struct MsiSubject<'a> {
    file: RefCell<CompoundFile<InputReader<'a>>>,
    root: MsiEntry,
    /// Digests already computed, by (algorithm, with pre-hash): signing digests the file for
    /// SpcIndirectDataContent and again when embedding, and the input does not change.
    computed: RefCell<Vec<(Variant, Vec<u8>)>>,
}

impl std::fmt::Debug for MsiSubject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsiSubject")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

fn io_error(e: std::io::Error, what: &str) -> Error {
    Error::malformed(
        Format::Msi,
        0,
        MalformedKind::InvalidValue,
        format!("{what}: {e}"),
    )
}

fn is_signature_stream(e: &MsiEntry) -> bool {
    e.kind == EntryKind::Stream
        && (e.name == DIGITAL_SIGNATURE || e.name == MSI_DIGITAL_SIGNATURE_EX)
}

/// The root's children that the digests cover (all but the signature streams).
fn hashed_children(e: &MsiEntry, is_root: bool) -> impl Iterator<Item = &MsiEntry> {
    e.children
        .iter()
        .filter(move |c| !(is_root && is_signature_stream(c)))
}

/// Feed the MsiDigitalSignatureEx metadata of `e` (and, for storages, its subtree) to `h`.
fn prehash_entry(e: &MsiEntry, h: &mut Hasher, is_root: bool) {
    if !is_root {
        h.update(&e.name_utf16le);
    }
    match e.kind {
        EntryKind::Stream => h.update(&(e.size as u32).to_le_bytes()),
        EntryKind::Root | EntryKind::Storage => h.update(&e.clsid),
    }
    h.update(&e.state_bits.to_le_bytes());
    if !is_root {
        h.update(&e.created.to_le_bytes());
        h.update(&e.modified.to_le_bytes());
    }
    if e.kind != EntryKind::Stream {
        for c in hashed_children(e, is_root) {
            prehash_entry(c, h, false);
        }
    }
}

impl<'a> MsiSubject<'a> {
    /// Open the compound file in `input` and read its directory.
    pub fn parse(input: impl Input + 'a) -> Result<Self> {
        let input: crate::input::SharedInput<'a> = std::sync::Arc::new(input);
        let mut magic = [0u8; 8];
        if input.len() < 512 || input.read_exact_at(0, &mut magic).is_err() || magic != MAGIC {
            return Err(Error::malformed(
                Format::Msi,
                0,
                MalformedKind::WrongFormat,
                "not an OLE compound file (no D0 CF 11 E0 A1 B1 1A E1 header of 512 bytes)",
            ));
        }
        let file = CompoundFile::open(InputReader::new(input))
            .map_err(|e| io_error(e, "cannot open the compound file"))?;
        let root = MsiEntry::read_tree(&file)?;
        Ok(Self {
            file: RefCell::new(file),
            root,
            computed: RefCell::new(Vec::new()),
        })
    }

    /// The root storage and everything below it, children in digest order.
    pub fn root(&self) -> &MsiEntry {
        &self.root
    }

    /// Whether the file has an `\u{5}MsiDigitalSignatureEx` stream, which makes its digest
    /// include the pre-hash.
    pub fn has_msi_dse(&self) -> bool {
        self.root
            .child(MSI_DIGITAL_SIGNATURE_EX)
            .is_some_and(|e| e.kind == EntryKind::Stream)
    }

    /// The MsiDigitalSignatureEx pre-hash with `alg`: the digest of the entries' metadata.
    pub fn msi_dse_prehash(&self, alg: DigestAlgorithm) -> Vec<u8> {
        let mut h = alg.hasher();
        prehash_entry(&self.root, &mut h, true);
        h.finalize()
    }

    /// The contents of the `\u{5}MsiDigitalSignatureEx` stream, if there is one.
    pub fn msi_dse_stream(&self) -> Result<Option<Vec<u8>>> {
        self.read_root_stream(MSI_DIGITAL_SIGNATURE_EX)
    }

    fn read_root_stream(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let Some(e) = self
            .root
            .child(name)
            .filter(|e| e.kind == EntryKind::Stream)
        else {
            return Ok(None);
        };
        if e.size > MAX_SIGNATURE_SIZE {
            return Err(Error::Unsupported(format!(
                "MSI stream {name:?} of {} bytes (at most {MAX_SIGNATURE_SIZE} are read)",
                e.size
            )));
        }
        let mut data = Vec::new();
        self.for_each_chunk(e, |c| {
            data.extend_from_slice(c);
            Ok(())
        })?;
        Ok(Some(data))
    }

    fn file(&self) -> Result<std::cell::RefMut<'_, CompoundFile<InputReader<'a>>>> {
        self.file
            .try_borrow_mut()
            .map_err(|_| Error::Internal("MSI subject used re-entrantly"))
    }

    /// Stream the contents of the stream `e` to `sink` in bounded chunks, checking that it
    /// holds exactly the length its directory entry gives.
    fn for_each_chunk(
        &self,
        e: &MsiEntry,
        mut sink: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let mut file = self.file()?;
        let mut stream = file
            .open_stream(&e.path)
            .map_err(|err| io_error(err, &format!("cannot open stream {:?}", e.name)))?;
        let mut buf = vec![0u8; usize::try_from(e.size).map_or(CHUNK, |s| s.clamp(1, CHUNK))];
        let mut done = 0u64;
        loop {
            let n = stream
                .read(&mut buf)
                .map_err(|err| io_error(err, &format!("reading stream {:?}", e.name)))?;
            if n == 0 {
                break;
            }
            let chunk = buf.get(..n).unwrap_or_default();
            done = done.saturating_add(n as u64);
            sink(chunk)?;
        }
        if done != e.size {
            return Err(Error::malformed(
                Format::Msi,
                0,
                MalformedKind::InvalidValue,
                format!("stream {:?} holds {done} of its {} bytes", e.name, e.size),
            ));
        }
        Ok(())
    }

    /// Feed the digested contents of `e` (streams, then the CLSID for storages) to `sink`.
    fn content(&self, e: &MsiEntry, is_root: bool, sink: &mut dyn FnMut(&[u8])) -> Result<()> {
        for c in hashed_children(e, is_root) {
            match c.kind {
                EntryKind::Stream => self.for_each_chunk(c, |b| {
                    sink(b);
                    Ok(())
                })?,
                EntryKind::Storage | EntryKind::Root => self.content(c, false, sink)?,
            }
        }
        sink(&e.clsid);
        Ok(())
    }

    fn cached(&self, variant: (DigestAlgorithm, bool)) -> Option<Vec<u8>> {
        self.computed
            .borrow()
            .iter()
            .find(|(k, _)| *k == variant)
            .map(|(_, d)| d.clone())
    }

    /// Which digest variant `signed` is: `Ok(true)` with the MsiDigitalSignatureEx pre-hash,
    /// `Ok(false)` without, or the mismatch (against the plain digest) when it is neither.
    fn dse_variant(&self, alg: DigestAlgorithm, signed: &[u8]) -> Result<Result<bool>> {
        if let Some(dse) = [true, false]
            .into_iter()
            .find(|&dse| self.cached((alg, dse)).as_deref() == Some(signed))
        {
            return Ok(Ok(dse));
        }
        let both = self.digests(&[(alg, false), (alg, true)])?;
        Ok(match both.as_slice() {
            [_, d] if d == signed => Ok(true),
            [p, _] if p == signed => Ok(false),
            [p, _] => Err(VerifyError::DigestMismatch {
                signed: hex::encode(signed),
                computed: hex::encode(p),
            }
            .into()),
            _ => Err(Error::Internal("no digest computed")),
        })
    }

    /// The file digest for each `(algorithm, with pre-hash)` pair, in one pass over the
    /// streams.
    pub fn digests(&self, variants: &[(DigestAlgorithm, bool)]) -> Result<Vec<Vec<u8>>> {
        let cached: Option<Vec<Vec<u8>>> = variants.iter().map(|v| self.cached(*v)).collect();
        if let Some(found) = cached {
            return Ok(found);
        }
        let mut hashers: Vec<Hasher> = variants
            .iter()
            .map(|&(alg, dse)| {
                let mut h = alg.hasher();
                if dse {
                    h.update(&self.msi_dse_prehash(alg));
                }
                h
            })
            .collect();
        self.content(&self.root, true, &mut |b| {
            for h in &mut hashers {
                h.update(b);
            }
        })?;
        let digests: Vec<Vec<u8>> = hashers.into_iter().map(Hasher::finalize).collect();
        let mut computed = self.computed.borrow_mut();
        for (v, d) in variants.iter().zip(&digests) {
            if !computed.iter().any(|(k, _)| k == v) {
                computed.push((*v, d.clone()));
            }
        }
        Ok(digests)
    }

    /// Copy every entry except the signature streams into a new compound file, add
    /// `streams` at the root, and write the result to `out`.
    fn rebuild(&self, streams: &[(&str, &[u8])], out: &mut dyn Write) -> Result<()> {
        let tmp = spool::Spool::new()?;
        let version = self.file()?.version();
        let mut dest = CompoundFile::create_with_version(version, tmp)
            .map_err(|e| Error::Io(std::io::Error::other(e)))?;
        let werr = |e: std::io::Error| Error::Io(e);
        let mut all = Vec::new();
        collect(&self.root, true, &mut all);
        for e in &all {
            match e.kind {
                EntryKind::Root => {}
                EntryKind::Storage => dest.create_storage(&e.path).map_err(werr)?,
                EntryKind::Stream => {
                    let mut target = dest.create_stream(&e.path).map_err(werr)?;
                    self.for_each_chunk(e, |b| target.write_all(b).map_err(Error::Io))?;
                    target.flush().map_err(werr)?;
                }
            }
        }
        for (name, data) in streams {
            let path = std::path::Path::new("/").join(name);
            let mut target = dest.create_stream(&path).map_err(werr)?;
            target.write_all(data).map_err(werr)?;
            target.flush().map_err(werr)?;
        }
        // Metadata last, so nothing done while building the tree overwrites it.
        for e in &all {
            dest.set_state_bits(&e.path, e.state_bits).map_err(werr)?;
            if e.kind != EntryKind::Stream {
                let s = &e.source;
                dest.set_storage_clsid(&e.path, *s.clsid()).map_err(werr)?;
                dest.set_created_time(&e.path, s.created()).map_err(werr)?;
                dest.set_modified_time(&e.path, s.modified())
                    .map_err(werr)?;
            }
        }
        dest.flush().map_err(werr)?;
        let mut tmp = dest.into_inner().into_file()?;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = tmp.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(buf.get(..n).unwrap_or_default())?;
        }
        out.flush()?;
        Ok(())
    }
}

/// Every entry of the tree in pre-order (digest order), without the root's signature streams.
fn collect<'e>(e: &'e MsiEntry, is_root: bool, all: &mut Vec<&'e MsiEntry>) {
    all.push(e);
    for c in hashed_children(e, is_root) {
        collect(c, false, all);
    }
}

impl Subject for MsiSubject<'_> {
    fn format(&self) -> Format {
        Format::Msi
    }

    /// The digest a verifier compares with the signature: with the pre-hash when the file
    /// has an `\u{5}MsiDigitalSignatureEx` stream.
    fn digest(&self, algs: &[DigestAlgorithm]) -> Result<Vec<Vec<u8>>> {
        let dse = self.has_msi_dse();
        let variants: Vec<_> = algs.iter().map(|&a| (a, dse)).collect();
        self.digests(&variants)
    }

    /// SpcIndirectDataContent with SpcSipInfo for MSI; the digest includes the pre-hash when
    /// `opts.msi_dse` is set.
    fn indirect_data(&self, alg: DigestAlgorithm, opts: &SubjectOptions) -> Result<Vec<u8>> {
        let digest = self
            .digests(&[(alg, opts.msi_dse)])?
            .pop()
            .ok_or_else(|| Error::Internal("no digest computed"))?;
        let version = opts
            .msi_sip_version
            .unwrap_or(if opts.msi_dse { 2 } else { 1 });
        crate::cms::spc::msi_indirect_data(alg, &digest, version)
    }

    fn signatures(&self) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .read_root_stream(DIGITAL_SIGNATURE)?
            .into_iter()
            .collect())
    }

    /// Writes a compact copy with `pkcs7` as `\u{5}DigitalSignature`, and with
    /// `\u{5}MsiDigitalSignatureEx` holding the pre-hash when the signature's digest is the
    /// one with the pre-hash. A signature whose digest matches neither variant is refused.
    fn matches_indirect_data(&self, data: &crate::cms::IndirectData) -> Result<bool> {
        Ok(self
            .dse_variant(data.digest_algorithm, &data.digest)?
            .is_ok())
    }

    fn with_signature_unchecked(&self, pkcs7: &[u8], out: &mut dyn Write) -> Result<()> {
        let sd = crate::cms::SignedData::parse(pkcs7)?;
        let data = sd.indirect_data.ok_or_else(|| {
            Error::Verify(crate::error::VerifyError::Other(format!(
                "an MSI signature signs SpcIndirectDataContent, not content of type {}",
                sd.content_type
            )))
        })?;
        let alg = data.digest_algorithm;
        let dse = self.dse_variant(alg, &data.digest)??;
        if dse {
            let prehash = self.msi_dse_prehash(alg);
            self.rebuild(
                &[
                    (DIGITAL_SIGNATURE, pkcs7),
                    (MSI_DIGITAL_SIGNATURE_EX, &prehash),
                ],
                out,
            )
        } else {
            self.rebuild(&[(DIGITAL_SIGNATURE, pkcs7)], out)
        }
    }

    /// Writes a compact copy without `\u{5}DigitalSignature` and
    /// `\u{5}MsiDigitalSignatureEx` (an unsigned file is compacted too).
    fn without_signature(&self, out: &mut dyn Write) -> Result<()> {
        self.rebuild(&[], out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_compound_file() {
        for bad in [&b""[..], &MAGIC[..], &[0u8; 1024], b"MZ\x90\x00"] {
            let err = MsiSubject::parse(bad).unwrap_err();
            assert!(matches!(err, Error::Malformed(_)), "{err}");
        }
        let mut header_only = vec![0u8; 512];
        header_only[..8].copy_from_slice(&MAGIC);
        let err = MsiSubject::parse(&header_only).unwrap_err();
        assert!(matches!(err, Error::Malformed(_)), "{err}");
    }
}
