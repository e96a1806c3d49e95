//! Checking the timestamps of a SignerInfo, for the verifier: each RFC 3161 token
//! (1.3.6.1.4.1.311.3.3.1) and legacy counter-signature (1.2.840.113549.1.9.6) gives a
//! [`TimestampReport`] with the time vouched for, the TSA, and every problem found.
//!
//! A valid timestamp's [`TimestampReport::time`] is the time at which the signer's chain must
//! be valid (see [`valid_time`]).

use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::Certificate;

use super::rfc3161::{self, ID_CT_TST_INFO};
use super::TimestampKind;
use crate::cms::signed_data::SignerInfo;
use crate::cms::tlv;
use crate::cms::{generic, oids};
use crate::digest::DigestAlgorithm;
use crate::verify::chain::{self, ChainError, TIME_STAMPING_EKU};
use crate::verify::crypto;

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
    /// The contentType signed attribute is not the expected one.
    #[error("the timestamp's contentType attribute is wrong")]
    ContentTypeMismatch,
    /// No certificate of the token or signature matches the timestamp's SignerInfo.
    #[error("the TSA certificate is missing")]
    SignerNotFound,
    /// The TSA's signature does not verify.
    #[error("bad TSA signature: {0}")]
    BadSignature(String),
    /// The TSA certificate lacks the timeStamping extended key usage.
    #[error("{subject} is not a time-stamping certificate (no timeStamping extended key usage)")]
    MissingTimestampingEku {
        /// Subject of the TSA certificate.
        subject: String,
    },
    /// The TSA's certificate path (to the TSA trust anchors, at the timestamp time) failed.
    #[error("TSA chain: {0}")]
    Chain(ChainError),
    /// An algorithm is not supported.
    #[error("unsupported: {0}")]
    Unsupported(String),
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
    /// Every problem found; empty when the timestamp is valid.
    pub problems: Vec<TimestampProblem>,
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
            problems: Vec::new(),
        }
    }

    /// Whether the timestamp is valid: decoded, over this signature, signed by a trusted TSA
    /// certificate with the timeStamping usage, with a time.
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty() && self.imprint_ok && self.time.is_some()
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

/// Check every timestamp of `signer_info`: RFC 3161 tokens and legacy counter-signatures, in
/// that order. `certificates` are the DER certificates of the SignedData holding the
/// SignerInfo (legacy TSA certificates live there; RFC 3161 tokens carry their own, and these
/// are used as a fallback). TSA chains are built to `tsa_anchors` at each timestamp's time,
/// with the timeStamping extended key usage. A SignerInfo without timestamps gives an empty
/// list.
pub fn verify_timestamps(
    signer_info: &SignerInfo,
    certificates: &[Vec<u8>],
    tsa_anchors: &[Certificate],
) -> Vec<TimestampReport> {
    let pool = parse_certificates(certificates);
    let mut reports = Vec::new();
    for (oid, kind) in [
        (oids::SPC_RFC3161_TIMESTAMP, TimestampKind::Rfc3161),
        (oids::COUNTER_SIGNATURE, TimestampKind::Legacy),
    ] {
        for attr in signer_info
            .unsigned_attributes
            .iter()
            .filter(|a| a.oid == oid)
        {
            for value in attr.values.iter().take(super::super::verify::MAX_NESTED) {
                reports.push(match kind {
                    TimestampKind::Rfc3161 => {
                        verify_rfc3161_token(value, &signer_info.signature, &pool, tsa_anchors)
                    }
                    TimestampKind::Legacy => {
                        verify_counter_signature(value, &signer_info.signature, &pool, tsa_anchors)
                    }
                });
            }
        }
    }
    reports
}

/// Check one RFC 3161 TimeStampToken (DER ContentInfo) over `signature_value`. `extra_pool`
/// holds certificates to use besides the token's own.
pub fn verify_rfc3161_token(
    token: &[u8],
    signature_value: &[u8],
    extra_pool: &[Certificate],
    tsa_anchors: &[Certificate],
) -> TimestampReport {
    let mut r = TimestampReport::new(TimestampKind::Rfc3161);
    let sd = match generic::parse_signed_data(token) {
        Ok(sd) => sd,
        Err(e) => {
            r.problems.push(TimestampProblem::Malformed(e.to_string()));
            return r;
        }
    };
    if sd.content_type != ID_CT_TST_INFO {
        r.problems.push(TimestampProblem::Malformed(format!(
            "token content type {} is not id-ct-TSTInfo",
            sd.content_type
        )));
        return r;
    }
    let Some(content) = sd.content.as_deref() else {
        r.problems
            .push(TimestampProblem::Malformed("token without TSTInfo".into()));
        return r;
    };
    let info = match rfc3161::parse_tst_info(content) {
        Ok(i) => i,
        Err(e) => {
            r.problems
                .push(TimestampProblem::Malformed(format!("TSTInfo: {e}")));
            return r;
        }
    };
    r.time = Some(info.time);
    r.digest_algorithm = Some(info.digest_algorithm);
    r.imprint_ok = info.digest_algorithm.digest(signature_value) == info.imprint;
    if !r.imprint_ok {
        r.problems.push(TimestampProblem::ImprintMismatch);
    }
    let mut pool = parse_certificates(&sd.certificates);
    pool.extend(extra_pool.iter().cloned());
    let Some(si) = sd.signer_infos.first() else {
        r.problems.push(TimestampProblem::Malformed(
            "token without SignerInfo".into(),
        ));
        return r;
    };
    let (cert, problems) = check_signer(si, content, &ID_CT_TST_INFO, &pool);
    r.problems.extend(problems);
    check_tsa_chain(&mut r, cert.as_ref(), &pool, tsa_anchors, info.time);
    r
}

/// Check one legacy counter-signature (a DER SignerInfo) over `signature_value`, with the TSA
/// certificate taken from `pool` (the signature's certificates).
pub fn verify_counter_signature(
    counter_signature: &[u8],
    signature_value: &[u8],
    pool: &[Certificate],
    tsa_anchors: &[Certificate],
) -> TimestampReport {
    let mut r = TimestampReport::new(TimestampKind::Legacy);
    let si = match SignerInfo::from_der(counter_signature) {
        Ok(si) => si,
        Err(e) => {
            r.problems.push(TimestampProblem::Malformed(e.to_string()));
            return r;
        }
    };
    r.digest_algorithm = si.digest_algorithm().ok();
    r.time = signing_time(&si);
    if r.time.is_none() {
        r.problems.push(TimestampProblem::Malformed(
            "counter-signature without signingTime".into(),
        ));
    }
    let (cert, problems) = check_signer(&si, signature_value, &oids::DATA, pool);
    r.imprint_ok = !problems.contains(&TimestampProblem::MessageDigestMismatch);
    r.problems.extend(problems.into_iter().map(|p| match p {
        TimestampProblem::MessageDigestMismatch => TimestampProblem::ImprintMismatch,
        other => other,
    }));
    let at = r.time.unwrap_or_else(SystemTime::now);
    check_tsa_chain(&mut r, cert.as_ref(), pool, tsa_anchors, at);
    r
}

fn check_tsa_chain(
    r: &mut TimestampReport,
    cert: Option<&Certificate>,
    pool: &[Certificate],
    anchors: &[Certificate],
    at: SystemTime,
) {
    let Some(cert) = cert else { return };
    r.tsa_subject = Some(cert.tbs_certificate().subject().to_string());
    match chain::build_chain_for_usage(cert, pool, anchors, at, TIME_STAMPING_EKU) {
        Ok(path) => {
            r.tsa_chain = path
                .iter()
                .map(|c| c.tbs_certificate().subject().to_string())
                .collect()
        }
        Err(failed) => r
            .problems
            .extend(failed.errors.into_iter().map(TimestampProblem::Chain)),
    }
}

/// The X.509 certificates among `der` (undecodable ones are skipped).
pub(crate) fn parse_certificates(der: &[Vec<u8>]) -> Vec<Certificate> {
    der.iter()
        .filter_map(|c| Certificate::from_der(c).ok())
        .collect()
}

/// The signingTime signed attribute of `si`, if present and well formed.
pub(crate) fn signing_time(si: &SignerInfo) -> Option<SystemTime> {
    let v = si.signed_attribute(&oids::SIGNING_TIME)?.values.first()?;
    super::parse_time(&tlv::parse_one(v, "signingTime").ok()?)
}

/// Check a TSA SignerInfo over `content`: find its certificate in `pool`, check the
/// messageDigest and contentType signed attributes, the signature, and the timeStamping
/// extended key usage (which RFC 3161 requires to be present). Returns the certificate (when
/// found) and the problems.
pub(crate) fn check_signer(
    si: &SignerInfo,
    content: &[u8],
    content_type: &ObjectIdentifier,
    pool: &[Certificate],
) -> (Option<Certificate>, Vec<TimestampProblem>) {
    let mut problems = Vec::new();
    let cert = pool.iter().find(|c| {
        c.tbs_certificate().serial_number().as_bytes() == si.serial.as_slice()
            && c.tbs_certificate().issuer().to_der().ok().as_deref() == Some(si.issuer.as_slice())
    });
    let Some(cert) = cert else {
        problems.push(TimestampProblem::SignerNotFound);
        return (None, problems);
    };
    let subject = cert.tbs_certificate().subject().to_string();
    let alg = match si.digest_algorithm() {
        Ok(a) => a,
        Err(e) => {
            problems.push(TimestampProblem::Unsupported(e.to_string()));
            return (Some(cert.clone()), problems);
        }
    };
    let Some(signed) = &si.signed_attributes_der else {
        problems.push(TimestampProblem::Malformed(
            "TSA SignerInfo without signed attributes".into(),
        ));
        return (Some(cert.clone()), problems);
    };
    if si.message_digest() != Some(alg.digest(content)) {
        problems.push(TimestampProblem::MessageDigestMismatch);
    }
    if si.content_type().is_some_and(|ct| ct != *content_type) {
        problems.push(TimestampProblem::ContentTypeMismatch);
    }
    if let Err(e) = crypto::verify_signer_info(si, signed, alg, cert) {
        problems.push(TimestampProblem::BadSignature(e));
    }
    match cert.tbs_certificate().get_extension::<ExtendedKeyUsage>() {
        Ok(Some((_, eku))) if eku.0.contains(&TIME_STAMPING_EKU) => {}
        _ => problems.push(TimestampProblem::MissingTimestampingEku { subject }),
    }
    (Some(cert.clone()), problems)
}

/// `t` as RFC 3339 UTC text (`2025-06-10T22:29:20Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let secs = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let (y, mo, d, h, mi, s) = crate::cms::attributes::civil_from_unix(secs);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Serialized with the time as RFC 3339 text and problems as messages.
#[cfg(feature = "serde")]
impl serde::Serialize for TimestampReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("TimestampReport", 8)?;
        st.serialize_field(
            "kind",
            match self.kind {
                TimestampKind::Rfc3161 => "rfc3161",
                TimestampKind::Legacy => "legacy",
            },
        )?;
        st.serialize_field("time", &self.time.map(rfc3339))?;
        st.serialize_field("tsa", &self.tsa_subject)?;
        st.serialize_field("tsa_chain", &self.tsa_chain)?;
        st.serialize_field("digest_algorithm", &self.digest_algorithm)?;
        st.serialize_field("imprint_ok", &self.imprint_ok)?;
        st.serialize_field("valid", &self.is_valid())?;
        let problems: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        st.serialize_field("errors", &problems)?;
        st.end()
    }
}
