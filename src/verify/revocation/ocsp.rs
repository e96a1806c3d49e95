//! OCSP (RFC 6960): the request for one certificate, and the checks on the answer (status,
//! the responder's authority and signature, freshness, the certificate it speaks of).

use std::time::{Duration, SystemTime};

use const_oid::ObjectIdentifier;
use der::asn1::{Any, BitString, GeneralizedTime, Null, OctetString};
use der::{Choice, Decode, Encode, Enumerated, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::Extensions;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

use super::Status;
use crate::cms::tlv;
use crate::crypto::verify_signature;
use crate::digest::DigestAlgorithm;
use crate::verify::chain::{has_extended_key_usage, verify_certificate_signature};

/// `id-pkix-ocsp-basic` (1.3.6.1.5.5.7.48.1.1).
const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
/// `id-kp-OCSPSigning` (1.3.6.1.5.5.7.3.9): delegated responders carry it.
const ID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
/// Clock skew tolerated on thisUpdate / nextUpdate.
const SKEW: Duration = Duration::from_secs(300);

/// ```text
/// CertID ::= SEQUENCE {
///     hashAlgorithm       AlgorithmIdentifier,
///     issuerNameHash      OCTET STRING, -- Hash of issuer's DN
///     issuerKeyHash       OCTET STRING, -- Hash of issuer's public key
///     serialNumber        CertificateSerialNumber }
/// ```
/// (RFC 6960 §4.1.1)
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CertId {
    /// The hash of the two hashes below.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// Hash of the issuer's distinguished name as encoded.
    pub issuer_name_hash: OctetString,
    /// Hash of the issuer's subjectPublicKey BIT STRING value.
    pub issuer_key_hash: OctetString,
    /// The certificate's serial number.
    pub serial_number: SerialNumber,
}

/// ```text
/// Request ::= SEQUENCE {
///     reqCert                     CertID,
///     singleRequestExtensions     [0] EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct Request {
    /// The certificate asked about.
    pub req_cert: CertId,
    /// Extensions (none sent).
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    pub single_request_extensions: Option<Extensions>,
}

/// ```text
/// TBSRequest ::= SEQUENCE {
///     version             [0] EXPLICIT Version DEFAULT v1,
///     requestorName       [1] EXPLICIT GeneralName OPTIONAL,
///     requestList         SEQUENCE OF Request,
///     requestExtensions   [2] EXPLICIT Extensions OPTIONAL }
/// ```
/// (`version` and `requestorName` are never sent.)
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct TbsRequest {
    /// The certificates asked about.
    pub request_list: Vec<Request>,
    /// Extensions (none sent).
    #[asn1(context_specific = "2", optional = "true", tag_mode = "EXPLICIT")]
    pub request_extensions: Option<Extensions>,
}

/// ```text
/// OCSPRequest ::= SEQUENCE {
///     tbsRequest                  TBSRequest,
///     optionalSignature   [0]     EXPLICIT Signature OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct OcspRequest {
    /// The request.
    pub tbs_request: TbsRequest,
    /// Unsigned requests only.
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    pub optional_signature: Option<Any>,
}

/// ```text
/// OCSPResponseStatus ::= ENUMERATED { successful (0), malformedRequest (1),
///     internalError (2), tryLater (3), sigRequired (5), unauthorized (6) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enumerated)]
#[repr(u32)]
pub enum OcspResponseStatus {
    /// The response has valid confirmations.
    Successful = 0,
    /// Illegal confirmation request.
    MalformedRequest = 1,
    /// Internal error in the issuer.
    InternalError = 2,
    /// Try again later.
    TryLater = 3,
    /// Must sign the request.
    SigRequired = 5,
    /// Request unauthorized.
    Unauthorized = 6,
}

/// ```text
/// OCSPResponse ::= SEQUENCE {
///     responseStatus         OCSPResponseStatus,
///     responseBytes          [0] EXPLICIT ResponseBytes OPTIONAL }
/// ResponseBytes ::= SEQUENCE { responseType OBJECT IDENTIFIER, response OCTET STRING }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct OcspResponse {
    /// The status.
    pub response_status: OcspResponseStatus,
    /// The answer, when successful.
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    pub response_bytes: Option<ResponseBytes>,
}

/// `ResponseBytes`, see [`OcspResponse`].
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct ResponseBytes {
    /// `id-pkix-ocsp-basic` for a [`BasicOcspResponse`].
    pub response_type: ObjectIdentifier,
    /// The DER answer.
    pub response: OctetString,
}

/// ```text
/// BasicOCSPResponse ::= SEQUENCE {
///     tbsResponseData      ResponseData,
///     signatureAlgorithm   AlgorithmIdentifier,
///     signature            BIT STRING,
///     certs            [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct BasicOcspResponse {
    /// What is signed.
    pub tbs_response_data: ResponseData,
    /// The responder's signature algorithm.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    /// The responder's signature over `tbsResponseData` as encoded.
    pub signature: BitString,
    /// Certificates helping to verify it (a delegated responder's).
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    pub certs: Option<Vec<Certificate>>,
}

/// ```text
/// ResponseData ::= SEQUENCE {
///     version              [0] EXPLICIT Version DEFAULT v1,
///     responderID              ResponderID,
///     producedAt               GeneralizedTime,
///     responses                SEQUENCE OF SingleResponse,
///     responseExtensions   [1] EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct ResponseData {
    /// v1 (0) when present.
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    pub version: Option<u8>,
    /// Who answered.
    pub responder_id: ResponderId,
    /// When the answer was signed.
    pub produced_at: GeneralizedTime,
    /// One answer per certificate asked about.
    pub responses: Vec<SingleResponse>,
    /// Extensions (a nonce, if the responder echoes one).
    #[asn1(context_specific = "1", optional = "true", tag_mode = "EXPLICIT")]
    pub response_extensions: Option<Extensions>,
}

/// ```text
/// ResponderID ::= CHOICE { byName [1] Name, byKey [2] KeyHash }
/// KeyHash ::= OCTET STRING -- SHA-1 hash of the responder's public key
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
pub enum ResponderId {
    /// The responder's subject name.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    ByName(Name),
    /// SHA-1 of the responder's subjectPublicKey.
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    ByKey(OctetString),
}

/// ```text
/// SingleResponse ::= SEQUENCE {
///     certID                       CertID,
///     certStatus                   CertStatus,
///     thisUpdate                   GeneralizedTime,
///     nextUpdate         [0]       EXPLICIT GeneralizedTime OPTIONAL,
///     singleExtensions   [1]       EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SingleResponse {
    /// The certificate this answer is about.
    pub cert_id: CertId,
    /// Its status.
    pub cert_status: CertStatus,
    /// When the status was known to be correct.
    pub this_update: GeneralizedTime,
    /// When newer information will be available.
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    pub next_update: Option<GeneralizedTime>,
    /// Extensions.
    #[asn1(context_specific = "1", optional = "true", tag_mode = "EXPLICIT")]
    pub single_extensions: Option<Extensions>,
}

/// ```text
/// CertStatus ::= CHOICE {
///     good        [0]     IMPLICIT NULL,
///     revoked     [1]     IMPLICIT RevokedInfo,
///     unknown     [2]     IMPLICIT UnknownInfo }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
pub enum CertStatus {
    /// Not revoked.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Good(Null),
    /// Revoked.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Revoked(RevokedInfo),
    /// The responder does not know the certificate.
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Unknown(Null),
}

/// ```text
/// RevokedInfo ::= SEQUENCE {
///     revocationTime              GeneralizedTime,
///     revocationReason    [0]     EXPLICIT CRLReason OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct RevokedInfo {
    /// When it was revoked.
    pub revocation_time: GeneralizedTime,
    /// Why.
    #[asn1(context_specific = "0", optional = "true", tag_mode = "EXPLICIT")]
    pub revocation_reason: Option<CrlReason>,
}

/// The CertID of `cert` (issued by `issuer`) with SHA-1, as every responder understands.
fn cert_id(
    cert: &Certificate,
    issuer: &Certificate,
    alg: DigestAlgorithm,
) -> Result<CertId, String> {
    let name = cert
        .tbs_certificate()
        .issuer()
        .to_der()
        .map_err(|e| e.to_string())?;
    let key = issuer
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: alg.oid(),
            parameters: Some(Any::from(Null)),
        },
        issuer_name_hash: OctetString::new(alg.digest(&name)).map_err(|e| e.to_string())?,
        issuer_key_hash: OctetString::new(alg.digest(key)).map_err(|e| e.to_string())?,
        serial_number: cert.tbs_certificate().serial_number().clone(),
    })
}

/// The DER OCSP request for `cert`.
pub(crate) fn request(cert: &Certificate, issuer: &Certificate) -> Result<Vec<u8>, String> {
    OcspRequest {
        tbs_request: TbsRequest {
            request_list: vec![Request {
                req_cert: cert_id(cert, issuer, DigestAlgorithm::Sha1)?,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(|e| e.to_string())
}

/// `cert`'s status from the DER OCSPResponse `der`: the responder must be `issuer` or a
/// responder certificate `issuer` signed with the OCSPSigning usage, its signature must
/// verify, and the answer must be current at `now`.
pub(crate) fn status_from_response(
    der: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
    now: SystemTime,
) -> Result<Status, String> {
    let response = OcspResponse::from_der(der).map_err(|e| format!("bad OCSP response: {e}"))?;
    if response.response_status != OcspResponseStatus::Successful {
        return Err(format!("responder status {:?}", response.response_status));
    }
    let bytes = response
        .response_bytes
        .ok_or("successful response without responseBytes")?;
    if bytes.response_type != ID_PKIX_OCSP_BASIC {
        return Err(format!("response type {}", bytes.response_type));
    }
    let basic_der = bytes.response.as_bytes();
    let basic =
        BasicOcspResponse::from_der(basic_der).map_err(|e| format!("bad basic response: {e}"))?;
    let tbs = tlv::parse_one(basic_der, "BasicOCSPResponse")
        .and_then(|t| t.children().next("tbsResponseData"))
        .map_err(|e| e.to_string())?
        .raw;
    let responder = responder(&basic, issuer)?;
    let signature = basic
        .signature
        .as_bytes()
        .ok_or("signature with unused bits")?;
    verify_signature(
        responder.tbs_certificate().subject_public_key_info(),
        &basic.signature_algorithm,
        tbs,
        signature,
    )
    .map_err(|e| format!("responder signature: {e}"))?;

    let single = basic
        .tbs_response_data
        .responses
        .iter()
        .find(|r| {
            DigestAlgorithm::from_oid(&r.cert_id.hash_algorithm.oid)
                .and_then(|alg| cert_id(cert, issuer, alg).ok())
                .is_some_and(|id| {
                    id.issuer_name_hash == r.cert_id.issuer_name_hash
                        && id.issuer_key_hash == r.cert_id.issuer_key_hash
                        && id.serial_number == r.cert_id.serial_number
                })
        })
        .ok_or("the answer is not about this certificate")?;
    if single.this_update.to_system_time() > now + SKEW {
        return Err("the answer's thisUpdate is in the future".into());
    }
    if single
        .next_update
        .is_some_and(|t| t.to_system_time() + SKEW < now)
    {
        return Err("the answer is past its nextUpdate".into());
    }
    Ok(match &single.cert_status {
        CertStatus::Good(_) => Status::Good,
        CertStatus::Revoked(info) => Status::Revoked {
            at: Some(info.revocation_time.to_system_time()),
            reason: info.revocation_reason.map(|r| format!("{r:?}")),
        },
        CertStatus::Unknown(_) => {
            Status::Unknown("the responder does not know the certificate".into())
        }
    })
}

/// The certificate that signed `basic`: `issuer` itself, or a delegated responder certificate
/// in the answer, signed by `issuer` and carrying the OCSPSigning extended key usage.
fn responder<'a>(
    basic: &'a BasicOcspResponse,
    issuer: &'a Certificate,
) -> Result<&'a Certificate, String> {
    let matches = |c: &Certificate| match &basic.tbs_response_data.responder_id {
        ResponderId::ByName(name) => c.tbs_certificate().subject() == name,
        ResponderId::ByKey(hash) => {
            DigestAlgorithm::Sha1.digest(
                c.tbs_certificate()
                    .subject_public_key_info()
                    .subject_public_key
                    .raw_bytes(),
            ) == hash.as_bytes()
        }
    };
    if matches(issuer) {
        return Ok(issuer);
    }
    basic
        .certs
        .iter()
        .flatten()
        .find(|c| {
            matches(c)
                && has_extended_key_usage(c, &ID_KP_OCSP_SIGNING)
                && verify_certificate_signature(c, issuer).is_ok()
        })
        .ok_or_else(|| "the responder is neither the issuer nor authorised by it".to_string())
}
