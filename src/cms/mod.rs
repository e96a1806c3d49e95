//! Authenticode ASN.1: SpcIndirectDataContent and friends, signed attributes, and SignedData
//! building and parsing. This module knows DER and nothing of files or keys.

pub mod asn1;
pub mod attributes;
pub mod edit;
pub mod generic;
pub mod oids;
pub mod signed_data;
pub mod spc;
pub mod tlv;

pub use attributes::{AttributeOptions, Profile};
pub use signed_data::{SignedData, SignerInfo};
pub use spc::IndirectData;
