//! Digest algorithms used by Authenticode, and [`MultiDigest`], which feeds the same bytes to
//! several hashers so a file is read once however many algorithms are needed.

use std::fmt;
use std::str::FromStr;

use const_oid::ObjectIdentifier;
use digest::Digest;

use crate::error::{Error, Result};

/// A message digest algorithm that Authenticode can use for the file digest and signature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// MD5: verification only (old signing tools wrote MD5 file digests and TSAs signed with
    /// it). It is broken; authsign never signs with it and reports it as a weak algorithm.
    Md5,
    /// SHA-1 (only for compatibility with Windows versions before 7).
    Sha1,
    /// SHA-256, the default.
    #[default]
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithms authsign signs with (every supported algorithm but MD5).
    pub const ALL: [DigestAlgorithm; 4] = [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512];

    /// Every algorithm authsign verifies, MD5 included.
    pub const VERIFIABLE: [DigestAlgorithm; 5] = [
        Self::Md5,
        Self::Sha1,
        Self::Sha256,
        Self::Sha384,
        Self::Sha512,
    ];

    /// Whether the algorithm is broken or deprecated for signatures (MD5, SHA-1): Windows still
    /// accepts both in Authenticode, the strict policy does not.
    pub fn is_weak(self) -> bool {
        matches!(self, Self::Md5 | Self::Sha1)
    }

    /// Whether authsign signs with this algorithm (all but MD5).
    pub fn can_sign(self) -> bool {
        self != Self::Md5
    }

    /// The algorithm's object identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Md5 => const_oid::db::rfc5912::ID_MD_5,
            Self::Sha1 => const_oid::db::rfc5912::ID_SHA_1,
            Self::Sha256 => const_oid::db::rfc5912::ID_SHA_256,
            Self::Sha384 => const_oid::db::rfc5912::ID_SHA_384,
            Self::Sha512 => const_oid::db::rfc5912::ID_SHA_512,
        }
    }

    /// The algorithm with this object identifier, if supported.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::VERIFIABLE.into_iter().find(|a| a.oid() == *oid)
    }

    /// Length of the digest in bytes.
    pub fn output_size(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Lower-case name as used on command lines: `sha1`, `sha256`, `sha384`, `sha512`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "md5",
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// A fresh incremental hasher for this algorithm.
    pub fn hasher(self) -> Hasher {
        match self {
            Self::Md5 => Hasher(State::Md5(md5::Md5::new())),
            Self::Sha1 => Hasher(State::Sha1(sha1::Sha1::new())),
            Self::Sha256 => Hasher(State::Sha256(sha2::Sha256::new())),
            Self::Sha384 => Hasher(State::Sha384(sha2::Sha384::new())),
            Self::Sha512 => Hasher(State::Sha512(sha2::Sha512::new())),
        }
    }

    /// The digest of `data` in one call.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = self.hasher();
        h.update(data);
        h.finalize()
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DigestAlgorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().replace('-', "").as_str() {
            "md5" => Ok(Self::Md5),
            "sha1" => Ok(Self::Sha1),
            "sha256" => Ok(Self::Sha256),
            "sha384" => Ok(Self::Sha384),
            "sha512" => Ok(Self::Sha512),
            _ => Err(Error::InvalidArgument(format!(
                "digest algorithm {s:?} (expected sha1, sha256, sha384 or sha512; md5 for verification)"
            ))),
        }
    }
}

/// An incremental hasher for one [`DigestAlgorithm`] (the hash crates' types stay private).
#[derive(Clone)]
pub struct Hasher(State);

#[derive(Clone)]
enum State {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hasher({})", self.algorithm())
    }
}

impl Hasher {
    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> DigestAlgorithm {
        match &self.0 {
            State::Md5(_) => DigestAlgorithm::Md5,
            State::Sha1(_) => DigestAlgorithm::Sha1,
            State::Sha256(_) => DigestAlgorithm::Sha256,
            State::Sha384(_) => DigestAlgorithm::Sha384,
            State::Sha512(_) => DigestAlgorithm::Sha512,
        }
    }

    /// Feed `data`.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            State::Md5(h) => h.update(data),
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
            State::Sha384(h) => h.update(data),
            State::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finalize(self) -> Vec<u8> {
        match self.0 {
            State::Md5(h) => h.finalize().to_vec(),
            State::Sha1(h) => h.finalize().to_vec(),
            State::Sha256(h) => h.finalize().to_vec(),
            State::Sha384(h) => h.finalize().to_vec(),
            State::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// Several hashers fed with the same bytes: one pass over a file for any number of algorithms.
///
/// [`MultiDigest::update`] hashes on the calling thread. Over a file, subjects use
/// `MultiDigest::update_from` (crate-internal), which reads the file once in bounded windows and runs each
/// algorithm on its own thread over the same windows: on the 2-core measurement machine
/// (SHA-NI), SHA-1 and SHA-256 together take the time of SHA-256 alone.
#[derive(Debug, Clone)]
pub struct MultiDigest {
    hashers: Vec<Hasher>,
}

impl MultiDigest {
    /// Hashers for `algs`, in that order.
    pub fn new(algs: &[DigestAlgorithm]) -> Self {
        Self {
            hashers: algs.iter().map(|a| a.hasher()).collect(),
        }
    }

    /// Feed `data` to every hasher.
    pub fn update(&mut self, data: &[u8]) {
        for h in &mut self.hashers {
            h.update(data);
        }
    }

    /// Feed the bytes of `spans` of `input`, read once in bounded windows, hashing every
    /// algorithm on its own thread (for large inputs) while the next window is read. `inline`
    /// also sees every window, with its file offset, on the reading thread.
    pub(crate) fn update_from(
        &mut self,
        input: &dyn crate::input::Input,
        spans: &[crate::input::Span<'_>],
        inline: &mut crate::input::Consumer<'_>,
    ) -> Result<()> {
        let mut consumers: Vec<Box<crate::input::Consumer<'_>>> = self
            .hashers
            .iter_mut()
            .map(|h| {
                Box::new(move |_: u64, w: &[u8]| -> Result<()> {
                    h.update(w);
                    Ok(())
                }) as Box<crate::input::Consumer<'_>>
            })
            .collect();
        let mut refs: Vec<&mut crate::input::Consumer<'_>> =
            consumers.iter_mut().map(|b| b.as_mut()).collect();
        crate::input::stream(input, spans, &mut refs, inline)
    }

    /// The digests, in the order the algorithms were given.
    pub fn finalize(self) -> Vec<Vec<u8>> {
        self.hashers.into_iter().map(Hasher::finalize).collect()
    }
}

/// Feed the byte range `offset..offset + len` of `input` to `digest` (each algorithm on its own
/// thread for large ranges: see [`MultiDigest::update_from`]).
#[allow(dead_code)] // for the subjects that digest range by range
pub(crate) fn hash_range(
    input: &dyn crate::input::Input,
    offset: u64,
    len: u64,
    digest: &mut MultiDigest,
) -> Result<()> {
    digest.update_from(
        input,
        &[crate::input::Span::Input { offset, len }],
        &mut |_, _| Ok(()),
    )
}

/// Serialized as its name (`"sha256"`).
#[cfg(feature = "serde")]
impl serde::Serialize for DigestAlgorithm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_digest_matches_single_digests() {
        let data = b"authenticode";
        let mut m = MultiDigest::new(&DigestAlgorithm::ALL);
        m.update(&data[..4]);
        m.update(&data[4..]);
        let all = m.finalize();
        for (alg, d) in DigestAlgorithm::ALL.iter().zip(all) {
            assert_eq!(d, alg.digest(data));
            assert_eq!(d.len(), alg.output_size());
        }
    }

    #[test]
    fn update_from_matches_update() {
        use crate::input::{Span, CHUNK};
        let data: Vec<u8> = (0..3 * CHUNK + 5).map(|i| (i * 31 % 256) as u8).collect();
        let spans = [Span::Input {
            offset: 1,
            len: (data.len() - 1) as u64,
        }];
        let mut parallel = MultiDigest::new(&DigestAlgorithm::ALL);
        parallel
            .update_from(&data, &spans, &mut |_, _| Ok(()))
            .unwrap();
        let mut single = MultiDigest::new(&DigestAlgorithm::ALL);
        single.update(&data[1..]);
        assert_eq!(parallel.finalize(), single.finalize());
    }

    #[test]
    fn names_round_trip() {
        for alg in DigestAlgorithm::VERIFIABLE {
            assert_eq!(alg.name().parse::<DigestAlgorithm>().unwrap(), alg);
            assert_eq!(DigestAlgorithm::from_oid(&alg.oid()), Some(alg));
        }
        assert!("md4".parse::<DigestAlgorithm>().is_err());
        assert_eq!(
            hex::encode(DigestAlgorithm::Md5.digest(b"abc")),
            "900150983cd24fb0d6963f7d28e17f72"
        );
    }
}
