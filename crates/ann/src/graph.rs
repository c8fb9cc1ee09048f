//! A hierarchical navigable small-world graph (HNSW, Malkov and Yashunin, 2016) over stored
//! int8 templates, identified by their slot.
//!
//! Layout, chosen for memory: every slot has a level (`u8`); level-0 neighbour lists are one
//! flat array of `slots × ⌈3 m0 / 8⌉` `u64` words holding `m0` packed 3-byte slot numbers each
//! (so at most [`MAX_SLOTS`] slots), a list ending at the first `0xFFFFFF` or at `m0` entries;
//! the few slots above level 0 (a fraction `1/m`) keep their upper lists (`m` `u32` each) in a
//! map. Lists are arrays of atomics so that several threads can insert at once without
//! `unsafe`: each list is rewritten under one of a fixed set of striped locks; a level-0 list
//! spans several words, so each stripe also has a sequence number (a seqlock: odd while a list
//! of the stripe is being rewritten) and readers retry until they read a whole list between
//! two equal even numbers, i.e. never a torn one; upper-level entries are single atomics.
//!
//! The graph does not know ids, collections or removals: callers pass an `accept` predicate
//! to searches, and removed slots stay in the graph (still navigable) until
//! [`Graph::consolidate`] reconnects their neighbours around them and [`Graph::renumber`] drops
//! them.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{
    AtomicU32, AtomicU64, AtomicUsize, Ordering::Acquire, Ordering::Relaxed, Ordering::Release, fence,
};
use std::sync::{Mutex, PoisonError, RwLock};

use crate::kernel::{Int8Query, Scorer};

/// The end-of-list marker and the "no entry point" slot.
pub const NONE: u32 = u32::MAX;

/// Most slots a graph can hold: level-0 lists store 3-byte slot numbers, `0xFFFFFF` ending a
/// list.
pub const MAX_SLOTS: usize = (1 << 24) - 1;

/// End of a packed level-0 list.
const END24: u32 = (1 << 24) - 1;

/// Largest degree at any level (`m` and `m0`).
pub const MAX_DEGREE: usize = 128;

/// Words of the largest level-0 list.
const MAX_WORDS: usize = (3 * MAX_DEGREE).div_ceil(8);

/// Highest level a slot can get (the level of 1,000,000 slots at `m = 16` is at most 5 or 6).
pub const MAX_LEVEL: u8 = 24;

const STRIPES: usize = 1024;

/// Bytes between two touched bytes of a row (a cache line).
const STEP: usize = 64;

/// The stored vectors, as the graph sees them: offset codes (`code + 128`) and scales.
#[derive(Debug, Clone, Copy)]
pub struct Vectors<'a> {
    /// `slots × dim` offset codes.
    pub codes: &'a [u8],
    /// One scale per slot.
    pub scales: &'a [f32],
    /// Dimension.
    pub dim: usize,
}

impl Vectors<'_> {
    #[inline(always)]
    fn row(&self, slot: u32) -> &[u8] {
        let start = slot as usize * self.dim;
        &self.codes[start..start + self.dim]
    }

    #[inline(always)]
    fn score<S: Scorer>(&self, q: &S, slot: u32) -> f32 {
        q.score(self.row(slot), self.scales[slot as usize])
    }

    /// Reads one byte of every cache line of the rows of `slots`, so that their loads are in
    /// flight together before the rows are scored one after the other (a safe stand-in for a
    /// prefetch: measured on the development machine, scoring random rows goes from 270 to
    /// 120 ns each, as scoring is bound by memory latency, not by arithmetic).
    #[inline(always)]
    fn touch(&self, slots: &[u32]) {
        let mut sink = 0u8;
        let mut scale = 0f32;
        for &s in slots {
            let row = self.row(s);
            for b in row.iter().step_by(STEP) {
                sink ^= *b;
            }
            sink ^= row.last().copied().unwrap_or(0);
            scale += self.scales[s as usize];
        }
        std::hint::black_box((sink, scale));
    }

    fn prepare(&self, slot: u32) -> Int8Query {
        Int8Query::from_offset(self.row(slot), self.scales[slot as usize])
    }
}

/// A slot with its score against the current query; ordered by score, then by smaller slot
/// (so that every heap and sort is deterministic).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Score (higher is more similar).
    pub score: f32,
    /// Slot.
    pub slot: u32,
}

impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then(other.slot.cmp(&self.slot))
    }
}

/// Sorts best first.
fn sort_desc(v: &mut [Scored]) {
    v.sort_unstable_by(|a, b| b.cmp(a));
}

/// One neighbour list, copied out of the graph: an iterator over its slots.
#[derive(Debug, Clone)]
pub struct Neighbours {
    items: [u32; MAX_DEGREE],
    pos: usize,
    len: usize,
}

impl Iterator for Neighbours {
    type Item = u32;
    #[inline(always)]
    fn next(&mut self) -> Option<u32> {
        if self.pos < self.len {
            self.pos += 1;
            Some(self.items[self.pos - 1])
        } else {
            None
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len - self.pos, Some(self.len - self.pos))
    }
}

impl ExactSizeIterator for Neighbours {}

/// The entry point: the slot of highest level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Slot, or [`NONE`] for an empty graph.
    pub slot: u32,
    /// Its level.
    pub level: u8,
}

/// Visited marks for one walk: an epoch per slot, so that starting a walk costs nothing but a
/// full clear every 255 walks.
#[derive(Debug, Default)]
pub struct Visited {
    marks: Vec<u8>,
    epoch: u8,
}

impl Visited {
    fn start(&mut self, slots: usize) {
        if self.marks.len() < slots {
            self.marks.resize(slots, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `slot`; returns whether it was not marked yet.
    #[inline(always)]
    fn insert(&mut self, slot: u32) -> bool {
        let m = &mut self.marks[slot as usize];
        if *m == self.epoch {
            false
        } else {
            *m = self.epoch;
            true
        }
    }

    fn bytes(&self) -> usize {
        self.marks.capacity()
    }
}

/// The graph (see the module documentation).
#[derive(Debug)]
pub struct Graph {
    m: usize,
    m0: usize,
    seed: u64,
    /// Tops pruned lists up with the best candidates the heuristic dropped.
    pub fill: bool,
    levels: Vec<u8>,
    /// `u64` words per level-0 list.
    words: usize,
    level0: Vec<AtomicU64>,
    upper: HashMap<u32, Box<[AtomicU32]>>,
    entry: RwLock<Entry>,
    stripes: Box<[Mutex<()>]>,
    /// Seqlock numbers of the stripes (level-0 lists).
    seqs: Box<[AtomicU32]>,
    visited: Mutex<Vec<Visited>>,
}

/// Splitmix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Graph {
    /// An empty graph with at most `m` neighbours per slot on upper levels and `m0` on level 0
    /// (each clamped to 2..=[`MAX_DEGREE`]).
    pub fn new(m: usize, m0: usize, seed: u64) -> Graph {
        let m = m.clamp(2, MAX_DEGREE);
        let m0 = m0.clamp(2, MAX_DEGREE);
        Graph {
            m,
            m0,
            seed,
            fill: true,
            levels: Vec::new(),
            words: (3 * m0).div_ceil(8),
            level0: Vec::new(),
            upper: HashMap::new(),
            entry: RwLock::new(Entry { slot: NONE, level: 0 }),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            seqs: (0..STRIPES).map(|_| AtomicU32::new(0)).collect(),
            visited: Mutex::new(Vec::new()),
        }
    }

    /// Seed of the level draws.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// `m`.
    pub fn m(&self) -> usize {
        self.m
    }

    /// Level-0 degree.
    pub fn m0(&self) -> usize {
        self.m0
    }

    /// Number of slots (linked or not).
    pub fn slots(&self) -> usize {
        self.levels.len()
    }

    /// The entry point.
    pub fn entry(&self) -> Entry {
        *self.entry.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Level of `slot`.
    pub fn level(&self, slot: u32) -> u8 {
        self.levels[slot as usize]
    }

    /// The level drawn for a new slot: `floor(-ln(u) / ln(m))`, `u` uniform in (0, 1] from a
    /// hash of the seed and the slot (so that replaying inserts rebuilds the same graph).
    pub fn draw_level(&self, slot: usize) -> u8 {
        let u = ((mix(self.seed ^ mix(slot as u64)) >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let level = (-u.ln() / (self.m as f64).ln()).floor();
        level.min(f64::from(MAX_LEVEL)) as u8
    }

    /// Adds `count` unlinked slots with drawn levels.
    pub fn grow(&mut self, count: usize) {
        let first = self.levels.len();
        self.levels.reserve(count);
        self.level0.reserve(count * self.words);
        for slot in first..first + count {
            let level = self.draw_level(slot);
            self.push_slot(level);
        }
    }

    /// Adds one unlinked slot of the given level.
    pub fn push_slot(&mut self, level: u8) {
        let slot = self.levels.len() as u32;
        self.levels.push(level);
        self.level0.extend((0..self.words).map(|_| AtomicU64::new(u64::MAX)));
        if level > 0 {
            self.upper.insert(slot, (0..usize::from(level) * self.m).map(|_| AtomicU32::new(NONE)).collect());
        }
    }

    /// Reserves room for `additional` more slots.
    pub fn reserve(&mut self, additional: usize) {
        self.levels.reserve(additional);
        self.level0.reserve(additional * self.words);
    }

    /// The upper-level list of `slot` at `level` (1 ≤ `level` ≤ its level).
    #[inline(always)]
    fn upper_list(&self, slot: u32, level: usize) -> &[AtomicU32] {
        let up = &self.upper[&slot];
        &up[(level - 1) * self.m..level * self.m]
    }

    /// The words of the level-0 list of `slot`.
    #[inline(always)]
    fn words0(&self, slot: u32) -> &[AtomicU64] {
        let start = slot as usize * self.words;
        &self.level0[start..start + self.words]
    }

    /// Loads the first word of a list (to start bringing it into cache).
    #[inline(always)]
    fn touch_list(&self, slot: u32, level: usize) {
        let w = if level == 0 {
            self.level0[slot as usize * self.words].load(Relaxed)
        } else {
            u64::from(self.upper_list(slot, level)[0].load(Relaxed))
        };
        std::hint::black_box(w);
    }

    /// The neighbours of `slot` at `level` (a consistent copy of the list, even while another
    /// thread rewrites it).
    #[inline]
    pub fn neighbours(&self, slot: u32, level: usize) -> Neighbours {
        let mut out = Neighbours { items: [0; MAX_DEGREE], pos: 0, len: 0 };
        if level > 0 {
            for a in self.upper_list(slot, level) {
                let s = a.load(Relaxed);
                if s == NONE {
                    break;
                }
                out.items[out.len] = s;
                out.len += 1;
            }
            return out;
        }
        let words = self.words0(slot);
        let seq = &self.seqs[slot as usize % STRIPES];
        let mut buf = [0u64; MAX_WORDS];
        loop {
            let before = seq.load(Acquire);
            if before & 1 == 0 {
                for (b, w) in buf.iter_mut().zip(words) {
                    *b = w.load(Relaxed);
                }
                fence(Acquire);
                if seq.load(Relaxed) == before {
                    break;
                }
            }
            std::hint::spin_loop();
        }
        for i in 0..self.m0 {
            let bit = 24 * i;
            let (w, shift) = (bit / 64, bit % 64);
            let mut v = buf[w] >> shift;
            if shift > 40 {
                v |= buf[w + 1] << (64 - shift);
            }
            let s = (v & u64::from(END24)) as u32;
            if s == END24 {
                break;
            }
            out.items[i] = s;
            out.len = i + 1;
        }
        out
    }

    /// Rewrites the list of `slot` at `level` with `items` (at most its degree). The caller
    /// holds the stripe lock of `slot` (or the graph exclusively).
    fn write_list(&self, slot: u32, level: usize, items: &[u32]) {
        if level > 0 {
            for (i, a) in self.upper_list(slot, level).iter().enumerate() {
                a.store(items.get(i).copied().unwrap_or(NONE), Relaxed);
            }
            return;
        }
        let mut buf = [u64::MAX; MAX_WORDS];
        for (i, &s) in items.iter().take(self.m0).enumerate() {
            let v = u64::from(s & END24);
            let bit = 24 * i;
            let (w, shift) = (bit / 64, bit % 64);
            buf[w] = (buf[w] & !(u64::from(END24) << shift)) | (v << shift);
            if shift > 40 {
                let spill = 64 - shift;
                buf[w + 1] = (buf[w + 1] & !(u64::from(END24) >> spill)) | (v >> spill);
            }
        }
        let seq = &self.seqs[slot as usize % STRIPES];
        let n = seq.load(Relaxed);
        seq.store(n.wrapping_add(1), Relaxed);
        fence(Release);
        for (a, &b) in self.words0(slot).iter().zip(&buf) {
            a.store(b, Relaxed);
        }
        seq.store(n.wrapping_add(2), Release);
    }

    /// Sets the neighbours of `slot` at `level` (used when loading a saved graph).
    pub fn set_neighbours(&self, slot: u32, level: usize, items: &[u32]) {
        let _g = lock(&self.stripes[slot as usize % STRIPES]);
        self.write_list(slot, level, items);
    }

    /// Sets the entry point (used when loading a saved graph).
    pub fn set_entry(&mut self, entry: Entry) {
        *self.entry.get_mut().unwrap_or_else(PoisonError::into_inner) = entry;
    }

    fn take_visited(&self) -> Visited {
        lock(&self.visited).pop().unwrap_or_default()
    }

    fn give_visited(&self, v: Visited) {
        lock(&self.visited).push(v);
    }

    /// Greedy walk at one level: moves to the best neighbour until none is better.
    fn greedy<S: Scorer>(&self, vecs: &Vectors<'_>, q: &S, mut cur: Scored, level: usize) -> Scored {
        loop {
            let mut moved = false;
            for nb in self.neighbours(cur.slot, level) {
                let s = Scored { score: vecs.score(q, nb), slot: nb };
                if s > cur {
                    cur = s;
                    moved = true;
                }
            }
            if !moved {
                return cur;
            }
        }
    }

    /// Best-first search at one level from `entries`, keeping the `ef` best accepted slots;
    /// returns them best first. Rejected slots are walked through but never returned.
    #[allow(clippy::too_many_arguments)]
    fn search_layer<S: Scorer, A: Fn(u32) -> bool>(
        &self,
        vecs: &Vectors<'_>,
        q: &S,
        entries: &[Scored],
        ef: usize,
        level: usize,
        visited: &mut Visited,
        accept: &A,
    ) -> Vec<Scored> {
        let mut candidates: BinaryHeap<Scored> = BinaryHeap::with_capacity(ef * 2);
        let mut top: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(ef + 1);
        for &e in entries {
            if visited.insert(e.slot) {
                candidates.push(e);
                if accept(e.slot) {
                    top.push(Reverse(e));
                    if top.len() > ef {
                        top.pop();
                    }
                }
            }
        }
        let mut fresh: Vec<u32> = Vec::with_capacity(self.m0);
        while let Some(c) = candidates.pop() {
            if top.len() >= ef && top.peek().is_some_and(|w| c < w.0) {
                break;
            }
            fresh.clear();
            fresh.extend(self.neighbours(c.slot, level).filter(|&nb| visited.insert(nb)));
            // The next candidate's list is probably read next: start loading it now.
            if let Some(next) = candidates.peek() {
                self.touch_list(next.slot, level);
            }
            vecs.touch(&fresh);
            for &nb in &fresh {
                let s = Scored { score: vecs.score(q, nb), slot: nb };
                if top.len() < ef || top.peek().is_some_and(|w| s > w.0) {
                    candidates.push(s);
                    if accept(nb) {
                        top.push(Reverse(s));
                        if top.len() > ef {
                            top.pop();
                        }
                    }
                }
            }
        }
        let mut out: Vec<Scored> = top.into_iter().map(|r| r.0).collect();
        sort_desc(&mut out);
        out
    }

    /// The `ef` best accepted slots for `q` (fewer if the walk finds fewer), best first.
    pub fn search<S: Scorer, A: Fn(u32) -> bool>(
        &self,
        vecs: &Vectors<'_>,
        q: &S,
        ef: usize,
        accept: &A,
    ) -> Vec<Scored> {
        let entry = self.entry();
        if entry.slot == NONE {
            return Vec::new();
        }
        let mut cur = Scored { score: vecs.score(q, entry.slot), slot: entry.slot };
        for level in (1..=usize::from(entry.level)).rev() {
            cur = self.greedy(vecs, q, cur, level);
        }
        let mut visited = self.take_visited();
        visited.start(self.slots());
        let out = self.search_layer(vecs, q, &[cur], ef.max(1), 0, &mut visited, accept);
        self.give_visited(visited);
        out
    }

    /// The heuristic of the HNSW paper: keeps a candidate (taken best first) only if it is
    /// more similar to the base than to every candidate kept so far, up to `max`.
    fn select(&self, vecs: &Vectors<'_>, candidates: &[Scored], max: usize) -> Vec<u32> {
        let mut kept: Vec<(u32, Int8Query)> = Vec::with_capacity(max);
        for c in candidates {
            if kept.len() >= max {
                break;
            }
            let row = vecs.row(c.slot);
            let scale = vecs.scales[c.slot as usize];
            if kept.iter().all(|(_, k)| k.score(row, scale) < c.score) {
                kept.push((c.slot, vecs.prepare(c.slot)));
            }
        }
        let mut out: Vec<u32> = kept.into_iter().map(|(s, _)| s).collect();
        if self.fill {
            for c in candidates {
                if out.len() >= max {
                    break;
                }
                if !out.contains(&c.slot) {
                    out.push(c.slot);
                }
            }
        }
        out
    }

    fn max_degree(&self, level: usize) -> usize {
        if level == 0 { self.m0 } else { self.m }
    }

    /// Links `slot` (already grown, not linked yet) into the graph with construction
    /// breadth `ef`. Safe to call from several threads for different slots.
    pub fn insert(&self, vecs: &Vectors<'_>, slot: u32, ef: usize) {
        let level = self.levels[slot as usize];
        let q = vecs.prepare(slot);
        let mut visited = self.take_visited();
        let entry = self.entry();
        if entry.slot == NONE || level > entry.level {
            // A new top: hold the entry point for the whole insert (rare: about log_m(n) times).
            let mut guard = self.entry.write().unwrap_or_else(PoisonError::into_inner);
            let entry = *guard;
            if entry.slot == NONE {
                *guard = Entry { slot, level };
            } else if level > entry.level {
                self.link(vecs, &q, slot, level, entry, ef, &mut visited);
                *guard = Entry { slot, level };
            } else {
                drop(guard);
                self.link(vecs, &q, slot, level, entry, ef, &mut visited);
            }
        } else {
            self.link(vecs, &q, slot, level, entry, ef, &mut visited);
        }
        self.give_visited(visited);
    }

    #[allow(clippy::too_many_arguments)]
    fn link(
        &self,
        vecs: &Vectors<'_>,
        q: &Int8Query,
        slot: u32,
        level: u8,
        entry: Entry,
        ef: usize,
        visited: &mut Visited,
    ) {
        let mut cur = Scored { score: vecs.score(q, entry.slot), slot: entry.slot };
        for lc in (usize::from(level) + 1..=usize::from(entry.level)).rev() {
            cur = self.greedy(vecs, q, cur, lc);
        }
        let mut entries = vec![cur];
        for lc in (0..=usize::from(level.min(entry.level))).rev() {
            visited.start(self.slots());
            let found = self.search_layer(vecs, q, &entries, ef, lc, visited, &|s| s != slot);
            let max = self.max_degree(lc);
            let chosen = self.select(vecs, &found, max);
            {
                let _g = lock(&self.stripes[slot as usize % STRIPES]);
                self.write_list(slot, lc, &chosen);
            }
            for &e in &chosen {
                self.add_link(vecs, e, slot, lc, max);
            }
            if !found.is_empty() {
                entries = found;
            }
        }
    }

    /// Adds `new` to the list of `e` at `level`, pruning with the heuristic when full.
    fn add_link(&self, vecs: &Vectors<'_>, e: u32, new: u32, level: usize, max: usize) {
        let _g = lock(&self.stripes[e as usize % STRIPES]);
        let mut current: Vec<u32> = Vec::with_capacity(max + 1);
        current.extend(self.neighbours(e, level));
        if current.contains(&new) {
            return;
        }
        if current.len() < max {
            current.push(new);
            self.write_list(e, level, &current);
            return;
        }
        current.push(new);
        let base = vecs.prepare(e);
        vecs.touch(&current);
        let mut scored: Vec<Scored> =
            current.iter().map(|&s| Scored { score: vecs.score(&base, s), slot: s }).collect();
        sort_desc(&mut scored);
        let chosen = self.select(vecs, &scored, max);
        self.write_list(e, level, &chosen);
    }

    /// Links slots `range` (grown, not linked) on `threads` threads, in slot order as far as
    /// threads allow (the result depends on thread timing unless `threads == 1`).
    pub fn insert_parallel(&self, vecs: &Vectors<'_>, range: std::ops::Range<usize>, ef: usize, threads: usize) {
        let next = AtomicUsize::new(range.start);
        let end = range.end;
        let work = || {
            loop {
                let slot = next.fetch_add(1, Relaxed);
                if slot >= end {
                    break;
                }
                self.insert(vecs, slot as u32, ef);
            }
        };
        if threads <= 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(work);
                }
            });
        }
    }

    /// Reconnects every live slot that has removed (`dead`) neighbours: its new list is chosen
    /// with the heuristic among its live neighbours and the live neighbours of its removed
    /// ones (topped up by a search when that leaves few candidates); then moves the entry
    /// point to a live slot of highest level. After this, no live slot links to a dead one.
    pub fn consolidate<D: Fn(u32) -> bool + Sync>(&mut self, vecs: &Vectors<'_>, dead: &D, ef: usize, threads: usize) {
        let slots = self.slots();
        // Entry point first, so that top-up searches start from a live slot.
        let best = (0..slots as u32).filter(|&s| !dead(s)).max_by_key(|&s| (self.levels[s as usize], Reverse(s)));
        let entry = match best {
            Some(s) => Entry { slot: s, level: self.levels[s as usize] },
            None => Entry { slot: NONE, level: 0 },
        };
        let old_entry = self.entry();
        if dead(old_entry.slot) || old_entry.slot == NONE {
            self.set_entry(entry);
        }
        let this = &*self;
        let next = AtomicUsize::new(0);
        let work = || {
            let mut visited = Visited::default();
            loop {
                let start = next.fetch_add(256, Relaxed);
                if start >= slots {
                    break;
                }
                for slot in start..(start + 256).min(slots) {
                    let slot = slot as u32;
                    if dead(slot) {
                        continue;
                    }
                    for level in 0..=usize::from(this.levels[slot as usize]) {
                        this.repair(vecs, slot, level, dead, ef, &mut visited);
                    }
                }
            }
        };
        if threads <= 1 {
            work();
        } else {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(work);
                }
            });
        }
        if dead(self.entry().slot) || self.entry().slot == NONE {
            self.set_entry(entry);
        }
    }

    fn repair<D: Fn(u32) -> bool>(
        &self,
        vecs: &Vectors<'_>,
        slot: u32,
        level: usize,
        dead: &D,
        ef: usize,
        visited: &mut Visited,
    ) {
        let current: Vec<u32> = self.neighbours(slot, level).collect();
        if !current.iter().any(|&s| dead(s)) {
            return;
        }
        let mut pool: Vec<u32> = current.iter().copied().filter(|&s| !dead(s)).collect();
        for &d in current.iter().filter(|&&s| dead(s)) {
            if usize::from(self.levels[d as usize]) >= level {
                pool.extend(self.neighbours(d, level).filter(|&s| s != slot && !dead(s)));
            }
        }
        pool.sort_unstable();
        pool.dedup();
        let max = self.max_degree(level);
        let base = vecs.prepare(slot);
        let mut scored: Vec<Scored> = pool.iter().map(|&s| Scored { score: vecs.score(&base, s), slot: s }).collect();
        if scored.len() < max / 2 {
            // Too few survivors around: find candidates by a walk of this level.
            let entry = self.entry();
            if entry.slot != NONE && usize::from(entry.level) >= level {
                let mut cur = Scored { score: vecs.score(&base, entry.slot), slot: entry.slot };
                for lc in (level + 1..=usize::from(entry.level)).rev() {
                    cur = self.greedy(vecs, &base, cur, lc);
                }
                visited.start(self.slots());
                let found = self.search_layer(vecs, &base, &[cur], ef, level, visited, &|s| s != slot && !dead(s));
                scored.extend(found.into_iter().filter(|f| !pool.contains(&f.slot)));
            }
        }
        sort_desc(&mut scored);
        let chosen = self.select(vecs, &scored, max);
        self.set_neighbours(slot, level, &chosen);
    }

    /// A new graph of the slots where `map[old] != NONE`, renumbered to `map[old]`; lists keep
    /// only mapped slots (call [`consolidate`](Self::consolidate) first so that none is lost).
    pub fn renumber(&self, map: &[u32], kept: usize) -> Graph {
        let mut g = Graph::new(self.m, self.m0, self.seed);
        g.fill = self.fill;
        g.levels = vec![0; kept];
        g.level0 = (0..kept * self.words).map(|_| AtomicU64::new(u64::MAX)).collect();
        let remap = |list: Vec<u32>| -> Vec<u32> {
            list.into_iter().filter_map(|s| map.get(s as usize).copied().filter(|&n| n != NONE)).collect()
        };
        for (old, &new) in map.iter().enumerate() {
            if new == NONE {
                continue;
            }
            let level = self.levels[old];
            g.levels[new as usize] = level;
            if level > 0 {
                g.upper.insert(new, (0..usize::from(level) * self.m).map(|_| AtomicU32::new(NONE)).collect());
            }
            for l in 0..=usize::from(level) {
                let items = remap(self.neighbours(old as u32, l).collect());
                g.set_neighbours(new, l, &items);
            }
        }
        let entry = self.entry();
        let slot = map.get(entry.slot as usize).copied().unwrap_or(NONE);
        g.set_entry(if slot == NONE { Entry { slot: NONE, level: 0 } } else { Entry { slot, level: entry.level } });
        g
    }

    /// Slots that a walk from the entry point cannot reach at level 0 (breadth-first).
    pub fn unreachable(&self) -> Vec<u32> {
        let n = self.slots();
        let entry = self.entry();
        if entry.slot == NONE {
            return Vec::new();
        }
        let mut seen = vec![false; n];
        let mut queue = std::collections::VecDeque::from([entry.slot]);
        seen[entry.slot as usize] = true;
        while let Some(s) = queue.pop_front() {
            for nb in self.neighbours(s, 0) {
                if !std::mem::replace(&mut seen[nb as usize], true) {
                    queue.push_back(nb);
                }
            }
        }
        (0..n as u32).filter(|&s| !seen[s as usize]).collect()
    }

    /// Links every slot that a level-0 walk from the entry point cannot reach, and returns how
    /// many there were.
    ///
    /// Pruning a full list when a new neighbour arrives can drop a slot from every list that
    /// held it; on face-like data (tight clusters of 5 templates) 0.5% of the slots ended up
    /// unreachable, so some people could never be found by a top-k search. Each such slot is
    /// added to the lists of the 3 most similar reachable slots found by a walk (in a free
    /// place, or instead of the least similar neighbour that other slots also link to).
    pub fn connect_unreachable(&mut self, vecs: &Vectors<'_>, ef: usize) -> usize {
        let n = self.slots();
        let mut linked = 0;
        for _round in 0..4 {
            let lost = self.unreachable();
            if lost.is_empty() {
                break;
            }
            let mut is_lost = vec![false; n];
            for &u in &lost {
                is_lost[u as usize] = true;
            }
            let mut indegree = vec![0u32; n];
            for s in 0..n as u32 {
                for nb in self.neighbours(s, 0) {
                    indegree[nb as usize] += 1;
                }
            }
            for &u in &lost {
                let q = vecs.prepare(u);
                let found = self.search(vecs, &q, ef, &|s| s != u && !is_lost[s as usize]);
                for v in found.iter().take(3) {
                    let mut current: Vec<u32> = self.neighbours(v.slot, 0).collect();
                    if current.contains(&u) {
                        continue;
                    }
                    if current.len() < self.m0 {
                        current.push(u);
                        self.set_neighbours(v.slot, 0, &current);
                        indegree[u as usize] += 1;
                        continue;
                    }
                    let base = vecs.prepare(v.slot);
                    let victim = current
                        .iter()
                        .enumerate()
                        .filter(|&(_, &w)| indegree[w as usize] > 1)
                        .map(|(i, &w)| (Scored { score: vecs.score(&base, w), slot: w }, i))
                        .min_by(|a, b| a.0.cmp(&b.0));
                    if let Some((w, i)) = victim {
                        current[i] = u;
                        self.set_neighbours(v.slot, 0, &current);
                        indegree[w.slot as usize] -= 1;
                        indegree[u as usize] += 1;
                    }
                }
                linked += 1;
            }
        }
        linked
    }

    /// Average level-0 degree.
    pub fn mean_degree(&self) -> f64 {
        let n = self.slots().max(1);
        (0..self.slots() as u32).map(|s| self.neighbours(s, 0).count()).sum::<usize>() as f64 / n as f64
    }

    /// Heap bytes: levels, level-0 lists, upper lists (with their map), search scratch.
    pub fn memory_bytes(&self) -> usize {
        let upper: usize = self.upper.values().map(|b| b.len() * 4 + 16).sum::<usize>() + self.upper.capacity() * 24;
        let visited: usize = lock(&self.visited).iter().map(Visited::bytes).sum();
        self.levels.capacity() + self.level0.capacity() * 8 + upper + visited
    }

    /// Bytes of the per-walk scratch (visited marks) currently pooled.
    pub fn scratch_bytes(&self) -> usize {
        lock(&self.visited).iter().map(Visited::bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Query;
    use crate::synth::FaceLike;
    use gabarit_index::quant::{quantize_into, to_offset};

    fn store(data: &[f32], dim: usize) -> (Vec<u8>, Vec<f32>) {
        let mut codes = Vec::new();
        let mut scales = Vec::new();
        let mut buf = vec![0i8; dim];
        for v in data.chunks_exact(dim) {
            scales.push(quantize_into(v, &mut buf));
            codes.extend(buf.iter().map(|&c| to_offset(c)));
        }
        (codes, scales)
    }

    fn exact(vecs: &Vectors<'_>, q: &Query, k: usize, n: usize) -> Vec<u32> {
        let mut all: Vec<Scored> = (0..n as u32).map(|s| Scored { score: vecs.score(q, s), slot: s }).collect();
        sort_desc(&mut all);
        all.iter().take(k).map(|s| s.slot).collect()
    }

    #[test]
    fn finds_the_exact_neighbours_on_face_like_data() {
        let dim = 64;
        let n = 4000;
        let g = FaceLike::new(dim, 3);
        let data = g.database(0, n, 2);
        let (codes, scales) = store(&data, dim);
        let vecs = Vectors { codes: &codes, scales: &scales, dim };
        for threads in [1, 2] {
            let mut graph = Graph::new(8, 16, 1);
            graph.grow(n);
            graph.insert_parallel(&vecs, 0..n, 64, threads);
            let (_, probes) = g.probes(n as u64, 50, 5);
            let mut hits = 0;
            for p in probes.chunks_exact(dim) {
                let q = Query::new(p, 12);
                let found: Vec<u32> = graph.search(&vecs, &q, 128, &|_| true).iter().take(10).map(|s| s.slot).collect();
                let truth = exact(&vecs, &q, 10, n);
                hits += found.iter().filter(|s| truth.contains(s)).count();
            }
            let recall = hits as f64 / 500.0;
            assert!(recall > 0.94, "recall@10 {recall} with {threads} threads");
            // Degrees are bounded and lists hold no self-loop or duplicate.
            for s in 0..n as u32 {
                for level in 0..=usize::from(graph.level(s)) {
                    let l: Vec<u32> = graph.neighbours(s, level).collect();
                    assert!(l.len() <= graph.max_degree(level));
                    assert!(!l.contains(&s));
                    let mut d = l.clone();
                    d.sort_unstable();
                    d.dedup();
                    assert_eq!(d.len(), l.len());
                }
            }
        }
    }

    #[test]
    fn packed_lists_round_trip() {
        for m0 in [2, 5, 8, 13, 48, 50, MAX_DEGREE] {
            let mut g = Graph::new(4, m0, 3);
            for _ in 0..3 {
                g.push_slot(0);
            }
            for len in 0..=m0 {
                let items: Vec<u32> = (0..len as u32).map(|i| (MAX_SLOTS as u32 - 1).wrapping_sub(i * 7919)).collect();
                g.set_neighbours(1, 0, &items);
                assert!(g.neighbours(1, 0).eq(items.iter().copied()), "m0 {m0} len {len}");
                assert_eq!(g.neighbours(0, 0).count(), 0);
                assert_eq!(g.neighbours(2, 0).count(), 0);
            }
        }
    }

    #[test]
    fn one_thread_is_deterministic() {
        let dim = 32;
        let n = 500;
        let data = FaceLike::new(dim, 4).database(0, n, 1);
        let (codes, scales) = store(&data, dim);
        let vecs = Vectors { codes: &codes, scales: &scales, dim };
        let build = || {
            let mut graph = Graph::new(6, 12, 9);
            graph.grow(n);
            graph.insert_parallel(&vecs, 0..n, 32, 1);
            graph
        };
        let (a, b) = (build(), build());
        assert_eq!(a.entry(), b.entry());
        for s in 0..n as u32 {
            for level in 0..=usize::from(a.level(s)) {
                assert!(a.neighbours(s, level).eq(b.neighbours(s, level)));
            }
        }
    }

    #[test]
    fn consolidation_removes_every_link_to_dead_slots_and_keeps_recall() {
        let dim = 64;
        let n = 3000;
        let g = FaceLike::new(dim, 5);
        let data = g.database(0, n, 2);
        let (codes, scales) = store(&data, dim);
        let vecs = Vectors { codes: &codes, scales: &scales, dim };
        let mut graph = Graph::new(8, 16, 2);
        graph.grow(n);
        // One thread: the same graph at every run (two threads insert in an order the
        // scheduler decides, and the recall then varies around the bar by a few thousandths).
        graph.insert_parallel(&vecs, 0..n, 64, 1);
        // Remove a third, including the entry point.
        let entry = graph.entry().slot;
        let dead = |s: u32| s.is_multiple_of(3) || s == entry;
        graph.consolidate(&vecs, &dead, 64, 1);
        assert!(!dead(graph.entry().slot));
        for s in (0..n as u32).filter(|&s| !dead(s)) {
            for level in 0..=usize::from(graph.level(s)) {
                assert!(graph.neighbours(s, level).all(|x| !dead(x)), "slot {s} level {level}");
            }
            assert!(graph.neighbours(s, 0).next().is_some(), "slot {s} is isolated");
        }
        let map: Vec<u32> = {
            let mut next = 0u32;
            (0..n as u32)
                .map(|s| {
                    if dead(s) {
                        NONE
                    } else {
                        next += 1;
                        next - 1
                    }
                })
                .collect()
        };
        let kept = map.iter().filter(|&&m| m != NONE).count();
        let small = graph.renumber(&map, kept);
        let live_codes: Vec<u8> =
            (0..n).filter(|&s| !dead(s as u32)).flat_map(|s| codes[s * dim..(s + 1) * dim].to_vec()).collect();
        let live_scales: Vec<f32> = (0..n).filter(|&s| !dead(s as u32)).map(|s| scales[s]).collect();
        let vecs = Vectors { codes: &live_codes, scales: &live_scales, dim };
        let (_, probes) = g.probes(n as u64, 50, 6);
        let mut hits = 0;
        for p in probes.chunks_exact(dim) {
            let q = Query::new(p, 12);
            let found: Vec<u32> = small.search(&vecs, &q, 64, &|_| true).iter().take(10).map(|s| s.slot).collect();
            let truth = exact(&vecs, &q, 10, kept);
            hits += found.iter().filter(|s| truth.contains(s)).count();
        }
        let recall = hits as f64 / 500.0;
        assert!(recall > 0.95, "recall@10 after consolidation {recall}");
    }
}
