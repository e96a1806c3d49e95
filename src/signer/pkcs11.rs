//! [`Pkcs11Signer`]: a key held in a PKCS#11 token (HSM, smart card, SoftHSM2, cloud KMS shim).
//!
//! The module is loaded by path with the `cryptoki` crate. The token is chosen by label or
//! serial number, the private key by label or id, and the user logs in with a [`Secret`] PIN
//! (taken from an environment variable or a file, never from a command line). Signing uses the
//! raw mechanisms, so the digest is computed here and the token only applies the key:
//! `CKM_RSA_PKCS` over the DER DigestInfo (built here), or `CKM_ECDSA` over the digest (its raw
//! `r || s` result is converted to DER `Ecdsa-Sig-Value`).
//!
//! The certificate chain comes from the token (the certificate with the key's `CKA_ID`, then its
//! issuers among the token's certificates) or is given by the caller, e.g. from a PEM file, for
//! key-only tokens. Either way the key is checked against the leaf certificate before use: its
//! type and curve, the RSA modulus when the token shows it, otherwise a test signature.
//!
//! The module is initialised once per process (`C_Initialize`) and never finalised, so several
//! signers, and other users of the same module in the process, can coexist.
//!
//! ```no_run
//! use authsign::signer::{KeySelector, Pkcs11Options, Pkcs11Signer, Secret, Signer, TokenSelector};
//! let signer = Pkcs11Signer::open(Pkcs11Options {
//!     module: "/usr/lib/softhsm/libsofthsm2.so".into(),
//!     token: TokenSelector::Label("codesign".into()),
//!     key: KeySelector::Label("release".into()),
//!     pin: Some(Secret::from_env("AUTHSIGN_PIN")?),
//!     certificates: None,
//! })?;
//! assert!(!signer.certificates().is_empty());
//! # Ok::<(), authsign::Error>(())
//! ```

use std::fmt;
use std::path::PathBuf;

use cryptoki::context::Function;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use der::asn1::UintRef;
use der::Decode;
use x509_cert::Certificate;

use crate::crypto::{
    digest_info_prefix, verify_signed_digest, EC_PUBLIC_KEY, RSA_ENCRYPTION, SECP256R1, SECP384R1,
};
use crate::digest::DigestAlgorithm;
use crate::error::{CryptoError, Error, Result};
use crate::signer::{chain_from, Secret, SignatureAlgorithm, Signer};

/// Which token (slot) of the module to use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSelector {
    /// The token with this label (`CKA_LABEL` of the token, trailing spaces ignored).
    Label(String),
    /// The token with this serial number.
    Serial(String),
    /// The only token present; an error when there are several.
    Only,
}

/// Which private key on the token to use.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeySelector {
    /// The private key with this `CKA_LABEL`.
    Label(String),
    /// The private key with this `CKA_ID` (raw bytes; `pkcs11-tool --id 01` is `[0x01]`).
    Id(Vec<u8>),
}

impl fmt::Display for KeySelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySelector::Label(l) => write!(f, "with label {l:?}"),
            KeySelector::Id(id) => write!(f, "with id {}", hex::encode(id)),
        }
    }
}

/// Where and how to find the key for a [`Pkcs11Signer`].
#[derive(Debug, Clone)]
pub struct Pkcs11Options {
    /// Path of the PKCS#11 module (shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token to use.
    pub token: TokenSelector,
    /// The private key to sign with.
    pub key: KeySelector,
    /// The user PIN; `None` for tokens that need no login.
    pub pin: Option<Secret>,
    /// The certificate chain, leaf first. `None`: take it from the token.
    pub certificates: Option<Vec<Certificate>>,
}

/// A [`Signer`] whose private key stays in a PKCS#11 token.
///
/// Holds one logged-in read-only session; it is `Send` but not `Sync` (PKCS#11 sessions must
/// not be used from two threads at once).
///
/// As real tokens need:
/// - a key with `CKA_ALWAYS_AUTHENTICATE` gets the PIN again (`C_Login` with
///   `CKU_CONTEXT_SPECIFIC`) right after `C_SignInit`, before every signature; such keys sign
///   with the token's hash-and-sign mechanisms (`CKM_SHA256_RSA_PKCS`, `CKM_ECDSA_SHA256`...),
///   through [`Signer::sign_message`], which signing files uses;
/// - a session that is lost (closed, the module re-initialised, the token re-inserted,
///   possibly in another slot) is opened again once, on the token with the same serial
///   number, logged in, and the signature retried;
/// - tokens are chosen by label, or by serial number when several share a label.
pub struct Pkcs11Signer {
    ctx: Pkcs11,
    live: std::cell::RefCell<Live>,
    reopen_token: TokenSelector,
    key_selector: KeySelector,
    pin: Option<Secret>,
    always_authenticate: bool,
    algorithm: SignatureAlgorithm,
    certificates: Vec<Certificate>,
    token_label: String,
}

/// The session in use and the key's handle in it.
struct Live {
    session: Session,
    key: ObjectHandle,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("token", &self.token_label)
            .field("algorithm", &self.algorithm)
            .field("always_authenticate", &self.always_authenticate)
            .field("certificates", &self.certificates.len())
            .finish_non_exhaustive()
    }
}

fn token_err(what: impl Into<String>) -> Error {
    Error::Crypto(CryptoError::Token(what.into()))
}

/// A PKCS#11 failure of `what` (e.g. "listing the slots"), as a [`CryptoError::Token`].
fn ck_err(what: &str) -> impl Fn(CkError) -> Error + '_ {
    move |e| token_err(format!("{what}: {e}"))
}

/// The key types a certificate can hold, as named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
}

impl KeyKind {
    fn name(self) -> &'static str {
        match self {
            KeyKind::Rsa => "RSA",
            KeyKind::P256 => "EC P-256",
            KeyKind::P384 => "EC P-384",
        }
    }

    fn algorithm(self) -> SignatureAlgorithm {
        match self {
            KeyKind::Rsa => SignatureAlgorithm::RsaPkcs1v15,
            KeyKind::P256 => SignatureAlgorithm::EcdsaP256,
            KeyKind::P384 => SignatureAlgorithm::EcdsaP384,
        }
    }
}

/// The key type of a certificate's public key.
fn certificate_kind(cert: &Certificate) -> Result<KeyKind> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    match spki.algorithm.oid {
        RSA_ENCRYPTION => Ok(KeyKind::Rsa),
        EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<const_oid::ObjectIdentifier>().ok());
            match curve {
                Some(SECP256R1) => Ok(KeyKind::P256),
                Some(SECP384R1) => Ok(KeyKind::P384),
                other => Err(Error::Crypto(CryptoError::UnsupportedAlgorithm(format!(
                    "certificate EC curve {} (supported: P-256, P-384)",
                    other.map_or_else(|| "without a name".to_string(), |o| o.to_string())
                )))),
            }
        }
        other => Err(Error::Crypto(CryptoError::UnsupportedAlgorithm(format!(
            "certificate public key {other} (supported: RSA, EC P-256, EC P-384)"
        )))),
    }
}

/// The key type of a token key from its `CKA_KEY_TYPE` and, for EC keys, `CKA_EC_PARAMS`.
fn token_key_kind(key_type: Option<KeyType>, ec_params: Option<&[u8]>) -> Result<KeyKind> {
    match key_type {
        Some(KeyType::RSA) => Ok(KeyKind::Rsa),
        Some(KeyType::EC) => {
            let curve = ec_params.and_then(|p| const_oid::ObjectIdentifier::from_der(p).ok());
            match curve {
                Some(SECP256R1) => Ok(KeyKind::P256),
                Some(SECP384R1) => Ok(KeyKind::P384),
                _ => Err(Error::Crypto(CryptoError::UnsupportedAlgorithm(
                    "token EC key on a curve other than P-256 or P-384".into(),
                ))),
            }
        }
        Some(other) => Err(Error::Crypto(CryptoError::UnsupportedAlgorithm(format!(
            "token key of type {other} (supported: RSA, EC P-256, EC P-384)"
        )))),
        None => Err(token_err(
            "the token does not tell the key's type (CKA_KEY_TYPE)",
        )),
    }
}

/// Loads the module and initialises it (an already initialised module is fine).
fn load_module(path: &std::path::Path) -> Result<Pkcs11> {
    let ctx = Pkcs11::new(path).map_err(|e| {
        token_err(format!(
            "cannot load the PKCS#11 module {}: {e} (check the path, and that the library \
             matches this process's architecture)",
            path.display()
        ))
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(ctx),
        Err(e) => Err(token_err(format!(
            "the PKCS#11 module {} failed to initialise: {e}",
            path.display()
        ))),
    }
}

/// Finds the slot of the token `selector` names; errors list the tokens present.
fn find_slot(ctx: &Pkcs11, selector: &TokenSelector) -> Result<(Slot, String, String)> {
    let slots = ctx
        .get_slots_with_token()
        .map_err(ck_err("listing the slots"))?;
    let mut present = Vec::new();
    let mut found = Vec::new();
    for slot in slots {
        let info = ctx
            .get_token_info(slot)
            .map_err(ck_err("reading token information"))?;
        if !info.token_initialized() {
            continue;
        }
        let label = info.label().trim_end().to_string();
        let serial = info.serial_number().trim_end().to_string();
        let hit = match selector {
            TokenSelector::Label(l) => l.trim_end() == label,
            TokenSelector::Serial(s) => s.trim() == serial,
            TokenSelector::Only => true,
        };
        if hit {
            found.push((slot, label.clone(), serial.clone()));
        }
        present.push(format!("{label:?} (serial {serial})"));
    }
    let list = if present.is_empty() {
        "none".to_string()
    } else {
        present.join(", ")
    };
    let wanted = match selector {
        TokenSelector::Label(l) => format!("labelled {l:?}"),
        TokenSelector::Serial(s) => format!("with serial {s:?}"),
        TokenSelector::Only => "at all".to_string(),
    };
    match found.len() {
        0 => Err(token_err(format!(
            "no token {wanted}; tokens present: {list}"
        ))),
        1 => Ok(found.swap_remove(0)),
        _ => Err(token_err(format!(
            "several tokens {}; choose one by serial: {list}",
            if matches!(selector, TokenSelector::Only) {
                "present"
            } else {
                &wanted
            }
        ))),
    }
}

fn login(session: &Session, pin: &Secret, token: &str) -> Result<()> {
    let pin = AuthPin::from(pin.expose().to_string());
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(Error::Crypto(
            CryptoError::Authentication(format!("wrong PIN for token {token:?}")),
        )),
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => {
            Err(Error::Crypto(CryptoError::Authentication(format!(
                "the user PIN of token {token:?} is locked; the security officer must unlock it"
            ))))
        }
        Err(CkError::Pkcs11(RvError::PinLenRange, _)) => {
            Err(Error::Crypto(CryptoError::Authentication(format!(
                "the PIN has a length token {token:?} does not accept (wrong PIN?)"
            ))))
        }
        Err(CkError::Pkcs11(RvError::PinExpired, _)) => {
            Err(Error::Crypto(CryptoError::Authentication(format!(
                "the user PIN of token {token:?} has expired; change it first"
            ))))
        }
        Err(e) => Err(token_err(format!("login to token {token:?} failed: {e}"))),
    }
}

fn attr_bytes(attrs: &[Attribute], ty: AttributeType) -> Option<&[u8]> {
    attrs.iter().find_map(|a| match (a, ty) {
        (Attribute::Label(v), AttributeType::Label)
        | (Attribute::Id(v), AttributeType::Id)
        | (Attribute::Value(v), AttributeType::Value)
        | (Attribute::Modulus(v), AttributeType::Modulus)
        | (Attribute::PublicExponent(v), AttributeType::PublicExponent)
        | (Attribute::EcParams(v), AttributeType::EcParams) => Some(v.as_slice()),
        _ => None,
    })
}

fn key_type_attr(attrs: &[Attribute]) -> Option<KeyType> {
    attrs.iter().find_map(|a| match a {
        Attribute::KeyType(t) => Some(*t),
        _ => None,
    })
}

/// A human name for a key in listings: its label, or its id in hex.
fn describe_key(attrs: &[Attribute]) -> String {
    let label = attr_bytes(attrs, AttributeType::Label)
        .filter(|l| !l.is_empty())
        .map(|l| format!("{:?}", String::from_utf8_lossy(l)));
    let id = attr_bytes(attrs, AttributeType::Id)
        .filter(|i| !i.is_empty())
        .map(|i| format!("id {}", hex::encode(i)));
    match (label, id) {
        (Some(l), Some(i)) => format!("{l} ({i})"),
        (Some(l), None) => l,
        (None, Some(i)) => i,
        (None, None) => "(no label or id)".into(),
    }
}

/// Finds the one private key `selector` names; an error lists the keys on the token.
fn find_key(session: &Session, selector: &KeySelector) -> Result<ObjectHandle> {
    let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
    template.push(match selector {
        KeySelector::Label(l) => Attribute::Label(l.as_bytes().to_vec()),
        KeySelector::Id(id) => Attribute::Id(id.clone()),
    });
    let found = session
        .find_objects(&template)
        .map_err(ck_err("searching the token for the key"))?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => {
            let all = session
                .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
                .map_err(ck_err("listing the token's private keys"))?;
            let mut available = Vec::with_capacity(all.len());
            for handle in all {
                let attrs = session
                    .get_attributes(handle, &[AttributeType::Label, AttributeType::Id])
                    .map_err(ck_err("reading key attributes"))?;
                available.push(describe_key(&attrs));
            }
            Err(Error::Crypto(CryptoError::KeyNotFound {
                wanted: format!("private key {selector}"),
                available,
            }))
        }
        more => Err(token_err(format!(
            "{} private keys {selector}; choose one by id",
            more.len()
        ))),
    }
}

/// The certificates stored on the token, with their `CKA_ID`s.
fn token_certificates(session: &Session) -> Result<Vec<(Vec<u8>, Certificate)>> {
    let handles = session
        .find_objects(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
        ])
        .map_err(ck_err("listing the token's certificates"))?;
    let mut certs = Vec::with_capacity(handles.len());
    for handle in handles {
        let attrs = session
            .get_attributes(handle, &[AttributeType::Id, AttributeType::Value])
            .map_err(ck_err("reading a certificate"))?;
        let Some(value) = attr_bytes(&attrs, AttributeType::Value) else {
            continue;
        };
        let cert = Certificate::from_der(value).map_err(|e| {
            token_err(format!(
                "certificate {} on the token does not decode: {e}",
                describe_key(&attrs)
            ))
        })?;
        let id = attr_bytes(&attrs, AttributeType::Id)
            .unwrap_or_default()
            .to_vec();
        certs.push((id, cert));
    }
    Ok(certs)
}

/// Strips leading zero bytes (big-endian integers from tokens and DER may differ in them).
fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    b.get(first..).unwrap_or_default()
}

/// Whether the RSA modulus `n` equals the one in `cert`, if that can be told.
fn rsa_modulus_matches(cert: &Certificate, n: &[u8]) -> Option<bool> {
    let spki = cert.tbs_certificate().subject_public_key_info();
    let bits = spki.subject_public_key.as_bytes()?;
    let public = pkcs1::RsaPublicKey::<UintRef<'_>>::from_der(bits).ok()?;
    Some(strip_zeros(public.modulus.as_bytes()) == strip_zeros(n))
}

/// DER `Ecdsa-Sig-Value` from a PKCS#11 raw `r || s` signature.
fn ecdsa_raw_to_der(kind: KeyKind, raw: &[u8]) -> Result<Vec<u8>> {
    let bad = |e: &dyn fmt::Display| {
        Error::Crypto(CryptoError::Sign(format!(
            "the token returned a malformed {} ECDSA signature ({} bytes): {e}",
            kind.name(),
            raw.len()
        )))
    };
    match kind {
        KeyKind::P256 => p256::ecdsa::Signature::from_slice(raw)
            .map(|s| s.to_der().as_bytes().to_vec())
            .map_err(|e| bad(&e)),
        KeyKind::P384 => p384::ecdsa::Signature::from_slice(raw)
            .map(|s| s.to_der().as_bytes().to_vec())
            .map_err(|e| bad(&e)),
        KeyKind::Rsa => Err(bad(&"not an EC key")),
    }
}

impl Pkcs11Signer {
    /// Loads the module, finds the token and key, logs in and checks the key against the leaf
    /// certificate.
    ///
    /// Errors: [`CryptoError::Token`] when the module does not load or the token is not there
    /// (listing the tokens present); [`CryptoError::Authentication`] for a wrong or locked PIN;
    /// [`CryptoError::KeyNotFound`] listing the keys on the token;
    /// [`CryptoError::KeyTypeMismatch`] when the key is of another type than the certificate's;
    /// [`CryptoError::KeyCertificateMismatch`] when it is another key of the same type.
    pub fn open(options: Pkcs11Options) -> Result<Self> {
        let ctx = load_module(&options.module)?;
        let (slot, token_label, serial) = find_slot(&ctx, &options.token)?;
        let session = ctx
            .open_ro_session(slot)
            .map_err(ck_err("opening a session"))?;
        match &options.pin {
            Some(pin) => login(&session, pin, &token_label)?,
            None => {
                let info = ctx
                    .get_token_info(slot)
                    .map_err(ck_err("reading token information"))?;
                if info.login_required() {
                    return Err(Error::Crypto(CryptoError::Authentication(format!(
                        "token {token_label:?} requires a PIN and none was given"
                    ))));
                }
            }
        }
        let key = find_key(&session, &options.key)?;
        let attrs = session
            .get_attributes(
                key,
                &[
                    AttributeType::KeyType,
                    AttributeType::Id,
                    AttributeType::EcParams,
                    AttributeType::Modulus,
                ],
            )
            .map_err(ck_err("reading key attributes"))?;
        let always_authenticate = session
            .get_attributes(key, &[AttributeType::AlwaysAuthenticate])
            .ok()
            .is_some_and(|a| a.contains(&Attribute::AlwaysAuthenticate(true)));
        let kind = token_key_kind(
            key_type_attr(&attrs),
            attr_bytes(&attrs, AttributeType::EcParams),
        )?;
        let key_id = attr_bytes(&attrs, AttributeType::Id).unwrap_or_default();
        let modulus = attr_bytes(&attrs, AttributeType::Modulus).filter(|m| !m.is_empty());

        let certificates = match options.certificates {
            Some(certs) if !certs.is_empty() => certs,
            Some(_) => return Err(token_err("an empty certificate chain was given")),
            None => {
                let mut all = token_certificates(&session)?;
                let by_id = all
                    .iter()
                    .position(|(id, _)| !key_id.is_empty() && id.as_slice() == key_id);
                let by_modulus = || {
                    let n = modulus?;
                    all.iter()
                        .position(|(_, c)| rsa_modulus_matches(c, n) == Some(true))
                };
                let Some(leaf) = by_id.or_else(by_modulus) else {
                    return Err(token_err(format!(
                        "no certificate for the key {} on token {token_label:?}; give the \
                         chain from a PEM file instead",
                        options.key
                    )));
                };
                let (_, leaf) = all.swap_remove(leaf);
                chain_from(leaf, all.into_iter().map(|(_, c)| c).collect())
            }
        };
        let leaf = certificates
            .first()
            .ok_or_else(|| token_err("an empty certificate chain was given"))?;
        let cert_kind = certificate_kind(leaf)?;
        if cert_kind != kind {
            return Err(Error::Crypto(CryptoError::KeyTypeMismatch {
                key: format!("{} (token key {})", kind.name(), options.key),
                certificate: cert_kind.name().to_string(),
            }));
        }
        let reopen_token = if serial.is_empty() {
            options.token.clone()
        } else {
            TokenSelector::Serial(serial)
        };
        let signer = Self {
            ctx,
            live: std::cell::RefCell::new(Live { session, key }),
            reopen_token,
            key_selector: options.key.clone(),
            pin: options.pin,
            always_authenticate,
            algorithm: kind.algorithm(),
            certificates,
            token_label,
        };
        signer.check_key_matches(kind, modulus)?;
        Ok(signer)
    }

    /// Checks the token key is the leaf certificate's: by the RSA modulus when the token shows
    /// it, otherwise by a test signature verified with the certificate's public key.
    fn check_key_matches(&self, kind: KeyKind, modulus: Option<&[u8]>) -> Result<()> {
        let leaf = self
            .certificates
            .first()
            .ok_or(Error::Crypto(CryptoError::KeyCertificateMismatch))?;
        if kind == KeyKind::Rsa {
            if let Some(same) = modulus.and_then(|n| rsa_modulus_matches(leaf, n)) {
                return if same {
                    Ok(())
                } else {
                    Err(Error::Crypto(CryptoError::KeyCertificateMismatch))
                };
            }
        }
        let alg = DigestAlgorithm::Sha256;
        let message = b"authsign: does the token key match the certificate?";
        let digest = alg.digest(message);
        let signature = self.sign_message(alg, message, &digest)?;
        verify_signed_digest(
            leaf.tbs_certificate().subject_public_key_info(),
            alg,
            &digest,
            &signature,
        )
        .map_err(|_| Error::Crypto(CryptoError::KeyCertificateMismatch))
    }

    /// The label of the token the key is on.
    pub fn token_label(&self) -> &str {
        &self.token_label
    }

    /// Whether the key asks for the PIN before every signature (`CKA_ALWAYS_AUTHENTICATE`).
    pub fn always_authenticate(&self) -> bool {
        self.always_authenticate
    }

    /// Opens a new session on the token (found again by serial number: it may be in another
    /// slot now), logs in and finds the key again.
    fn reopen(&self) -> Result<()> {
        match self
            .ctx
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(token_err(format!("re-initialising the module: {e}"))),
        }
        let (slot, _, _) = find_slot(&self.ctx, &self.reopen_token)?;
        let session = self
            .ctx
            .open_ro_session(slot)
            .map_err(ck_err("opening a new session"))?;
        if let Some(pin) = &self.pin {
            login(&session, pin, &self.token_label)?;
        }
        let key = find_key(&session, &self.key_selector)?;
        *self.live.borrow_mut() = Live { session, key };
        Ok(())
    }

    /// Runs `op` with the session and key; if the session turns out to be lost, opens a new
    /// one once and runs `op` again.
    fn with_session<T>(
        &self,
        op: impl Fn(&Session, ObjectHandle) -> std::result::Result<T, CkError>,
    ) -> Result<T> {
        let first = {
            let live = self.live.borrow();
            op(&live.session, live.key)
        };
        let result = match first {
            Err(e) if session_lost(&e) => {
                self.reopen()?;
                let live = self.live.borrow();
                op(&live.session, live.key)
            }
            other => other,
        };
        result.map_err(|e| match e {
            CkError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, Function::Login) => {
                Error::Crypto(CryptoError::Authentication(format!(
                    "wrong PIN for the key on token {:?} (asked again before each signature)",
                    self.token_label
                )))
            }
            CkError::Pkcs11(RvError::PinLocked, _) => {
                Error::Crypto(CryptoError::Authentication(format!(
                    "the user PIN of token {:?} is locked; the security officer must unlock it",
                    self.token_label
                )))
            }
            e => Error::Crypto(CryptoError::Sign(format!(
                "token {:?}: {e}",
                self.token_label
            ))),
        })
    }

    /// Signs with a key that needs the PIN before every signature: `C_SignInit` with the
    /// hash-and-sign mechanism for `alg`, `C_Login(CKU_CONTEXT_SPECIFIC)`, then the message.
    fn sign_reauthenticated(&self, alg: DigestAlgorithm, message: &[u8]) -> Result<Vec<u8>> {
        let pin = self.pin.as_ref().ok_or_else(|| {
            Error::Crypto(CryptoError::Authentication(format!(
                "the key on token {:?} asks for the PIN before every signature and none was \
                 given",
                self.token_label
            )))
        })?;
        let mechanism = match (self.algorithm, alg) {
            (SignatureAlgorithm::RsaPkcs1v15, DigestAlgorithm::Sha1) => Mechanism::Sha1RsaPkcs,
            (SignatureAlgorithm::RsaPkcs1v15, DigestAlgorithm::Sha256) => Mechanism::Sha256RsaPkcs,
            (SignatureAlgorithm::RsaPkcs1v15, DigestAlgorithm::Sha384) => Mechanism::Sha384RsaPkcs,
            (SignatureAlgorithm::RsaPkcs1v15, DigestAlgorithm::Sha512) => Mechanism::Sha512RsaPkcs,
            (_, DigestAlgorithm::Sha1) => Mechanism::EcdsaSha1,
            (_, DigestAlgorithm::Sha256) => Mechanism::EcdsaSha256,
            (_, DigestAlgorithm::Sha384) => Mechanism::EcdsaSha384,
            (_, DigestAlgorithm::Sha512) => Mechanism::EcdsaSha512,
            (_, other) => {
                return Err(CryptoError::UnsupportedAlgorithm(format!(
                    "{other} is accepted for verification only"
                ))
                .into())
            }
        };
        let auth = AuthPin::from(pin.expose().to_string());
        let signature = self.with_session(|session, key| {
            session.sign_init(&mechanism, key)?;
            session.login(UserType::ContextSpecific, Some(&auth))?;
            session.sign_update(message)?;
            session.sign_final()
        })?;
        match self.algorithm {
            SignatureAlgorithm::RsaPkcs1v15 => Ok(signature),
            SignatureAlgorithm::EcdsaP256 => ecdsa_raw_to_der(KeyKind::P256, &signature),
            SignatureAlgorithm::EcdsaP384 => ecdsa_raw_to_der(KeyKind::P384, &signature),
        }
    }
}

/// Whether `e` means the session is gone (closed, the module finalised, the token removed)
/// or has lost its login, so that a new session may succeed.
fn session_lost(e: &CkError) -> bool {
    matches!(
        e,
        CkError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::CryptokiNotInitialized
                | RvError::UserNotLoggedIn,
            _
        )
    )
}

impl Signer for Pkcs11Signer {
    fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn sign_digest(&self, alg: DigestAlgorithm, digest: &[u8]) -> Result<Vec<u8>> {
        super::check_digest_length(alg, digest)?;
        if self.always_authenticate {
            return Err(token_err(format!(
                "the key on token {:?} asks for the PIN before every signature \
                 (CKA_ALWAYS_AUTHENTICATE): it signs messages with the token's hash-and-sign \
                 mechanisms (Signer::sign_message, as signing files does), not bare digests",
                self.token_label
            )));
        }
        match self.algorithm {
            SignatureAlgorithm::RsaPkcs1v15 => {
                let mut digest_info = digest_info_prefix(alg).to_vec();
                digest_info.extend_from_slice(digest);
                self.with_session(|session, key| {
                    session.sign(&Mechanism::RsaPkcs, key, &digest_info)
                })
            }
            SignatureAlgorithm::EcdsaP256 | SignatureAlgorithm::EcdsaP384 => {
                let raw =
                    self.with_session(|session, key| session.sign(&Mechanism::Ecdsa, key, digest))?;
                let kind = if self.algorithm == SignatureAlgorithm::EcdsaP256 {
                    KeyKind::P256
                } else {
                    KeyKind::P384
                };
                ecdsa_raw_to_der(kind, &raw)
            }
        }
    }

    fn sign_message(&self, alg: DigestAlgorithm, message: &[u8], digest: &[u8]) -> Result<Vec<u8>> {
        super::check_digest_length(alg, digest)?;
        if self.always_authenticate {
            self.sign_reauthenticated(alg, message)
        } else {
            self.sign_digest(alg, digest)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ecdsa_to_der_rejects_wrong_lengths() {
        assert!(ecdsa_raw_to_der(KeyKind::P256, &[1; 63]).is_err());
        assert!(ecdsa_raw_to_der(KeyKind::P256, &[0; 64]).is_err());
        let der = ecdsa_raw_to_der(KeyKind::P256, &[1; 64]).unwrap_or_default();
        assert_eq!(der.first(), Some(&0x30));
    }

    #[test]
    fn strip_zeros_keeps_value() {
        assert_eq!(strip_zeros(&[0, 0, 1, 0]), &[1, 0]);
        assert_eq!(strip_zeros(&[0, 0]), &[] as &[u8]);
    }

    #[test]
    fn missing_module_is_a_token_error() {
        let e = Pkcs11Signer::open(Pkcs11Options {
            module: "/nonexistent/libnothing.so".into(),
            token: TokenSelector::Only,
            key: KeySelector::Label("k".into()),
            pin: None,
            certificates: None,
        });
        assert!(
            matches!(&e, Err(Error::Crypto(CryptoError::Token(m))) if m.contains("cannot load")),
            "{e:?}"
        );
    }
}
