//! A small, bounded DER/BER tag-length-value reader and a DER writer.
//!
//! Authenticode needs the exact bytes of what it parses (the signed attributes are hashed as
//! they were encoded, foreign certificate sets are kept as they are), so parsing walks TLVs over
//! the original buffer and keeps slices; building writes canonical DER.

use const_oid::ObjectIdentifier;

use crate::error::{Error, Format, MalformedKind, Result};

/// Deepest nesting of constructed values accepted while skipping indefinite-length BER.
pub const MAX_DEPTH: usize = 32;

/// Universal tags used by Authenticode.
pub mod tag {
    /// BOOLEAN
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER
    pub const OID: u8 = 0x06;
    /// UTF8String
    pub const UTF8_STRING: u8 = 0x0c;
    /// IA5String
    pub const IA5_STRING: u8 = 0x16;
    /// UTCTime
    pub const UTC_TIME: u8 = 0x17;
    /// GeneralizedTime
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// BMPString
    pub const BMP_STRING: u8 = 0x1e;
    /// SEQUENCE (constructed)
    pub const SEQUENCE: u8 = 0x30;
    /// SET (constructed)
    pub const SET: u8 = 0x31;

    /// Context-specific constructed tag `[n]`.
    pub const fn context(n: u8) -> u8 {
        0xa0 | n
    }
    /// Context-specific primitive tag `[n]`.
    pub const fn context_primitive(n: u8) -> u8 {
        0x80 | n
    }
}

/// One decoded TLV: its tag, where it starts, and slices of its value and whole encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The identifier octet (single-byte tags only).
    pub tag: u8,
    /// Offset of the identifier octet from the start of the outermost buffer.
    pub offset: usize,
    /// The value (contents) octets. For indefinite lengths, without the end-of-contents octets.
    pub value: &'a [u8],
    /// The whole encoding: identifier, length and value (and end-of-contents octets, if any).
    pub raw: &'a [u8],
    /// Whether the length was BER indefinite.
    pub indefinite: bool,
}

impl<'a> Tlv<'a> {
    /// A reader over the children of this constructed value.
    pub fn children(&self) -> Reader<'a> {
        Reader {
            data: self.value,
            pos: 0,
            base: self.offset
                + (self.raw.len() - self.value.len() - if self.indefinite { 2 } else { 0 }),
            depth: 0,
        }
    }

    /// Fail unless the tag is `expected`.
    pub fn expect(self, expected: u8, what: &str) -> Result<Self> {
        if self.tag == expected {
            Ok(self)
        } else {
            Err(malformed(
                self.offset,
                MalformedKind::UnexpectedTag,
                format!(
                    "{what}: expected tag {expected:#04x}, found {:#04x}",
                    self.tag
                ),
            ))
        }
    }

    /// The value as an OBJECT IDENTIFIER.
    pub fn oid(&self) -> Result<ObjectIdentifier> {
        if self.tag != tag::OID {
            return Err(malformed(
                self.offset,
                MalformedKind::UnexpectedTag,
                "expected an OBJECT IDENTIFIER",
            ));
        }
        ObjectIdentifier::from_bytes(self.value).map_err(|e| {
            malformed(
                self.offset,
                MalformedKind::InvalidValue,
                format!("bad OBJECT IDENTIFIER: {e}"),
            )
        })
    }

    /// The value of a small non-negative INTEGER (up to 8 bytes).
    pub fn small_uint(&self) -> Result<u64> {
        if self.tag != tag::INTEGER || self.value.is_empty() || self.value.len() > 9 {
            return Err(malformed(
                self.offset,
                MalformedKind::UnexpectedTag,
                "expected a small INTEGER",
            ));
        }
        let mut v: u64 = 0;
        for (i, b) in self.value.iter().enumerate() {
            if i == 0 && *b & 0x80 != 0 {
                return Err(malformed(
                    self.offset,
                    MalformedKind::InvalidValue,
                    "negative INTEGER",
                ));
            }
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(*b)))
                .ok_or_else(|| {
                    malformed(
                        self.offset,
                        MalformedKind::LimitExceeded,
                        "INTEGER too large",
                    )
                })?;
        }
        Ok(v)
    }
}

/// Sequential reader over concatenated TLVs.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
    depth: usize,
}

fn malformed(offset: usize, kind: MalformedKind, what: impl Into<String>) -> Error {
    Error::malformed(Format::Cms, offset as u64, kind, what)
}

impl<'a> Reader<'a> {
    /// A reader over `data`, whose offsets count from its start.
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            base: 0,
            depth: 0,
        }
    }

    /// Whether all TLVs have been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }

    /// Offset of the next TLV from the start of the outermost buffer.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// The tag of the next TLV without consuming it.
    pub fn peek_tag(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Read the next TLV; an error naming `what` if there is none or it is malformed.
    pub fn next(&mut self, what: &str) -> Result<Tlv<'a>> {
        let start = self.pos;
        let offset = self.offset();
        let err = |kind: MalformedKind, m: &str| malformed(offset, kind, format!("{what}: {m}"));
        let tag = *self
            .data
            .get(start)
            .ok_or_else(|| err(MalformedKind::Truncated, "missing"))?;
        if tag & 0x1f == 0x1f {
            return Err(err(
                MalformedKind::InvalidValue,
                "multi-byte tags are not supported",
            ));
        }
        let first = *self
            .data
            .get(start + 1)
            .ok_or_else(|| err(MalformedKind::Truncated, "truncated length"))?;
        let mut hdr = 2usize;
        let (len, indefinite) = if first < 0x80 {
            (usize::from(first), false)
        } else if first == 0x80 {
            if tag & 0x20 == 0 {
                return Err(err(
                    MalformedKind::InvalidValue,
                    "indefinite length on a primitive value",
                ));
            }
            (0, true)
        } else {
            let n = usize::from(first & 0x7f);
            if n > 4 {
                return Err(err(MalformedKind::LimitExceeded, "length too large"));
            }
            let bytes = self
                .data
                .get(start + 2..start + 2 + n)
                .ok_or_else(|| err(MalformedKind::Truncated, "truncated length"))?;
            hdr += n;
            (
                bytes.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b)),
                false,
            )
        };
        let vstart = start + hdr;
        if indefinite {
            if self.depth >= MAX_DEPTH {
                return Err(err(MalformedKind::LimitExceeded, "BER nesting too deep"));
            }
            // Walk children until the end-of-contents octets.
            let mut inner = Reader {
                data: self.data.get(vstart..).unwrap_or_default(),
                pos: 0,
                base: self.base + vstart,
                depth: self.depth + 1,
            };
            loop {
                if inner.rest().starts_with(&[0, 0]) {
                    break;
                }
                inner.next(what)?;
            }
            let vend = vstart + inner.pos;
            self.pos = vend + 2;
            let (Some(value), Some(raw)) =
                (self.data.get(vstart..vend), self.data.get(start..self.pos))
            else {
                return Err(err(MalformedKind::Truncated, "end-of-contents missing"));
            };
            return Ok(Tlv {
                tag,
                offset,
                value,
                raw,
                indefinite: true,
            });
        }
        let vend = vstart
            .checked_add(len)
            .filter(|e| *e <= self.data.len())
            .ok_or_else(|| {
                err(
                    MalformedKind::Truncated,
                    &format!("length {len} runs past the end"),
                )
            })?;
        self.pos = vend;
        let (Some(value), Some(raw)) = (self.data.get(vstart..vend), self.data.get(start..vend))
        else {
            return Err(err(MalformedKind::Truncated, "value runs past the end"));
        };
        Ok(Tlv {
            tag,
            offset,
            value,
            raw,
            indefinite: false,
        })
    }

    /// Read the next TLV if its tag is `tag`.
    pub fn next_if(&mut self, tag: u8, what: &str) -> Result<Option<Tlv<'a>>> {
        if self.peek_tag() == Some(tag) {
            self.next(what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Read the next TLV and require its tag to be `tag`.
    pub fn expect(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>> {
        self.next(what)?.expect(tag, what)
    }

    /// Read every remaining TLV.
    pub fn all(mut self, what: &str) -> Result<Vec<Tlv<'a>>> {
        let mut v = Vec::new();
        while !self.is_empty() {
            v.push(self.next(what)?);
        }
        Ok(v)
    }
}

/// Parse exactly one TLV from `data`; trailing bytes must be zero padding.
pub fn parse_one<'a>(data: &'a [u8], what: &str) -> Result<Tlv<'a>> {
    let mut r = Reader::new(data);
    let t = r.next(what)?;
    if r.rest().iter().any(|b| *b != 0) {
        return Err(malformed(
            r.offset(),
            MalformedKind::TrailingData,
            format!("{what}: unexpected data after the end"),
        ));
    }
    Ok(t)
}

// ---- writer ----

/// Append a DER length to `out`.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let significant: Vec<u8> = bytes.into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(&significant);
    }
}

/// Encode one TLV with tag `tag` around `value`.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    out.push(tag);
    push_len(&mut out, value.len());
    out.extend_from_slice(value);
    out
}

/// Encode a constructed TLV with tag `tag` whose value is the concatenation of `parts`.
pub fn constructed(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag, &parts.concat())
}

/// SEQUENCE of the given encoded parts.
pub fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    constructed(tag::SEQUENCE, parts)
}

/// DER SET OF: the encoded elements sorted by their encodings.
pub fn set_of(mut items: Vec<Vec<u8>>) -> Vec<u8> {
    items.sort();
    let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    constructed(tag::SET, &refs)
}

/// OBJECT IDENTIFIER.
pub fn oid(oid: &ObjectIdentifier) -> Vec<u8> {
    tlv(tag::OID, oid.as_bytes())
}

/// OCTET STRING.
pub fn octet_string(value: &[u8]) -> Vec<u8> {
    tlv(tag::OCTET_STRING, value)
}

/// NULL.
pub fn null() -> Vec<u8> {
    vec![tag::NULL, 0]
}

/// A small non-negative INTEGER.
pub fn small_uint(v: u32) -> Vec<u8> {
    let mut value: Vec<u8> = v
        .to_be_bytes()
        .into_iter()
        .skip_while(|b| *b == 0)
        .collect();
    if value.first().is_none_or(|b| b & 0x80 != 0) {
        value.insert(0, 0);
    }
    tlv(tag::INTEGER, &value)
}

/// AlgorithmIdentifier with NULL parameters, as Authenticode writes digest and RSA algorithms.
pub fn algorithm_null(alg: &ObjectIdentifier) -> Vec<u8> {
    sequence(&[&oid(alg), &null()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lengths_round_trip() {
        for n in [0usize, 1, 127, 128, 255, 256, 65535, 65536, 70000] {
            let v = vec![7u8; n];
            let enc = tlv(tag::OCTET_STRING, &v);
            let t = parse_one(&enc, "x").unwrap();
            assert_eq!(t.value.len(), n);
            assert_eq!(t.raw.len(), enc.len());
        }
    }

    #[test]
    fn indefinite_lengths_are_walked() {
        // SEQUENCE (indefinite) { OCTET STRING 'ab', SEQUENCE (indefinite) { NULL } }
        let ber = [
            0x30, 0x80, 0x04, 0x02, b'a', b'b', 0x30, 0x80, 0x05, 0x00, 0, 0, 0, 0,
        ];
        let t = parse_one(&ber, "x").unwrap();
        assert!(t.indefinite);
        let kids = t.children().all("x").unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0].value, b"ab");
        assert_eq!(kids[1].children().all("x").unwrap()[0].tag, tag::NULL);
    }

    #[test]
    fn truncated_and_absurd_input_is_an_error() {
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x05, 0],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x04, 0x80],
        ] {
            assert!(parse_one(bad, "x").is_err(), "{bad:?}");
        }
        let deep: Vec<u8> = std::iter::repeat_n([0x30u8, 0x80], 100).flatten().collect();
        assert!(parse_one(&deep, "x").is_err());
    }

    #[test]
    fn integers_are_minimal() {
        assert_eq!(small_uint(1), [2, 1, 1]);
        assert_eq!(small_uint(0x80), [2, 2, 0, 0x80]);
        assert_eq!(small_uint(0), [2, 1, 0]);
    }
}
