//! Revocation checking of certificate paths: CRLs the caller gives, and (feature `http`, modes
//! `soft` and `hard`) OCSP responders and CRL distribution points named in the certificates.
//!
//! The rule for timestamped signatures is Windows': a certificate revoked *after* the time a
//! valid timestamp vouches for does not invalidate the signature (the signature provably
//! existed before the revocation); revoked before it, or without a timestamp, it does.
//!
//! Fetches are bounded (size, time, and count per [`Verifier`](super::Verifier)) and cached for
//! the verifier's lifetime, so a batch fetches each CRL or OCSP answer once.

mod crl;
#[cfg(feature = "http")]
mod fetch;
#[cfg(feature = "http")]
mod ocsp;

use std::time::SystemTime;

use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityInfoAccessSyntax, CrlDistributionPoints};
use x509_cert::Certificate;

pub(crate) use crl::crls_from_bytes;
use crl::Crl;

use super::chain::{Cert, ChainError};
use super::policy::{Policy, RevocationMode};

/// Most CRLs or OCSP answers fetched by one verifier.
pub const MAX_FETCHES: usize = 64;
/// Largest CRL fetched, in bytes.
pub const MAX_CRL_SIZE: u64 = 16 * 1024 * 1024;
/// Largest OCSP answer accepted, in bytes.
pub const MAX_OCSP_SIZE: u64 = 64 * 1024;

/// `id-ad-ocsp` (1.3.6.1.5.5.7.48.1).
const ID_AD_OCSP: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");

/// What is known of one certificate's revocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Status {
    /// A CRL or OCSP answer says it is not revoked.
    Good,
    /// Revoked, at this time if known, for this reason if given.
    Revoked {
        at: Option<SystemTime>,
        reason: Option<String>,
    },
    /// The status could not be learnt (mode soft or hard).
    Unknown(String),
    /// Not checked (offline, and no given CRL covers the certificate).
    NotChecked,
}

/// Checks certificates for revocation under one policy; shared by every file of a batch.
#[derive(Debug)]
pub(crate) struct RevocationChecker {
    mode: RevocationMode,
    crls: Vec<Crl>,
    #[cfg(feature = "http")]
    fetcher: fetch::Fetcher,
}

impl RevocationChecker {
    /// A checker for `policy`'s mode and CRLs (undecodable CRLs were refused when they were
    /// added to the policy; any left are skipped).
    pub(crate) fn new(policy: &Policy) -> Self {
        Self {
            mode: policy.revocation,
            crls: policy.crls.iter().filter_map(|d| Crl::parse(d)).collect(),
            #[cfg(feature = "http")]
            fetcher: fetch::Fetcher::new(policy.revocation_timeout),
        }
    }

    /// Findings for every certificate of `path` below its anchor. Nothing is checked when the
    /// path does not reach a trust anchor (that already fails). `timestamp` is the time a valid
    /// timestamp vouches for, if any.
    pub(crate) fn check_path(
        &self,
        path: &[Cert],
        trusted: bool,
        timestamp: Option<SystemTime>,
        now: SystemTime,
    ) -> Vec<ChainError> {
        if !trusted {
            return Vec::new();
        }
        let mut findings = Vec::new();
        for pair in path.windows(2) {
            let [cert, issuer] = pair else { continue };
            let subject = cert.x509.tbs_certificate().subject().to_string();
            match self.status(&cert.x509, &issuer.x509, now) {
                Status::Good | Status::NotChecked => {}
                Status::Revoked { at, reason } => {
                    findings.push(match (at, timestamp) {
                        (Some(revoked_at), Some(ts)) if ts < revoked_at => {
                            ChainError::RevokedAfterTimestamp {
                                subject,
                                revoked_at,
                                timestamp: ts,
                            }
                        }
                        _ => ChainError::Revoked {
                            subject,
                            revoked_at: at,
                            reason,
                        },
                    });
                }
                Status::Unknown(reason) => {
                    findings.push(ChainError::RevocationUnknown { subject, reason })
                }
            }
        }
        findings
    }

    /// The status of `cert` issued by `issuer`: given CRLs first, then (online modes) OCSP,
    /// then the CRL distribution points.
    pub(crate) fn status(
        &self,
        cert: &Certificate,
        issuer: &Certificate,
        now: SystemTime,
    ) -> Status {
        for crl in &self.crls {
            if let Some(status) = crl.status_of(cert, issuer) {
                return status;
            }
        }
        if self.mode == RevocationMode::Offline {
            return Status::NotChecked;
        }
        self.online_status(cert, issuer, now)
    }

    #[cfg(feature = "http")]
    fn online_status(&self, cert: &Certificate, issuer: &Certificate, now: SystemTime) -> Status {
        let (ocsp_urls, crl_urls) = urls(cert);
        if ocsp_urls.is_empty() && crl_urls.is_empty() {
            return Status::Unknown("the certificate names no OCSP responder or CRL".into());
        }
        let mut failures = Vec::new();
        for url in &ocsp_urls {
            match ocsp::request(cert, issuer).and_then(|req| {
                let answer = self.fetcher.post_ocsp(url, &req)?;
                ocsp::status_from_response(&answer, cert, issuer, now)
            }) {
                Ok(status) => return status,
                Err(e) => failures.push(format!("OCSP {url}: {e}")),
            }
        }
        for url in &crl_urls {
            match self.fetcher.get_crl(url).and_then(|der| {
                let crl = Crl::parse(&der).ok_or_else(|| "the CRL does not decode".to_string())?;
                if crl.is_stale(now) {
                    return Err("the CRL is past its nextUpdate".to_string());
                }
                crl.status_of(cert, issuer)
                    .ok_or_else(|| "the CRL is not the issuer's or its signature fails".to_string())
            }) {
                Ok(status) => return status,
                Err(e) => failures.push(format!("CRL {url}: {e}")),
            }
        }
        Status::Unknown(failures.join("; "))
    }

    #[cfg(not(feature = "http"))]
    fn online_status(&self, cert: &Certificate, _issuer: &Certificate, _now: SystemTime) -> Status {
        let (ocsp_urls, crl_urls) = urls(cert);
        if ocsp_urls.is_empty() && crl_urls.is_empty() {
            return Status::Unknown("the certificate names no OCSP responder or CRL".into());
        }
        Status::Unknown("online revocation checks need the `http` feature".into())
    }
}

/// The OCSP responder URLs (authorityInfoAccess) and CRL distribution point URLs of `cert`.
fn urls(cert: &Certificate) -> (Vec<String>, Vec<String>) {
    let tbs = cert.tbs_certificate();
    let uri = |n: &GeneralName| match n {
        GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
        _ => None,
    };
    let ocsp = match tbs.get_extension::<AuthorityInfoAccessSyntax>() {
        Ok(Some((_, aia))) => aia
            .0
            .iter()
            .filter(|a| a.access_method == ID_AD_OCSP)
            .filter_map(|a| uri(&a.access_location))
            .collect(),
        _ => Vec::new(),
    };
    let crls = match tbs.get_extension::<CrlDistributionPoints>() {
        Ok(Some((_, dps))) => dps
            .0
            .iter()
            .filter_map(|dp| match &dp.distribution_point {
                Some(DistributionPointName::FullName(names)) => Some(names),
                _ => None,
            })
            .flatten()
            .filter_map(uri)
            .collect(),
        _ => Vec::new(),
    };
    (ocsp, crls)
}
