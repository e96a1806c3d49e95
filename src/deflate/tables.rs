//! The constants of deflate (RFC 1951 §3.2.5, §3.2.6, §3.2.7) and zlib's per-level settings.

/// Shortest match deflate codes.
pub const MIN_MATCH: usize = 3;
/// Longest match deflate codes.
pub const MAX_MATCH: usize = 258;
/// Window size: 2^15 (`windowBits` 15).
pub const WSIZE: usize = 1 << 15;
/// Bytes kept ahead of the current position while more input may come (zlib's
/// `MIN_LOOKAHEAD`): a whole match plus the next hash.
pub const MIN_LOOKAHEAD: usize = MAX_MATCH + MIN_MATCH + 1;
/// Farthest distance searched (zlib's `MAX_DIST`): the window less the lookahead.
pub const MAX_DIST: usize = WSIZE - MIN_LOOKAHEAD;
/// A 3-byte match farther than this is not worth coding (zlib's `TOO_FAR`).
pub const TOO_FAR: usize = 4096;
/// Hash table bits for `memLevel` 8 (`memLevel + 7`).
pub const HASH_BITS: u32 = 15;
/// Hash shift: after [`MIN_MATCH`] updates a byte has left the hash.
pub const HASH_SHIFT: u32 = HASH_BITS.div_ceil(MIN_MATCH as u32);
/// Symbols per block for `memLevel` 8: `lit_bufsize` (`1 << (memLevel + 6)`) less one.
pub const BLOCK_SYMBOLS: usize = (1 << 14) - 1;

/// Literal/length codes (0..=255 literals, 256 end of block, 257..=285 lengths).
pub const L_CODES: usize = 286;
/// Distance codes.
pub const D_CODES: usize = 30;
/// Code-length codes.
pub const BL_CODES: usize = 19;
/// The end-of-block symbol.
pub const END_BLOCK: usize = 256;
/// Longest Huffman code for literals/lengths and distances.
pub const MAX_BITS: u32 = 15;
/// Longest Huffman code for the code-length code.
pub const MAX_BL_BITS: u32 = 7;
/// Code-length code: repeat the previous length 3-6 times (2 extra bits).
pub const REP_3_6: usize = 16;
/// Code-length code: 3-10 zero lengths (3 extra bits).
pub const REPZ_3_10: usize = 17;
/// Code-length code: 11-138 zero lengths (7 extra bits).
pub const REPZ_11_138: usize = 18;

/// Extra bits of each length code 257..=285 (RFC 1951 §3.2.5).
pub const EXTRA_LBITS: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Extra bits of each distance code 0..=29.
pub const EXTRA_DBITS: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// Extra bits of each code-length code 0..=18.
pub const EXTRA_BLBITS: [u8; 19] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 7];
/// The order in which code-length code lengths are sent (RFC 1951 §3.2.7).
pub const BL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// `(good, lazy, nice, chain)` for a zlib level that uses lazy matching (4 to 9): shorten the
/// search to a quarter once a match of `good` is held; do not look for a better match once
/// one of `lazy` is held; stop at a match of `nice`; follow at most `chain` hash entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Reduce the chain search above this match length.
    pub good: usize,
    /// Do not try a lazy match above this length.
    pub lazy: usize,
    /// Stop searching at a match this long.
    pub nice: usize,
    /// Longest hash chain followed.
    pub chain: usize,
}

/// zlib's configuration for `level`, if it is one of the lazy levels.
pub fn config(level: u8) -> Option<Config> {
    let (good, lazy, nice, chain) = match level {
        4 => (4, 4, 16, 16),
        5 => (8, 16, 32, 32),
        6 => (8, 16, 128, 128),
        7 => (8, 32, 128, 256),
        8 => (32, 128, 258, 1024),
        9 => (32, 258, 258, 4096),
        _ => return None,
    };
    Some(Config {
        good,
        lazy,
        nice,
        chain,
    })
}

/// First match length (minus [`MIN_MATCH`]) of each length code.
pub fn base_length(code: usize) -> usize {
    let base: usize = EXTRA_LBITS
        .iter()
        .take(code.min(28))
        .map(|e| 1usize << e)
        .sum();
    if code >= 28 {
        MAX_MATCH - MIN_MATCH
    } else {
        base
    }
}

/// The length code (0..=28, i.e. symbol 257 + code) of a match of `lc + MIN_MATCH` bytes.
pub fn length_code(lc: usize) -> usize {
    if lc >= MAX_MATCH - MIN_MATCH {
        return 28;
    }
    let mut code = 0;
    while code + 1 < 28 && base_length(code + 1) <= lc {
        code += 1;
    }
    code
}

/// First distance (minus one) of each distance code.
pub fn base_dist(code: usize) -> usize {
    EXTRA_DBITS.iter().take(code).map(|e| 1usize << e).sum()
}

/// The distance code of a distance of `dist + 1`.
pub fn dist_code(dist: usize) -> usize {
    let mut code = 0;
    while code + 1 < D_CODES && base_dist(code + 1) <= dist {
        code += 1;
    }
    code
}

/// Lookup tables for [`length_code`] and [`dist_code`], built once per encoder.
#[derive(Debug, Clone)]
pub struct CodeTables {
    /// Length code of each `lc` (0..=255).
    pub length: [u8; 256],
    /// Base `lc` of each length code.
    pub base_length: [u16; 29],
    /// Distance code of each distance − 1 below 256, then of `256 + (dist >> 7)`.
    pub dist: [u8; 512],
    /// Base distance − 1 of each distance code.
    pub base_dist: [u16; D_CODES],
}

impl CodeTables {
    /// Build the tables.
    pub fn new() -> Self {
        let mut t = Self {
            length: [0; 256],
            base_length: [0; 29],
            dist: [0; 512],
            base_dist: [0; D_CODES],
        };
        for (lc, slot) in t.length.iter_mut().enumerate() {
            *slot = length_code(lc) as u8;
        }
        for (code, slot) in t.base_length.iter_mut().enumerate() {
            *slot = base_length(code) as u16;
        }
        for (code, slot) in t.base_dist.iter_mut().enumerate() {
            *slot = base_dist(code) as u16;
        }
        for (i, slot) in t.dist.iter_mut().enumerate() {
            let dist = if i < 256 { i } else { (i - 256) << 7 };
            *slot = dist_code(dist) as u8;
        }
        t
    }

    /// The distance code of a distance of `dist + 1` (`dist` below 32768).
    pub fn d_code(&self, dist: usize) -> usize {
        let i = if dist < 256 { dist } else { 256 + (dist >> 7) };
        usize::from(self.dist.get(i).copied().unwrap_or(29))
    }
}

/// Reverse the low `len` bits of `code`.
pub fn reverse_bits(code: u32, len: u32) -> u32 {
    if len == 0 {
        return 0;
    }
    code.reverse_bits() >> (32 - len)
}

/// Code lengths of the fixed literal/length code (RFC 1951 §3.2.6), for all 288 symbols.
pub fn static_ltree_len(symbol: usize) -> u32 {
    match symbol {
        0..=143 => 8,
        144..=255 => 9,
        256..=279 => 7,
        _ => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_and_distance_codes_follow_rfc_1951() {
        assert_eq!(length_code(0), 0); // length 3 -> 257
        assert_eq!(length_code(8), 8); // length 11 -> 265
        assert_eq!(length_code(9), 8); // length 12 -> 265 with extra bit 1
        assert_eq!(length_code(224), 27); // length 227 -> 284
        assert_eq!(length_code(254), 27); // length 257 -> 284
        assert_eq!(length_code(255), 28); // length 258 -> 285
        assert_eq!(base_length(27), 224);
        assert_eq!(dist_code(0), 0);
        assert_eq!(dist_code(4), 4); // distance 5
        assert_eq!(dist_code(32767), 29);
        assert_eq!(base_dist(29), 24576);
        let t = CodeTables::new();
        for d in 0..32768 {
            assert_eq!(t.d_code(d), dist_code(d), "{d}");
        }
        assert_eq!(HASH_SHIFT, 5);
        assert_eq!(MAX_DIST, 32506);
    }
}
