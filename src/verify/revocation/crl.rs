//! Certificate revocation lists (RFC 5280 §5): decoding, the issuer's signature over the
//! TBSCertList as encoded, and looking a certificate up.

use der::{Decode, DecodePem};
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::{CrlReason, KeyUsage};
use x509_cert::Certificate;

use super::Status;
use crate::cms::tlv;
use crate::crypto::verify_signature;
use crate::error::{Error, Format, MalformedKind, Result};

/// `id-ce-cRLReasons` (2.5.29.21): the reason code of a CRL entry.
const ID_CE_CRL_REASONS: const_oid::ObjectIdentifier =
    const_oid::ObjectIdentifier::new_unwrap("2.5.29.21");

/// A decoded CRL with its TBSCertList as encoded.
#[derive(Debug, Clone)]
pub(crate) struct Crl {
    list: CertificateList,
    tbs: Vec<u8>,
}

/// Every CRL in `bytes`: one DER CRL, or PEM text with one or more `X509 CRL` blocks. Each is
/// returned as DER; an undecodable CRL is an error.
pub(crate) fn crls_from_bytes(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    let bad =
        |what: String| Error::malformed(Format::Certificate, 0, MalformedKind::InvalidValue, what);
    if bytes.first() == Some(&0x30) {
        <CertificateList>::from_der(bytes).map_err(|e| bad(format!("CRL: {e}")))?;
        return Ok(vec![bytes.to_vec()]);
    }
    let text = std::str::from_utf8(bytes).map_err(|_| bad("CRL is neither DER nor PEM".into()))?;
    let mut out = Vec::new();
    for block in crate::certs::pem_blocks(text)? {
        if block.label != "X509 CRL" {
            continue;
        }
        let list = <CertificateList>::from_pem(block.text.as_bytes())
            .map_err(|e| bad(format!("CRL: {e}")))?;
        out.push(der::Encode::to_der(&list).map_err(|e| bad(format!("CRL: {e}")))?);
    }
    if out.is_empty() {
        return Err(bad("no X509 CRL block found".into()));
    }
    Ok(out)
}

impl Crl {
    /// Decode a DER CRL, keeping its TBSCertList bytes.
    pub(crate) fn parse(der: &[u8]) -> Option<Self> {
        let list = <CertificateList>::from_der(der).ok()?;
        let outer = tlv::parse_one(der, "CertificateList").ok()?;
        let tbs = outer.children().next("TBSCertList").ok()?.raw.to_vec();
        Some(Self { list, tbs })
    }

    /// Whether the CRL's nextUpdate is before `now`.
    #[cfg(feature = "http")]
    pub(crate) fn is_stale(&self, now: std::time::SystemTime) -> bool {
        self.list
            .tbs_cert_list
            .next_update
            .is_some_and(|t| t.to_system_time() < now)
    }

    /// `cert`'s status by this CRL, or `None` when the CRL is not `issuer`'s (another issuer,
    /// a signature that fails, or an issuer whose key usage forbids signing CRLs).
    pub(crate) fn status_of(&self, cert: &Certificate, issuer: &Certificate) -> Option<Status> {
        let tbs = &self.list.tbs_cert_list;
        if &tbs.issuer != cert.tbs_certificate().issuer()
            || issuer.tbs_certificate().subject() != &tbs.issuer
        {
            return None;
        }
        if let Ok(Some((_, ku))) = issuer.tbs_certificate().get_extension::<KeyUsage>() {
            if !ku.crl_sign() {
                return None;
            }
        }
        let signature = self.list.signature.as_bytes()?;
        verify_signature(
            issuer.tbs_certificate().subject_public_key_info(),
            &self.list.signature_algorithm,
            &self.tbs,
            signature,
        )
        .ok()?;
        let serial = cert.tbs_certificate().serial_number();
        let entry = tbs
            .revoked_certificates
            .iter()
            .flatten()
            .find(|r| &r.serial_number == serial);
        Some(match entry {
            None => Status::Good,
            Some(r) => Status::Revoked {
                at: Some(r.revocation_date.to_system_time()),
                reason: r
                    .crl_entry_extensions
                    .iter()
                    .flatten()
                    .find(|e| e.extn_id == ID_CE_CRL_REASONS)
                    .and_then(|e| CrlReason::from_der(e.extn_value.as_bytes()).ok())
                    .map(|r| format!("{r:?}")),
            },
        })
    }
}
