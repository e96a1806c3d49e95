//! Blocks: the symbols of one block, the Huffman codes built for them, and the choice between
//! a stored, a fixed-code and a dynamic-code block by their exact sizes (RFC 1951 §3.2.3).
//!
//! Codes are built as zlib builds them, because the bytes depend on it: a heap ordered by
//! frequency then by subtree depth, lengths taken from the tree and, past the limit (15 bits,
//! 7 for the code-length code), moved up the way zlib's `gen_bitlen` moves them, then
//! canonical codes (§3.2.2). At least two distance codes (and two literal/length codes) are
//! always given a length, so that a decoder sees a complete code.

use super::bits::BitWriter;
use super::tables::{
    reverse_bits, static_ltree_len, CodeTables, BLOCK_SYMBOLS, BL_CODES, BL_ORDER, D_CODES,
    END_BLOCK, EXTRA_BLBITS, EXTRA_DBITS, EXTRA_LBITS, L_CODES, MAX_BITS, MAX_BL_BITS, REPZ_11_138,
    REPZ_3_10, REP_3_6,
};

/// Nodes of the largest tree: leaves and internal nodes of the literal/length tree.
const HEAP_SIZE: usize = 2 * L_CODES + 1;
/// Heap index of the node with the least frequency.
const SMALLEST: usize = 1;

/// One Huffman tree: per node its frequency, parent, code length and code.
#[derive(Debug, Clone)]
struct Tree {
    freq: Vec<u32>,
    dad: Vec<u16>,
    len: Vec<u16>,
    code: Vec<u16>,
}

impl Tree {
    fn new(nodes: usize) -> Self {
        Self {
            freq: vec![0; nodes],
            dad: vec![0; nodes],
            len: vec![0; nodes],
            code: vec![0; nodes],
        }
    }

    fn len_of(&self, n: usize) -> u32 {
        u32::from(self.len.get(n).copied().unwrap_or(0))
    }

    fn code_of(&self, n: usize) -> u32 {
        u32::from(self.code.get(n).copied().unwrap_or(0))
    }
}

/// What a tree codes: its leaf count, extra bits and length limit, and the fixed code it is
/// compared with.
struct Desc {
    elems: usize,
    extra: &'static [u8],
    extra_base: usize,
    max_length: u32,
    has_static: bool,
}

const L_DESC: Desc = Desc {
    elems: L_CODES,
    extra: &EXTRA_LBITS,
    extra_base: END_BLOCK + 1,
    max_length: MAX_BITS,
    has_static: true,
};
const D_DESC: Desc = Desc {
    elems: D_CODES,
    extra: &EXTRA_DBITS,
    extra_base: 0,
    max_length: MAX_BITS,
    has_static: true,
};
const BL_DESC: Desc = Desc {
    elems: BL_CODES,
    extra: &EXTRA_BLBITS,
    extra_base: 0,
    max_length: MAX_BL_BITS,
    has_static: false,
};

/// One symbol: a literal (`dist` 0) or a match (`dist` ≥ 1, length `lc + 3`).
#[derive(Debug, Clone, Copy)]
struct Symbol {
    dist: u16,
    lc: u8,
}

/// Collects a block's symbols and writes blocks to the output.
#[derive(Debug)]
pub struct BlockWriter {
    out: BitWriter,
    symbols: Vec<Symbol>,
    codes: CodeTables,
    ltree: Tree,
    dtree: Tree,
    bltree: Tree,
    static_ltree: Tree,
    static_dtree: Tree,
    heap: Vec<usize>,
    heap_len: usize,
    heap_max: usize,
    depth: Vec<u8>,
    bl_count: [u32; MAX_BITS as usize + 1],
    opt_len: u64,
    static_len: u64,
}

impl BlockWriter {
    /// A writer with an empty first block.
    pub fn new() -> Self {
        let mut static_ltree = Tree::new(L_CODES + 2);
        let mut bl_count = [0u32; MAX_BITS as usize + 1];
        for (n, slot) in static_ltree.len.iter_mut().enumerate() {
            let len = static_ltree_len(n);
            *slot = len as u16;
            bump(&mut bl_count, len as usize, 1);
        }
        gen_codes(&mut static_ltree, L_CODES + 1, &bl_count);
        let mut static_dtree = Tree::new(D_CODES);
        for (n, (len, code)) in static_dtree
            .len
            .iter_mut()
            .zip(static_dtree.code.iter_mut())
            .enumerate()
        {
            *len = 5;
            *code = reverse_bits(n as u32, 5) as u16;
        }
        let mut w = Self {
            out: BitWriter::default(),
            symbols: Vec::with_capacity(BLOCK_SYMBOLS),
            codes: CodeTables::new(),
            ltree: Tree::new(HEAP_SIZE),
            dtree: Tree::new(2 * D_CODES + 1),
            bltree: Tree::new(2 * BL_CODES + 1),
            static_ltree,
            static_dtree,
            heap: vec![0; HEAP_SIZE],
            heap_len: 0,
            heap_max: HEAP_SIZE,
            depth: vec![0; HEAP_SIZE],
            bl_count: [0; MAX_BITS as usize + 1],
            opt_len: 0,
            static_len: 0,
        };
        w.init_block();
        w
    }

    fn init_block(&mut self) {
        self.ltree
            .freq
            .iter_mut()
            .take(L_CODES)
            .for_each(|f| *f = 0);
        self.dtree
            .freq
            .iter_mut()
            .take(D_CODES)
            .for_each(|f| *f = 0);
        self.bltree
            .freq
            .iter_mut()
            .take(BL_CODES)
            .for_each(|f| *f = 0);
        if let Some(f) = self.ltree.freq.get_mut(END_BLOCK) {
            *f = 1;
        }
        self.opt_len = 0;
        self.static_len = 0;
        self.symbols.clear();
    }

    /// Whether the block has symbols.
    pub fn has_symbols(&self) -> bool {
        !self.symbols.is_empty()
    }

    /// Record a literal; `true` when the block is full and must be written.
    pub fn tally_lit(&mut self, c: u8) -> bool {
        self.symbols.push(Symbol { dist: 0, lc: c });
        if let Some(f) = self.ltree.freq.get_mut(usize::from(c)) {
            *f += 1;
        }
        self.symbols.len() == BLOCK_SYMBOLS
    }

    /// Record a match `dist` bytes back of `lc + 3` bytes; `true` when the block is full.
    pub fn tally_dist(&mut self, dist: usize, lc: usize) -> bool {
        self.symbols.push(Symbol {
            dist: dist as u16,
            lc: lc as u8,
        });
        let lcode = usize::from(self.codes.length.get(lc).copied().unwrap_or(28));
        if let Some(f) = self.ltree.freq.get_mut(lcode + END_BLOCK + 1) {
            *f += 1;
        }
        let dcode = self.codes.d_code(dist.saturating_sub(1));
        if let Some(f) = self.dtree.freq.get_mut(dcode) {
            *f += 1;
        }
        self.symbols.len() == BLOCK_SYMBOLS
    }

    /// Write a stored block holding `data` (an empty one for a flush marker).
    pub fn stored_block(&mut self, data: Option<&[u8]>, last: bool) {
        let data = data.unwrap_or_default();
        self.out.bits(u32::from(last), 3);
        self.out.align();
        let len = data.len() as u16;
        self.out.bytes(&len.to_le_bytes());
        self.out.bytes(&(!len).to_le_bytes());
        self.out.bytes(data);
    }

    /// Write the block of the symbols collected, as the smallest of a stored block (when
    /// `stored` gives its bytes, i.e. they are still in the window), a fixed-code block and a
    /// dynamic-code block; `last` marks the final block of the stream.
    pub fn flush_block(&mut self, stored: Option<&[u8]>, last: bool) {
        let l_max = self.build_tree(TreeId::L);
        let d_max = self.build_tree(TreeId::D);
        let bl_max = self.build_bl_tree(l_max, d_max);
        let mut opt_lenb = (self.opt_len.wrapping_add(3 + 7)) >> 3;
        let static_lenb = (self.static_len.wrapping_add(3 + 7)) >> 3;
        if static_lenb <= opt_lenb {
            opt_lenb = static_lenb;
        }
        match stored {
            Some(buf) if (buf.len() as u64) + 4 <= opt_lenb && buf.len() <= 0xffff => {
                self.stored_block(Some(buf), last);
            }
            _ if static_lenb == opt_lenb => {
                self.out.bits(2 + u32::from(last), 3);
                self.compress_block(true);
            }
            _ => {
                self.out.bits(4 + u32::from(last), 3);
                self.send_all_trees(l_max + 1, d_max + 1, bl_max + 1);
                self.compress_block(false);
            }
        }
        self.init_block();
        if last {
            self.out.align();
        }
    }

    /// The stream written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out.into_bytes()
    }

    fn tree(&self, id: TreeId) -> &Tree {
        match id {
            TreeId::L => &self.ltree,
            TreeId::D => &self.dtree,
            TreeId::Bl => &self.bltree,
        }
    }

    /// `smaller(n, m)`: less frequent, or as frequent and not deeper.
    fn smaller(&self, id: TreeId, n: usize, m: usize) -> bool {
        let t = self.tree(id);
        let (fnn, fm) = (
            t.freq.get(n).copied().unwrap_or(0),
            t.freq.get(m).copied().unwrap_or(0),
        );
        let (dn, dm) = (
            self.depth.get(n).copied().unwrap_or(0),
            self.depth.get(m).copied().unwrap_or(0),
        );
        fnn < fm || (fnn == fm && dn <= dm)
    }

    fn heap_at(&self, i: usize) -> usize {
        self.heap.get(i).copied().unwrap_or(0)
    }

    fn set_heap(&mut self, i: usize, v: usize) {
        if let Some(h) = self.heap.get_mut(i) {
            *h = v;
        }
    }

    /// Restore the heap property below `k`.
    fn pq_down(&mut self, id: TreeId, mut k: usize) {
        let v = self.heap_at(k);
        let mut j = k << 1;
        while j <= self.heap_len {
            if j < self.heap_len && self.smaller(id, self.heap_at(j + 1), self.heap_at(j)) {
                j += 1;
            }
            if self.smaller(id, v, self.heap_at(j)) {
                break;
            }
            self.set_heap(k, self.heap_at(j));
            k = j;
            j <<= 1;
        }
        self.set_heap(k, v);
    }

    /// Build the Huffman tree of `id` for the block's frequencies; returns the largest code
    /// with a non-zero frequency (`max_code`).
    fn build_tree(&mut self, id: TreeId) -> usize {
        let desc = id.desc();
        let elems = desc.elems;
        let mut max_code: isize = -1;
        self.heap_len = 0;
        self.heap_max = HEAP_SIZE;
        for n in 0..elems {
            let t = self.tree_mut(id);
            if t.freq.get(n).copied().unwrap_or(0) != 0 {
                max_code = n as isize;
                self.heap_len += 1;
                let at = self.heap_len;
                self.set_heap(at, n);
                if let Some(d) = self.depth.get_mut(n) {
                    *d = 0;
                }
            } else if let Some(l) = t.len.get_mut(n) {
                *l = 0;
            }
        }
        // At least two codes of non-zero frequency, so that one bit is always sent.
        while self.heap_len < 2 {
            let node = if max_code < 2 {
                max_code += 1;
                max_code as usize
            } else {
                0
            };
            self.heap_len += 1;
            let at = self.heap_len;
            self.set_heap(at, node);
            if let Some(f) = self.tree_mut(id).freq.get_mut(node) {
                *f = 1;
            }
            if let Some(d) = self.depth.get_mut(node) {
                *d = 0;
            }
            self.opt_len = self.opt_len.wrapping_sub(1);
            if desc.has_static {
                let s = self.static_len_of(id, node);
                self.static_len = self.static_len.wrapping_sub(u64::from(s));
            }
        }
        let max_code = max_code.max(0) as usize;
        for n in (1..=self.heap_len / 2).rev() {
            self.pq_down(id, n);
        }
        let mut node = elems;
        loop {
            // Take the two least frequent nodes and join them under a new node.
            let n = self.heap_at(SMALLEST);
            let last = self.heap_at(self.heap_len);
            self.set_heap(SMALLEST, last);
            self.heap_len -= 1;
            self.pq_down(id, SMALLEST);
            let m = self.heap_at(SMALLEST);
            self.heap_max -= 1;
            self.set_heap(self.heap_max, n);
            self.heap_max -= 1;
            self.set_heap(self.heap_max, m);
            let t = self.tree_mut(id);
            let f = t.freq.get(n).copied().unwrap_or(0) + t.freq.get(m).copied().unwrap_or(0);
            if let Some(slot) = t.freq.get_mut(node) {
                *slot = f;
            }
            if let Some(d) = t.dad.get_mut(n) {
                *d = node as u16;
            }
            if let Some(d) = t.dad.get_mut(m) {
                *d = node as u16;
            }
            let dn = self.depth.get(n).copied().unwrap_or(0);
            let dm = self.depth.get(m).copied().unwrap_or(0);
            if let Some(d) = self.depth.get_mut(node) {
                *d = dn.max(dm).wrapping_add(1);
            }
            self.set_heap(SMALLEST, node);
            node += 1;
            self.pq_down(id, SMALLEST);
            if self.heap_len < 2 {
                break;
            }
        }
        self.heap_max -= 1;
        self.set_heap(self.heap_max, self.heap_at(SMALLEST));
        self.gen_bitlen(id, max_code);
        let bl_count = self.bl_count;
        gen_codes(self.tree_mut(id), max_code, &bl_count);
        max_code
    }

    fn static_len_of(&self, id: TreeId, n: usize) -> u32 {
        match id {
            TreeId::L => self.static_ltree.len_of(n),
            TreeId::D => self.static_dtree.len_of(n),
            TreeId::Bl => 0,
        }
    }

    fn tree_mut(&mut self, id: TreeId) -> &mut Tree {
        match id {
            TreeId::L => &mut self.ltree,
            TreeId::D => &mut self.dtree,
            TreeId::Bl => &mut self.bltree,
        }
    }

    /// Code lengths from the tree, limited to the tree's maximum, and the block's size with
    /// these codes (`opt_len`) and with the fixed codes (`static_len`).
    fn gen_bitlen(&mut self, id: TreeId, max_code: usize) {
        let desc = id.desc();
        let max_length = desc.max_length;
        self.bl_count = [0; MAX_BITS as usize + 1];
        let root = self.heap_at(self.heap_max);
        if let Some(l) = self.tree_mut(id).len.get_mut(root) {
            *l = 0;
        }
        let mut overflow = 0i32;
        let mut h = self.heap_max + 1;
        while h < HEAP_SIZE {
            let n = self.heap_at(h);
            h += 1;
            let t = self.tree(id);
            let dad = usize::from(t.dad.get(n).copied().unwrap_or(0));
            let mut bits = t.len_of(dad) + 1;
            if bits > max_length {
                bits = max_length;
                overflow += 1;
            }
            if let Some(l) = self.tree_mut(id).len.get_mut(n) {
                *l = bits as u16;
            }
            if n > max_code {
                continue; // not a leaf
            }
            bump(&mut self.bl_count, bits as usize, 1);
            let xbits = if n >= desc.extra_base {
                u32::from(desc.extra.get(n - desc.extra_base).copied().unwrap_or(0))
            } else {
                0
            };
            let f = u64::from(self.tree(id).freq.get(n).copied().unwrap_or(0));
            self.opt_len = self.opt_len.wrapping_add(f * u64::from(bits + xbits));
            if desc.has_static {
                let s = self.static_len_of(id, n);
                self.static_len = self.static_len.wrapping_add(f * u64::from(s + xbits));
            }
        }
        if overflow == 0 {
            return;
        }
        // Move leaves up from the deepest level until the code fits.
        loop {
            let mut bits = max_length as usize - 1;
            while bits > 0 && count_at(&self.bl_count, bits) == 0 {
                bits -= 1;
            }
            bump(&mut self.bl_count, bits, -1);
            bump(&mut self.bl_count, bits + 1, 2);
            bump(&mut self.bl_count, max_length as usize, -1);
            overflow -= 2;
            if overflow <= 0 {
                break;
            }
        }
        // Give the new lengths to the leaves, least frequent (deepest in the heap) first.
        let mut h = HEAP_SIZE;
        for bits in (1..=max_length).rev() {
            let mut n = count_at(&self.bl_count, bits as usize);
            while n != 0 {
                if h == 0 {
                    return;
                }
                h -= 1;
                let m = self.heap_at(h);
                if m > max_code {
                    continue;
                }
                let t = self.tree(id);
                let old = t.len_of(m);
                let f = u64::from(t.freq.get(m).copied().unwrap_or(0));
                if old != bits {
                    self.opt_len = self.opt_len.wrapping_add(
                        (u64::from(bits).wrapping_sub(u64::from(old))).wrapping_mul(f),
                    );
                    if let Some(l) = self.tree_mut(id).len.get_mut(m) {
                        *l = bits as u16;
                    }
                }
                n -= 1;
            }
        }
    }

    /// Count the code-length symbols needed to send a tree's lengths (zlib's `scan_tree`).
    fn scan_tree(&mut self, id: TreeId, max_code: usize) {
        let lens: Vec<u32> = (0..=max_code).map(|n| self.tree(id).len_of(n)).collect();
        for_each_run(&lens, |run| {
            let f = &mut self.bltree.freq;
            match run {
                Run::Each { len, count } => {
                    if let Some(x) = f.get_mut(len as usize) {
                        *x += count;
                    }
                }
                Run::Repeat { len, first, .. } => {
                    if first {
                        if let Some(x) = f.get_mut(len as usize) {
                            *x += 1;
                        }
                    }
                    if let Some(x) = f.get_mut(REP_3_6) {
                        *x += 1;
                    }
                }
                Run::Zeros { count } => {
                    let code = if count <= 10 { REPZ_3_10 } else { REPZ_11_138 };
                    if let Some(x) = f.get_mut(code) {
                        *x += 1;
                    }
                }
            }
        });
    }

    /// Send a tree's lengths with the code-length code (zlib's `send_tree`).
    fn send_tree(&mut self, id: TreeId, max_code: usize) {
        let lens: Vec<u32> = (0..=max_code).map(|n| self.tree(id).len_of(n)).collect();
        let bl = self.bltree.clone();
        let out = &mut self.out;
        let send = |out: &mut BitWriter, c: usize| out.bits(bl.code_of(c), bl.len_of(c));
        for_each_run(&lens, |run| match run {
            Run::Each { len, count } => {
                for _ in 0..count {
                    send(out, len as usize);
                }
            }
            Run::Repeat { len, first, count } => {
                let mut count = count;
                if first {
                    send(out, len as usize);
                    count -= 1;
                }
                send(out, REP_3_6);
                out.bits(count.wrapping_sub(3), 2);
            }
            Run::Zeros { count } => {
                if count <= 10 {
                    send(out, REPZ_3_10);
                    out.bits(count - 3, 3);
                } else {
                    send(out, REPZ_11_138);
                    out.bits(count - 11, 7);
                }
            }
        });
    }

    /// Build the code-length tree; returns the index in [`BL_ORDER`] of the last code-length
    /// code to send (at least 3).
    fn build_bl_tree(&mut self, l_max: usize, d_max: usize) -> usize {
        self.scan_tree(TreeId::L, l_max);
        self.scan_tree(TreeId::D, d_max);
        self.build_tree(TreeId::Bl);
        let mut max_blindex = BL_CODES - 1;
        while max_blindex >= 3 {
            let code = BL_ORDER.get(max_blindex).copied().unwrap_or(0);
            if self.bltree.len_of(code) != 0 {
                break;
            }
            max_blindex -= 1;
        }
        self.opt_len = self
            .opt_len
            .wrapping_add(3 * (max_blindex as u64 + 1) + 5 + 5 + 4);
        max_blindex
    }

    fn send_all_trees(&mut self, lcodes: usize, dcodes: usize, blcodes: usize) {
        self.out.bits((lcodes - 257) as u32, 5);
        self.out.bits((dcodes - 1) as u32, 5);
        self.out.bits((blcodes - 4) as u32, 4);
        for &code in BL_ORDER.iter().take(blcodes) {
            let len = self.bltree.len_of(code);
            self.out.bits(len, 3);
        }
        self.send_tree(TreeId::L, lcodes - 1);
        self.send_tree(TreeId::D, dcodes - 1);
    }

    /// Write the block's symbols with the fixed or the dynamic codes, then end of block.
    fn compress_block(&mut self, fixed: bool) {
        let (lt, dt) = if fixed {
            (&self.static_ltree, &self.static_dtree)
        } else {
            (&self.ltree, &self.dtree)
        };
        let out = &mut self.out;
        let codes = &self.codes;
        for s in &self.symbols {
            let lc = usize::from(s.lc);
            if s.dist == 0 {
                out.bits(lt.code_of(lc), lt.len_of(lc));
                continue;
            }
            let code = usize::from(codes.length.get(lc).copied().unwrap_or(28));
            let sym = code + END_BLOCK + 1;
            out.bits(lt.code_of(sym), lt.len_of(sym));
            let extra = u32::from(EXTRA_LBITS.get(code).copied().unwrap_or(0));
            if extra != 0 {
                let base = usize::from(codes.base_length.get(code).copied().unwrap_or(0));
                out.bits((lc - base) as u32, extra);
            }
            let dist = usize::from(s.dist) - 1;
            let dcode = codes.d_code(dist);
            out.bits(dt.code_of(dcode), dt.len_of(dcode));
            let extra = u32::from(EXTRA_DBITS.get(dcode).copied().unwrap_or(0));
            if extra != 0 {
                let base = usize::from(codes.base_dist.get(dcode).copied().unwrap_or(0));
                out.bits((dist - base) as u32, extra);
            }
        }
        out.bits(lt.code_of(END_BLOCK), lt.len_of(END_BLOCK));
    }
}

impl Default for BlockWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// Which of the block's three trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TreeId {
    L,
    D,
    Bl,
}

impl TreeId {
    fn desc(self) -> &'static Desc {
        match self {
            TreeId::L => &L_DESC,
            TreeId::D => &D_DESC,
            TreeId::Bl => &BL_DESC,
        }
    }
}

/// Canonical codes (RFC 1951 §3.2.2) for the lengths of `tree[0..=max_code]`, bit-reversed
/// for sending least significant bit first.
fn gen_codes(tree: &mut Tree, max_code: usize, bl_count: &[u32; MAX_BITS as usize + 1]) {
    let mut next = [0u32; MAX_BITS as usize + 1];
    let mut code = 0u32;
    for bits in 1..=MAX_BITS as usize {
        code = (code + count_at(bl_count, bits - 1)) << 1;
        if let Some(slot) = next.get_mut(bits) {
            *slot = code;
        }
    }
    for n in 0..=max_code {
        let len = tree.len_of(n);
        if len == 0 {
            continue;
        }
        let Some(slot) = next.get_mut(len as usize) else {
            continue;
        };
        let c = *slot;
        *slot += 1;
        if let Some(slot) = tree.code.get_mut(n) {
            *slot = reverse_bits(c, len) as u16;
        }
    }
}

/// The count of codes of length `bits` (0 past the table).
fn count_at(bl_count: &[u32; MAX_BITS as usize + 1], bits: usize) -> u32 {
    bl_count.get(bits).copied().unwrap_or(0)
}

/// Add `by` to the count of codes of length `bits`.
fn bump(bl_count: &mut [u32; MAX_BITS as usize + 1], bits: usize, by: i32) {
    if let Some(c) = bl_count.get_mut(bits) {
        *c = c.wrapping_add_signed(by);
    }
}

/// How a run of code lengths is sent.
enum Run {
    /// `count` (below the run minimum) lengths `len`, each sent on its own.
    Each { len: u32, count: u32 },
    /// `count` lengths `len` sent as `len` (when `first`: it differs from the previous run)
    /// then a repeat code for the others.
    Repeat { len: u32, first: bool, count: u32 },
    /// `count` zero lengths as one repeat code.
    Zeros { count: u32 },
}

/// Split `lens` into the runs zlib codes (at most 7 non-zero or 138 zero lengths in a run;
/// a run of the same non-zero length as the previous one may be 3 to 6 long).
fn for_each_run(lens: &[u32], mut f: impl FnMut(Run)) {
    let mut prevlen: i64 = -1;
    let mut nextlen = i64::from(lens.first().copied().unwrap_or(0));
    let mut count = 0u32;
    let (mut max_count, mut min_count) = if nextlen == 0 { (138, 3) } else { (7, 4) };
    for n in 0..lens.len() {
        let curlen = nextlen;
        // Past the last code: a length no code has (zlib's guard).
        nextlen = lens.get(n + 1).map_or(0xffff, |&l| i64::from(l));
        count += 1;
        if count < max_count && curlen == nextlen {
            continue;
        } else if count < min_count {
            f(Run::Each {
                len: curlen as u32,
                count,
            });
        } else if curlen != 0 {
            f(Run::Repeat {
                len: curlen as u32,
                first: curlen != prevlen,
                count,
            });
        } else {
            f(Run::Zeros { count });
        }
        count = 0;
        prevlen = curlen;
        if nextlen == 0 {
            (max_count, min_count) = (138, 3);
        } else if curlen == nextlen {
            (max_count, min_count) = (6, 3);
        } else {
            (max_count, min_count) = (7, 4);
        }
    }
}
