//! What verification found: a [`Report`] per file, a [`SignatureReport`] per signature, and
//! the overall verdict. With the `serde` feature every report serialises to the JSON shape
//! documented in the manual ("Verification report"), which the `verify` example prints.

use std::path::PathBuf;
use std::time::SystemTime;

use der::Encode;
use x509_cert::Certificate;

use super::policy::RevocationMode;
use super::problem::Problem;
use super::timestamp::TimestampReport;
use crate::cat::{MatchedBy, MemberKind, NameValue};
use crate::digest::DigestAlgorithm;
use crate::error::{Error, Format};
use crate::subject::PageHashCheck;

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

/// What was found for one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignatureReport {
    /// Position in [`Report::signatures`] (0 = the primary signature).
    pub index: usize,
    /// Where the signature was found.
    pub kind: SignatureKind,
    /// The file digest algorithm of the signature.
    pub digest_algorithm: Option<DigestAlgorithm>,
    /// The file digest in the signature.
    pub signed_digest: Vec<u8>,
    /// The file digest computed over the file.
    pub computed_digest: Vec<u8>,
    /// The signingTime signed attribute, if any (the signer's claim, not a timestamp).
    pub signing_time: Option<SystemTime>,
    /// The signer certificate, when found among the embedded certificates.
    pub signer: Option<Certificate>,
    /// Subjects of the verified chain, leaf first, ending at the anchor.
    pub chain: Vec<String>,
    /// Page hashes: `None` when the signature has none.
    pub page_hashes: Option<PageHashCheck>,
    /// Every timestamp of the signature (RFC 3161 tokens and legacy counter-signatures).
    pub timestamps: Vec<TimestampReport>,
    /// Problems that make the signature invalid under the policy.
    pub errors: Vec<Problem>,
    /// Problems the policy reports without failing the signature.
    pub warnings: Vec<Problem>,
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
            signer: None,
            chain: Vec::new(),
            page_hashes: None,
            timestamps: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Whether the file digest matches.
    pub fn digest_ok(&self) -> bool {
        self.digest_algorithm.is_some() && self.signed_digest == self.computed_digest
    }

    /// Whether the signature is valid under the policy (no errors).
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }

    /// Subject of the signer certificate, as RFC 4514 text.
    pub fn signer_subject(&self) -> Option<String> {
        self.signer
            .as_ref()
            .map(|c| c.tbs_certificate().subject().to_string())
    }

    /// Issuer of the signer certificate, as RFC 4514 text.
    pub fn signer_issuer(&self) -> Option<String> {
        self.signer
            .as_ref()
            .map(|c| c.tbs_certificate().issuer().to_string())
    }

    /// Serial number of the signer certificate, in hex.
    pub fn signer_serial(&self) -> Option<String> {
        self.signer
            .as_ref()
            .map(|c| hex::encode(c.tbs_certificate().serial_number().as_bytes()))
    }

    /// The thumbprint of the signer certificate with `alg` (SHA-1 is what Windows shows as
    /// "Thumbprint"; SHA-256 what pinning usually uses).
    pub fn signer_thumbprint(&self, alg: DigestAlgorithm) -> Option<Vec<u8>> {
        let der = self.signer.as_ref()?.to_der().ok()?;
        Some(alg.digest(&der))
    }

    /// The time a valid timestamp of this signature vouches for (the earliest, if several).
    pub fn timestamp_time(&self) -> Option<SystemTime> {
        super::timestamp::valid_time(&self.timestamps)
    }
}

/// How a file verified through a catalog was found in it ([`Report::catalog`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CatalogReport {
    /// How the file was hashed: as a PE image, a cabinet, or flat (every byte), as Windows
    /// hashes files for catalogs.
    pub hashed_as: MemberKind,
    /// The file's digests in the algorithms the catalog uses, the preferred first.
    pub digests: Vec<(DigestAlgorithm, Vec<u8>)>,
    /// The member that lists the file; `None` when none does (`not-in-catalog`).
    pub member: Option<CatalogMemberReport>,
}

/// The catalog member that matched a file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CatalogMemberReport {
    /// Its position among the catalog's members.
    pub index: usize,
    /// Its tag as Windows shows it (the hash in upper-case hex).
    pub tag: String,
    /// Its `File` attribute, when the catalog records the file name.
    pub file_name: Option<String>,
    /// The SIP the catalog says hashed it.
    pub kind: Option<MemberKind>,
    /// The algorithm of the digest that matched.
    pub digest_algorithm: DigestAlgorithm,
    /// The digest that matched.
    pub digest: Vec<u8>,
    /// What matched: the member's SpcIndirectDataContent, or its tag.
    pub matched_by: MatchedBy,
    /// Its name/value attributes.
    pub attributes: Vec<NameValue>,
    /// For a PE member with page hashes: whether the file's pages match them.
    pub page_hashes: Option<PageHashCheck>,
}

/// The verdict on a file: every signature found and what is wrong with each.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// The file's format, when it was recognised.
    pub format: Option<Format>,
    /// Every signature, primary ones and nested ones, in the order found.
    pub signatures: Vec<SignatureReport>,
    /// Problems with the file as a whole (not signed, not parseable, how signatures are
    /// stored) that make it invalid.
    pub errors: Vec<Problem>,
    /// Problems reported without failing the file (including signatures that do not decide
    /// the verdict but are invalid).
    pub warnings: Vec<Problem>,
    /// How revocation was checked.
    pub revocation: RevocationMode,
    /// For a file verified through a catalog: how it was found in the catalog (the
    /// signatures are then the catalog's).
    pub catalog: Option<CatalogReport>,
    pub(crate) valid: bool,
}

impl Report {
    /// A report for a file that could not be verified at all (not signed, unsupported,
    /// malformed): invalid, with `problem` as its reason.
    pub(crate) fn failed(
        format: Option<Format>,
        problem: Problem,
        revocation: RevocationMode,
    ) -> Self {
        Self {
            format,
            signatures: Vec::new(),
            errors: vec![problem],
            warnings: Vec::new(),
            revocation,
            catalog: None,
            valid: false,
        }
    }

    /// The verdict: valid when the file is signed, has no file-level error, and the
    /// signatures the policy selects ([`SignatureSelection`](super::SignatureSelection)) are
    /// valid.
    pub fn is_valid(&self) -> bool {
        self.valid
    }

    /// The primary signature (the one Windows checks), if any.
    pub fn primary(&self) -> Option<&SignatureReport> {
        self.signatures.first()
    }

    /// Every reason code of the report's errors, file-level first, then per signature and
    /// timestamp, without repeats.
    pub fn error_codes(&self) -> Vec<&'static str> {
        let mut codes: Vec<&'static str> = Vec::new();
        let all = self
            .errors
            .iter()
            .chain(self.signatures.iter().flat_map(|s| s.errors.iter()));
        for p in all {
            if !codes.contains(&p.code()) {
                codes.push(p.code());
            }
        }
        codes
    }

    /// The report as JSON (the shape the `verify` example prints for each file, without the
    /// `file` member).
    #[cfg(feature = "serde")]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// The outcome for one file of a batch: its report, or why it could not be opened.
#[derive(Debug)]
#[non_exhaustive]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Its report; an error only when the file could not be opened or read at all.
    pub result: Result<Report, Error>,
}

impl FileReport {
    /// Whether the file was opened and is valid.
    pub fn is_valid(&self) -> bool {
        self.result.as_ref().is_ok_and(Report::is_valid)
    }

    /// The report as JSON: the [`Report`]'s members with `file` first; a file that could not
    /// be opened gives `valid: false` and one `cannot-open` error.
    #[cfg(feature = "serde")]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(feature = "serde")]
mod json {
    use serde::ser::{SerializeMap, SerializeStruct};
    use serde::{Serialize, Serializer};

    use super::*;

    /// A problem as `{"code": ..., "message": ...}`.
    #[derive(Serialize)]
    pub(crate) struct Coded {
        pub(crate) code: &'static str,
        pub(crate) message: String,
    }

    #[derive(Serialize)]
    struct Signer {
        subject: String,
        issuer: String,
        serial: String,
        sha1: String,
        sha256: String,
    }

    impl Serialize for SignatureReport {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_map(None)?;
            st.serialize_entry("index", &self.index)?;
            match self.kind {
                SignatureKind::Primary { entry } => {
                    st.serialize_entry("kind", "primary")?;
                    st.serialize_entry("entry", &entry)?;
                }
                SignatureKind::Nested { parent } => {
                    st.serialize_entry("kind", "nested")?;
                    st.serialize_entry("parent", &parent)?;
                }
            }
            st.serialize_entry("valid", &self.is_valid())?;
            st.serialize_entry("digest_algorithm", &self.digest_algorithm)?;
            st.serialize_entry("signed_digest", &hex::encode(&self.signed_digest))?;
            st.serialize_entry("computed_digest", &hex::encode(&self.computed_digest))?;
            st.serialize_entry("digest_ok", &self.digest_ok())?;
            st.serialize_entry(
                "signing_time",
                &self.signing_time.map(crate::verify::rfc3339),
            )?;
            let signer = self.signer.as_ref().map(|_| Signer {
                subject: self.signer_subject().unwrap_or_default(),
                issuer: self.signer_issuer().unwrap_or_default(),
                serial: self.signer_serial().unwrap_or_default(),
                sha1: hex::encode(
                    self.signer_thumbprint(DigestAlgorithm::Sha1)
                        .unwrap_or_default(),
                ),
                sha256: hex::encode(
                    self.signer_thumbprint(DigestAlgorithm::Sha256)
                        .unwrap_or_default(),
                ),
            });
            st.serialize_entry("signer", &signer)?;
            st.serialize_entry("chain", &self.chain)?;
            st.serialize_entry("page_hashes", &self.page_hashes)?;
            st.serialize_entry("timestamps", &self.timestamps)?;
            st.serialize_entry("errors", &self.errors)?;
            st.serialize_entry("warnings", &self.warnings)?;
            st.end()
        }
    }

    fn report_fields<S: SerializeStruct>(st: &mut S, r: &Report) -> Result<(), S::Error> {
        st.serialize_field("valid", &r.is_valid())?;
        st.serialize_field("format", &r.format.map(|f| f.to_string()))?;
        st.serialize_field("revocation", &r.revocation)?;
        st.serialize_field("errors", &r.errors)?;
        st.serialize_field("warnings", &r.warnings)?;
        if let Some(c) = &r.catalog {
            st.serialize_field("catalog", c)?;
        }
        st.serialize_field("signatures", &r.signatures)
    }

    /// `{"algorithm": "sha256", "digest": "<hex>"}`.
    #[derive(Serialize)]
    struct Digest<'a> {
        algorithm: DigestAlgorithm,
        digest: &'a str,
    }

    impl Serialize for CatalogReport {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_map(None)?;
            st.serialize_entry("hashed_as", &self.hashed_as)?;
            let digests: Vec<(DigestAlgorithm, String)> = self
                .digests
                .iter()
                .map(|(a, d)| (*a, hex::encode(d)))
                .collect();
            let digests: Vec<Digest<'_>> = digests
                .iter()
                .map(|(a, d)| Digest {
                    algorithm: *a,
                    digest: d,
                })
                .collect();
            st.serialize_entry("digests", &digests)?;
            st.serialize_entry("member", &self.member)?;
            st.end()
        }
    }

    impl Serialize for CatalogMemberReport {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_map(None)?;
            st.serialize_entry("index", &self.index)?;
            st.serialize_entry("tag", &self.tag)?;
            st.serialize_entry("file", &self.file_name)?;
            st.serialize_entry("kind", &self.kind)?;
            st.serialize_entry("digest_algorithm", &self.digest_algorithm)?;
            st.serialize_entry("digest", &hex::encode(&self.digest))?;
            st.serialize_entry("matched_by", &self.matched_by)?;
            let attributes: Vec<(String, String)> = self
                .attributes
                .iter()
                .map(|a| {
                    let value = a
                        .value_text()
                        .unwrap_or_else(|| format!("0x{}", hex::encode(&a.value)));
                    (a.name.clone(), value)
                })
                .collect();
            st.serialize_entry("attributes", &attributes)?;
            st.serialize_entry("page_hashes", &self.page_hashes)?;
            st.end()
        }
    }

    impl Serialize for Report {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct("Report", 6)?;
            report_fields(&mut st, self)?;
            st.end()
        }
    }

    impl Serialize for FileReport {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct("FileReport", 7)?;
            st.serialize_field("file", &self.path.display().to_string())?;
            match &self.result {
                Ok(r) => report_fields(&mut st, r)?,
                Err(e) => {
                    st.serialize_field("valid", &false)?;
                    st.serialize_field("format", &Option::<String>::None)?;
                    st.serialize_field("revocation", &Option::<String>::None)?;
                    st.serialize_field(
                        "errors",
                        &[Coded {
                            code: "cannot-open",
                            message: e.to_string(),
                        }],
                    )?;
                    st.serialize_field("warnings", &Vec::<Coded>::new())?;
                    st.serialize_field("signatures", &Vec::<SignatureReport>::new())?;
                }
            }
            st.end()
        }
    }
}

#[cfg(feature = "serde")]
pub(crate) use json::Coded;
