//! PKCS#7 / CMS SignedData as Authenticode uses it: built in canonical DER, parsed leniently
//! while keeping the original bytes of everything that is hashed or passed on.
//!
//! ```text
//! ContentInfo ::= SEQUENCE { contentType OBJECT IDENTIFIER, content [0] EXPLICIT ANY }
//! SignedData ::= SEQUENCE {
//!     version           INTEGER,                      -- 1 in Authenticode
//!     digestAlgorithms  SET OF AlgorithmIdentifier,
//!     contentInfo       SEQUENCE { contentType (SPC_INDIRECT_DATA_OBJID),
//!                                  content [0] EXPLICIT SpcIndirectDataContent },
//!     certificates      [0] IMPLICIT SET OF Certificate OPTIONAL,
//!     crls              [1] IMPLICIT SET OF CertificateList OPTIONAL,
//!     signerInfos       SET OF SignerInfo }           -- exactly one in Authenticode
//! SignerInfo ::= SEQUENCE {
//!     version                    INTEGER,             -- 1
//!     issuerAndSerialNumber      SEQUENCE { issuer Name, serialNumber INTEGER },
//!     digestAlgorithm            AlgorithmIdentifier,
//!     authenticatedAttributes    [0] IMPLICIT SET OF Attribute,
//!     digestEncryptionAlgorithm  AlgorithmIdentifier,
//!     encryptedDigest            OCTET STRING,
//!     unauthenticatedAttributes  [1] IMPLICIT SET OF Attribute OPTIONAL }
//! ```
//! (RFC 2315 / RFC 5652; Authenticode PE specification, "Authenticode Signature Format".)

use const_oid::ObjectIdentifier;

use super::oids;
use super::spc::IndirectData;
use super::tlv::{self, tag, Tlv};
use crate::digest::DigestAlgorithm;
use crate::error::{Error, Format, MalformedKind, Result};

/// Most certificates accepted in one SignedData.
pub const MAX_CERTIFICATES: usize = 64;
/// Most SignerInfos accepted in one SignedData.
pub const MAX_SIGNER_INFOS: usize = 16;
/// Most attributes accepted in one attribute set.
pub const MAX_ATTRIBUTES: usize = 64;

#[doc(hidden)] // building block, public for the integration tests
/// Everything needed to assemble a SignedData once the signature value is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDataParts<'a> {
    /// DER SpcIndirectDataContent.
    pub indirect_data: &'a [u8],
    /// The digest algorithm of the signature and the file digest.
    pub digest_algorithm: DigestAlgorithm,
    /// DER SET OF signed attributes (tag 0x31).
    pub signed_attributes: &'a [u8],
    /// DER certificates to embed.
    pub certificates: &'a [Vec<u8>],
    /// DER issuer Name of the signer certificate.
    pub issuer: &'a [u8],
    /// DER INTEGER serial number of the signer certificate (the whole TLV).
    pub serial: &'a [u8],
    /// DER AlgorithmIdentifier of the signature scheme.
    pub signature_algorithm: &'a [u8],
    /// The signature value.
    pub signature: &'a [u8],
    /// DER SET OF unsigned attributes (tag 0x31), if any.
    pub unsigned_attributes: Option<&'a [u8]>,
}

#[doc(hidden)] // building block, public for the integration tests
/// Assemble a DER ContentInfo(SignedData) over SpcIndirectDataContent (an Authenticode
/// signature).
pub fn build(p: &SignedDataParts<'_>) -> Result<Vec<u8>> {
    build_with_content_type(oids::SPC_INDIRECT_DATA, p)
}

#[doc(hidden)] // building block, public for the integration tests
/// [`build`] for another content type: `p.indirect_data` is then the encapsulated content of
/// that type (a catalog's CTL under szOID_CTL), placed under `[0]` as it is.
pub fn build_with_content_type(
    content_type: ObjectIdentifier,
    p: &SignedDataParts<'_>,
) -> Result<Vec<u8>> {
    use der::asn1::{AnyRef, OctetStringRef, SetOfVec};
    use der::{Decode, Encode};
    let bad = |what: &'static str| move |_| Error::Internal(what);
    let elements = |set: &'_ [u8], what: &'static str| -> Result<Vec<Vec<u8>>> {
        Ok(tlv::parse_one(set, what)?
            .expect(tag::SET, what)?
            .children()
            .all(what)?
            .iter()
            .map(|t| t.raw.to_vec())
            .collect())
    };
    fn any(der: &[u8]) -> der::Result<der::asn1::AnyRef<'_>> {
        der::asn1::AnyRef::from_der(der)
    }
    fn set_of(items: &[Vec<u8>]) -> Result<SetOfVec<AnyRef<'_>>> {
        let items = items
            .iter()
            .map(|i| any(i))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| Error::Internal("set element"))?;
        SetOfVec::try_from(items).map_err(|_| Error::Internal("set of"))
    }
    let signed = elements(p.signed_attributes, "signed attributes")?;
    let unsigned = p
        .unsigned_attributes
        .map(|u| elements(u, "unsigned attributes"))
        .transpose()?;
    let sid = tlv::sequence(&[p.issuer, p.serial]);
    let digest_algorithm = spki::AlgorithmIdentifier {
        oid: p.digest_algorithm.oid(),
        parameters: Some(AnyRef::from(der::asn1::Null)),
    };
    let signer_info = super::asn1::SignerInfo {
        version: 1,
        sid: any(&sid).map_err(bad("issuer and serial number"))?,
        digest_algorithm,
        signed_attrs: Some(set_of(&signed)?),
        signature_algorithm: any(p.signature_algorithm).map_err(bad("signature algorithm"))?,
        signature: OctetStringRef::new(p.signature).map_err(bad("signature"))?,
        unsigned_attrs: unsigned.as_deref().map(set_of).transpose()?,
    };
    let mut certs = p.certificates.to_vec();
    certs.sort();
    certs.dedup();
    let signed_data = super::asn1::SignedData {
        version: 1,
        digest_algorithms: SetOfVec::try_from(vec![digest_algorithm]).map_err(bad("algorithms"))?,
        encap_content_info: super::asn1::EncapsulatedContentInfo {
            e_content_type: content_type,
            e_content: Some(any(p.indirect_data).map_err(bad("content"))?),
        },
        certificates: (!certs.is_empty()).then(|| set_of(&certs)).transpose()?,
        crls: None,
        signer_infos: SetOfVec::try_from(vec![signer_info]).map_err(bad("signer infos"))?,
    };
    let signed_data = signed_data.to_der().map_err(bad("SignedData"))?;
    super::asn1::ContentInfo {
        content_type: oids::SIGNED_DATA,
        content: any(&signed_data).map_err(bad("SignedData"))?,
    }
    .to_der()
    .map_err(bad("ContentInfo"))
}

/// One attribute: its type and the encodings of its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// attrType.
    pub oid: ObjectIdentifier,
    /// The DER (or BER) of each value in attrValues.
    pub values: Vec<Vec<u8>>,
}

fn parse_attributes(set: &Tlv<'_>, what: &str) -> Result<Vec<Attribute>> {
    let mut out = Vec::new();
    let mut r = set.children();
    while !r.is_empty() {
        if out.len() >= MAX_ATTRIBUTES {
            return Err(Error::malformed(
                Format::Cms,
                r.offset() as u64,
                MalformedKind::LimitExceeded,
                format!("{what}: too many attributes"),
            ));
        }
        let a = r.expect(tag::SEQUENCE, what)?;
        let mut ar = a.children();
        let oid = ar.next(what)?.oid()?;
        let values = ar.expect(tag::SET, what)?;
        let values = values
            .children()
            .all(what)?
            .iter()
            .map(|v| v.raw.to_vec())
            .collect();
        out.push(Attribute { oid, values });
    }
    Ok(out)
}

/// A parsed SignerInfo, with the exact bytes that were signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerInfo {
    /// SignerInfo version.
    pub version: u64,
    /// DER issuer Name of the signer certificate (empty when the signer is identified by
    /// [`subject_key_identifier`](Self::subject_key_identifier)).
    pub issuer: Vec<u8>,
    /// Serial number of the signer certificate (INTEGER value bytes; empty when the signer is
    /// identified by its key identifier).
    pub serial: Vec<u8>,
    /// The signer's subjectKeyIdentifier, when the SignerInfo (version 3) names its signer
    /// that way (`sid [0] SubjectKeyIdentifier`) instead of by issuer and serial number.
    pub subject_key_identifier: Option<Vec<u8>>,
    /// The digest algorithm OID.
    pub digest_algorithm_oid: ObjectIdentifier,
    /// The signed attributes as they are stored, with the `[0]` tag replaced by SET (0x31):
    /// the bytes that were signed, if present. Length octets stay as stored, so attributes in
    /// any order or in BER (long-form or indefinite lengths) verify as their signer hashed them.
    pub signed_attributes_der: Option<Vec<u8>>,
    /// The signed attributes.
    pub signed_attributes: Vec<Attribute>,
    /// DER AlgorithmIdentifier of the signature algorithm.
    pub signature_algorithm: Vec<u8>,
    /// The signature algorithm OID.
    pub signature_algorithm_oid: ObjectIdentifier,
    /// The signature value.
    pub signature: Vec<u8>,
    /// The unsigned attributes (timestamps, nested signatures).
    pub unsigned_attributes: Vec<Attribute>,
}

impl SignerInfo {
    /// The digest algorithm, if supported.
    pub fn digest_algorithm(&self) -> Result<DigestAlgorithm> {
        DigestAlgorithm::from_oid(&self.digest_algorithm_oid).ok_or_else(|| {
            Error::Unsupported(format!("digest algorithm {}", self.digest_algorithm_oid))
        })
    }

    /// The values of the first signed attribute of type `oid`.
    pub fn signed_attribute(&self, oid: &ObjectIdentifier) -> Option<&Attribute> {
        self.signed_attributes.iter().find(|a| a.oid == *oid)
    }

    /// The messageDigest signed attribute's value, if present and well formed.
    pub fn message_digest(&self) -> Option<Vec<u8>> {
        let a = self.signed_attribute(&oids::MESSAGE_DIGEST)?;
        let v = a.values.first()?;
        let t = tlv::parse_one(v, "messageDigest").ok()?;
        (t.tag == tag::OCTET_STRING).then(|| t.value.to_vec())
    }

    /// The contentType signed attribute's value, if present and well formed.
    pub fn content_type(&self) -> Option<ObjectIdentifier> {
        let a = self.signed_attribute(&oids::CONTENT_TYPE)?;
        tlv::parse_one(a.values.first()?, "contentType")
            .ok()?
            .oid()
            .ok()
    }

    /// Parse one DER (or BER) SignerInfo on its own, e.g. the value of a legacy Authenticode
    /// counter-signature attribute (1.2.840.113549.1.9.6).
    pub fn from_der(der: &[u8]) -> Result<Self> {
        Self::parse(&tlv::parse_one(der, "SignerInfo")?.expect(tag::SEQUENCE, "SignerInfo")?)
    }

    fn parse(t: &Tlv<'_>) -> Result<Self> {
        let mut r = t.children();
        let version = r.expect(tag::INTEGER, "SignerInfo version")?.small_uint()?;
        let sid = r.next("SignerInfo sid")?;
        let (issuer, serial, subject_key_identifier) =
            match sid.tag {
                tag::SEQUENCE => {
                    let mut sr = sid.children();
                    let issuer = sr.expect(tag::SEQUENCE, "issuer")?.raw.to_vec();
                    let serial = sr.expect(tag::INTEGER, "serialNumber")?.value.to_vec();
                    (issuer, serial, None)
                }
                // subjectKeyIdentifier [0] IMPLICIT OCTET STRING (CMS SignerInfo version 3).
                t if t == tag::context_primitive(0) => {
                    (Vec::new(), Vec::new(), Some(sid.value.to_vec()))
                }
                _ => return Err(Error::malformed(
                    Format::Cms,
                    sid.offset as u64,
                    MalformedKind::InvalidValue,
                    "SignerInfo sid: expected issuerAndSerialNumber or [0] subjectKeyIdentifier",
                )),
            };
        let da = r.expect(tag::SEQUENCE, "SignerInfo digestAlgorithm")?;
        let digest_algorithm_oid = da.children().next("digestAlgorithm")?.oid()?;
        let (signed_attributes_der, signed_attributes) =
            match r.next_if(tag::context(0), "signed attributes")? {
                Some(sa) => {
                    // What was signed is the attributes as a SET: the same encoding with the
                    // universal tag (RFC 5652 §5.4).
                    let mut der = sa.raw.to_vec();
                    if let Some(first) = der.first_mut() {
                        *first = tag::SET;
                    }
                    (Some(der), parse_attributes(&sa, "signed attributes")?)
                }
                None => (None, Vec::new()),
            };
        let sa = r.expect(tag::SEQUENCE, "SignerInfo signatureAlgorithm")?;
        let signature_algorithm_oid = sa.children().next("signatureAlgorithm")?.oid()?;
        let signature = r
            .expect(tag::OCTET_STRING, "SignerInfo signature")?
            .value
            .to_vec();
        let unsigned_attributes = match r.next_if(tag::context(1), "unsigned attributes")? {
            Some(ua) => parse_attributes(&ua, "unsigned attributes")?,
            None => Vec::new(),
        };
        Ok(Self {
            version,
            issuer,
            serial,
            subject_key_identifier,
            digest_algorithm_oid,
            signed_attributes_der,
            signed_attributes,
            signature_algorithm: sa.raw.to_vec(),
            signature_algorithm_oid,
            signature,
            unsigned_attributes,
        })
    }
}

/// A parsed Authenticode signature (ContentInfo wrapping SignedData): over
/// SpcIndirectDataContent, which holds the file digest, or over content signed directly (a
/// catalog's certificate trust list, content type szOID_CTL), which is the file's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedData {
    /// SignedData version.
    pub version: u64,
    /// The encapsulated content type: SPC_INDIRECT_DATA_OBJID for Authenticode, szOID_CTL for
    /// a catalog.
    pub content_type: ObjectIdentifier,
    /// The full encoding of the encapsulated content (SpcIndirectDataContent, a catalog's
    /// certificate trust list), as stored.
    pub content_der: Vec<u8>,
    /// What messageDigest covers: the contents octets of the encapsulated content (without
    /// its tag and length, PKCS#7 v1.5 §9.3), or the value of an OCTET STRING around it.
    pub content: Vec<u8>,
    /// The parsed SpcIndirectDataContent, when the content type is SPC_INDIRECT_DATA_OBJID;
    /// `None` for content signed directly.
    pub indirect_data: Option<IndirectData>,
    /// Embedded certificates, as encoded (parse them with `x509-cert` when needed).
    pub certificates: Vec<Vec<u8>>,
    /// The SignerInfos (Authenticode requires exactly one).
    pub signer_infos: Vec<SignerInfo>,
}

/// The parts of a ContentInfo(SignedData) that every reader needs, over the original bytes.
pub(crate) struct Envelope<'a> {
    /// SignedData version.
    pub version: u64,
    /// The encodings of version, digestAlgorithms and the encapsulated content info, as they
    /// are (for editing a signature without touching them).
    pub head: [&'a [u8]; 3],
    /// Every entry of the certificate set as encoded, attribute certificates included.
    pub certificate_set: Vec<&'a [u8]>,
    /// The CRLs TLV, if any.
    pub crls: Option<&'a [u8]>,
    /// The encapsulated content info (`SEQUENCE { eContentType, [0] eContent OPTIONAL }`).
    pub encapsulated: Tlv<'a>,
    /// Embedded X.509 certificates as encoded (attribute certificates and other choices are
    /// left out).
    pub certificates: Vec<Vec<u8>>,
    /// The SignerInfo TLVs (at least one).
    pub signer_infos: Vec<Tlv<'a>>,
}

/// Parse the ContentInfo(SignedData) envelope of `data`, bounded by [`MAX_CERTIFICATES`] and
/// [`MAX_SIGNER_INFOS`]. Trailing zero bytes (padding) are accepted.
pub(crate) fn envelope(data: &[u8]) -> Result<Envelope<'_>> {
    let bad = |offset: usize, what: &str| {
        Error::malformed(
            Format::Cms,
            offset as u64,
            MalformedKind::InvalidValue,
            what,
        )
    };
    let ci = tlv::parse_one(data, "ContentInfo")?.expect(tag::SEQUENCE, "ContentInfo")?;
    let mut r = ci.children();
    let ct = r.next("ContentInfo contentType")?;
    if ct.oid()? != oids::SIGNED_DATA {
        return Err(bad(ct.offset, "ContentInfo is not signedData"));
    }
    let explicit = r.expect(tag::context(0), "ContentInfo content")?;
    let sd = explicit.children().expect(tag::SEQUENCE, "SignedData")?;
    let mut r = sd.children();
    let version_tlv = r.expect(tag::INTEGER, "SignedData version")?;
    let version = version_tlv.small_uint()?;
    let digest_algorithms = r.expect(tag::SET, "SignedData digestAlgorithms")?;
    let encapsulated = r.expect(tag::SEQUENCE, "SignedData contentInfo")?;
    let mut certificate_set = Vec::new();
    if let Some(certs) = r.next_if(tag::context(0), "certificates")? {
        let mut cr = certs.children();
        while !cr.is_empty() {
            if certificate_set.len() >= MAX_CERTIFICATES {
                return Err(bad(cr.offset(), "too many certificates"));
            }
            certificate_set.push(cr.next("certificate")?);
        }
    }
    // Attribute certificates ([1], [2]) and other choices are kept out of `certificates`.
    let certificates = certificate_set
        .iter()
        .filter(|c| c.tag == tag::SEQUENCE)
        .map(|c| c.raw.to_vec())
        .collect();
    let crls = r.next_if(tag::context(1), "crls")?.map(|t| t.raw);
    let sis = r.expect(tag::SET, "SignedData signerInfos")?;
    let mut signer_infos = Vec::new();
    let mut sr = sis.children();
    while !sr.is_empty() {
        if signer_infos.len() >= MAX_SIGNER_INFOS {
            return Err(bad(sr.offset(), "too many SignerInfos"));
        }
        signer_infos.push(sr.expect(tag::SEQUENCE, "SignerInfo")?);
    }
    if signer_infos.is_empty() {
        return Err(bad(sis.offset, "no SignerInfo"));
    }
    Ok(Envelope {
        version,
        head: [version_tlv.raw, digest_algorithms.raw, encapsulated.raw],
        certificate_set: certificate_set.iter().map(|c| c.raw).collect(),
        crls,
        encapsulated,
        certificates,
        signer_infos,
    })
}

impl SignedData {
    /// Parse a DER (or BER) ContentInfo holding a SignedData with encapsulated content: the
    /// content is kept as stored and, for SpcIndirectDataContent, parsed. Trailing zero bytes
    /// (padding) after the ContentInfo are accepted. Whether the content type is the one a
    /// file's signatures must carry is for the caller to check (see
    /// `Subject::content_type`).
    pub fn parse(data: &[u8]) -> Result<Self> {
        let env = envelope(data)?;
        let mut er = env.encapsulated.children();
        let ect = er.next("contentInfo contentType")?;
        let content_type = ect.oid()?;
        let econtent = er.expect(tag::context(0), "contentInfo content")?;
        let inner = econtent.children().next("contentInfo content")?;
        let indirect_data = if content_type == oids::SPC_INDIRECT_DATA {
            let idc = inner.expect(tag::SEQUENCE, "SpcIndirectDataContent")?;
            Some(IndirectData::parse(idc.raw)?)
        } else {
            // Content signed directly: PKCS#7 v1.5 places it under [0] as it is (a CTL
            // SEQUENCE); CMS wraps it in an OCTET STRING, whose value is then what is hashed.
            match inner.tag {
                tag::SEQUENCE | tag::OCTET_STRING => None,
                t => {
                    return Err(Error::malformed(
                        Format::Cms,
                        inner.offset as u64,
                        MalformedKind::UnexpectedTag,
                        format!(
                            "content of type {content_type}: expected a SEQUENCE or an OCTET \
                             STRING, found tag {t:#04x}"
                        ),
                    ))
                }
            }
        };
        let signer_infos = env
            .signer_infos
            .iter()
            .map(SignerInfo::parse)
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            version: env.version,
            content_type,
            content_der: inner.raw.to_vec(),
            content: inner.value.to_vec(),
            indirect_data,
            certificates: env.certificates,
            signer_infos,
        })
    }

    /// The digest this signature holds of its file, and its algorithm: for Authenticode the
    /// file digest in SpcIndirectDataContent; for content signed directly (a catalog), the
    /// messageDigest of the first SignerInfo, which covers that content, the file's own.
    /// `None` when there is none (no messageDigest, or an unsupported digest algorithm).
    pub fn signed_digest(&self) -> Option<(DigestAlgorithm, Vec<u8>)> {
        match &self.indirect_data {
            Some(data) => Some((data.digest_algorithm, data.digest.clone())),
            None => {
                let si = self.signer_infos.first()?;
                Some((si.digest_algorithm().ok()?, si.message_digest()?))
            }
        }
    }

    /// The nested signatures (unsigned attribute 1.3.6.1.4.1.311.2.4.1 of the first
    /// SignerInfo), each a DER ContentInfo, in the order they are stored.
    pub fn nested_signatures(&self) -> Vec<Vec<u8>> {
        self.signer_infos
            .first()
            .map(|si| {
                si.unsigned_attributes
                    .iter()
                    .filter(|a| a.oid == oids::SPC_NESTED_SIGNATURE)
                    .flat_map(|a| a.values.iter().cloned())
                    .collect()
            })
            .unwrap_or_default()
    }
}
