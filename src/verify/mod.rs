//! Verification.
pub mod crypto;
