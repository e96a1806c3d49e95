//! [`Problem`]: one finding of the verifier, with a stable kebab-case reason code.
//!
//! Every finding is a typed value; whether it makes a signature invalid or is only a warning
//! is decided by the [`Policy`](super::Policy) (see [`Problem::mode`]). The codes are listed
//! in the manual ("Reason codes") and never change meaning.

use std::fmt;

use super::chain::ChainError;
use super::policy::{Policy, RevocationMode, RuleMode};
use super::timestamp::TimestampProblem;
use crate::crypto::SignatureError;
use crate::digest::DigestAlgorithm;
use crate::error::PublisherMismatch;
use crate::subject::{ContentProblem, StorageProblem};

/// Every reason code a [`Problem`] can have (timestamp problems: `timestamp-` followed by the
/// signature-level code of the same problem), as listed in the manual.
pub const REASON_CODES: &[&str] = &[
    "not-signed",
    "unsupported-format",
    "malformed",
    "unreadable",
    "trailing-data",
    "certificate-padding",
    "signature-block-line-breaks",
    "text-after-signature-block",
    "repeated-signature-block",
    "secondary-signature-invalid",
    "malformed-signature",
    "unsupported-algorithm",
    "weak-algorithm",
    "digest-mismatch",
    "page-hash-mismatch",
    "block-map-mismatch",
    "file-not-in-block-map",
    "block-map-file-missing",
    "bundle-manifest-mismatch",
    "publisher-mismatch",
    "missing-signed-attributes",
    "content-type-mismatch",
    "message-digest-mismatch",
    "signer-not-found",
    "bad-signature",
    "untrusted-root",
    "issuer-not-found",
    "bad-certificate-signature",
    "expired",
    "not-yet-valid",
    "not-a-ca",
    "path-length-exceeded",
    "missing-eku",
    "key-usage",
    "malformed-certificate",
    "chain-too-deep",
    "revoked",
    "revoked-after-timestamp",
    "revocation-unknown",
    "not-in-catalog",
    "catalog-not-signed",
];

/// Where a weak algorithm was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WeakUse {
    /// The file digest in SpcIndirectDataContent.
    FileDigest,
    /// The digest of the signed attributes (the SignerInfo's digestAlgorithm).
    Signature,
}

impl fmt::Display for WeakUse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WeakUse::FileDigest => "file digest",
            WeakUse::Signature => "signature digest",
        })
    }
}

/// One finding about a file or a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The file has no embedded signature.
    NotSigned,
    /// The file is not of a format authsign knows.
    UnsupportedFormat(String),
    /// The file does not follow its format.
    Malformed(String),
    /// The file could not be read to the end.
    Unreadable(String),
    /// How a signature is stored in the file: data after the certificate table, or bytes
    /// after the PKCS#7 inside an entry (CVE-2013-3900).
    Storage(StorageProblem),
    /// A signature other than the one that decides the verdict is not valid (see
    /// [`SignatureSelection`](super::SignatureSelection)).
    SecondarySignatureInvalid {
        /// Index of that signature in [`Report::signatures`](super::Report::signatures).
        index: usize,
    },
    /// The signature could not be parsed.
    MalformedSignature(String),
    /// The signature uses an algorithm authsign does not verify.
    UnsupportedAlgorithm(String),
    /// MD5 or SHA-1.
    WeakAlgorithm {
        /// The algorithm.
        algorithm: DigestAlgorithm,
        /// What it was used for.
        used_for: WeakUse,
    },
    /// The file digest does not match the signed one.
    DigestMismatch {
        /// The digest in the signature.
        signed: Vec<u8>,
        /// The digest of the file.
        computed: Vec<u8>,
    },
    /// A page hash does not match the page at this file offset.
    PageHashMismatch {
        /// File offset of the first page that differs.
        offset: u64,
    },
    /// The file's content differs from the format's own integrity data (APPX: a file
    /// against `AppxBlockMap.xml`).
    Content(ContentProblem),
    /// A package's Publisher is not its signer certificate's subject.
    PublisherMismatch(PublisherMismatch),
    /// The SignerInfo has no signed attributes.
    MissingSignedAttributes,
    /// The contentType attribute is missing or is not the type of the signed content
    /// (SpcIndirectDataContent; szOID_CTL for a catalog).
    ContentTypeMismatch,
    /// The messageDigest attribute is missing or does not match the signed content
    /// (SpcIndirectDataContent, or a catalog's certificate trust list).
    MessageDigestMismatch,
    /// The signer's certificate is not among the embedded certificates.
    SignerNotFound,
    /// The signature over the signed attributes does not verify.
    BadSignature(SignatureError),
    /// A problem with the signer's certificate path.
    Chain(ChainError),
    /// A problem with a timestamp.
    Timestamp(TimestampProblem),
    /// Verifying through a catalog: the file's hash is in no member of the catalog.
    NotInCatalog {
        /// The file's digests that were looked for (algorithm, digest).
        digests: Vec<(DigestAlgorithm, Vec<u8>)>,
    },
    /// Verifying through a catalog: the catalog has no signature.
    CatalogNotSigned,
}

impl Problem {
    /// The stable machine-readable reason code (kebab-case).
    pub fn code(&self) -> &'static str {
        match self {
            Problem::NotSigned => "not-signed",
            Problem::UnsupportedFormat(_) => "unsupported-format",
            Problem::Malformed(_) => "malformed",
            Problem::Unreadable(_) => "unreadable",
            Problem::Storage(s) => s.code(),
            Problem::SecondarySignatureInvalid { .. } => "secondary-signature-invalid",
            Problem::MalformedSignature(_) => "malformed-signature",
            Problem::UnsupportedAlgorithm(_) => "unsupported-algorithm",
            Problem::WeakAlgorithm { .. } => "weak-algorithm",
            Problem::DigestMismatch { .. } => "digest-mismatch",
            Problem::PageHashMismatch { .. } => "page-hash-mismatch",
            Problem::Content(c) => c.code(),
            Problem::PublisherMismatch(_) => "publisher-mismatch",
            Problem::MissingSignedAttributes => "missing-signed-attributes",
            Problem::ContentTypeMismatch => "content-type-mismatch",
            Problem::MessageDigestMismatch => "message-digest-mismatch",
            Problem::SignerNotFound => "signer-not-found",
            Problem::BadSignature(e) => e.code(),
            Problem::Chain(c) => c.code(),
            Problem::Timestamp(t) => t.code(),
            Problem::NotInCatalog { .. } => "not-in-catalog",
            Problem::CatalogNotSigned => "catalog-not-signed",
        }
    }

    /// Whether `policy` makes this finding an error, a warning, or nothing.
    pub fn mode(&self, policy: &Policy) -> RuleMode {
        match self {
            Problem::WeakAlgorithm { .. } => policy.weak_algorithms,
            Problem::Storage(StorageProblem::NonZeroPadding { .. }) => policy.padding_check,
            Problem::SecondarySignatureInvalid { .. } => RuleMode::Warn,
            Problem::PublisherMismatch(_) => policy.publisher,
            Problem::Chain(c) => c.mode(policy),
            Problem::Timestamp(t) => t.mode(policy),
            _ => RuleMode::Error,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotSigned => f.write_str("the file is not signed"),
            Problem::UnsupportedFormat(s) => write!(f, "unsupported file: {s}"),
            Problem::Malformed(s) => write!(f, "malformed file: {s}"),
            Problem::Unreadable(s) => write!(f, "the file could not be read: {s}"),
            Problem::Storage(s) => write!(f, "{s}"),
            Problem::SecondarySignatureInvalid { index } => write!(
                f,
                "signature #{index} is not valid (the primary signature decides the verdict)"
            ),
            Problem::MalformedSignature(s) => write!(f, "malformed signature: {s}"),
            Problem::UnsupportedAlgorithm(s) => write!(f, "unsupported algorithm: {s}"),
            Problem::WeakAlgorithm {
                algorithm,
                used_for,
            } => {
                write!(f, "weak algorithm: {algorithm} for the {used_for}")
            }
            Problem::DigestMismatch { signed, computed } => write!(
                f,
                "file digest mismatch: signed {}, computed {}",
                hex::encode(signed),
                hex::encode(computed)
            ),
            Problem::PageHashMismatch { offset } => {
                write!(
                    f,
                    "page hash mismatch for the page at file offset {offset:#x}"
                )
            }
            Problem::Content(c) => write!(f, "{c}"),
            Problem::PublisherMismatch(m) => write!(
                f,
                "the package's publisher {:?} is not the signer's subject {:?}: Windows will not \
                 install it",
                m.declared, m.signer
            ),
            Problem::MissingSignedAttributes => f.write_str("no signed attributes"),
            Problem::ContentTypeMismatch => {
                f.write_str("contentType attribute is not the signed content's type")
            }
            Problem::MessageDigestMismatch => {
                f.write_str("messageDigest attribute does not match the signed content")
            }
            Problem::SignerNotFound => f.write_str("signer certificate not found in the signature"),
            Problem::BadSignature(e) => write!(f, "signature does not verify: {e}"),
            Problem::Chain(c) => write!(f, "certificate chain: {c}"),
            Problem::Timestamp(t) => write!(f, "timestamp: {t}"),
            Problem::NotInCatalog { digests } => {
                f.write_str("the file is not in the catalog (hashed: ")?;
                for (i, (alg, d)) in digests.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{alg} {}", hex::encode(d))?;
                }
                f.write_str(")")
            }
            Problem::CatalogNotSigned => f.write_str("the catalog is not signed"),
        }
    }
}

/// How an unknown revocation status counts under `mode`.
pub(crate) fn unknown_revocation_mode(mode: RevocationMode) -> RuleMode {
    match mode {
        RevocationMode::Hard => RuleMode::Error,
        RevocationMode::Soft | RevocationMode::Offline => RuleMode::Warn,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::chain::ChainError;
    use crate::verify::timestamp::TimestampProblem;

    #[test]
    fn every_code_is_in_the_manual() {
        let manual = include_str!("../../docs/verification.md");
        for code in REASON_CODES {
            assert!(manual.contains(&format!("`{code}`")), "{code}");
        }
    }

    #[test]
    fn codes_are_listed_and_timestamp_codes_are_prefixed() {
        let chain = ChainError::Expired {
            subject: String::new(),
            not_before: der::DateTime::INFINITY,
            not_after: der::DateTime::INFINITY,
        };
        let samples = [
            Problem::NotSigned,
            Problem::Malformed(String::new()),
            Problem::MessageDigestMismatch,
            Problem::Chain(chain.clone()),
            Problem::Chain(ChainError::TooDeep { max: 1 }),
            Problem::NotInCatalog { digests: vec![] },
            Problem::CatalogNotSigned,
            Problem::WeakAlgorithm {
                algorithm: crate::DigestAlgorithm::Md5,
                used_for: WeakUse::FileDigest,
            },
        ];
        for p in &samples {
            assert!(REASON_CODES.contains(&p.code()), "{}", p.code());
        }
        let t = Problem::Timestamp(TimestampProblem::Chain(chain.clone()));
        assert_eq!(t.code(), format!("timestamp-{}", chain.code()));
        let t = Problem::Timestamp(TimestampProblem::ImprintMismatch);
        assert_eq!(t.code(), "timestamp-imprint-mismatch");
    }
}
