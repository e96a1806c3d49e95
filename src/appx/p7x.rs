//! `AppxSignature.p7x`: the signature part, `"PKCX"` followed by the DER PKCS#7 ContentInfo.

use super::malformed;
use crate::error::{MalformedKind, Result};

/// The part's name.
pub const NAME: &str = "AppxSignature.p7x";
/// The magic before the PKCS#7 (the little-endian u32 0x58434B50).
pub const MAGIC: &[u8; 4] = b"PKCX";
/// Largest signature part Windows reads (the MSIX SDK refuses more: 2 MiB).
pub const MAX_SIZE: u64 = 2 << 20;

/// The part's bytes for `pkcs7`.
pub fn encode(pkcs7: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pkcs7.len() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(pkcs7);
    out
}

/// The PKCS#7 in the part `data` (whose data starts at file offset `at`).
pub fn decode(data: &[u8], at: u64) -> Result<&[u8]> {
    match data.strip_prefix(MAGIC) {
        Some(der) if !der.is_empty() => Ok(der),
        Some(_) => Err(malformed(
            at,
            MalformedKind::Truncated,
            "AppxSignature.p7x holds no PKCS#7",
        )),
        None => Err(malformed(
            at,
            MalformedKind::WrongFormat,
            "AppxSignature.p7x does not start with PKCX",
        )),
    }
}
