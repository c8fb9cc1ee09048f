//! [`AnnIndex`]: the graph, the stored templates and their files, behind
//! [`gabarit_index::VectorIndex`].

use std::collections::HashMap;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gabarit_index::quant::{quantize_into, to_offset};
use gabarit_index::select::{CollectionFilter, Ranked, TopK};
use gabarit_index::{Error as IndexError, Hit, MAX_DIM, RecordCipher, Result, VectorIndex, validate_vector};
use hashbrown::HashTable;

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
    dir: PathBuf,
    data_path: PathBuf,
    tomb_path: PathBuf,
    dim: usize,
    opts: AnnOptions,
    generation: u64,
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
    data: BufWriter<fs_err::File>,
    tomb: BufWriter<fs_err::File>,
    tomb_entries: u64,
    _lock: fs_err::File,
    cipher: Option<Arc<dyn RecordCipher>>,
    record_len: usize,
    scratch: Vec<i8>,
    record: Vec<u8>,
    broken: bool,
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
        gabarit_index::private::create_dir(&dir).map_err(io_err(&dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = open_rw(&lock_path)?;
        lock.try_lock().map_err(|e| IndexError::Io {
            path: lock_path.clone(),
            source: match e {
                std::fs::TryLockError::Error(e) => e,
                std::fs::TryLockError::WouldBlock => {
                    std::io::Error::new(std::io::ErrorKind::WouldBlock, "index is open elsewhere (directory locked)")
                }
            },
        })?;
        for tmp in [DATA_TMP, TOMB_TMP, GRAPH_TMP] {
            let p = dir.join(tmp);
            if p.exists() {
                fs_err::remove_file(&p).map_err(io_err(&p))?;
            }
        }
        let data_path = dir.join(DATA_FILE);
        let tomb_path = dir.join(TOMB_FILE);
        let mut created = false;

        let mut data = open_rw(&data_path)?;
        let len = data.metadata().map_err(io_err(&data_path))?.len();
        let dim32 = u32::try_from(dim).map_err(|_| IndexError::UnsupportedDimension { dim, max: MAX_DIM })?;
        let generation = if len == 0 {
            created = true;
            let word = if cipher.is_some() { dim32 | SEALED_FLAG } else { dim32 };
            data.write_all(&header(DATA_MAGIC, word, 0)).map_err(io_err(&data_path))?;
            data.sync_all().map_err(io_err(&data_path))?;
            0
        } else {
            if len < HEADER_LEN {
                return Err(corrupt(&data_path, "shorter than its header").into());
            }
            let mut h = [0u8; HEADER_LEN as usize];
            data.read_exact(&mut h).map_err(io_err(&data_path))?;
            let (word, generation) = parse_header(&data_path, &h, DATA_MAGIC)?;
            let sealed = word & SEALED_FLAG != 0;
            if sealed != cipher.is_some() {
                return Err(IndexError::Encryption {
                    path: data_path,
                    reason: if sealed {
                        "the records are encrypted: open the index with its data key".into()
                    } else {
                        "the records are not encrypted, but a data key was given".into()
                    },
                }
                .into());
            }
            let found = (word & !SEALED_FLAG) as usize;
            if found != dim {
                return Err(IndexError::IndexDimension { path: data_path, expected: dim, found }.into());
            }
            generation
        };
        let overhead = cipher.as_ref().map_or(0, |c| c.overhead());
        let record_len = RECORD_PREFIX + 4 + dim + overhead;
        let len = len.max(HEADER_LEN);
        let slots = (len - HEADER_LEN) / record_len as u64;
        let intact = HEADER_LEN + slots * record_len as u64;
        if intact != len {
            data.set_len(intact).map_err(io_err(&data_path))?;
            data.sync_all().map_err(io_err(&data_path))?;
        }
        let slots = usize::try_from(slots).map_err(|_| corrupt(&data_path, "too many records"))?;
        if slots > MAX_SLOTS {
            return Err(corrupt(&data_path, format!("more records than an index can hold ({MAX_SLOTS})")).into());
        }

        let mut index = AnnIndex {
            dim,
            opts: options,
            generation,
            codes: HugeBuf::with_capacity(slots * dim),
            scales: Vec::with_capacity(slots),
            ids: Vec::with_capacity(slots),
            collections: Vec::with_capacity(slots),
            dead: Vec::new(),
            dead_count: 0,
            slot_of: HashTable::with_capacity(slots),
            per_collection: HashMap::new(),
            graph: Graph::new(options.m, options.m0, options.seed),
            graph_saved: 0,
            replayable: true,
            data: BufWriter::with_capacity(WRITE_BUFFER, open_rw(&data_path)?),
            tomb: BufWriter::with_capacity(WRITE_BUFFER, open_rw(&tomb_path)?),
            tomb_entries: 0,
            _lock: lock,
            cipher,
            record_len,
            scratch: vec![0; dim],
            record: Vec::with_capacity(record_len),
            broken: false,
            dir,
            data_path,
            tomb_path,
        };
        index.load_records(&mut data, slots)?;
        drop(data);
        let data_created = created;
        created |= index.load_tombstones()?;
        index.data.get_mut().seek(SeekFrom::End(0)).map_err(io_err(&index.data_path))?;
        index.load_graph(data_created)?;
        if created {
            sync_dir(&index.dir)?;
        }
        Ok(index)
    }

    fn load_records(&mut self, file: &mut fs_err::File, slots: usize) -> Result<()> {
        let record_len = self.record_len;
        file.seek(SeekFrom::Start(HEADER_LEN)).map_err(io_err(&self.data_path))?;
        let per_chunk = ((8 << 20) / record_len).max(1);
        let mut buf = vec![0u8; per_chunk.min(slots.max(1)) * record_len];
        let mut slot = 0;
        while slot < slots {
            let n = per_chunk.min(slots - slot);
            let chunk = &mut buf[..n * record_len];
            file.read_exact(chunk).map_err(io_err(&self.data_path))?;
            for sealed in chunk.chunks_exact(record_len) {
                let id = u64_at(sealed, 0);
                let opened;
                let rec: &[u8] = match &self.cipher {
                    None => sealed,
                    Some(c) => {
                        let payload = c.open(&sealed[RECORD_PREFIX..], &id.to_le_bytes()).map_err(|reason| {
                            IndexError::Encryption {
                                path: self.data_path.clone(),
                                reason: format!("record {slot}: {reason}"),
                            }
                        })?;
                        opened = [&sealed[..RECORD_PREFIX], &payload[..]].concat();
                        &opened
                    }
                };
                let collection = u32_at(rec, 8);
                let scale = f32::from_bits(u32_at(rec, 12));
                if !scale.is_finite() || scale < 0.0 {
                    return Err(corrupt(&self.data_path, format!("record {slot} has an invalid scale {scale}")));
                }
                if rec.len() != RECORD_PREFIX + 4 + self.dim {
                    return Err(corrupt(&self.data_path, format!("record {slot} has a wrong length")));
                }
                self.codes.extend_from_slice(&rec[RECORD_PREFIX + 4..]);
                let start = self.codes.len() - self.dim;
                self.codes.as_mut_slice()[start..].iter_mut().for_each(|b| *b ^= 0x80);
                self.ids.push(id);
                self.collections.push(collection);
                self.scales.push(scale);
                // A later record for an id still live wins (its tombstone was lost).
                if let Some(prev) = self.find_slot(id) {
                    self.kill(prev as usize);
                    self.unmap(id);
                }
                self.map(id, slot as u32);
                *self.per_collection.entry(collection).or_insert(0) += 1;
                slot += 1;
            }
        }
        self.dead.resize(slots.div_ceil(64), 0);
        Ok(())
    }

    fn load_tombstones(&mut self) -> Result<bool> {
        let path = self.tomb_path.clone();
        let generation = self.generation;
        let file = self.tomb.get_mut();
        let len = file.metadata().map_err(io_err(&path))?.len();
        let mut reset = len < HEADER_LEN;
        if !reset {
            let mut h = [0u8; HEADER_LEN as usize];
            file.read_exact(&mut h).map_err(io_err(&path))?;
            let (_, g) = parse_header(&path, &h, TOMB_MAGIC)?;
            reset = g != generation;
        }
        if reset {
            file.set_len(0).map_err(io_err(&path))?;
            file.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
            file.write_all(&header(TOMB_MAGIC, 0, generation)).map_err(io_err(&path))?;
            file.sync_all().map_err(io_err(&path))?;
            return Ok(true);
        }
        let entries = (len - HEADER_LEN) / TOMB_ENTRY;
        let intact = HEADER_LEN + entries * TOMB_ENTRY;
        if intact != len {
            file.set_len(intact).map_err(io_err(&path))?;
            file.sync_all().map_err(io_err(&path))?;
        }
        let mut bytes = Vec::new();
        Read::by_ref(file).take(entries * TOMB_ENTRY).read_to_end(&mut bytes).map_err(io_err(&path))?;
        file.seek(SeekFrom::Start(intact)).map_err(io_err(&path))?;
        for e in bytes.chunks_exact(TOMB_ENTRY as usize) {
            let (id, slot) = (u64_at(e, 0), u64_at(e, 8));
            if self.find_slot(id).is_some_and(|s| u64::from(s) == slot) {
                self.unmap(id);
                self.kill(slot as usize);
            }
        }
        self.tomb_entries = entries;
        Ok(false)
    }

    /// Loads `graph.dat` and links the records it does not cover.
    fn load_graph(&mut self, created: bool) -> Result<()> {
        let slots = self.ids.len();
        let loaded = match read_graph(&self.dir) {
            Ok(Some((meta, graph))) if meta.generation == self.generation && meta.slots <= slots && !created => {
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
                    write_graph(&self.dir, &self.graph, self.generation, self.opts.ef_construction)?;
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

    fn check_writable(&self) -> Result<()> {
        if self.broken {
            return Err(IndexError::Io {
                path: self.data_path.clone(),
                source: std::io::Error::other("an earlier write failed; reopen the index to repair it"),
            });
        }
        Ok(())
    }

    /// Serialises `slot` into `self.record` (sealed when encrypted).
    fn fill_record(&mut self, slot: usize) -> Result<()> {
        self.record.clear();
        self.record.extend_from_slice(&self.ids[slot].to_le_bytes());
        self.record.extend_from_slice(&self.collections[slot].to_le_bytes());
        self.record.extend_from_slice(&self.scales[slot].to_le_bytes());
        self.record.extend(self.codes.as_slice()[slot * self.dim..(slot + 1) * self.dim].iter().map(|&u| u ^ 0x80));
        if let Some(c) = &self.cipher {
            let sealed = c
                .seal(&self.record[RECORD_PREFIX..], &self.ids[slot].to_le_bytes())
                .map_err(|reason| IndexError::Encryption { path: self.data_path.clone(), reason })?;
            self.record.truncate(RECORD_PREFIX);
            self.record.extend_from_slice(&sealed);
        }
        if self.record.len() != self.record_len {
            return Err(IndexError::Encryption {
                path: self.data_path.clone(),
                reason: "the cipher's output length differs from its declared overhead".into(),
            });
        }
        Ok(())
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
        let written = self.fill_record(slot).and_then(|()| {
            let record = std::mem::take(&mut self.record);
            let r = self.data.write_all(&record).map_err(io_err(&self.data_path));
            self.record = record;
            r
        });
        if let Err(e) = written {
            self.codes.truncate(slot * self.dim);
            self.ids.truncate(slot);
            self.collections.truncate(slot);
            self.scales.truncate(slot);
            self.broken = true;
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
        self.check_writable()?;
        if self.ids.len() + items.len() > MAX_SLOTS {
            return Err(full(&self.data_path));
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
        let disk_bytes = fs_err::read_dir(&self.dir)
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
        &self.dir
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
        write_graph(&self.dir, &self.graph, self.generation, self.opts.ef_construction)?;
        self.graph_saved = self.graph.slots();
        self.replayable = true;
        Ok(())
    }

    /// Overwrites the records of dead slots in the current data file with zeros and syncs it
    /// (best effort against file systems that keep freed blocks).
    fn scrub_dead_records(&mut self) -> Result<()> {
        let mut file = open_rw(&self.data_path)?;
        let zeros = vec![0u8; self.record_len];
        for slot in 0..self.ids.len() {
            if self.is_dead(slot as u32) {
                let at = HEADER_LEN + (slot * self.record_len) as u64;
                file.seek(SeekFrom::Start(at)).map_err(io_err(&self.data_path))?;
                file.write_all(&zeros).map_err(io_err(&self.data_path))?;
            }
        }
        file.sync_data().map_err(io_err(&self.data_path))
    }

    fn compact_files(&mut self) -> Result<()> {
        VectorIndex::flush(self)?;
        if self.dead_count == 0 && self.tomb_entries == 0 {
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
        self.scrub_dead_records()?;
        let slots = self.ids.len();
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

        // 2. New files of the next generation, renamed over the old ones.
        let generation = self.generation + 1;
        let dim32 = u32::try_from(self.dim).map_err(|_| IndexError::UnsupportedDimension { dim, max: MAX_DIM })?;
        let data_tmp = self.dir.join(DATA_TMP);
        let file = gabarit_index::private::create(&data_tmp).map_err(io_err(&data_tmp))?;
        let mut w = BufWriter::with_capacity(WRITE_BUFFER, file);
        let word = if self.cipher.is_some() { dim32 | SEALED_FLAG } else { dim32 };
        w.write_all(&header(DATA_MAGIC, word, generation)).map_err(io_err(&data_tmp))?;
        for slot in 0..kept {
            self.fill_record(slot)?;
            w.write_all(&self.record).map_err(io_err(&data_tmp))?;
        }
        let file = w.into_inner().map_err(|e| IndexError::Io { path: data_tmp.clone(), source: e.into_error() })?;
        file.sync_all().map_err(io_err(&data_tmp))?;
        drop(file);
        let graph_tmp = self.dir.join(GRAPH_TMP);
        write_graph_to(&graph_tmp, &self.graph, generation, self.opts.ef_construction)?;
        let tomb_tmp = self.dir.join(TOMB_TMP);
        let mut file = gabarit_index::private::create(&tomb_tmp).map_err(io_err(&tomb_tmp))?;
        file.write_all(&header(TOMB_MAGIC, 0, generation)).map_err(io_err(&tomb_tmp))?;
        file.sync_all().map_err(io_err(&tomb_tmp))?;
        drop(file);
        // A crash between the renames leaves files of two generations: the stale graph is
        // rebuilt and the stale tombstone log discarded at open.
        fs_err::rename(&data_tmp, &self.data_path).map_err(io_err(&self.data_path))?;
        sync_dir(&self.dir)?;
        let graph_path = self.dir.join(GRAPH_FILE);
        fs_err::rename(&graph_tmp, &graph_path).map_err(io_err(&graph_path))?;
        sync_dir(&self.dir)?;
        fs_err::rename(&tomb_tmp, &self.tomb_path).map_err(io_err(&self.tomb_path))?;
        sync_dir(&self.dir)?;

        let mut data = open_rw(&self.data_path)?;
        data.seek(SeekFrom::End(0)).map_err(io_err(&self.data_path))?;
        let mut tomb = open_rw(&self.tomb_path)?;
        tomb.seek(SeekFrom::End(0)).map_err(io_err(&self.tomb_path))?;
        self.data = BufWriter::with_capacity(WRITE_BUFFER, data);
        self.tomb = BufWriter::with_capacity(WRITE_BUFFER, tomb);
        self.generation = generation;
        self.tomb_entries = 0;
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
        self.check_writable()?;
        if self.ids.len() + 1 > MAX_SLOTS {
            return Err(full(&self.data_path));
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
        self.check_writable()?;
        let mut entry = [0u8; TOMB_ENTRY as usize];
        entry[..8].copy_from_slice(&id.to_le_bytes());
        entry[8..].copy_from_slice(&u64::from(slot).to_le_bytes());
        if let Err(e) = self.tomb.write_all(&entry) {
            self.broken = true;
            return Err(IndexError::Io { path: self.tomb_path.clone(), source: e });
        }
        self.tomb_entries += 1;
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
        self.check_writable()?;
        let synced = (|| {
            self.data.flush().map_err(io_err(&self.data_path))?;
            self.data.get_ref().sync_data().map_err(io_err(&self.data_path))?;
            self.tomb.flush().map_err(io_err(&self.tomb_path))?;
            self.tomb.get_ref().sync_data().map_err(io_err(&self.tomb_path))
        })();
        if let Err(e) = synced {
            self.broken = true;
            return Err(e);
        }
        if !self.replayable || self.graph.slots() - self.graph_saved >= self.opts.checkpoint_every.max(1) {
            self.save_graph()?;
        }
        Ok(())
    }

    fn compact(&mut self) -> Result<()> {
        self.check_writable()?;
        let r = self.compact_files();
        if r.is_err() {
            self.broken = true;
        }
        r
    }
}
