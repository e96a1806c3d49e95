//! [`RemoteSigner`]: the HTTPS client of the signing protocol (ureq with rustls and ring).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{Certificate as TlsCertificate, ClientCert, PemItem, PrivateKey, RootCerts};

use super::protocol::{self, ErrorResponse, SignRequest, SignResponse};
use crate::cms::SignedData;
use crate::crypto::DigestInfoRule;
use crate::error::{Error, RemoteError, Result};
use crate::sign::{RequestSigner, SignOptions, SigningRequest};
use crate::signer::Secret;

/// Largest answer accepted from a signing server (each signature with its chain and
/// timestamp is a few KiB; page hashes do not come back).
const MAX_ANSWER: u64 = 16 * 1024 * 1024;

/// Where the client looks for the system's CA bundle when no CA is given.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// A client of an `authsign-server` signing service: a [`RequestSigner`] whose signatures
/// are made by the server's key (see the [module documentation](super)).
///
/// Cloning is cheap; one client can be shared by the threads of a batch.
#[derive(Clone)]
pub struct RemoteSigner {
    base: String,
    token: Secret,
    profile: Option<String>,
    server_timestamp: bool,
    roots: Vec<TlsCertificate<'static>>,
    client_cert: Option<ClientCert>,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    /// Built on first use and shared by clones made after it, so the threads of a batch
    /// reuse its kept-alive TLS connections.
    agent: Arc<std::sync::OnceLock<std::result::Result<ureq::Agent, String>>>,
}

impl std::fmt::Debug for RemoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSigner")
            .field("url", &self.base)
            .field("profile", &self.profile)
            .field("server_timestamp", &self.server_timestamp)
            .field("trusted", &self.roots.len())
            .field("client_certificate", &self.client_cert.is_some())
            .finish_non_exhaustive()
    }
}

fn pem_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::InvalidArgument(format!("{what}: {e}"))
}

impl RemoteSigner {
    /// Time allowed for one exchange by default (signing with an HSM and timestamping can
    /// take seconds).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
    /// Retries after a transient failure by default.
    pub const DEFAULT_RETRIES: u32 = 2;
    /// Wait before the first retry by default (doubled for each further one).
    pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);

    /// A client of the server at `url` (`https://host:port`, the protocol's paths are added),
    /// authenticating with the bearer `token`. It trusts the system's CA bundle until
    /// [`RemoteSigner::with_ca_pem`] names the CA of the server's certificate.
    pub fn new(url: impl Into<String>, token: Secret) -> Self {
        Self {
            base: url.into().trim_end_matches('/').to_string(),
            token,
            profile: None,
            server_timestamp: false,
            roots: Vec::new(),
            client_cert: None,
            timeout: Self::DEFAULT_TIMEOUT,
            retries: Self::DEFAULT_RETRIES,
            backoff: Self::DEFAULT_BACKOFF,
            agent: Arc::default(),
        }
    }

    /// Trust the CA certificates in `pem` (and only those) for the server's certificate.
    pub fn with_ca_pem(mut self, pem: &[u8]) -> Result<Self> {
        let mut found = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            if let PemItem::Certificate(c) = item.map_err(|e| pem_error("CA certificates", e))? {
                found.push(c);
            }
        }
        if found.is_empty() {
            return Err(Error::InvalidArgument(
                "no certificate in the CA file".into(),
            ));
        }
        self.roots.extend(found);
        self.agent = Arc::default();
        Ok(self)
    }

    /// [`RemoteSigner::with_ca_pem`] with the PEM file at `path`.
    pub fn with_ca_file(self, path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|e| Error::at(path, e))?;
        self.with_ca_pem(&pem)
    }

    /// Present this certificate chain (PEM, leaf first) and key (PEM) to servers that ask
    /// for client certificates (mutual TLS).
    pub fn with_client_certificate_pem(mut self, chain: &[u8], key: &[u8]) -> Result<Self> {
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(chain) {
            if let PemItem::Certificate(c) = item.map_err(|e| pem_error("client certificate", e))? {
                certs.push(c);
            }
        }
        if certs.is_empty() {
            return Err(Error::InvalidArgument(
                "no certificate in the client certificate file".into(),
            ));
        }
        let key = PrivateKey::from_pem(key).map_err(|e| pem_error("client key", e))?;
        self.client_cert = Some(ClientCert::new_with_certs(&certs, key));
        self.agent = Arc::default();
        Ok(self)
    }

    /// Sign with the server's profile `name` (without it: the client's only profile or the
    /// server's default).
    pub fn with_profile(mut self, name: impl Into<String>) -> Self {
        self.profile = Some(name.into());
        self
    }

    /// Ask the server to timestamp the signatures with its profile's timestamp servers. (A
    /// timestamp in [`SignOptions::timestamp`] is added here, by the client, instead.)
    pub fn with_server_timestamp(mut self, timestamp: bool) -> Self {
        self.server_timestamp = timestamp;
        self
    }

    /// Set the time allowed for one exchange.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.agent = Arc::default();
        self
    }

    /// Set how many times a request is retried after a transient failure, and the wait
    /// before the first retry (doubled for each further one).
    pub fn with_retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.retries = retries;
        self.backoff = backoff;
        self
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    fn agent(&self) -> Result<ureq::Agent> {
        let roots = if self.roots.is_empty() {
            system_roots()?
        } else {
            self.roots.clone()
        };
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .root_certs(RootCerts::new_with_certs(&roots))
            .client_cert(self.client_cert.clone())
            .build();
        Ok(ureq::Agent::config_builder()
            .timeout_global(Some(self.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .https_only(true)
            .user_agent(concat!("authsign/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build()
            .into())
    }

    /// Send `body` to the signing endpoint, retrying transient failures.
    fn exchange(&self, body: &[u8]) -> std::result::Result<SignResponse, RemoteError> {
        let url = format!("{}{}", self.base, protocol::SIGN_PATH);
        let agent = self
            .agent
            .get_or_init(|| self.agent().map_err(|e| e.to_string()))
            .clone()
            .map_err(|reason| RemoteError::Transport {
                url: url.clone(),
                reason,
            })?;
        let mut attempt = 0u32;
        loop {
            match self.post_once(&agent, &url, body) {
                Ok(answer) => return Ok(answer),
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

    fn post_once(
        &self,
        agent: &ureq::Agent,
        url: &str,
        body: &[u8],
    ) -> std::result::Result<SignResponse, RemoteError> {
        let transport = |reason: String| RemoteError::Transport {
            url: url.to_string(),
            reason,
        };
        let bad = |reason: String| RemoteError::BadAnswer {
            url: url.to_string(),
            reason,
        };
        let mut response = agent
            .post(url)
            .header("Authorization", &format!("Bearer {}", self.token.expose()))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .send(body)
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let data = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(|e| transport(e.to_string()))?;
        if status != 200 {
            let (code, message) = match serde_json::from_slice::<ErrorResponse>(&data) {
                Ok(e) => (e.error.code, e.error.message),
                Err(_) => (
                    "http".to_string(),
                    String::from_utf8_lossy(data.get(..200).unwrap_or(&data)).into_owned(),
                ),
            };
            return Err(RemoteError::Refused {
                url: url.to_string(),
                status,
                code,
                message,
            });
        }
        let answer: SignResponse =
            serde_json::from_slice(&data).map_err(|e| bad(format!("not a signing answer: {e}")))?;
        if answer.version != protocol::VERSION {
            return Err(bad(format!(
                "protocol version {} (expected {})",
                answer.version,
                protocol::VERSION
            )));
        }
        Ok(answer)
    }
}

fn retryable(e: &RemoteError) -> bool {
    match e {
        RemoteError::Transport { reason, .. } => !reason.contains("certificate"),
        RemoteError::Refused { status, .. } => *status >= 500 || matches!(status, 408 | 429),
        _ => false,
    }
}

/// The first system CA bundle found.
fn system_roots() -> Result<Vec<TlsCertificate<'static>>> {
    for path in SYSTEM_BUNDLES {
        if let Ok(pem) = std::fs::read(path) {
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|i| match i {
                    Ok(PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if !certs.is_empty() {
                return Ok(certs);
            }
        }
    }
    Err(Error::InvalidArgument(
        "no CA to trust the signing server with: give its CA certificate (with_ca_file)".into(),
    ))
}

/// Check that `pkcs7` signs exactly `content` (of type `content_type`) with a signature that
/// verifies with the certificate it names.
fn check_answer(
    pkcs7: &[u8],
    content_type: const_oid::ObjectIdentifier,
    content: &[u8],
) -> std::result::Result<(), String> {
    let sd = SignedData::parse(pkcs7).map_err(|e| format!("not a PKCS#7 SignedData: {e}"))?;
    if sd.content_type != content_type || sd.content_der != content {
        return Err("the signature is over other content than the one sent".into());
    }
    let [si] = sd.signer_infos.as_slice() else {
        return Err(format!(
            "{} SignerInfos (expected one)",
            sd.signer_infos.len()
        ));
    };
    let pool: Vec<crate::Certificate> = sd
        .certificates
        .iter()
        .filter_map(|c| <crate::Certificate as der::Decode>::from_der(c).ok())
        .collect();
    let check = crate::crypto::signer_info::check(
        si,
        &sd.content,
        &[content_type],
        &pool,
        DigestInfoRule::Required,
    );
    match check.problems.first() {
        None => Ok(()),
        Some(p) => Err(format!("the signature does not verify: {p}")),
    }
}

impl RequestSigner for RemoteSigner {
    fn sign_request(&self, request: &SigningRequest, opts: &SignOptions) -> Result<Vec<Vec<u8>>> {
        let body = SignRequest::new(
            request,
            opts,
            self.profile.as_deref(),
            self.server_timestamp,
        );
        let body = serde_json::to_vec(&body)
            .map_err(|_| Error::Internal("a signing request encodes as JSON"))?;
        let answer = self.exchange(&body)?;
        let url = format!("{}{}", self.base, protocol::SIGN_PATH);
        let bad = |reason: String| {
            Error::Remote(RemoteError::BadAnswer {
                url: url.clone(),
                reason,
            })
        };
        if answer.signatures.len() != request.indirect_data().len() {
            return Err(bad(format!(
                "{} signatures for {} asked",
                answer.signatures.len(),
                request.indirect_data().len()
            )));
        }
        let signatures = answer
            .signatures
            .iter()
            .zip(request.indirect_data())
            .map(|(s, sent)| {
                let pkcs7 =
                    protocol::decode_base64(&s.pkcs7, "pkcs7").map_err(|e| bad(e.to_string()))?;
                check_answer(&pkcs7, request.content_type(), sent).map_err(&bad)?;
                Ok(pkcs7)
            })
            .collect::<Result<Vec<_>>>()?;
        match &opts.timestamp {
            Some(ts) => signatures.iter().map(|s| ts.apply(s)).collect(),
            None => Ok(signatures),
        }
    }
}
