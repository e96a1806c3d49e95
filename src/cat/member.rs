//! What a catalog says: its version and header, its members (tag, SIP, file digest,
//! name/value attributes) and its own name/value attributes.

use std::time::SystemTime;

use const_oid::ObjectIdentifier;

use crate::cms::IndirectData;
use crate::digest::DigestAlgorithm;
use crate::error::Format;

/// The CRYPTCAT_ATTR_* flags of a [`NameValue`] (`mscat.h`; MakeCat documentation, "Catalog
/// attributes").
pub mod flags {
    /// CRYPTCAT_ATTR_NAMEASCII: the name is text.
    pub const NAMEASCII: u32 = 0x0000_0001;
    /// CRYPTCAT_ATTR_NAMEOBJID: the name is an OID.
    pub const NAMEOBJID: u32 = 0x0000_0002;
    /// CRYPTCAT_ATTR_DATAASCII: the value is text (stored as UTF-16LE with a NUL).
    pub const DATAASCII: u32 = 0x0001_0000;
    /// CRYPTCAT_ATTR_DATABASE64: the value was given in base64 (stored decoded).
    pub const DATABASE64: u32 = 0x0002_0000;
    /// CRYPTCAT_ATTR_DATAREPLACE: the value replaces an earlier one.
    pub const DATAREPLACE: u32 = 0x0004_0000;
    /// CRYPTCAT_ATTR_NO_AUTO_COMPAT_ENTRY: in a version 2 catalog, the attribute is not
    /// copied to the member's SHA-1 entry. makecat honours it and stores the flags without it.
    pub const NO_AUTO_COMPAT_ENTRY: u32 = 0x0100_0000;
    /// CRYPTCAT_ATTR_AUTHENTICATED: the attribute is covered by the catalog's signature.
    pub const AUTHENTICATED: u32 = 0x1000_0000;
    /// CRYPTCAT_ATTR_UNAUTHENTICATED.
    pub const UNAUTHENTICATED: u32 = 0x2000_0000;
    /// What inf2cat and most catalog definition files use for text attributes such as `File`
    /// and `OSAttr`: authenticated, text name, text value.
    pub const TEXT: u32 = AUTHENTICATED | DATAASCII | NAMEASCII;
}

/// A catalog's version (`CatalogVersion` in a makecat definition file): which hash
/// identifies its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum CatalogVersion {
    /// Version 1 (subject algorithm szOID_CATALOG_LIST_MEMBER): SHA-1 members, tagged by their
    /// hash in hex; what every Windows reads.
    V1,
    /// Version 2 (szOID_CATALOG_LIST_MEMBER2, Windows 8 and later): SHA-256 members, each
    /// with a SHA-1 entry for older callers, tagged by the raw hash.
    V2,
}

impl CatalogVersion {
    /// The subject algorithm OID of this version.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            CatalogVersion::V1 => crate::cms::oids::CATALOG_LIST_MEMBER,
            CatalogVersion::V2 => crate::cms::oids::CATALOG_LIST_MEMBER2,
        }
    }

    /// The version whose subject algorithm is `oid`.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        [CatalogVersion::V1, CatalogVersion::V2]
            .into_iter()
            .find(|v| v.oid() == *oid)
    }

    /// The member hash of this version (SHA-1 for version 1, SHA-256 for version 2), as
    /// makecat's `HashAlgorithms` requires it.
    pub fn digest_algorithm(self) -> DigestAlgorithm {
        match self {
            CatalogVersion::V1 => DigestAlgorithm::Sha1,
            CatalogVersion::V2 => DigestAlgorithm::Sha256,
        }
    }
}

impl std::fmt::Display for CatalogVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CatalogVersion::V1 => "1",
            CatalogVersion::V2 => "2",
        })
    }
}

/// Which of the three catalog SIPs hashed a member: Windows' catalog functions know only
/// these (`CryptSIPRetrieveSubjectGuidForCatalogFile`: "only supports SIPs used for PE images,
/// cabinet images, and flat files").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum MemberKind {
    /// A PE image, by its Authenticode digest (SIP {C689AAB8-8E78-11D0-8C47-00C04FC295EE}).
    Pe,
    /// A cabinet, by its cabinet digest (SIP {C689AABA-8E78-11D0-8C47-00C04FC295EE}).
    Cab,
    /// Any other file, by the hash of all its bytes (SIP {DE351A42-8E59-11D0-8C47-00C04FC295EE}).
    Flat,
}

impl MemberKind {
    /// The SIP's GUID as CAT_MEMBERINFO writes it: upper case, in braces.
    pub fn sip_guid(self) -> &'static str {
        match self {
            MemberKind::Pe => "{C689AAB8-8E78-11D0-8C47-00C04FC295EE}",
            MemberKind::Cab => "{C689AABA-8E78-11D0-8C47-00C04FC295EE}",
            MemberKind::Flat => "{DE351A42-8E59-11D0-8C47-00C04FC295EE}",
        }
    }

    /// The kind whose SIP GUID is `guid` (any case, braces required).
    pub fn from_sip_guid(guid: &str) -> Option<Self> {
        [MemberKind::Pe, MemberKind::Cab, MemberKind::Flat]
            .into_iter()
            .find(|k| k.sip_guid().eq_ignore_ascii_case(guid))
    }

    /// How catalogs hash a file of `format`: PE and cabinets with their SIP, anything else
    /// flat (MSI included: makecat lists an MSI by the hash of all its bytes).
    pub fn for_format(format: Format) -> Self {
        match format {
            Format::Pe => MemberKind::Pe,
            Format::Cab => MemberKind::Cab,
            _ => MemberKind::Flat,
        }
    }
}

impl std::fmt::Display for MemberKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MemberKind::Pe => "PE",
            MemberKind::Cab => "cabinet",
            MemberKind::Flat => "flat",
        })
    }
}

/// A name/value attribute (CAT_NAMEVALUE) of a member or of the catalog: `File`, `OSAttr`,
/// `HWID1`...
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct NameValue {
    /// The name.
    pub name: String,
    /// The CRYPTCAT_ATTR_* [`flags`] as stored.
    pub flags: u32,
    /// The value as stored: UTF-16LE text with a NUL for text values
    /// ([`flags::DATAASCII`]), the decoded bytes for base64 ones.
    pub value: Vec<u8>,
}

impl NameValue {
    /// A text attribute as inf2cat writes `File` and `OSAttr`: flags [`flags::TEXT`], the
    /// value as UTF-16LE with a terminating NUL.
    pub fn text(name: impl Into<String>, value: &str) -> Self {
        let mut bytes: Vec<u8> = value.encode_utf16().flat_map(u16::to_le_bytes).collect();
        bytes.extend_from_slice(&[0, 0]);
        Self {
            name: name.into(),
            flags: flags::TEXT,
            value: bytes,
        }
    }

    /// An attribute with the given `flags` and raw `value`.
    pub fn new(name: impl Into<String>, flags: u32, value: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            flags,
            value,
        }
    }

    /// The value as text, when it is stored as text: UTF-16LE (a trailing NUL removed) unless
    /// the value was given in base64 ([`flags::DATABASE64`]), in which case its bytes are
    /// returned as text when they are UTF-8.
    pub fn value_text(&self) -> Option<String> {
        if self.flags & flags::DATABASE64 != 0 {
            return String::from_utf8(self.value.clone()).ok();
        }
        if !self.value.len().is_multiple_of(2) {
            return None;
        }
        let units: Vec<u16> = self
            .value
            .chunks_exact(2)
            .map(|c| match c {
                [lo, hi] => u16::from_le_bytes([*lo, *hi]),
                _ => 0,
            })
            .collect();
        let units = units.strip_suffix(&[0]).unwrap_or(&units);
        String::from_utf16(units).ok()
    }
}

impl std::fmt::Display for NameValue {
    /// `name = value`, the value as text when it is text, else in hex.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.value_text() {
            Some(t) => write!(f, "{} = {t:?}", self.name),
            None => write!(f, "{} = 0x{}", self.name, hex::encode(&self.value)),
        }
    }
}

/// The SIP information of a member: CAT_MEMBERINFO (version 1) or CAT_MEMBERINFO2 (version 2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemberInfo {
    /// CAT_MEMBERINFO: the SIP GUID as text and the certificate version.
    V1 {
        /// The SIP GUID, in braces.
        sip_guid: String,
        /// The certificate version (0x200).
        cert_version: u32,
    },
    /// CAT_MEMBERINFO2: which catalog SIP.
    V2(MemberKind),
}

/// An attribute of a type authsign does not interpret, kept as encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAttribute {
    /// The attribute type.
    pub oid: ObjectIdentifier,
    /// The encodings of its values.
    pub values: Vec<Vec<u8>>,
}

/// One member (catalog entry): the file's tag and what the catalog says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Member {
    /// The tag (subjectIdentifier) as stored.
    pub tag: Vec<u8>,
    /// CAT_MEMBERINFO or CAT_MEMBERINFO2, if present.
    pub info: Option<MemberInfo>,
    /// The member's SpcIndirectDataContent: the file digest (absent from the SHA-1 entries of
    /// a version 2 catalog, whose tag is the digest).
    pub indirect_data: Option<IndirectData>,
    /// The name/value attributes, in stored order.
    pub attributes: Vec<NameValue>,
    /// Attributes of other types, as stored.
    pub other_attributes: Vec<RawAttribute>,
    /// Byte offset of the member in the catalog file.
    pub offset: u64,
}

impl Member {
    /// The SIP that hashed the file, from CAT_MEMBERINFO or CAT_MEMBERINFO2.
    pub fn kind(&self) -> Option<MemberKind> {
        match &self.info {
            Some(MemberInfo::V2(kind)) => Some(*kind),
            Some(MemberInfo::V1 { sip_guid, .. }) => MemberKind::from_sip_guid(sip_guid),
            None => None,
        }
    }

    /// The tag as text: a version 1 tag (UTF-16LE text, usually the hash in hex) as that text,
    /// a version 2 tag (the raw hash) in upper-case hex, as Windows shows member tags.
    pub fn tag_text(&self) -> String {
        match utf16_tag(&self.tag) {
            Some(text) => text,
            None => hex::encode_upper(&self.tag),
        }
    }

    /// The digest the tag stands for: a hex tag (version 1) decoded, else the tag's bytes.
    pub fn tag_digest(&self) -> Vec<u8> {
        utf16_tag(&self.tag)
            .and_then(|t| hex::decode(t).ok())
            .unwrap_or_else(|| self.tag.clone())
    }

    /// The file digest the member holds and its algorithm: from SpcIndirectDataContent, or
    /// for an entry without one (the SHA-1 entries of a version 2 catalog) the tag read as a
    /// SHA-1 or SHA-256 hash by its length.
    pub fn digest(&self) -> Option<(DigestAlgorithm, Vec<u8>)> {
        if let Some(data) = &self.indirect_data {
            return Some((data.digest_algorithm, data.digest.clone()));
        }
        let tag = self.tag_digest();
        [DigestAlgorithm::Sha1, DigestAlgorithm::Sha256]
            .into_iter()
            .find(|a| a.output_size() == tag.len())
            .map(|a| (a, tag))
    }

    /// The first name/value attribute called `name` (ASCII case ignored).
    pub fn attribute(&self, name: &str) -> Option<&NameValue> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The `File` attribute's text: the member's file name, when the catalog records it
    /// (inf2cat does; makecat only when the definition file says so).
    pub fn file_name(&self) -> Option<String> {
        self.attribute("File").and_then(NameValue::value_text)
    }
}

/// A tag stored as UTF-16LE text with a terminating NUL (version 1 tags: `33 00 44 00 ...
/// 00 00`), decoded; `None` for raw tags.
fn utf16_tag(tag: &[u8]) -> Option<String> {
    let body = tag.strip_suffix(&[0, 0])?;
    if body.is_empty() || !body.len().is_multiple_of(2) {
        return None;
    }
    let mut text = String::with_capacity(body.len() / 2);
    for unit in body.chunks_exact(2) {
        match unit {
            [c, 0] if c.is_ascii_graphic() || *c == b' ' => text.push(char::from(*c)),
            _ => return None,
        }
    }
    Some(text)
}

/// A parsed catalog: its header fields, members and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Catalog {
    /// The version (from the subject algorithm).
    pub version: CatalogVersion,
    /// The list identifier (makecat: a random GUID, 16 bytes).
    pub list_identifier: Option<Vec<u8>>,
    /// The sequence number (INTEGER content octets), if any.
    pub sequence_number: Option<Vec<u8>>,
    /// When the catalog was made.
    pub this_update: SystemTime,
    /// The next update, if any.
    pub next_update: Option<SystemTime>,
    /// The members, in stored order.
    pub members: Vec<Member>,
    /// The catalog's name/value attributes (`OSAttr`, `HWID1`...), in stored order.
    pub attributes: Vec<NameValue>,
    /// Catalog extensions other than name/value attributes: (extnID, extnValue).
    pub other_extensions: Vec<(ObjectIdentifier, Vec<u8>)>,
}
