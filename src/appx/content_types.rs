//! `[Content_Types].xml` (ECMA-376 Part 2, Open Packaging Conventions §10.1.2): the media type
//! of every part, by extension (`Default`) or by name (`Override`). A signed package lists its
//! signature part with an Override; the two tools add it differently, and the difference is
//! signed (AXCT hashes the text, AXPC its compressed bytes):
//!
//! - signtool rewrites the document: `<?xml version="1.0" encoding="UTF-8"
//!   standalone="yes"?>` and CR LF, the root with only its namespace, every `Default` then
//!   every `Override` in their original order as `<Default Extension="…" ContentType="…"/>`
//!   without spaces, and the signature Override appended (kept where it is when already
//!   there). Values are escaped as XML requires (`&`, `<`, `>`, `"`): the two samples of
//!   signtool output have none, so that part is not verified.
//! - osslsigncode inserts [`OSSLSIGNCODE_OVERRIDE`] before the first `</Types>` unless the text
//!   already contains it.
//!
//! Removing the signature deletes the signature Override element, byte range and all, and
//! keeps every other byte: that undoes either tool's change.

use super::{malformed, xml};
use crate::error::{MalformedKind, Result};

/// The namespace of `[Content_Types].xml`.
pub const NAMESPACE: &str = "http://schemas.openxmlformats.org/package/2006/content-types";
/// The signature part's name in the Override.
pub const SIGNATURE_PART: &str = "/AppxSignature.p7x";
/// The signature part's media type.
pub const SIGNATURE_CONTENT_TYPE: &str = "application/vnd.ms-appx.signature";
/// The exact text osslsigncode (and jsign) insert.
pub const OSSLSIGNCODE_OVERRIDE: &str =
    "<Override PartName=\"/AppxSignature.p7x\" ContentType=\"application/vnd.ms-appx.signature\"/>";

/// The parsed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentTypes {
    /// `(Extension, ContentType)` of each Default, in order.
    pub defaults: Vec<(String, String)>,
    /// `(PartName, ContentType)` of each Override, in order.
    pub overrides: Vec<(String, String)>,
    /// Byte ranges of the Overrides of the signature part.
    signature_ranges: Vec<std::ops::Range<usize>>,
}

fn is_signature_part(name: &str) -> bool {
    // Part names compare case-insensitively (OPC §9.1.1.1).
    name.eq_ignore_ascii_case(SIGNATURE_PART)
}

impl ContentTypes {
    /// Parse the text of `[Content_Types].xml` (whose data is at file offset `at`).
    pub fn parse(text: &str, at: u64) -> Result<Self> {
        let what = "[Content_Types].xml";
        let doc = xml::parse(text, what, at)?;
        let root = doc.root_element();
        if root.tag_name().name() != "Types" || root.tag_name().namespace() != Some(NAMESPACE) {
            return Err(malformed(
                at,
                MalformedKind::WrongFormat,
                format!("{what}: the root is not <Types> in {NAMESPACE}"),
            ));
        }
        let mut ct = Self {
            defaults: Vec::new(),
            overrides: Vec::new(),
            signature_ranges: Vec::new(),
        };
        for e in root.children().filter(roxmltree::Node::is_element) {
            let attr = |name: &str| {
                e.attribute(name).map(str::to_string).ok_or_else(|| {
                    malformed(
                        at,
                        MalformedKind::Truncated,
                        format!("{what}: <{}> without {name}", e.tag_name().name()),
                    )
                })
            };
            match e.tag_name().name() {
                "Default" => ct.defaults.push((attr("Extension")?, attr("ContentType")?)),
                "Override" => {
                    let part = attr("PartName")?;
                    if is_signature_part(&part) {
                        ct.signature_ranges.push(e.range());
                    }
                    ct.overrides.push((part, attr("ContentType")?));
                }
                other => {
                    return Err(malformed(
                        at,
                        MalformedKind::InvalidValue,
                        format!("{what}: unexpected element <{other}>"),
                    ))
                }
            }
        }
        Ok(ct)
    }

    /// Whether the signature part is listed.
    pub fn lists_signature(&self) -> bool {
        !self.signature_ranges.is_empty()
    }

    /// The document as signtool writes it, with the signature Override.
    pub fn signtool_text(&self) -> String {
        let mut out =
            String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n");
        out.push_str("<Types xmlns=\"");
        out.push_str(NAMESPACE);
        out.push_str("\">");
        for (ext, ct) in &self.defaults {
            out.push_str(&format!(
                "<Default Extension=\"{}\" ContentType=\"{}\"/>",
                xml::escape_attribute(ext),
                xml::escape_attribute(ct)
            ));
        }
        let mut overrides = self.overrides.clone();
        if !self.lists_signature() {
            overrides.push((SIGNATURE_PART.into(), SIGNATURE_CONTENT_TYPE.into()));
        }
        for (part, ct) in &overrides {
            out.push_str(&format!(
                "<Override PartName=\"{}\" ContentType=\"{}\"/>",
                xml::escape_attribute(part),
                xml::escape_attribute(ct)
            ));
        }
        out.push_str("</Types>");
        out
    }

    /// `text` with [`OSSLSIGNCODE_OVERRIDE`] inserted before `</Types>`, as osslsigncode
    /// does (unchanged when it is there already).
    pub fn osslsigncode_text(text: &str, at: u64) -> Result<String> {
        if text.contains(OSSLSIGNCODE_OVERRIDE) {
            return Ok(text.to_string());
        }
        let end = text.find("</Types>").ok_or_else(|| {
            malformed(
                at,
                MalformedKind::Truncated,
                "[Content_Types].xml: no </Types>",
            )
        })?;
        let mut out = String::with_capacity(text.len() + OSSLSIGNCODE_OVERRIDE.len());
        out.push_str(text.get(..end).unwrap_or_default());
        out.push_str(OSSLSIGNCODE_OVERRIDE);
        out.push_str(text.get(end..).unwrap_or_default());
        Ok(out)
    }

    /// `text` (the document this was parsed from) without the signature Overrides.
    pub fn without_signature(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        for r in &self.signature_ranges {
            out.push_str(text.get(pos..r.start).unwrap_or_default());
            pos = r.end;
        }
        out.push_str(text.get(pos..).unwrap_or_default());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAKEAPPX: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"png\" ContentType=\"image/png\" /><Override PartName=\"/AppxManifest.xml\" ContentType=\"application/vnd.ms-appx.manifest+xml\" /></Types>";

    #[test]
    fn signtool_rewrites_and_appends() {
        let ct = ContentTypes::parse(MAKEAPPX, 0).unwrap();
        let text = ct.signtool_text();
        assert_eq!(
            text,
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\r\n<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"png\" ContentType=\"image/png\"/><Override PartName=\"/AppxManifest.xml\" ContentType=\"application/vnd.ms-appx.manifest+xml\"/><Override PartName=\"/AppxSignature.p7x\" ContentType=\"application/vnd.ms-appx.signature\"/></Types>"
        );
        // Idempotent, and removal gives the canonical unsigned text.
        let again = ContentTypes::parse(&text, 0).unwrap();
        assert_eq!(again.signtool_text(), text);
        let removed = again.without_signature(&text);
        assert!(!removed.contains("AppxSignature"));
        assert_eq!(
            ContentTypes::parse(&removed, 0).unwrap().signtool_text(),
            text
        );
    }

    #[test]
    fn osslsigncode_inserts_and_removal_restores() {
        let text = ContentTypes::osslsigncode_text(MAKEAPPX, 0).unwrap();
        assert!(text.ends_with(&format!("{OSSLSIGNCODE_OVERRIDE}</Types>")));
        assert_eq!(ContentTypes::osslsigncode_text(&text, 0).unwrap(), text);
        let ct = ContentTypes::parse(&text, 0).unwrap();
        assert!(ct.lists_signature());
        assert_eq!(ct.without_signature(&text), MAKEAPPX);
    }

    #[test]
    fn foreign_documents_are_refused() {
        assert!(ContentTypes::parse("<Types/>", 0).is_err());
        assert!(ContentTypes::parse("<x", 0).is_err());
        assert!(ContentTypes::parse(
            "<!DOCTYPE t [<!ENTITY a \"b\">]><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>",
            0
        )
        .is_err());
    }
}
