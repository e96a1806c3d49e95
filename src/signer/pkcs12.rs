//! PKCS#12 (`.pfx` / `.p12`) files as a key source for [`LocalSigner`], as `signtool /f /p`
//! takes them.
//!
//! Decoding, MAC check and decryption are done by the `p12-keystore` crate: PBES2 (PBKDF2 with
//! AES-CBC, OpenSSL 3's default) and the legacy PKCS#12 PBE schemes (3DES, 40-bit RC2, as
//! written by OpenSSL 1.x `-legacy` and older Windows exports).

use std::path::Path;

use der::Decode;
use x509_cert::Certificate;

use crate::error::{CryptoError, Error, Result};
use crate::signer::local::{certificate_curve, check_key_matches, key_err, key_from_pkcs8, Wipe};
use crate::signer::{chain_from, LocalSigner};

fn pkcs12_err(e: p12_keystore::error::Error) -> Error {
    use p12_keystore::error::Error as E;
    match e {
        E::MacError(_) => Error::Crypto(CryptoError::Authentication(
            "wrong PKCS#12 password (the file's integrity check failed)".into(),
        )),
        // Without a MAC, a wrong password shows as bad padding after decryption.
        E::UnpadError => Error::Crypto(CryptoError::Authentication(
            "wrong PKCS#12 password (decryption failed)".into(),
        )),
        E::UnsupportedEncryptionScheme | E::UnsupportedMacAlgorithm => {
            Error::Unsupported(format!("PKCS#12 file: {e}"))
        }
        other => key_err(format!("PKCS#12 file does not decode: {other}")),
    }
}

impl LocalSigner {
    /// A signer from the DER bytes of a PKCS#12 file and its password.
    ///
    /// The file must hold one private key (RSA, EC P-256 or P-384) and its certificate. The
    /// leaf is the certificate whose `localKeyId` matches the key's (or, failing that, whose
    /// public key matches); the chain is the leaf followed by the issuers found in the file.
    /// A wrong password gives [`CryptoError::Authentication`].
    pub fn from_pkcs12(der: &[u8], password: &str) -> Result<Self> {
        let archive =
            p12_keystore::Pkcs12Archive::from_pkcs12(der, password).map_err(pkcs12_err)?;
        let key_bag = match archive.keys.as_slice() {
            [] => return Err(key_err("the PKCS#12 file holds no private key")),
            [one] => one,
            more => {
                return Err(Error::Unsupported(format!(
                    "PKCS#12 files with {} private keys (export the signing key alone)",
                    more.len()
                )))
            }
        };
        let mut certificates = Vec::with_capacity(archive.certs.len());
        let mut leaf_index = None;
        for bag in &archive.certs {
            let cert = Certificate::from_der(bag.cert.as_der())
                .map_err(|e| key_err(format!("certificate in the PKCS#12 file: {e}")))?;
            let same_id = matches!((&bag.local_key_id, &key_bag.local_key_id),
                (Some(c), Some(k)) if c.as_slice() == k.0.as_slice());
            if same_id && leaf_index.is_none() {
                leaf_index = Some(certificates.len());
            }
            certificates.push(cert);
        }
        let key_der = Wipe(key_bag.key.as_der().to_vec());
        // The curve of an EC key can come from the certificate when the key omits it.
        let curve_hint = leaf_index
            .and_then(|i| certificates.get(i))
            .or(certificates.first())
            .and_then(|c| certificate_curve(c.tbs_certificate().subject_public_key_info()));
        let key = key_from_pkcs8(&key_der.0, curve_hint)?;
        let leaf_index = match leaf_index {
            Some(i) => i,
            None => certificates
                .iter()
                .position(|c| {
                    check_key_matches(&key, c.tbs_certificate().subject_public_key_info()).is_ok()
                })
                .ok_or_else(|| {
                    if certificates.is_empty() {
                        key_err("the PKCS#12 file holds no certificate for its key")
                    } else {
                        Error::Crypto(CryptoError::KeyCertificateMismatch)
                    }
                })?,
        };
        let leaf = certificates.swap_remove(leaf_index);
        check_key_matches(&key, leaf.tbs_certificate().subject_public_key_info())?;
        Ok(Self {
            key,
            certificates: chain_from(leaf, certificates),
        })
    }

    /// A signer from a PKCS#12 file (`.pfx` / `.p12`) and its password; see
    /// [`LocalSigner::from_pkcs12`].
    pub fn from_pkcs12_file(path: impl AsRef<Path>, password: &str) -> Result<Self> {
        let der = std::fs::read(path.as_ref())?;
        Self::from_pkcs12(&der, password)
    }
}
