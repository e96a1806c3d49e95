//! Format detection: which [`Subject`] a file is. Built-in formats are recognised by their
//! content (PE `MZ`, cabinet `MSCF`, MSI compound file, APPX/MSIX: a ZIP starting with a
//! local header, a catalog: a PKCS#7 SignedData of a certificate trust list); formats without
//! a magic number (such as scripts) by the file name's extension. Extra formats implemented
//! outside the crate are
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

use crate::cat::{CatalogBuilder, MemberKind, NewMember};
use crate::digest::{DigestAlgorithm, MultiDigest};
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
        head if crate::cat::recognizes(head) => Ok(Box::new(crate::cat::CatSubject::parse(input)?)),
        _ => Err(Error::Unsupported(unrecognised(&head))),
    }
}

/// How Windows' catalog functions hash the file in `input` (`CryptCATAdminCalcHashFromFileHandle2`,
/// makecat): with the PE or cabinet SIP when it is a PE image or a cabinet (its
/// `Subject::catalog_digest`), otherwise flat, every byte (MSI, scripts, INF, text, and files
/// of no known format). Returns the SIP and the digest for each of `algs`, in one pass.
/// Formats are recognised by content only, as Windows does for catalogs.
pub fn catalog_digests(
    input: impl Input,
    algs: &[DigestAlgorithm],
) -> Result<(MemberKind, Vec<Vec<u8>>)> {
    let opened = open(&input);
    match opened {
        // A file that cannot be read is an error; one that is not (or not quite) of a
        // format with its own catalog hash is hashed flat, as Windows does.
        Err(e @ (Error::Io(_) | Error::File { .. })) => Err(e),
        Ok(subject) => catalog_digests_of(&input, Some(subject.as_ref()), algs),
        Err(_) => catalog_digests_of(&input, None, algs),
    }
}

/// [`catalog_digests`] of `input` already opened as `subject` (`None`: of no known format).
pub(crate) fn catalog_digests_of(
    input: &dyn Input,
    subject: Option<&dyn Subject>,
    algs: &[DigestAlgorithm],
) -> Result<(MemberKind, Vec<Vec<u8>>)> {
    if let Some(subject) = subject {
        if let Some(digests) = subject.catalog_digest(algs)? {
            return Ok((MemberKind::for_format(subject.format()), digests));
        }
    }
    let mut md = MultiDigest::new(algs);
    crate::digest::hash_range(input, 0, input.len(), &mut md)?;
    Ok((MemberKind::Flat, md.finalize()))
}

/// Creating catalogs from files: here rather than in `cat` because hashing a file for a
/// catalog needs every format (a layer above the formats).
impl CatalogBuilder {
    /// Add the file at `path` as a member, hashed as Windows' catalog functions hash it (see
    /// [`catalog_digests`]), with a `File` attribute naming it (its file name, as inf2cat
    /// writes it).
    pub fn add_file(&mut self, path: impl AsRef<Path>) -> Result<&mut Self> {
        let path = path.as_ref();
        let input = FileInput::open(path)?;
        let member = catalog_member(&input).map_err(|e| e.with_path(path))?;
        let member = match path.file_name().and_then(|n| n.to_str()) {
            Some(name) => member.with_file_name(name),
            None => member,
        };
        Ok(self.add_member(member))
    }
}

/// The catalog member for the file in `input` (no attributes): its SIP and its SHA-1 and
/// SHA-256 catalog digests (see [`catalog_digests`]).
pub fn catalog_member(input: impl Input) -> Result<NewMember> {
    let (kind, digests) =
        catalog_digests(input, &[DigestAlgorithm::Sha1, DigestAlgorithm::Sha256])?;
    let mut digests = digests.into_iter();
    match (digests.next(), digests.next()) {
        (Some(sha1), Some(sha256)) => Ok(NewMember::new(kind, sha1, sha256)),
        _ => Err(Error::Internal("two digests computed")),
    }
}

fn unrecognised(head: &[u8]) -> String {
    let start: Vec<String> = head.iter().take(4).map(|b| format!("{b:02x}")).collect();
    if start.is_empty() {
        return "empty file (expected a PE, cabinet, MSI, APPX/MSIX or catalog file)".into();
    }
    format!(
        "unrecognised file format (starts with {}; expected a PE \"MZ\" header, a cabinet \
         \"MSCF\" header, an MSI compound file, an APPX/MSIX package or a catalog)",
        start.join(" ")
    )
}
