//! Checking the timestamps of a SignerInfo: each RFC 3161 token (unsigned attribute
//! 1.3.6.1.4.1.311.3.3.1) and legacy counter-signature (1.2.840.113549.1.9.6) gives a
//! [`TimestampReport`] with the time vouched for, the TSA, and every problem found.
//!
//! Every shape that Windows accepts and shipped files contain is accepted: legacy
//! counter-signatures with SHA-1 or MD5, RSA signatures over the bare digest (VeriSign's and
//! Symantec's services; see [`Policy::bare_digest_timestamps`]), contentType absent, id-data
//! or id-ct-TSTInfo, signingTime as UTCTime or GeneralizedTime; RFC 3161 tokens whose TSTInfo
//! imprint uses another digest than the token's signer.

use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use x509_cert::Certificate;

use super::chain::{self, Cert, ChainError, TIME_STAMPING_EKU};
use super::policy::{Policy, RuleMode};
use super::revocation::RevocationChecker;
use crate::certs::has_extended_key_usage;
use crate::cms::generic;
use crate::cms::{oids, SignerInfo};
use crate::crypto::signer_info::{self, SignerInfoProblem};
use crate::crypto::{DigestInfoRule, SignatureError};
use crate::digest::DigestAlgorithm;
use crate::timestamp::rfc3161::{self, ID_CT_TST_INFO};
use crate::timestamp::TimestampKind;

/// One problem with a timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampProblem {
    /// The token or counter-signature could not be decoded.
    #[error("malformed timestamp: {0}")]
    Malformed(String),
    /// The timestamp is not over this signature's value (RFC 3161 message imprint, or the
    /// legacy counter-signature's messageDigest).
    #[error("the timestamp is not over this signature (message imprint mismatch)")]
    ImprintMismatch,
    /// The messageDigest signed attribute does not match the token's content.
    #[error("the timestamp's messageDigest does not match its content")]
    MessageDigestMismatch,
    /// The contentType signed attribute is not one a timestamp may carry.
    #[error("the timestamp's contentType attribute is {found}")]
    ContentTypeMismatch {
        /// What the attribute says.
        found: ObjectIdentifier,
    },
    /// No certificate of the token or signature matches the timestamp's SignerInfo.
    #[error("the TSA certificate is missing")]
    SignerNotFound,
    /// The TSA's signature does not verify.
    #[error("bad TSA signature: {0}")]
    BadSignature(SignatureError),
    /// The TSA certificate lacks the timeStamping extended key usage.
    #[error("{subject} is not a time-stamping certificate (no timeStamping extended key usage)")]
    MissingTimestampingEku {
        /// Subject of the TSA certificate.
        subject: String,
    },
    /// The TSA's certificate path (to the TSA trust anchors, at the timestamp time).
    #[error("TSA chain: {0}")]
    Chain(ChainError),
    /// An algorithm is not supported.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The timestamp uses MD5 or SHA-1.
    #[error("weak algorithm {0}")]
    WeakAlgorithm(DigestAlgorithm),
}

impl TimestampProblem {
    /// The stable reason code: `timestamp-` followed by what is wrong (for the TSA chain, the
    /// chain problem's code: `timestamp-untrusted-root`, `timestamp-expired`...).
    pub fn code(&self) -> &'static str {
        match self {
            TimestampProblem::Malformed(_) => "timestamp-malformed",
            TimestampProblem::ImprintMismatch => "timestamp-imprint-mismatch",
            TimestampProblem::MessageDigestMismatch => "timestamp-message-digest-mismatch",
            TimestampProblem::ContentTypeMismatch { .. } => "timestamp-content-type-mismatch",
            TimestampProblem::SignerNotFound => "timestamp-signer-not-found",
            TimestampProblem::BadSignature(_) => "timestamp-bad-signature",
            TimestampProblem::MissingTimestampingEku { .. } => "timestamp-missing-eku",
            TimestampProblem::Unsupported(_) => "timestamp-unsupported-algorithm",
            TimestampProblem::WeakAlgorithm(_) => "timestamp-weak-algorithm",
            TimestampProblem::Chain(c) => match c {
                ChainError::UntrustedRoot { .. } => "timestamp-untrusted-root",
                ChainError::IssuerNotFound { .. } => "timestamp-issuer-not-found",
                ChainError::BadSignature { .. } => "timestamp-bad-certificate-signature",
                ChainError::Expired { .. } => "timestamp-expired",
                ChainError::NotYetValid { .. } => "timestamp-not-yet-valid",
                ChainError::NotCa { .. } => "timestamp-not-a-ca",
                ChainError::PathLengthExceeded { .. } => "timestamp-path-length-exceeded",
                ChainError::MissingCodeSigningEku { .. }
                | ChainError::MissingExtendedKeyUsage { .. } => "timestamp-missing-eku",
                ChainError::KeyUsage { .. } => "timestamp-key-usage",
                ChainError::Malformed { .. } => "timestamp-malformed-certificate",
                ChainError::TooDeep { .. } => "timestamp-chain-too-deep",
                ChainError::WeakSignatureAlgorithm { .. } => "timestamp-weak-algorithm",
                ChainError::Revoked { .. } => "timestamp-revoked",
                ChainError::RevokedAfterTimestamp { .. } => "timestamp-revoked-after-timestamp",
                ChainError::RevocationUnknown { .. } => "timestamp-revocation-unknown",
            },
        }
    }

    /// How `policy` counts this problem.
    pub fn mode(&self, policy: &Policy) -> RuleMode {
        match self {
            TimestampProblem::WeakAlgorithm(_) => policy.weak_algorithms,
            TimestampProblem::Chain(c) => c.mode(policy),
            _ => RuleMode::Error,
        }
    }

    fn from_signer_info(p: SignerInfoProblem) -> Self {
        match p {
            SignerInfoProblem::SignerNotFound => TimestampProblem::SignerNotFound,
            SignerInfoProblem::UnsupportedDigest(oid) => {
                TimestampProblem::Unsupported(format!("digest algorithm {oid}"))
            }
            SignerInfoProblem::MissingSignedAttributes => {
                TimestampProblem::Malformed("TSA SignerInfo without signed attributes".into())
            }
            SignerInfoProblem::MessageDigestMismatch => TimestampProblem::MessageDigestMismatch,
            SignerInfoProblem::ContentTypeMismatch { found } => {
                TimestampProblem::ContentTypeMismatch { found }
            }
            SignerInfoProblem::BadSignature(e) => TimestampProblem::BadSignature(e),
        }
    }
}

/// What was found about one timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimestampReport {
    /// RFC 3161 token or legacy counter-signature.
    pub kind: TimestampKind,
    /// The time the TSA vouches for (TSTInfo genTime, or the counter-signature's signingTime).
    pub time: Option<SystemTime>,
    /// Subject of the TSA certificate, if found.
    pub tsa_subject: Option<String>,
    /// The TSA's certificate path, leaf first, when it could be built to an anchor.
    pub tsa_chain: Vec<String>,
    /// The digest algorithm of the message imprint (RFC 3161) or the counter-signature.
    pub digest_algorithm: Option<DigestAlgorithm>,
    /// Whether the timestamp is over this signature's value.
    pub imprint_ok: bool,
    /// Problems that make the timestamp invalid under the policy.
    pub errors: Vec<TimestampProblem>,
    /// Problems the policy reports without failing.
    pub warnings: Vec<TimestampProblem>,
}

impl TimestampReport {
    fn new(kind: TimestampKind) -> Self {
        Self {
            kind,
            time: None,
            tsa_subject: None,
            tsa_chain: Vec::new(),
            digest_algorithm: None,
            imprint_ok: false,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Whether the timestamp is valid: decoded, over this signature, signed by a trusted TSA
    /// certificate with the timeStamping usage, with a time.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty() && self.imprint_ok && self.time.is_some()
    }

    /// Whether every error only says the TSA's chain does not reach a trust anchor.
    pub(crate) fn only_trust_errors(&self) -> bool {
        self.errors
            .iter()
            .all(|p| matches!(p, TimestampProblem::Chain(c) if c.is_trust_problem()))
    }

    /// Sort `findings` into errors and warnings by `policy`.
    fn weigh(&mut self, findings: Vec<TimestampProblem>, policy: &Policy) {
        for f in findings {
            match f.mode(policy) {
                RuleMode::Error => self.errors.push(f),
                RuleMode::Warn => self.warnings.push(f),
                RuleMode::Off => {}
            }
        }
    }
}

/// The earliest time vouched for by a valid timestamp in `reports`: the time at which the
/// signer's certificates must be valid. `None` when no timestamp is valid (use the current
/// time then).
pub fn valid_time(reports: &[TimestampReport]) -> Option<SystemTime> {
    reports
        .iter()
        .filter(|r| r.is_valid())
        .filter_map(|r| r.time)
        .min()
}

/// What checking timestamps needs besides the timestamp: the policy, the TSA anchors and the
/// revocation checker.
pub(crate) struct Context<'a> {
    pub policy: &'a Policy,
    pub tsa_anchors: &'a [Certificate],
    pub revocation: &'a RevocationChecker,
}

/// Check every timestamp of `signer_info` under the default ([`Policy::windows`]) rules:
/// RFC 3161 tokens and legacy counter-signatures, in that order. `certificates` are the DER
/// certificates of the SignedData holding the SignerInfo (legacy TSA certificates live there;
/// RFC 3161 tokens carry their own, and these are used as a fallback). TSA chains are built to
/// `tsa_anchors` at each timestamp's time, with the timeStamping extended key usage.
pub fn verify_timestamps(
    signer_info: &SignerInfo,
    certificates: &[Vec<u8>],
    tsa_anchors: &[Certificate],
) -> Vec<TimestampReport> {
    with_default_context(tsa_anchors, |ctx| {
        check_timestamps(signer_info, &crate::certs::decode_all(certificates), ctx)
    })
}

/// Run `f` in a [`Context`] of the windows policy trusting `tsa_anchors`, offline.
fn with_default_context<R>(tsa_anchors: &[Certificate], f: impl FnOnce(&Context<'_>) -> R) -> R {
    let policy = Policy::windows();
    let revocation = RevocationChecker::new(&policy);
    f(&Context {
        policy: &policy,
        tsa_anchors,
        revocation: &revocation,
    })
}

/// [`verify_timestamps`] under `ctx`, with the signature's certificates already decoded.
pub(crate) fn check_timestamps(
    signer_info: &SignerInfo,
    pool: &[Cert],
    ctx: &Context<'_>,
) -> Vec<TimestampReport> {
    let mut reports = Vec::new();
    for (oid, kind) in [
        (oids::SPC_RFC3161_TIMESTAMP, TimestampKind::Rfc3161),
        (oids::COUNTER_SIGNATURE, TimestampKind::Legacy),
    ] {
        let values = signer_info
            .unsigned_attributes
            .iter()
            .filter(|a| a.oid == oid)
            .flat_map(|a| a.values.iter())
            .take(super::MAX_NESTED);
        for value in values {
            reports.push(match kind {
                TimestampKind::Rfc3161 => rfc3161_token(value, &signer_info.signature, pool, ctx),
                TimestampKind::Legacy => {
                    check_counter_signature(value, &signer_info.signature, pool, ctx)
                }
            });
        }
    }
    reports
}

/// Check one RFC 3161 TimeStampToken (DER ContentInfo) over `signature_value` under the
/// default rules. `extra_pool` holds certificates to use besides the token's own.
pub fn verify_rfc3161_token(
    token: &[u8],
    signature_value: &[u8],
    extra_pool: &[Certificate],
    tsa_anchors: &[Certificate],
) -> TimestampReport {
    let pool: Vec<Cert> = extra_pool.iter().map(Cert::from_certificate).collect();
    with_default_context(tsa_anchors, |ctx| {
        rfc3161_token(token, signature_value, &pool, ctx)
    })
}

/// Check one legacy counter-signature (a DER SignerInfo) over `signature_value` under the
/// default rules, with the TSA certificate taken from `pool` (the signature's certificates).
pub fn verify_counter_signature(
    counter_signature: &[u8],
    signature_value: &[u8],
    pool: &[Certificate],
    tsa_anchors: &[Certificate],
) -> TimestampReport {
    let pool: Vec<Cert> = pool.iter().map(Cert::from_certificate).collect();
    with_default_context(tsa_anchors, |ctx| {
        check_counter_signature(counter_signature, signature_value, &pool, ctx)
    })
}

fn rfc3161_token(
    token: &[u8],
    signature_value: &[u8],
    extra_pool: &[Cert],
    ctx: &Context<'_>,
) -> TimestampReport {
    let mut r = TimestampReport::new(TimestampKind::Rfc3161);
    let mut findings = Vec::new();
    let sd = match generic::parse_signed_data(token) {
        Ok(sd) => sd,
        Err(e) => {
            r.errors.push(TimestampProblem::Malformed(e.to_string()));
            return r;
        }
    };
    if sd.content_type != ID_CT_TST_INFO {
        r.errors.push(TimestampProblem::Malformed(format!(
            "token content type {} is not id-ct-TSTInfo",
            sd.content_type
        )));
        return r;
    }
    let Some(content) = sd.content.as_deref() else {
        r.errors
            .push(TimestampProblem::Malformed("token without TSTInfo".into()));
        return r;
    };
    let info = match rfc3161::parse_tst_info(content) {
        Ok(i) => i,
        Err(e) => {
            r.errors
                .push(TimestampProblem::Malformed(format!("TSTInfo: {e}")));
            return r;
        }
    };
    r.time = Some(info.time);
    r.digest_algorithm = Some(info.digest_algorithm);
    if info.digest_algorithm.is_weak() {
        findings.push(TimestampProblem::WeakAlgorithm(info.digest_algorithm));
    }
    r.imprint_ok = info.digest_algorithm.digest(signature_value) == info.imprint;
    if !r.imprint_ok {
        findings.push(TimestampProblem::ImprintMismatch);
    }
    let mut pool = crate::certs::decode_all(&sd.certificates);
    pool.extend(extra_pool.iter().cloned());
    let Some(si) = sd.signer_infos.first() else {
        findings.push(TimestampProblem::Malformed(
            "token without SignerInfo".into(),
        ));
        r.weigh(findings, ctx.policy);
        return r;
    };
    let cert = check_tsa_signer(
        si,
        content,
        &[ID_CT_TST_INFO],
        &pool,
        DigestInfoRule::Required,
        &mut findings,
    );
    check_tsa_chain(&mut r, cert.as_ref(), &pool, ctx, info.time, &mut findings);
    r.weigh(findings, ctx.policy);
    r
}

fn check_counter_signature(
    counter_signature: &[u8],
    signature_value: &[u8],
    pool: &[Cert],
    ctx: &Context<'_>,
) -> TimestampReport {
    let mut r = TimestampReport::new(TimestampKind::Legacy);
    let mut findings = Vec::new();
    let si = match SignerInfo::from_der(counter_signature) {
        Ok(si) => si,
        Err(e) => {
            r.errors.push(TimestampProblem::Malformed(e.to_string()));
            return r;
        }
    };
    r.time = signing_time(&si);
    if r.time.is_none() {
        findings.push(TimestampProblem::Malformed(
            "counter-signature without a readable signingTime".into(),
        ));
    }
    // Windows accepts counter-signatures whose contentType is absent, id-data (what signtool
    // and osslsigncode write) or id-ct-TSTInfo (some TSAs).
    let rule = if ctx.policy.bare_digest_timestamps {
        DigestInfoRule::BareDigestAccepted
    } else {
        DigestInfoRule::Required
    };
    let mut signer_findings = Vec::new();
    let cert = check_tsa_signer(
        &si,
        signature_value,
        &[oids::DATA, ID_CT_TST_INFO],
        pool,
        rule,
        &mut signer_findings,
    );
    r.digest_algorithm = DigestAlgorithm::from_oid(&si.digest_algorithm_oid);
    // For a counter-signature the messageDigest is the imprint of the signature value.
    r.imprint_ok = !signer_findings.contains(&TimestampProblem::MessageDigestMismatch);
    findings.extend(signer_findings.into_iter().map(|p| match p {
        TimestampProblem::MessageDigestMismatch => TimestampProblem::ImprintMismatch,
        other => other,
    }));
    let at = r.time.unwrap_or_else(|| ctx.policy.now());
    check_tsa_chain(&mut r, cert.as_ref(), pool, ctx, at, &mut findings);
    r.weigh(findings, ctx.policy);
    r
}

/// Check the TSA's SignerInfo over `content`, the weak-algorithm rule and the timeStamping
/// extended key usage (which RFC 3161 requires to be present and Windows requires of legacy
/// TSAs too); returns the TSA certificate when found.
fn check_tsa_signer(
    si: &SignerInfo,
    content: &[u8],
    content_types: &[ObjectIdentifier],
    pool: &[Cert],
    rule: DigestInfoRule,
    findings: &mut Vec<TimestampProblem>,
) -> Option<Cert> {
    let x509: Vec<Certificate> = pool.iter().map(|c| c.x509.clone()).collect();
    let check = signer_info::check(si, content, content_types, &x509, rule);
    if let Some(alg) = check.digest_algorithm.filter(|a| a.is_weak()) {
        findings.push(TimestampProblem::WeakAlgorithm(alg));
    }
    findings.extend(
        check
            .problems
            .into_iter()
            .map(TimestampProblem::from_signer_info),
    );
    let signer = check.signer?;
    if !has_extended_key_usage(&signer, &TIME_STAMPING_EKU) {
        findings.push(TimestampProblem::MissingTimestampingEku {
            subject: signer.tbs_certificate().subject().to_string(),
        });
    }
    pool.iter().find(|c| c.x509 == signer).cloned()
}

fn check_tsa_chain(
    r: &mut TimestampReport,
    cert: Option<&Cert>,
    pool: &[Cert],
    ctx: &Context<'_>,
    at: SystemTime,
    findings: &mut Vec<TimestampProblem>,
) {
    let Some(cert) = cert else { return };
    r.tsa_subject = Some(cert.x509.tbs_certificate().subject().to_string());
    let built = chain::build_path(cert, pool, ctx.tsa_anchors, at, TIME_STAMPING_EKU);
    let mut chain_findings = built.findings;
    chain_findings.extend(ctx.revocation.check_path(
        &built.path,
        built.trusted,
        Some(at),
        SystemTime::now(),
    ));
    if built.trusted {
        r.tsa_chain = built
            .path
            .iter()
            .map(|c| c.x509.tbs_certificate().subject().to_string())
            .collect();
    }
    findings.extend(chain_findings.into_iter().map(TimestampProblem::Chain));
}

/// The signingTime signed attribute of `si`, if present and well formed (UTCTime or
/// GeneralizedTime).
pub(crate) fn signing_time(si: &SignerInfo) -> Option<SystemTime> {
    let v = si.signed_attribute(&oids::SIGNING_TIME)?.values.first()?;
    crate::timestamp::parse_time(&crate::cms::tlv::parse_one(v, "signingTime").ok()?)
}

/// Serialized with the time as RFC 3339 text and problems as `{code, message}` objects.
#[cfg(feature = "serde")]
impl serde::Serialize for TimestampReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let coded = |v: &[TimestampProblem]| -> Vec<super::report::Coded> {
            v.iter()
                .map(|p| super::report::Coded {
                    code: p.code(),
                    message: p.to_string(),
                })
                .collect()
        };
        let mut st = s.serialize_struct("TimestampReport", 9)?;
        st.serialize_field(
            "kind",
            match self.kind {
                TimestampKind::Rfc3161 => "rfc3161",
                TimestampKind::Legacy => "legacy",
            },
        )?;
        st.serialize_field("time", &self.time.map(super::rfc3339))?;
        st.serialize_field("tsa", &self.tsa_subject)?;
        st.serialize_field("tsa_chain", &self.tsa_chain)?;
        st.serialize_field("digest_algorithm", &self.digest_algorithm)?;
        st.serialize_field("imprint_ok", &self.imprint_ok)?;
        st.serialize_field("valid", &self.is_valid())?;
        st.serialize_field("errors", &coded(&self.errors))?;
        st.serialize_field("warnings", &coded(&self.warnings))?;
        st.end()
    }
}
