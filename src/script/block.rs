//! Finding, reading and writing the signature block.
//!
//! The block is searched for in a bounded tail of the file, through its [`View`]: the ASCII
//! characters of the text, one byte per code unit, with every other character replaced by
//! 0x80. The block is ASCII, so its lines, markers and base64 read the same from every
//! encoding, and an index in the view maps back to a file offset.

use super::encoding::TextEncoding;
use super::language::BlockStyle;
use crate::error::MalformedKind;

/// Stand-in for a non-ASCII code unit in a [`View`].
const OTHER: u8 = 0x80;

/// The ASCII skeleton of a stretch of text (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct View {
    /// One byte per code unit (per byte for 8-bit encodings).
    pub chars: Vec<u8>,
    /// File offset of the first code unit.
    pub start: u64,
    /// Bytes per code unit.
    pub stride: u64,
}

impl View {
    /// The view of `raw`, text in `encoding` found at file offset `start` (which must be on a
    /// code-unit boundary for UTF-16).
    pub fn new(raw: &[u8], start: u64, encoding: TextEncoding) -> Self {
        let ascii = |u: u16| u8::try_from(u).ok().filter(u8::is_ascii).unwrap_or(OTHER);
        let chars = match encoding {
            TextEncoding::Utf8 | TextEncoding::Windows1252 => {
                raw.iter().map(|&b| ascii(u16::from(b))).collect()
            }
            TextEncoding::Utf16Le => raw
                .chunks_exact(2)
                .map(|p| {
                    ascii(u16::from_le_bytes([
                        p.first().copied().unwrap_or(0),
                        p.get(1).copied().unwrap_or(0),
                    ]))
                })
                .collect(),
            TextEncoding::Utf16Be => raw
                .chunks_exact(2)
                .map(|p| {
                    ascii(u16::from_be_bytes([
                        p.first().copied().unwrap_or(0),
                        p.get(1).copied().unwrap_or(0),
                    ]))
                })
                .collect(),
        };
        Self {
            chars,
            start,
            stride: encoding.unit(),
        }
    }

    /// File offset of code unit `i`.
    pub fn offset(&self, i: usize) -> u64 {
        self.start + i as u64 * self.stride
    }

    /// File offset just past the view.
    pub fn end(&self) -> u64 {
        self.offset(self.chars.len())
    }
}

/// Index of the first `byte` in `hay`, eight bytes at a time (the classic "has zero byte"
/// bit trick on `u64` words): the begin-marker search runs over every byte of a script.
pub(crate) fn find_byte(hay: &[u8], byte: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO * u64::from(byte);
    let mut words = hay.chunks_exact(8);
    let mut at = 0;
    for w in words.by_ref() {
        let x = u64::from_le_bytes(<[u8; 8]>::try_from(w).unwrap_or_default()) ^ pattern;
        let found = x.wrapping_sub(LO) & !x & HI;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == byte)
        .map(|i| at + i)
}

/// Index of the first occurrence of `needle` in `hay` at or after `from`.
pub(crate) fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while let Some(rest) = hay.get(i..) {
        let p = i + find_byte(rest, first)?;
        if hay.get(p..p + needle.len()) == Some(needle) {
            return Some(p);
        }
        i = p + 1;
    }
    None
}

/// Index of the last occurrence of `needle` in `hay`.
pub(crate) fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    (0..=hay.len() - needle.len())
        .rev()
        .find(|&i| hay.get(i..i + needle.len()) == Some(needle))
}

/// Something about a readable block that makes Windows ignore it (treat the file as not
/// signed). Signing replaces such a block and removing takes it away, unless it is
/// [`Issue::TextAfter`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Issue {
    /// Lines of the block (or the line break before it) end in LF only, or the last line has
    /// no line break: Windows finds the block by its CRLF line breaks.
    LineBreaks {
        /// View index of the first such line break (or of the end of the file).
        at: usize,
    },
    /// Only line breaks and blanks follow the end line, more than the one or two line-break
    /// characters Windows allows.
    TrailingBlanks {
        /// View index where they start.
        at: usize,
    },
    /// Another complete block follows the first (the file was signed twice by a tool that
    /// appended instead of replacing).
    MoreBlocks {
        /// View index where the second block's begin line starts.
        at: usize,
    },
    /// Other text follows the end line: Windows treats the file as not signed, and signing or
    /// removing would lose that text, so both refuse.
    TextAfter {
        /// View index where it starts.
        at: usize,
    },
}

/// A signature block read from a [`View`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    /// View index of the line break before the begin line: the block's extent starts here.
    pub start: usize,
    /// View index just past what the block occupies: past the end line's line break (Windows
    /// Script Files), or the end of the view (every other language: the block runs to the end
    /// of the file).
    pub end: usize,
    /// The base64 text of every data line, concatenated.
    pub base64: Vec<u8>,
    /// Why Windows would not read it, if anything.
    pub issues: Vec<Issue>,
}

/// What [`scan`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scan {
    /// No begin line.
    None,
    /// A block that reads.
    Block(Block),
    /// A begin line without a block that reads after it: `at` is the view index of the
    /// problem.
    Broken {
        /// View index.
        at: usize,
        /// The kind of rule broken.
        kind: MalformedKind,
        /// What is wrong.
        what: String,
    },
}

/// One line of the view: its index, its text without the line break, and its line break
/// (`b"\r\n"`, `b"\n"` or empty at the end of the view).
struct Line<'v> {
    at: usize,
    text: &'v [u8],
    crlf: bool,
    lf: bool,
    next: usize,
}

fn line(v: &[u8], at: usize) -> Option<Line<'_>> {
    let rest = v.get(at..)?;
    if rest.is_empty() {
        return None;
    }
    let (text, next, lf) = match rest.iter().position(|&b| b == b'\n') {
        Some(n) => (rest.get(..n).unwrap_or_default(), at + n + 1, true),
        None => (rest, v.len(), false),
    };
    let (text, crlf) = match text.split_last() {
        Some((b'\r', t)) => (t, lf),
        _ => (text, false),
    };
    Some(Line {
        at,
        text,
        crlf,
        lf,
        next,
    })
}

/// Whether `b` may appear in base64 text.
fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
}

/// Find the first begin line of `style` that follows a line break in `v` and read the block
/// there. `runs_to_end`: the block must be the last thing in the text (every language but
/// Windows Script Files).
pub(crate) fn scan(v: &[u8], style: &BlockStyle, runs_to_end: bool) -> Scan {
    let mut marker = b"\n".to_vec();
    marker.extend_from_slice(style.begin.as_bytes());
    let Some(nl) = find(v, &marker, 0) else {
        return Scan::None;
    };
    let crlf_before = nl > 0 && v.get(nl - 1) == Some(&b'\r');
    let start = if crlf_before { nl - 1 } else { nl };
    let mut issues = Vec::new();
    if !crlf_before {
        issues.push(Issue::LineBreaks { at: nl });
    }
    let (base64, after) = match read_one(v, nl + 1, style, &mut issues) {
        Ok(r) => r,
        Err((at, kind, what)) => return Scan::Broken { at, kind, what },
    };
    if runs_to_end {
        trailing(v, after, style, &mut issues);
        return Scan::Block(Block {
            start,
            end: v.len(),
            base64,
            issues,
        });
    }
    let rest = v.get(after..).unwrap_or_default();
    let end = if rest.starts_with(b"\r\n") {
        after + 2
    } else {
        if !issues.iter().any(|i| matches!(i, Issue::LineBreaks { .. })) {
            issues.push(Issue::LineBreaks { at: after });
        }
        after + usize::from(rest.starts_with(b"\n"))
    };
    if let Some(at) = find(v, &marker, end.saturating_sub(1)) {
        return Scan::Broken {
            at: at + 1,
            kind: MalformedKind::Inconsistent,
            what: "a second signature block".into(),
        };
    }
    Scan::Block(Block {
        start,
        end,
        base64,
        issues,
    })
}

/// Read the block whose begin line starts at `at`: returns its base64 text and the index
/// just past the text of its end line (before its line break), or where and why it does not
/// read.
fn read_one(
    v: &[u8],
    at: usize,
    style: &BlockStyle,
    issues: &mut Vec<Issue>,
) -> Result<(Vec<u8>, usize), (usize, MalformedKind, String)> {
    use MalformedKind::{InvalidValue, Truncated};
    let note_break = |l: &Line<'_>, issues: &mut Vec<Issue>| {
        if !l.crlf && !issues.iter().any(|i| matches!(i, Issue::LineBreaks { .. })) {
            issues.push(Issue::LineBreaks {
                at: l.at + l.text.len(),
            });
        }
    };
    let begin = line(v, at).ok_or((at, Truncated, "no begin line".to_string()))?;
    if begin.text != style.begin.as_bytes() {
        return Err((
            at,
            InvalidValue,
            format!("the begin line is not exactly {:?}", style.begin),
        ));
    }
    if !begin.lf {
        return Err((
            begin.next,
            Truncated,
            "the file ends after the begin line".into(),
        ));
    }
    note_break(&begin, issues);
    let mut base64 = Vec::new();
    let mut pos = begin.next;
    loop {
        let Some(l) = line(v, pos) else {
            return Err((pos, Truncated, format!("no end line {:?}", style.end)));
        };
        // The end line may be followed by CRs alone (Windows allows "\r", "\r\r").
        let end_text = l
            .text
            .iter()
            .rposition(|&b| b != b'\r')
            .map_or(&[][..], |i| l.text.get(..=i).unwrap_or_default());
        if end_text == style.end.as_bytes() {
            return Ok((base64, l.at + end_text.len()));
        }
        let data = l
            .text
            .strip_prefix(style.prefix.as_bytes())
            .and_then(|t| t.strip_suffix(style.suffix.as_bytes()))
            .filter(|d| !d.is_empty() && d.iter().all(|&b| is_base64(b)));
        let Some(d) = data else {
            return Err((
                l.at,
                InvalidValue,
                format!(
                    "a line of the signature block is not {:?} + base64 + {:?}",
                    style.prefix, style.suffix
                ),
            ));
        };
        base64.extend_from_slice(d);
        if !l.lf {
            return Err((l.next, Truncated, format!("no end line {:?}", style.end)));
        }
        note_break(&l, issues);
        pos = l.next;
    }
}

/// Classify what follows the text of the end line (for blocks that run to the end of the
/// file). Windows allows exactly one or two CR/LF characters there.
fn trailing(v: &[u8], mut after: usize, style: &BlockStyle, issues: &mut Vec<Issue>) {
    let mut first = true;
    loop {
        let rest = v.get(after..).unwrap_or_default();
        let breaks = rest
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        let next = rest.get(breaks..).unwrap_or_default();
        if next.is_empty() {
            if !first {
                return;
            }
            if breaks == 0 && !issues.iter().any(|i| matches!(i, Issue::LineBreaks { .. })) {
                issues.push(Issue::LineBreaks { at: after });
            } else if breaks > 2 {
                issues.push(Issue::TrailingBlanks { at: after });
            }
            return;
        }
        if next.starts_with(style.begin.as_bytes()) {
            let second = after + breaks;
            if let Ok((_, end)) = read_one(v, second, style, &mut Vec::new()) {
                if first {
                    issues.push(Issue::MoreBlocks { at: second });
                }
                first = false;
                after = end;
                continue;
            }
        }
        if next
            .iter()
            .all(|&b| b == b' ' || b == b'\t' || b == b'\r' || b == b'\n')
        {
            if first {
                issues.push(Issue::TrailingBlanks { at: after });
            }
        } else {
            issues.push(Issue::TextAfter { at: after });
        }
        return;
    }
}

/// The text of a signature block holding `pkcs7`, as Windows writes it: a CRLF, the begin
/// line, the base64 in lines of `style.width` characters, the end line, each line ending in
/// CRLF.
pub(crate) fn block_text(style: &BlockStyle, pkcs7: &[u8]) -> String {
    use base64ct::Encoding;
    let b64 = base64ct::Base64::encode_string(pkcs7);
    let mut s = String::with_capacity(b64.len() * 5 / 4 + 128);
    s.push_str("\r\n");
    s.push_str(style.begin);
    s.push_str("\r\n");
    for chunk in b64.as_bytes().chunks(style.width.max(4)) {
        s.push_str(style.prefix);
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push_str(style.suffix);
        s.push_str("\r\n");
    }
    s.push_str(style.end);
    s.push_str("\r\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::ScriptLanguage;

    fn ps() -> BlockStyle {
        ScriptLanguage::PowerShell.style()
    }

    fn signed(code: &str) -> String {
        format!(
            "{code}{}",
            block_text(&ps(), &[0x30, 0x03, 0x02, 0x01, 0x05])
        )
    }

    #[test]
    fn a_written_block_reads_back() {
        let text = signed("Write-Host 1\r\n");
        let Scan::Block(b) = scan(text.as_bytes(), &ps(), true) else {
            panic!("no block")
        };
        assert_eq!(b.start, 14);
        assert_eq!(b.end, text.len());
        assert_eq!(b.base64, b"MAMCAQU=");
        assert!(b.issues.is_empty(), "{:?}", b.issues);
    }

    #[test]
    fn what_windows_ignores_is_an_issue() {
        let text = signed("x\r\n");
        let issues = |t: &str| match scan(t.as_bytes(), &ps(), true) {
            Scan::Block(b) => b.issues,
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            issues(&text.replace("\r\n", "\n"))[..],
            [Issue::LineBreaks { .. }]
        ));
        assert!(matches!(
            issues(&text[..text.len() - 2])[..],
            [Issue::LineBreaks { .. }]
        ));
        assert!(matches!(
            issues(&format!("{text}\r"))[..],
            [Issue::TrailingBlanks { .. }]
        ));
        assert!(issues(&format!("{}\n", &text[..text.len() - 2])).is_empty());
        assert!(matches!(
            issues(&format!("{text}\r\n"))[..],
            [Issue::TrailingBlanks { .. }]
        ));
        assert!(matches!(
            issues(&format!("{text}x"))[..],
            [Issue::TextAfter { .. }]
        ));
        let twice = format!("{text}{}", &text[3..]);
        assert!(matches!(issues(&twice)[..], [Issue::MoreBlocks { .. }]));
    }

    #[test]
    fn broken_blocks_say_where() {
        for (t, at) in [
            ("x\r\n# SIG # Begin signature block \r\n# MAMC\r\n", 3),
            (
                "x\r\n# SIG # Begin signature block\r\n# MA!C\r\n# SIG # End signature block\r\n",
                34,
            ),
            ("x\r\n# SIG # Begin signature block\r\n# MAMC\r\n", 42),
            ("x\r\n# SIG # Begin signature block\r\nWrite-Host b\r\n", 34),
        ] {
            match scan(t.as_bytes(), &ps(), true) {
                Scan::Broken { at: got, .. } => assert_eq!(got, at, "{t:?}"),
                other => panic!("{t:?}: {other:?}"),
            }
        }
        assert_eq!(
            scan(b"# SIG # Begin signature block\r\n", &ps(), true),
            Scan::None
        );
    }

    #[test]
    fn views_map_code_units_to_offsets() {
        let v = View::new(&[0x41, 0, 0xe9, 0, 0x0d, 0x20], 2, TextEncoding::Utf16Le);
        assert_eq!(v.chars, vec![b'A', OTHER, OTHER]);
        assert_eq!(v.offset(2), 6);
        let v = View::new("é\n".as_bytes(), 0, TextEncoding::Utf8);
        assert_eq!(v.chars, vec![OTHER, OTHER, b'\n']);
        assert_eq!(find(b"abcabd", b"abd", 0), Some(3));
        for len in 0..40 {
            for at in 0..len {
                let mut hay = vec![b'x'; len];
                hay[at] = b'\r';
                if at + 1 < len {
                    hay[at + 1] = b'\r';
                }
                assert_eq!(find_byte(&hay, b'\r'), Some(at));
            }
            assert_eq!(find_byte(&vec![0x8d; len], b'\r'), None);
        }
        assert_eq!(rfind(b"</job></job>x", b"</job>"), Some(6));
    }
}
