//! Signing many files with one signer, in parallel.

use std::path::PathBuf;

use super::{sign_file_to_with, sign_file_with, RequestSigner, SignOptions};
use crate::error::{Error, Result};
use crate::signer::Signer;

/// One file of a [`sign_batch`] call: signed in place, or into `output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    /// The file to sign.
    pub input: PathBuf,
    /// Where to write the signed file; `None` signs in place ([`sign_file`](super::sign_file)).
    pub output: Option<PathBuf>,
}

impl BatchItem {
    /// Sign `input` in place.
    pub fn in_place(input: impl Into<PathBuf>) -> Self {
        Self {
            input: input.into(),
            output: None,
        }
    }

    /// Sign `input` into `output`.
    pub fn to(input: impl Into<PathBuf>, output: impl Into<PathBuf>) -> Self {
        Self {
            input: input.into(),
            output: Some(output.into()),
        }
    }
}

/// Sign many files with one signer, in parallel, with every option of `opts` (timestamps
/// included): [`SignOptions::batch_workers`] threads (0: four per processor, at least 8: they
/// mostly wait for the signer, the timestamp server and `fsync`) each take the next file, hash
/// it and call the signer, so files are hashed while other threads wait for the signer (an HSM
/// takes 80 ms to 1.5 s a signature) and a signer that allows concurrent calls gets them.
/// Returns one result per item, in order (the DER PKCS#7 embedded, or why that file failed);
/// one file failing does not stop the others.
pub fn sign_batch(
    items: &[BatchItem],
    signer: &(dyn Signer + Sync),
    opts: &SignOptions,
) -> Vec<Result<Vec<u8>>> {
    sign_batch_with(items, signer, opts)
}

/// [`sign_batch`] with any [`RequestSigner`] that threads can share: a local [`Signer`], or a
/// signing-service client (`authsign::remote::RemoteSigner`), which then gets one request per
/// file from several threads at once.
pub fn sign_batch_with<R: RequestSigner + Sync + ?Sized>(
    items: &[BatchItem],
    signer: &R,
    opts: &SignOptions,
) -> Vec<Result<Vec<u8>>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let workers = match opts.batch_workers {
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
                    None => sign_file_with(&item.input, signer, opts),
                    Some(out) => sign_file_to_with(&item.input, out, signer, opts),
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
