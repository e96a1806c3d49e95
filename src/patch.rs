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
//! 4. The journal is removed. Its removal need not be durable: the journal also holds the
//!    SHA-256 of every new range and the new length, so a journal that outlives a crash
//!    after step 3 finds the file already new and is simply removed by [`recover`].
//!
//! An error in step 2 or 3 is undone at once from the journal (old bytes written back, old
//! length restored, synced), and the journal removed. After a crash, a journal next to the
//! file means the operation may not have finished: [`recover`] keeps a file that is already
//! the new one and otherwise writes the old bytes back, and that is idempotent, so a crash
//! during recovery is recovered by the next one. Without a journal the file is the old one
//! (crash before step 1 completed) or the new one.

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
/// Journals that name their files and record the new state (one or many files).
const MAGIC_V2: &[u8; 16] = b"authsign-undo-v2";

/// The name of the file whose journal is at `journal` (see [`journal_path`]).
fn target_name(journal: &Path) -> Option<String> {
    let name = journal.file_name()?.to_string_lossy().into_owned();
    Some(
        name.strip_prefix('.')?
            .strip_suffix(".authsign-undo")?
            .to_string(),
    )
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_u64(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// One file's record in a v2 journal: its name, old and new lengths, and for each range its
/// offset, old bytes, and the length and SHA-256 of its new bytes.
fn encode_record(name: &str, patch: &Patch) -> Vec<u8> {
    use sha2::Digest;
    let mut out = Vec::new();
    put_bytes(&mut out, name.as_bytes());
    put_u64(&mut out, patch.old_len);
    put_u64(&mut out, patch.new_len);
    let ranges: Vec<&Range> = patch.data.iter().chain([&patch.commit]).collect();
    put_u64(&mut out, ranges.len() as u64);
    for r in ranges {
        put_u64(&mut out, r.offset);
        put_bytes(&mut out, &r.old);
        put_u64(&mut out, r.new.len() as u64);
        out.extend_from_slice(&sha2::Sha256::digest(&r.new));
    }
    out
}

/// A v2 journal of `records`, ending with the SHA-256 of everything before it.
fn encode_journal_v2<'r>(records: impl ExactSizeIterator<Item = &'r [u8]>) -> Vec<u8> {
    use sha2::Digest;
    let mut out = MAGIC_V2.to_vec();
    put_u64(&mut out, records.len() as u64);
    for r in records {
        out.extend_from_slice(r);
    }
    let sum = sha2::Sha256::digest(&out);
    out.extend_from_slice(&sum);
    out
}

#[cfg(test)]
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

/// A range of the new file as a v2 journal records it: offset, length, SHA-256.
type NewRange<'j> = (u64, u64, &'j [u8]);

/// What a journal records for one file: the old length, the old bytes of each range by
/// offset, and (v2) the new length with each range's new length and SHA-256.
struct Undo<'j> {
    old_len: u64,
    ranges: Vec<(u64, &'j [u8])>,
    new: Option<(u64, Vec<NewRange<'j>>)>,
}

fn u64_at(b: &[u8], at: &mut usize) -> Option<u64> {
    let v = b.get(*at..at.checked_add(8)?)?;
    *at += 8;
    let mut a = [0u8; 8];
    a.copy_from_slice(v);
    Some(u64::from_le_bytes(a))
}

fn bytes_at<'b>(b: &'b [u8], at: &mut usize, len: usize) -> Option<&'b [u8]> {
    let v = b.get(*at..at.checked_add(len)?)?;
    *at += len;
    Some(v)
}

/// The undo record of a v1 journal.
fn decode_journal(bytes: &[u8]) -> Option<Undo<'_>> {
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
        ranges.push((offset, bytes_at(bytes, &mut at, len)?));
    }
    (at == bytes.len()).then_some(Undo {
        old_len,
        ranges,
        new: None,
    })
}

/// The record for the file called `name` in a v2 journal (`None`: not a whole v2 journal,
/// or no record of that name).
fn decode_journal_v2<'b>(bytes: &'b [u8], name: &str) -> Option<Undo<'b>> {
    use sha2::Digest;
    if bytes.get(..MAGIC_V2.len())? != MAGIC_V2 {
        return None;
    }
    let body_len = bytes.len().checked_sub(32)?;
    let (body, sum) = (bytes.get(..body_len)?, bytes.get(body_len..)?);
    if sha2::Sha256::digest(body).as_slice() != sum {
        return None;
    }
    let mut at = MAGIC_V2.len();
    let count = u64_at(body, &mut at)?;
    let mut found = None;
    for _ in 0..count {
        let name_len = usize::try_from(u64_at(body, &mut at)?).ok()?;
        let this = bytes_at(body, &mut at, name_len)?;
        let old_len = u64_at(body, &mut at)?;
        let new_len = u64_at(body, &mut at)?;
        let n = u64_at(body, &mut at)?;
        let mut ranges = Vec::new();
        let mut new = Vec::new();
        for _ in 0..n {
            let offset = u64_at(body, &mut at)?;
            let len = usize::try_from(u64_at(body, &mut at)?).ok()?;
            ranges.push((offset, bytes_at(body, &mut at, len)?));
            let new_range_len = u64_at(body, &mut at)?;
            new.push((offset, new_range_len, bytes_at(body, &mut at, 32)?));
        }
        if this == name.as_bytes() && found.is_none() {
            found = Some(Undo {
                old_len,
                ranges,
                new: Some((new_len, new)),
            });
        }
    }
    if at != body.len() {
        return None;
    }
    found
}

/// Whether `target` already is the new file `undo` describes.
fn is_new(target: &dyn PatchTarget, undo: &Undo<'_>) -> bool {
    use sha2::Digest;
    let Some((new_len, ranges)) = &undo.new else {
        return false;
    };
    if target.len() != *new_len {
        return false;
    }
    ranges.iter().all(|(offset, len, hash)| {
        let Ok(len) = usize::try_from(*len) else {
            return false;
        };
        let mut buf = vec![0; len];
        target.read_exact_at(*offset, &mut buf).is_ok()
            && sha2::Sha256::digest(&buf).as_slice() == *hash
    })
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
        let name = target_name(j).unwrap_or_default();
        let record = encode_record(&name, patch);
        let bytes = encode_journal_v2([record.as_slice()].into_iter());
        crate::output::write_atomically(j, |out| out.write_all(&bytes).map_err(Into::into))?;
        sync_dir(j);
    }
    forward_and_finish(target, patch, journal)
}

/// Steps 2 to 4 of an update whose journal (if any) is durable: write, sync, remove the
/// journal; on an error, undo at once.
fn forward_and_finish(
    target: &dyn PatchTarget,
    patch: &Patch,
    journal: Option<&Path>,
) -> Result<()> {
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
            // Not synced: a journal that comes back after a crash finds the file new.
            if let Some(j) = journal {
                std::fs::remove_file(j)?;
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
/// (the file at the journal's path), unless the file is already the new one, and remove the
/// journal. Returns whether there was one.
/// A journal that cannot be read whole is an error and nothing is changed.
pub fn recover(target: &dyn PatchTarget, journal: &Path) -> Result<bool> {
    let mut bytes = Vec::new();
    match std::fs::File::open(journal) {
        Ok(mut f) => f.read_to_end(&mut bytes)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let name = target_name(journal).unwrap_or_default();
    let undo = decode_journal(&bytes)
        .or_else(|| decode_journal_v2(&bytes, &name))
        .ok_or_else(|| {
            Error::Unsupported(format!(
                "{} is not an authsign undo journal for {name}; the file next to it was left \
                 as it is",
                journal.display()
            ))
        })?;
    if !is_new(target, &undo) {
        write_ranges(target, undo.ranges.iter().copied(), undo.old_len)?;
    }
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
                        // A process that saw the error undid it; after a crash the file is
                        // the old one or (all writes reached the disk) the new one.
                        Err(_) if crash => assert!(
                            after == old || after == new,
                            "crash {crash} budget {budget}"
                        ),
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
        let undo = decode_journal(&bytes).unwrap();
        assert_eq!(undo.old_len, patch.old_len);
        assert_eq!(undo.ranges.len(), 2);
        for cut in [0, 10, 20, bytes.len() - 1] {
            assert!(decode_journal(&bytes[..cut]).is_none());
        }
        // v2: several files, each found by name; any damage refuses the whole journal.
        let (other, _) = case(&file_of(2000, 9));
        let records = [
            encode_record("a.exe", &patch),
            encode_record("b.exe", &other),
        ];
        let v2 = encode_journal_v2(records.iter().map(Vec::as_slice));
        assert_eq!(
            decode_journal_v2(&v2, "a.exe").unwrap().old_len,
            patch.old_len
        );
        assert_eq!(
            decode_journal_v2(&v2, "b.exe").unwrap().old_len,
            other.old_len
        );
        assert!(decode_journal_v2(&v2, "c.exe").is_none());
        for cut in [0, 20, v2.len() - 1] {
            assert!(decode_journal_v2(&v2[..cut], "a.exe").is_none());
        }
        let mut flipped = v2.clone();
        flipped[40] ^= 1;
        assert!(decode_journal_v2(&flipped, "a.exe").is_none());
    }

    #[test]
    fn a_journal_that_outlives_a_finished_update_keeps_the_new_file() {
        let old = file_of(4096, 5);
        let (patch, new) = case(&old);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("done.exe");
        std::fs::write(&path, &old).unwrap();
        let journal = journal_path(&path);
        let bytes = encode_journal_v2([encode_record("done.exe", &patch).as_slice()].into_iter());
        std::fs::write(&journal, &bytes).unwrap();
        // The update finished, but the journal's removal did not reach the disk.
        std::fs::write(&path, &new).unwrap();
        assert!(recover_path(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), new);
        assert!(!journal.exists());
        // Half done: the old file comes back.
        std::fs::write(&journal, &bytes).unwrap();
        let mut half = new.clone();
        half[60..64].copy_from_slice(&old[60..64]);
        std::fs::write(&path, &half).unwrap();
        assert!(recover_path(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), old);
    }
}
