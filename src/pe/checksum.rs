//! The PE image checksum (`CheckSum` in the optional header): a 16-bit one's-complement-style
//! sum of the file's little-endian words with the carry folded back in, plus the file length,
//! computed incrementally over streamed bytes.

/// Incremental PE checksum. Feed the whole file, with the 4 `CheckSum` bytes replaced by
/// zeros, then call [`PeChecksum::finish`].
///
/// An odd trailing byte is treated as if followed by a zero byte, as Microsoft's
/// `CheckSumMappedFile` does (osslsigncode ignores it; the files this crate writes always have
/// a length that is a multiple of 8, where both agree).
#[derive(Debug, Clone, Default)]
pub struct PeChecksum {
    sum: u32,
    len: u64,
    pending: Option<u8>,
}

impl PeChecksum {
    /// A checksum over no bytes yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn add_word(&mut self, w: u16) {
        let s = self.sum + u32::from(w);
        self.sum = (s & 0xffff) + (s >> 16);
    }

    /// Feed the next bytes of the file.
    pub fn update(&mut self, mut data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u64);
        if let Some(lo) = self.pending.take() {
            match data.split_first() {
                Some((&hi, rest)) => {
                    self.add_word(u16::from_le_bytes([lo, hi]));
                    data = rest;
                }
                None => {
                    self.pending = Some(lo);
                    return;
                }
            }
        }
        let mut words = data.chunks_exact(2);
        for w in &mut words {
            if let [a, b] = *w {
                self.add_word(u16::from_le_bytes([a, b]));
            }
        }
        if let [last] = *words.remainder() {
            self.pending = Some(last);
        }
    }

    /// The checksum of everything fed so far.
    pub fn finish(mut self) -> u32 {
        if let Some(lo) = self.pending.take() {
            self.add_word(u16::from(lo));
        }
        let folded = (self.sum & 0xffff) + (self.sum >> 16);
        (folded & 0xffff).wrapping_add(self.len as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking_does_not_matter() {
        let data: Vec<u8> = (0..1001u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut whole = PeChecksum::new();
        whole.update(&data);
        let whole = whole.finish();
        for split in [0, 1, 2, 3, 500, 999, 1000, 1001] {
            let mut c = PeChecksum::new();
            let (a, b) = data.split_at(split);
            c.update(a);
            c.update(&[]);
            c.update(b);
            assert_eq!(c.finish(), whole, "split at {split}");
        }
    }

    #[test]
    fn carries_fold() {
        let mut c = PeChecksum::new();
        c.update(&[0xff, 0xff, 0x02, 0x00]);
        // 0xffff + 0x0002 = 0x10001 -> 0x0002, plus length 4.
        assert_eq!(c.finish(), 2 + 4);
    }
}
