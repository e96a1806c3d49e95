//! [`LocalSigner`]: a private key held in memory, loaded from PEM.
//!
//! Accepted key encodings: PKCS#8 `PRIVATE KEY` (RSA, EC P-256, EC P-384), PKCS#1
//! `RSA PRIVATE KEY` and SEC1 `EC PRIVATE KEY` (an `EC PARAMETERS` block before it is skipped).
//! Encrypted keys (`ENCRYPTED PRIVATE KEY`, or traditional PEM with `Proc-Type: 4,ENCRYPTED`)
//! are refused with [`Error::Unsupported`]. RSA moduli from [`MIN_RSA_BITS`] to
//! [`MAX_RSA_BITS`] bits are accepted.
//!
//! RSA signatures are made by the pure-Rust `rsa` crate; with the `ring` feature, signing a file
//! with SHA-256, SHA-384 or SHA-512 goes through ring's RSA instead (about three times faster,
//! which matters for batches; the bytes are the same, as PKCS#1 v1.5 is deterministic).

use std::fmt;
use std::path::Path;

use const_oid::ObjectIdentifier;
use der::asn1::UintRef;
use der::Decode;
use rsa::traits::PublicKeyParts;
use signature::hazmat::PrehashSigner;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::Certificate;

use crate::certs::{certificates_from_pem_text, pem_blocks};
use crate::crypto::{
    bit_length, digest_info_prefix, EC_PUBLIC_KEY, RSA_ENCRYPTION, SECP256R1, SECP384R1,
};
use crate::digest::DigestAlgorithm;
use crate::error::{CryptoError, Error, Format, MalformedKind, Result};
use crate::signer::{SignatureAlgorithm, Signer};

/// Smallest RSA modulus, in bits, that [`LocalSigner`] signs with.
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus, in bits, that [`LocalSigner`] signs with (the `rsa` crate's limit).
pub const MAX_RSA_BITS: usize = 8192;

/// The private key of a [`LocalSigner`].
#[derive(Clone)]
pub(super) enum Key {
    Rsa(Box<RsaKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

/// An RSA private key, and with the `ring` feature the same key prepared for ring's RSA.
#[derive(Clone)]
pub(super) struct RsaKey {
    /// The key for the pure-Rust `rsa` crate, which signs every digest.
    pub(super) key: rsa::PrivateKey,
    /// The key for ring, which signs SHA-256, SHA-384 and SHA-512 messages about three times
    /// faster (`None` when ring refuses the key, e.g. a modulus ring does not sign with).
    #[cfg(feature = "ring")]
    pub(super) ring: Option<std::sync::Arc<ring::signature::RsaKeyPair>>,
}

impl std::ops::Deref for RsaKey {
    type Target = rsa::PrivateKey;
    fn deref(&self) -> &rsa::PrivateKey {
        &self.key
    }
}

/// A [`Signer`] whose private key is in memory: RSA (PKCS#1 v1.5), ECDSA P-256 or P-384.
///
/// ```no_run
/// use authsign::signer::{LocalSigner, Signer};
/// let signer = LocalSigner::from_files("leaf.key", &["leaf-chain.pem"])?;
/// assert!(!signer.certificates().is_empty());
/// # Ok::<(), authsign::Error>(())
/// ```
#[derive(Clone)]
pub struct LocalSigner {
    pub(super) key: Key,
    pub(super) certificates: Vec<Certificate>,
}

impl fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = self
            .certificates
            .first()
            .map(|c| c.tbs_certificate().subject().to_string());
        let mut d = f.debug_struct("LocalSigner");
        d.field("algorithm", &self.algorithm())
            .field("subject", &subject)
            .field("certificates", &self.certificates.len());
        #[cfg(feature = "ring")]
        if let Key::Rsa(k) = &self.key {
            d.field("ring", &k.ring.is_some());
        }
        d.finish_non_exhaustive()
    }
}

/// Key bytes that are overwritten when dropped.
pub(super) struct Wipe(pub(super) Vec<u8>);

impl Drop for Wipe {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            *b = 0;
        }
        std::hint::black_box(&mut self.0);
    }
}

pub(super) fn key_err(what: impl Into<String>) -> Error {
    Error::Crypto(CryptoError::Key(what.into()))
}

fn encrypted_err() -> Error {
    Error::Unsupported(
        "encrypted private keys; decrypt first, e.g. `openssl pkey -in KEY -out PLAIN.key`".into(),
    )
}

/// The named curve of an EC public key in a certificate, if it is one.
pub(super) fn certificate_curve(spki: &SubjectPublicKeyInfoOwned) -> Option<ObjectIdentifier> {
    if spki.algorithm.oid != EC_PUBLIC_KEY {
        return None;
    }
    spki.algorithm
        .parameters
        .as_ref()?
        .decode_as::<ObjectIdentifier>()
        .ok()
}

fn rsa_from_pkcs1(der: &[u8]) -> Result<Key> {
    let parsed = pkcs1::RsaPrivateKey::<UintRef<'_>>::from_der(der)
        .map_err(|e| key_err(format!("PKCS#1 RSA private key does not decode: {e}")))?;
    if parsed.other_prime_infos.is_some() {
        return Err(Error::Unsupported("multi-prime RSA private keys".into()));
    }
    let bits = bit_length(parsed.modulus.as_bytes());
    if bits < MIN_RSA_BITS {
        return Err(key_err(format!(
            "RSA key of {bits} bits is too small; at least {MIN_RSA_BITS} bits are required"
        )));
    }
    if bits > MAX_RSA_BITS {
        return Err(key_err(format!(
            "RSA key of {bits} bits is too large; at most {MAX_RSA_BITS} bits are supported"
        )));
    }
    let key = rsa::PrivateKey::try_from(parsed)
        .map_err(|e| key_err(format!("RSA private key is inconsistent: {e}")))?;
    Ok(Key::Rsa(Box::new(RsaKey {
        key,
        #[cfg(feature = "ring")]
        ring: ring::signature::RsaKeyPair::from_der(der)
            .ok()
            .map(std::sync::Arc::new),
    })))
}

fn ec_from_sec1(
    der: &[u8],
    outer_curve: Option<ObjectIdentifier>,
    cert_curve: Option<ObjectIdentifier>,
) -> Result<Key> {
    let parsed = sec1::EcPrivateKey::from_der(der)
        .map_err(|e| key_err(format!("SEC1 EC private key does not decode: {e}")))?;
    let inner_curve = parsed
        .parameters
        .as_ref()
        .map(|sec1::EcParameters::NamedCurve(oid)| *oid);
    if let (Some(a), Some(b)) = (outer_curve, inner_curve) {
        if a != b {
            return Err(key_err(format!(
                "EC key names curve {a} in its algorithm and {b} in its parameters"
            )));
        }
    }
    let curve = outer_curve.or(inner_curve).or(cert_curve).ok_or_else(|| {
        key_err("EC private key without curve parameters, and no EC certificate to take it from")
    })?;
    match curve {
        SECP256R1 => p256::SecretKey::try_from(parsed)
            .map(|k| Key::P256(k.into()))
            .map_err(|e| key_err(format!("invalid P-256 private key: {e}"))),
        SECP384R1 => p384::SecretKey::try_from(parsed)
            .map(|k| Key::P384(k.into()))
            .map_err(|e| key_err(format!("invalid P-384 private key: {e}"))),
        other => Err(Error::Crypto(CryptoError::UnsupportedAlgorithm(format!(
            "EC curve {other} (supported: P-256, P-384)"
        )))),
    }
}

pub(super) fn key_from_pkcs8(der: &[u8], cert_curve: Option<ObjectIdentifier>) -> Result<Key> {
    let info = pkcs8::PrivateKeyInfoRef::from_der(der)
        .map_err(|e| key_err(format!("PKCS#8 private key does not decode: {e}")))?;
    let inner = info.private_key.as_bytes();
    match info.algorithm.oid {
        RSA_ENCRYPTION => rsa_from_pkcs1(inner),
        EC_PUBLIC_KEY => {
            let curve = info
                .algorithm
                .parameters
                .map(|p| p.decode_as::<ObjectIdentifier>())
                .transpose()
                .map_err(|_| {
                    Error::Crypto(CryptoError::UnsupportedAlgorithm(
                        "EC key with explicit curve parameters (only named curves)".into(),
                    ))
                })?;
            ec_from_sec1(inner, curve, cert_curve)
        }
        other => Err(Error::Crypto(CryptoError::UnsupportedAlgorithm(format!(
            "private key algorithm {other} (supported: RSA, EC P-256, EC P-384)"
        )))),
    }
}

/// Parses the first private key in `pem`.
fn key_from_pem(pem: &str, cert_curve: Option<ObjectIdentifier>) -> Result<Key> {
    let blocks = pem_blocks(pem)?;
    let mut labels = Vec::new();
    for block in &blocks {
        let parse = match block.label {
            "PRIVATE KEY" => key_from_pkcs8,
            "RSA PRIVATE KEY" => |der: &[u8], _| rsa_from_pkcs1(der),
            "EC PRIVATE KEY" => |der: &[u8], c| ec_from_sec1(der, None, c),
            "ENCRYPTED PRIVATE KEY" => return Err(encrypted_err()),
            other => {
                labels.push(other);
                continue;
            }
        };
        if block.text.contains("Proc-Type:") || block.text.contains("DEK-Info:") {
            if block.text.contains("ENCRYPTED") {
                return Err(encrypted_err());
            }
            return Err(key_err(format!(
                "{} PEM block has unexpected headers",
                block.label
            )));
        }
        let (_, der) = der::pem::decode_vec(block.text.as_bytes())
            .map_err(|e| key_err(format!("{} PEM block: {e}", block.label)))?;
        let der = Wipe(der);
        return parse(&der.0, cert_curve);
    }
    Err(key_err(if labels.is_empty() {
        "no PEM private key found".to_string()
    } else {
        format!(
            "no private key among the PEM blocks ({})",
            labels.join(", ")
        )
    }))
}

/// Checks `key` is the private half of the public key in `spki`.
pub(super) fn check_key_matches(key: &Key, spki: &SubjectPublicKeyInfoOwned) -> Result<()> {
    let mismatch = || Error::Crypto(CryptoError::KeyCertificateMismatch);
    let cert_key = spki.subject_public_key.as_bytes().ok_or_else(mismatch)?;
    match key {
        Key::Rsa(k) => {
            if spki.algorithm.oid != RSA_ENCRYPTION {
                return Err(mismatch());
            }
            let public =
                pkcs1::RsaPublicKey::<UintRef<'_>>::from_der(cert_key).map_err(|_| mismatch())?;
            let strip =
                |b: &[u8]| -> Vec<u8> { b.iter().copied().skip_while(|x| *x == 0).collect() };
            let n = k.n().to_be_bytes();
            let e = k.e().to_be_bytes();
            if strip(public.modulus.as_bytes()) == strip(&n)
                && strip(public.public_exponent.as_bytes()) == strip(&e)
            {
                Ok(())
            } else {
                Err(mismatch())
            }
        }
        Key::P256(k) => {
            if certificate_curve(spki) != Some(SECP256R1) {
                return Err(mismatch());
            }
            let public =
                p256::ecdsa::VerifyingKey::from_sec1_bytes(cert_key).map_err(|_| mismatch())?;
            if &public == k.verifying_key() {
                Ok(())
            } else {
                Err(mismatch())
            }
        }
        Key::P384(k) => {
            if certificate_curve(spki) != Some(SECP384R1) {
                return Err(mismatch());
            }
            let public =
                p384::ecdsa::VerifyingKey::from_sec1_bytes(cert_key).map_err(|_| mismatch())?;
            if &public == k.verifying_key() {
                Ok(())
            } else {
                Err(mismatch())
            }
        }
    }
}

impl LocalSigner {
    /// A signer from a PEM private key and the certificates it signs with (leaf first, then
    /// issuers, order kept). Fails with [`CryptoError::KeyCertificateMismatch`] when the key is
    /// not the leaf certificate's.
    pub fn new(key_pem: &str, certificates: Vec<Certificate>) -> Result<Self> {
        let leaf = certificates.first().ok_or_else(|| {
            Error::malformed(
                Format::Pem,
                0,
                MalformedKind::InvalidValue,
                "no certificate given for the signer",
            )
        })?;
        let spki = leaf.tbs_certificate().subject_public_key_info();
        let key = key_from_pem(key_pem, certificate_curve(spki))?;
        check_key_matches(&key, spki)?;
        Ok(Self { key, certificates })
    }

    /// A signer from a PEM private key and a PEM certificate chain (one or more `CERTIFICATE`
    /// blocks, leaf first; other blocks and text between blocks are ignored).
    pub fn from_pem(key_pem: &str, chain_pem: &str) -> Result<Self> {
        let certificates = certificates_from_pem_text(chain_pem)?;
        if certificates.is_empty() {
            return Err(Error::malformed(
                Format::Pem,
                0,
                MalformedKind::BadEncoding,
                "no CERTIFICATE block in the certificate PEM",
            ));
        }
        Self::new(key_pem, certificates)
    }

    /// A signer from a PEM key file and PEM certificate files, read in the order given (the
    /// first certificate of the first file is the leaf).
    pub fn from_files(
        key_path: impl AsRef<Path>,
        chain_paths: &[impl AsRef<Path>],
    ) -> Result<Self> {
        let key_pem = Wipe(std::fs::read(key_path.as_ref())?);
        let key_pem = std::str::from_utf8(&key_pem.0)
            .map_err(|e| key_err(format!("key file is not PEM text: {e}")))?;
        let mut certificates = Vec::new();
        for path in chain_paths {
            let text = std::fs::read_to_string(path.as_ref())?;
            let certs = certificates_from_pem_text(&text)?;
            if certs.is_empty() {
                return Err(Error::malformed(
                    Format::Pem,
                    0,
                    MalformedKind::InvalidValue,
                    format!("no CERTIFICATE block in {}", path.as_ref().display()),
                ));
            }
            certificates.extend(certs);
        }
        Self::new(key_pem, certificates)
    }

    /// The modulus size in bits for RSA keys, the curve size for EC keys.
    pub fn key_bits(&self) -> usize {
        match &self.key {
            Key::Rsa(k) => k.size() * 8,
            Key::P256(_) => 256,
            Key::P384(_) => 384,
        }
    }
}

impl Signer for LocalSigner {
    fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self.key {
            Key::Rsa(_) => SignatureAlgorithm::RsaPkcs1v15,
            Key::P256(_) => SignatureAlgorithm::EcdsaP256,
            Key::P384(_) => SignatureAlgorithm::EcdsaP384,
        }
    }

    fn sign_digest(&self, alg: DigestAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        super::check_digest_length(alg, digest)?;
        sign_with(&self.key, alg, digest)
    }

    #[cfg(feature = "ring")]
    fn sign_message(&self, alg: DigestAlgorithm, message: &[u8], digest: &[u8]) -> Result<Vec<u8>> {
        super::check_digest_length(alg, digest)?;
        match &self.key {
            Key::Rsa(k) => match (&k.ring, ring_padding(alg)) {
                // ring hashes `message` itself: it must be what `digest` is the digest of.
                (Some(_), Some(_)) if alg.digest(message) != digest => Err(Error::InvalidArgument(
                    format!("the message to sign does not have the given {alg} digest"),
                )),
                (Some(pair), Some(padding)) => sign_with_ring(pair, padding, message),
                _ => sign_with(&self.key, alg, digest),
            },
            _ => sign_with(&self.key, alg, digest),
        }
    }
}

/// ring's PKCS#1 v1.5 padding for `alg` (ring signs neither MD5 nor SHA-1).
#[cfg(feature = "ring")]
fn ring_padding(alg: DigestAlgorithm) -> Option<&'static dyn ring::signature::RsaEncoding> {
    match alg {
        DigestAlgorithm::Sha256 => Some(&ring::signature::RSA_PKCS1_SHA256),
        DigestAlgorithm::Sha384 => Some(&ring::signature::RSA_PKCS1_SHA384),
        DigestAlgorithm::Sha512 => Some(&ring::signature::RSA_PKCS1_SHA512),
        _ => None,
    }
}

/// Signs `message` with ring: PKCS#1 v1.5 is deterministic, so these are the bytes the `rsa`
/// crate makes from the message's digest.
#[cfg(feature = "ring")]
fn sign_with_ring(
    pair: &ring::signature::RsaKeyPair,
    padding: &'static dyn ring::signature::RsaEncoding,
    message: &[u8],
) -> Result<Vec<u8>> {
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        padding,
        &ring::rand::SystemRandom::new(),
        message,
        &mut signature,
    )
    .map_err(|_| Error::Crypto(CryptoError::Sign("ring refused to sign".into())))?;
    Ok(signature)
}

/// Signs the `alg` digest `digest` with `key`: PKCS#1 v1.5 over the DigestInfo, or DER ECDSA.
pub(super) fn sign_with(key: &Key, alg: DigestAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
    let sign_err = |e: &dyn fmt::Display| Error::Crypto(CryptoError::Sign(e.to_string()));
    match key {
        Key::Rsa(k) => {
            let scheme = rsa::Pkcs1v15Sign {
                hash_len: Some(alg.output_size()),
                prefix: digest_info_prefix(alg).into(),
            };
            k.sign(scheme, digest).map_err(|e| sign_err(&e))
        }
        Key::P256(k) => {
            let sig: p256::ecdsa::DerSignature =
                k.sign_prehash(digest).map_err(|e| sign_err(&e))?;
            Ok(sig.as_bytes().to_vec())
        }
        Key::P384(k) => {
            let sig: p384::ecdsa::DerSignature =
                k.sign_prehash(digest).map_err(|e| sign_err(&e))?;
            Ok(sig.as_bytes().to_vec())
        }
    }
}
