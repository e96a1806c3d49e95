//! Bits written least significant first, as deflate packs them (RFC 1951 §3.1.1).

/// An output byte stream written bit by bit.
#[derive(Debug, Default)]
pub struct BitWriter {
    out: Vec<u8>,
    buf: u64,
    count: u32,
}

impl BitWriter {
    /// Append the low `len` bits of `value` (at most 32).
    pub fn bits(&mut self, value: u32, len: u32) {
        let mask = if len >= 32 {
            u32::MAX
        } else {
            (1u32 << len) - 1
        };
        self.buf |= u64::from(value & mask) << self.count;
        self.count += len;
        while self.count >= 8 {
            self.out.push(self.buf as u8);
            self.buf >>= 8;
            self.count -= 8;
        }
    }

    /// Pad with zero bits to a byte boundary.
    pub fn align(&mut self) {
        if self.count > 0 {
            self.out.push(self.buf as u8);
            self.buf = 0;
            self.count = 0;
        }
    }

    /// Append whole bytes (the writer must be aligned).
    pub fn bytes(&mut self, data: &[u8]) {
        self.align();
        self.out.extend_from_slice(data);
    }

    /// The bytes written, padded to a byte.
    pub fn into_bytes(mut self) -> Vec<u8> {
        self.align();
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_packed_lsb_first() {
        let mut w = BitWriter::default();
        w.bits(0b1, 1);
        w.bits(0b01, 2);
        w.bits(0, 7);
        assert_eq!(w.into_bytes(), [0x03, 0x00]);
    }
}
