//! Legacy Authenticode timestamps (signtool `/t URL`), as Windows and osslsigncode exchange
//! them.
//!
//! The request is sent base64-encoded in an HTTP POST (`Content-Type:
//! application/octet-stream`):
//! ```text
//! TimeStampRequest ::= SEQUENCE {
//!     countersignatureType OBJECT IDENTIFIER,      -- 1.3.6.1.4.1.311.3.2.1
//!     content SEQUENCE {                           -- a ContentInfo
//!         contentType OBJECT IDENTIFIER,           -- id-data
//!         content [0] EXPLICIT OCTET STRING } }    -- the SignerInfo's signature value
//! ```
//! The answer is a base64 (or raw DER) PKCS#7 SignedData over the same content, signed by the
//! TSA with signed attributes contentType (id-data), signingTime and messageDigest (the digest
//! of the signature value). Its SignerInfo becomes the PKCS#9 counterSignature unsigned
//! attribute (1.2.840.113549.1.9.6) of the signature, and its certificates are added to the
//! signature's certificate set.

use std::time::SystemTime;

use base64ct::Encoding;
use const_oid::ObjectIdentifier;

use crate::cms::tlv::{self, tag};
use crate::cms::{generic, oids};
use crate::error::{Error, Result, TimestampError};

/// SPC_TIME_STAMP_REQUEST_OBJID (1.3.6.1.4.1.311.3.2.1).
pub const SPC_TIME_STAMP_REQUEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.3.2.1");

fn malformed(what: impl Into<String>) -> Error {
    TimestampError::Malformed(what.into()).into()
}

/// ```text
/// TimeStampRequest ::= SEQUENCE {
///     countersignatureType  OBJECT IDENTIFIER,   -- SPC_TIME_STAMP_REQUEST_OBJID
///     content               ContentInfo }        -- id-data over the signature value
/// ```
/// (Authenticode's legacy timestamp request; the optional `attributes` between the two are
/// never sent.)
#[derive(Clone, Debug, PartialEq, Eq, der::Sequence)]
pub struct TimeStampRequest<'a> {
    /// SPC_TIME_STAMP_REQUEST_OBJID (1.3.6.1.4.1.311.3.2.1).
    pub countersignature_type: ObjectIdentifier,
    /// The data to countersign.
    pub content: DataContentInfo<'a>,
}

/// `ContentInfo ::= SEQUENCE { contentType id-data, content [0] EXPLICIT OCTET STRING }`.
#[derive(Clone, Debug, PartialEq, Eq, der::Sequence)]
pub struct DataContentInfo<'a> {
    /// id-data.
    pub content_type: ObjectIdentifier,
    /// The signature value being timestamped.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub content: &'a der::asn1::OctetStringRef,
}

/// The DER Authenticode TimeStampRequest for `signature_value`.
pub fn request(signature_value: &[u8]) -> Result<Vec<u8>> {
    use der::Encode;
    let content = der::asn1::OctetStringRef::new(signature_value)
        .map_err(|e| malformed(format!("signature value: {e}")))?;
    TimeStampRequest {
        countersignature_type: SPC_TIME_STAMP_REQUEST,
        content: DataContentInfo {
            content_type: oids::DATA,
            content,
        },
    }
    .to_der()
    .map_err(|e| malformed(format!("TimeStampRequest: {e}")))
}

/// The signature value carried by a DER Authenticode TimeStampRequest (for in-house TSAs and
/// tests).
pub fn parse_request(der: &[u8]) -> Result<Vec<u8>> {
    use der::Decode;
    let req =
        TimeStampRequest::from_der(der).map_err(|e| malformed(format!("TimeStampRequest: {e}")))?;
    if req.countersignature_type != SPC_TIME_STAMP_REQUEST {
        return Err(malformed(format!(
            "countersignatureType {} is not SPC_TIME_STAMP_REQUEST_OBJID",
            req.countersignature_type
        )));
    }
    Ok(req.content.content.as_bytes().to_vec())
}

/// Decode base64 text (whitespace and line breaks ignored; padding optional).
pub fn decode_base64(body: &[u8]) -> Option<Vec<u8>> {
    let text: String = std::str::from_utf8(body)
        .ok()?
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && *c != '\0')
        .collect();
    if text.is_empty() {
        return None;
    }
    base64ct::Base64::decode_vec(&text)
        .or_else(|_| base64ct::Base64Unpadded::decode_vec(&text))
        .ok()
}

/// A checked legacy timestamp response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyResponse {
    /// The TSA's SignerInfo (DER): the counterSignature attribute value.
    pub signer_info: Vec<u8>,
    /// The certificates of the response, in their order there.
    pub certificates: Vec<Vec<u8>>,
    /// The signingTime the TSA vouches for, if present.
    pub time: Option<SystemTime>,
}

/// Check a legacy response (DER or base64 PKCS#7) for `signature_value`: its SignerInfo's
/// messageDigest is the digest of the signature value, its signature verifies with a
/// certificate of the response, and that certificate has the timeStamping extended key usage.
pub fn check_response(response: &[u8], signature_value: &[u8]) -> Result<LegacyResponse> {
    let decoded;
    let der = if response.first() == Some(&tag::SEQUENCE) {
        response
    } else {
        decoded = decode_base64(response)
            .ok_or_else(|| malformed("legacy response is neither DER PKCS#7 nor base64"))?;
        &decoded
    };
    let sd = generic::parse_signed_data(der)
        .map_err(|e| malformed(format!("legacy response is not a PKCS#7 SignedData ({e})")))?;
    if let Some(content) = &sd.content {
        if content != signature_value {
            return Err(TimestampError::ImprintMismatch {
                expected: format!("content {}", hex::encode(signature_value)),
                received: format!("content {}", hex::encode(content)),
            }
            .into());
        }
    }
    let (Some(si), Some(si_der)) = (sd.signer_infos.first(), sd.signer_infos_der.first()) else {
        return Err(malformed("legacy response without SignerInfo"));
    };
    if si.message_digest()
        != si
            .digest_algorithm()
            .ok()
            .map(|a| a.digest(signature_value))
    {
        return Err(TimestampError::ImprintMismatch {
            expected: format!(
                "messageDigest over the signature value {}",
                hex::encode(signature_value)
            ),
            received: format!(
                "messageDigest {}",
                hex::encode(si.message_digest().unwrap_or_default())
            ),
        }
        .into());
    }
    super::rfc3161::check_tsa_signer(si, signature_value, &[oids::DATA], &sd.certificates)?;
    Ok(LegacyResponse {
        signer_info: si_der.clone(),
        certificates: sd.certificates,
        time: signing_time(si),
    })
}

/// The signingTime signed attribute of `si`, if present and well formed.
fn signing_time(si: &crate::cms::SignerInfo) -> Option<SystemTime> {
    let v = si.signed_attribute(&oids::SIGNING_TIME)?.values.first()?;
    super::parse_time(&tlv::parse_one(v, "signingTime").ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_matches_the_documented_layout() {
        let sig = [0xabu8; 256];
        let der = request(&sig).unwrap();
        // SEQUENCE(291) { OID(10) , SEQUENCE(275) { OID data, [0](260) { OCTET STRING(256) } } }
        assert_eq!(&der[..4], &[0x30, 0x82, 0x01, 0x23]);
        assert_eq!(der.len(), 4 + 291);
        assert_eq!(parse_request(&der).unwrap(), sig);
    }

    #[test]
    fn base64_is_lenient_about_whitespace() {
        assert_eq!(
            decode_base64(b"MIIB\r\nAA==\n").unwrap(),
            [0x30, 0x82, 1, 0]
        );
        assert_eq!(decode_base64(b"MIIBAA").unwrap(), [0x30, 0x82, 1, 0]);
        assert!(decode_base64(b"").is_none());
        assert!(decode_base64(b"\xff\xfe").is_none());
        assert!(check_response(b"!!!", b"sig").is_err());
    }
}
