//! Authenticode's SPC structures: what a signature says about the file it signs.
//!
//! ```text
//! SpcIndirectDataContent ::= SEQUENCE {
//!     data                    SpcAttributeTypeAndOptionalValue,
//!     messageDigest           DigestInfo }
//! SpcAttributeTypeAndOptionalValue ::= SEQUENCE {
//!     type                    OBJECT IDENTIFIER,
//!     value                   [0] EXPLICIT ANY OPTIONAL }   -- in practice: ANY
//! DigestInfo ::= SEQUENCE {
//!     digestAlgorithm         AlgorithmIdentifier,
//!     digest                  OCTET STRING }
//! SpcPeImageData ::= SEQUENCE {
//!     flags                   SpcPeImageFlags DEFAULT { includeResources },
//!     file                    [0] EXPLICIT SpcLink OPTIONAL }
//! SpcLink ::= CHOICE {
//!     url                     [0] IMPLICIT IA5STRING,
//!     moniker                 [1] IMPLICIT SpcSerializedObject,
//!     file                    [2] EXPLICIT SpcString }
//! SpcString ::= CHOICE {
//!     unicode                 [0] IMPLICIT BMPSTRING,
//!     ascii                   [1] IMPLICIT IA5STRING }
//! ```
//! (Windows Authenticode Portable Executable Signature Format, "Authenticode-Specific Structures".)

use const_oid::ObjectIdentifier;

use super::oids;
use super::tlv::{self, tag, Reader};
use crate::digest::DigestAlgorithm;
use crate::error::{Error, Format, MalformedKind, Result};

/// The link signtool writes in SpcPeImageData: the file `"<<<Obsolete>>>"`.
pub const OBSOLETE: &str = "<<<Obsolete>>>";

/// SpcLink `file` choice with a Unicode SpcString: `[2] EXPLICIT { [0] IMPLICIT BMPString }`.
pub fn spc_link_file(name: &str) -> Vec<u8> {
    tlv::tlv(
        tag::context(2),
        &tlv::tlv(tag::context_primitive(0), &tlv::bmp_bytes(name)),
    )
}

/// SpcPeImageData as signtool and osslsigncode write it: flags with the includeResources bit
/// (`03 02 07 80`) and the `"<<<Obsolete>>>"` file link.
pub fn pe_image_data() -> Vec<u8> {
    pe_image_data_with_link(&spc_link_file(OBSOLETE))
}

/// SpcPeImageData with the includeResources flag and `link` (an encoded SpcLink) as its file.
pub fn pe_image_data_with_link(link: &[u8]) -> Vec<u8> {
    let flags = [tag::BIT_STRING, 0x02, 0x07, 0x80];
    tlv::sequence(&[&flags, &tlv::tlv(tag::context(0), link)])
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
    let data = tlv::sequence(&[&tlv::oid(data_type), data_value]);
    let digest_info =
        tlv::sequence(&[&tlv::algorithm_null(&alg.oid()), &tlv::octet_string(digest)]);
    Ok(tlv::sequence(&[&data, &digest_info]))
}

/// DER of the SpcIndirectDataContent for a PE image whose Authenticode digest is `digest`.
pub fn pe_indirect_data(alg: DigestAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
    pe_indirect_data_with_link(alg, digest, &spc_link_file(OBSOLETE))
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
        &pe_image_data_with_link(link),
        alg,
        digest,
    )
}

/// DER of the SpcIndirectDataContent for a cabinet whose Authenticode digest is `digest`, as
/// osslsigncode writes it: type SPC_CAB_DATA (1.3.6.1.4.1.311.2.1.25) with the SpcLink file
/// `"<<<Obsolete>>>"` as value (`a2 1e 80 1c` + the name in UTF-16BE).
pub fn cab_indirect_data(alg: DigestAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
    indirect_data(&oids::SPC_CAB_DATA, &spc_link_file(OBSOLETE), alg, digest)
}

/// The SIP GUID of Windows' MSI SIP, F1100C00-0000-0000-C000-000000000046, as SpcSipInfo
/// stores it (the first three fields little-endian).
pub const MSI_SIP_GUID: [u8; 16] = [
    0xf1, 0x10, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46,
];

/// SpcSipInfo: `SEQUENCE { INTEGER version, OCTET STRING sipGuid, INTEGER 0 (five times) }`.
///
/// For MSI, signtool writes version 2 and osslsigncode version 1; the five trailing integers
/// are zero in both.
pub fn sip_info(version: u32, guid: &[u8; 16]) -> Vec<u8> {
    let zero = tlv::small_uint(0);
    tlv::sequence(&[
        &tlv::small_uint(version),
        &tlv::octet_string(guid),
        &zero,
        &zero,
        &zero,
        &zero,
        &zero,
    ])
}

/// DER of the SpcIndirectDataContent for an MSI whose Authenticode digest is `digest`:
/// SpcSipInfo (1.3.6.1.4.1.311.2.1.30) with the MSI SIP GUID and `sip_version`.
pub fn msi_indirect_data(alg: DigestAlgorithm, digest: &[u8], sip_version: u32) -> Result<Vec<u8>> {
    indirect_data(
        &oids::SPC_SIPINFO,
        &sip_info(sip_version, &MSI_SIP_GUID),
        alg,
        digest,
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
        let seq = tlv::parse_one(der, "SpcIndirectDataContent")?
            .expect(tag::SEQUENCE, "SpcIndirectDataContent")?;
        let mut r = seq.children();
        let data = r.expect(tag::SEQUENCE, "SpcAttributeTypeAndOptionalValue")?;
        let mut dr = data.children();
        let data_type = dr.next("SpcAttributeTypeAndOptionalValue type")?.oid()?;
        let data_value = if dr.is_empty() {
            None
        } else {
            Some(
                dr.next("SpcAttributeTypeAndOptionalValue value")?
                    .raw
                    .to_vec(),
            )
        };
        let di = r.expect(tag::SEQUENCE, "DigestInfo")?;
        let (digest_algorithm, digest) = parse_digest_info(di.children())?;
        Ok(Self {
            data_type,
            data_value,
            digest_algorithm,
            digest,
        })
    }
}

/// Parse `DigestInfo` children: the algorithm (a supported digest) and the digest bytes.
fn parse_digest_info(mut r: Reader<'_>) -> Result<(DigestAlgorithm, Vec<u8>)> {
    let alg = r.expect(tag::SEQUENCE, "DigestInfo digestAlgorithm")?;
    let alg_tlv = alg.children().next("digest algorithm")?;
    let oid = alg_tlv.oid()?;
    let digest_algorithm = DigestAlgorithm::from_oid(&oid)
        .ok_or_else(|| Error::Unsupported(format!("file digest algorithm {oid}")))?;
    let digest = r.expect(tag::OCTET_STRING, "DigestInfo digest")?;
    if digest.value.len() != digest_algorithm.output_size() {
        return Err(Error::malformed(
            Format::Cms,
            digest.offset as u64,
            MalformedKind::InvalidValue,
            format!("{digest_algorithm} digest of {} bytes", digest.value.len()),
        ));
    }
    Ok((digest_algorithm, digest.value.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pe_image_data_matches_signtool_bytes() {
        // 30 26 | 03 02 07 80 | a0 20 a2 1e 80 1c "<<<Obsolete>>>" in UTF-16BE
        let v = pe_image_data();
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
            assert_eq!(p.data_value.as_deref(), Some(&pe_image_data()[..]));
        }
        assert!(pe_indirect_data(DigestAlgorithm::Sha1, &[0; 32]).is_err());
    }

    #[test]
    fn msi_sip_info_matches_signtool_bytes() {
        let v = sip_info(2, &MSI_SIP_GUID);
        assert_eq!(&v[..7], &[0x30, 0x24, 0x02, 0x01, 0x02, 0x04, 0x10]);
        assert_eq!(&v[7..23], &MSI_SIP_GUID);
        assert_eq!(&v[23..], &[2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0, 2, 1, 0]);
        let d = DigestAlgorithm::Sha1.digest(b"x");
        let p =
            IndirectData::parse(&msi_indirect_data(DigestAlgorithm::Sha1, &d, 1).unwrap()).unwrap();
        assert_eq!(p.data_type, oids::SPC_SIPINFO);
        assert_eq!(
            p.data_value.as_deref(),
            Some(&sip_info(1, &MSI_SIP_GUID)[..])
        );
        assert_eq!(p.digest, d);
        assert!(msi_indirect_data(DigestAlgorithm::Sha256, &d, 1).is_err());
    }
}
