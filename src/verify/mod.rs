//! Verification: recompute the file digest, check each signature (primary, nested, and every
//! certificate-table entry) against it, check the signed attributes, the signature value and
//! the certificate chain to the trust anchors, and say what was found in a [`Report`].

pub mod chain;
pub mod crypto;
mod report;

pub use report::{Problem, Report, SignatureKind, SignatureReport};

use std::collections::BTreeSet;
use std::time::SystemTime;

use der::{Decode, Encode};
use x509_cert::Certificate;

use crate::cms::{oids, SignedData};
use crate::digest::DigestAlgorithm;
use crate::error::Result;
use crate::subject::Subject;

/// Most nested signatures followed from one primary signature.
pub const MAX_NESTED: usize = 16;

/// What a signature must satisfy to be valid.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Policy {
    /// Trust anchors: a chain must end at (or be issued by) one of these.
    pub trusted: Vec<Certificate>,
    /// The time at which certificates must be valid when a signature has no valid timestamp;
    /// now when `None`.
    pub time: Option<SystemTime>,
    /// Extra trust anchors for timestamp authorities (the `trusted` anchors count too).
    pub tsa_trusted: Vec<Certificate>,
}

impl Policy {
    /// A policy trusting `anchors`, checked at the current time.
    pub fn with_trusted(anchors: Vec<Certificate>) -> Self {
        Self {
            trusted: anchors,
            time: None,
            tsa_trusted: Vec::new(),
        }
    }
}

/// Verifies the Authenticode signatures of subjects under a [`Policy`].
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    policy: Policy,
}

struct Parsed {
    kind: SignatureKind,
    data: std::result::Result<SignedData, String>,
}

impl Verifier {
    /// A verifier for `policy`.
    pub fn new(policy: Policy) -> Self {
        Self { policy }
    }

    /// Verify every signature of `subject`. Errors are returned only when the file itself
    /// cannot be read or parsed; problems with signatures are reported in the [`Report`].
    pub fn verify(&self, subject: &dyn Subject) -> Result<Report> {
        let mut parsed = Vec::new();
        for (entry, der) in subject.signatures()?.into_iter().enumerate() {
            collect(&der, SignatureKind::Primary { entry }, &mut parsed, 0);
        }
        let algs: BTreeSet<DigestAlgorithm> = parsed
            .iter()
            .filter_map(|p| {
                p.data
                    .as_ref()
                    .ok()
                    .map(|d| d.indirect_data.digest_algorithm)
            })
            .collect();
        let algs: Vec<DigestAlgorithm> = algs.into_iter().collect();
        let digests = if algs.is_empty() {
            Vec::new()
        } else {
            subject.digest(&algs)?
        };
        let digest_of = |alg: DigestAlgorithm| {
            algs.iter()
                .position(|a| *a == alg)
                .and_then(|i| digests.get(i))
                .cloned()
                .unwrap_or_default()
        };
        let signatures = parsed
            .into_iter()
            .enumerate()
            .map(|(index, p)| self.check(subject, index, p, &digest_of))
            .collect();
        let file_problems = subject
            .storage_problems()?
            .into_iter()
            .map(Problem::Storage)
            .collect();
        Ok(Report {
            signatures,
            file_problems,
        })
    }

    fn check(
        &self,
        subject: &dyn Subject,
        index: usize,
        p: Parsed,
        digest_of: &dyn Fn(DigestAlgorithm) -> Vec<u8>,
    ) -> SignatureReport {
        let mut r = SignatureReport::new(index, p.kind);
        let sd = match p.data {
            Ok(sd) => sd,
            Err(e) => {
                r.problems.push(Problem::Malformed(e));
                return r;
            }
        };
        let alg = sd.indirect_data.digest_algorithm;
        r.digest_algorithm = Some(alg);
        r.signed_digest = sd.indirect_data.digest.clone();
        r.computed_digest = digest_of(alg);
        if r.signed_digest != r.computed_digest {
            r.problems.push(Problem::DigestMismatch {
                signed: hex::encode(&r.signed_digest),
                computed: hex::encode(&r.computed_digest),
            });
        }
        match subject.check_indirect_data(&sd.indirect_data) {
            Ok(check) => {
                if let Some(offset) = check.page_hashes.as_ref().and_then(|p| p.first_mismatch) {
                    r.problems.push(Problem::PageHashMismatch { offset });
                }
                r.page_hashes = check.page_hashes;
            }
            Err(e) => r.problems.push(Problem::Malformed(e.to_string())),
        }
        let [si] = sd.signer_infos.as_slice() else {
            r.problems.push(Problem::Malformed(format!(
                "{} SignerInfos (Authenticode requires exactly one)",
                sd.signer_infos.len()
            )));
            return r;
        };
        // Signed attributes: contentType and messageDigest.
        let Some(signed_attributes) = &si.signed_attributes_der else {
            r.problems.push(Problem::MissingSignedAttributes);
            return r;
        };
        if si.content_type() != Some(oids::SPC_INDIRECT_DATA) {
            r.problems.push(Problem::ContentTypeMismatch);
        }
        let si_alg = match si.digest_algorithm() {
            Ok(a) => a,
            Err(e) => {
                r.problems.push(Problem::Unsupported(e.to_string()));
                return r;
            }
        };
        if si.message_digest() != Some(si_alg.digest(&sd.indirect_data_content)) {
            r.problems.push(Problem::MessageDigestMismatch);
        }
        r.signing_time = si
            .signed_attribute(&oids::SIGNING_TIME)
            .and_then(|a| a.values.first())
            .and_then(|v| crate::cms::tlv::parse_one(v, "signingTime").ok())
            .and_then(|t| crate::timestamp::parse_time(&t))
            .map(crate::timestamp::verify::rfc3339);

        // The signer certificate and the signature over the signed attributes.
        let pool: Vec<Certificate> = sd
            .certificates
            .iter()
            .filter_map(|c| Certificate::from_der(c).ok())
            .collect();
        let signer = pool.iter().find(|c| {
            c.tbs_certificate().serial_number().as_bytes() == si.serial.as_slice()
                && c.tbs_certificate().issuer().to_der().ok().as_deref()
                    == Some(si.issuer.as_slice())
        });
        let Some(signer) = signer else {
            r.problems.push(Problem::SignerNotFound);
            return r;
        };
        r.signer_subject = Some(signer.tbs_certificate().subject().to_string());
        r.signer_issuer = Some(signer.tbs_certificate().issuer().to_string());
        r.signer_serial = Some(hex::encode(&si.serial));
        if let Err(e) = crypto::verify_signer_info(si, signed_attributes, si_alg, signer) {
            r.problems.push(Problem::BadSignature(e));
        }

        // Timestamps: each checked on its own; a valid one fixes the time at which the
        // certificates must be valid, except for a leaf with the lifetime-signing EKU, whose
        // signatures expire with it (Windows' rule).
        let tsa_anchors: Vec<Certificate> = self
            .policy
            .tsa_trusted
            .iter()
            .chain(&self.policy.trusted)
            .cloned()
            .collect();
        let timestamps =
            crate::timestamp::verify::verify_timestamps(si, &sd.certificates, &tsa_anchors);
        for t in &timestamps {
            r.problems
                .extend(t.problems.iter().map(|p| Problem::Timestamp(p.to_string())));
        }
        let now = self.policy.time.unwrap_or_else(SystemTime::now);
        let at = match timestamp_time(&timestamps) {
            Some(t) if !chain::has_extended_key_usage(signer, &chain::LIFETIME_SIGNING_EKU) => t,
            _ => now,
        };
        r.timestamps = timestamps;

        // The chain to a trust anchor.
        match chain::build_chain(signer, &pool, &self.policy.trusted, at) {
            Ok(path) => {
                r.chain = path
                    .iter()
                    .map(|c| c.tbs_certificate().subject().to_string())
                    .collect()
            }
            Err(failed) => r
                .problems
                .extend(failed.errors.iter().map(|e| Problem::Chain(e.to_string()))),
        }
        r
    }
}

/// The time certificates are checked at: that of the earliest timestamp that is sound apart
/// from trust in its TSA (an untrusted TSA is reported as a problem on its own, so the verdict
/// is invalid anyway; checking validity at its time keeps the report to the real problems).
fn timestamp_time(timestamps: &[crate::timestamp::verify::TimestampReport]) -> Option<SystemTime> {
    use crate::timestamp::verify::TimestampProblem;
    use chain::ChainError;
    timestamps
        .iter()
        .filter(|t| {
            t.imprint_ok
                && t.problems.iter().all(|p| {
                    matches!(
                        p,
                        TimestampProblem::Chain(
                            ChainError::UntrustedRoot { .. } | ChainError::IssuerNotFound { .. }
                        )
                    )
                })
        })
        .filter_map(|t| t.time)
        .min()
}

/// Parse `der` and, recursively, its nested signatures, appending them to `out`.
fn collect(der: &[u8], kind: SignatureKind, out: &mut Vec<Parsed>, depth: usize) {
    let data = SignedData::parse(der).map_err(|e| e.to_string());
    let nested = data
        .as_ref()
        .map(SignedData::nested_signatures)
        .unwrap_or_default();
    let parent = out.len();
    out.push(Parsed { kind, data });
    for n in nested {
        if depth >= MAX_NESTED || out.len() > MAX_NESTED * 4 {
            break;
        }
        collect(&n, SignatureKind::Nested { parent }, out, depth + 1);
    }
}
