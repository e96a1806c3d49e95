//! Two-phase signing: [`prepare`] stops before the private key is needed and returns
//! [`PendingSignature`]s holding the digests to sign; [`complete`] turns the signature values
//! into the PKCS#7 to embed (timestamped and nested as the options say). A client hashes, a
//! signing server (an HSM, a cloud key) signs 32 bytes, the client finishes: the file never
//! leaves the client.

use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use x509_cert::Certificate;

use super::{assemble, signature_algorithm_der, SignOptions};
use crate::cms::signed_data::{self, SignedDataParts};
use crate::digest::DigestAlgorithm;
use crate::error::{CryptoError, Error, Result};
use crate::signer::SignatureAlgorithm;
use crate::subject::Subject;

/// A signature waiting for its signature value: the output of [`prepare`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignature {
    pub(super) digest_algorithm: DigestAlgorithm,
    pub(super) scheme: SignatureAlgorithm,
    pub(super) content_type: ObjectIdentifier,
    pub(super) content: Vec<u8>,
    pub(super) signed_attributes: Vec<u8>,
    pub(super) certificates: Vec<Vec<u8>>,
    pub(super) issuer: Vec<u8>,
    pub(super) serial: Vec<u8>,
    pub(super) digest: Vec<u8>,
}

impl PendingSignature {
    /// The digest algorithm the key must sign with.
    pub fn digest_algorithm(&self) -> DigestAlgorithm {
        self.digest_algorithm
    }

    /// The digest the key must sign: the hash of the DER signed attributes.
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }

    /// The DER signed attributes (a SET) whose digest is signed.
    pub fn signed_attributes(&self) -> &[u8] {
        &self.signed_attributes
    }

    /// The DER content being signed: SpcIndirectDataContent, or a catalog's certificate
    /// trust list.
    pub fn content(&self) -> &[u8] {
        &self.content
    }

    /// The type of [`PendingSignature::content`] (SPC_INDIRECT_DATA_OBJID, or szOID_CTL for
    /// a catalog).
    pub fn content_type(&self) -> ObjectIdentifier {
        self.content_type
    }

    /// The signature scheme of the key that must sign.
    pub fn scheme(&self) -> SignatureAlgorithm {
        self.scheme
    }

    /// Complete the SignedData with `signature` (RSA PKCS#1 v1.5 bytes or DER ECDSA) and
    /// return the DER PKCS#7 ContentInfo. The signature is checked against the signer
    /// certificate's public key first: a signature made with the wrong key, over the wrong
    /// digest, or damaged on its way back from a signing server is refused.
    pub fn finish(&self, signature: &[u8]) -> Result<Vec<u8>> {
        if signature.is_empty() {
            return Err(Error::Signer(
                "the signer returned an empty signature".into(),
            ));
        }
        let leaf = self
            .certificates
            .first()
            .and_then(|c| Certificate::from_der(c).ok())
            .ok_or_else(|| Error::Crypto(CryptoError::Key("no signer certificate".into())))?;
        crate::crypto::verify_signed_digest(
            leaf.tbs_certificate().subject_public_key_info(),
            self.digest_algorithm,
            &self.digest,
            signature,
        )
        .map_err(|e| {
            Error::Signer(
                format!("the signature does not verify with the signer certificate's key: {e}")
                    .into(),
            )
        })?;
        signed_data::build_with_content_type(
            self.content_type,
            &SignedDataParts {
                indirect_data: &self.content,
                digest_algorithm: self.digest_algorithm,
                signed_attributes: &self.signed_attributes,
                certificates: &self.certificates,
                issuer: &self.issuer,
                serial: &self.serial,
                signature_algorithm: &signature_algorithm_der(self.scheme, self.digest_algorithm),
                signature,
                unsigned_attributes: None,
            },
        )
    }
}

pub(super) fn der_of(value: &impl Encode, what: &str) -> Result<Vec<u8>> {
    value
        .to_der()
        .map_err(|e| Error::Crypto(CryptoError::Key(format!("cannot encode {what}: {e}"))))
}

/// Build everything up to the signature values for `subject`: one [`PendingSignature`] for
/// `opts`' digest and one for each of its nested digests, in that order (the file is digested
/// once for all), signed by the leaf of `certificates` (leaf first) with a key of type
/// `scheme`. With [`SignOptions::nest`], the new signatures are numbered after the nested
/// signatures already in the file. Finish them with [`complete`] (or
/// [`PendingSignature::finish`] each).
pub fn prepare(
    subject: &dyn Subject,
    certificates: &[Certificate],
    scheme: SignatureAlgorithm,
    opts: &SignOptions,
) -> Result<Vec<PendingSignature>> {
    let existing = if opts.nest {
        subject.signature()?
    } else {
        None
    };
    let already = existing
        .as_deref()
        .map(|e| crate::cms::SignedData::parse(e).map(|sd| sd.nested_signatures().len()))
        .transpose()?;
    prepare_numbered(subject, certificates, scheme, opts, already)
}

/// [`prepare`], the new signatures numbered after `already` nested ones when nesting.
pub(crate) fn prepare_numbered(
    subject: &dyn Subject,
    certificates: &[Certificate],
    scheme: SignatureAlgorithm,
    opts: &SignOptions,
    already: Option<usize>,
) -> Result<Vec<PendingSignature>> {
    let leaf = certificates
        .first()
        .ok_or_else(|| Error::Crypto(CryptoError::Key("no signer certificate given".into())))?;
    super::check_publisher(subject, leaf, opts)?;
    super::SigningRequest::for_subject_numbered(subject, opts, already)?.pending(
        certificates,
        scheme,
        opts,
    )
}

/// Complete prepared signatures: `signatures` are the signature values for `pending`, in
/// order. Each is checked against the signer certificate, the new signatures are timestamped
/// and, with [`SignOptions::nest`], added after `subject`'s existing signatures; the result
/// is the PKCS#7 to embed.
pub fn complete(
    subject: &dyn Subject,
    pending: &[PendingSignature],
    signatures: &[Vec<u8>],
    opts: &SignOptions,
) -> Result<Vec<u8>> {
    if pending.len() != signatures.len() {
        return Err(Error::InvalidArgument(format!(
            "{} signature values for {} prepared signatures",
            signatures.len(),
            pending.len()
        )));
    }
    let new = pending
        .iter()
        .zip(signatures)
        .map(|(p, s)| p.finish(s))
        .collect::<Result<Vec<_>>>()?;
    let existing = if opts.nest {
        subject.signature()?
    } else {
        None
    };
    assemble(new, existing, opts)
}
