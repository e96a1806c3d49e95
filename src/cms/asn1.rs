//! The CMS wire structures that authsign writes, as `der` types (RFC 5652, with the PKCS#7
//! v1.5 version numbers Authenticode uses). Fields that carry bytes made elsewhere
//! (certificates, issuer names, attributes, the encapsulated content) are borrowed `AnyRef`s,
//! written as they are.
//!
//! Reading goes through [`super::tlv`] instead: signed bytes must be hashed exactly as stored,
//! and foreign signatures may be BER with lengths `der` rejects (see [`super::signed_data`]).

use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, OctetStringRef, SetOfVec};
use der::Sequence;
use spki::AlgorithmIdentifier;

/// ```text
/// ContentInfo ::= SEQUENCE {
///     contentType  ContentType,
///     content      [0] EXPLICIT ANY DEFINED BY contentType }
/// ```
/// (RFC 5652 §3.)
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct ContentInfo<'a> {
    /// signedData (1.2.840.113549.1.7.2) for a signature.
    pub content_type: ObjectIdentifier,
    /// The SignedData.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    pub content: AnyRef<'a>,
}

/// ```text
/// EncapsulatedContentInfo ::= SEQUENCE {
///     eContentType  ContentType,
///     eContent      [0] EXPLICIT ANY OPTIONAL }
/// ```
/// PKCS#7 v1.5 form, as Authenticode and catalogs write it: the content itself
/// (SpcIndirectDataContent, the catalog's CTL) rather than an OCTET STRING around it.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct EncapsulatedContentInfo<'a> {
    /// SPC_INDIRECT_DATA_OBJID for Authenticode, szOID_CTL for catalogs.
    pub e_content_type: ObjectIdentifier,
    /// The content.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub e_content: Option<AnyRef<'a>>,
}

/// ```text
/// SignedData ::= SEQUENCE {
///     version           CMSVersion,                  -- 1 for Authenticode
///     digestAlgorithms  SET OF DigestAlgorithmIdentifier,
///     encapContentInfo  EncapsulatedContentInfo,
///     certificates      [0] IMPLICIT CertificateSet OPTIONAL,
///     crls              [1] IMPLICIT RevocationInfoChoices OPTIONAL,
///     signerInfos       SET OF SignerInfo }
/// ```
/// (RFC 5652 §5.1.)
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SignedData<'a> {
    /// 1.
    pub version: u8,
    /// The digest algorithms of the signers.
    pub digest_algorithms: SetOfVec<AlgorithmIdentifier<AnyRef<'a>>>,
    /// What is signed.
    pub encap_content_info: EncapsulatedContentInfo<'a>,
    /// Certificates, sorted by encoding.
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub certificates: Option<SetOfVec<AnyRef<'a>>>,
    /// Revocation information (never written).
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub crls: Option<SetOfVec<AnyRef<'a>>>,
    /// The signers (one in Authenticode).
    pub signer_infos: SetOfVec<SignerInfo<'a>>,
}

/// ```text
/// SignerInfo ::= SEQUENCE {
///     version             CMSVersion,                -- 1: sid is issuerAndSerialNumber
///     sid                 SignerIdentifier,
///     digestAlgorithm     DigestAlgorithmIdentifier,
///     signedAttrs         [0] IMPLICIT SignedAttributes OPTIONAL,
///     signatureAlgorithm  SignatureAlgorithmIdentifier,
///     signature           SignatureValue,
///     unsignedAttrs       [1] IMPLICIT UnsignedAttributes OPTIONAL }
/// ```
/// (RFC 5652 §5.3.) The attributes are written as given (already a sorted SET OF).
#[derive(Clone, Debug, PartialEq, Eq, Sequence, der::ValueOrd)]
pub struct SignerInfo<'a> {
    /// 1.
    pub version: u8,
    /// `IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER }`.
    pub sid: AnyRef<'a>,
    /// The digest of the signed attributes (and of the content).
    pub digest_algorithm: AlgorithmIdentifier<AnyRef<'a>>,
    /// The signed attributes.
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub signed_attrs: Option<SetOfVec<AnyRef<'a>>>,
    /// rsaEncryption, or ecdsa-with-SHAx.
    pub signature_algorithm: AnyRef<'a>,
    /// The signature over the signed attributes.
    pub signature: &'a OctetStringRef,
    /// Timestamps and nested signatures.
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub unsigned_attrs: Option<SetOfVec<AnyRef<'a>>>,
}
