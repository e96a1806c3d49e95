//! Bounded parse of the PE headers: DOS header, `e_lfanew`, NT signature, COFF file header,
//! optional header (PE32 and PE32+), the certificate-table data-directory entry and the section
//! table. Only the header bytes are read; every offset is checked against the file length.

use crate::error::{Error, Format, MalformedKind, Result};
use crate::input::{read_vec, Input};
use crate::le::{u16_at, u32_at};

/// Size of the MS-DOS header (`IMAGE_DOS_HEADER`).
const DOS_HEADER_SIZE: u64 = 64;
/// Offset of `e_lfanew` in the DOS header.
const E_LFANEW_OFFSET: u64 = 0x3c;
/// Size of the NT signature plus the COFF file header (`IMAGE_FILE_HEADER`).
const NT_SIGNATURE_AND_FILE_HEADER: u64 = 4 + 20;
/// Size of one section header (`IMAGE_SECTION_HEADER`).
const SECTION_HEADER_SIZE: u64 = 40;
/// Optional-header magic of a PE32 image.
const PE32_MAGIC: u16 = 0x10b;
/// Optional-header magic of a PE32+ image.
const PE32_PLUS_MAGIC: u16 = 0x20b;
/// Optional-header magic of a ROM image (not signable).
const ROM_MAGIC: u16 = 0x107;
/// Index of the certificate table in the data directory.
const CERTIFICATE_TABLE_INDEX: u64 = 4;
/// Size of one data-directory entry (VirtualAddress, Size).
const DATA_DIRECTORY_ENTRY_SIZE: u64 = 8;

/// Offsets inside the optional header that are the same for PE32 and PE32+.
mod opt {
    pub const SECTION_ALIGNMENT: usize = 32;
    pub const FILE_ALIGNMENT: usize = 36;
    pub const SIZE_OF_HEADERS: usize = 60;
    pub const CHECKSUM: usize = 64;
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
        let dos = read_vec(input, Format::Pe, 0, DOS_HEADER_SIZE, "MS-DOS header")?;
        if dos.get(..2) != Some(b"MZ".as_slice()) {
            return Err(malformed(
                0,
                MalformedKind::WrongFormat,
                "not a PE file: no \"MZ\" signature",
            ));
        }
        let nt_offset = u64::from(u32_at(&dos, E_LFANEW_OFFSET as usize).ok_or_else(|| {
            malformed(
                E_LFANEW_OFFSET,
                MalformedKind::Truncated,
                "short MS-DOS header",
            )
        })?);
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
        if nt.get(..4) != Some(b"PE\0\0".as_slice()) {
            return Err(malformed(
                nt_offset,
                MalformedKind::WrongFormat,
                "not a PE file: no \"PE\\0\\0\" signature at e_lfanew (an MS-DOS executable?)",
            ));
        }
        let machine = u16_at(&nt, 4)
            .ok_or_else(|| malformed(nt_offset, MalformedKind::Truncated, "short"))?;
        let number_of_sections = u16_at(&nt, 6)
            .ok_or_else(|| malformed(nt_offset, MalformedKind::Truncated, "short"))?;
        let size_of_optional_header = u16_at(&nt, 20)
            .ok_or_else(|| malformed(nt_offset, MalformedKind::Truncated, "short"))?;

        let opt_offset = nt_end;
        let opt_len = u64::from(size_of_optional_header);
        if opt_len < 2 {
            return Err(malformed(
                nt_offset + 20,
                MalformedKind::InvalidValue,
                format!("SizeOfOptionalHeader {opt_len} is too small for an optional header"),
            ));
        }
        if opt_offset + opt_len > file_len {
            return Err(malformed(
                nt_offset + 20,
                MalformedKind::Truncated,
                format!(
                    "SizeOfOptionalHeader {opt_len}: the optional header at {opt_offset:#x} \
                     runs past the end of the file ({file_len:#x})"
                ),
            ));
        }
        let oh = read_vec(input, Format::Pe, opt_offset, opt_len, "optional header")?;
        let magic = u16_at(&oh, 0)
            .ok_or_else(|| malformed(opt_offset, MalformedKind::Truncated, "short"))?;
        let pe32_plus = match magic {
            PE32_MAGIC => false,
            PE32_PLUS_MAGIC => true,
            ROM_MAGIC => {
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
        // NumberOfRvaAndSizes and the data directory follow the fields whose size differs.
        let (nrvas_at, dd_at): (usize, usize) = if pe32_plus { (108, 112) } else { (92, 96) };
        let cert_entry_at = dd_at as u64 + CERTIFICATE_TABLE_INDEX * DATA_DIRECTORY_ENTRY_SIZE;
        let needed = cert_entry_at + DATA_DIRECTORY_ENTRY_SIZE;
        if opt_len < needed {
            return Err(malformed(
                nt_offset + 20,
                MalformedKind::InvalidValue,
                format!(
                    "SizeOfOptionalHeader {opt_len} is too small to hold the certificate table \
                     data-directory entry (needs {needed})"
                ),
            ));
        }
        let short = || {
            malformed(
                opt_offset,
                MalformedKind::Truncated,
                "optional header too short",
            )
        };
        let number_of_rva_and_sizes = u32_at(&oh, nrvas_at).ok_or_else(short)?;
        if u64::from(number_of_rva_and_sizes) <= CERTIFICATE_TABLE_INDEX {
            return Err(malformed(
                opt_offset + nrvas_at as u64,
                MalformedKind::InvalidValue,
                format!(
                    "NumberOfRvaAndSizes {number_of_rva_and_sizes} has no certificate table \
                     entry (needs at least 5)"
                ),
            ));
        }
        let checksum = u32_at(&oh, opt::CHECKSUM).ok_or_else(short)?;
        let size_of_headers = u32_at(&oh, opt::SIZE_OF_HEADERS).ok_or_else(short)?;
        let file_alignment = u32_at(&oh, opt::FILE_ALIGNMENT).ok_or_else(short)?;
        let section_alignment = u32_at(&oh, opt::SECTION_ALIGNMENT).ok_or_else(short)?;
        let cert_entry = cert_entry_at as usize;
        let cert_va = u32_at(&oh, cert_entry).ok_or_else(short)?;
        let cert_size = u32_at(&oh, cert_entry + 4).ok_or_else(short)?;

        let checksum_offset = opt_offset + opt::CHECKSUM as u64;
        let cert_dir_offset = opt_offset + cert_entry_at;

        // Section table: right after the optional header, entirely inside the file.
        let sections_offset = opt_offset + opt_len;
        let sections_len = u64::from(number_of_sections) * SECTION_HEADER_SIZE;
        if sections_offset + sections_len > file_len {
            return Err(malformed(
                nt_offset + 6,
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
        let sections = raw
            .chunks_exact(SECTION_HEADER_SIZE as usize)
            .map(|s| {
                let mut name = [0u8; 8];
                name.copy_from_slice(s.get(..8).unwrap_or(&[0; 8]));
                SectionHeader {
                    name,
                    virtual_size: u32_at(s, 8).unwrap_or(0),
                    virtual_address: u32_at(s, 12).unwrap_or(0),
                    size_of_raw_data: u32_at(s, 16).unwrap_or(0),
                    pointer_to_raw_data: u32_at(s, 20).unwrap_or(0),
                    characteristics: u32_at(s, 36).unwrap_or(0),
                }
            })
            .collect();

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
