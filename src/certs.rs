//! Loading X.509 certificates from PEM.

use x509_cert::Certificate;

use crate::error::{Error, Format, Result};

/// Every certificate in `pem` (one or more `CERTIFICATE` blocks), in order.
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<Certificate>> {
    let certs = Certificate::load_pem_chain(pem)
        .map_err(|e| Error::malformed(Format::Pem, 0, format!("certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::malformed(
            Format::Pem,
            0,
            "no CERTIFICATE block found",
        ));
    }
    Ok(certs)
}
