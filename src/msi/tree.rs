//! The entries of an MSI's compound file as the Authenticode digest sees them: every storage
//! and stream with its raw UTF-16LE name, CLSID, state bits, FILETIMEs and size, children
//! sorted in Windows' order, read through `cfb` within fixed limits.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use cfb::CompoundFile;

use super::reader::InputReader;
use crate::error::{Error, Format, MalformedKind, Result};

/// At most this many directory entries (storages and streams) are accepted.
pub const MAX_ENTRIES: usize = 1 << 18;
/// At most this many nested storages below the root are accepted.
pub const MAX_DEPTH: usize = 64;

/// What a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryKind {
    /// The root storage ("Root Entry").
    Root,
    /// A storage below the root.
    Storage,
    /// A stream.
    Stream,
}

/// One storage or stream, with the fields the digests use in their on-disk form.
#[derive(Clone)]
pub struct MsiEntry {
    /// Name as `cfb` decodes it (MSI's compressed stream names are ordinary UTF-16).
    pub name: String,
    /// The raw UTF-16LE name without its terminator.
    pub name_utf16le: Vec<u8>,
    /// Path of the entry inside the compound file, for `cfb`.
    pub path: PathBuf,
    /// Root, storage or stream.
    pub kind: EntryKind,
    /// CLSID as stored (16 bytes, the first three fields little-endian).
    pub clsid: [u8; 16],
    /// User-defined state bits.
    pub state_bits: u32,
    /// Creation time as a FILETIME (100 ns since 1601).
    pub created: u64,
    /// Modification time as a FILETIME.
    pub modified: u64,
    /// Stream length in bytes (0 for storages).
    pub size: u64,
    /// Children of a storage, in Windows' digest order.
    pub children: Vec<MsiEntry>,
    /// The entry as `cfb` read it, to copy its metadata.
    pub(crate) source: cfb::Entry,
}

impl std::fmt::Debug for MsiEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsiEntry")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("clsid", &hex::encode(self.clsid))
            .field("state_bits", &self.state_bits)
            .field("created", &self.created)
            .field("modified", &self.modified)
            .field("size", &self.size)
            .field("children", &self.children)
            .finish()
    }
}

/// FILETIME of the Unix epoch.
const UNIX_EPOCH_FILETIME: u64 = 116_444_736_000_000_000;

/// The FILETIME that `cfb` read as `t`. `cfb` converts by adding or subtracting whole 100 ns
/// ticks from the Unix epoch, so this is exact for every stored value it can represent.
pub fn filetime(t: SystemTime) -> u64 {
    let ticks = |d: std::time::Duration| {
        d.as_secs()
            .saturating_mul(10_000_000)
            .saturating_add(u64::from(d.subsec_nanos() / 100))
    };
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH_FILETIME.saturating_add(ticks(d)),
        Err(e) => UNIX_EPOCH_FILETIME.saturating_sub(ticks(e.duration())),
    }
}

/// Windows' order of entries: byte-wise comparison of the UTF-16LE names including their
/// two-byte terminator, so a name sorts before every longer name it is a prefix of.
pub fn digest_order(a: &[u8], b: &[u8]) -> Ordering {
    a.iter().chain(&[0, 0]).cmp(b.iter().chain(&[0, 0]))
}

fn cfb_error(e: std::io::Error, what: &str) -> Error {
    Error::malformed(
        Format::Msi,
        0,
        MalformedKind::InvalidValue,
        format!("{what}: {e}"),
    )
}

impl MsiEntry {
    fn from_cfb(e: &cfb::Entry, kind: EntryKind) -> Result<Self> {
        let name = e.name().to_owned();
        if kind != EntryKind::Root
            && (name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']))
        {
            return Err(Error::malformed(
                Format::Msi,
                0,
                MalformedKind::WrongFormat,
                format!("compound-file entry name {name:?} is not allowed"),
            ));
        }
        Ok(Self {
            name_utf16le: if kind == EntryKind::Root {
                Vec::new()
            } else {
                name.encode_utf16().flat_map(u16::to_le_bytes).collect()
            },
            name,
            path: e.path().to_path_buf(),
            kind,
            clsid: e.clsid().to_bytes_le(),
            state_bits: e.state_bits(),
            created: filetime(e.created()),
            modified: filetime(e.modified()),
            size: if kind == EntryKind::Stream {
                e.len()
            } else {
                0
            },
            children: Vec::new(),
            source: e.clone(),
        })
    }

    /// Read the whole tree of `cf`, children sorted in digest order.
    pub fn read_tree(cf: &CompoundFile<InputReader<'_>>) -> Result<Self> {
        let mut root = Self::from_cfb(&cf.root_entry(), EntryKind::Root)?;
        let mut count = 1usize;
        root.read_children(cf, 0, &mut count)?;
        Ok(root)
    }

    fn read_children(
        &mut self,
        cf: &CompoundFile<InputReader<'_>>,
        depth: usize,
        count: &mut usize,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(Error::malformed(
                Format::Msi,
                0,
                MalformedKind::LimitExceeded,
                format!("storages nested more than {MAX_DEPTH} deep"),
            ));
        }
        let entries = cf
            .read_storage(&self.path)
            .map_err(|e| cfb_error(e, "reading a storage"))?;
        for e in entries {
            *count = count.saturating_add(1);
            if *count > MAX_ENTRIES {
                return Err(Error::malformed(
                    Format::Msi,
                    0,
                    MalformedKind::LimitExceeded,
                    format!("more than {MAX_ENTRIES} compound-file entries"),
                ));
            }
            let kind = if e.is_stream() {
                EntryKind::Stream
            } else if e.is_storage() && !e.is_root() {
                EntryKind::Storage
            } else {
                return Err(Error::malformed(
                    Format::Msi,
                    0,
                    MalformedKind::InvalidValue,
                    "a root entry inside a storage",
                ));
            };
            let mut child = Self::from_cfb(&e, kind)?;
            if kind == EntryKind::Storage {
                child.read_children(cf, depth.saturating_add(1), count)?;
            }
            self.children.push(child);
        }
        self.children
            .sort_by(|a, b| digest_order(&a.name_utf16le, &b.name_utf16le));
        Ok(())
    }

    /// The child named `name`, if any.
    pub fn child(&self, name: &str) -> Option<&MsiEntry> {
        self.children.iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn prefix_sorts_first_and_bytes_compare_low_byte_first() {
        assert_eq!(digest_order(&le("ab"), &le("abc")), Ordering::Less);
        assert_eq!(digest_order(&le("abc"), &le("ab")), Ordering::Greater);
        assert_eq!(digest_order(&le("ab"), &le("ab")), Ordering::Equal);
        // U+0141 (41 01) sorts after U+0240 (40 02): the low byte decides first.
        assert_eq!(
            digest_order(&le("\u{141}"), &le("\u{240}")),
            Ordering::Greater
        );
        // Upper case before lower case, unlike the compound file's own tree order.
        assert_eq!(digest_order(&le("Z"), &le("a")), Ordering::Less);
    }

    #[test]
    fn filetimes_round_trip() {
        assert_eq!(filetime(UNIX_EPOCH), UNIX_EPOCH_FILETIME);
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_700);
        assert_eq!(filetime(t), UNIX_EPOCH_FILETIME + 17_000_000_001_234_567);
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(filetime(before), UNIX_EPOCH_FILETIME - 10_000_000);
    }
}
