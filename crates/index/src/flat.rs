//! The exact, persistent flat index.
//!
//! # Files
//! The record file and tombstone log of [`crate::records`] (format there), in the index
//! directory.
//!
//! # Erasure
//! [`VectorIndex::remove`] zeroes the template in memory at once and appends a tombstone; the
//! record stays in `vectors.dat` until [`VectorIndex::compact`], which first overwrites the
//! removed records' scale and codes in place (so file systems that overwrite in place do not
//! keep them in freed blocks), then writes the live records to a new file and renames it over
//! the old one, and resets the tombstone log.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::quant::{QueryKernel, quantize_into, score, to_offset};
use crate::records::{Aside, Loader, Record, RecordFiles};
use crate::select::{CollectionFilter, Ranked, TopK};
use crate::slot_of::SlotOf;
use crate::{Error, Hit, Layout, Mark, Prepared, RecordCipher, Result, Since, VectorIndex, validate_vector};

pub use crate::records::MAX_DIM;

/// Above this many stored vectors, a search is split over the search threads.
pub const PARALLEL_MIN_VECTORS: usize = 20_000;

/// Sizes of a [`FlatIndex`], from [`FlatIndex::stats`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FlatStats {
    /// Dimension.
    pub dim: usize,
    /// Live vectors.
    pub live: usize,
    /// Removed vectors whose records are still in the data file (until compaction).
    pub dead: usize,
    /// Bytes of one record in the data file (`16 + dim`).
    pub record_bytes: usize,
    /// Bytes of the data file and tombstone log (headers included).
    pub disk_bytes: u64,
    /// Heap bytes held by the index (vector codes, parallel arrays, id map, write buffers).
    pub memory_bytes: usize,
    /// `disk_bytes / live` (0 when empty).
    pub disk_bytes_per_vector: f64,
    /// `memory_bytes / live` (0 when empty).
    pub memory_bytes_per_vector: f64,
}

/// Exact index: every live vector is scored against the query (int8 dot products), in
/// parallel over [`FlatIndex::set_search_threads`] threads when more than
/// [`PARALLEL_MIN_VECTORS`] are stored. Persistent in one directory (file format in the
/// crate's README); one open index per directory at a time (the directory is locked).
///
/// Dropping the index writes buffered appends to the operating system but does not sync them;
/// call [`VectorIndex::flush`] for durability.
#[derive(Debug)]
pub struct FlatIndex {
    /// The record file and tombstone log.
    files: RecordFiles,
    pub(crate) dim: usize,
    /// `slots × dim` codes in offset form (`code + 128`, see [`to_offset`]), contiguous; empty
    /// when the codes are not kept in memory (`resident` false: read from the file by slot).
    pub(crate) codes: Vec<u8>,
    resident: bool,
    pub(crate) ids: Vec<u64>,
    pub(crate) collections: Vec<u32>,
    pub(crate) scales: Vec<f32>,
    pub(crate) live: Vec<bool>,
    slot_of: SlotOf,
    dead: usize,
    scratch: Vec<i8>,
    threads: usize,
    /// The numbering of the slots, new at open and at every compaction that renumbers them.
    layout: Layout,
}

/// The codes of records read at open, handed over in batches of this many.
const BATCH: usize = 8192;

/// What receives the codes of the records read at open: the first slot of a batch and its
/// codes (contiguous, offset form).
pub(crate) type CodeBatches<'a> = &'a mut dyn FnMut(usize, &[u8]);

/// The records and removals read at open.
#[derive(Default)]
struct Loaded<'a> {
    dim: usize,
    resident: bool,
    codes: Vec<u8>,
    ids: Vec<u64>,
    collections: Vec<u32>,
    scales: Vec<f32>,
    removed: Vec<(u64, usize)>,
    batches: Option<CodeBatches<'a>>,
    /// Slots already handed to `batches`.
    handed: usize,
}

impl Loaded<'_> {
    /// Hands the codes read since the last batch to `batches`, and drops them unless resident.
    fn hand(&mut self) {
        let from = if self.resident { self.handed * self.dim } else { 0 };
        if let Some(batches) = self.batches.as_mut()
            && self.codes.len() > from
        {
            batches(self.handed, &self.codes[from..]);
        }
        self.handed = self.ids.len();
        if !self.resident {
            self.codes.clear();
        }
    }
}

impl Loader for Loaded<'_> {
    fn reserve(&mut self, slots: usize) {
        self.codes.reserve(if self.resident { slots } else { slots.min(BATCH) } * self.dim);
        self.ids.reserve(slots);
        self.collections.reserve(slots);
        self.scales.reserve(slots);
    }

    fn record(&mut self, _slot: usize, r: Record<'_>) -> Result<()> {
        self.ids.push(r.id);
        self.collections.push(r.collection);
        self.scales.push(r.scale);
        self.codes.extend_from_slice(r.codes);
        if self.ids.len() - self.handed >= BATCH {
            self.hand();
        }
        Ok(())
    }

    fn tombstone(&mut self, id: u64, slot: usize) {
        self.removed.push((id, slot));
    }
}

/// Where a scan puts the vectors it scores.
pub(crate) trait Sink: Send {
    fn offer(&mut self, score: f32, id: u64, slot: usize);
    /// A score below this one is never kept (a bound below it proves a vector need not be
    /// scored).
    fn floor(&self) -> f32;
    fn into_cands(self) -> Vec<Ranked>;
}

impl Sink for TopK {
    #[inline]
    fn offer(&mut self, score: f32, id: u64, slot: usize) {
        TopK::offer(self, score, id, slot);
    }
    #[inline]
    fn floor(&self) -> f32 {
        self.worst().unwrap_or(f32::NEG_INFINITY)
    }
    fn into_cands(self) -> Vec<Ranked> {
        self.into_vec()
    }
}

/// Keeps every vector scoring at least `threshold`.
pub(crate) struct AtLeast {
    pub(crate) threshold: f32,
    pub(crate) found: Vec<Ranked>,
}

impl Sink for AtLeast {
    #[inline]
    fn offer(&mut self, score: f32, id: u64, slot: usize) {
        if score >= self.threshold {
            self.found.push(Ranked { score, id, slot });
        }
    }
    #[inline]
    fn floor(&self) -> f32 {
        self.threshold
    }
    fn into_cands(self) -> Vec<Ranked> {
        self.found
    }
}

impl FlatIndex {
    /// Opens the index stored in `dir`, creating the directory and an empty index if needed.
    ///
    /// Loads every record into memory, applies the tombstones, and cuts off a torn record or
    /// tombstone left at the end of a file by a crash. Fails with [`Error::IndexDimension`] if
    /// the stored index has another dimension, [`Error::Corrupt`] if a file is damaged
    /// otherwise, and [`Error::Io`] if the directory is locked by another open index.
    pub fn open(dir: impl AsRef<Path>, dim: usize) -> Result<FlatIndex> {
        Self::open_with(dir, dim, None)
    }

    /// Opens the index with its records sealed by `cipher` at rest: each record's scale and
    /// codes are encrypted with the record id as associated data, and decrypted into memory
    /// at open. The data file's header says whether records are sealed; opening a sealed
    /// index without a cipher, or a plain one with a cipher, is [`Error::Encryption`].
    pub fn open_with(dir: impl AsRef<Path>, dim: usize, cipher: Option<Arc<dyn RecordCipher>>) -> Result<FlatIndex> {
        Self::open_inner(dir.as_ref(), dim, cipher, true, None)
    }

    /// Opens the index, keeping the codes in memory (`resident`) or reading them from the
    /// record file by slot ([`FlatIndex::read_codes`]; the scans of this type then must not be
    /// called), and handing the codes of the records read to `batches`.
    pub(crate) fn open_inner(
        dir: &Path,
        dim: usize,
        cipher: Option<Arc<dyn RecordCipher>>,
        resident: bool,
        batches: Option<CodeBatches<'_>>,
    ) -> Result<FlatIndex> {
        let mut loaded = Loaded { dim, resident, batches, ..Loaded::default() };
        let (files, opened) = RecordFiles::open(dir, dim, cipher, &[], usize::MAX, &mut loaded)?;
        loaded.hand();
        let Loaded { codes, ids, collections, scales, removed, .. } = loaded;
        // A later record for a live id means the tombstone of the earlier one was lost in a
        // crash (insert refuses live ids): the later record wins.
        let (slot_of, replaced) = SlotOf::build(&ids);
        let codes = if resident { codes } else { Vec::new() };
        let mut index = FlatIndex {
            files,
            dim,
            codes,
            resident,
            ids,
            collections,
            scales,
            live: vec![true; opened.slots],
            slot_of,
            dead: 0,
            scratch: vec![0; dim],
            threads: 0,
            layout: Layout::fresh(),
        };
        for slot in replaced {
            index.kill(slot);
        }
        for (id, slot) in removed {
            // Entries that match no record (lost appends before a crash) are ignored.
            if index.slot_of(id) == Some(slot) {
                index.kill(slot);
            }
        }
        Ok(index)
    }

    /// The codes of the live template at `slot`, in offset form: from memory, or read from
    /// the record file into `buf` (`raw`: scratch) when the codes are not resident.
    pub(crate) fn read_codes<'a>(&'a self, slot: usize, buf: &'a mut [u8], raw: &mut Vec<u8>) -> Result<&'a [u8]> {
        if self.resident {
            return Ok(&self.codes[slot * self.dim..(slot + 1) * self.dim]);
        }
        self.files.read(slot, self.ids[slot], buf, raw)?;
        Ok(buf)
    }

    /// The codes of the record at `slot` as stored in the record file (or its write buffer),
    /// in offset form, live or not.
    pub(crate) fn stored_codes<'a>(&self, slot: usize, buf: &'a mut [u8], raw: &mut Vec<u8>) -> Result<&'a [u8]> {
        self.files.read(slot, self.ids[slot], buf, raw)?;
        Ok(buf)
    }

    /// The exact (int8) score of the live template at `slot`, its codes from memory or read from
    /// the record file (`buf`: scratch space, see [`FlatIndex::read_codes`]).
    pub(crate) fn score_slot(&self, q: &QueryKernel, slot: usize, buf: &mut (Vec<u8>, Vec<u8>)) -> Result<f32> {
        let codes = self.read_codes(slot, &mut buf.0, &mut buf.1)?;
        Ok(score(q.dot_offset(codes), q.scale(), self.scales[slot]))
    }

    /// Marks a slot dead and zeroes its template in memory (the id map is the caller's).
    fn kill(&mut self, slot: usize) {
        if self.live[slot] {
            self.live[slot] = false;
            self.dead += 1;
            self.scales[slot] = 0.0;
            if self.resident {
                self.codes[slot * self.dim..(slot + 1) * self.dim].fill(to_offset(0));
            }
        }
    }

    /// The directory holding the index.
    pub fn dir(&self) -> &Path {
        self.files.dir()
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u64) -> bool {
        self.slot_of(id).is_some()
    }

    /// The slot of the live `id`.
    pub(crate) fn slot_of(&self, id: u64) -> Option<usize> {
        self.slot_of.find(&self.ids, &self.live, id)
    }

    /// The live ids, in storage order.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.ids.iter().zip(&self.live).filter(|(_, live)| **live).map(|(id, _)| *id)
    }

    /// Sets how many threads a large search uses (0, the default, means all available cores;
    /// 1 means the calling thread only).
    pub fn set_search_threads(&mut self, threads: usize) {
        self.threads = threads;
    }

    /// Reserves memory for `additional` more vectors (avoids regrowth during a bulk load).
    pub fn reserve(&mut self, additional: usize) {
        if self.resident {
            self.codes.reserve(additional * self.dim);
        }
        self.ids.reserve(additional);
        self.collections.reserve(additional);
        self.scales.reserve(additional);
        self.live.reserve(additional);
        self.slot_of.reserve(additional);
    }

    /// Sizes on disk and in memory.
    pub fn stats(&self) -> FlatStats {
        let live = self.len();
        let record_bytes = self.files.record_len();
        let disk_bytes = self.files.disk_bytes(self.ids.len());
        let memory_bytes = self.codes.capacity()
            + self.ids.capacity() * size_of::<u64>()
            + self.collections.capacity() * size_of::<u32>()
            + self.scales.capacity() * size_of::<f32>()
            + self.live.capacity()
            + self.slot_of.memory()
            + self.files.buffer_bytes()
            + self.scratch.capacity();
        let per = |b: f64| if live == 0 { 0.0 } else { b / live as f64 };
        FlatStats {
            dim: self.dim,
            live,
            dead: self.dead,
            record_bytes,
            disk_bytes,
            memory_bytes,
            disk_bytes_per_vector: per(disk_bytes as f64),
            memory_bytes_per_vector: per(memory_bytes as f64),
        }
    }

    pub(crate) fn prepare_query(&self, query: &[f32]) -> Result<QueryKernel> {
        validate_vector(query, self.dim)?;
        Ok(QueryKernel::quantize(query).1)
    }

    /// The int8 codes of the template the last successful [`VectorIndex::insert`] stored.
    pub(crate) fn inserted_codes(&self) -> &[i8] {
        &self.scratch
    }

    /// Scores the live, accepted slots of `start..end` into `sink`.
    fn scan<S: Sink>(&self, q: &QueryKernel, filter: &CollectionFilter, start: usize, end: usize, sink: &mut S) {
        debug_assert!(self.resident, "a scan of codes that are not in memory");
        let dim = self.dim;
        let codes = self.codes[start * dim..end * dim].chunks_exact(dim);
        let meta = self.ids[start..end]
            .iter()
            .zip(&self.collections[start..end])
            .zip(&self.scales[start..end])
            .zip(&self.live[start..end]);
        for (slot, (v, (((&id, &collection), &scale), &live))) in (start..).zip(codes.zip(meta)) {
            if live && filter.accepts(collection) {
                sink.offer(score(q.dot_offset(v), q.scale(), scale), id, slot);
            }
        }
    }

    fn search_threads(&self) -> usize {
        let slots = self.ids.len();
        if slots <= PARALLEL_MIN_VECTORS {
            return 1;
        }
        let wanted = match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        // At least half of PARALLEL_MIN_VECTORS per thread.
        wanted.min(slots / (PARALLEL_MIN_VECTORS / 2)).max(1)
    }

    /// Runs a scan over every slot, split over the search threads, and returns the candidates
    /// sorted best first.
    fn run<S: Sink>(&self, q: &QueryKernel, filter: &CollectionFilter, make: impl Fn() -> S + Sync) -> Vec<Ranked> {
        let sinks = self.run_with(make, |start, end, sink| self.scan(q, filter, start, end, sink));
        let mut cands: Vec<Ranked> = sinks.into_iter().flat_map(Sink::into_cands).collect();
        cands.sort_unstable();
        cands
    }

    /// Runs `scan` over slot ranges covering every slot, one range and one sink per search
    /// thread, and returns the sinks.
    pub(crate) fn run_with<S: Send>(
        &self,
        make: impl Fn() -> S + Sync,
        scan: impl Fn(usize, usize, &mut S) + Sync,
    ) -> Vec<S> {
        let slots = self.ids.len();
        let threads = self.search_threads();
        if threads <= 1 {
            let mut sink = make();
            scan(0, slots, &mut sink);
            return vec![sink];
        }
        let per = slots.div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = (1..threads)
                .map(|t| {
                    let (make, scan) = (&make, &scan);
                    s.spawn(move || {
                        let mut sink = make();
                        scan((t * per).min(slots), ((t + 1) * per).min(slots), &mut sink);
                        sink
                    })
                })
                .collect();
            let mut sink = make();
            scan(0, per.min(slots), &mut sink);
            let mut all = vec![sink];
            for h in handles {
                all.push(h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
            }
            all
        })
    }

    /// [`VectorIndex::mark`] of this index (and of the compressed index over it).
    pub(crate) fn mark_now(&self) -> Mark {
        Mark::new(self.layout, self.ids.len())
    }

    /// [`VectorIndex::search_threshold_since`] of this index (and of the compressed index over
    /// it): the slots after the mark scored one by one from their int8 codes, in memory or read
    /// from the record file, as every exhaustive search of both indexes scores them.
    pub(crate) fn threshold_since(&self, query: &[f32], threshold: f32, mark: Mark) -> Result<Option<Since>> {
        let q = self.prepare_query(query)?;
        if threshold.is_nan() {
            return Err(Error::NanThreshold);
        }
        let slots = self.ids.len();
        let Some(first) = mark.first_new_slot(self.layout, slots) else {
            return Ok(None);
        };
        let mut buf = (vec![0u8; self.dim], Vec::new());
        let mut found = AtLeast { threshold, found: Vec::new() };
        for slot in (first..slots).filter(|&s| self.live[s]) {
            found.offer(self.score_slot(&q, slot, &mut buf)?, self.ids[slot], slot);
        }
        let mut cands = found.into_cands();
        cands.sort_unstable();
        Ok(Some(Since { inserted: self.ids[first..].to_vec(), hits: self.hits(&cands) }))
    }

    pub(crate) fn hits(&self, cands: &[Ranked]) -> Vec<Hit> {
        cands.iter().map(|c| Hit { id: c.id, collection: self.collections[c.slot], score: c.score }).collect()
    }

    /// Overwrites the scale and codes of every dead record in the current data file with zeros
    /// (ids and collections stay, so tombstones still match), then syncs it.
    fn compact_files(&mut self) -> Result<()> {
        self.files.flush()?;
        if self.dead == 0 && self.files.tombstones() == 0 {
            return Ok(());
        }
        let dim = self.dim;
        let live = &self.live;
        let dead = (0..live.len()).filter(|&s| !live[s]);
        if self.resident {
            let records = (0..self.ids.len()).filter(|&s| live[s]).map(|s| Record {
                id: self.ids[s],
                collection: self.collections[s],
                scale: self.scales[s],
                codes: &self.codes[s * dim..(s + 1) * dim],
            });
            self.files.compact(dead, records, |_| Ok(Vec::new()))?;
        } else {
            let kept = (0..live.len()).filter(|&s| live[s]);
            self.files.compact_from_file(dead, kept, |_| Ok(Vec::new()))?;
        }
        self.compact_memory();
        Ok(())
    }

    /// The first half of a compaction that does not hold searches: the live records copied to
    /// a new record file aside, from shared access; `None` when nothing was removed.
    pub(crate) fn write_aside(&self) -> Result<Option<Aside>> {
        if self.dead == 0 && self.files.tombstones() == 0 {
            return Ok(None);
        }
        let live = &self.live;
        Ok(Some(self.files.write_aside((0..live.len()).filter(|&s| live[s]))?))
    }

    /// The second half: the new record file put in place and the slots renumbered, if nothing
    /// changed since it was written; false (nothing done) otherwise.
    pub(crate) fn install(&mut self, aside: Aside) -> Result<bool> {
        let live = &self.live;
        let dead = (0..live.len()).filter(|&s| !live[s]);
        if !self.files.install(aside, dead, |_| Ok(Vec::new()))? {
            return Ok(false);
        }
        self.compact_memory();
        Ok(true)
    }

    /// Drops dead slots from memory, renumbering the live ones in order.
    fn compact_memory(&mut self) {
        let dim = self.dim;
        let mut next = 0;
        for slot in 0..self.ids.len() {
            if !self.live[slot] {
                continue;
            }
            if next != slot {
                if self.resident {
                    self.codes.copy_within(slot * dim..(slot + 1) * dim, next * dim);
                }
                self.ids[next] = self.ids[slot];
                self.collections[next] = self.collections[slot];
                self.scales[next] = self.scales[slot];
            }
            next += 1;
        }
        self.codes.truncate(next * dim);
        self.ids.truncate(next);
        self.collections.truncate(next);
        self.scales.truncate(next);
        self.live.clear();
        self.live.resize(next, true);
        self.dead = 0;
        self.slot_of = SlotOf::build(&self.ids).0;
        self.layout = Layout::fresh();
    }
}

impl VectorIndex for FlatIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.ids.len() - self.dead
    }

    fn count(&self, collections: Option<&[u32]>) -> usize {
        match collections {
            None => self.len(),
            Some(wanted) => {
                let filter = crate::select::CollectionFilter::new(Some(wanted));
                self.collections.iter().zip(&self.live).filter(|(c, live)| **live && filter.accepts(**c)).count()
            }
        }
    }

    fn insert(&mut self, id: u64, collection: u32, vector: &[f32]) -> Result<()> {
        validate_vector(vector, self.dim)?;
        if self.contains(id) {
            return Err(Error::DuplicateId { id });
        }
        self.files.check_writable()?;
        let slot = self.ids.len();
        let start = if self.resident { slot * self.dim } else { 0 };
        let scale = quantize_into(vector, &mut self.scratch);
        crate::grow::reserve(&mut self.codes, self.dim);
        self.codes.extend(self.scratch.iter().map(|&c| to_offset(c)));
        let record = Record { id, collection, scale, codes: &self.codes[start..] };
        let appended = self.files.append(record);
        if !self.resident || appended.is_err() {
            self.codes.truncate(start);
        }
        appended?;
        crate::grow::reserve(&mut self.ids, 1);
        crate::grow::reserve(&mut self.collections, 1);
        crate::grow::reserve(&mut self.scales, 1);
        crate::grow::reserve(&mut self.live, 1);
        self.ids.push(id);
        self.collections.push(collection);
        self.scales.push(scale);
        self.live.push(true);
        self.slot_of.pushed(&self.ids);
        Ok(())
    }

    fn remove(&mut self, id: u64) -> Result<bool> {
        let Some(slot) = self.slot_of(id) else {
            return Ok(false);
        };
        self.files.append_tombstone(id, slot)?;
        self.kill(slot);
        Ok(true)
    }

    fn search(&self, query: &[f32], k: usize, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        let q = self.prepare_query(query)?;
        let filter = CollectionFilter::new(collections);
        if k == 0 || filter.accepts_nothing() || self.is_empty() {
            return Ok(Vec::new());
        }
        let k = k.min(self.len());
        let mut cands = self.run(&q, &filter, || TopK::new(k));
        cands.truncate(k);
        Ok(self.hits(&cands))
    }

    fn search_exact(&self, query: &[f32], k: usize, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        self.search(query, k, collections)
    }

    fn is_exhaustive(&self) -> bool {
        true
    }

    fn search_threshold(&self, query: &[f32], threshold: f32, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        let q = self.prepare_query(query)?;
        if threshold.is_nan() {
            return Err(Error::NanThreshold);
        }
        let filter = CollectionFilter::new(collections);
        if filter.accepts_nothing() {
            return Ok(Vec::new());
        }
        let cands = self.run(&q, &filter, || AtLeast { threshold, found: Vec::new() });
        Ok(self.hits(&cands))
    }

    fn mark(&self) -> Option<Mark> {
        Some(self.mark_now())
    }

    fn search_threshold_since(&self, query: &[f32], threshold: f32, mark: Mark) -> Result<Option<Since>> {
        self.threshold_since(query, threshold, mark)
    }

    fn flush(&mut self) -> Result<()> {
        self.files.flush()
    }

    fn compact(&mut self) -> Result<()> {
        self.compact_files()
    }

    fn prepare_compaction(&self) -> Result<Option<Prepared>> {
        Ok(self.write_aside()?.map(Prepared::new))
    }

    fn finish_compaction(&mut self, prepared: Option<Prepared>) -> Result<()> {
        if let Some(aside) = prepared.and_then(Prepared::take::<Aside>)
            && self.install(aside)?
        {
            return Ok(());
        }
        self.compact_files()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{approx_cosine, quantize};
    use crate::records::{DATA_FILE, TOMB_FILE};
    use crate::testing::{TestRng, contract_tests};

    /// Brute force with the index's own int8 scoring: the index must agree exactly.
    fn brute(stored: &[(u64, u32, Vec<f32>)], q: &[f32], collections: Option<&[u32]>) -> Vec<Hit> {
        let (qq, qs) = quantize(q);
        let mut all: Vec<Hit> = stored
            .iter()
            .filter(|(_, c, _)| collections.is_none_or(|cs| cs.contains(c)))
            .map(|(id, c, v)| {
                let (vq, vs) = quantize(v);
                Hit { id: *id, collection: *c, score: approx_cosine(&qq, qs, &vq, vs) }
            })
            .collect();
        all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        all
    }

    #[test]
    fn contract_suite_at_a_small_dimension() {
        let tmp = tempfile::tempdir().unwrap();
        contract_tests(tmp.path(), &|dir| Box::new(FlatIndex::open(dir, 40).unwrap()));
    }

    #[test]
    fn serial_and_parallel_scans_equal_int8_brute_force() {
        let tmp = tempfile::tempdir().unwrap();
        let dim = 48;
        let mut rng = TestRng::new(31);
        let mut index = FlatIndex::open(tmp.path(), dim).unwrap();
        let n = PARALLEL_MIN_VECTORS as u64 * 3 / 2 + 17;
        let mut stored: Vec<(u64, u32, Vec<f32>)> = Vec::new();
        for id in 0..n {
            // Every 10th vector repeats an earlier one: many exact ties.
            let v = if id % 10 == 9 { stored[(id / 2) as usize].2.clone() } else { rng.unit(dim) };
            let c = (id % 4) as u32;
            index.insert(id * 3 + 1, c, &v).unwrap();
            stored.push((id * 3 + 1, c, v));
        }
        for i in (0..stored.len()).step_by(11) {
            index.remove(stored[i].0).unwrap();
        }
        let stored: Vec<_> = stored.into_iter().enumerate().filter(|(i, _)| i % 11 != 0).map(|(_, s)| s).collect();
        assert!(index.len() > PARALLEL_MIN_VECTORS);
        for (qi, q) in (0..6).map(|i| if i % 2 == 0 { stored[i * 1000].2.clone() } else { rng.unit(dim) }).enumerate() {
            for filter in [None, Some(&[2u32][..]), Some(&[0, 1, 3][..])] {
                let truth = brute(&stored, &q, filter);
                for threads in [1, 2, 3, 0] {
                    index.set_search_threads(threads);
                    assert_eq!(index.search(&q, 25, filter).unwrap(), truth[..25], "query {qi}, {threads} threads");
                    let above = index.search_threshold(&q, 0.1, filter).unwrap();
                    let expected: Vec<Hit> = truth.iter().copied().filter(|h| h.score >= 0.1).collect();
                    assert_eq!(above, expected, "query {qi}, threshold, {threads} threads");
                }
            }
        }
    }

    #[test]
    fn thread_count_follows_size() {
        let tmp = tempfile::tempdir().unwrap();
        let mut index = FlatIndex::open(tmp.path(), 4).unwrap();
        index.set_search_threads(8);
        assert_eq!(index.search_threads(), 1);
        for id in 0..(PARALLEL_MIN_VECTORS as u64 + 1) {
            index.insert(id, 0, &[1.0, 0.0, 0.0, 0.0]).unwrap();
        }
        assert_eq!(index.search_threads(), 2);
        index.set_search_threads(1);
        assert_eq!(index.search_threads(), 1);
    }

    #[test]
    fn stats_count_records_and_memory() {
        let tmp = tempfile::tempdir().unwrap();
        let dim = 512;
        let mut rng = TestRng::new(32);
        let mut index = FlatIndex::open(tmp.path(), dim).unwrap();
        assert_eq!(index.stats().disk_bytes_per_vector, 0.0);
        index.reserve(1000);
        for id in 0..1000 {
            index.insert(id, 0, &rng.unit(dim)).unwrap();
        }
        for id in 0..100 {
            index.remove(id).unwrap();
        }
        index.flush().unwrap();
        let s = index.stats();
        assert_eq!((s.live, s.dead, s.record_bytes), (900, 100, 528));
        let on_disk = fs_err::metadata(tmp.path().join(DATA_FILE)).unwrap().len()
            + fs_err::metadata(tmp.path().join(TOMB_FILE)).unwrap().len();
        assert_eq!(s.disk_bytes, on_disk);
        assert!(s.memory_bytes_per_vector > 512.0 && s.memory_bytes_per_vector < 4000.0, "{s:?}");
        index.compact().unwrap();
        let s = index.stats();
        assert_eq!(s.disk_bytes, 24 + 900 * 528 + 24);
        assert_eq!(s.dead, 0);
    }
}
