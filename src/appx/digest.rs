//! The APPX digest: what a package signature's SpcIndirectDataContent carries instead of one
//! file hash. `"APPX"` then tagged hashes, all in the block map's algorithm:
//!
//! | tag | hash of |
//! |---|---|
//! | `AXPC` | the file from 0 to the signature's local header: every local record as stored |
//! | `AXCD` | the central directory without the signature's record, then the end records as an unsigned package of that layout would end (entry counts less one, central directory at the signature's offset, disk numbers 0) |
//! | `AXCT` | the uncompressed `[Content_Types].xml` (with the signature's Override) |
//! | `AXBM` | the uncompressed `AppxBlockMap.xml` |
//! | `AXCI` | the uncompressed `AppxMetadata/CodeIntegrity.cat`, when there is one |
//!
//! Sources: osslsigncode `appx.c`, jsign `APPXFile`, the MSIX SDK's `AppxSignature.hpp`;
//! every fixture's digest is recomputed in the tests.

use super::malformed;
use crate::digest::DigestAlgorithm;
use crate::error::{MalformedKind, Result};

/// The blob's magic.
pub const MAGIC: &[u8; 4] = b"APPX";

/// The five hashes of a package digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppxDigest {
    /// AXPC: the local records.
    pub local_records: Vec<u8>,
    /// AXCD: the central directory.
    pub central_directory: Vec<u8>,
    /// AXCT: `[Content_Types].xml`.
    pub content_types: Vec<u8>,
    /// AXBM: `AppxBlockMap.xml`.
    pub block_map: Vec<u8>,
    /// AXCI: `AppxMetadata/CodeIntegrity.cat`, if present.
    pub code_integrity: Option<Vec<u8>>,
}

impl AppxDigest {
    /// The blob, tags in the order signtool and osslsigncode write them.
    pub fn to_blob(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        for (tag, h) in [
            (b"AXPC", Some(&self.local_records)),
            (b"AXCD", Some(&self.central_directory)),
            (b"AXCT", Some(&self.content_types)),
            (b"AXBM", Some(&self.block_map)),
            (b"AXCI", self.code_integrity.as_ref()),
        ] {
            if let Some(h) = h {
                out.extend_from_slice(tag);
                out.extend_from_slice(h);
            }
        }
        out
    }

    /// Read a blob of `alg` hashes (tags in any order, each once; AXCI optional).
    pub fn parse(blob: &[u8], alg: DigestAlgorithm) -> Result<Self> {
        let bad = |what: &str| {
            malformed(
                0,
                MalformedKind::WrongFormat,
                format!("APPX digest in the signature: {what}"),
            )
        };
        let rest = blob
            .strip_prefix(MAGIC)
            .ok_or_else(|| bad("no APPX magic"))?;
        let h = alg.output_size();
        let mut slots: [Option<Vec<u8>>; 5] = Default::default();
        let mut chunks = rest.chunks(4 + h);
        for c in chunks.by_ref() {
            let (tag, hash) = c.split_at(4.min(c.len()));
            if hash.len() != h {
                return Err(bad("truncated hash"));
            }
            let i = match tag {
                b"AXPC" => 0,
                b"AXCD" => 1,
                b"AXCT" => 2,
                b"AXBM" => 3,
                b"AXCI" => 4,
                _ => return Err(bad(&format!("unknown tag {:02x?}", tag))),
            };
            let slot = slots.get_mut(i).ok_or_else(|| bad("tag"))?;
            if slot.replace(hash.to_vec()).is_some() {
                return Err(bad("a tag appears twice"));
            }
        }
        let [pc, cd, ct, bm, ci] = slots;
        match (pc, cd, ct, bm) {
            (
                Some(local_records),
                Some(central_directory),
                Some(content_types),
                Some(block_map),
            ) => Ok(Self {
                local_records,
                central_directory,
                content_types,
                block_map,
                code_integrity: ci,
            }),
            _ => Err(bad("AXPC, AXCD, AXCT and AXBM are required")),
        }
    }

    /// The tags whose hashes differ from `other`'s.
    pub fn differences(&self, other: &Self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.local_records != other.local_records {
            v.push("AXPC (local records)");
        }
        if self.central_directory != other.central_directory {
            v.push("AXCD (central directory)");
        }
        if self.content_types != other.content_types {
            v.push("AXCT ([Content_Types].xml)");
        }
        if self.block_map != other.block_map {
            v.push("AXBM (AppxBlockMap.xml)");
        }
        if self.code_integrity != other.code_integrity {
            v.push("AXCI (CodeIntegrity.cat)");
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_round_trips() {
        let d = AppxDigest {
            local_records: vec![1; 32],
            central_directory: vec![2; 32],
            content_types: vec![3; 32],
            block_map: vec![4; 32],
            code_integrity: None,
        };
        let blob = d.to_blob();
        assert_eq!(blob.len(), 4 + 4 * 36);
        assert_eq!(
            AppxDigest::parse(&blob, DigestAlgorithm::Sha256).unwrap(),
            d
        );
        assert!(AppxDigest::parse(&blob, DigestAlgorithm::Sha512).is_err());
        assert!(AppxDigest::parse(&blob[..100], DigestAlgorithm::Sha256).is_err());
        let mut twice = blob.clone();
        twice.extend_from_slice(&blob[4..40]);
        assert!(AppxDigest::parse(&twice, DigestAlgorithm::Sha256).is_err());
    }
}
