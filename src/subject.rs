//! [`Subject`]: what a Windows SIP (subject interface package) does for one file format —
//! digest the file, describe it in SpcIndirectDataContent, and read, embed or remove its
//! signature. `authsign::open` (in `open`) picks the implementation for a file.

use std::io::Write;

use const_oid::ObjectIdentifier;

use crate::cms::{oids, IndirectData, SignedData};
use crate::digest::DigestAlgorithm;
pub use crate::error::Format;
use crate::error::Result;

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
    /// APPX/MSIX only: which tool's way of rewriting the package to reproduce when signing
    /// (the `[Content_Types].xml` text and compression, the shape of the ZIP records). `None`:
    /// that of the signing profile ([`SignOptions`](crate::SignOptions) sets it).
    pub appx_layout: Option<crate::cms::Profile>,
    /// APPX/MSIX only: sign even though the manifest's Publisher is not the signer
    /// certificate's subject (Windows will not install such a package; signtool refuses).
    pub allow_publisher_mismatch: bool,
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

/// What a format's own integrity data says about the file's content, beyond the signature's
/// digest: for APPX/MSIX, the per-block hashes of `AppxBlockMap.xml` that Windows checks
/// whenever it reads a file of the package.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentProblem {
    /// A file's data does not match the block map (a block's hash, its size, its blocks).
    BlockMapMismatch {
        /// The file (its name in the package).
        file: String,
        /// The first block that differs, when one does.
        block: Option<u64>,
        /// What differs.
        reason: String,
    },
    /// A payload file the block map does not describe.
    NotInBlockMap {
        /// The file.
        file: String,
    },
    /// A file the block map describes that is not in the package.
    MissingFromPackage {
        /// The block map's name of the file.
        file: String,
    },
    /// A package of a bundle differs from the bundle manifest (its offset or size), or is
    /// compressed (bundles store their packages).
    BundleManifestMismatch {
        /// The package's file name.
        file: String,
        /// What differs.
        reason: String,
    },
}

impl ContentProblem {
    /// The reason code: `block-map-mismatch`, `file-not-in-block-map`,
    /// `block-map-file-missing` or `bundle-manifest-mismatch`.
    pub fn code(&self) -> &'static str {
        match self {
            ContentProblem::BlockMapMismatch { .. } => "block-map-mismatch",
            ContentProblem::NotInBlockMap { .. } => "file-not-in-block-map",
            ContentProblem::MissingFromPackage { .. } => "block-map-file-missing",
            ContentProblem::BundleManifestMismatch { .. } => "bundle-manifest-mismatch",
        }
    }
}

impl std::fmt::Display for ContentProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContentProblem::BlockMapMismatch { file, reason, .. } => {
                write!(f, "{file}: does not match AppxBlockMap.xml: {reason}")
            }
            ContentProblem::NotInBlockMap { file } => {
                write!(
                    f,
                    "{file}: a payload file that AppxBlockMap.xml does not describe"
                )
            }
            ContentProblem::MissingFromPackage { file } => {
                write!(
                    f,
                    "{file}: described by AppxBlockMap.xml but not in the package"
                )
            }
            ContentProblem::BundleManifestMismatch { file, reason } => {
                write!(f, "{file}: differs from the bundle manifest: {reason}")
            }
        }
    }
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
    /// A script's signature block whose lines (or the line break before it) end in LF only,
    /// or whose last line has no line break: Windows finds blocks by their CRLF line breaks,
    /// so it treats the file as not signed.
    SignatureBlockLineBreaks {
        /// File offset of the first line break that is not CRLF.
        offset: u64,
    },
    /// Text after a script's signature block (more than one line break, blanks or code):
    /// Windows reads a block only at the very end of the file, so it treats the file as not
    /// signed.
    TextAfterSignatureBlock {
        /// File offset where the text starts.
        offset: u64,
        /// How many bytes follow the block.
        bytes: u64,
    },
    /// A second signature block after a script's first one (appended by a tool that did not
    /// replace the first): Windows treats the file as not signed.
    RepeatedSignatureBlock {
        /// File offset of the second block's begin line.
        offset: u64,
    },
}

impl StorageProblem {
    /// The reason code: `trailing-data`, `certificate-padding`,
    /// `signature-block-line-breaks`, `text-after-signature-block` or
    /// `repeated-signature-block`.
    pub fn code(&self) -> &'static str {
        match self {
            StorageProblem::TrailingData { .. } => "trailing-data",
            StorageProblem::NonZeroPadding { .. } => "certificate-padding",
            StorageProblem::SignatureBlockLineBreaks { .. } => "signature-block-line-breaks",
            StorageProblem::TextAfterSignatureBlock { .. } => "text-after-signature-block",
            StorageProblem::RepeatedSignatureBlock { .. } => "repeated-signature-block",
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
            StorageProblem::SignatureBlockLineBreaks { offset } => write!(
                f,
                "the signature block has a line break other than CRLF at offset {offset:#x}: \
                 Windows does not see the signature (the file is not signed for it)"
            ),
            StorageProblem::TextAfterSignatureBlock { offset, bytes } => write!(
                f,
                "{bytes} bytes of text follow the signature block (from offset {offset:#x}): \
                 Windows does not see the signature (the file is not signed for it)"
            ),
            StorageProblem::RepeatedSignatureBlock { offset } => write!(
                f,
                "a second signature block at offset {offset:#x}: Windows does not see the \
                 signature (the file is not signed for it)"
            ),
        }
    }
}

/// One signable file, parsed just enough to know where its signature lives.
pub trait Subject {
    /// The file's format.
    fn format(&self) -> Format;

    /// The Authenticode digest of the file for each algorithm in `algs`, in that order,
    /// computed in one pass over the file. For a subject whose signatures sign its content
    /// directly (a catalog), the digest of that content: what their messageDigest holds.
    fn digest(&self, algs: &[DigestAlgorithm]) -> Result<Vec<Vec<u8>>>;

    /// The content type of the signatures this file carries (their eContentType and their
    /// contentType signed attribute): SpcIndirectDataContent, which describes the file and
    /// holds its digest, for every format but catalogs (the default); szOID_CTL for a catalog,
    /// whose signature signs its certificate trust list itself.
    fn content_type(&self) -> ObjectIdentifier {
        oids::SPC_INDIRECT_DATA
    }

    /// DER of the content a new signature over this file encapsulates, of type
    /// [`Subject::content_type`], for each algorithm in `algs`, in that order: by default the
    /// SpcIndirectDataContent of [`Subject::indirect_data_all`]; a catalog's certificate
    /// trust list (the same for every algorithm).
    fn signed_content(
        &self,
        algs: &[DigestAlgorithm],
        opts: &SubjectOptions,
    ) -> Result<Vec<Vec<u8>>> {
        self.indirect_data_all(algs, opts)
    }

    /// The digest a Windows catalog lists for this file, for each algorithm in `algs`: the
    /// hash of the format's SIP over the file as it is (what `CryptCATAdminCalcHashFromFileHandle2`
    /// and makecat compute: for PE the Authenticode digest, for cabinets the cabinet digest),
    /// or `None` when catalogs hash files of this format as plain bytes (the default: MSI,
    /// scripts, catalogs and every other format, Windows' catalog hashing knows only the PE,
    /// cabinet and flat SIPs).
    fn catalog_digest(&self, algs: &[DigestAlgorithm]) -> Result<Option<Vec<Vec<u8>>>> {
        let _ = algs;
        Ok(None)
    }

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
    fn matches_indirect_data(&self, data: &IndirectData) -> Result<bool> {
        let computed = self.digest(&[data.digest_algorithm])?;
        Ok(computed.first() == Some(&data.digest))
    }

    /// Format-specific checks of the signed data for `signature` (a parsed SpcIndirectDataContent
    /// whose file digest already matched): for PE, the page hashes. Returns what was checked,
    /// or problems found.
    fn check_indirect_data(&self, data: &IndirectData) -> Result<SubjectCheck> {
        let _ = data;
        Ok(SubjectCheck::default())
    }

    /// Problems with how the signature is stored in the file (for PE: data after the
    /// certificate table, non-zero padding in an entry).
    fn storage_problems(&self) -> Result<Vec<StorageProblem>> {
        Ok(Vec::new())
    }

    /// Findings about the file's content from the format's own integrity data (APPX: every
    /// file against `AppxBlockMap.xml`). The verifier calls this after [`Subject::digest`],
    /// so a subject may check the content in the same pass and keep the result.
    fn content_problems(&self) -> Result<Vec<ContentProblem>> {
        Ok(Vec::new())
    }

    /// Whether the file names a publisher that `signer` is not (APPX: the manifest's
    /// Identity Publisher against the certificate's subject as Windows renders it): `None`
    /// when they match or the format names none.
    fn publisher_mismatch(
        &self,
        signer: &x509_cert::Certificate,
    ) -> Result<Option<crate::error::PublisherMismatch>> {
        let _ = signer;
        Ok(None)
    }

    /// Every embedded PKCS#7 signature (DER), in file order. PE files can hold several
    /// certificate-table entries; other formats hold at most one.
    fn signatures(&self) -> Result<Vec<Vec<u8>>>;

    /// The primary embedded PKCS#7 signature (DER), if any.
    fn signature(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.signatures()?.into_iter().next())
    }

    /// Write the file with `pkcs7` as its only signature (replacing any existing one), after
    /// checking that every signature in it (the primary one and each nested one) was made for
    /// this file: another file's signature is refused with `VerifyError::DigestMismatch`.
    fn with_signature(&self, pkcs7: &[u8], out: &mut dyn Write) -> Result<()> {
        check_signature(self, pkcs7)?;
        self.with_signature_unchecked(pkcs7, out)
    }

    /// Write the file with `pkcs7` as its only signature, whatever file it was made for
    /// (what [`Subject::with_signature`] does after its check).
    fn with_signature_unchecked(&self, pkcs7: &[u8], out: &mut dyn Write) -> Result<()>;

    /// Ready the subject for [`Subject::signature_patch`] (for PE: sum the checksum during the
    /// next digest pass) and say whether it can be updated in place. Formats that cannot
    /// answer `false` (the default) and are rewritten instead.
    fn prepare_in_place(&self) -> bool {
        false
    }

    /// The changes that embed `pkcs7` in the file in place (see `authsign::patch`), for formats
    /// whose [`Subject::prepare_in_place`] says they can; `None` otherwise.
    fn signature_patch(&self, pkcs7: &[u8]) -> Result<Option<crate::patch::Patch>> {
        let _ = pkcs7;
        Ok(None)
    }

    /// Write the file with every signature removed.
    fn without_signature(&self, out: &mut dyn Write) -> Result<()>;
}

/// Check that every signature in `pkcs7` (primary and nested) was made for `subject`: its
/// content type is the subject's, and its SpcIndirectDataContent digest is the subject's (as
/// the file is, or as it will be once the signature is embedded) or, for content signed
/// directly (a catalog's), that content is the subject's.
pub fn check_signature<S: Subject + ?Sized>(subject: &S, pkcs7: &[u8]) -> Result<()> {
    let primary = SignedData::parse(pkcs7)?;
    let mut all = Vec::new();
    for nested in primary.nested_signatures() {
        all.push(SignedData::parse(&nested)?);
    }
    all.insert(0, primary);
    let expected = subject.content_type();
    for sd in &all {
        if sd.content_type != expected {
            return Err(crate::error::VerifyError::Other(format!(
                "the signature signs content of type {}, not {expected} as {} signatures do",
                sd.content_type,
                subject.format()
            ))
            .into());
        }
        let (alg, signed, matches) = match &sd.indirect_data {
            Some(data) => (
                data.digest_algorithm,
                data.digest.clone(),
                subject.matches_indirect_data(data)?,
            ),
            None => {
                let alg = sd
                    .signer_infos
                    .first()
                    .ok_or_else(|| crate::error::VerifyError::Other("no SignerInfo".into()))?
                    .digest_algorithm()?;
                let signed = alg.digest(&sd.content);
                let computed = subject.digest(&[alg])?;
                let matches = computed.first() == Some(&signed);
                (alg, signed, matches)
            }
        };
        if !matches {
            let computed = subject.digest(&[alg])?;
            return Err(crate::error::VerifyError::DigestMismatch {
                signed: hex::encode(signed),
                computed: hex::encode(computed.first().map(Vec::as_slice).unwrap_or_default()),
            }
            .into());
        }
    }
    Ok(())
}

/// A boxed subject is a subject (so `Box<dyn Subject>` goes wherever `&dyn Subject` does).
impl<S: Subject + ?Sized> Subject for Box<S> {
    fn format(&self) -> Format {
        (**self).format()
    }
    fn digest(&self, algs: &[DigestAlgorithm]) -> Result<Vec<Vec<u8>>> {
        (**self).digest(algs)
    }
    fn content_type(&self) -> ObjectIdentifier {
        (**self).content_type()
    }
    fn signed_content(
        &self,
        algs: &[DigestAlgorithm],
        opts: &SubjectOptions,
    ) -> Result<Vec<Vec<u8>>> {
        (**self).signed_content(algs, opts)
    }
    fn catalog_digest(&self, algs: &[DigestAlgorithm]) -> Result<Option<Vec<Vec<u8>>>> {
        (**self).catalog_digest(algs)
    }
    fn indirect_data(&self, alg: DigestAlgorithm, opts: &SubjectOptions) -> Result<Vec<u8>> {
        (**self).indirect_data(alg, opts)
    }
    fn indirect_data_all(
        &self,
        algs: &[DigestAlgorithm],
        opts: &SubjectOptions,
    ) -> Result<Vec<Vec<u8>>> {
        (**self).indirect_data_all(algs, opts)
    }
    fn matches_indirect_data(&self, data: &IndirectData) -> Result<bool> {
        (**self).matches_indirect_data(data)
    }
    fn check_indirect_data(&self, data: &IndirectData) -> Result<SubjectCheck> {
        (**self).check_indirect_data(data)
    }
    fn storage_problems(&self) -> Result<Vec<StorageProblem>> {
        (**self).storage_problems()
    }
    fn signatures(&self) -> Result<Vec<Vec<u8>>> {
        (**self).signatures()
    }
    fn signature(&self) -> Result<Option<Vec<u8>>> {
        (**self).signature()
    }
    fn with_signature(&self, pkcs7: &[u8], out: &mut dyn Write) -> Result<()> {
        (**self).with_signature(pkcs7, out)
    }
    fn with_signature_unchecked(&self, pkcs7: &[u8], out: &mut dyn Write) -> Result<()> {
        (**self).with_signature_unchecked(pkcs7, out)
    }
    fn prepare_in_place(&self) -> bool {
        (**self).prepare_in_place()
    }
    fn signature_patch(&self, pkcs7: &[u8]) -> Result<Option<crate::patch::Patch>> {
        (**self).signature_patch(pkcs7)
    }
    fn content_problems(&self) -> Result<Vec<ContentProblem>> {
        (**self).content_problems()
    }
    fn publisher_mismatch(
        &self,
        signer: &x509_cert::Certificate,
    ) -> Result<Option<crate::error::PublisherMismatch>> {
        (**self).publisher_mismatch(signer)
    }
    fn without_signature(&self, out: &mut dyn Write) -> Result<()> {
        (**self).without_signature(out)
    }
}
