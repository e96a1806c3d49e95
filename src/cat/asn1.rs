//! The catalog's ASN.1, declared as `der` types: the certificate trust list (CTL) a catalog
//! signs, its members and their attributes. The structures are Microsoft's, documented in
//! [MS-CAESO] (the CTL) and `mscat.h` (CRYPTCATMEMBER, CAT_NAMEVALUE, CAT_MEMBERINFO); the
//! encodings below are the ones makecat and Windows write (checked byte for byte against
//! makecat's output in the tests).
//!
//! Sequences of unbounded length (the members, the catalog attributes, a member's attributes)
//! are declared as [`RawSequenceOf`] and [`RawSetOf`], kept as encoded and walked by the parser
//! with a bound on their count; every element is then decoded with the types here.
//!
//! [MS-CAESO]: https://learn.microsoft.com/en-us/openspecs/windows_protocols/ms-caeso/

use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, BmpString, IntRef, Null, OctetStringRef};
use der::{
    Choice, DecodeValue, EncodeValue, FixedTag, Header, Length, Reader, Sequence, Tag, Writer,
};
use spki::AlgorithmIdentifier;
use x509_cert::time::Time;

/// ```text
/// CertificateTrustList ::= SEQUENCE {
///     version           CTLVersion DEFAULT v1,          -- INTEGER { v1(0) }
///     subjectUsage      SubjectUsage,                   -- SEQUENCE OF OBJECT IDENTIFIER
///     listIdentifier    ListIdentifier OPTIONAL,        -- OCTET STRING
///     sequenceNumber    HUGEINTEGER OPTIONAL,
///     ctlThisUpdate     ChoiceOfTime,
///     ctlNextUpdate     ChoiceOfTime OPTIONAL,
///     subjectAlgorithm  AlgorithmIdentifier,
///     trustedSubjects   TrustedSubjects OPTIONAL,       -- SEQUENCE OF TrustedSubject
///     ctlExtensions     [0] EXPLICIT Extensions OPTIONAL }
/// ```
/// ([MS-CAESO] 2.2.2, Certificate Trust List.) A catalog has the subject usage
/// szOID_CATALOG_LIST (1.3.6.1.4.1.311.12.1.1), the subject algorithm
/// szOID_CATALOG_LIST_MEMBER (version 1) or szOID_CATALOG_LIST_MEMBER2 (version 2) with NULL
/// parameters, a 16-byte list identifier (a GUID) and a UTCTime; makecat writes no version,
/// sequence number or next update. Its extensions are the catalog's name/value attributes.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CertificateTrustList<'a> {
    /// CTLVersion; absent means v1 (0).
    pub version: Option<u32>,
    /// SubjectUsage (`SEQUENCE OF OBJECT IDENTIFIER`).
    pub subject_usage: RawSequenceOf<'a>,
    /// ListIdentifier.
    pub list_identifier: Option<&'a OctetStringRef>,
    /// sequenceNumber.
    pub sequence_number: Option<IntRef<'a>>,
    /// ctlThisUpdate: when the list was made.
    pub this_update: Time,
    /// ctlNextUpdate.
    pub next_update: Option<Time>,
    /// subjectAlgorithm: which hashes identify the subjects (for catalogs, the version).
    pub subject_algorithm: AlgorithmIdentifier<AnyRef<'a>>,
    /// TrustedSubjects (`SEQUENCE OF TrustedSubject`): the members.
    pub trusted_subjects: Option<RawSequenceOf<'a>>,
    /// Extensions (`SEQUENCE OF Extension`): the catalog's attributes.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub extensions: Option<RawSequenceOf<'a>>,
}

/// ```text
/// TrustedSubject ::= SEQUENCE {
///     subjectIdentifier  SubjectIdentifier,             -- OCTET STRING
///     subjectAttributes  Attributes OPTIONAL }          -- SET OF Attribute
/// ```
/// ([MS-CAESO] 2.2.2.) For a catalog member, the identifier is its tag: the file's hash
/// (raw bytes in a version 2 catalog; in version 1, the hash in upper-case hex as UTF-16LE
/// with a terminating NUL). The attributes are a DER SET OF (sorted by encoding).
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct TrustedSubject<'a> {
    /// SubjectIdentifier: the member's tag.
    pub subject_identifier: &'a OctetStringRef,
    /// The member's attributes (`SET OF Attribute`).
    pub subject_attributes: Option<RawSetOf<'a>>,
}

/// ```text
/// Extension ::= SEQUENCE {
///     extnID     OBJECT IDENTIFIER,
///     critical   BOOLEAN DEFAULT FALSE,
///     extnValue  OCTET STRING }
/// ```
/// (RFC 5280 §4.1.) A catalog attribute is an extension with extnID CAT_NAMEVALUE_OBJID
/// (1.3.6.1.4.1.311.12.2.1) whose value is the DER of a [`CatNameValue`].
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct Extension<'a> {
    /// extnID.
    pub extn_id: ObjectIdentifier,
    /// critical (absent when FALSE, as DER requires).
    pub critical: Option<bool>,
    /// extnValue.
    pub extn_value: &'a OctetStringRef,
}

/// ```text
/// CAT_NAMEVALUE ::= SEQUENCE {
///     tag     BMPString,
///     flags   INTEGER,
///     value   OCTET STRING }
/// ```
/// (`mscat.h` CRYPTCATATTRIBUTE: `pwszReferenceTag`, `dwAttrTypeAndAction`, `pbValue`.) The
/// name/value attribute of a member (attribute CAT_NAMEVALUE_OBJID) or of the catalog (an
/// [`Extension`]). With CRYPTCAT_ATTR_DATAASCII the value is UTF-16LE text ending in a NUL;
/// with CRYPTCAT_ATTR_DATABASE64, the decoded bytes.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CatNameValue<'a> {
    /// The name (`File`, `OSAttr`...).
    pub tag: BmpString,
    /// CRYPTCAT_ATTR_* flags.
    pub flags: u32,
    /// The value.
    pub value: &'a OctetStringRef,
}

/// ```text
/// CAT_MEMBERINFO ::= SEQUENCE {
///     subjectGuid  BMPString,       -- "{C689AAB8-8E78-11D0-8C47-00C04FC295EE}", no NUL
///     certVersion  INTEGER }        -- 0x200
/// ```
/// (`mscat.h` CAT_MEMBERINFO.) A version 1 member's SIP, as a GUID in text.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CatMemberInfo {
    /// The SIP GUID in braces, upper case.
    pub subject_guid: BmpString,
    /// The certificate version (makecat and libwdi write 0x200).
    pub cert_version: u32,
}

/// ```text
/// CAT_MEMBERINFO2 ::= CHOICE {
///     pe    [0] IMPLICIT NULL,      -- 80 00
///     cab   [1] IMPLICIT NULL,      -- 81 00
///     flat  [2] IMPLICIT NULL }     -- 82 00
/// ```
/// A version 2 member's SIP. `mscat.h` declares CAT_MEMBERINFO2 as `{ GUID SubjectGuid; DWORD
/// dwCertVersion; }`, but every catalog seen (makecat's, Microsoft's own) encodes only which
/// of the three catalog SIPs hashed the file, as an empty context tag (signify reads it so
/// too). Other encodings are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Choice)]
pub enum CatMemberInfo2 {
    /// A PE image.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Pe(Null),
    /// A cabinet.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT")]
    Cab(Null),
    /// Any other file, hashed flat.
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Flat(Null),
}

/// A `SEQUENCE OF` kept as encoded: its contents octets (the elements' encodings, one after
/// the other).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawSequenceOf<'a>(pub &'a [u8]);

/// A `SET OF` kept as encoded: its contents octets (already sorted when written by authsign).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawSetOf<'a>(pub &'a [u8]);

macro_rules! raw_collection {
    ($name:ident, $tag:expr) => {
        impl FixedTag for $name<'_> {
            const TAG: Tag = $tag;
        }

        impl<'a> DecodeValue<'a> for $name<'a> {
            type Error = der::Error;

            fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
                reader.read_slice(header.length()).map($name)
            }
        }

        impl EncodeValue for $name<'_> {
            fn value_len(&self) -> der::Result<Length> {
                Length::try_from(self.0.len())
            }

            fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
                writer.write(self.0)
            }
        }
    };
}

raw_collection!(RawSequenceOf, Tag::Sequence);
raw_collection!(RawSetOf, Tag::Set);
