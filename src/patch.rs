//! Changing a file in place, crash-safely: only the bytes a new signature changes are written.
//!
//! A signed PE file differs from the unsigned one in 12 header bytes (`CheckSum` and the
//! certificate directory entry) and in what follows the image (zero padding and the certificate
//! table). A [`Patch`] lists those ranges with their old and new bytes; [`apply`] writes them
//! without reading or rewriting the rest of the file, so signing a 1 GiB file in place writes a
//! few kilobytes. Nothing here knows a file format: a subject that can be updated this way
//! builds its [`Patch`] (`Subject::signature_patch`).
//!
//! # Crash safety
//!
//! After [`apply`] returns, or fails, or the process or machine stops at any point during it,
//! the file is byte for byte either the old file or the new one, once any leftover undo
//! journal has been applied ([`recover`]; the signing entry points do it first). How:
//!
//! 1. The undo journal, a small file next to the target (`.NAME.authsign-undo`) holding the
//!    old length and the old bytes of every range [`apply`] will write, is written to a
//!    temporary file, synced and renamed into place (and the directory synced): it exists
//!    whole or not at all. Until it exists, the target is untouched.
//! 2. The data ranges (the new certificate table) are written and the length set.
//! 3. The commit range (the header bytes) is written and the file synced (one sync for steps 2
//!    and 3: with the journal durable, their order does not matter).
//! 4. The journal is removed and the directory synced. Only now is the new file final.
//!
//! An error in step 2 or 3 is undone at once from the journal (old bytes written back, old
//! length restored, synced), and the journal removed. After a crash, a journal next to the
//! file means the operation did not finish: [`recover`] writes the old bytes back, and that is
//! idempotent, so a crash during recovery is recovered by the next one. Without a journal the
//! file is the old one (crash before step 1 completed) or the new one (after step 4).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::input::PatchTarget;

/// One range of the file, with its bytes before and after the change. `old` is shorter than
/// `new` (or empty) where the change writes past the old end of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// File offset.
    pub offset: u64,
    /// The bytes there before (only those below the old length).
    pub old: Vec<u8>,
    /// The bytes there after.
    pub new: Vec<u8>,
}

/// Every change that turns the old file into the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// Length of the old file.
    pub old_len: u64,
    /// Length of the new file.
    pub new_len: u64,
    /// Ranges written first (appended or replaced data the old header does not refer to).
    pub data: Vec<Range>,
    /// The range written last, which makes the new data part of the file (the header).
    pub commit: Range,
}

/// Where the undo journal of `path` lives: `.NAME.authsign-undo` in the same directory.
pub fn journal_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.authsign-undo"))
}

const MAGIC: &[u8; 16] = b"authsign-undo-v1";

fn encode_journal(patch: &Patch) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&patch.old_len.to_le_bytes());
    let ranges: Vec<&Range> = patch.data.iter().chain([&patch.commit]).collect();
    out.extend_from_slice(&(ranges.len() as u64).to_le_bytes());
    for r in ranges {
        out.extend_from_slice(&r.offset.to_le_bytes());
        out.extend_from_slice(&(r.old.len() as u64).to_le_bytes());
        out.extend_from_slice(&r.old);
    }
    out
}

/// What a journal records: the old length, and the old bytes of each range by offset.
type Undo<'j> = (u64, Vec<(u64, &'j [u8])>);

/// The old length and the old ranges recorded in a journal.
fn decode_journal(bytes: &[u8]) -> Option<Undo<'_>> {
    fn u64_at(b: &[u8], at: &mut usize) -> Option<u64> {
        let v = b.get(*at..at.checked_add(8)?)?;
        *at += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(v);
        Some(u64::from_le_bytes(a))
    }
    if bytes.get(..MAGIC.len())? != MAGIC {
        return None;
    }
    let mut at = MAGIC.len();
    let old_len = u64_at(bytes, &mut at)?;
    let count = u64_at(bytes, &mut at)?;
    let mut ranges = Vec::new();
    for _ in 0..count {
        let offset = u64_at(bytes, &mut at)?;
        let len = usize::try_from(u64_at(bytes, &mut at)?).ok()?;
        let old = bytes.get(at..at.checked_add(len)?)?;
        at += len;
        ranges.push((offset, old));
    }
    (at == bytes.len()).then_some((old_len, ranges))
}

/// Make the directory entry of a created, renamed or removed file durable.
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

fn write_ranges<'r>(
    target: &dyn PatchTarget,
    ranges: impl IntoIterator<Item = (u64, &'r [u8])>,
    len: u64,
) -> io::Result<()> {
    for (offset, bytes) in ranges {
        target.write_all_at(offset, bytes)?;
    }
    target.set_len(len)?;
    target.sync()
}

/// Apply `patch` to `target`. With `journal` (see [`journal_path`]), crash-safely as the
/// module documentation describes; without, for a file no one else sees yet (a temporary copy
/// that is renamed into place afterwards).
pub fn apply(target: &dyn PatchTarget, patch: &Patch, journal: Option<&Path>) -> Result<()> {
    if target.len() != patch.old_len {
        return Err(Error::Unsupported(format!(
            "the file changed while it was being signed ({} bytes, expected {})",
            target.len(),
            patch.old_len
        )));
    }
    if let Some(j) = journal {
        if j.exists() {
            return Err(Error::Unsupported(format!(
                "{} exists: an earlier update did not finish; recover it first",
                j.display()
            )));
        }
        let bytes = encode_journal(patch);
        crate::output::write_atomically(j, |out| out.write_all(&bytes).map_err(Into::into))?;
        sync_dir(j);
    }
    // With the journal durable, the order of the writes no longer matters (recovery restores
    // every range): one sync covers them all. Without it, the data is synced before the
    // header that refers to it is written.
    let forward = || -> io::Result<()> {
        for r in &patch.data {
            target.write_all_at(r.offset, &r.new)?;
        }
        target.set_len(patch.new_len)?;
        if journal.is_none() {
            target.sync()?;
        }
        target.write_all_at(patch.commit.offset, &patch.commit.new)?;
        target.sync()
    };
    match forward() {
        Ok(()) => {
            if let Some(j) = journal {
                std::fs::remove_file(j)?;
                sync_dir(j);
            }
            Ok(())
        }
        Err(e) => {
            let ranges = patch
                .data
                .iter()
                .chain([&patch.commit])
                .map(|r| (r.offset, r.old.as_slice()));
            match write_ranges(target, ranges, patch.old_len) {
                Ok(()) => {
                    if let Some(j) = journal {
                        let _ = std::fs::remove_file(j);
                        sync_dir(j);
                    }
                    Err(Error::Io(e))
                }
                Err(undo) => Err(Error::Io(io::Error::new(
                    e.kind(),
                    format!(
                        "{e}; undoing the partial update also failed ({undo}): {} restores the \
                         old file on the next run",
                        journal.map_or_else(|| "nothing".into(), |j| j.display().to_string())
                    ),
                ))),
            }
        }
    }
}

/// If an undo journal for the file is present, restore the old file from it into `target`
/// (the file at the journal's path) and remove the journal. Returns whether there was one.
/// A journal that cannot be read whole is an error and nothing is changed.
pub fn recover(target: &dyn PatchTarget, journal: &Path) -> Result<bool> {
    let mut bytes = Vec::new();
    match std::fs::File::open(journal) {
        Ok(mut f) => f.read_to_end(&mut bytes)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let (old_len, ranges) = decode_journal(&bytes).ok_or_else(|| {
        Error::Unsupported(format!(
            "{} is not an authsign undo journal; the file next to it was left as it is",
            journal.display()
        ))
    })?;
    write_ranges(target, ranges, old_len)?;
    std::fs::remove_file(journal)?;
    sync_dir(journal);
    Ok(true)
}

/// [`recover`] for the file at `path`, if it has a journal. Returns whether it had one.
pub fn recover_path(path: &Path) -> Result<bool> {
    let journal = journal_path(path);
    if !journal.exists() {
        return Ok(false);
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)?;
    recover(&file, &journal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Input;
    use std::fs::File;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A file whose writes, truncations and syncs fail from the `budget`-th on: once only
    /// (`crash == false`: an I/O error the process sees and can undo), or for good
    /// (`crash == true`: the process stops, nothing more reaches the disk).
    struct Faulty {
        file: File,
        budget: AtomicUsize,
        crash: bool,
        failed: std::sync::atomic::AtomicBool,
    }

    impl Faulty {
        fn step(&self) -> io::Result<()> {
            if self.crash && self.failed.load(Ordering::SeqCst) {
                return Err(io::Error::other("crashed"));
            }
            if self.budget.fetch_sub(1, Ordering::SeqCst) == 0 {
                self.failed.store(true, Ordering::SeqCst);
                return Err(io::Error::other("injected failure"));
            }
            Ok(())
        }
    }

    impl Input for Faulty {
        fn len(&self) -> u64 {
            Input::len(&self.file)
        }
        fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
            Input::read_exact_at(&self.file, offset, buf)
        }
    }

    impl PatchTarget for Faulty {
        fn write_all_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
            match self.step() {
                Ok(()) => self.file.write_all_at(offset, data),
                Err(e) => {
                    if e.to_string() == "injected failure" {
                        // Half the write reached the disk: a torn write.
                        let half = data.get(..data.len() / 2).unwrap_or_default();
                        self.file.write_all_at(offset, half)?;
                    }
                    Err(e)
                }
            }
        }
        fn set_len(&self, len: u64) -> io::Result<()> {
            self.step()?;
            PatchTarget::set_len(&self.file, len)
        }
        fn sync(&self) -> io::Result<()> {
            self.step()?;
            self.file.sync_all()
        }
    }

    /// A file of `len` bytes.
    fn file_of(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// A patch like a signature's: a header field rewritten (the commit) and a new tail
    /// replacing the old one; returns it with the file it makes.
    fn case(old: &[u8]) -> (Patch, Vec<u8>) {
        let keep = 1000.min(old.len());
        let tail = file_of(300 + old.len() % 7, old.len() as u8);
        let mut new = old[..keep].to_vec();
        new[60..64].copy_from_slice(&(old.len() as u32).to_le_bytes());
        new.extend_from_slice(&tail);
        let patch = Patch {
            old_len: old.len() as u64,
            new_len: new.len() as u64,
            data: vec![Range {
                offset: keep as u64,
                old: old[keep..].to_vec(),
                new: tail,
            }],
            commit: Range {
                offset: 60,
                old: old[60..64].to_vec(),
                new: new[60..64].to_vec(),
            },
        };
        (patch, new)
    }

    #[test]
    fn a_patch_writes_the_new_file() {
        for (name, len) in [("a.bin", 5000), ("b.bin", 1200)] {
            let old = file_of(len, 7);
            let (patch, new) = case(&old);
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(name);
            std::fs::write(&path, &old).unwrap();
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap();
            apply(&file, &patch, Some(&journal_path(&path))).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), new, "{name}");
            assert!(!journal_path(&path).exists());
            // Re-signing in place replaces the table.
            let (patch2, new2) = case(&new);
            apply(&file, &patch2, Some(&journal_path(&path))).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), new2);
        }
    }

    #[test]
    fn a_failure_at_any_step_leaves_the_old_or_the_new_file() {
        let unsigned = file_of(4096, 1);
        let (_, signed) = case(&unsigned);
        for old in [unsigned.clone(), signed] {
            let (patch, new) = case(&old);
            for crash in [false, true] {
                for budget in 0..12 {
                    let dir = tempfile::tempdir().unwrap();
                    let path = dir.path().join("app.exe");
                    let journal = journal_path(&path);
                    std::fs::write(&path, &old).unwrap();
                    let file = std::fs::OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(&path)
                        .unwrap();
                    let faulty = Faulty {
                        file,
                        budget: AtomicUsize::new(budget),
                        crash,
                        failed: Default::default(),
                    };
                    let result = apply(&faulty, &patch, Some(&journal));
                    let now = std::fs::read(&path).unwrap();
                    if crash {
                        // What a restarted process sees after recovery.
                        recover_path(&path).unwrap();
                    } else if result.is_err() {
                        assert_eq!(now, old, "undone at once (budget {budget})");
                        assert!(!journal.exists());
                    }
                    let after = std::fs::read(&path).unwrap();
                    match &result {
                        Ok(()) => assert_eq!(after, new, "crash {crash} budget {budget}"),
                        Err(_) => assert_eq!(after, old, "crash {crash} budget {budget}"),
                    }
                    assert!(!journal.exists());
                }
            }
        }
    }

    #[test]
    fn journals_round_trip_and_garbage_is_refused() {
        let (patch, _) = case(&file_of(4096, 3));
        let bytes = encode_journal(&patch);
        let (len, ranges) = decode_journal(&bytes).unwrap();
        assert_eq!(len, patch.old_len);
        assert_eq!(ranges.len(), 2);
        for cut in [0, 10, 20, bytes.len() - 1] {
            assert!(decode_journal(&bytes[..cut]).is_none());
        }
    }
}
