//! [`InputReader`]: `Read + Seek` over an [`Input`] with a position of its own, so the `cfb`
//! crate reads a compound file through positioned reads and nothing is loaded whole.

use std::io::{self, Read, Seek, SeekFrom};

use crate::input::{Input, SharedInput};

/// A cursor over an [`Input`]: each `read` is one positioned read at the cursor.
pub struct InputReader<'a> {
    input: SharedInput<'a>,
    pos: u64,
}

impl<'a> InputReader<'a> {
    /// A cursor at offset 0 of `input`.
    pub fn new(input: SharedInput<'a>) -> Self {
        Self { input, pos: 0 }
    }
}

impl std::fmt::Debug for InputReader<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InputReader")
            .field("len", &self.input.len())
            .field("pos", &self.pos)
            .finish()
    }
}

impl Read for InputReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.input.len();
        let left = len.saturating_sub(self.pos);
        let n = usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()));
        let Some(dst) = buf.get_mut(..n) else {
            return Ok(0);
        };
        if n == 0 {
            return Ok(0);
        }
        self.input.read_exact_at(self.pos, dst)?;
        self.pos = self.pos.saturating_add(n as u64);
        Ok(n)
    }
}

impl Seek for InputReader<'_> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let new = match pos {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.input.len().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_seeks_like_a_cursor() {
        let data: Vec<u8> = (0u8..10).collect();
        let mut r = InputReader::new(std::sync::Arc::new(data));
        let mut buf = [0u8; 4];
        assert_eq!(r.read(&mut buf).unwrap(), 4);
        assert_eq!(buf, [0, 1, 2, 3]);
        assert_eq!(r.seek(SeekFrom::End(-2)).unwrap(), 8);
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], &[8, 9]);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
        assert!(r.seek(SeekFrom::Current(-20)).is_err());
        assert_eq!(r.seek(SeekFrom::Start(100)).unwrap(), 100);
        assert_eq!(r.read(&mut buf).unwrap(), 0);
    }
}
