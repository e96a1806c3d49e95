//! Timestamping: an Authenticode signature made with a certificate that later expires stays
//! valid if a time-stamping authority (TSA) vouched for the time it existed.
//!
//! Two protocols, both countersigning the *signature value* (encryptedDigest) of a SignerInfo:
//! - [`TimestampKind::Rfc3161`] (signtool `/tr URL /td ALG`): an RFC 3161 TimeStampReq over the
//!   digest of the signature value, with a random nonce and certReq; the TimeStampToken of the
//!   answer becomes the unsigned attribute 1.3.6.1.4.1.311.3.3.1 (see [`rfc3161`]).
//! - [`TimestampKind::Legacy`] (signtool `/t URL`): Authenticode's own TimeStampRequest; the
//!   SignerInfo of the PKCS#7 answer becomes the PKCS#9 counterSignature unsigned attribute
//!   1.2.840.113549.1.9.6, and the TSA certificates join the signature's certificate set (see
//!   [`legacy`]).
//!
//! A [`Timestamper`] carries requests to a TSA: [`HttpTimestamper`] (feature `http`) speaks
//! HTTP; tests, proxies and in-house TSAs implement the trait (closures do too).
//! [`apply`] timestamps a signature, [`apply_to_nested`] one nested signature and
//! [`apply_to_all`] all of them; an already signed file is timestamped without re-signing by
//! running them over its embedded PKCS#7. Checking timestamps is the verifier's job
//! (`verify::timestamp`).
//!
//! ```
//! use authsign::timestamp::{self, TimestampKind};
//! # fn demo(pkcs7: &[u8], tsa: &dyn timestamp::Timestamper) -> authsign::Result<Vec<u8>> {
//! let stamped = timestamp::apply(pkcs7, tsa, TimestampKind::Rfc3161, authsign::DigestAlgorithm::Sha256)?;
//! # Ok(stamped) }
//! ```

#[cfg(feature = "http")]
pub mod http;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod legacy;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod rfc3161;

#[cfg(feature = "http")]
pub use http::HttpTimestamper;

use std::time::SystemTime;

use crate::cms::tlv::{self, tag};
use crate::cms::{edit, oids, SignedData};
use crate::digest::DigestAlgorithm;
use crate::error::{Error, MalformedKind, Result, TimestampError};

/// Largest timestamp response accepted, in bytes (a token with a few certificates is 3–10 KiB).
pub const MAX_RESPONSE_SIZE: usize = 256 * 1024;

pub use crate::error::TimestampKind;

/// Carries one timestamp request to a TSA and returns its answer.
///
/// Both directions are DER: for [`TimestampKind::Rfc3161`] a TimeStampReq in and a
/// TimeStampResp out; for [`TimestampKind::Legacy`] the Authenticode TimeStampRequest in and
/// the PKCS#7 ContentInfo out (transports that base64-encode, as HTTP does, decode before
/// returning; a base64 answer is accepted too). Any `Fn(TimestampKind, &[u8]) -> Result<Vec<u8>>`
/// is a `Timestamper`.
pub trait Timestamper {
    /// Send `request` (of protocol `kind`) and return the response bytes.
    fn timestamp(&self, kind: TimestampKind, request: &[u8]) -> Result<Vec<u8>>;

    /// How errors name this timestamper (a URL for HTTP).
    fn name(&self) -> String {
        "timestamper".to_string()
    }
}

impl<F> Timestamper for F
where
    F: Fn(TimestampKind, &[u8]) -> Result<Vec<u8>>,
{
    fn timestamp(&self, kind: TimestampKind, request: &[u8]) -> Result<Vec<u8>> {
        self(kind, request)
    }
}

/// What a response looks like, to tell the two protocols apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// SEQUENCE { SEQUENCE { INTEGER ... } ... }: an RFC 3161 TimeStampResp.
    TimeStampResp,
    /// SEQUENCE { OID signedData, ... }: a PKCS#7 ContentInfo (legacy response).
    ContentInfo,
    /// Anything else.
    Other,
}

pub(crate) fn shape(body: &[u8]) -> Shape {
    let Ok(t) = tlv::parse_one(body, "response") else {
        return Shape::Other;
    };
    if t.tag != tag::SEQUENCE {
        return Shape::Other;
    }
    let mut r = t.children();
    match r.next("first") {
        Ok(first) if first.tag == tag::SEQUENCE => {
            if first.children().peek_tag() == Some(tag::INTEGER) {
                Shape::TimeStampResp
            } else {
                Shape::Other
            }
        }
        Ok(first) if first.oid().ok() == Some(oids::SIGNED_DATA) => Shape::ContentInfo,
        _ => Shape::Other,
    }
}

/// The shape of `body`, looking through one layer of base64.
pub(crate) fn shape_through_base64(body: &[u8]) -> Shape {
    match shape(body) {
        Shape::Other => legacy::decode_base64(body)
            .map(|d| shape(&d))
            .unwrap_or(Shape::Other),
        s => s,
    }
}

/// An error when `body` is clearly an answer of the other protocol than `kind`.
pub(crate) fn check_protocol(kind: TimestampKind, body: &[u8], server: &str) -> Result<()> {
    let wrong = matches!(
        (kind, shape_through_base64(body)),
        (TimestampKind::Rfc3161, Shape::ContentInfo)
            | (TimestampKind::Legacy, Shape::TimeStampResp)
    );
    if wrong {
        return Err(TimestampError::WrongProtocol {
            server: server.to_string(),
            expected: kind,
        }
        .into());
    }
    Ok(())
}

/// Ask `ts` for a timestamp over `signature_value` and return the unsigned attribute to add
/// (OID, value) and the certificates to merge into the signature.
fn obtain(
    signature_value: &[u8],
    ts: &dyn Timestamper,
    kind: TimestampKind,
    alg: DigestAlgorithm,
) -> Result<(const_oid::ObjectIdentifier, Vec<u8>, Vec<Vec<u8>>)> {
    let server = ts.name();
    match kind {
        TimestampKind::Rfc3161 => {
            let request = rfc3161::TimestampRequest::new(alg, signature_value)?;
            let response = ts.timestamp(kind, &request.to_der()?)?;
            check_common(kind, &response, &server)?;
            let token = rfc3161::check_response(&response, &request)?;
            Ok((oids::SPC_RFC3161_TIMESTAMP, token, Vec::new()))
        }
        TimestampKind::Legacy => {
            let request = legacy::request(signature_value)?;
            let response = ts.timestamp(kind, &request)?;
            check_common(kind, &response, &server)?;
            let response = legacy::check_response(&response, signature_value)?;
            // Like osslsigncode (and signtool /t): the TSA's certificates join the
            // signature's certificate set, last one first, each once.
            let mut certs = response.certificates;
            certs.reverse();
            Ok((oids::COUNTER_SIGNATURE, response.signer_info, certs))
        }
    }
}

fn check_common(kind: TimestampKind, response: &[u8], server: &str) -> Result<()> {
    if response.is_empty() {
        return Err(TimestampError::EmptyResponse {
            server: server.to_string(),
        }
        .into());
    }
    if response.len() > MAX_RESPONSE_SIZE {
        return Err(TimestampError::ResponseTooLarge {
            server: server.to_string(),
            limit: MAX_RESPONSE_SIZE,
        }
        .into());
    }
    check_protocol(kind, response, server)
}

/// Timestamp the primary signature of `pkcs7` (a DER ContentInfo(SignedData)) and return the
/// new PKCS#7. The digest `alg` is used for the RFC 3161 message imprint (legacy requests
/// carry the signature value itself, and the TSA picks its digest). An existing timestamp of
/// the same kind is replaced; everything signed stays byte for byte. On error nothing is
/// returned, so the caller's file is left as it was.
pub fn apply(
    pkcs7: &[u8],
    ts: &dyn Timestamper,
    kind: TimestampKind,
    alg: DigestAlgorithm,
) -> Result<Vec<u8>> {
    let sd = SignedData::parse(pkcs7)?;
    let si = sd.signer_infos.first().ok_or_else(|| {
        Error::malformed(
            crate::error::Format::Cms,
            0,
            MalformedKind::Truncated,
            "no SignerInfo",
        )
    })?;
    let (oid, value, certs) = obtain(&si.signature, ts, kind, alg)?;
    edit::set_unsigned_attribute(pkcs7, &oid, &value, &certs)
}

/// Timestamp nested signature `index` (0 = the first nested one) of `pkcs7` and return the new
/// PKCS#7 (the primary signature and the other nested ones are unchanged).
pub fn apply_to_nested(
    pkcs7: &[u8],
    index: usize,
    ts: &dyn Timestamper,
    kind: TimestampKind,
    alg: DigestAlgorithm,
) -> Result<Vec<u8>> {
    let nested = SignedData::parse(pkcs7)?.nested_signatures();
    let inner = nested
        .get(index)
        .ok_or(TimestampError::NoSuchNestedSignature {
            index,
            count: nested.len(),
        })?;
    let stamped = apply(inner, ts, kind, alg)?;
    edit::replace_nested_signature(pkcs7, index, Some(&stamped))
}

/// Timestamp the primary signature and every nested signature of `pkcs7` (what signtool's
/// `timestamp` does for each signature of a dual-signed file).
pub fn apply_to_all(
    pkcs7: &[u8],
    ts: &dyn Timestamper,
    kind: TimestampKind,
    alg: DigestAlgorithm,
) -> Result<Vec<u8>> {
    let count = SignedData::parse(pkcs7)?.nested_signatures().len();
    let mut out = pkcs7.to_vec();
    for index in 0..count {
        out = apply_to_nested(&out, index, ts, kind, alg)?;
    }
    apply(&out, ts, kind, alg)
}

/// Parse an ASN.1 UTCTime or GeneralizedTime TLV (`Z` form; fractional seconds ignored).
pub(crate) fn parse_time(t: &tlv::Tlv<'_>) -> Option<SystemTime> {
    let s = std::str::from_utf8(t.value).ok()?;
    let s = s.strip_suffix('Z')?;
    let (s, year) = match t.tag {
        tag::UTC_TIME => {
            let yy: u16 = s.get(0..2)?.parse().ok()?;
            (s.get(2..)?, if yy >= 50 { 1900 + yy } else { 2000 + yy })
        }
        tag::GENERALIZED_TIME => (s.get(4..)?, s.get(0..4)?.parse().ok()?),
        _ => return None,
    };
    let s = s.split('.').next()?;
    if s.len() != 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |i: usize| s.get(i..i + 2).and_then(|x| x.parse::<u8>().ok());
    der::DateTime::new(year, n(0)?, n(2)?, n(4)?, n(6)?, n(8)?)
        .ok()
        .map(|d| d.to_system_time())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse() {
        let g = tlv::tlv(tag::GENERALIZED_TIME, b"20200601120000.25Z");
        let t = tlv::parse_one(&g, "t").unwrap();
        let secs = parse_time(&t)
            .unwrap()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(secs, 1_591_012_800);
        let u = tlv::tlv(tag::UTC_TIME, b"200601120000Z");
        assert_eq!(
            parse_time(&tlv::parse_one(&u, "t").unwrap()),
            parse_time(&t)
        );
        for bad in [&b"2020"[..], b"20200601120000", b"2020060112000xZ"] {
            let g = tlv::tlv(tag::GENERALIZED_TIME, bad);
            assert!(parse_time(&tlv::parse_one(&g, "t").unwrap()).is_none());
        }
    }

    #[test]
    fn shapes_are_told_apart() {
        let resp = tlv::sequence(&[&tlv::sequence(&[&tlv::small_uint(2)])]);
        assert_eq!(shape(&resp), Shape::TimeStampResp);
        let ci = tlv::sequence(&[&tlv::oid(&oids::SIGNED_DATA)]);
        assert_eq!(shape(&ci), Shape::ContentInfo);
        let b64 = <base64ct::Base64 as base64ct::Encoding>::encode_string(&ci);
        assert_eq!(shape_through_base64(b64.as_bytes()), Shape::ContentInfo);
        assert_eq!(shape(b"garbage"), Shape::Other);
        assert!(check_protocol(TimestampKind::Legacy, &resp, "x").is_err());
        assert!(check_protocol(TimestampKind::Rfc3161, b64.as_bytes(), "x").is_err());
        assert!(check_protocol(TimestampKind::Rfc3161, &resp, "x").is_ok());
    }
}
