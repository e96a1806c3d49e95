//! Verification: recompute the file digest, check each signature (primary, nested, and every
//! certificate-table entry) against it, check the signed attributes, the signature value, the
//! timestamps, the certificate chain to the trust anchors and (optionally) revocation, and say
//! what was found in a [`Report`] whose verdict follows a [`Policy`].
//!
//! ```no_run
//! use authsign::verify::{Policy, Verifier};
//! # fn main() -> authsign::Result<()> {
//! let anchors = authsign::certificates_from_pem(&std::fs::read("roots.pem")?)?;
//! let verifier = Verifier::new(Policy::windows().trusting(anchors));
//! for file in verifier.verify_paths(&["a.exe", "b.msi"]) {
//!     println!("{}: {}", file.path.display(), if file.is_valid() { "valid" } else { "INVALID" });
//! }
//! # Ok(()) }
//! ```

mod catalog;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod chain;
mod policy;
mod problem;
mod report;
mod revocation;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod timestamp;

pub use crate::crypto::SignatureError;
pub use crate::time::format_rfc3339 as rfc3339;
pub use catalog::VerifiedCatalog;
pub use chain::ChainError;
pub use policy::{Policy, RevocationMode, RuleMode, SignatureSelection};
pub use problem::{Problem, WeakUse, REASON_CODES};
pub use report::{
    CatalogMemberReport, CatalogReport, FileReport, Report, SignatureKind, SignatureReport,
};
pub use revocation::{MAX_CRL_SIZE, MAX_FETCHES, MAX_OCSP_SIZE};
pub use timestamp::{TimestampProblem, TimestampReport};

use std::collections::BTreeSet;
use std::path::Path;
use std::time::SystemTime;

use x509_cert::Certificate;

use crate::certs::{has_extended_key_usage, Cert};
use crate::cms::SignedData;
use crate::crypto::signer_info::{self, SignerInfoProblem};
use crate::crypto::DigestInfoRule;
use crate::digest::DigestAlgorithm;
use crate::error::{Error, Result};
use crate::input::{FileInput, Input};
use crate::subject::Subject;
use chain::{CODE_SIGNING_EKU, LIFETIME_SIGNING_EKU};
use revocation::RevocationChecker;

/// Most nested signatures followed from one primary signature.
pub const MAX_NESTED: usize = 16;

/// Verifies the Authenticode signatures of files under a [`Policy`]. One verifier serves a
/// whole batch (and several threads): revocation data it fetches is cached for its lifetime.
#[derive(Debug)]
pub struct Verifier {
    policy: Policy,
    revocation: RevocationChecker,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new(Policy::default())
    }
}

impl Clone for Verifier {
    fn clone(&self) -> Self {
        Self::new(self.policy.clone())
    }
}

struct Parsed {
    kind: SignatureKind,
    data: std::result::Result<SignedData, String>,
}

impl Verifier {
    /// A verifier for `policy`.
    pub fn new(policy: Policy) -> Self {
        let revocation = RevocationChecker::new(&policy);
        Self { policy, revocation }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Verify every signature of `subject`. Errors are returned only when the file cannot be
    /// read or parsed; problems with signatures are reported in the [`Report`] (see
    /// [`Verifier::verify_input`], which reports those too).
    pub fn verify(&self, subject: &dyn Subject) -> Result<Report> {
        let mut parsed = Vec::new();
        for (entry, der) in subject.signatures()?.into_iter().enumerate() {
            collect(&der, SignatureKind::Primary { entry }, &mut parsed, 0);
        }
        let algs: BTreeSet<DigestAlgorithm> = parsed
            .iter()
            .filter_map(|p| p.data.as_ref().ok().and_then(SignedData::signed_digest))
            .map(|(alg, _)| alg)
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
        let signatures: Vec<SignatureReport> = parsed
            .into_iter()
            .enumerate()
            .map(|(index, p)| self.check(subject, index, p, &digest_of))
            .collect();
        let mut report = Report {
            format: Some(subject.format()),
            signatures,
            errors: Vec::new(),
            warnings: Vec::new(),
            revocation: self.policy.revocation,
            catalog: None,
            valid: false,
        };
        let mut findings: Vec<Problem> = subject
            .storage_problems()?
            .into_iter()
            .map(Problem::Storage)
            .collect();
        if report.signatures.is_empty() {
            findings.push(Problem::NotSigned);
        } else {
            // After the digest: a subject may have checked its content in the same pass.
            findings.extend(
                subject
                    .content_problems()?
                    .into_iter()
                    .map(Problem::Content),
            );
        }
        self.weigh(findings, &mut report.errors, &mut report.warnings);
        let deciding = match self.policy.signatures {
            SignatureSelection::Primary => 1,
            SignatureSelection::All => report.signatures.len(),
        };
        let mut valid = report.errors.is_empty() && !report.signatures.is_empty();
        for s in &report.signatures {
            if s.index < deciding {
                valid &= s.is_valid();
            } else if !s.is_valid() {
                report
                    .warnings
                    .push(Problem::SecondarySignatureInvalid { index: s.index });
            }
        }
        report.valid = valid;
        Ok(report)
    }

    /// Verify `input`, whatever it holds: a file that is not signed, of an unknown format or
    /// malformed gives an invalid report with the reason (`not-signed`,
    /// `unsupported-format`, `malformed`, `unreadable`) instead of an error.
    pub fn verify_input(&self, input: &dyn Input) -> Report {
        self.verify_named(input, None)
    }

    /// [`Verifier::verify_input`] for a file whose name ends with `extension` (lower case: a
    /// hint for the formats without a magic number, scripts).
    fn verify_named(&self, input: &dyn Input, extension: Option<&str>) -> Report {
        let subject = match crate::open::open_with_extension(input, extension) {
            Ok(s) => s,
            Err(e) => return self.failed(None, e),
        };
        match self.verify(subject.as_ref()) {
            Ok(report) => report,
            Err(e) => self.failed(Some(subject.format()), e),
        }
    }

    /// Verify the file at `path` (see [`Verifier::verify_input`]); an error only when the
    /// file cannot be opened. The error names the path.
    pub fn verify_path(&self, path: impl AsRef<Path>) -> Result<Report> {
        let path = path.as_ref();
        let input = FileInput::open(path).map_err(|e| match e {
            Error::Io(io) => Error::Io(std::io::Error::new(
                io.kind(),
                format!("{}: {io}", path.display()),
            )),
            other => other,
        })?;
        Ok(self.verify_named(&input, crate::open::extension(path).as_deref()))
    }

    /// Verify many files, in parallel (one thread per core), each independently: one
    /// [`FileReport`] per path, in the order given.
    pub fn verify_paths<P: AsRef<Path> + Sync>(&self, paths: &[P]) -> Vec<FileReport> {
        for_each_path(paths, |p| self.verify_path(p))
    }

    /// The invalid report for a file whose verification stopped at `e`.
    fn failed(&self, format: Option<crate::error::Format>, e: Error) -> Report {
        let problem = match e {
            Error::Unsupported(s) if format.is_none() => Problem::UnsupportedFormat(s),
            Error::Io(io) => Problem::Unreadable(io.to_string()),
            other => Problem::Malformed(other.to_string()),
        };
        Report::failed(format, problem, self.policy.revocation)
    }

    /// Sort `findings` into `errors` and `warnings` by the policy.
    fn weigh(
        &self,
        findings: Vec<Problem>,
        errors: &mut Vec<Problem>,
        warnings: &mut Vec<Problem>,
    ) {
        for f in findings {
            match f.mode(&self.policy) {
                RuleMode::Error => errors.push(f),
                RuleMode::Warn => warnings.push(f),
                RuleMode::Off => {}
            }
        }
    }

    fn check(
        &self,
        subject: &dyn Subject,
        index: usize,
        p: Parsed,
        digest_of: &dyn Fn(DigestAlgorithm) -> Vec<u8>,
    ) -> SignatureReport {
        let mut r = SignatureReport::new(index, p.kind);
        let mut findings = Vec::new();
        match p.data {
            Ok(sd) => self.check_signed_data(subject, &sd, &mut r, &mut findings, digest_of),
            Err(e) => findings.push(Problem::MalformedSignature(e)),
        }
        let (mut errors, mut warnings) = (Vec::new(), Vec::new());
        self.weigh(findings, &mut errors, &mut warnings);
        // Timestamp problems were weighed with their timestamp.
        for t in &r.timestamps {
            errors.extend(t.errors.iter().cloned().map(Problem::Timestamp));
            warnings.extend(t.warnings.iter().cloned().map(Problem::Timestamp));
        }
        r.errors = errors;
        r.warnings = warnings;
        r
    }

    fn check_signed_data(
        &self,
        subject: &dyn Subject,
        sd: &SignedData,
        r: &mut SignatureReport,
        findings: &mut Vec<Problem>,
        digest_of: &dyn Fn(DigestAlgorithm) -> Vec<u8>,
    ) {
        let expected = subject.content_type();
        if sd.content_type != expected {
            findings.push(Problem::MalformedSignature(format!(
                "content type {} is not {expected}, the content type of {} signatures",
                sd.content_type,
                subject.format()
            )));
            return;
        }
        // The file digest the signature holds: in SpcIndirectDataContent, or for content
        // signed directly (a catalog) its messageDigest, compared with the file's content.
        // (None: no messageDigest, reported below, or an unsupported algorithm.)
        if let Some((alg, signed)) = sd.signed_digest() {
            r.digest_algorithm = Some(alg);
            r.signed_digest = signed;
            r.computed_digest = digest_of(alg);
            if alg.is_weak() && sd.indirect_data.is_some() {
                findings.push(Problem::WeakAlgorithm {
                    algorithm: alg,
                    used_for: WeakUse::FileDigest,
                });
            }
            if r.signed_digest != r.computed_digest {
                findings.push(Problem::DigestMismatch {
                    signed: r.signed_digest.clone(),
                    computed: r.computed_digest.clone(),
                });
            }
        }
        if let Some(data) = &sd.indirect_data {
            match subject.check_indirect_data(data) {
                Ok(check) => {
                    if let Some(offset) = check.page_hashes.as_ref().and_then(|p| p.first_mismatch)
                    {
                        findings.push(Problem::PageHashMismatch { offset });
                    }
                    r.page_hashes = check.page_hashes;
                }
                Err(e) => findings.push(Problem::MalformedSignature(e.to_string())),
            }
        }
        let [si] = sd.signer_infos.as_slice() else {
            findings.push(Problem::MalformedSignature(format!(
                "{} SignerInfos (Authenticode requires exactly one)",
                sd.signer_infos.len()
            )));
            return;
        };
        if si.signed_attributes_der.is_some() && si.content_type().is_none() {
            findings.push(Problem::ContentTypeMismatch);
        }
        let pool = crate::certs::decode_all(&sd.certificates);
        let x509: Vec<Certificate> = pool.iter().map(|c| c.x509.clone()).collect();
        let check = signer_info::check(
            si,
            &sd.content,
            &[expected],
            &x509,
            DigestInfoRule::Required,
        );
        if let Some(a) = check.digest_algorithm.filter(|a| a.is_weak()) {
            findings.push(Problem::WeakAlgorithm {
                algorithm: a,
                used_for: WeakUse::Signature,
            });
        }
        findings.extend(check.problems.into_iter().map(|p| match p {
            SignerInfoProblem::SignerNotFound => Problem::SignerNotFound,
            SignerInfoProblem::UnsupportedDigest(oid) => {
                Problem::UnsupportedAlgorithm(format!("digest algorithm {oid}"))
            }
            SignerInfoProblem::MissingSignedAttributes => Problem::MissingSignedAttributes,
            SignerInfoProblem::MessageDigestMismatch => Problem::MessageDigestMismatch,
            SignerInfoProblem::ContentTypeMismatch { .. } => Problem::ContentTypeMismatch,
            SignerInfoProblem::BadSignature(e) if e.code() == "unsupported-algorithm" => {
                Problem::UnsupportedAlgorithm(e.to_string())
            }
            SignerInfoProblem::BadSignature(e) => Problem::BadSignature(e),
        }));
        r.signing_time = timestamp::signing_time(si);
        let Some(signer) = check.signer else {
            return;
        };
        r.signer = Some(signer.clone());
        match subject.publisher_mismatch(&signer) {
            Ok(Some(m)) => findings.push(Problem::PublisherMismatch(m)),
            Ok(None) => {}
            Err(e) => findings.push(Problem::MalformedSignature(e.to_string())),
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
        let ctx = timestamp::Context {
            policy: &self.policy,
            tsa_anchors: &tsa_anchors,
            revocation: &self.revocation,
        };
        r.timestamps = timestamp::check_timestamps(si, &pool, &ctx);
        let lifetime = has_extended_key_usage(&signer, &LIFETIME_SIGNING_EKU);
        let at = match timestamp_time(&r.timestamps) {
            Some(t) if !lifetime => t,
            _ => self.policy.now(),
        };

        // The chain to a trust anchor, then revocation.
        let leaf = pool
            .iter()
            .find(|c| c.x509 == signer)
            .cloned()
            .unwrap_or_else(|| Cert::from_certificate(&signer));
        let built = chain::build_path(&leaf, &pool, &self.policy.trusted, at, CODE_SIGNING_EKU);
        let valid_timestamp = timestamp::valid_time(&r.timestamps).filter(|_| !lifetime);
        let revocation = self.revocation.check_path(
            &built.path,
            built.trusted,
            valid_timestamp,
            SystemTime::now(),
        );
        if built.trusted {
            r.chain = built
                .path
                .iter()
                .map(|c| c.x509.tbs_certificate().subject().to_string())
                .collect();
        }
        findings.extend(
            built
                .findings
                .into_iter()
                .chain(revocation)
                .map(Problem::Chain),
        );
    }
}

/// `verify` run over `paths` in parallel (one thread per core): one [`FileReport`] per path,
/// in the order given.
fn for_each_path<P: AsRef<Path> + Sync>(
    paths: &[P],
    verify: impl Fn(&Path) -> Result<Report> + Sync,
) -> Vec<FileReport> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<FileReport>>> =
        Mutex::new((0..paths.len()).map(|_| None).collect());
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len())
        .max(1);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(path) = paths.get(i) else { break };
                let report = FileReport {
                    path: path.as_ref().to_path_buf(),
                    result: verify(path.as_ref()),
                };
                let mut slots = results.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(slot) = slots.get_mut(i) {
                    *slot = Some(report);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// The time certificates are checked at: that of the earliest timestamp that is sound apart
/// from trust in its TSA (an untrusted TSA is reported as a problem on its own, so the verdict
/// is invalid anyway; checking validity at its time keeps the report to the real problems).
fn timestamp_time(timestamps: &[TimestampReport]) -> Option<SystemTime> {
    timestamps
        .iter()
        .filter(|t| t.imprint_ok && t.only_trust_errors())
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
