//! [`Policy`]: what a signature must satisfy to be valid, with two presets.
//!
//! [`Policy::windows`] (the default) follows what `WinVerifyTrust` with the Authenticode
//! policy provider does; [`Policy::strict`] takes every rule at its strictest. Each difference
//! between them is one field here and one row of the table in the manual
//! (`authsign::manual`, "Verification policy"), with the source of the Windows behaviour.

use std::time::{Duration, SystemTime};

use x509_cert::Certificate;

/// How a rule's findings count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum RuleMode {
    /// A finding makes the signature (or file) invalid.
    Error,
    /// A finding is reported as a warning; the verdict does not change.
    Warn,
    /// The rule is not checked.
    Off,
}

/// Which signatures decide the verdict on a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureSelection {
    /// The primary signature decides (the first signature of the first certificate-table
    /// entry, or the only embedded one): what `WinVerifyTrust` checks unless told to verify a
    /// specific secondary signature. Problems of the others are reported as warnings.
    Primary,
    /// Every signature (every certificate-table entry and every nested signature) must be
    /// valid.
    All,
}

/// Whether and how certificates are checked for revocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum RevocationMode {
    /// Only the CRLs given in [`Policy::crls`] are consulted; nothing is fetched. A
    /// certificate that no given CRL covers is not checked.
    #[default]
    Offline,
    /// The given CRLs, then (feature `http`) OCSP responders and CRL distribution points named
    /// in the certificates. A status that cannot be learnt is a `revocation-unknown` warning.
    Soft,
    /// Like [`Soft`](Self::Soft), but a status that cannot be learnt is an error.
    Hard,
}

impl std::str::FromStr for RevocationMode {
    type Err = crate::Error;

    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "offline" => Ok(Self::Offline),
            "soft" => Ok(Self::Soft),
            "hard" => Ok(Self::Hard),
            _ => Err(crate::Error::InvalidArgument(format!(
                "revocation mode {s:?} (expected offline, soft or hard)"
            ))),
        }
    }
}

/// What a signature must satisfy to be valid. Build one with [`Policy::windows`] or
/// [`Policy::strict`] and the `with_*` methods:
///
/// ```
/// use authsign::verify::{Policy, RevocationMode};
/// let policy = Policy::strict()
///     .with_time(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000))
///     .with_revocation(RevocationMode::Offline);
/// assert!(policy.trusted.is_empty());
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Policy {
    /// Trust anchors: a chain must end at (or be issued by) one of these.
    pub trusted: Vec<Certificate>,
    /// Extra trust anchors for timestamp authorities (the `trusted` anchors count too).
    pub tsa_trusted: Vec<Certificate>,
    /// The verification time: certificates must be valid then when a signature has no valid
    /// timestamp; now when `None`.
    pub time: Option<SystemTime>,
    /// Which signatures decide the verdict. Windows: [`SignatureSelection::Primary`].
    pub signatures: SignatureSelection,
    /// MD5 and SHA-1, in file digests, signatures, certificates and timestamps. Windows
    /// accepts both in Authenticode ([`RuleMode::Warn`]); strict: [`RuleMode::Error`].
    pub weak_algorithms: RuleMode,
    /// The keyUsage extension of the signer and TSA certificates (digitalSignature when the
    /// extension is present). Windows' Authenticode policy checks the extended key usage, not
    /// this ([`RuleMode::Warn`]); strict: [`RuleMode::Error`].
    pub key_usage: RuleMode,
    /// The CVE-2013-3900 check: bytes after the PKCS#7 inside a PE certificate-table entry.
    /// Opt-in on Windows (`EnableCertPaddingCheck`), so [`RuleMode::Warn`]; strict:
    /// [`RuleMode::Error`].
    pub padding_check: RuleMode,
    /// Accept RSA signatures of legacy timestamp counter-signatures made over the bare digest
    /// (no DigestInfo), as VeriSign's and Symantec's timestamp services made them and Windows
    /// accepts. Windows: `true`; strict: `false`.
    pub bare_digest_timestamps: bool,
    /// A package (APPX/MSIX) whose manifest's Publisher is not the signer certificate's
    /// subject: the signature is sound, but Windows will not install the package. Reported as
    /// `publisher-mismatch`; windows: [`RuleMode::Warn`] (the signature itself is valid, as
    /// `WinVerifyTrust` says); strict: [`RuleMode::Error`].
    pub publisher: RuleMode,
    /// Revocation checking.
    pub revocation: RevocationMode,
    /// DER certificate revocation lists to consult (see [`Policy::with_crls`]).
    pub crls: Vec<Vec<u8>>,
    /// Time allowed for one revocation fetch (OCSP or CRL, feature `http`).
    pub revocation_timeout: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self::windows()
    }
}

impl Policy {
    /// The rules `WinVerifyTrust` applies to Authenticode signatures (see the manual for each
    /// rule and its source), with no trust anchors yet.
    pub fn windows() -> Self {
        Self {
            trusted: Vec::new(),
            tsa_trusted: Vec::new(),
            time: None,
            signatures: SignatureSelection::Primary,
            weak_algorithms: RuleMode::Warn,
            key_usage: RuleMode::Warn,
            padding_check: RuleMode::Warn,
            bare_digest_timestamps: true,
            publisher: RuleMode::Warn,
            revocation: RevocationMode::Offline,
            crls: Vec::new(),
            revocation_timeout: Duration::from_secs(10),
        }
    }

    /// Every rule at its strictest: every signature must be valid, MD5 and SHA-1 fail,
    /// keyUsage is enforced when present, the padding check is on, timestamp signatures
    /// must carry a DigestInfo, and a package's Publisher must be its signer.
    pub fn strict() -> Self {
        Self {
            signatures: SignatureSelection::All,
            weak_algorithms: RuleMode::Error,
            key_usage: RuleMode::Error,
            padding_check: RuleMode::Error,
            bare_digest_timestamps: false,
            publisher: RuleMode::Error,
            ..Self::windows()
        }
    }

    /// [`Policy::windows`] trusting `anchors`.
    pub fn with_trusted(anchors: Vec<Certificate>) -> Self {
        Self::windows().trusting(anchors)
    }

    /// Add trust anchors.
    pub fn trusting(mut self, anchors: impl IntoIterator<Item = Certificate>) -> Self {
        self.trusted.extend(anchors);
        self
    }

    /// Add trust anchors for timestamp authorities only.
    pub fn trusting_tsa(mut self, anchors: impl IntoIterator<Item = Certificate>) -> Self {
        self.tsa_trusted.extend(anchors);
        self
    }

    /// Verify as if it were `time` (certificates without a valid timestamp must be valid
    /// then).
    pub fn with_time(mut self, time: SystemTime) -> Self {
        self.time = Some(time);
        self
    }

    /// Set the revocation mode.
    pub fn with_revocation(mut self, mode: RevocationMode) -> Self {
        self.revocation = mode;
        self
    }

    /// Add CRLs (each DER or PEM `X509 CRL` blocks) to consult. An undecodable CRL is an error
    /// here rather than a silent gap in revocation checking.
    pub fn with_crls<I, B>(mut self, crls: I) -> crate::Result<Self>
    where
        I: IntoIterator<Item = B>,
        B: AsRef<[u8]>,
    {
        for crl in crls {
            self.crls
                .extend(super::revocation::crls_from_bytes(crl.as_ref())?);
        }
        Ok(self)
    }

    /// Set which signatures decide the verdict.
    pub fn with_signatures(mut self, selection: SignatureSelection) -> Self {
        self.signatures = selection;
        self
    }

    /// Set how weak algorithms (MD5, SHA-1) count.
    pub fn with_weak_algorithms(mut self, mode: RuleMode) -> Self {
        self.weak_algorithms = mode;
        self
    }

    /// The time to verify at: [`Policy::time`] or now.
    pub(crate) fn now(&self) -> SystemTime {
        self.time.unwrap_or_else(SystemTime::now)
    }
}
