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

use der::asn1::{AnyRef, BitStringRef, IntRef, Null, OctetStringRef, UintRef, Utf8StringRef};
use der::{Decode, Encode, Sequence};
use spki::AlgorithmIdentifier;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::Extensions;

use crate::cms::generic;
use crate::cms::tlv::{self, tag};
use crate::digest::DigestAlgorithm;
use crate::error::{Error, Result, TimestampError};

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

/// ```text
/// MessageImprint ::= SEQUENCE {
///     hashAlgorithm  AlgorithmIdentifier,
///     hashedMessage  OCTET STRING }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct MessageImprint<'a> {
    /// The digest algorithm.
    pub hash_algorithm: AlgorithmIdentifier<AnyRef<'a>>,
    /// The digest of what is timestamped.
    pub hashed_message: &'a OctetStringRef,
}

/// ```text
/// TimeStampReq ::= SEQUENCE {
///     version         INTEGER { v1(1) },
///     messageImprint  MessageImprint,
///     reqPolicy       TSAPolicyId OPTIONAL,
///     nonce           INTEGER OPTIONAL,
///     certReq         BOOLEAN DEFAULT FALSE,
///     extensions      [0] IMPLICIT Extensions OPTIONAL }
/// ```
/// (RFC 3161 §2.4.1.)
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct TimeStampReq<'a> {
    /// 1.
    pub version: u8,
    /// What is timestamped.
    pub message_imprint: MessageImprint<'a>,
    /// The policy asked for.
    pub req_policy: Option<ObjectIdentifier>,
    /// A random nonce.
    pub nonce: Option<UintRef<'a>>,
    /// Whether the TSA must include its certificate.
    #[asn1(default = "Default::default")]
    pub cert_req: bool,
    /// Extensions.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// ```text
/// PKIStatusInfo ::= SEQUENCE {
///     status        PKIStatus,                   -- INTEGER
///     statusString  PKIFreeText OPTIONAL,        -- SEQUENCE OF UTF8String
///     failInfo      PKIFailureInfo OPTIONAL }    -- BIT STRING
/// ```
/// (RFC 3161 §2.4.2.)
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct PkiStatusInfo<'a> {
    /// 0 granted, 1 grantedWithMods, 2 rejection, 3 waiting, 4 and 5 revocation.
    pub status: u64,
    /// Texts.
    pub status_string: Option<Vec<Utf8StringRef<'a>>>,
    /// Failure bits.
    pub fail_info: Option<BitStringRef<'a>>,
}

/// ```text
/// TimeStampResp ::= SEQUENCE {
///     status          PKIStatusInfo,
///     timeStampToken  TimeStampToken OPTIONAL }   -- a ContentInfo
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct TimeStampResp<'a> {
    /// The status.
    pub status: PkiStatusInfo<'a>,
    /// The token, kept as encoded.
    pub time_stamp_token: Option<AnyRef<'a>>,
}

/// ```text
/// Accuracy ::= SEQUENCE {
///     seconds  INTEGER OPTIONAL,
///     millis   [0] IMPLICIT INTEGER (1..999) OPTIONAL,
///     micros   [1] IMPLICIT INTEGER (1..999) OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct Accuracy {
    /// Seconds.
    pub seconds: Option<u64>,
    /// Milliseconds.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub millis: Option<u16>,
    /// Microseconds.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub micros: Option<u16>,
}

/// ```text
/// TSTInfo ::= SEQUENCE {
///     version         INTEGER { v1(1) },
///     policy          TSAPolicyId,
///     messageImprint  MessageImprint,
///     serialNumber    INTEGER,
///     genTime         GeneralizedTime,
///     accuracy        Accuracy OPTIONAL,
///     ordering        BOOLEAN DEFAULT FALSE,
///     nonce           INTEGER OPTIONAL,
///     tsa             [0] EXPLICIT GeneralName OPTIONAL,
///     extensions      [1] IMPLICIT Extensions OPTIONAL }
/// ```
/// (RFC 3161 §2.4.2.) `genTime` is kept raw: TSAs (Microsoft's among them) write fractional
/// seconds, which DER's GeneralizedTime type refuses; [`parse_tst_info`] reads it leniently.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct TstInfoAsn1<'a> {
    /// 1.
    pub version: u8,
    /// The TSA's policy.
    pub policy: ObjectIdentifier,
    /// What is timestamped.
    pub message_imprint: MessageImprint<'a>,
    /// The token's serial number.
    pub serial_number: IntRef<'a>,
    /// The time (GeneralizedTime, fractions allowed).
    pub gen_time: AnyRef<'a>,
    /// How accurate the time is.
    pub accuracy: Option<Accuracy>,
    /// Whether tokens of this TSA can be ordered by time.
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    /// The nonce of the request.
    pub nonce: Option<UintRef<'a>>,
    /// The TSA's name.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    /// Extensions.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

fn asn1_error(what: &str) -> impl Fn(der::Error) -> Error + '_ {
    move |e| malformed(format!("{what}: {e}"))
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
    pub fn to_der(&self) -> Result<Vec<u8>> {
        let req = TimeStampReq {
            version: 1,
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifier {
                    oid: self.digest_algorithm.oid(),
                    parameters: Some(AnyRef::from(Null)),
                },
                hashed_message: OctetStringRef::new(&self.imprint)
                    .map_err(asn1_error("messageImprint"))?,
            },
            req_policy: None,
            nonce: (!self.nonce.is_empty())
                .then(|| UintRef::new(&self.nonce))
                .transpose()
                .map_err(asn1_error("nonce"))?,
            cert_req: self.cert_req,
            extensions: None,
        };
        req.to_der().map_err(asn1_error("TimeStampReq"))
    }

    /// Parse a DER TimeStampReq (for in-house TSAs and tests).
    pub fn parse(der: &[u8]) -> Result<Self> {
        let req = TimeStampReq::from_der(der).map_err(asn1_error("TimeStampReq"))?;
        let (digest_algorithm, imprint) = imprint(&req.message_imprint)?;
        Ok(Self {
            digest_algorithm,
            imprint,
            nonce: req
                .nonce
                .map(|n| strip_zeros(n.as_bytes()).to_vec())
                .unwrap_or_default(),
            cert_req: req.cert_req,
        })
    }
}

fn strip_zeros(v: &[u8]) -> &[u8] {
    let skip = v.iter().take_while(|b| **b == 0).count();
    v.get(skip..).unwrap_or_default()
}

fn imprint(m: &MessageImprint<'_>) -> Result<(DigestAlgorithm, Vec<u8>)> {
    let oid = m.hash_algorithm.oid;
    let alg = DigestAlgorithm::from_oid(&oid)
        .ok_or_else(|| Error::Unsupported(format!("message imprint digest algorithm {oid}")))?;
    Ok((alg, m.hashed_message.as_bytes().to_vec()))
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
    let resp = TimeStampResp::from_ber(der).map_err(asn1_error("TimeStampResp"))?;
    let status_text = resp
        .status
        .status_string
        .iter()
        .flatten()
        .take(16)
        .map(|t| t.as_str().to_string())
        .collect();
    let failure = resp
        .status
        .fail_info
        .map(|bits| {
            let bytes = bits.raw_bytes();
            FAILURE_BITS
                .iter()
                .filter(|(bit, _)| {
                    bytes
                        .get(bit / 8)
                        .is_some_and(|b| b & (0x80 >> (bit % 8)) != 0)
                })
                .map(|(_, name)| (*name).to_string())
                .collect()
        })
        .unwrap_or_default();
    let token = resp
        .time_stamp_token
        .map(|t| t.to_der())
        .transpose()
        .map_err(asn1_error("timeStampToken"))?;
    Ok(TimestampResponse {
        status: resp.status.status,
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

/// Parse a DER (or BER) TSTInfo (the eContent of a TimeStampToken).
pub fn parse_tst_info(der: &[u8]) -> Result<TstInfo> {
    let info = TstInfoAsn1::from_ber(der).map_err(asn1_error("TSTInfo"))?;
    let (digest_algorithm, imprint) = imprint(&info.message_imprint)?;
    let gen = info.gen_time.to_der().map_err(asn1_error("genTime"))?;
    let time = tlv::parse_one(&gen, "genTime")
        .ok()
        .filter(|t| t.tag == tag::GENERALIZED_TIME)
        .and_then(|t| super::parse_time(&t))
        .ok_or_else(|| malformed("TSTInfo: bad genTime"))?;
    Ok(TstInfo {
        policy: info.policy,
        digest_algorithm,
        imprint,
        serial: info.serial_number.as_bytes().to_vec(),
        time,
        nonce: info.nonce.map(|n| strip_zeros(n.as_bytes()).to_vec()),
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
        let der = req.to_der().unwrap();
        assert_eq!(TimestampRequest::parse(&der).unwrap(), req);
        let other = TimestampRequest::new(DigestAlgorithm::Sha256, b"sig").unwrap();
        assert_ne!(other.nonce, req.nonce, "nonces are random");
    }

    #[test]
    fn nonces_are_positive_and_minimal() {
        let with = |nonce: &[u8]| {
            TimestampRequest {
                digest_algorithm: DigestAlgorithm::Sha256,
                imprint: vec![0; 32],
                nonce: nonce.to_vec(),
                cert_req: false,
            }
            .to_der()
            .unwrap()
        };
        assert!(with(&[0, 0, 0x80]).ends_with(&[2, 2, 0, 0x80]));
        assert!(with(&[0x7f]).ends_with(&[2, 1, 0x7f]));
        assert!(!with(&[]).contains(&2) || with(&[]).len() < with(&[1]).len());
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
