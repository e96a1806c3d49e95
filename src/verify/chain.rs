//! Certificate path building and the checks Authenticode needs: signatures, validity at a
//! given time, CA constraints on issuers, and the codeSigning extended key usage on the leaf.
//!
//! Names are compared as decoded DER (`Name` equality), issuers are confirmed by verifying
//! the signature, and the path stops at the first certificate that is (or is issued by) a
//! trust anchor.
//!
//! Limitation: `x509-cert` keeps no original bytes, so the TBSCertificate is re-encoded to
//! check its signature. A certificate that is BER rather than DER, or that encodes a date
//! before 2050 as GeneralizedTime (which `x509-cert` rewrites as UTCTime), fails with
//! [`ChainError::BadSignature`].

use std::fmt;
use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use der::{DateTime, Encode};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::Certificate;

use crate::verify::crypto::verify_signature;

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
    let bad = |reason: String| ChainError::BadSignature {
        subject: subject(cert),
        reason,
    };
    if cert.signature_algorithm() != cert.tbs_certificate().signature() {
        return Err(bad(
            "outer and inner signature algorithms differ".to_string()
        ));
    }
    let tbs = cert
        .tbs_certificate()
        .to_der()
        .map_err(|e| bad(format!("cannot re-encode TBSCertificate: {e}")))?;
    let signature = cert
        .signature()
        .as_bytes()
        .ok_or_else(|| bad("signature BIT STRING has unused bits".to_string()))?;
    verify_signature(
        issuer.tbs_certificate().subject_public_key_info(),
        cert.signature_algorithm(),
        &tbs,
        signature,
    )
    .map_err(|e| bad(e.to_string()))
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

/// Issuer checks: CA:true, keyCertSign if keyUsage is present, pathLenConstraint (with
/// `below` non-self-issued intermediates under it), and EKU nesting.
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
    // A version 1 trust anchor (no extensions at all) is trusted as configured.
    if anchor && tbs.extensions().is_none() {
        return;
    }
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
    match tbs.get_extension::<ExtendedKeyUsage>() {
        Ok(Some((_, eku))) if !eku.0.iter().any(|o| *o == usage || *o == ANY_EKU) => {
            errors.push(missing_eku(cert, usage))
        }
        Ok(_) => {}
        Err(_) => errors.push(malformed("extendedKeyUsage")),
    }
}

/// Whether `cert` has an extended key usage extension that lists `usage`.
pub fn has_extended_key_usage(cert: &Certificate, usage: &ObjectIdentifier) -> bool {
    matches!(
        cert.tbs_certificate().get_extension::<ExtendedKeyUsage>(),
        Ok(Some((_, eku))) if eku.0.contains(usage)
    )
}

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
/// found is returned with the partial path.
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
    let mut errors = Vec::new();
    let mut path: Vec<Certificate> = vec![leaf.clone()];
    let mut trusted = anchors.contains(leaf);

    while !trusted {
        let Some(current) = path.last() else { break };
        if path.len() >= MAX_CHAIN_DEPTH {
            errors.push(ChainError::TooDeep {
                max: MAX_CHAIN_DEPTH,
            });
            break;
        }
        let issuer_name = current.tbs_certificate().issuer();
        let candidates = anchors
            .iter()
            .map(|c| (c, true))
            .chain(pool.iter().map(|c| (c, false)))
            .filter(|(c, _)| c.tbs_certificate().subject() == issuer_name)
            .filter(|(c, _)| !path.contains(c));
        let mut first_failure = None;
        let mut found = None;
        for (candidate, is_anchor) in candidates {
            match verify_certificate_signature(current, candidate) {
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
                trusted = is_anchor;
                path.push(issuer.clone());
            }
            (None, Some(bad)) => {
                errors.push(bad);
                break;
            }
            (None, None) => {
                if is_self_issued(current) {
                    errors.push(ChainError::UntrustedRoot {
                        subject: subject(current),
                    });
                } else {
                    errors.push(ChainError::IssuerNotFound {
                        subject: subject(current),
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

    if errors.is_empty() {
        Ok(path)
    } else {
        Err(ChainErrors { errors, path })
    }
}
