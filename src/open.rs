//! Format detection: which [`Subject`] a file is. Built-in formats are recognised by their
//! content (PE `MZ`, cabinet `MSCF`, MSI compound file, APPX/MSIX: a ZIP starting with a
//! local header); formats without a magic number (such as scripts) by the file name's
//! extension. Extra formats implemented outside the crate are
//! added with [`register_format`] and then work through every function that opens files
//! (`open_path`, `sign_file`, `Verifier::verify_path`...).
//!
//! ```
//! # fn main() -> authsign::Result<()> {
//! let subject = authsign::open_path("tests/fixtures/pe/hello64.exe")?;
//! assert_eq!(subject.format(), authsign::Format::Pe);
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::{Arc, OnceLock, RwLock};

use crate::error::{Error, Result};
use crate::input::{FileInput, Input, SharedInput};
use crate::subject::Subject;

/// How many bytes of a file [`FormatHandler::recognizes`] sees.
pub const HEAD_LEN: usize = 512;

/// A file format authsign can open: recognises its files and opens them as a [`Subject`].
/// Implement it for a format of your own and [`register_format`] it.
pub trait FormatHandler: Send + Sync {
    /// Whether this handler takes the file whose first bytes are `head` (up to [`HEAD_LEN`])
    /// and whose name ends with `extension` (lower case, without the dot; `None` when opened
    /// without a name).
    fn recognizes(&self, head: &[u8], extension: Option<&str>) -> bool;

    /// Open `input` as a subject of this format.
    fn open<'a>(&self, input: SharedInput<'a>) -> Result<Box<dyn Subject + 'a>>;
}

fn registry() -> &'static RwLock<Vec<Arc<dyn FormatHandler>>> {
    static REGISTRY: OnceLock<RwLock<Vec<Arc<dyn FormatHandler>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| RwLock::new(Vec::new()))
}

/// Add a format for every function that opens files. Handlers registered later are asked
/// first, and all of them before the built-in formats.
pub fn register_format(handler: impl FormatHandler + 'static) {
    let mut handlers = registry().write().unwrap_or_else(|p| p.into_inner());
    handlers.insert(0, Arc::new(handler));
}

/// Recognise the format of `input` by its content and open it as a [`Subject`]. The input is
/// borrowed (`open(&bytes)`, `open(&file)`) or owned (`open(file_input)`).
pub fn open<'a>(input: impl Input + 'a) -> Result<Box<dyn Subject + 'a>> {
    open_with_extension(input, None)
}

/// Open the file at `path`, recognised by its content, or by its extension for formats
/// without a magic number. The subject owns the open file.
pub fn open_path(path: impl AsRef<Path>) -> Result<Box<dyn Subject + 'static>> {
    let path = path.as_ref();
    let input = FileInput::open(path)?;
    open_with_extension(input, extension(path).as_deref())
}

/// The lower-case extension of `path`, if any.
pub fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// [`open`], with the file name's `extension` (lower case, no dot) as a hint for formats that
/// have no magic number.
pub fn open_with_extension<'a>(
    input: impl Input + 'a,
    extension: Option<&str>,
) -> Result<Box<dyn Subject + 'a>> {
    let input: SharedInput<'a> = Arc::new(input);
    let mut head = vec![0u8; HEAD_LEN.min(usize::try_from(input.len()).unwrap_or(HEAD_LEN))];
    input.read_exact_at(0, &mut head)?;
    let custom: Vec<Arc<dyn FormatHandler>> =
        registry().read().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(handler) = custom.iter().find(|h| h.recognizes(&head, extension)) {
        return handler.open(input);
    }
    if let Some(script) =
        extension.and_then(|e| crate::script::open_with_extension(input.clone(), e))
    {
        return Ok(Box::new(script?));
    }
    match head.as_slice() {
        [b'M', b'Z', ..] => Ok(Box::new(crate::pe::PeSubject::parse(input)?)),
        [b'M', b'S', b'C', b'F', ..] => Ok(Box::new(crate::cab::CabSubject::parse(input)?)),
        [0xd0, 0xcf, ..] => Ok(Box::new(crate::msi::MsiSubject::parse(input)?)),
        _ if crate::appx::sniff(&head) => Ok(Box::new(crate::appx::AppxSubject::parse(input)?)),
        _ => Err(Error::Unsupported(unrecognised(&head))),
    }
}

fn unrecognised(head: &[u8]) -> String {
    let start: Vec<String> = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
    if start.is_empty() {
        return "empty file (expected a PE, cabinet, MSI or APPX/MSIX file)".into();
    }
    format!(
        "unrecognised file format (starts with {}; expected a PE \"MZ\" header, a cabinet \
         \"MSCF\" header, an MSI compound file or an APPX/MSIX package)",
        start.join(" ")
    )
}
