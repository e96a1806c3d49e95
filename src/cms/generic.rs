//! CMS SignedData of any content type, for structures that are not Authenticode signatures
//! themselves: RFC 3161 timestamp tokens (content id-ct-TSTInfo) and legacy Authenticode
//! timestamp responses (content id-data). Parsing is bounded like [`SignedData::parse`](super::SignedData::parse)
//! and keeps the encodings of certificates and SignerInfos.

use const_oid::ObjectIdentifier;

use super::signed_data::SignerInfo;
use super::tlv::tag;
use crate::error::Result;

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

/// Parse a DER (or BER) ContentInfo holding a SignedData with any content type. Trailing
/// zero bytes are accepted.
pub fn parse_signed_data(data: &[u8]) -> Result<AnySignedData> {
    let env = super::signed_data::envelope(data)?;
    let mut er = env.encapsulated.children();
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
    let signer_infos = env
        .signer_infos
        .iter()
        .map(|t| SignerInfo::from_der(t.raw))
        .collect::<Result<Vec<_>>>()?;
    Ok(AnySignedData {
        version: env.version,
        content_type,
        content,
        certificates: env.certificates,
        signer_infos,
        signer_infos_der: env.signer_infos.iter().map(|t| t.raw.to_vec()).collect(),
    })
}
