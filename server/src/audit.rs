//! The audit log: one JSON line per signing request, appended to `--audit FILE`, written and
//! synced to disk before the answer is sent (a request whose line cannot be written gets no
//! signature). A writer thread commits lines in groups: every line waiting when it wakes goes
//! out in one `write` and one `fdatasync`, so concurrent requests share the cost of the sync.
//! Lines never hold a token or key material: the client is named, the token is not.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

/// One line of the log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Line {
    /// When the request arrived, RFC 3339 UTC with milliseconds.
    pub time: String,
    /// `sign` (JSON) or `upload` (whole file).
    pub endpoint: &'static str,
    /// The client's name; absent when the token was unknown.
    pub client: Option<String>,
    /// The peer's address.
    pub remote: String,
    /// The file name the client gave.
    pub file: Option<String>,
    /// The signing profile.
    pub profile: Option<String>,
    /// The file digests signed (or asked for), one per signature.
    pub digests: Vec<Digest>,
    /// Hex serial number of the signer certificate (when the profile was known).
    pub certificate_serial: Option<String>,
    /// `signed`, `refused` (4xx) or `failed` (5xx).
    pub outcome: &'static str,
    /// The HTTP status answered.
    pub status: u16,
    /// Why it was refused or failed.
    pub reason: Option<String>,
    /// Milliseconds from arrival to the line being written.
    pub duration_ms: f64,
}

/// A file digest in the log.
#[derive(Debug, Clone, Serialize)]
pub struct Digest {
    /// `sha256`...
    pub algorithm: &'static str,
    /// Hex.
    pub digest: String,
}

type Job = (Vec<u8>, oneshot::Sender<Result<(), String>>);

/// The handle requests write through; cloning shares the writer.
#[derive(Clone)]
pub struct Audit {
    tx: mpsc::UnboundedSender<Job>,
}

impl Audit {
    /// Open `path` for appending (created with mode 0600 if missing) and start the writer
    /// thread; it stops when every handle is dropped, after writing what it was given.
    pub fn open(path: &Path) -> std::io::Result<(Self, std::thread::JoinHandle<()>)> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = std::thread::Builder::new()
            .name("audit".into())
            .spawn(move || write_loop(file, rx))?;
        Ok((Self { tx }, writer))
    }

    /// Append `line` and wait until it is on disk.
    pub async fn record(&self, line: &Line) -> Result<(), String> {
        let mut bytes = serde_json::to_vec(line).map_err(|e| e.to_string())?;
        bytes.push(b'\n');
        let (done, wait) = oneshot::channel();
        self.tx
            .send((bytes, done))
            .map_err(|_| "the audit writer has stopped".to_string())?;
        wait.await
            .map_err(|_| "the audit writer has stopped".to_string())?
    }
}

fn write_loop(mut file: std::fs::File, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        let bytes: Vec<u8> = batch.iter().flat_map(|(b, _)| b.iter().copied()).collect();
        let result = file
            .write_all(&bytes)
            .and_then(|()| file.sync_data())
            .map_err(|e| format!("audit log: {e}"));
        for (_, done) in batch {
            let _ = done.send(result.clone());
        }
    }
}

/// The digests a request's audit line names: each signature's file digest (from its
/// SpcIndirectDataContent), or for content signed directly (a catalog's trust list) the
/// digest of that content in the signature's algorithm.
pub fn digests_of(request: &authsign::sign::SigningRequest) -> Vec<Digest> {
    if request.parsed().is_empty() {
        return request
            .digest_algorithms()
            .iter()
            .zip(request.indirect_data())
            .map(|(alg, content)| Digest {
                algorithm: alg.name(),
                digest: hex::encode(alg.digest(content)),
            })
            .collect();
    }
    request
        .parsed()
        .iter()
        .map(|p| Digest {
            algorithm: p.digest_algorithm.name(),
            digest: hex::encode(&p.digest),
        })
        .collect()
}

/// `t` as RFC 3339 UTC with milliseconds.
pub fn timestamp(t: std::time::SystemTime) -> String {
    let text = authsign::time::format_rfc3339(t);
    let millis = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_millis())
        .unwrap_or(0);
    match text.strip_suffix('Z') {
        Some(base) => format!("{base}.{millis:03}Z"),
        None => text,
    }
}
