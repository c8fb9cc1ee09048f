//! [`AnnIndex`]: the graph, the stored templates and their files, behind
//! [`gabarit_index::VectorIndex`].

use std::collections::HashMap;

use std::path::Path;

use gabarit_index::quant::{quantize_into, to_offset};
use gabarit_index::select::CollectionFilter;
use gabarit_index::{Error as IndexError, Hit, Layout, Mark, Result, Since, VectorIndex, validate_vector};
use hashbrown::HashTable;

use gabarit_index::records::{Record, RecordFiles};

use crate::graph::{Graph, MAX_SLOTS, Vectors};
use crate::hugebuf::HugeBuf;
use crate::kernel::{Query, Scorer};

mod persist;
mod search;

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
    /// The numbering of the slots, new at open and at every compaction that renumbers them.
    layout: Layout,
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
    /// The live slots of `range` in an accepted collection scoring at least `threshold`, in slot
    /// order.
    fn above(&self, q: &Query, threshold: f32, filter: &CollectionFilter, range: std::ops::Range<usize>) -> Vec<Hit> {
        let vecs = self.vectors();
        range
            .filter(|&slot| !self.is_dead(slot as u32) && filter.accepts(self.collections[slot]))
            .filter_map(|slot| {
                let score = q.score(&vecs.codes[slot * self.dim..(slot + 1) * self.dim], self.scales[slot]);
                (score >= threshold).then(|| Hit { id: self.ids[slot], collection: self.collections[slot], score })
            })
            .collect()
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

    fn search_breadth(&self, query: &[f32], k: usize, collections: Option<&[u32]>, breadth: usize) -> Result<Vec<Hit>> {
        self.search_ef(query, k, collections, breadth.max(1))
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
        let parts = self.scan(|range| self.above(&q, threshold, &filter, range));
        let mut hits: Vec<Hit> = parts.into_iter().flatten().collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        Ok(hits)
    }

    fn mark(&self) -> Option<Mark> {
        Some(Mark::new(self.layout, self.ids.len()))
    }

    fn search_threshold_since(&self, query: &[f32], threshold: f32, mark: Mark) -> Result<Option<Since>> {
        validate_vector(query, self.dim)?;
        if threshold.is_nan() {
            return Err(IndexError::NanThreshold);
        }
        let slots = self.ids.len();
        let Some(first) = mark.first_new_slot(self.layout, slots) else {
            return Ok(None);
        };
        let q = Query::new(query, self.opts.query_bits);
        let mut hits = self.above(&q, threshold, &CollectionFilter::new(None), first..slots);
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        Ok(Some(Since { inserted: self.ids[first..].to_vec(), hits }))
    }

    /// Flushes and writes the graph file now unless it is current (it is otherwise written by
    /// [`VectorIndex::flush`] every [`AnnOptions::checkpoint_every`] linked templates, after a
    /// batch insert and at compaction), so that the next open links nothing again: what
    /// [`VectorIndex::checkpoint`] does for this index.
    fn checkpoint_exclusive(&mut self) -> Result<()> {
        VectorIndex::flush(self)?;
        if self.replayable && self.graph_saved == self.graph.slots() {
            return Ok(());
        }
        self.save_graph()
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
