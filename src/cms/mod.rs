//! Authenticode ASN.1: SpcIndirectDataContent and friends, SignedData building and parsing.
