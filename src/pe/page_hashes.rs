//! PE page hashes: a table of (file offset, digest) pairs, one per page of the headers and of
//! each section's raw data, that Windows code integrity checks page by page as the image is
//! mapped. Stored in SpcPeImageData as an SpcLink moniker (SpcSerializedObject).
//!
//! ```text
//! SpcSerializedObject ::= SEQUENCE { classId OCTET STRING (a6b586d5-b4a1-2466-ae05-a217da8e60d6),
//!                                    serializedData OCTET STRING }
//! serializedData: SET { SEQUENCE { type OBJECT IDENTIFIER (1.3.6.1.4.1.311.2.3.1 SHA-1 or
//!                                  1.3.6.1.4.1.311.2.3.2 SHA-256), SET { OCTET STRING table } } }
//! table: for each page, offset (u32 LE) then digest; a last entry with the end offset of the
//!        last section and a zero digest.
//! ```
//!
//! Page 0 is the headers (`SizeOfHeaders` bytes) without `CheckSum` and the certificate-table
//! directory entry, padded with zeros to a page; then every non-empty section in section-table
//! order, page by page, the last page of a section padded with zeros.
//!
//! Page size: Windows code integrity checks pages of the processor's page size, 4 KiB (8 KiB on
//! Itanium), which is also what signtool writes. osslsigncode uses `SectionAlignment` instead;
//! the two agree for ordinary images (SectionAlignment 0x1000) and differ otherwise, where we
//! follow Windows.

use super::header::PeHeaders;
use crate::cms::oids;
use crate::cms::spc::{SpcLink, SpcPeImageData, SpcSerializedObject};
use crate::digest::DigestAlgorithm;
use crate::error::{Error, Format, MalformedKind, Result};
use crate::input::{for_each_chunk, Input};

/// The SpcSerializedObject class id of a page-hash table.
pub const CLASS_ID: [u8; 16] = [
    0xa6, 0xb5, 0x86, 0xd5, 0xb4, 0xa1, 0x24, 0x66, 0xae, 0x05, 0xa2, 0x17, 0xda, 0x8e, 0x60, 0xd6,
];

/// Most pages hashed (a 16 GiB image at 4 KiB pages; 137 MB of SHA-256 table would be absurd,
/// so real tables stay far below).
pub const MAX_PAGES: u64 = 1 << 22;

/// IMAGE_FILE_MACHINE_IA64.
const MACHINE_IA64: u16 = 0x200;

/// The page size Windows checks page hashes with for this image.
pub fn page_size(h: &PeHeaders) -> u32 {
    if h.machine == MACHINE_IA64 {
        8192
    } else {
        4096
    }
}

/// The page-hash algorithm used with a file digest algorithm: SHA-1 for SHA-1, else SHA-256.
pub fn page_hash_algorithm(file_digest: DigestAlgorithm) -> DigestAlgorithm {
    match file_digest {
        DigestAlgorithm::Sha1 => DigestAlgorithm::Sha1,
        _ => DigestAlgorithm::Sha256,
    }
}

fn malformed(offset: u64, kind: MalformedKind, what: impl Into<String>) -> Error {
    Error::malformed(Format::Pe, offset, kind, what)
}

/// Hash `len` bytes at `offset` of `input`, zero-padded to `page` bytes.
fn hash_page(
    input: &dyn Input,
    alg: DigestAlgorithm,
    offset: u64,
    len: u64,
    page: u32,
) -> Result<Vec<u8>> {
    let mut h = alg.hasher();
    for_each_chunk(input, offset, len, |b| {
        h.update(b);
        Ok(())
    })?;
    let zeros = vec![0u8; usize::try_from(u64::from(page).saturating_sub(len)).unwrap_or(0)];
    h.update(&zeros);
    Ok(h.finalize())
}

/// Compute the page-hash table of the image (offset + digest per page, then the end entry).
pub fn compute(input: &dyn Input, h: &PeHeaders, alg: DigestAlgorithm) -> Result<Vec<u8>> {
    let page = page_size(h);
    let bound = h.image_end();
    let headers = u64::from(h.size_of_headers);
    if headers < h.cert_dir_offset + 8 || headers > bound {
        return Err(malformed(
            h.nt_offset,
            MalformedKind::Truncated,
            format!("SizeOfHeaders {headers:#x} does not cover the headers or runs past the image"),
        ));
    }
    if headers > u64::from(page) {
        return Err(Error::Unsupported(format!(
            "page hashes for SizeOfHeaders {headers:#x} larger than a {page}-byte page"
        )));
    }
    let pages: u64 = h
        .sections
        .iter()
        .map(|s| u64::from(s.size_of_raw_data).div_ceil(u64::from(page)))
        .sum();
    if pages > MAX_PAGES {
        return Err(Error::Unsupported(format!(
            "page hashes for {pages} pages (at most {MAX_PAGES})"
        )));
    }
    let entry = 4 + alg.output_size();
    let mut table = Vec::with_capacity((pages as usize + 2) * entry);

    // Page 0: the headers without CheckSum and the certificate-table entry.
    let mut hh = alg.hasher();
    let ranges = [
        (0, h.checksum_offset),
        (h.checksum_offset + 4, h.cert_dir_offset),
        (h.cert_dir_offset + 8, headers),
    ];
    for (start, end) in ranges {
        for_each_chunk(input, start, end.saturating_sub(start), |b| {
            hh.update(b);
            Ok(())
        })?;
    }
    hh.update(&vec![0u8; (u64::from(page) - headers) as usize]);
    table.extend_from_slice(&0u32.to_le_bytes());
    table.extend_from_slice(&hh.finalize());

    let mut last = 0u64;
    for (i, s) in h.sections.iter().enumerate() {
        let (ro, rs) = (
            u64::from(s.pointer_to_raw_data),
            u64::from(s.size_of_raw_data),
        );
        if rs == 0 {
            continue;
        }
        if ro.checked_add(rs).is_none_or(|e| e > bound) {
            return Err(malformed(
                ro,
                MalformedKind::Truncated,
                format!("section {i} raw data {ro:#x}+{rs:#x} runs past the image end {bound:#x}"),
            ));
        }
        let mut l = 0u64;
        while l < rs {
            let len = (rs - l).min(u64::from(page));
            let offset = u32::try_from(ro + l).map_err(|_| {
                malformed(ro, MalformedKind::LimitExceeded, "page offset over 4 GiB")
            })?;
            table.extend_from_slice(&offset.to_le_bytes());
            table.extend_from_slice(&hash_page(input, alg, ro + l, len, page)?);
            l += u64::from(page);
        }
        last = ro + rs;
    }
    let last = u32::try_from(last)
        .map_err(|_| malformed(last, MalformedKind::LimitExceeded, "section end over 4 GiB"))?;
    table.extend_from_slice(&last.to_le_bytes());
    table.extend_from_slice(&vec![0u8; alg.output_size()]);
    Ok(table)
}

/// One page-hash table in an SpcSerializedObject's serializedData (a SET of one of them):
///
/// ```text
/// PageHashes ::= SEQUENCE {
///     type      OBJECT IDENTIFIER,   -- SPC_PE_IMAGE_PAGE_HASHES_V1 (SHA-1) or _V2 (SHA-256)
///     tables    SET OF OCTET STRING }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, der::Sequence, der::ValueOrd)]
pub struct PageHashes<'a> {
    /// Which digest the table holds.
    pub hash_type: const_oid::ObjectIdentifier,
    /// The table (one).
    pub tables: der::asn1::SetOfVec<&'a der::asn1::OctetStringRef>,
}

fn encoding(e: der::Error) -> Error {
    malformed(
        e.position().map_or(0, |p| u32::from(p).into()),
        MalformedKind::InvalidValue,
        format!("page hashes: {e}"),
    )
}

/// The SpcLink moniker (`[1] IMPLICIT SpcSerializedObject`) carrying `table`.
pub fn spc_link(table: &[u8], alg: DigestAlgorithm) -> Result<Vec<u8>> {
    use der::asn1::{OctetStringRef, SetOfVec};
    use der::Encode;
    let hash_type = if alg == DigestAlgorithm::Sha1 {
        oids::SPC_PE_IMAGE_PAGE_HASHES_V1
    } else {
        oids::SPC_PE_IMAGE_PAGE_HASHES_V2
    };
    let table = OctetStringRef::new(table).map_err(encoding)?;
    let hashes = PageHashes {
        hash_type,
        tables: SetOfVec::try_from(vec![table]).map_err(encoding)?,
    };
    let serialized = SetOfVec::try_from(vec![hashes])
        .and_then(|set| set.to_der())
        .map_err(encoding)?;
    SpcLink::Moniker(SpcSerializedObject {
        class_id: OctetStringRef::new(&CLASS_ID).map_err(encoding)?,
        serialized_data: OctetStringRef::new(&serialized).map_err(encoding)?,
    })
    .to_der()
    .map_err(encoding)
}

/// The page-hash table and its algorithm stored in an SpcPeImageData value, if it has one.
pub fn from_pe_image_data(pe_image_data: &[u8]) -> Result<Option<(DigestAlgorithm, Vec<u8>)>> {
    use der::Decode;
    let data = SpcPeImageData::from_ber(pe_image_data).map_err(encoding)?;
    let Some(SpcLink::Moniker(object)) = data.file else {
        return Ok(None);
    };
    if object.class_id.as_bytes() != CLASS_ID {
        return Ok(None);
    }
    let set = der::asn1::SetOfVec::<PageHashes<'_>>::from_ber(object.serialized_data.as_bytes())
        .map_err(encoding)?;
    let Some(hashes) = set.iter().next() else {
        return Err(malformed(
            0,
            MalformedKind::Truncated,
            "page hash set is empty",
        ));
    };
    let alg = if hashes.hash_type == oids::SPC_PE_IMAGE_PAGE_HASHES_V1 {
        DigestAlgorithm::Sha1
    } else if hashes.hash_type == oids::SPC_PE_IMAGE_PAGE_HASHES_V2 {
        DigestAlgorithm::Sha256
    } else {
        return Err(Error::Unsupported(format!(
            "page hash type {}",
            hashes.hash_type
        )));
    };
    let Some(table) = hashes.tables.iter().next().map(|t| t.as_bytes()) else {
        return Err(malformed(0, MalformedKind::Truncated, "no page hash table"));
    };
    if table.len() % (4 + alg.output_size()) != 0 {
        return Err(malformed(
            0,
            MalformedKind::InvalidValue,
            "page hash table is not whole entries",
        ));
    }
    Ok(Some((alg, table.to_vec())))
}

/// The first entry where two page-hash tables differ: its file offset (as stored in `signed`),
/// or `None` when they are equal.
pub fn first_difference(signed: &[u8], computed: &[u8], alg: DigestAlgorithm) -> Option<u64> {
    let entry = 4 + alg.output_size();
    let n = signed.len().max(computed.len()) / entry;
    (0..=n).find_map(|i| {
        let a = signed.get(i * entry..(i + 1) * entry);
        let b = computed.get(i * entry..(i + 1) * entry);
        (a != b).then(|| {
            a.or(b)
                .and_then(|e| e.get(..4))
                .and_then(|o| o.try_into().ok())
                .map_or(0, |o| u64::from(u32::from_le_bytes(o)))
        })
    })
}
