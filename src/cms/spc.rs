//! Authenticode's SPC structures (SpcIndirectDataContent, SpcPeImageData, SpcLink, ...).

use crate::digest::DigestAlgorithm;
use crate::error::{Error, Result};

/// DER of the SpcIndirectDataContent for a PE image whose Authenticode digest is `digest`.
pub fn pe_indirect_data(alg: DigestAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
    let _ = (alg, digest);
    Err(Error::Unsupported("not implemented yet".into()))
}
