//! Signing through a signing service (`authsign-server`): [`RemoteSigner`] sends a file's
//! SpcIndirectDataContent over HTTPS and gets back the signatures, which the file functions
//! nest and embed here, so the file never leaves the client and the server knows exactly
//! what it signs. [`protocol`] defines the exchange.
//!
//! It is a [`RequestSigner`], not a [`Signer`](crate::Signer): the server builds the signed
//! attributes and the SignedData itself (its key's chain, its timestamp servers), so it is
//! used with [`sign_file_with`](crate::sign::sign_file_with),
//! [`sign_file_to_with`](crate::sign::sign_file_to_with) and
//! [`sign_batch_with`](crate::sign::sign_batch_with):
//!
//! ```no_run
//! # #[cfg(feature = "remote")] {
//! use authsign::remote::RemoteSigner;
//! use authsign::signer::Secret;
//! use authsign::SignOptions;
//!
//! let server = RemoteSigner::new("https://sign.example.com:8443", Secret::from_env("SIGN_TOKEN")?)
//!     .with_ca_file("signing-ca.pem")?;
//! authsign::sign::sign_file_with("app.exe", &server, &SignOptions::new())?;
//! # }
//! # Ok::<(), authsign::Error>(())
//! ```
//! Every returned signature is checked before it is used: it must sign exactly the
//! SpcIndirectDataContent that was sent, and its signature must verify with its certificate.
//! Transient failures (connection errors, timeouts, HTTP 408, 429 and 5xx) are retried with
//! exponential back-off, like the timestamp client.

pub mod protocol;

#[cfg(feature = "remote")]
mod client;
#[cfg(feature = "remote")]
pub use client::RemoteSigner;

#[allow(unused_imports)] // the module documentation's links
use crate::sign::RequestSigner;
