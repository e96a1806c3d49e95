//! Signing: subject digest -> SpcIndirectDataContent -> signed attributes -> [`Signer`] ->
//! SignedData -> timestamps -> nesting -> embedded signature, written crash-safely.
//!
//! Which function to use:
//! - [`sign_file`] signs a file in place, [`sign_file_to`] into another file, [`sign_batch`]
//!   many files with one signer in parallel: with every option of [`SignOptions`] (digests,
//!   profile, timestamps, nesting, page hashes, MSI options). This is what most users want.
//! - [`sign`] returns the PKCS#7 for a [`Subject`] you opened, without writing anything
//!   (detached signatures, custom outputs); `Subject::with_signature` embeds it.
//! - [`prepare`] / [`complete`] split signing in two for a key that lives elsewhere (a signing
//!   server, an HSM behind a network): see [`PendingSignature`].
//! - [`SigningRequest`] and [`RequestSigner`] split it where a signing service does: the client
//!   sends the file's SpcIndirectDataContent, the service builds the signed attributes, signs
//!   and answers with the SignedData ([`sign_request`]); [`sign_file_with`],
//!   [`sign_file_to_with`], [`sign_batch_with`] and [`sign_with`] take any `RequestSigner`
//!   (a local [`Signer`] is one).
//! - [`embed_file`], [`timestamp_file`], [`remove_signatures_file`], [`remove_nested_file`] and
//!   [`finish_file`] do the other file operations of signtool.

mod batch;
mod file;
mod pending;
mod request;
#[cfg(feature = "serde")]
mod state;

pub use batch::{sign_batch, sign_batch_with, BatchItem};
pub use file::{
    embed_file, finish_file, remove_nested_file, remove_signatures_file, sign_file, sign_file_to,
    sign_file_to_with, sign_file_with, timestamp_file,
};
pub use pending::{complete, prepare, PendingSignature};
pub use request::{sign_request, RequestSigner, SigningRequest, MAX_REQUEST_SIGNATURES};

pub use crate::output::{write_atomically, write_atomically_like};

use std::sync::Arc;
use std::time::SystemTime;

use crate::cms::attributes::{AttributeOptions, Profile};
use crate::cms::oids;
use crate::digest::DigestAlgorithm;
use crate::error::{Error, Result};
use crate::signer::{SignatureAlgorithm, Signer};
use crate::subject::{Subject, SubjectOptions};
use crate::timestamp::{TimestampKind, Timestamper};

/// How to timestamp the signatures being made: a [`Timestamper`] (for example
/// `timestamp::HttpTimestamper` with the `http` feature), the protocol, and the digest of the
/// RFC 3161 message imprint.
#[derive(Clone)]
pub struct TimestampOptions {
    timestamper: Arc<dyn Timestamper + Send + Sync>,
    kind: TimestampKind,
    digest: DigestAlgorithm,
}

impl std::fmt::Debug for TimestampOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimestampOptions")
            .field("timestamper", &self.timestamper.name())
            .field("kind", &self.kind)
            .field("digest", &self.digest)
            .finish()
    }
}

impl TimestampOptions {
    /// RFC 3161 timestamps (signtool `/tr`) from `timestamper`, SHA-256 message imprint.
    pub fn rfc3161(timestamper: impl Timestamper + Send + Sync + 'static) -> Self {
        Self {
            timestamper: Arc::new(timestamper),
            kind: TimestampKind::Rfc3161,
            digest: DigestAlgorithm::Sha256,
        }
    }

    /// Legacy Authenticode timestamps (signtool `/t`) from `timestamper`.
    pub fn legacy(timestamper: impl Timestamper + Send + Sync + 'static) -> Self {
        Self {
            kind: TimestampKind::Legacy,
            ..Self::rfc3161(timestamper)
        }
    }

    /// RFC 3161 timestamps from the servers at `urls`, tried in order (feature `http`).
    #[cfg(feature = "http")]
    pub fn rfc3161_urls<I, S>(urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::rfc3161(crate::timestamp::HttpTimestamper::new(urls))
    }

    /// The digest of the RFC 3161 message imprint (signtool `/td`).
    pub fn with_digest(mut self, digest: DigestAlgorithm) -> Self {
        self.digest = digest;
        self
    }

    /// The protocol.
    pub fn kind(&self) -> TimestampKind {
        self.kind
    }

    /// Timestamp the primary signature of `pkcs7` and each of its nested signatures.
    pub fn apply_to_all(&self, pkcs7: &[u8]) -> Result<Vec<u8>> {
        crate::timestamp::apply_to_all(pkcs7, self.timestamper.as_ref(), self.kind, self.digest)
    }

    /// Timestamp the primary signature of `pkcs7` only.
    pub fn apply(&self, pkcs7: &[u8]) -> Result<Vec<u8>> {
        crate::timestamp::apply(pkcs7, self.timestamper.as_ref(), self.kind, self.digest)
    }
}

/// Settings for signing. Build with [`SignOptions::new`] (or `default()`) and the `with_*`
/// methods:
///
/// ```
/// use authsign::{DigestAlgorithm, Profile, SignOptions};
/// let opts = SignOptions::new()
///     .with_digest(DigestAlgorithm::Sha1)
///     .with_nested_digest(DigestAlgorithm::Sha256)
///     .with_profile(Profile::Signtool)
///     .with_description("My app");
/// assert_eq!(opts.nested_digests, vec![DigestAlgorithm::Sha256]);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SignOptions {
    /// Digest algorithm of the file digest and the signature (default SHA-256).
    pub digest: DigestAlgorithm,
    /// Further digest algorithms, each signed as a nested signature of the primary one, in this
    /// order (dual signing, like signtool `/as`): one pass over the file computes them all.
    pub nested_digests: Vec<DigestAlgorithm>,
    /// Which tool's signed attributes to reproduce.
    pub profile: Profile,
    /// SpcSpOpusInfo program name.
    pub description: Option<String>,
    /// SpcSpOpusInfo URL.
    pub url: Option<String>,
    /// The signingTime attribute (see [`Profile`] for when it is written without this).
    pub signing_time: Option<SystemTime>,
    /// Format-specific options.
    pub subject: SubjectOptions,
    /// Timestamp every new signature (the primary one and each nested one).
    pub timestamp: Option<TimestampOptions>,
    /// Keep the file's signatures and add the new ones as nested signatures after them
    /// (signtool `/as`); an unsigned file is signed normally.
    pub nest: bool,
    /// Files signed at once by [`sign_batch`] (0: chosen from the number of processors).
    pub batch_workers: usize,
}

impl SignOptions {
    /// The defaults: SHA-256, the signtool profile, no timestamp.
    pub fn new() -> Self {
        Self::default()
    }

    /// The digest algorithm of the (primary) signature.
    pub fn with_digest(mut self, digest: DigestAlgorithm) -> Self {
        self.digest = digest;
        self
    }

    /// Add a nested signature with `digest` (dual signing).
    pub fn with_nested_digest(mut self, digest: DigestAlgorithm) -> Self {
        self.nested_digests.push(digest);
        self
    }

    /// The first of `digests` for the primary signature, the others nested (dual signing);
    /// empty leaves the options as they are.
    pub fn with_digests(mut self, digests: &[DigestAlgorithm]) -> Self {
        if let Some((first, rest)) = digests.split_first() {
            self.digest = *first;
            self.nested_digests = rest.to_vec();
        }
        self
    }

    /// The signed-attribute profile.
    pub fn with_profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// The program name (SpcSpOpusInfo).
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The program URL (SpcSpOpusInfo).
    pub fn with_url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The signingTime attribute.
    pub fn with_signing_time(mut self, time: SystemTime) -> Self {
        self.signing_time = Some(time);
        self
    }

    /// Timestamp the new signatures.
    pub fn with_timestamp(mut self, timestamp: TimestampOptions) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Nest the new signatures after the file's existing ones.
    pub fn nesting(mut self, nest: bool) -> Self {
        self.nest = nest;
        self
    }

    /// PE: include page hashes.
    pub fn with_page_hashes(mut self, page_hashes: bool) -> Self {
        self.subject.page_hashes = page_hashes;
        self
    }

    /// MSI: write the MsiDigitalSignatureEx stream (the signtool profile always does).
    pub fn with_msi_dse(mut self, msi_dse: bool) -> Self {
        self.subject.msi_dse = msi_dse;
        self
    }

    /// APPX/MSIX: sign even though the package's Publisher is not the signer certificate's
    /// subject (Windows will not install such a package; see
    /// [`SubjectOptions::allow_publisher_mismatch`]).
    pub fn allowing_publisher_mismatch(mut self, allow: bool) -> Self {
        self.subject.allow_publisher_mismatch = allow;
        self
    }

    /// How many files [`sign_batch`] signs at once (0: chosen from the number of processors).
    pub fn with_batch_workers(mut self, workers: usize) -> Self {
        self.batch_workers = workers;
        self
    }

    /// Format-specific options.
    pub fn with_subject_options(mut self, subject: SubjectOptions) -> Self {
        self.subject = subject;
        self
    }

    /// The subject options with what the profile implies: signtool always writes
    /// MsiDigitalSignatureEx and SpcSipInfo version 2 for MSI; osslsigncode writes version 1
    /// and the Ex stream only when asked; APPX packages are laid out as the profile's tool
    /// lays them out.
    fn subject_options(&self) -> SubjectOptions {
        let mut s = self.subject.clone();
        s.appx_layout.get_or_insert(self.profile);
        match self.profile {
            Profile::Signtool => s.msi_dse = true,
            Profile::Osslsigncode => {
                s.msi_sip_version.get_or_insert(1);
            }
        }
        s
    }

    fn attribute_options(&self) -> AttributeOptions {
        AttributeOptions {
            profile: self.profile,
            description: self.description.clone(),
            url: self.url.clone(),
            signing_time: self.signing_time,
            sequence_number: None,
        }
    }
}

#[doc(hidden)] // building block, public for the integration tests
/// DER AlgorithmIdentifier that Authenticode SignerInfos use for `scheme` with `alg`:
/// rsaEncryption with NULL parameters (what signtool and osslsigncode write for RSA), or
/// ecdsa-with-SHAx with the parameters absent.
pub fn signature_algorithm_der(scheme: SignatureAlgorithm, alg: DigestAlgorithm) -> Vec<u8> {
    use der::Encode;
    let identifier = match scheme {
        SignatureAlgorithm::RsaPkcs1v15 => spki::AlgorithmIdentifierRef {
            oid: oids::RSA_ENCRYPTION,
            parameters: Some(der::asn1::AnyRef::from(der::asn1::Null)),
        },
        SignatureAlgorithm::EcdsaP256 | SignatureAlgorithm::EcdsaP384 => {
            spki::AlgorithmIdentifierRef {
                oid: match alg {
                    // Never signed with (refused before any signature is made).
                    DigestAlgorithm::Md5 | DigestAlgorithm::Sha1 => oids::ECDSA_WITH_SHA1,
                    DigestAlgorithm::Sha256 => oids::ECDSA_WITH_SHA256,
                    DigestAlgorithm::Sha384 => oids::ECDSA_WITH_SHA384,
                    DigestAlgorithm::Sha512 => oids::ECDSA_WITH_SHA512,
                },
                parameters: None,
            }
        }
    };
    // An OID and at most a NULL: encoding cannot fail.
    identifier.to_der().unwrap_or_default()
}

/// Sign `subject` with `signer` and return the DER PKCS#7 to embed (nothing is written): the
/// primary signature with `opts`' nested digests nested in it, each timestamped when `opts`
/// says so, and with [`SignOptions::nest`] all of them added after the subject's existing
/// signatures. Embed it with `Subject::with_signature`.
pub fn sign(subject: &dyn Subject, signer: &dyn Signer, opts: &SignOptions) -> Result<Vec<u8>> {
    sign_with(subject, signer, opts)
}

/// [`sign`] with any [`RequestSigner`]: a local [`Signer`], or a signing-service client.
pub fn sign_with<R: RequestSigner + ?Sized>(
    subject: &dyn Subject,
    signer: &R,
    opts: &SignOptions,
) -> Result<Vec<u8>> {
    sign_with_named(subject, signer, opts, None)
}

/// [`sign_with`], telling the request which file it is for.
pub(crate) fn sign_with_named<R: RequestSigner + ?Sized>(
    subject: &dyn Subject,
    signer: &R,
    opts: &SignOptions,
    file_name: Option<&str>,
) -> Result<Vec<u8>> {
    let existing = if opts.nest {
        subject.signature()?
    } else {
        None
    };
    sign_into(subject, signer, opts, existing, file_name)
}

/// Sign `subject` and nest the new signature(s) in `existing` (a PKCS#7 made for this file,
/// embedded or not), after the nested signatures already there, numbering them as signtool
/// `/as` does. Returns the combined PKCS#7.
pub fn sign_nested(
    subject: &dyn Subject,
    signer: &dyn Signer,
    opts: &SignOptions,
    existing: &[u8],
) -> Result<Vec<u8>> {
    sign_into(subject, signer, opts, Some(existing.to_vec()), None)
}

fn sign_into<R: RequestSigner + ?Sized>(
    subject: &dyn Subject,
    signer: &R,
    opts: &SignOptions,
    existing: Option<Vec<u8>>,
    file_name: Option<&str>,
) -> Result<Vec<u8>> {
    let already = existing.as_deref().map(request::count_nested).transpose()?;
    // Windows will not install a package signed by anyone but its declared publisher: checked
    // before signing when the signer's certificate is known here, else on the answer.
    let known = signer.signer_certificate();
    if let Some(leaf) = &known {
        check_publisher(subject, leaf, opts)?;
    }
    let mut request = SigningRequest::for_subject_numbered(subject, opts, already)?;
    if let Some(name) = file_name {
        request = request.with_file_name(name);
    }
    let new = signer.sign_request(&request, opts)?;
    if known.is_none() {
        if let Some(leaf) = new.first().map(|p| signer_of(p)).transpose()?.flatten() {
            check_publisher(subject, &leaf, opts)?;
        }
    }
    if new.len() != request.indirect_data().len() {
        return Err(Error::Signer(
            format!(
                "{} signatures returned for {} asked",
                new.len(),
                request.indirect_data().len()
            )
            .into(),
        ));
    }
    combine(new, existing)
}

/// Refuse signing `subject` with `leaf` when the subject declares another publisher (APPX
/// and MSIX), unless the options allow it.
pub(crate) fn check_publisher(
    subject: &dyn Subject,
    leaf: &crate::Certificate,
    opts: &SignOptions,
) -> Result<()> {
    match subject.publisher_mismatch(leaf)? {
        Some(mismatch) if !opts.subject.allow_publisher_mismatch => Err(mismatch.into()),
        _ => Ok(()),
    }
}

/// The certificate that made the primary signature of `pkcs7`, if it is in it.
fn signer_of(pkcs7: &[u8]) -> Result<Option<crate::Certificate>> {
    use der::Decode;
    let sd = crate::cms::SignedData::parse(pkcs7)?;
    let pool: Vec<crate::Certificate> = sd
        .certificates
        .iter()
        .filter_map(|c| crate::Certificate::from_der(c).ok())
        .collect();
    Ok(sd
        .signer_infos
        .first()
        .and_then(|si| crate::crypto::signer_info::find_signer(si, &pool))
        .cloned())
}

/// Nest freshly made signatures (`new`, the primary first, already timestamped) in
/// `existing` (when nesting into a signed file) or in the first of them.
fn combine(new: Vec<Vec<u8>>, existing: Option<Vec<u8>>) -> Result<Vec<u8>> {
    let mut parts = new.into_iter();
    let mut out = match existing {
        Some(existing) => existing,
        None => parts
            .next()
            .ok_or_else(|| Error::Internal("nothing to sign"))?,
    };
    for nested in parts {
        out = nest(&out, &nested)?;
    }
    Ok(out)
}

/// The PKCS#7 to embed from freshly made signatures (`new`, each a complete SignedData, the
/// primary first): each is timestamped as `opts` says, then they are nested in `existing`
/// (when nesting into a signed file) or in the first of them.
fn assemble(new: Vec<Vec<u8>>, existing: Option<Vec<u8>>, opts: &SignOptions) -> Result<Vec<u8>> {
    let new = match &opts.timestamp {
        Some(ts) => new
            .iter()
            .map(|s| ts.apply(s))
            .collect::<Result<Vec<_>>>()?,
        None => new,
    };
    combine(new, existing)
}

/// Add `nested` (a DER PKCS#7 signature) as a nested signature of `existing`, after the
/// nested signatures it already has. `nested`'s own nested signatures, if any, are added
/// after it, in order.
pub fn nest(existing: &[u8], nested: &[u8]) -> Result<Vec<u8>> {
    let parsed = crate::cms::SignedData::parse(nested)?;
    let inner = parsed.nested_signatures();
    let first = if inner.is_empty() {
        nested.to_vec()
    } else {
        crate::cms::edit::strip_nested_signatures(nested)?
    };
    let mut out = crate::cms::edit::add_nested_signature(existing, &first)?;
    for n in inner {
        out = crate::cms::edit::add_nested_signature(&out, &n)?;
    }
    Ok(out)
}
