//! The crate's crypto toolbox, used by signers, the timestamp client and the verifier:
//! signature algorithm identifiers, and signature verification for RSA PKCS#1 v1.5
//! (MD5/SHA-1/256/384/512) and ECDSA on P-256 / P-384 (DER `Ecdsa-Sig-Value`); [`signer_info`]
//! checks a CMS SignerInfo against its content.
//!
//! Entry points, from lowest to highest level:
//! - [`verify_signed_digest`]: a signature over an already computed digest;
//! - [`verify_signature`]: an X.509 signature, the algorithm OID names both scheme and digest;
//! - [`verify_signer_signature`]: a CMS SignerInfo signature, where the signature algorithm may be
//!   plain `rsaEncryption` / `id-ecPublicKey` and the digest comes from the SignerInfo.

pub mod signer_info;

use const_oid::ObjectIdentifier;
use der::asn1::UintRef;
use der::Decode;
use signature::hazmat::PrehashVerifier;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use crate::digest::DigestAlgorithm;
use crate::error::{CryptoError, Error, VerifyError};

/// `rsaEncryption` (1.2.840.113549.1.1.1).
pub const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `md5WithRSAEncryption` (1.2.840.113549.1.1.4): old certificates and TSA signatures.
pub const MD5_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.4");
/// `sha1WithRSAEncryption` (1.2.840.113549.1.1.5).
pub const SHA1_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
/// `sha256WithRSAEncryption` (1.2.840.113549.1.1.11).
pub const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// `sha384WithRSAEncryption` (1.2.840.113549.1.1.12).
pub const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
/// `sha512WithRSAEncryption` (1.2.840.113549.1.1.13).
pub const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
/// The obsolete OIW `sha1WithRSASignature` (1.3.14.3.2.29), seen in old Authenticode chains.
pub const SHA1_WITH_RSA_OIW: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.29");
/// `id-RSASSA-PSS` (1.2.840.113549.1.1.10); recognised only to name it in errors.
pub const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
/// `id-ecPublicKey` (1.2.840.10045.2.1).
pub const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `ecdsa-with-SHA1` (1.2.840.10045.4.1).
pub const ECDSA_WITH_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");
/// `ecdsa-with-SHA256` (1.2.840.10045.4.3.2).
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `ecdsa-with-SHA384` (1.2.840.10045.4.3.3).
pub const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// `ecdsa-with-SHA512` (1.2.840.10045.4.3.4).
pub const ECDSA_WITH_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
/// The named curve `secp256r1` / P-256 (1.2.840.10045.3.1.7).
pub const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// The named curve `secp384r1` / P-384 (1.3.132.0.34).
pub const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// Smallest RSA modulus, in bits, accepted when *verifying* (old chains and timestamp
/// certificates still use 1024-bit keys; signing requires 2048).
pub const MIN_RSA_VERIFY_BITS: usize = 1024;
/// Largest RSA modulus, in bits, accepted when verifying.
pub const MAX_RSA_VERIFY_BITS: usize = 16384;

/// The DER DigestInfo prefix (everything before the digest bytes) for `alg`, as RSA PKCS#1
/// v1.5 signers write it (RFC 8017 §9.2, note 1): the AlgorithmIdentifier with NULL
/// parameters.
pub fn digest_info_prefix(alg: DigestAlgorithm) -> Vec<u8> {
    digest_info_prefix_with(alg, true)
}

/// The DigestInfo prefix with NULL parameters (`with_null`) or with the parameters absent,
/// which RFC 8017 says verifiers should accept too.
fn digest_info_prefix_with(alg: DigestAlgorithm, with_null: bool) -> Vec<u8> {
    let oid = alg.oid();
    let oid = oid.as_bytes();
    // SEQUENCE { SEQUENCE { OID, NULL? }, OCTET STRING (digest follows) }; every length here
    // is below 128, so each is one byte.
    let params: &[u8] = if with_null { &[0x05, 0x00] } else { &[] };
    let algorithm_len = 2 + oid.len() + params.len();
    let total = 2 + algorithm_len + 2 + alg.output_size();
    let mut out = vec![
        0x30,
        total as u8,
        0x30,
        algorithm_len as u8,
        0x06,
        oid.len() as u8,
    ];
    out.extend_from_slice(oid);
    out.extend_from_slice(params);
    out.extend_from_slice(&[0x04, alg.output_size() as u8]);
    out
}

/// Why a signature could not be verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature algorithm OID is not one this crate verifies.
    #[error("unsupported signature algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// The public key type (algorithm OID or curve) is not supported.
    #[error("unsupported public key: {0}")]
    UnsupportedKey(String),
    /// The public key could not be decoded or is outside accepted limits.
    #[error("bad public key: {0}")]
    BadKey(String),
    /// The signature algorithm does not fit the key (e.g. ECDSA with an RSA key) or the digest.
    #[error("algorithm mismatch: {0}")]
    AlgorithmMismatch(String),
    /// The digest has the wrong length for its algorithm.
    #[error("{alg} digest must be {expected} bytes, got {actual}")]
    DigestLength {
        /// The digest algorithm.
        alg: DigestAlgorithm,
        /// Its output size.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// The signature value is not well formed (ECDSA DER, or RSA length).
    #[error("malformed signature value: {0}")]
    Malformed(String),
    /// The signature is well formed but does not verify with this key.
    #[error("signature does not verify")]
    Invalid,
}

impl SignatureError {
    /// The stable reason code: `unsupported-algorithm` when the algorithm or key type is not
    /// supported, else `bad-signature`.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::UnsupportedAlgorithm(_) | SignatureError::UnsupportedKey(_) => {
                "unsupported-algorithm"
            }
            _ => "bad-signature",
        }
    }
}

/// Whether an RSA PKCS#1 v1.5 signature may hold the bare digest instead of a DigestInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestInfoRule {
    /// The signature must hold a DigestInfo (with or without NULL parameters).
    Required,
    /// A bare digest is accepted too: what VeriSign's and Symantec's legacy timestamp
    /// services signed, and Windows accepts for counter-signatures.
    BareDigestAccepted,
}

impl From<SignatureError> for Error {
    fn from(e: SignatureError) -> Self {
        match e {
            SignatureError::UnsupportedAlgorithm(s) | SignatureError::UnsupportedKey(s) => {
                Error::Crypto(CryptoError::UnsupportedAlgorithm(s))
            }
            SignatureError::BadKey(s) => Error::Crypto(CryptoError::Key(s)),
            other => Error::Verify(VerifyError::Other(other.to_string())),
        }
    }
}

/// The public-key scheme of a signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// RSA PKCS#1 v1.5.
    RsaPkcs1v15,
    /// ECDSA (curve from the key).
    Ecdsa,
}

/// Maps a signature algorithm OID to its scheme and, for combined algorithms such as
/// `sha256WithRSAEncryption`, the digest it implies. Plain `rsaEncryption` and `id-ecPublicKey`
/// (as CMS SignerInfos may carry) give `None` for the digest.
pub fn parse_signature_algorithm(
    oid: &ObjectIdentifier,
) -> Result<(Scheme, Option<DigestAlgorithm>), SignatureError> {
    use DigestAlgorithm::*;
    let r = match *oid {
        RSA_ENCRYPTION => (Scheme::RsaPkcs1v15, None),
        MD5_WITH_RSA => (Scheme::RsaPkcs1v15, Some(Md5)),
        SHA1_WITH_RSA | SHA1_WITH_RSA_OIW => (Scheme::RsaPkcs1v15, Some(Sha1)),
        SHA256_WITH_RSA => (Scheme::RsaPkcs1v15, Some(Sha256)),
        SHA384_WITH_RSA => (Scheme::RsaPkcs1v15, Some(Sha384)),
        SHA512_WITH_RSA => (Scheme::RsaPkcs1v15, Some(Sha512)),
        EC_PUBLIC_KEY => (Scheme::Ecdsa, None),
        ECDSA_WITH_SHA1 => (Scheme::Ecdsa, Some(Sha1)),
        ECDSA_WITH_SHA256 => (Scheme::Ecdsa, Some(Sha256)),
        ECDSA_WITH_SHA384 => (Scheme::Ecdsa, Some(Sha384)),
        ECDSA_WITH_SHA512 => (Scheme::Ecdsa, Some(Sha512)),
        RSASSA_PSS => {
            return Err(SignatureError::UnsupportedAlgorithm(format!(
                "{oid} (RSASSA-PSS)"
            )))
        }
        _ => return Err(SignatureError::UnsupportedAlgorithm(oid.to_string())),
    };
    Ok(r)
}

/// A decoded public key that can verify signatures.
enum PublicKey {
    Rsa(rsa::PublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

impl PublicKey {
    fn scheme(&self) -> Scheme {
        match self {
            PublicKey::Rsa(_) => Scheme::RsaPkcs1v15,
            PublicKey::P256(_) | PublicKey::P384(_) => Scheme::Ecdsa,
        }
    }
}

/// Number of significant bits in a big-endian unsigned integer.
pub(crate) fn bit_length(be: &[u8]) -> usize {
    let mut iter = be.iter().skip_while(|b| **b == 0);
    match iter.next() {
        None => 0,
        Some(first) => (8 - first.leading_zeros() as usize) + 8 * iter.count(),
    }
}

fn boxed_uint(be: &[u8]) -> Result<rsa::BoxedUint, SignatureError> {
    let bits = u32::try_from(be.len().max(1) * 8)
        .map_err(|_| SignatureError::BadKey("RSA integer too large".into()))?;
    rsa::BoxedUint::from_be_slice(be, bits)
        .map_err(|_| SignatureError::BadKey("RSA integer does not decode".into()))
}

/// Decodes an RSA public key (PKCS#1 `RSAPublicKey` DER) accepting
/// [`MIN_RSA_VERIFY_BITS`]..=[`MAX_RSA_VERIFY_BITS`].
fn rsa_public_key(pkcs1_der: &[u8]) -> Result<rsa::PublicKey, SignatureError> {
    let key = pkcs1::RsaPublicKey::<UintRef<'_>>::from_der(pkcs1_der)
        .map_err(|e| SignatureError::BadKey(format!("RSA public key does not decode: {e}")))?;
    let n = key.modulus.as_bytes();
    let bits = bit_length(n);
    if !(MIN_RSA_VERIFY_BITS..=MAX_RSA_VERIFY_BITS).contains(&bits) {
        return Err(SignatureError::BadKey(format!(
            "RSA modulus of {bits} bits (accepted: {MIN_RSA_VERIFY_BITS} to {MAX_RSA_VERIFY_BITS})"
        )));
    }
    let n = boxed_uint(n)?;
    let e = boxed_uint(key.public_exponent.as_bytes())?;
    rsa::PublicKey::new_with_size_limits(n, e, MIN_RSA_VERIFY_BITS..=MAX_RSA_VERIFY_BITS)
        .map_err(|e| SignatureError::BadKey(format!("RSA public key rejected: {e}")))
}

fn decode_public_key(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKey, SignatureError> {
    let oid = spki.algorithm.oid;
    let key_bytes = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| SignatureError::BadKey("public key BIT STRING has unused bits".into()))?;
    match oid {
        RSA_ENCRYPTION => Ok(PublicKey::Rsa(rsa_public_key(key_bytes)?)),
        EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .ok_or_else(|| SignatureError::BadKey("EC key without curve parameters".into()))?
                .decode_as::<ObjectIdentifier>()
                .map_err(|_| {
                    SignatureError::UnsupportedKey(
                        "EC key with explicit curve parameters (only named curves)".into(),
                    )
                })?;
            match curve {
                SECP256R1 => p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                    .map(PublicKey::P256)
                    .map_err(|_| SignatureError::BadKey("invalid P-256 point".into())),
                SECP384R1 => p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                    .map(PublicKey::P384)
                    .map_err(|_| SignatureError::BadKey("invalid P-384 point".into())),
                other => Err(SignatureError::UnsupportedKey(format!(
                    "EC curve {other} (supported: P-256, P-384)"
                ))),
            }
        }
        other => Err(SignatureError::UnsupportedKey(format!(
            "public key algorithm {other}"
        ))),
    }
}

/// Checks the public key in `spki` is usable for verification (RSA within size limits,
/// P-256 or P-384) and returns its scheme.
pub fn public_key_scheme(spki: &SubjectPublicKeyInfoOwned) -> Result<Scheme, SignatureError> {
    decode_public_key(spki).map(|k| k.scheme())
}

fn check_digest_len(alg: DigestAlgorithm, digest: &[u8]) -> Result<(), SignatureError> {
    if digest.len() == alg.output_size() {
        Ok(())
    } else {
        Err(SignatureError::DigestLength {
            alg,
            expected: alg.output_size(),
            actual: digest.len(),
        })
    }
}

fn verify_with_key(
    key: &PublicKey,
    digest_alg: DigestAlgorithm,
    digest: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    verify_with_key_rule(key, digest_alg, digest, signature, DigestInfoRule::Required)
}

fn verify_with_key_rule(
    key: &PublicKey,
    digest_alg: DigestAlgorithm,
    digest: &[u8],
    signature: &[u8],
    rule: DigestInfoRule,
) -> Result<(), SignatureError> {
    check_digest_len(digest_alg, digest)?;
    match key {
        PublicKey::Rsa(k) => {
            use rsa::traits::PublicKeyParts;
            if signature.len() != k.size() {
                return Err(SignatureError::Malformed(format!(
                    "RSA signature is {} bytes, the modulus {}",
                    signature.len(),
                    k.size()
                )));
            }
            let bare = (rule == DigestInfoRule::BareDigestAccepted).then(Vec::new);
            for prefix in [
                Some(digest_info_prefix_with(digest_alg, true)),
                Some(digest_info_prefix_with(digest_alg, false)),
                bare,
            ]
            .into_iter()
            .flatten()
            {
                let scheme = rsa::Pkcs1v15Sign {
                    hash_len: Some(digest_alg.output_size()),
                    prefix: prefix.into(),
                };
                if k.verify(scheme, digest, signature).is_ok() {
                    return Ok(());
                }
            }
            Err(SignatureError::Invalid)
        }
        PublicKey::P256(k) => {
            let sig = p256::ecdsa::DerSignature::from_bytes(signature)
                .map_err(|_| SignatureError::Malformed("not a DER P-256 ECDSA signature".into()))?;
            k.verify_prehash(digest, &sig)
                .map_err(|_| SignatureError::Invalid)
        }
        PublicKey::P384(k) => {
            let sig = p384::ecdsa::DerSignature::from_bytes(signature)
                .map_err(|_| SignatureError::Malformed("not a DER P-384 ECDSA signature".into()))?;
            k.verify_prehash(digest, &sig)
                .map_err(|_| SignatureError::Invalid)
        }
    }
}

/// Verifies `signature` over the precomputed `digest` (of algorithm `digest_alg`) with the key in
/// `spki`. RSA keys: PKCS#1 v1.5 (the DigestInfo may carry NULL parameters or none). EC keys
/// (P-256, P-384): DER `Ecdsa-Sig-Value`, digest truncated per FIPS 186 / SEC 1 as OpenSSL does.
pub fn verify_signed_digest(
    spki: &SubjectPublicKeyInfoOwned,
    digest_alg: DigestAlgorithm,
    digest: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let key = decode_public_key(spki)?;
    verify_with_key(&key, digest_alg, digest, signature)
}

fn verify_message(
    spki: &SubjectPublicKeyInfoOwned,
    scheme: Scheme,
    digest_alg: DigestAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let key = decode_public_key(spki)?;
    if key.scheme() != scheme {
        return Err(SignatureError::AlgorithmMismatch(format!(
            "{scheme:?} signature with a {:?} public key",
            key.scheme()
        )));
    }
    let digest = digest_alg.digest(message);
    verify_with_key(&key, digest_alg, &digest, signature)
}

/// Verifies an X.509-style signature: `signature_algorithm` (e.g. `sha256WithRSAEncryption`,
/// `ecdsa-with-SHA384`) names both the scheme and the digest applied to `message`. Plain
/// `rsaEncryption` is rejected here because it names no digest; use
/// [`verify_signer_signature`] for CMS SignerInfos.
pub fn verify_signature(
    spki: &SubjectPublicKeyInfoOwned,
    signature_algorithm: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let oid = signature_algorithm.oid;
    let (scheme, digest) = parse_signature_algorithm(&oid)?;
    let digest = digest.ok_or_else(|| {
        SignatureError::UnsupportedAlgorithm(format!("{oid} names no digest algorithm"))
    })?;
    verify_message(spki, scheme, digest, message, signature)
}

/// Verifies a CMS SignerInfo signature over `message` (the DER signed attributes, with the SET
/// tag, or the content when there are none). `digest_alg` is the SignerInfo's digestAlgorithm;
/// `signature_algorithm` may be plain `rsaEncryption` / `id-ecPublicKey` (what signtool and
/// osslsigncode write) or a combined OID, which must then name the same digest.
pub fn verify_signer_signature(
    spki: &SubjectPublicKeyInfoOwned,
    digest_alg: DigestAlgorithm,
    signature_algorithm: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    let digest = digest_alg.digest(message);
    verify_signer_digest(spki, digest_alg, signature_algorithm, &digest, signature)
}

/// Like [`verify_signer_signature`] but over a digest already computed by the caller (for
/// example the digest of the signed attributes).
pub fn verify_signer_digest(
    spki: &SubjectPublicKeyInfoOwned,
    digest_alg: DigestAlgorithm,
    signature_algorithm: &AlgorithmIdentifierOwned,
    digest: &[u8],
    signature: &[u8],
) -> Result<(), SignatureError> {
    verify_signer_digest_rule(
        spki,
        digest_alg,
        signature_algorithm,
        digest,
        signature,
        DigestInfoRule::Required,
    )
}

/// [`verify_signer_digest`], accepting a bare RSA digest when `rule` says so.
pub fn verify_signer_digest_rule(
    spki: &SubjectPublicKeyInfoOwned,
    digest_alg: DigestAlgorithm,
    signature_algorithm: &AlgorithmIdentifierOwned,
    digest: &[u8],
    signature: &[u8],
    rule: DigestInfoRule,
) -> Result<(), SignatureError> {
    let oid = signature_algorithm.oid;
    let (scheme, implied) = parse_signature_algorithm(&oid)?;
    if let Some(implied) = implied {
        if implied != digest_alg {
            return Err(SignatureError::AlgorithmMismatch(format!(
                "signature algorithm {oid} implies {implied}, but the digest algorithm is {digest_alg}"
            )));
        }
    }
    let key = decode_public_key(spki)?;
    if key.scheme() != scheme {
        return Err(SignatureError::AlgorithmMismatch(format!(
            "{scheme:?} signature with a {:?} public key",
            key.scheme()
        )));
    }
    verify_with_key_rule(&key, digest_alg, digest, signature, rule)
}

/// Verify a SignerInfo's signature over its signed attributes (`signed_attributes`, the SET
/// that was signed) with `signer`'s public key and the SignerInfo's algorithms.
pub fn verify_signer_info(
    si: &crate::cms::SignerInfo,
    signed_attributes: &[u8],
    alg: DigestAlgorithm,
    signer: &x509_cert::Certificate,
    rule: DigestInfoRule,
) -> Result<(), SignatureError> {
    let sig_alg = AlgorithmIdentifierOwned::from_der(&si.signature_algorithm)
        .map_err(|e| SignatureError::Malformed(format!("signature algorithm: {e}")))?;
    verify_signer_digest_rule(
        signer.tbs_certificate().subject_public_key_info(),
        alg,
        &sig_alg,
        &alg.digest(signed_attributes),
        &si.signature,
        rule,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(bit_length(&[0, 1]), 1);
        assert_eq!(bit_length(&[0x80, 0]), 16);
        assert_eq!(bit_length(&[0, 0x7f, 0xff]), 15);
    }

    #[test]
    fn prefixes_are_der_digest_infos() {
        for alg in DigestAlgorithm::VERIFIABLE {
            for prefix in [
                digest_info_prefix_with(alg, true),
                digest_info_prefix_with(alg, false),
            ] {
                let mut di = prefix.to_vec();
                di.extend(std::iter::repeat_n(0u8, alg.output_size()));
                let any = der::asn1::Any::from_der(&di).unwrap();
                assert_eq!(der::Tagged::tag(&any), der::Tag::Sequence);
                // The algorithm OID inside matches.
                let alg_id =
                    spki::AlgorithmIdentifierOwned::from_der(&prefix[2..prefix.len() - 2]).unwrap();
                assert_eq!(alg_id.oid, alg.oid());
            }
        }
    }

    #[test]
    fn unknown_algorithm_is_named() {
        let md2 = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.2");
        let err = parse_signature_algorithm(&md2).unwrap_err();
        assert!(err.to_string().contains("1.2.840.113549.1.1.2"), "{err}");
        assert!(parse_signature_algorithm(&RSASSA_PSS)
            .unwrap_err()
            .to_string()
            .contains("PSS"));
    }
}
