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

use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, BmpString, Ia5StringRef, OctetStringRef, SetOfVec};
use der::{Decode, Encode};

use super::oids;
use super::spc::{SpcLink, SpcString};
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

/// ```text
/// Attribute ::= SEQUENCE {
///     attrType    OBJECT IDENTIFIER,
///     attrValues  SET OF AttributeValue }
/// ```
/// (RFC 5652 §5.3.) Authenticode attributes have one value each.
#[derive(Clone, Debug, PartialEq, Eq, der::Sequence, der::ValueOrd)]
pub struct Attribute<'a> {
    /// The attribute's type.
    pub attr_type: ObjectIdentifier,
    /// Its values (one).
    pub attr_values: SetOfVec<AnyRef<'a>>,
}

/// ```text
/// SpcSpOpusInfo ::= SEQUENCE {
///     programName  [0] EXPLICIT SpcString OPTIONAL,
///     moreInfo     [1] EXPLICIT SpcLink OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, der::Sequence)]
pub struct SpcSpOpusInfo<'a> {
    /// The program name (signtool `/d`).
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub program_name: Option<SpcString<'a>>,
    /// A link to more information (signtool `/du`).
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub more_info: Option<SpcLink<'a>>,
}

/// `SpcStatementType ::= SEQUENCE OF OBJECT IDENTIFIER` (individual or commercial).
pub type SpcStatementType = Vec<ObjectIdentifier>;

fn encode(value: &impl Encode) -> Result<Vec<u8>> {
    value.to_der().map_err(|e| {
        Error::malformed(
            crate::error::Format::Cms,
            0,
            crate::error::MalformedKind::InvalidValue,
            format!("signed attribute cannot be encoded: {e}"),
        )
    })
}

/// The attribute `oid` with the one value `value` (DER).
fn attribute(oid: ObjectIdentifier, value: &[u8]) -> Result<Attribute<'_>> {
    let value = AnyRef::from_der(value).map_err(|_| Error::Internal("attribute value"))?;
    let attr_values =
        SetOfVec::try_from(vec![value]).map_err(|_| Error::Internal("attribute value set"))?;
    Ok(Attribute {
        attr_type: oid,
        attr_values,
    })
}

#[doc(hidden)] // building block, public for the integration tests
/// SpcSpOpusInfo with the given program name and URL.
pub fn sp_opus_info(description: Option<&str>, url: Option<&str>) -> Result<Vec<u8>> {
    let program_name = description
        .map(|d| {
            BmpString::from_utf8(d)
                .map(SpcString::Unicode)
                .map_err(|_| {
                    Error::InvalidArgument(format!("description {d:?} is not a BMPString"))
                })
        })
        .transpose()?;
    let more_info = url
        .map(|u| {
            Ia5StringRef::new(u)
                .map(SpcLink::Url)
                .map_err(|_| Error::InvalidArgument(format!("URL {u:?} is not ASCII")))
        })
        .transpose()?;
    encode(&SpcSpOpusInfo {
        program_name,
        more_info,
    })
}

#[doc(hidden)] // building block, public for the integration tests
/// DER Time for `t`: UTCTime for 1950 to 2049, GeneralizedTime otherwise (RFC 5280 rule, what
/// signtool and osslsigncode write), to the second.
pub fn time(t: SystemTime) -> Result<Vec<u8>> {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let date = der::DateTime::from_unix_duration(Duration::from_secs(secs))
        .map_err(|_| Error::InvalidArgument("signing time out of range".into()))?;
    encode(&x509_cert::time::Time::from(date))
}

#[doc(hidden)] // building block, public for the integration tests
/// The DER SET OF signed attributes (tag 0x31) for a signature over SpcIndirectDataContent
/// `indirect_data` (its full DER), using `alg` for messageDigest.
pub fn signed_attributes(
    indirect_data: &[u8],
    alg: DigestAlgorithm,
    opts: &AttributeOptions,
) -> Result<Vec<u8>> {
    signed_attributes_for(oids::SPC_INDIRECT_DATA, indirect_data, alg, opts)
}

#[doc(hidden)] // building block, public for the integration tests
/// [`signed_attributes`] for a signature over `content` (its full DER) of type
/// `content_type`: SpcIndirectDataContent, or a catalog's certificate trust list (szOID_CTL).
/// The contentType attribute names `content_type`; messageDigest covers the contents octets
/// of `content` (PKCS#7 v1.5 §9.3), the same rule for both.
pub fn signed_attributes_for(
    content_type: ObjectIdentifier,
    content: &[u8],
    alg: DigestAlgorithm,
    opts: &AttributeOptions,
) -> Result<Vec<u8>> {
    let content = super::tlv::parse_one(content, "signed content")?;
    let message_digest = alg.digest(content.value);
    let mut values: Vec<(ObjectIdentifier, Vec<u8>)> = vec![
        (oids::CONTENT_TYPE, encode(&content_type)?),
        (
            oids::SPC_STATEMENT_TYPE,
            encode(&SpcStatementType::from([
                oids::SPC_INDIVIDUAL_SP_KEY_PURPOSE,
            ]))?,
        ),
        (
            oids::MESSAGE_DIGEST,
            encode(&OctetStringRef::new(&message_digest).map_err(|_| Error::Internal("digest"))?)?,
        ),
    ];
    let has_opus = opts.description.is_some() || opts.url.is_some();
    if has_opus || opts.profile == Profile::Signtool {
        values.push((
            oids::SPC_SP_OPUS_INFO,
            sp_opus_info(opts.description.as_deref(), opts.url.as_deref())?,
        ));
    }
    if let Some(n) = opts.sequence_number {
        values.push((oids::SEQUENCE_NUMBER, encode(&n)?));
    }
    let signing_time = match (opts.signing_time, opts.profile) {
        (Some(t), _) => Some(t),
        (None, Profile::Osslsigncode) => Some(SystemTime::now()),
        (None, Profile::Signtool) => None,
    };
    if let Some(t) = signing_time {
        values.push((oids::SIGNING_TIME, time(t)?));
    }
    let attributes = values
        .iter()
        .map(|(oid, v)| attribute(*oid, v))
        .collect::<Result<Vec<_>>>()?;
    // SET OF: sorted by encoding, as DER requires and both tools write.
    let set = SetOfVec::try_from(attributes).map_err(|_| Error::Internal("attribute set"))?;
    encode(&set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_encode_like_openssl() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(time(t).unwrap()[2..], *b"231114221320Z");
        let t = UNIX_EPOCH + Duration::from_secs(2_600_000_000); // date -u -d @2600000000
        assert_eq!(time(t).unwrap()[0], 0x18); // GeneralizedTime
        assert_eq!(time(t).unwrap()[2..], *b"20520522141320Z");
        assert_eq!(
            crate::time::civil_from_unix(951_782_400),
            (2000, 2, 29, 0, 0, 0)
        );
    }

    #[test]
    fn empty_opus_info_is_an_empty_sequence() {
        assert_eq!(sp_opus_info(None, None).unwrap(), [0x30, 0x00]);
    }
}
