//! Timestamping against local TSAs on 127.0.0.1 (tests/tsa): RFC 3161 and legacy Authenticode,
//! cross-checked with osslsigncode in both directions, the expired-leaf case, bad TSA answers,
//! retries and URL lists, nested signatures and the sign CLI.
#![cfg(feature = "http")]

mod common;
mod tsa;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authsign::cms::{edit, oids, SignedData};
use authsign::error::TimestampError;
use authsign::signer::LocalSigner;
use authsign::timestamp::{self, HttpTimestamper, TimestampKind, Timestamper};
use authsign::verify::chain::{build_chain, ChainError};
use authsign::verify::timestamp::verify_timestamps;
use authsign::{DigestAlgorithm, Error, SignOptions};
use der::Decode;
use x509_cert::Certificate;

use common::{example, fixture, osslsigncode, pki, require_tool, TempDir};
use tsa::{Behavior, FixedTimeTsa, Protocol, TsaServer};

fn tools() -> bool {
    require_tool("openssl") && require_tool("osslsigncode")
}

fn root() -> Vec<Certificate> {
    authsign::certificates_from_pem(&std::fs::read(pki("root.pem")).unwrap()).unwrap()
}

/// Sign hello64.exe with the leaf `name` (leaf-rsa, leaf-expired...) and return
/// (unsigned file bytes, PKCS#7).
fn sign_with(name: &str) -> (Vec<u8>, Vec<u8>) {
    let exe = std::fs::read(fixture("pe/hello64.exe")).unwrap();
    let signer = LocalSigner::from_files(
        pki(&format!("{name}.key")),
        &[pki(&format!("{name}-chain.pem"))],
    )
    .unwrap();
    let pkcs7 = {
        let subject = authsign::open(&exe).unwrap();
        authsign::sign(subject.as_ref(), &signer, &SignOptions::default()).unwrap()
    };
    (exe, pkcs7)
}

fn embed(exe: &[u8], pkcs7: &[u8], path: &Path) {
    let subject = authsign::open(exe).unwrap();
    let mut out = Vec::new();
    subject.with_signature(pkcs7, &mut out).unwrap();
    std::fs::write(path, out).unwrap();
}

fn embedded(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let subject = authsign::open(&bytes).unwrap();
    subject.signature().unwrap().expect("signed")
}

/// osslsigncode verify with the test root for both the signer and the TSA.
fn osslsigncode_verify(path: &Path) -> (bool, String) {
    common::osslsigncode_verify(path)
}

fn http(url: &str) -> HttpTimestamper {
    HttpTimestamper::new([url]).with_retries(1, Duration::from_millis(10))
}

fn reports(pkcs7: &[u8]) -> Vec<authsign::verify::TimestampReport> {
    let sd = SignedData::parse(pkcs7).unwrap();
    verify_timestamps(&sd.signer_infos[0], &sd.certificates, &root())
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn rfc3161_timestamps_from_the_local_tsa_pass_osslsigncode() {
    if !tools() {
        return;
    }
    let server = TsaServer::start(Protocol::Rfc3161);
    let dir = TempDir::new();
    for alg in [
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha1,
        DigestAlgorithm::Sha512,
    ] {
        let (exe, pkcs7) = sign_with("leaf-rsa");
        let before = SystemTime::now() - Duration::from_secs(5);
        let stamped =
            timestamp::apply(&pkcs7, &http(&server.url()), TimestampKind::Rfc3161, alg).unwrap();
        // The signed parts are untouched.
        let (a, b) = (
            SignedData::parse(&pkcs7).unwrap(),
            SignedData::parse(&stamped).unwrap(),
        );
        assert_eq!(a.content_der, b.content_der);
        assert_eq!(a.signer_infos[0].signature, b.signer_infos[0].signature);
        let r = reports(&stamped);
        assert_eq!(r.len(), 1);
        assert!(r[0].is_valid(), "{:?}", r[0]);
        assert_eq!(r[0].kind, TimestampKind::Rfc3161);
        assert_eq!(r[0].digest_algorithm, Some(alg));
        assert!(r[0].time.unwrap() >= before);
        assert!(r[0]
            .tsa_subject
            .as_deref()
            .unwrap()
            .contains("authsign Test TSA"));

        let path = dir.path().join(format!("ts-{alg}.exe"));
        embed(&exe, &stamped, &path);
        let (ok, text) = osslsigncode_verify(&path);
        assert!(
            ok,
            "osslsigncode rejects our RFC 3161 timestamp ({alg}):\n{text}"
        );
        assert!(
            text.contains("Timestamp Server Signature verification: ok"),
            "{text}"
        );
    }
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn osslsigncode_timestamps_from_the_local_tsas_verify_with_our_api() {
    if !tools() {
        return;
    }
    let dir = TempDir::new();
    for (protocol, flag, kind) in [
        (Protocol::Rfc3161, "-ts", TimestampKind::Rfc3161),
        (Protocol::Legacy, "-t", TimestampKind::Legacy),
    ] {
        let server = TsaServer::start(protocol);
        let out = dir.path().join(format!("ossl{flag}.exe"));
        let certs = pki("leaf-rsa-chain.pem");
        let key = pki("leaf-rsa.key");
        let input = fixture("pe/hello64.exe");
        let url = server.url();
        osslsigncode(&[
            "sign",
            "-certs",
            certs.to_str().unwrap(),
            "-key",
            key.to_str().unwrap(),
            flag,
            &url,
            "-in",
            input.to_str().unwrap(),
            "-out",
            out.to_str().unwrap(),
        ]);
        let r = reports(&embedded(&out));
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].kind, kind);
        assert!(r[0].is_valid(), "{kind}: {:?}", r[0]);
        // Our own verification agrees with osslsigncode's.
        assert!(osslsigncode_verify(&out).0);
        // Untrusted TSA root: the chain problem is reported.
        let sd = SignedData::parse(&embedded(&out)).unwrap();
        let untrusted = verify_timestamps(&sd.signer_infos[0], &sd.certificates, &[]);
        assert!(untrusted[0]
            .errors
            .iter()
            .any(|p| matches!(p, authsign::verify::TimestampProblem::Chain(_))));
    }
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn legacy_timestamps_from_the_local_tsa_pass_osslsigncode() {
    if !tools() {
        return;
    }
    let server = TsaServer::start(Protocol::Legacy);
    let dir = TempDir::new();
    let (exe, pkcs7) = sign_with("leaf-rsa");
    let stamped = timestamp::apply(
        &pkcs7,
        &http(&server.url()),
        TimestampKind::Legacy,
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    let sd = SignedData::parse(&stamped).unwrap();
    let si = &sd.signer_infos[0];
    assert!(si
        .unsigned_attributes
        .iter()
        .any(|a| a.oid == oids::COUNTER_SIGNATURE));
    // The TSA certificate joined the signature's certificate set.
    let tsa = std::fs::read(pki("tsa.pem")).unwrap();
    let tsa = authsign::certificates_from_pem(&tsa).unwrap().remove(0);
    assert!(sd
        .certificates
        .iter()
        .any(|c| Certificate::from_der(c).ok().as_ref() == Some(&tsa)));
    let r = reports(&stamped);
    assert_eq!(r.len(), 1);
    assert!(r[0].is_valid(), "{:?}", r[0]);
    assert_eq!(r[0].kind, TimestampKind::Legacy);

    let path = dir.path().join("legacy.exe");
    embed(&exe, &stamped, &path);
    let (ok, text) = osslsigncode_verify(&path);
    assert!(ok, "osslsigncode rejects our legacy timestamp:\n{text}");
    assert!(
        text.contains("Timestamp Server Signature verification: ok"),
        "{text}"
    );
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn an_expired_leaf_is_valid_at_the_timestamp_time_only() {
    if !tools() {
        return;
    }
    let dir = TempDir::new();
    let (exe, pkcs7) = sign_with("leaf-expired");
    let tsa = FixedTimeTsa::new("20200601120000Z");
    let stamped = timestamp::apply(
        &pkcs7,
        &tsa,
        TimestampKind::Rfc3161,
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    let r = reports(&stamped);
    assert!(r[0].is_valid(), "{:?}", r[0]);
    let at = authsign::verify::timestamp::valid_time(&r).expect("a valid timestamp");
    assert_eq!(at, UNIX_EPOCH + Duration::from_secs(1_591_012_800));

    let sd = SignedData::parse(&stamped).unwrap();
    let pool: Vec<Certificate> = sd
        .certificates
        .iter()
        .map(|c| Certificate::from_der(c).unwrap())
        .collect();
    let leaf = pool
        .iter()
        .find(|c| {
            c.tbs_certificate()
                .subject()
                .to_string()
                .contains("leaf-expired")
        })
        .unwrap();
    build_chain(leaf, &pool, &root(), at).expect("valid at the timestamp time");
    let now = build_chain(leaf, &pool, &root(), SystemTime::now()).unwrap_err();
    assert!(
        now.errors
            .iter()
            .any(|e| matches!(e, ChainError::Expired { .. })),
        "{now}"
    );

    let stamped_path = dir.path().join("expired-ts.exe");
    let bare_path = dir.path().join("expired.exe");
    embed(&exe, &stamped, &stamped_path);
    embed(&exe, &pkcs7, &bare_path);
    let (ok, text) = osslsigncode_verify(&stamped_path);
    assert!(
        ok,
        "osslsigncode rejects the timestamped expired leaf:\n{text}"
    );
    let (ok, text) = osslsigncode_verify(&bare_path);
    assert!(
        !ok,
        "osslsigncode accepts the expired leaf without timestamp:\n{text}"
    );

    // End to end through the Verifier (the TSA certificate is issued by the test root).
    let verdict = |path: &std::path::Path| {
        let bytes = std::fs::read(path).unwrap();
        let subject = authsign::open(&bytes).unwrap();
        authsign::verify::Verifier::new(authsign::verify::Policy::with_trusted(root()))
            .verify(subject.as_ref())
            .unwrap()
    };
    let report = verdict(&stamped_path);
    assert!(report.is_valid(), "{report:#?}");
    assert_eq!(report.signatures[0].timestamps.len(), 1);
    let report = verdict(&bare_path);
    assert!(!report.is_valid());
    assert!(
        matches!(
            &report.signatures[0].errors[..],
            [authsign::verify::Problem::Chain(ChainError::Expired { .. })]
        ),
        "{report:#?}"
    );
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn bad_tsa_answers_are_clear_errors() {
    if !tools() {
        return;
    }
    let server = TsaServer::start(Protocol::Rfc3161);
    let (_, pkcs7) = sign_with("leaf-rsa");
    let url = server.url();
    type Check = fn(&TimestampError) -> bool;
    let cases: [(Behavior, &str, Check); 7] = [
        (Behavior::Http500, "HTTP 500", |e| {
            matches!(e, TimestampError::HttpStatus { status: 500, .. })
        }),
        (Behavior::Empty, "empty", |e| {
            matches!(e, TimestampError::EmptyResponse { .. })
        }),
        (Behavior::Garbage, "malformed", |e| {
            matches!(e, TimestampError::Malformed(_))
        }),
        (Behavior::Rejection, "refused", |e| {
            matches!(e, TimestampError::Rejected { status: 2, .. })
        }),
        (Behavior::WrongNonce, "nonce", |e| {
            matches!(e, TimestampError::NonceMismatch { .. })
        }),
        (Behavior::WrongImprint, "imprint", |e| {
            matches!(e, TimestampError::ImprintMismatch { .. })
        }),
        (Behavior::NonTsaSigner, "timeStamping", |e| {
            matches!(e, TimestampError::NotTimestampingCertificate { .. })
        }),
    ];
    for (behavior, words, check) in cases {
        server.set(behavior);
        let err = timestamp::apply(
            &pkcs7,
            &http(&url),
            TimestampKind::Rfc3161,
            DigestAlgorithm::Sha256,
        )
        .unwrap_err();
        let Error::Timestamp(t) = &err else {
            panic!("{behavior:?}: not a timestamp error: {err}")
        };
        assert!(check(t), "{behavior:?}: {t:?}");
        let msg = err.to_string();
        assert!(msg.contains(words), "{behavior:?}: {msg}");
        if matches!(behavior, Behavior::Http500 | Behavior::Empty) {
            assert!(msg.contains(&url), "{behavior:?} names the URL: {msg}");
        }
    }
    server.set(Behavior::Rejection);
    let msg = timestamp::apply(
        &pkcs7,
        &http(&url),
        TimestampKind::Rfc3161,
        DigestAlgorithm::Sha256,
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("policy not accepted by the test TSA") && msg.contains("unacceptedPolicy"),
        "{msg}"
    );
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn the_cli_leaves_the_file_untouched_on_bad_answers() {
    if !tools() {
        return;
    }
    let server = TsaServer::start(Protocol::Rfc3161);
    let dir = TempDir::new();
    let (exe, pkcs7) = sign_with("leaf-rsa");
    let signed = dir.path().join("signed.exe");
    embed(&exe, &pkcs7, &signed);
    let original = std::fs::read(&signed).unwrap();
    for behavior in [
        Behavior::Http500,
        Behavior::Empty,
        Behavior::Garbage,
        Behavior::Rejection,
        Behavior::WrongNonce,
        Behavior::WrongImprint,
        Behavior::NonTsaSigner,
    ] {
        server.set(behavior);
        // Re-timestamping in place, and signing in place with a timestamp.
        let runs: [Vec<String>; 2] = [
            vec!["--timestamp-only".into()],
            vec![
                "--cert".into(),
                pki("leaf-rsa-chain.pem").display().to_string(),
                "--key".into(),
                pki("leaf-rsa.key").display().to_string(),
            ],
        ];
        for extra in runs {
            let out = Command::new(example("sign"))
                .args(&extra)
                .args(["--timestamp", &server.url(), "--timestamp-retries", "0"])
                .arg(&signed)
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "{behavior:?} {extra:?}: {stderr}"
            );
            assert!(stderr.contains("timestamp"), "{behavior:?}: {stderr}");
            assert_eq!(
                std::fs::read(&signed).unwrap(),
                original,
                "{behavior:?} changed the file"
            );
        }
    }
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn retries_fallback_urls_and_the_combined_error() {
    if !tools() {
        return;
    }
    let server = TsaServer::start(Protocol::Rfc3161);
    let (_, pkcs7) = sign_with("leaf-rsa");
    // A transient 500 is retried.
    server.set(Behavior::FailFirst(1));
    timestamp::apply(
        &pkcs7,
        &http(&server.url()),
        TimestampKind::Rfc3161,
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    assert_eq!(server.requests(), 2);
    // Without retries it is an error.
    server.set(Behavior::FailFirst(1));
    let once = HttpTimestamper::new([server.url()]).with_retries(0, Duration::ZERO);
    assert!(timestamp::apply(
        &pkcs7,
        &once,
        TimestampKind::Rfc3161,
        DigestAlgorithm::Sha256
    )
    .is_err());

    // A dead server first: the next URL is used.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port())
    };
    server.set(Behavior::Good);
    let list = HttpTimestamper::new([dead.clone(), server.url()])
        .with_timeout(Duration::from_secs(5))
        .with_retries(1, Duration::from_millis(10));
    timestamp::apply(
        &pkcs7,
        &list,
        TimestampKind::Rfc3161,
        DigestAlgorithm::Sha256,
    )
    .unwrap();

    // Everything failing: one error naming every URL.
    server.set(Behavior::Http500);
    let err = timestamp::apply(
        &pkcs7,
        &list,
        TimestampKind::Rfc3161,
        DigestAlgorithm::Sha256,
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::Timestamp(TimestampError::AllFailed(ref v)) if v.len() == 2),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&dead) && msg.contains(&server.url()) && msg.contains("HTTP 500"),
        "{msg}"
    );
    assert!(matches!(
        timestamp::apply(
            &pkcs7,
            &HttpTimestamper::new(Vec::<String>::new()),
            TimestampKind::Rfc3161,
            DigestAlgorithm::Sha256
        ),
        Err(Error::Timestamp(TimestampError::NoUrl))
    ));
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn the_wrong_protocol_is_named() {
    if !tools() {
        return;
    }
    let (_, pkcs7) = sign_with("leaf-rsa");
    let rfc = TsaServer::start(Protocol::Rfc3161);
    let legacy = TsaServer::start(Protocol::Legacy);

    // Legacy request to an RFC 3161 server: it answers a TimeStampResp.
    let err = timestamp::apply(
        &pkcs7,
        &http(&rfc.url()),
        TimestampKind::Legacy,
        DigestAlgorithm::Sha256,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timestamp(TimestampError::WrongProtocol {
                expected: TimestampKind::Legacy,
                ..
            })
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("RFC 3161 server") && msg.contains("signtool /tr"),
        "{msg}"
    );

    // RFC 3161 request to a legacy server that refuses it.
    let msg = timestamp::apply(
        &pkcs7,
        &http(&legacy.url()),
        TimestampKind::Rfc3161,
        DigestAlgorithm::Sha256,
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("HTTP 400") && msg.contains("legacy timestamp: signtool /t"),
        "{msg}"
    );

    // RFC 3161 request answered with a legacy PKCS#7 (as some legacy servers do).
    let legacy_answer = |_: TimestampKind, _: &[u8]| -> authsign::Result<Vec<u8>> {
        let sig = SignedData::parse(&pkcs7).unwrap().signer_infos[0]
            .signature
            .clone();
        http(&legacy.url()).timestamp(
            TimestampKind::Legacy,
            &timestamp::legacy::request(&sig).unwrap(),
        )
    };
    let msg = timestamp::apply(
        &pkcs7,
        &legacy_answer,
        TimestampKind::Rfc3161,
        DigestAlgorithm::Sha256,
    )
    .unwrap_err()
    .to_string();
    assert!(
        msg.contains("legacy Authenticode server") && msg.contains("signtool /t"),
        "{msg}"
    );
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn nested_signatures_are_timestamped_each() {
    if !tools() {
        return;
    }
    let server = TsaServer::start(Protocol::Rfc3161);
    let dir = TempDir::new();
    let (exe, primary) = sign_with("leaf-rsa");
    let exe_subject = authsign::open(&exe).unwrap();
    let signer =
        LocalSigner::from_files(pki("leaf-p256.key"), &[pki("leaf-p256-chain.pem")]).unwrap();
    let mut opts = SignOptions::default();
    opts.digest = DigestAlgorithm::Sha384;
    let second = authsign::sign(exe_subject.as_ref(), &signer, &opts).unwrap();
    let dual = edit::add_nested_signature(&primary, &second).unwrap();
    let ts = http(&server.url());

    let only_nested = timestamp::apply_to_nested(
        &dual,
        0,
        &ts,
        TimestampKind::Rfc3161,
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    assert!(reports(&only_nested).is_empty(), "primary not stamped");
    assert_eq!(
        reports(&SignedData::parse(&only_nested).unwrap().nested_signatures()[0]).len(),
        1
    );
    assert!(matches!(
        timestamp::apply_to_nested(
            &dual,
            1,
            &ts,
            TimestampKind::Rfc3161,
            DigestAlgorithm::Sha256
        ),
        Err(Error::Timestamp(TimestampError::NoSuchNestedSignature {
            index: 1,
            count: 1
        }))
    ));

    let all = timestamp::apply_to_all(&dual, &ts, TimestampKind::Rfc3161, DigestAlgorithm::Sha256)
        .unwrap();
    let sd = SignedData::parse(&all).unwrap();
    assert!(reports(&all)[0].is_valid());
    let nested = sd.nested_signatures();
    assert_eq!(nested.len(), 1);
    let r = reports(&nested[0]);
    assert_eq!(r.len(), 1);
    assert!(r[0].is_valid(), "{:?}", r[0]);

    let path = dir.path().join("dual.exe");
    embed(&exe, &all, &path);
    let (ok, text) = osslsigncode_verify(&path);
    assert!(ok, "{text}");
    assert_eq!(
        text.matches("Timestamp Server Signature verification: ok")
            .count(),
        2,
        "{text}"
    );
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn the_cli_timestamps_when_signing_and_already_signed_files() {
    if !tools() {
        return;
    }
    let rfc = TsaServer::start(Protocol::Rfc3161);
    let legacy = TsaServer::start(Protocol::Legacy);
    let dir = TempDir::new();
    let input = fixture("pe/hello64.exe");
    let sign = |extra: &[&str], input: &Path, output: &Path| {
        let out = Command::new(example("sign"))
            .args(extra)
            .arg(input)
            .arg("-o")
            .arg(output)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let cert = pki("leaf-rsa-chain.pem").display().to_string();
    let key = pki("leaf-rsa.key").display().to_string();
    let rfc_url = rfc.url();
    let legacy_url = legacy.url();

    let a = dir.path().join("a.exe");
    sign(
        &[
            "--cert",
            &cert,
            "--key",
            &key,
            "--timestamp",
            &rfc_url,
            "--timestamp-digest",
            "sha384",
        ],
        &input,
        &a,
    );
    let r = reports(&embedded(&a));
    assert_eq!(
        (r.len(), r[0].digest_algorithm),
        (1, Some(DigestAlgorithm::Sha384))
    );
    assert!(osslsigncode_verify(&a).0);

    let b = dir.path().join("b.exe");
    sign(
        &[
            "--cert",
            &cert,
            "--key",
            &key,
            "--legacy-timestamp",
            &legacy_url,
        ],
        &input,
        &b,
    );
    assert_eq!(reports(&embedded(&b))[0].kind, TimestampKind::Legacy);
    assert!(osslsigncode_verify(&b).0);

    // Sign without a timestamp, then timestamp the signed file (twice: replaced, not added).
    let c = dir.path().join("c.exe");
    let d = dir.path().join("d.exe");
    sign(&["--cert", &cert, "--key", &key], &input, &c);
    assert!(reports(&embedded(&c)).is_empty());
    sign(&["--timestamp-only", "--timestamp", &rfc_url], &c, &d);
    sign(&["--timestamp-only", "--timestamp", &rfc_url], &d, &d);
    let r = reports(&embedded(&d));
    assert_eq!(r.len(), 1);
    assert!(r[0].is_valid());
    let (ok, text) = osslsigncode_verify(&d);
    assert!(ok, "{text}");
    // The signature itself was not re-made.
    let (c_sd, d_sd) = (
        SignedData::parse(&embedded(&c)).unwrap(),
        SignedData::parse(&embedded(&d)).unwrap(),
    );
    assert_eq!(
        c_sd.signer_infos[0].signature,
        d_sd.signer_infos[0].signature
    );
}

#[test]
fn truncated_and_mutated_answers_never_panic() {
    let (_, pkcs7) = sign_with("leaf-rsa");
    let sig = SignedData::parse(&pkcs7).unwrap().signer_infos[0]
        .signature
        .clone();
    let request = timestamp::rfc3161::TimestampRequest::new(DigestAlgorithm::Sha256, &sig).unwrap();
    let good = FixedTimeTsa::new("20240101000000Z")
        .timestamp(TimestampKind::Rfc3161, &request.to_der().unwrap())
        .unwrap();
    let token = timestamp::rfc3161::check_response(&good, &request).unwrap();
    for cut in 0..good.len() {
        assert!(timestamp::rfc3161::check_response(&good[..cut], &request).is_err());
    }
    for i in (0..good.len()).step_by(7) {
        let mut bad = good.clone();
        bad[i] ^= 0x5a;
        let _ = timestamp::rfc3161::check_response(&bad, &request);
        let _ = timestamp::legacy::check_response(&bad, &sig);
    }
    for cut in 0..token.len() {
        let r =
            authsign::verify::timestamp::verify_rfc3161_token(&token[..cut], &sig, &[], &root());
        assert!(!r.is_valid());
        let r = authsign::verify::timestamp::verify_counter_signature(
            &token[..cut],
            &sig,
            &[],
            &root(),
        );
        assert!(!r.is_valid());
    }
    let r = authsign::verify::timestamp::verify_rfc3161_token(&token, &sig, &[], &root());
    assert!(r.is_valid(), "{r:?}");
    // The same token does not vouch for another signature.
    let r = authsign::verify::timestamp::verify_rfc3161_token(&token, b"other", &[], &root());
    assert!(
        !r.imprint_ok
            && r.errors
                .contains(&authsign::verify::TimestampProblem::ImprintMismatch)
    );
}

/// Windows' lifetime-signing rule: a leaf with the lifetime-signing EKU
/// (1.3.6.1.4.1.311.10.3.13) makes its signatures expire with it, so a timestamp does not
/// rescue an expired one.
#[test]
#[cfg_attr(
    not(all(has_openssl, has_osslsigncode)),
    ignore = "needs openssl, osslsigncode"
)]
fn a_timestamp_does_not_rescue_a_lifetime_signing_leaf() {
    if !tools() {
        return;
    }
    let dir = TempDir::new();
    let ext = "basicConstraints = critical, CA:false\nkeyUsage = critical, digitalSignature";
    let verdicts: Vec<bool> = ["codeSigning", "codeSigning, 1.3.6.1.4.1.311.10.3.13"]
        .iter()
        .enumerate()
        .map(|(i, eku)| {
            let (key, chain) = common::issue_leaf(
                dir.path(),
                &format!("lifetime{i}"),
                &format!("{ext}\nextendedKeyUsage = {eku}"),
                "20200101000000Z",
                "20210101000000Z",
            );
            let exe = std::fs::read(fixture("pe/hello64.exe")).unwrap();
            let subject = authsign::open(&exe).unwrap();
            let signer = LocalSigner::from_files(key, &[chain]).unwrap();
            let pkcs7 = authsign::sign(subject.as_ref(), &signer, &SignOptions::default()).unwrap();
            let tsa = FixedTimeTsa::new("20200601120000Z");
            let stamped = timestamp::apply(
                &pkcs7,
                &tsa,
                TimestampKind::Rfc3161,
                DigestAlgorithm::Sha256,
            )
            .unwrap();
            let mut out = Vec::new();
            subject.with_signature(&stamped, &mut out).unwrap();
            let signed = authsign::open(&out).unwrap();
            let report =
                authsign::verify::Verifier::new(authsign::verify::Policy::with_trusted(root()))
                    .verify(signed.as_ref())
                    .unwrap();
            report.is_valid()
        })
        .collect();
    assert_eq!(
        verdicts,
        [true, false],
        "timestamp rescues the plain leaf only"
    );
}
