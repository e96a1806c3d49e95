//! [`Secret`]: a PIN or password, read from an environment variable or a file so that it never
//! appears on a command line, and overwritten in memory when dropped.

use std::fmt;
use std::path::Path;

use crate::error::{CryptoError, Error, Result};

/// A PIN (PKCS#11) or password (PKCS#12). Its `Debug` output hides the value and its memory is
/// zeroed on drop.
///
/// ```no_run
/// use authsign::signer::Secret;
/// let pin = Secret::from_env("AUTHSIGN_PIN")?;
/// # Ok::<(), authsign::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret from a string held by the caller.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value of the environment variable `var`. Fails with [`CryptoError::Authentication`]
    /// when it is unset or not UTF-8, naming the variable (never its value).
    pub fn from_env(var: &str) -> Result<Self> {
        match std::env::var(var) {
            Ok(v) => Ok(Self(v)),
            Err(std::env::VarError::NotPresent) => Err(Error::Crypto(CryptoError::Authentication(
                format!("environment variable {var} is not set"),
            ))),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::Crypto(
                CryptoError::Authentication(format!("environment variable {var} is not UTF-8")),
            )),
        }
    }

    /// The first line of the file at `path` (a trailing `\n` or `\r\n` is dropped; the rest of
    /// the line is kept as is, spaces included).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let bytes = Self(
            String::from_utf8(std::fs::read(path.as_ref())?).map_err(|_| {
                Error::Crypto(CryptoError::Authentication(format!(
                    "{} is not UTF-8 text",
                    path.as_ref().display()
                )))
            })?,
        );
        let line = bytes.0.split(['\n', '\r']).next().unwrap_or_default();
        Ok(Self(line.to_string()))
    }

    /// The secret's value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // Zero the bytes before the allocation is freed.
        let mut bytes = std::mem::take(&mut self.0).into_bytes();
        for b in bytes.iter_mut() {
            *b = 0;
        }
        std::hint::black_box(&mut bytes);
    }
}
