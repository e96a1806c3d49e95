//! The attribute certificate table: a sequence of 8-byte-aligned `WIN_CERTIFICATE` entries
//! {dwLength u32, wRevision u16, wCertificateType u16, bCertificate}, read with bounds on
//! the number and size of entries, and written the way osslsigncode writes it.

use crate::error::{Error, Format, MalformedKind, Result};

/// Size of the `WIN_CERTIFICATE` header (dwLength, wRevision, wCertificateType).
pub const WIN_CERTIFICATE_HEADER_SIZE: usize = 8;
/// `wRevision` of every current entry: `WIN_CERT_REVISION_2_0`.
pub const WIN_CERT_REVISION_2_0: u16 = 0x0200;
/// `wCertificateType` of an Authenticode signature: `WIN_CERT_TYPE_PKCS_SIGNED_DATA`.
pub const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 0x0002;
/// Most entries read from one table; more is treated as malformed.
pub const MAX_ENTRIES: usize = 64;
/// Largest certificate table read into memory (bytes).
pub const MAX_TABLE_SIZE: u64 = 64 << 20;

/// One `WIN_CERTIFICATE` entry found in the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinCertificate {
    /// File offset of the entry's header.
    pub offset: u64,
    /// `wRevision`.
    pub revision: u16,
    /// `wCertificateType`.
    pub certificate_type: u16,
    /// `bCertificate` (dwLength - 8 bytes, including any padding the writer added).
    pub data: Vec<u8>,
}

impl WinCertificate {
    /// Whether this entry holds an Authenticode PKCS#7 SignedData (revision 2.0, type 2).
    pub fn is_pkcs_signed_data(&self) -> bool {
        self.revision == WIN_CERT_REVISION_2_0
            && self.certificate_type == WIN_CERT_TYPE_PKCS_SIGNED_DATA
    }
}

fn malformed(offset: u64, kind: MalformedKind, what: impl Into<String>) -> Error {
    Error::malformed(Format::Pe, offset, kind, what)
}

/// `n` rounded up to a multiple of 8, or `None` on overflow.
pub(crate) fn align8(n: u64) -> Option<u64> {
    n.checked_add(7).map(|v| v & !7)
}

/// Split `table` (the bytes of the certificate table, found at file offset `table_offset`)
/// into its entries.
///
/// Zero bytes after the last entry are accepted (sbsign, for one, writes a table `Size` larger
/// than its only entry); anything else that is not a whole entry is malformed.
pub fn parse_entries(table: &[u8], table_offset: u64) -> Result<Vec<WinCertificate>> {
    let mut entries = Vec::new();
    let mut pos = 0usize;
    while pos < table.len() {
        let at = table_offset.saturating_add(pos as u64);
        let rest = table.get(pos..).unwrap_or_default();
        if !entries.is_empty() && rest.iter().all(|&b| b == 0) {
            break;
        }
        let header = rest.get(..WIN_CERTIFICATE_HEADER_SIZE).ok_or_else(|| {
            malformed(
                at,
                MalformedKind::InvalidValue,
                format!(
                    "{} stray bytes after the last certificate table entry",
                    rest.len()
                ),
            )
        })?;
        let mut len4 = [0u8; 4];
        len4.copy_from_slice(header.get(..4).unwrap_or(&[0; 4]));
        let dw_length = u32::from_le_bytes(len4);
        let revision = u16::from_le_bytes([
            header.get(4).copied().unwrap_or(0),
            header.get(5).copied().unwrap_or(0),
        ]);
        let certificate_type = u16::from_le_bytes([
            header.get(6).copied().unwrap_or(0),
            header.get(7).copied().unwrap_or(0),
        ]);
        let len = usize::try_from(dw_length).unwrap_or(usize::MAX);
        if len <= WIN_CERTIFICATE_HEADER_SIZE {
            return Err(malformed(
                at,
                MalformedKind::InvalidValue,
                format!("WIN_CERTIFICATE dwLength {dw_length} is too small"),
            ));
        }
        if len > rest.len() {
            return Err(malformed(
                at,
                MalformedKind::Truncated,
                format!(
                    "WIN_CERTIFICATE dwLength {dw_length} runs past the end of the certificate \
                     table ({} bytes left)",
                    rest.len()
                ),
            ));
        }
        if entries.len() >= MAX_ENTRIES {
            return Err(malformed(
                at,
                MalformedKind::LimitExceeded,
                format!("more than {MAX_ENTRIES} certificate table entries"),
            ));
        }
        entries.push(WinCertificate {
            offset: at,
            revision,
            certificate_type,
            data: rest
                .get(WIN_CERTIFICATE_HEADER_SIZE..len)
                .unwrap_or_default()
                .to_vec(),
        });
        // Entries are quadword aligned; the last one's padding may be missing.
        pos = align8(pos as u64 + len as u64)
            .and_then(|p| usize::try_from(p).ok())
            .unwrap_or(usize::MAX);
    }
    Ok(entries)
}

/// The PKCS#7 inside `data` (an entry's `bCertificate`), without the zero padding after it.
///
/// The end comes from the first TLV, read by the crate's one BER/DER reader
/// ([`crate::cms::split_padded`]). Anything but zeros after it is malformed. `offset` is
/// the file offset of `data`, for errors.
pub fn trim_pkcs7(data: &[u8], offset: u64) -> Result<&[u8]> {
    let (der, padding) = split_pkcs7(data, offset)?;
    if padding.iter().any(|&b| b != 0) {
        return Err(malformed(
            offset,
            MalformedKind::InvalidValue,
            format!(
                "{} bytes after the PKCS#7 in a certificate table entry are not zero padding",
                padding.len()
            ),
        ));
    }
    Ok(der)
}

/// The PKCS#7 inside `data` and the bytes after it (which should be zero padding, and which
/// Windows rejects otherwise when the CVE-2013-3900 padding check is on).
pub fn split_pkcs7(data: &[u8], offset: u64) -> Result<(&[u8], &[u8])> {
    crate::cms::split_padded(data).map_err(|e| match e {
        Error::Malformed(m) => malformed(
            offset.saturating_add(m.offset),
            m.kind,
            format!("PKCS#7 in a certificate table entry: {}", m.what),
        ),
        other => other,
    })
}

/// A `WIN_CERTIFICATE` entry holding `pkcs7`, as osslsigncode writes it: the header's
/// `dwLength` counts the header, the DER and the zero padding that brings it to a multiple of
/// 8 bytes. Returns `None` if the entry would not fit a `u32` length.
pub fn build_entry(pkcs7: &[u8]) -> Option<Vec<u8>> {
    let padded = align8(pkcs7.len() as u64)?;
    let total = padded.checked_add(WIN_CERTIFICATE_HEADER_SIZE as u64)?;
    let dw_length = u32::try_from(total).ok()?;
    let mut entry = Vec::with_capacity(usize::try_from(total).ok()?);
    entry.extend_from_slice(&dw_length.to_le_bytes());
    entry.extend_from_slice(&WIN_CERT_REVISION_2_0.to_le_bytes());
    entry.extend_from_slice(&WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_le_bytes());
    entry.extend_from_slice(pkcs7);
    entry.resize(usize::try_from(total).ok()?, 0);
    Some(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_then_parse() {
        let der = [0x30, 0x03, 0x02, 0x01, 0x05];
        let entry = build_entry(&der).unwrap();
        assert_eq!(entry.len(), 16);
        assert_eq!(&entry[..4], &16u32.to_le_bytes());
        let parsed = parse_entries(&entry, 100).unwrap();
        assert_eq!(parsed.len(), 1);
        assert!(parsed[0].is_pkcs_signed_data());
        assert_eq!(trim_pkcs7(&parsed[0].data, 108).unwrap(), &der);
    }

    #[test]
    fn long_form_and_indefinite_lengths() {
        let mut der = vec![0x30, 0x81, 0x80];
        der.extend(std::iter::repeat_n(1u8, 0x80));
        let mut padded = der.clone();
        padded.extend([0, 0, 0]);
        assert_eq!(trim_pkcs7(&padded, 0).unwrap(), der.as_slice());

        let ber = [0x30, 0x80, 0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00];
        assert_eq!(trim_pkcs7(&ber, 0).unwrap(), &ber[..7]);
        let nested = [0x30, 0x80, 0xa0, 0x80, 0x02, 0x01, 0x00, 0, 0, 0, 0, 0, 0];
        assert_eq!(trim_pkcs7(&nested, 0).unwrap(), &nested[..11]);
        assert!(trim_pkcs7(&[0x30, 0x80, 0x02, 0x01], 0).is_err());
        let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 100).flatten().collect();
        assert!(trim_pkcs7(&deep, 0).is_err());
    }

    #[test]
    fn rejects_bad_entries() {
        assert!(parse_entries(&[0u8; 8], 0).is_err()); // dwLength 0
        let mut huge = vec![0xff, 0xff, 0xff, 0xff, 0, 2, 2, 0];
        huge.extend([0u8; 8]);
        assert!(parse_entries(&huge, 0).is_err());
        assert!(trim_pkcs7(&[0x30, 0x05, 1], 0).is_err());
        assert!(trim_pkcs7(&[0x30, 0x01, 1, 9], 0).is_err());
        assert!(trim_pkcs7(&[0x30, 0x85, 1, 1, 1, 1, 1], 0).is_err());
        assert!(trim_pkcs7(&[], 0).is_err());
    }
}
