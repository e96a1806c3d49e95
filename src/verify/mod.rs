//! Verification.
pub mod chain;
pub mod crypto;
