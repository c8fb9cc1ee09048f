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

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::atomic::{
    AtomicU8, AtomicU32, AtomicU64, Ordering::Acquire, Ordering::Relaxed, Ordering::Release, fence,
};
use std::sync::{Mutex, PoisonError, RwLock};

use crate::kernel::{Int8Query, Scorer};

mod insert;
mod repair;
mod search;
#[cfg(test)]
mod tests;

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

/// [`Graph`]'s `chosen0` for a list the heuristic did not write as it stands.
const UNKNOWN_CHOICE: u8 = u8::MAX;

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

/// A list chosen by the neighbour-selection heuristic ([`Graph::select`]): the candidates it
/// kept, best first, then (when the graph fills lists) the best of those it rejected, best
/// first, up to the degree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selection {
    slots: Vec<u32>,
    /// How many of `slots` the heuristic itself kept.
    chosen: usize,
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
    /// Prunes a full level-0 list by updating the heuristic's last choice for it
    /// ([`Graph::reselect`]) instead of running the heuristic again: the same lists, far fewer
    /// scores. Off only to test that sameness.
    pub incremental: bool,
    levels: Vec<u8>,
    /// `u64` words per level-0 list.
    words: usize,
    level0: Vec<AtomicU64>,
    /// Per slot, how many of the first entries of its level-0 list the heuristic chose (the
    /// rest being the best of what it rejected), or [`UNKNOWN_CHOICE`] when the list was
    /// written otherwise (appended to, repaired, loaded). Written under the slot's stripe lock.
    chosen0: Vec<AtomicU8>,
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

/// Runs `work` on `threads` threads (on this one when `threads` is at most 1); each call takes
/// its share of the work from a shared counter.
fn run_on(threads: usize, work: impl Fn() + Sync) {
    if threads <= 1 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(&work);
            }
        });
    }
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
            incremental: true,
            levels: Vec::new(),
            words: (3 * m0).div_ceil(8),
            level0: Vec::new(),
            chosen0: Vec::new(),
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
        self.reserve(count);
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
        self.chosen0.push(AtomicU8::new(UNKNOWN_CHOICE));
        if level > 0 {
            self.upper.insert(slot, (0..usize::from(level) * self.m).map(|_| AtomicU32::new(NONE)).collect());
        }
    }

    /// Reserves room for `additional` more slots.
    pub fn reserve(&mut self, additional: usize) {
        self.levels.reserve(additional);
        self.level0.reserve(additional * self.words);
        self.chosen0.reserve(additional);
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

    /// Rewrites the list of `slot` at `level` with what the heuristic chose. The caller holds
    /// the stripe lock of `slot`.
    fn write_selection(&self, slot: u32, level: usize, selection: &Selection) {
        self.write_list(slot, level, &selection.slots);
        if level == 0 {
            let chosen = u8::try_from(selection.chosen).unwrap_or(UNKNOWN_CHOICE);
            self.chosen0[slot as usize].store(chosen, Relaxed);
        }
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
        self.chosen0[slot as usize].store(UNKNOWN_CHOICE, Relaxed);
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

    fn max_degree(&self, level: usize) -> usize {
        if level == 0 { self.m0 } else { self.m }
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
        self.levels.capacity() + self.level0.capacity() * 8 + self.chosen0.capacity() + upper + visited
    }

    /// Bytes of the per-walk scratch (visited marks) currently pooled.
    pub fn scratch_bytes(&self) -> usize {
        lock(&self.visited).iter().map(Visited::bytes).sum()
    }
}
