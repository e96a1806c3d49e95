//! Certificate path building and the checks Authenticode needs: signatures, validity at a
//! given time, CA constraints on issuers, and the codeSigning extended key usage on the leaf.
//!
//! Names are compared as decoded DER (`Name` equality), issuers are confirmed by verifying
//! the signature, and the path stops at the first certificate that is (or is issued by) a
//! trust anchor.
//!
//! Certificates are checked over their TBSCertificate *as encoded* ([`Cert`] keeps the
//! original bytes next to the decoded certificate): re-encoding would change certificates
//! that are not strict DER or that encode a date before 2050 as GeneralizedTime. The public
//! functions taking bare [`Certificate`]s re-encode, which is exact for DER certificates.

use std::fmt;
use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use der::DateTime;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

use super::policy::{Policy, RuleMode};
pub use crate::certs::Cert;
use crate::crypto::{parse_signature_algorithm, verify_signature};
use crate::digest::DigestAlgorithm;

/// Most certificates a path may hold, leaf and anchor included.
pub const MAX_CHAIN_DEPTH: usize = 8;

/// `id-kp-codeSigning` (1.3.6.1.5.5.7.3.3).
pub const CODE_SIGNING_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");
/// `id-kp-timeStamping` (1.3.6.1.5.5.7.3.8): required on time-stamping authority certificates.
pub const TIME_STAMPING_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
/// Microsoft lifetime signing (1.3.6.1.4.1.311.10.3.13): signatures expire with the
/// certificate, even when timestamped.
pub const LIFETIME_SIGNING_EKU: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.10.3.13");
/// `anyExtendedKeyUsage` (2.5.29.37.0): accepted on issuing CAs, not on the leaf.
pub const ANY_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");

/// One problem found while building or checking a certificate path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The path ends at a self-signed certificate that is not a trust anchor.
    #[error("untrusted root: {subject}")]
    UntrustedRoot {
        /// Subject of the root.
        subject: String,
    },
    /// No certificate in the pool or the anchors is named as this certificate's issuer.
    #[error("issuer {issuer} of {subject} not found")]
    IssuerNotFound {
        /// Subject of the certificate whose issuer is missing.
        subject: String,
        /// The issuer name it carries.
        issuer: String,
    },
    /// The certificate's signature does not verify with its issuer's key.
    #[error("bad signature on {subject}: {reason}")]
    BadSignature {
        /// Subject of the certificate.
        subject: String,
        /// Why verification failed.
        reason: String,
    },
    /// The certificate had expired at the verification time.
    #[error("{subject} expired (valid {not_before} to {not_after})")]
    Expired {
        /// Subject of the certificate.
        subject: String,
        /// Start of validity.
        not_before: DateTime,
        /// End of validity.
        not_after: DateTime,
    },
    /// The certificate was not yet valid at the verification time.
    #[error("{subject} not yet valid (valid {not_before} to {not_after})")]
    NotYetValid {
        /// Subject of the certificate.
        subject: String,
        /// Start of validity.
        not_before: DateTime,
        /// End of validity.
        not_after: DateTime,
    },
    /// An issuing certificate lacks basicConstraints CA:true (or keyCertSign key usage).
    #[error("{subject} issues certificates but is not a CA ({reason})")]
    NotCa {
        /// Subject of the issuing certificate.
        subject: String,
        /// What is missing.
        reason: String,
    },
    /// An issuing CA's pathLenConstraint is exceeded.
    #[error("path length constraint of {subject} exceeded")]
    PathLengthExceeded {
        /// Subject of the constraining CA.
        subject: String,
    },
    /// The leaf (or an intermediate) has an extended key usage extension without codeSigning.
    #[error("{subject} is not valid for code signing (extended key usage lacks codeSigning)")]
    MissingCodeSigningEku {
        /// Subject of the certificate.
        subject: String,
    },
    /// A certificate of the path has an extended key usage extension without the usage the
    /// path is built for (other than codeSigning, see [`ChainError::MissingCodeSigningEku`]).
    #[error("{subject} is not valid for {usage} (extended key usage lacks it)")]
    MissingExtendedKeyUsage {
        /// Subject of the certificate.
        subject: String,
        /// The required usage, e.g. `1.3.6.1.5.5.7.3.8` (timeStamping).
        usage: ObjectIdentifier,
    },
    /// The leaf has a key usage extension without digitalSignature.
    #[error("{subject} key usage does not allow digitalSignature")]
    KeyUsage {
        /// Subject of the certificate.
        subject: String,
    },
    /// An extension could not be decoded.
    #[error("{subject}: malformed {what}")]
    Malformed {
        /// Subject of the certificate.
        subject: String,
        /// What could not be decoded.
        what: String,
    },
    /// The path is longer than [`MAX_CHAIN_DEPTH`].
    #[error("certificate path longer than {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A certificate of the path is signed with MD5 or SHA-1.
    #[error("{subject} is signed with {algorithm}, a weak algorithm")]
    WeakSignatureAlgorithm {
        /// Subject of the certificate.
        subject: String,
        /// The digest of its signature algorithm.
        algorithm: DigestAlgorithm,
    },
    /// The certificate is revoked, and no valid timestamp shows the signature predates it.
    #[error("{subject} is revoked{}{}", revoked_on(.revoked_at), reason_suffix(.reason))]
    Revoked {
        /// Subject of the certificate.
        subject: String,
        /// The revocation time, when the CRL or OCSP answer gives one.
        revoked_at: Option<SystemTime>,
        /// The CRL reason, if given (e.g. `keyCompromise`).
        reason: Option<String>,
    },
    /// The certificate was revoked after the time a valid timestamp vouches for: the
    /// signature stays valid, as Windows treats it.
    #[error("{subject} was revoked{} after the timestamp ({}): the signature predates it", revoked_on(&Some(*.revoked_at)), crate::verify::rfc3339(*.timestamp))]
    RevokedAfterTimestamp {
        /// Subject of the certificate.
        subject: String,
        /// The revocation time.
        revoked_at: SystemTime,
        /// The timestamp's time.
        timestamp: SystemTime,
    },
    /// The revocation status could not be learnt.
    #[error("revocation status of {subject} unknown: {reason}")]
    RevocationUnknown {
        /// Subject of the certificate.
        subject: String,
        /// Why (no source, unreachable, bad answer).
        reason: String,
    },
}

fn revoked_on(at: &Option<SystemTime>) -> String {
    at.map(|t| format!(" on {}", crate::verify::rfc3339(t)))
        .unwrap_or_default()
}

fn reason_suffix(reason: &Option<String>) -> String {
    reason
        .as_ref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default()
}

impl ChainError {
    /// The stable reason code of this problem.
    pub fn code(&self) -> &'static str {
        match self {
            ChainError::UntrustedRoot { .. } => "untrusted-root",
            ChainError::IssuerNotFound { .. } => "issuer-not-found",
            ChainError::BadSignature { .. } => "bad-certificate-signature",
            ChainError::Expired { .. } => "expired",
            ChainError::NotYetValid { .. } => "not-yet-valid",
            ChainError::NotCa { .. } => "not-a-ca",
            ChainError::PathLengthExceeded { .. } => "path-length-exceeded",
            ChainError::MissingCodeSigningEku { .. }
            | ChainError::MissingExtendedKeyUsage { .. } => "missing-eku",
            ChainError::KeyUsage { .. } => "key-usage",
            ChainError::Malformed { .. } => "malformed-certificate",
            ChainError::TooDeep { .. } => "chain-too-deep",
            ChainError::WeakSignatureAlgorithm { .. } => "weak-algorithm",
            ChainError::Revoked { .. } => "revoked",
            ChainError::RevokedAfterTimestamp { .. } => "revoked-after-timestamp",
            ChainError::RevocationUnknown { .. } => "revocation-unknown",
        }
    }

    /// How `policy` counts this problem.
    pub fn mode(&self, policy: &Policy) -> RuleMode {
        match self {
            ChainError::KeyUsage { .. } => policy.key_usage,
            ChainError::WeakSignatureAlgorithm { .. } => policy.weak_algorithms,
            ChainError::RevokedAfterTimestamp { .. } => RuleMode::Warn,
            ChainError::RevocationUnknown { .. } => {
                crate::verify::problem::unknown_revocation_mode(policy.revocation)
            }
            _ => RuleMode::Error,
        }
    }

    /// Whether this problem only says the path does not reach a trust anchor.
    pub fn is_trust_problem(&self) -> bool {
        matches!(
            self,
            ChainError::UntrustedRoot { .. } | ChainError::IssuerNotFound { .. }
        )
    }
}

/// Every problem found for one path (never empty), with the path as far as it was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainErrors {
    /// The problems, in path order (leaf first).
    pub errors: Vec<ChainError>,
    /// The path built, leaf first; it may stop short of an anchor.
    pub path: Vec<Certificate>,
}

impl ChainErrors {
    /// The first problem.
    pub fn first(&self) -> Option<&ChainError> {
        self.errors.first()
    }
}

impl fmt::Display for ChainErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ChainErrors {}

impl From<ChainErrors> for crate::error::Error {
    fn from(e: ChainErrors) -> Self {
        crate::error::Error::Verify(crate::error::VerifyError::Other(e.to_string()))
    }
}

fn subject(cert: &Certificate) -> String {
    cert.tbs_certificate().subject().to_string()
}

fn is_self_issued(cert: &Certificate) -> bool {
    cert.tbs_certificate().subject() == cert.tbs_certificate().issuer()
}

/// Checks `cert`'s signature with `issuer`'s public key.
pub fn verify_certificate_signature(
    cert: &Certificate,
    issuer: &Certificate,
) -> Result<(), ChainError> {
    check_signature(&Cert::from_certificate(cert), issuer)
}

fn check_signature(cert: &Cert, issuer: &Certificate) -> Result<(), ChainError> {
    let bad = |reason: String| ChainError::BadSignature {
        subject: subject(&cert.x509),
        reason,
    };
    let x509 = &cert.x509;
    if x509.signature_algorithm() != x509.tbs_certificate().signature() {
        return Err(bad(
            "outer and inner signature algorithms differ".to_string()
        ));
    }
    if cert.tbs().is_empty() {
        return Err(bad("cannot encode TBSCertificate".to_string()));
    }
    let signature = x509
        .signature()
        .as_bytes()
        .ok_or_else(|| bad("signature BIT STRING has unused bits".to_string()))?;
    verify_signature(
        issuer.tbs_certificate().subject_public_key_info(),
        x509.signature_algorithm(),
        cert.tbs(),
        signature,
    )
    .map_err(|e| bad(e.to_string()))
}

/// The weak digest (MD5, SHA-1) of `cert`'s signature algorithm, if it uses one.
fn weak_signature_digest(cert: &Certificate) -> Option<DigestAlgorithm> {
    parse_signature_algorithm(&cert.signature_algorithm().oid)
        .ok()
        .and_then(|(_, digest)| digest)
        .filter(|d| d.is_weak())
}

/// The certificate in `pool` with this issuer and serial number (a SignerInfo's
/// `issuerAndSerialNumber`).
pub fn find_certificate<'a>(
    pool: &'a [Certificate],
    issuer: &Name,
    serial: &SerialNumber,
) -> Option<&'a Certificate> {
    pool.iter().find(|c| {
        c.tbs_certificate().issuer() == issuer && c.tbs_certificate().serial_number() == serial
    })
}

/// The certificate in `pool` whose subjectKeyIdentifier is `ski` (a SignerInfo's
/// `subjectKeyIdentifier` choice).
pub fn find_certificate_by_key_id<'a>(
    pool: &'a [Certificate],
    ski: &[u8],
) -> Option<&'a Certificate> {
    pool.iter().find(|c| {
        matches!(
            c.tbs_certificate().get_extension::<SubjectKeyIdentifier>(),
            Ok(Some((_, id))) if id.0.as_bytes() == ski
        )
    })
}

fn check_validity(cert: &Certificate, at: SystemTime, errors: &mut Vec<ChainError>) {
    let validity = cert.tbs_certificate().validity();
    let not_before = validity.not_before.to_date_time();
    let not_after = validity.not_after.to_date_time();
    if at < not_before.to_system_time() {
        errors.push(ChainError::NotYetValid {
            subject: subject(cert),
            not_before,
            not_after,
        });
    } else if at > not_after.to_system_time() {
        errors.push(ChainError::Expired {
            subject: subject(cert),
            not_before,
            not_after,
        });
    }
}

/// CA checks of an issuing certificate that is not a trust anchor: CA:true, keyCertSign if
/// keyUsage is present, pathLenConstraint (with `below` non-self-issued intermediates under it).
fn check_ca_extensions(cert: &Certificate, below: usize, errors: &mut Vec<ChainError>) {
    // (Called for anchors only when they carry basicConstraints.)
    let tbs = cert.tbs_certificate();
    let malformed = |what: &str| ChainError::Malformed {
        subject: subject(cert),
        what: what.to_string(),
    };
    match tbs.get_extension::<BasicConstraints>() {
        Ok(Some((_, bc))) if bc.ca => {
            if let Some(max) = bc.path_len_constraint {
                if below > usize::from(max) {
                    errors.push(ChainError::PathLengthExceeded {
                        subject: subject(cert),
                    });
                }
            }
        }
        Ok(Some(_)) => errors.push(ChainError::NotCa {
            subject: subject(cert),
            reason: "basicConstraints CA:false".into(),
        }),
        Ok(None) => errors.push(ChainError::NotCa {
            subject: subject(cert),
            reason: "no basicConstraints extension".into(),
        }),
        Err(_) => errors.push(malformed("basicConstraints")),
    }
    match tbs.get_extension::<KeyUsage>() {
        Ok(Some((_, ku))) if !ku.key_cert_sign() => errors.push(ChainError::NotCa {
            subject: subject(cert),
            reason: "key usage lacks keyCertSign".into(),
        }),
        Ok(_) => {}
        Err(_) => errors.push(malformed("keyUsage")),
    }
}

/// Issuer checks: the CA extensions (not for the trust anchor, see below) and EKU nesting.
fn check_issuer(
    cert: &Certificate,
    below: usize,
    anchor: bool,
    usage: ObjectIdentifier,
    errors: &mut Vec<ChainError>,
) {
    let tbs = cert.tbs_certificate();
    let malformed = |what: &str| ChainError::Malformed {
        subject: subject(cert),
        what: what.to_string(),
    };
    // A trust anchor is an input of path validation rather than a certificate of the path
    // (RFC 5280 §6.1.1 (d)): it is trusted as configured, so an anchor without
    // basicConstraints, such as Microsoft's 1997 "Microsoft Root Authority" (a version 3
    // certificate that Windows trusts), is accepted. Constraints an anchor does state
    // (basicConstraints with a path length, an extended key usage) still apply, as they do on
    // Windows.
    let stated = matches!(tbs.get_extension::<BasicConstraints>(), Ok(Some(_)));
    if !anchor || stated {
        check_ca_extensions(cert, below, errors);
    }
    match tbs.get_extension::<ExtendedKeyUsage>() {
        Ok(Some((_, eku))) if !eku.0.iter().any(|o| *o == usage || *o == ANY_EKU) => {
            errors.push(missing_eku(cert, usage))
        }
        Ok(_) => {}
        Err(_) => errors.push(malformed("extendedKeyUsage")),
    }
}

pub use crate::certs::has_extended_key_usage;

fn missing_eku(cert: &Certificate, usage: ObjectIdentifier) -> ChainError {
    if usage == CODE_SIGNING_EKU {
        ChainError::MissingCodeSigningEku {
            subject: subject(cert),
        }
    } else {
        ChainError::MissingExtendedKeyUsage {
            subject: subject(cert),
            usage,
        }
    }
}

/// Leaf checks: codeSigning EKU when an EKU extension is present, digitalSignature when a
/// keyUsage extension is present.
fn check_leaf(cert: &Certificate, usage: ObjectIdentifier, errors: &mut Vec<ChainError>) {
    let tbs = cert.tbs_certificate();
    match tbs.get_extension::<ExtendedKeyUsage>() {
        Ok(Some((_, eku))) if !eku.0.contains(&usage) => errors.push(missing_eku(cert, usage)),
        Ok(_) => {}
        Err(_) => errors.push(ChainError::Malformed {
            subject: subject(cert),
            what: "extendedKeyUsage".into(),
        }),
    }
    match tbs.get_extension::<KeyUsage>() {
        Ok(Some((_, ku))) if !ku.digital_signature() => errors.push(ChainError::KeyUsage {
            subject: subject(cert),
        }),
        Ok(_) => {}
        Err(_) => errors.push(ChainError::Malformed {
            subject: subject(cert),
            what: "keyUsage".into(),
        }),
    }
}

/// Builds and checks the code-signing path from `leaf` to one of `anchors`.
///
/// `pool` holds candidate intermediates (typically the SignedData certificates) in any order;
/// unrelated certificates are ignored. Each step picks an issuer by name whose key verifies the
/// signature, preferring anchors. Then every certificate is checked for validity at `at`, each
/// issuer for CA:true / keyCertSign / pathLenConstraint, and the leaf for the codeSigning EKU.
/// On success the path is returned leaf first, ending with the anchor. On failure every problem
/// found is returned with the partial path. Every finding counts here, the keyUsage and weak
/// algorithm ones included; the [`Verifier`](crate::verify::Verifier) weighs them by its
/// policy.
pub fn build_chain(
    leaf: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
    at: SystemTime,
) -> Result<Vec<Certificate>, ChainErrors> {
    build_chain_for_usage(leaf, pool, anchors, at, CODE_SIGNING_EKU)
}

/// [`build_chain`] for another extended key usage: the leaf must list `usage` when it has an
/// EKU extension, and issuing CAs with an EKU extension must list it (or anyExtendedKeyUsage).
/// Time-stamping authorities are checked with [`TIME_STAMPING_EKU`]. Note that, as for
/// codeSigning, a leaf *without* any EKU extension passes here; callers that require the
/// usage to be present (RFC 3161 does for TSAs) check that themselves.
pub fn build_chain_for_usage(
    leaf: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
    at: SystemTime,
    usage: ObjectIdentifier,
) -> Result<Vec<Certificate>, ChainErrors> {
    let pool: Vec<Cert> = pool.iter().map(Cert::from_certificate).collect();
    let built = build_path(&Cert::from_certificate(leaf), &pool, anchors, at, usage);
    let path = built.path.into_iter().map(|c| c.x509).collect();
    if built.findings.is_empty() {
        Ok(path)
    } else {
        Err(ChainErrors {
            errors: built.findings,
            path,
        })
    }
}

/// A path as built by [`build_path`]: the certificates (leaf first), whether it ends at a
/// trust anchor, and every finding.
#[derive(Debug, Clone)]
pub(crate) struct Path {
    /// The path, leaf first; it may stop short of an anchor.
    pub path: Vec<Cert>,
    /// Whether the last certificate is (or is issued by) a trust anchor.
    pub trusted: bool,
    /// Every problem found, in path order; weighed by the caller's policy.
    pub findings: Vec<ChainError>,
}

/// Build and check the path from `leaf` to `anchors` for `usage` (see [`build_chain`]).
pub(crate) fn build_path(
    leaf: &Cert,
    pool: &[Cert],
    anchors: &[Certificate],
    at: SystemTime,
    usage: ObjectIdentifier,
) -> Path {
    let mut errors = Vec::new();
    let mut path: Vec<Cert> = vec![leaf.clone()];
    let mut trusted = anchors.contains(&leaf.x509);
    let anchors: Vec<Cert> = anchors.iter().map(Cert::from_certificate).collect();

    while !trusted {
        let Some(current) = path.last() else { break };
        if path.len() >= MAX_CHAIN_DEPTH {
            errors.push(ChainError::TooDeep {
                max: MAX_CHAIN_DEPTH,
            });
            break;
        }
        let issuer_name = current.x509.tbs_certificate().issuer();
        let candidates = anchors
            .iter()
            .map(|c| (c, true))
            .chain(pool.iter().map(|c| (c, false)))
            .filter(|(c, _)| c.x509.tbs_certificate().subject() == issuer_name)
            .filter(|(c, _)| !path.iter().any(|p| p.x509 == c.x509));
        let mut first_failure = None;
        let mut found = None;
        for (candidate, is_anchor) in candidates {
            match check_signature(current, &candidate.x509) {
                Ok(()) => {
                    found = Some((candidate, is_anchor));
                    break;
                }
                Err(e) => {
                    first_failure.get_or_insert(e);
                }
            }
        }
        match (found, first_failure) {
            (Some((issuer, is_anchor)), _) => {
                if let Some(algorithm) = weak_signature_digest(&current.x509) {
                    errors.push(ChainError::WeakSignatureAlgorithm {
                        subject: subject(&current.x509),
                        algorithm,
                    });
                }
                trusted = is_anchor;
                path.push(issuer.clone());
            }
            (None, Some(bad)) => {
                errors.push(bad);
                break;
            }
            (None, None) => {
                if is_self_issued(&current.x509) {
                    errors.push(ChainError::UntrustedRoot {
                        subject: subject(&current.x509),
                    });
                } else {
                    errors.push(ChainError::IssuerNotFound {
                        subject: subject(&current.x509),
                        issuer: issuer_name.to_string(),
                    });
                }
                break;
            }
        }
    }

    // Checks along the path, leaf first.
    let last = path.len().saturating_sub(1);
    let mut intermediates_below = 0usize;
    for (i, cert) in path.iter().enumerate() {
        let cert = &cert.x509;
        check_validity(cert, at, &mut errors);
        if i == 0 {
            check_leaf(cert, usage, &mut errors);
        } else {
            check_issuer(
                cert,
                intermediates_below,
                trusted && i == last,
                usage,
                &mut errors,
            );
            if !is_self_issued(cert) {
                intermediates_below += 1;
            }
        }
    }
    Path {
        path,
        trusted,
        findings: errors,
    }
}
