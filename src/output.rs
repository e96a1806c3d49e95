//! Crash-safe output files: everything is written to a temporary file in the target's
//! directory, synced, and renamed over the target only when complete, so a failure (or a crash)
//! leaves the old file or the new one, never a partial one.
//!
//! Permissions: a file that replaces another keeps that file's permissions; a file made from an
//! input ([`write_atomically_like`]) gets the input's; a new file gets the default for new files
//! (0666 less the umask on Unix), not the 0600 of a temporary file.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Write `path` through `write`, atomically: the data goes to a temporary file in the same
/// directory, which is synced and renamed over `path` only when `write` succeeded. On error
/// the temporary file is removed and `path` is untouched. A replaced file's permissions are
/// kept; a new file gets the default permissions for new files.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    write_atomically_like(path, None, write)
}

/// [`write_atomically`], giving `path` the permissions of `template` (the input a signed file
/// is made from) when it exists, else those of the file being replaced, else the default.
pub fn write_atomically_like(
    path: &Path,
    template: Option<&Path>,
    write: impl FnOnce(&mut dyn Write) -> Result<()>,
) -> Result<()> {
    let mut tmp = temporary_beside(path)?;
    {
        let mut buffered = std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut());
        write(&mut buffered)?;
        buffered.flush().map_err(|e| Error::at(path, e))?;
    }
    persist(tmp, path, template)
}

/// A temporary file in `path`'s directory (removed when dropped), created with the default
/// permissions for new files.
pub(crate) fn temporary_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".authsign-").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Subject to the umask, like any new file (tempfile's default is 0600).
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir).map_err(|e| Error::at(dir, e))
}

/// Give `tmp` its final permissions (`template`'s, else the replaced file's, else as created),
/// sync it and rename it to `path`.
pub(crate) fn persist(
    tmp: tempfile::NamedTempFile,
    path: &Path,
    template: Option<&Path>,
) -> Result<()> {
    let permissions = template
        .and_then(|t| std::fs::metadata(t).ok())
        .or_else(|| std::fs::metadata(path).ok())
        .map(|m| m.permissions());
    if let Some(p) = permissions {
        tmp.as_file()
            .set_permissions(p)
            .map_err(|e| Error::at(path, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::at(path, e))?;
    tmp.persist(path).map_err(|e| Error::at(path, e.error))?;
    Ok(())
}
