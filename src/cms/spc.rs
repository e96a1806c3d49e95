//! Authenticode's SPC structures: what a signature says about the file it signs, declared
//! as `der` types (Windows Authenticode Portable Executable Signature Format,
//! "Authenticode-Specific Structures"), with builders for what each subject writes.
//!
//! Builders write exactly what signtool and osslsigncode write, which is not always strict
//! DER: SpcPeImageData carries its `flags` even with the DEFAULT value.

use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, BitStringRef, BmpString, Ia5StringRef, Null, OctetStringRef};
use der::{Choice, Decode, Encode, Sequence};
use spki::AlgorithmIdentifier;

use super::oids;
use crate::digest::DigestAlgorithm;
use crate::error::{Error, Format, MalformedKind, Result};

/// The link signtool writes in SpcPeImageData: the file `"<<<Obsolete>>>"`.
pub const OBSOLETE: &str = "<<<Obsolete>>>";

/// ```text
/// SpcIndirectDataContent ::= SEQUENCE {
///     data                    SpcAttributeTypeAndOptionalValue,
///     messageDigest           DigestInfo }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SpcIndirectDataContent<'a> {
    /// Which SIP the signature is for, and its data (SpcPeImageData, SpcSipInfo...).
    pub data: SpcAttributeTypeAndOptionalValue<'a>,
    /// The file digest.
    pub message_digest: DigestInfo<'a>,
}

/// ```text
/// SpcAttributeTypeAndOptionalValue ::= SEQUENCE {
///     type                    OBJECT IDENTIFIER,
///     value                   [0] EXPLICIT ANY OPTIONAL }   -- in practice: ANY
/// ```
/// Every signing tool writes the value untagged, so it is declared as a plain optional ANY.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SpcAttributeTypeAndOptionalValue<'a> {
    /// The SIP's type (SPC_PE_IMAGE_DATA, SPC_CAB_DATA, SPC_SIPINFO...).
    pub data_type: ObjectIdentifier,
    /// The SIP's data.
    pub value: Option<AnyRef<'a>>,
}

/// ```text
/// DigestInfo ::= SEQUENCE {
///     digestAlgorithm         AlgorithmIdentifier,
///     digest                  OCTET STRING }
/// ```
/// (RFC 8017 §9.2; Authenticode writes NULL algorithm parameters.)
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct DigestInfo<'a> {
    /// The digest algorithm.
    pub digest_algorithm: AlgorithmIdentifier<AnyRef<'a>>,
    /// The digest.
    pub digest: &'a OctetStringRef,
}

/// ```text
/// SpcPeImageData ::= SEQUENCE {
///     flags                   SpcPeImageFlags DEFAULT { includeResources },
///     file                    [0] EXPLICIT SpcLink OPTIONAL }
/// SpcPeImageFlags ::= BIT STRING { includeResources (0), includeDebugInfo (1),
///     includeImportAddressTable (2) }
/// ```
/// `flags` is declared optional rather than DEFAULT because signtool writes the default value.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SpcPeImageData<'a> {
    /// SpcPeImageFlags (signtool: includeResources, `03 02 07 80`).
    pub flags: Option<BitStringRef<'a>>,
    /// The obsolete file link, or the page-hash moniker.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub file: Option<SpcLink<'a>>,
}

/// ```text
/// SpcLink ::= CHOICE {
///     url                     [0] IMPLICIT IA5STRING,
///     moniker                 [1] IMPLICIT SpcSerializedObject,
///     file                    [2] EXPLICIT SpcString }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
pub enum SpcLink<'a> {
    /// A URL.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Url(Ia5StringRef<'a>),
    /// A serialized object (page hashes).
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Moniker(SpcSerializedObject<'a>),
    /// A file name.
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    File(SpcString<'a>),
}

/// ```text
/// SpcString ::= CHOICE {
///     unicode                 [0] IMPLICIT BMPSTRING,
///     ascii                   [1] IMPLICIT IA5STRING }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
pub enum SpcString<'a> {
    /// UTF-16BE text.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Unicode(BmpString),
    /// ASCII text.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT")]
    Ascii(Ia5StringRef<'a>),
}

/// ```text
/// SpcSerializedObject ::= SEQUENCE {
///     classId                 SpcUuid,          -- OCTET STRING (16)
///     serializedData          OCTET STRING }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SpcSerializedObject<'a> {
    /// The class of the object (for page hashes a6b586d5-b4a1-2466-ae05-a217da8e60d6).
    pub class_id: &'a OctetStringRef,
    /// The object.
    pub serialized_data: &'a OctetStringRef,
}

/// ```text
/// SpcSipInfo ::= SEQUENCE {
///     dwSIPversion            INTEGER,
///     gSIPguid                OCTET STRING (16),
///     dwReserved1..5          INTEGER (five, zero) }
/// ```
/// (The structure osslsigncode and jsign write for MSI, scripts and APPX; the GUID's first
/// three fields are little-endian.)
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SpcSipInfo<'a> {
    /// The SIP version (MSI: 1 or 2).
    pub version: u32,
    /// The SIP GUID, as Windows stores a GUID.
    pub sip_guid: &'a OctetStringRef,
    /// Reserved, zero.
    pub reserved1: u32,
    /// Reserved, zero.
    pub reserved2: u32,
    /// Reserved, zero.
    pub reserved3: u32,
    /// Reserved, zero.
    pub reserved4: u32,
    /// Reserved, zero.
    pub reserved5: u32,
}

fn encode(value: &impl Encode, what: &'static str) -> Result<Vec<u8>> {
    value.to_der().map_err(|e| {
        Error::malformed(
            Format::Cms,
            0,
            MalformedKind::InvalidValue,
            format!("{what} cannot be encoded: {e}"),
        )
    })
}

fn octets(bytes: &[u8]) -> Result<&OctetStringRef> {
    OctetStringRef::new(bytes).map_err(|_| Error::Internal("OCTET STRING too long"))
}

/// SpcLink `file` choice with a Unicode SpcString: `[2] EXPLICIT { [0] IMPLICIT BMPString }`.
pub fn spc_link_file(name: &str) -> Result<Vec<u8>> {
    let bmp = BmpString::from_utf8(name)
        .map_err(|_| Error::InvalidArgument(format!("{name:?} is not a BMPString")))?;
    encode(&SpcLink::File(SpcString::Unicode(bmp)), "SpcLink")
}

/// SpcPeImageData as signtool and osslsigncode write it: flags with the includeResources bit
/// (`03 02 07 80`) and the `"<<<Obsolete>>>"` file link.
pub fn pe_image_data() -> Result<Vec<u8>> {
    pe_image_data_with_link(&spc_link_file(OBSOLETE)?)
}

/// The includeResources flag: `03 02 07 80`.
fn include_resources() -> Result<BitStringRef<'static>> {
    BitStringRef::new(7, &[0x80]).map_err(|_| Error::Internal("SpcPeImageFlags"))
}

/// SpcPeImageData with the includeResources flag and `link` (an encoded SpcLink) as its file.
pub fn pe_image_data_with_link(link: &[u8]) -> Result<Vec<u8>> {
    let link = SpcLink::from_der(link).map_err(|_| Error::Internal("SpcLink does not decode"))?;
    encode(
        &SpcPeImageData {
            flags: Some(include_resources()?),
            file: Some(link),
        },
        "SpcPeImageData",
    )
}

/// DER SpcIndirectDataContent with data `{ data_type, data_value }` and the file digest (an
/// error if `digest` is not `alg`-sized).
pub fn indirect_data(
    data_type: &ObjectIdentifier,
    data_value: &[u8],
    alg: DigestAlgorithm,
    digest: &[u8],
) -> Result<Vec<u8>> {
    if digest.len() != alg.output_size() {
        return Err(Error::InvalidArgument(format!(
            "a {alg} digest is {} bytes, got {}",
            alg.output_size(),
            digest.len()
        )));
    }
    indirect_data_any_digest(data_type, data_value, alg, digest)
}

/// DER SpcIndirectDataContent whose digest is any octet string (a SIP-defined digest).
fn indirect_data_any_digest(
    data_type: &ObjectIdentifier,
    data_value: &[u8],
    alg: DigestAlgorithm,
    digest: &[u8],
) -> Result<Vec<u8>> {
    let value = AnyRef::from_der(data_value).map_err(|_| Error::Internal("SIP data"))?;
    encode(
        &SpcIndirectDataContent {
            data: SpcAttributeTypeAndOptionalValue {
                data_type: *data_type,
                value: Some(value),
            },
            message_digest: DigestInfo {
                digest_algorithm: AlgorithmIdentifier {
                    oid: alg.oid(),
                    parameters: Some(AnyRef::from(Null)),
                },
                digest: octets(digest)?,
            },
        },
        "SpcIndirectDataContent",
    )
}

/// DER of the SpcIndirectDataContent for a PE image whose Authenticode digest is `digest`.
pub fn pe_indirect_data(alg: DigestAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
    pe_indirect_data_with_link(alg, digest, &spc_link_file(OBSOLETE)?)
}

/// DER of the SpcIndirectDataContent for a PE image, with `link` (an encoded SpcLink: the
/// obsolete file link, or a page-hash moniker) in its SpcPeImageData.
pub fn pe_indirect_data_with_link(
    alg: DigestAlgorithm,
    digest: &[u8],
    link: &[u8],
) -> Result<Vec<u8>> {
    indirect_data(
        &oids::SPC_PE_IMAGE_DATA,
        &pe_image_data_with_link(link)?,
        alg,
        digest,
    )
}

/// DER of the SpcIndirectDataContent for a cabinet whose Authenticode digest is `digest`, as
/// osslsigncode writes it: type SPC_CAB_DATA (1.3.6.1.4.1.311.2.1.25) with the SpcLink file
/// `"<<<Obsolete>>>"` as value (`a2 1e 80 1c` + the name in UTF-16BE).
pub fn cab_indirect_data(alg: DigestAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
    indirect_data(&oids::SPC_CAB_DATA, &spc_link_file(OBSOLETE)?, alg, digest)
}

/// The SIP GUID of Windows' MSI SIP, F1100C00-0000-0000-C000-000000000046, as SpcSipInfo
/// stores it (the first three fields little-endian).
pub const MSI_SIP_GUID: [u8; 16] = [
    0xf1, 0x10, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];

/// DER SpcSipInfo with `version` and `guid` and the five reserved integers zero.
///
/// For MSI, signtool writes version 2 and osslsigncode version 1.
pub fn sip_info(version: u32, guid: &[u8; 16]) -> Result<Vec<u8>> {
    encode(
        &SpcSipInfo {
            version,
            sip_guid: octets(guid)?,
            reserved1: 0,
            reserved2: 0,
            reserved3: 0,
            reserved4: 0,
            reserved5: 0,
        },
        "SpcSipInfo",
    )
}

/// DER of the SpcIndirectDataContent for an MSI whose Authenticode digest is `digest`:
/// SpcSipInfo (1.3.6.1.4.1.311.2.1.30) with the MSI SIP GUID and `sip_version`.
pub fn msi_indirect_data(alg: DigestAlgorithm, digest: &[u8], sip_version: u32) -> Result<Vec<u8>> {
    indirect_data(
        &oids::SPC_SIPINFO,
        &sip_info(sip_version, &MSI_SIP_GUID)?,
        alg,
        digest,
    )
}

/// The SIP GUID of Windows' APPX/MSIX package SIP, {0AC5DF4B-CE07-4DE2-B76E-23C839A09FD1},
/// as SpcSipInfo stores it.
pub const APPX_SIP_GUID: [u8; 16] = [
    0x4b, 0xdf, 0xc5, 0x0a, 0x07, 0xce, 0xe2, 0x4d, 0xb7, 0x6e, 0x23, 0xc8, 0x39, 0xa0, 0x9f, 0xd1,
];

/// The SIP GUID of Windows' APPX/MSIX bundle SIP, {0F5F58B3-AADE-4B9A-A434-95742D92ECEB}.
pub const APPX_BUNDLE_SIP_GUID: [u8; 16] = [
    0xb3, 0x58, 0x5f, 0x0f, 0xde, 0xaa, 0x9a, 0x4b, 0xa4, 0x34, 0x95, 0x74, 0x2d, 0x92, 0xec, 0xeb,
];

/// The SpcSipInfo version signtool and osslsigncode write for packages (`02 04 01 01 00 00`).
pub const APPX_SIP_VERSION: u32 = 0x0101_0000;

/// Whether `digest` is an APPX digest blob of `alg` hashes: `"APPX"` and four or five
/// 4-byte tags each followed by a hash.
pub fn is_appx_digest(digest: &[u8], alg: DigestAlgorithm) -> bool {
    let item = 4 + alg.output_size();
    digest.starts_with(b"APPX")
        && (digest.len() - 4).is_multiple_of(item)
        && (4..=5).contains(&((digest.len() - 4) / item))
}

/// DER of the SpcIndirectDataContent of an APPX/MSIX package (`bundle` false) or bundle: the
/// SpcSipInfo of the package or bundle SIP, and the APPX digest blob `blob` (see
/// `authsign::appx`) in `alg`, the algorithm of the package's block map.
pub fn appx_indirect_data(alg: DigestAlgorithm, blob: &[u8], bundle: bool) -> Result<Vec<u8>> {
    if !is_appx_digest(blob, alg) {
        return Err(Error::Unsupported(format!(
            "not an APPX digest of {alg} hashes ({} bytes)",
            blob.len()
        )));
    }
    let guid = if bundle {
        &APPX_BUNDLE_SIP_GUID
    } else {
        &APPX_SIP_GUID
    };
    indirect_data_any_digest(
        &oids::SPC_SIPINFO,
        &sip_info(APPX_SIP_VERSION, guid)?,
        alg,
        blob,
    )
}

/// A parsed SpcIndirectDataContent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndirectData {
    /// The SpcAttributeTypeAndOptionalValue type (which SIP the signature is for).
    pub data_type: ObjectIdentifier,
    /// DER of the SpcAttributeTypeAndOptionalValue value (e.g. SpcPeImageData), if present.
    pub data_value: Option<Vec<u8>>,
    /// The file digest's algorithm.
    pub digest_algorithm: DigestAlgorithm,
    /// The file digest.
    pub digest: Vec<u8>,
}

impl IndirectData {
    /// Parse the DER (or BER) of an SpcIndirectDataContent.
    pub fn parse(der: &[u8]) -> Result<Self> {
        let bad = |kind, e: der::Error| {
            let offset = e.position().map_or(0, |p| u32::from(p).into());
            Error::malformed(
                Format::Cms,
                offset,
                kind,
                format!("SpcIndirectDataContent: {e}"),
            )
        };
        let content = SpcIndirectDataContent::from_ber(der)
            .map_err(|e| bad(MalformedKind::InvalidValue, e))?;
        let oid = content.message_digest.digest_algorithm.oid;
        let digest_algorithm = DigestAlgorithm::from_oid(&oid)
            .ok_or_else(|| Error::Unsupported(format!("file digest algorithm {oid}")))?;
        let digest = content.message_digest.digest.as_bytes();
        // SIPs may define their own digest: APPX packages sign a blob of tagged hashes.
        if digest.len() != digest_algorithm.output_size()
            && !is_appx_digest(digest, digest_algorithm)
        {
            return Err(Error::malformed(
                Format::Cms,
                0,
                MalformedKind::InvalidValue,
                format!("{digest_algorithm} digest of {} bytes", digest.len()),
            ));
        }
        let data_value = content
            .data
            .value
            .map(|v| v.to_der())
            .transpose()
            .map_err(|e| bad(MalformedKind::InvalidValue, e))?;
        Ok(Self {
            data_type: content.data.data_type,
            data_value,
            digest_algorithm,
            digest: digest.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pe_image_data_matches_signtool_bytes() {
        // 30 26 | 03 02 07 80 | a0 20 a2 1e 80 1c "<<<Obsolete>>>" in UTF-16BE
        let v = pe_image_data().unwrap();
        assert_eq!(
            &v[..10],
            &[0x30, 0x26, 0x03, 0x02, 0x07, 0x80, 0xa0, 0x20, 0xa2, 0x1e]
        );
        assert_eq!(&v[10..12], &[0x80, 0x1c]);
        assert_eq!(v.len(), 0x28);
    }

    #[test]
    fn indirect_data_round_trips() {
        for alg in DigestAlgorithm::ALL {
            let d = alg.digest(b"x");
            let der = pe_indirect_data(alg, &d).unwrap();
            let p = IndirectData::parse(&der).unwrap();
            assert_eq!(p.digest_algorithm, alg);
            assert_eq!(p.digest, d);
            assert_eq!(p.data_type, oids::SPC_PE_IMAGE_DATA);
            assert_eq!(p.data_value.as_deref(), Some(&pe_image_data().unwrap()[..]));
        }
        assert!(pe_indirect_data(DigestAlgorithm::Sha1, &[0; 32]).is_err());
    }

    #[test]
    fn msi_sip_info_matches_signtool_bytes() {
        let v = sip_info(2, &MSI_SIP_GUID).unwrap();
        assert_eq!(&v[..7], &[0x30, 0x24, 0x02, 0x01, 0x02, 0x04, 0x10]);
        assert_eq!(&v[7..23], &MSI_SIP_GUID);
        assert_eq!(&v[23..], &[2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0]);
        let d = DigestAlgorithm::Sha1.digest(b"x");
        let p =
            IndirectData::parse(&msi_indirect_data(DigestAlgorithm::Sha1, &d, 1).unwrap()).unwrap();
        assert_eq!(p.data_type, oids::SPC_SIPINFO);
        assert_eq!(
            p.data_value.as_deref(),
            Some(&sip_info(1, &MSI_SIP_GUID).unwrap()[..])
        );
        assert_eq!(p.digest, d);
        assert!(msi_indirect_data(DigestAlgorithm::Sha256, &d, 1).is_err());
    }

    #[test]
    fn appx_indirect_data_matches_signtool_bytes() {
        let mut blob = b"APPX".to_vec();
        for tag in [b"AXPC", b"AXCD", b"AXCT", b"AXBM"] {
            blob.extend_from_slice(tag);
            blob.extend_from_slice(&[0x11; 32]);
        }
        let der = appx_indirect_data(DigestAlgorithm::Sha256, &blob, false).unwrap();
        // 3081e0 3035 060a2b06010401823702011e 3027 020401010000 0410 <guid> 020100 x5
        assert_eq!(&der[..3], &[0x30, 0x81, 0xe0]);
        assert_eq!(
            hex::encode(&der[3..25]),
            "3035060a2b06010401823702011e3027020401010000"
        );
        assert_eq!(&der[27..43], &APPX_SIP_GUID);
        let p = IndirectData::parse(&der).unwrap();
        assert_eq!(p.digest, blob);
        assert!(appx_indirect_data(DigestAlgorithm::Sha512, &blob, false).is_err());
    }
}
