//! The HTTP endpoints: `POST /v1/sign` (the JSON protocol of `authsign::remote::protocol`),
//! `POST /v1/upload` (the whole file, for curl), `GET /health`. Every signing request is
//! authenticated first, checked, signed through its profile's key pool, written to the audit
//! log, and only then answered.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use authsign::remote::protocol::{self, ErrorBody, ErrorResponse, SignRequest, SignResponse};
use authsign::sign::SignOptions;
use authsign::{DigestAlgorithm, Profile};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use tokio::io::AsyncWriteExt;

use crate::audit::{self, Audit};
use crate::config::{Client, Clients, TokenRefusal};
use crate::keys::{ProfileSigner, SigningProfile};

/// The response body: bytes in memory, or a file streamed from disk.
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// A refusal or failure, with the HTTP status it is answered with.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The protocol's error code.
    pub code: &'static str,
    /// For people (never a token).
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    /// 400.
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", m)
    }
    /// 401.
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", m)
    }
    /// 403.
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", m)
    }
    /// 413.
    pub fn too_large(m: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", m)
    }
    /// 503: the key's queue is full.
    pub fn busy() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the signing queue is full; retry later",
        )
    }
    /// 500: the key did not sign.
    pub fn signing_failed(m: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "signing-failed", m)
    }
    /// 502: no timestamp could be had.
    pub fn timestamp_failed(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "timestamp-failed", m)
    }
    /// 500.
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", m)
    }
}

/// Request size limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest JSON request body.
    pub max_request: usize,
    /// Largest uploaded file.
    pub max_upload: u64,
}

/// Everything the endpoints share.
pub struct State {
    /// Who may sign.
    pub clients: Clients,
    /// The profiles by name.
    pub profiles: BTreeMap<String, SigningProfile>,
    /// The audit log.
    pub audit: Audit,
    /// Size limits.
    pub limits: Limits,
    /// Where uploads are spooled.
    pub temp_dir: PathBuf,
    /// Set when a graceful shutdown starts (`/health` then says `stopping`).
    pub stopping: AtomicBool,
}

fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut r = Response::new(full(body));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = json_response(
        e.status,
        &ErrorResponse {
            version: protocol::VERSION,
            error: ErrorBody {
                code: e.code.to_string(),
                message: e.message.clone(),
            },
        },
    );
    if e.status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert("www-authenticate", HeaderValue::from_static("Bearer"));
    }
    if e.status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
    }
    r
}

/// Route one request.
pub async fn handle(
    state: Arc<State>,
    remote: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    Ok(match (req.method().clone(), path.as_str()) {
        (Method::GET, protocol::HEALTH_PATH) => json_response(
            StatusCode::OK,
            &protocol::Health {
                status: if state.stopping.load(Ordering::Relaxed) {
                    "stopping".into()
                } else {
                    "ok".into()
                },
                version: protocol::VERSION,
            },
        ),
        (Method::POST, protocol::SIGN_PATH) => audited(&state, remote, "sign", req).await,
        (Method::POST, protocol::UPLOAD_PATH) => audited(&state, remote, "upload", req).await,
        (_, protocol::SIGN_PATH | protocol::UPLOAD_PATH | protocol::HEALTH_PATH) => {
            let mut r = error_response(&ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "use POST (GET for /health)",
            ));
            r.headers_mut()
                .insert("allow", HeaderValue::from_static("POST, GET"));
            r
        }
        _ => error_response(&ApiError::new(
            StatusCode::NOT_FOUND,
            "not-found",
            format!(
                "no such endpoint; the signing endpoints are {} and {}",
                protocol::SIGN_PATH,
                protocol::UPLOAD_PATH
            ),
        )),
    })
}

/// Run a signing endpoint, write its audit line, then answer.
async fn audited(
    state: &Arc<State>,
    remote: SocketAddr,
    endpoint: &'static str,
    req: Request<Incoming>,
) -> Response<Body> {
    let started = Instant::now();
    let mut line = audit::Line {
        time: audit::timestamp(SystemTime::now()),
        endpoint,
        remote: remote.to_string(),
        ..Default::default()
    };
    let (parts, mut body) = req.into_parts();
    let result = if endpoint == "sign" {
        sign(state, &parts, &mut body, &mut line).await
    } else {
        upload(state, &parts, &mut body, &mut line).await
    };
    if result.is_err() {
        // Read (and drop) what the client is still sending before refusing: closing a
        // connection with unread data resets it, and the client may lose the answer.
        drain(&mut body).await;
    }
    let (status, response) = match result {
        Ok(r) => (r.status(), r),
        Err(e) => {
            line.reason = Some(e.message.clone());
            (e.status, error_response(&e))
        }
    };
    line.status = status.as_u16();
    line.outcome = match status.as_u16() {
        200 => "signed",
        400..=499 => "refused",
        _ => "failed",
    };
    line.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    match state.audit.record(&line).await {
        Ok(()) => response,
        // No signature leaves the server without its audit line.
        Err(e) => {
            eprintln!("authsign-server: {e}");
            error_response(&ApiError::internal("the audit log cannot be written"))
        }
    }
}

/// Most bytes of a refused request read and dropped so that its answer arrives (a larger rest
/// is cut off: the client gets a reset, or never sends it when it asked `Expect:
/// 100-continue`, as curl does for large bodies).
const DRAIN_LIMIT: u64 = 8 * 1024 * 1024;

/// Read and drop up to [`DRAIN_LIMIT`] bytes of `body`, for at most two seconds.
async fn drain(body: &mut Incoming) {
    let mut left = DRAIN_LIMIT;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                match left.checked_sub(data.len() as u64) {
                    Some(l) => left = l,
                    None => break,
                }
            }
        }
    })
    .await;
}

/// The client the `Authorization: Bearer` header names.
fn authenticate<'a>(
    state: &'a State,
    req: &hyper::http::request::Parts,
    line: &mut audit::Line,
) -> Result<&'a Client, ApiError> {
    let token = req
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or_else(|| ApiError::unauthorized("a bearer token is required"))?;
    match state.clients.authenticate(token, SystemTime::now()) {
        Ok(c) => {
            line.client = Some(c.name.clone());
            Ok(c)
        }
        Err(TokenRefusal::Unknown) => Err(ApiError::unauthorized("unknown token")),
        Err(TokenRefusal::Expired(name)) => {
            line.client = Some(name);
            Err(ApiError::unauthorized("the token has expired"))
        }
    }
}

/// The profile a request signs with: the one it names, else the client's only one, else
/// `default`, else the server's only one.
fn choose_profile<'a>(
    state: &'a State,
    client: &Client,
    asked: Option<&str>,
    line: &mut audit::Line,
) -> Result<&'a SigningProfile, ApiError> {
    let name = match asked {
        Some(n) => n.to_string(),
        None => match (&client.profiles, state.profiles.len()) {
            (Some(own), _) if own.len() == 1 => own.iter().next().cloned().unwrap_or_default(),
            _ if state.profiles.contains_key(crate::DEFAULT_PROFILE) => {
                crate::DEFAULT_PROFILE.to_string()
            }
            (_, 1) => state.profiles.keys().next().cloned().unwrap_or_default(),
            _ => return Err(ApiError::bad_request("name a signing profile")),
        },
    };
    line.profile = Some(name.clone());
    let profile = state
        .profiles
        .get(&name)
        .filter(|_| client.may_use(&name))
        .ok_or_else(|| {
            ApiError::forbidden(format!(
                "client {:?} may not sign with profile {name:?}",
                client.name
            ))
        })?;
    line.certificate_serial = Some(profile.serial.clone());
    Ok(profile)
}

fn declared_length(req: &hyper::http::request::Parts) -> Option<u64> {
    req.headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// `POST /v1/sign`.
async fn sign(
    state: &Arc<State>,
    req: &hyper::http::request::Parts,
    body: &mut Incoming,
    line: &mut audit::Line,
) -> Result<Response<Body>, ApiError> {
    let client = authenticate(state, req, line)?.clone();
    let limit = state.limits.max_request;
    let too_large = || ApiError::too_large(format!("requests are limited to {limit} bytes"));
    if declared_length(req).is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut received = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::bad_request(format!("reading the request: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if received.len() + data.len() > limit {
                return Err(too_large());
            }
            received.extend_from_slice(&data);
        }
    }
    let body = received;
    let request: SignRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("not a signing request: {e}")))?;
    line.file = request.file_name.clone();
    let (signing, opts) = request
        .to_signing()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    line.digests = audit::digests_of(&signing);
    let profile = choose_profile(state, &client, request.profile.as_deref(), line)?;
    let profile_name = profile.name.clone();
    let state2 = state.clone();
    let timestamp = request.timestamp;
    let (result, digests) = run_blocking(move |runtime| {
        let profile = state2
            .profiles
            .get(&profile_name)
            .ok_or_else(|| ApiError::internal("profile vanished"))?;
        let signer = ProfileSigner::new(profile, timestamp, runtime);
        let result =
            authsign::sign::RequestSigner::sign_request(&signer, &signing, &opts).map_err(|e| {
                signer
                    .take_error()
                    .unwrap_or_else(|| ApiError::signing_failed(e.to_string()))
            });
        let digests = signer.digests.lock().map(|d| d.clone()).unwrap_or_default();
        Ok((result, digests))
    })
    .await?;
    if !digests.is_empty() {
        line.digests = digests;
    }
    let signatures = result?;
    let answer = SignResponse {
        version: protocol::VERSION,
        certificate_serial: line.certificate_serial.clone().unwrap_or_default(),
        signatures: signatures
            .iter()
            .zip(&request.signatures)
            .map(|(pkcs7, asked)| protocol::SignatureResponse {
                digest_algorithm: asked.digest_algorithm.clone(),
                pkcs7: protocol::encode_base64(pkcs7),
            })
            .collect(),
    };
    Ok(json_response(StatusCode::OK, &answer))
}

/// Run `f` on a blocking thread (hashing, signing, waiting for the key, timestamping).
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce(tokio::runtime::Handle) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || f(runtime))
        .await
        .map_err(|_| ApiError::internal("a signing task stopped"))?
}

/// The options of an upload, from its query string.
struct UploadOptions {
    name: String,
    profile: Option<String>,
    digests: Vec<DigestAlgorithm>,
    attributes: Option<Profile>,
    description: Option<String>,
    url: Option<String>,
    signing_time: Option<SystemTime>,
    timestamp: bool,
    page_hashes: bool,
    msi_dse: bool,
    nest: bool,
    pkcs7: bool,
}

fn flag(name: &str, value: &str) -> Result<bool, ApiError> {
    match value {
        "" | "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "{name}={value:?}: expected true or false"
        ))),
    }
}

impl UploadOptions {
    fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut o = UploadOptions {
            name: "upload".into(),
            profile: None,
            digests: Vec::new(),
            attributes: None,
            description: None,
            url: None,
            signing_time: None,
            timestamp: false,
            page_hashes: false,
            msi_dse: false,
            nest: false,
            pkcs7: false,
        };
        let bad = |e: authsign::Error| ApiError::bad_request(e.to_string());
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = percent_decode(k)?;
            let v = percent_decode(v)?;
            match k.as_str() {
                "name" => o.name = v,
                "profile" => o.profile = Some(v),
                "digest" => o.digests.push(v.parse().map_err(bad)?),
                "attributes" => o.attributes = Some(v.parse().map_err(bad)?),
                "description" => o.description = Some(v),
                "url" => o.url = Some(v),
                "signing-time" => {
                    o.signing_time = Some(authsign::time::parse_time(&v).map_err(bad)?)
                }
                "timestamp" => o.timestamp = flag(&k, &v)?,
                "page-hashes" => o.page_hashes = flag(&k, &v)?,
                "msi-dse" => o.msi_dse = flag(&k, &v)?,
                "nest" => o.nest = flag(&k, &v)?,
                "response-type" => {
                    o.pkcs7 = match v.as_str() {
                        "file" => false,
                        "pkcs7" => true,
                        _ => {
                            return Err(ApiError::bad_request(format!(
                                "response-type={v:?}: expected file or pkcs7"
                            )))
                        }
                    }
                }
                _ => return Err(ApiError::bad_request(format!("unknown parameter {k:?}"))),
            }
        }
        if o.digests.is_empty() {
            o.digests.push(DigestAlgorithm::Sha256);
        }
        Ok(o)
    }

    fn sign_options(&self, profile: &SigningProfile) -> SignOptions {
        let mut opts = SignOptions::new()
            .with_digests(&self.digests)
            .with_profile(self.attributes.or(profile.attributes()).unwrap_or_default())
            .with_page_hashes(self.page_hashes)
            .with_msi_dse(self.msi_dse)
            .nesting(self.nest);
        opts.description.clone_from(&self.description);
        opts.url.clone_from(&self.url);
        opts.signing_time = self.signing_time;
        opts
    }
}

/// `%XX` and `+` decoding of a query component.
fn percent_decode(s: &str) -> Result<String, ApiError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| ApiError::bad_request("bad %-escape in the query"))?;
                out.push(hex);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_request("the query is not UTF-8"))
}

/// The extension of the uploaded file's name, kept for format detection (scripts are known
/// by it), if it is plain: letters and digits only.
fn safe_extension(name: &str) -> String {
    match std::path::Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
    {
        Some(e)
            if !e.is_empty() && e.len() <= 16 && e.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            format!(".{e}")
        }
        _ => String::new(),
    }
}

/// `POST /v1/upload`: the body is the file.
async fn upload(
    state: &Arc<State>,
    req: &hyper::http::request::Parts,
    body: &mut Incoming,
    line: &mut audit::Line,
) -> Result<Response<Body>, ApiError> {
    let client = authenticate(state, req, line)?.clone();
    let options = UploadOptions::parse(req.uri.query())?;
    line.file = Some(options.name.clone());
    let profile = choose_profile(state, &client, options.profile.as_deref(), line)?;
    let limit = state.limits.max_upload;
    if declared_length(req).is_some_and(|n| n > limit) {
        return Err(ApiError::too_large(format!(
            "uploads are limited to {limit} bytes"
        )));
    }
    let opts = options.sign_options(profile);
    let profile_name = profile.name.clone();
    // Spool the body to a temporary file, never into memory.
    let spool = tempfile::Builder::new()
        .prefix("authsign-upload-")
        .suffix(&safe_extension(&options.name))
        .tempfile_in(&state.temp_dir)
        .map_err(|e| ApiError::internal(format!("temporary file: {e}")))?;
    let mut file = tokio::fs::File::from_std(
        spool
            .reopen()
            .map_err(|e| ApiError::internal(format!("temporary file: {e}")))?,
    );
    let mut received: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request(format!("reading the upload: {e}")))?;
        if let Ok(data) = frame.into_data() {
            received += data.len() as u64;
            if received > limit {
                return Err(ApiError::too_large(format!(
                    "uploads are limited to {limit} bytes"
                )));
            }
            file.write_all(&data)
                .await
                .map_err(|e| ApiError::internal(format!("temporary file: {e}")))?;
        }
    }
    file.flush()
        .await
        .map_err(|e| ApiError::internal(format!("temporary file: {e}")))?;
    drop(file);
    let state2 = state.clone();
    let path = spool.path().to_path_buf();
    let timestamp = options.timestamp;
    let (result, digests) = run_blocking(move |runtime| {
        let profile = state2
            .profiles
            .get(&profile_name)
            .ok_or_else(|| ApiError::internal("profile vanished"))?;
        let signer = ProfileSigner::new(profile, timestamp, runtime);
        let result = authsign::sign::sign_file_with(&path, &signer, &opts).map_err(|e| {
            signer.take_error().unwrap_or_else(|| match e {
                    authsign::Error::Malformed(_)
                    | authsign::Error::Unsupported(_)
                    | authsign::Error::InvalidArgument(_)
                    | authsign::Error::Crypto(
                        authsign::error::CryptoError::UnsupportedAlgorithm(_),
                    ) => ApiError::bad_request(e.to_string()),
                    other => ApiError::internal(other.to_string()),
                })
        });
        let digests = signer.digests.lock().map(|d| d.clone()).unwrap_or_default();
        Ok((result, digests))
    })
    .await?;
    line.digests = digests;
    let pkcs7 = result?;
    if options.pkcs7 {
        let mut r = Response::new(full(pkcs7));
        r.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/pkcs7-signature"),
        );
        return Ok(r);
    }
    stream_file(spool).await
}

/// Answer with the file at `spool`, read in chunks; the temporary file is removed once sent.
async fn stream_file(spool: tempfile::NamedTempFile) -> Result<Response<Body>, ApiError> {
    use tokio::io::AsyncReadExt;
    // By path: signing may have replaced the file (formats rewritten through a temporary
    // file and a rename); the NamedTempFile still removes that path when dropped.
    let std_file = std::fs::File::open(spool.path())
        .map_err(|e| ApiError::internal(format!("temporary file: {e}")))?;
    let length = std_file
        .metadata()
        .map_err(|e| ApiError::internal(format!("temporary file: {e}")))?
        .len();
    let mut file = tokio::fs::File::from_std(std_file);
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::spawn(async move {
        let _keep = spool;
        loop {
            let mut chunk = vec![0u8; 256 * 1024];
            match file.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => {
                    chunk.truncate(n);
                    if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            }
        }
    });
    let mut r = Response::new(ChannelBody { rx, length }.boxed());
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    r.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(length));
    Ok(r)
}

/// A body fed by a channel of chunks.
struct ChannelBody {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
    length: u64,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|chunk| chunk.map(|r| r.map(Frame::data)))
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.length)
    }
}
