//! Authenticode ASN.1: SpcIndirectDataContent and friends, signed attributes, and SignedData
//! building and parsing. This module knows DER and nothing of files or keys.

#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod asn1;
pub mod attributes;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod edit;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod generic;
pub mod oids;
pub mod signed_data;
pub mod spc;
#[doc(hidden)] // building block, public for the integration tests and fuzz targets
pub mod tlv;

pub use attributes::{AttributeOptions, Profile};
pub use signed_data::{SignedData, SignerInfo};
pub use spc::IndirectData;

#[doc(hidden)] // building block, public for the integration tests
/// Split `data` into the DER (or BER) value it starts with and the bytes after it (the zero
/// padding PE certificate-table entries and cabinet signature areas add). The value's end comes
/// from its length, or for an indefinite length from the matching end-of-contents octets.
pub fn split_padded(data: &[u8]) -> crate::Result<(&[u8], &[u8])> {
    use crate::error::{Error, Format, MalformedKind};
    match data.first() {
        None => {
            return Err(Error::malformed(
                Format::Cms,
                0,
                MalformedKind::Truncated,
                "empty signature",
            ))
        }
        Some(&t) if t != tlv::tag::SEQUENCE => {
            return Err(Error::malformed(
                Format::Cms,
                0,
                MalformedKind::UnexpectedTag,
                format!("a signature starts with a SEQUENCE, not tag {t:#04x}"),
            ))
        }
        Some(_) => {}
    }
    let mut r = tlv::Reader::new(data);
    let value = r.next("PKCS#7")?;
    Ok((value.raw, r.rest()))
}

#[doc(hidden)] // building block, public for the integration tests
/// [`split_padded`], refusing anything but zero bytes after the value.
pub fn trim_padded(data: &[u8]) -> crate::Result<&[u8]> {
    use crate::error::{Error, Format, MalformedKind};
    let (der, padding) = split_padded(data)?;
    if padding.iter().any(|&b| b != 0) {
        return Err(Error::malformed(
            Format::Cms,
            der.len() as u64,
            MalformedKind::TrailingData,
            format!(
                "{} bytes after the PKCS#7 are not zero padding",
                padding.len()
            ),
        ));
    }
    Ok(der)
}
