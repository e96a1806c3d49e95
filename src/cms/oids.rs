//! Object identifiers used by Authenticode and CMS.

use const_oid::ObjectIdentifier as Oid;

/// PKCS#7 signedData (1.2.840.113549.1.7.2).
pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
/// PKCS#7 data (1.2.840.113549.1.7.1).
pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
/// SPC_INDIRECT_DATA_OBJID: the content type of an Authenticode signature.
pub const SPC_INDIRECT_DATA: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.2.1.4");
/// SPC_PE_IMAGE_DATAOBJ: SpcAttributeTypeAndOptionalValue type for PE files.
pub const SPC_PE_IMAGE_DATA: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.2.1.15");
/// SPC_CAB_DATA_OBJID: SpcAttributeTypeAndOptionalValue type for cabinets.
pub const SPC_CAB_DATA: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.2.1.25");
/// SPC_SIPINFO_OBJID: SpcAttributeTypeAndOptionalValue type for MSI and other SIPs.
pub const SPC_SIPINFO: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.2.1.30");
/// SPC_SP_OPUS_INFO_OBJID: program name and URL signed attribute.
pub const SPC_SP_OPUS_INFO: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.2.1.12");
/// SPC_STATEMENT_TYPE_OBJID: statement type signed attribute.
pub const SPC_STATEMENT_TYPE: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.2.1.11");
/// SPC_INDIVIDUAL_SP_KEY_PURPOSE_OBJID: individual code signing.
pub const SPC_INDIVIDUAL_SP_KEY_PURPOSE: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.2.1.21");
/// SPC_COMMERCIAL_SP_KEY_PURPOSE_OBJID: commercial code signing.
pub const SPC_COMMERCIAL_SP_KEY_PURPOSE: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.2.1.22");
/// Nested signature unsigned attribute (szOID_NESTED_SIGNATURE).
pub const SPC_NESTED_SIGNATURE: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.2.4.1");
/// RFC 3161 timestamp token unsigned attribute (szOID_RFC3161_counterSign).
pub const SPC_RFC3161_TIMESTAMP: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.3.3.1");
/// PKCS#9 contentType attribute.
pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
/// PKCS#9 messageDigest attribute.
pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
/// PKCS#9 signingTime attribute.
pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
/// PKCS#9 countersignature attribute (legacy Authenticode timestamps).
pub const COUNTER_SIGNATURE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.6");
/// rsaEncryption, the signature algorithm Authenticode SignerInfos name for RSA.
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
/// ecdsa-with-SHA1.
pub const ECDSA_WITH_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
/// ecdsa-with-SHA256.
pub const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
/// ecdsa-with-SHA384.
pub const ECDSA_WITH_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
/// ecdsa-with-SHA512.
pub const ECDSA_WITH_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
/// SPC_PE_IMAGE_PAGE_HASHES_V1: SHA-1 page-hash table.
pub const SPC_PE_IMAGE_PAGE_HASHES_V1: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.2.3.1");
/// SPC_PE_IMAGE_PAGE_HASHES_V2: SHA-256 page-hash table.
pub const SPC_PE_IMAGE_PAGE_HASHES_V2: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.2.3.2");
/// PKCS#9 sequenceNumber: the position of a nested signature (signtool /as, osslsigncode -nest).
pub const SEQUENCE_NUMBER: Oid = Oid::new_unwrap("1.2.840.113549.1.9.25.4");
/// szOID_CTL: the content type of a certificate trust list, and so of a catalog's signature.
pub const CTL: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.10.1");
/// szOID_CATALOG_LIST: the subject usage that makes a certificate trust list a catalog.
pub const CATALOG_LIST: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.12.1.1");
/// szOID_CATALOG_LIST_MEMBER: subject algorithm of a version 1 catalog (SHA-1 members).
pub const CATALOG_LIST_MEMBER: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.12.1.2");
/// szOID_CATALOG_LIST_MEMBER2: subject algorithm of a version 2 catalog (SHA-256 members).
pub const CATALOG_LIST_MEMBER2: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.12.1.3");
/// CAT_NAMEVALUE_OBJID: a name/value attribute of a catalog or of a member.
pub const CAT_NAMEVALUE: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.12.2.1");
/// CAT_MEMBERINFO_OBJID: a version 1 member's SIP GUID and certificate version.
pub const CAT_MEMBERINFO: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.12.2.2");
/// CAT_MEMBERINFO2_OBJID: a version 2 member's SIP (PE, cabinet or flat).
pub const CAT_MEMBERINFO2: Oid = Oid::new_unwrap("1.3.6.1.4.1.311.12.2.3");
