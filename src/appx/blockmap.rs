//! `AppxBlockMap.xml`: the hash of every 64 KiB block of every payload file, which Windows
//! checks whenever it reads a file of the package (the BlockMap schema,
//! `http://schemas.microsoft.com/appx/2010/blockmap`):
//!
//! ```text
//! <BlockMap HashMethod="http://www.w3.org/2001/04/xmlenc#sha256">
//!   <File Name="Assets\Logo.png" Size="4173" LfhSize="50">
//!     <Block Hash="base64 of H(uncompressed bytes 0..65536)" Size="3110"/>   <!-- Size: deflated only -->
//!   </File>
//! </BlockMap>
//! ```
//!
//! Its `HashMethod` is also the algorithm of the package signature's digest. [`FileCheck`]
//! checks one file's data against its blocks as the data streams past, inflating deflated
//! files with an output bound, so the check is one pass in constant memory.

use base64ct::{Base64, Encoding};
use miniz_oxide::inflate::stream::InflateState;
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

use super::{malformed, xml};
use crate::digest::{DigestAlgorithm, Hasher};
use crate::error::{MalformedKind, Result};

/// Uncompressed bytes per block.
pub const BLOCK_SIZE: u64 = 65536;

/// The digest algorithm a block map's `HashMethod` names.
pub fn hash_method(uri: &str) -> Option<DigestAlgorithm> {
    match uri {
        "http://www.w3.org/2001/04/xmlenc#sha256" => Some(DigestAlgorithm::Sha256),
        "http://www.w3.org/2001/04/xmldsig-more#sha384" => Some(DigestAlgorithm::Sha384),
        "http://www.w3.org/2001/04/xmlenc#sha512" => Some(DigestAlgorithm::Sha512),
        _ => None,
    }
}

/// One `File` of the block map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockFile {
    /// `Name`, with backslashes, not percent-encoded.
    pub name: String,
    /// `Size`: the uncompressed size.
    pub size: u64,
    /// `LfhSize`: the length of the file's local header, if given.
    pub lfh_size: Option<u64>,
    /// The block hashes, one after the other.
    pub hashes: Vec<u8>,
    /// Each block's `Size` (compressed bytes; given for deflated files only).
    pub block_sizes: Vec<Option<u64>>,
}

impl BlockFile {
    /// Number of blocks.
    pub fn blocks(&self) -> usize {
        self.block_sizes.len()
    }
}

/// A parsed block map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockMap {
    /// The `HashMethod`.
    pub algorithm: DigestAlgorithm,
    /// The files, in order.
    pub files: Vec<BlockFile>,
}

/// The block-map name of the zip entry `name`: `/` becomes `\` and OPC percent-encoding is
/// undone (`%5BContent_Types%5D.xml` is `[Content_Types].xml`).
pub fn block_map_name(zip_name: &str) -> String {
    let bytes = zip_name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'/', _, _) => {
                out.push(b'\\');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| zip_name.replace('/', "\\"))
}

impl BlockMap {
    /// Parse the block map text (whose data is at file offset `at`).
    pub fn parse(text: &str, at: u64) -> Result<Self> {
        let what = "AppxBlockMap.xml";
        let doc = xml::parse(text, what, at)?;
        let root = doc.root_element();
        if root.tag_name().name() != "BlockMap" {
            return Err(malformed(
                at,
                MalformedKind::WrongFormat,
                format!("{what}: the root element is not <BlockMap>"),
            ));
        }
        let method = root.attribute("HashMethod").ok_or_else(|| {
            malformed(
                at,
                MalformedKind::Truncated,
                format!("{what}: no HashMethod"),
            )
        })?;
        let algorithm = hash_method(method).ok_or_else(|| {
            malformed(
                at,
                MalformedKind::InvalidValue,
                format!("{what}: HashMethod {method:?} is not SHA-256, SHA-384 or SHA-512"),
            )
        })?;
        let hash_len = algorithm.output_size();
        let mut files = Vec::new();
        let mut names = std::collections::HashSet::new();
        for f in root.children().filter(|n| n.is_element()) {
            if f.tag_name().name() != "File" {
                return Err(malformed(
                    at,
                    MalformedKind::InvalidValue,
                    format!("{what}: unexpected <{}>", f.tag_name().name()),
                ));
            }
            let name = f
                .attribute("Name")
                .ok_or_else(|| {
                    malformed(
                        at,
                        MalformedKind::Truncated,
                        format!("{what}: File without Name"),
                    )
                })?
                .to_string();
            let number = |v: Option<&str>, attr: &str| -> Result<Option<u64>> {
                v.map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        malformed(
                            at,
                            MalformedKind::BadEncoding,
                            format!("{what}: {name:?} {attr}={v:?} is not a number"),
                        )
                    })
                })
                .transpose()
            };
            let size = number(f.attribute("Size"), "Size")?.ok_or_else(|| {
                malformed(
                    at,
                    MalformedKind::Truncated,
                    format!("{what}: {name:?} has no Size"),
                )
            })?;
            let lfh_size = number(f.attribute("LfhSize"), "LfhSize")?;
            let expected_blocks = size.div_ceil(BLOCK_SIZE);
            let mut hashes = Vec::new();
            let mut block_sizes = Vec::new();
            for b in f.children().filter(|n| n.is_element()) {
                if b.tag_name().name() != "Block" || block_sizes.len() as u64 >= expected_blocks {
                    return Err(malformed(
                        at, MalformedKind::LimitExceeded,
                        format!("{what}: {name:?} ({size} bytes) has more than {expected_blocks} blocks"),
                    ));
                }
                let hash = b
                    .attribute("Hash")
                    .and_then(|h| Base64::decode_vec(h).ok())
                    .filter(|h| h.len() == hash_len)
                    .ok_or_else(|| {
                        malformed(
                            at,
                            MalformedKind::BadEncoding,
                            format!(
                                "{what}: {name:?}: a Block Hash is not a base64 {algorithm} hash"
                            ),
                        )
                    })?;
                hashes.extend_from_slice(&hash);
                block_sizes.push(number(b.attribute("Size"), "Block Size")?);
            }
            if (block_sizes.len() as u64) != expected_blocks {
                return Err(malformed(
                    at, MalformedKind::Inconsistent,
                    format!(
                        "{what}: {name:?} ({size} bytes) has {} blocks instead of {expected_blocks}",
                        block_sizes.len()
                    ),
                ));
            }
            if !names.insert(name.to_ascii_lowercase()) {
                return Err(malformed(
                    at,
                    MalformedKind::Inconsistent,
                    format!("{what}: {name:?} is listed twice"),
                ));
            }
            files.push(BlockFile {
                name,
                size,
                lfh_size,
                hashes,
                block_sizes,
            });
        }
        Ok(Self { algorithm, files })
    }

    /// The file the block map lists as `name` (a block-map name; names compare without case,
    /// as Windows file names do).
    pub fn file(&self, name: &str) -> Option<(usize, &BlockFile)> {
        self.files
            .iter()
            .enumerate()
            .find(|(_, f)| f.name.eq_ignore_ascii_case(name))
    }
}

/// Checks one file's data against its `File` element while the data streams past.
pub struct FileCheck<'m> {
    file: &'m BlockFile,
    algorithm: DigestAlgorithm,
    deflated: bool,
    compressed_size: u64,
    inflater: Option<Box<InflateState>>,
    out: Vec<u8>,
    hasher: Hasher,
    in_block: u64,
    block: usize,
    total: u64,
    ended: bool,
    problem: Option<(Option<u64>, String)>,
}

impl std::fmt::Debug for FileCheck<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCheck")
            .field("file", &self.file.name)
            .field("block", &self.block)
            .finish_non_exhaustive()
    }
}

impl<'m> FileCheck<'m> {
    /// A check of `file` whose entry is deflated or stored, with `compressed_size` bytes of
    /// data and a local header of `lfh_len` bytes.
    pub fn new(
        file: &'m BlockFile,
        algorithm: DigestAlgorithm,
        deflated: bool,
        compressed_size: u64,
        uncompressed_size: u64,
        lfh_len: u64,
    ) -> Self {
        let mut c = Self {
            file,
            algorithm,
            deflated,
            compressed_size,
            inflater: deflated.then(|| InflateState::new_boxed(DataFormat::Raw)),
            out: if deflated {
                vec![0; 1 << 16]
            } else {
                Vec::new()
            },
            hasher: algorithm.hasher(),
            in_block: 0,
            block: 0,
            total: 0,
            ended: !deflated,
            problem: None,
        };
        if file.size != uncompressed_size {
            c.fail(
                None,
                format!(
                    "Size {} but the entry holds {uncompressed_size} bytes",
                    file.size
                ),
            );
        } else if file.lfh_size.is_some_and(|l| l != lfh_len) {
            c.fail(
                None,
                format!(
                    "LfhSize {:?} but the local header is {lfh_len} bytes",
                    file.lfh_size
                ),
            );
        } else {
            c.check_block_sizes();
        }
        c
    }

    fn fail(&mut self, block: Option<u64>, why: String) {
        if self.problem.is_none() {
            self.problem = Some((block, why));
        }
    }

    /// Block sizes: all given and adding up to the compressed size (or to it less the two
    /// bytes of the empty final block) for a deflated file, none for a stored one.
    fn check_block_sizes(&mut self) {
        let sizes = &self.file.block_sizes;
        if self.deflated {
            let sum = sizes
                .iter()
                .try_fold(0u64, |acc, s| s.map(|s| acc.saturating_add(s)));
            let ok =
                sum.is_some_and(|s| s == self.compressed_size || s + 2 == self.compressed_size);
            if !ok && !sizes.is_empty() {
                self.fail(
                    None,
                    format!(
                        "block sizes add up to {sum:?}, the entry has {} compressed bytes",
                        self.compressed_size
                    ),
                );
            }
        } else if sizes.iter().any(Option::is_some) {
            self.fail(None, "a stored file's blocks have sizes".into());
        }
    }

    /// Hash uncompressed bytes into blocks.
    fn uncompressed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.problem.is_none() {
            let room = usize::try_from(BLOCK_SIZE - self.in_block).unwrap_or(usize::MAX);
            let n = room.min(data.len());
            let (now, rest) = data.split_at(n);
            self.hasher.update(now);
            self.in_block += n as u64;
            self.total += n as u64;
            data = rest;
            if self.total > self.file.size {
                self.fail(
                    None,
                    format!("more than its Size of {} bytes", self.file.size),
                );
                return;
            }
            if self.in_block == BLOCK_SIZE {
                self.end_block();
            }
        }
    }

    fn end_block(&mut self) {
        let h = std::mem::replace(&mut self.hasher, self.algorithm.hasher()).finalize();
        let len = h.len();
        let want = self
            .file
            .hashes
            .get(self.block * len..(self.block + 1) * len);
        if want != Some(h.as_slice()) {
            let at = self.block as u64 * BLOCK_SIZE;
            self.fail(
                Some(self.block as u64),
                format!(
                    "block {} (bytes {at}..) does not match its hash",
                    self.block
                ),
            );
        }
        self.block += 1;
        self.in_block = 0;
    }

    /// Feed the next bytes of the entry's data (compressed for a deflated file).
    pub fn data(&mut self, mut data: &[u8]) {
        if self.problem.is_some() {
            return;
        }
        let Some(mut st) = self.inflater.take() else {
            self.uncompressed(data);
            return;
        };
        let mut out = std::mem::take(&mut self.out);
        while self.problem.is_none() {
            if self.ended {
                if !data.is_empty() {
                    self.fail(None, "data after the end of the deflate stream".into());
                }
                break;
            }
            let r = miniz_oxide::inflate::stream::inflate(&mut st, data, &mut out, MZFlush::None);
            data = data.get(r.bytes_consumed..).unwrap_or_default();
            if let Some(w) = out.get(..r.bytes_written) {
                self.uncompressed(w);
            }
            match r.status {
                Ok(MZStatus::StreamEnd) => self.ended = true,
                Ok(_) | Err(MZError::Buf) => {
                    if r.bytes_written < out.len()
                        && (data.is_empty() || r.bytes_consumed == 0 && r.bytes_written == 0)
                    {
                        break;
                    }
                }
                Err(e) => self.fail(None, format!("corrupt deflate data ({e:?})")),
            }
        }
        self.out = out;
        self.inflater = Some(st);
    }

    /// End the check: `None` if the file matched its blocks, else the block (if one) and why.
    pub fn finish(mut self) -> Option<(Option<u64>, String)> {
        if self.problem.is_none() && !self.ended {
            self.fail(None, "the deflate stream ends early".into());
        }
        if self.problem.is_none() && self.total != self.file.size {
            self.fail(
                None,
                format!(
                    "{} bytes instead of its Size of {}",
                    self.total, self.file.size
                ),
            );
        }
        if self.problem.is_none() && self.in_block > 0 {
            self.end_block();
        }
        if self.problem.is_none() && self.block != self.file.blocks() {
            self.fail(
                None,
                format!("{} blocks instead of {}", self.block, self.file.blocks()),
            );
        }
        self.problem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_block_map_names() {
        assert_eq!(
            block_map_name("Assets/StoreLogo.png"),
            "Assets\\StoreLogo.png"
        );
        assert_eq!(
            block_map_name("unsigned/%5BContent_Types%5D.xml"),
            "unsigned\\[Content_Types].xml"
        );
        assert_eq!(block_map_name("a%2"), "a%2");
    }

    fn file(data: &[u8], alg: DigestAlgorithm, compressed: Option<&[u8]>) -> BlockFile {
        let mut hashes = Vec::new();
        let mut sizes = Vec::new();
        for c in data.chunks(BLOCK_SIZE as usize) {
            hashes.extend(alg.digest(c));
            sizes.push(compressed.map(|_| 0));
        }
        if let (Some(c), Some(first)) = (compressed, sizes.first_mut()) {
            *first = Some(c.len() as u64);
        }
        BlockFile {
            name: "f".into(),
            size: data.len() as u64,
            lfh_size: Some(31),
            hashes,
            block_sizes: sizes,
        }
    }

    #[test]
    fn stored_and_deflated_files_are_checked_block_by_block() {
        let alg = DigestAlgorithm::Sha256;
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let f = file(&data, alg, None);
        let mut c = FileCheck::new(&f, alg, false, data.len() as u64, data.len() as u64, 31);
        for piece in data.chunks(7777) {
            c.data(piece);
        }
        assert_eq!(c.finish(), None);
        let mut bad = data.clone();
        bad[150_000] ^= 1;
        let mut c = FileCheck::new(&f, alg, false, data.len() as u64, data.len() as u64, 31);
        c.data(&bad);
        assert_eq!(c.finish().unwrap().0, Some(2));

        let z = crate::deflate::compress(&data, 6).unwrap();
        let f = file(&data, alg, Some(&z));
        let mut c = FileCheck::new(&f, alg, true, z.len() as u64, data.len() as u64, 31);
        for piece in z.chunks(1000) {
            c.data(piece);
        }
        assert_eq!(c.finish(), None);
        let mut c = FileCheck::new(&f, alg, true, z.len() as u64, data.len() as u64, 31);
        c.data(&z[..z.len() / 2]);
        assert!(c.finish().is_some());
    }

    #[test]
    fn block_maps_are_parsed_strictly() {
        let ok = "<BlockMap HashMethod=\"http://www.w3.org/2001/04/xmlenc#sha256\"><File Name=\"a\" Size=\"1\"><Block Hash=\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"/></File></BlockMap>";
        let m = BlockMap::parse(ok, 0).unwrap();
        assert_eq!(m.files.len(), 1);
        assert!(BlockMap::parse(&ok.replace("sha256", "sha1"), 0).is_err());
        assert!(BlockMap::parse(&ok.replace("Size=\"1\"", "Size=\"70000\""), 0).is_err());
        assert!(BlockMap::parse(&ok.replace("Size=\"1\"", "Size=\"x\""), 0).is_err());
        assert!(BlockMap::parse(&ok.replace("47DEQ", "47"), 0).is_err());
    }
}
