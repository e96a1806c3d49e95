//! Signing files: in place or into another file, crash-safely, keeping permissions; and the
//! other file operations (embed a detached signature, timestamp, remove, finish two-phase).
//!
//! In place, formats that support it (PE, APPX/MSIX) are patched: only the changed header
//! bytes (for a package: its last records) and the new signature are written, under an undo
//! journal (see [`crate::patch`]); the others are rewritten to a temporary file that replaces
//! the original. Into another file, those formats are copied on a second thread while they are
//! hashed and the copy is patched; other formats are written through a temporary file. Either way the output is the complete signed file or absent
//! (or its old self), never partial, and it has the input's permissions.

use std::path::Path;

use super::{sign_with_named, PendingSignature, RequestSigner, SignOptions};
use crate::error::{Error, Result};
use crate::input::FileInput;
use crate::open::{extension, open_with_extension};
use crate::output::{persist, temporary_beside, write_atomically_like};
use crate::signer::Signer;
use crate::subject::Subject;

/// Sign the file at `path` in place (see [`SignOptions`] for every choice: digests,
/// timestamps, nesting...). Crash-safe: if this fails, or the process or machine stops midway,
/// the file is the old one or the new one. Returns the DER PKCS#7 that was embedded.
pub fn sign_file(
    path: impl AsRef<Path>,
    signer: &dyn Signer,
    opts: &SignOptions,
) -> Result<Vec<u8>> {
    sign_file_with(path, signer, opts)
}

/// The file name a signing request names (for a signing service's audit log).
fn file_name(path: &Path) -> Option<String> {
    path.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// [`sign_file`] with any [`RequestSigner`]: a local [`Signer`], or a signing-service client
/// (`authsign::remote::RemoteSigner`), which gets the file's SpcIndirectDataContent and
/// returns the signatures to nest and embed here.
pub fn sign_file_with<R: RequestSigner + ?Sized>(
    path: impl AsRef<Path>,
    signer: &R,
    opts: &SignOptions,
) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let name = file_name(path);
    crate::patch::recover_path(path)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::at(path, e))?;
    let subject = open_with_extension(&file, extension(path).as_deref())?;
    if subject.prepare_in_place() {
        let pkcs7 = sign_with_named(subject.as_ref(), signer, opts, name.as_deref())?;
        if let Some(patch) = subject.signature_patch(&pkcs7)? {
            crate::patch::apply(&file, &patch, Some(&crate::patch::journal_path(path)))
                .map_err(|e| e.with_path(path))?;
            return Ok(pkcs7);
        }
        return rewrite(subject.as_ref(), &pkcs7, path, path);
    }
    let pkcs7 = sign_with_named(subject.as_ref(), signer, opts, name.as_deref())?;
    rewrite(subject.as_ref(), &pkcs7, path, path)
}

/// Write `subject` with `pkcs7` embedded to `output` through a temporary file, with the
/// permissions of `input`.
fn rewrite(subject: &dyn Subject, pkcs7: &[u8], input: &Path, output: &Path) -> Result<Vec<u8>> {
    write_atomically_like(output, Some(input), |out| {
        subject.with_signature_unchecked(pkcs7, out)
    })?;
    Ok(pkcs7.to_vec())
}

/// Sign `input` into `output` (replaced atomically if it exists), leaving `input` as it is.
/// `output` gets `input`'s permissions. For formats patched in place (PE) the copy runs on a
/// second thread (`std::fs::copy`: `copy_file_range` on Linux, a reflink where the file
/// system has them) while the file is hashed, and the signature is then patched into the copy
/// before it is synced and renamed to `output`. Returns the DER PKCS#7 that was embedded.
pub fn sign_file_to(
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    signer: &dyn Signer,
    opts: &SignOptions,
) -> Result<Vec<u8>> {
    sign_file_to_with(input, output, signer, opts)
}

/// [`sign_file_to`] with any [`RequestSigner`] (see [`sign_file_with`]).
pub fn sign_file_to_with<R: RequestSigner + ?Sized>(
    input: impl AsRef<Path>,
    output: impl AsRef<Path>,
    signer: &R,
    opts: &SignOptions,
) -> Result<Vec<u8>> {
    let (input, output) = (input.as_ref(), output.as_ref());
    let name = file_name(input);
    let file = FileInput::open(input)?;
    let subject = open_with_extension(&file, extension(input).as_deref())?;
    if !subject.prepare_in_place() {
        let pkcs7 = sign_with_named(subject.as_ref(), signer, opts, name.as_deref())?;
        return rewrite(subject.as_ref(), &pkcs7, input, output);
    }
    let tmp = temporary_beside(output)?;
    let (copied, signed) = std::thread::scope(|scope| {
        // Copy, then start writing the copy to disk while the hashing goes on: the final
        // sync then only has the patched bytes left to flush.
        let copy = scope.spawn(|| {
            std::fs::copy(input, tmp.path())?;
            std::fs::File::open(tmp.path())?.sync_data()
        });
        let signed = (|| {
            let pkcs7 = sign_with_named(subject.as_ref(), signer, opts, name.as_deref())?;
            let patch = subject.signature_patch(&pkcs7)?;
            Ok::<_, Error>((pkcs7, patch))
        })();
        let copied = copy
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("copy thread panicked")));
        (copied, signed)
    });
    let (pkcs7, patch) = signed?;
    copied.map_err(|e| Error::at(output, e))?;
    match patch {
        Some(patch) => {
            let out = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(tmp.path())
                .map_err(|e| Error::at(output, e))?;
            crate::patch::apply(&out, &patch, None).map_err(|e| e.with_path(output))?;
            drop(out);
            persist(tmp, output, Some(input))?;
            Ok(pkcs7)
        }
        None => rewrite(subject.as_ref(), &pkcs7, input, output),
    }
}

/// Open `input` and write, to `output` (or back to `input`), what `edit` makes of it.
fn edit_file(
    input: &Path,
    output: Option<&Path>,
    edit: impl FnOnce(&dyn Subject, &mut dyn std::io::Write) -> Result<()>,
) -> Result<()> {
    let file = FileInput::open(input)?;
    let subject = open_with_extension(&file, extension(input).as_deref())?;
    write_atomically_like(output.unwrap_or(input), Some(input), |out| {
        edit(subject.as_ref(), out)
    })
}

/// Embed the detached signature `pkcs7` in `input`, writing `output` (or `input` again). It
/// must have been made for this file (checked); with [`SignOptions::nest`] it is added after
/// the file's signatures instead of replacing them.
pub fn embed_file(
    input: impl AsRef<Path>,
    output: Option<&Path>,
    pkcs7: &[u8],
    opts: &SignOptions,
) -> Result<()> {
    edit_file(input.as_ref(), output, |subject, out| {
        crate::subject::check_signature(subject, pkcs7)?;
        let combined = match (opts.nest, subject.signature()?) {
            (true, Some(existing)) => super::nest(&existing, pkcs7)?,
            _ => pkcs7.to_vec(),
        };
        subject.with_signature_unchecked(&combined, out)
    })
}

/// Timestamp every signature already in `input` (the primary one and each nested one, like
/// signtool `timestamp`) with `opts.timestamp`, writing `output` (or `input` again).
pub fn timestamp_file(
    input: impl AsRef<Path>,
    output: Option<&Path>,
    opts: &SignOptions,
) -> Result<()> {
    let ts = opts
        .timestamp
        .as_ref()
        .ok_or_else(|| Error::InvalidArgument("no timestamp server given".into()))?;
    edit_file(input.as_ref(), output, |subject, out| {
        let signatures = subject.signatures()?;
        let [pkcs7] = signatures.as_slice() else {
            return Err(Error::Unsupported(format!(
                "timestamping needs exactly one embedded signature, found {}",
                signatures.len()
            )));
        };
        let stamped = ts.apply_to_all(pkcs7)?;
        subject.with_signature_unchecked(&stamped, out)
    })
}

/// Remove every signature of `input`, writing `output` (or `input` again).
pub fn remove_signatures_file(input: impl AsRef<Path>, output: Option<&Path>) -> Result<()> {
    edit_file(input.as_ref(), output, |subject, out| {
        subject.without_signature(out)
    })
}

/// Remove nested signature `index` (0 = the first nested one) of `input`, writing `output`
/// (or `input` again).
pub fn remove_nested_file(
    input: impl AsRef<Path>,
    output: Option<&Path>,
    index: usize,
) -> Result<()> {
    edit_file(input.as_ref(), output, |subject, out| {
        let existing = subject
            .signature()?
            .ok_or_else(|| Error::Verify(crate::error::VerifyError::NotSigned))?;
        let pkcs7 = crate::cms::edit::replace_nested_signature(&existing, index, None)?;
        subject.with_signature_unchecked(&pkcs7, out)
    })
}

/// Two-phase signing, last step: complete `pending` (from [`super::prepare`] over this same
/// file) with the signature values `signatures`, timestamp and nest as `opts` says, and embed
/// the result in `input`, writing `output` (or `input` again). The file must be unchanged
/// since it was prepared: a file whose digest no longer matches is refused.
pub fn finish_file(
    input: impl AsRef<Path>,
    output: Option<&Path>,
    pending: &[PendingSignature],
    signatures: &[Vec<u8>],
    opts: &SignOptions,
) -> Result<Vec<u8>> {
    let mut embedded = Vec::new();
    edit_file(input.as_ref(), output, |subject, out| {
        let pkcs7 = super::complete(subject, pending, signatures, opts)?;
        subject.with_signature(&pkcs7, out)?;
        embedded = pkcs7;
        Ok(())
    })?;
    Ok(embedded)
}
