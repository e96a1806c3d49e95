//! # authsign
//!
//! Authenticode signing and verification in pure Rust, for PE files (`.exe`, `.dll`, `.sys`,
//! `.efi`), cabinets (`.cab`) and Windows Installer packages (`.msi`). See the [`manual`] for
//! how Authenticode works and how authsign proves it matches signtool and osslsigncode.
//!
//! The pieces mirror Windows' own design:
//! - a [`Subject`] per file format (the SIP): recognise the file, compute its Authenticode
//!   digest, describe it in SpcIndirectDataContent, read, embed and remove signatures;
//! - a [`Signer`] that holds the key and signs digests, knowing nothing of file formats;
//! - [`cms`], which builds and parses the PKCS#7 SignedData, knowing nothing of files or keys;
//! - [`verify::Verifier`], which checks every signature and returns a [`verify::Report`].
//!
//! ```
//! use authsign::signer::LocalSigner;
//! use authsign::verify::{Policy, Verifier};
//! use authsign::SignOptions;
//!
//! # fn main() -> authsign::Result<()> {
//! let pki = "tests/fixtures/pki";
//! let signer = LocalSigner::from_files(format!("{pki}/leaf-rsa.key"), &[format!("{pki}/leaf-rsa-chain.pem")])?;
//! let exe = std::fs::read("tests/fixtures/pe/hello64.exe")?;
//! let subject = authsign::open(&exe)?;
//! let pkcs7 = authsign::sign(subject.as_ref(), &signer, &SignOptions::default())?;
//! let mut signed = Vec::new();
//! subject.with_signature(&pkcs7, &mut signed)?;
//!
//! let anchors = authsign::certificates_from_pem(&std::fs::read(format!("{pki}/root.pem"))?)?;
//! let report = Verifier::new(Policy::with_trusted(anchors)).verify(authsign::open(&signed)?.as_ref())?;
//! assert!(report.is_valid());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]
// No panics by construction in library code: input never reaches an unwrap, an expect, a
// panic or an unchecked index (tests may use them).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod cab;
mod certs;
pub mod cms;
pub mod crypto;
pub mod digest;
pub mod error;
pub mod input;
mod le;
pub mod manual;
pub mod msi;
mod open;
mod output;
pub mod patch;
pub mod pe;
pub mod sign;
pub mod signer;
pub mod subject;
pub mod time;
pub mod timestamp;
pub mod verify;

pub use certs::{certificates_from_bytes, certificates_from_pem};
pub use cms::Profile;
/// The OID crate whose `ObjectIdentifier` appears in the [`cms`] types, re-exported.
pub use const_oid;
pub use digest::DigestAlgorithm;
pub use error::{Error, Format, Result};
pub use input::{FileInput, Input};
pub use open::{open, open_path, open_with_extension, register_format, FormatHandler, HEAD_LEN};
pub use sign::{
    sign, sign_batch, sign_file, sign_file_to, BatchItem, PendingSignature, SignOptions,
    TimestampOptions,
};
pub use signer::{SignatureAlgorithm, Signer};
pub use subject::{Subject, SubjectOptions};
/// The X.509 crate whose `Certificate` appears in this API (signer chains, trust anchors),
/// re-exported so callers use the same version.
pub use x509_cert;
/// An X.509 certificate (from [`x509_cert`]).
pub use x509_cert::Certificate;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
