//! Text encodings of scripts: which one a file uses (byte-order mark, then each SIP's rule for
//! files without one), a check that the first bytes do not contradict it, incremental
//! transcoding to the UTF-16LE that the SIPs hash, and encoding the ASCII signature block.

use super::language::{ScriptLanguage, Sip};

/// The encoding of a script's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TextEncoding {
    /// UTF-8 (with the byte-order mark `EF BB BF` or without).
    Utf8,
    /// UTF-16 little-endian, with the byte-order mark `FF FE`.
    Utf16Le,
    /// UTF-16 big-endian, with the byte-order mark `FE FF`.
    Utf16Be,
    /// Windows-1252, the ANSI code page of Western Windows locales, for files without a
    /// byte-order mark that the SIP reads as ANSI. Other ANSI code pages are not supported:
    /// Windows on another locale computes another digest for such files (non-ASCII bytes only).
    Windows1252,
}

impl TextEncoding {
    /// Bytes per code unit: 2 for UTF-16, 1 otherwise.
    pub(crate) fn unit(self) -> u64 {
        match self {
            TextEncoding::Utf16Le | TextEncoding::Utf16Be => 2,
            TextEncoding::Utf8 | TextEncoding::Windows1252 => 1,
        }
    }

    /// `text` (ASCII) in this encoding, without a byte-order mark.
    pub(crate) fn encode_ascii(self, text: &str) -> Vec<u8> {
        match self {
            TextEncoding::Utf8 | TextEncoding::Windows1252 => text.as_bytes().to_vec(),
            TextEncoding::Utf16Le => text.bytes().flat_map(|b| [b, 0]).collect(),
            TextEncoding::Utf16Be => text.bytes().flat_map(|b| [0, b]).collect(),
        }
    }
}

/// A file's encoding and the length of its byte-order mark (0 when it has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Detected {
    pub encoding: TextEncoding,
    pub bom_len: u64,
}

/// How many bytes of the head [`detect`] looks at.
pub(crate) const HEAD_LEN: usize = 64;

/// The encoding of a file of `language` whose first bytes are `head` (up to [`HEAD_LEN`]), or
/// why it cannot be text of that language.
pub(crate) fn detect(head: &[u8], language: ScriptLanguage) -> Result<Detected, &'static str> {
    let (encoding, bom_len) = match head {
        [0xff, 0xfe, 0, 0, ..] => {
            return Err("a UTF-32 byte-order mark (Windows does not read UTF-32 scripts)")
        }
        [0xff, 0xfe, ..] => (TextEncoding::Utf16Le, 2),
        [0xfe, 0xff, ..] => (TextEncoding::Utf16Be, 2),
        [0xef, 0xbb, 0xbf, ..] => (TextEncoding::Utf8, 3),
        _ => (without_bom(head, language), 0),
    };
    let rest = head.get(bom_len..).unwrap_or_default();
    if let Some(why) = contradiction(encoding, bom_len > 0, rest) {
        return Err(why);
    }
    Ok(Detected {
        encoding,
        bom_len: bom_len as u64,
    })
}

/// The encoding each SIP assumes for a file without a byte-order mark.
///
/// PowerShell: UTF-8 when the first 32 bytes hold at least one multibyte UTF-8 sequence and
/// every one is complete and well formed (a sequence cut at byte 32 is not), else the ANSI
/// code page (the rule of `pwrshsip.dll` as OpenAuthenticode documents and tests it on
/// Windows). JScript and VBScript: the ANSI code page (`wshext.dll`; checked against
/// Microsoft-signed `.vbs` files and jsign's tests with signtool). Windows Script Files:
/// UTF-8, as jsign reads them (not confirmed on Windows).
fn without_bom(head: &[u8], language: ScriptLanguage) -> TextEncoding {
    match (language.sip(), language) {
        (_, ScriptLanguage::WindowsScript) => TextEncoding::Utf8,
        (Sip::PowerShell, _) if head_is_utf8(head) => TextEncoding::Utf8,
        _ => TextEncoding::Windows1252,
    }
}

/// The PowerShell SIP's UTF-8 test over the first 32 bytes of a file without a byte-order
/// mark (see [`without_bom`]).
fn head_is_utf8(head: &[u8]) -> bool {
    let mut multibyte = false;
    let mut pending = 0u32;
    for &b in head.iter().take(32) {
        if pending == 0 {
            if b < 0x80 {
                continue;
            }
            multibyte = true;
            let n = b.leading_ones();
            if n < 2 {
                return false;
            }
            pending = n - 1;
        } else if b & 0xc0 == 0x80 {
            pending -= 1;
        } else {
            return false;
        }
    }
    multibyte && pending == 0
}

/// Why the first code units after the byte-order mark show that the text is not in
/// `encoding`, if they do: NUL bytes in 8-bit text (UTF-16 without, or with a UTF-8,
/// byte-order mark), 8-bit text or the other byte order after a UTF-16 byte-order mark.
fn contradiction(encoding: TextEncoding, bom: bool, rest: &[u8]) -> Option<&'static str> {
    match encoding {
        TextEncoding::Utf8 | TextEncoding::Windows1252 => rest.contains(&0).then_some(if bom {
            "a UTF-8 byte-order mark before text with NUL bytes (UTF-16 text?)"
        } else {
            "NUL bytes in text without a byte-order mark (UTF-16 without a byte-order mark?)"
        }),
        TextEncoding::Utf16Le | TextEncoding::Utf16Be => {
            let units: Vec<[u8; 2]> = rest
                .chunks_exact(2)
                .take(16)
                .filter_map(|c| <[u8; 2]>::try_from(c).ok())
                .map(|[a, b]| {
                    if encoding == TextEncoding::Utf16Le {
                        [b, a]
                    } else {
                        [a, b]
                    }
                })
                .collect();
            if units.len() < 2 {
                return None;
            }
            let text = |b: u8| b == b'\t' || b == b'\n' || b == b'\r' || (0x20..0x7f).contains(&b);
            if units.iter().all(|&[hi, lo]| text(hi) && text(lo)) {
                return Some("a UTF-16 byte-order mark before 8-bit text");
            }
            if units.iter().all(|&[hi, lo]| lo == 0 && text(hi)) {
                return Some("a UTF-16 byte-order mark before UTF-16 text in the other byte order");
            }
            None
        }
    }
}

/// Windows-1252 bytes 0x80..=0x9F as UTF-16 code units. The five bytes the code page leaves
/// undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) map to the C1 controls of the same value, as
/// Windows' `MultiByteToWideChar` maps them.
const CP1252_80_9F: [u16; 32] = [
    0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039,
    0x0152, 0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
    0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
];

/// The UTF-16 code unit of Windows-1252 byte `b`.
fn cp1252(b: u8) -> u16 {
    match b {
        0x80..=0x9f => CP1252_80_9F
            .get(usize::from(b - 0x80))
            .copied()
            .unwrap_or(u16::from(b)),
        _ => u16::from(b),
    }
}

/// Append `bytes` (ASCII) to `out` as UTF-16LE.
fn widen(bytes: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + 2 * bytes.len(), 0);
    let dst = out.get_mut(start..).unwrap_or_default();
    for (pair, &b) in dst.chunks_exact_mut(2).zip(bytes) {
        if let Some(lo) = pair.first_mut() {
            *lo = b;
        }
    }
}

/// Where transcoding failed (a file offset) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextError {
    pub offset: u64,
    pub what: String,
}

/// Incremental conversion of a script's bytes to UTF-16LE: fed the text window by window, it
/// carries a character split between two windows over to the next.
#[derive(Debug, Clone)]
pub(crate) struct Transcoder {
    encoding: TextEncoding,
    carry: Vec<u8>,
    carry_at: u64,
}

impl Transcoder {
    /// A transcoder from `encoding`.
    pub fn new(encoding: TextEncoding) -> Self {
        Self {
            encoding,
            carry: Vec::with_capacity(4),
            carry_at: 0,
        }
    }

    /// Convert `bytes`, the next bytes of the text, found at file offset `at`, and give the
    /// UTF-16LE to `sink` (in one or more pieces); `scratch` is a reusable buffer. Invalid
    /// UTF-8 is an error (Windows would replace it, and a signature over replaced text is not
    /// what the author wrote).
    pub fn feed(
        &mut self,
        at: u64,
        mut bytes: &[u8],
        scratch: &mut Vec<u8>,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<(), TextError> {
        scratch.clear();
        let mut at = at;
        match self.encoding {
            TextEncoding::Utf16Le | TextEncoding::Utf16Be => {
                if let Some(&first) = self.carry.first() {
                    let Some((&second, rest)) = bytes.split_first() else {
                        return Ok(());
                    };
                    self.carry.clear();
                    scratch.extend_from_slice(&self.unit_le(first, second));
                    bytes = rest;
                    at += 1;
                }
                let whole = bytes.len() & !1;
                let (pairs, odd) = bytes.split_at(whole);
                if self.encoding == TextEncoding::Utf16Le && scratch.is_empty() {
                    sink(pairs);
                } else {
                    for p in pairs.chunks_exact(2) {
                        if let [a, b] = p {
                            scratch.extend_from_slice(&self.unit_le(*a, *b));
                        }
                    }
                    sink(scratch);
                }
                if let Some(&b) = odd.first() {
                    self.carry.push(b);
                    self.carry_at = at + whole as u64;
                }
            }
            TextEncoding::Windows1252 => {
                if bytes.is_ascii() {
                    widen(bytes, scratch);
                } else {
                    for &b in bytes {
                        scratch.extend_from_slice(&cp1252(b).to_le_bytes());
                    }
                }
                sink(scratch);
            }
            TextEncoding::Utf8 => {
                if !self.carry.is_empty() {
                    let need = utf8_len(self.carry.first().copied().unwrap_or(0));
                    let take = need.saturating_sub(self.carry.len()).min(bytes.len());
                    let (head, rest) = bytes.split_at(take);
                    self.carry.extend_from_slice(head);
                    bytes = rest;
                    at += take as u64;
                    if self.carry.len() < need {
                        return Ok(());
                    }
                    match std::str::from_utf8(&self.carry) {
                        Ok(s) => push_str(s, scratch),
                        Err(_) => return Err(invalid_utf8(self.carry_at)),
                    }
                    self.carry.clear();
                }
                match std::str::from_utf8(bytes) {
                    Ok(s) => push_str(s, scratch),
                    Err(e) => {
                        let valid = e.valid_up_to();
                        let (good, bad) = bytes.split_at(valid);
                        push_str(std::str::from_utf8(good).unwrap_or_default(), scratch);
                        if e.error_len().is_some() {
                            return Err(invalid_utf8(at + valid as u64));
                        }
                        self.carry.extend_from_slice(bad);
                        self.carry_at = at + valid as u64;
                    }
                }
                sink(scratch);
            }
        }
        Ok(())
    }

    /// An error if the text ended inside a character.
    pub fn finish(&self) -> Result<(), TextError> {
        if self.carry.is_empty() {
            return Ok(());
        }
        Err(TextError {
            offset: self.carry_at,
            what: match self.encoding {
                TextEncoding::Utf8 => "the text ends inside a UTF-8 character".into(),
                _ => "UTF-16 text of an odd number of bytes".into(),
            },
        })
    }

    /// A UTF-16 code unit from its two bytes in file order, as little-endian bytes.
    fn unit_le(&self, first: u8, second: u8) -> [u8; 2] {
        match self.encoding {
            TextEncoding::Utf16Be => [second, first],
            _ => [first, second],
        }
    }
}

/// Length of the UTF-8 sequence that `lead` starts (1 for bytes that start none).
fn utf8_len(lead: u8) -> usize {
    match lead.leading_ones() {
        2 => 2,
        3 => 3,
        4 => 4,
        _ => 1,
    }
}

fn invalid_utf8(offset: u64) -> TextError {
    TextError {
        offset,
        what: "invalid UTF-8 in text read as UTF-8 (mixed encodings?)".into(),
    }
}

/// Append `s` as UTF-16LE.
fn push_str(s: &str, out: &mut Vec<u8>) {
    if s.is_ascii() {
        widen(s.as_bytes(), out);
    } else {
        for u in s.encode_utf16() {
            out.extend_from_slice(&u.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcode(
        encoding: TextEncoding,
        bytes: &[u8],
        window: usize,
    ) -> Result<Vec<u8>, TextError> {
        let mut t = Transcoder::new(encoding);
        let (mut out, mut scratch) = (Vec::new(), Vec::new());
        for (i, w) in bytes.chunks(window.max(1)).enumerate() {
            t.feed((i * window) as u64, w, &mut scratch, &mut |b| {
                out.extend_from_slice(b)
            })?;
        }
        t.finish()?;
        Ok(out)
    }

    fn utf16le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn every_encoding_transcodes_to_utf16le_whatever_the_window() {
        let text = "a\u{e9}\u{20ac}\u{1f600}z\r\n";
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        for window in 1..8 {
            assert_eq!(
                transcode(TextEncoding::Utf8, text.as_bytes(), window).unwrap(),
                utf16le(text)
            );
            assert_eq!(
                transcode(TextEncoding::Utf16Le, &utf16le(text), window).unwrap(),
                utf16le(text)
            );
            assert_eq!(
                transcode(TextEncoding::Utf16Be, &be, window).unwrap(),
                utf16le(text)
            );
        }
        assert_eq!(
            transcode(TextEncoding::Windows1252, b"caf\xe9 \x80\x81\x9d", 3).unwrap(),
            utf16le("caf\u{e9} \u{20ac}\u{81}\u{9d}")
        );
    }

    #[test]
    fn bad_text_is_an_error_with_its_offset() {
        let e = transcode(TextEncoding::Utf8, b"abc\xff", 2).unwrap_err();
        assert_eq!(e.offset, 3);
        let e = transcode(TextEncoding::Utf8, b"ab\xc3", 2).unwrap_err();
        assert_eq!(e.offset, 2);
        let e = transcode(TextEncoding::Utf8, b"a\xe2\x82x", 1).unwrap_err();
        assert_eq!(e.offset, 1);
        assert!(transcode(TextEncoding::Utf16Le, b"a\0b", 2).is_err());
    }

    #[test]
    fn powershell_reads_utf8_only_when_the_first_32_bytes_say_so() {
        let ps = ScriptLanguage::PowerShell;
        let d = |b: &[u8]| detect(b, ps).map(|d| d.encoding);
        assert_eq!(d(b"Write-Host \"caf\xc3\xa9\""), Ok(TextEncoding::Utf8));
        assert_eq!(d(b"Write-Host \"hello\""), Ok(TextEncoding::Windows1252));
        let mut late = vec![b'a'; 40];
        late.extend_from_slice(b"\xc3\xa9");
        assert_eq!(d(&late), Ok(TextEncoding::Windows1252));
        let mut cut = vec![b'a'; 31];
        cut.extend_from_slice(b"\xc3\xa9");
        assert_eq!(
            d(&cut),
            Ok(TextEncoding::Windows1252),
            "a sequence cut at byte 32"
        );
        assert_eq!(d(b"caf\xe9"), Ok(TextEncoding::Windows1252));
        assert_eq!(d(b"\x80abc"), Ok(TextEncoding::Windows1252));
        assert_eq!(
            detect(b"caf\xc3\xa9", ScriptLanguage::JScript).map(|d| d.encoding),
            Ok(TextEncoding::Windows1252)
        );
        assert_eq!(
            detect(b"<job>", ScriptLanguage::WindowsScript).map(|d| d.encoding),
            Ok(TextEncoding::Utf8)
        );
    }

    #[test]
    fn byte_order_marks_and_contradictions() {
        let ps = ScriptLanguage::PowerShell;
        assert_eq!(
            detect(b"\xff\xfea\0b\0", ps),
            Ok(Detected {
                encoding: TextEncoding::Utf16Le,
                bom_len: 2
            })
        );
        assert_eq!(
            detect(b"\xfe\xff\0a\0b", ps).unwrap().encoding,
            TextEncoding::Utf16Be
        );
        assert_eq!(detect(b"\xef\xbb\xbfab", ps).unwrap().bom_len, 3);
        assert!(detect(b"\xff\xfe\0\0a\0\0\0", ps).is_err(), "UTF-32");
        assert!(
            detect(b"\xff\xfeWrite-Host", ps).is_err(),
            "8-bit after a UTF-16 BOM"
        );
        assert!(
            detect(b"\xff\xfe\0W\0r\0i", ps).is_err(),
            "big-endian after a little-endian BOM"
        );
        assert!(detect(b"W\0r\0i\0", ps).is_err(), "UTF-16 without a BOM");
        assert!(
            detect(b"\xef\xbb\xbfW\0r\0", ps).is_err(),
            "UTF-16 after a UTF-8 BOM"
        );
        assert!(detect(b"", ps).is_ok());
        assert!(detect(b"\xff\xfe", ps).is_ok());
        assert!(detect(
            "\u{feff}\u{4e2d}\u{6587}"
                .encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<_>>()
                .as_slice(),
            ps
        )
        .is_ok());
    }
}
