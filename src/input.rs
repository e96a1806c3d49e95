//! [`Input`]: random-access reads of the file being signed or verified, so subjects parse only
//! the headers they need and digest the rest through a bounded buffer.

use std::fs::File;
use std::io::{self, Write};

use crate::digest::MultiDigest;
use crate::error::{Error, Format, Result};

/// Size of the buffer used to stream ranges of an [`Input`].
pub(crate) const CHUNK: usize = 1 << 20;

/// Read-only random access to the bytes of a file.
///
/// Implemented for in-memory buffers (`Vec<u8>`, `&[u8]`) and for [`File`] (positioned reads,
/// so the file is never loaded whole).
pub trait Input: Send + Sync {
    /// Total length in bytes.
    fn len(&self) -> u64;

    /// Whether the input has no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fill `buf` with the bytes at `offset`; an error if they are not all there.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

fn slice_read(data: &[u8], offset: u64, buf: &mut [u8]) -> io::Result<()> {
    let start = usize::try_from(offset).ok();
    let src = start
        .and_then(|s| s.checked_add(buf.len()).map(|e| (s, e)))
        .and_then(|(s, e)| data.get(s..e))
        .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
    buf.copy_from_slice(src);
    Ok(())
}

impl Input for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        slice_read(self, offset, buf)
    }
}

impl Input for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        slice_read(self, offset, buf)
    }
}

impl Input for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        slice_read(self, offset, buf)
    }
}

impl Input for File {
    fn len(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        #[cfg(unix)]
        {
            std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
        }
        #[cfg(windows)]
        {
            let mut done = 0;
            while done < buf.len() {
                let n = std::os::windows::fs::FileExt::seek_read(
                    self,
                    &mut buf[done..],
                    offset + done as u64,
                )?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                done += n;
            }
            Ok(())
        }
    }
}

/// An opened file whose length is read once, so it stays consistent while a subject works.
#[derive(Debug)]
pub struct FileInput {
    file: File,
    len: u64,
}

impl FileInput {
    /// Open `path` for reading.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        Ok(Self { file, len })
    }
}

impl Input for FileInput {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|e| e > self.len)
        {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Input::read_exact_at(&self.file, offset, buf)
    }
}

/// Read `len` bytes at `offset` into a new vector; a [`Error::Malformed`] naming `format` and
/// `what` if the range is outside the input.
pub(crate) fn read_vec(
    input: &dyn Input,
    format: Format,
    offset: u64,
    len: u64,
    what: &str,
) -> Result<Vec<u8>> {
    let end = offset.checked_add(len);
    if end.is_none_or(|e| e > input.len()) {
        return Err(Error::malformed(
            format,
            offset,
            format!(
                "{what}: {len} bytes at {offset:#x} run past the end of the file ({:#x})",
                input.len()
            ),
        ));
    }
    let mut buf = vec![
        0u8;
        usize::try_from(len)
            .map_err(|_| Error::Unsupported(format!("{what} too large")))?
    ];
    input.read_exact_at(offset, &mut buf)?;
    Ok(buf)
}

/// Stream the byte range `offset..offset + len` of `input` to `sink`, a bounded chunk at a time.
pub(crate) fn for_each_chunk(
    input: &dyn Input,
    offset: u64,
    len: u64,
    mut sink: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    let mut buf = vec![0u8; CHUNK.min(usize::try_from(len).unwrap_or(CHUNK))];
    let mut pos = offset;
    let end = offset
        .checked_add(len)
        .ok_or_else(|| Error::Unsupported("range overflows".into()))?;
    while pos < end {
        let n = usize::try_from(end - pos).map_or(buf.len(), |r| r.min(buf.len()));
        let chunk = &mut buf[..n];
        input.read_exact_at(pos, chunk)?;
        sink(chunk)?;
        pos += n as u64;
    }
    Ok(())
}

/// Feed the byte range `offset..offset + len` of `input` to `digest`.
pub(crate) fn hash_range(
    input: &dyn Input,
    offset: u64,
    len: u64,
    digest: &mut MultiDigest,
) -> Result<()> {
    for_each_chunk(input, offset, len, |c| {
        digest.update(c);
        Ok(())
    })
}

/// Copy the byte range `offset..offset + len` of `input` to `out`.
pub(crate) fn copy_range(
    input: &dyn Input,
    offset: u64,
    len: u64,
    out: &mut dyn Write,
) -> Result<()> {
    for_each_chunk(input, offset, len, |c| {
        out.write_all(c).map_err(Error::from)
    })
}
