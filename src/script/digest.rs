//! The script digest, computed as each Windows SIP does, in one streamed pass over the file.
//!
//! The text is read in bounded windows (see [`crate::input`]); for each algorithm a consumer
//! thread transcodes the windows to UTF-16LE and hashes them, so memory stays bounded whatever
//! the file size. Meanwhile the reading thread searches the hashed text for the signature
//! block's begin marker: Windows stops hashing at the *first* one, so a marker before the
//! block (or, in an unsigned file, anywhere) would make its digest differ from ours, and is
//! reported as an error instead.

use super::encoding::Transcoder;
use super::language::Sip;
use super::layout::{Layout, State};
use super::malformed;
use crate::digest::{DigestAlgorithm, Hasher};
use crate::error::{Error, MalformedKind, Result};
use crate::input::{stream, Input, Span, CHUNK, RING};
use std::sync::{mpsc, Arc};

/// What one digest pass hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    /// File ranges `(offset, len)` of the text hashed, in order.
    spans: Vec<(u64, u64)>,
    /// Windows Script Host: the hash ends with the number of UTF-16 code units of the hashed
    /// text before this file offset, as a little-endian `u32`.
    position_before: Option<u64>,
}

/// The plan for `layout`, or why there is none.
fn plan(layout: &Layout) -> Result<Plan> {
    let start = layout.text_start();
    let range = |from: u64, to: u64| (from, to.saturating_sub(from));
    let (spans, job) = match &layout.state {
        State::Broken { offset, kind, what } => {
            return Err(malformed(layout.language, *offset, *kind, what.clone()))
        }
        State::Unsigned { insert_at, .. } => {
            match (layout.language.inserts_before_job_end(), insert_at) {
                (true, Some(at)) => (vec![range(start, *at), range(*at, layout.len)], Some(*at)),
                (true, None) => {
                    return Err(malformed(
                        layout.language,
                        layout.len,
                        MalformedKind::Truncated,
                        "no </job> in the file (a Windows Script File's digest counts the text \
                     before its last </job>)",
                    ))
                }
                (false, _) => (vec![range(start, layout.len)], None),
            }
        }
        State::Signed {
            start: block_start,
            end,
            job_end,
            ..
        } => match job_end {
            Some(job) => (
                vec![
                    range(start, *block_start),
                    range(*end, *job),
                    range(*job, layout.len),
                ],
                Some(*job),
            ),
            None => (vec![range(start, *block_start)], None),
        },
    };
    let position_before = match layout.language.sip() {
        Sip::PowerShell => None,
        Sip::WindowsScriptHost => Some(job.unwrap_or(u64::MAX)),
    };
    Ok(Plan {
        spans: spans.into_iter().filter(|&(_, len)| len > 0).collect(),
        position_before,
    })
}

/// Below this many bytes of text the digest runs on the calling thread.
const PARALLEL_THRESHOLD: u64 = 2 * CHUNK as u64;

/// The digest of the script described by `layout` for each algorithm of `algs`.
///
/// The calling thread reads the text in windows, searches it for the begin marker and
/// transcodes it to UTF-16LE; one thread per algorithm hashes the transcoded windows, which go
/// to it through a bounded channel and come back for reuse, so only a few windows ([`RING`]
/// per algorithm, at most 2 MiB each) are in memory and transcoding overlaps hashing.
pub(crate) fn digest(
    input: &dyn Input,
    layout: &Layout,
    algs: &[DigestAlgorithm],
) -> Result<Vec<Vec<u8>>> {
    let plan = plan(layout)?;
    let language = layout.language;
    let spans: Vec<Span<'_>> = plan
        .spans
        .iter()
        .map(|&(offset, len)| Span::Input { offset, len })
        .collect();
    let total: u64 = plan.spans.iter().map(|&(_, len)| len).sum();
    // The begin marker is searched for in the text before the block (the first span).
    let search_end = plan.spans.first().map_or(0, |&(o, l)| o + l);
    let mut marker = "\r\n".to_string();
    marker.push_str(language.style().begin);
    let mut search = MarkerSearch::new(
        layout.encoding.encode_ascii(&marker),
        layout.encoding.unit(),
        search_end,
    );
    let mut text = Transcoder::new(layout.encoding);
    let mut scratch = Vec::new();
    let mut units = 0u64;
    // Search and transcode one window read at `offset`; `emit` takes its UTF-16LE.
    let mut window = |offset: u64, bytes: &[u8], emit: &mut dyn FnMut(&[u8])| -> Result<()> {
        search.feed(offset, bytes);
        let mut emitted = 0u64;
        text.feed(offset, bytes, &mut scratch, &mut |utf16| {
            emitted += utf16.len() as u64;
            emit(utf16);
        })
        .map_err(|e| malformed(language, e.offset, MalformedKind::BadEncoding, e.what))?;
        if plan.position_before.is_some_and(|before| offset < before) {
            units += emitted / 2;
        }
        Ok(())
    };
    let mut hashers: Vec<Hasher> = algs.iter().map(|a| a.hasher()).collect();
    if total < PARALLEL_THRESHOLD || hashers.is_empty() {
        stream(input, &spans, &mut [], &mut |offset, bytes| {
            window(offset, bytes, &mut |utf16| {
                for h in hashers.iter_mut() {
                    h.update(utf16);
                }
            })
        })?;
    } else {
        hashers = hash_in_parallel(hashers, |pipe| {
            stream(input, &spans, &mut [], &mut |offset, bytes| {
                let mut utf16 = pipe.buffer();
                window(offset, bytes, &mut |piece| utf16.extend_from_slice(piece))?;
                pipe.send(utf16);
                Ok(())
            })
        })?;
    }
    text.finish()
        .map_err(|e| malformed(language, e.offset, MalformedKind::BadEncoding, e.what))?;
    if let Some(at) = search.found {
        return Err(malformed(
            language,
            at,
            MalformedKind::Inconsistent,
            "a signature block begin line before the end of the script: Windows hashes only \
             the text before the first one, so a signature would not cover what follows it",
        ));
    }
    let position = match plan.position_before {
        None => None,
        Some(_) => Some(u32::try_from(units).map_err(|_| {
            Error::Unsupported(format!(
                "a {language} script of more than {} UTF-16 code units",
                u32::MAX
            ))
        })?),
    };
    Ok(hashers
        .into_iter()
        .map(|mut h| {
            if let Some(p) = position {
                h.update(&p.to_le_bytes());
            }
            h.finalize()
        })
        .collect())
}

/// Buffers on their way to the hashing threads, and back.
struct Pipe {
    senders: Vec<mpsc::SyncSender<Arc<Vec<u8>>>>,
    reuse: mpsc::Receiver<Vec<u8>>,
}

impl Pipe {
    /// An empty buffer: one the hashers are done with, or a new one.
    fn buffer(&mut self) -> Vec<u8> {
        let mut b = self.reuse.try_recv().unwrap_or_default();
        b.clear();
        b
    }

    /// Give `buf` to every hasher (blocking while they are [`RING`] buffers behind).
    fn send(&mut self, buf: Vec<u8>) {
        let shared = Arc::new(buf);
        for tx in &self.senders {
            // A hasher stops only when its channel closes, so this cannot fail before.
            let _ = tx.send(Arc::clone(&shared));
        }
    }
}

/// Run `produce` on this thread with a [`Pipe`] to hashers that each hash on their own
/// thread; returns the hashers when `produce` is done, or its error. A buffer comes back for
/// reuse when every hasher is done with it.
fn hash_in_parallel(
    hashers: Vec<Hasher>,
    produce: impl FnOnce(&mut Pipe) -> Result<()>,
) -> Result<Vec<Hasher>> {
    std::thread::scope(|scope| {
        let (recycle, reuse) = mpsc::channel::<Vec<u8>>();
        let mut pipe = Pipe {
            senders: Vec::with_capacity(hashers.len()),
            reuse,
        };
        let mut handles = Vec::with_capacity(hashers.len());
        for mut hasher in hashers {
            let (tx, rx) = mpsc::sync_channel::<Arc<Vec<u8>>>(RING);
            let back = recycle.clone();
            pipe.senders.push(tx);
            handles.push(scope.spawn(move || {
                for buf in rx {
                    hasher.update(&buf);
                    if let Ok(v) = Arc::try_unwrap(buf) {
                        // The reader may be gone already: then the buffer is dropped.
                        let _ = back.send(v);
                    }
                }
                hasher
            }));
        }
        drop(recycle);
        let result = produce(&mut pipe);
        drop(pipe);
        let hashers = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| Error::Internal("a hashing thread panicked"))
            })
            .collect::<Result<Vec<_>>>()?;
        result.map(|()| hashers)
    })
}

/// A streaming search for the first aligned occurrence of a pattern that starts with a CR
/// (the encoded `"\r\n" + begin line`), in the windows of a pass, up to a file offset.
struct MarkerSearch {
    pattern: Vec<u8>,
    /// Index of the first 0x0D byte in the pattern (1 in UTF-16BE).
    anchor: usize,
    unit: u64,
    end: u64,
    /// The last `pattern.len() - 1` bytes seen, and the file offset of the first of them.
    carry: Vec<u8>,
    carry_at: u64,
    found: Option<u64>,
}

impl MarkerSearch {
    fn new(pattern: Vec<u8>, unit: u64, end: u64) -> Self {
        let anchor = pattern.iter().position(|&b| b == b'\r').unwrap_or(0);
        Self {
            pattern,
            anchor,
            unit,
            end,
            carry: Vec::new(),
            carry_at: 0,
            found: None,
        }
    }

    fn feed(&mut self, at: u64, window: &[u8]) {
        if self.found.is_some() || at >= self.end || self.pattern.is_empty() {
            return;
        }
        let keep = usize::try_from(self.end - at).unwrap_or(usize::MAX);
        let window = window.get(..keep.min(window.len())).unwrap_or_default();
        let m = self.pattern.len();
        let contiguous = self.carry_at + self.carry.len() as u64 == at;
        if !contiguous {
            self.carry.clear();
        }
        if !self.carry.is_empty() {
            // Matches that start in the carried bytes and end in this window.
            let mut joined = self.carry.clone();
            joined.extend_from_slice(window.get(..(m - 1).min(window.len())).unwrap_or_default());
            if let Some(i) = self.first_in(&joined, self.carry_at, self.carry.len()) {
                self.found = Some(self.carry_at + i as u64);
                return;
            }
        }
        if let Some(i) = self.first_in(window, at, window.len()) {
            self.found = Some(at + i as u64);
            return;
        }
        if window.len() >= m - 1 {
            let tail = window.len() - (m - 1);
            self.carry = window.get(tail..).unwrap_or_default().to_vec();
            self.carry_at = at + tail as u64;
        } else {
            if self.carry.is_empty() {
                self.carry_at = at;
            }
            self.carry.extend_from_slice(window);
            let excess = self.carry.len().saturating_sub(m - 1);
            self.carry.drain(..excess);
            self.carry_at += excess as u64;
        }
    }

    /// The first aligned match in `hay` (found at file offset `at`) starting before `limit`.
    fn first_in(&self, hay: &[u8], at: u64, limit: usize) -> Option<usize> {
        let mut from = self.anchor;
        loop {
            let cr = from + super::block::find_byte(hay.get(from..)?, b'\r')?;
            let start = cr - self.anchor;
            if start >= limit {
                return None;
            }
            if (at + start as u64).is_multiple_of(self.unit)
                && hay.get(start..start + self.pattern.len()) == Some(self.pattern.as_slice())
            {
                return Some(start);
            }
            from = cr + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::TextEncoding;

    #[test]
    fn the_marker_is_found_across_windows_and_only_aligned() {
        let pattern = TextEncoding::Utf16Le.encode_ascii("\r\nX");
        let mut text = TextEncoding::Utf16Le.encode_ascii("ab\r\ncd\r\nXy");
        for window in 1..text.len() {
            let mut s = MarkerSearch::new(pattern.clone(), 2, 100);
            for (i, w) in text.chunks(window).enumerate() {
                s.feed((i * window) as u64, w);
            }
            assert_eq!(s.found, Some(12), "window {window}");
        }
        // Shifted by one byte: the bytes match but not on a code-unit boundary.
        text.insert(0, b'z');
        let mut s = MarkerSearch::new(pattern, 2, 100);
        s.feed(0, &text);
        assert_eq!(s.found, None);
        let mut s = MarkerSearch::new(b"\r\nX".to_vec(), 1, 4);
        s.feed(0, b"ab\r\nX");
        assert_eq!(s.found, None, "past the end of the searched range");
    }
}
