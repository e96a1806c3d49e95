//! Finding matches: the sliding window, the hash chains and zlib's lazy evaluation.
//!
//! The window holds two halves of [`WSIZE`]; when the current position passes
//! `WSIZE + MAX_DIST` the upper half moves down and every stored position with it. Positions
//! are hashed by their next three bytes into `head` (the latest position per hash) and
//! `prev` (the position before it with the same hash); 0 means "none", so the string at
//! window position 0 is never matched, as in zlib.
//!
//! Lazy evaluation: at each position the longest match is looked up; a match found at the
//! previous position is emitted only if this one is not longer, otherwise the previous byte
//! becomes a literal and this match waits for the next position.

use super::tables::{
    Config, HASH_BITS, HASH_SHIFT, MAX_DIST, MAX_MATCH, MIN_LOOKAHEAD, MIN_MATCH, TOO_FAR, WSIZE,
};
use super::trees::BlockWriter;

const WMASK: usize = WSIZE - 1;
const HASH_SIZE: usize = 1 << HASH_BITS;
const HASH_MASK: usize = HASH_SIZE - 1;

/// How a call ends (zlib's `flush` argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Keep the last bytes for matching; more input follows.
    None,
    /// Code everything and end the block (the caller adds the marker).
    Full,
    /// Code everything and write the final block.
    Finish,
}

/// The state of the match finder between calls.
#[derive(Debug)]
pub struct Matcher {
    cfg: Config,
    window: Vec<u8>,
    prev: Vec<u16>,
    head: Vec<u16>,
    ins_h: usize,
    strstart: usize,
    block_start: isize,
    lookahead: usize,
    insert: usize,
    match_length: usize,
    prev_length: usize,
    match_available: bool,
    match_start: usize,
    prev_match: usize,
}

impl Matcher {
    /// A matcher for a new stream.
    pub fn new(cfg: Config) -> Self {
        Self {
            cfg,
            window: vec![0; 2 * WSIZE],
            prev: vec![0; WSIZE],
            head: vec![0; HASH_SIZE],
            ins_h: 0,
            strstart: 0,
            block_start: 0,
            lookahead: 0,
            insert: 0,
            match_length: MIN_MATCH - 1,
            prev_length: MIN_MATCH - 1,
            match_available: false,
            match_start: 0,
            prev_match: 0,
        }
    }

    fn byte(&self, at: usize) -> u8 {
        self.window.get(at).copied().unwrap_or(0)
    }

    fn update_hash(h: usize, c: u8) -> usize {
        ((h << HASH_SHIFT) ^ usize::from(c)) & HASH_MASK
    }

    /// Hash the string at `pos` into the chains; returns the previous head of its chain.
    fn insert_string(&mut self, pos: usize) -> usize {
        self.ins_h = Self::update_hash(self.ins_h, self.byte(pos + MIN_MATCH - 1));
        let head = self.head.get(self.ins_h).copied().unwrap_or(0);
        if let Some(p) = self.prev.get_mut(pos & WMASK) {
            *p = head;
        }
        if let Some(h) = self.head.get_mut(self.ins_h) {
            *h = pos as u16;
        }
        usize::from(head)
    }

    /// Forget every earlier string (after a full flush); with nothing left to code, start
    /// the window again at its beginning.
    pub fn forget_history(&mut self) {
        self.head.iter_mut().for_each(|h| *h = 0);
        if self.lookahead == 0 {
            self.strstart = 0;
            self.block_start = 0;
            self.insert = 0;
        }
    }

    /// Move the upper half of the window down and every position with it.
    fn slide(&mut self, more: usize) {
        let keep = WSIZE.saturating_sub(more);
        self.window.copy_within(WSIZE..WSIZE + keep, 0);
        self.match_start = self.match_start.wrapping_sub(WSIZE);
        self.strstart -= WSIZE;
        self.block_start -= WSIZE as isize;
        if self.insert > self.strstart {
            self.insert = self.strstart;
        }
        for p in self.head.iter_mut().chain(self.prev.iter_mut()) {
            *p = if usize::from(*p) >= WSIZE {
                (usize::from(*p) - WSIZE) as u16
            } else {
                0
            };
        }
    }

    /// Read input into the window until the lookahead is full or the input is used up.
    fn fill_window(&mut self, input: &mut &[u8]) {
        loop {
            let mut more = 2 * WSIZE - self.lookahead - self.strstart;
            if self.strstart >= WSIZE + MAX_DIST {
                self.slide(more);
                more += WSIZE;
            }
            if input.is_empty() {
                break;
            }
            let n = more.min(input.len());
            let at = self.strstart + self.lookahead;
            if let (Some(dst), Some(src)) = (self.window.get_mut(at..at + n), input.get(..n)) {
                dst.copy_from_slice(src);
            }
            *input = input.get(n..).unwrap_or_default();
            self.lookahead += n;
            // Hash the strings that could not be hashed before for lack of bytes.
            if self.lookahead + self.insert >= MIN_MATCH {
                let mut s = self.strstart - self.insert;
                self.ins_h = usize::from(self.byte(s));
                self.ins_h = Self::update_hash(self.ins_h, self.byte(s + 1));
                while self.insert > 0 {
                    self.insert_string(s);
                    s += 1;
                    self.insert -= 1;
                    if self.lookahead + self.insert < MIN_MATCH {
                        break;
                    }
                }
            }
            if self.lookahead >= MIN_LOOKAHEAD || input.is_empty() {
                break;
            }
        }
    }

    /// The length of the longest match for the string at `strstart` along the chain from
    /// `cur_match` (at most the lookahead); sets `match_start` when it beats `prev_length`.
    fn longest_match(&mut self, mut cur_match: usize) -> usize {
        let mut chain = self.cfg.chain;
        let scan = self.strstart;
        let mut best_len = self.prev_length;
        let nice = self.cfg.nice.min(self.lookahead);
        let limit = self.strstart.saturating_sub(MAX_DIST);
        if self.prev_length >= self.cfg.good {
            chain >>= 2;
        }
        if best_len >= self.lookahead {
            // Nothing longer can be used: the length is capped at the lookahead.
            return self.lookahead;
        }
        let max = MAX_MATCH.min(self.lookahead);
        loop {
            let m = cur_match;
            let w = &self.window;
            let b = |i: usize| w.get(i).copied();
            let candidate = b(m + best_len) == b(scan + best_len)
                && b(m + best_len - 1) == b(scan + best_len - 1)
                && b(m) == b(scan)
                && b(m + 1) == b(scan + 1);
            if candidate {
                let len = match (w.get(m..m + max), w.get(scan..scan + max)) {
                    (Some(a), Some(c)) => a.iter().zip(c).take_while(|(x, y)| x == y).count(),
                    _ => 0,
                };
                if len > best_len {
                    self.match_start = m;
                    best_len = len;
                    if len >= nice {
                        break;
                    }
                }
            }
            cur_match = usize::from(self.prev.get(cur_match & WMASK).copied().unwrap_or(0));
            if cur_match <= limit {
                break;
            }
            chain -= 1;
            if chain == 0 {
                break;
            }
        }
        best_len.min(self.lookahead)
    }

    /// Write the block collected so far; `last` for the final one.
    fn flush_block(&mut self, out: &mut BlockWriter, last: bool) {
        let stored = usize::try_from(self.block_start)
            .ok()
            .and_then(|start| self.window.get(start..self.strstart));
        out.flush_block(stored, last);
        self.block_start = self.strstart as isize;
    }

    /// Code `input` (zlib's `deflate_slow`), then flush as `flush` says.
    pub fn run(&mut self, mut input: &[u8], flush: Flush, out: &mut BlockWriter) {
        loop {
            if self.lookahead < MIN_LOOKAHEAD {
                self.fill_window(&mut input);
                if self.lookahead < MIN_LOOKAHEAD && flush == Flush::None {
                    return;
                }
                if self.lookahead == 0 {
                    break;
                }
            }
            let mut hash_head = 0;
            if self.lookahead >= MIN_MATCH {
                hash_head = self.insert_string(self.strstart);
            }
            self.prev_length = self.match_length;
            self.prev_match = self.match_start;
            self.match_length = MIN_MATCH - 1;
            if hash_head != 0
                && self.prev_length < self.cfg.lazy
                && self.strstart - hash_head <= MAX_DIST
            {
                self.match_length = self.longest_match(hash_head);
                if self.match_length == MIN_MATCH
                    && self.strstart.wrapping_sub(self.match_start) > TOO_FAR
                {
                    self.match_length = MIN_MATCH - 1;
                }
            }
            if self.prev_length >= MIN_MATCH && self.match_length <= self.prev_length {
                // The previous match is at least as good: emit it.
                let max_insert = self.strstart + self.lookahead - MIN_MATCH;
                let full = out.tally_dist(
                    (self.strstart - 1).wrapping_sub(self.prev_match),
                    self.prev_length - MIN_MATCH,
                );
                self.lookahead -= self.prev_length - 1;
                let mut remaining = self.prev_length - 2;
                while remaining > 0 {
                    self.strstart += 1;
                    if self.strstart <= max_insert {
                        self.insert_string(self.strstart);
                    }
                    remaining -= 1;
                }
                self.match_available = false;
                self.match_length = MIN_MATCH - 1;
                self.strstart += 1;
                if full {
                    self.flush_block(out, false);
                }
            } else if self.match_available {
                // This match is longer: the previous byte goes out as a literal.
                let full = out.tally_lit(self.byte(self.strstart - 1));
                if full {
                    self.flush_block(out, false);
                }
                self.strstart += 1;
                self.lookahead -= 1;
            } else {
                self.match_available = true;
                self.strstart += 1;
                self.lookahead -= 1;
            }
        }
        if self.match_available {
            out.tally_lit(self.byte(self.strstart - 1));
            self.match_available = false;
        }
        self.insert = self.strstart.min(MIN_MATCH - 1);
        match flush {
            Flush::Finish => self.flush_block(out, true),
            _ if out.has_symbols() => self.flush_block(out, false),
            _ => {}
        }
    }
}
