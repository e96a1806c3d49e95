//! The crate's error type: one `#[non_exhaustive]` [`Error`] whose variants wrap precise,
//! matchable sub-errors that say what went wrong and where.

use std::fmt;

/// The file format an error or a subject refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// A Portable Executable: EXE, DLL, SYS, EFI (PE32 or PE32+).
    Pe,
    /// A Microsoft cabinet.
    Cab,
    /// A Windows Installer database (OLE compound file).
    Msi,
    /// A CMS / PKCS#7 structure (the signature itself).
    Cms,
    /// An X.509 certificate.
    Certificate,
    /// A private key or certificate file in PEM form.
    Pem,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Pe => "PE",
            Format::Cab => "CAB",
            Format::Msi => "MSI",
            Format::Cms => "PKCS#7",
            Format::Certificate => "X.509 certificate",
            Format::Pem => "PEM",
        })
    }
}

/// Input that does not follow its format: which format, where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {format} at offset {offset:#x}: {what}")]
pub struct MalformedError {
    /// The format being parsed.
    pub format: Format,
    /// Byte offset (in the file, or in the DER blob for [`Format::Cms`]) where parsing failed.
    pub offset: u64,
    /// What was found or expected.
    pub what: String,
}

/// A cryptographic operation failed or was given unusable material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A private or public key could not be parsed or used.
    #[error("bad key: {0}")]
    Key(String),
    /// The certificate's public key does not match the private key.
    #[error("the private key does not match the signer certificate")]
    KeyCertificateMismatch,
    /// An algorithm (OID or combination) is not supported.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// A signature value could not be produced.
    #[error("signing failed: {0}")]
    Sign(String),
    /// A PIN or password was rejected (wrong PIN, locked PIN, wrong PKCS#12 password).
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The requested key is not in the key store; `available` names the keys that are.
    #[error("key {wanted} not found; available keys: {}", list_or_none(available))]
    KeyNotFound {
        /// How the key was asked for (e.g. `label "signing"`).
        wanted: String,
        /// The labels (or ids) of the keys that exist.
        available: Vec<String>,
    },
    /// The private key is of another type than the signer certificate's public key.
    #[error("the private key is {key} but the signer certificate holds {certificate}")]
    KeyTypeMismatch {
        /// The private key's type (e.g. `RSA`, `EC P-256`).
        key: String,
        /// The certificate's public key type.
        certificate: String,
    },
    /// A PKCS#11 module or token could not be used (load failure, token not found).
    #[error("PKCS#11: {0}")]
    Token(String),
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// What the verifier found wrong with a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The file has no embedded signature.
    #[error("the file is not signed")]
    NotSigned,
    /// The digest of the file does not match the one in the signature.
    #[error("file digest mismatch: signed {signed}, computed {computed}")]
    DigestMismatch {
        /// Hex digest stored in SpcIndirectDataContent.
        signed: String,
        /// Hex digest computed over the file.
        computed: String,
    },
    /// Any other verification failure, with a reason.
    #[error("{0}")]
    Other(String),
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not valid for its format.
    #[error(transparent)]
    Malformed(#[from] MalformedError),
    /// The input is valid but uses something this crate does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A cryptographic operation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The [`Signer`](crate::Signer) failed to produce a signature.
    #[error("signer: {0}")]
    Signer(String),
    /// Verification failed.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Reading or writing a file failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// A [`Error::Malformed`] for `format` at `offset`.
    pub fn malformed(format: Format, offset: u64, what: impl Into<String>) -> Self {
        Error::Malformed(MalformedError {
            format,
            offset,
            what: what.into(),
        })
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
