//! The PE subject (PE32 and PE32+: EXE, DLL, SYS, EFI).

use std::io::Write;

use crate::digest::DigestAlgorithm;
use crate::error::{Error, Format, Result};
use crate::input::Input;
use crate::subject::{Subject, SubjectOptions};

/// A parsed PE file.
pub struct PeSubject<'a> {
    #[allow(dead_code)]
    input: &'a dyn Input,
}

impl<'a> PeSubject<'a> {
    /// Parse the headers of the PE file in `input`.
    pub fn parse(input: &'a dyn Input) -> Result<Self> {
        let _ = input;
        Err(Error::Unsupported("PE: not implemented yet".into()))
    }
}

impl Subject for PeSubject<'_> {
    fn format(&self) -> Format {
        Format::Pe
    }
    fn digest(&self, _algs: &[DigestAlgorithm]) -> Result<Vec<Vec<u8>>> {
        Err(Error::Unsupported("PE".into()))
    }
    fn indirect_data(&self, _alg: DigestAlgorithm, _opts: &SubjectOptions) -> Result<Vec<u8>> {
        Err(Error::Unsupported("PE".into()))
    }
    fn signatures(&self) -> Result<Vec<Vec<u8>>> {
        Err(Error::Unsupported("PE".into()))
    }
    fn with_signature(&self, _pkcs7: &[u8], _out: &mut dyn Write) -> Result<()> {
        Err(Error::Unsupported("PE".into()))
    }
    fn without_signature(&self, _out: &mut dyn Write) -> Result<()> {
        Err(Error::Unsupported("PE".into()))
    }
}
