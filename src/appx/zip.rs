//! The ZIP records an APPX/MSIX package is made of (APPNOTE.TXT 6.3: §4.3.7 local file
//! header, §4.3.9 data descriptor, §4.3.12 central directory header, §4.3.14-16 ZIP64 end
//! records, §4.3.16 end of central directory), declared as plain values with their encoders.
//! Reading them from a file, with every check, is [`super::reader`]'s job.

/// `PK\3\4`: a local file header.
pub const LOCAL_HEADER_SIGNATURE: u32 = 0x0403_4b50;
/// `PK\1\2`: a central directory header.
pub const CENTRAL_HEADER_SIGNATURE: u32 = 0x0201_4b50;
/// `PK\5\6`: the end of central directory record.
pub const END_SIGNATURE: u32 = 0x0605_4b50;
/// `PK\6\6`: the ZIP64 end of central directory record.
pub const ZIP64_END_SIGNATURE: u32 = 0x0606_4b50;
/// `PK\6\7`: the ZIP64 end of central directory locator.
pub const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
/// `PK\7\8`: the optional signature of a data descriptor.
pub const DESCRIPTOR_SIGNATURE: u32 = 0x0807_4b50;

/// Fixed part of a local file header.
pub const LOCAL_HEADER_LEN: u64 = 30;
/// Fixed part of a central directory header.
pub const CENTRAL_HEADER_LEN: u64 = 46;
/// End of central directory record without comment.
pub const END_LEN: u64 = 22;
/// ZIP64 end of central directory record without extensible data.
pub const ZIP64_END_LEN: u64 = 56;
/// ZIP64 end of central directory locator.
pub const ZIP64_LOCATOR_LEN: u64 = 20;
/// The "size of record" field of a ZIP64 end record without extensible data.
pub const ZIP64_END_RECORD_SIZE: u64 = ZIP64_END_LEN - 12;

/// Header id of the ZIP64 extended information extra field.
pub const ZIP64_EXTRA_ID: u16 = 0x0001;
/// A 32-bit field whose value is in the ZIP64 extra field.
pub const MARKER32: u32 = 0xffff_ffff;
/// A 16-bit count whose value is in the ZIP64 end record.
pub const MARKER16: u16 = 0xffff;

/// General purpose flag: the entry is encrypted.
pub const FLAG_ENCRYPTED: u16 = 1 << 0;
/// General purpose flag: CRC and sizes follow the data in a data descriptor.
pub const FLAG_DESCRIPTOR: u16 = 1 << 3;
/// Flags an APPX package may not use: encryption (0, 6), the masked local header (13) and
/// the reserved bits 12, 14 and 15 (the Windows packaging API refuses them).
pub const UNSUPPORTED_FLAGS: u16 =
    (1 << 0) | (1 << 6) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15);

/// Compression method: stored.
pub const METHOD_STORED: u16 = 0;
/// Compression method: deflate.
pub const METHOD_DEFLATE: u16 = 8;

/// "Version needed to extract" of a plain deflated entry (2.0).
pub const VERSION_DEFLATE: u16 = 20;
/// "Version made by" that the Windows packaging API writes: 4.5, MS-DOS host.
pub const VERSION_MADE_BY_APPX: u16 = 45;

fn push16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn push32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn push64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// A local file header (§4.3.7), with its name and extra field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalHeader {
    /// Version needed to extract.
    pub version_needed: u16,
    /// General purpose bit flag.
    pub flags: u16,
    /// Compression method.
    pub method: u16,
    /// MS-DOS time.
    pub time: u16,
    /// MS-DOS date.
    pub date: u16,
    /// CRC-32 (0 when a data descriptor follows).
    pub crc32: u32,
    /// Compressed size (0 with a data descriptor, [`MARKER32`] in ZIP64).
    pub compressed_size: u32,
    /// Uncompressed size (likewise).
    pub uncompressed_size: u32,
    /// File name, as stored.
    pub name: Vec<u8>,
    /// Extra field, as stored.
    pub extra: Vec<u8>,
}

impl LocalHeader {
    /// Length of the header with its name and extra field.
    pub fn len(&self) -> u64 {
        LOCAL_HEADER_LEN + self.name.len() as u64 + self.extra.len() as u64
    }

    /// Whether the header is only its fixed part (never: names are not empty in a package).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The encoded header.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() as usize);
        push32(&mut out, LOCAL_HEADER_SIGNATURE);
        push16(&mut out, self.version_needed);
        push16(&mut out, self.flags);
        push16(&mut out, self.method);
        push16(&mut out, self.time);
        push16(&mut out, self.date);
        push32(&mut out, self.crc32);
        push32(&mut out, self.compressed_size);
        push32(&mut out, self.uncompressed_size);
        push16(&mut out, self.name.len() as u16);
        push16(&mut out, self.extra.len() as u16);
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&self.extra);
        out
    }
}

/// A data descriptor (§4.3.9) as packages write it: with its signature, sizes in 64 bits in
/// a ZIP64 archive and in 32 bits otherwise.
pub fn descriptor(crc32: u32, compressed: u64, uncompressed: u64, zip64: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(24);
    push32(&mut out, DESCRIPTOR_SIGNATURE);
    push32(&mut out, crc32);
    if zip64 {
        push64(&mut out, compressed);
        push64(&mut out, uncompressed);
    } else {
        push32(&mut out, compressed as u32);
        push32(&mut out, uncompressed as u32);
    }
    out
}

/// Which 32-bit fields of a central directory header hold [`MARKER32`] (or the disk number
/// [`MARKER16`]) with their values in the ZIP64 extra field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Zip64Fields {
    /// Uncompressed size.
    pub uncompressed: bool,
    /// Compressed size.
    pub compressed: bool,
    /// Local header offset.
    pub offset: bool,
    /// Disk number start.
    pub disk: bool,
}

impl Zip64Fields {
    /// Whether any field is in the extra field.
    pub fn any(&self) -> bool {
        self.uncompressed || self.compressed || self.offset || self.disk
    }

    /// Size of the ZIP64 extra field data for these fields.
    pub fn data_len(&self) -> usize {
        8 * (usize::from(self.uncompressed)
            + usize::from(self.compressed)
            + usize::from(self.offset))
            + 4 * usize::from(self.disk)
    }
}

/// How a central directory header is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zip64Shape {
    /// 32-bit fields wherever the value fits, a ZIP64 extra field only for those that do not
    /// (what signtool writes).
    AsNeeded,
    /// These fields in the ZIP64 extra field whatever their values (and any that do not
    /// fit): the shape the record had (what makeappx writes, kept by osslsigncode).
    Keep(Zip64Fields),
}

/// A central directory header (§4.3.12). Sizes and offset are the real (64-bit) values; where
/// they are stored is [`Zip64Shape`]'s business. Records with extra fields other than ZIP64
/// and with comments are refused by the reader, so none are modelled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CentralHeader {
    /// Version made by.
    pub version_made_by: u16,
    /// Version needed to extract.
    pub version_needed: u16,
    /// General purpose bit flag.
    pub flags: u16,
    /// Compression method.
    pub method: u16,
    /// MS-DOS time.
    pub time: u16,
    /// MS-DOS date.
    pub date: u16,
    /// CRC-32 of the uncompressed data.
    pub crc32: u32,
    /// Compressed size.
    pub compressed_size: u64,
    /// Uncompressed size.
    pub uncompressed_size: u64,
    /// Internal file attributes.
    pub internal_attributes: u16,
    /// External file attributes.
    pub external_attributes: u32,
    /// Offset of the local header.
    pub local_offset: u64,
    /// File name, as stored.
    pub name: Vec<u8>,
    /// The fields the record keeps in its ZIP64 extra field.
    pub zip64: Zip64Fields,
}

impl CentralHeader {
    /// The fields that go to the ZIP64 extra field when written with `shape`.
    pub fn zip64_fields(&self, shape: Zip64Shape) -> Zip64Fields {
        let big = |v: u64| v >= u64::from(MARKER32);
        let keep = match shape {
            Zip64Shape::AsNeeded => Zip64Fields::default(),
            Zip64Shape::Keep(f) => f,
        };
        Zip64Fields {
            uncompressed: keep.uncompressed || big(self.uncompressed_size),
            compressed: keep.compressed || big(self.compressed_size),
            offset: keep.offset || big(self.local_offset),
            disk: keep.disk,
        }
    }

    /// The encoded header written with `shape`.
    pub fn to_bytes(&self, shape: Zip64Shape) -> Vec<u8> {
        let z = self.zip64_fields(shape);
        let field = |in_extra: bool, v: u64| if in_extra { MARKER32 } else { v as u32 };
        let extra_len = if z.any() { 4 + z.data_len() } else { 0 };
        let mut out = Vec::with_capacity(CENTRAL_HEADER_LEN as usize + self.name.len() + extra_len);
        push32(&mut out, CENTRAL_HEADER_SIGNATURE);
        push16(&mut out, self.version_made_by);
        push16(&mut out, self.version_needed);
        push16(&mut out, self.flags);
        push16(&mut out, self.method);
        push16(&mut out, self.time);
        push16(&mut out, self.date);
        push32(&mut out, self.crc32);
        push32(&mut out, field(z.compressed, self.compressed_size));
        push32(&mut out, field(z.uncompressed, self.uncompressed_size));
        push16(&mut out, self.name.len() as u16);
        push16(&mut out, extra_len as u16);
        push16(&mut out, 0); // comment length
        push16(&mut out, if z.disk { MARKER16 } else { 0 });
        push16(&mut out, self.internal_attributes);
        push32(&mut out, self.external_attributes);
        push32(&mut out, field(z.offset, self.local_offset));
        out.extend_from_slice(&self.name);
        if z.any() {
            push16(&mut out, ZIP64_EXTRA_ID);
            push16(&mut out, z.data_len() as u16);
            if z.uncompressed {
                push64(&mut out, self.uncompressed_size);
            }
            if z.compressed {
                push64(&mut out, self.compressed_size);
            }
            if z.offset {
                push64(&mut out, self.local_offset);
            }
            if z.disk {
                push32(&mut out, 0);
            }
        }
        out
    }
}

/// The shape of a package's end records, kept from the original when it is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndShape {
    /// The ZIP64 end record's "version made by" and "version needed", when the package has
    /// ZIP64 end records.
    pub zip64: Option<(u16, u16)>,
    /// The end record's entry counts are [`MARKER16`].
    pub count_marker: bool,
    /// The end record's central directory size is [`MARKER32`].
    pub size_marker: bool,
    /// The end record's central directory offset is [`MARKER32`].
    pub offset_marker: bool,
}

/// The end records (ZIP64 end record and locator when `shape` has them or a value needs them,
/// then the end of central directory record) of a central directory of `count` records and
/// `size` bytes at `offset`. `disk` is written in the end record's two disk fields (0, or
/// [`MARKER16`] as makeappx writes).
pub fn end_records(shape: &EndShape, count: u64, size: u64, offset: u64, disk: u16) -> Vec<u8> {
    let big16 = count >= u64::from(MARKER16);
    let big32 = |v: u64| v >= u64::from(MARKER32);
    let zip64 = shape
        .zip64
        .or_else(|| (big16 || big32(size) || big32(offset)).then_some((45, 45)));
    let mut out = Vec::with_capacity((ZIP64_END_LEN + ZIP64_LOCATOR_LEN + END_LEN) as usize);
    if let Some((made_by, needed)) = zip64 {
        push32(&mut out, ZIP64_END_SIGNATURE);
        push64(&mut out, ZIP64_END_RECORD_SIZE);
        push16(&mut out, made_by);
        push16(&mut out, needed);
        push32(&mut out, 0);
        push32(&mut out, 0);
        push64(&mut out, count);
        push64(&mut out, count);
        push64(&mut out, size);
        push64(&mut out, offset);
        push32(&mut out, ZIP64_LOCATOR_SIGNATURE);
        push32(&mut out, 0);
        push64(&mut out, offset + size);
        push32(&mut out, 1);
    }
    let count16 = if shape.count_marker || big16 {
        MARKER16
    } else {
        count as u16
    };
    let size32 = if shape.size_marker || big32(size) {
        MARKER32
    } else {
        size as u32
    };
    let offset32 = if shape.offset_marker || big32(offset) {
        MARKER32
    } else {
        offset as u32
    };
    push32(&mut out, END_SIGNATURE);
    push16(&mut out, disk);
    push16(&mut out, disk);
    push16(&mut out, count16);
    push16(&mut out, count16);
    push32(&mut out, size32);
    push32(&mut out, offset32);
    push16(&mut out, 0); // comment length
    out
}

/// The CRC-32 of zip (ISO 3309, reflected polynomial 0xEDB88320), byte at a time.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn end_records_of_the_signtool_fixture_digest() {
        // The 98-byte tail hashed into AXCD for minimal-signed-by-signtool.msix.
        let shape = EndShape {
            zip64: Some((45, 45)),
            count_marker: true,
            size_marker: true,
            offset_marker: true,
        };
        let got = end_records(&shape, 7, 426, 9352, 0);
        let want = concat!(
            "504b06062c000000000000002d002d00000000000000000007000000000000000700000000000000",
            "aa010000000000008824000000000000504b060700000000322600000000000001000000504b0506",
            "00000000ffffffffffffffffffffffff0000",
        );
        assert_eq!(hex::encode(got), want);
    }
}
