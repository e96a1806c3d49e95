//! The script subject: PowerShell (`.ps1 .psm1 .psd1`, and `.ps1xml .psc1 .cdxml .mof`),
//! JScript (`.js`), VBScript (`.vbs`) and Windows Script Files (`.wsf`), whose signature is a
//! block of comment lines in the text.
//!
//! # The signature block
//!
//! The PKCS#7 is written in base64, one comment line per 64 characters (PowerShell family) or
//! 44 (Windows Script Host, as signtool writes them), between a begin and an end line: for a
//! `.ps1`
//!
//! ```text
//! Write-Host "Hello"␍␊
//! ␍␊
//! # SIG # Begin signature block␍␊
//! # MIIFlQYJKoZIhvcNAQcCoIIFhjCCBYICAQExDzANBglghkgBZQMEAgEFADB5Bgor␍␊
//! # …␍␊
//! # SIG # End signature block␍␊
//! ```
//!
//! (`<!-- … -->` lines for `.ps1xml .psc1 .cdxml`, `/* … */` for `.mof`, `// SIG // …` for
//! JScript, `'' SIG '' …` for VBScript; a `<signature>` element with `** SIG ** …` lines before
//! the last `</job>` of a Windows Script File). Every line of the block ends in CRLF whatever
//! the file uses, a CRLF separates it from the script (so a script that ends with a line break
//! gets a blank line before it), and it is written in the file's encoding (UTF-8 or ANSI as
//! ASCII, UTF-16 as UTF-16 of the same byte order, the byte-order mark left where it is).
//! Removing the block gives the original file back byte for byte.
//!
//! # The digest
//!
//! Both Windows script SIPs hash the *text* as UTF-16LE, whatever the file's encoding, and
//! keep its line breaks as they are (no normalisation):
//! - PowerShell (`pwrshsip.dll`, GUID {603BCC1F-4B59-4E08-B724-D2C6297EF351}, SIP version
//!   65536): the text before the first `"\r\n" + begin line`, byte-order mark included (as
//!   U+FEFF, so UTF-8, UTF-16LE and UTF-16BE copies of a script have the same digest).
//! - Windows Script Host (`wshext.dll`; JScript, VBScript and WSF GUIDs from the Windows SDK's
//!   `ActivScp.h`, SIP version 1): the text without the byte-order mark and without the block,
//!   then the position of the block in UTF-16 code units as a little-endian `u32` (for a WSF,
//!   the position of the last `</job>`).
//!
//! A file without a byte-order mark is read as the SIP does (see [`TextEncoding`]): for
//! PowerShell as UTF-8 when its first 32 bytes hold UTF-8 multibyte characters, else as the
//! ANSI code page (Windows-1252 here); for JScript and VBScript always as the ANSI code page.
//! These rules were checked against signatures Microsoft made (Windows SDK scripts) and the
//! Windows-tested OpenAuthenticode; osslsigncode and jsign differ in places (docs/quirks.md).
//!
//! # When Windows does not see a signature
//!
//! Windows reads a block only in its exact form: CRLF line breaks, at the very end of the file
//! (one or two CR/LF characters after the end line). A block with LF line breaks, blanks or
//! text after it, or a second block after it, makes the file *not signed* for Windows: here
//! [`Subject::signatures`] returns none and [`Subject::storage_problems`] says why. Signing
//! replaces such a block and removing takes it away, except when code follows it (that code
//! would be lost: both refuse). A begin line with no readable block after it, bad base64,
//! a begin line in the middle of the script (Windows would hash only the text before it),
//! invalid UTF-8 and byte-order marks that contradict the text are [`Error::Malformed`].
//!
//! Memory stays bounded: the head and the last [`TAIL_LEN`] bytes are read to find the block,
//! and the digest streams the rest (see [`crate::input`]).

mod block;
mod digest;
mod encoding;
mod language;
mod layout;

use std::io::Write;

use crate::cms::{oids, spc, tlv};
use crate::digest::DigestAlgorithm;
use crate::error::{Error, Format, MalformedKind, Result};
use crate::input::{copy_range, Input, SharedInput};
use crate::subject::{StorageProblem, Subject, SubjectOptions};

pub use encoding::TextEncoding;
pub use language::{
    ScriptLanguage, JSCRIPT_SIP_GUID, POWERSHELL_SIP_GUID, VBSCRIPT_SIP_GUID, WSF_SIP_GUID,
};
pub use layout::TAIL_LEN;
use layout::{BlockIssue, Layout, State};

/// The one place script errors are made: a [`Error::Malformed`] for a script of `language`.
pub(crate) fn malformed(
    language: ScriptLanguage,
    offset: u64,
    kind: MalformedKind,
    what: impl Into<String>,
) -> Error {
    Error::malformed(Format::Script(language), offset, kind, what)
}

/// Open `input` as a script if `extension` (without the dot, any case) is one Windows signs
/// as a script: `None` for other extensions. This is how `authsign::open_with_extension` and
/// `authsign::open_path` recognise scripts, which have no magic number.
pub fn open_with_extension<'a>(
    input: SharedInput<'a>,
    extension: &str,
) -> Option<Result<ScriptSubject<'a>>> {
    let language = ScriptLanguage::from_extension(extension)?;
    Some(ScriptSubject::from_shared(input, language))
}

/// A script (see the [module documentation](self)).
pub struct ScriptSubject<'a> {
    input: SharedInput<'a>,
    layout: Layout,
}

impl std::fmt::Debug for ScriptSubject<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptSubject")
            .field("language", &self.layout.language)
            .field("encoding", &self.layout.encoding)
            .field("len", &self.layout.len)
            .finish_non_exhaustive()
    }
}

impl<'a> ScriptSubject<'a> {
    /// Read the encoding and the signature block (if any) of the `language` script in
    /// `input`: its first bytes and last [`TAIL_LEN`] bytes.
    pub fn parse(input: impl Input + 'a, language: ScriptLanguage) -> Result<Self> {
        Self::from_shared(std::sync::Arc::new(input), language)
    }

    /// [`ScriptSubject::parse`] for an input already shared.
    fn from_shared(input: SharedInput<'a>, language: ScriptLanguage) -> Result<Self> {
        let layout = Layout::parse(&*input, language)?;
        Ok(Self { input, layout })
    }

    /// The script's language.
    pub fn language(&self) -> ScriptLanguage {
        self.layout.language
    }

    /// The text encoding the SIP reads the file in.
    pub fn encoding(&self) -> TextEncoding {
        self.layout.encoding
    }

    /// Whether the file holds a signature block Windows reads (see [`Subject::signatures`]).
    pub fn has_readable_block(&self) -> bool {
        matches!(&self.layout.state, State::Signed { issues, .. } if issues.is_empty())
    }

    /// An error if signing or removing must not touch the file.
    fn check_changeable(&self) -> Result<()> {
        match self.layout.unsignable() {
            Some((offset, kind, what)) => Err(malformed(self.layout.language, offset, kind, what)),
            None => Ok(()),
        }
    }

    /// Write the file with the range `cut` replaced by `insert`.
    fn write_spliced(&self, cut: (u64, u64), insert: &[u8], out: &mut dyn Write) -> Result<()> {
        let (from, to) = cut;
        copy_range(&*self.input, 0, from, out)?;
        out.write_all(insert)?;
        copy_range(&*self.input, to, self.layout.len.saturating_sub(to), out)?;
        out.flush()?;
        Ok(())
    }
}

impl Subject for ScriptSubject<'_> {
    fn format(&self) -> Format {
        Format::Script(self.layout.language)
    }

    /// The digest Windows computes (see the [module documentation](self)); for a file whose
    /// block Windows does not read, the digest of the script as it is once that block is
    /// replaced by a new signature.
    fn digest(&self, algs: &[DigestAlgorithm]) -> Result<Vec<Vec<u8>>> {
        digest::digest(&*self.input, &self.layout, algs)
    }

    /// SpcIndirectDataContent with SpcSipInfo: the language's SIP GUID and version.
    fn indirect_data(&self, alg: DigestAlgorithm, opts: &SubjectOptions) -> Result<Vec<u8>> {
        if opts.page_hashes {
            return Err(Error::Unsupported(
                "page hashes exist only for PE files".into(),
            ));
        }
        self.check_changeable()?;
        let digest = self
            .digest(&[alg])?
            .pop()
            .ok_or_else(|| Error::Internal("no digest computed"))?;
        let language = self.layout.language;
        spc::indirect_data(
            &oids::SPC_SIPINFO,
            &spc::sip_info(language.sip_version(), language.sip_guid())?,
            alg,
            &digest,
        )
    }

    /// Every algorithm's SpcIndirectDataContent from one pass over the file.
    fn indirect_data_all(
        &self,
        algs: &[DigestAlgorithm],
        opts: &SubjectOptions,
    ) -> Result<Vec<Vec<u8>>> {
        if opts.page_hashes {
            return Err(Error::Unsupported(
                "page hashes exist only for PE files".into(),
            ));
        }
        self.check_changeable()?;
        let language = self.layout.language;
        let info = spc::sip_info(language.sip_version(), language.sip_guid())?;
        self.digest(algs)?
            .iter()
            .zip(algs)
            .map(|(d, alg)| spc::indirect_data(&oids::SPC_SIPINFO, &info, *alg, d))
            .collect()
    }

    /// Why Windows ignores the signature block in the file, if it does.
    fn storage_problems(&self) -> Result<Vec<StorageProblem>> {
        let State::Signed { issues, .. } = &self.layout.state else {
            return Ok(Vec::new());
        };
        Ok(issues
            .iter()
            .map(|i| match *i {
                BlockIssue::LineBreaks(offset) => {
                    StorageProblem::SignatureBlockLineBreaks { offset }
                }
                BlockIssue::TrailingBlanks(offset) | BlockIssue::TextAfter(offset) => {
                    StorageProblem::TextAfterSignatureBlock {
                        offset,
                        bytes: self.layout.len.saturating_sub(offset),
                    }
                }
                BlockIssue::MoreBlocks(offset) => StorageProblem::RepeatedSignatureBlock { offset },
            })
            .collect())
    }

    /// The PKCS#7 of the signature block, when Windows reads the block (none when it is in a
    /// form Windows ignores: see [`Subject::storage_problems`]). Bad base64 and data that is
    /// not one DER value are errors.
    fn signatures(&self) -> Result<Vec<Vec<u8>>> {
        let language = self.layout.language;
        match &self.layout.state {
            State::Unsigned {
                suspect: Some((offset, kind, what)),
                ..
            } => Err(malformed(language, *offset, *kind, what.clone())),
            State::Unsigned { .. } => Ok(Vec::new()),
            State::Broken { offset, kind, what } => {
                Err(malformed(language, *offset, *kind, what.clone()))
            }
            State::Signed { issues, .. } if !issues.is_empty() => Ok(Vec::new()),
            State::Signed { start, base64, .. } => {
                use base64ct::Encoding;
                let der =
                    base64ct::Base64::decode_vec(std::str::from_utf8(base64).unwrap_or_default())
                        .map_err(|e| {
                        malformed(
                            language,
                            *start,
                            MalformedKind::BadEncoding,
                            format!("invalid base64 in the signature block: {e}"),
                        )
                    })?;
                let mut r = tlv::Reader::new(&der);
                r.next("PKCS#7 in the signature block")
                    .map_err(|e| match e {
                        Error::Malformed(m) => malformed(
                            language,
                            *start,
                            m.kind,
                            format!("the signature block's PKCS#7: {}", m.what),
                        ),
                        other => other,
                    })?;
                if !r.is_empty() {
                    return Err(malformed(
                        language,
                        *start,
                        MalformedKind::TrailingData,
                        "data after the PKCS#7 in the signature block",
                    ));
                }
                Ok(vec![der])
            }
        }
    }

    /// Writes the script with a signature block holding `pkcs7`: in place of the existing block
    /// (also one in a form Windows ignores), or appended at the end of the file (before the
    /// last `</job>` of a Windows Script File).
    fn with_signature_unchecked(&self, pkcs7: &[u8], out: &mut dyn Write) -> Result<()> {
        self.check_changeable()?;
        let layout = &self.layout;
        let text = block::block_text(&layout.language.style(), pkcs7);
        let bytes = layout.encoding.encode_ascii(&text);
        let cut = match &layout.state {
            State::Signed { start, end, .. } => (*start, *end),
            State::Unsigned { insert_at, .. } => {
                let at = insert_at.unwrap_or(layout.len);
                (at, at)
            }
            State::Broken { .. } => (layout.len, layout.len),
        };
        self.write_spliced(cut, &bytes, out)
    }

    /// Scripts whose block is at the end of the file (all but Windows Script Files) are
    /// signed in place: only the block is written (see [`Subject::signature_patch`]).
    fn prepare_in_place(&self) -> bool {
        !self.layout.language.inserts_before_job_end() && self.layout.unsignable().is_none()
    }

    /// The file from the start of the old block (or its end, when unsigned) is replaced by the
    /// new block; nothing before it changes.
    fn signature_patch(&self, pkcs7: &[u8]) -> Result<Option<crate::patch::Patch>> {
        if !self.prepare_in_place() {
            return Ok(None);
        }
        let layout = &self.layout;
        let cut = match &layout.state {
            State::Signed { start, .. } => *start,
            _ => layout.len,
        };
        let new = layout
            .encoding
            .encode_ascii(&block::block_text(&layout.language.style(), pkcs7));
        let old = crate::input::read_vec(
            &*self.input,
            Format::Script(layout.language),
            cut,
            layout.len - cut,
            "signature block",
        )?;
        let new_len = cut + new.len() as u64;
        Ok(Some(crate::patch::Patch {
            old_len: layout.len,
            new_len,
            data: Vec::new(),
            commit: crate::patch::Range {
                offset: cut,
                old,
                new,
            },
        }))
    }

    /// Writes the script without its signature block: the file as it was before signing. An
    /// unsigned script is copied unchanged.
    fn without_signature(&self, out: &mut dyn Write) -> Result<()> {
        match &self.layout.state {
            State::Unsigned { .. } => {
                self.write_spliced((self.layout.len, self.layout.len), &[], out)
            }
            State::Signed { start, end, .. } => {
                self.check_changeable()?;
                self.write_spliced((*start, *end), &[], out)
            }
            State::Broken { offset, kind, what } => Err(malformed(
                self.layout.language,
                *offset,
                *kind,
                what.clone(),
            )),
        }
    }
}
