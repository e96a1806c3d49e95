//! Signing without the file: a [`SigningRequest`] holds what a signature is made over (the
//! file's SpcIndirectDataContent for each digest algorithm), a [`RequestSigner`] turns it into
//! complete signatures. A local [`Signer`] is a `RequestSigner`; so is a signing service that
//! receives the request over the network, builds the signed attributes, signs and answers with
//! the SignedData (`authsign::remote`). The file pipeline ([`sign_file_with`](super::sign_file_with)
//! and friends) builds the request, asks the `RequestSigner`, then nests and embeds what it
//! returns, so a remote signature is byte-identical to a local one with the same key.

use const_oid::ObjectIdentifier;

use super::{PendingSignature, SignOptions};
use crate::cms::attributes::{self, AttributeOptions};
use crate::cms::oids;
use crate::cms::spc::IndirectData;
use crate::cms::tlv;
use crate::digest::DigestAlgorithm;
use crate::error::{CryptoError, Error, Format, MalformedKind, Result};
use crate::signer::Signer;
use crate::subject::Subject;

/// Most signatures one request may ask for (one per digest algorithm is the useful maximum;
/// a few more leave room for repeated algorithms).
pub const MAX_REQUEST_SIGNATURES: usize = 8;

/// What signatures are made over when the file is not at hand: the SpcIndirectDataContent
/// (DER) of the file for each digest algorithm, the primary signature's first, and how the new
/// nested signatures are numbered. Built from a file by [`SigningRequest::for_subject`], or
/// from received bytes by [`SigningRequest::new`], which checks every entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningRequest {
    content_type: ObjectIdentifier,
    algorithms: Vec<DigestAlgorithm>,
    indirect_data: Vec<Vec<u8>>,
    parsed: Vec<IndirectData>,
    nested_after: Option<usize>,
    file_name: Option<String>,
}

impl SigningRequest {
    /// A request for one signature per entry of `signatures`: the signature's digest algorithm
    /// and the DER SpcIndirectDataContent it signs, the primary signature's first. The two
    /// algorithms are usually the same; a package's SpcIndirectDataContent carries its block
    /// map's algorithm whatever the signature's (APPX, osslsigncode profile). `nested_after`:
    /// `None` when the new signatures replace the file's; `Some(n)` when they are nested after
    /// the primary signature's `n` existing nested signatures (the numbering signtool `/as`
    /// writes). Each SpcIndirectDataContent must be one DER value with nothing after it, whose
    /// digest has its algorithm's length; both algorithms must be ones authsign signs with
    /// (not MD5).
    pub fn new(
        signatures: Vec<(DigestAlgorithm, Vec<u8>)>,
        nested_after: Option<usize>,
    ) -> Result<Self> {
        Self::with_content_type(oids::SPC_INDIRECT_DATA, signatures, nested_after)
    }

    /// [`SigningRequest::new`] for signatures over content of type `content_type`:
    /// SpcIndirectDataContent (SPC_INDIRECT_DATA_OBJID, checked as `new` says) or a catalog's
    /// certificate trust list (szOID_CTL: one DER value with nothing after it). Other types
    /// are refused.
    pub fn with_content_type(
        content_type: ObjectIdentifier,
        signatures: Vec<(DigestAlgorithm, Vec<u8>)>,
        nested_after: Option<usize>,
    ) -> Result<Self> {
        if content_type != oids::SPC_INDIRECT_DATA && content_type != oids::CTL {
            return Err(Error::Unsupported(format!(
                "signatures over content of type {content_type} (SpcIndirectDataContent and \
                 catalogs' certificate trust lists are signed)"
            )));
        }
        let (algorithms, indirect_data): (Vec<_>, Vec<_>) = signatures.into_iter().unzip();
        if indirect_data.is_empty() {
            return Err(Error::InvalidArgument(
                "a signing request needs at least one SpcIndirectDataContent".into(),
            ));
        }
        if indirect_data.len() > MAX_REQUEST_SIGNATURES {
            return Err(Error::InvalidArgument(format!(
                "a signing request asks for at most {MAX_REQUEST_SIGNATURES} signatures, not {}",
                indirect_data.len()
            )));
        }
        for der in &indirect_data {
            // One value, nothing after it (the BER parser alone would take a prefix).
            let value = tlv::parse_one(der, "signed content")?;
            if value.raw.len() != der.len() {
                return Err(Error::malformed(
                    Format::Cms,
                    value.raw.len() as u64,
                    MalformedKind::TrailingData,
                    "bytes after the signed content",
                ));
            }
        }
        let spc = content_type == oids::SPC_INDIRECT_DATA;
        let parsed = indirect_data
            .iter()
            .filter(|_| spc)
            .map(|der| {
                let data = IndirectData::parse(der)?;
                if !data.digest_algorithm.can_sign() {
                    return Err(Error::Crypto(CryptoError::UnsupportedAlgorithm(format!(
                        "{} is accepted for verification only",
                        data.digest_algorithm
                    ))));
                }
                Ok(data)
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(weak) = algorithms.iter().find(|a| !a.can_sign()) {
            return Err(Error::Crypto(CryptoError::UnsupportedAlgorithm(format!(
                "{weak} is accepted for verification only"
            ))));
        }
        Ok(Self {
            content_type,
            algorithms,
            indirect_data,
            parsed,
            nested_after,
            file_name: None,
        })
    }

    /// The request for signing `subject` with `opts`: its SpcIndirectDataContent for
    /// `opts.digest` and each of `opts.nested_digests` (one pass over the file), and, with
    /// [`SignOptions::nest`] on a signed file, numbered after its nested signatures.
    pub fn for_subject(subject: &dyn Subject, opts: &SignOptions) -> Result<Self> {
        let existing = if opts.nest {
            subject.signature()?
        } else {
            None
        };
        let already = existing.as_deref().map(count_nested).transpose()?;
        Self::for_subject_numbered(subject, opts, already)
    }

    /// [`SigningRequest::for_subject`] with the nesting decided by the caller.
    pub(crate) fn for_subject_numbered(
        subject: &dyn Subject,
        opts: &SignOptions,
        nested_after: Option<usize>,
    ) -> Result<Self> {
        let mut algs = vec![opts.digest];
        algs.extend(opts.nested_digests.iter().copied());
        if let Some(weak) = algs.iter().find(|a| !a.can_sign()) {
            return Err(Error::Crypto(CryptoError::UnsupportedAlgorithm(format!(
                "{weak} is accepted for verification only; sign with sha256, sha384, sha512 or sha1"
            ))));
        }
        let content = subject.signed_content(&algs, &opts.subject_options())?;
        Self::with_content_type(
            subject.content_type(),
            algs.into_iter().zip(content).collect(),
            nested_after,
        )
    }

    /// The same request, naming the file it is for (informational: a signing service writes it
    /// in its audit log).
    pub fn with_file_name(mut self, name: impl Into<String>) -> Self {
        self.file_name = Some(name.into());
        self
    }

    /// The type of the content signed: SPC_INDIRECT_DATA_OBJID, or szOID_CTL for a catalog.
    pub fn content_type(&self) -> ObjectIdentifier {
        self.content_type
    }

    /// The DER content of each signature to make (SpcIndirectDataContent, or a catalog's trust
    /// list), the primary one first.
    pub fn indirect_data(&self) -> &[Vec<u8>] {
        &self.indirect_data
    }

    /// The parsed SpcIndirectDataContent of each signature (its SIP type, digest algorithm and
    /// file digest), in the order of [`SigningRequest::indirect_data`]; empty for a catalog.
    pub fn parsed(&self) -> &[IndirectData] {
        &self.parsed
    }

    /// The digest algorithm of each signature (of its signed attributes and SignerInfo), in
    /// order. The file digest's algorithm is in [`SigningRequest::parsed`].
    pub fn digest_algorithms(&self) -> &[DigestAlgorithm] {
        &self.algorithms
    }

    /// `None`: the new signatures replace the file's. `Some(n)`: they are nested after `n`
    /// nested signatures already in the file.
    pub fn nested_after(&self) -> Option<usize> {
        self.nested_after
    }

    /// The file name given with [`SigningRequest::with_file_name`].
    pub fn file_name(&self) -> Option<&str> {
        self.file_name.as_deref()
    }

    /// The sequence number attribute of signature `index` (none for a primary signature that
    /// replaces the file's; nested signatures numbered as signtool `/as` numbers them).
    fn sequence_number(&self, index: usize) -> Option<u32> {
        match (index, self.nested_after) {
            (0, None) => None,
            (i, Some(existing)) => u32::try_from(existing + i + 1).ok(),
            (i, None) => u32::try_from(i).ok(),
        }
    }

    /// Everything up to the signature values, for a key whose chain is `signer`'s.
    pub(crate) fn pending(
        &self,
        certificates: &[crate::Certificate],
        scheme: crate::signer::SignatureAlgorithm,
        opts: &SignOptions,
    ) -> Result<Vec<PendingSignature>> {
        use super::pending::der_of;
        let leaf = certificates
            .first()
            .ok_or_else(|| Error::Crypto(CryptoError::Key("no signer certificate given".into())))?;
        let issuer = der_of(leaf.tbs_certificate().issuer(), "issuer")?;
        let serial = der_of(leaf.tbs_certificate().serial_number(), "serial number")?;
        let certificates = certificates
            .iter()
            .map(|c| der_of(c, "certificate"))
            .collect::<Result<Vec<_>>>()?;
        self.indirect_data
            .iter()
            .zip(&self.algorithms)
            .enumerate()
            .map(|(i, (indirect_data, &alg))| {
                let attribute_options = AttributeOptions {
                    sequence_number: self.sequence_number(i),
                    ..opts.attribute_options()
                };
                let signed_attributes = attributes::signed_attributes_for(
                    self.content_type,
                    indirect_data,
                    alg,
                    &attribute_options,
                )?;
                Ok(PendingSignature {
                    digest_algorithm: alg,
                    scheme,
                    digest: alg.digest(&signed_attributes),
                    content_type: self.content_type,
                    content: indirect_data.clone(),
                    signed_attributes,
                    certificates: certificates.clone(),
                    issuer: issuer.clone(),
                    serial: serial.clone(),
                })
            })
            .collect()
    }
}

/// How many nested signatures the primary signature of `pkcs7` carries.
pub(crate) fn count_nested(pkcs7: &[u8]) -> Result<usize> {
    Ok(crate::cms::SignedData::parse(pkcs7)?
        .nested_signatures()
        .len())
}

/// Turns a [`SigningRequest`] into signatures: one complete DER PKCS#7 SignedData for each
/// SpcIndirectDataContent of the request, in order, with the signed attributes `opts` asks
/// for (profile, description, URL, signing time) and timestamped when `opts` says so.
///
/// Every [`Signer`] is one (it signs locally, see [`sign_request`]); a signing-service client
/// such as `authsign::remote::RemoteSigner` is another. The file functions
/// ([`sign_file_with`](super::sign_file_with), [`sign_file_to_with`](super::sign_file_to_with),
/// [`sign_batch_with`](super::sign_batch_with)) take any of them.
pub trait RequestSigner {
    /// The signatures for `request`, one per SpcIndirectDataContent, in order.
    fn sign_request(&self, request: &SigningRequest, opts: &SignOptions) -> Result<Vec<Vec<u8>>>;

    /// The certificate that will sign, when it is known before signing (a local key's leaf);
    /// `None` (the default) when only the answer tells (a signing service). Used to check a
    /// package's declared publisher before anything is signed.
    fn signer_certificate(&self) -> Option<crate::Certificate> {
        None
    }
}

impl<S: Signer + ?Sized> RequestSigner for S {
    fn signer_certificate(&self) -> Option<crate::Certificate> {
        self.certificates().first().cloned()
    }
    fn sign_request(&self, request: &SigningRequest, opts: &SignOptions) -> Result<Vec<Vec<u8>>> {
        sign_request(request, self, opts)
    }
}

/// Sign every SpcIndirectDataContent of `request` with `signer`: build the signed attributes
/// (`opts`' profile, description, URL and signing time; sequence numbers for nested
/// signatures), have the key sign their digest, check the signature against the signer
/// certificate, and assemble one DER PKCS#7 SignedData each, timestamped when `opts` says so.
/// What a signing service does with the request a client sent; the result is what
/// [`sign`](super::sign) would have made for the file.
pub fn sign_request<S: Signer + ?Sized>(
    request: &SigningRequest,
    signer: &S,
    opts: &SignOptions,
) -> Result<Vec<Vec<u8>>> {
    let signed = request
        .pending(signer.certificates(), signer.algorithm(), opts)?
        .iter()
        .map(|p| {
            let signature =
                signer.sign_message(p.digest_algorithm(), p.signed_attributes(), p.digest())?;
            p.finish(&signature)
        })
        .collect::<Result<Vec<_>>>()?;
    match &opts.timestamp {
        Some(ts) => signed.iter().map(|s| ts.apply(s)).collect(),
        None => Ok(signed),
    }
}
