//! Where things are in a script: its encoding, and from a bounded tail, where a signature block
//! is (or where one goes), what it holds and whether Windows would read it. Only the first
//! [`HEAD_LEN`] bytes and the last [`TAIL_LEN`] bytes are read.

use super::block::{self, Issue, Scan, View};
use super::encoding::{self, TextEncoding, HEAD_LEN};
use super::language::{ScriptLanguage, Sip};
use super::malformed;
use crate::error::{MalformedKind, Result};
use crate::input::{read_vec, Input};

/// How many bytes at the end of a script are searched for the signature block. A block holds
/// its PKCS#7 in base64 comment lines (about 1.5 times its size in 8-bit text, 3 times in
/// UTF-16), so signatures up to about 1 MiB are found.
pub const TAIL_LEN: u64 = 4 << 20;

/// A reason, found in the file, why Windows does not read a signature block that is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockIssue {
    /// LF-only line breaks (or none after the last line) from this file offset.
    LineBreaks(u64),
    /// Blanks beyond one line break after the block, from this offset.
    TrailingBlanks(u64),
    /// A second block at this offset.
    MoreBlocks(u64),
    /// Other text after the block, from this offset (signing and removing refuse).
    TextAfter(u64),
}

/// What the tail holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum State {
    /// No signature block. `insert_at`: where signing puts one (the end of the file, or for
    /// Windows Script Files the last `</job>`, `None` when there is none). `suspect`: what
    /// looks like a block Windows cannot read (in the other encoding, or too large for the
    /// tail): reading the signature and signing report it; removing leaves the file as it is.
    Unsigned {
        insert_at: Option<u64>,
        suspect: Option<(u64, MalformedKind, String)>,
    },
    /// A signature block at `start..end` (file offsets; `start` is its leading line break).
    Signed {
        start: u64,
        end: u64,
        base64: Vec<u8>,
        issues: Vec<BlockIssue>,
        /// Windows Script Files: offset of the last `</job>` (after the block).
        job_end: Option<u64>,
    },
    /// A begin line with no readable block after it.
    Broken {
        offset: u64,
        kind: MalformedKind,
        what: String,
    },
}

/// A script's encoding and signature-block layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub language: ScriptLanguage,
    pub encoding: TextEncoding,
    pub bom_len: u64,
    pub len: u64,
    pub state: State,
}

impl Layout {
    /// Read the head and the tail of `input`, a script in `language`.
    pub fn parse(input: &dyn Input, language: ScriptLanguage) -> Result<Self> {
        let len = input.len();
        let fail =
            |offset: u64, what: &str| malformed(language, offset, MalformedKind::BadEncoding, what);
        let head = read_vec(
            input,
            crate::error::Format::Script(language),
            0,
            len.min(HEAD_LEN as u64),
            "head",
        )?;
        let detected = encoding::detect(&head, language).map_err(|w| fail(0, w))?;
        let (encoding, bom_len) = (detected.encoding, detected.bom_len);
        let unit = encoding.unit();
        if !(len - bom_len).is_multiple_of(unit) {
            return Err(fail(len - 1, "UTF-16 text of an odd number of bytes"));
        }
        let mut tail_start = bom_len.max(len.saturating_sub(TAIL_LEN));
        tail_start += (tail_start - bom_len) % unit;
        let raw = read_vec(
            input,
            crate::error::Format::Script(language),
            tail_start,
            len - tail_start,
            "tail",
        )?;
        let view = View::new(&raw, tail_start, encoding);
        let style = language.style();
        let wsf = language.inserts_before_job_end();
        let state = match block::scan(&view.chars, &style, !wsf) {
            Scan::None => {
                let whole = tail_start == bom_len;
                let insert_at = if wsf {
                    block::rfind(&view.chars, b"</job>").map(|i| view.offset(i))
                } else {
                    Some(len)
                };
                State::Unsigned {
                    insert_at,
                    suspect: foreign_block(&raw, &view, encoding, &style, whole)
                        .map(|(kind, what)| (tail_start, kind, what)),
                }
            }
            Scan::Broken { at, kind, what } => State::Broken {
                offset: view.offset(at),
                kind,
                what,
            },
            Scan::Block(b) => {
                let job_end = if wsf {
                    let after = view.chars.get(b.end..).unwrap_or_default();
                    match block::rfind(after, b"</job>") {
                        Some(i) => Some(view.offset(b.end + i)),
                        None => {
                            return Ok(Self {
                                language,
                                encoding,
                                bom_len,
                                len,
                                state: State::Broken {
                                    offset: view.offset(b.end),
                                    kind: MalformedKind::Truncated,
                                    what: "no </job> after the <signature> block".into(),
                                },
                            })
                        }
                    }
                } else {
                    None
                };
                let issues = b
                    .issues
                    .iter()
                    .map(|i| match *i {
                        Issue::LineBreaks { at } => BlockIssue::LineBreaks(view.offset(at)),
                        Issue::TrailingBlanks { at } => BlockIssue::TrailingBlanks(view.offset(at)),
                        Issue::MoreBlocks { at } => BlockIssue::MoreBlocks(view.offset(at)),
                        Issue::TextAfter { at } => BlockIssue::TextAfter(view.offset(at)),
                    })
                    .collect();
                State::Signed {
                    start: view.offset(b.start),
                    end: view.offset(b.end),
                    base64: b.base64,
                    issues,
                    job_end,
                }
            }
        };
        Ok(Self {
            language,
            encoding,
            bom_len,
            len,
            state,
        })
    }

    /// Where the text the SIP hashes starts: the start of the file for PowerShell (the
    /// byte-order mark is hashed), after the byte-order mark for Windows Script Host.
    pub fn text_start(&self) -> u64 {
        match self.language.sip() {
            Sip::PowerShell => 0,
            Sip::WindowsScriptHost => self.bom_len,
        }
    }

    /// Why signing or removing must not touch this file, if so: a block that does not read,
    /// text after the block (it would be lost), or a Windows Script File without `</job>`.
    pub fn unsignable(&self) -> Option<(u64, MalformedKind, String)> {
        match &self.state {
            State::Broken { offset, kind, what } => Some((*offset, *kind, what.clone())),
            State::Unsigned {
                suspect: Some(suspect),
                ..
            } => Some(suspect.clone()),
            State::Unsigned {
                insert_at: None, ..
            } => Some((
                self.len,
                MalformedKind::Truncated,
                "no </job> in the file to put the <signature> block before".into(),
            )),
            State::Signed { issues, .. } => issues.iter().find_map(|i| match i {
                BlockIssue::TextAfter(at) => Some((
                    *at,
                    MalformedKind::TrailingData,
                    "text after the signature block: Windows treats the file as not signed, \
                     and replacing or removing the block would lose that text"
                        .into(),
                )),
                _ => None,
            }),
            State::Unsigned { .. } => None,
        }
    }
}

/// A signature block in the other kind of encoding than the file's (an 8-bit block in UTF-16
/// text, or a UTF-16 block in 8-bit text, as tools that ignore the encoding append), or, when
/// the tail is not the `whole` text, an end line whose begin line is before the tail (a block
/// larger than the tail): a description, if the tail holds one. (In a text read whole, an end
/// line without a begin line is just text: Windows ignores it.)
fn foreign_block(
    raw: &[u8],
    view: &View,
    encoding: TextEncoding,
    style: &super::language::BlockStyle,
    whole: bool,
) -> Option<(MalformedKind, String)> {
    let begin = style.begin.as_bytes();
    let wide = |le: bool| -> Vec<u8> {
        begin
            .iter()
            .flat_map(|&b| if le { [b, 0] } else { [0, b] })
            .collect()
    };
    let found = match encoding {
        TextEncoding::Utf16Le | TextEncoding::Utf16Be => block::find(raw, begin, 0)
            .map(|_| "an 8-bit signature block in UTF-16 text (mixed encodings)"),
        TextEncoding::Utf8 | TextEncoding::Windows1252 => block::find(raw, &wide(true), 0)
            .or_else(|| block::find(raw, &wide(false), 0))
            .map(|_| "a UTF-16 signature block in 8-bit text (mixed encodings)"),
    };
    if let Some(what) = found {
        return Some((MalformedKind::BadEncoding, what.into()));
    }
    if whole {
        return None;
    }
    let mut end = b"\n".to_vec();
    end.extend_from_slice(style.end.as_bytes());
    block::find(&view.chars, &end, 0).map(|_| {
        (
            MalformedKind::Truncated,
            format!(
                "an end line {:?} without a begin line in the last {} bytes (a block larger than \
             that, or a damaged one)",
                style.end,
                view.end() - view.start
            ),
        )
    })
}
