//! The compressed index, first step: the flat index's records and int8 codes, plus 6-bit codes
//! ([`crate::bound`]) that let an exhaustive search skip most templates with a proof.
//!
//! Every search here is exhaustive and returns exactly what [`FlatIndex`] returns (same set,
//! same scores, same order): a template is scored with its int8 codes unless an upper bound
//! from its code proves it cannot reach the search's floor (the threshold, or the k-th best
//! score found so far). A code has three stages of 2 bits per component (128 bytes each at
//! dimension 512): the first is read for every template, the next only while the bound still
//! reaches the floor, and the int8 codes (512 bytes) only where no stage decided.
//!
//! What this step is not yet: smaller. The int8 codes stay in memory beside the stages (about
//! 960 bytes per 512-dimensional template against the flat index's 560); moving them to disk,
//! reading them only to re-score, and partitions for top-k are the next steps.
//!
//! Erasure: removing a template zeroes its stages and levels in memory at once, and compaction
//! drops them with the flat index's records; the stages are never written to disk.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bound::{Encoder, Levels, QueryBound, STAGES};
use crate::flat::{AtLeast, Sink};
use crate::quant::{quantize_into, score};
use crate::select::{CollectionFilter, TopK};
use crate::{Error, FlatIndex, FlatStats, Hit, RecordCipher, Result, VectorIndex, validate_vector};

/// How much of the gallery a search read, from [`CompressedIndex::search_threshold_counted`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ScanCounts {
    /// Live templates of the searched collections.
    pub templates: usize,
    /// Code stages read (2 bits per component each: 128 bytes at dimension 512).
    pub stages: usize,
    /// Templates scored with their int8 codes (no bound excluded them).
    pub rescored: usize,
}

/// Where a [`CompressedIndex`] keeps the int8 codes it re-scores with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompressedOptions {
    /// Keep the int8 codes in memory (512 more bytes per template at dimension 512) instead of
    /// reading each from the record file when a template must be re-scored (the default).
    pub int8_in_memory: bool,
}

/// An exact index that prunes its scans with provable bounds: see the module documentation.
#[derive(Debug)]
pub struct CompressedIndex {
    flat: FlatIndex,
    encoder: Encoder,
    /// Bytes of one stage of one template.
    bytes: usize,
    /// Stage `j` of slot `s` at `(s × STAGES + j) × bytes`: a template's stages side by side,
    /// so that the next stage is the next bytes (faster than one array per stage, measured).
    stages: Vec<u8>,
    levels: Vec<Levels>,
}

/// A [`Sink`] that also counts what the scan read, and keeps the first error.
struct Counting<S> {
    sink: S,
    counts: ScanCounts,
    failed: Option<Error>,
}

/// Codes the templates of `codes` (offset form, contiguous), the first at `first`, into
/// `stages` and `levels` (grown to hold them), on all cores.
fn encode_batch(stages: &mut Vec<u8>, levels: &mut Vec<Levels>, first: usize, codes: &[u8], dim: usize, bytes: usize) {
    let n = codes.len() / dim;
    let code = STAGES * bytes;
    stages.resize((first + n) * code, 0);
    levels.resize(first + n, Levels::default());
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).min(n.div_ceil(1000)).max(1);
    let per = n.div_ceil(threads).max(1);
    let (stages, levels) = (&mut stages[first * code..], &mut levels[first..]);
    std::thread::scope(|s| {
        let parts = stages.chunks_mut(per * code).zip(levels.chunks_mut(per)).zip(codes.chunks(per * dim));
        for ((stages, levels), codes) in parts {
            s.spawn(move || {
                let mut encoder = Encoder::new(dim);
                for ((out, l), c) in stages.chunks_exact_mut(code).zip(levels).zip(codes.chunks_exact(dim)) {
                    *l = encoder.encode_offset(c, out);
                }
            });
        }
    });
}

impl CompressedIndex {
    /// Opens the index stored in `dir` (the flat index's files), computing every template's
    /// code. Errors as [`FlatIndex::open`].
    pub fn open(dir: impl AsRef<Path>, dim: usize) -> Result<CompressedIndex> {
        Self::open_with(dir, dim, None)
    }

    /// Opens the index with records sealed by `cipher` (as [`FlatIndex::open_with`]).
    pub fn open_with(
        dir: impl AsRef<Path>,
        dim: usize,
        cipher: Option<Arc<dyn RecordCipher>>,
    ) -> Result<CompressedIndex> {
        Self::open_with_options(dir, dim, cipher, CompressedOptions::default())
    }

    /// Opens the index with `options`. The records are read once, in batches coded on all
    /// cores as they come; unless `options.int8_in_memory`, their int8 codes are then dropped.
    pub fn open_with_options(
        dir: impl AsRef<Path>,
        dim: usize,
        cipher: Option<Arc<dyn RecordCipher>>,
        options: CompressedOptions,
    ) -> Result<CompressedIndex> {
        let encoder = Encoder::new(dim);
        let bytes = encoder.rotation().stage_bytes();
        let (mut stages, mut levels) = (Vec::new(), Vec::new());
        let mut batches = |first: usize, codes: &[u8]| encode_batch(&mut stages, &mut levels, first, codes, dim, bytes);
        let flat = FlatIndex::open_inner(dir.as_ref(), dim, cipher, options.int8_in_memory, Some(&mut batches))?;
        let mut index = CompressedIndex { flat, encoder, bytes, stages, levels };
        index.stages.shrink_to_fit();
        index.levels.shrink_to_fit();
        // Removed and replaced templates were coded as read: forget them.
        for slot in 0..index.flat.live.len() {
            if !index.flat.live[slot] {
                index.forget(slot);
            }
        }
        Ok(index)
    }

    /// Zeroes the code of `slot` in memory.
    fn forget(&mut self, slot: usize) {
        self.stages[slot * STAGES * self.bytes..(slot + 1) * STAGES * self.bytes].fill(0);
        self.levels[slot] = Levels::default();
    }

    /// The live ids, in storage order.
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.flat.ids()
    }

    /// The directory holding the index.
    pub fn dir(&self) -> &Path {
        self.flat.dir()
    }

    /// Sets how many threads a large search uses (as [`FlatIndex::set_search_threads`]).
    pub fn set_search_threads(&mut self, threads: usize) {
        self.flat.set_search_threads(threads);
    }

    /// Sizes on disk and in memory (the flat index's, plus the stages and levels in memory).
    pub fn stats(&self) -> FlatStats {
        let mut stats = self.flat.stats();
        let extra = self.stages.capacity() + self.levels.capacity() * size_of::<Levels>();
        stats.memory_bytes += extra;
        stats.memory_bytes_per_vector =
            if stats.live == 0 { 0.0 } else { stats.memory_bytes as f64 / stats.live as f64 };
        stats
    }

    /// [`VectorIndex::search_threshold`], also saying how much of the gallery it read.
    pub fn search_threshold_counted(
        &self,
        query: &[f32],
        threshold: f32,
        collections: Option<&[u32]>,
    ) -> Result<(Vec<Hit>, ScanCounts)> {
        validate_vector(query, self.flat.dim)?;
        if threshold.is_nan() {
            return Err(Error::NanThreshold);
        }
        let filter = CollectionFilter::new(collections);
        if filter.accepts_nothing() {
            return Ok((Vec::new(), ScanCounts::default()));
        }
        let (cands, counts) = self.pruned_scan(query, &filter, || AtLeast { threshold, found: Vec::new() })?;
        Ok((self.flat.hits(&cands), counts))
    }

    /// The `k` best, exactly as the flat index finds them, also saying how much was read.
    pub fn search_exact_counted(
        &self,
        query: &[f32],
        k: usize,
        collections: Option<&[u32]>,
    ) -> Result<(Vec<Hit>, ScanCounts)> {
        validate_vector(query, self.flat.dim)?;
        let filter = CollectionFilter::new(collections);
        if k == 0 || filter.accepts_nothing() || self.flat.slot_of.is_empty() {
            return Ok((Vec::new(), ScanCounts::default()));
        }
        let k = k.min(self.flat.slot_of.len());
        let (mut cands, counts) = self.pruned_scan(query, &filter, || TopK::new(k))?;
        cands.truncate(k);
        Ok((self.flat.hits(&cands), counts))
    }

    /// Scans every slot of the accepted collections: a template's next stage while its bound
    /// does not prove it below the sink's floor, its int8 score if no stage did.
    fn pruned_scan<S: Sink>(
        &self,
        query: &[f32],
        filter: &CollectionFilter,
        make: impl Fn() -> S + Sync,
    ) -> Result<(Vec<crate::select::Ranked>, ScanCounts)> {
        let mut codes = vec![0i8; self.flat.dim];
        let query_scale = quantize_into(query, &mut codes);
        let kernel = crate::quant::QueryKernel::new(&codes, query_scale);
        let bound = QueryBound::new(self.encoder.rotation(), &codes);
        let sinks = self.flat.run_with(
            || Counting { sink: make(), counts: ScanCounts::default(), failed: None },
            |start, end, counting: &mut Counting<S>| {
                bound.run(|| self.scan_range(&bound, &kernel, filter, start, end, counting));
            },
        );
        let mut counts = ScanCounts::default();
        let mut cands = Vec::new();
        for Counting { sink, counts: c, failed } in sinks {
            if let Some(e) = failed {
                return Err(e);
            }
            counts.templates += c.templates;
            counts.stages += c.stages;
            counts.rescored += c.rescored;
            cands.extend(sink.into_cands());
        }
        cands.sort_unstable();
        Ok((cands, counts))
    }

    #[inline(always)]
    fn scan_range<S: Sink>(
        &self,
        bound: &QueryBound,
        kernel: &crate::quant::QueryKernel,
        filter: &CollectionFilter,
        start: usize,
        end: usize,
        out: &mut Counting<S>,
    ) {
        let (dim, bytes) = (self.flat.dim, self.bytes);
        let query_scale = kernel.scale();
        let excluded = |prefix: i64, stage: usize, levels: &Levels, scale: f32, floor: f32| {
            let upper = bound.bound(stage, prefix, levels).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            score(upper, query_scale, scale) < floor
        };
        let (mut buf, mut raw) = (vec![0u8; dim], Vec::new());
        'slots: for slot in start..end {
            if !self.flat.live[slot] || !filter.accepts(self.flat.collections[slot]) {
                continue;
            }
            out.counts.templates += 1;
            let (scale, levels, floor) = (self.flat.scales[slot], &self.levels[slot], out.sink.floor());
            let mut prefix = 0i64;
            let code = &self.stages[slot * STAGES * bytes..(slot + 1) * STAGES * bytes];
            for (j, stage) in code.chunks_exact(bytes).enumerate() {
                out.counts.stages += 1;
                prefix = 4 * prefix + bound.stage_dot(stage);
                if excluded(prefix, j, levels, scale, floor) {
                    continue 'slots;
                }
            }
            out.counts.rescored += 1;
            let codes = match self.flat.read_codes(slot, &mut buf, &mut raw) {
                Ok(codes) => codes,
                Err(e) => {
                    out.failed = Some(e);
                    return;
                }
            };
            let dot = kernel.dot_offset(codes);
            out.sink.offer(score(dot, query_scale, scale), self.flat.ids[slot], slot);
        }
    }
}

impl VectorIndex for CompressedIndex {
    fn dim(&self) -> usize {
        self.flat.dim
    }

    fn len(&self) -> usize {
        self.flat.len()
    }

    fn count(&self, collections: Option<&[u32]>) -> usize {
        self.flat.count(collections)
    }

    fn insert(&mut self, id: u64, collection: u32, vector: &[f32]) -> Result<()> {
        self.flat.insert(id, collection, vector)?;
        let slot = self.flat.ids.len() - 1;
        // The codes the flat index stored: quantisation is deterministic.
        let mut codes = vec![0i8; self.flat.dim];
        quantize_into(vector, &mut codes);
        let start = slot * STAGES * self.bytes;
        self.stages.resize(start + STAGES * self.bytes, 0);
        let levels = self.encoder.encode(&codes, &mut self.stages[start..]);
        self.levels.push(levels);
        Ok(())
    }

    fn remove(&mut self, id: u64) -> Result<bool> {
        let Some(&slot) = self.flat.slot_of.get(&id) else {
            return Ok(false);
        };
        let removed = self.flat.remove(id)?;
        if removed {
            self.forget(slot);
        }
        Ok(removed)
    }

    fn search(&self, query: &[f32], k: usize, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        Ok(self.search_exact_counted(query, k, collections)?.0)
    }

    fn search_exact(&self, query: &[f32], k: usize, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        Ok(self.search_exact_counted(query, k, collections)?.0)
    }

    fn is_exhaustive(&self) -> bool {
        true
    }

    fn search_threshold(&self, query: &[f32], threshold: f32, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        Ok(self.search_threshold_counted(query, threshold, collections)?.0)
    }

    fn flush(&mut self) -> Result<()> {
        self.flat.flush()
    }

    fn compact(&mut self) -> Result<()> {
        let live = self.flat.live.clone();
        self.flat.compact()?;
        if self.flat.ids.len() != live.len() {
            let code = STAGES * self.bytes;
            let mut next = 0;
            for (slot, &alive) in live.iter().enumerate() {
                if alive {
                    self.stages.copy_within(slot * code..(slot + 1) * code, next * code);
                    next += 1;
                }
            }
            self.stages.truncate(next * code);
            let mut slot = 0;
            self.levels.retain(|_| {
                slot += 1;
                live[slot - 1]
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{TestRng, contract_tests};

    #[test]
    fn contract_suite_at_a_small_dimension() {
        let tmp = tempfile::tempdir().unwrap();
        contract_tests(tmp.path(), &|dir| Box::new(CompressedIndex::open(dir, 40).unwrap()));
    }

    #[test]
    fn stats_count_the_codes_beside_the_flat_index() {
        let tmp = tempfile::tempdir().unwrap();
        let mut rng = TestRng::new(43);
        let mut index = CompressedIndex::open(tmp.path(), 512).unwrap();
        for id in 0..1000 {
            index.insert(id, 0, &rng.unit(512)).unwrap();
        }
        for id in 0..100 {
            index.remove(id).unwrap();
        }
        let (s, flat) = (index.stats(), index.flat.stats());
        assert_eq!((s.live, s.dead, s.disk_bytes), (900, 100, flat.disk_bytes));
        // Three stages of 128 bytes and the levels per slot, removed ones included until compaction.
        let per_slot = 3 * 128 + size_of::<Levels>();
        let extra = s.memory_bytes - flat.memory_bytes;
        assert!(extra >= 1000 * per_slot && extra < 2 * 1000 * per_slot, "{extra}");
        assert_eq!(s.memory_bytes_per_vector, s.memory_bytes as f64 / 900.0);
    }

    #[test]
    fn int8_codes_on_disk_or_in_memory_give_the_same_answers_for_their_memory() {
        let tmp = tempfile::tempdir().unwrap();
        let mut rng = TestRng::new(44);
        let stored = gallery(&mut rng, 512, 4000);
        let mut index = CompressedIndex::open(tmp.path(), 512).unwrap();
        for (id, v) in stored.iter().enumerate() {
            index.insert(id as u64, 0, v).unwrap();
        }
        drop(index);
        let on_disk = CompressedIndex::open(tmp.path(), 512).unwrap();
        let on_disk_stats = on_disk.stats();
        drop(on_disk);
        let resident =
            CompressedIndex::open_with_options(tmp.path(), 512, None, CompressedOptions { int8_in_memory: true })
                .unwrap();
        let in_memory_stats = resident.stats();
        drop(resident);
        // The int8 codes (512 bytes per template) are what the default leaves on disk.
        let saved = in_memory_stats.memory_bytes_per_vector - on_disk_stats.memory_bytes_per_vector;
        assert!((500.0..540.0).contains(&saved), "{saved}");
        // Beside the two 1 MiB write buffers, under 520 bytes per template.
        assert!(on_disk_stats.memory_bytes < 4000 * 520 + (2 << 20) + 4096, "{on_disk_stats:?}");
        let resident =
            CompressedIndex::open_with_options(tmp.path(), 512, None, CompressedOptions { int8_in_memory: true })
                .unwrap();
        let on_disk = {
            let other = tempfile::tempdir().unwrap();
            for f in ["vectors.dat", "tombstones.log"] {
                fs_err::copy(tmp.path().join(f), other.path().join(f)).unwrap();
            }
            (CompressedIndex::open(other.path(), 512).unwrap(), other)
        };
        for q in stored.iter().step_by(401) {
            assert_eq!(on_disk.0.search(q, 10, None).unwrap(), resident.search(q, 10, None).unwrap());
            assert_eq!(
                on_disk.0.search_threshold_counted(q, 0.25, None).unwrap(),
                resident.search_threshold_counted(q, 0.25, None).unwrap()
            );
        }
    }

    /// Face-like gallery: identities with a few mates each among unrelated templates.
    fn gallery(rng: &mut TestRng, dim: usize, n: usize) -> Vec<Vec<f32>> {
        let mut out: Vec<Vec<f32>> = Vec::with_capacity(n);
        while out.len() < n {
            let centre = rng.unit(dim);
            out.push(centre.clone());
            for noise in [0.3f32, 0.6, 0.9] {
                let v = rng.unit(dim);
                out.push(crate::testing::normalise(centre.iter().zip(&v).map(|(a, b)| a + noise * b).collect()));
            }
        }
        out.truncate(n);
        out
    }

    #[test]
    fn pruned_scans_equal_the_flat_scan_and_skip_most_templates() {
        let (tmp_flat, tmp) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let dim = 512;
        let mut rng = TestRng::new(41);
        let mut flat = FlatIndex::open(tmp_flat.path(), dim).unwrap();
        let mut index = CompressedIndex::open(tmp.path(), dim).unwrap();
        let stored = gallery(&mut rng, dim, 30_000);
        for (id, v) in stored.iter().enumerate() {
            flat.insert(id as u64, (id % 3) as u32, v).unwrap();
            index.insert(id as u64, (id % 3) as u32, v).unwrap();
        }
        for id in (0..stored.len() as u64).step_by(7) {
            flat.remove(id).unwrap();
            index.remove(id).unwrap();
        }
        let queries: Vec<Vec<f32>> = (0..8).map(|i| stored[i * 997 + 1].clone()).collect();
        for threads in [1, 2] {
            index.set_search_threads(threads);
            for q in &queries {
                for filter in [None, Some(&[1u32][..])] {
                    for threshold in [0.25f32, 0.38, 0.6] {
                        let (hits, counts) = index.search_threshold_counted(q, threshold, filter).unwrap();
                        assert_eq!(hits, flat.search_threshold(q, threshold, filter).unwrap());
                        assert_eq!(counts.templates, flat.count(filter));
                        // Every template's first stage is read, and at most all three.
                        assert!(
                            counts.stages >= counts.templates && counts.stages <= 3 * counts.templates,
                            "{counts:?}"
                        );
                        assert!(!hits.is_empty() && counts.rescored >= hits.len());
                        // Most templates are proved below the threshold without their int8 codes.
                        assert!(counts.rescored * 10 < counts.templates, "{threshold}: {counts:?}");
                    }
                    let (top, counts) = index.search_exact_counted(q, 10, filter).unwrap();
                    assert_eq!(top, flat.search_exact(q, 10, filter).unwrap());
                    assert!(counts.rescored * 4 < counts.templates, "top-10: {counts:?}");
                }
            }
        }
        // Reopened, compacted: the same answers.
        drop(index);
        let mut index = CompressedIndex::open(tmp.path(), dim).unwrap();
        index.compact().unwrap();
        flat.compact().unwrap();
        for q in &queries {
            assert_eq!(index.search_threshold(q, 0.25, None).unwrap(), flat.search_threshold(q, 0.25, None).unwrap());
            assert_eq!(index.search(q, 20, None).unwrap(), flat.search(q, 20, None).unwrap());
        }
    }
}
