//! Reading a package's ZIP structure through [`Input`], strictly and in bounded pieces: the
//! end records at the very end of the file (no comment, nothing after them), the central
//! directory (at most [`MAX_CENTRAL_DIRECTORY`] bytes), then each local header. Only headers
//! are read here; entry data is streamed later.
//!
//! What a package may not do (each is a typed error, never a panic): data before the first
//! entry, between entries or between the last entry and the central directory; entries that
//! overlap; local headers that disagree with the central directory (name, method, flags,
//! sizes, CRC in the data descriptor); duplicate or empty names; comments; extra fields other
//! than ZIP64; encryption; methods other than stored and deflate; sizes a deflate stream
//! cannot have (zip bombs); more than [`MAX_ENTRIES`] entries.

use std::collections::HashSet;

use super::zip::{
    CentralHeader, EndShape, LocalHeader, Zip64Fields, CENTRAL_HEADER_LEN,
    CENTRAL_HEADER_SIGNATURE, DESCRIPTOR_SIGNATURE, END_LEN, END_SIGNATURE, FLAG_DESCRIPTOR,
    LOCAL_HEADER_LEN, LOCAL_HEADER_SIGNATURE, MARKER16, MARKER32, METHOD_DEFLATE, METHOD_STORED,
    UNSUPPORTED_FLAGS, ZIP64_END_LEN, ZIP64_END_RECORD_SIZE, ZIP64_END_SIGNATURE, ZIP64_EXTRA_ID,
    ZIP64_LOCATOR_LEN, ZIP64_LOCATOR_SIGNATURE,
};
use super::{malformed, unsupported};
use crate::error::{Format, MalformedKind, Result};
use crate::input::{read_vec, Input};
use crate::le::{u16_at, u32_at};

/// Largest central directory read (bytes).
pub const MAX_CENTRAL_DIRECTORY: u64 = 64 << 20;
/// Most entries in a package.
pub const MAX_ENTRIES: u64 = 1 << 20;
/// Largest ratio of uncompressed to compressed size a deflate stream can reach (a 258-byte
/// match costs at least two bits: about 1032 to 1), plus slack for tiny streams.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// One entry: its central directory header (as parsed and as stored) and its local record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name, as stored (UTF-8).
    pub name: String,
    /// The central directory header.
    pub central: CentralHeader,
    /// The central directory header's bytes, as stored.
    pub central_raw: Vec<u8>,
    /// The local file header.
    pub local: LocalHeader,
    /// Offset of the data (after the local header).
    pub data_offset: u64,
    /// Length of the data descriptor after the data (0 without one).
    pub descriptor_len: u64,
}

impl Entry {
    /// Offset of the local header.
    pub fn local_offset(&self) -> u64 {
        self.central.local_offset
    }

    /// End of the local record: header, data and data descriptor.
    pub fn end(&self) -> u64 {
        self.data_offset + self.central.compressed_size + self.descriptor_len
    }

    /// Length of the local record.
    pub fn record_len(&self) -> u64 {
        self.end() - self.local_offset()
    }

    /// Whether the entry is deflated (else stored).
    pub fn is_deflated(&self) -> bool {
        self.central.method == METHOD_DEFLATE
    }
}

/// A package's ZIP structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    /// Length of the file.
    pub file_len: u64,
    /// The entries, in central directory order.
    pub entries: Vec<Entry>,
    /// Indices into `entries` in local header order (file order).
    pub local_order: Vec<usize>,
    /// Offset of the central directory (= end of the last local record).
    pub cd_offset: u64,
    /// Size of the central directory.
    pub cd_size: u64,
    /// Shape of the end records.
    pub end_shape: EndShape,
    /// The end record's disk number fields (0, or 0xffff as makeappx writes).
    pub end_disk: u16,
}

impl Archive {
    /// Whether the archive has ZIP64 end records.
    pub fn is_zip64(&self) -> bool {
        self.end_shape.zip64.is_some()
    }

    /// The entry named `name`.
    pub fn find(&self, name: &str) -> Option<(usize, &Entry)> {
        self.entries
            .iter()
            .enumerate()
            .find(|(_, e)| e.name == name)
    }

    /// The entry whose local record comes last in the file.
    pub fn last_local(&self) -> Option<usize> {
        self.local_order.last().copied()
    }

    /// Read and check the ZIP structure of `input`.
    pub fn read(input: &dyn Input) -> Result<Self> {
        let file_len = input.len();
        if file_len < END_LEN {
            return Err(malformed(
                0,
                MalformedKind::Truncated,
                format!("{file_len} bytes is too short for a ZIP package"),
            ));
        }
        let end_at = file_len - END_LEN;
        let end = read_vec(
            input,
            Format::Appx,
            end_at,
            END_LEN,
            "end of central directory",
        )?;
        if u32_at(&end, 0) != Some(END_SIGNATURE) {
            return Err(malformed(
                end_at,
                MalformedKind::TrailingData,
                "no end of central directory record at the end of the file (a package has no \
                 archive comment and nothing after its central directory)",
            ));
        }
        let f16 = |at| u16_at(&end, at).unwrap_or(0);
        let f32 = |at| u32_at(&end, at).unwrap_or(0);
        let (disk, cd_disk, count_disk, count) = (f16(4), f16(6), f16(8), f16(10));
        let (size32, offset32, comment) = (f32(12), f32(16), f16(20));
        if comment != 0 {
            return Err(malformed(
                end_at + 20,
                MalformedKind::TrailingData,
                "archive comment in a package",
            ));
        }
        if disk != cd_disk || (disk != 0 && disk != MARKER16) {
            return Err(malformed(
                end_at + 4,
                MalformedKind::InvalidValue,
                format!("disk numbers {disk:#x}/{cd_disk:#x} (a package is one disk: 0 or 0xffff)"),
            ));
        }
        if count_disk != count {
            return Err(malformed(
                end_at + 8,
                MalformedKind::Inconsistent,
                format!("entry counts {count_disk} and {count} differ (one disk)"),
            ));
        }
        let mut shape = EndShape {
            zip64: None,
            count_marker: count == MARKER16,
            size_marker: size32 == MARKER32,
            offset_marker: offset32 == MARKER32,
        };
        let (mut n, mut cd_size, mut cd_offset) =
            (u64::from(count), u64::from(size32), u64::from(offset32));
        let mut cd_end = end_at;
        if let Some(loc_at) = end_at.checked_sub(ZIP64_LOCATOR_LEN) {
            let loc = read_vec(
                input,
                Format::Appx,
                loc_at,
                ZIP64_LOCATOR_LEN,
                "ZIP64 locator",
            )?;
            if u32_at(&loc, 0) == Some(ZIP64_LOCATOR_SIGNATURE) {
                let z = read_zip64_end(input, &loc, loc_at)?;
                let check = |marker: bool, value32: u64, value64: u64, at: u64, what: &str| {
                    if marker || value32 == value64 {
                        Ok(())
                    } else {
                        Err(malformed(
                            at, MalformedKind::Inconsistent,
                            format!("end record {what} {value32} differs from the ZIP64 end record's {value64}"),
                        ))
                    }
                };
                check(shape.count_marker, n, z.count, end_at + 10, "entry count")?;
                check(
                    shape.size_marker,
                    cd_size,
                    z.size,
                    end_at + 12,
                    "central directory size",
                )?;
                check(
                    shape.offset_marker,
                    cd_offset,
                    z.offset,
                    end_at + 16,
                    "central directory offset",
                )?;
                shape.zip64 = Some((z.made_by, z.needed));
                (n, cd_size, cd_offset, cd_end) = (z.count, z.size, z.offset, z.at);
            }
        }
        if shape.zip64.is_none() && (shape.count_marker || shape.size_marker || shape.offset_marker)
        {
            return Err(malformed(
                end_at,
                MalformedKind::WrongFormat,
                "the end record holds ZIP64 markers but there is no ZIP64 end record",
            ));
        }
        if n > MAX_ENTRIES {
            return Err(malformed(
                end_at + 10,
                MalformedKind::LimitExceeded,
                format!("{n} entries (at most {MAX_ENTRIES} are read)"),
            ));
        }
        if cd_size > MAX_CENTRAL_DIRECTORY {
            return Err(malformed(
                end_at + 12,
                MalformedKind::LimitExceeded,
                format!(
                    "a central directory of {cd_size} bytes (at most {MAX_CENTRAL_DIRECTORY} are read)"
                ),
            ));
        }
        if cd_offset.checked_add(cd_size) != Some(cd_end) {
            return Err(malformed(
                cd_end,
                MalformedKind::Inconsistent,
                format!(
                    "the central directory ({cd_size} bytes at {cd_offset:#x}) does not end where \
                     the end records start ({cd_end:#x})"
                ),
            ));
        }
        if n.saturating_mul(CENTRAL_HEADER_LEN) > cd_size {
            return Err(malformed(
                cd_offset,
                MalformedKind::LimitExceeded,
                format!("{n} entries cannot fit a central directory of {cd_size} bytes"),
            ));
        }
        let cd = read_vec(input, Format::Appx, cd_offset, cd_size, "central directory")?;
        let mut entries = Vec::with_capacity(n as usize);
        let mut names = HashSet::new();
        let mut pos = 0usize;
        for _ in 0..n {
            let (central, raw_len, name) = parse_central(&cd, pos, cd_offset)?;
            let at = cd_offset + pos as u64;
            if !names.insert(name.clone()) {
                return Err(malformed(
                    at,
                    MalformedKind::Inconsistent,
                    format!("duplicate entry {name:?}"),
                ));
            }
            let raw = cd.get(pos..pos + raw_len).unwrap_or_default().to_vec();
            pos += raw_len;
            entries.push((central, raw, name));
        }
        if pos as u64 != cd_size {
            return Err(malformed(
                cd_offset + pos as u64,
                MalformedKind::TrailingData,
                format!(
                    "{} bytes after the {n} central directory records",
                    cd_size - pos as u64
                ),
            ));
        }
        let mut local_order: Vec<usize> = (0..entries.len()).collect();
        local_order.sort_by_key(|&i| entries.get(i).map_or(0, |e| e.0.local_offset));
        let zip64 = shape.zip64.is_some();
        let mut read_entries: Vec<Option<Entry>> = vec![None; entries.len()];
        let mut expected_at = 0u64;
        for (k, &i) in local_order.iter().enumerate() {
            let Some((central, raw, name)) = entries.get(i) else {
                continue;
            };
            if central.local_offset != expected_at {
                return Err(malformed(
                    central.local_offset.min(expected_at),
                    MalformedKind::TrailingData,
                    if central.local_offset > expected_at {
                        format!(
                            "{} bytes of unknown data before the local header of {name:?}",
                            central.local_offset - expected_at
                        )
                    } else {
                        format!("the local record of {name:?} overlaps the one before it")
                    },
                ));
            }
            let next = local_order
                .get(k + 1)
                .and_then(|&j| entries.get(j))
                .map_or(cd_offset, |e| e.0.local_offset);
            let entry = read_local(input, central.clone(), raw.clone(), name, next, zip64)?;
            expected_at = entry.end();
            if let Some(slot) = read_entries.get_mut(i) {
                *slot = Some(entry);
            }
        }
        if expected_at != cd_offset {
            return Err(malformed(
                expected_at,
                MalformedKind::Inconsistent,
                "the central directory does not follow the last local record",
            ));
        }
        let entries: Vec<Entry> = read_entries.into_iter().flatten().collect();
        Ok(Self {
            file_len,
            entries,
            local_order,
            cd_offset,
            cd_size,
            end_shape: shape,
            end_disk: disk,
        })
    }
}

/// What the ZIP64 end record says.
struct Zip64End {
    at: u64,
    made_by: u16,
    needed: u16,
    count: u64,
    size: u64,
    offset: u64,
}

fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    let b = buf.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// The ZIP64 end record the locator `loc` (at `loc_at`) points to, which must end where the
/// locator starts.
fn read_zip64_end(input: &dyn Input, loc: &[u8], loc_at: u64) -> Result<Zip64End> {
    let disk = u32_at(loc, 4).unwrap_or(1);
    let at = u64_at(loc, 8).unwrap_or(u64::MAX);
    let disks = u32_at(loc, 16).unwrap_or(0);
    if disk != 0 || disks != 1 {
        return Err(malformed(
            loc_at,
            MalformedKind::InvalidValue,
            format!("ZIP64 locator: disk {disk} of {disks} (a package is one disk)"),
        ));
    }
    if at.checked_add(ZIP64_END_LEN) != Some(loc_at) {
        return Err(malformed(
            loc_at + 8,
            MalformedKind::Inconsistent,
            format!(
                "ZIP64 locator: the ZIP64 end record at {at:#x} does not end at the locator \
                 ({loc_at:#x}; extensible data is not allowed)"
            ),
        ));
    }
    let z = read_vec(input, Format::Appx, at, ZIP64_END_LEN, "ZIP64 end record")?;
    if u32_at(&z, 0) != Some(ZIP64_END_SIGNATURE) {
        return Err(malformed(
            at,
            MalformedKind::WrongFormat,
            "no ZIP64 end record where the locator points",
        ));
    }
    let record_size = u64_at(&z, 4).unwrap_or(0);
    if record_size != ZIP64_END_RECORD_SIZE {
        return Err(malformed(
            at + 4,
            MalformedKind::Truncated,
            format!("ZIP64 end record size {record_size} (44 without extensible data)"),
        ));
    }
    let (d1, d2) = (u32_at(&z, 16).unwrap_or(1), u32_at(&z, 20).unwrap_or(1));
    let (c1, c2) = (u64_at(&z, 24).unwrap_or(0), u64_at(&z, 32).unwrap_or(1));
    if d1 != 0 || d2 != 0 {
        return Err(malformed(
            at + 16,
            MalformedKind::InvalidValue,
            format!("ZIP64 end record: disks {d1}/{d2}"),
        ));
    }
    if c1 != c2 {
        return Err(malformed(
            at + 24,
            MalformedKind::Inconsistent,
            format!("ZIP64 end record: entry counts {c1} and {c2} differ"),
        ));
    }
    Ok(Zip64End {
        at,
        made_by: u16_at(&z, 12).unwrap_or(0),
        needed: u16_at(&z, 14).unwrap_or(0),
        count: c1,
        size: u64_at(&z, 40).unwrap_or(0),
        offset: u64_at(&z, 48).unwrap_or(0),
    })
}

/// Parse the central directory header at `pos` of `cd` (at file offset `base`): the header,
/// its stored length and its name.
fn parse_central(cd: &[u8], pos: usize, base: u64) -> Result<(CentralHeader, usize, String)> {
    let at = base + pos as u64;
    let h = cd
        .get(pos..pos + CENTRAL_HEADER_LEN as usize)
        .ok_or_else(|| {
            malformed(
                at,
                MalformedKind::Truncated,
                "central directory header runs past the directory",
            )
        })?;
    if u32_at(h, 0) != Some(CENTRAL_HEADER_SIGNATURE) {
        return Err(malformed(
            at,
            MalformedKind::WrongFormat,
            "no central directory header signature",
        ));
    }
    let f16 = |o| u16_at(h, o).unwrap_or(0);
    let f32 = |o| u32_at(h, o).unwrap_or(0);
    let (flags, method) = (f16(8), f16(10));
    let (name_len, extra_len, comment_len, disk) =
        (usize::from(f16(28)), usize::from(f16(30)), f16(32), f16(34));
    let name_at = pos + CENTRAL_HEADER_LEN as usize;
    let name_bytes = cd.get(name_at..name_at + name_len).ok_or_else(|| {
        malformed(
            at,
            MalformedKind::Truncated,
            "central directory name runs past the directory",
        )
    })?;
    let extra = cd
        .get(name_at + name_len..name_at + name_len + extra_len)
        .ok_or_else(|| {
            malformed(
                at,
                MalformedKind::Truncated,
                "central directory extra field runs past the directory",
            )
        })?;
    let name = std::str::from_utf8(name_bytes)
        .map_err(|_| {
            malformed(
                at + 46,
                MalformedKind::BadEncoding,
                "entry name is not UTF-8",
            )
        })?
        .to_string();
    if name.is_empty() {
        return Err(malformed(
            at + 28,
            MalformedKind::InvalidValue,
            "empty entry name",
        ));
    }
    if comment_len != 0 {
        return Err(malformed(
            at + 32,
            MalformedKind::TrailingData,
            format!("{name:?}: file comment in a package"),
        ));
    }
    if flags & UNSUPPORTED_FLAGS != 0 {
        return Err(unsupported(format!(
            "{name:?}: general purpose flags {flags:#06x} (encryption or reserved bits)"
        )));
    }
    if method != METHOD_STORED && method != METHOD_DEFLATE {
        return Err(unsupported(format!(
            "{name:?}: compression method {method} (packages use stored or deflate)"
        )));
    }
    let mut central = CentralHeader {
        version_made_by: f16(4),
        version_needed: f16(6),
        flags,
        method,
        time: f16(12),
        date: f16(14),
        crc32: f32(16),
        compressed_size: u64::from(f32(20)),
        uncompressed_size: u64::from(f32(24)),
        internal_attributes: f16(36),
        external_attributes: f32(38),
        local_offset: u64::from(f32(42)),
        name: name_bytes.to_vec(),
        zip64: Zip64Fields {
            uncompressed: f32(24) == MARKER32,
            compressed: f32(20) == MARKER32,
            offset: f32(42) == MARKER32,
            disk: disk == MARKER16,
        },
    };
    if disk != 0 && disk != MARKER16 {
        return Err(malformed(
            at + 34,
            MalformedKind::InvalidValue,
            format!("{name:?}: disk number {disk}"),
        ));
    }
    apply_zip64_extra(&mut central, extra, at + 46 + name_len as u64, &name)?;
    check_sizes(&central, at, &name)?;
    Ok((
        central,
        CENTRAL_HEADER_LEN as usize + name_len + extra_len,
        name,
    ))
}

/// Read the ZIP64 extra field (the only extra field a package's central directory may have):
/// exactly the values whose 32-bit fields are markers, in the order of APPNOTE §4.5.3.
fn apply_zip64_extra(c: &mut CentralHeader, extra: &[u8], at: u64, name: &str) -> Result<()> {
    let z = c.zip64;
    if extra.is_empty() {
        if z.any() {
            return Err(malformed(
                at,
                MalformedKind::Truncated,
                format!("{name:?}: ZIP64 markers without a ZIP64 extra field"),
            ));
        }
        return Ok(());
    }
    let id = u16_at(extra, 0).unwrap_or(0);
    let len = usize::from(u16_at(extra, 2).unwrap_or(0));
    if id != ZIP64_EXTRA_ID {
        return Err(unsupported(format!(
            "{name:?}: extra field {id:#06x} in the central directory (packages have only ZIP64 \
             extra fields; signtool and osslsigncode would hash this one differently)"
        )));
    }
    if len + 4 != extra.len() || len != z.data_len() {
        return Err(malformed(
            at,
            MalformedKind::InvalidValue,
            format!(
                "{name:?}: ZIP64 extra field of {len} bytes in {} for {} bytes of marked fields",
                extra.len(),
                z.data_len()
            ),
        ));
    }
    let mut p = 4;
    let mut take = |cond: bool| -> Option<u64> {
        if !cond {
            return None;
        }
        let v = u64_at(extra, p);
        p += 8;
        v
    };
    if let Some(v) = take(z.uncompressed) {
        c.uncompressed_size = v;
    }
    if let Some(v) = take(z.compressed) {
        c.compressed_size = v;
    }
    if let Some(v) = take(z.offset) {
        c.local_offset = v;
    }
    if z.disk && u32_at(extra, p) != Some(0) {
        return Err(malformed(
            at,
            MalformedKind::Inconsistent,
            format!("{name:?}: ZIP64 disk number is not 0"),
        ));
    }
    Ok(())
}

/// Sizes a stored or deflated entry can have.
fn check_sizes(c: &CentralHeader, at: u64, name: &str) -> Result<()> {
    let (csize, usize_) = (c.compressed_size, c.uncompressed_size);
    let ok = match c.method {
        METHOD_STORED => csize == usize_,
        _ => usize_ <= csize.saturating_mul(MAX_DEFLATE_RATIO).saturating_add(1024),
    };
    if ok {
        Ok(())
    } else {
        Err(malformed(
            at + 20,
            MalformedKind::Inconsistent,
            format!(
                "{name:?}: {usize_} bytes cannot come from {csize} {} bytes (zip bomb or \
                 inconsistent sizes)",
                if c.method == METHOD_STORED {
                    "stored"
                } else {
                    "deflated"
                }
            ),
        ))
    }
}

/// Read the local header of the entry `central` and check it against the central directory;
/// `next` is where the next local record (or the central directory) starts, which fixes the
/// length of the data descriptor.
fn read_local(
    input: &dyn Input,
    central: CentralHeader,
    central_raw: Vec<u8>,
    name: &str,
    next: u64,
    zip64: bool,
) -> Result<Entry> {
    let at = central.local_offset;
    let h = read_vec(
        input,
        Format::Appx,
        at,
        LOCAL_HEADER_LEN,
        "local file header",
    )?;
    if u32_at(&h, 0) != Some(LOCAL_HEADER_SIGNATURE) {
        return Err(malformed(
            at,
            MalformedKind::WrongFormat,
            format!("{name:?}: no local file header signature"),
        ));
    }
    let f16 = |o| u16_at(&h, o).unwrap_or(0);
    let f32 = |o| u32_at(&h, o).unwrap_or(0);
    let (name_len, extra_len) = (u64::from(f16(26)), u64::from(f16(28)));
    let var = read_vec(
        input,
        Format::Appx,
        at + LOCAL_HEADER_LEN,
        name_len + extra_len,
        "local file name and extra field",
    )?;
    let (lname, lextra) = var.split_at(name_len as usize);
    let local = LocalHeader {
        version_needed: f16(4),
        flags: f16(6),
        method: f16(8),
        time: f16(10),
        date: f16(12),
        crc32: f32(14),
        compressed_size: f32(18),
        uncompressed_size: f32(22),
        name: lname.to_vec(),
        extra: lextra.to_vec(),
    };
    if local.name != central.name {
        return Err(malformed(
            at + 30,
            MalformedKind::Inconsistent,
            format!(
                "local header name {:?} differs from the central directory's {name:?}",
                String::from_utf8_lossy(&local.name)
            ),
        ));
    }
    if local.method != central.method {
        return Err(malformed(
            at + 8,
            MalformedKind::Inconsistent,
            format!(
                "{name:?}: local method {} differs from the central directory's {}",
                local.method, central.method
            ),
        ));
    }
    if local.flags != central.flags {
        return Err(malformed(
            at + 6,
            MalformedKind::Inconsistent,
            format!(
                "{name:?}: local flags {:#06x} differ from the central directory's {:#06x}",
                local.flags, central.flags
            ),
        ));
    }
    let data_offset = at + local.len();
    let data_end = data_offset
        .checked_add(central.compressed_size)
        .filter(|&e| e <= next)
        .ok_or_else(|| {
            malformed(
                data_offset, MalformedKind::Truncated,
                format!(
                    "{name:?}: {} bytes of data at {data_offset:#x} run into the next record at {next:#x}",
                    central.compressed_size
                ),
            )
        })?;
    let descriptor_len = next - data_end;
    if central.flags & FLAG_DESCRIPTOR != 0 {
        if local.crc32 != 0 || local.compressed_size != 0 {
            return Err(malformed(
                at + 14,
                MalformedKind::InvalidValue,
                format!(
                    "{name:?}: CRC and size in a local header that announces a data descriptor"
                ),
            ));
        }
        check_descriptor(input, &central, data_end, descriptor_len, zip64, name)?;
    } else {
        if descriptor_len != 0 {
            return Err(malformed(
                data_end,
                MalformedKind::TrailingData,
                format!("{name:?}: {descriptor_len} bytes of unknown data after the entry"),
            ));
        }
        let marked = local.compressed_size == MARKER32 || local.uncompressed_size == MARKER32;
        let same = local.crc32 == central.crc32
            && (marked
                || (u64::from(local.compressed_size) == central.compressed_size
                    && u64::from(local.uncompressed_size) == central.uncompressed_size));
        if !same {
            return Err(malformed(
                at + 14,
                MalformedKind::Inconsistent,
                format!("{name:?}: local CRC or sizes differ from the central directory's"),
            ));
        }
    }
    Ok(Entry {
        name: name.to_string(),
        central,
        central_raw,
        local,
        data_offset,
        descriptor_len,
    })
}

/// Check the data descriptor of `len` bytes at `at`: `PK\7\8`, the CRC, and the sizes in 64
/// bits in a ZIP64 package or 32 bits otherwise, equal to the central directory's. (Other
/// forms are valid ZIP, but signtool hashes them as stored and osslsigncode rewrites them:
/// the two would sign different bytes.)
fn check_descriptor(
    input: &dyn Input,
    c: &CentralHeader,
    at: u64,
    len: u64,
    zip64: bool,
    name: &str,
) -> Result<()> {
    let want = if zip64 { 24 } else { 16 };
    if len != want {
        return Err(unsupported(format!(
            "{name:?}: a data descriptor of {len} bytes at {at:#x} (packages write {want}: the \
             signature and {} sizes)",
            if zip64 { "64-bit" } else { "32-bit" }
        )));
    }
    let d = read_vec(input, Format::Appx, at, len, "data descriptor")?;
    let ok = u32_at(&d, 0) == Some(DESCRIPTOR_SIGNATURE)
        && u32_at(&d, 4) == Some(c.crc32)
        && if zip64 {
            u64_at(&d, 8) == Some(c.compressed_size) && u64_at(&d, 16) == Some(c.uncompressed_size)
        } else {
            u32_at(&d, 8).map(u64::from) == Some(c.compressed_size)
                && u32_at(&d, 12).map(u64::from) == Some(c.uncompressed_size)
        };
    if ok {
        Ok(())
    } else {
        Err(malformed(
            at,
            MalformedKind::Inconsistent,
            format!("{name:?}: the data descriptor differs from the central directory"),
        ))
    }
}
