//! Authenticode ASN.1: SpcIndirectDataContent and friends, SignedData building and parsing.
//! This module knows DER and nothing of files or keys.

pub mod spc;
