//! The crate's error type: one `#[non_exhaustive]` [`Error`] whose variants wrap precise,
//! matchable sub-errors that say what went wrong and where.

use std::fmt;

/// The file format an error or a subject refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// A Portable Executable: EXE, DLL, SYS, EFI (PE32 or PE32+).
    Pe,
    /// A Microsoft cabinet.
    Cab,
    /// A Windows Installer database (OLE compound file).
    Msi,
    /// An APPX or MSIX package (a ZIP with `AppxManifest.xml`).
    Appx,
    /// An APPX or MSIX bundle (a ZIP with `AppxMetadata/AppxBundleManifest.xml`).
    AppxBundle,
    /// A Windows catalog (`.cat`): a signed certificate trust list of file hashes.
    Cat,
    /// A CMS / PKCS#7 structure (the signature itself).
    Cms,
    /// An X.509 certificate.
    Certificate,
    /// A private key or certificate file in PEM form.
    Pem,
    /// A format implemented outside the crate (see `authsign::register_format`), by name.
    Other(&'static str),
    /// Script text with an embedded signature block, in this language (see
    /// [`crate::script`]).
    Script(ScriptLanguage),
}

/// The script languages Windows' script SIPs sign, each with its signature-block comment form
/// and SIP: [`crate::script::ScriptLanguage`] has the details (extensions, SIP GUIDs, digest
/// rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ScriptLanguage {
    /// PowerShell scripts, modules and manifests (`.ps1 .psm1 .psd1`): `# SIG #` comment lines.
    PowerShell,
    /// PowerShell XML files (`.ps1xml .psc1 .cdxml`): `<!-- SIG # -->` comment lines.
    PowerShellXml,
    /// MOF files (`.mof`), signed by the PowerShell SIP: `/* SIG # */` comment lines.
    PowerShellMof,
    /// JScript (`.js`), Windows Script Host: `// SIG //` comment lines.
    JScript,
    /// VBScript (`.vbs`), Windows Script Host: `'' SIG ''` comment lines.
    VBScript,
    /// Windows Script Files (`.wsf`): a `<signature>` element before the last `</job>`.
    WindowsScript,
}

impl fmt::Display for ScriptLanguage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScriptLanguage::PowerShell => "PowerShell",
            ScriptLanguage::PowerShellXml => "PowerShell XML",
            ScriptLanguage::PowerShellMof => "MOF",
            ScriptLanguage::JScript => "JScript",
            ScriptLanguage::VBScript => "VBScript",
            ScriptLanguage::WindowsScript => "WSF",
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Format::Script(language) = self {
            return write!(f, "{language} script");
        }
        f.write_str(match self {
            Format::Pe => "PE",
            Format::Cab => "CAB",
            Format::Msi => "MSI",
            Format::Appx => "APPX/MSIX",
            Format::AppxBundle => "APPX/MSIX bundle",
            Format::Cat => "catalog",
            Format::Cms => "PKCS#7",
            Format::Certificate => "X.509 certificate",
            Format::Pem => "PEM",
            Format::Other(name) => name,
            Format::Script(_) => "script",
        })
    }
}

/// What kind of rule malformed input broke (see [`MalformedError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MalformedKind {
    /// A structure runs past the end of the data, or a required part is missing.
    Truncated,
    /// An ASN.1 value has another tag than the structure requires.
    UnexpectedTag,
    /// A size, count or depth exceeds what the format or authsign's bounds allow.
    LimitExceeded,
    /// Bytes follow a structure that should end the data.
    TrailingData,
    /// Parts disagree with each other (overlapping ranges, sizes or offsets that do not add
    /// up, misalignment).
    Inconsistent,
    /// The data is not of the expected format at all (wrong magic, wrong content type).
    WrongFormat,
    /// Text or an encoding (PEM, base64, UTF-16, hex) does not decode.
    BadEncoding,
    /// A field holds a value its format does not allow.
    InvalidValue,
}

/// Input that does not follow its format: which format, where, what kind of rule it broke,
/// and a description of what was found or expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {format} at offset {offset:#x}: {what}")]
pub struct MalformedError {
    /// The format being parsed.
    pub format: Format,
    /// Byte offset (in the file, or in the DER blob for [`Format::Cms`]) where parsing failed.
    pub offset: u64,
    /// The kind of rule broken (for matching).
    pub kind: MalformedKind,
    /// What was found or expected (for people).
    pub what: String,
}

/// A package names a publisher that is not its signer certificate's subject: Windows refuses
/// to install it (signtool refuses to sign it, event 150).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the package's publisher {declared:?} is not the signer certificate's subject {signer:?} \
     (as Windows writes it); Windows will not install the package. Sign with a certificate \
     whose subject is the manifest's Publisher, or allow the mismatch \
     (SubjectOptions::allow_publisher_mismatch, --allow-publisher-mismatch)"
)]
pub struct PublisherMismatch {
    /// The Publisher the package's manifest declares.
    pub declared: String,
    /// The signer certificate's subject, rendered as Windows compares it.
    pub signer: String,
}

/// A cryptographic operation failed or was given unusable material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A private or public key could not be parsed or used.
    #[error("bad key: {0}")]
    Key(String),
    /// The certificate's public key does not match the private key.
    #[error("the private key does not match the signer certificate")]
    KeyCertificateMismatch,
    /// An algorithm (OID or combination) is not supported.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// A signature value could not be produced.
    #[error("signing failed: {0}")]
    Sign(String),
    /// A PIN or password was rejected (wrong PIN, locked PIN, wrong PKCS#12 password).
    #[error("authentication failed: {0}")]
    Authentication(String),
    /// The requested key is not in the key store; `available` names the keys that are.
    #[error("key {wanted} not found; available keys: {}", list_or_none(available))]
    KeyNotFound {
        /// How the key was asked for (e.g. `label "signing"`).
        wanted: String,
        /// The labels (or ids) of the keys that exist.
        available: Vec<String>,
    },
    /// The private key is of another type than the signer certificate's public key.
    #[error("the private key is {key} but the signer certificate holds {certificate}")]
    KeyTypeMismatch {
        /// The private key's type (e.g. `RSA`, `EC P-256`).
        key: String,
        /// The certificate's public key type.
        certificate: String,
    },
    /// A PKCS#11 module or token could not be used (load failure, token not found).
    #[error("PKCS#11: {0}")]
    Token(String),
    /// A cloud key service (AWS KMS, Azure Key Vault, Azure Artifact Signing, Google Cloud
    /// KMS) refused or failed a request.
    #[error(transparent)]
    KeyService(KeyServiceError),
}

/// What kind of failure a cloud key service reported (see [`KeyServiceError`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyServiceErrorKind {
    /// The credentials were missing, refused or expired, or they lack the permission to use
    /// the key (HTTP 401/403, AWS `AccessDeniedException`, `UnrecognizedClientException`...).
    Authentication,
    /// The key (or key version, vault, account, profile) does not exist.
    KeyNotFound,
    /// The key exists but cannot make this signature: it is not a signing key, it is
    /// disabled, or it does not support the digest or algorithm asked for.
    WrongKeyUsage,
    /// The service asked to slow down (HTTP 429, AWS `ThrottlingException`) and the bounded
    /// retries ran out.
    Throttled,
    /// The service failed (HTTP 5xx, a signing operation that failed or timed out) and the
    /// bounded retries ran out.
    Unavailable,
    /// The service could not be reached: DNS, connection, TLS (an untrusted certificate) or
    /// timeout, after the bounded retries.
    Transport,
    /// The service refused the request for another reason (another HTTP 4xx).
    Rejected,
    /// The answer could not be understood (not the documented JSON, bad base64, a
    /// signature that does not verify with the certificate).
    BadResponse,
    /// The configuration is incomplete or inconsistent (no region, no credentials, a
    /// malformed key name or credentials file).
    Configuration,
}

impl KeyServiceErrorKind {
    /// Whether a later retry of the same request may succeed (throttling, server errors,
    /// transport failures).
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            KeyServiceErrorKind::Throttled
                | KeyServiceErrorKind::Unavailable
                | KeyServiceErrorKind::Transport
        )
    }
}

impl fmt::Display for KeyServiceErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyServiceErrorKind::Authentication => "authentication failed",
            KeyServiceErrorKind::KeyNotFound => "key not found",
            KeyServiceErrorKind::WrongKeyUsage => "wrong key usage or algorithm",
            KeyServiceErrorKind::Throttled => "throttled",
            KeyServiceErrorKind::Unavailable => "service unavailable",
            KeyServiceErrorKind::Transport => "cannot reach the service",
            KeyServiceErrorKind::Rejected => "request rejected",
            KeyServiceErrorKind::BadResponse => "unexpected answer",
            KeyServiceErrorKind::Configuration => "configuration",
        })
    }
}

/// A cloud key service refused or failed a request: which service, the kind of failure (to
/// match on), the HTTP status and the service's error code when there was an answer, and the
/// service's message. Never holds a credential: secrets the client knows are replaced by
/// `***` before an error is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service}: {kind}{}: {detail}", status_suffix(*.status, .code))]
pub struct KeyServiceError {
    /// The service (`AWS KMS`, `Azure Key Vault`, `Azure Artifact Signing`, `Google Cloud
    /// KMS`, or the token service of one of them).
    pub service: String,
    /// What kind of failure, for matching.
    pub kind: KeyServiceErrorKind,
    /// The HTTP status of the answer, if there was one.
    pub status: Option<u16>,
    /// The service's error code (`NotFoundException`, `KeyNotFound`, `PERMISSION_DENIED`...),
    /// if it gave one.
    pub code: Option<String>,
    /// What happened, for people (the service's message, or what was expected).
    pub detail: String,
}

fn status_suffix(status: Option<u16>, code: &Option<String>) -> String {
    match (status, code) {
        (Some(s), Some(c)) => format!(" (HTTP {s}, {c})"),
        (Some(s), None) => format!(" (HTTP {s})"),
        (None, Some(c)) => format!(" ({c})"),
        (None, None) => String::new(),
    }
}

impl From<KeyServiceError> for Error {
    fn from(e: KeyServiceError) -> Self {
        Error::Crypto(CryptoError::KeyService(e))
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}

/// What the verifier found wrong with a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The file has no embedded signature.
    #[error("the file is not signed")]
    NotSigned,
    /// The digest of the file does not match the one in the signature.
    #[error("file digest mismatch: signed {signed}, computed {computed}")]
    DigestMismatch {
        /// Hex digest stored in SpcIndirectDataContent.
        signed: String,
        /// Hex digest computed over the file.
        computed: String,
    },
    /// Any other verification failure, with a reason.
    #[error("{0}")]
    Other(String),
}

/// Which timestamp protocol to use (defined here so that [`TimestampError`] can name it;
/// `authsign::timestamp::TimestampKind` is the same type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimestampKind {
    /// RFC 3161 (signtool `/tr`), stored as unsigned attribute 1.3.6.1.4.1.311.3.3.1.
    Rfc3161,
    /// Legacy Authenticode (signtool `/t`), stored as a PKCS#9 counterSignature.
    Legacy,
}

impl fmt::Display for TimestampKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimestampKind::Rfc3161 => "RFC 3161",
            TimestampKind::Legacy => "legacy Authenticode",
        })
    }
}

/// Why a timestamp could not be obtained or attached. Every variant leaves the signature
/// being timestamped unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// No timestamp server URL was configured.
    #[error("no timestamp server URL given")]
    NoUrl,
    /// The server could not be reached or the exchange failed (connection, timeout, I/O).
    #[error("timestamp server {url}: {reason}")]
    Transport {
        /// The server's URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The server answered with an HTTP status other than 200.
    #[error("timestamp server {url} answered HTTP {status}{hint}")]
    HttpStatus {
        /// The server's URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// Extra advice (may be empty), starting with a separator.
        hint: String,
    },
    /// The answer had no body.
    #[error("timestamp server {server} sent an empty answer")]
    EmptyResponse {
        /// The server's URL, or a description of the timestamper.
        server: String,
    },
    /// The answer was larger than the accepted limit.
    #[error("timestamp server {server} sent more than {limit} bytes")]
    ResponseTooLarge {
        /// The server's URL, or a description of the timestamper.
        server: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The answer is of the other timestamp protocol (RFC 3161 vs legacy Authenticode).
    #[error("{}", wrong_protocol_message(.server, *.expected))]
    WrongProtocol {
        /// The server's URL, or a description of the timestamper.
        server: String,
        /// The protocol that was asked for.
        expected: TimestampKind,
    },
    /// The answer could not be decoded.
    #[error("malformed timestamp response: {0}")]
    Malformed(String),
    /// The TSA refused the request (PKIStatus other than granted / grantedWithMods).
    #[error("the timestamp server refused the request: status {status} ({}){}{}", pki_status_name(*.status), text_suffix(.text), failure_suffix(.failure))]
    Rejected {
        /// The PKIStatus value.
        status: u64,
        /// The statusString texts, if any.
        text: Vec<String>,
        /// The names of the PKIFailureInfo bits that were set, if any.
        failure: Vec<String>,
    },
    /// The token's nonce is not the one sent.
    #[error("timestamp nonce mismatch: sent {sent}, received {received}")]
    NonceMismatch {
        /// The nonce sent (hex).
        sent: String,
        /// The nonce received (hex), or "none".
        received: String,
    },
    /// The token's message imprint is not the digest of the signature value.
    #[error("timestamp message imprint mismatch: expected {expected}, received {received}")]
    ImprintMismatch {
        /// Algorithm and hex digest expected.
        expected: String,
        /// Algorithm and hex digest received.
        received: String,
    },
    /// The token's signer certificate is not in the response.
    #[error("the timestamp token's signer certificate is missing from the response")]
    SignerCertificateNotFound,
    /// The token is signed by a certificate without the timeStamping extended key usage.
    #[error("the timestamp is signed by {subject}, whose certificate lacks the timeStamping extended key usage (1.3.6.1.5.5.7.3.8)")]
    NotTimestampingCertificate {
        /// Subject of the signer certificate.
        subject: String,
    },
    /// The token's signature (or its signed attributes) does not verify.
    #[error("the timestamp token's signature does not verify: {0}")]
    BadSignature(String),
    /// The nested signature to timestamp does not exist.
    #[error("no nested signature {index} (the signature has {count})")]
    NoSuchNestedSignature {
        /// The index asked for (0 = first nested signature).
        index: usize,
        /// How many nested signatures there are.
        count: usize,
    },
    /// Every configured server failed; the errors in the order the servers were tried.
    #[error("every timestamp server failed: {}", join_errors(.0))]
    AllFailed(Vec<TimestampError>),
}

fn wrong_protocol_message(server: &str, expected: TimestampKind) -> String {
    match expected {
        TimestampKind::Legacy => format!(
            "timestamp server {server} answered with an RFC 3161 TimeStampResp to a legacy \
             Authenticode request: this looks like an RFC 3161 server; ask it for an RFC 3161 \
             timestamp (signtool /tr) instead of a legacy one (signtool /t)"
        ),
        TimestampKind::Rfc3161 => format!(
            "timestamp server {server} answered with a legacy Authenticode (PKCS#7) response \
             to an RFC 3161 request: this looks like a legacy Authenticode server; ask it for \
             a legacy timestamp (signtool /t) instead of an RFC 3161 one (signtool /tr)"
        ),
    }
}

fn pki_status_name(status: u64) -> &'static str {
    match status {
        0 => "granted",
        1 => "grantedWithMods",
        2 => "rejection",
        3 => "waiting",
        4 => "revocationWarning",
        5 => "revocationNotification",
        _ => "unknown",
    }
}

fn text_suffix(text: &[String]) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(": {}", text.join("; "))
    }
}

fn failure_suffix(failure: &[String]) -> String {
    if failure.is_empty() {
        String::new()
    } else {
        format!(" [failure: {}]", failure.join(", "))
    }
}

fn join_errors(errors: &[TimestampError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is not valid for its format.
    #[error(transparent)]
    Malformed(#[from] MalformedError),
    /// The input is valid but uses something this crate does not implement (a PE ROM image,
    /// an elliptic curve other than P-256/P-384, an encrypted key...), or a feature this build
    /// lacks.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The caller asked for something impossible: a bad option value or combination (an
    /// unknown algorithm name, no timestamp server to timestamp with...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An internal invariant failed: a bug in authsign (please report it).
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// A cryptographic operation failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The [`Signer`](crate::Signer) failed to produce a signature; the signer's own error is
    /// the source (a custom signer returns any error: `Error::Signer(e.into())`).
    #[error("signer: {0}")]
    Signer(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Verification failed.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Timestamping failed.
    #[error(transparent)]
    Timestamp(#[from] TimestampError),
    /// Signing refused: the package's publisher is not the signer (see [`PublisherMismatch`]).
    #[error(transparent)]
    PublisherMismatch(#[from] PublisherMismatch),
    /// A signing service refused a request or could not be used (`authsign::remote`).
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// Reading or writing failed (no file named: see [`Error::File`]).
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// Reading or writing the file at `path` failed.
    #[error("{}: {source}", path.display())]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
}

/// Why a signing service (`authsign::remote`) gave no signature. Nothing is written to the
/// file being signed in any of these cases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The server could not be reached, the TLS handshake failed (for instance an untrusted
    /// server certificate), or the exchange broke off or timed out.
    #[error("signing server {url}: {reason}")]
    Transport {
        /// The URL asked.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The server answered with an error: `status` is the HTTP status (401 unknown or
    /// expired token, 403 outside the client's profiles, 400 a malformed request, 413 too
    /// large, 503 busy), `code` and `message` what it said.
    #[error("signing server {url} refused the request: HTTP {status} ({code}): {message}")]
    Refused {
        /// The URL asked.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The protocol's error code (`unauthorized`, `forbidden`, `bad-request`...).
        code: String,
        /// The server's explanation.
        message: String,
    },
    /// The server's answer is not what the protocol promises: not JSON, another version, a
    /// signature over something else than what was sent, or one that does not verify.
    #[error("signing server {url} sent an unusable answer: {reason}")]
    BadAnswer {
        /// The URL asked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// An [`Error::File`]: `source` happened on the file at `path`.
    pub fn at(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::File {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// This error with `path` named, if it is an I/O error that names no file.
    pub fn with_path(self, path: impl AsRef<std::path::Path>) -> Self {
        match self {
            Error::Io(source) => Error::at(path, source),
            other => other,
        }
    }

    /// A [`Error::Malformed`] for `format` at `offset`.
    pub fn malformed(
        format: Format,
        offset: u64,
        kind: MalformedKind,
        what: impl Into<String>,
    ) -> Self {
        Error::Malformed(MalformedError {
            format,
            offset,
            kind,
            what: what.into(),
        })
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
