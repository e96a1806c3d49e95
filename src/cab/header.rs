//! Bounded parse of a cabinet's CFHEADER (fixed fields, optional reserve fields and header
//! reserve `abReserve`, previous/next cabinet names) and CFFOLDER table, and of the Authenticode
//! layout of `abReserve`. Only header bytes are read; every offset and count is checked against
//! the file length before it is used.

use crate::error::{Error, Format, MalformedKind, Result};
use crate::input::{read_vec, Input};
use crate::le::{u16_at, u32_at};

/// Size of the fixed part of CFHEADER (up to and including `iCabinet`).
pub const FIXED_HEADER_SIZE: u64 = 36;
/// Size of `cbCFHeader` (u16), `cbCFFolder` (u8) and `cbCFData` (u8).
pub const RESERVE_FIELDS_SIZE: u64 = 4;
/// Size of a CFFOLDER entry without its per-folder reserve.
pub const FOLDER_SIZE: u64 = 8;
/// `flags` bit: the cabinet is not the first of a set (szCabinetPrev, szDiskPrev follow).
pub const FLAG_PREV_CABINET: u16 = 0x0001;
/// `flags` bit: the cabinet is not the last of a set (szCabinetNext, szDiskNext follow).
pub const FLAG_NEXT_CABINET: u16 = 0x0002;
/// `flags` bit: cbCFHeader, cbCFFolder and cbCFData (and the reserves they size) are present.
pub const FLAG_RESERVE_PRESENT: u16 = 0x0004;
/// Largest header reserve the cabinet format allows (`cbCFHeader` ≤ 60,000).
pub const MAX_HEADER_RESERVE: u16 = 60_000;
/// Longest cabinet or disk name, including its terminating NUL.
pub const MAX_NAME: u64 = 256;
/// Size of the Authenticode signature record in the header reserve: offset u32, length u32,
/// eight bytes of zeros.
pub const SIGNATURE_RECORD_SIZE: u16 = 16;

/// Where the PKCS#7 of a signed cabinet lives: after the cabinet data, at `cbCabinet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignatureLocation {
    /// File offset of the signature (equal to `cbCabinet`).
    pub offset: u32,
    /// Size in bytes, including any zero padding the writer added.
    pub length: u32,
}

/// What the header reserve `abReserve` holds.
///
/// Authenticode reads it as `u16 cb1, u16 cb2, cb1 bytes of structure 1, cb2 bytes of
/// structure 2`, zero padded to `cbCFHeader`; structure 2, when 16 bytes long, locates the
/// signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderReserve {
    /// `FLAG_RESERVE_PRESENT` is clear: no reserve fields at all.
    Absent,
    /// A reserve Authenticode can use (an empty one, `cbCFHeader` = 0, included).
    Authenticode {
        /// Structure 1 (kept and hashed when signing).
        structure1: Vec<u8>,
        /// The signature, when structure 2 is a signature record with a non-zero location.
        signature: Option<SignatureLocation>,
    },
    /// A reserve in another layout (too short for the two lengths, lengths past its end, or a
    /// structure 2 that is neither empty nor a 16-byte record): readable, not signable.
    Foreign(String),
}

/// The parts of a cabinet's headers that Authenticode needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CabHeader {
    /// Length of the file the header was read from.
    pub file_len: u64,
    /// The fixed CFHEADER fields, as stored.
    pub fixed: [u8; FIXED_HEADER_SIZE as usize],
    /// `cbCabinet`: the size of the cabinet without its signature.
    pub cb_cabinet: u32,
    /// `coffFiles`: offset of the first CFFILE entry.
    pub coff_files: u32,
    /// `cFolders`.
    pub folder_count: u16,
    /// `flags`.
    pub flags: u16,
    /// `cbCFFolder`: per-folder reserve size (0 without reserve fields).
    pub folder_reserve: u8,
    /// `cbCFData`: per-datablock reserve size (0 without reserve fields).
    pub data_reserve: u8,
    /// The raw header reserve `abReserve` (`cbCFHeader` bytes; empty without reserve fields).
    pub ab_reserve: Vec<u8>,
    /// Its Authenticode reading.
    pub reserve: HeaderReserve,
    /// The previous/next cabinet and disk names, each with its NUL, as stored.
    pub names: Vec<u8>,
    /// File offset of the first CFFOLDER entry (end of the names).
    pub folders_offset: u64,
    /// The 8 fixed bytes of each CFFOLDER (`coffCabStart`, `cCFData`, `typeCompress`), in
    /// order; the per-folder reserves are not read.
    pub folders: Vec<[u8; FOLDER_SIZE as usize]>,
    /// File offset just past the CFFOLDER table (with per-folder reserves).
    pub folders_end: u64,
}

fn malformed(offset: u64, kind: MalformedKind, what: impl Into<String>) -> Error {
    Error::malformed(Format::Cab, offset, kind, what)
}

/// Read a NUL-terminated name of at most [`MAX_NAME`] bytes at `offset`; returns it with its NUL.
fn read_name(input: &dyn Input, offset: u64, what: &str) -> Result<Vec<u8>> {
    let avail = input.len().saturating_sub(offset).min(MAX_NAME);
    let buf = read_vec(input, Format::Cab, offset, avail, what)?;
    match buf.iter().position(|&b| b == 0) {
        Some(nul) => Ok(buf.get(..=nul).unwrap_or_default().to_vec()),
        None => Err(malformed(
            offset,
            MalformedKind::LimitExceeded,
            format!("{what}: no NUL terminator within {avail} bytes (at most {MAX_NAME})"),
        )),
    }
}

/// Read `abReserve` as Authenticode lays it out. `at` is its file offset, for messages.
pub fn parse_reserve(ab: &[u8], at: u64) -> HeaderReserve {
    if ab.is_empty() {
        return HeaderReserve::Authenticode {
            structure1: Vec::new(),
            signature: None,
        };
    }
    let (Some(cb1), Some(cb2)) = (u16_at(ab, 0), u16_at(ab, 2)) else {
        return HeaderReserve::Foreign(format!(
            "header reserve at {at:#x} of {} bytes is too short for the Authenticode lengths",
            ab.len()
        ));
    };
    let s1_end = 4 + usize::from(cb1);
    let s2_end = s1_end + usize::from(cb2);
    let (Some(structure1), Some(structure2)) = (ab.get(4..s1_end), ab.get(s1_end..s2_end)) else {
        return HeaderReserve::Foreign(format!(
            "header reserve at {at:#x}: structures of {cb1} and {cb2} bytes do not fit its {} \
             bytes",
            ab.len()
        ));
    };
    let signature = match cb2 {
        0 => None,
        SIGNATURE_RECORD_SIZE => {
            let offset = u32_at(structure2, 0).unwrap_or(0);
            let length = u32_at(structure2, 4).unwrap_or(0);
            (offset != 0 || length != 0).then_some(SignatureLocation { offset, length })
        }
        n => {
            return HeaderReserve::Foreign(format!(
                "header reserve at {at:#x}: a structure 2 of {n} bytes is not a signature record"
            ))
        }
    };
    HeaderReserve::Authenticode {
        structure1: structure1.to_vec(),
        signature,
    }
}

impl CabHeader {
    /// Parse the CFHEADER and CFFOLDER table of `input`.
    pub fn parse(input: &dyn Input) -> Result<Self> {
        let file_len = input.len();
        if file_len < FIXED_HEADER_SIZE {
            return Err(malformed(
                0,
                MalformedKind::Truncated,
                format!("not a cabinet: {file_len} bytes is too short for a CFHEADER"),
            ));
        }
        let raw = read_vec(input, Format::Cab, 0, FIXED_HEADER_SIZE, "CFHEADER")?;
        let mut fixed = [0u8; FIXED_HEADER_SIZE as usize];
        fixed.copy_from_slice(&raw);
        if fixed.get(..4) != Some(b"MSCF".as_slice()) {
            return Err(malformed(
                0,
                MalformedKind::WrongFormat,
                "not a cabinet: no \"MSCF\" signature",
            ));
        }
        let short = || malformed(0, MalformedKind::Truncated, "short CFHEADER");
        let cb_cabinet = u32_at(&fixed, 8).ok_or_else(short)?;
        let coff_files = u32_at(&fixed, 16).ok_or_else(short)?;
        let folder_count = u16_at(&fixed, 26).ok_or_else(short)?;
        let flags = u16_at(&fixed, 30).ok_or_else(short)?;

        let mut pos = FIXED_HEADER_SIZE;
        let (mut folder_reserve, mut data_reserve) = (0u8, 0u8);
        let mut ab_reserve = Vec::new();
        let mut reserve = HeaderReserve::Absent;
        if flags & FLAG_RESERVE_PRESENT != 0 {
            let f = read_vec(
                input,
                Format::Cab,
                pos,
                RESERVE_FIELDS_SIZE,
                "reserve sizes",
            )?;
            let cb_header = u16_at(&f, 0).ok_or_else(short)?;
            folder_reserve = f.get(2).copied().unwrap_or(0);
            data_reserve = f.get(3).copied().unwrap_or(0);
            if cb_header > MAX_HEADER_RESERVE {
                return Err(malformed(
                    pos,
                    MalformedKind::LimitExceeded,
                    format!("cbCFHeader {cb_header} exceeds the maximum of {MAX_HEADER_RESERVE}"),
                ));
            }
            pos += RESERVE_FIELDS_SIZE;
            ab_reserve = read_vec(
                input,
                Format::Cab,
                pos,
                u64::from(cb_header),
                "header reserve (abReserve)",
            )?;
            reserve = parse_reserve(&ab_reserve, pos);
            pos += u64::from(cb_header);
        }

        let mut names = Vec::new();
        let mut name_fields = Vec::new();
        if flags & FLAG_PREV_CABINET != 0 {
            name_fields.extend(["szCabinetPrev", "szDiskPrev"]);
        }
        if flags & FLAG_NEXT_CABINET != 0 {
            name_fields.extend(["szCabinetNext", "szDiskNext"]);
        }
        for what in name_fields {
            let name = read_name(input, pos, what)?;
            pos += name.len() as u64; // at most MAX_NAME
            names.extend_from_slice(&name);
        }

        let folders_offset = pos;
        let entry = FOLDER_SIZE + u64::from(folder_reserve);
        let table_len = entry * u64::from(folder_count); // ≤ 263 × 65535: no overflow
        let folders_end = folders_offset + table_len;
        if folders_end > file_len {
            return Err(malformed(
                26,
                MalformedKind::Truncated,
                format!(
                    "cFolders {folder_count}: the CFFOLDER table at {folders_offset:#x} runs past \
                     the end of the file ({file_len:#x})"
                ),
            ));
        }
        let mut folders = Vec::with_capacity(usize::from(folder_count));
        for i in 0..u64::from(folder_count) {
            let at = folders_offset + i * entry;
            let f = read_vec(input, Format::Cab, at, FOLDER_SIZE, "CFFOLDER")?;
            let mut e = [0u8; FOLDER_SIZE as usize];
            e.copy_from_slice(&f);
            folders.push(e);
        }

        let header = Self {
            file_len,
            fixed,
            cb_cabinet,
            coff_files,
            folder_count,
            flags,
            folder_reserve,
            data_reserve,
            ab_reserve,
            reserve,
            names,
            folders_offset,
            folders,
            folders_end,
        };
        header.check_layout()?;
        Ok(header)
    }

    /// Check the offsets against each other and the file length.
    fn check_layout(&self) -> Result<()> {
        let data_end = u64::from(self.cb_cabinet);
        match self.signature() {
            Some(sig) => {
                let reserve_at = FIXED_HEADER_SIZE + RESERVE_FIELDS_SIZE;
                if sig.length == 0 || sig.offset != self.cb_cabinet {
                    return Err(malformed(
                        reserve_at,
                        MalformedKind::InvalidValue,
                        format!(
                            "signature record (offset {:#x}, {} bytes) does not start at the end \
                             of the cabinet (cbCabinet {:#x})",
                            sig.offset, sig.length, self.cb_cabinet
                        ),
                    ));
                }
                let end = u64::from(sig.offset) + u64::from(sig.length);
                if end != self.file_len {
                    return Err(malformed(
                        reserve_at,
                        MalformedKind::Truncated,
                        format!(
                            "signature ({} bytes at {:#x}) does not end at the end of the file \
                             ({:#x})",
                            sig.length, sig.offset, self.file_len
                        ),
                    ));
                }
            }
            None => {
                if data_end != self.file_len {
                    return Err(malformed(
                        8,
                        MalformedKind::WrongFormat,
                        format!(
                            "cbCabinet {data_end:#x} is not the file length ({:#x})",
                            self.file_len
                        ),
                    ));
                }
            }
        }
        let coff = u64::from(self.coff_files);
        if coff < self.folders_end || coff > data_end {
            return Err(malformed(
                16,
                MalformedKind::Truncated,
                format!(
                    "coffFiles {coff:#x} is outside the cabinet data ({:#x}..{data_end:#x})",
                    self.folders_end
                ),
            ));
        }
        for (i, folder) in self.folders.iter().enumerate() {
            let s = u64::from(u32_at(folder, 0).unwrap_or(0));
            if s < self.folders_end || s > data_end {
                return Err(malformed(
                    self.folders_offset + i as u64 * (FOLDER_SIZE + u64::from(self.folder_reserve)),
                    MalformedKind::Truncated,
                    format!(
                        "folder {i}: coffCabStart {s:#x} is outside the cabinet data \
                         ({:#x}..{data_end:#x})",
                        self.folders_end
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The embedded signature's location, if the header reserve records one.
    pub fn signature(&self) -> Option<SignatureLocation> {
        match &self.reserve {
            HeaderReserve::Authenticode { signature, .. } => *signature,
            _ => None,
        }
    }

    /// Size of the header up to the first CFFOLDER (fixed fields, reserve, names).
    pub fn prefix_len(&self) -> u64 {
        self.folders_offset
    }

    /// Size of one CFFOLDER entry with its per-folder reserve.
    pub fn folder_entry_len(&self) -> u64 {
        FOLDER_SIZE + u64::from(self.folder_reserve)
    }
}
