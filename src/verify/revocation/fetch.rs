//! Bounded HTTP fetches for revocation data (feature `http`): CRLs by GET, OCSP by POST.
//! Each answer is cached for the verifier's lifetime; at most [`MAX_FETCHES`] requests are
//! made in all, each limited in time and size. Plain `http://` only, as CRL distribution
//! points and OCSP responders conventionally are (the data is signed).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{MAX_CRL_SIZE, MAX_FETCHES, MAX_OCSP_SIZE};

type Answer = Result<Arc<Vec<u8>>, String>;

/// A cache of fetched revocation data.
#[derive(Debug)]
pub(crate) struct Fetcher {
    timeout: Duration,
    count: AtomicUsize,
    cache: Mutex<HashMap<String, Answer>>,
}

impl Fetcher {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            count: AtomicUsize::new(0),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The CRL at `url`.
    pub(crate) fn get_crl(&self, url: &str) -> Result<Arc<Vec<u8>>, String> {
        self.cached(format!("GET {url}"), || {
            self.exchange(url, None, MAX_CRL_SIZE)
        })
    }

    /// The OCSP responder at `url`'s answer to `request`.
    pub(crate) fn post_ocsp(&self, url: &str, request: &[u8]) -> Result<Arc<Vec<u8>>, String> {
        let key = format!("POST {url} {}", hex::encode(request));
        self.cached(key, || self.exchange(url, Some(request), MAX_OCSP_SIZE))
    }

    fn cached(&self, key: String, fetch: impl FnOnce() -> Result<Vec<u8>, String>) -> Answer {
        if let Some(hit) = self.lock().get(&key) {
            return hit.clone();
        }
        let answer = if self.count.fetch_add(1, Ordering::SeqCst) >= MAX_FETCHES {
            Err(format!(
                "more than {MAX_FETCHES} revocation fetches in one run"
            ))
        } else {
            fetch().map(Arc::new)
        };
        self.lock().insert(key, answer.clone());
        answer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Answer>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn exchange(&self, url: &str, body: Option<&[u8]>, limit: u64) -> Result<Vec<u8>, String> {
        if !url.starts_with("http://") {
            return Err("only http:// URLs are fetched".into());
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .max_redirects(3)
            .user_agent("authsign")
            .build()
            .into();
        let mut response = match body {
            None => agent.get(url).call(),
            Some(b) => agent
                .post(url)
                .header("Content-Type", "application/ocsp-request")
                .send(b),
        }
        .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(format!("HTTP {status}"));
        }
        response
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => format!("answer larger than {limit} bytes"),
                other => other.to_string(),
            })
    }
}
