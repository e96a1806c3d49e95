//! Raw deflate (RFC 1951) compression that reproduces zlib's output byte for byte, for the
//! settings Windows package tools use: zlib levels 4 to 9 ("lazy" matching), a 32 KiB window
//! (`windowBits` -15: a raw stream, no zlib header) and `memLevel` 8, with the default
//! strategy, fed without a flush or with a full flush after every fixed-size chunk.
//!
//! # Why our own encoder
//!
//! An APPX/MSIX signature hashes the *compressed* bytes of the package's local records
//! (AXPC), so a signer that wants the exact file signtool or osslsigncode writes must compress
//! `[Content_Types].xml` exactly as they do: signtool with zlib level 6 and a full flush every
//! 64 KiB, osslsigncode with zlib level 8 in one go. The pure-Rust encoders do not reproduce
//! zlib's bytes (measured against Python's zlib 1.2.13 on 77 inputs: `miniz_oxide` matched 10
//! at levels 6 and 8; `zlib-rs`, a port of zlib-ng, matched 12, because zlib-ng chooses matches
//! differently), and the crate links no C.
//!
//! # What is reproduced, and the limits
//!
//! The stream is determined by zlib's documented parameters and algorithm, which this module
//! implements from their description: the per-level configuration (`good`, `lazy`, `nice`,
//! `chain`), the 15-bit rolling hash of three bytes, hash chains limited to the window, lazy
//! evaluation (a match is kept only if the next position has no longer one; a 3-byte match
//! farther than 4096 bytes is dropped), blocks ending after 16,383 symbols
//! (`lit_bufsize - 1` with `memLevel` 8), and the choice per block between a stored, a fixed
//! and a dynamic Huffman block by their exact sizes, with Huffman codes of at most 15 bits (7
//! for the code-length code) built and length-limited the way zlib builds them.
//!
//! Only levels 4 to 9 (zlib's `deflate_slow`) and `memLevel` 8 with a 15-bit window are
//! implemented; other settings return [`Error::Unsupported`]. `tests/deflate_zlib.rs` compares
//! the output with Python's zlib on the package fixtures and on generated inputs.

mod bits;
mod lz77;
mod tables;
mod trees;

use crate::error::{Error, Result};

/// Lowest zlib level implemented (levels below use zlib's other match finder).
pub const MIN_LEVEL: u8 = 4;
/// Highest zlib level.
pub const MAX_LEVEL: u8 = 9;

/// A raw deflate encoder producing what zlib's `deflateInit2(level, Z_DEFLATED, -15, 8,
/// Z_DEFAULT_STRATEGY)` produces for the same sequence of calls.
#[derive(Debug)]
pub struct Deflater {
    lz: lz77::Matcher,
    out: trees::BlockWriter,
}

impl Deflater {
    /// A new stream at zlib `level` (4 to 9).
    pub fn new(level: u8) -> Result<Self> {
        let config = tables::config(level).ok_or_else(|| {
            Error::Unsupported(format!(
                "deflate level {level} (levels {MIN_LEVEL} to {MAX_LEVEL} are implemented)"
            ))
        })?;
        Ok(Self {
            lz: lz77::Matcher::new(config),
            out: trees::BlockWriter::new(),
        })
    }

    /// Compress `data` as `deflate(Z_NO_FLUSH)` would: everything but the last few hundred
    /// bytes (kept to look for matches) is turned into symbols; blocks are written as they
    /// fill.
    pub fn write(&mut self, data: &[u8]) {
        self.lz.run(data, lz77::Flush::None, &mut self.out);
    }

    /// `deflate(Z_FULL_FLUSH)`: finish the current block, write an empty stored block (the
    /// stream is then byte aligned and ends in `00 00 ff ff`) and forget the history, so the
    /// data after it is compressed without reference to the data before.
    pub fn full_flush(&mut self) {
        self.lz.run(&[], lz77::Flush::Full, &mut self.out);
        self.out.stored_block(None, false);
        self.lz.forget_history();
    }

    /// `deflate(Z_FINISH)`: compress what is left, write the final block and return the
    /// stream.
    pub fn finish(mut self) -> Vec<u8> {
        self.lz.run(&[], lz77::Flush::Finish, &mut self.out);
        self.out.into_bytes()
    }
}

/// `data` compressed in one call, as zlib's `compress2`-style one-shot use (one
/// `deflate(Z_FINISH)`) writes it at `level`: what osslsigncode writes (level 8) and makeappx
/// writes for small parts.
pub fn compress(data: &[u8], level: u8) -> Result<Vec<u8>> {
    let mut d = Deflater::new(level)?;
    d.write(data);
    Ok(d.finish())
}

/// `data` compressed at `level` with a full flush after every `chunk` bytes of input and a
/// final empty `Z_FINISH`: what the Windows packaging API (and so signtool, at level 6 with
/// 64 KiB chunks) writes for package parts. Empty input gives the two bytes `03 00`.
pub fn compress_flushed(data: &[u8], level: u8, chunk: usize) -> Result<Vec<u8>> {
    let mut d = Deflater::new(level)?;
    for piece in data.chunks(chunk.max(1)) {
        d.write(piece);
        d.full_flush();
    }
    Ok(d.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_streams() {
        assert_eq!(compress(b"", 6).unwrap(), [0x03, 0x00]);
        assert_eq!(compress_flushed(b"", 6, 65536).unwrap(), [0x03, 0x00]);
    }

    #[test]
    fn full_flush_ends_with_the_sync_marker_then_an_empty_final_block() {
        let out = compress_flushed(b"hello hello hello hello", 6, 65536).unwrap();
        assert!(
            out.ends_with(&[0x00, 0x00, 0xff, 0xff, 0x03, 0x00]),
            "{out:02x?}"
        );
    }

    #[test]
    fn unsupported_levels_are_refused() {
        for level in [0, 1, 3, 10] {
            assert!(Deflater::new(level).is_err(), "{level}");
        }
    }

    #[test]
    fn output_inflates_back() {
        let mut data = Vec::new();
        for i in 0..12_000u32 {
            data.extend_from_slice(
                format!("<File Name=\"f{}\" Size=\"{}\"/>", i % 977, i).as_bytes(),
            );
            if i % 7 == 0 {
                data.push((i.wrapping_mul(2_654_435_761) >> 24) as u8);
            }
        }
        for level in MIN_LEVEL..=MAX_LEVEL {
            for out in [
                compress(&data, level).unwrap(),
                compress_flushed(&data, level, 65536).unwrap(),
            ] {
                let back = miniz_oxide::inflate::decompress_to_vec(&out).unwrap();
                assert!(back == data, "level {level}");
            }
        }
    }
}
