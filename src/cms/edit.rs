//! Editing an existing Authenticode SignedData: adding unsigned attributes (timestamps,
//! nested signatures), replacing or removing nested signatures, adding certificates. Every
//! byte that is not changed is kept as it was, so the signed parts stay valid.

use const_oid::ObjectIdentifier;

use super::oids;
use super::tlv::{self, tag, Tlv};
use crate::error::{Error, Format, MalformedKind, Result};

fn malformed(offset: usize, kind: MalformedKind, what: impl Into<String>) -> Error {
    Error::malformed(Format::Cms, offset as u64, kind, what)
}

fn assemble(
    head: &[&[u8]],
    certificates: &[Vec<u8>],
    crls: Option<&[u8]>,
    signer_infos: &[Vec<u8>],
) -> Vec<u8> {
    let mut parts: Vec<Vec<u8>> = head.iter().map(|p| p.to_vec()).collect();
    if !certificates.is_empty() {
        parts.push(tlv::tlv(tag::context(0), &certificates.concat()));
    }
    if let Some(c) = crls {
        parts.push(c.to_vec());
    }
    parts.push(tlv::tlv(tag::SET, &signer_infos.concat()));
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let signed_data = tlv::sequence(&refs);
    tlv::sequence(&[
        &tlv::oid(&oids::SIGNED_DATA),
        &tlv::tlv(tag::context(0), &signed_data),
    ])
}

/// A SignerInfo split into everything before the unsigned attributes and those attributes.
fn split_signer_info<'a>(si: &Tlv<'a>) -> Result<(Vec<&'a [u8]>, Vec<Tlv<'a>>)> {
    let children = si.children().all("SignerInfo")?;
    let mut signed = Vec::new();
    let mut unsigned = Vec::new();
    for c in children {
        if c.tag == tag::context(1) {
            unsigned = c.children().all("unsigned attributes")?;
        } else {
            signed.push(c.raw);
        }
    }
    Ok((signed, unsigned))
}

/// Encode a SignerInfo from its fields and unsigned attributes (DER Attributes). The
/// attributes are a DER SET OF: sorted by encoding.
fn join_signer_info(fields: &[&[u8]], mut unsigned: Vec<Vec<u8>>) -> Vec<u8> {
    let mut parts: Vec<Vec<u8>> = fields.iter().map(|f| f.to_vec()).collect();
    if !unsigned.is_empty() {
        unsigned.sort();
        parts.push(tlv::tlv(tag::context(1), &unsigned.concat()));
    }
    let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    tlv::sequence(&refs)
}

/// An attribute's type and its values, as encoded.
fn attribute_parts<'a>(attr: &Tlv<'a>) -> Result<(ObjectIdentifier, Vec<&'a [u8]>)> {
    let mut r = attr.children();
    let oid = r.next("attribute type")?.oid()?;
    let values = r
        .expect(tag::SET, "attribute values")?
        .children()
        .all("attribute value")?;
    Ok((oid, values.iter().map(|v| v.raw).collect()))
}

fn attribute(oid: &ObjectIdentifier, values: &[&[u8]]) -> Vec<u8> {
    tlv::sequence(&[&tlv::oid(oid), &tlv::constructed(tag::SET, values)])
}

/// Rewrite the first SignerInfo's unsigned attributes with `edit`, which receives them as
/// (type, values) pairs in stored order; `extra_certificates` are added to the certificate
/// set if not already there.
fn edit_unsigned(
    pkcs7: &[u8],
    extra_certificates: &[Vec<u8>],
    edit: impl FnOnce(&mut Vec<(ObjectIdentifier, Vec<Vec<u8>>)>) -> Result<()>,
) -> Result<Vec<u8>> {
    let p = super::signed_data::envelope(pkcs7)?;
    let mut certificates: Vec<Vec<u8>> = p.certificate_set.iter().map(|c| c.to_vec()).collect();
    for c in extra_certificates {
        if !certificates.contains(c) {
            certificates.push(c.clone());
        }
    }
    let mut signer_infos: Vec<Vec<u8>> = p.signer_infos.iter().map(|s| s.raw.to_vec()).collect();
    let first = p
        .signer_infos
        .first()
        .ok_or_else(|| malformed(0, MalformedKind::InvalidValue, "no SignerInfo"))?;
    let (fields, unsigned) = split_signer_info(first)?;
    let mut attrs = Vec::new();
    for a in &unsigned {
        let (oid, values) = attribute_parts(a)?;
        attrs.push((
            oid,
            values.into_iter().map(<[u8]>::to_vec).collect::<Vec<_>>(),
        ));
    }
    edit(&mut attrs)?;
    let encoded = attrs
        .iter()
        .filter(|(_, values)| !values.is_empty())
        .map(|(oid, values)| {
            let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            attribute(oid, &refs)
        })
        .collect();
    if let Some(slot) = signer_infos.first_mut() {
        *slot = join_signer_info(&fields, encoded);
    }
    Ok(assemble(&p.head, &certificates, p.crls, &signer_infos))
}

/// Add `value` to the unsigned attribute `oid` of the first SignerInfo (after the values
/// already there, or as a new attribute), and `extra_certificates` to the certificate set.
pub fn add_unsigned_attribute(
    pkcs7: &[u8],
    oid: &ObjectIdentifier,
    value: &[u8],
    extra_certificates: &[Vec<u8>],
) -> Result<Vec<u8>> {
    tlv::parse_one(value, "attribute value")?;
    edit_unsigned(pkcs7, extra_certificates, |attrs| {
        match attrs.iter_mut().find(|(o, _)| o == oid) {
            Some((_, values)) => values.push(value.to_vec()),
            None => attrs.push((*oid, vec![value.to_vec()])),
        }
        Ok(())
    })
}

/// Replace every value of the unsigned attribute `oid` of the first SignerInfo with `value`.
pub fn set_unsigned_attribute(
    pkcs7: &[u8],
    oid: &ObjectIdentifier,
    value: &[u8],
    extra_certificates: &[Vec<u8>],
) -> Result<Vec<u8>> {
    tlv::parse_one(value, "attribute value")?;
    edit_unsigned(pkcs7, extra_certificates, |attrs| {
        attrs.retain(|(o, _)| o != oid);
        attrs.push((*oid, vec![value.to_vec()]));
        Ok(())
    })
}

/// Append `nested` (a DER ContentInfo) to the nested signatures of `pkcs7`, after those
/// already there: the order of existing signatures is kept.
pub fn add_nested_signature(pkcs7: &[u8], nested: &[u8]) -> Result<Vec<u8>> {
    add_unsigned_attribute(pkcs7, &oids::SPC_NESTED_SIGNATURE, nested, &[])
}

/// Replace nested signature `index` (0 = the first nested one) with `nested`, or remove it
/// when `nested` is `None`.
pub fn replace_nested_signature(
    pkcs7: &[u8],
    index: usize,
    nested: Option<&[u8]>,
) -> Result<Vec<u8>> {
    edit_unsigned(pkcs7, &[], |attrs| {
        let mut seen = 0;
        for (oid, values) in attrs.iter_mut() {
            if *oid != oids::SPC_NESTED_SIGNATURE {
                continue;
            }
            if index < seen + values.len() {
                let i = index - seen;
                match nested {
                    Some(n) => {
                        if let Some(v) = values.get_mut(i) {
                            *v = n.to_vec();
                        }
                    }
                    None => {
                        values.remove(i);
                    }
                }
                return Ok(());
            }
            seen += values.len();
        }
        Err(Error::Unsupported(format!(
            "no nested signature {index} (the signature has {seen})"
        )))
    })
}

/// `pkcs7` without any nested signature.
pub fn strip_nested_signatures(pkcs7: &[u8]) -> Result<Vec<u8>> {
    edit_unsigned(pkcs7, &[], |attrs| {
        attrs.retain(|(oid, _)| *oid != oids::SPC_NESTED_SIGNATURE);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cms::SignedData;

    /// A minimal SignedData with one SignerInfo and no unsigned attributes.
    fn sample(sig: u8) -> Vec<u8> {
        let idc =
            crate::cms::spc::pe_indirect_data(crate::DigestAlgorithm::Sha256, &[sig; 32]).unwrap();
        let attrs = tlv::set_of(vec![]);
        super::super::signed_data::build(&super::super::signed_data::SignedDataParts {
            indirect_data: &idc,
            digest_algorithm: crate::DigestAlgorithm::Sha256,
            signed_attributes: &attrs,
            certificates: &[],
            issuer: &tlv::sequence(&[]),
            serial: &tlv::small_uint(1),
            signature_algorithm: &tlv::algorithm_null(&oids::RSA_ENCRYPTION),
            signature: &[sig; 4],
            unsigned_attributes: None,
        })
        .unwrap()
    }

    #[test]
    fn nested_signatures_keep_their_order_and_can_be_replaced_or_removed() {
        let (a, b, c) = (sample(1), sample(2), sample(3));
        let one = add_nested_signature(&a, &c).unwrap();
        let two = add_nested_signature(&one, &b).unwrap();
        let sd = SignedData::parse(&two).unwrap();
        assert_eq!(sd.nested_signatures(), vec![c.clone(), b.clone()]);
        // The primary's signed parts are untouched.
        assert_eq!(sd.content_der, SignedData::parse(&a).unwrap().content_der);

        let replaced = replace_nested_signature(&two, 1, Some(&a)).unwrap();
        assert_eq!(
            SignedData::parse(&replaced).unwrap().nested_signatures(),
            vec![c.clone(), a.clone()]
        );
        let removed = replace_nested_signature(&two, 0, None).unwrap();
        assert_eq!(
            SignedData::parse(&removed).unwrap().nested_signatures(),
            vec![b.clone()]
        );
        let none = replace_nested_signature(&removed, 0, None).unwrap();
        assert!(SignedData::parse(&none)
            .unwrap()
            .nested_signatures()
            .is_empty());
        assert_eq!(
            none, a,
            "removing every nested signature restores the original"
        );
        assert!(replace_nested_signature(&a, 0, None).is_err());
    }

    #[test]
    fn unsigned_attributes_are_sorted_and_certificates_added_once() {
        let a = sample(1);
        let ts = tlv::sequence(&[&tlv::oid(&oids::SIGNED_DATA)]);
        let cert = tlv::sequence(&[&tlv::small_uint(7)]);
        let x = set_unsigned_attribute(
            &a,
            &oids::SPC_RFC3161_TIMESTAMP,
            &ts,
            std::slice::from_ref(&cert),
        )
        .unwrap();
        let y = add_nested_signature(&x, &sample(2)).unwrap();
        let y = set_unsigned_attribute(
            &y,
            &oids::SPC_RFC3161_TIMESTAMP,
            &ts,
            std::slice::from_ref(&cert),
        )
        .unwrap();
        let sd = SignedData::parse(&y).unwrap();
        assert_eq!(sd.certificates, vec![cert]);
        let attrs = &sd.signer_infos[0].unsigned_attributes;
        assert_eq!(attrs.len(), 2);
        assert_eq!(sd.nested_signatures().len(), 1);
    }
}
