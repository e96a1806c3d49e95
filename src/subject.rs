//! [`Subject`]: what a Windows SIP (subject interface package) does for one file format —
//! recognise the file, digest it, describe it in SpcIndirectDataContent, and read, embed or
//! remove its signature. [`open`] picks the implementation by the file's magic bytes.

use std::io::Write;

use crate::digest::DigestAlgorithm;
pub use crate::error::Format;
use crate::error::{Error, Result};
use crate::input::Input;

/// Format-specific choices made when building SpcIndirectDataContent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubjectOptions {
    /// PE only: include page hashes (SHA-1 pages with a SHA-1 file digest, else SHA-256).
    pub page_hashes: bool,
    /// MSI only: sign the digest that includes the MsiDigitalSignatureEx pre-hash (entry
    /// names, sizes, CLSIDs, state bits and times), so that embedding the signature also
    /// writes the `\u{5}MsiDigitalSignatureEx` stream. signtool always does this;
    /// osslsigncode only with `-add-msi-dse`.
    pub msi_dse: bool,
    /// MSI only: the version in SpcSipInfo. signtool writes 2, osslsigncode 1; `None` means
    /// 2 with [`msi_dse`](Self::msi_dse) (what signtool writes) and 1 without.
    pub msi_sip_version: Option<u32>,
}

/// What [`Subject::check_indirect_data`] found beyond the file digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubjectCheck {
    /// PE page hashes: `None` when the signature has none; else whether every page matched.
    pub page_hashes: Option<PageHashCheck>,
}

/// The outcome of checking a page-hash table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct PageHashCheck {
    /// Algorithm of the table.
    pub algorithm: DigestAlgorithm,
    /// Number of pages in the signed table (excluding the end entry).
    pub pages: usize,
    /// File offset of the first page whose hash differs, if any.
    pub first_mismatch: Option<u64>,
}

/// A problem with how signatures are stored in a file, outside every signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageProblem {
    /// Bytes follow the PE certificate table: no signature covers them.
    TrailingData {
        /// How many.
        bytes: u64,
    },
    /// Non-zero bytes follow the PKCS#7 inside a PE certificate-table entry: data hidden in
    /// the signature, which Windows' opt-in CVE-2013-3900 check (`EnableCertPaddingCheck`)
    /// rejects.
    NonZeroPadding {
        /// Index of the certificate-table entry.
        entry: usize,
        /// How many non-zero bytes.
        bytes: usize,
    },
}

impl StorageProblem {
    /// The reason code: `trailing-data` or `certificate-padding`.
    pub fn code(&self) -> &'static str {
        match self {
            StorageProblem::TrailingData { .. } => "trailing-data",
            StorageProblem::NonZeroPadding { .. } => "certificate-padding",
        }
    }
}

impl std::fmt::Display for StorageProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageProblem::TrailingData { bytes } => write!(
                f,
                "{bytes} bytes follow the certificate table: they are not covered by the signature"
            ),
            StorageProblem::NonZeroPadding { entry, bytes } => write!(
                f,
                "certificate table entry {entry}: {bytes} non-zero bytes after the PKCS#7 (extra \
                 data hidden in the signature: CVE-2013-3900)"
            ),
        }
    }
}

/// One signable file, parsed just enough to know where its signature lives.
pub trait Subject {
    /// The file's format.
    fn format(&self) -> Format;

    /// The Authenticode digest of the file for each algorithm in `algs`, in that order,
    /// computed in one pass over the file.
    fn digest(&self, algs: &[DigestAlgorithm]) -> Result<Vec<Vec<u8>>>;

    /// DER of the SpcIndirectDataContent that a signature over this file must carry.
    fn indirect_data(&self, alg: DigestAlgorithm, opts: &SubjectOptions) -> Result<Vec<u8>>;

    /// [`Subject::indirect_data`] for each algorithm in `algs`, in that order. Subjects that can
    /// digest several algorithms in one pass over the file override this (dual signing).
    fn indirect_data_all(
        &self,
        algs: &[DigestAlgorithm],
        opts: &SubjectOptions,
    ) -> Result<Vec<Vec<u8>>> {
        algs.iter().map(|a| self.indirect_data(*a, opts)).collect()
    }

    /// Whether `data` (a signature's SpcIndirectDataContent) was made for this file: its digest
    /// equals the file's, as the file is or as it will be once that signature is embedded.
    /// MSI overrides this: a signature may carry the digest with or without the
    /// MsiDigitalSignatureEx pre-hash.
    fn matches_indirect_data(&self, data: &crate::cms::IndirectData) -> Result<bool> {
        let computed = self.digest(&[data.digest_algorithm])?;
        Ok(computed.first() == Some(&data.digest))
    }

    /// Format-specific checks of the signed data for `signature` (a parsed SpcIndirectDataContent
    /// whose file digest already matched): for PE, the page hashes. Returns what was checked,
    /// or problems found.
    fn check_indirect_data(&self, data: &crate::cms::IndirectData) -> Result<SubjectCheck> {
        let _ = data;
        Ok(SubjectCheck::default())
    }

    /// Problems with how the signature is stored in the file (for PE: data after the
    /// certificate table, non-zero padding in an entry).
    fn storage_problems(&self) -> Result<Vec<StorageProblem>> {
        Ok(Vec::new())
    }

    /// Every embedded PKCS#7 signature (DER), in file order. PE files can hold several
    /// certificate-table entries; other formats hold at most one.
    fn signatures(&self) -> Result<Vec<Vec<u8>>>;

    /// The primary embedded PKCS#7 signature (DER), if any.
    fn signature(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.signatures()?.into_iter().next())
    }

    /// Write the file with `pkcs7` as its only signature (replacing any existing one).
    fn with_signature(&self, pkcs7: &[u8], out: &mut dyn Write) -> Result<()>;

    /// Write the file with every signature removed.
    fn without_signature(&self, out: &mut dyn Write) -> Result<()>;
}

/// Recognise the format of `input` and open it as a [`Subject`].
pub fn open<'a>(input: &'a dyn Input) -> Result<Box<dyn Subject + 'a>> {
    let mut magic = [0u8; 4];
    let n = input.len().min(4) as usize;
    let got = magic.get_mut(..n).unwrap_or_default();
    if n < 2 || input.read_exact_at(0, got).is_err() {
        return Err(Error::Unsupported(
            "file too short to be a PE, CAB or MSI file".into(),
        ));
    }
    match &magic {
        [b'M', b'Z', ..] => Ok(Box::new(crate::pe::PeSubject::parse(input)?)),
        b"MSCF" => Ok(Box::new(crate::cab::CabSubject::parse(input)?)),
        [0xd0, 0xcf, ..] => Ok(Box::new(crate::msi::MsiSubject::parse(input)?)),
        _ => Err(Error::Unsupported(format!(
            "unrecognised file format (starts with {:02x} {:02x}; expected a PE \"MZ\" header, a \
             cabinet \"MSCF\" header or an MSI compound file)",
            magic[0], magic[1]
        ))),
    }
}
