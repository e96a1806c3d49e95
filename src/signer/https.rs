//! The HTTPS client the cloud signers share: ureq with rustls, a timeout per exchange, bounded
//! retries with exponential back-off on throttling, server errors and transport failures
//! (honouring `Retry-After`), a size limit on answers, and errors that never carry a secret.
//!
//! Certificates are always verified. The trust anchors are Mozilla's roots (the `webpki-roots`
//! crate), or, for a private endpoint or a test server, the certificates of
//! [`HttpOptions::ca_certificates`] or of the PEM file named by `SSL_CERT_FILE` (which then
//! replace the default roots, as they do for curl and OpenSSL).
// The `https` feature alone (no cloud signer) builds this module unused.
#![cfg_attr(
    not(any(feature = "aws-kms", feature = "azure", feature = "gcp-kms")),
    allow(dead_code)
)]

use std::sync::RwLock;
use std::time::Duration;

use base64ct::Encoding;
use x509_cert::Certificate;

use crate::error::{Error, KeyServiceError, KeyServiceErrorKind, Result};

/// How the cloud signers talk to their service: timeouts, retries and trust anchors.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Time allowed for one exchange (connect, send, receive).
    pub timeout: Duration,
    /// Retries after a transient failure (throttling, HTTP 5xx, connection or timeout).
    pub retries: u32,
    /// Wait before the first retry, doubled for each further one (a `Retry-After` answer
    /// header wins, up to [`HttpOptions::MAX_WAIT`]).
    pub backoff: Duration,
    /// The trust anchors for the service's TLS certificate. `None`: the PEM file named by
    /// the `SSL_CERT_FILE` environment variable if it is set, else Mozilla's roots.
    /// Verification itself cannot be turned off.
    pub ca_certificates: Option<Vec<Certificate>>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            retries: 4,
            backoff: Duration::from_millis(500),
            ca_certificates: None,
        }
    }
}

impl HttpOptions {
    /// The longest wait between two attempts, whatever the back-off or `Retry-After` say.
    pub const MAX_WAIT: Duration = Duration::from_secs(30);
    /// The largest answer read, in bytes.
    pub const MAX_RESPONSE: u64 = 1 << 20;
}

/// One HTTP request, built afresh for every attempt (AWS signs the time into it).
#[derive(Debug)]
pub(crate) struct Request {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &'static str, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    #[cfg_attr(not(any(feature = "azure", feature = "gcp-kms")), allow(dead_code))]
    pub fn json(self, value: &serde_json::Value) -> Self {
        let mut r = self.header("Content-Type", "application/json");
        r.body = value.to_string().into_bytes();
        r
    }

    pub fn form(self, fields: &[(&str, &str)]) -> Self {
        let mut r = self.header("Content-Type", "application/x-www-form-urlencoded");
        r.body = form_encode(fields).into_bytes();
        r
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, or `None`.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// The HTTPS client of one signer. It remembers the secrets it has been given (keys,
/// passwords, tokens) and removes them from every error it makes.
pub(crate) struct Client {
    service: String,
    agent: ureq::Agent,
    options: HttpOptions,
    secrets: RwLock<Vec<String>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// The trust anchors of `options`, as ureq takes them.
fn root_certs(options: &HttpOptions) -> Result<ureq::tls::RootCerts> {
    let from_env;
    let certs = match &options.ca_certificates {
        Some(c) => c,
        None => match std::env::var_os("SSL_CERT_FILE") {
            Some(path) if !path.is_empty() => {
                let pem = std::fs::read(&path).map_err(|e| Error::at(&path, e))?;
                from_env = crate::certs::certificates_from_bytes(&pem)?;
                &from_env
            }
            _ => return Ok(ureq::tls::RootCerts::WebPki),
        },
    };
    let mut roots = Vec::with_capacity(certs.len());
    for c in certs {
        let der = der::Encode::to_der(c).map_err(|e| {
            Error::InvalidArgument(format!("a CA certificate does not encode: {e}"))
        })?;
        roots.push(ureq::tls::Certificate::from_der(&der).to_owned());
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&roots))
}

impl Client {
    /// A client for `service` (the name errors give).
    pub fn new(service: &str, options: &HttpOptions) -> Result<Self> {
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(root_certs(options)?)
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(options.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("authsign/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build()
            .into();
        Ok(Self {
            service: service.to_string(),
            agent,
            options: options.clone(),
            secrets: RwLock::new(Vec::new()),
        })
    }

    /// The service's name, as errors give it.
    #[cfg_attr(not(feature = "aws-kms"), allow(dead_code))]
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Remember `secret` so that no error ever shows it.
    pub fn add_secret(&self, secret: &str) {
        if secret.len() < 4 {
            return;
        }
        if let Ok(mut s) = self.secrets.write() {
            if !s.iter().any(|x| x == secret) {
                s.push(secret.to_string());
            }
        }
    }

    /// `text` with every remembered secret replaced by `***`, cut to a readable length.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        if let Ok(secrets) = self.secrets.read() {
            for s in secrets.iter() {
                out = out.replace(s.as_str(), "***");
            }
        }
        if out.chars().count() > 500 {
            out = out.chars().take(500).collect::<String>() + "...";
        }
        out
    }

    /// A [`KeyServiceError`] of this service (its detail redacted).
    pub fn error(
        &self,
        kind: KeyServiceErrorKind,
        status: Option<u16>,
        code: Option<&str>,
        detail: impl AsRef<str>,
    ) -> Error {
        KeyServiceError {
            service: self.service.clone(),
            kind,
            status,
            code: code.map(|c| self.redact(c)),
            detail: self.redact(detail.as_ref()),
        }
        .into()
    }

    /// One exchange, without retries. Transport failures become
    /// [`KeyServiceErrorKind::Transport`] errors.
    fn send_once(&self, request: &Request) -> Result<Response> {
        let mut builder = ureq::http::Request::builder()
            .method(request.method)
            .uri(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let http_request = builder.body(request.body.clone()).map_err(|e| {
            self.error(
                KeyServiceErrorKind::Configuration,
                None,
                None,
                format!("cannot build a request to {}: {e}", request.url),
            )
        })?;
        let transport = |e: ureq::Error| {
            self.error(
                KeyServiceErrorKind::Transport,
                None,
                None,
                format!("{} {}: {e}", request.method, strip_query(&request.url)),
            )
        };
        let mut response = self.agent.run(http_request).map_err(transport)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let body = response
            .body_mut()
            .with_config()
            .limit(HttpOptions::MAX_RESPONSE)
            .read_to_vec()
            .map_err(transport)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    /// Send the request `build` makes, retrying transient failures with back-off.
    /// `check` turns an answer into `Ok` (success) or the error it means; errors whose kind
    /// [is transient](KeyServiceErrorKind::is_transient) are retried.
    pub fn call(
        &self,
        build: impl Fn() -> Result<Request>,
        check: impl Fn(&Response) -> std::result::Result<(), Error>,
    ) -> Result<Response> {
        let mut attempt = 0u32;
        loop {
            let (error, retry_after) = match self.send_once(&build()?) {
                Ok(response) => match check(&response) {
                    Ok(()) => return Ok(response),
                    Err(e) => (
                        e,
                        response.header("retry-after").and_then(parse_retry_after),
                    ),
                },
                Err(e) => (e, None),
            };
            let transient = matches!(
                &error,
                Error::Crypto(crate::error::CryptoError::KeyService(k)) if k.kind.is_transient()
            );
            if !transient || attempt >= self.options.retries {
                return Err(error);
            }
            let backoff = self
                .options
                .backoff
                .saturating_mul(2u32.saturating_pow(attempt.min(16)));
            std::thread::sleep(retry_after.unwrap_or(backoff).min(HttpOptions::MAX_WAIT));
            attempt += 1;
        }
    }

    /// [`Client::call`] with the usual meaning of HTTP statuses: 2xx is success, 401/403
    /// authentication, 404 key not found, 429 throttled, 5xx unavailable, any other 4xx
    /// rejected; `code_and_message` reads the service's error code and message from the body.
    pub fn call_checked(
        &self,
        build: impl Fn() -> Result<Request>,
        code_and_message: impl Fn(&Response) -> (Option<String>, String),
        classify: impl Fn(u16, Option<&str>) -> Option<KeyServiceErrorKind>,
    ) -> Result<Response> {
        self.call(build, |r| {
            if (200..300).contains(&r.status) {
                return Ok(());
            }
            let (code, message) = code_and_message(r);
            let kind = classify(r.status, code.as_deref()).unwrap_or(status_kind(r.status));
            Err(self.error(kind, Some(r.status), code.as_deref(), message))
        })
    }
}

/// An OAuth access token kept until five minutes before it expires.
#[cfg(any(feature = "azure", feature = "gcp-kms"))]
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    current: std::sync::Mutex<Option<(super::Secret, std::time::SystemTime)>>,
}

#[cfg(any(feature = "azure", feature = "gcp-kms"))]
impl TokenCache {
    /// The cached token, or a new one from `fetch` (the token and how long it lives), which
    /// `client` then keeps out of its errors. Callers that need a token at once wait for
    /// one fetch.
    pub fn get(
        &self,
        client: &Client,
        fetch: impl FnOnce() -> Result<(String, Duration)>,
    ) -> Result<super::Secret> {
        let mut guard = self
            .current
            .lock()
            .map_err(|_| Error::Internal("token cache poisoned"))?;
        let now = std::time::SystemTime::now();
        if let Some((token, expires)) = guard.as_ref() {
            if now + Duration::from_secs(300) < *expires {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = fetch()?;
        client.add_secret(&token);
        let token = super::Secret::new(token);
        *guard = Some((token.clone(), now + lifetime));
        Ok(token)
    }
}

/// The kind of failure an HTTP status means, when the service says nothing more precise.
pub(crate) fn status_kind(status: u16) -> KeyServiceErrorKind {
    match status {
        401 | 403 => KeyServiceErrorKind::Authentication,
        404 => KeyServiceErrorKind::KeyNotFound,
        408 | 429 => KeyServiceErrorKind::Throttled,
        500..=599 => KeyServiceErrorKind::Unavailable,
        _ => KeyServiceErrorKind::Rejected,
    }
}

/// A `Retry-After` header's delay (seconds; an HTTP date is not worth the parsing here).
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// `url` without its query (errors name the endpoint, not the parameters).
fn strip_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

/// Percent-encodes everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`);
/// with `keep_slash`, `/` too (for paths).
pub(crate) fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `application/x-www-form-urlencoded` text of `fields`.
pub(crate) fn form_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k, false), percent_encode(v, false)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    base64ct::Base64::encode_string(bytes)
}

/// Base64url without padding (JOSE).
#[cfg_attr(not(any(feature = "azure", feature = "gcp-kms")), allow(dead_code))]
pub(crate) fn base64url(bytes: &[u8]) -> String {
    base64ct::Base64UrlUnpadded::encode_string(bytes)
}

/// Decodes standard base64 (padded or not) or base64url (padded or not), ignoring
/// whitespace and line breaks.
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let clean: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let trimmed = clean.trim_end_matches('=');
    if trimmed.contains(['-', '_']) {
        base64ct::Base64UrlUnpadded::decode_vec(trimmed).ok()
    } else {
        base64ct::Base64Unpadded::decode_vec(trimmed).ok()
    }
}

/// The error code and message of a JSON error answer `r`: the first string found at one of
/// `code_at` and of `message_at` (JSON pointers), the body as text when no message is found.
#[cfg_attr(not(any(feature = "azure", feature = "gcp-kms")), allow(dead_code))]
pub(crate) fn error_fields(
    r: &Response,
    code_at: &[&str],
    message_at: &[&str],
) -> (Option<String>, String) {
    let json = r.json();
    let first = |pointers: &[&str]| {
        let j = json.as_ref()?;
        pointers
            .iter()
            .find_map(|p| json_str(j, p))
            .map(str::to_string)
    };
    let message =
        first(message_at).unwrap_or_else(|| String::from_utf8_lossy(&r.body).into_owned());
    (first(code_at), message)
}

/// A non-empty environment variable.
pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The string at `pointer` (a JSON pointer such as `/Signature`) of `value`.
pub(crate) fn json_str<'v>(value: &'v serde_json::Value, pointer: &str) -> Option<&'v str> {
    value.pointer(pointer).and_then(serde_json::Value::as_str)
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("a b/c~d", false), "a%20b%2Fc~d");
        assert_eq!(percent_encode("a b/c~d", true), "a%20b/c~d");
        assert_eq!(percent_encode("ሴ", false), "%E1%88%B4");
        assert_eq!(
            form_encode(&[("scope", "https://x/.default"), ("a", "b+c")]),
            "scope=https%3A%2F%2Fx%2F.default&a=b%2Bc"
        );
    }

    #[test]
    fn base64_of_both_alphabets_decodes() {
        let bytes = [0xfb, 0xff, 0x01, 0x02];
        assert_eq!(decode_base64(&base64(&bytes)).as_deref(), Some(&bytes[..]));
        assert_eq!(
            decode_base64(&base64url(&bytes)).as_deref(),
            Some(&bytes[..])
        );
        assert_eq!(decode_base64("+/8B\r\nAg==").as_deref(), Some(&bytes[..]));
        assert!(decode_base64("not base64!").is_none());
    }

    #[test]
    fn errors_never_show_a_remembered_secret() {
        let client = Client::new("Test", &HttpOptions::default()).unwrap();
        client.add_secret("s3cr3t-value");
        let e = client.error(
            KeyServiceErrorKind::Authentication,
            Some(401),
            Some("Bad s3cr3t-value"),
            "the token s3cr3t-value was refused",
        );
        let text = e.to_string();
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(
            text.contains("authentication failed (HTTP 401, Bad ***)"),
            "{text}"
        );
    }

    #[test]
    fn statuses_map_to_kinds() {
        assert_eq!(status_kind(403), KeyServiceErrorKind::Authentication);
        assert_eq!(status_kind(404), KeyServiceErrorKind::KeyNotFound);
        assert_eq!(status_kind(429), KeyServiceErrorKind::Throttled);
        assert_eq!(status_kind(503), KeyServiceErrorKind::Unavailable);
        assert_eq!(status_kind(400), KeyServiceErrorKind::Rejected);
    }
}
