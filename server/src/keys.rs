//! Signing profiles at run time: each holds a pool of opened keys (one signer, so one PKCS#11
//! session, per worker) behind a bounded queue, its timestamp servers and its rules; and
//! [`ProfileSigner`], the `RequestSigner` both endpoints sign through.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use authsign::sign::{RequestSigner, SignOptions, SigningRequest, TimestampOptions};
use authsign::signer::{KeySource, Signer};
use authsign::{DigestAlgorithm, Profile};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::api::ApiError;
use crate::audit;

type Key = Box<dyn Signer + Send + Sync>;

/// Opened keys and the queue in front of them.
pub struct KeyPool {
    keys: Mutex<Vec<Key>>,
    permits: Arc<Semaphore>,
    /// Requests holding or waiting for a key.
    inside: Arc<AtomicUsize>,
    limit: usize,
}

/// A key lent to one request; returned to the pool when dropped.
pub struct Lent<'a> {
    pool: &'a KeyPool,
    key: Option<Key>,
    _permit: OwnedSemaphorePermit,
    _inside: Inside,
}

struct Inside(Arc<AtomicUsize>);

impl Drop for Inside {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Lent<'_> {
    fn signer(&self) -> Option<&(dyn Signer + Send + Sync)> {
        self.key.as_deref()
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            if let Ok(mut keys) = self.pool.keys.lock() {
                keys.push(key);
            }
        }
    }
}

impl KeyPool {
    /// Open `source` `workers` times; at most `queue` requests wait beyond those being signed.
    pub fn open(source: &KeySource, workers: usize, queue: usize) -> authsign::Result<Self> {
        let workers = workers.max(1);
        let keys = (0..workers)
            .map(|_| source.open())
            .collect::<authsign::Result<Vec<_>>>()?;
        Ok(Self {
            keys: Mutex::new(keys),
            permits: Arc::new(Semaphore::new(workers)),
            inside: Arc::new(AtomicUsize::new(0)),
            limit: workers + queue,
        })
    }

    /// Wait for a key; refused at once (503) when the queue is full.
    pub async fn acquire(&self) -> Result<Lent<'_>, ApiError> {
        let before = self.inside.fetch_add(1, Ordering::AcqRel);
        let inside = Inside(self.inside.clone());
        if before >= self.limit {
            return Err(ApiError::busy());
        }
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("the key pool is closed"))?;
        let key = self
            .keys
            .lock()
            .ok()
            .and_then(|mut k| k.pop())
            .ok_or_else(|| ApiError::internal("no key in the pool"))?;
        Ok(Lent {
            pool: self,
            key: Some(key),
            _permit: permit,
            _inside: inside,
        })
    }

    /// The signer certificate of the keys.
    fn leaf(&self) -> Option<authsign::Certificate> {
        self.keys
            .lock()
            .ok()
            .and_then(|k| k.first().and_then(|s| s.certificates().first().cloned()))
    }

    /// The hex serial number of the signer certificate.
    fn first_serial(&self) -> String {
        self.keys
            .lock()
            .ok()
            .and_then(|k| {
                k.first().and_then(|s| {
                    s.certificates()
                        .first()
                        .map(|c| hex::encode(c.tbs_certificate().serial_number().as_bytes()))
                })
            })
            .unwrap_or_default()
    }
}

/// A signing profile, ready.
pub struct SigningProfile {
    /// Its name.
    pub name: String,
    /// Hex serial number of its signer certificate.
    pub serial: String,
    leaf: Option<authsign::Certificate>,
    pool: KeyPool,
    timestamp: Option<TimestampOptions>,
    attributes: Option<Profile>,
    digests: Vec<DigestAlgorithm>,
}

impl SigningProfile {
    /// A profile signing with `pool`.
    pub fn new(
        name: String,
        pool: KeyPool,
        timestamp: Option<TimestampOptions>,
        attributes: Option<Profile>,
        digests: Vec<DigestAlgorithm>,
    ) -> Self {
        Self {
            serial: pool.first_serial(),
            leaf: pool.leaf(),
            name,
            pool,
            timestamp,
            attributes,
            digests,
        }
    }

    /// The attribute profile requests must use, if the profile fixes one.
    pub fn attributes(&self) -> Option<Profile> {
        self.attributes
    }
}

/// Signs requests with a profile, remembering for the audit log what it was asked and why it
/// refused. Runs on a blocking thread (it waits for the key there).
pub struct ProfileSigner<'a> {
    profile: &'a SigningProfile,
    timestamp: bool,
    runtime: tokio::runtime::Handle,
    /// The file digests asked for.
    pub digests: Mutex<Vec<audit::Digest>>,
    /// The refusal or failure, with its HTTP status.
    pub error: Mutex<Option<ApiError>>,
}

impl<'a> ProfileSigner<'a> {
    /// A signer for `profile`, timestamping with the profile's servers when `timestamp`.
    pub fn new(
        profile: &'a SigningProfile,
        timestamp: bool,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            profile,
            timestamp,
            runtime,
            digests: Mutex::new(Vec::new()),
            error: Mutex::new(None),
        }
    }

    fn fail(&self, e: ApiError) -> authsign::Error {
        let message = e.message.clone();
        if let Ok(mut slot) = self.error.lock() {
            *slot = Some(e);
        }
        authsign::Error::Signer(message.into())
    }

    /// The error recorded by the last call, if any.
    pub fn take_error(&self) -> Option<ApiError> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }
}

impl RequestSigner for ProfileSigner<'_> {
    fn signer_certificate(&self) -> Option<authsign::Certificate> {
        self.profile.leaf.clone()
    }

    fn sign_request(
        &self,
        request: &SigningRequest,
        opts: &SignOptions,
    ) -> authsign::Result<Vec<Vec<u8>>> {
        if let Ok(mut d) = self.digests.lock() {
            *d = crate::audit::digests_of(request);
        }
        let profile = self.profile;
        // Both the signatures' and the file digests' algorithms must be allowed.
        if let Some(alg) = request
            .digest_algorithms()
            .iter()
            .copied()
            .chain(request.parsed().iter().map(|p| p.digest_algorithm))
            .find(|a| !profile.digests.contains(a))
        {
            return Err(self.fail(ApiError::forbidden(format!(
                "profile {:?} does not sign {alg} digests",
                profile.name
            ))));
        }
        if let Some(fixed) = profile.attributes {
            if fixed != opts.profile {
                return Err(self.fail(ApiError::forbidden(format!(
                    "profile {:?} signs with the {} attributes",
                    profile.name,
                    attribute_name(fixed)
                ))));
            }
        }
        let timestamp = match (self.timestamp, &profile.timestamp) {
            (false, _) => None,
            (true, Some(ts)) => Some(ts),
            (true, None) => {
                return Err(self.fail(ApiError::bad_request(format!(
                    "profile {:?} has no timestamp server",
                    profile.name
                ))))
            }
        };
        let mut local = opts.clone();
        local.timestamp = None;
        let signed = {
            let lent = self
                .runtime
                .block_on(profile.pool.acquire())
                .map_err(|e| self.fail(e))?;
            let signer = lent
                .signer()
                .ok_or_else(|| self.fail(ApiError::internal("no key")))?;
            authsign::sign::sign_request(request, signer, &local)
                .map_err(|e| self.fail(ApiError::signing_failed(e.to_string())))?
        };
        match timestamp {
            None => Ok(signed),
            Some(ts) => signed
                .iter()
                .map(|s| ts.apply(s))
                .collect::<authsign::Result<Vec<_>>>()
                .map_err(|e| self.fail(ApiError::timestamp_failed(e.to_string()))),
        }
    }
}

/// `signtool` or `osslsigncode`.
pub fn attribute_name(p: Profile) -> &'static str {
    match p {
        Profile::Osslsigncode => "osslsigncode",
        _ => "signtool",
    }
}
