//! [`KeySource`]: where a signing key is, as a command line or a configuration names it, and
//! how to open a [`Signer`] for it. The `sign` example and `authsign-server` take the same key
//! flags through it.

use std::path::PathBuf;

use x509_cert::Certificate;

use super::{Secret, Signer};
use crate::error::{Error, Result};

/// Where the private key is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeySource {
    /// A PEM private key file and its certificate chain (PEM files, leaf first).
    Pem {
        /// The key file (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
        /// Certificate files, leaf first.
        certificates: Vec<PathBuf>,
    },
    /// A PKCS#12 (.pfx/.p12) file holding the key and its chain (feature `pkcs12`).
    Pkcs12 {
        /// The file.
        path: PathBuf,
        /// Its password (`None`: the empty password).
        password: Option<Secret>,
    },
    /// A key in a PKCS#11 token or HSM (feature `pkcs11`).
    #[cfg(feature = "pkcs11")]
    Pkcs11(super::Pkcs11Options),
    /// A key in AWS KMS (feature `aws-kms`).
    #[cfg(feature = "aws-kms")]
    AwsKms(super::aws_kms::AwsKmsOptions),
    /// A key in Azure Key Vault (feature `azure`).
    #[cfg(feature = "azure")]
    AzureKeyVault(super::azure::KeyVaultOptions),
    /// An Azure Artifact Signing (Trusted Signing) certificate profile (feature `azure`).
    #[cfg(feature = "azure")]
    ArtifactSigning(super::azure::ArtifactSigningOptions),
    /// A key in Google Cloud KMS (feature `gcp-kms`).
    #[cfg(feature = "gcp-kms")]
    GcpKms(super::gcp_kms::GcpKmsOptions),
}

impl KeySource {
    /// Open a signer for the key (cloud signers contact their service now, to check the key
    /// and its certificate). PKCS#11 signers are wrapped so that several threads can use
    /// them ([`super::Serialized`]).
    pub fn open(&self) -> Result<Box<dyn Signer + Send + Sync>> {
        match self {
            #[cfg(feature = "local-keys")]
            KeySource::Pem { key, certificates } => {
                if certificates.is_empty() {
                    return Err(Error::InvalidArgument(
                        "a PEM key needs its certificate chain".into(),
                    ));
                }
                Ok(Box::new(super::LocalSigner::from_files(key, certificates)?))
            }
            #[cfg(not(feature = "local-keys"))]
            KeySource::Pem { .. } => Err(Error::Unsupported(
                "PEM keys need the `local-keys` feature".into(),
            )),
            #[cfg(feature = "pkcs12")]
            KeySource::Pkcs12 { path, password } => {
                let password = password.as_ref().map_or("", |p| p.expose());
                Ok(Box::new(super::LocalSigner::from_pkcs12_file(
                    path, password,
                )?))
            }
            #[cfg(not(feature = "pkcs12"))]
            KeySource::Pkcs12 { .. } => Err(Error::Unsupported(
                "PKCS#12 files need the `pkcs12` feature".into(),
            )),
            #[cfg(feature = "pkcs11")]
            KeySource::Pkcs11(options) => Ok(Box::new(super::Serialized::new(
                super::Pkcs11Signer::open(options.clone())?,
            ))),
            #[cfg(feature = "aws-kms")]
            KeySource::AwsKms(options) => Ok(Box::new(super::aws_kms::AwsKmsSigner::open(
                options.clone(),
            )?)),
            #[cfg(feature = "azure")]
            KeySource::AzureKeyVault(options) => Ok(Box::new(super::azure::KeyVaultSigner::open(
                options.clone(),
            )?)),
            #[cfg(feature = "azure")]
            KeySource::ArtifactSigning(options) => Ok(Box::new(
                super::azure::ArtifactSigningSigner::open(options.clone())?,
            )),
            #[cfg(feature = "gcp-kms")]
            KeySource::GcpKms(options) => Ok(Box::new(super::gcp_kms::GcpKmsSigner::open(
                options.clone(),
            )?)),
        }
    }
}

/// The certificates of the PEM or DER files `paths`, in order.
pub fn certificates_from_files(paths: &[PathBuf]) -> Result<Vec<Certificate>> {
    let mut out = Vec::new();
    for p in paths {
        let bytes = std::fs::read(p).map_err(|e| Error::at(p, e))?;
        out.extend(crate::certs::certificates_from_bytes(&bytes)?);
    }
    Ok(out)
}
