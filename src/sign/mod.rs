//! Signing orchestration: subject digest -> SpcIndirectDataContent -> signed attributes ->
//! [`Signer`] -> SignedData -> embedded signature, written atomically.
//!
//! [`prepare`] stops before the private key is needed and returns a [`PendingSignature`]
//! holding the digest to sign; [`PendingSignature::finish`] completes it with the signature
//! value. [`sign`] does both with a [`Signer`].

#[cfg(feature = "serde")]
mod state;

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use der::{Decode, Encode};
use x509_cert::Certificate;

use crate::cms::attributes::{self, AttributeOptions, Profile};
use crate::cms::oids;
use crate::cms::signed_data::{self, SignedDataParts};
use crate::cms::tlv;
use crate::digest::DigestAlgorithm;
use crate::error::{CryptoError, Error, Result};
use crate::input::FileInput;
use crate::signer::{SignatureAlgorithm, Signer};
use crate::subject::{self, Subject, SubjectOptions};

/// Settings for one signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignOptions {
    /// Digest algorithm of the file digest and the signature (default SHA-256).
    pub digest: DigestAlgorithm,
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
    /// Further digest algorithms, each signed as a nested signature of the primary one, in this
    /// order (dual signing, like signtool `/as`): one pass over the file computes them all.
    pub nested_digests: Vec<DigestAlgorithm>,
    /// Set by [`sign_nested`]: the signature being made will be nested after this many nested
    /// signatures already in the file (it numbers them with the sequenceNumber attribute).
    pub nested_after: Option<usize>,
}

impl SignOptions {
    /// The subject options with what the profile implies: signtool always writes
    /// MsiDigitalSignatureEx and SpcSipInfo version 2 for MSI; osslsigncode writes version 1
    /// and the Ex stream only when asked.
    fn subject_options(&self) -> SubjectOptions {
        let mut s = self.subject.clone();
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

/// DER AlgorithmIdentifier that Authenticode SignerInfos use for `scheme` with `alg`.
pub fn signature_algorithm_der(scheme: SignatureAlgorithm, alg: DigestAlgorithm) -> Vec<u8> {
    match scheme {
        SignatureAlgorithm::RsaPkcs1v15 => tlv::algorithm_null(&oids::RSA_ENCRYPTION),
        SignatureAlgorithm::EcdsaP256 | SignatureAlgorithm::EcdsaP384 => {
            tlv::algorithm_absent(&match alg {
                // Never signed with (refused before any signature is made); named for totality.
                DigestAlgorithm::Md5 | DigestAlgorithm::Sha1 => oids::ECDSA_WITH_SHA1,
                DigestAlgorithm::Sha256 => oids::ECDSA_WITH_SHA256,
                DigestAlgorithm::Sha384 => oids::ECDSA_WITH_SHA384,
                DigestAlgorithm::Sha512 => oids::ECDSA_WITH_SHA512,
            })
        }
    }
}

/// A signature waiting for its signature value: the output of [`prepare`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSignature {
    digest_algorithm: DigestAlgorithm,
    scheme: SignatureAlgorithm,
    indirect_data: Vec<u8>,
    signed_attributes: Vec<u8>,
    certificates: Vec<Vec<u8>>,
    issuer: Vec<u8>,
    serial: Vec<u8>,
    digest: Vec<u8>,
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

    /// The DER SpcIndirectDataContent being signed.
    pub fn indirect_data(&self) -> &[u8] {
        &self.indirect_data
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
            Error::Signer(format!(
                "the signature does not verify with the signer certificate's key: {e}"
            ))
        })?;
        signed_data::build(&SignedDataParts {
            indirect_data: &self.indirect_data,
            digest_algorithm: self.digest_algorithm,
            signed_attributes: &self.signed_attributes,
            certificates: &self.certificates,
            issuer: &self.issuer,
            serial: &self.serial,
            signature_algorithm: &signature_algorithm_der(self.scheme, self.digest_algorithm),
            signature,
            unsigned_attributes: None,
        })
    }
}

fn der_of(value: &impl Encode, what: &str) -> Result<Vec<u8>> {
    value
        .to_der()
        .map_err(|e| Error::Crypto(CryptoError::Key(format!("cannot encode {what}: {e}"))))
}

/// Build everything up to the signature value for `subject`, signed by the leaf of
/// `certificates` (leaf first) with a key of type `scheme`, for `opts.digest` (nested digests
/// are ignored here: see [`prepare_all`]).
pub fn prepare(
    subject: &dyn Subject,
    certificates: &[Certificate],
    scheme: SignatureAlgorithm,
    opts: &SignOptions,
) -> Result<PendingSignature> {
    let single = SignOptions {
        nested_digests: Vec::new(),
        ..opts.clone()
    };
    prepare_all(subject, certificates, scheme, &single)?
        .pop()
        .ok_or_else(|| Error::Unsupported("nothing to sign".into()))
}

/// [`prepare`] for the primary digest and every nested digest of `opts`, in that order,
/// digesting the file once for all of them.
pub fn prepare_all(
    subject: &dyn Subject,
    certificates: &[Certificate],
    scheme: SignatureAlgorithm,
    opts: &SignOptions,
) -> Result<Vec<PendingSignature>> {
    let leaf = certificates
        .first()
        .ok_or_else(|| Error::Crypto(CryptoError::Key("no signer certificate given".into())))?;
    let issuer = der_of(leaf.tbs_certificate().issuer(), "issuer")?;
    let serial = der_of(leaf.tbs_certificate().serial_number(), "serial number")?;
    let certificates = certificates
        .iter()
        .map(|c| der_of(c, "certificate"))
        .collect::<Result<Vec<_>>>()?;
    let mut algs = vec![opts.digest];
    algs.extend(opts.nested_digests.iter().copied());
    if let Some(weak) = algs.iter().find(|a| !a.can_sign()) {
        return Err(Error::Crypto(CryptoError::UnsupportedAlgorithm(format!(
            "{weak} is accepted for verification only; sign with sha256, sha384, sha512 or sha1"
        ))));
    }
    subject
        .indirect_data_all(&algs, &opts.subject_options())?
        .into_iter()
        .zip(algs)
        .enumerate()
        .map(|(i, (indirect_data, alg))| {
            let mut attribute_options = opts.attribute_options();
            // Nested signatures are numbered after those already there.
            attribute_options.sequence_number = match (i, opts.nested_after) {
                (0, None) => None,
                (i, Some(existing)) => u32::try_from(existing + i + 1).ok(),
                (i, None) => u32::try_from(i).ok(),
            };
            let signed_attributes =
                attributes::signed_attributes(&indirect_data, alg, &attribute_options)?;
            Ok(PendingSignature {
                digest_algorithm: alg,
                scheme,
                digest: alg.digest(&signed_attributes),
                indirect_data,
                signed_attributes,
                certificates: certificates.clone(),
                issuer: issuer.clone(),
                serial: serial.clone(),
            })
        })
        .collect()
}

/// Sign `subject` with `signer` and return the DER PKCS#7 signature (not yet embedded). With
/// nested digests in `opts`, the result is the primary signature with the others nested in it.
pub fn sign(subject: &dyn Subject, signer: &dyn Signer, opts: &SignOptions) -> Result<Vec<u8>> {
    let pending = prepare_all(subject, signer.certificates(), signer.algorithm(), opts)?;
    let mut signed = pending.iter().map(|p| {
        let signature = signer.sign_digest(p.digest_algorithm(), p.digest())?;
        p.finish(&signature)
    });
    let primary = signed
        .next()
        .ok_or_else(|| Error::Unsupported("nothing to sign".into()))??;
    signed.try_fold(primary, |acc, nested| nest(&acc, &nested?))
}

/// Sign `subject` and nest the new signature(s) in `existing` (its current signature), after
/// the nested signatures already there, numbering them as signtool `/as` does.
pub fn sign_nested(
    subject: &dyn Subject,
    signer: &dyn Signer,
    opts: &SignOptions,
    existing: &[u8],
) -> Result<Vec<u8>> {
    let already = crate::cms::SignedData::parse(existing)?
        .nested_signatures()
        .len();
    let opts = SignOptions {
        nested_after: Some(already),
        ..opts.clone()
    };
    let new = sign(subject, signer, &opts)?;
    // `new` is the first new signature with any further ones nested in it; flatten them all
    // into `existing`, in order.
    let parsed = crate::cms::SignedData::parse(&new)?;
    let first = crate::cms::edit::strip_nested_signatures(&new)?;
    let mut out = nest(existing, &first)?;
    for n in parsed.nested_signatures() {
        out = nest(&out, &n)?;
    }
    Ok(out)
}

/// Add `nested` (a DER PKCS#7 signature) as a nested signature of `existing`, after the
/// nested signatures it already has.
pub fn nest(existing: &[u8], nested: &[u8]) -> Result<Vec<u8>> {
    crate::cms::SignedData::parse(nested)?;
    crate::cms::edit::add_nested_signature(existing, nested)
}

/// Write `path` through `write`, atomically: the data goes to a temporary file in the same
/// directory, which is synced and renamed over `path` only when `write` succeeded. On error
/// the temporary file is removed and `path` is untouched.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".authsign-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    {
        let mut buffered = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        write(&mut buffered)?;
        buffered.flush()?;
    }
    // Keep the permissions of a file being replaced.
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(meta.permissions())?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| Error::Io(e.error))?;
    Ok(())
}

/// Sign the file at `input` and write the signed file to `output` (or back to `input`,
/// atomically, when `output` is `None`). Returns the DER PKCS#7 that was embedded.
pub fn sign_file(
    input: &Path,
    output: Option<&Path>,
    signer: &dyn Signer,
    opts: &SignOptions,
) -> Result<Vec<u8>> {
    let file = FileInput::open(input)?;
    let subject = subject::open(&file)?;
    let pkcs7 = sign(subject.as_ref(), signer, opts)?;
    write_atomically(output.unwrap_or(input), |out| {
        subject.with_signature(&pkcs7, out)
    })?;
    Ok(pkcs7)
}

/// Check that the PKCS#7 signature `pkcs7` was made for `subject`: its SpcIndirectDataContent
/// digest equals the subject's digest. Used before attaching a detached signature.
pub fn check_signature_matches(subject: &dyn Subject, pkcs7: &[u8]) -> Result<()> {
    let sd = crate::cms::SignedData::parse(pkcs7)?;
    if subject.matches_indirect_data(&sd.indirect_data)? {
        return Ok(());
    }
    let computed = subject.digest(&[sd.indirect_data.digest_algorithm])?;
    Err(crate::error::VerifyError::DigestMismatch {
        signed: hex::encode(&sd.indirect_data.digest),
        computed: hex::encode(computed.first().map(Vec::as_slice).unwrap_or_default()),
    }
    .into())
}

/// Whether the file at `path` starts with the PE magic `MZ`.
fn is_pe(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 2];
    let f = std::fs::File::open(path)?;
    Ok(crate::input::Input::len(&f) >= 2
        && crate::input::Input::read_exact_at(&f, 0, &mut magic).is_ok()
        && &magic == b"MZ")
}

/// Sign the file at `path` in place, writing only what changes (for PE: 12 header bytes and
/// the certificate table at the end): one read pass over the file computes every digest and
/// the PE checksum, and nothing is rewritten. Crash-safe: if this fails or the process or
/// machine stops midway, the file is the old one or the new one (see [`crate::pe::in_place`]
/// for how; an unfinished earlier update of the file is rolled back first). Formats that
/// cannot be patched are signed with [`sign_file`] (rewritten to a temporary file, renamed).
/// Returns the DER PKCS#7 that was embedded.
pub fn sign_in_place(path: &Path, signer: &dyn Signer, opts: &SignOptions) -> Result<Vec<u8>> {
    if !is_pe(path)? {
        return sign_file(path, None, signer, opts);
    }
    crate::pe::in_place::recover_path(path)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    let pe = crate::pe::PeSubject::parse_for_update(&file)?;
    let pkcs7 = sign(&pe, signer, opts)?;
    let patch = pe.signature_patch(&pkcs7)?;
    crate::pe::in_place::apply(
        &file,
        &patch,
        Some(&crate::pe::in_place::journal_path(path)),
    )?;
    Ok(pkcs7)
}

/// Sign `input` into a new file `output` (replaced atomically if it exists), leaving `input`
/// as it is. For PE the copy runs on a second thread (`std::fs::copy`: `copy_file_range` on
/// Linux, a reflink where the file system has them) while the file is hashed, and the
/// signature is then patched into the copy before it is synced and renamed to `output`: the
/// output is the complete signed file or absent (or its old self), never partial. The sync
/// writes the whole copy to disk, which bounds the speed of this on large files by the disk
/// (it starts while the file is still being hashed).
pub fn sign_file_to(
    input: &Path,
    output: &Path,
    signer: &dyn Signer,
    opts: &SignOptions,
) -> Result<Vec<u8>> {
    if !is_pe(input)? {
        return sign_file(input, Some(output), signer, opts);
    }
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".authsign-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    let file = FileInput::open(input)?;
    let (copied, signed) = std::thread::scope(|scope| {
        // Copy, then start writing the copy to disk while the hashing goes on: the final
        // sync then only has the patched bytes left to flush.
        let copy = scope.spawn(|| {
            std::fs::copy(input, tmp.path())?;
            std::fs::File::open(tmp.path())?.sync_data()
        });
        let signed = (|| {
            let pe = crate::pe::PeSubject::parse_for_update(&file)?;
            let pkcs7 = sign(&pe, signer, opts)?;
            let patch = pe.signature_patch(&pkcs7)?;
            Ok::<_, Error>((pkcs7, patch))
        })();
        let copied = copy
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("copy thread panicked")))
            .map(|_| ());
        (copied, signed)
    });
    let (pkcs7, patch) = signed?;
    copied?;
    let out = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(tmp.path())?;
    crate::pe::in_place::apply(&out, &patch, None)?;
    drop(out);
    tmp.persist(output).map_err(|e| Error::Io(e.error))?;
    Ok(pkcs7)
}

/// One file of a [`sign_batch`] call: signed in place, or into `output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    /// The file to sign.
    pub input: std::path::PathBuf,
    /// Where to write the signed file; `None` signs in place ([`sign_in_place`]).
    pub output: Option<std::path::PathBuf>,
}

impl BatchItem {
    /// Sign `input` in place.
    pub fn in_place(input: impl Into<std::path::PathBuf>) -> Self {
        Self {
            input: input.into(),
            output: None,
        }
    }
}

/// Sign many files with one signer, in parallel: `workers` threads (0: twice the number of
/// processors, at least 8: they mostly wait for the signer and for `fsync`) each take the next file, hash it and call the signer, so files are
/// hashed while other threads wait for the signer (an HSM takes 80 ms to 1.5 s a signature)
/// and a signer that allows concurrent calls gets them. Returns one result per item, in order
/// (the DER PKCS#7 embedded, or why that file failed); one file failing does not stop the
/// others.
pub fn sign_batch(
    items: &[BatchItem],
    signer: &(dyn Signer + Sync),
    opts: &SignOptions,
    workers: usize,
) -> Vec<Result<Vec<u8>>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let workers = match workers {
        0 => std::thread::available_parallelism()
            .map_or(8, |n| n.get() * 4)
            .max(8),
        n => n,
    }
    .min(items.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Vec<u8>>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = match &item.output {
                    None => sign_in_place(&item.input, signer, opts),
                    Some(out) => sign_file_to(&item.input, out, signer, opts),
                };
                if let Ok(mut all) = results.lock() {
                    if let Some(slot) = all.get_mut(i) {
                        *slot = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::Signer("a batch worker stopped".into()))))
        .collect()
}
