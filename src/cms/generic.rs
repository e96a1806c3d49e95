//! CMS SignedData of any content type, for structures that are not Authenticode signatures
//! themselves: RFC 3161 timestamp tokens (content id-ct-TSTInfo) and legacy Authenticode
//! timestamp responses (content id-data). Parsing is bounded like [`SignedData::parse`](super::SignedData::parse)
//! and keeps the encodings of certificates and SignerInfos.

use const_oid::ObjectIdentifier;

use super::oids;
use super::signed_data::{SignerInfo, MAX_CERTIFICATES, MAX_SIGNER_INFOS};
use super::tlv::{self, tag};
use crate::error::{Error, Format, Result};

/// Constructed OCTET STRING (BER), whose value is the concatenation of its segments.
const OCTET_STRING_CONSTRUCTED: u8 = 0x24;

/// A parsed ContentInfo(SignedData) of any encapsulated content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnySignedData {
    /// SignedData version.
    pub version: u64,
    /// eContentType.
    pub content_type: ObjectIdentifier,
    /// The eContent octets (the value of the OCTET STRING), if present.
    pub content: Option<Vec<u8>>,
    /// Embedded X.509 certificates, as encoded (other certificate choices are skipped).
    pub certificates: Vec<Vec<u8>>,
    /// The parsed SignerInfos.
    pub signer_infos: Vec<SignerInfo>,
    /// The encoding of each SignerInfo, in the same order.
    pub signer_infos_der: Vec<Vec<u8>>,
}

fn malformed(offset: usize, what: impl Into<String>) -> Error {
    Error::malformed(Format::Cms, offset as u64, what)
}

/// Parse a DER (or BER) ContentInfo holding a SignedData with any content type. Trailing
/// zero bytes are accepted.
pub fn parse_signed_data(data: &[u8]) -> Result<AnySignedData> {
    let ci = tlv::parse_one(data, "ContentInfo")?.expect(tag::SEQUENCE, "ContentInfo")?;
    let mut r = ci.children();
    let ct = r.next("ContentInfo contentType")?;
    if ct.oid()? != oids::SIGNED_DATA {
        return Err(malformed(ct.offset, "ContentInfo is not signedData"));
    }
    let sd = r
        .expect(tag::context(0), "ContentInfo content")?
        .children()
        .expect(tag::SEQUENCE, "SignedData")?;
    let mut r = sd.children();
    let version = r.expect(tag::INTEGER, "SignedData version")?.small_uint()?;
    r.expect(tag::SET, "SignedData digestAlgorithms")?;
    let eci = r.expect(tag::SEQUENCE, "SignedData encapContentInfo")?;
    let mut er = eci.children();
    let content_type = er.next("eContentType")?.oid()?;
    let content = match er.next_if(tag::context(0), "eContent")? {
        None => None,
        Some(explicit) => {
            let os = explicit.children().next("eContent")?;
            match os.tag {
                tag::OCTET_STRING => Some(os.value.to_vec()),
                OCTET_STRING_CONSTRUCTED => {
                    let mut v = Vec::new();
                    for seg in os.children().all("eContent segment")? {
                        v.extend_from_slice(
                            seg.expect(tag::OCTET_STRING, "eContent segment")?.value,
                        );
                    }
                    Some(v)
                }
                // Old PKCS#7 encodings put the content itself under [0] (e.g. a SEQUENCE).
                _ => Some(os.raw.to_vec()),
            }
        }
    };
    let mut certificates = Vec::new();
    if let Some(certs) = r.next_if(tag::context(0), "certificates")? {
        let mut cr = certs.children();
        while !cr.is_empty() {
            if certificates.len() >= MAX_CERTIFICATES {
                return Err(malformed(cr.offset(), "too many certificates"));
            }
            let c = cr.next("certificate")?;
            if c.tag == tag::SEQUENCE {
                certificates.push(c.raw.to_vec());
            }
        }
    }
    r.next_if(tag::context(1), "crls")?;
    let sis = r.expect(tag::SET, "SignedData signerInfos")?;
    let mut signer_infos = Vec::new();
    let mut signer_infos_der = Vec::new();
    let mut sr = sis.children();
    while !sr.is_empty() {
        if signer_infos.len() >= MAX_SIGNER_INFOS {
            return Err(malformed(sr.offset(), "too many SignerInfos"));
        }
        let t = sr.expect(tag::SEQUENCE, "SignerInfo")?;
        signer_infos.push(SignerInfo::from_der(t.raw)?);
        signer_infos_der.push(t.raw.to_vec());
    }
    if signer_infos.is_empty() {
        return Err(malformed(sis.offset, "no SignerInfo"));
    }
    Ok(AnySignedData {
        version,
        content_type,
        content,
        certificates,
        signer_infos,
        signer_infos_der,
    })
}
