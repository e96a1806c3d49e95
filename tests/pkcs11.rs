//! `Pkcs11Signer` against SoftHSM2: a token made in a temporary directory (`SOFTHSM2_CONF`), the
//! test PKI's RSA key (with its certificate chain on the token) and P-256 key (key only, chain
//! from PEM) imported through PKCS#11 itself, so no PIN ever appears on a command line.
//!
//! Shows: RSA signatures through the token are byte-identical to the PEM key's; P-256 (random
//! ECDSA on the token) verifies with authsign and osslsigncode; the CLI flags work; wrong PIN,
//! missing key, wrong key type and unloadable module give clear errors and touch no file.
//!
//! A PKCS#11 module is initialised once per process and SoftHSM2 reads `SOFTHSM2_CONF` then,
//! so all tests of this file share one token directory, made once; CLI runs are separate
//! processes and get it through their environment.
#![cfg(feature = "pkcs11")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

use authsign::error::CryptoError;
use authsign::signer::{
    KeySelector, LocalSigner, Pkcs11Options, Pkcs11Signer, Secret, SignatureAlgorithm, Signer,
    TokenSelector,
};
use authsign::verify::{Policy, Verifier};
use authsign::{DigestAlgorithm, Error, FileInput, SignOptions};
use common::{example, fixture, in_ci, pki, pki_text, require_tool};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, CertificateType, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use der::asn1::UintRef;
use der::{Decode, Encode};

/// The files every key source is tried on. CAB and MSI subjects: one more line each.
const SUBJECTS: &[&str] = &[
    "pe/hello64.exe",
    "pe/hello32.exe",
    "pe/lib64.dll",
    "cab/gcab-mszip.cab",
    "third-party/minimal.msi",
];

const TOKEN: &str = "authsign-test";
/// A second token nobody in this process logs into, for the in-process wrong-PIN check (a
/// PKCS#11 login is per process and token, so a wrong PIN on a token another test is logged
/// into reports "already logged in", not "incorrect").
const EMPTY_TOKEN: &str = "authsign-empty";
const USER_PIN: &str = "4711-test";
const SO_PIN: &str = "so-0815-test";
/// The label two tokens share (told apart by serial number).
const TWIN: &str = "authsign-twin";
const PIN_VAR: &str = "AUTHSIGN_TEST_PIN";

struct Hsm {
    module: PathBuf,
    conf: PathBuf,
}

const MODULE_PATHS: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
];

/// The SoftHSM2 token directory with both tokens, made once per test process, and a lock that
/// serialises the tests using it; `None` (after a note) when SoftHSM2 is not installed outside
/// CI. In CI a missing SoftHSM2 fails the test.
///
/// The lock is needed: SoftHSM2's file store is not safe for logins from two processes at once
/// (one of them gets CKR_GENERAL_ERROR), and the CLI tests run the signer as child processes.
fn hsm() -> Option<(MutexGuard<'static, ()>, &'static Hsm)> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    hsm_once().map(|h| (guard, h))
}

fn hsm_once() -> Option<&'static Hsm> {
    static HSM: OnceLock<Option<Hsm>> = OnceLock::new();
    HSM.get_or_init(|| {
        if !require_tool("softhsm2-util") {
            return None;
        }
        let module = MODULE_PATHS.iter().map(PathBuf::from).find(|p| p.is_file());
        let Some(module) = module else {
            assert!(
                !in_ci(),
                "softhsm2-util is installed but libsofthsm2.so is not found"
            );
            eprintln!("note: libsofthsm2.so not found; skipping");
            return None;
        };
        Some(make_tokens(module))
    })
    .as_ref()
}

fn make_tokens(module: PathBuf) -> Hsm {
    // target/tmp is cargo's temporary directory for integration tests.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("authsign-softhsm2");
    let _ = std::fs::remove_dir_all(&dir);
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).expect("token dir");
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .expect("softhsm2.conf");
    // Read by SoftHSM2 at C_Initialize; set before this process first loads the module.
    std::env::set_var("SOFTHSM2_CONF", &conf);

    let ctx = Pkcs11::new(&module).expect("load SoftHSM2");
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => {}
        Err(cryptoki::error::Error::Pkcs11(
            cryptoki::error::RvError::CryptokiAlreadyInitialized,
            _,
        )) => {}
        Err(e) => panic!("C_Initialize: {e}"),
    }
    for label in [TOKEN, EMPTY_TOKEN, TWIN, TWIN] {
        init_token(&ctx, label);
    }
    let slot = slot_of(&ctx, TOKEN);
    let session = ctx.open_rw_session(slot).expect("rw session");
    session
        .login(UserType::User, Some(&AuthPin::from(USER_PIN.to_string())))
        .expect("user login");
    import_rsa(&session, "rsa-key", &[0x01], "leaf-rsa.key");
    import_p256(&session, "p256-key", &[0x02], "leaf-p256.sec1.key");
    // The RSA key again, as a real signing token keeps it: the PIN before every signature.
    import_rsa_with(
        &session,
        "rsa-always",
        &[0x03],
        "leaf-rsa.key",
        &[Attribute::AlwaysAuthenticate(true)],
    );
    // The RSA leaf and its issuer on the token; the P-256 key has no certificate there.
    let chain =
        authsign::certificates_from_pem(pki_text("leaf-rsa-chain.pem").as_bytes()).expect("chain");
    for (i, cert) in chain.iter().enumerate() {
        let (label, id) = if i == 0 {
            ("rsa-key", vec![0x01])
        } else {
            ("issuer", vec![0x90 + i as u8])
        };
        let tbs = cert.tbs_certificate();
        session
            .create_object(&[
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::CertificateType(CertificateType::X_509),
                Attribute::Token(true),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(id),
                Attribute::Subject(tbs.subject().to_der().expect("subject")),
                Attribute::Issuer(tbs.issuer().to_der().expect("issuer")),
                Attribute::Value(cert.to_der().expect("cert der")),
            ])
            .expect("import certificate");
    }
    session.logout().expect("logout");
    drop(session);
    // Two tokens with one label; only the first holds a key.
    let twin = twin_slots(&ctx)[0];
    let session = ctx.open_rw_session(twin).expect("rw session");
    session
        .login(UserType::User, Some(&AuthPin::from(USER_PIN.to_string())))
        .expect("user login");
    import_p256(&session, "twin-key", &[0x07], "leaf-p256.sec1.key");
    session.logout().expect("logout");
    Hsm { module, conf }
}

/// The slots of the two tokens labelled [`TWIN`], in slot order.
fn twin_slots(ctx: &Pkcs11) -> Vec<cryptoki::slot::Slot> {
    ctx.get_slots_with_token()
        .expect("slots")
        .into_iter()
        .filter(|s| {
            ctx.get_token_info(*s)
                .map(|t| t.label().trim_end() == TWIN)
                .unwrap_or(false)
        })
        .collect()
}

/// Initialises a fresh token labelled `label` with the SO and user PINs.
fn init_token(ctx: &Pkcs11, label: &str) {
    let free = ctx
        .get_all_slots()
        .expect("slots")
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s)
                .map(|t| !t.token_initialized())
                .unwrap_or(false)
        })
        .expect("SoftHSM2 offers an uninitialised slot");
    ctx.init_token(free, &AuthPin::from(SO_PIN.to_string()), label)
        .expect("init token");
    // The slot just initialised (not found by label: two tokens may share one).
    let session = ctx.open_rw_session(free).expect("rw session");
    session
        .login(UserType::So, Some(&AuthPin::from(SO_PIN.to_string())))
        .expect("SO login");
    session
        .init_pin(&AuthPin::from(USER_PIN.to_string()))
        .expect("init user PIN");
    session.logout().expect("logout");
}

fn slot_of(ctx: &Pkcs11, label: &str) -> cryptoki::slot::Slot {
    ctx.get_slots_with_token()
        .expect("slots")
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s)
                .map(|t| t.label().trim_end() == label)
                .unwrap_or(false)
        })
        .unwrap_or_else(|| panic!("token {label} not found after init"))
}

fn pem_der(name: &str, label: &str) -> Vec<u8> {
    let text = pki_text(name);
    let (found, der) = der::pem::decode_vec(text.trim().as_bytes()).expect("PEM");
    assert_eq!(found, label, "{name}");
    der
}

fn import_rsa(session: &cryptoki::session::Session, label: &str, id: &[u8], file: &str) {
    import_rsa_with(session, label, id, file, &[]);
}

fn import_rsa_with(
    session: &cryptoki::session::Session,
    label: &str,
    id: &[u8],
    file: &str,
    extra: &[Attribute],
) {
    let pkcs8 = pem_der(file, "PRIVATE KEY");
    let info = pkcs8::PrivateKeyInfoRef::from_der(&pkcs8).expect("PKCS#8");
    let k =
        pkcs1::RsaPrivateKey::<UintRef<'_>>::from_der(info.private_key.as_bytes()).expect("PKCS#1");
    let b = |u: UintRef<'_>| u.as_bytes().to_vec();
    session
        .create_object(
            &[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::RSA),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Sign(true),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(id.to_vec()),
                Attribute::Modulus(b(k.modulus)),
                Attribute::PublicExponent(b(k.public_exponent)),
                Attribute::PrivateExponent(b(k.private_exponent)),
                Attribute::Prime1(b(k.prime1)),
                Attribute::Prime2(b(k.prime2)),
                Attribute::Exponent1(b(k.exponent1)),
                Attribute::Exponent2(b(k.exponent2)),
                Attribute::Coefficient(b(k.coefficient)),
            ]
            .into_iter()
            .chain(extra.iter().cloned())
            .collect::<Vec<_>>(),
        )
        .expect("import RSA key");
}

fn import_p256(session: &cryptoki::session::Session, label: &str, id: &[u8], file: &str) {
    let sec1_der = pem_der(file, "EC PRIVATE KEY");
    let k = sec1::EcPrivateKey::from_der(&sec1_der).expect("SEC1");
    let curve = const_oid::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
    session
        .create_object(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Sign(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
            Attribute::EcParams(curve.to_der().expect("curve")),
            Attribute::Value(k.private_key.to_vec()),
        ])
        .expect("import P-256 key");
}

fn options(hsm: &Hsm, token: &str, key: KeySelector, pin: &str) -> Pkcs11Options {
    Pkcs11Options {
        module: hsm.module.clone(),
        token: TokenSelector::Label(token.into()),
        key,
        pin: Some(Secret::new(pin)),
        certificates: None,
    }
}

fn pem_chain(leaf: &str) -> Vec<x509_cert::Certificate> {
    authsign::certificates_from_pem(pki_text(&format!("{leaf}-chain.pem")).as_bytes())
        .expect("chain")
}

fn signed_file(signer: &dyn Signer, input: &Path) -> Vec<u8> {
    let file = FileInput::open(input).expect("open fixture");
    let subject = authsign::open(&file).expect("subject");
    let pkcs7 = authsign::sign(subject.as_ref(), signer, &SignOptions::default()).expect("sign");
    let mut out = Vec::new();
    subject.with_signature(&pkcs7, &mut out).expect("embed");
    out
}

/// authsign's verifier and osslsigncode both accept `signed` (written to `dir/name`).
fn assert_verifies(dir: &Path, name: &str, signed: &[u8]) {
    let path = dir.join(name);
    std::fs::write(&path, signed).expect("write");
    let anchors = authsign::certificates_from_pem(pki_text("root.pem").as_bytes()).expect("root");
    let file = FileInput::open(&path).expect("open");
    let report = Verifier::new(Policy::with_trusted(anchors))
        .verify(authsign::open(&file).expect("subject").as_ref())
        .expect("verify");
    assert!(report.is_valid(), "{name}: {report:?}");
    if require_tool("osslsigncode") {
        common::assert_osslsigncode_accepts(&path);
    }
}

#[test]
#[cfg_attr(
    not(all(has_osslsigncode, has_softhsm2)),
    ignore = "needs osslsigncode, softhsm2-util"
)]
fn rsa_key_and_chain_from_token_sign_byte_identically_to_pem() {
    let Some((_lock, hsm)) = hsm() else { return };
    let signer = Pkcs11Signer::open(options(
        hsm,
        TOKEN,
        KeySelector::Label("rsa-key".into()),
        USER_PIN,
    ))
    .expect("open token key");
    assert_eq!(signer.algorithm(), SignatureAlgorithm::RsaPkcs1v15);
    assert_eq!(signer.certificates(), pem_chain("leaf-rsa").as_slice());
    let pem = LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")])
        .expect("PEM signer");
    let dir = common::TempDir::new();
    for subject in SUBJECTS {
        let ours = signed_file(&signer, &fixture(subject));
        assert!(
            ours == signed_file(&pem, &fixture(subject)),
            "{subject}: token and PEM signatures differ"
        );
        assert_verifies(dir.path(), &subject.replace('/', "-"), &ours);
    }
}

#[test]
#[cfg_attr(
    not(all(has_osslsigncode, has_softhsm2)),
    ignore = "needs osslsigncode, softhsm2-util"
)]
fn p256_key_only_token_with_pem_chain_signs_and_verifies() {
    let Some((_lock, hsm)) = hsm() else { return };
    let mut opts = options(hsm, TOKEN, KeySelector::Id(vec![0x02]), USER_PIN);
    // No certificate for this key on the token: asking the token for the chain says so.
    let e = Pkcs11Signer::open(opts.clone());
    assert!(
        matches!(&e, Err(Error::Crypto(CryptoError::Token(m))) if m.contains("no certificate")),
        "{e:?}"
    );
    opts.certificates = Some(pem_chain("leaf-p256"));
    let signer = Pkcs11Signer::open(opts).expect("open token key");
    assert_eq!(signer.algorithm(), SignatureAlgorithm::EcdsaP256);
    let dir = common::TempDir::new();
    for subject in SUBJECTS {
        let signed = signed_file(&signer, &fixture(subject));
        assert_verifies(dir.path(), &subject.replace('/', "-"), &signed);
    }
}

#[test]
#[cfg_attr(
    not(all(has_openssl, has_softhsm2)),
    ignore = "needs openssl, softhsm2-util"
)]
fn key_that_does_not_fit_the_certificate_is_refused() {
    let Some((_lock, hsm)) = hsm() else { return };
    // EC key, RSA certificate: the types are named.
    let mut opts = options(hsm, TOKEN, KeySelector::Label("p256-key".into()), USER_PIN);
    opts.certificates = Some(pem_chain("leaf-rsa"));
    let e = Pkcs11Signer::open(opts);
    assert!(
        matches!(&e, Err(Error::Crypto(CryptoError::KeyTypeMismatch { key, certificate }))
            if key.contains("EC P-256") && certificate == "RSA"),
        "{e:?}"
    );
    // RSA key, another RSA certificate: caught by the modulus.
    let mut opts = options(hsm, TOKEN, KeySelector::Label("rsa-key".into()), USER_PIN);
    opts.certificates = Some(pem_chain("leaf-rsa3072"));
    let e = Pkcs11Signer::open(opts);
    assert!(
        matches!(e, Err(Error::Crypto(CryptoError::KeyCertificateMismatch))),
        "{e:?}"
    );
    // EC key, another P-256 certificate: caught by the test signature.
    let other_p256 = generate_p256_chain();
    if let Some(chain) = other_p256 {
        let mut opts = options(hsm, TOKEN, KeySelector::Label("p256-key".into()), USER_PIN);
        opts.certificates = Some(chain);
        let e = Pkcs11Signer::open(opts);
        assert!(
            matches!(e, Err(Error::Crypto(CryptoError::KeyCertificateMismatch))),
            "{e:?}"
        );
    }
}

/// A self-signed P-256 certificate for a fresh key (openssl), to test a same-type mismatch.
fn generate_p256_chain() -> Option<Vec<x509_cert::Certificate>> {
    if !require_tool("openssl") {
        return None;
    }
    let dir = common::TempDir::new();
    common::openssl_in(
        dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-subj",
            "/CN=other",
            "-days",
            "2",
        ],
    );
    let pem = std::fs::read(dir.path().join("c.pem")).ok()?;
    authsign::certificates_from_pem(&pem).ok()
}

#[test]
#[cfg_attr(not(has_softhsm2), ignore = "needs softhsm2-util")]
fn missing_key_lists_the_labels_on_the_token() {
    let Some((_lock, hsm)) = hsm() else { return };
    let e = Pkcs11Signer::open(options(
        hsm,
        TOKEN,
        KeySelector::Label("no-such-key".into()),
        USER_PIN,
    ));
    match e {
        Err(Error::Crypto(CryptoError::KeyNotFound { wanted, available })) => {
            assert!(wanted.contains("no-such-key"), "{wanted}");
            let all = available.join(" ");
            assert!(
                all.contains("\"rsa-key\"") && all.contains("\"p256-key\""),
                "{all}"
            );
        }
        other => panic!("expected KeyNotFound, got {other:?}"),
    }
}

#[test]
#[cfg_attr(not(has_softhsm2), ignore = "needs softhsm2-util")]
fn wrong_pin_and_missing_token_are_clear_errors() {
    let Some((_lock, hsm)) = hsm() else { return };
    let e = Pkcs11Signer::open(options(
        hsm,
        EMPTY_TOKEN,
        KeySelector::Label("k".into()),
        "0000-wrong",
    ));
    assert!(
        matches!(&e, Err(Error::Crypto(CryptoError::Authentication(m))) if m.contains("wrong PIN")),
        "{e:?}"
    );
    let e = Pkcs11Signer::open(options(
        hsm,
        "no-such-token",
        KeySelector::Label("k".into()),
        USER_PIN,
    ));
    assert!(
        matches!(&e, Err(Error::Crypto(CryptoError::Token(m)))
            if m.contains("no token labelled") && m.contains(TOKEN)),
        "{e:?}"
    );
}

// ---- the CLI, one process per run (fresh PKCS#11 state each time) ----

fn sign_cli(hsm: &Hsm, args: &[&str], pin: Option<&str>) -> Output {
    let mut cmd = Command::new(example("sign"));
    cmd.arg("--pkcs11-module")
        .arg(&hsm.module)
        .args(args)
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env_remove(PIN_VAR);
    if let Some(pin) = pin {
        cmd.env(PIN_VAR, pin);
    }
    cmd.output().expect("run sign")
}

#[test]
#[cfg_attr(
    not(all(has_osslsigncode, has_softhsm2)),
    ignore = "needs osslsigncode, softhsm2-util"
)]
fn cli_signs_through_the_token() {
    let Some((_lock, hsm)) = hsm() else { return };
    let dir = common::TempDir::new();
    let input = fixture(SUBJECTS[0]);
    let rsa_out = dir.path().join("rsa.exe");
    let o = sign_cli(
        hsm,
        &[
            "--pkcs11-token",
            TOKEN,
            "--pkcs11-key",
            "rsa-key",
            "--pin-env",
            PIN_VAR,
            input.to_str().expect("utf-8"),
            "-o",
            rsa_out.to_str().expect("utf-8"),
        ],
        Some(USER_PIN),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pem = LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")])
        .expect("PEM signer");
    assert!(std::fs::read(&rsa_out).ok() == Some(signed_file(&pem, &input)));

    // Key-only: the chain from --cert, the PIN from a file.
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{USER_PIN}\n")).expect("pin file");
    let ec_out = dir.path().join("p256.exe");
    let chain = pki("leaf-p256-chain.pem");
    let o = sign_cli(
        hsm,
        &[
            "--pkcs11-token",
            TOKEN,
            "--pkcs11-key-id",
            "02",
            "--pin-file",
            pin_file.to_str().expect("utf-8"),
            "--cert",
            chain.to_str().expect("utf-8"),
            input.to_str().expect("utf-8"),
            "-o",
            ec_out.to_str().expect("utf-8"),
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_verifies(
        dir.path(),
        "p256-check.exe",
        &std::fs::read(&ec_out).expect("read"),
    );
}

#[test]
#[cfg_attr(not(has_softhsm2), ignore = "needs softhsm2-util")]
fn cli_errors_are_clear_and_leave_the_input_untouched() {
    let Some((_lock, hsm)) = hsm() else { return };
    let dir = common::TempDir::new();
    let target = dir.path().join("in-place.exe");
    std::fs::copy(fixture(SUBJECTS[0]), &target).expect("copy");
    let before = std::fs::read(&target).expect("read");
    let t = target.to_str().expect("utf-8");
    let token = ["--pkcs11-token", TOKEN];
    let cases: &[(&[&str], Option<&str>, &[&str])] = &[
        (
            &["--pkcs11-key", "rsa-key", "--pin-env", PIN_VAR],
            Some("bad-pin"),
            &["wrong PIN"],
        ),
        (
            &["--pkcs11-key", "rsa-key", "--pin-env", PIN_VAR],
            None,
            &[PIN_VAR, "not set"],
        ),
        (
            &["--pkcs11-key", "nope", "--pin-env", PIN_VAR],
            Some(USER_PIN),
            &["not found", "\"rsa-key\"", "\"p256-key\""],
        ),
    ];
    for (args, pin, expected) in cases {
        let o = sign_cli(hsm, &[&token[..], args, &[t]].concat(), *pin);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        for piece in *expected {
            assert!(err.contains(piece), "{args:?}: {err:?} lacks {piece:?}");
        }
        assert!(!err.contains(USER_PIN) && !err.contains("bad-pin"), "{err}");
        assert_eq!(std::fs::read(&target).expect("read"), before, "{args:?}");
    }
    // A module that is not there, and a library that is not a PKCS#11 module.
    for module in [
        "/nonexistent/libpkcs11.so",
        "/lib/x86_64-linux-gnu/libz.so.1",
    ] {
        if !Path::new(module).exists() && module.contains("libz") {
            continue;
        }
        let o = Command::new(example("sign"))
            .args(["--pkcs11-module", module, "--pkcs11-key", "k", t])
            .output()
            .expect("run sign");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("cannot load the PKCS#11 module"), "{err}");
        assert_eq!(std::fs::read(&target).expect("read"), before);
    }
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    assert_eq!(names.len(), 1, "temporary files left behind: {names:?}");
}

// ---- tokens as they behave in the field ----

/// The always-authenticate RSA key (chain from PEM: the token holds no certificate for it).
fn always_auth_options(hsm: &Hsm) -> Pkcs11Options {
    let mut o = options(
        hsm,
        TOKEN,
        KeySelector::Label("rsa-always".into()),
        USER_PIN,
    );
    o.certificates = Some(pem_chain("leaf-rsa"));
    o
}

/// Copies of hello64.exe in `dir`.
fn pe_copies(dir: &Path, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let p = dir.join(format!("app{i:02}.exe"));
            std::fs::copy(fixture(SUBJECTS[0]), &p).expect("copy");
            p
        })
        .collect()
}

fn assert_valid_file(path: &Path) {
    let anchors = authsign::certificates_from_pem(pki_text("root.pem").as_bytes()).expect("root");
    let report = Verifier::new(Policy::with_trusted(anchors))
        .verify_path(path)
        .expect("verify");
    assert!(
        report.is_valid(),
        "{}: {}",
        path.display(),
        report.to_json()
    );
}

#[test]
#[cfg_attr(
    not(all(has_osslsigncode, has_softhsm2)),
    ignore = "needs osslsigncode, softhsm2-util"
)]
fn always_authenticate_key_signs_files_and_a_batch_of_20() {
    let Some((_lock, hsm)) = hsm() else { return };
    let signer = Pkcs11Signer::open(always_auth_options(hsm)).expect("open always-auth key");
    assert!(signer.always_authenticate());
    // Bare digests cannot be signed (the PIN must follow C_SignInit): a clear error.
    let e = signer.sign_digest(DigestAlgorithm::Sha256, &[3; 32]);
    assert!(
        matches!(&e, Err(Error::Crypto(CryptoError::Token(m))) if m.contains("CKA_ALWAYS_AUTHENTICATE")),
        "{e:?}"
    );
    // Files: the token's hash-and-sign gives the same bytes as the PEM key.
    let pem = LocalSigner::from_files(pki("leaf-rsa.key"), &[pki("leaf-rsa-chain.pem")])
        .expect("PEM signer");
    let dir = common::TempDir::new();
    for subject in SUBJECTS {
        let ours = signed_file(&signer, &fixture(subject));
        assert!(ours == signed_file(&pem, &fixture(subject)), "{subject}");
        assert_verifies(dir.path(), &subject.replace('/', "-"), &ours);
    }
    // A batch of 20, in place, through the library's batch (workers take turns on the token).
    let files = pe_copies(dir.path(), 20);
    let items: Vec<_> = files.iter().map(authsign::BatchItem::in_place).collect();
    let shared = authsign::signer::Serialized::new(signer);
    let results = authsign::sign_batch(&items, &shared, &SignOptions::default());
    for (f, r) in files.iter().zip(&results) {
        assert!(r.is_ok(), "{}: {r:?}", f.display());
        assert_valid_file(f);
    }
    common::assert_osslsigncode_accepts(&files[19]);
}

/// A signer that, before its `after`-th signature, finalises the PKCS#11 module (every
/// session of the process is closed) and initialises it again with one more token, so the
/// slot list changes too.
struct LoseSessionAfter<'a> {
    inner: &'a Pkcs11Signer,
    module: PathBuf,
    after: usize,
    calls: std::sync::atomic::AtomicUsize,
}

impl Signer for LoseSessionAfter<'_> {
    fn certificates(&self) -> &[x509_cert::Certificate] {
        self.inner.certificates()
    }
    fn algorithm(&self) -> SignatureAlgorithm {
        self.inner.algorithm()
    }
    fn sign_digest(&self, alg: DigestAlgorithm, digest: &[u8]) -> authsign::Result<Vec<u8>> {
        self.sign_message(alg, &[], digest)
    }
    fn sign_message(
        &self,
        alg: DigestAlgorithm,
        message: &[u8],
        digest: &[u8],
    ) -> authsign::Result<Vec<u8>> {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if n == self.after {
            let other = Pkcs11::new(&self.module).expect("load");
            other.finalize().expect("C_Finalize: every session closed");
            let again = Pkcs11::new(&self.module).expect("load");
            again
                .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
                .expect("C_Initialize");
            init_token(&again, "authsign-late");
        }
        self.inner.sign_message(alg, message, digest)
    }
}

#[test]
#[cfg_attr(not(has_softhsm2), ignore = "needs softhsm2-util")]
fn a_session_lost_mid_batch_is_opened_again() {
    let Some((_lock, hsm)) = hsm() else { return };
    for key in ["rsa-key", "rsa-always"] {
        let mut o = options(hsm, TOKEN, KeySelector::Label(key.into()), USER_PIN);
        o.certificates = Some(pem_chain("leaf-rsa"));
        let signer = Pkcs11Signer::open(o).expect("open");
        let losing = LoseSessionAfter {
            inner: &signer,
            module: hsm.module.clone(),
            after: 10,
            calls: Default::default(),
        };
        let dir = common::TempDir::new();
        let files = pe_copies(dir.path(), 20);
        // One file after another: the 11th signature finds its session gone.
        for f in &files {
            authsign::sign_file(f, &losing, &SignOptions::default())
                .unwrap_or_else(|e| panic!("{key} {}: {e}", f.display()));
            assert_valid_file(f);
        }
        assert_eq!(losing.calls.load(std::sync::atomic::Ordering::SeqCst), 20);
    }
}

#[test]
#[cfg_attr(not(has_softhsm2), ignore = "needs softhsm2-util")]
fn tokens_sharing_a_label_are_told_apart_by_serial() {
    let Some((_lock, hsm)) = hsm() else { return };
    let ctx = Pkcs11::new(&hsm.module).expect("load");
    let _ = ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK));
    let serials: Vec<String> = twin_slots(&ctx)
        .into_iter()
        .map(|s| {
            ctx.get_token_info(s)
                .expect("info")
                .serial_number()
                .trim()
                .to_string()
        })
        .collect();
    assert_eq!(serials.len(), 2, "{serials:?}");
    assert_ne!(serials[0], serials[1]);
    // By label: ambiguous, and the error lists both serials.
    let mut o = options(hsm, TWIN, KeySelector::Label("twin-key".into()), USER_PIN);
    o.certificates = Some(pem_chain("leaf-p256"));
    let e = Pkcs11Signer::open(o.clone());
    assert!(
        matches!(&e, Err(Error::Crypto(CryptoError::Token(m)))
            if m.contains("choose one by serial") && m.contains(&serials[0]) && m.contains(&serials[1])),
        "{e:?}"
    );
    // By serial: the token with the key signs; the other has no such key.
    let mut opened = Vec::new();
    for serial in &serials {
        o.token = TokenSelector::Serial(serial.clone());
        match Pkcs11Signer::open(o.clone()) {
            Ok(signer) => opened.push(signer),
            Err(Error::Crypto(CryptoError::KeyNotFound { .. })) => {}
            Err(e) => panic!("serial {serial}: {e}"),
        }
    }
    let [signer] = &opened[..] else {
        panic!("one twin holds the key, {} opened", opened.len())
    };
    let dir = common::TempDir::new();
    assert_verifies(
        dir.path(),
        "twin.exe",
        &signed_file(signer, &fixture(SUBJECTS[0])),
    );
}

#[test]
#[cfg_attr(
    not(all(has_osslsigncode, has_softhsm2)),
    ignore = "needs osslsigncode, softhsm2-util"
)]
fn cli_signs_pe_cab_and_msi_in_one_batch_with_an_always_authenticate_key() {
    let Some((_lock, hsm)) = hsm() else { return };
    let dir = common::TempDir::new();
    let inputs: Vec<PathBuf> = [
        "pe/hello64.exe",
        "cab/gcab-mszip.cab",
        "third-party/minimal.msi",
    ]
    .iter()
    .map(|s| {
        let p = dir.path().join(Path::new(s).file_name().expect("name"));
        std::fs::copy(fixture(s), &p).expect("copy");
        p
    })
    .collect();
    let chain = pki("leaf-rsa-chain.pem");
    let mut args = vec![
        "--pkcs11-token",
        TOKEN,
        "--pkcs11-key",
        "rsa-always",
        "--pin-env",
        PIN_VAR,
        "--cert",
        chain.to_str().expect("utf-8"),
    ];
    args.extend(inputs.iter().map(|p| p.to_str().expect("utf-8")));
    let o = sign_cli(hsm, &args, Some(USER_PIN));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in &inputs {
        assert_valid_file(f);
        common::assert_osslsigncode_accepts(f);
    }
}
