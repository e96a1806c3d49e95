//! The cabinet subject (`.cab`, "MSCF"): Authenticode digest, reading the signature located by
//! the CFHEADER reserve area, and writing the cabinet with a new signature (adding the reserve
//! area when there is none) or with none.
//!
//! # Layout of a signed cabinet
//!
//! The signature follows the cabinet data: `cbCabinet` counts the cabinet without it. The
//! header reserve `abReserve` (`cbCFHeader` bytes, present when `FLAG_RESERVE_PRESENT` is set)
//! is read as `u16 cb1, u16 cb2, structure 1 (cb1 bytes), structure 2 (cb2 bytes)`, zero
//! padded; a 16-byte structure 2 is the signature record `{u32 offset, u32 length, 8 zero
//! bytes}`. Signing a cabinet without a reserve inserts `cbCFHeader = 20, cbCFFolder = 0,
//! cbCFData = 0` and the 20-byte reserve `00 00 10 00 | offset | length | 0 × 8` after the
//! fixed header, and moves `cbCabinet`, `coffFiles` and every `coffCabStart` by 24. Like
//! osslsigncode, the signature is zero padded to a multiple of 8 bytes and the recorded length
//! counts that padding.
//!
//! # Digest
//!
//! The digest is taken over the cabinet as it is (or will be) when signed, so it is the same
//! before and after signing:
//! `"MSCF"` (csumHeader/reserved1 skipped), the header bytes 8..36 (`cbCabinet`, reserved2,
//! `coffFiles`, reserved3, version, `cFolders`, `cFiles`, `flags`, `setID`, `iCabinet`), then
//! `cb1` and structure 1 of the reserve (`cbCFHeader`, `cbCFFolder`, `cbCFData`, `cb2` and the
//! signature record are skipped), the previous/next cabinet and disk names, each CFFOLDER with
//! its per-folder reserve, and everything after the folder table up to `cbCabinet`.
//!
//! This is jsign's reading. osslsigncode 2.9 hashes `iCabinet`'s two bytes as skipped and the
//! last four bytes of its 20-byte reserve instead; for a cabinet that is the first of its set
//! (`iCabinet` = 0) the hashed bytes are identical. osslsigncode also leaves the cabinet names
//! out when signing but hashes them when verifying, so the cabinets it signs that have a next
//! cabinet fail its own verification; we hash them (as its verifier and jsign do).

#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod header;

use std::io::Write;

use crate::digest::hash_range;
use crate::digest::{DigestAlgorithm, MultiDigest};
use crate::error::{Error, Format, MalformedKind, Result};
use crate::input::{copy_range, read_vec, Input};
use crate::subject::{Subject, SubjectOptions};

pub use header::{CabHeader, HeaderReserve, SignatureLocation};
use header::{FIXED_HEADER_SIZE, FLAG_RESERVE_PRESENT, FOLDER_SIZE, SIGNATURE_RECORD_SIZE};

/// Largest embedded signature read into memory (bytes).
pub const MAX_SIGNATURE_SIZE: u32 = 64 << 20;

/// Size of the header reserve that signing adds to a cabinet that has none.
const SIGNATURE_RESERVE_SIZE: usize = 4 + SIGNATURE_RECORD_SIZE as usize;

/// A parsed cabinet.
pub struct CabSubject<'a> {
    input: crate::input::SharedInput<'a>,
    header: CabHeader,
}

impl std::fmt::Debug for CabSubject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CabSubject")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

/// The reserve fields of a cabinet this subject writes.
enum NewReserve {
    /// No reserve fields (`FLAG_RESERVE_PRESENT` cleared).
    Absent,
    /// `cbCFHeader = ab.len()`, the given per-folder and per-datablock sizes, and `ab`.
    Present { folder: u8, data: u8, ab: Vec<u8> },
}

/// A rewritten cabinet header and where its parts are.
struct Plan {
    /// Fixed header, reserve fields, `abReserve` and names, with offsets moved.
    prefix: Vec<u8>,
    /// `cb1` and structure 1 of `abReserve` (the hashed part of the reserve).
    hashed_reserve: Vec<u8>,
    /// Offset of the names in `prefix`.
    names_at: usize,
    /// The CFFOLDER entries (without reserves) with `coffCabStart` moved.
    folders: Vec<[u8; FOLDER_SIZE as usize]>,
}

fn malformed(offset: u64, kind: MalformedKind, what: impl Into<String>) -> Error {
    Error::malformed(Format::Cab, offset, kind, what)
}

fn moved(value: u32, shift: i64, what: &str) -> Result<u32> {
    i64::from(value)
        .checked_add(shift)
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| Error::Unsupported(format!("{what} {value:#x} cannot move by {shift}")))
}

/// The little-endian u32 at `at` in `buf`, or 0 if `buf` is too short.
fn get_u32(buf: &[u8], at: usize) -> u32 {
    buf.get(at..at.saturating_add(4))
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_le_bytes)
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    if let Some(b) = buf.get_mut(at..at + 4) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

impl<'a> CabSubject<'a> {
    /// Parse the header of the cabinet in `input`.
    pub fn parse(input: impl Input + 'a) -> Result<Self> {
        let input: crate::input::SharedInput<'a> = std::sync::Arc::new(input);
        let header = CabHeader::parse(&*input)?;
        Ok(Self { input, header })
    }

    /// The parsed header.
    pub fn header(&self) -> &CabHeader {
        &self.header
    }

    /// Whether the header reserve records a signature.
    pub fn is_signed(&self) -> bool {
        self.header.signature().is_some()
    }

    /// Structure 1 of an Authenticode header reserve (empty without a reserve); an
    /// [`Error::Unsupported`] for a reserve in a foreign layout, which signing would destroy.
    fn structure1(&self) -> Result<&[u8]> {
        match &self.header.reserve {
            HeaderReserve::Absent => Ok(&[]),
            HeaderReserve::Authenticode { structure1, .. } => Ok(structure1),
            HeaderReserve::Foreign(why) => Err(Error::Unsupported(format!(
                "cannot sign this cabinet: {why}"
            ))),
        }
    }

    /// The header reserve of the signed cabinet: structure 1 kept, then a signature record of
    /// `sig_len` bytes (its offset is filled in by [`Self::plan`]), zero padded to the old
    /// reserve size when that is larger.
    fn signed_reserve(&self, sig_len: u32) -> Result<NewReserve> {
        let s1 = self.structure1()?;
        let cb1 = u16::try_from(s1.len()).unwrap_or(u16::MAX);
        let mut ab = Vec::with_capacity(SIGNATURE_RESERVE_SIZE + s1.len());
        ab.extend_from_slice(&cb1.to_le_bytes());
        ab.extend_from_slice(&SIGNATURE_RECORD_SIZE.to_le_bytes());
        ab.extend_from_slice(s1);
        ab.extend_from_slice(&[0; 4]);
        ab.extend_from_slice(&sig_len.to_le_bytes());
        ab.extend_from_slice(&[0; 8]);
        if ab.len() > usize::from(header::MAX_HEADER_RESERVE) {
            return Err(Error::Unsupported(
                "header reserve too large to add a signature record".into(),
            ));
        }
        ab.resize(ab.len().max(self.header.ab_reserve.len()), 0);
        Ok(NewReserve::Present {
            folder: self.header.folder_reserve,
            data: self.header.data_reserve,
            ab,
        })
    }

    /// The header reserve once the signature is removed: a 20-byte reserve holding only the
    /// signature record (what signing adds) goes away, with the reserve fields too when the
    /// folder and data reserves are empty; a larger one keeps its size with structure 2
    /// cleared, so a cabinet that had a zero-filled reserve gets it back.
    fn unsigned_reserve(&self) -> NewReserve {
        let h = &self.header;
        let s1: &[u8] = match &h.reserve {
            HeaderReserve::Authenticode { structure1, .. } => structure1,
            _ => &[],
        };
        if s1.is_empty() && h.ab_reserve.len() == SIGNATURE_RESERVE_SIZE {
            if h.folder_reserve == 0 && h.data_reserve == 0 {
                return NewReserve::Absent;
            }
            return NewReserve::Present {
                folder: h.folder_reserve,
                data: h.data_reserve,
                ab: Vec::new(),
            };
        }
        let cb1 = u16::try_from(s1.len()).unwrap_or(u16::MAX);
        let mut ab = Vec::with_capacity(h.ab_reserve.len());
        ab.extend_from_slice(&cb1.to_le_bytes());
        ab.extend_from_slice(&[0; 2]);
        ab.extend_from_slice(s1);
        ab.resize(h.ab_reserve.len().max(ab.len()), 0);
        NewReserve::Present {
            folder: h.folder_reserve,
            data: h.data_reserve,
            ab,
        }
    }

    /// Lay out the header of the cabinet rewritten with `reserve`, moving `cbCabinet`,
    /// `coffFiles`, every `coffCabStart` and (when `reserve` holds one) the signature record's
    /// offset by the change in header size.
    fn plan(&self, reserve: &NewReserve) -> Result<Plan> {
        let h = &self.header;
        let mut prefix = h.fixed.to_vec();
        let mut flags = h.flags;
        let mut hashed_reserve = Vec::new();
        let mut record_at = None;
        match reserve {
            NewReserve::Absent => flags &= !FLAG_RESERVE_PRESENT,
            NewReserve::Present { folder, data, ab } => {
                flags |= FLAG_RESERVE_PRESENT;
                let cb = u16::try_from(ab.len())
                    .map_err(|_| Error::Unsupported("header reserve too large".into()))?;
                prefix.extend_from_slice(&cb.to_le_bytes());
                prefix.extend_from_slice(&[*folder, *data]);
                let ab_at = prefix.len();
                prefix.extend_from_slice(ab);
                if let (Some(cb1), Some(cb2)) = (ab.get(0..2), ab.get(2..4)) {
                    let cb1_len = usize::from(u16::from_le_bytes(
                        <[u8; 2]>::try_from(cb1).unwrap_or_default(),
                    ));
                    hashed_reserve.extend_from_slice(cb1);
                    hashed_reserve.extend_from_slice(ab.get(4..4 + cb1_len).unwrap_or_default());
                    if cb2 == SIGNATURE_RECORD_SIZE.to_le_bytes() {
                        record_at = Some(ab_at + 4 + cb1_len);
                    }
                }
            }
        }
        if let Some(f) = prefix.get_mut(30..32) {
            f.copy_from_slice(&flags.to_le_bytes());
        }
        let names_at = prefix.len();
        prefix.extend_from_slice(&h.names);
        let shift = prefix.len() as i64 - h.prefix_len() as i64;
        let cb_cabinet = moved(h.cb_cabinet, shift, "cbCabinet")?;
        put_u32(&mut prefix, 8, cb_cabinet);
        put_u32(&mut prefix, 16, moved(h.coff_files, shift, "coffFiles")?);
        if let Some(at) = record_at {
            put_u32(&mut prefix, at, cb_cabinet);
        }
        let folders = h
            .folders
            .iter()
            .map(|f| {
                let mut f = *f;
                let start = get_u32(&f, 0);
                put_u32(&mut f, 0, moved(start, shift, "coffCabStart")?);
                Ok(f)
            })
            .collect::<Result<_>>()?;
        Ok(Plan {
            prefix,
            hashed_reserve,
            names_at,
            folders,
        })
    }

    /// Write the cabinet laid out by `plan`, then `tail`.
    fn write_plan(&self, plan: &Plan, tail: &[&[u8]], out: &mut dyn Write) -> Result<()> {
        let h = &self.header;
        out.write_all(&plan.prefix)?;
        let entry = h.folder_entry_len();
        for (i, f) in plan.folders.iter().enumerate() {
            out.write_all(f)?;
            let reserve_at = h.folders_offset + i as u64 * entry + FOLDER_SIZE;
            copy_range(&*self.input, reserve_at, u64::from(h.folder_reserve), out)?;
        }
        copy_range(
            &*self.input,
            h.folders_end,
            u64::from(h.cb_cabinet).saturating_sub(h.folders_end),
            out,
        )?;
        for t in tail {
            out.write_all(t)?;
        }
        out.flush()?;
        Ok(())
    }
}

impl Subject for CabSubject<'_> {
    fn format(&self) -> Format {
        Format::Cab
    }

    fn digest(&self, algs: &[DigestAlgorithm]) -> Result<Vec<Vec<u8>>> {
        let h = &self.header;
        let sig_len = h.signature().map_or(0, |s| s.length);
        let plan = self.plan(&self.signed_reserve(sig_len)?)?;
        let mut md = MultiDigest::new(algs);
        md.update(plan.prefix.get(..4).unwrap_or_default());
        md.update(
            plan.prefix
                .get(8..FIXED_HEADER_SIZE as usize)
                .unwrap_or_default(),
        );
        md.update(&plan.hashed_reserve);
        md.update(plan.prefix.get(plan.names_at..).unwrap_or_default());
        let entry = h.folder_entry_len();
        for (i, f) in plan.folders.iter().enumerate() {
            md.update(f);
            let reserve_at = h.folders_offset + i as u64 * entry + FOLDER_SIZE;
            hash_range(
                &*self.input,
                reserve_at,
                u64::from(h.folder_reserve),
                &mut md,
            )?;
        }
        hash_range(
            &*self.input,
            h.folders_end,
            u64::from(h.cb_cabinet).saturating_sub(h.folders_end),
            &mut md,
        )?;
        Ok(md.finalize())
    }

    /// The cabinet digest of the file as it is: of a signed cabinet, its Authenticode digest;
    /// of an unsigned one, every byte but the four of `reserved1` (offsets 4 to 8), without
    /// the reserve that signing would add. makecat lists cabinets this way (the unsigned
    /// `unsigned.ex_` member of osslsigncode's test catalog), and osslsigncode hashes an
    /// unsigned cabinet so for `verify -catalog`.
    fn catalog_digest(&self, algs: &[DigestAlgorithm]) -> Result<Option<Vec<Vec<u8>>>> {
        if self.is_signed() {
            return self.digest(algs).map(Some);
        }
        let mut md = MultiDigest::new(algs);
        let end = self.header.file_len;
        hash_range(&*self.input, 0, 4, &mut md)?;
        hash_range(&*self.input, 8, end.saturating_sub(8), &mut md)?;
        Ok(Some(md.finalize()))
    }

    fn indirect_data(&self, alg: DigestAlgorithm, opts: &SubjectOptions) -> Result<Vec<u8>> {
        if opts.page_hashes {
            return Err(Error::Unsupported(
                "page hashes exist only for PE files".into(),
            ));
        }
        let digest = self
            .digest(&[alg])?
            .pop()
            .ok_or_else(|| Error::Internal("no digest computed"))?;
        crate::cms::spc::cab_indirect_data(alg, &digest)
    }

    /// The PKCS#7 at the location the header reserve records, without its zero padding.
    fn signatures(&self) -> Result<Vec<Vec<u8>>> {
        let Some(sig) = self.header.signature() else {
            return Ok(Vec::new());
        };
        if sig.length > MAX_SIGNATURE_SIZE {
            return Err(Error::Unsupported(format!(
                "cabinet signature of {} bytes (at most {MAX_SIGNATURE_SIZE} are read)",
                sig.length
            )));
        }
        let offset = u64::from(sig.offset);
        let data = read_vec(
            &*self.input,
            Format::Cab,
            offset,
            u64::from(sig.length),
            "signature",
        )?;
        let der = crate::cms::trim_padded(&data).map_err(|e| match e {
            Error::Malformed(m) => malformed(
                offset.saturating_add(m.offset),
                m.kind,
                format!("cabinet signature: {}", m.what),
            ),
            e => e,
        })?;
        Ok(vec![der.to_vec()])
    }

    /// Writes the cabinet with a signature record for `pkcs7` in its header reserve (added,
    /// with every offset and `cbCabinet` moved, when there is none) and `pkcs7` zero padded to
    /// 8 bytes after the cabinet data: byte for byte what osslsigncode writes.
    fn with_signature_unchecked(&self, pkcs7: &[u8], out: &mut dyn Write) -> Result<()> {
        let padded = pkcs7.len().div_ceil(8).saturating_mul(8);
        let sig_len = u32::try_from(padded)
            .ok()
            .filter(|&l| l <= MAX_SIGNATURE_SIZE)
            .ok_or_else(|| Error::Unsupported("signature too large for a cabinet".into()))?;
        let plan = self.plan(&self.signed_reserve(sig_len)?)?;
        let end = u64::from(get_u32(&plan.prefix, 8));
        if end + u64::from(sig_len) > u64::from(u32::MAX) {
            return Err(Error::Unsupported(
                "signed cabinet would exceed 4 GiB".into(),
            ));
        }
        let zeros = [0u8; 8];
        let pad = zeros
            .get(..padded.saturating_sub(pkcs7.len()))
            .unwrap_or_default();
        self.write_plan(&plan, &[pkcs7, pad], out)
    }

    /// Writes the cabinet without its signature. A reserve that signing added is removed again
    /// (so signing then removing gives the unsigned input back, and a cabinet signed by
    /// osslsigncode comes out as `osslsigncode remove-signature` writes it); a larger reserve
    /// keeps its size with the signature record cleared.
    ///
    /// An unsigned cabinet is copied unchanged (osslsigncode refuses it with "No signature
    /// found"; removing nothing is not an error here).
    fn without_signature(&self, out: &mut dyn Write) -> Result<()> {
        if !self.is_signed() {
            copy_range(&*self.input, 0, self.header.file_len, out)?;
            out.flush()?;
            return Ok(());
        }
        let plan = self.plan(&self.unsigned_reserve())?;
        self.write_plan(&plan, &[], out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_a_cabinet() {
        for bad in [&b""[..], b"MSCF", &[0u8; 200], b"MZ\x90\x00"] {
            let err = CabSubject::parse(bad).unwrap_err();
            assert!(matches!(err, Error::Malformed(_)), "{err}");
        }
    }

    #[test]
    fn reserve_layouts() {
        assert_eq!(
            header::parse_reserve(&[], 0),
            HeaderReserve::Authenticode {
                structure1: vec![],
                signature: None
            }
        );
        let mut ab = vec![2, 0, 16, 0, 0xaa, 0xbb];
        ab.extend(100u32.to_le_bytes());
        ab.extend(8u32.to_le_bytes());
        ab.extend([0; 8]);
        assert_eq!(
            header::parse_reserve(&ab, 0),
            HeaderReserve::Authenticode {
                structure1: vec![0xaa, 0xbb],
                signature: Some(SignatureLocation {
                    offset: 100,
                    length: 8
                })
            }
        );
        assert!(matches!(
            header::parse_reserve(&[1, 0], 0),
            HeaderReserve::Foreign(_)
        ));
        assert!(matches!(
            header::parse_reserve(&[0, 0, 3, 0, 1, 2, 3], 0),
            HeaderReserve::Foreign(_)
        ));
        assert!(matches!(
            header::parse_reserve(&[9, 0, 0, 0], 0),
            HeaderReserve::Foreign(_)
        ));
    }
}
