//! Loading X.509 certificates from PEM, and splitting PEM files into blocks.

use const_oid::ObjectIdentifier;
use der::Decode;
use x509_cert::ext::pkix::ExtendedKeyUsage;
use x509_cert::Certificate;

use crate::cms::tlv;

use crate::error::{Error, Format, MalformedKind, Result};

/// Every certificate in `pem` (one or more `CERTIFICATE` blocks), in order. Text between
/// blocks (OpenSSL "Bag Attributes", comments) and blocks of other kinds are ignored; a file
/// without any certificate is an error.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<Certificate>> {
    let text = std::str::from_utf8(pem).map_err(|e| {
        Error::malformed(
            Format::Pem,
            e.valid_up_to() as u64,
            MalformedKind::BadEncoding,
            "PEM is not text",
        )
    })?;
    let certs = certificates_from_pem_text(text)?;
    if certs.is_empty() {
        return Err(Error::malformed(
            Format::Pem,
            0,
            MalformedKind::InvalidValue,
            "no CERTIFICATE block found",
        ));
    }
    Ok(certs)
}

/// The certificates in `bytes`: one DER certificate, or PEM text with one or more
/// `CERTIFICATE` blocks (see [`certificates_from_pem`]).
pub fn certificates_from_bytes(bytes: &[u8]) -> Result<Vec<Certificate>> {
    if bytes.first() == Some(&0x30) {
        let cert = Certificate::from_der(bytes).map_err(|e| {
            Error::malformed(
                Format::Certificate,
                e.position().map_or(0, |p| u32::from(p).into()),
                MalformedKind::InvalidValue,
                format!("DER certificate: {e}"),
            )
        })?;
        return Ok(vec![cert]);
    }
    certificates_from_pem(bytes)
}

/// A certificate with its TBSCertificate as encoded, for checking its signature exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cert {
    /// The decoded certificate.
    pub x509: Certificate,
    /// The TBSCertificate's encoding as found (what the issuer signed).
    tbs: Vec<u8>,
}

impl Cert {
    /// Decode `der`, keeping its TBSCertificate bytes. `None` when it does not decode.
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let x509 = Certificate::from_der(der).ok()?;
        let outer = tlv::parse_one(der, "Certificate").ok()?;
        let tbs = outer.children().next("TBSCertificate").ok()?.raw.to_vec();
        Some(Self { x509, tbs })
    }

    /// The TBSCertificate as encoded.
    pub fn tbs(&self) -> &[u8] {
        &self.tbs
    }

    /// A certificate known only decoded: its TBSCertificate is re-encoded (exact for DER).
    pub fn from_certificate(x509: &Certificate) -> Self {
        use der::Encode;
        let tbs = x509.tbs_certificate().to_der().unwrap_or_default();
        Self {
            x509: x509.clone(),
            tbs,
        }
    }
}

/// Whether `cert` has an extended key usage extension that lists `usage`.
pub fn has_extended_key_usage(cert: &Certificate, usage: &ObjectIdentifier) -> bool {
    matches!(
        cert.tbs_certificate().get_extension::<ExtendedKeyUsage>(),
        Ok(Some((_, eku))) if eku.0.contains(usage)
    )
}

/// Decode the X.509 certificates among `der` with their encodings (undecodable ones, such
/// as attribute certificates, are skipped).
pub(crate) fn decode_all(der: &[Vec<u8>]) -> Vec<Cert> {
    der.iter().filter_map(|c| Cert::from_der(c)).collect()
}

/// One `-----BEGIN X----- ... -----END X-----` block of a PEM file.
pub(crate) struct PemBlock<'a> {
    pub(crate) label: &'a str,
    pub(crate) text: &'a str,
}

/// Splits `input` into PEM blocks, ignoring text between them (OpenSSL "Bag Attributes",
/// `subject=` lines, comments).
pub(crate) fn pem_blocks(input: &str) -> Result<Vec<PemBlock<'_>>> {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let mut blocks = Vec::new();
    let mut pos = 0;
    while let Some(found) = input.get(pos..).and_then(|rest| rest.find(BEGIN)) {
        let start = pos + found;
        let label_start = start + BEGIN.len();
        let rest = input.get(label_start..).unwrap_or("");
        let label_len = rest.find(DASHES).ok_or_else(|| {
            Error::malformed(
                Format::Pem,
                start as u64,
                MalformedKind::BadEncoding,
                "unterminated BEGIN line",
            )
        })?;
        let label = rest.get(..label_len).unwrap_or("");
        if label.contains('\n') {
            return Err(Error::malformed(
                Format::Pem,
                start as u64,
                MalformedKind::BadEncoding,
                "unterminated BEGIN line",
            ));
        }
        let end_marker = format!("-----END {label}-----");
        let after_label = label_start + label_len + DASHES.len();
        let end = input
            .get(after_label..)
            .and_then(|r| r.find(&end_marker))
            .ok_or_else(|| {
                Error::malformed(
                    Format::Pem,
                    start as u64,
                    MalformedKind::WrongFormat,
                    format!("no \"{end_marker}\" line for the {label} block"),
                )
            })?;
        let stop = after_label + end + end_marker.len();
        blocks.push(PemBlock {
            label,
            text: input.get(start..stop).unwrap_or(""),
        });
        pos = stop;
    }
    Ok(blocks)
}

/// Reads every `CERTIFICATE` block of `pem`, in order. Other blocks are ignored.
pub(crate) fn certificates_from_pem_text(pem: &str) -> Result<Vec<Certificate>> {
    let mut out = Vec::new();
    for (i, block) in pem_blocks(pem)?.into_iter().enumerate() {
        if block.label != "CERTIFICATE" {
            continue;
        }
        let (_, der) = der::pem::decode_vec(block.text.as_bytes()).map_err(|e| {
            Error::malformed(
                Format::Pem,
                0,
                MalformedKind::BadEncoding,
                format!("PEM block {}: {e}", i + 1),
            )
        })?;
        let cert = Certificate::from_der(&der).map_err(|e| {
            let offset = e.position().map(u32::from).unwrap_or(0);
            Error::malformed(
                Format::Certificate,
                u64::from(offset),
                MalformedKind::BadEncoding,
                format!("certificate {} in PEM: {e}", out.len() + 1),
            )
        })?;
        out.push(cert);
    }
    Ok(out)
}
