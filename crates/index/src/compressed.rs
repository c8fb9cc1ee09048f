//! The compressed index: the flat index's records, with their int8 codes left on disk, a 1-bit
//! code per template in memory ([`crate::onebit`]: 72 bytes at dimension 512) that ranks a
//! gallery for an interactive top-k, and 6-bit codes ([`crate::bound`]) in a file beside the
//! records ([`crate::stages`]) that let an exhaustive search skip most templates with a proof.
//!
//! - Exhaustive searches (threshold, [`VectorIndex::search_exact`]) return exactly what
//!   [`FlatIndex`] returns (same set, same scores, same order): a template is scored with its
//!   int8 codes unless an upper bound from its code proves it cannot reach the search's floor
//!   (the threshold, or the k-th best score found so far). A code has three stages of 2 bits
//!   per component (128 bytes each at dimension 512): the first is read for every template,
//!   the next only while the bound still reaches the floor, and the int8 codes only where no
//!   stage decided.
//! - Top-k ([`VectorIndex::search`]) estimates every template's score from its 1-bit code,
//!   keeps the `breadth` best by the upper end of their estimate, and re-scores them with their
//!   int8 codes, best first, until the next one's estimate cannot reach the k-th exact score:
//!   the scores returned are exact, the set is approximate (a template whose estimate ranked
//!   beyond the breadth is missed).
//! - The int8 codes are read from the record file (one positioned read, opened when sealed)
//!   only to re-score, unless [`CompressedOptions::int8_in_memory`].
//!
//! Memory per template at dimension 512: the 1-bit code and its factors (72 bytes), the flat
//! index's id, collection, scale and liveness (17 bytes), and 4 more only if ids were not
//! inserted in increasing order ([`crate::slot_of`]).
//!
//! Erasure: removing a template zeroes its 1-bit code in memory and its stages in the stage
//! file at once, after removing the codes left for the next open ([`crate::code_cache`]),
//! and compaction drops them with the flat index's records.
//!
//! Opening: the codes of the records a cache describes are taken from it (once their digest
//! matches), the others coded; every close and [`VectorIndex::checkpoint`] leaves a cache.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};

use crate::bound::{Encoder, Levels, QueryBound, Rotation, STAGES};
use crate::code_cache::{self, Cached};
use crate::flat::{AtLeast, Sink};
use crate::onebit::{self, Factors, OneBitQuery};
use crate::quant::{QueryKernel, score};
use crate::select::{CollectionFilter, TopK};
use crate::stages::{BLOCK, BlockView, StageFile};
use crate::{
    Error, FlatIndex, FlatStats, Hit, Mark, Prepared, RecordCipher, Result, Since, VectorIndex, validate_vector,
};

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

/// A compaction's first half: the live records and their stages, written aside.
struct Aside {
    records: crate::records::Aside,
    /// `None` when nothing was removed (the stages keep their slots).
    stages: Option<StageFile>,
}

/// Default of [`VectorIndex::set_search_breadth`]: candidates a top-k search may re-score.
pub const DEFAULT_BREADTH: usize = 1000;

/// An index that answers exhaustive searches exactly, pruned by provable bounds, and top-k
/// from 1-bit estimates re-scored exactly: see the module documentation.
#[derive(Debug)]
pub struct CompressedIndex {
    flat: FlatIndex,
    encoder: Encoder,
    codes: Codes,
    stages: StageFile,
    /// How many candidates a top-k search may re-score at most.
    breadth: usize,
    cipher: Option<Arc<dyn RecordCipher>>,
    /// SHA-256 of every record's int8 codes so far, slot by slot (what binds a
    /// [`code_cache`] to the records); `None` once a compaction renumbered them (read again
    /// from the record file when a cache is next written).
    digest: Mutex<Option<Sha256>>,
    /// Whether `codes.cache` is on disk: it describes the first records as they are (what a
    /// later insert leaves true, not a removal or a compaction). Set by a checkpoint from
    /// shared access, before the lock that let it run is released.
    cache_on_disk: AtomicBool,
    /// Whether it describes every record (nothing to write at close).
    cache_current: AtomicBool,
    /// Held while a cache is written: one at a time.
    saving: Mutex<()>,
    /// Templates whose codes were taken from the cache at open, if one was.
    taken: Option<usize>,
    /// Set when the stage file may hold a removed template's stages: no cache is written.
    cache_barred: bool,
}

/// Every slot's 1-bit code in memory.
#[derive(Debug)]
struct Codes {
    /// 64-bit words of a 1-bit code.
    words: usize,
    /// The 1-bit code of slot `s` at `s × words` ([`crate::onebit`]), and its factors.
    bits: Vec<u64>,
    factors: Vec<Factors>,
}

/// The 6-bit codes of a run of templates, as coded at open before they go to the stage file:
/// template `i`'s stages at `stages[i × STAGES × bytes..]`.
struct StageCodes {
    stages: Vec<u8>,
    levels: Vec<Levels>,
}

impl Codes {
    fn new(rotation: &Rotation) -> Codes {
        Codes { words: rotation.padded() / 64, bits: Vec::new(), factors: Vec::new() }
    }

    /// Codes the templates of `codes` (offset form, contiguous), the first at slot `first`, on
    /// all cores: their 1-bit codes into memory, their 6-bit codes returned.
    fn encode_batch(&mut self, first: usize, codes: &[u8], rotation: &Rotation) -> StageCodes {
        let dim = rotation.dim();
        let n = codes.len() / dim;
        let (bytes, words) = (rotation.stage_bytes(), self.words);
        self.bits.resize((first + n) * words, 0);
        self.factors.resize(first + n, Factors::default());
        let mut out = StageCodes { stages: vec![0; n * STAGES * bytes], levels: vec![Levels::default(); n] };
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get()).min(n.div_ceil(1000)).max(1);
        let per = n.div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let parts = out
                .stages
                .chunks_mut(per * STAGES * bytes)
                .zip(out.levels.chunks_mut(per))
                .zip(self.bits[first * words..].chunks_mut(per * words))
                .zip(self.factors[first..].chunks_mut(per))
                .zip(codes.chunks(per * dim));
            for ((((stages, levels), bits), factors), codes) in parts {
                s.spawn(move || {
                    let mut encoder = Encoder::new(dim);
                    let outs = stages.chunks_exact_mut(STAGES * bytes).zip(levels).zip(bits.chunks_exact_mut(words));
                    for (((out, l), bits), (f, c)) in outs.zip(factors.iter_mut().zip(codes.chunks_exact(dim))) {
                        *l = encoder.encode_offset(c, out);
                        *f = onebit::encode(encoder.rotated(), bits);
                    }
                });
            }
        });
        out
    }

    /// Zeroes the code of `slot`.
    fn forget(&mut self, slot: usize) {
        let words = self.words;
        self.bits[slot * words..(slot + 1) * words].fill(0);
        self.factors[slot] = Factors::default();
    }

    /// Whether the code of `slot` is zero (forgotten).
    fn is_zero(&self, slot: usize) -> bool {
        let words = self.words;
        self.bits[slot * words..(slot + 1) * words].iter().all(|&w| w == 0) && self.factors[slot] == Factors::default()
    }

    /// Keeps the codes of the `live` slots only, in order.
    fn retain(&mut self, live: &[bool]) {
        let words = self.words;
        let mut next = 0;
        for (slot, &alive) in live.iter().enumerate() {
            if alive {
                self.bits.copy_within(slot * words..(slot + 1) * words, next * words);
                self.factors[next] = self.factors[slot];
                next += 1;
            }
        }
        self.bits.truncate(next * words);
        self.factors.truncate(next);
    }

    fn shrink_to_fit(&mut self) {
        self.bits.shrink_to_fit();
        self.factors.shrink_to_fit();
    }

    /// Heap bytes.
    fn memory(&self) -> usize {
        self.bits.capacity() * size_of::<u64>() + self.factors.capacity() * size_of::<Factors>()
    }
}

/// What an open gathers as the records are read ([`CompressedIndex::open_with_options`]):
/// their digest, and their codes — taken from the cache for the records it describes once
/// their digest proves them unchanged, coded from the records after them.
struct Opening<'a> {
    dir: &'a Path,
    cipher: Option<Arc<dyn RecordCipher>>,
    rotation: &'a Rotation,
    codes: Codes,
    stages: Option<StageFile>,
    failed: Option<Error>,
    digest: Sha256,
    looked: bool,
    /// The cache found, until the records it describes were read.
    cached: Option<Cached>,
    /// Templates whose codes were taken from it.
    taken: Option<usize>,
    /// A cache that does not describe these records was found: nothing was coded, every
    /// record is coded again once read.
    rejected: bool,
}

impl Opening<'_> {
    fn batch(&mut self, first: usize, c: &[u8]) {
        let dim = self.rotation.dim();
        if !self.looked {
            self.looked = true;
            let bytes = self.rotation.stage_bytes();
            let expect = (dim, self.rotation.padded() / 64, bytes);
            self.cached = code_cache::load(self.dir, expect, &StageFile::section_lens(bytes), self.cipher.as_ref());
        }
        let mut at = 0;
        if let Some(end) = self.cached.as_ref().map(|cache| cache.header.slots) {
            // The records the cache describes are only hashed, up to its last one.
            at = end.saturating_sub(first).min(c.len() / dim);
            self.digest.update(&c[..at * dim]);
            if first + at == end {
                self.take();
            }
            if self.cached.is_some() {
                return;
            }
        }
        let rest = &c[at * dim..];
        self.digest.update(rest);
        if !self.rejected && !rest.is_empty() {
            let (dir, bytes, cipher) = (self.dir, self.rotation.stage_bytes(), self.cipher.clone());
            let create = move || StageFile::create(dir, bytes, cipher.clone());
            encode_into(&mut self.codes, &mut self.stages, &mut self.failed, &create, self.rotation, first + at, rest);
        }
    }

    /// At the cache's last record: takes its codes and its stage file if they describe the
    /// records read.
    fn take(&mut self) {
        let Some(cache) = self.cached.take() else {
            return;
        };
        let h = cache.header;
        let bytes = self.rotation.stage_bytes();
        let adopted = (h.digest == <[u8; 32]>::from(self.digest.clone().finalize()))
            .then(|| {
                let stage = (h.stage_file_id, h.stage_blocks, h.stage_digest);
                StageFile::adopt(self.dir, bytes, self.cipher.clone(), stage, cache.tail, h.slots % BLOCK)
            })
            .flatten()
            .filter(|file| file.len() == h.slots);
        match adopted {
            Some(file) => {
                (self.codes.bits, self.codes.factors) = (cache.bits, cache.factors);
                self.stages = Some(file);
                self.taken = Some(h.slots);
            }
            None => self.rejected = true,
        }
    }

    /// After the last record (`slots` of them): a cache describing more records than there
    /// are does not describe these.
    fn finish(&mut self, slots: usize) {
        if let Some(end) = self.cached.as_ref().map(|cache| cache.header.slots) {
            if end == slots {
                self.take();
            } else {
                self.cached = None;
                self.rejected = true;
            }
        }
    }
}

/// Codes the records `c` (offset form, contiguous), the first at slot `first`: their 1-bit
/// codes into `codes`, their stages appended to the stage file (created by `create` when
/// there is none yet). The first error is kept in `failed`.
fn encode_into(
    codes: &mut Codes,
    stages: &mut Option<StageFile>,
    failed: &mut Option<Error>,
    create: &dyn Fn() -> Result<StageFile>,
    rotation: &Rotation,
    first: usize,
    c: &[u8],
) {
    let bytes = rotation.stage_bytes();
    let coded = codes.encode_batch(first, c, rotation);
    let file = match stages {
        Some(file) => file,
        None => match create() {
            Ok(file) => stages.insert(file),
            Err(e) => {
                failed.get_or_insert(e);
                return;
            }
        },
    };
    for (levels, code) in coded.levels.into_iter().zip(coded.stages.chunks_exact(STAGES * bytes)) {
        if let Err(e) = file.push(levels, code) {
            failed.get_or_insert(e);
        }
    }
}

/// Codes every record of `flat`, read again from its file (when a cache found at open turned
/// out not to describe the records).
fn encode_from_records(
    flat: &FlatIndex,
    codes: &mut Codes,
    stages: &mut Option<StageFile>,
    create: &dyn Fn() -> Result<StageFile>,
    rotation: &Rotation,
) -> Result<()> {
    const RUN: usize = 8192;
    let (dim, slots) = (flat.dim, flat.ids.len());
    let (mut run, mut buf, mut raw, mut failed) = (Vec::with_capacity(RUN * dim), vec![0u8; dim], Vec::new(), None);
    for first in (0..slots).step_by(RUN) {
        run.clear();
        for slot in first..slots.min(first + RUN) {
            run.extend_from_slice(flat.read_codes(slot, &mut buf, &mut raw)?);
        }
        encode_into(codes, stages, &mut failed, create, rotation, first, &run);
        if let Some(e) = failed {
            return Err(e);
        }
    }
    Ok(())
}

/// The best candidates of a range of slots by the upper end of their estimated score.
struct Pool {
    size: usize,
    /// `(upper, slot)`.
    cands: Vec<(f32, usize)>,
    /// The `size`-th best upper end so far: a candidate below it is not kept.
    floor: f32,
    estimated: usize,
}

impl Pool {
    fn new(size: usize) -> Pool {
        Pool { size, cands: Vec::with_capacity(2 * size), floor: f32::NEG_INFINITY, estimated: 0 }
    }

    #[inline(always)]
    fn offer(&mut self, upper: f32, slot: usize) {
        if upper > self.floor {
            self.cands.push((upper, slot));
            if self.cands.len() >= 2 * self.size {
                self.keep_best();
                self.floor = self.cands.last().map_or(f32::NEG_INFINITY, |c| c.0);
            }
        }
    }

    /// Keeps the `size` best, best first.
    fn keep_best(&mut self) {
        let best_first = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if self.cands.len() > self.size {
            self.cands.select_nth_unstable_by(self.size - 1, best_first);
            self.cands.truncate(self.size);
        }
        self.cands.sort_unstable_by(best_first);
    }
}

/// A [`Sink`] that also counts what the scan read, and keeps the first error.
struct Counting<S> {
    sink: S,
    counts: ScanCounts,
    failed: Option<Error>,
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

    /// Opens the index with `options`. The records are read once; their codes are taken from
    /// the cache the last close or checkpoint left ([`crate::code_cache`]) for the records it
    /// describes, if they are unchanged, and coded in batches on all cores as they come for
    /// the others. Unless `options.int8_in_memory`, the int8 codes are then dropped.
    pub fn open_with_options(
        dir: impl AsRef<Path>,
        dim: usize,
        cipher: Option<Arc<dyn RecordCipher>>,
        options: CompressedOptions,
    ) -> Result<CompressedIndex> {
        let dir = dir.as_ref();
        let encoder = Encoder::new(dim);
        let mut opening = Opening {
            dir,
            cipher: cipher.clone(),
            rotation: encoder.rotation(),
            codes: Codes::new(encoder.rotation()),
            stages: None,
            failed: None,
            digest: Sha256::new(),
            looked: false,
            cached: None,
            taken: None,
            rejected: false,
        };
        let flat = FlatIndex::open_inner(
            dir,
            dim,
            cipher.clone(),
            options.int8_in_memory,
            Some(&mut |first, c| {
                opening.batch(first, c);
            }),
        )?;
        let slots = flat.ids.len();
        opening.finish(slots);
        if let Some(e) = opening.failed.take() {
            return Err(e);
        }
        let Opening { mut codes, mut stages, digest, taken, rejected, .. } = opening;
        let create = || StageFile::create(dir, encoder.rotation().stage_bytes(), cipher.clone());
        if rejected {
            // Not these records' codes: they are coded from the records again.
            encode_from_records(&flat, &mut codes, &mut stages, &create, encoder.rotation())?;
        }
        let stages = match stages {
            Some(file) => file,
            None => create()?,
        };
        if stages.len() != slots {
            return Err(Error::Corrupt {
                path: dir.join(crate::stages::STAGE_FILE),
                reason: format!("{} templates coded for {slots} records", stages.len()),
            });
        }
        if taken.is_none() {
            // A cache that did not match is gone before anything else changes.
            code_cache::remove(dir)?;
        }
        codes.shrink_to_fit();
        let taken_slots = taken.unwrap_or(0);
        let mut index = CompressedIndex {
            flat,
            encoder,
            codes,
            stages,
            breadth: DEFAULT_BREADTH,
            cipher,
            digest: Mutex::new(Some(digest)),
            cache_on_disk: AtomicBool::new(taken.is_some()),
            cache_current: AtomicBool::new(taken == Some(slots)),
            saving: Mutex::new(()),
            taken,
            cache_barred: false,
        };
        // Removed and replaced templates were coded as read: forget them. A cache has them
        // zeroed already (the index zeroes a template's codes as it removes it, and removes the
        // cache first) unless a removal reached the records some other way: then it is stale,
        // and goes.
        let dead: Vec<usize> = (0..slots).filter(|&slot| !index.flat.live[slot]).collect();
        let stale = dead.iter().any(|&slot| slot < taken_slots && !index.codes.is_zero(slot));
        if stale {
            index.drop_cache()?;
        }
        let forget: Vec<usize> = dead.into_iter().filter(|&slot| stale || slot >= taken_slots).collect();
        for &slot in &forget {
            index.codes.forget(slot);
        }
        index.stages.forget(&forget)?;
        Ok(index)
    }

    /// How many templates' codes this open took from the cache the last close or checkpoint
    /// left (the rest were coded from the records).
    pub fn codes_taken_at_open(&self) -> usize {
        self.taken.unwrap_or(0)
    }

    /// Whether this open took codes from the cache the last close or checkpoint left.
    pub fn codes_from_cache(&self) -> bool {
        self.taken.is_some()
    }

    /// Removes the cache before a change it must not outlive: a removal (it holds the
    /// template's codes) or a compaction (it numbers the records otherwise).
    fn drop_cache(&mut self) -> Result<()> {
        if *self.cache_on_disk.get_mut() {
            code_cache::remove(self.flat.dir())?;
            *self.cache_on_disk.get_mut() = false;
        }
        *self.cache_current.get_mut() = false;
        Ok(())
    }

    /// The digest an open computes, from the record file: after a compaction, which
    /// renumbered the records.
    fn records_digest(&self) -> Result<Sha256> {
        let mut digest = Sha256::new();
        let (mut buf, mut raw) = (vec![0u8; self.flat.dim], Vec::new());
        for slot in 0..self.flat.ids.len() {
            digest.update(self.flat.stored_codes(slot, &mut buf, &mut raw)?);
        }
        Ok(digest)
    }

    /// Writes the cache for the next open, and keeps the stage file it describes, from shared
    /// access (searches go on; changes wait for the lock it runs under); whether there is one
    /// (none while the stage file is in doubt). The records must have been flushed.
    fn save_cache(&self) -> Result<bool> {
        let _one = self.saving.lock().unwrap_or_else(PoisonError::into_inner);
        if self.cache_current.load(Ordering::Acquire) {
            self.stages.keep()?;
            return Ok(true);
        }
        if self.stages.is_out_of_step() || self.cache_barred {
            return Ok(false);
        }
        let known = self.digest.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let digest = match known {
            Some(digest) => digest,
            None => {
                let digest = self.records_digest()?;
                *self.digest.lock().unwrap_or_else(PoisonError::into_inner) = Some(digest.clone());
                digest
            }
        };
        let (stage_file_id, stage_blocks) = self.stages.identity();
        self.stages.keep()?;
        let failed = |e: Error| -> Result<bool> {
            // Neither the stage file nor a cache describing it is left for the next open (a
            // cache left before, if any, may have been replaced or not: it goes too).
            self.stages.discard();
            code_cache::remove(self.flat.dir())?;
            self.cache_on_disk.store(false, Ordering::Release);
            Err(e)
        };
        let stage_digest = match self.stages.verified_digest() {
            Ok(digest) => digest,
            Err(e) => return failed(e),
        };
        let header = code_cache::Header {
            dim: self.flat.dim,
            slots: self.flat.ids.len(),
            words: self.codes.words,
            stage_bytes: self.encoder.rotation().stage_bytes(),
            stage_blocks,
            stage_file_id,
            digest: digest.finalize().into(),
            stage_digest,
        };
        let tail = self.stages.tail_sections();
        let saved = code_cache::save(
            self.flat.dir(),
            &header,
            &self.codes.bits,
            &self.codes.factors,
            &tail,
            self.cipher.as_ref(),
        );
        if let Err(e) = saved {
            return failed(e);
        }
        // Before the lock this runs under is released: a removal after it removes the cache.
        self.cache_on_disk.store(true, Ordering::Release);
        self.cache_current.store(true, Ordering::Release);
        Ok(true)
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

    /// Sizes on disk and in memory (the flat index's, plus the codes in memory).
    pub fn stats(&self) -> FlatStats {
        let mut stats = self.flat.stats();
        stats.memory_bytes += self.codes.memory() + self.stages.memory();
        stats.disk_bytes += self.stages.disk_bytes();
        stats.disk_bytes_per_vector = if stats.live == 0 { 0.0 } else { stats.disk_bytes as f64 / stats.live as f64 };
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

    /// A top-k search's filter and `k` (at most the live templates), or `None` when it can
    /// find nothing; an error for a query of the wrong dimension or not finite.
    fn top_k_of(
        &self,
        query: &[f32],
        k: usize,
        collections: Option<&[u32]>,
    ) -> Result<Option<(CollectionFilter, usize)>> {
        validate_vector(query, self.flat.dim)?;
        let filter = CollectionFilter::new(collections);
        if k == 0 || filter.accepts_nothing() || self.flat.is_empty() {
            return Ok(None);
        }
        Ok(Some((filter, k.min(self.flat.len()))))
    }

    /// The `k` best, exactly as the flat index finds them, also saying how much was read.
    pub fn search_exact_counted(
        &self,
        query: &[f32],
        k: usize,
        collections: Option<&[u32]>,
    ) -> Result<(Vec<Hit>, ScanCounts)> {
        let Some((filter, k)) = self.top_k_of(query, k, collections)? else {
            return Ok((Vec::new(), ScanCounts::default()));
        };
        let (mut cands, counts) = self.pruned_scan(query, &filter, || TopK::new(k))?;
        cands.truncate(k);
        Ok((self.flat.hits(&cands), counts))
    }

    /// The `k` best by 1-bit estimates re-scored exactly, also saying how much was read
    /// (`templates`: estimated). Every accepted template's score is estimated from its 1-bit
    /// code; the [`breadth`](VectorIndex::set_search_breadth) best by the upper end of their
    /// estimate (estimate plus error bound) are re-scored with their int8 codes, best first,
    /// until the next one's upper end falls below the k-th exact score found. The scores returned are exact; a template can be
    /// missed when more than `breadth` templates had a better upper end, or when its estimate
    /// erred beyond the bound.
    pub fn search_estimated_counted(
        &self,
        query: &[f32],
        k: usize,
        collections: Option<&[u32]>,
    ) -> Result<(Vec<Hit>, ScanCounts)> {
        let Some((filter, k)) = self.top_k_of(query, k, collections)? else {
            return Ok((Vec::new(), ScanCounts::default()));
        };
        let (codes, kernel) = QueryKernel::quantize(query);
        let query_scale = kernel.scale();
        let estimator = OneBitQuery::new(self.encoder.rotation(), &codes);
        let size = self.breadth.max(k);
        let pools = self.flat.run_with(
            || Pool::new(size),
            |start, end, pool: &mut Pool| match onebit::level() {
                onebit::Level::Popcnt(simd) => {
                    simd.vectorize(|| self.estimate_range(&estimator, &filter, start, end, pool))
                }
                onebit::Level::V4(simd) => {
                    simd.vectorize(|| self.estimate_range(&estimator, &filter, start, end, pool))
                }
                onebit::Level::Plain => self.estimate_range(&estimator, &filter, start, end, pool),
            },
        );
        let mut all = Pool::new(size);
        for pool in pools {
            all.estimated += pool.estimated;
            all.cands.extend(pool.cands);
        }
        all.keep_best();
        // Best first, until the next one's estimated upper end is below the k-th exact score.
        let mut out = Counting { sink: TopK::new(k), counts: ScanCounts::default(), failed: None };
        let mut buf = (vec![0u8; self.flat.dim], Vec::new());
        for &(upper, slot) in &all.cands {
            if out.sink.worst().is_some_and(|worst| upper * query_scale < worst)
                || !self.rescore(&kernel, slot, &mut buf, &mut out)
            {
                break;
            }
        }
        if let Some(e) = out.failed {
            return Err(e);
        }
        let mut cands = out.sink.into_vec();
        cands.sort_unstable();
        let counts = ScanCounts { templates: all.estimated, ..out.counts };
        Ok((self.flat.hits(&cands), counts))
    }

    /// Estimates the accepted live slots of `start..end` into `pool`, by the upper end of
    /// their score divided by the query's scale.
    #[inline(always)]
    fn estimate_range(
        &self,
        estimator: &OneBitQuery,
        filter: &CollectionFilter,
        start: usize,
        end: usize,
        pool: &mut Pool,
    ) {
        let words = self.codes.words;
        let bits = self.codes.bits[start * words..end * words].chunks_exact(words);
        let meta = self.codes.factors[start..end]
            .iter()
            .zip(&self.flat.scales[start..end])
            .zip(&self.flat.collections[start..end])
            .zip(&self.flat.live[start..end]);
        for (slot, (code, (((factors, &scale), &collection), &live))) in (start..).zip(bits.zip(meta)) {
            if live && filter.accepts(collection) {
                pool.estimated += 1;
                let (estimate, error) = estimator.estimate(code, factors);
                pool.offer((estimate + error) * scale, slot);
            }
        }
    }

    /// Scans every slot of the accepted collections: a template's next stage while its bound
    /// does not prove it below the sink's floor, its int8 score if no stage did.
    fn pruned_scan<S: Sink>(
        &self,
        query: &[f32],
        filter: &CollectionFilter,
        make: impl Fn() -> S + Sync,
    ) -> Result<(Vec<crate::select::Ranked>, ScanCounts)> {
        let (codes, kernel) = QueryKernel::quantize(query);
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
        let mut buf = (vec![0u8; self.flat.dim], Vec::new());
        let mut view = self.stages.view();
        for slot in start..end {
            if !self.flat.live[slot] || !filter.accepts(self.flat.collections[slot]) {
                continue;
            }
            out.counts.templates += 1;
            if !self.offer_slot(bound, kernel, slot, &mut view, &mut buf, out) {
                return;
            }
        }
    }

    /// Offers the live `slot` to `out`'s sink with its int8 score, unless a stage's bound
    /// proves it below the sink's floor; counts what it read. `view` reads the stages, `buf`
    /// is scratch space for the int8 codes. False, with the error kept in `out`, if the
    /// stages or the codes could not be read.
    #[inline(always)]
    fn offer_slot<S: Sink>(
        &self,
        bound: &QueryBound,
        kernel: &crate::quant::QueryKernel,
        slot: usize,
        view: &mut BlockView<'_>,
        buf: &mut (Vec<u8>, Vec<u8>),
        out: &mut Counting<S>,
    ) -> bool {
        let query_scale = kernel.scale();
        let (scale, floor) = (self.flat.scales[slot], out.sink.floor());
        let levels = match view.levels(slot) {
            Ok(levels) => levels,
            Err(e) => {
                out.failed = Some(e);
                return false;
            }
        };
        let mut prefix = 0i64;
        for j in 0..STAGES {
            let stage = match view.stage(slot, j) {
                Ok(stage) => stage,
                Err(e) => {
                    out.failed = Some(e);
                    return false;
                }
            };
            out.counts.stages += 1;
            prefix = 4 * prefix + bound.stage_dot(stage);
            let upper = bound.bound(j, prefix, &levels).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            if score(upper, query_scale, scale) < floor {
                return true;
            }
        }
        self.rescore(kernel, slot, buf, out)
    }

    /// Offers the live `slot` to `out`'s sink with its int8 score. False, with the error kept
    /// in `out`, if its codes could not be read.
    #[inline(always)]
    fn rescore<S: Sink>(
        &self,
        kernel: &crate::quant::QueryKernel,
        slot: usize,
        buf: &mut (Vec<u8>, Vec<u8>),
        out: &mut Counting<S>,
    ) -> bool {
        out.counts.rescored += 1;
        match self.flat.score_slot(kernel, slot, buf) {
            Ok(score) => {
                out.sink.offer(score, self.flat.ids[slot], slot);
                true
            }
            Err(e) => {
                out.failed = Some(e);
                false
            }
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
        // The stage file's full block goes out first: after the record is stored, nothing fails.
        self.stages.make_room()?;
        self.flat.insert(id, collection, vector)?;
        // A cache on disk still describes the records before this one: it stays.
        *self.cache_current.get_mut() = false;
        let codes = self.flat.inserted_codes();
        if let Some(digest) = self.digest.get_mut().unwrap_or_else(PoisonError::into_inner) {
            // In offset form, as the open reads records.
            digest.update(codes.iter().map(|&c| crate::quant::to_offset(c)).collect::<Vec<u8>>());
        }
        let mut code = vec![0u8; STAGES * self.encoder.rotation().stage_bytes()];
        let levels = self.encoder.encode(codes, &mut code);
        let words = self.codes.words;
        crate::grow::reserve(&mut self.codes.bits, words);
        crate::grow::reserve(&mut self.codes.factors, 1);
        self.codes.bits.resize(self.codes.bits.len() + words, 0);
        let at = self.codes.bits.len() - words;
        self.codes.factors.push(onebit::encode(self.encoder.rotated(), &mut self.codes.bits[at..]));
        self.stages.push(levels, &code)
    }

    fn remove(&mut self, id: u64) -> Result<bool> {
        let Some(slot) = self.flat.slot_of(id) else {
            return Ok(false);
        };
        self.drop_cache()?;
        let removed = self.flat.remove(id)?;
        if removed {
            // After the removal is stored: zero stages of a live template would prune it.
            self.codes.forget(slot);
            if let Err(e) = self.stages.forget(&[slot]) {
                // The stage file may still hold the template's stages: no cache will say it
                // can be taken as it is (it is removed at close, coded again at open).
                self.cache_barred = true;
                return Err(e);
            }
        }
        Ok(removed)
    }

    fn search(&self, query: &[f32], k: usize, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        Ok(self.search_estimated_counted(query, k, collections)?.0)
    }

    fn set_search_breadth(&mut self, breadth: usize) {
        self.breadth = breadth.max(1);
    }

    fn search_exact(&self, query: &[f32], k: usize, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        Ok(self.search_exact_counted(query, k, collections)?.0)
    }

    fn is_exhaustive(&self) -> bool {
        false
    }

    fn search_threshold(&self, query: &[f32], threshold: f32, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        Ok(self.search_threshold_counted(query, threshold, collections)?.0)
    }

    fn mark(&self) -> Option<Mark> {
        Some(self.flat.mark_now())
    }

    fn search_threshold_since(&self, query: &[f32], threshold: f32, mark: Mark) -> Result<Option<Since>> {
        // The templates inserted since are few: their int8 records, read one by one, score
        // exactly as the full exhaustive search's re-scoring does.
        self.flat.threshold_since(query, threshold, mark)
    }

    fn flush(&mut self) -> Result<()> {
        self.flat.flush()
    }

    /// Leaves the codes for the next open (as a close does), from shared access after
    /// [`VectorIndex::checkpoint_exclusive`] flushed: later inserts leave them valid for the
    /// records before; a removal or a compaction removes them.
    fn checkpoint_shared(&self) -> Result<()> {
        self.save_cache().map(|_| ())
    }

    fn compact(&mut self) -> Result<()> {
        self.drop_cache()?;
        // The records are renumbered (or their log cleared): the digest of their codes is
        // read from the new file at close.
        *self.digest.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
        let live = self.flat.live.clone();
        if live.iter().all(|&alive| alive) {
            return self.flat.compact();
        }
        // The stages of the live templates are written aside first: once the records are
        // renumbered, the stage file must follow or answer nothing. (The flat index renumbers
        // its slots in memory only once its files are rewritten: after an error they are as
        // they were, and so is the stage file.)
        let next = self.stages.retained(&live)?;
        self.flat.compact()?;
        self.codes.retain(&live);
        self.stages.replace(next)
    }

    fn prepare_compaction(&self) -> Result<Option<Prepared>> {
        let Some(records) = self.flat.write_aside()? else {
            return Ok(None);
        };
        let live = &self.flat.live;
        // With nothing removed (only a log to clear) the stages keep their slots.
        let stages = if live.iter().all(|&alive| alive) { None } else { Some(self.stages.retained(live)?) };
        Ok(Some(Prepared::new(Aside { records, stages })))
    }

    fn finish_compaction(&mut self, prepared: Option<Prepared>) -> Result<()> {
        self.drop_cache()?;
        *self.digest.get_mut().unwrap_or_else(PoisonError::into_inner) = None;
        if let Some(Aside { records, stages }) = prepared.and_then(Prepared::take::<Aside>) {
            let live = self.flat.live.clone();
            if self.flat.install(records)? {
                return match stages {
                    Some(next) => {
                        self.codes.retain(&live);
                        self.stages.replace(next)
                    }
                    None => Ok(()),
                };
            }
            // Changed since: the prepared stage file is dropped (and removed) unused.
        }
        self.compact()
    }
}

impl Drop for CompressedIndex {
    /// Leaves the codes for the next open ([`crate::code_cache`]); if they cannot be written,
    /// the next open codes the records again, as without a cache.
    fn drop(&mut self) {
        if self.flat.flush().is_ok() {
            let _ = self.save_cache();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::BLOCK;
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
        // The stage file: the full blocks of three stages of 128 bytes and the levels (28 bytes).
        let stage_file = fs_err::metadata(tmp.path().join(crate::stages::STAGE_FILE)).unwrap().len();
        assert_eq!(stage_file, (1000 / BLOCK * BLOCK * (3 * 128 + 28)) as u64);
        assert_eq!((s.live, s.dead, s.disk_bytes), (900, 100, flat.disk_bytes + stage_file));
        // In memory: a 1-bit code of 64 bytes and its factors per slot, removed ones included
        // until compaction, and the stages of the templates after the last full block.
        let per_slot = 64 + size_of::<Factors>();
        let tail = (1000 % BLOCK) * (3 * 128 + size_of::<Levels>());
        let extra = s.memory_bytes - flat.memory_bytes;
        assert!(extra >= 1000 * per_slot + tail && extra < 2 * (1000 * per_slot + tail), "{extra}");
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
        // Beside the two 1 MiB write buffers, under 600 bytes per template: three stages (384),
        // their levels (28), the 1-bit code (64) and its factors (12), id, collection, scale.
        assert!(on_disk_stats.memory_bytes < 4000 * 600 + (2 << 20) + 4096, "{on_disk_stats:?}");
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

    #[test]
    fn top_k_from_estimates_finds_the_mates_with_exact_scores_within_its_breadth() {
        let (_dirs, flat, mut index, stored) = both(47);
        assert!(!index.is_exhaustive());
        let queries: Vec<Vec<f32>> = (0..30).map(|i| stored[i * 997 + 2].clone()).collect();
        for (breadth, min_recall) in [(200, 0.7), (30_000, 0.99)] {
            index.set_search_breadth(breadth);
            let (mut found, mut wanted) = (0, 0);
            for q in &queries {
                for filter in [None, Some(&[1u32, 2][..])] {
                    let (hits, counts) = index.search_estimated_counted(q, 10, filter).unwrap();
                    let exact = flat.search(q, 10, filter).unwrap();
                    assert_eq!(hits.len(), 10);
                    assert_eq!(counts.templates, flat.count(filter));
                    assert!(counts.rescored <= breadth, "{counts:?}");
                    // Every score is the exact one, and the order is the flat index's.
                    let all = flat.search(q, 30_000, filter).unwrap();
                    for h in &hits {
                        assert_eq!(Some(h), all.iter().find(|e| e.id == h.id), "exact score and collection");
                        assert!(filter.is_none_or(|f| f.contains(&h.collection)));
                    }
                    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
                    // The mates (a score of 0.3 or more) are always found.
                    for e in exact.iter().filter(|e| e.score >= 0.3) {
                        assert!(hits.iter().any(|h| h.id == e.id), "mate {} ({}) missed", e.id, e.score);
                    }
                    found += hits.iter().filter(|h| exact.iter().any(|e| e.id == h.id)).count();
                    wanted += exact.len();
                }
            }
            let recall = found as f64 / wanted as f64;
            assert!(recall >= min_recall, "breadth {breadth}: recall@10 {recall}");
        }
        // Breadth is at least k.
        index.set_search_breadth(1);
        assert_eq!(index.search(&queries[0], 5, None).unwrap().len(), 5);
        // No template, no collection, no k: nothing.
        assert!(index.search(&queries[0], 0, None).unwrap().is_empty());
        assert!(index.search(&queries[0], 5, Some(&[])).unwrap().is_empty());
        assert!(index.search(&queries[0], 5, Some(&[9])).unwrap().is_empty());
    }

    /// Face-like gallery: identities with a few mates each among unrelated templates.
    /// After a compaction the close reads the records' digest from the new file and leaves
    /// the codes; the next open takes them — answers equal to a flat index's each time, and
    /// the codes those of the live templates before the compaction (word by word).
    #[test]
    fn the_close_after_a_compaction_leaves_the_renumbered_codes() {
        let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let dim = 96;
        let stored = gallery(&mut TestRng::new(7), dim, 700);
        let mut flat = FlatIndex::open(dirs.0.path(), dim).unwrap();
        let mut index = CompressedIndex::open(dirs.1.path(), dim).unwrap();
        for (id, v) in stored.iter().enumerate() {
            flat.insert(id as u64, (id % 2) as u32, v).unwrap();
            index.insert(id as u64, (id % 2) as u32, v).unwrap();
        }
        for id in (0..700).step_by(9) {
            assert!(flat.remove(id).unwrap() && index.remove(id).unwrap());
        }
        let check = |index: &CompressedIndex, flat: &FlatIndex| {
            for q in stored.iter().step_by(50) {
                assert_eq!(index.search_threshold(q, 0.3, None).unwrap(), flat.search_threshold(q, 0.3, None).unwrap());
                assert_eq!(index.search_exact(q, 10, None).unwrap(), flat.search_exact(q, 10, None).unwrap());
            }
        };
        drop(index);
        let index = CompressedIndex::open(dirs.1.path(), dim).unwrap();
        assert!(index.codes_from_cache());
        let (bits, factors) = (index.codes.bits.clone(), index.codes.factors.clone());
        check(&index, &flat);
        let mut index = index;
        index.compact().unwrap();
        assert!(!dirs.1.path().join("codes.cache").exists(), "removed before the compaction");
        check(&index, &flat);
        drop(index);
        let index = CompressedIndex::open(dirs.1.path(), dim).unwrap();
        assert!(index.codes_from_cache());
        check(&index, &flat);
        let words = index.codes.words;
        let live: Vec<usize> = (0..700).filter(|i| i % 9 != 0).collect();
        assert_eq!(index.codes.factors.len(), live.len());
        for (slot, &old) in live.iter().enumerate() {
            assert_eq!(index.codes.bits[slot * words..(slot + 1) * words], bits[old * words..(old + 1) * words]);
            assert_eq!(index.codes.factors[slot], factors[old]);
        }
        // In two halves too, with a removal since the last open.
        let mut index = index;
        assert!(flat.remove(5).unwrap() && index.remove(5).unwrap());
        let prepared = index.prepare_compaction().unwrap();
        index.finish_compaction(prepared).unwrap();
        check(&index, &flat);
        drop(index);
        let index = CompressedIndex::open(dirs.1.path(), dim).unwrap();
        assert!(index.codes_from_cache());
        assert_eq!(index.len(), live.len() - 1);
        check(&index, &flat);
    }

    /// A checkpoint leaves the codes while the index stays open. Inserts after it leave them
    /// (they still describe the records before): a process that ends without closing the
    /// index leaves them, and the next open codes only the templates inserted since. A removal
    /// removes them before it is made.
    #[test]
    fn a_checkpoint_leaves_the_codes_for_the_records_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let dim = 64;
        let stored = gallery(&mut TestRng::new(3), dim, 700);
        let cache = dir.path().join("codes.cache");
        let mut index = CompressedIndex::open(dir.path(), dim).unwrap();
        for (id, v) in stored.iter().enumerate().take(300) {
            index.insert(id as u64, 0, v).unwrap();
        }
        assert!(!cache.exists());
        index.checkpoint().unwrap();
        assert!(cache.exists());
        // Past the next stage block (512): blocks written after the checkpoint are cut off and
        // coded again.
        for (id, v) in stored.iter().enumerate().take(600).skip(300) {
            index.insert(id as u64, 0, v).unwrap();
        }
        index.flush().unwrap();
        assert!(cache.exists(), "inserts leave it");
        // As if the process ended here without closing the index: its files as they are now.
        let crashed = |index: &CompressedIndex| {
            let copy = tempfile::tempdir().unwrap();
            for name in ["vectors.dat", "tombstones.log", "stages.cache", "codes.cache"] {
                fs_err::copy(index.dir().join(name), copy.path().join(name)).unwrap();
            }
            copy
        };
        let answers = |index: &CompressedIndex| -> Vec<(Vec<Hit>, Vec<Hit>)> {
            stored
                .iter()
                .step_by(7)
                .map(|q| (index.search_threshold(q, 0.3, None).unwrap(), index.search_exact(q, 5, None).unwrap()))
                .collect()
        };
        let copy = crashed(&index);
        let reopened = CompressedIndex::open(copy.path(), dim).unwrap();
        assert_eq!(reopened.codes_taken_at_open(), 300);
        assert_eq!(reopened.len(), 600);
        assert_eq!(answers(&reopened), answers(&index));
        drop(reopened);
        assert!(index.remove(7).unwrap());
        assert!(!cache.exists(), "a removal removes it");
        // The codes are written from shared access, beside searches; a removal after that
        // removes them as it would any other cache.
        index.checkpoint_exclusive().unwrap();
        std::thread::scope(|s| {
            let (shared, queries) = (&index, &stored);
            let searching = s.spawn(move || {
                queries.iter().take(100).map(|q| shared.search(q, 10, None).unwrap().len()).sum::<usize>()
            });
            shared.checkpoint_shared().unwrap();
            assert_eq!(searching.join().unwrap(), 1000);
        });
        assert!(cache.exists());
        assert!(index.remove(8).unwrap());
        assert!(!cache.exists(), "a removal after a shared checkpoint removes it");
        index.checkpoint().unwrap();
        index.checkpoint().unwrap();
        let copy = crashed(&index);
        let reopened = CompressedIndex::open(copy.path(), dim).unwrap();
        assert_eq!(reopened.codes_taken_at_open(), 600);
        assert_eq!(answers(&reopened), answers(&index));
    }

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

    /// A flat and a compressed index (in their folders) of the same 30,000 face-like
    /// templates of dimension 512, in three collections.
    fn both(seed: u64) -> ((tempfile::TempDir, tempfile::TempDir), FlatIndex, CompressedIndex, Vec<Vec<f32>>) {
        let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut flat = FlatIndex::open(dirs.0.path(), 512).unwrap();
        let mut index = CompressedIndex::open(dirs.1.path(), 512).unwrap();
        let stored = gallery(&mut TestRng::new(seed), 512, 30_000);
        for (id, v) in stored.iter().enumerate() {
            flat.insert(id as u64, (id % 3) as u32, v).unwrap();
            index.insert(id as u64, (id % 3) as u32, v).unwrap();
        }
        (dirs, flat, index, stored)
    }

    #[test]
    fn pruned_scans_equal_the_flat_scan_and_skip_most_templates() {
        let ((_tmp_flat, tmp), mut flat, mut index, stored) = both(41);
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
        let mut index = CompressedIndex::open(tmp.path(), 512).unwrap();
        index.compact().unwrap();
        flat.compact().unwrap();
        for q in &queries {
            assert_eq!(index.search_threshold(q, 0.25, None).unwrap(), flat.search_threshold(q, 0.25, None).unwrap());
            assert_eq!(index.search_exact(q, 20, None).unwrap(), flat.search(q, 20, None).unwrap());
        }
    }
}
