//! [`Spool`]: a temporary file behind a write buffer that joins consecutive writes, so `cfb`
//! writing a compound file sector by sector makes a few large writes instead of one system
//! call per 512-byte sector.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Bytes gathered before they are written to the file.
const BUFFER: usize = 1 << 20;

/// A `Read + Write + Seek` temporary file with a write-behind buffer for consecutive writes.
#[derive(Debug)]
pub struct Spool {
    file: File,
    /// Logical position of the next read or write.
    pos: u64,
    /// File offset of `buf[0]`.
    buf_start: u64,
    buf: Vec<u8>,
}

impl Spool {
    /// A new anonymous temporary file.
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            file: tempfile::tempfile()?,
            pos: 0,
            buf_start: 0,
            buf: Vec::with_capacity(BUFFER),
        })
    }

    fn flush_buffer(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.file.seek(SeekFrom::Start(self.buf_start))?;
            self.file.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Flush and return the file, positioned at its start.
    pub fn into_file(mut self) -> io::Result<File> {
        self.flush_buffer()?;
        self.file.seek(SeekFrom::Start(0))?;
        Ok(self.file)
    }
}

impl Write for Spool {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let buf_end = self.buf_start.saturating_add(self.buf.len() as u64);
        if self.buf.is_empty() || self.pos != buf_end || self.buf.len() >= BUFFER {
            self.flush_buffer()?;
            self.buf_start = self.pos;
        }
        self.buf.extend_from_slice(data);
        self.pos = self.pos.saturating_add(data.len() as u64);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_buffer()?;
        self.file.flush()
    }
}

impl Read for Spool {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.flush_buffer()?;
        self.file.seek(SeekFrom::Start(self.pos))?;
        let n = self.file.read(out)?;
        self.pos = self.pos.saturating_add(n as u64);
        Ok(n)
    }
}

impl Seek for Spool {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => {
                let file_len = self.file.metadata()?.len();
                let buf_end = self.buf_start.saturating_add(self.buf.len() as u64);
                let len = if self.buf.is_empty() {
                    file_len
                } else {
                    file_len.max(buf_end)
                };
                len.checked_add_signed(d)
            }
        };
        self.pos = new
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_file() {
        let mut s = Spool::new().unwrap();
        s.write_all(b"hello ").unwrap();
        s.write_all(b"world").unwrap();
        assert_eq!(s.seek(SeekFrom::End(0)).unwrap(), 11);
        s.seek(SeekFrom::Start(0)).unwrap();
        s.write_all(b"J").unwrap();
        s.seek(SeekFrom::Start(20)).unwrap();
        s.write_all(b"!").unwrap();
        s.seek(SeekFrom::Start(6)).unwrap();
        let mut w = [0u8; 5];
        s.read_exact(&mut w).unwrap();
        assert_eq!(&w, b"world");
        let mut f = s.into_file().unwrap();
        let mut all = Vec::new();
        f.read_to_end(&mut all).unwrap();
        assert_eq!(&all[..11], b"Jello world");
        assert_eq!(all.len(), 21);
        assert_eq!(all[20], b'!');
    }
}
