//! `authsign-server`: an Authenticode signing service. Clients send the SpcIndirectDataContent
//! of their files (`sign --remote`, `authsign::remote::RemoteSigner`) or the whole file (curl)
//! over HTTPS with a bearer token; the server checks the request against the client's
//! profiles, signs with the profile's key (PEM, PKCS#12, PKCS#11...), timestamps when asked,
//! writes one audit line, and answers the signatures.
//!
//! ```text
//! authsign-server --listen 127.0.0.1:8443 --tls-cert server.pem --tls-key server.key \
//!     --clients clients.json --audit audit.jsonl --cert chain.pem --key key.pem
//! listening on https://127.0.0.1:8443
//! ```
//! Without `--listen` it takes the socket systemd passes (socket activation). SIGTERM or
//! Ctrl-C stop it gracefully: no new connection is accepted, requests in progress are answered
//! (each after its audit line) within `--shutdown-timeout` seconds. The manual's deployment
//! chapter (`authsign::manual::deployment`) explains the configuration and the protocol.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod api;
mod audit;
mod config;
mod keys;
mod tls;

#[path = "../../examples/common/cli.rs"]
mod cli;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use authsign::{DigestAlgorithm, Profile};
use clap::Parser;
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::keys::{KeyPool, SigningProfile};

/// The profile made from the command-line key flags when CLIENTS.json lists none.
pub const DEFAULT_PROFILE: &str = "default";

/// The key flags of `sign` (`--cert`/`--key` and the other key sources).
#[derive(clap::Args, Debug)]
struct KeyFlags {
    /// Certificate chain, PEM or DER, leaf first (repeatable).
    #[arg(long = "cert")]
    certs: Vec<PathBuf>,
    /// PEM private key: RSA, P-256 or P-384.
    #[arg(long)]
    key: Option<PathBuf>,
    #[command(flatten)]
    keys: cli::KeyArgs,
}

impl KeyFlags {
    fn given(&self) -> bool {
        self.key.is_some()
            || self.keys.pfx.is_some()
            || self.keys.pkcs11_module.is_some()
            || self.keys.cloud.given()
    }
}

/// A profile's `key` list, parsed with the command line's grammar.
#[derive(Parser, Debug)]
#[command(name = "key", no_binary_name = true)]
struct ProfileKey {
    #[command(flatten)]
    flags: KeyFlags,
}

/// A profile's `timestamp` list, parsed with the command line's grammar.
#[derive(Parser, Debug)]
#[command(name = "timestamp", no_binary_name = true)]
struct ProfileTimestamp {
    #[command(flatten)]
    flags: cli::TimestampArgs,
}

/// An Authenticode signing service over HTTPS.
#[derive(Parser, Debug)]
#[command(name = "authsign-server", version, about)]
struct Args {
    /// Address to listen on (host:port; port 0 picks one). Without it, the socket passed by
    /// systemd socket activation (LISTEN_FDS).
    #[arg(long)]
    listen: Option<String>,
    /// The server's TLS certificate chain (PEM, leaf first).
    #[arg(long)]
    tls_cert: PathBuf,
    /// The server's TLS private key (PEM).
    #[arg(long)]
    tls_key: PathBuf,
    /// Require client certificates issued by this CA (PEM): mutual TLS, on top of the tokens.
    #[arg(long)]
    client_ca: Option<PathBuf>,
    /// Clients (token hashes, expiry, profiles) and signing profiles, JSON.
    #[arg(long)]
    clients: PathBuf,
    /// Audit log: one JSON line appended per signing request.
    #[arg(long)]
    audit: PathBuf,
    #[command(flatten)]
    key: KeyFlags,
    #[command(flatten)]
    timestamps: cli::TimestampArgs,
    /// Digest algorithms the default profile signs (repeatable; default sha256, sha384,
    /// sha512, sha1).
    #[arg(long = "allow-digest", value_name = "ALG")]
    allow_digests: Vec<DigestAlgorithm>,
    /// Signed-attribute profile the default profile requires (default: the client's choice).
    #[arg(long, value_name = "signtool|osslsigncode")]
    attributes: Option<Profile>,
    /// Signatures made at once per profile: keys opened (PKCS#11 sessions). Default: the
    /// number of processors.
    #[arg(long)]
    workers: Option<usize>,
    /// Requests per profile allowed to wait for a key; more are answered 503.
    #[arg(long, default_value_t = 256)]
    queue: usize,
    /// Largest JSON signing request, in bytes.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    max_request: usize,
    /// Largest uploaded file, in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024 * 1024)]
    max_upload: u64,
    /// Connections served at once.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Folder for uploaded files while they are signed (default: the system's).
    #[arg(long)]
    temp_dir: Option<PathBuf>,
    /// Seconds a graceful shutdown waits for requests in progress.
    #[arg(long, default_value_t = 30)]
    shutdown_timeout: u64,
}

fn open_profiles(
    args: &Args,
    clients: &config::Clients,
) -> Result<BTreeMap<String, SigningProfile>, String> {
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let mut out = BTreeMap::new();
    match &clients.profiles {
        None => {
            if !args.key.given() {
                return Err(
                    "CLIENTS.json has no profiles: give the key flags (--cert/--key, --pfx, --pkcs11-module, --aws-kms-key...)".into(),
                );
            }
            let source = args
                .key
                .keys
                .source(args.key.key.as_deref(), &args.key.certs)
                .map_err(|e| e.to_string())?;
            let pool = KeyPool::open(&source, workers, args.queue)
                .map_err(|e| format!("opening the key: {e}"))?;
            let digests = if args.allow_digests.is_empty() {
                config::DEFAULT_DIGESTS.to_vec()
            } else {
                args.allow_digests.clone()
            };
            let ts = args.timestamps.options().map_err(|e| e.to_string())?;
            out.insert(
                DEFAULT_PROFILE.to_string(),
                SigningProfile::new(DEFAULT_PROFILE.into(), pool, ts, args.attributes, digests),
            );
        }
        Some(profiles) => {
            if args.key.given() {
                return Err(
                    "CLIENTS.json lists profiles: their keys are in it, not on the command line"
                        .into(),
                );
            }
            for p in profiles {
                let named = |e: String| format!("profile {:?}: {e}", p.name);
                let key = ProfileKey::try_parse_from(&p.key)
                    .map_err(|e| named(format!("key: {e}")))?
                    .flags;
                let source = key
                    .keys
                    .source(key.key.as_deref(), &key.certs)
                    .map_err(|e| named(e.to_string()))?;
                let ts = ProfileTimestamp::try_parse_from(&p.timestamp)
                    .map_err(|e| named(format!("timestamp: {e}")))?
                    .flags;
                let ts = if p.timestamp.is_empty() {
                    None
                } else {
                    ts.options().map_err(|e| named(e.to_string()))?
                };
                let attributes = p
                    .attributes
                    .as_deref()
                    .map(str::parse::<Profile>)
                    .transpose()
                    .map_err(|e| named(e.to_string()))?;
                let digests = match &p.digests {
                    None => config::DEFAULT_DIGESTS.to_vec(),
                    Some(d) => d
                        .iter()
                        .map(|d| d.parse())
                        .collect::<authsign::Result<Vec<DigestAlgorithm>>>()
                        .map_err(|e| named(e.to_string()))?,
                };
                let pool = KeyPool::open(
                    &source,
                    p.workers.unwrap_or(workers),
                    p.queue.unwrap_or(args.queue),
                )
                .map_err(|e| named(format!("opening the key: {e}")))?;
                out.insert(
                    p.name.clone(),
                    SigningProfile::new(p.name.clone(), pool, ts, attributes, digests),
                );
            }
        }
    }
    Ok(out)
}

/// The listening socket: `--listen`, or the one systemd passed.
fn listener(args: &Args) -> Result<tokio::net::TcpListener, String> {
    let std_listener = match &args.listen {
        Some(addr) => std::net::TcpListener::bind(addr).map_err(|e| format!("{addr}: {e}"))?,
        None => listenfd::ListenFd::from_env()
            .take_tcp_listener(0)
            .map_err(|e| format!("socket activation: {e}"))?
            .ok_or("no --listen address and no socket from systemd (LISTEN_FDS)")?,
    };
    std_listener
        .set_nonblocking(true)
        .map_err(|e| e.to_string())?;
    tokio::net::TcpListener::from_std(std_listener).map_err(|e| e.to_string())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn serve(args: Args) -> Result<(), String> {
    let clients = config::Clients::load(&args.clients)?;
    let tls = tls::server_config(&args.tls_cert, &args.tls_key, args.client_ca.as_deref())?;
    let profiles = open_profiles(&args, &clients)?;
    let (audit, audit_writer) =
        audit::Audit::open(&args.audit).map_err(|e| format!("{}: {e}", args.audit.display()))?;
    let state = Arc::new(api::State {
        clients,
        profiles,
        audit,
        limits: api::Limits {
            max_request: args.max_request,
            max_upload: args.max_upload,
        },
        temp_dir: args.temp_dir.clone().unwrap_or_else(std::env::temp_dir),
        stopping: Default::default(),
    });
    let listener = listener(&args)?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on https://{addr}");
    let _ = std::io::stdout().flush();

    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let connections = Arc::new(tokio::sync::Semaphore::new(args.max_connections.max(1)));
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("authsign-server: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let acceptor = acceptor.clone();
        let state = state.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return; // a failed handshake (an untrusting client, a scanner): nothing to do
            };
            let service =
                hyper::service::service_fn(move |req| api::handle(state.clone(), remote, req));
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30))
                .keep_alive(true);
            let conn = http.serve_connection(TokioIo::new(stream), service);
            let _ = watcher.watch(conn).await;
        });
    }
    drop(listener);
    state.stopping.store(true, Ordering::Relaxed);
    eprintln!("authsign-server: stopping; answering the requests in progress");
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(args.shutdown_timeout)) => {
            eprintln!("authsign-server: shutdown timeout: closing the remaining connections");
        }
    }
    drop(state);
    // Every answered request's line is on disk already. The writer ends when the last
    // connection task lets go of the state; one cut off by the timeout may still hold it, so
    // wait a little, not forever.
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::task::spawn_blocking(move || audit_writer.join()),
    )
    .await;
    eprintln!("authsign-server: stopped");
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("authsign-server: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(serve(args));
    // Blocking tasks cut off by the shutdown timeout (a hung HSM call) do not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("authsign-server: {e}");
            ExitCode::from(2)
        }
    }
}
