//! Bounded parse of the PE headers: DOS header, `e_lfanew`, NT signature, COFF file header,
//! optional header (PE32 and PE32+), the certificate-table data-directory entry and the section
//! table. Only the header bytes are read; every offset is checked against the file length.
//!
//! The layouts are the `object` crate's spec structs (`object::pe`, named as in the Microsoft
//! headers), filled from the bytes read here; offsets in errors and the offsets of the fields
//! Authenticode skips or patches come from those structs.

use core::mem::{offset_of, size_of};

use object::pe::{
    ImageDataDirectory, ImageDosHeader, ImageFileHeader, ImageNtHeaders32, ImageOptionalHeader32,
    ImageOptionalHeader64, ImageSectionHeader, IMAGE_DIRECTORY_ENTRY_SECURITY, IMAGE_DOS_SIGNATURE,
    IMAGE_NT_OPTIONAL_HDR32_MAGIC, IMAGE_NT_OPTIONAL_HDR64_MAGIC, IMAGE_NT_SIGNATURE,
    IMAGE_ROM_OPTIONAL_HDR_MAGIC,
};
use object::pod::{from_bytes, slice_from_bytes, Pod};
use object::{LittleEndian as LE, U16, U32};

use crate::error::{Error, Format, MalformedKind, Result};
use crate::input::{read_vec, Input};

/// Size of the MS-DOS header (`IMAGE_DOS_HEADER`).
const DOS_HEADER_SIZE: u64 = size_of::<ImageDosHeader>() as u64;
/// Offset of `e_lfanew` in the DOS header.
const E_LFANEW_OFFSET: u64 = offset_of!(ImageDosHeader, e_lfanew) as u64;
/// Size of the NT signature plus the COFF file header (`IMAGE_FILE_HEADER`): where the
/// optional header starts.
const NT_SIGNATURE_AND_FILE_HEADER: u64 = offset_of!(ImageNtHeaders32, optional_header) as u64;
/// Offset of `NumberOfSections` from the NT signature.
const NUMBER_OF_SECTIONS_OFFSET: u64 =
    offset_of!(ImageNtHeaders32, file_header.number_of_sections) as u64;
/// Offset of `SizeOfOptionalHeader` from the NT signature.
const SIZE_OF_OPTIONAL_HEADER_OFFSET: u64 =
    offset_of!(ImageNtHeaders32, file_header.size_of_optional_header) as u64;
/// Size of one section header (`IMAGE_SECTION_HEADER`).
const SECTION_HEADER_SIZE: u64 = size_of::<ImageSectionHeader>() as u64;
/// Index of the certificate table in the data directory.
const CERTIFICATE_TABLE_INDEX: u64 = IMAGE_DIRECTORY_ENTRY_SECURITY as u64;
/// Size of one data-directory entry (VirtualAddress, Size).
const DATA_DIRECTORY_ENTRY_SIZE: u64 = size_of::<ImageDataDirectory>() as u64;

/// What the parser reads of `IMAGE_OPTIONAL_HEADER32` and `IMAGE_OPTIONAL_HEADER64`, whose
/// fields have the same names but not all the same offsets.
trait OptionalHeader: Pod {
    /// Offset of `NumberOfRvaAndSizes`.
    const NUMBER_OF_RVA_AND_SIZES_OFFSET: u64;
    /// Offset of `CheckSum`.
    const CHECKSUM_OFFSET: u64;
    /// The fields Authenticode needs.
    fn fields(&self) -> OptionalHeaderFields;
}

macro_rules! impl_optional_header {
    ($($header:ty),+) => {$(
        impl OptionalHeader for $header {
            const NUMBER_OF_RVA_AND_SIZES_OFFSET: u64 =
                offset_of!($header, number_of_rva_and_sizes) as u64;
            const CHECKSUM_OFFSET: u64 = offset_of!($header, check_sum) as u64;
            fn fields(&self) -> OptionalHeaderFields {
                OptionalHeaderFields {
                    section_alignment: self.section_alignment.get(LE),
                    file_alignment: self.file_alignment.get(LE),
                    size_of_headers: self.size_of_headers.get(LE),
                    checksum: self.check_sum.get(LE),
                    number_of_rva_and_sizes: self.number_of_rva_and_sizes.get(LE),
                }
            }
        }
    )+};
}
impl_optional_header!(ImageOptionalHeader32, ImageOptionalHeader64);

/// The optional-header fields Authenticode needs, from a PE32 or a PE32+ header.
struct OptionalHeaderFields {
    section_alignment: u32,
    file_alignment: u32,
    size_of_headers: u32,
    checksum: u32,
    number_of_rva_and_sizes: u32,
}

/// A parsed optional header: its fields, where `CheckSum` and the certificate-table entry are
/// (offsets in the optional header), and that entry.
struct OptionalHeaderRead {
    fields: OptionalHeaderFields,
    checksum_offset: u64,
    cert_entry_offset: u64,
    cert_entry: ImageDataDirectory,
}

/// One entry of the section table, as stored (not interpreted beyond its fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionHeader {
    /// The 8-byte section name, NUL padded.
    pub name: [u8; 8],
    /// `VirtualSize`.
    pub virtual_size: u32,
    /// `VirtualAddress` (RVA).
    pub virtual_address: u32,
    /// `SizeOfRawData`.
    pub size_of_raw_data: u32,
    /// `PointerToRawData` (file offset).
    pub pointer_to_raw_data: u32,
    /// `Characteristics`.
    pub characteristics: u32,
}

/// Where the attribute certificate table lives in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertificateTableLocation {
    /// File offset of the table (the data-directory entry's `VirtualAddress`).
    pub offset: u64,
    /// Size of the table in bytes (the data-directory entry's `Size`).
    pub size: u64,
}

/// The parts of a PE file's headers that Authenticode needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeHeaders {
    /// Length of the file the headers were read from.
    pub file_len: u64,
    /// File offset of the NT signature (`e_lfanew`).
    pub nt_offset: u64,
    /// COFF `Machine` (0x14c i386, 0x8664 x64, 0xaa64 ARM64, 0x200 IA64, ...).
    pub machine: u16,
    /// Whether the optional header is PE32+ (magic 0x20b) rather than PE32 (0x10b).
    pub pe32_plus: bool,
    /// File offset of the optional header's `CheckSum` field (4 bytes).
    pub checksum_offset: u64,
    /// The stored `CheckSum` value.
    pub checksum: u32,
    /// File offset of the certificate-table data-directory entry (8 bytes).
    pub cert_dir_offset: u64,
    /// `NumberOfRvaAndSizes`.
    pub number_of_rva_and_sizes: u32,
    /// `SizeOfHeaders`.
    pub size_of_headers: u32,
    /// `FileAlignment`.
    pub file_alignment: u32,
    /// `SectionAlignment`.
    pub section_alignment: u32,
    /// The section table.
    pub sections: Vec<SectionHeader>,
    /// The certificate table, if the data-directory entry is not empty.
    pub cert_table: Option<CertificateTableLocation>,
}

fn malformed(offset: u64, kind: MalformedKind, what: impl Into<String>) -> Error {
    Error::malformed(Format::Pe, offset, kind, what)
}

/// The `T` at the start of `bytes` (a header read from file offset `offset`) and the bytes
/// after it.
fn pod_at<'a, T: Pod>(bytes: &'a [u8], offset: u64, what: &str) -> Result<(&'a T, &'a [u8])> {
    from_bytes::<T>(bytes).map_err(|()| {
        malformed(
            offset,
            MalformedKind::Truncated,
            format!("{what} too short"),
        )
    })
}

/// The `count` `T`s at the start of `bytes` (read from file offset `offset`) and the bytes
/// after them.
fn pods_at<'a, T: Pod>(
    bytes: &'a [u8],
    count: usize,
    offset: u64,
    what: &str,
) -> Result<(&'a [T], &'a [u8])> {
    slice_from_bytes::<T>(bytes, count).map_err(|()| {
        malformed(
            offset,
            MalformedKind::Truncated,
            format!("{what} too short"),
        )
    })
}

/// Parse the optional header `oh` (read at `opt_offset`; the NT signature is at `nt_offset`)
/// as `H`, up to the certificate-table data-directory entry.
fn parse_optional_header<H: OptionalHeader>(
    oh: &[u8],
    nt_offset: u64,
    opt_offset: u64,
) -> Result<OptionalHeaderRead> {
    let opt_len = oh.len() as u64;
    // NumberOfRvaAndSizes and the data directory follow the fields whose size differs.
    let cert_entry_offset =
        size_of::<H>() as u64 + CERTIFICATE_TABLE_INDEX * DATA_DIRECTORY_ENTRY_SIZE;
    let needed = cert_entry_offset + DATA_DIRECTORY_ENTRY_SIZE;
    if opt_len < needed {
        return Err(malformed(
            nt_offset + SIZE_OF_OPTIONAL_HEADER_OFFSET,
            MalformedKind::InvalidValue,
            format!(
                "SizeOfOptionalHeader {opt_len} is too small to hold the certificate table \
                 data-directory entry (needs {needed})"
            ),
        ));
    }
    let (header, data_directory) = pod_at::<H>(oh, opt_offset, "optional header")?;
    let fields = header.fields();
    let number_of_rva_and_sizes = fields.number_of_rva_and_sizes;
    if u64::from(number_of_rva_and_sizes) <= CERTIFICATE_TABLE_INDEX {
        return Err(malformed(
            opt_offset + H::NUMBER_OF_RVA_AND_SIZES_OFFSET,
            MalformedKind::InvalidValue,
            format!(
                "NumberOfRvaAndSizes {number_of_rva_and_sizes} has no certificate table \
                 entry (needs at least 5)"
            ),
        ));
    }
    // Entries 0 to 3, then the certificate table's.
    let (_, rest) = pods_at::<ImageDataDirectory>(
        data_directory,
        IMAGE_DIRECTORY_ENTRY_SECURITY,
        opt_offset,
        "optional header",
    )?;
    let (cert_entry, _) = pod_at::<ImageDataDirectory>(rest, opt_offset, "optional header")?;
    Ok(OptionalHeaderRead {
        fields,
        checksum_offset: H::CHECKSUM_OFFSET,
        cert_entry_offset,
        cert_entry: *cert_entry,
    })
}

/// Our copy of a section header's fields.
fn section_header(s: &ImageSectionHeader) -> SectionHeader {
    SectionHeader {
        name: s.name,
        virtual_size: s.virtual_size.get(LE),
        virtual_address: s.virtual_address.get(LE),
        size_of_raw_data: s.size_of_raw_data.get(LE),
        pointer_to_raw_data: s.pointer_to_raw_data.get(LE),
        characteristics: s.characteristics.get(LE).0,
    }
}

impl PeHeaders {
    /// Parse the headers of `input`, reading only header bytes.
    pub fn parse(input: &dyn Input) -> Result<Self> {
        let file_len = input.len();
        if file_len < DOS_HEADER_SIZE {
            return Err(malformed(
                0,
                MalformedKind::Truncated,
                format!("not a PE file: {file_len} bytes is too short for an MS-DOS header"),
            ));
        }
        let dos_bytes = read_vec(input, Format::Pe, 0, DOS_HEADER_SIZE, "MS-DOS header")?;
        let (dos, _) = pod_at::<ImageDosHeader>(&dos_bytes, 0, "MS-DOS header")?;
        if dos.e_magic.get(LE) != IMAGE_DOS_SIGNATURE {
            return Err(malformed(
                0,
                MalformedKind::WrongFormat,
                "not a PE file: no \"MZ\" signature",
            ));
        }
        let nt_offset = u64::from(dos.e_lfanew.get(LE));
        let nt_end = nt_offset + NT_SIGNATURE_AND_FILE_HEADER; // u32 + small: no overflow
        if nt_end > file_len {
            return Err(malformed(
                E_LFANEW_OFFSET,
                MalformedKind::WrongFormat,
                format!(
                    "not a PE file: e_lfanew {nt_offset:#x} points past the end of the file \
                     ({file_len:#x}); an MS-DOS executable without a PE header?"
                ),
            ));
        }
        let nt = read_vec(
            input,
            Format::Pe,
            nt_offset,
            NT_SIGNATURE_AND_FILE_HEADER,
            "PE file header",
        )?;
        let (signature, file_header) = pod_at::<U32<LE>>(&nt, nt_offset, "PE file header")?;
        if signature.get(LE) != IMAGE_NT_SIGNATURE {
            return Err(malformed(
                nt_offset,
                MalformedKind::WrongFormat,
                "not a PE file: no \"PE\\0\\0\" signature at e_lfanew (an MS-DOS executable?)",
            ));
        }
        let (file_header, _) = pod_at::<ImageFileHeader>(file_header, nt_offset, "PE file header")?;
        let machine = file_header.machine.get(LE).0;
        let number_of_sections = file_header.number_of_sections.get(LE);
        let size_of_optional_header = file_header.size_of_optional_header.get(LE);

        let opt_offset = nt_end;
        let opt_len = u64::from(size_of_optional_header);
        if opt_len < size_of::<U16<LE>>() as u64 {
            return Err(malformed(
                nt_offset + SIZE_OF_OPTIONAL_HEADER_OFFSET,
                MalformedKind::InvalidValue,
                format!("SizeOfOptionalHeader {opt_len} is too small for an optional header"),
            ));
        }
        if opt_offset + opt_len > file_len {
            return Err(malformed(
                nt_offset + SIZE_OF_OPTIONAL_HEADER_OFFSET,
                MalformedKind::Truncated,
                format!(
                    "SizeOfOptionalHeader {opt_len}: the optional header at {opt_offset:#x} \
                     runs past the end of the file ({file_len:#x})"
                ),
            ));
        }
        let oh = read_vec(input, Format::Pe, opt_offset, opt_len, "optional header")?;
        let (magic, _) = pod_at::<U16<LE>>(&oh, opt_offset, "optional header")?;
        let (pe32_plus, optional) = match magic.get(LE) {
            IMAGE_NT_OPTIONAL_HDR32_MAGIC => (
                false,
                parse_optional_header::<ImageOptionalHeader32>(&oh, nt_offset, opt_offset)?,
            ),
            IMAGE_NT_OPTIONAL_HDR64_MAGIC => (
                true,
                parse_optional_header::<ImageOptionalHeader64>(&oh, nt_offset, opt_offset)?,
            ),
            IMAGE_ROM_OPTIONAL_HDR_MAGIC => {
                return Err(Error::Unsupported(
                    "PE ROM images (optional header magic 0x107) cannot be signed".into(),
                ))
            }
            m => {
                return Err(malformed(
                    opt_offset,
                    MalformedKind::WrongFormat,
                    format!("unknown optional header magic {m:#06x} (expected 0x10b or 0x20b)"),
                ))
            }
        };
        let OptionalHeaderFields {
            section_alignment,
            file_alignment,
            size_of_headers,
            checksum,
            number_of_rva_and_sizes,
        } = optional.fields;
        let cert_va = optional.cert_entry.virtual_address.get(LE);
        let cert_size = optional.cert_entry.size.get(LE);

        let checksum_offset = opt_offset + optional.checksum_offset;
        let cert_dir_offset = opt_offset + optional.cert_entry_offset;

        // Section table: right after the optional header, entirely inside the file.
        let sections_offset = opt_offset + opt_len;
        let sections_len = u64::from(number_of_sections) * SECTION_HEADER_SIZE;
        if sections_offset + sections_len > file_len {
            return Err(malformed(
                nt_offset + NUMBER_OF_SECTIONS_OFFSET,
                MalformedKind::Truncated,
                format!(
                    "NumberOfSections {number_of_sections}: the section table at \
                     {sections_offset:#x} runs past the end of the file ({file_len:#x})"
                ),
            ));
        }
        let raw = read_vec(
            input,
            Format::Pe,
            sections_offset,
            sections_len,
            "section table",
        )?;
        let (table, _) = pods_at::<ImageSectionHeader>(
            &raw,
            usize::from(number_of_sections),
            sections_offset,
            "section table",
        )?;
        let sections = table.iter().map(section_header).collect();

        let cert_table = match (cert_va, cert_size) {
            (0, 0) => None,
            (va, size) => {
                let (offset, size) = (u64::from(va), u64::from(size));
                if va == 0 || size == 0 {
                    return Err(malformed(
                        cert_dir_offset,
                        MalformedKind::InvalidValue,
                        format!(
                            "certificate table entry has offset {offset:#x} and size {size}: \
                             both or neither must be zero"
                        ),
                    ));
                }
                if offset < cert_dir_offset + DATA_DIRECTORY_ENTRY_SIZE {
                    return Err(malformed(
                        cert_dir_offset,
                        MalformedKind::Inconsistent,
                        format!("certificate table at {offset:#x} overlaps the PE headers"),
                    ));
                }
                // Entries are quadword aligned, the first one too. An unaligned table cannot
                // be re-signed consistently: the new one is written after zero padding that
                // the existing signatures' digest does not cover.
                if offset % 8 != 0 {
                    return Err(malformed(
                        cert_dir_offset,
                        MalformedKind::Inconsistent,
                        format!("certificate table at {offset:#x} is not 8-byte aligned"),
                    ));
                }
                let end = offset + size; // two u32s: no overflow
                if end > file_len {
                    return Err(malformed(
                        cert_dir_offset,
                        MalformedKind::Truncated,
                        format!(
                            "certificate table ({size} bytes at {offset:#x}) runs past the end \
                             of the file ({file_len:#x})"
                        ),
                    ));
                }
                Some(CertificateTableLocation { offset, size })
            }
        };

        Ok(Self {
            file_len,
            nt_offset,
            machine,
            pe32_plus,
            checksum_offset,
            checksum,
            cert_dir_offset,
            number_of_rva_and_sizes,
            size_of_headers,
            file_alignment,
            section_alignment,
            sections,
            cert_table,
        })
    }

    /// Bytes after the end of the certificate table (0 when it is the last thing in the file,
    /// as it must be). Such bytes are covered by no signature.
    pub fn trailing_bytes(&self) -> u64 {
        self.cert_table
            .map_or(0, |t| self.file_len.saturating_sub(t.offset + t.size))
    }

    /// End of the signable image: the start of the certificate table, or the end of the file.
    pub fn image_end(&self) -> u64 {
        self.cert_table.map_or(self.file_len, |t| t.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    const NT: usize = 0x80;
    const OPT: usize = NT + 24;
    const LEN: usize = 0x1000;

    fn put16(b: &mut [u8], at: usize, v: u16) {
        b[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }
    fn put32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Offset of the data directory in the optional header (after NumberOfRvaAndSizes).
    fn data_directory(pe32_plus: bool) -> usize {
        if pe32_plus {
            112
        } else {
            96
        }
    }

    /// A 4 KiB image with the headers of a PE32 or PE32+ file: two sections, sixteen
    /// data-directory entries, CheckSum 0x12345678, no certificate table.
    fn image(pe32_plus: bool) -> Vec<u8> {
        let mut b = vec![0u8; LEN];
        b[..2].copy_from_slice(b"MZ");
        put32(&mut b, 0x3c, NT as u32);
        b[NT..NT + 4].copy_from_slice(b"PE\0\0");
        put16(&mut b, NT + 4, if pe32_plus { 0x8664 } else { 0x14c });
        put16(&mut b, NT + 6, 2);
        let opt_len = data_directory(pe32_plus) + 16 * 8;
        put16(&mut b, NT + 20, opt_len as u16);
        put16(&mut b, OPT, if pe32_plus { 0x20b } else { 0x10b });
        put32(&mut b, OPT + 32, 0x1000);
        put32(&mut b, OPT + 36, 0x200);
        put32(&mut b, OPT + 60, 0x400);
        put32(&mut b, OPT + 64, 0x1234_5678);
        put32(&mut b, OPT + data_directory(pe32_plus) - 4, 16);
        let sections = OPT + opt_len;
        for (i, name) in [b".text\0\0\0", b".data\0\0\0"].iter().enumerate() {
            let s = sections + 40 * i;
            b[s..s + 8].copy_from_slice(*name);
            put32(&mut b, s + 8, 0x100 + i as u32);
            put32(&mut b, s + 12, 0x1000 * (i as u32 + 1));
            put32(&mut b, s + 16, 0x200);
            put32(&mut b, s + 20, 0x400 + 0x200 * i as u32);
            put32(&mut b, s + 24, 0xdead_beef); // PointerToRelocations: not kept
            put32(&mut b, s + 36, 0x6000_0020 + i as u32);
        }
        b
    }

    fn cert_entry(pe32_plus: bool) -> usize {
        OPT + data_directory(pe32_plus) + 4 * 8
    }

    fn with_cert_table(pe32_plus: bool, offset: u32, size: u32) -> Vec<u8> {
        let mut b = image(pe32_plus);
        put32(&mut b, cert_entry(pe32_plus), offset);
        put32(&mut b, cert_entry(pe32_plus) + 4, size);
        b
    }

    fn malformed_at(bytes: &[u8]) -> (u64, MalformedKind, String) {
        match PeHeaders::parse(&bytes) {
            Err(Error::Malformed(m)) => {
                assert_eq!(m.format, Format::Pe);
                (m.offset, m.kind, m.what)
            }
            other => panic!("expected a malformed PE, got {other:?}"),
        }
    }

    fn offset_and_kind(bytes: &[u8]) -> (u64, MalformedKind) {
        let (offset, kind, _) = malformed_at(bytes);
        (offset, kind)
    }

    #[test]
    fn object_struct_layouts_are_the_pe_specification_values() {
        assert_eq!(DOS_HEADER_SIZE, 64);
        assert_eq!(E_LFANEW_OFFSET, 0x3c);
        assert_eq!(NT_SIGNATURE_AND_FILE_HEADER, 4 + 20);
        assert_eq!(NUMBER_OF_SECTIONS_OFFSET, 4 + 2);
        assert_eq!(SIZE_OF_OPTIONAL_HEADER_OFFSET, 4 + 16);
        assert_eq!(SECTION_HEADER_SIZE, 40);
        assert_eq!((CERTIFICATE_TABLE_INDEX, DATA_DIRECTORY_ENTRY_SIZE), (4, 8));
        // CheckSum at optional-header offset 64 in both; the data directory after 96 (PE32)
        // or 112 (PE32+) bytes, right after NumberOfRvaAndSizes.
        assert_eq!(ImageOptionalHeader32::CHECKSUM_OFFSET, 64);
        assert_eq!(ImageOptionalHeader64::CHECKSUM_OFFSET, 64);
        assert_eq!(ImageOptionalHeader32::NUMBER_OF_RVA_AND_SIZES_OFFSET, 92);
        assert_eq!(ImageOptionalHeader64::NUMBER_OF_RVA_AND_SIZES_OFFSET, 108);
        assert_eq!(size_of::<ImageOptionalHeader32>(), 96);
        assert_eq!(size_of::<ImageOptionalHeader64>(), 112);
        // Alignment 1: `from_bytes` accepts the structs at any offset of a `Vec<u8>`.
        assert_eq!(core::mem::align_of::<ImageDosHeader>(), 1);
        assert_eq!(core::mem::align_of::<ImageFileHeader>(), 1);
        assert_eq!(core::mem::align_of::<ImageOptionalHeader32>(), 1);
        assert_eq!(core::mem::align_of::<ImageOptionalHeader64>(), 1);
        assert_eq!(core::mem::align_of::<ImageDataDirectory>(), 1);
        assert_eq!(core::mem::align_of::<ImageSectionHeader>(), 1);
    }

    #[test]
    fn layout_offsets_are_the_pe_specification_values() {
        for pe32_plus in [false, true] {
            let h = PeHeaders::parse(&image(pe32_plus)).unwrap();
            assert_eq!(h.nt_offset, NT as u64);
            // CheckSum at optional-header offset 64 in both PE32 and PE32+.
            assert_eq!(h.checksum_offset, OPT as u64 + 64);
            // The certificate table is data-directory entry 4 (8 bytes each), after the
            // 96-byte (PE32) or 112-byte (PE32+) fixed part of the optional header.
            let dir = if pe32_plus { 112 } else { 96 };
            assert_eq!(h.cert_dir_offset, OPT as u64 + dir + 4 * 8);
        }
    }

    #[test]
    fn parses_the_fields_authenticode_needs() {
        for pe32_plus in [false, true] {
            let h = PeHeaders::parse(&image(pe32_plus)).unwrap();
            let opt_len = data_directory(pe32_plus) + 16 * 8;
            assert_eq!(h.file_len, LEN as u64);
            assert_eq!(h.machine, if pe32_plus { 0x8664 } else { 0x14c });
            assert_eq!(h.pe32_plus, pe32_plus);
            assert_eq!(h.checksum, 0x1234_5678);
            assert_eq!(h.number_of_rva_and_sizes, 16);
            assert_eq!(h.size_of_headers, 0x400);
            assert_eq!(h.file_alignment, 0x200);
            assert_eq!(h.section_alignment, 0x1000);
            assert_eq!(h.cert_table, None);
            assert_eq!((h.image_end(), h.trailing_bytes()), (LEN as u64, 0));
            let text = SectionHeader {
                name: *b".text\0\0\0",
                virtual_size: 0x100,
                virtual_address: 0x1000,
                size_of_raw_data: 0x200,
                pointer_to_raw_data: 0x400,
                characteristics: 0x6000_0020,
            };
            let data = SectionHeader {
                name: *b".data\0\0\0",
                virtual_size: 0x101,
                virtual_address: 0x2000,
                size_of_raw_data: 0x200,
                pointer_to_raw_data: 0x600,
                characteristics: 0x6000_0021,
            };
            assert_eq!(
                h.sections,
                vec![text, data],
                "section table after {opt_len}"
            );
        }
    }

    #[test]
    fn certificate_table_location_comes_from_directory_entry_4() {
        for pe32_plus in [false, true] {
            let h = PeHeaders::parse(&with_cert_table(pe32_plus, 0xf00, 0x80)).unwrap();
            let t = CertificateTableLocation {
                offset: 0xf00,
                size: 0x80,
            };
            assert_eq!(h.cert_table, Some(t));
            assert_eq!((h.image_end(), h.trailing_bytes()), (0xf00, 0x80));
        }
    }

    /// An input that records every range read from it.
    struct Recording<'a>(&'a [u8], Mutex<Vec<(u64, usize)>>);

    impl Input for Recording<'_> {
        fn len(&self) -> u64 {
            self.0.len() as u64
        }
        fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
            self.1.lock().unwrap().push((offset, buf.len()));
            self.0.read_exact_at(offset, buf)
        }
    }

    #[test]
    fn reads_only_the_header_bytes() {
        for pe32_plus in [false, true] {
            let mut bytes = image(pe32_plus);
            bytes.resize(1 << 20, 0xcc);
            let input = Recording(&bytes, Mutex::new(Vec::new()));
            let h = PeHeaders::parse(&input).unwrap();
            let reads = input.1.into_inner().unwrap();
            let end_of_headers = OPT + data_directory(pe32_plus) + 16 * 8 + 2 * 40;
            let read: usize = reads.iter().map(|&(_, n)| n).sum();
            assert!(read <= 64 + 24 + end_of_headers - OPT, "{reads:?}");
            for (offset, n) in reads {
                assert!(
                    offset as usize + n <= end_of_headers,
                    "read {n} at {offset:#x}"
                );
            }
            assert_eq!(h.sections.len(), 2);
        }
    }

    #[test]
    fn malformed_headers_name_the_offset_and_the_rule() {
        use MalformedKind::*;
        let nt = NT as u64;
        let opt = OPT as u64;
        let size_of_optional_header = nt + 20;

        let (at, kind, what) = malformed_at(&image(false)[..63]);
        assert_eq!((at, kind), (0, Truncated), "{what}");
        assert!(what.contains("too short for an MS-DOS header"), "{what}");

        let mut b = image(false);
        b[0] = b'X';
        assert_eq!(offset_and_kind(&b), (0, WrongFormat));
        let mut b = image(false);
        put32(&mut b, 0x3c, (LEN - 23) as u32);
        let (at, kind, what) = malformed_at(&b);
        assert_eq!((at, kind), (0x3c, WrongFormat), "{what}");
        assert!(
            what.contains("e_lfanew 0xfe9 points past the end"),
            "{what}"
        );
        let mut b = image(false);
        b[NT + 2] = 1;
        assert_eq!(offset_and_kind(&b), (nt, WrongFormat));

        let mut b = image(false);
        put16(&mut b, NT + 20, 1);
        assert_eq!(offset_and_kind(&b), (size_of_optional_header, InvalidValue));
        let mut b = image(false);
        put16(&mut b, NT + 20, 0xffff);
        let (at, kind, what) = malformed_at(&b);
        assert_eq!((at, kind), (size_of_optional_header, Truncated), "{what}");
        assert!(what.contains("optional header at 0x98 runs past"), "{what}");

        let mut b = image(false);
        put16(&mut b, OPT, 0x107);
        assert!(matches!(PeHeaders::parse(&b), Err(Error::Unsupported(_))));
        let mut b = image(false);
        put16(&mut b, OPT, 0x999);
        let (at, kind, what) = malformed_at(&b);
        assert_eq!((at, kind), (opt, WrongFormat), "{what}");
        assert!(
            what.contains("unknown optional header magic 0x0999"),
            "{what}"
        );

        for (pe32_plus, needs) in [(false, 136), (true, 152)] {
            let mut b = image(pe32_plus);
            put16(&mut b, NT + 20, needs - 1);
            let (at, kind, what) = malformed_at(&b);
            assert_eq!(
                (at, kind),
                (size_of_optional_header, InvalidValue),
                "{what}"
            );
            assert!(what.contains(&format!("(needs {needs})")), "{what}");
            let mut b = image(pe32_plus);
            put16(&mut b, NT + 20, needs);
            put16(&mut b, NT + 6, 0);
            assert!(PeHeaders::parse(&b).is_ok());

            let nrvas = OPT + data_directory(pe32_plus) - 4;
            let mut b = image(pe32_plus);
            put32(&mut b, nrvas, 4);
            let (at, kind, what) = malformed_at(&b);
            assert_eq!((at, kind), (nrvas as u64, InvalidValue), "{what}");
            assert!(what.contains("NumberOfRvaAndSizes 4"), "{what}");
        }

        let mut b = image(false);
        put16(&mut b, NT + 6, 0xffff);
        let (at, kind, what) = malformed_at(&b);
        assert_eq!((at, kind), (nt + 6, Truncated), "{what}");
        assert!(what.contains("NumberOfSections 65535"), "{what}");

        for pe32_plus in [false, true] {
            let dir = cert_entry(pe32_plus) as u64;
            for ((offset, size), kind, text) in [
                ((0xf00, 0), InvalidValue, "both or neither"),
                ((0, 8), InvalidValue, "both or neither"),
                ((dir as u32 + 4, 8), Inconsistent, "overlaps the PE headers"),
                ((0xf04, 8), Inconsistent, "not 8-byte aligned"),
                ((0xff8, 0x10), Truncated, "runs past the end"),
            ] {
                let (at, k, what) = malformed_at(&with_cert_table(pe32_plus, offset, size));
                assert_eq!((at, k), (dir, kind), "{what}");
                assert!(what.contains(text), "{what}");
            }
        }
    }
}
