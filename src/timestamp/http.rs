//! [`HttpTimestamper`]: timestamps over HTTP (feature `http`), as signtool and osslsigncode
//! send them. RFC 3161: the DER TimeStampReq as `application/timestamp-query`, answer
//! `application/timestamp-reply`. Legacy Authenticode: the request base64-encoded as
//! `application/octet-stream`, answer base64 (or DER) PKCS#7.
//!
//! Servers are tried in order; each is retried on connection failures, timeouts and 5xx/408/429
//! answers with exponential back-off. Errors name the URL and the HTTP status, and an answer
//! of the other protocol says which option to use instead. Plain `http://` only: ureq is built
//! without TLS (timestamp servers are plain HTTP by convention, the token is signed).

use std::time::Duration;

use base64ct::Encoding;

use super::{legacy, Shape, TimestampKind, Timestamper, MAX_RESPONSE_SIZE};
use crate::error::{Error, Result, TimestampError};

/// An HTTP client for one or more timestamp servers.
#[derive(Debug, Clone)]
pub struct HttpTimestamper {
    urls: Vec<String>,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
}

impl HttpTimestamper {
    /// Time allowed for one exchange (connect, send, receive) by default.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// Retries per server after a transient failure by default.
    pub const DEFAULT_RETRIES: u32 = 2;
    /// Wait before the first retry by default (doubled for each further retry).
    pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(2);

    /// A timestamper for `urls`, tried in this order, with default timeout and retries.
    pub fn new<I, S>(urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            urls: urls.into_iter().map(Into::into).collect(),
            timeout: Self::DEFAULT_TIMEOUT,
            retries: Self::DEFAULT_RETRIES,
            backoff: Self::DEFAULT_BACKOFF,
        }
    }

    /// Set the time allowed for one exchange.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Set how many times a server is retried after a transient failure, and the wait before
    /// the first retry (doubled for each further one).
    pub fn with_retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.retries = retries;
        self.backoff = backoff;
        self
    }

    /// The servers, in the order they are tried.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .max_redirects(3)
            .user_agent("authsign")
            .build()
            .into()
    }

    fn try_url(
        &self,
        agent: &ureq::Agent,
        url: &str,
        kind: TimestampKind,
        request: &[u8],
    ) -> std::result::Result<Vec<u8>, TimestampError> {
        let mut attempt = 0u32;
        loop {
            match post_once(agent, url, kind, request) {
                Ok(body) => return Ok(body),
                Err(e) if attempt < self.retries && retryable(&e) => {
                    let wait = self
                        .backoff
                        .saturating_mul(2u32.saturating_pow(attempt.min(16)));
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

fn retryable(e: &TimestampError) -> bool {
    match e {
        TimestampError::Transport { .. } | TimestampError::EmptyResponse { .. } => true,
        TimestampError::HttpStatus { status, .. } => *status >= 500 || matches!(status, 408 | 429),
        _ => false,
    }
}

fn as_timestamp_error(e: Error) -> TimestampError {
    match e {
        Error::Timestamp(t) => t,
        other => TimestampError::Malformed(other.to_string()),
    }
}

fn post_once(
    agent: &ureq::Agent,
    url: &str,
    kind: TimestampKind,
    request: &[u8],
) -> std::result::Result<Vec<u8>, TimestampError> {
    let transport = |reason: String| TimestampError::Transport {
        url: url.to_string(),
        reason,
    };
    let (body, content_type, accept) = match kind {
        TimestampKind::Rfc3161 => (
            request.to_vec(),
            "application/timestamp-query",
            "application/timestamp-reply",
        ),
        TimestampKind::Legacy => (
            base64ct::Base64::encode_string(request).into_bytes(),
            "application/octet-stream",
            "application/octet-stream",
        ),
    };
    let mut response = agent
        .post(url)
        .header("Content-Type", content_type)
        .header("Accept", accept)
        .header("Cache-Control", "no-cache")
        .send(&body[..])
        .map_err(|e| transport(e.to_string()))?;
    let status = response.status().as_u16();
    let answer_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if status != 200 {
        let hint = match (status, kind) {
            (400 | 405 | 415, TimestampKind::Rfc3161) => {
                " (if this is a legacy Authenticode timestamp server, ask for a legacy timestamp: signtool /t)"
            }
            (400 | 405 | 415, TimestampKind::Legacy) => {
                " (if this is an RFC 3161 timestamp server, ask for an RFC 3161 timestamp: signtool /tr)"
            }
            _ => "",
        };
        return Err(TimestampError::HttpStatus {
            url: url.to_string(),
            status,
            hint: hint.to_string(),
        });
    }
    let limit = MAX_RESPONSE_SIZE as u64;
    let data = response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => TimestampError::ResponseTooLarge {
                server: url.to_string(),
                limit: MAX_RESPONSE_SIZE,
            },
            other => transport(other.to_string()),
        })?;
    if data.is_empty() {
        return Err(TimestampError::EmptyResponse {
            server: url.to_string(),
        });
    }
    if kind == TimestampKind::Legacy && answer_type.starts_with("application/timestamp-reply") {
        return Err(TimestampError::WrongProtocol {
            server: url.to_string(),
            expected: kind,
        });
    }
    super::check_protocol(kind, &data, url).map_err(as_timestamp_error)?;
    match kind {
        TimestampKind::Rfc3161 => Ok(data),
        TimestampKind::Legacy => {
            if super::shape(&data) == Shape::ContentInfo {
                Ok(data)
            } else {
                legacy::decode_base64(&data).ok_or_else(|| {
                    TimestampError::Malformed(format!(
                        "{url}: the legacy answer is neither base64 nor a DER PKCS#7"
                    ))
                })
            }
        }
    }
}

impl Timestamper for HttpTimestamper {
    fn timestamp(&self, kind: TimestampKind, request: &[u8]) -> Result<Vec<u8>> {
        if self.urls.is_empty() {
            return Err(TimestampError::NoUrl.into());
        }
        let agent = self.agent();
        let mut errors = Vec::new();
        for url in &self.urls {
            match self.try_url(&agent, url, kind, request) {
                Ok(body) => return Ok(body),
                Err(e) => errors.push(e),
            }
        }
        Err(match errors.len() {
            1 => errors.remove(0),
            _ => TimestampError::AllFailed(errors),
        }
        .into())
    }

    fn name(&self) -> String {
        self.urls.join(", ")
    }
}
