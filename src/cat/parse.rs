//! Reading a catalog file, bounded: the PKCS#7 envelope around the certificate trust list
//! (signed or not), then the list itself with the types of [`super::asn1`]. Every error is a
//! [`MalformedError`](crate::error::MalformedError) of [`Format::Cat`] naming the file offset.
//!
//! ```text
//! ContentInfo { signedData, [0] SignedData {
//!     version, digestAlgorithms,                  -- SET {} when unsigned
//!     encapContentInfo { szOID_CTL, [0] CertificateTrustList },
//!     certificates [0] OPTIONAL, crls [1] OPTIONAL,
//!     signerInfos }}                              -- SET {} when unsigned
//! ```

use std::collections::HashMap;
use std::ops::Range;

use const_oid::ObjectIdentifier;
use der::{Decode, ErrorKind};

use super::asn1::{
    CatMemberInfo, CatMemberInfo2, CatNameValue, CertificateTrustList, Extension, TrustedSubject,
};
use super::member::{
    Catalog, CatalogVersion, Member, MemberInfo, MemberKind, NameValue, RawAttribute,
};
use crate::cms::tlv::{self, tag, Tlv};
use crate::cms::{oids, IndirectData};
use crate::error::{Error, Format, MalformedKind, Result};

/// Largest catalog file read (bytes). Catalogs are read whole: their signature encapsulates
/// the list itself. Windows' own largest catalogs are a few tens of MiB.
pub const MAX_CATALOG_SIZE: u64 = 256 << 20;
/// Most members (entries) read from one catalog.
pub const MAX_MEMBERS: usize = 1 << 20;
/// Most attributes read for one member.
pub const MAX_MEMBER_ATTRIBUTES: usize = 64;
/// Most values read for one attribute of a member.
pub const MAX_ATTRIBUTE_VALUES: usize = 16;
/// Most catalog attributes (extensions) read.
pub const MAX_CATALOG_ATTRIBUTES: usize = 4096;
/// Most subject usages read.
pub const MAX_SUBJECT_USAGES: usize = 64;
/// Longest member tag accepted (bytes; a version 1 SHA-1 tag has 82, a version 2 one 32).
pub const MAX_TAG_SIZE: usize = 1024;

pub(crate) fn malformed(offset: usize, kind: MalformedKind, what: impl Into<String>) -> Error {
    Error::malformed(Format::Cat, offset as u64, kind, what)
}

/// `e` (from the shared BER/DER reader, which names [`Format::Cms`]) as a catalog error; its
/// offsets already count from the start of the file.
fn in_catalog(e: Error) -> Error {
    match e {
        Error::Malformed(mut m) if m.format == Format::Cms => {
            m.format = Format::Cat;
            Error::Malformed(m)
        }
        other => other,
    }
}

/// A `der` decoding error at `base` (the file offset of what was decoded) as a catalog error;
/// `fallback` is the kind for errors that are not about truncation or tags.
fn der_error(
    base: usize,
    fallback: MalformedKind,
    what: &str,
) -> impl Fn(der::Error) -> Error + '_ {
    move |e| {
        let at = e.position().map_or(0, |p| u32::from(p) as usize);
        let kind = match e.kind() {
            ErrorKind::Incomplete { .. } => MalformedKind::Truncated,
            ErrorKind::TagUnexpected { .. } => MalformedKind::UnexpectedTag,
            ErrorKind::TrailingData { .. } => MalformedKind::TrailingData,
            _ => fallback,
        };
        malformed(base.saturating_add(at), kind, format!("{what}: {e}"))
    }
}

/// The offset of `inner` in `outer`, when `inner` is a sub-slice of it (0 otherwise).
fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    (inner.as_ptr() as usize)
        .checked_sub(outer.as_ptr() as usize)
        .filter(|d| *d <= outer.len())
        .unwrap_or(0)
}

/// The range of `t`'s whole encoding in the buffer its offsets count from.
fn whole(t: &Tlv<'_>) -> Range<usize> {
    t.offset..t.offset + t.raw.len()
}

/// The range of `t`'s contents octets.
fn contents(t: &Tlv<'_>) -> Range<usize> {
    let start = t.offset + (t.raw.len() - t.value.len() - if t.indefinite { 2 } else { 0 });
    start..start + t.value.len()
}

/// Where the parts of a catalog file are (ranges of the file's bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The SignedData version (the whole INTEGER).
    pub version: Range<usize>,
    /// The encapsulated content info (the whole SEQUENCE), kept byte for byte.
    pub encapsulated: Range<usize>,
    /// The encapsulated content under `[0]` (the list, or an OCTET STRING around it).
    pub econtent: Range<usize>,
    /// The certificate trust list (the whole SEQUENCE).
    pub ctl: Range<usize>,
    /// What a signature's messageDigest covers: the list's contents octets (or, for a list
    /// wrapped in an OCTET STRING, that string's value).
    pub signed_content: Range<usize>,
    /// How many SignerInfos the file has (0: unsigned).
    pub signer_infos: usize,
    /// The end of the ContentInfo (zero padding may follow).
    pub end: usize,
}

/// Whether `head` (the first bytes of a file) starts like a catalog: a ContentInfo holding a
/// SignedData whose encapsulated content type is szOID_CTL. Only headers are read, so the
/// first few hundred bytes suffice.
pub fn recognizes(head: &[u8]) -> bool {
    recognize(head).is_some()
}

fn recognize(head: &[u8]) -> Option<()> {
    let ctl = tlv::oid(&oids::CTL);
    let signed_data = tlv::oid(&oids::SIGNED_DATA);
    let mut at = header(head, 0, tag::SEQUENCE)?;
    if head.get(at..at + signed_data.len())? != signed_data.as_slice() {
        return None;
    }
    at += signed_data.len();
    at = header(head, at, tag::context(0))?;
    at = header(head, at, tag::SEQUENCE)?;
    at = skip(head, at, tag::INTEGER)?;
    at = skip(head, at, tag::SET)?;
    at = header(head, at, tag::SEQUENCE)?;
    (head.get(at..at + ctl.len())? == ctl.as_slice()).then_some(())
}

/// The length of the TLV at `at` and where its value starts, reading its header only.
fn length_at(data: &[u8], at: usize, expected: u8) -> Option<(usize, Option<usize>)> {
    if *data.get(at)? != expected {
        return None;
    }
    let first = *data.get(at + 1)?;
    if first < 0x80 {
        return Some((at + 2, Some(usize::from(first))));
    }
    if first == 0x80 {
        return Some((at + 2, None));
    }
    let n = usize::from(first & 0x7f);
    if n > 4 {
        return None;
    }
    let len = data
        .get(at + 2..at + 2 + n)?
        .iter()
        .fold(0usize, |a, b| (a << 8) | usize::from(*b));
    Some((at + 2 + n, Some(len)))
}

/// Where the value of the TLV at `at` (of tag `expected`) starts.
fn header(data: &[u8], at: usize, expected: u8) -> Option<usize> {
    length_at(data, at, expected).map(|(start, _)| start)
}

/// Where the TLV at `at` (of tag `expected`, definite length) ends.
fn skip(data: &[u8], at: usize, expected: u8) -> Option<usize> {
    let (start, len) = length_at(data, at, expected)?;
    start.checked_add(len?)
}

/// Read the envelope of the catalog file `data`.
pub(crate) fn layout(data: &[u8]) -> Result<Layout> {
    layout_inner(data).map_err(in_catalog)
}

fn layout_inner(data: &[u8]) -> Result<Layout> {
    let bad = |t: &Tlv<'_>, kind, what: &str| malformed(t.offset, kind, what.to_string());
    let mut top = tlv::Reader::new(data);
    let ci = top.expect(tag::SEQUENCE, "catalog ContentInfo")?;
    if top.rest().iter().any(|b| *b != 0) {
        return Err(malformed(
            top.offset(),
            MalformedKind::TrailingData,
            "data after the catalog's ContentInfo",
        ));
    }
    let mut r = ci.children();
    let ct = r.next("ContentInfo contentType")?;
    if ct.oid()? != oids::SIGNED_DATA {
        return Err(bad(
            &ct,
            MalformedKind::WrongFormat,
            "ContentInfo is not signedData",
        ));
    }
    let explicit = r.expect(tag::context(0), "ContentInfo content")?;
    let sd = explicit.children().expect(tag::SEQUENCE, "SignedData")?;
    let mut r = sd.children();
    let version = r.expect(tag::INTEGER, "SignedData version")?;
    r.expect(tag::SET, "SignedData digestAlgorithms")?;
    let encapsulated = r.expect(tag::SEQUENCE, "SignedData encapContentInfo")?;
    r.next_if(tag::context(0), "certificates")?;
    r.next_if(tag::context(1), "crls")?;
    let signer_infos = r.expect(tag::SET, "SignedData signerInfos")?;
    let mut sr = signer_infos.children();
    let mut signer_count = 0;
    while !sr.is_empty() {
        if signer_count >= crate::cms::signed_data::MAX_SIGNER_INFOS {
            return Err(malformed(
                sr.offset(),
                MalformedKind::LimitExceeded,
                "too many SignerInfos",
            ));
        }
        sr.next("SignerInfo")?;
        signer_count += 1;
    }
    if !r.is_empty() {
        return Err(malformed(
            r.offset(),
            MalformedKind::TrailingData,
            "data after the signerInfos",
        ));
    }
    let mut er = encapsulated.children();
    let ect = er.next("eContentType")?;
    let content_type = ect.oid()?;
    if content_type != oids::CTL {
        return Err(bad(
            &ect,
            MalformedKind::WrongFormat,
            &format!("content type {content_type} is not a certificate trust list (szOID_CTL)"),
        ));
    }
    let econtent = er.expect(tag::context(0), "eContent")?;
    let inner = econtent.children().next("certificate trust list")?;
    let (ctl, signed_content) = match inner.tag {
        tag::SEQUENCE => (whole(&inner), contents(&inner)),
        // The list inside an OCTET STRING (CMS form; osslsigncode reads it too): the
        // string's value is what is signed.
        tag::OCTET_STRING if !inner.indefinite => {
            let at = contents(&inner);
            let list = tlv::Reader::new(data.get(at.clone()).unwrap_or_default())
                .expect(tag::SEQUENCE, "certificate trust list")?;
            let start = at.start;
            (
                start + list.offset..start + list.offset + list.raw.len(),
                at,
            )
        }
        _ => {
            return Err(bad(
                &inner,
                MalformedKind::UnexpectedTag,
                "certificate trust list: expected a SEQUENCE",
            ))
        }
    };
    Ok(Layout {
        version: whole(&version),
        encapsulated: whole(&encapsulated),
        econtent: whole(&inner),
        ctl,
        signed_content,
        signer_infos: signer_count,
        end: ci.raw.len(),
    })
}

/// Parse the certificate trust list `ctl` (its whole encoding), found at file offset `base`.
pub(crate) fn catalog(ctl: &[u8], base: usize) -> Result<Catalog> {
    let list = CertificateTrustList::from_ber(ctl).map_err(der_error(
        base,
        MalformedKind::InvalidValue,
        "certificate trust list",
    ))?;
    let at = |inner: &[u8]| base + offset_in(ctl, inner);

    let usages = bounded(
        list.subject_usage.0,
        at(list.subject_usage.0),
        MAX_SUBJECT_USAGES,
        "subject usages",
    )?;
    let mut is_catalog = false;
    for u in &usages {
        is_catalog |= u.oid().map_err(in_catalog)? == oids::CATALOG_LIST;
    }
    if !is_catalog {
        return Err(malformed(
            base,
            MalformedKind::WrongFormat,
            "a certificate trust list without the catalog usage (1.3.6.1.4.1.311.12.1.1): a \
             trust list, not a catalog",
        ));
    }
    let version = CatalogVersion::from_oid(&list.subject_algorithm.oid).ok_or_else(|| {
        malformed(
            base,
            MalformedKind::InvalidValue,
            format!(
                "subject algorithm {} is not a catalog member algorithm (1.3.6.1.4.1.311.12.1.2 \
                 or .3)",
                list.subject_algorithm.oid
            ),
        )
    })?;

    let mut members = Vec::new();
    if let Some(subjects) = list.trusted_subjects {
        let raw = subjects.0;
        let entries = bounded(raw, at(raw), MAX_MEMBERS, "members")?;
        // A tag listed twice must be the same entry twice (makecat lists identical files so:
        // the Python Software Foundation's python.cat repeats 48 entries); two different
        // entries under one tag contradict each other.
        let mut tags: HashMap<Vec<u8>, &[u8]> = HashMap::with_capacity(entries.len());
        for entry in entries {
            let member = member(&entry)?;
            match tags.get(&member.tag) {
                Some(first) if *first != entry.raw => {
                    return Err(malformed(
                        entry.offset,
                        MalformedKind::Inconsistent,
                        format!(
                            "duplicate member: tag {} is listed twice with different attributes",
                            member.tag_text()
                        ),
                    ))
                }
                Some(_) => {}
                None => {
                    tags.insert(member.tag.clone(), entry.raw);
                }
            }
            members.push(member);
        }
    }

    let mut attributes = Vec::new();
    let mut other_extensions = Vec::new();
    if let Some(extensions) = list.extensions {
        let raw = extensions.0;
        for e in bounded(raw, at(raw), MAX_CATALOG_ATTRIBUTES, "catalog attributes")? {
            let ext = Extension::from_ber(e.raw).map_err(der_error(
                e.offset,
                MalformedKind::InvalidValue,
                "catalog attribute",
            ))?;
            let value = ext.extn_value.as_bytes();
            if ext.extn_id == oids::CAT_NAMEVALUE {
                attributes.push(name_value(value, e.offset + offset_in(e.raw, value))?);
            } else {
                other_extensions.push((ext.extn_id, value.to_vec()));
            }
        }
    }

    Ok(Catalog {
        version,
        list_identifier: list.list_identifier.map(|l| l.as_bytes().to_vec()),
        sequence_number: list.sequence_number.map(|n| n.as_bytes().to_vec()),
        this_update: list.this_update.to_system_time(),
        next_update: list.next_update.map(|t| t.to_system_time()),
        members,
        attributes,
        other_extensions,
    })
}

/// The elements of a SEQUENCE OF / SET OF whose contents are `contents` (at file offset
/// `base`), at most `max` of them.
fn bounded<'a>(contents: &'a [u8], base: usize, max: usize, what: &str) -> Result<Vec<Tlv<'a>>> {
    let mut r = tlv::Reader::new(contents);
    let mut out = Vec::new();
    while !r.is_empty() {
        if out.len() >= max {
            return Err(malformed(
                base + r.offset(),
                MalformedKind::LimitExceeded,
                format!("more than {max} {what}"),
            ));
        }
        let mut t = r.next(what).map_err(|e| shift(e, base))?;
        t.offset += base;
        out.push(t);
    }
    Ok(out)
}

/// A reader error at an offset within a buffer that starts at file offset `base`.
fn shift(e: Error, base: usize) -> Error {
    match in_catalog(e) {
        Error::Malformed(mut m) => {
            m.offset = m.offset.saturating_add(base as u64);
            Error::Malformed(m)
        }
        other => other,
    }
}

/// One member: its tag and attributes. `entry.offset` is its file offset.
fn member(entry: &Tlv<'_>) -> Result<Member> {
    let subject = TrustedSubject::from_ber(entry.raw).map_err(der_error(
        entry.offset,
        MalformedKind::InvalidValue,
        "member",
    ))?;
    let tag = subject.subject_identifier.as_bytes();
    if tag.len() > MAX_TAG_SIZE {
        return Err(malformed(
            entry.offset,
            MalformedKind::LimitExceeded,
            format!("member tag of {} bytes (at most {MAX_TAG_SIZE})", tag.len()),
        ));
    }
    let mut m = Member {
        tag: tag.to_vec(),
        info: None,
        indirect_data: None,
        attributes: Vec::new(),
        other_attributes: Vec::new(),
        offset: entry.offset as u64,
    };
    let Some(set) = subject.subject_attributes else {
        return Ok(m);
    };
    let set_at = entry.offset + offset_in(entry.raw, set.0);
    for attr in bounded(set.0, set_at, MAX_MEMBER_ATTRIBUTES, "member attributes")? {
        member_attribute(&mut m, &attr)?;
    }
    Ok(m)
}

/// Read one attribute of a member into `m`.
fn member_attribute(m: &mut Member, attr: &Tlv<'_>) -> Result<()> {
    let what = "member attribute";
    let seq = attr.expect(tag::SEQUENCE, what).map_err(in_catalog)?;
    let mut r = seq.children();
    let oid: ObjectIdentifier = r.next(what).and_then(|t| t.oid()).map_err(in_catalog)?;
    let set = r.expect(tag::SET, what).map_err(in_catalog)?;
    let values = bounded(
        set.value,
        contents(&set).start,
        MAX_ATTRIBUTE_VALUES,
        "values",
    )?;
    let known = [
        oids::CAT_MEMBERINFO,
        oids::CAT_MEMBERINFO2,
        oids::SPC_INDIRECT_DATA,
        oids::CAT_NAMEVALUE,
    ];
    if !known.contains(&oid) {
        m.other_attributes.push(RawAttribute {
            oid,
            values: values.iter().map(|v| v.raw.to_vec()).collect(),
        });
        return Ok(());
    }
    let [value] = values.as_slice() else {
        return Err(malformed(
            attr.offset,
            MalformedKind::InvalidValue,
            format!("attribute {oid} has {} values (expected one)", values.len()),
        ));
    };
    let twice = |what: &str| {
        malformed(
            attr.offset,
            MalformedKind::Inconsistent,
            format!("the member has two {what} attributes"),
        )
    };
    // Within a value of a known attribute, any decoding failure is an encoding authsign does
    // not know (an unknown CHOICE alternative, a wrong field type).
    let unknown = |e: der::Error| {
        let at = e.position().map_or(0, |p| u32::from(p) as usize);
        malformed(
            value.offset.saturating_add(at),
            MalformedKind::BadEncoding,
            format!("attribute {oid}: unknown encoding ({e})"),
        )
    };
    match oid {
        o if o == oids::CAT_MEMBERINFO2 => {
            if m.info.is_some() {
                return Err(twice("member info"));
            }
            let kind = match CatMemberInfo2::from_ber(value.raw).map_err(unknown)? {
                CatMemberInfo2::Pe(_) => MemberKind::Pe,
                CatMemberInfo2::Cab(_) => MemberKind::Cab,
                CatMemberInfo2::Flat(_) => MemberKind::Flat,
            };
            m.info = Some(MemberInfo::V2(kind));
        }
        o if o == oids::CAT_MEMBERINFO => {
            if m.info.is_some() {
                return Err(twice("member info"));
            }
            let info = CatMemberInfo::from_ber(value.raw).map_err(unknown)?;
            m.info = Some(MemberInfo::V1 {
                sip_guid: info.subject_guid.to_string(),
                cert_version: info.cert_version,
            });
        }
        o if o == oids::SPC_INDIRECT_DATA => {
            if m.indirect_data.is_some() {
                return Err(twice("SpcIndirectDataContent"));
            }
            m.indirect_data =
                Some(
                    IndirectData::parse(value.raw).map_err(|e| match shift(e, value.offset) {
                        Error::Unsupported(s) => malformed(
                            value.offset,
                            MalformedKind::InvalidValue,
                            format!("member SpcIndirectDataContent: {s}"),
                        ),
                        other => other,
                    })?,
                );
        }
        _ => m.attributes.push(name_value(value.raw, value.offset)?),
    }
    Ok(())
}

/// A CAT_NAMEVALUE (its DER at file offset `at`).
fn name_value(der: &[u8], at: usize) -> Result<NameValue> {
    let nv = CatNameValue::from_ber(der).map_err(|e| {
        let pos = e.position().map_or(0, |p| u32::from(p) as usize);
        malformed(
            at.saturating_add(pos),
            MalformedKind::BadEncoding,
            format!("name/value attribute: unknown encoding ({e})"),
        )
    })?;
    Ok(NameValue::new(
        nv.tag.to_string(),
        nv.flags,
        nv.value.as_bytes().to_vec(),
    ))
}
