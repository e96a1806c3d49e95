//! The PE image checksum (`CheckSum` in the optional header): a 16-bit one's-complement-style
//! sum of the file's little-endian words with the carry folded back in, plus the file length,
//! computed incrementally over streamed bytes.
//!
//! The end-around-carry sum of 16-bit words only depends on the plain sum of the words modulo
//! 0xffff (and on whether any word is non-zero), and 2^16 is 1 modulo 0xffff. So the sum is
//! taken 32 bits at a time into a 64-bit accumulator (a loop the compiler vectorises: about
//! 10 GB/s, against 1 GB/s word by word), a byte at an odd file offset weighs 256, and bytes
//! can be added in any order, given their offsets: [`PeChecksum::add_at`] patches in the new
//! directory entry and certificate table after one streamed pass over the unchanged bytes.

/// 0xffff: the modulus of a one's-complement 16-bit sum.
const M: u64 = 0xffff;

/// Incremental PE checksum. Feed the whole file, with the 4 `CheckSum` bytes replaced by
/// zeros, then call [`PeChecksum::finish`].
///
/// An odd trailing byte is treated as if followed by a zero byte, as Microsoft's
/// `CheckSumMappedFile` does (osslsigncode ignores it; the files this crate writes always have
/// a length that is a multiple of 8, where both agree).
#[derive(Debug, Clone, Default)]
pub struct PeChecksum {
    /// Sum of the words fed so far, modulo 0xffff.
    residue: u64,
    /// Whether any byte fed so far was non-zero.
    nonzero: bool,
    /// Bytes fed with [`PeChecksum::update`] (the file length, unless overridden).
    len: u64,
}

/// The words of `data`, placed at a file offset of parity `odd`, summed modulo 0xffff.
fn sum_at(data: &[u8], odd: bool) -> (u64, bool) {
    let mut acc: u64 = 0;
    let mut any: u32 = 0;
    // Blocks of at most 2^20 words keep the 64-bit accumulator far from overflowing.
    for block in data.chunks(1 << 22) {
        let (words, remainder) = block.as_chunks::<4>();
        let mut part: u64 = 0;
        for w in words {
            let v = u32::from_le_bytes(*w);
            any |= v;
            part += u64::from(v);
        }
        for (i, b) in remainder.iter().enumerate() {
            any |= u32::from(*b);
            part += u64::from(*b) << (8 * (i % 2));
        }
        acc = (acc + part % M) % M;
    }
    if odd {
        acc = (acc << 8) % M;
    }
    (acc, any != 0)
}

impl PeChecksum {
    /// A checksum over no bytes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next bytes of the file.
    pub fn update(&mut self, data: &[u8]) {
        self.add_at(self.len, data);
        self.len = self.len.wrapping_add(data.len() as u64);
    }

    /// Add `data` as if it were at file offset `offset`, without counting it in the length:
    /// for bytes that replace zeros already fed (the `CheckSum` or a directory entry), or that
    /// follow them (see [`PeChecksum::set_len`]).
    pub fn add_at(&mut self, offset: u64, data: &[u8]) {
        let (s, nz) = sum_at(data, offset % 2 == 1);
        self.residue = (self.residue + s) % M;
        self.nonzero |= nz;
    }

    /// Set the file length that [`PeChecksum::finish`] adds (the length after bytes added with
    /// [`PeChecksum::add_at`] past the end).
    pub fn set_len(&mut self, len: u64) {
        self.len = len;
    }

    /// The checksum of everything fed so far.
    pub fn finish(self) -> u32 {
        // The end-around-carry sum is 0 only for all-zero data, else in 1..=0xffff.
        let folded = if !self.nonzero {
            0
        } else if self.residue == 0 {
            0xffff
        } else {
            self.residue as u32
        };
        folded.wrapping_add(self.len as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The textbook definition, word by word with the carry folded after each addition.
    fn reference(data: &[u8]) -> u32 {
        let mut sum: u32 = 0;
        for w in data.chunks(2) {
            let v = u32::from(w[0]) | w.get(1).map_or(0, |b| u32::from(*b) << 8);
            let s = sum + v;
            sum = (s & 0xffff) + (s >> 16);
        }
        let folded = (sum & 0xffff) + (sum >> 16);
        (folded & 0xffff).wrapping_add(data.len() as u32)
    }

    fn pseudo_random(n: usize, seed: u32) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn matches_the_reference() {
        for (n, seed) in [
            (0, 1),
            (1, 2),
            (2, 3),
            (3, 4),
            (7, 5),
            (4096, 6),
            (100_001, 7),
        ] {
            let data = pseudo_random(n, seed);
            let mut c = PeChecksum::new();
            c.update(&data);
            assert_eq!(c.finish(), reference(&data), "{n} bytes");
        }
        for fill in [0x00u8, 0xff] {
            let data = vec![fill; 1000];
            let mut c = PeChecksum::new();
            c.update(&data);
            assert_eq!(c.finish(), reference(&data), "{fill:#x}");
        }
    }

    #[test]
    fn chunking_does_not_matter() {
        let data: Vec<u8> = (0..1001u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut whole = PeChecksum::new();
        whole.update(&data);
        let whole = whole.finish();
        assert_eq!(whole, reference(&data));
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
    fn patching_zeros_equals_streaming() {
        let mut data = pseudo_random(5003, 9);
        let whole = reference(&data);
        for (at, n) in [(0, 4), (7, 8), (150, 4), (5000, 3)] {
            let saved = data[at..at + n].to_vec();
            data[at..at + n].fill(0);
            let mut c = PeChecksum::new();
            c.update(&data);
            c.add_at(at as u64, &saved);
            data[at..at + n].copy_from_slice(&saved);
            assert_eq!(c.finish(), whole, "patch at {at}");
        }
        // Appending past the end with add_at and set_len.
        let mut c = PeChecksum::new();
        c.update(&data[..4000]);
        c.add_at(4000, &data[4000..]);
        c.set_len(data.len() as u64);
        assert_eq!(c.finish(), whole);
    }

    #[test]
    fn carries_fold() {
        let mut c = PeChecksum::new();
        c.update(&[0xff, 0xff, 0x02, 0x00]);
        // 0xffff + 0x0002 = 0x10001 -> 0x0002, plus length 4.
        assert_eq!(c.finish(), 2 + 4);
    }
}
