//! authsign: Authenticode signing and verification in pure Rust.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cms;
pub mod digest;
pub mod error;
pub mod input;
pub mod pe;
pub mod sign;
pub mod signer;
pub mod subject;
pub mod verify;

pub use cms::Profile;
pub use digest::DigestAlgorithm;
pub use error::{Error, Format, Result};
pub use input::{FileInput, Input};
pub use sign::{prepare, sign, sign_file, PendingSignature, SignOptions};
pub use signer::{SignatureAlgorithm, Signer};
pub use subject::{open, Subject, SubjectOptions};
