//! Test-only time-stamping authorities on 127.0.0.1:
//! - [`TsaServer`]: a tiny one-thread HTTP server that answers RFC 3161 requests with
//!   `openssl ts -reply` (test TSA certificate, critical timeStamping EKU) or legacy
//!   Authenticode requests with `openssl cms -sign` over the request's signature value, and
//!   that can be told to misbehave ([`Behavior`]);
//! - [`FixedTimeTsa`]: an in-process RFC 3161 TSA (a [`Timestamper`]) that stamps any time
//!   chosen by the test, signed with our own `LocalSigner`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use authsign::cms::tlv::{self, tag};
use authsign::cms::{generic, oids};
use authsign::signer::LocalSigner;
use authsign::timestamp::rfc3161::{TimestampRequest, ID_CT_TST_INFO};
use authsign::timestamp::{legacy, TimestampKind, Timestamper};
use authsign::{DigestAlgorithm, Signer};
use base64ct::Encoding;
use der::Encode;

use crate::common::{pki, TempDir};

/// Most connections one server answers before its thread ends.
pub const MAX_REQUESTS: usize = 256;
/// Largest request body read.
const MAX_BODY: usize = 1 << 20;

/// Which protocol a [`TsaServer`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// RFC 3161 over HTTP (`application/timestamp-query`).
    Rfc3161,
    /// Legacy Authenticode (base64 PKCS#7 over HTTP).
    Legacy,
}

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// A correct answer.
    Good,
    /// HTTP 500.
    Http500,
    /// HTTP 200 with an empty body.
    Empty,
    /// HTTP 200 with an HTML page.
    Garbage,
    /// A TimeStampResp with status rejection.
    Rejection,
    /// A correct token for a different nonce.
    WrongNonce,
    /// A correct token for a different message imprint.
    WrongImprint,
    /// A token signed by a certificate without the timeStamping EKU.
    NonTsaSigner,
    /// HTTP 500 for the first `n` requests, then good answers.
    FailFirst(usize),
}

/// A local TSA over HTTP; stopped when dropped.
pub struct TsaServer {
    port: u16,
    behavior: Arc<Mutex<Behavior>>,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _dir: Arc<TempDir>,
}

impl TsaServer {
    /// Start a server for `protocol` on 127.0.0.1 (a free port).
    pub fn start(protocol: Protocol) -> Self {
        let dir = Arc::new(TempDir::new());
        write_config(dir.path());
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        let behavior = Arc::new(Mutex::new(Behavior::Good));
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (behavior, requests, stop, dir) = (
                behavior.clone(),
                requests.clone(),
                stop.clone(),
                dir.clone(),
            );
            std::thread::spawn(move || {
                for stream in listener.incoming().take(MAX_REQUESTS) {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let n = requests.fetch_add(1, Ordering::SeqCst);
                    let b = *behavior.lock().expect("behavior lock");
                    let _ = serve(stream, protocol, b, n, dir.path());
                }
            })
        };
        Self {
            port,
            behavior,
            requests,
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Change how the server answers from now on.
    pub fn set(&self, b: Behavior) {
        *self.behavior.lock().expect("behavior lock") = b;
        self.requests.store(0, Ordering::SeqCst);
    }

    /// How many requests arrived since the last [`TsaServer::set`] (or the start).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for TsaServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_config(dir: &Path) {
    std::fs::write(dir.join("serial"), "01\n").expect("serial");
    let cnf = format!(
        "[ tsa ]\ndefault_tsa = tsa_config\n[ tsa_config ]\nserial = {}/serial\n\
         crypto_device = builtin\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\n\
         other_policies = 1.2.3.4.5\ndigests = sha1, sha256, sha384, sha512\n\
         accuracy = secs:1\nordering = yes\ntsa_name = yes\ness_cert_id_chain = no\n\
         ess_cert_id_alg = sha256\n",
        dir.display()
    );
    std::fs::write(dir.join("tsa.cnf"), cnf).expect("tsa.cnf");
}

/// Read one HTTP request; returns its body.
fn read_request(stream: &TcpStream) -> std::io::Result<Vec<u8>> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    let mut header_bytes = 0usize;
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        header_bytes += n;
        if n == 0 || header_bytes > 64 * 1024 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    if length > MAX_BODY {
        return Err(std::io::ErrorKind::InvalidData.into());
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(body)
}

fn respond(
    mut stream: TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        _ => "Internal Server Error",
    };
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    stream.flush()
}

fn serve(
    stream: TcpStream,
    protocol: Protocol,
    behavior: Behavior,
    n: usize,
    dir: &Path,
) -> std::io::Result<()> {
    let body = read_request(&stream)?;
    let reply_type = match protocol {
        Protocol::Rfc3161 => "application/timestamp-reply",
        Protocol::Legacy => "application/octet-stream",
    };
    match behavior {
        Behavior::Http500 => return respond(stream, 500, "text/plain", b"TSA is down"),
        Behavior::FailFirst(k) if n < k => {
            return respond(stream, 500, "text/plain", b"TSA is down")
        }
        Behavior::Empty => return respond(stream, 200, reply_type, b""),
        Behavior::Garbage => {
            return respond(
                stream,
                200,
                "text/html",
                b"<html><body>Welcome to nginx!</body></html>",
            )
        }
        Behavior::Rejection => return respond(stream, 200, reply_type, &rejection()),
        _ => {}
    }
    match protocol {
        Protocol::Rfc3161 => {
            let answer = rfc3161_answer(&body, behavior, dir).unwrap_or_else(rejection_bad_format);
            respond(stream, 200, reply_type, &answer)
        }
        Protocol::Legacy => match legacy_answer(&body, dir) {
            Some(der) => respond(
                stream,
                200,
                reply_type,
                base64ct::Base64::encode_string(&der).as_bytes(),
            ),
            None => respond(
                stream,
                400,
                "text/plain",
                b"not an Authenticode timestamp request",
            ),
        },
    }
}

/// A TimeStampResp with status rejection, a text and failInfo unacceptedPolicy.
pub fn rejection() -> Vec<u8> {
    tlv::sequence(&[&tlv::sequence(&[
        &tlv::small_uint(2),
        &tlv::sequence(&[&tlv::tlv(
            tag::UTF8_STRING,
            b"policy not accepted by the test TSA",
        )]),
        &tlv::tlv(tag::BIT_STRING, &[0, 0, 0x01]),
    ])])
}

fn rejection_bad_format() -> Vec<u8> {
    tlv::sequence(&[&tlv::sequence(&[
        &tlv::small_uint(2),
        &tlv::tlv(tag::BIT_STRING, &[2, 0x04]),
    ])])
}

fn run_ok(cmd: &mut Command) -> Option<Vec<u8>> {
    let out = cmd.output().ok()?;
    if !out.status.success() {
        eprintln!(
            "tsa harness: {:?} failed: {}",
            cmd,
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(out.stdout)
}

fn file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// `openssl ts -reply` for a DER TimeStampReq, signed by `signer` (a pki name).
fn openssl_reply(query: &[u8], dir: &Path) -> Option<Vec<u8>> {
    let q = file(dir, "query.der");
    let r = file(dir, "reply.der");
    std::fs::write(&q, query).ok()?;
    run_ok(
        Command::new("openssl")
            .args(["ts", "-reply", "-config"])
            .arg(file(dir, "tsa.cnf"))
            .arg("-queryfile")
            .arg(&q)
            .arg("-signer")
            .arg(pki("tsa.pem"))
            .arg("-inkey")
            .arg(pki("tsa.key"))
            .arg("-out")
            .arg(&r),
    )?;
    let reply = std::fs::read(&r).ok()?;
    // openssl writes a rejection (with status) when it cannot parse the query, too.
    Some(reply)
}

fn rfc3161_answer(body: &[u8], behavior: Behavior, dir: &Path) -> Option<Vec<u8>> {
    let mut req = TimestampRequest::parse(body).ok()?;
    match behavior {
        Behavior::WrongNonce => req.nonce = vec![0x12, 0x34, 0x56],
        Behavior::WrongImprint => {
            if let Some(b) = req.imprint.first_mut() {
                *b ^= 0xff;
            }
        }
        _ => {}
    }
    let reply = openssl_reply(&req.to_der().ok()?, dir)?;
    if behavior != Behavior::NonTsaSigner {
        return Some(reply);
    }
    // Re-sign the same TSTInfo with a certificate that lacks the timeStamping EKU.
    let resp = authsign::timestamp::rfc3161::parse_response(&reply).ok()?;
    let token = generic::parse_signed_data(&resp.token?).ok()?;
    let tst = file(dir, "tst.der");
    let bad = file(dir, "bad-token.der");
    std::fs::write(&tst, token.content?).ok()?;
    run_ok(
        Command::new("openssl")
            .args([
                "cms",
                "-sign",
                "-binary",
                "-nodetach",
                "-nosmimecap",
                "-md",
                "sha256",
            ])
            .args([
                "-econtent_type",
                "1.2.840.113549.1.9.16.1.4",
                "-outform",
                "DER",
                "-in",
            ])
            .arg(&tst)
            .arg("-signer")
            .arg(pki("tsa-noeku.pem"))
            .arg("-inkey")
            .arg(pki("tsa-noeku.key"))
            .arg("-out")
            .arg(&bad),
    )?;
    let bad = std::fs::read(&bad).ok()?;
    Some(tlv::sequence(&[
        &tlv::sequence(&[&tlv::small_uint(0)]),
        &bad,
    ]))
}

/// The legacy Authenticode answer: a PKCS#7 SignedData over the request's signature value,
/// signed by the test TSA (contentType, signingTime, messageDigest), DER.
fn legacy_answer(body: &[u8], dir: &Path) -> Option<Vec<u8>> {
    let der = legacy::decode_base64(body)?;
    let signature = legacy::parse_request(&der).ok()?;
    let content = file(dir, "content.bin");
    let out = file(dir, "legacy.der");
    std::fs::write(&content, signature).ok()?;
    run_ok(
        Command::new("openssl")
            .args([
                "cms",
                "-sign",
                "-binary",
                "-nodetach",
                "-nosmimecap",
                "-md",
                "sha256",
            ])
            .args(["-outform", "DER", "-in"])
            .arg(&content)
            .arg("-signer")
            .arg(pki("tsa.pem"))
            .arg("-inkey")
            .arg(pki("tsa.key"))
            .arg("-out")
            .arg(&out),
    )?;
    std::fs::read(&out).ok()
}

/// An in-process RFC 3161 TSA that stamps `time` (GeneralizedTime text, e.g.
/// "20200601120000Z"), signed by the test TSA key with our own signer.
pub struct FixedTimeTsa {
    signer: LocalSigner,
    time: String,
}

impl FixedTimeTsa {
    /// A TSA stamping `time` with the test TSA certificate.
    pub fn new(time: &str) -> Self {
        Self::with_certificate(time, "tsa")
    }

    /// A TSA stamping `time` with the test certificate `name` (pki `name.pem` / `name.key`).
    pub fn with_certificate(time: &str, name: &str) -> Self {
        let signer =
            LocalSigner::from_files(pki(&format!("{name}.key")), &[pki(&format!("{name}.pem"))])
                .expect("TSA signer");
        Self {
            signer,
            time: time.to_string(),
        }
    }
}

fn integer(unsigned: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = unsigned.iter().copied().skip_while(|b| *b == 0).collect();
    if v.first().is_none_or(|b| *b & 0x80 != 0) {
        v.insert(0, 0);
    }
    tlv::tlv(tag::INTEGER, &v)
}

impl Timestamper for FixedTimeTsa {
    fn timestamp(&self, kind: TimestampKind, request: &[u8]) -> authsign::Result<Vec<u8>> {
        assert_eq!(kind, TimestampKind::Rfc3161, "FixedTimeTsa speaks RFC 3161");
        let req = TimestampRequest::parse(request)?;
        let mut tst = vec![
            tlv::small_uint(1),
            tlv::oid(&const_oid::ObjectIdentifier::new_unwrap("1.2.3.4.1")),
            tlv::sequence(&[
                &tlv::algorithm_null(&req.digest_algorithm.oid()),
                &tlv::octet_string(&req.imprint),
            ]),
            tlv::small_uint(42),
            tlv::tlv(tag::GENERALIZED_TIME, self.time.as_bytes()),
        ];
        if !req.nonce.is_empty() {
            tst.push(integer(&req.nonce));
        }
        let refs: Vec<&[u8]> = tst.iter().map(Vec::as_slice).collect();
        let tst = tlv::sequence(&refs);
        let alg = DigestAlgorithm::Sha256;
        let attribute = |oid: &const_oid::ObjectIdentifier, value: Vec<u8>| {
            tlv::sequence(&[&tlv::oid(oid), &tlv::constructed(tag::SET, &[&value])])
        };
        let signed = tlv::set_of(vec![
            attribute(&oids::CONTENT_TYPE, tlv::oid(&ID_CT_TST_INFO)),
            attribute(&oids::MESSAGE_DIGEST, tlv::octet_string(&alg.digest(&tst))),
        ]);
        let signature = self.signer.sign_digest(alg, &alg.digest(&signed))?;
        let cert = &self.signer.certificates()[0];
        let issuer = cert.tbs_certificate().issuer().to_der().expect("issuer");
        let serial = cert
            .tbs_certificate()
            .serial_number()
            .to_der()
            .expect("serial");
        let cert_der = cert.to_der().expect("cert");
        let signer_info = tlv::sequence(&[
            &tlv::small_uint(1),
            &tlv::sequence(&[&issuer, &serial]),
            &tlv::algorithm_null(&alg.oid()),
            &tlv::tlv(
                tag::context(0),
                tlv::parse_one(&signed, "signed attributes")?.value,
            ),
            &tlv::algorithm_null(&oids::RSA_ENCRYPTION),
            &tlv::octet_string(&signature),
        ]);
        let signed_data = tlv::sequence(&[
            &tlv::small_uint(3),
            &tlv::constructed(tag::SET, &[&tlv::algorithm_null(&alg.oid())]),
            &tlv::sequence(&[
                &tlv::oid(&ID_CT_TST_INFO),
                &tlv::tlv(tag::context(0), &tlv::octet_string(&tst)),
            ]),
            &tlv::tlv(tag::context(0), &cert_der),
            &tlv::constructed(tag::SET, &[&signer_info]),
        ]);
        let token = tlv::sequence(&[
            &tlv::oid(&oids::SIGNED_DATA),
            &tlv::tlv(tag::context(0), &signed_data),
        ]);
        Ok(tlv::sequence(&[
            &tlv::sequence(&[&tlv::small_uint(0)]),
            &token,
        ]))
    }
}
