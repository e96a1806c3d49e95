//! RFC 3161 time-stamp protocol, as Authenticode uses it (signtool `/tr URL /td ALG`).
//!
//! ```text
//! TimeStampReq ::= SEQUENCE { version INTEGER (1), messageImprint MessageImprint,
//!     reqPolicy OBJECT IDENTIFIER OPTIONAL, nonce INTEGER OPTIONAL,
//!     certReq BOOLEAN DEFAULT FALSE, extensions [0] IMPLICIT Extensions OPTIONAL }
//! MessageImprint ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }
//! TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }
//! PKIStatusInfo ::= SEQUENCE { status INTEGER, statusString SEQUENCE OF UTF8String OPTIONAL,
//!     failInfo BIT STRING OPTIONAL }
//! TSTInfo ::= SEQUENCE { version INTEGER, policy OBJECT IDENTIFIER, messageImprint,
//!     serialNumber INTEGER, genTime GeneralizedTime, accuracy Accuracy OPTIONAL,
//!     ordering BOOLEAN DEFAULT FALSE, nonce INTEGER OPTIONAL, tsa [0] GeneralName OPTIONAL,
//!     extensions [1] IMPLICIT Extensions OPTIONAL }
//! ```
//! In Authenticode the message imprint is the digest of the SignerInfo's signature value
//! (encryptedDigest), and the token is stored as the unsigned attribute 1.3.6.1.4.1.311.3.3.1.

use std::time::SystemTime;

use const_oid::ObjectIdentifier;

use crate::cms::generic;
use crate::cms::tlv::{self, tag, Tlv};
use crate::digest::DigestAlgorithm;
use crate::error::{Error, MalformedKind, Result, TimestampError};

/// `id-ct-TSTInfo` (1.2.840.113549.1.9.16.1.4): the content type of a TimeStampToken.
pub const ID_CT_TST_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");

/// Length of the random nonce, in bytes.
pub const NONCE_LEN: usize = 8;

/// PKIFailureInfo bit names (RFC 3161 §2.4.2), by bit number.
const FAILURE_BITS: &[(usize, &str)] = &[
    (0, "badAlg"),
    (2, "badRequest"),
    (5, "badDataFormat"),
    (14, "timeNotAvailable"),
    (15, "unacceptedPolicy"),
    (16, "unacceptedExtension"),
    (17, "addInfoNotAvailable"),
    (25, "systemFailure"),
];

fn malformed(what: impl Into<String>) -> Error {
    TimestampError::Malformed(what.into()).into()
}

/// An RFC 3161 TimeStampReq.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampRequest {
    /// The message imprint's digest algorithm.
    pub digest_algorithm: DigestAlgorithm,
    /// The message imprint: the digest of what is timestamped.
    pub imprint: Vec<u8>,
    /// The nonce: a positive big-endian integer without leading zero bytes (empty: none).
    pub nonce: Vec<u8>,
    /// Whether the TSA must include its certificate (always true for Authenticode).
    pub cert_req: bool,
}

impl TimestampRequest {
    /// A request over `data` (the signature value), digested with `alg`, with a fresh random
    /// nonce and certReq set.
    pub fn new(alg: DigestAlgorithm, data: &[u8]) -> Result<Self> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce)
            .map_err(|e| Error::Unsupported(format!("no random numbers for the nonce: {e}")))?;
        nonce[0] |= 1; // never zero, and always NONCE_LEN bytes long
        nonce[0] &= 0x7f;
        Ok(Self {
            digest_algorithm: alg,
            imprint: alg.digest(data),
            nonce: nonce.to_vec(),
            cert_req: true,
        })
    }

    /// The DER TimeStampReq.
    pub fn to_der(&self) -> Vec<u8> {
        let imprint = tlv::sequence(&[
            &tlv::algorithm_null(&self.digest_algorithm.oid()),
            &tlv::octet_string(&self.imprint),
        ]);
        let mut parts = vec![tlv::small_uint(1), imprint];
        if !self.nonce.is_empty() {
            parts.push(integer(&self.nonce));
        }
        if self.cert_req {
            parts.push(vec![tag::BOOLEAN, 1, 0xff]);
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        tlv::sequence(&refs)
    }

    /// Parse a DER TimeStampReq (for in-house TSAs and tests).
    pub fn parse(der: &[u8]) -> Result<Self> {
        let req = tlv::parse_one(der, "TimeStampReq")?.expect(tag::SEQUENCE, "TimeStampReq")?;
        let mut r = req.children();
        r.expect(tag::INTEGER, "TimeStampReq version")?;
        let (digest_algorithm, imprint) =
            parse_imprint(&r.expect(tag::SEQUENCE, "messageImprint")?)?;
        r.next_if(tag::OID, "reqPolicy")?;
        let nonce = r
            .next_if(tag::INTEGER, "nonce")?
            .map(|n| strip_zeros(n.value).to_vec())
            .unwrap_or_default();
        let cert_req = r
            .next_if(tag::BOOLEAN, "certReq")?
            .is_some_and(|b| b.value.first().is_some_and(|v| *v != 0));
        Ok(Self {
            digest_algorithm,
            imprint,
            nonce,
            cert_req,
        })
    }
}

/// DER INTEGER from unsigned big-endian bytes.
fn integer(unsigned: &[u8]) -> Vec<u8> {
    let v = strip_zeros(unsigned);
    let mut value = Vec::with_capacity(v.len() + 1);
    if v.first().is_none_or(|b| *b & 0x80 != 0) {
        value.push(0);
    }
    value.extend_from_slice(v);
    tlv::tlv(tag::INTEGER, &value)
}

fn strip_zeros(v: &[u8]) -> &[u8] {
    let skip = v.iter().take_while(|b| **b == 0).count();
    &v[skip..]
}

fn parse_imprint(t: &Tlv<'_>) -> Result<(DigestAlgorithm, Vec<u8>)> {
    let mut r = t.children();
    let alg = r.expect(tag::SEQUENCE, "hashAlgorithm")?;
    let oid = alg.children().next("hashAlgorithm")?.oid()?;
    let alg = DigestAlgorithm::from_oid(&oid)
        .ok_or_else(|| Error::Unsupported(format!("message imprint digest algorithm {oid}")))?;
    let digest = r.expect(tag::OCTET_STRING, "hashedMessage")?.value.to_vec();
    Ok((alg, digest))
}

/// A parsed TimeStampResp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampResponse {
    /// PKIStatus: 0 granted, 1 grantedWithMods, 2 rejection, 3 waiting, 4 and 5 revocation.
    pub status: u64,
    /// statusString texts.
    pub status_text: Vec<String>,
    /// Names of the PKIFailureInfo bits set.
    pub failure: Vec<String>,
    /// The TimeStampToken (a DER ContentInfo), as encoded.
    pub token: Option<Vec<u8>>,
}

/// Parse a DER TimeStampResp.
pub fn parse_response(der: &[u8]) -> Result<TimestampResponse> {
    let resp = tlv::parse_one(der, "TimeStampResp")?.expect(tag::SEQUENCE, "TimeStampResp")?;
    let mut r = resp.children();
    let status_info = r.expect(tag::SEQUENCE, "PKIStatusInfo")?;
    let mut sr = status_info.children();
    let status = sr.expect(tag::INTEGER, "PKIStatus")?.small_uint()?;
    let mut status_text = Vec::new();
    if let Some(text) = sr.next_if(tag::SEQUENCE, "statusString")? {
        for t in text.children().all("statusString")?.iter().take(16) {
            status_text.push(String::from_utf8_lossy(t.value).into_owned());
        }
    }
    let mut failure = Vec::new();
    if let Some(bits) = sr.next_if(tag::BIT_STRING, "failInfo")? {
        let bytes = bits.value.get(1..).unwrap_or_default();
        for (bit, name) in FAILURE_BITS {
            if bytes
                .get(bit / 8)
                .is_some_and(|b| b & (0x80 >> (bit % 8)) != 0)
            {
                failure.push((*name).to_string());
            }
        }
    }
    let token = if r.is_empty() {
        None
    } else {
        Some(r.expect(tag::SEQUENCE, "timeStampToken")?.raw.to_vec())
    };
    Ok(TimestampResponse {
        status,
        status_text,
        failure,
        token,
    })
}

/// A parsed TSTInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TstInfo {
    /// The TSA policy.
    pub policy: ObjectIdentifier,
    /// The message imprint's algorithm.
    pub digest_algorithm: DigestAlgorithm,
    /// The message imprint.
    pub imprint: Vec<u8>,
    /// The serial number (INTEGER value bytes).
    pub serial: Vec<u8>,
    /// genTime.
    pub time: SystemTime,
    /// The nonce, without leading zero bytes, if present.
    pub nonce: Option<Vec<u8>>,
}

/// Parse a DER TSTInfo (the eContent of a TimeStampToken).
pub fn parse_tst_info(der: &[u8]) -> Result<TstInfo> {
    let t = tlv::parse_one(der, "TSTInfo")?.expect(tag::SEQUENCE, "TSTInfo")?;
    let mut r = t.children();
    r.expect(tag::INTEGER, "TSTInfo version")?;
    let policy = r.next("TSTInfo policy")?.oid()?;
    let (digest_algorithm, imprint) = parse_imprint(&r.expect(tag::SEQUENCE, "messageImprint")?)?;
    let serial = r.expect(tag::INTEGER, "serialNumber")?.value.to_vec();
    let gen = r.expect(tag::GENERALIZED_TIME, "genTime")?;
    let time = super::parse_time(&gen).ok_or_else(|| {
        Error::malformed(
            crate::error::Format::Cms,
            gen.offset as u64,
            MalformedKind::InvalidValue,
            "bad genTime",
        )
    })?;
    r.next_if(tag::SEQUENCE, "accuracy")?;
    r.next_if(tag::BOOLEAN, "ordering")?;
    let nonce = r
        .next_if(tag::INTEGER, "nonce")?
        .map(|n| strip_zeros(n.value).to_vec());
    Ok(TstInfo {
        policy,
        digest_algorithm,
        imprint,
        serial,
        time,
        nonce,
    })
}

/// Check a TimeStampResp against the `request` it answers: status granted, a token whose
/// TSTInfo has the request's imprint and nonce, signed (signature and signed attributes
/// verified) by a certificate in the token that has the timeStamping extended key usage.
/// Returns the token (DER ContentInfo) to embed. The TSA's chain is not checked here (that
/// needs trust anchors: see `verify::timestamp::verify_rfc3161_token`).
pub fn check_response(response: &[u8], request: &TimestampRequest) -> Result<Vec<u8>> {
    let resp = parse_response(response)
        .map_err(|e| malformed(format!("not an RFC 3161 TimeStampResp ({e})")))?;
    if resp.status > 1 {
        return Err(TimestampError::Rejected {
            status: resp.status,
            text: resp.status_text,
            failure: resp.failure,
        }
        .into());
    }
    let token = resp
        .token
        .ok_or_else(|| malformed("status granted but no timeStampToken"))?;
    let sd = generic::parse_signed_data(&token)
        .map_err(|e| malformed(format!("timeStampToken: {e}")))?;
    if sd.content_type != ID_CT_TST_INFO {
        return Err(malformed(format!(
            "timeStampToken content type is {}, not id-ct-TSTInfo",
            sd.content_type
        )));
    }
    let content = sd
        .content
        .as_deref()
        .ok_or_else(|| malformed("timeStampToken without TSTInfo"))?;
    let info = parse_tst_info(content).map_err(|e| malformed(format!("TSTInfo: {e}")))?;
    if info.digest_algorithm != request.digest_algorithm || info.imprint != request.imprint {
        return Err(TimestampError::ImprintMismatch {
            expected: format!(
                "{} {}",
                request.digest_algorithm,
                hex::encode(&request.imprint)
            ),
            received: format!("{} {}", info.digest_algorithm, hex::encode(&info.imprint)),
        }
        .into());
    }
    if !request.nonce.is_empty() && info.nonce.as_deref() != Some(strip_zeros(&request.nonce)) {
        return Err(TimestampError::NonceMismatch {
            sent: hex::encode(&request.nonce),
            received: info
                .nonce
                .as_deref()
                .map_or_else(|| "none".to_string(), hex::encode),
        }
        .into());
    }
    let si = sd
        .signer_infos
        .first()
        .ok_or_else(|| malformed("timeStampToken without SignerInfo"))?;
    check_tsa_signer(si, content, &[ID_CT_TST_INFO], &sd.certificates)?;
    Ok(token)
}

/// Check a freshly obtained TSA SignerInfo over `content`: its certificate among
/// `certificates`, the messageDigest and contentType attributes, the signature, and the
/// timeStamping extended key usage. The first problem becomes the error.
pub(crate) fn check_tsa_signer(
    si: &crate::cms::SignerInfo,
    content: &[u8],
    content_types: &[ObjectIdentifier],
    certificates: &[Vec<u8>],
) -> Result<()> {
    use crate::crypto::signer_info::{check, SignerInfoProblem};
    use der::Decode;
    let pool: Vec<x509_cert::Certificate> = certificates
        .iter()
        .filter_map(|c| x509_cert::Certificate::from_der(c).ok())
        .collect();
    let found = check(
        si,
        content,
        content_types,
        &pool,
        crate::crypto::DigestInfoRule::Required,
    );
    if let Some(p) = found.problems.into_iter().next() {
        return Err(match p {
            SignerInfoProblem::SignerNotFound => TimestampError::SignerCertificateNotFound,
            SignerInfoProblem::BadSignature(s) => TimestampError::BadSignature(s.to_string()),
            SignerInfoProblem::MessageDigestMismatch => TimestampError::BadSignature(
                "the messageDigest attribute does not match the signed content".into(),
            ),
            other => TimestampError::Malformed(other.to_string()),
        }
        .into());
    }
    if let Some(cert) = found.signer {
        if !crate::certs::has_extended_key_usage(&cert, &TIME_STAMPING_EKU) {
            return Err(TimestampError::NotTimestampingCertificate {
                subject: cert.tbs_certificate().subject().to_string(),
            }
            .into());
        }
    }
    Ok(())
}

/// `id-kp-timeStamping` (1.3.6.1.5.5.7.3.8): required on time-stamping authority certificates.
pub const TIME_STAMPING_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips() {
        let req = TimestampRequest::new(DigestAlgorithm::Sha256, b"sig").unwrap();
        assert_eq!(req.nonce.len(), NONCE_LEN);
        let der = req.to_der();
        assert_eq!(TimestampRequest::parse(&der).unwrap(), req);
        let other = TimestampRequest::new(DigestAlgorithm::Sha256, b"sig").unwrap();
        assert_ne!(other.nonce, req.nonce, "nonces are random");
    }

    #[test]
    fn integers_are_positive_and_minimal() {
        assert_eq!(integer(&[0, 0, 0x80]), [2, 2, 0, 0x80]);
        assert_eq!(integer(&[0x7f]), [2, 1, 0x7f]);
        assert_eq!(integer(&[]), [2, 1, 0]);
    }

    #[test]
    fn rejections_are_decoded() {
        // status rejection, text "no", failInfo badAlg | badDataFormat.
        let resp = tlv::sequence(&[&tlv::sequence(&[
            &tlv::small_uint(2),
            &tlv::sequence(&[&tlv::tlv(tag::UTF8_STRING, b"no")]),
            &tlv::tlv(tag::BIT_STRING, &[2, 0x84]),
        ])]);
        let req = TimestampRequest::new(DigestAlgorithm::Sha256, b"x").unwrap();
        let err = check_response(&resp, &req).unwrap_err().to_string();
        assert!(err.contains("rejection"), "{err}");
        assert!(err.contains("no"), "{err}");
        assert!(err.contains("badAlg, badDataFormat"), "{err}");
        for garbage in [&b""[..], b"\x30\x00", b"hello world"] {
            assert!(check_response(garbage, &req).is_err());
        }
    }
}
