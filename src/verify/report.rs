//! What verification found: one [`SignatureReport`] per signature and an overall verdict.

use std::fmt;

use crate::digest::DigestAlgorithm;

/// Where a signature was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum SignatureKind {
    /// A signature embedded in the file itself (for PE: certificate-table entry `entry`).
    Primary {
        /// Index of the certificate-table entry (0 for the first).
        entry: usize,
    },
    /// A nested signature (unsigned attribute 1.3.6.1.4.1.311.2.4.1) of another signature.
    Nested {
        /// Index in [`Report::signatures`] of the signature it is nested in.
        parent: usize,
    },
}

/// One reason a signature is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The signature could not be parsed.
    Malformed(String),
    /// The signature uses something this crate does not support.
    Unsupported(String),
    /// The file digest does not match the signed one.
    DigestMismatch {
        /// Hex digest in the signature.
        signed: String,
        /// Hex digest of the file.
        computed: String,
    },
    /// The SignerInfo has no signed attributes.
    MissingSignedAttributes,
    /// The contentType attribute is missing or is not SpcIndirectDataContent.
    ContentTypeMismatch,
    /// The messageDigest attribute is missing or does not match SpcIndirectDataContent.
    MessageDigestMismatch,
    /// The signer's certificate is not among the embedded certificates.
    SignerNotFound,
    /// The signature over the signed attributes does not verify.
    BadSignature(String),
    /// The certificate chain does not lead to a trusted anchor or breaks a rule.
    Chain(String),
    /// A page hash does not match the page at this file offset.
    PageHashMismatch {
        /// File offset of the first page that differs.
        offset: u64,
    },
    /// The signature is stored in a way Windows rejects (data after it, hidden bytes).
    Storage(String),
    /// A timestamp is present but not valid.
    Timestamp(String),
}

impl Problem {
    /// A stable machine-readable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Malformed(_) => "malformed",
            Problem::Unsupported(_) => "unsupported",
            Problem::DigestMismatch { .. } => "digest-mismatch",
            Problem::MissingSignedAttributes => "missing-signed-attributes",
            Problem::ContentTypeMismatch => "content-type-mismatch",
            Problem::MessageDigestMismatch => "message-digest-mismatch",
            Problem::SignerNotFound => "signer-not-found",
            Problem::BadSignature(_) => "bad-signature",
            Problem::Chain(_) => "chain",
            Problem::PageHashMismatch { .. } => "page-hash-mismatch",
            Problem::Storage(_) => "storage",
            Problem::Timestamp(_) => "timestamp",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Malformed(s) => write!(f, "malformed signature: {s}"),
            Problem::Unsupported(s) => write!(f, "unsupported: {s}"),
            Problem::DigestMismatch { signed, computed } => {
                write!(
                    f,
                    "file digest mismatch: signed {signed}, computed {computed}"
                )
            }
            Problem::MissingSignedAttributes => f.write_str("no signed attributes"),
            Problem::ContentTypeMismatch => {
                f.write_str("contentType attribute is not SpcIndirectDataContent")
            }
            Problem::MessageDigestMismatch => {
                f.write_str("messageDigest attribute does not match SpcIndirectDataContent")
            }
            Problem::SignerNotFound => f.write_str("signer certificate not found in the signature"),
            Problem::BadSignature(s) => write!(f, "signature does not verify: {s}"),
            Problem::Chain(s) => write!(f, "certificate chain: {s}"),
            Problem::PageHashMismatch { offset } => {
                write!(
                    f,
                    "page hash mismatch for the page at file offset {offset:#x}"
                )
            }
            Problem::Storage(s) => write!(f, "{s}"),
            Problem::Timestamp(s) => write!(f, "timestamp: {s}"),
        }
    }
}

/// What was found for one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct SignatureReport {
    /// Position in [`Report::signatures`] (0 = the primary signature).
    pub index: usize,
    /// Where the signature was found.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub kind: SignatureKind,
    /// The file digest algorithm of the signature.
    pub digest_algorithm: Option<DigestAlgorithm>,
    /// The file digest in the signature.
    #[cfg_attr(feature = "serde", serde(serialize_with = "hex_string"))]
    pub signed_digest: Vec<u8>,
    /// The file digest computed over the file.
    #[cfg_attr(feature = "serde", serde(serialize_with = "hex_string"))]
    pub computed_digest: Vec<u8>,
    /// The signingTime attribute (RFC 3339, UTC), if any.
    pub signing_time: Option<String>,
    /// Subject of the signer certificate.
    pub signer_subject: Option<String>,
    /// Issuer of the signer certificate.
    pub signer_issuer: Option<String>,
    /// Serial number of the signer certificate, hex.
    pub signer_serial: Option<String>,
    /// Subjects of the verified chain, leaf first, ending at the anchor.
    pub chain: Vec<String>,
    /// Page hashes: `None` when the signature has none.
    pub page_hashes: Option<crate::subject::PageHashCheck>,
    /// Every timestamp of the signature (RFC 3161 tokens and legacy counter-signatures).
    pub timestamps: Vec<crate::timestamp::verify::TimestampReport>,
    /// Everything wrong with the signature; empty when it is valid.
    #[cfg_attr(feature = "serde", serde(rename = "errors"))]
    pub problems: Vec<Problem>,
}

impl SignatureReport {
    pub(crate) fn new(index: usize, kind: SignatureKind) -> Self {
        Self {
            index,
            kind,
            digest_algorithm: None,
            signed_digest: Vec::new(),
            computed_digest: Vec::new(),
            signing_time: None,
            signer_subject: None,
            signer_issuer: None,
            signer_serial: None,
            chain: Vec::new(),
            page_hashes: None,
            timestamps: Vec::new(),
            problems: Vec::new(),
        }
    }

    /// Whether the file digest matches.
    pub fn digest_ok(&self) -> bool {
        self.digest_algorithm.is_some() && self.signed_digest == self.computed_digest
    }

    /// Whether no problem was found.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The verdict on a file: every signature found and what is wrong with each.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct Report {
    /// Every signature, primary ones and nested ones, in the order found.
    pub signatures: Vec<SignatureReport>,
    /// Problems with the file as a whole (how the signatures are stored in it).
    pub file_problems: Vec<Problem>,
}

impl Report {
    /// Valid when the file has at least one signature, every signature is valid and the file
    /// has no storage problem. Revocation is not checked (no network is used).
    pub fn is_valid(&self) -> bool {
        !self.signatures.is_empty()
            && self.file_problems.is_empty()
            && self.signatures.iter().all(SignatureReport::is_valid)
    }
}

#[cfg(feature = "serde")]
fn hex_string<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

/// Serialized as `{"code": "...", "message": "..."}`.
#[cfg(feature = "serde")]
impl serde::Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Problem", 2)?;
        st.serialize_field("code", self.code())?;
        st.serialize_field("message", &self.to_string())?;
        st.end()
    }
}
