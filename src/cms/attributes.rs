//! Signed attributes of an Authenticode SignerInfo, and the two attribute profiles.
//!
//! ```text
//! Attribute ::= SEQUENCE { attrType OBJECT IDENTIFIER, attrValues SET OF ANY }
//! SpcSpOpusInfo ::= SEQUENCE {
//!     programName  [0] EXPLICIT SpcString OPTIONAL,
//!     moreInfo     [1] EXPLICIT SpcLink OPTIONAL }
//! SpcStatementType ::= SEQUENCE OF OBJECT IDENTIFIER
//! ```
//! The attributes form a DER `SET OF`, sorted by encoding; the signature is computed over that
//! SET (tag 0x31), and the SignerInfo stores it under the implicit tag `[0]`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::oids;
use super::tlv::{self, tag};
use crate::digest::DigestAlgorithm;
use crate::error::{Error, Result};

/// Which tool's choice of signed attributes to reproduce.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Profile {
    /// Like Microsoft signtool: contentType, SpcSpOpusInfo (an empty SEQUENCE when there is no
    /// description or URL), SpcStatementType and messageDigest; signingTime only when asked.
    #[default]
    Signtool,
    /// Like osslsigncode: contentType, signingTime (now unless given), SpcStatementType,
    /// messageDigest, and SpcSpOpusInfo only when a description or URL is given.
    Osslsigncode,
}

impl std::str::FromStr for Profile {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "signtool" => Ok(Profile::Signtool),
            "osslsigncode" => Ok(Profile::Osslsigncode),
            _ => Err(Error::InvalidArgument(format!(
                "profile {s:?} (expected signtool or osslsigncode)"
            ))),
        }
    }
}

/// What goes into the signed attributes besides the digest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttributeOptions {
    /// The attribute profile.
    pub profile: Profile,
    /// SpcSpOpusInfo programName (signtool `/d`).
    pub description: Option<String>,
    /// SpcSpOpusInfo moreInfo URL (signtool `/du`).
    pub url: Option<String>,
    /// signingTime; with [`Profile::Osslsigncode`] the current time is used when absent.
    pub signing_time: Option<SystemTime>,
    /// sequenceNumber: set for a nested signature to its 1-based position among the nested
    /// signatures, as signtool and osslsigncode write it.
    pub sequence_number: Option<u32>,
}

fn attribute(oid: &const_oid::ObjectIdentifier, value: &[u8]) -> Vec<u8> {
    tlv::sequence(&[&tlv::oid(oid), &tlv::constructed(tag::SET, &[value])])
}

/// SpcSpOpusInfo with the given program name and URL.
pub fn sp_opus_info(description: Option<&str>, url: Option<&str>) -> Vec<u8> {
    let mut parts = Vec::new();
    if let Some(d) = description {
        parts.push(tlv::tlv(
            tag::context(0),
            &tlv::tlv(tag::context_primitive(0), &tlv::bmp_bytes(d)),
        ));
    }
    if let Some(u) = url {
        parts.push(tlv::tlv(
            tag::context(1),
            &tlv::tlv(tag::context_primitive(0), u.as_bytes()),
        ));
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    tlv::sequence(&refs)
}

/// DER Time for `t`: UTCTime for 1950 to 2049, GeneralizedTime otherwise (RFC 5280 rule).
pub fn time(t: SystemTime) -> Vec<u8> {
    let (y, mo, d, h, mi, s) = crate::time::civil_from_unix(crate::time::unix_seconds(t));
    if (1950..2050).contains(&y) {
        let v = format!("{:02}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z", y % 100);
        tlv::tlv(tag::UTC_TIME, v.as_bytes())
    } else {
        let v = format!("{y:04}{mo:02}{d:02}{h:02}{mi:02}{s:02}Z");
        tlv::tlv(tag::GENERALIZED_TIME, v.as_bytes())
    }
}

/// The DER SET OF signed attributes (tag 0x31) for a signature over SpcIndirectDataContent
/// `indirect_data` (its full DER), using `alg` for messageDigest.
pub fn signed_attributes(
    indirect_data: &[u8],
    alg: DigestAlgorithm,
    opts: &AttributeOptions,
) -> Result<Vec<u8>> {
    let content = tlv::parse_one(indirect_data, "SpcIndirectDataContent")?;
    let message_digest = alg.digest(content.value);
    let mut attrs = vec![
        attribute(&oids::CONTENT_TYPE, &tlv::oid(&oids::SPC_INDIRECT_DATA)),
        attribute(
            &oids::SPC_STATEMENT_TYPE,
            &tlv::sequence(&[&tlv::oid(&oids::SPC_INDIVIDUAL_SP_KEY_PURPOSE)]),
        ),
        attribute(&oids::MESSAGE_DIGEST, &tlv::octet_string(&message_digest)),
    ];
    let has_opus = opts.description.is_some() || opts.url.is_some();
    if has_opus || opts.profile == Profile::Signtool {
        attrs.push(attribute(
            &oids::SPC_SP_OPUS_INFO,
            &sp_opus_info(opts.description.as_deref(), opts.url.as_deref()),
        ));
    }
    let signing_time = match (opts.signing_time, opts.profile) {
        (Some(t), _) => Some(t),
        (None, Profile::Osslsigncode) => Some(SystemTime::now()),
        (None, Profile::Signtool) => None,
    };
    if let Some(n) = opts.sequence_number {
        attrs.push(attribute(&oids::SEQUENCE_NUMBER, &tlv::small_uint(n)));
    }
    if let Some(t) = signing_time {
        // Whole seconds, as both tools write.
        let secs = t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        attrs.push(attribute(
            &oids::SIGNING_TIME,
            &time(UNIX_EPOCH + Duration::from_secs(secs)),
        ));
    }
    Ok(tlv::set_of(attrs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_encode_like_openssl() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(time(t)[2..], *b"231114221320Z");
        let t = UNIX_EPOCH + Duration::from_secs(2_600_000_000); // date -u -d @2600000000
        assert_eq!(time(t)[0], tag::GENERALIZED_TIME);
        assert_eq!(time(t)[2..], *b"20520522141320Z");
        assert_eq!(
            crate::time::civil_from_unix(951_782_400),
            (2000, 2, 29, 0, 0, 0)
        );
    }

    #[test]
    fn empty_opus_info_is_an_empty_sequence() {
        assert_eq!(sp_opus_info(None, None), [0x30, 0x00]);
    }
}
