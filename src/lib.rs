//! # authsign
//!
//! Authenticode signing and verification in pure Rust, for PE files (`.exe`, `.dll`, `.sys`,
//! `.efi`), cabinets (`.cab`), Windows Installer packages (`.msi`), scripts (PowerShell,
//! JScript, VBScript, WSF: see [`script`]), app packages (`.appx`, `.msix`, `.appxbundle`,
//! `.msixbundle`: see [`appx`]) and catalogs (`.cat`: see [`cat`]), through which any file
//! can be verified. See the [`manual`] for how Authenticode works and how authsign proves it
//! matches signtool and osslsigncode.
//!
//! Sign a file with an RFC 3161 timestamp, then verify it (the `http` feature brings the
//! timestamp client; `tests/front_page.rs` runs this against a local TSA):
//!
//! ```no_run
//! # fn main() -> authsign::Result<()> {
//! # #[cfg(feature = "http")] {
//! use authsign::verify::{Policy, Verifier};
//! use authsign::{signer::LocalSigner, SignOptions, TimestampOptions};
//!
//! let signer = LocalSigner::from_files("key.pem", &["chain.pem"])?;
//! let opts = SignOptions::new()
//!     .with_timestamp(TimestampOptions::rfc3161_urls(["http://timestamp.example.com"]));
//! authsign::sign_file_to("app.exe", "app-signed.exe", &signer, &opts)?;
//!
//! let roots = authsign::certificates_from_pem(&std::fs::read("root.pem")?)?;
//! let report = Verifier::new(Policy::windows().trusting(roots)).verify_path("app-signed.exe")?;
//! assert!(report.is_valid());
//! # }
//! # Ok(()) }
//! ```
//!
//! # How it is built
//!
//! The pieces mirror Windows' own design, in layers that each import only those below
//! (the manual's architecture chapter draws them):
//! - a [`Subject`] per file format (the SIP): digest the file, describe it in
//!   SpcIndirectDataContent, read, embed and remove signatures; [`open`] picks one, and
//!   [`register_format`] adds formats implemented outside the crate;
//! - a [`Signer`] that holds the key and signs digests, knowing nothing of file formats;
//! - [`cms`], the Authenticode ASN.1, knowing nothing of files or keys;
//! - [`timestamp`], the timestamp client;
//! - [`verify::Verifier`], which checks every signature under a [`verify::Policy`] and returns
//!   a [`verify::Report`];
//! - [`sign`](mod@sign), which orchestrates signing files.
//!
//! # Public modules, and why
//!
//! | module | for |
//! |---|---|
//! | [`sign`](mod@sign) | signing files and subjects: options, timestamps, nesting, batches, two-phase signing |
//! | [`verify`] | verifying: the verifier, its policy, the typed report and reason codes |
//! | [`signer`] | the [`Signer`] trait and the key sources (PEM, PKCS#12, PKCS#11, AWS KMS, Azure, Google Cloud KMS) |
//! | `remote` | the signing-service protocol, and its client (`RemoteSigner`, feature `remote`) |
//! | [`timestamp`] | the [`timestamp::Timestamper`] trait and the HTTP client, for signing with timestamps |
//! | [`subject`] | the [`Subject`] trait, to use a format directly or implement one |
//! | [`input`] | the [`Input`] trait subjects read through (files, memory) |
//! | [`patch`] | in-place updates, for subjects that support them |
//! | [`cms`] | reading signatures (SignedData, SignerInfo) and building SpcIndirectDataContent for new subjects |
//! | [`pe`], [`cab`], [`msi`], [`appx`] | each format's subject and what it parses (headers, reserves, storages, ZIP records and package parts) |
//! | [`cat`] | catalogs: the catalog subject, what a catalog lists, creating catalogs |
//! | [`digest`] | digest algorithms and incremental hashers |
//! | [`error`] | the typed errors |
//! | [`time`] | RFC 3339 times, as the reports and command lines write them |
//! | [`manual`] | documentation only |
//!
//! Modules and items marked hidden in the source are building blocks kept public for the
//! integration tests and fuzz targets; they are not part of the supported API.
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

pub mod appx;
pub mod cab;
pub mod cat;
mod certs;
pub mod cms;
#[doc(hidden)] // the crypto toolbox; its user-facing items are re-exported where they are used
pub mod crypto;
#[doc(hidden)] // zlib-identical raw deflate for APPX parts; public for its oracle test
pub mod deflate;
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
#[cfg(feature = "serde")]
pub mod remote;
pub mod script;
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
pub use error::{Error, Format, Result, ScriptLanguage};
pub use input::{FileInput, Input};
pub use open::{
    catalog_digests, catalog_member, open, open_path, open_with_extension, register_format,
    FormatHandler, HEAD_LEN,
};
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
