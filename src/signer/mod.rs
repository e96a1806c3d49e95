//! [`Signer`]: the one place private keys live. A signer is handed the digest of the signed
//! attributes and returns a signature, so local keys, HSMs, cloud KMS and remote signing
//! servers all plug in the same way. Signers know nothing of file formats.

use x509_cert::Certificate;

use crate::digest::DigestAlgorithm;
use crate::error::Result;

/// The public-key signature scheme a [`Signer`] produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// RSA PKCS#1 v1.5 (the signature is the raw RSA block, as long as the modulus).
    RsaPkcs1v15,
    /// ECDSA on P-256; the signature is DER `Ecdsa-Sig-Value`.
    EcdsaP256,
    /// ECDSA on P-384; the signature is DER `Ecdsa-Sig-Value`.
    EcdsaP384,
}

/// Produces signatures over digests with a key held somewhere else.
pub trait Signer {
    /// The signer's certificate chain: the leaf (whose key signs) first, then its issuers.
    fn certificates(&self) -> &[Certificate];

    /// The signature scheme of the key.
    fn algorithm(&self) -> SignatureAlgorithm;

    /// Sign `digest`, the `alg` digest of the data to sign (the DER signed attributes).
    /// RSA signers wrap it in a DigestInfo and apply PKCS#1 v1.5 padding; ECDSA signers return
    /// a DER `Ecdsa-Sig-Value`.
    fn sign_digest(&self, alg: DigestAlgorithm, digest: &[u8]) -> Result<Vec<u8>>;

    /// Sign `message` (the DER signed attributes), whose `alg` digest `digest` is already
    /// computed. Signing a file goes through this method. The default signs `digest`; a
    /// signer whose key must hash on its device overrides it (a PKCS#11 key that asks for
    /// the PIN before every signature can only be used with the token's hash-and-sign
    /// mechanisms).
    fn sign_message(&self, alg: DigestAlgorithm, message: &[u8], digest: &[u8]) -> Result<Vec<u8>> {
        let _ = message;
        self.sign_digest(alg, digest)
    }
}

#[cfg(feature = "local-keys")]
pub mod local;
#[cfg(feature = "local-keys")]
pub use local::LocalSigner;

/// Refuse a digest whose length is not `alg`'s, or of an algorithm authsign never signs with
/// (MD5), before a key or token is asked to sign it.
#[cfg(any(
    feature = "local-keys",
    feature = "pkcs11",
    feature = "aws-kms",
    feature = "azure",
    feature = "gcp-kms"
))]
pub(crate) fn check_digest_length(alg: DigestAlgorithm, digest: &[u8]) -> Result<()> {
    if !alg.can_sign() {
        return Err(crate::error::CryptoError::UnsupportedAlgorithm(format!(
            "{alg} is accepted for verification only"
        ))
        .into());
    }
    if digest.len() != alg.output_size() {
        return Err(crate::error::CryptoError::Sign(format!(
            "{alg} digest must be {} bytes, got {}",
            alg.output_size(),
            digest.len()
        ))
        .into());
    }
    Ok(())
}

impl SignatureAlgorithm {
    /// The scheme a key must sign with to match `certificate`'s public key.
    pub fn for_certificate(certificate: &Certificate) -> Result<Self> {
        use crate::crypto::{public_key_scheme, Scheme, SECP256R1, SECP384R1};
        let spki = certificate.tbs_certificate().subject_public_key_info();
        match public_key_scheme(spki)? {
            Scheme::RsaPkcs1v15 => Ok(Self::RsaPkcs1v15),
            Scheme::Ecdsa => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok());
                match curve {
                    Some(c) if c == SECP256R1 => Ok(Self::EcdsaP256),
                    Some(c) if c == SECP384R1 => Ok(Self::EcdsaP384),
                    other => Err(crate::error::CryptoError::UnsupportedAlgorithm(format!(
                        "EC curve {other:?} (P-256 and P-384 are supported)"
                    ))
                    .into()),
                }
            }
        }
    }
}

#[cfg(feature = "pkcs11")]
pub mod pkcs11;
#[cfg(feature = "pkcs11")]
pub use pkcs11::{KeySelector, Pkcs11Options, Pkcs11Signer, TokenSelector};
#[cfg(feature = "aws-kms")]
pub mod aws_kms;
#[cfg(feature = "azure")]
pub mod azure;
#[cfg(feature = "gcp-kms")]
pub mod gcp_kms;
#[cfg(feature = "https")]
mod https;
#[cfg(feature = "pkcs12")]
mod pkcs12;
#[cfg(feature = "https")]
pub use https::HttpOptions;
mod secret;
#[cfg(feature = "aws-kms")]
mod sigv4;
mod source;
pub use crate::crypto::{digest_info_prefix, verify_signed_digest};
pub use secret::Secret;
pub use source::{certificates_from_files, KeySource};

/// Checks that `signature`, which a key service made over `digest`, verifies with the leaf
/// certificate's public key (so a service that signed with another key is caught before the
/// signature is embedded).
#[cfg(any(feature = "aws-kms", feature = "azure", feature = "gcp-kms"))]
fn check_signature(
    client: &https::Client,
    certificates: &[Certificate],
    alg: DigestAlgorithm,
    digest: &[u8],
    signature: &[u8],
) -> Result<()> {
    let leaf = certificates
        .first()
        .ok_or_else(|| crate::Error::InvalidArgument("no signer certificate".into()))?;
    verify_signed_digest(
        leaf.tbs_certificate().subject_public_key_info(),
        alg,
        digest,
        signature,
    )
    .map_err(|e| {
        client.error(
            crate::error::KeyServiceErrorKind::BadResponse,
            None,
            None,
            format!(
                "the signature does not verify with the public key of {} ({e}): the service \
                 signed with another key than the certificate's",
                leaf.tbs_certificate().subject()
            ),
        )
    })
}

/// Orders a certificate chain: `leaf` first, then each issuer found among `others` (matched by
/// subject name, self-signed certificates end the chain). Certificates of `others` that are not
/// on the leaf's path are left out; duplicates of one certificate are kept once.
#[cfg(any(feature = "pkcs11", feature = "pkcs12", feature = "azure"))]
pub(crate) fn chain_from(leaf: Certificate, mut others: Vec<Certificate>) -> Vec<Certificate> {
    others.retain(|c| c != &leaf);
    let mut chain = vec![leaf];
    while let Some(last) = chain.last() {
        let tbs = last.tbs_certificate();
        if tbs.issuer() == tbs.subject() {
            break;
        }
        let Some(pos) = others
            .iter()
            .position(|c| c.tbs_certificate().subject() == tbs.issuer())
        else {
            break;
        };
        let next = others.swap_remove(pos);
        others.retain(|c| c != &next);
        chain.push(next);
    }
    chain
}

/// Makes any [`Signer`] usable from several threads (for batch signing) by taking
/// turns: the inner signer is behind a mutex, its certificates are kept outside it. For
/// signers that cannot sign concurrently, such as one PKCS#11 session.
pub struct Serialized<S> {
    certificates: Vec<Certificate>,
    algorithm: SignatureAlgorithm,
    inner: std::sync::Mutex<S>,
}

impl<S: Signer> Serialized<S> {
    /// Wrap `signer`.
    pub fn new(signer: S) -> Self {
        Self {
            certificates: signer.certificates().to_vec(),
            algorithm: signer.algorithm(),
            inner: std::sync::Mutex::new(signer),
        }
    }
}

impl<S: Signer> Signer for Serialized<S> {
    fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }
    fn sign_digest(&self, alg: DigestAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        let guard = self
            .inner
            .lock()
            .map_err(|_| crate::Error::Signer("a previous signing call panicked".into()))?;
        guard.sign_digest(alg, digest)
    }
    fn sign_message(&self, alg: DigestAlgorithm, message: &[u8], digest: &[u8]) -> Result<Vec<u8>> {
        let guard = self
            .inner
            .lock()
            .map_err(|_| crate::Error::Signer("a previous signing call panicked".into()))?;
        guard.sign_message(alg, message, digest)
    }
}
