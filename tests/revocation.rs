//! Revocation against a test CA on 127.0.0.1: CRLs given as files (offline), CRLs served over
//! HTTP from the certificates' distribution points, an `openssl ocsp` responder named in
//! their authorityInfoAccess, and a responder that is not there. Windows' timestamp rule is
//! checked too: a certificate revoked after the time a valid timestamp vouches for does not
//! invalidate the signature; revoked before it, it does.

mod common;
mod tsa;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use authsign::signer::LocalSigner;
use authsign::timestamp::{self, TimestampKind};
use authsign::verify::{Policy, Report, RevocationMode, Verifier};
use authsign::{DigestAlgorithm, SignOptions};
use x509_cert::Certificate;

use common::{example, fixture, openssl_in, pki, require_tool, TempDir};

fn anchors() -> Vec<Certificate> {
    authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap()
}

/// A test CA (the committed intermediate) with its own database, issuing leaves with
/// increasing serial numbers, revoking them at chosen dates and writing CRLs.
struct Ca {
    dir: PathBuf,
}

impl Ca {
    fn new(dir: &Path, name: &str, cert: &str, key: &str) -> Self {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("ca.cnf"),
            format!(
                "[ca]\ndefault_ca = t\n[t]\ndir = {d}\ndatabase = {d}/index.txt\n\
                 new_certs_dir = {d}\nserial = {d}/serial\ncrlnumber = {d}/crlnumber\n\
                 default_md = sha256\npolicy = any\nunique_subject = no\n\
                 certificate = {cert}\nprivate_key = {key}\ndefault_crl_days = 30\n\
                 [any]\ncommonName = supplied\n",
                d = d.display(),
                cert = pki(cert).display(),
                key = pki(key).display(),
            ),
        )
        .unwrap();
        std::fs::write(d.join("index.txt"), "").unwrap();
        std::fs::write(d.join("serial"), "5000\n").unwrap();
        std::fs::write(d.join("crlnumber"), "01\n").unwrap();
        Self { dir: d }
    }

    fn cnf(&self) -> String {
        self.dir.join("ca.cnf").display().to_string()
    }

    /// Issue a code-signing leaf valid 2020-2099 with `extensions` (extra lines of its
    /// extension section); returns a signer for it.
    fn issue(&self, name: &str, extensions: &str) -> (LocalSigner, PathBuf) {
        let d = &self.dir;
        let ext = d.join(format!("{name}.ext"));
        std::fs::write(
            &ext,
            format!(
                "[ext]\nbasicConstraints = critical, CA:false\nkeyUsage = critical, digitalSignature\n\
                 extendedKeyUsage = codeSigning\n{extensions}\n"
            ),
        )
        .unwrap();
        let key = d.join(format!("{name}.key"));
        let csr = d.join(format!("{name}.csr"));
        let pem = d.join(format!("{name}.pem"));
        let s = |p: &Path| p.display().to_string();
        openssl_in(
            d,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                &s(&key),
            ],
        );
        openssl_in(
            d,
            &[
                "req",
                "-new",
                "-key",
                &s(&key),
                "-subj",
                &format!("/CN=revocation test {name}"),
                "-out",
                &s(&csr),
            ],
        );
        openssl_in(
            d,
            &[
                "ca",
                "-batch",
                "-config",
                &self.cnf(),
                "-notext",
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20990101000000Z",
                "-extfile",
                &s(&ext),
                "-extensions",
                "ext",
                "-in",
                &s(&csr),
                "-out",
                &s(&pem),
            ],
        );
        let chain = d.join(format!("{name}-chain.pem"));
        let mut text = std::fs::read(&pem).unwrap();
        text.extend(std::fs::read(pki("intermediate.pem")).unwrap());
        std::fs::write(&chain, text).unwrap();
        (LocalSigner::from_files(&key, &[&chain]).unwrap(), pem)
    }

    /// Revoke `cert` and set its revocation date to `date` (`YYMMDDHHMMSSZ`) in the database,
    /// which both the CRL and the OCSP responder read.
    fn revoke(&self, cert: &Path, date: &str) {
        openssl_in(
            &self.dir,
            &[
                "ca",
                "-config",
                &self.cnf(),
                "-revoke",
                &cert.display().to_string(),
                "-crl_reason",
                "keyCompromise",
            ],
        );
        let serial = String::from_utf8(openssl_in(
            &self.dir,
            &[
                "x509",
                "-in",
                &cert.display().to_string(),
                "-noout",
                "-serial",
            ],
        ))
        .unwrap();
        let serial = serial.trim().trim_start_matches("serial=").to_string();
        let index = self.dir.join("index.txt");
        let text = std::fs::read_to_string(&index).unwrap();
        let text: Vec<String> = text
            .lines()
            .map(|l| {
                let mut f: Vec<String> = l.split('\t').map(str::to_string).collect();
                if f[0] == "R" && f[3] == serial {
                    f[2] = format!("{date},keyCompromise");
                }
                f.join("\t")
            })
            .collect();
        std::fs::write(&index, text.join("\n") + "\n").unwrap();
    }

    /// The CA's current CRL, DER.
    fn crl(&self) -> Vec<u8> {
        let pem = self.dir.join("crl.pem");
        let der = self.dir.join("crl.der");
        openssl_in(
            &self.dir,
            &[
                "ca",
                "-config",
                &self.cnf(),
                "-gencrl",
                "-out",
                &pem.display().to_string(),
            ],
        );
        openssl_in(
            &self.dir,
            &[
                "crl",
                "-in",
                &pem.display().to_string(),
                "-outform",
                "DER",
                "-out",
                &der.display().to_string(),
            ],
        );
        std::fs::read(der).unwrap()
    }
}

/// A one-thread HTTP server on 127.0.0.1 answering every GET with `body` (a CRL).
struct CrlServer {
    port: u16,
    body: Arc<Mutex<Vec<u8>>>,
    hits: Arc<AtomicUsize>,
}

impl CrlServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let body = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let (b, h) = (body.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().take(64) {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                h.fetch_add(1, Ordering::SeqCst);
                let body = b.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        Self { port, body, hits }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/intermediate.crl", self.port)
    }
}

/// `openssl ocsp` answering for the CA on a free port; killed when dropped.
struct Responder {
    child: Child,
}

impl Responder {
    /// Start on `port` (a port chosen before the certificates naming it were issued).
    fn start(ca: &Ca, port: u16) -> Self {
        let mut child = Command::new("openssl")
            .current_dir(&ca.dir)
            .args(["ocsp", "-index", "index.txt", "-port", &port.to_string()])
            .args(["-rsigner", &pki("intermediate.pem").display().to_string()])
            .args(["-rkey", &pki("intermediate.key").display().to_string()])
            .args(["-CA", &pki("intermediate.pem").display().to_string()])
            .args(["-nmin", "60"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Ready once it says so (a probing connection would block its one-at-a-time loop).
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        assert!(
            lines.any(|l| l.is_ok_and(|l| l.contains("waiting for OCSP client connections"))),
            "openssl ocsp did not start"
        );
        std::thread::spawn(move || lines.for_each(drop));
        Self { child }
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// hello64.exe signed by `signer`, timestamped at `stamp` (GeneralizedTime text) if given.
fn signed_file(signer: &LocalSigner, stamp: Option<&str>) -> Vec<u8> {
    let exe = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let subject = authsign::open(&exe).unwrap();
    let mut pkcs7 = authsign::sign(subject.as_ref(), signer, &SignOptions::default()).unwrap();
    if let Some(t) = stamp {
        let tsa = tsa::FixedTimeTsa::new(t);
        pkcs7 = timestamp::apply(
            &pkcs7,
            &tsa,
            TimestampKind::Rfc3161,
            DigestAlgorithm::Sha256,
        )
        .unwrap();
    }
    let mut out = Vec::new();
    subject.with_signature(&pkcs7, &mut out).unwrap();
    out
}

fn verify(policy: Policy, file: &[u8]) -> Report {
    Verifier::new(policy).verify_input(&file)
}

fn codes(r: &Report) -> Vec<&'static str> {
    r.error_codes()
}

fn warnings(r: &Report) -> Vec<&'static str> {
    r.signatures
        .iter()
        .flat_map(|s| s.warnings.iter().map(|w| w.code()))
        .collect()
}

/// The root's CRL, covering the intermediate and the TSA (neither names a distribution
/// point, so the hard mode needs it given).
fn root_crl(dir: &Path) -> Vec<u8> {
    Ca::new(dir, "root-ca", "root.pem", "root.key").crl()
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn crl_files_offline_and_the_timestamp_rule() {
    if !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    let ca = Ca::new(dir.path(), "int", "intermediate.pem", "intermediate.key");
    let (good, _) = ca.issue("good", "");
    let (revoked, revoked_pem) = ca.issue("revoked", "");
    ca.revoke(&revoked_pem, "230101000000Z");
    let crls = [ca.crl(), root_crl(dir.path())];
    let policy = || {
        Policy::windows()
            .trusting(anchors())
            .with_crls(&crls)
            .unwrap()
    };

    let r = verify(policy(), &signed_file(&good, None));
    assert!(r.is_valid(), "{}", r.to_json());
    let r = verify(policy(), &signed_file(&revoked, None));
    assert!(!r.is_valid());
    assert_eq!(codes(&r), vec!["revoked"], "{}", r.to_json());
    // Timestamped 2022, revoked 2023: the signature predates the revocation (warning).
    let r = verify(policy(), &signed_file(&revoked, Some("20220601000000Z")));
    assert!(r.is_valid(), "{}", r.to_json());
    assert!(
        warnings(&r).contains(&"revoked-after-timestamp"),
        "{}",
        r.to_json()
    );
    // Timestamped 2024, revoked 2023: invalid.
    let r = verify(policy(), &signed_file(&revoked, Some("20240601000000Z")));
    assert_eq!(codes(&r), vec!["revoked"], "{}", r.to_json());
    // Without CRLs nothing is checked offline: the same file is valid.
    let r = verify(
        Policy::windows().trusting(anchors()),
        &signed_file(&revoked, None),
    );
    assert!(r.is_valid());
    // A CRL that is not the issuer's changes nothing; garbage is refused up front.
    let r = verify(
        Policy::windows()
            .trusting(anchors())
            .with_crls([root_crl(dir.path())])
            .unwrap(),
        &signed_file(&revoked, None),
    );
    assert!(r.is_valid());
    assert!(Policy::windows()
        .with_crls([b"not a CRL".as_slice()])
        .is_err());
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn the_cli_takes_crl_files() {
    if !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    let ca = Ca::new(dir.path(), "int", "intermediate.pem", "intermediate.key");
    let (revoked, revoked_pem) = ca.issue("revoked", "");
    ca.revoke(&revoked_pem, "230101000000Z");
    let file = dir.path().join("revoked.exe");
    std::fs::write(&file, signed_file(&revoked, None)).unwrap();
    let crl = dir.path().join("int.crl");
    std::fs::write(&crl, ca.crl()).unwrap();
    let o = Command::new(example("verify"))
        .args(["--json", "--trusted"])
        .arg(pki("root.pem"))
        .arg("--crl")
        .arg(&crl)
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v[0]["signatures"][0]["errors"][0]["code"], "revoked", "{v}");
}

#[cfg(feature = "http")]
#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn crl_distribution_points_and_ocsp_over_http() {
    if !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    let ca = Ca::new(dir.path(), "int", "intermediate.pem", "intermediate.key");
    let server = CrlServer::start();
    let ocsp_port = free_port();
    let cdp = format!("crlDistributionPoints = URI:{}", server.url());
    let aia = format!("authorityInfoAccess = OCSP;URI:http://127.0.0.1:{ocsp_port}/");
    let (crl_good, _) = ca.issue("crl-good", &cdp);
    let (crl_revoked, crl_revoked_pem) = ca.issue("crl-revoked", &cdp);
    let (ocsp_good, _) = ca.issue("ocsp-good", &aia);
    let (ocsp_revoked, ocsp_revoked_pem) = ca.issue("ocsp-revoked", &aia);
    ca.revoke(&crl_revoked_pem, "230101000000Z");
    ca.revoke(&ocsp_revoked_pem, "230101000000Z");
    *server.body.lock().unwrap() = ca.crl();
    // The responder reads the database when it starts: start it now that it is complete.
    let responder = Responder::start(&ca, ocsp_port);

    let root_crl = root_crl(dir.path());
    for mode in [RevocationMode::Soft, RevocationMode::Hard] {
        let verifier = Verifier::new(
            Policy::windows()
                .trusting(anchors())
                .with_revocation(mode)
                .with_crls([&root_crl])
                .unwrap(),
        );
        for (name, signer, valid) in [
            ("crl-good", &crl_good, true),
            ("crl-revoked", &crl_revoked, false),
            ("ocsp-good", &ocsp_good, true),
            ("ocsp-revoked", &ocsp_revoked, false),
        ] {
            let r = verifier.verify_input(&signed_file(signer, None).as_slice());
            assert_eq!(r.is_valid(), valid, "{mode:?} {name}: {}", r.to_json());
            if !valid {
                assert_eq!(
                    codes(&r),
                    vec!["revoked"],
                    "{mode:?} {name}: {}",
                    r.to_json()
                );
            }
            assert!(warnings(&r).is_empty(), "{mode:?} {name}: {}", r.to_json());
        }
    }
    // One verifier fetches each CRL once, however many files it checks.
    let before = server.hits.load(Ordering::SeqCst);
    let verifier = Verifier::new(
        Policy::windows()
            .trusting(anchors())
            .with_revocation(RevocationMode::Hard)
            .with_crls([&root_crl])
            .unwrap(),
    );
    for _ in 0..3 {
        assert!(verifier
            .verify_input(&signed_file(&crl_good, None).as_slice())
            .is_valid());
    }
    assert_eq!(server.hits.load(Ordering::SeqCst) - before, 1);
    drop(responder);
}

#[cfg(feature = "http")]
#[test]
#[cfg_attr(not(has_openssl), ignore = "needs openssl")]
fn an_unreachable_responder_is_a_warning_when_soft_and_an_error_when_hard() {
    if !require_tool("openssl") {
        return;
    }
    let dir = TempDir::new();
    let ca = Ca::new(dir.path(), "int", "intermediate.pem", "intermediate.key");
    let nobody = free_port();
    let (leaf, _) = ca.issue(
        "unreachable",
        &format!(
            "authorityInfoAccess = OCSP;URI:http://127.0.0.1:{nobody}/\n\
             crlDistributionPoints = URI:http://127.0.0.1:{nobody}/ca.crl"
        ),
    );
    let file = signed_file(&leaf, None);
    let root_crl = root_crl(dir.path());
    let policy = |mode| {
        Policy::windows()
            .trusting(anchors())
            .with_revocation(mode)
            .with_crls([&root_crl])
            .unwrap()
    };
    let soft = verify(policy(RevocationMode::Soft), &file);
    assert!(soft.is_valid(), "{}", soft.to_json());
    assert_eq!(
        warnings(&soft),
        vec!["revocation-unknown"],
        "{}",
        soft.to_json()
    );
    let hard = verify(policy(RevocationMode::Hard), &file);
    assert!(!hard.is_valid());
    assert_eq!(
        codes(&hard),
        vec!["revocation-unknown"],
        "{}",
        hard.to_json()
    );
    // Offline, nothing is fetched and nothing is said.
    let offline = verify(policy(RevocationMode::Offline), &file);
    assert!(offline.is_valid() && warnings(&offline).is_empty());
}
