//! `remote_sign`: the client/server split of a signing service. The server holds the key
//! behind the `Signer` trait and signs digests; the client hashes the file, sends only the
//! digest, and assembles the signed file. The file never leaves the client.
//!
//! ```text
//! remote_sign serve --cert chain.pem --key key.pem --token build-1 [--port 0]
//!     listening on 127.0.0.1:PORT        (then one log line per request on stderr)
//! remote_sign sign --server 127.0.0.1:PORT --token build-1 --cert chain.pem app.exe -o app-signed.exe
//! ```
//! One endpoint: `POST /sign` with JSON `{"token", "file", "digest_algorithm", "digest",
//! "profile"}`, answered with `{"signature": "<hex>"}` or `{"error": "..."}`. Plain HTTP on
//! loopback only: put TLS and real authentication in front of it in production.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;

use authsign::sign::{write_atomically, SignOptions};
use authsign::signer::{LocalSigner, Signer};
use authsign::{DigestAlgorithm, Profile, SignatureAlgorithm};
use clap::{Parser, Subcommand};
use serde_json::{json, Value};

/// Largest request or response accepted, in bytes.
const MAX_BODY: usize = 64 * 1024;

#[derive(Parser)]
#[command(name = "remote_sign", about = "Sign files through a signing server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the signing server on 127.0.0.1.
    Serve {
        /// PEM certificate chain, leaf first.
        #[arg(long)]
        cert: PathBuf,
        /// PEM private key.
        #[arg(long)]
        key: PathBuf,
        /// Client tokens allowed to sign (repeatable).
        #[arg(long = "token", required = true)]
        tokens: Vec<String>,
        /// Port (0: any free port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Stop after this many requests (for tests).
        #[arg(long)]
        max_requests: Option<usize>,
    },
    /// Sign a file through the server.
    Sign {
        /// Server address, host:port.
        #[arg(long)]
        server: String,
        /// This client's token.
        #[arg(long)]
        token: String,
        /// PEM certificate chain of the server's key, leaf first.
        #[arg(long)]
        cert: PathBuf,
        /// Digest algorithm.
        #[arg(long, default_value = "sha256")]
        digest: DigestAlgorithm,
        /// Signed-attribute profile.
        #[arg(long, default_value = "signtool")]
        profile: Profile,
        /// The file to sign.
        input: PathBuf,
        /// Output (default: replace the input atomically).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

/// Read one HTTP request or response: the first line and the body (Content-Length bounded).
fn read_message(stream: &mut impl Read) -> Result<(String, Vec<u8>), String> {
    let mut reader = BufReader::new(stream.take(MAX_BODY as u64 + 8192));
    let mut first = String::new();
    reader.read_line(&mut first).map_err(|e| e.to_string())?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(|e| e.to_string())?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(|_| "bad Content-Length")?;
            }
        }
    }
    if length > MAX_BODY {
        return Err(format!("body of {length} bytes is too large"));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok((first.trim_end().to_string(), body))
}

fn respond(stream: &mut TcpStream, status: &str, body: &Value) {
    let body = body.to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Check and answer one signing request.
fn handle(
    signer: &dyn Signer,
    tokens: &[String],
    request: &Value,
) -> Result<Value, (String, String)> {
    let field = |k: &str| {
        request
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (token, file, profile) = (field("token"), field("file"), field("profile"));
    if !tokens.contains(&token) {
        return Err(("403 Forbidden".into(), "unknown client token".into()));
    }
    let bad = |e: String| ("400 Bad Request".to_string(), e);
    let alg: DigestAlgorithm = field("digest_algorithm")
        .parse()
        .map_err(|e: authsign::Error| bad(e.to_string()))?;
    let digest = hex::decode(field("digest")).map_err(|e| bad(format!("digest: {e}")))?;
    if digest.len() != alg.output_size() {
        return Err(bad(format!(
            "a {alg} digest is {} bytes",
            alg.output_size()
        )));
    }
    eprintln!(
        "sign: client={token} file={file:?} {alg}={} profile={profile}",
        hex::encode(&digest)
    );
    let signature = signer
        .sign_digest(alg, &digest)
        .map_err(|e| ("500 Internal Server Error".to_string(), e.to_string()))?;
    Ok(json!({ "signature": hex::encode(signature) }))
}

fn serve(
    signer: &dyn Signer,
    tokens: &[String],
    port: u16,
    max: Option<usize>,
) -> Result<(), String> {
    let listener = TcpListener::bind(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on {addr}");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    for (n, stream) in listener.incoming().enumerate() {
        let Ok(mut stream) = stream else { continue };
        let answer = match read_message(&mut stream) {
            Ok((line, _)) if !line.starts_with("POST /sign ") => {
                Err(("404 Not Found".to_string(), "only POST /sign".to_string()))
            }
            Ok((_, body)) => serde_json::from_slice(&body)
                .map_err(|e| ("400 Bad Request".to_string(), e.to_string()))
                .and_then(|req: Value| handle(signer, tokens, &req)),
            Err(e) => Err(("400 Bad Request".to_string(), e)),
        };
        match answer {
            Ok(v) => respond(&mut stream, "200 OK", &v),
            Err((status, error)) => {
                eprintln!("refused: {status}: {error}");
                respond(&mut stream, &status, &json!({ "error": error }));
            }
        }
        if max.is_some_and(|m| n + 1 >= m) {
            break;
        }
    }
    Ok(())
}

/// POST `body` to `server`'s /sign and return the signature bytes.
fn request_signature(server: &str, body: &Value) -> Result<Vec<u8>, String> {
    let mut stream = TcpStream::connect(server).map_err(|e| format!("{server}: {e}"))?;
    let body = body.to_string();
    write!(
        stream,
        "POST /sign HTTP/1.1\r\nHost: {server}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let (status, body) = read_message(&mut stream)?;
    let v: Value = serde_json::from_slice(&body).map_err(|e| format!("{status}: {e}"))?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        return Err(format!("signing server: {status}: {e}"));
    }
    let sig = v
        .get("signature")
        .and_then(Value::as_str)
        .ok_or("no signature in the answer")?;
    hex::decode(sig).map_err(|e| e.to_string())
}

fn run(cli: Cli) -> Result<String, String> {
    match cli.command {
        Command::Serve {
            cert,
            key,
            tokens,
            port,
            max_requests,
        } => {
            let signer = LocalSigner::from_files(key, &[cert]).map_err(|e| e.to_string())?;
            serve(&signer, &tokens, port, max_requests)?;
            Ok(String::new())
        }
        Command::Sign {
            server,
            token,
            cert,
            digest,
            profile,
            input,
            output,
        } => {
            let certs =
                authsign::certificates_from_pem(&std::fs::read(&cert).map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
            let leaf = certs.first().ok_or("no certificate")?;
            let scheme = SignatureAlgorithm::for_certificate(leaf).map_err(|e| e.to_string())?;
            let subject = authsign::open_path(&input).map_err(|e| e.to_string())?;
            let mut opts = SignOptions::default();
            opts.digest = digest;
            opts.profile = profile;
            let pending = authsign::sign::prepare(subject.as_ref(), &certs, scheme, &opts)
                .map_err(|e| e.to_string())?
                .remove(0);
            let request = json!({
                "token": token,
                "file": input.file_name().map(|n| n.to_string_lossy().into_owned()),
                "digest_algorithm": digest.name(),
                "digest": hex::encode(pending.digest()),
                "profile": format!("{profile:?}").to_lowercase(),
            });
            let signature = request_signature(&server, &request)?;
            // finish() refuses a signature that does not verify with the certificate.
            let pkcs7 = pending.finish(&signature).map_err(|e| e.to_string())?;
            let out = output.unwrap_or(input);
            write_atomically(&out, |w| subject.with_signature(&pkcs7, w))
                .map_err(|e| e.to_string())?;
            Ok(format!("signed through {server}: {}", out.display()))
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(msg) => {
            if !msg.is_empty() {
                println!("{msg}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("remote_sign: {e}");
            ExitCode::from(2)
        }
    }
}
