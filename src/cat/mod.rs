//! Windows catalogs (`.cat`): signed lists of file hashes. Drivers, Windows components and
//! many installers are not signed inside each file; a catalog lists them by hash and carries
//! one signature for all.
//!
//! A catalog file is a PKCS#7 ContentInfo whose SignedData encapsulates a certificate trust
//! list (content type szOID_CTL, 1.3.6.1.4.1.311.10.1) with the subject usage
//! szOID_CATALOG_LIST (1.3.6.1.4.1.311.12.1.1). Each member ("catalog entry") is a tag and
//! attributes: which SIP hashed the file (PE, cabinet or flat), an SpcIndirectDataContent
//! holding its digest, and name/value attributes such as `File` and `OSAttr`. The catalog
//! itself has name/value attributes too (the ASN.1 structures are in `src/cat/asn1.rs`); see
//! [`CatalogBuilder`] for what version 1 (SHA-1) and version 2 (SHA-256) catalogs hold.
//!
//! - [`CatSubject`] is the catalog as a [`Subject`](crate::Subject): signed, timestamped,
//!   verified, its signature extracted or removed through the same calls as any file. Its
//!   signature signs the list itself (not an SpcIndirectDataContent), so
//!   `Subject::content_type` is szOID_CTL and the list is kept byte for byte.
//! - [`Catalog`] is what it lists; [`Catalog::find`] finds a file's member by its digests.
//!   `Verifier::verify_with_catalog` (in `verify`) verifies files through a catalog, hashing
//!   each like Windows does (`Subject::catalog_digest`).
//! - [`CatalogBuilder`] creates catalogs like makecat (`add_file` hashes a file with the SIP
//!   Windows would use).
//!
//! ```
//! use authsign::cat::{CatSubject, CatalogBuilder, CatalogVersion, MemberKind, NewMember};
//! use authsign::DigestAlgorithm;
//! # fn main() -> authsign::Result<()> {
//! let text = b"any file: listed by the hash of its bytes";
//! let (sha1, sha256) = (DigestAlgorithm::Sha1.digest(text), DigestAlgorithm::Sha256.digest(text));
//! let mut builder = CatalogBuilder::new(CatalogVersion::V2);
//! builder.add_member(NewMember::new(MemberKind::Flat, sha1, sha256.clone()).with_file_name("a.txt"));
//! let catalog = CatSubject::from_der(builder.build()?)?;
//! // A version 2 catalog lists each file twice: by SHA-256 and by SHA-1.
//! assert_eq!(catalog.catalog().members.len(), 2);
//! let found = catalog.catalog().find(&[(DigestAlgorithm::Sha256, sha256)]).unwrap();
//! assert_eq!(found.member.file_name().as_deref(), Some("a.txt"));
//! # Ok(()) }
//! ```

mod asn1;
mod builder;
mod lookup;
mod member;
mod parse;
mod subject;

pub use builder::{CatalogBuilder, NewMember};
pub use lookup::{MatchedBy, MemberMatch};
pub use member::{
    flags, Catalog, CatalogVersion, Member, MemberInfo, MemberKind, NameValue, RawAttribute,
};
pub use parse::{
    recognizes, MAX_ATTRIBUTE_VALUES, MAX_CATALOG_ATTRIBUTES, MAX_CATALOG_SIZE, MAX_MEMBERS,
    MAX_MEMBER_ATTRIBUTES, MAX_SUBJECT_USAGES, MAX_TAG_SIZE,
};
pub use subject::CatSubject;
