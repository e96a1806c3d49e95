//! The APPX/MSIX subject: packages (`.appx`, `.msix`) and bundles (`.appxbundle`,
//! `.msixbundle`), the ZIP files Windows installs apps from.
//!
//! # What a signature covers
//!
//! The signature is the part `AppxSignature.p7x` (`"PKCX"` + DER PKCS#7), the last entry of
//! the ZIP, announced by an Override in `[Content_Types].xml`. Its SpcIndirectDataContent
//! carries SpcSipInfo (version 0x01010000, the package or the bundle SIP GUID) and, as its
//! digest, the APPX digest of [`digest`]: hashes of the local records up to the signature, of
//! the central directory without it, of `[Content_Types].xml`, of `AppxBlockMap.xml` (which
//! holds a hash of every 64 KiB block of every other file) and of the code-integrity catalog
//! when there is one, all in the block map's hash algorithm.
//!
//! # Layouts: what signing rewrites
//!
//! Signing changes `[Content_Types].xml` (the signature's Override), so its record, the
//! central directory and the end records are rewritten, and the signature record is added
//! after the last local record. Every other local record is kept byte for byte (moved when
//! records follow `[Content_Types].xml`). Because AXPC hashes the *compressed* bytes, the
//! rewrite decides the signature: [`SubjectOptions::appx_layout`] picks the tool to match.
//!
//! | | signtool ([`Profile::Signtool`]) | osslsigncode ([`Profile::Osslsigncode`]) |
//! |---|---|---|
//! | `[Content_Types].xml` text | rewritten by signtool's rules ([`content_types`]) | Override inserted before `</Types>` |
//! | its compression | zlib level 6, full flush every 64 KiB | zlib level 8, one stream |
//! | its local record | version 20, no data descriptor | the original header, a new data descriptor |
//! | central directory records | ZIP64 extra fields dropped where values fit | kept as they were |
//! | signature record | deflated like `[Content_Types].xml`, version 20 | deflated like `[Content_Types].xml`, version 20 |
//!
//! Both write the end records with disk numbers 0. The signature record's MS-DOS time is
//! [`AppxSubject::set_signature_time`]'s, or else the newest time of the package's entries
//! (signtool and osslsigncode take the clock: the time is outside every hash).
//!
//! # Removing a signature
//!
//! [`Subject::without_signature`] drops the signature record, deletes the signature's
//! Override element from `[Content_Types].xml` (every other byte kept) and compresses it again
//! in the layout its record shows (a data descriptor: osslsigncode's; none: signtool's); every
//! other record is kept as it is, and the end records get disk numbers 0xffff when their
//! entry counts are 0xffff markers (as makeappx writes them), else 0. So removing a signature
//! authsign made restores the unsigned package byte for byte when it was in that layout's
//! form: any makeappx package for the osslsigncode layout, any package authsign or signtool
//! signed and authsign unsigned for the signtool layout. (signtool's rewrite loses makeappx's
//! data descriptors and ZIP64 extra fields, so no tool can give those back.)
//!
//! # What verification adds
//!
//! [`Subject::content_problems`]: every payload file against `AppxBlockMap.xml`, checked in
//! the digest's pass over the file; [`Subject::publisher_mismatch`]: the manifest's Publisher
//! against the signer's subject as Windows renders it ([`publisher`]).
//!
//! # Bundles
//!
//! A bundle's own signature is made and checked like a package's (bundle SIP GUID, its block
//! map lists only `AppxMetadata/AppxBundleManifest.xml`); its packages are stored entries that
//! keep whatever signature they have: authsign neither signs nor verifies them (signtool signs
//! the inner packages first and updates the bundle manifest; osslsigncode does not).
//! Verification checks that each listed package is stored at the offset and with the size the
//! bundle manifest gives.

#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod blockmap;
mod check;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod content_types;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod digest;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod manifest;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod p7x;
pub mod publisher;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod reader;
mod xml;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod zip;

use std::io::Write;
use std::sync::Mutex;

use crate::cms::{oids, spc, IndirectData, Profile};
use crate::digest::{DigestAlgorithm, MultiDigest};
use crate::error::{Error, Format, MalformedKind, PublisherMismatch, Result};
use crate::input::{copy_range, read_vec, stream, Input, SharedInput, Span};
use crate::subject::{ContentProblem, Subject, SubjectCheck, SubjectOptions};

use blockmap::BlockMap;
use content_types::ContentTypes;
use digest::AppxDigest;
use manifest::Manifest;
use reader::{Archive, Entry};
use zip::{CentralHeader, LocalHeader, Zip64Fields, Zip64Shape};

/// `[Content_Types].xml`.
pub const CONTENT_TYPES: &str = "[Content_Types].xml";
/// `AppxBlockMap.xml`.
pub const BLOCK_MAP: &str = "AppxBlockMap.xml";
/// The package manifest.
pub const MANIFEST: &str = "AppxManifest.xml";
/// The bundle manifest: its presence makes the package a bundle.
pub const BUNDLE_MANIFEST: &str = "AppxMetadata/AppxBundleManifest.xml";
/// The code-integrity catalog signtool adds to packages holding PE files.
pub const CODE_INTEGRITY: &str = "AppxMetadata/CodeIntegrity.cat";
/// Largest XML part (or catalog) read into memory, uncompressed.
pub const MAX_PART: u64 = 64 << 20;
/// Largest end of a package that signing in place replaces (and keeps in its undo journal).
const MAX_PATCHED_TAIL: u64 = 64 << 20;
/// zlib level signtool (the Windows packaging API) compresses parts with.
const SIGNTOOL_LEVEL: u8 = 6;
/// Input between two full flushes in signtool's compression.
const SIGNTOOL_FLUSH: usize = 1 << 16;
/// zlib level osslsigncode compresses parts with.
const OSSLSIGNCODE_LEVEL: u8 = 8;

/// The one constructor of this module's format errors.
pub(crate) fn malformed(offset: u64, kind: MalformedKind, what: impl Into<String>) -> Error {
    Error::malformed(Format::Appx, offset, kind, what)
}

/// The one constructor of this module's "valid but not handled" errors.
pub(crate) fn unsupported(what: impl Into<String>) -> Error {
    Error::Unsupported(what.into())
}

/// Whether `input` may be a package: a ZIP that starts with a local file header (a package
/// has nothing before its first entry). [`AppxSubject::parse`] decides.
pub fn sniff(input: &dyn Input) -> bool {
    let mut magic = [0u8; 4];
    input.len() >= 4
        && input.read_exact_at(0, &mut magic).is_ok()
        && magic == zip::LOCAL_HEADER_SIGNATURE.to_le_bytes()
}

/// Files outside the block map: the package's own bookkeeping.
pub(crate) fn is_footprint(name: &str) -> bool {
    [CONTENT_TYPES, BLOCK_MAP, p7x::NAME, CODE_INTEGRITY]
        .iter()
        .any(|f| f.eq_ignore_ascii_case(name))
}

/// One part read whole: its entry index and uncompressed bytes.
#[derive(Debug, Clone)]
struct Part {
    index: usize,
    bytes: Vec<u8>,
}

/// How `[Content_Types].xml` is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CtStyle {
    /// Version 20, no data descriptor, level 6 with full flushes.
    Signtool,
    /// The original local header and a data descriptor, level 8 one-shot.
    Osslsigncode,
}

/// A package laid out anew: its local records up to where the signature goes, and its
/// central directory records without the signature's.
#[derive(Debug)]
struct Layout {
    pieces: Vec<Piece>,
    /// Where the signature's local record goes (the end of the other local records).
    end: u64,
    central: Vec<Vec<u8>>,
    content_types: Vec<u8>,
    style: CtStyle,
}

/// A piece of a new file.
#[derive(Debug, Clone)]
enum Piece {
    /// A range of the input.
    Input { offset: u64, len: u64 },
    /// New bytes, which replace the input's bytes at `offset`.
    Bytes { offset: u64, bytes: Vec<u8> },
}

impl Layout {
    fn spans(&self) -> Vec<Span<'_>> {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Input { offset, len } => Span::Input {
                    offset: *offset,
                    len: *len,
                },
                Piece::Bytes { offset, bytes } => Span::Bytes {
                    offset: *offset,
                    bytes,
                },
            })
            .collect()
    }
}

/// A parsed package or bundle.
pub struct AppxSubject<'a> {
    input: SharedInput<'a>,
    archive: Archive,
    bundle: bool,
    content_types: Part,
    content_types_parsed: ContentTypes,
    block_map: Part,
    block_map_parsed: BlockMap,
    manifest: Manifest,
    signature: Option<usize>,
    code_integrity: Option<Part>,
    signature_time: (u16, u16),
    checked: Mutex<Option<Vec<ContentProblem>>>,
}

impl std::fmt::Debug for AppxSubject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppxSubject")
            .field("bundle", &self.bundle)
            .field("entries", &self.archive.entries.len())
            .field("algorithm", &self.block_map_parsed.algorithm)
            .field("signed", &self.signature.is_some())
            .finish_non_exhaustive()
    }
}

/// Read the entry `e` whole (at most `max` bytes uncompressed), checking its size and CRC.
fn read_part(input: &dyn Input, e: &Entry, max: u64) -> Result<Vec<u8>> {
    let usize_ = e.central.uncompressed_size;
    if usize_ > max {
        return Err(malformed(
            e.data_offset,
            MalformedKind::LimitExceeded,
            format!("{}: {usize_} bytes (at most {max} are read)", e.name),
        ));
    }
    // Deflate adds a few bytes per 64 KiB stored block to data it cannot compress.
    let csize = e.central.compressed_size;
    if csize > max + max / 16 + 65536 {
        return Err(malformed(
            e.data_offset,
            MalformedKind::LimitExceeded,
            format!(
                "{}: {csize} compressed bytes (at most {max} uncompressed bytes are read)",
                e.name
            ),
        ));
    }
    let raw = read_vec(input, Format::Appx, e.data_offset, csize, &e.name)?;
    let bytes = if e.is_deflated() {
        miniz_oxide::inflate::decompress_to_vec_with_limit(&raw, usize_ as usize).map_err(
            |err| {
                malformed(
                    e.data_offset,
                    MalformedKind::BadEncoding,
                    format!("{}: bad deflate data ({err})", e.name),
                )
            },
        )?
    } else {
        raw
    };
    if bytes.len() as u64 != usize_ {
        return Err(malformed(
            e.data_offset,
            MalformedKind::Inconsistent,
            format!("{}: {} bytes instead of {usize_}", e.name, bytes.len()),
        ));
    }
    if zip::crc32(&bytes) != e.central.crc32 {
        return Err(malformed(
            e.data_offset,
            MalformedKind::BadEncoding,
            format!("{}: CRC-32 mismatch", e.name),
        ));
    }
    Ok(bytes)
}

impl<'a> AppxSubject<'a> {
    /// Parse the package in `input`: its ZIP structure, `[Content_Types].xml`,
    /// `AppxBlockMap.xml` and manifest.
    pub fn parse(input: impl Input + 'a) -> Result<Self> {
        let input: SharedInput<'a> = std::sync::Arc::new(input);
        let archive = Archive::read(&*input)?;
        let bundle = archive.find(BUNDLE_MANIFEST).is_some();
        let manifest_name = if bundle { BUNDLE_MANIFEST } else { MANIFEST };
        let part = |name: &str| -> Result<Option<Part>> {
            archive
                .find(name)
                .map(|(index, e)| {
                    Ok(Part {
                        index,
                        bytes: read_part(&*input, e, MAX_PART)?,
                    })
                })
                .transpose()
        };
        let required = |name: &str| -> Result<Part> {
            part(name)?.ok_or_else(|| {
                if archive.find(MANIFEST).is_none() && !bundle {
                    unsupported(format!(
                        "a ZIP file without {MANIFEST} or {BUNDLE_MANIFEST}: not an APPX/MSIX package"
                    ))
                } else {
                    malformed(archive.cd_offset, MalformedKind::Truncated, format!("the package has no {name}"))
                }
            })
        };
        let manifest_part = required(manifest_name)?;
        let content_types = required(CONTENT_TYPES)?;
        let block_map = required(BLOCK_MAP)?;
        let at = |p: &Part| archive.entries.get(p.index).map_or(0, |e| e.data_offset);
        let ct_text = xml::text(&content_types.bytes, CONTENT_TYPES, at(&content_types))?;
        let content_types_parsed = ContentTypes::parse(ct_text, at(&content_types))?;
        let bm_text = xml::text(&block_map.bytes, BLOCK_MAP, at(&block_map))?;
        let block_map_parsed = BlockMap::parse(bm_text, at(&block_map))?;
        let m_text = xml::text(&manifest_part.bytes, manifest_name, at(&manifest_part))?;
        let manifest = Manifest::parse(m_text, bundle, at(&manifest_part))?;
        let code_integrity = part(CODE_INTEGRITY)?;
        let signature = archive.find(p7x::NAME).map(|(i, _)| i);
        if let Some(i) = signature {
            if archive.last_local() != Some(i) {
                let at = archive.entries.get(i).map_or(0, Entry::local_offset);
                return Err(malformed(
                    at,
                    MalformedKind::WrongFormat,
                    "AppxSignature.p7x is not the last entry: the records after it would be \
                     outside the signature",
                ));
            }
        }
        let signature_time = archive
            .entries
            .iter()
            .filter(|e| e.name != p7x::NAME)
            .map(|e| (e.central.date, e.central.time))
            .max()
            .map_or((0, 0x21), |(d, t)| (t, d));
        Ok(Self {
            input,
            archive,
            bundle,
            content_types,
            content_types_parsed,
            block_map,
            block_map_parsed,
            manifest,
            signature,
            code_integrity,
            signature_time,
            checked: Mutex::new(None),
        })
    }

    /// Whether this is a bundle.
    pub fn is_bundle(&self) -> bool {
        self.bundle
    }

    /// The block map's hash algorithm: that of the package digest.
    pub fn hash_algorithm(&self) -> DigestAlgorithm {
        self.block_map_parsed.algorithm
    }

    /// The Publisher the manifest declares.
    pub fn publisher(&self) -> &str {
        &self.manifest.publisher
    }

    /// The parsed ZIP structure.
    #[doc(hidden)] // the ZIP reader is a building block
    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    /// Whether the package holds a signature.
    pub fn is_signed(&self) -> bool {
        self.signature.is_some()
    }

    /// Set the MS-DOS time and date (`(time, date)` as ZIP stores them) of the signature
    /// entry that [`Subject::with_signature`] writes (signtool writes the local time of
    /// signing; the default is the newest time of the package's entries).
    pub fn set_signature_time(&mut self, time: u16, date: u16) {
        self.signature_time = (time, date);
    }

    fn entry(&self, i: usize) -> Result<&Entry> {
        self.archive
            .entries
            .get(i)
            .ok_or(Error::Internal("entry index out of range"))
    }

    fn ct_text(&self) -> Result<&str> {
        let at = self.entry(self.content_types.index)?.data_offset;
        xml::text(&self.content_types.bytes, CONTENT_TYPES, at)
    }

    /// The package as it is: local records up to the signature, central directory without
    /// its record.
    fn as_signed(&self) -> Result<Layout> {
        let sig = self
            .signature
            .ok_or(Error::Internal("the package is not signed"))?;
        let end = self.entry(sig)?.local_offset();
        let central = self
            .archive
            .entries
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != sig)
            .map(|(_, e)| e.central_raw.clone())
            .collect();
        Ok(Layout {
            pieces: vec![Piece::Input {
                offset: 0,
                len: end,
            }],
            end,
            central,
            content_types: self.content_types.bytes.clone(),
            style: CtStyle::Signtool,
        })
    }

    /// The package laid out with `content_types` (uncompressed) in `style`, the central
    /// directory records written with `shape` (`None`: kept as they are), without the
    /// signature.
    fn layout(
        &self,
        content_types: Vec<u8>,
        style: CtStyle,
        shape: Option<Zip64Shape>,
    ) -> Result<Layout> {
        let ct = self.entry(self.content_types.index)?;
        let compressed = match style {
            CtStyle::Signtool => {
                crate::deflate::compress_flushed(&content_types, SIGNTOOL_LEVEL, SIGNTOOL_FLUSH)?
            }
            CtStyle::Osslsigncode => crate::deflate::compress(&content_types, OSSLSIGNCODE_LEVEL)?,
        };
        let crc = zip::crc32(&content_types);
        let (csize, usize_) = (compressed.len() as u64, content_types.len() as u64);
        let zip64 = self.archive.is_zip64();
        let mut ct_central = ct.central.clone();
        ct_central.crc32 = crc;
        ct_central.compressed_size = csize;
        ct_central.uncompressed_size = usize_;
        ct_central.method = zip::METHOD_DEFLATE;
        let mut record = match style {
            CtStyle::Signtool => {
                ct_central.version_needed = zip::VERSION_DEFLATE;
                ct_central.flags = 0;
                LocalHeader {
                    version_needed: zip::VERSION_DEFLATE,
                    flags: 0,
                    method: zip::METHOD_DEFLATE,
                    time: ct.central.time,
                    date: ct.central.date,
                    crc32: crc,
                    compressed_size: csize as u32,
                    uncompressed_size: usize_ as u32,
                    name: ct.local.name.clone(),
                    extra: Vec::new(),
                }
                .to_bytes()
            }
            CtStyle::Osslsigncode => {
                let descriptor = ct.central.flags & zip::FLAG_DESCRIPTOR != 0;
                let mut h = ct.local.clone();
                h.method = zip::METHOD_DEFLATE;
                (h.crc32, h.compressed_size, h.uncompressed_size) = if descriptor {
                    (0, 0, 0)
                } else {
                    (crc, csize as u32, usize_ as u32)
                };
                h.to_bytes()
            }
        };
        record.extend_from_slice(&compressed);
        if style == CtStyle::Osslsigncode && ct.central.flags & zip::FLAG_DESCRIPTOR != 0 {
            record.extend_from_slice(&zip::descriptor(crc, csize, usize_, zip64));
        }
        // Local records in file order: the content types replaced, the signature dropped.
        let mut pieces = Vec::new();
        let mut offsets = vec![0u64; self.archive.entries.len()];
        let mut pos = 0u64;
        for &i in &self.archive.local_order {
            if Some(i) == self.signature {
                continue;
            }
            let e = self.entry(i)?;
            if let Some(o) = offsets.get_mut(i) {
                *o = pos;
            }
            if i == self.content_types.index {
                pos += record.len() as u64;
                pieces.push(Piece::Bytes {
                    offset: e.local_offset(),
                    bytes: std::mem::take(&mut record),
                });
            } else {
                pieces.push(Piece::Input {
                    offset: e.local_offset(),
                    len: e.record_len(),
                });
                pos += e.record_len();
            }
        }
        // Adjacent input ranges read as one.
        let mut merged: Vec<Piece> = Vec::with_capacity(pieces.len());
        for p in pieces {
            match (merged.last_mut(), &p) {
                (Some(Piece::Input { offset, len }), Piece::Input { offset: o, len: l })
                    if *offset + *len == *o =>
                {
                    *len += l;
                }
                _ => merged.push(p),
            }
        }
        let mut central = Vec::with_capacity(self.archive.entries.len());
        for (i, e) in self.archive.entries.iter().enumerate() {
            if Some(i) == self.signature {
                continue;
            }
            let mut h: CentralHeader = if i == self.content_types.index {
                ct_central.clone()
            } else {
                e.central.clone()
            };
            h.local_offset = offsets.get(i).copied().unwrap_or(0);
            central.push(h.to_bytes(shape.unwrap_or(Zip64Shape::Keep(e.central.zip64))));
        }
        Ok(Layout {
            pieces: merged,
            end: pos,
            central,
            content_types,
            style,
        })
    }

    /// The layout signing writes for `profile`.
    fn signing_layout(&self, profile: Profile) -> Result<Layout> {
        match profile {
            Profile::Osslsigncode => {
                let at = self.entry(self.content_types.index)?.data_offset;
                let text = ContentTypes::osslsigncode_text(self.ct_text()?, at)?;
                self.layout(text.into_bytes(), CtStyle::Osslsigncode, None)
            }
            _ => {
                let text = self.content_types_parsed.signtool_text();
                self.layout(
                    text.into_bytes(),
                    CtStyle::Signtool,
                    Some(Zip64Shape::AsNeeded),
                )
            }
        }
    }

    /// The unsigned package's layout.
    fn unsigned_layout(&self) -> Result<Layout> {
        let text = self.content_types_parsed.without_signature(self.ct_text()?);
        let ct = self.entry(self.content_types.index)?;
        let style = if ct.central.flags & zip::FLAG_DESCRIPTOR != 0 {
            CtStyle::Osslsigncode
        } else {
            CtStyle::Signtool
        };
        self.layout(text.into_bytes(), style, None)
    }

    /// The end records after `central` (records at `offset`), with `disk` in the end
    /// record's disk fields.
    fn end_records(&self, central: &[Vec<u8>], offset: u64, disk: u16) -> Vec<u8> {
        let size: u64 = central.iter().map(|c| c.len() as u64).sum();
        zip::end_records(
            &self.archive.end_shape,
            central.len() as u64,
            size,
            offset,
            disk,
        )
    }

    /// AXCD's input hashed with `md`.
    fn hash_central(&self, layout: &Layout, md: &mut MultiDigest) {
        for c in &layout.central {
            md.update(c);
        }
        md.update(&self.end_records(&layout.central, layout.end, 0));
    }

    /// The APPX digests of `layout` for each algorithm of `algs`, in one pass over the file;
    /// with `check`, the content check runs in the same pass and its findings are kept.
    fn digests(
        &self,
        layout: &Layout,
        algs: &[DigestAlgorithm],
        check: bool,
    ) -> Result<Vec<AppxDigest>> {
        let spans = layout.spans();
        let mut local = MultiDigest::new(algs);
        let mut problems = None;
        {
            let mut hash = |_: u64, w: &[u8]| -> Result<()> {
                local.update(w);
                Ok(())
            };
            if check {
                let bundle = self.bundle.then_some(self.manifest.packages.as_slice());
                let mut content =
                    check::ContentCheck::new(&self.archive, &self.block_map_parsed, bundle);
                {
                    let mut look = |off: u64, w: &[u8]| -> Result<()> {
                        content.window(off, w);
                        Ok(())
                    };
                    stream(
                        &*self.input,
                        &spans,
                        &mut [&mut hash, &mut look],
                        &mut |_, _| Ok(()),
                    )?;
                }
                problems = Some(content.finish());
            } else {
                stream(&*self.input, &spans, &mut [&mut hash], &mut |_, _| Ok(()))?;
            }
        }
        if let Some(p) = problems {
            if let Ok(mut slot) = self.checked.lock() {
                *slot = Some(p);
            }
        }
        let mut cd = MultiDigest::new(algs);
        self.hash_central(layout, &mut cd);
        let locals = local.finalize();
        let cds = cd.finalize();
        Ok(algs
            .iter()
            .zip(locals.into_iter().zip(cds))
            .map(|(alg, (pc, cd))| AppxDigest {
                local_records: pc,
                central_directory: cd,
                content_types: alg.digest(&layout.content_types),
                block_map: alg.digest(&self.block_map.bytes),
                code_integrity: self.code_integrity.as_ref().map(|p| alg.digest(&p.bytes)),
            })
            .collect())
    }

    /// The layout the file has (signed) or would have signed with the default layout.
    fn current_layout(&self) -> Result<Layout> {
        if self.signature.is_some() {
            self.as_signed()
        } else {
            self.signing_layout(Profile::Signtool)
        }
    }

    /// Of the layouts signing can write, the one whose central directory and content types
    /// the APPX digest `blob` (of `alg` hashes) was computed over; `None` if neither.
    fn layout_for(&self, alg: DigestAlgorithm, blob: &[u8]) -> Result<Option<Layout>> {
        let Ok(want) = AppxDigest::parse(blob, alg) else {
            return Ok(None);
        };
        let mut candidates = Vec::new();
        if self.signature.is_some() {
            candidates.push(self.as_signed()?);
        }
        candidates.push(self.signing_layout(Profile::Signtool)?);
        candidates.push(self.signing_layout(Profile::Osslsigncode)?);
        for layout in candidates {
            let mut cd = MultiDigest::new(&[alg]);
            self.hash_central(&layout, &mut cd);
            let cd = cd.finalize().pop().unwrap_or_default();
            if cd == want.central_directory
                && alg.digest(&layout.content_types) == want.content_types
            {
                return Ok(Some(layout));
            }
        }
        Ok(None)
    }

    /// Write `layout`, then (when given) the signature part `signature`, the central
    /// directory and the end records (with `disk` in the end record's disk fields).
    fn write(
        &self,
        layout: &Layout,
        signature: Option<&[u8]>,
        disk: u16,
        out: &mut dyn Write,
    ) -> Result<()> {
        for p in &layout.pieces {
            match p {
                Piece::Input { offset, len } => copy_range(&*self.input, *offset, *len, out)?,
                Piece::Bytes { bytes, .. } => out.write_all(bytes)?,
            }
        }
        let mut central = layout.central.clone();
        let mut pos = layout.end;
        if let Some(part) = signature {
            let data = match layout.style {
                CtStyle::Signtool => {
                    crate::deflate::compress_flushed(part, SIGNTOOL_LEVEL, SIGNTOOL_FLUSH)?
                }
                CtStyle::Osslsigncode => crate::deflate::compress(part, OSSLSIGNCODE_LEVEL)?,
            };
            let (time, date) = self.signature_time;
            let crc = zip::crc32(part);
            let header = LocalHeader {
                version_needed: zip::VERSION_DEFLATE,
                flags: 0,
                method: zip::METHOD_DEFLATE,
                time,
                date,
                crc32: crc,
                compressed_size: data.len() as u32,
                uncompressed_size: part.len() as u32,
                name: p7x::NAME.as_bytes().to_vec(),
                extra: Vec::new(),
            };
            let h = header.to_bytes();
            out.write_all(&h)?;
            out.write_all(&data)?;
            central.push(
                CentralHeader {
                    version_made_by: zip::VERSION_MADE_BY_APPX,
                    version_needed: zip::VERSION_DEFLATE,
                    flags: 0,
                    method: zip::METHOD_DEFLATE,
                    time,
                    date,
                    crc32: crc,
                    compressed_size: data.len() as u64,
                    uncompressed_size: part.len() as u64,
                    internal_attributes: 0,
                    external_attributes: 0,
                    local_offset: layout.end,
                    name: p7x::NAME.as_bytes().to_vec(),
                    zip64: Zip64Fields::default(),
                }
                .to_bytes(Zip64Shape::AsNeeded),
            );
            pos += (h.len() + data.len()) as u64;
        }
        for c in &central {
            out.write_all(c)?;
        }
        out.write_all(&self.end_records(&central, pos, disk))?;
        out.flush()?;
        Ok(())
    }

    /// The content check's findings, running the check on its own pass if the digest did
    /// not.
    fn content_check(&self) -> Result<Vec<ContentProblem>> {
        if let Some(p) = self.checked.lock().ok().and_then(|g| g.clone()) {
            return Ok(p);
        }
        let layout = self.current_layout()?;
        self.digests(&layout, &[self.hash_algorithm()], true)?;
        Ok(self
            .checked
            .lock()
            .ok()
            .and_then(|g| g.clone())
            .unwrap_or_default())
    }

    /// The layout whose digest the signature `pkcs7` carries, if any (`None` too for a
    /// signature over other content than SpcIndirectDataContent).
    fn layout_of(&self, pkcs7: &[u8]) -> Result<Option<Layout>> {
        match crate::cms::SignedData::parse(pkcs7)?.indirect_data {
            Some(data) => self.layout_for(data.digest_algorithm, &data.digest),
            None => Ok(None),
        }
    }

    /// What signing in place writes: the new bytes from the offset of the first record that
    /// changes to the end of the file, for the signature `pkcs7`, when every record before
    /// that is kept where it is (else `None`: the file must be rewritten).
    pub fn signature_tail(&self, pkcs7: &[u8]) -> Result<Option<(u64, Vec<u8>)>> {
        let layout = match self.layout_of(pkcs7)? {
            Some(l) => l,
            None => self.signing_layout(Profile::Signtool)?,
        };
        let mut prefix = 0u64;
        let mut tail = Vec::new();
        for p in &layout.pieces {
            match p {
                Piece::Input { offset, len } if tail.is_empty() && *offset == prefix => {
                    prefix += len
                }
                Piece::Input { .. } => return Ok(None),
                Piece::Bytes { bytes, .. } => tail.extend_from_slice(bytes),
            }
        }
        let mut rest = Vec::new();
        self.write(
            &Layout {
                pieces: Vec::new(),
                ..layout
            },
            Some(&p7x::encode(pkcs7)),
            0,
            &mut rest,
        )?;
        tail.extend_from_slice(&rest);
        Ok(Some((prefix, tail)))
    }
}

impl Subject for AppxSubject<'_> {
    fn format(&self) -> Format {
        if self.bundle {
            Format::AppxBundle
        } else {
            Format::Appx
        }
    }

    /// The APPX digest blob in each of `algs` (the package's own algorithm is its block
    /// map's) of the package as it is, or, unsigned, as signing with the signtool layout
    /// makes it; one pass, which also checks the payload against the block map.
    fn digest(&self, algs: &[DigestAlgorithm]) -> Result<Vec<Vec<u8>>> {
        let layout = self.current_layout()?;
        Ok(self
            .digests(&layout, algs, self.signature.is_some())?
            .iter()
            .map(AppxDigest::to_blob)
            .collect())
    }

    fn indirect_data(&self, alg: DigestAlgorithm, opts: &SubjectOptions) -> Result<Vec<u8>> {
        self.indirect_data_all(&[alg], opts)?
            .pop()
            .ok_or(Error::Internal("no digest computed"))
    }

    /// SpcIndirectDataContent with the APPX digest in the block map's algorithm, whatever
    /// `algs` asks (the signature's own digest follows `algs`, as osslsigncode does); with
    /// the signtool layout `algs` must be that algorithm, as signtool requires (its error 151).
    fn indirect_data_all(
        &self,
        algs: &[DigestAlgorithm],
        opts: &SubjectOptions,
    ) -> Result<Vec<Vec<u8>>> {
        if opts.page_hashes {
            return Err(Error::InvalidArgument(
                "page hashes exist only for PE files".into(),
            ));
        }
        if algs.len() > 1 {
            return Err(Error::InvalidArgument(
                "a package holds one signature: nested (dual) signatures are not supported".into(),
            ));
        }
        let profile = opts.appx_layout.unwrap_or_default();
        let own = self.hash_algorithm();
        if let Some(alg) = algs.iter().find(|a| **a != own) {
            if profile == Profile::Signtool {
                return Err(Error::InvalidArgument(format!(
                    "the package's block map uses {own}: sign it with {own} (signtool requires \
                     the signature's digest to be the block map's, error 151; the osslsigncode \
                     profile signs with {alg} over the {own} package digest)"
                )));
            }
        }
        let layout = self.signing_layout(profile)?;
        let d = self
            .digests(&layout, &[own], false)?
            .pop()
            .ok_or(Error::Internal("no digest computed"))?;
        let idc = spc::appx_indirect_data(own, &d.to_blob(), self.bundle)?;
        Ok(algs.iter().map(|_| idc.clone()).collect())
    }

    /// Whether `data`'s digest is that of the package as it is (signed) or as either layout
    /// would sign it.
    fn matches_indirect_data(&self, data: &IndirectData) -> Result<bool> {
        let Some(layout) = self.layout_for(data.digest_algorithm, &data.digest)? else {
            return Ok(false);
        };
        let d = self.digests(&layout, &[data.digest_algorithm], false)?;
        Ok(d.first().map(AppxDigest::to_blob).as_deref() == Some(data.digest.as_slice()))
    }

    /// The SIP (SpcSipInfo of the package or bundle SIP) and the digest algorithm (the block
    /// map's) of the signature.
    fn check_indirect_data(&self, data: &IndirectData) -> Result<SubjectCheck> {
        let guid = if self.bundle {
            &spc::APPX_BUNDLE_SIP_GUID
        } else {
            &spc::APPX_SIP_GUID
        };
        let want = spc::sip_info(spc::APPX_SIP_VERSION, guid)?;
        if data.data_type != oids::SPC_SIPINFO
            || data.data_value.as_deref() != Some(want.as_slice())
        {
            return Err(unsupported(format!(
                "the signature is not for the {} SIP (SpcSipInfo version 0x01010000 with its GUID)",
                if self.bundle {
                    "APPX bundle"
                } else {
                    "APPX package"
                }
            )));
        }
        if data.digest_algorithm != self.hash_algorithm() {
            return Err(unsupported(format!(
                "the signature's package digest is {} but the block map's hash is {} (Windows requires them equal)",
                data.digest_algorithm,
                self.hash_algorithm()
            )));
        }
        Ok(SubjectCheck::default())
    }

    fn content_problems(&self) -> Result<Vec<ContentProblem>> {
        self.content_check()
    }

    /// Packages are patched from `[Content_Types].xml` on (that part, the signature, the
    /// central directory): signing a 1 GiB package in place writes a few kilobytes.
    fn prepare_in_place(&self) -> bool {
        true
    }

    /// The patch that embeds `pkcs7`: the end of the file from `[Content_Types].xml` on
    /// replaced, under the undo journal; `None` when records after it would move (the package
    /// is then rewritten) or when that end is large (a huge signature entry or central
    /// directory: the journal keeps the old bytes).
    fn signature_patch(&self, pkcs7: &[u8]) -> Result<Option<crate::patch::Patch>> {
        let Some((offset, tail)) = self.signature_tail(pkcs7)? else {
            return Ok(None);
        };
        let old_len = self.input.len();
        if old_len.saturating_sub(offset) > MAX_PATCHED_TAIL {
            return Ok(None);
        }
        let old = read_vec(
            &*self.input,
            Format::Appx,
            offset,
            old_len.saturating_sub(offset),
            "end of the package",
        )?;
        Ok(Some(crate::patch::Patch {
            old_len,
            new_len: offset + tail.len() as u64,
            data: Vec::new(),
            commit: crate::patch::Range {
                offset,
                old,
                new: tail,
            },
        }))
    }

    fn publisher_mismatch(
        &self,
        signer: &x509_cert::Certificate,
    ) -> Result<Option<PublisherMismatch>> {
        let name = publisher::windows_name(signer.tbs_certificate().subject());
        Ok(
            (name != self.manifest.publisher).then(|| PublisherMismatch {
                declared: self.manifest.publisher.clone(),
                signer: name,
            }),
        )
    }

    fn signatures(&self) -> Result<Vec<Vec<u8>>> {
        let Some(i) = self.signature else {
            return Ok(Vec::new());
        };
        let e = self.entry(i)?;
        let part = read_part(&*self.input, e, p7x::MAX_SIZE)?;
        Ok(vec![p7x::decode(&part, e.data_offset)?.to_vec()])
    }

    /// Writes the package with `pkcs7` as its signature, in the layout whose digest `pkcs7`
    /// carries (signtool's when it carries neither).
    fn with_signature_unchecked(&self, pkcs7: &[u8], out: &mut dyn Write) -> Result<()> {
        let layout = match self.layout_of(pkcs7)? {
            Some(l) => l,
            None => self.signing_layout(Profile::Signtool)?,
        };
        self.write(&layout, Some(&p7x::encode(pkcs7)), 0, out)
    }

    fn without_signature(&self, out: &mut dyn Write) -> Result<()> {
        if self.signature.is_none() {
            return copy_range(&*self.input, 0, self.input.len(), out)
                .and_then(|()| out.flush().map_err(Error::from));
        }
        let layout = self.unsigned_layout()?;
        let disk = if self.archive.end_shape.count_marker {
            zip::MARKER16
        } else {
            0
        };
        self.write(&layout, None, disk, out)
    }
}
