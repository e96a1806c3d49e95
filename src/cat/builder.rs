//! Creating catalogs as makecat does, from members whose digests are known (the files
//! themselves are hashed a layer up, where every format is known: `CatalogBuilder::add_file`).
//!
//! What makecat writes (MakeCat documentation, "Catalog definition file": `CatalogVersion`
//! 1 or 2, `HashAlgorithms` SHA1 or SHA256; checked byte for byte against makecat's output in
//! the tests):
//!
//! - **Version 1** (`CatalogVersion=1`, SHA-1): one entry per file, tagged by the upper-case
//!   hex of its SHA-1 as UTF-16LE with a terminating NUL, with SpcIndirectDataContent (SHA-1),
//!   CAT_MEMBERINFO `{ "{SIP GUID}", 0x200 }` and the file's name/value attributes.
//! - **Version 2** (`CatalogVersion=2`, SHA-256; Windows 8 and later): two entries per file.
//!   One tagged by the raw SHA-256 with CAT_MEMBERINFO2, SpcIndirectDataContent (SHA-256) and
//!   the name/value attributes; one tagged by the raw SHA-1 with CAT_MEMBERINFO2 and the
//!   attributes without CRYPTCAT_ATTR_NO_AUTO_COMPAT_ENTRY (stored with that flag cleared),
//!   for callers that look files up by SHA-1.
//! - Entries sorted by tag, each entry's attributes a DER SET OF (sorted by encoding), the
//!   catalog attributes as extensions in the order given; a random list identifier (a
//!   version 4 GUID) and the creation time as UTCTime.
//! - SpcIndirectDataContent data: for PE files SpcPeImageData with flags `03 02 05 a0` and an
//!   empty file link (unlike signatures, which write `03 02 07 80` and `"<<<Obsolete>>>"`);
//!   for other files SPC_CAB_DATA_OBJID with an empty file link. makecat's CAB entries with
//!   page hashes carry an "enhanced hash" authsign does not compute; without page hashes a
//!   cabinet is written like a flat file (no makecat sample shows that case).

use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, BitStringRef, BmpString, Null, OctetStringRef, SetOfVec};
use der::{Decode, Encode};
use spki::AlgorithmIdentifier;

use super::asn1::{
    CatMemberInfo, CatMemberInfo2, CatNameValue, CertificateTrustList, Extension, RawSequenceOf,
    RawSetOf, TrustedSubject,
};
use super::member::{flags, CatalogVersion, MemberKind, NameValue};
use crate::cms::attributes::Attribute;
use crate::cms::spc::{SpcLink, SpcPeImageData, SpcString};
use crate::cms::{oids, tlv};
use crate::digest::DigestAlgorithm;
use crate::error::{Error, Result};

/// The certificate version makecat writes in CAT_MEMBERINFO.
const CERT_VERSION: u32 = 0x200;

/// A file to list in a catalog: how it was hashed, its digests, and its name/value
/// attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewMember {
    /// Which SIP hashed it.
    pub kind: MemberKind,
    /// Its SHA-1 catalog digest (every catalog version needs it).
    pub sha1: Vec<u8>,
    /// Its SHA-256 catalog digest (version 2 catalogs).
    pub sha256: Vec<u8>,
    /// The SpcAttributeTypeAndOptionalValue (type and DER value) of its
    /// SpcIndirectDataContent, instead of the one its kind implies (for PE page hashes or a
    /// cabinet's enhanced hash, computed elsewhere).
    pub data: Option<(ObjectIdentifier, Vec<u8>)>,
    /// Its name/value attributes, with the flags of a catalog definition file:
    /// [`flags::NO_AUTO_COMPAT_ENTRY`] keeps one off the SHA-1 entry of a version 2 catalog
    /// and is not stored.
    pub attributes: Vec<NameValue>,
}

impl NewMember {
    /// A member of `kind` with these digests and no attributes.
    pub fn new(kind: MemberKind, sha1: Vec<u8>, sha256: Vec<u8>) -> Self {
        Self {
            kind,
            sha1,
            sha256,
            data: None,
            attributes: Vec::new(),
        }
    }

    /// Add a name/value attribute.
    pub fn with_attribute(mut self, attribute: NameValue) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Add the `File` attribute inf2cat writes: `name` as text.
    pub fn with_file_name(self, name: &str) -> Self {
        self.with_attribute(NameValue::text("File", name))
    }

    /// Use `data` (type and DER value) as the SpcAttributeTypeAndOptionalValue of the
    /// member's SpcIndirectDataContent.
    pub fn with_data(mut self, data_type: ObjectIdentifier, value: Vec<u8>) -> Self {
        self.data = Some((data_type, value));
        self
    }
}

/// Builds an unsigned catalog, like makecat from a catalog definition file.
///
/// ```
/// use authsign::cat::{CatalogBuilder, CatalogVersion, MemberKind, NewMember};
/// use authsign::DigestAlgorithm;
/// # fn main() -> authsign::Result<()> {
/// let inf = b"[Version]\r\nSignature=\"$Windows NT$\"\r\n";
/// let mut builder = CatalogBuilder::new(CatalogVersion::V2);
/// builder.add_member(
///     NewMember::new(
///         MemberKind::Flat,
///         DigestAlgorithm::Sha1.digest(inf),
///         DigestAlgorithm::Sha256.digest(inf),
///     )
///     .with_file_name("driver.inf"),
/// );
/// let catalog = builder.build()?; // unsigned: sign it like any other file
/// let subject = authsign::open(&catalog)?;
/// assert_eq!(subject.format(), authsign::Format::Cat);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CatalogBuilder {
    version: CatalogVersion,
    list_identifier: Option<Vec<u8>>,
    time: Option<SystemTime>,
    members: Vec<NewMember>,
    attributes: Vec<NameValue>,
}

impl CatalogBuilder {
    /// An empty catalog of `version`.
    pub fn new(version: CatalogVersion) -> Self {
        Self {
            version,
            list_identifier: None,
            time: None,
            members: Vec::new(),
            attributes: Vec::new(),
        }
    }

    /// The list identifier (default: a random version 4 GUID, as makecat makes).
    pub fn with_list_identifier(mut self, id: impl Into<Vec<u8>>) -> Self {
        self.list_identifier = Some(id.into());
        self
    }

    /// The creation time (default: now).
    pub fn with_time(mut self, time: SystemTime) -> Self {
        self.time = Some(time);
        self
    }

    /// Add a catalog attribute (`CATATTRn` in a definition file, such as `OSAttr`); the
    /// flag [`flags::NO_AUTO_COMPAT_ENTRY`] is not stored.
    pub fn with_attribute(mut self, attribute: NameValue) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Add a member.
    pub fn add_member(&mut self, member: NewMember) -> &mut Self {
        self.members.push(member);
        self
    }

    /// The members added so far.
    pub fn members(&self) -> &[NewMember] {
        &self.members
    }

    /// The catalog's version.
    pub fn version(&self) -> CatalogVersion {
        self.version
    }

    /// The unsigned catalog file (DER): an error for digests of the wrong size, two members
    /// with the same tag (the same file twice) but different attributes, or a name that is
    /// not a BMPString. The same file twice with the same attributes is listed twice, as
    /// makecat does.
    pub fn build(&self) -> Result<Vec<u8>> {
        let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            check_size(i, DigestAlgorithm::Sha1, &m.sha1)?;
            match self.version {
                CatalogVersion::V1 => entries.push(v1_entry(m)?),
                CatalogVersion::V2 => {
                    check_size(i, DigestAlgorithm::Sha256, &m.sha256)?;
                    entries.extend(v2_entries(m)?);
                }
            }
        }
        entries.sort();
        // The same file twice with the same attributes is listed twice, as makecat does; with
        // different attributes the two entries would contradict each other.
        if let Some(pair) = entries
            .windows(2)
            .find(|p| matches!(p, [a, b] if a.0 == b.0 && a.1 != b.1))
        {
            let tag = pair
                .first()
                .map(|p| hex::encode_upper(&p.0))
                .unwrap_or_default();
            return Err(Error::InvalidArgument(format!(
                "two members have the tag {tag} (the same file) with different attributes"
            )));
        }
        let list_identifier = match &self.list_identifier {
            Some(id) => id.clone(),
            None => random_guid()?,
        };
        let time = self.time.unwrap_or_else(SystemTime::now);
        let ctl = ctl(
            self.version,
            &list_identifier,
            time,
            &entries,
            &self.attributes,
        )?;
        wrap(&ctl)
    }
}

fn der(value: &impl Encode, what: &'static str) -> Result<Vec<u8>> {
    value.to_der().map_err(|_| Error::Internal(what))
}

fn any(bytes: &[u8]) -> Result<AnyRef<'_>> {
    AnyRef::from_der(bytes).map_err(|_| Error::Internal("catalog element"))
}

fn octets(bytes: &[u8]) -> Result<&OctetStringRef> {
    OctetStringRef::new(bytes).map_err(|_| Error::Internal("OCTET STRING too long"))
}

fn bmp(text: &str) -> Result<BmpString> {
    BmpString::from_utf8(text)
        .map_err(|_| Error::InvalidArgument(format!("{text:?} is not a BMPString")))
}

fn check_size(index: usize, alg: DigestAlgorithm, digest: &[u8]) -> Result<()> {
    if digest.len() == alg.output_size() {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "member {index}: a {alg} digest is {} bytes, got {}",
        alg.output_size(),
        digest.len()
    )))
}

/// A random version 4 GUID in the byte order Windows stores GUIDs (Data3's high nibble in
/// byte 7, the variant in byte 8).
fn random_guid() -> Result<Vec<u8>> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| Error::Unsupported(format!("no random source: {e}")))?;
    if let Some(b) = id.get_mut(7) {
        *b = (*b & 0x0f) | 0x40;
    }
    if let Some(b) = id.get_mut(8) {
        *b = (*b & 0x3f) | 0x80;
    }
    Ok(id.to_vec())
}

/// An attribute `{ oid, SET { value } }`.
fn attribute(oid: ObjectIdentifier, value: &[u8]) -> Result<Vec<u8>> {
    let values = SetOfVec::try_from(vec![any(value)?]).map_err(|_| Error::Internal("values"))?;
    der(
        &Attribute {
            attr_type: oid,
            attr_values: values,
        },
        "attribute",
    )
}

fn member_info2(kind: MemberKind) -> Result<Vec<u8>> {
    let info = match kind {
        MemberKind::Pe => CatMemberInfo2::Pe(Null),
        MemberKind::Cab => CatMemberInfo2::Cab(Null),
        MemberKind::Flat => CatMemberInfo2::Flat(Null),
    };
    attribute(oids::CAT_MEMBERINFO2, &der(&info, "CAT_MEMBERINFO2")?)
}

fn member_info(kind: MemberKind) -> Result<Vec<u8>> {
    let info = CatMemberInfo {
        subject_guid: bmp(kind.sip_guid())?,
        cert_version: CERT_VERSION,
    };
    attribute(oids::CAT_MEMBERINFO, &der(&info, "CAT_MEMBERINFO")?)
}

/// The CAT_NAMEVALUE DER of `nv`, its flags stored without NO_AUTO_COMPAT_ENTRY.
fn name_value(nv: &NameValue) -> Result<Vec<u8>> {
    der(
        &CatNameValue {
            tag: bmp(&nv.name)?,
            flags: nv.flags & !flags::NO_AUTO_COMPAT_ENTRY,
            value: octets(&nv.value)?,
        },
        "CAT_NAMEVALUE",
    )
}

/// The SpcAttributeTypeAndOptionalValue makecat writes for a member of `kind`.
fn default_data(kind: MemberKind) -> Result<(ObjectIdentifier, Vec<u8>)> {
    let empty_file = SpcLink::File(SpcString::Unicode(bmp("")?));
    match kind {
        MemberKind::Pe => {
            let flags = BitStringRef::new(5, &[0xa0]).map_err(|_| Error::Internal("flags"))?;
            let data = SpcPeImageData {
                flags: Some(flags),
                file: Some(empty_file),
            };
            Ok((oids::SPC_PE_IMAGE_DATA, der(&data, "SpcPeImageData")?))
        }
        MemberKind::Cab | MemberKind::Flat => {
            Ok((oids::SPC_CAB_DATA, der(&empty_file, "SpcLink")?))
        }
    }
}

fn indirect_data(m: &NewMember, alg: DigestAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
    let (data_type, value) = match &m.data {
        Some(d) => d.clone(),
        None => default_data(m.kind)?,
    };
    let spc = crate::cms::spc::indirect_data(&data_type, &value, alg, digest)?;
    attribute(oids::SPC_INDIRECT_DATA, &spc)
}

/// One TrustedSubject: `tag` and the DER SET OF `attributes`.
fn entry(tag: &[u8], attributes: Vec<Vec<u8>>) -> Result<(Vec<u8>, Vec<u8>)> {
    let set = tlv::set_of(attributes);
    let contents = tlv::parse_one(&set, "attributes")?.value;
    let subject = TrustedSubject {
        subject_identifier: octets(tag)?,
        subject_attributes: Some(RawSetOf(contents)),
    };
    Ok((tag.to_vec(), der(&subject, "TrustedSubject")?))
}

fn name_values(m: &NewMember, sha1_entry: bool) -> Result<Vec<Vec<u8>>> {
    m.attributes
        .iter()
        .filter(|a| !sha1_entry || a.flags & flags::NO_AUTO_COMPAT_ENTRY == 0)
        .map(|a| attribute(oids::CAT_NAMEVALUE, &name_value(a)?))
        .collect()
}

fn v2_entries(m: &NewMember) -> Result<[(Vec<u8>, Vec<u8>); 2]> {
    let mut full = vec![
        member_info2(m.kind)?,
        indirect_data(m, DigestAlgorithm::Sha256, &m.sha256)?,
    ];
    full.extend(name_values(m, false)?);
    let mut compat = vec![member_info2(m.kind)?];
    compat.extend(name_values(m, true)?);
    Ok([entry(&m.sha256, full)?, entry(&m.sha1, compat)?])
}

fn v1_entry(m: &NewMember) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut tag: Vec<u8> = hex::encode_upper(&m.sha1)
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    tag.extend_from_slice(&[0, 0]);
    let mut attributes = vec![
        indirect_data(m, DigestAlgorithm::Sha1, &m.sha1)?,
        member_info(m.kind)?,
    ];
    attributes.extend(name_values(m, false)?);
    entry(&tag, attributes)
}

/// The CertificateTrustList of the given members (`(tag, TrustedSubject DER)`, sorted).
fn ctl(
    version: CatalogVersion,
    list_identifier: &[u8],
    time: SystemTime,
    entries: &[(Vec<u8>, Vec<u8>)],
    attributes: &[NameValue],
) -> Result<Vec<u8>> {
    let usage = tlv::oid(&oids::CATALOG_LIST);
    let subjects: Vec<u8> = entries
        .iter()
        .flat_map(|(_, e)| e.iter().copied())
        .collect();
    let mut extensions = Vec::new();
    for a in attributes {
        let value = name_value(a)?;
        extensions.push(der(
            &Extension {
                extn_id: oids::CAT_NAMEVALUE,
                critical: None,
                extn_value: octets(&value)?,
            },
            "Extension",
        )?);
    }
    let extensions = extensions.concat();
    let secs = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let date = der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map_err(|_| Error::InvalidArgument("catalog time out of range".into()))?;
    let list = CertificateTrustList {
        version: None,
        subject_usage: RawSequenceOf(&usage),
        list_identifier: Some(octets(list_identifier)?),
        sequence_number: None,
        this_update: x509_cert::time::Time::from(date),
        next_update: None,
        subject_algorithm: AlgorithmIdentifier {
            oid: version.oid(),
            parameters: Some(AnyRef::from(Null)),
        },
        trusted_subjects: (!entries.is_empty()).then_some(RawSequenceOf(&subjects)),
        extensions: (!attributes.is_empty()).then_some(RawSequenceOf(&extensions)),
    };
    der(&list, "CertificateTrustList")
}

/// The unsigned catalog file around `ctl`: a SignedData with no digest algorithms,
/// certificates or SignerInfos (version 1, as makecat writes it).
fn wrap(ctl: &[u8]) -> Result<Vec<u8>> {
    use crate::cms::asn1::{ContentInfo, EncapsulatedContentInfo, SignedData};
    let signed_data = SignedData {
        version: 1,
        digest_algorithms: SetOfVec::new(),
        encap_content_info: EncapsulatedContentInfo {
            e_content_type: oids::CTL,
            e_content: Some(any(ctl)?),
        },
        certificates: None,
        crls: None,
        signer_infos: SetOfVec::new(),
    };
    let signed_data = der(&signed_data, "SignedData")?;
    der(
        &ContentInfo {
            content_type: oids::SIGNED_DATA,
            content: any(&signed_data)?,
        },
        "ContentInfo",
    )
}
