//! Parsing the XML parts of a package (bounded: size checked by the caller, no DTD, a node
//! limit), with errors that name the part.

use super::malformed;
use crate::error::{MalformedKind, Result};

/// Most XML nodes in one part (elements, attributes' owners, text): a block map of a 50 GiB
/// package has about two million.
pub const MAX_NODES: u32 = 4_000_000;

/// Parse `text`, the part `what` whose data starts at file offset `at`.
pub fn parse<'a>(text: &'a str, what: &str, at: u64) -> Result<roxmltree::Document<'a>> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(text, opts).map_err(|e| {
        malformed(
            at,
            MalformedKind::BadEncoding,
            format!("{what}: not well-formed XML: {e}"),
        )
    })
}

/// `bytes` as text: UTF-8, with a byte order mark skipped.
pub fn text<'a>(bytes: &'a [u8], what: &str, at: u64) -> Result<&'a str> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        malformed(
            at,
            MalformedKind::BadEncoding,
            format!("{what}: not UTF-8 (byte {} of the part)", e.valid_up_to()),
        )
    })
}

/// `s` escaped for an XML attribute value in double quotes.
pub fn escape_attribute(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}
