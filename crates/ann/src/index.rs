//! [`AnnIndex`]: the graph, the stored templates and their files, behind
//! [`gabarit_index::VectorIndex`].

use std::collections::HashMap;

use std::path::Path;
use std::sync::Arc;

use gabarit_index::quant::{quantize_into, to_offset};
use gabarit_index::select::{CollectionFilter, Ranked, TopK};
use gabarit_index::{Error as IndexError, Hit, MAX_DIM, RecordCipher, Result, VectorIndex, validate_vector};
use hashbrown::HashTable;

use gabarit_index::records::{Loader, Record, RecordFiles};

use crate::files::*;
use crate::graph::{Graph, MAX_SLOTS, Scored, Vectors};
use crate::hugebuf::HugeBuf;
use crate::kernel::{Query, Scorer};

/// Tuning and behaviour of an [`AnnIndex`]. `m`, `m0`, `ef_construction` and `seed` are fixed when
/// the index is created (later opens take them from its graph file); the others may change at
/// every open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnnOptions {
    /// Neighbours per slot on the upper levels (a fraction `1/m` of the templates has any).
    /// Memory: about `4 m / (m − 1)` bytes per template. Default 16.
    pub m: usize,
    /// Neighbours per slot on level 0 (every template): the lever of recall at scale. Memory:
    /// `3 m0` bytes per template, rounded up to 8. Default 48.
    pub m0: usize,
    /// Breadth of the search that links a new template. Default 200.
    pub ef_construction: usize,
    /// Breadth of a top-k search (at least `k`). Default [`DEFAULT_EF_SEARCH`].
    pub ef_search: usize,
    /// A search whose candidates (live templates of the asked collections) are at most this
    /// many is an exact scan. Default 20,000.
    pub exact_below: usize,
    /// Precision of the query's quantisation: 8 (the project's int8) up to 12 (default; see
    /// the `kernel` module: same speed, recall 0.9939 instead of 0.9914 at the exact-scan
    /// ceiling on the benchmark data).
    pub query_bits: u32,
    /// Threads for batch inserts, exact scans above 20,000 templates and compaction
    /// (0 = all cores). Top-k graph searches use the calling thread only.
    pub threads: usize,
    /// The graph file is rewritten at a flush once this many templates were linked since it
    /// was last written (those are linked again at open otherwise). Default 10,000.
    pub checkpoint_every: usize,
    /// Seed of the level draws. Default 0x6761_6261.
    pub seed: u64,
}

/// Default breadth of a top-k search: on the face-like benchmark at 1,000,000 templates
/// (`m0` = 48), recall@10 0.992 against the exact scan of the same int8 codes and 0.984 against
/// float32 exact search (whose int8 ceiling is 0.991), p50 28.6 ms on one thread of a loaded
/// machine (see the README). Smaller indexes reach the same recall with less breadth.
pub const DEFAULT_EF_SEARCH: usize = 8192;

/// Above this many scanned templates an exact scan is split over the threads.
pub const PARALLEL_SCAN_MIN: usize = 20_000;

impl Default for AnnOptions {
    fn default() -> AnnOptions {
        AnnOptions {
            m: 16,
            m0: 48,
            ef_construction: 200,
            ef_search: DEFAULT_EF_SEARCH,
            exact_below: 20_000,
            query_bits: 12,
            threads: 0,
            checkpoint_every: 10_000,
            seed: 0x6761_6261,
        }
    }
}

/// Why an [`AnnIndex`] could not be opened or configured.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An option is out of range.
    #[error("invalid option {name}: {reason}")]
    Option {
        /// The option.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Storage or input failure (as for every [`VectorIndex`] operation).
    #[error(transparent)]
    Index(#[from] IndexError),
}

impl AnnOptions {
    /// Checks the ranges: `m` and `m0` in 2..=128, `ef_construction` and `ef_search` at least 1,
    /// `query_bits` in 8..=12.
    pub fn validate(&self) -> std::result::Result<(), Error> {
        let bad = |name, reason: &str| Err(Error::Option { name, reason: reason.to_string() });
        if !(2..=128).contains(&self.m) {
            return bad("m", "must be 2 to 128");
        }
        if !(2..=128).contains(&self.m0) {
            return bad("m0", "must be 2 to 128");
        }
        if self.ef_construction == 0 {
            return bad("ef_construction", "must be at least 1");
        }
        if self.ef_search == 0 {
            return bad("ef_search", "must be at least 1");
        }
        if !(8..=12).contains(&self.query_bits) {
            return bad("query_bits", "must be 8 to 12");
        }
        Ok(())
    }
}

/// Sizes of an [`AnnIndex`], from [`AnnIndex::stats`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnnStats {
    /// Live templates.
    pub live: usize,
    /// Removed templates still held (in memory, in the graph and on disk) until compaction.
    pub dead: usize,
    /// Heap bytes of the templates: codes, scales, ids, collections, removal marks.
    pub vector_bytes: usize,
    /// Heap bytes of the graph (levels and neighbour lists).
    pub graph_bytes: usize,
    /// Heap bytes of the id table and per-collection counts.
    pub id_bytes: usize,
    /// Heap bytes of pooled search scratch (one visited mark per slot per concurrent walk).
    pub scratch_bytes: usize,
    /// `(vector + graph + id) bytes / live` (0 when empty): scratch is per thread, not per
    /// template, and left out.
    pub bytes_per_template: f64,
    /// Bytes of the files in the directory.
    pub disk_bytes: u64,
    /// Mean number of level-0 neighbours.
    pub mean_degree: f64,
}

/// Approximate nearest-neighbour index: HNSW over int8 templates, persistent in a directory,
/// with exhaustive threshold search and physical erasure at compaction (see the crate
/// documentation).
#[derive(Debug)]
pub struct AnnIndex {
    /// The record file and tombstone log.
    files: RecordFiles,
    dim: usize,
    opts: AnnOptions,
    /// `slots × dim` codes in offset form (in huge pages: searches read them at random).
    codes: HugeBuf,
    scales: Vec<f32>,
    ids: Vec<u64>,
    collections: Vec<u32>,
    dead: Vec<u64>,
    dead_count: usize,
    slot_of: HashTable<u32>,
    per_collection: HashMap<u32, usize>,
    graph: Graph,
    /// Slots covered by `graph.dat`.
    graph_saved: usize,
    /// Whether the graph in memory equals the saved graph plus one-thread inserts of the later
    /// slots in order (what an open would rebuild); if not, the next flush rewrites the file.
    replayable: bool,
    scratch: Vec<i8>,
}

/// The records and removals read at open.
#[derive(Default)]
struct Loaded {
    dim: usize,
    codes: HugeBuf,
    scales: Vec<f32>,
    ids: Vec<u64>,
    collections: Vec<u32>,
    removed: Vec<(u64, usize)>,
}

impl Loader for Loaded {
    fn reserve(&mut self, slots: usize) {
        self.codes = HugeBuf::with_capacity(slots * self.dim);
        self.scales.reserve(slots);
        self.ids.reserve(slots);
        self.collections.reserve(slots);
    }

    fn record(&mut self, _slot: usize, r: Record<'_>) -> Result<()> {
        self.codes.extend_from_slice(r.codes);
        self.scales.push(r.scale);
        self.ids.push(r.id);
        self.collections.push(r.collection);
        Ok(())
    }

    fn tombstone(&mut self, id: u64, slot: usize) {
        self.removed.push((id, slot));
    }
}

/// The error of an insert beyond [`MAX_SLOTS`] templates (live or removed until compaction).
fn full(path: &Path) -> IndexError {
    IndexError::Full { path: path.to_path_buf(), max: MAX_SLOTS }
}

fn hash_id(id: u64) -> u64 {
    let mut z = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn threads_of(n: usize) -> usize {
    if n == 0 { std::thread::available_parallelism().map_or(1, |c| c.get()) } else { n }
}

impl AnnIndex {
    /// Opens the index stored in `dir` (creating the directory and an empty index if needed)
    /// with the default [`AnnOptions`].
    pub fn open(dir: impl AsRef<Path>, dim: usize) -> std::result::Result<AnnIndex, Error> {
        AnnIndex::open_with(dir, dim, AnnOptions::default(), None)
    }

    /// Opens the index stored in `dir` with `options`, its records sealed by `cipher` at rest
    /// if given (as [`gabarit_index::FlatIndex::open_with`]: the data file says whether records
    /// are sealed, and a mismatch is [`IndexError::Encryption`]).
    ///
    /// Loads every record, applies the tombstones, cuts off a torn record or tombstone left by
    /// a crash, loads the graph file and links the records it does not cover. A graph file that
    /// is missing, damaged or stale is rebuilt from the records (on all threads; it is written
    /// at the next flush).
    pub fn open_with(
        dir: impl AsRef<Path>,
        dim: usize,
        options: AnnOptions,
        cipher: Option<Arc<dyn RecordCipher>>,
    ) -> std::result::Result<AnnIndex, Error> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        if dim == 0 || dim > MAX_DIM {
            return Err(IndexError::UnsupportedDimension { dim, max: MAX_DIM }.into());
        }
        let mut loaded = Loaded { dim, ..Loaded::default() };
        let (files, opened) = RecordFiles::open(&dir, dim, cipher, &[GRAPH_TMP], MAX_SLOTS, &mut loaded)?;
        let slots = opened.slots;
        let mut index = AnnIndex {
            files,
            dim,
            opts: options,
            codes: loaded.codes,
            scales: loaded.scales,
            ids: loaded.ids,
            collections: loaded.collections,
            dead: vec![0; slots.div_ceil(64)],
            dead_count: 0,
            slot_of: HashTable::with_capacity(slots),
            per_collection: HashMap::new(),
            graph: Graph::new(options.m, options.m0, options.seed),
            graph_saved: 0,
            replayable: true,
            scratch: vec![0; dim],
        };
        for slot in 0..slots {
            let (id, collection) = (index.ids[slot], index.collections[slot]);
            // A later record for an id still live wins (its tombstone was lost).
            if let Some(prev) = index.find_slot(id) {
                index.kill(prev as usize);
                index.unmap(id);
            }
            index.map(id, slot as u32);
            *index.per_collection.entry(collection).or_insert(0) += 1;
        }
        for (id, slot) in loaded.removed {
            if index.find_slot(id).is_some_and(|s| s as usize == slot) {
                index.unmap(id);
                index.kill(slot);
            }
        }
        index.load_graph(opened.created)?;
        Ok(index)
    }

    /// Loads `graph.dat` and links the records it does not cover.
    fn load_graph(&mut self, created: bool) -> Result<()> {
        let slots = self.ids.len();
        let loaded = match read_graph(self.files.dir()) {
            Ok(Some((meta, graph)))
                if meta.generation == self.files.generation() && meta.slots <= slots && !created =>
            {
                Some((meta, graph))
            }
            // Missing, stale, damaged or ahead of the records: rebuilt below.
            Ok(_) | Err(_) => None,
        };
        let threads = threads_of(self.opts.threads);
        match loaded {
            Some((meta, graph)) => {
                self.opts.m = meta.m;
                self.opts.m0 = meta.m0;
                self.opts.ef_construction = meta.ef_construction.max(1);
                self.opts.seed = meta.seed;
                self.graph = graph;
                self.graph_saved = meta.slots;
                let tail = slots - meta.slots;
                self.graph.reserve(tail);
                for _ in 0..tail {
                    let level = self.graph.draw_level(self.graph.slots());
                    self.graph.push_slot(level);
                }
                // Replaying one thread, in order, rebuilds the graph as it was.
                let vecs = Vectors { codes: self.codes.as_slice(), scales: &self.scales, dim: self.dim };
                self.graph.insert_parallel(&vecs, meta.slots..slots, self.opts.ef_construction, 1);
                self.replayable = true;
            }
            None => {
                self.graph = Graph::new(self.opts.m, self.opts.m0, self.opts.seed);
                self.graph.grow(slots);
                let vecs = Vectors { codes: self.codes.as_slice(), scales: &self.scales, dim: self.dim };
                self.graph.insert_parallel(&vecs, 0..slots, self.opts.ef_construction, threads);
                self.graph.connect_unreachable(&vecs, self.opts.ef_construction);
                self.graph_saved = 0;
                self.replayable = false;
                if created || slots == 0 {
                    // Fix the graph's parameters from the start.
                    write_graph(self.files.dir(), &self.graph, self.files.generation(), self.opts.ef_construction)?;
                    self.replayable = true;
                }
            }
        }
        Ok(())
    }

    fn find_slot(&self, id: u64) -> Option<u32> {
        let ids = &self.ids;
        self.slot_of.find(hash_id(id), |&s| ids[s as usize] == id).copied()
    }

    fn map(&mut self, id: u64, slot: u32) {
        let ids = &self.ids;
        self.slot_of.insert_unique(hash_id(id), slot, |&s| hash_id(ids[s as usize]));
    }

    fn unmap(&mut self, id: u64) {
        let ids = &self.ids;
        if let Ok(entry) = self.slot_of.find_entry(hash_id(id), |&s| ids[s as usize] == id) {
            entry.remove();
        }
    }

    #[inline]
    fn is_dead(&self, slot: u32) -> bool {
        let s = slot as usize;
        self.dead.get(s / 64).is_some_and(|w| w >> (s % 64) & 1 == 1)
    }

    /// Marks `slot` dead (the id table is the caller's). Its codes stay until compaction: the
    /// graph still walks through it.
    fn kill(&mut self, slot: usize) {
        if self.dead.len() <= slot / 64 {
            self.dead.resize(slot / 64 + 1, 0);
        }
        if self.dead[slot / 64] >> (slot % 64) & 1 == 0 {
            self.dead[slot / 64] |= 1 << (slot % 64);
            self.dead_count += 1;
            if let Some(c) = self.per_collection.get_mut(&self.collections[slot]) {
                *c = c.saturating_sub(1);
            }
        }
    }

    fn vectors(&self) -> Vectors<'_> {
        Vectors { codes: self.codes.as_slice(), scales: &self.scales, dim: self.dim }
    }

    /// Stores one template (memory and data file) without linking it.
    fn append(&mut self, id: u64, collection: u32, vector: &[f32]) -> Result<()> {
        let slot = self.ids.len();
        let scale = quantize_into(vector, &mut self.scratch);
        let offset: Vec<u8> = self.scratch.iter().map(|&c| to_offset(c)).collect();
        self.codes.extend_from_slice(&offset);
        self.ids.push(id);
        self.collections.push(collection);
        self.scales.push(scale);
        if self.dead.len() < (slot + 1).div_ceil(64) {
            self.dead.push(0);
        }
        let record = Record { id, collection, scale, codes: &self.codes.as_slice()[slot * self.dim..] };
        if let Err(e) = self.files.append(record) {
            self.codes.truncate(slot * self.dim);
            self.ids.truncate(slot);
            self.collections.truncate(slot);
            self.scales.truncate(slot);
            return Err(e);
        }
        self.map(id, slot as u32);
        *self.per_collection.entry(collection).or_insert(0) += 1;
        Ok(())
    }

    /// Inserts many templates at once, linking them on [`AnnOptions::threads`] threads (the
    /// way to build a large index: about twice as fast as one insert after another on two
    /// cores). Every vector is checked before anything changes; `vectors` holds the rows of
    /// `items` in order (`items.len() × dim` values).
    ///
    /// The graph then depends on thread timing, so the next flush rewrites the graph file.
    pub fn insert_batch(&mut self, items: &[(u64, u32)], vectors: &[f32]) -> Result<()> {
        if vectors.len() != items.len() * self.dim {
            return Err(IndexError::WrongDimension {
                expected: self.dim,
                found: vectors.len().checked_div(items.len()).unwrap_or(vectors.len()),
            });
        }
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        for (&(id, _), v) in items.iter().zip(vectors.chunks_exact(self.dim)) {
            validate_vector(v, self.dim)?;
            if self.find_slot(id).is_some() || !seen.insert(id) {
                return Err(IndexError::DuplicateId { id });
            }
        }
        drop(seen);
        self.files.check_writable()?;
        if self.ids.len() + items.len() > MAX_SLOTS {
            return Err(full(self.files.data_path()));
        }
        let first = self.ids.len();
        self.codes.reserve(items.len() * self.dim);
        self.ids.reserve(items.len());
        self.scales.reserve(items.len());
        self.collections.reserve(items.len());
        let ids = &self.ids;
        self.slot_of.reserve(items.len(), |&s| hash_id(ids[s as usize]));
        for (&(id, collection), v) in items.iter().zip(vectors.chunks_exact(self.dim)) {
            if let Err(e) = self.append(id, collection, v) {
                // Link what was stored, so memory and graph stay consistent.
                self.link_from(first);
                return Err(e);
            }
        }
        self.link_from(first);
        Ok(())
    }

    fn link_from(&mut self, first: usize) {
        let slots = self.ids.len();
        if slots == first {
            return;
        }
        self.graph.grow(slots - first);
        let threads = threads_of(self.opts.threads);
        let vecs = Vectors { codes: self.codes.as_slice(), scales: &self.scales, dim: self.dim };
        self.graph.insert_parallel(&vecs, first..slots, self.opts.ef_construction, threads);
        self.graph.connect_unreachable(&vecs, self.opts.ef_construction);
        self.replayable = false;
    }

    /// Top-k search with an explicit breadth `ef` (see [`VectorIndex::search`]).
    pub fn search_ef(&self, query: &[f32], k: usize, collections: Option<&[u32]>, ef: usize) -> Result<Vec<Hit>> {
        validate_vector(query, self.dim)?;
        let filter = CollectionFilter::new(collections);
        if k == 0 || filter.accepts_nothing() {
            return Ok(Vec::new());
        }
        let live = self.len();
        let candidates = match filter.listed() {
            None => live,
            Some(v) => v.iter().map(|c| self.per_collection.get(c).copied().unwrap_or(0)).sum(),
        };
        if candidates == 0 {
            return Ok(Vec::new());
        }
        let q = Query::new(query, self.opts.query_bits);
        // Exact when few candidates, or when a filter keeps under a third of the templates
        // (a filtered walk visits about 1/fraction times more slots).
        if candidates <= self.opts.exact_below || candidates * 3 < live {
            return Ok(self.scan_top(&q, k, &filter));
        }
        let ef = ef.max(k) * live.div_ceil(candidates).min(3);
        let vecs = self.vectors();
        let found =
            self.graph.search(&vecs, &q, ef, &|s| !self.is_dead(s) && filter.accepts(self.collections[s as usize]));
        let mut hits: Vec<Hit> = found
            .into_iter()
            .map(|Scored { score, slot }| Hit {
                id: self.ids[slot as usize],
                collection: self.collections[slot as usize],
                score,
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        hits.truncate(k);
        Ok(hits)
    }

    /// Splits the slots into one range per scan thread.
    fn scan_ranges(&self) -> Vec<std::ops::Range<usize>> {
        let slots = self.ids.len();
        let threads = if slots < PARALLEL_SCAN_MIN { 1 } else { threads_of(self.opts.threads) };
        let per = slots.div_ceil(threads).max(1);
        (0..slots).step_by(per).map(|s| s..(s + per).min(slots)).collect()
    }

    fn scan<T: Send, F: Fn(std::ops::Range<usize>) -> T + Sync>(&self, f: F) -> Vec<T> {
        let ranges = self.scan_ranges();
        if ranges.len() <= 1 {
            return ranges.into_iter().map(&f).collect();
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = ranges.into_iter().map(|r| s.spawn(|| f(r))).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
        })
    }

    fn scan_top(&self, q: &Query, k: usize, filter: &CollectionFilter) -> Vec<Hit> {
        let vecs = self.vectors();
        let parts = self.scan(|range| {
            let mut top = TopK::new(k);
            for slot in range {
                if self.is_dead(slot as u32) || !filter.accepts(self.collections[slot]) {
                    continue;
                }
                let score = q.score(&vecs.codes[slot * self.dim..(slot + 1) * self.dim], self.scales[slot]);
                top.offer(score, self.ids[slot], slot);
            }
            top.into_vec()
        });
        let mut all: Vec<Ranked> = parts.into_iter().flatten().collect();
        all.sort();
        all.truncate(k);
        all.into_iter().map(|c| Hit { id: c.id, collection: self.collections[c.slot], score: c.score }).collect()
    }

    /// Sizes and memory (see [`AnnStats`]).
    pub fn stats(&self) -> AnnStats {
        let vector_bytes = self.codes.capacity()
            + self.scales.capacity() * 4
            + self.ids.capacity() * 8
            + self.collections.capacity() * 4
            + self.dead.capacity() * 8;
        let scratch_bytes = self.graph.scratch_bytes();
        let graph_bytes = self.graph.memory_bytes() - scratch_bytes;
        // hashbrown: one control byte per bucket plus the 4-byte slot, plus a group of padding.
        let buckets = (self.slot_of.capacity() * 8).div_ceil(7).next_power_of_two();
        let id_bytes = buckets * 5 + 16 + self.per_collection.capacity() * 17;
        let live = self.len();
        let disk_bytes = fs_err::read_dir(self.files.dir())
            .map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0);
        AnnStats {
            live,
            dead: self.dead_count,
            vector_bytes,
            graph_bytes,
            id_bytes,
            scratch_bytes,
            bytes_per_template: if live == 0 {
                0.0
            } else {
                (vector_bytes + graph_bytes + id_bytes) as f64 / live as f64
            },
            disk_bytes,
            mean_degree: self.graph.mean_degree(),
        }
    }

    /// Number of slots (live or removed) that the level-0 graph cannot reach from its entry
    /// point (diagnostics: 0 for a sound graph).
    pub fn unreachable(&self) -> usize {
        self.graph.unreachable().len()
    }

    /// The options in force (`m`, `ef_construction` and `seed` as stored in the graph).
    pub fn options(&self) -> AnnOptions {
        self.opts
    }

    /// Sets the breadth of top-k searches.
    pub fn set_ef_search(&mut self, ef: usize) {
        self.opts.ef_search = ef.max(1);
    }

    /// Sets the threads of batch inserts, exact scans and compaction (0 = all cores).
    pub fn set_threads(&mut self, threads: usize) {
        self.opts.threads = threads;
    }

    /// Reserves memory for `additional` more templates.
    pub fn reserve(&mut self, additional: usize) {
        self.codes.reserve(additional * self.dim);
        self.ids.reserve(additional);
        self.scales.reserve(additional);
        self.collections.reserve(additional);
        let ids = &self.ids;
        self.slot_of.reserve(additional, |&s| hash_id(ids[s as usize]));
        self.graph.reserve(additional);
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u64) -> bool {
        self.find_slot(id).is_some()
    }

    /// The directory holding the index.
    pub fn dir(&self) -> &Path {
        self.files.dir()
    }

    /// Writes the graph file now (it is otherwise written by [`VectorIndex::flush`] every
    /// [`AnnOptions::checkpoint_every`] linked templates, after a batch insert and at
    /// compaction), so that the next open links nothing again.
    pub fn checkpoint(&mut self) -> Result<()> {
        VectorIndex::flush(self)?;
        self.save_graph()
    }

    fn save_graph(&mut self) -> Result<()> {
        let vecs = Vectors { codes: self.codes.as_slice(), scales: &self.scales, dim: self.dim };
        self.graph.connect_unreachable(&vecs, self.opts.ef_construction);
        write_graph(self.files.dir(), &self.graph, self.files.generation(), self.opts.ef_construction)?;
        self.graph_saved = self.graph.slots();
        self.replayable = true;
        Ok(())
    }

    fn compact_files(&mut self) -> Result<()> {
        VectorIndex::flush(self)?;
        if self.dead_count == 0 && self.files.tombstones() == 0 {
            if !self.replayable || self.graph_saved != self.graph.slots() {
                self.save_graph()?;
            }
            return Ok(());
        }
        // 1. Reconnect the graph around removed slots, then drop them from memory.
        let threads = threads_of(self.opts.threads);
        {
            let dead = self.dead.clone();
            let is_dead = |s: u32| dead.get(s as usize / 64).is_some_and(|w| w >> (s % 64) & 1 == 1);
            let vecs = Vectors { codes: self.codes.as_slice(), scales: &self.scales, dim: self.dim };
            self.graph.consolidate(&vecs, &is_dead, self.opts.ef_construction, threads);
        }
        let slots = self.ids.len();
        let dead_slots: Vec<usize> = (0..slots).filter(|&s| self.is_dead(s as u32)).collect();
        let mut map = vec![crate::graph::NONE; slots];
        let mut next = 0u32;
        for (slot, m) in map.iter_mut().enumerate() {
            if !self.is_dead(slot as u32) {
                *m = next;
                next += 1;
            }
        }
        let kept = next as usize;
        let graph = self.graph.renumber(&map, kept);
        self.graph = graph;
        let dim = self.dim;
        for (old, &new) in map.iter().enumerate() {
            if new == crate::graph::NONE {
                continue;
            }
            let new = new as usize;
            if new != old {
                self.codes.as_mut_slice().copy_within(old * dim..(old + 1) * dim, new * dim);
                self.ids[new] = self.ids[old];
                self.collections[new] = self.collections[old];
                self.scales[new] = self.scales[old];
            }
        }
        self.codes.truncate(kept * dim);
        self.codes.shrink_to_fit();
        self.ids.truncate(kept);
        self.collections.truncate(kept);
        self.scales.truncate(kept);
        self.dead = vec![0; kept.div_ceil(64)];
        self.dead_count = 0;
        self.slot_of.clear();
        for slot in 0..kept {
            let id = self.ids[slot];
            self.map(id, slot as u32);
        }
        self.per_collection.retain(|_, c| *c > 0);
        {
            let vecs = Vectors { codes: self.codes.as_slice(), scales: &self.scales, dim: self.dim };
            self.graph.connect_unreachable(&vecs, self.opts.ef_construction);
        }

        // 2. New files of the next generation, renamed over the old ones (the graph's between
        // the records' and the log's: a crash between the renames leaves files of two
        // generations; the stale graph is rebuilt and the stale log discarded at open).
        let (graph, ef_construction) = (&self.graph, self.opts.ef_construction);
        let dir = self.files.dir().to_path_buf();
        let records = (0..kept).map(|s| Record {
            id: self.ids[s],
            collection: self.collections[s],
            scale: self.scales[s],
            codes: &self.codes.as_slice()[s * dim..(s + 1) * dim],
        });
        self.files.compact(dead_slots.into_iter(), records, move |generation| {
            let graph_tmp = dir.join(GRAPH_TMP);
            write_graph_to(&graph_tmp, graph, generation, ef_construction)?;
            Ok(vec![(graph_tmp, dir.join(GRAPH_FILE))])
        })?;
        self.graph_saved = kept;
        self.replayable = true;
        Ok(())
    }
}

impl VectorIndex for AnnIndex {
    fn search_exact(&self, query: &[f32], k: usize, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        validate_vector(query, self.dim)?;
        let filter = CollectionFilter::new(collections);
        if k == 0 {
            return Ok(Vec::new());
        }
        Ok(self.scan_top(&Query::new(query, self.opts.query_bits), k, &filter))
    }

    fn is_exhaustive(&self) -> bool {
        false
    }

    fn set_search_breadth(&mut self, breadth: usize) {
        self.set_ef_search(breadth);
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.slot_of.len()
    }

    fn count(&self, collections: Option<&[u32]>) -> usize {
        // Live templates per collection are kept up to date by insert and remove.
        let filter = CollectionFilter::new(collections);
        match filter.listed() {
            None => self.len(),
            Some(v) => v.iter().map(|c| self.per_collection.get(c).copied().unwrap_or(0)).sum(),
        }
    }

    fn insert(&mut self, id: u64, collection: u32, vector: &[f32]) -> Result<()> {
        validate_vector(vector, self.dim)?;
        if self.find_slot(id).is_some() {
            return Err(IndexError::DuplicateId { id });
        }
        self.files.check_writable()?;
        if self.ids.len() + 1 > MAX_SLOTS {
            return Err(full(self.files.data_path()));
        }
        let slot = self.ids.len();
        self.append(id, collection, vector)?;
        let level = self.graph.draw_level(slot);
        self.graph.push_slot(level);
        let vecs = Vectors { codes: self.codes.as_slice(), scales: &self.scales, dim: self.dim };
        self.graph.insert(&vecs, slot as u32, self.opts.ef_construction);
        Ok(())
    }

    fn remove(&mut self, id: u64) -> Result<bool> {
        let Some(slot) = self.find_slot(id) else {
            return Ok(false);
        };
        self.files.check_writable()?;
        self.files.append_tombstone(id, slot as usize)?;
        self.unmap(id);
        self.kill(slot as usize);
        Ok(true)
    }

    fn search(&self, query: &[f32], k: usize, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        self.search_ef(query, k, collections, self.opts.ef_search)
    }

    fn search_threshold(&self, query: &[f32], threshold: f32, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        validate_vector(query, self.dim)?;
        if threshold.is_nan() {
            return Err(IndexError::NanThreshold);
        }
        let filter = CollectionFilter::new(collections);
        if filter.accepts_nothing() {
            return Ok(Vec::new());
        }
        let q = Query::new(query, self.opts.query_bits);
        let vecs = self.vectors();
        let parts = self.scan(|range| {
            let mut out = Vec::new();
            for slot in range {
                if self.is_dead(slot as u32) || !filter.accepts(self.collections[slot]) {
                    continue;
                }
                let score = q.score(&vecs.codes[slot * self.dim..(slot + 1) * self.dim], self.scales[slot]);
                if score >= threshold {
                    out.push(Hit { id: self.ids[slot], collection: self.collections[slot], score });
                }
            }
            out
        });
        let mut hits: Vec<Hit> = parts.into_iter().flatten().collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        Ok(hits)
    }

    fn flush(&mut self) -> Result<()> {
        self.files.check_writable()?;
        self.files.flush()?;
        if !self.replayable || self.graph.slots() - self.graph_saved >= self.opts.checkpoint_every.max(1) {
            self.save_graph()?;
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<()> {
        self.files.check_writable()?;
        self.compact_files()
    }
}
