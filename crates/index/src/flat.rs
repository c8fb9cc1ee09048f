//! The exact, persistent flat index.
//!
//! # Files (in the index directory)
//! - `vectors.dat`: a 24-byte header (`b"GBRTVEC\0"`, format version `u32` LE = 1, dimension
//!   `u32` LE, generation `u64` LE) followed by fixed-size records
//!   `[id u64 LE][collection u32 LE][scale f32 LE][dim × i8]`, appended in insertion order.
//!   A record's position (its *slot*) is its index after the header.
//! - `tombstones.log`: a 24-byte header (`b"GBRTDEL\0"`, version `u32` LE = 1, reserved `u32`,
//!   generation `u64` LE) followed by 16-byte entries `[id u64 LE][slot u64 LE]`, appended on
//!   each removal. An entry kills the record at `slot` only if that record carries `id`, so an
//!   id removed and inserted again is never confused with its old record.
//! - `index.lock`: empty; held with an exclusive lock while the index is open.
//!
//! The generation changes at each compaction; a tombstone log whose generation differs from
//! the data file's (a crash between the two renames of a compaction) is stale and discarded.
//! A torn record or tombstone at the end of a file (a crash during an append) is cut off at
//! open; any other damage is [`Error::Corrupt`].
//!
//! # Erasure
//! [`VectorIndex::remove`] zeroes the template in memory at once and appends a tombstone; the
//! record stays in `vectors.dat` until [`VectorIndex::compact`], which first overwrites the
//! removed records' scale and codes in place (so file systems that overwrite in place do not
//! keep them in freed blocks), then writes the live records to a new file and renames it over
//! the old one, and resets the tombstone log.

use std::collections::HashMap;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::quant::{QueryKernel, quantize_into, score, to_offset};
use crate::select::{CollectionFilter, Ranked, TopK};
use crate::{Error, Hit, RecordCipher, Result, VectorIndex, validate_vector};

/// Largest supported dimension (keeps every integer dot product far from `i32` overflow).
pub const MAX_DIM: usize = 65_536;

/// Above this many stored vectors, a search is split over the search threads.
pub const PARALLEL_MIN_VECTORS: usize = 20_000;

const DATA_FILE: &str = "vectors.dat";
const TOMB_FILE: &str = "tombstones.log";
const LOCK_FILE: &str = "index.lock";
const DATA_TMP: &str = "vectors.dat.tmp";
const TOMB_TMP: &str = "tombstones.log.tmp";
const DATA_MAGIC: [u8; 8] = *b"GBRTVEC\0";
const TOMB_MAGIC: [u8; 8] = *b"GBRTDEL\0";
const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: u64 = 24;
const RECORD_PREFIX: usize = 16;
/// Bit of the data header's dimension word saying that records are sealed.
const SEALED_FLAG: u32 = 1 << 31;
const TOMB_ENTRY: u64 = 16;
const WRITE_BUFFER: usize = 1 << 20;
const READ_CHUNK: usize = 8 << 20;

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
    dir: PathBuf,
    data_path: PathBuf,
    tomb_path: PathBuf,
    dim: usize,
    generation: u64,
    /// `slots × dim` codes in offset form (`code + 128`, see [`to_offset`]), contiguous.
    codes: Vec<u8>,
    ids: Vec<u64>,
    collections: Vec<u32>,
    scales: Vec<f32>,
    live: Vec<bool>,
    slot_of: HashMap<u64, usize>,
    dead: usize,
    tomb_entries: u64,
    data: BufWriter<fs_err::File>,
    tomb: BufWriter<fs_err::File>,
    /// Keeps the directory lock for the index's lifetime.
    _lock: fs_err::File,
    record: Vec<u8>,
    scratch: Vec<i8>,
    threads: usize,
    /// Seals each record's scale and codes at rest (None: plaintext records).
    cipher: Option<Arc<dyn RecordCipher>>,
    /// Bytes of one record on disk.
    record_len: usize,
    /// Set when a write failed half-way: the files may end with a torn record, which only a
    /// reopen repairs.
    broken: bool,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::Corrupt { path: path.to_path_buf(), reason: reason.into() }
}

fn sync_dir(dir: &Path) -> Result<()> {
    let d = fs_err::File::open(dir).map_err(io_err(dir))?;
    d.sync_all().map_err(io_err(dir))
}

fn header(magic: [u8; 8], word: u32, generation: u64) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&magic);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&word.to_le_bytes());
    h[16..24].copy_from_slice(&generation.to_le_bytes());
    h
}

/// Parses a header: returns (word, generation).
fn parse_header(path: &Path, h: &[u8; HEADER_LEN as usize], magic: [u8; 8]) -> Result<(u32, u64)> {
    if h[..8] != magic {
        return Err(corrupt(path, "not a Gabarit flat index file (bad magic)"));
    }
    let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
    if version != FORMAT_VERSION {
        return Err(corrupt(path, format!("format version {version}, this build reads {FORMAT_VERSION}")));
    }
    let word = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
    let generation = u64::from_le_bytes([h[16], h[17], h[18], h[19], h[20], h[21], h[22], h[23]]);
    Ok((word, generation))
}

fn open_rw(path: &Path) -> Result<fs_err::File> {
    crate::private::options().read(true).write(true).create(true).truncate(false).open(path).map_err(io_err(path))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// Where a scan puts the vectors it scores.
trait Sink: Send {
    fn offer(&mut self, score: f32, id: u64, slot: usize);
    fn into_cands(self) -> Vec<Ranked>;
}

impl Sink for TopK {
    #[inline]
    fn offer(&mut self, score: f32, id: u64, slot: usize) {
        TopK::offer(self, score, id, slot);
    }
    fn into_cands(self) -> Vec<Ranked> {
        self.into_vec()
    }
}

struct AtLeast {
    threshold: f32,
    found: Vec<Ranked>,
}

impl Sink for AtLeast {
    #[inline]
    fn offer(&mut self, score: f32, id: u64, slot: usize) {
        if score >= self.threshold {
            self.found.push(Ranked { score, id, slot });
        }
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
        let dir = dir.as_ref().to_path_buf();
        if dim == 0 || dim > MAX_DIM {
            return Err(Error::UnsupportedDimension { dim, max: MAX_DIM });
        }
        crate::private::create_dir(&dir).map_err(io_err(&dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = open_rw(&lock_path)?;
        lock.try_lock().map_err(|e| Error::Io {
            path: lock_path.clone(),
            source: match e {
                std::fs::TryLockError::Error(e) => e,
                std::fs::TryLockError::WouldBlock => {
                    std::io::Error::new(std::io::ErrorKind::WouldBlock, "index is open elsewhere (directory locked)")
                }
            },
        })?;
        for tmp in [DATA_TMP, TOMB_TMP] {
            let p = dir.join(tmp);
            if p.exists() {
                fs_err::remove_file(&p).map_err(io_err(&p))?;
            }
        }
        let data_path = dir.join(DATA_FILE);
        let tomb_path = dir.join(TOMB_FILE);
        let mut created = false;

        // Data file.
        let mut data = open_rw(&data_path)?;
        let len = data.metadata().map_err(io_err(&data_path))?.len();
        let generation = if len == 0 {
            created = true;
            let dim32 = u32::try_from(dim).map_err(|_| Error::UnsupportedDimension { dim, max: MAX_DIM })?;
            let word = if cipher.is_some() { dim32 | SEALED_FLAG } else { dim32 };
            data.write_all(&header(DATA_MAGIC, word, 0)).map_err(io_err(&data_path))?;
            data.sync_all().map_err(io_err(&data_path))?;
            0
        } else {
            if len < HEADER_LEN {
                return Err(corrupt(&data_path, "shorter than its header"));
            }
            let mut h = [0u8; HEADER_LEN as usize];
            data.read_exact(&mut h).map_err(io_err(&data_path))?;
            let (word, generation) = parse_header(&data_path, &h, DATA_MAGIC)?;
            let sealed = word & SEALED_FLAG != 0;
            if sealed != cipher.is_some() {
                return Err(Error::Encryption {
                    path: data_path,
                    reason: if sealed {
                        "the records are encrypted: open the index with its data key".into()
                    } else {
                        "the records are not encrypted, but a data key was given".into()
                    },
                });
            }
            let found = word & !SEALED_FLAG;
            if found as usize != dim {
                return Err(Error::IndexDimension { path: data_path, expected: dim, found: found as usize });
            }
            generation
        };
        let overhead = cipher.as_ref().map_or(0, |c| c.overhead());
        let record_len = (RECORD_PREFIX + dim + overhead) as u64;
        let len = len.max(HEADER_LEN);
        let slots = (len - HEADER_LEN) / record_len;
        let intact = HEADER_LEN + slots * record_len;
        if intact != len {
            // A torn record from a crash during an append.
            data.set_len(intact).map_err(io_err(&data_path))?;
            data.sync_all().map_err(io_err(&data_path))?;
        }
        let slots = usize::try_from(slots).map_err(|_| corrupt(&data_path, "too many records"))?;

        let mut index = FlatIndex {
            dim,
            generation,
            codes: Vec::with_capacity(slots * dim),
            ids: Vec::with_capacity(slots),
            collections: Vec::with_capacity(slots),
            scales: Vec::with_capacity(slots),
            live: Vec::with_capacity(slots),
            slot_of: HashMap::with_capacity(slots),
            dead: 0,
            tomb_entries: 0,
            data: BufWriter::with_capacity(WRITE_BUFFER, open_rw(&data_path)?),
            tomb: BufWriter::with_capacity(WRITE_BUFFER, open_rw(&tomb_path)?),
            _lock: lock,
            record: Vec::with_capacity(record_len as usize),
            scratch: vec![0; dim],
            threads: 0,
            cipher,
            record_len: record_len as usize,
            broken: false,
            dir,
            data_path,
            tomb_path,
        };
        index.load_records(&mut data, slots)?;
        drop(data);
        created |= index.load_tombstones()?;
        let end = index.data.get_mut().seek(SeekFrom::End(0)).map_err(io_err(&index.data_path))?;
        debug_assert_eq!(end, intact);
        if created {
            sync_dir(&index.dir)?;
        }
        Ok(index)
    }

    fn load_records(&mut self, file: &mut fs_err::File, slots: usize) -> Result<()> {
        let record_len = self.record_len;
        file.seek(SeekFrom::Start(HEADER_LEN)).map_err(io_err(&self.data_path))?;
        let per_chunk = (READ_CHUNK / record_len).max(1);
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
                        let payload = c.open(&sealed[12..], &id.to_le_bytes()).map_err(|reason| Error::Encryption {
                            path: self.data_path.clone(),
                            reason: format!("record {slot}: {reason}"),
                        })?;
                        opened = [&sealed[..12], &payload[..]].concat();
                        &opened
                    }
                };
                let collection = u32_at(rec, 8);
                let scale = f32::from_bits(u32_at(rec, 12));
                if !scale.is_finite() || scale < 0.0 {
                    return Err(corrupt(&self.data_path, format!("record {slot} has an invalid scale {scale}")));
                }
                if let Some(old) = self.slot_of.insert(id, slot) {
                    // A later record for a live id means the tombstone of the earlier one was
                    // lost in a crash (insert refuses live ids): the later record wins.
                    self.kill(old);
                }
                self.ids.push(id);
                self.collections.push(collection);
                self.scales.push(scale);
                self.live.push(true);
                self.codes.extend(rec[RECORD_PREFIX..].iter().map(|&b| b ^ 0x80));
                slot += 1;
            }
        }
        Ok(())
    }

    /// Reads the tombstone log; returns whether it was (re)created.
    fn load_tombstones(&mut self) -> Result<bool> {
        let path = self.tomb_path.clone();
        let file = self.tomb.get_mut();
        let len = file.metadata().map_err(io_err(&path))?.len();
        // Shorter than a header: created (or reset) by a run that crashed before the header
        // was written, so it held no entry yet.
        let mut reset = len < HEADER_LEN;
        if !reset {
            let mut h = [0u8; HEADER_LEN as usize];
            file.read_exact(&mut h).map_err(io_err(&path))?;
            let (_, generation) = parse_header(&path, &h, TOMB_MAGIC)?;
            // A log from another generation predates the last compaction: its entries are
            // already applied to the data file.
            reset = generation != self.generation;
        }
        if reset {
            file.set_len(0).map_err(io_err(&path))?;
            file.seek(SeekFrom::Start(0)).map_err(io_err(&path))?;
            file.write_all(&header(TOMB_MAGIC, 0, self.generation)).map_err(io_err(&path))?;
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
            // Entries that match no record (lost appends before a crash) are ignored.
            if let Ok(slot) = usize::try_from(slot)
                && self.slot_of.get(&id) == Some(&slot)
            {
                self.slot_of.remove(&id);
                self.kill(slot);
            }
        }
        self.tomb_entries = entries;
        Ok(false)
    }

    /// Marks a slot dead and zeroes its template in memory (the id map is the caller's).
    fn kill(&mut self, slot: usize) {
        if self.live[slot] {
            self.live[slot] = false;
            self.dead += 1;
            self.scales[slot] = 0.0;
            self.codes[slot * self.dim..(slot + 1) * self.dim].fill(to_offset(0));
        }
    }

    /// The directory holding the index.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u64) -> bool {
        self.slot_of.contains_key(&id)
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
        self.codes.reserve(additional * self.dim);
        self.ids.reserve(additional);
        self.collections.reserve(additional);
        self.scales.reserve(additional);
        self.live.reserve(additional);
        self.slot_of.reserve(additional);
    }

    /// Sizes on disk and in memory.
    pub fn stats(&self) -> FlatStats {
        let live = self.slot_of.len();
        let record_bytes = self.record_len;
        let disk_bytes =
            HEADER_LEN + self.ids.len() as u64 * record_bytes as u64 + HEADER_LEN + self.tomb_entries * TOMB_ENTRY;
        let memory_bytes = self.codes.capacity()
            + self.ids.capacity() * size_of::<u64>()
            + self.collections.capacity() * size_of::<u32>()
            + self.scales.capacity() * size_of::<f32>()
            + self.live.capacity()
            // hashbrown: one control byte per bucket; capacity() is 7/8 of the buckets.
            + self.slot_of.capacity() * 8 / 7 * (size_of::<(u64, usize)>() + 1)
            + self.data.capacity()
            + self.tomb.capacity()
            + self.record.capacity()
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

    fn check_writable(&self) -> Result<()> {
        if self.broken {
            return Err(Error::Io {
                path: self.data_path.clone(),
                source: std::io::Error::other("a previous write failed; reopen the index to repair it"),
            });
        }
        Ok(())
    }

    fn prepare_query(&self, query: &[f32]) -> Result<QueryKernel> {
        validate_vector(query, self.dim)?;
        let mut codes = vec![0i8; self.dim];
        let scale = quantize_into(query, &mut codes);
        Ok(QueryKernel::new(&codes, scale))
    }

    /// Scores the live, accepted slots of `start..end` into `sink`.
    fn scan<S: Sink>(&self, q: &QueryKernel, filter: &CollectionFilter, start: usize, end: usize, sink: &mut S) {
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
        let slots = self.ids.len();
        let threads = self.search_threads();
        let mut cands = if threads <= 1 {
            let mut sink = make();
            self.scan(q, filter, 0, slots, &mut sink);
            sink.into_cands()
        } else {
            let per = slots.div_ceil(threads);
            std::thread::scope(|s| {
                let handles: Vec<_> = (1..threads)
                    .map(|t| {
                        let make = &make;
                        s.spawn(move || {
                            let mut sink = make();
                            self.scan(q, filter, (t * per).min(slots), ((t + 1) * per).min(slots), &mut sink);
                            sink.into_cands()
                        })
                    })
                    .collect();
                let mut sink = make();
                self.scan(q, filter, 0, per.min(slots), &mut sink);
                let mut all = sink.into_cands();
                for h in handles {
                    all.extend(h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
                }
                all
            })
        };
        cands.sort_unstable();
        cands
    }

    fn hits(&self, cands: &[Ranked]) -> Vec<Hit> {
        cands.iter().map(|c| Hit { id: c.id, collection: self.collections[c.slot], score: c.score }).collect()
    }

    /// Overwrites the scale and codes of every dead record in the current data file with zeros
    /// (ids and collections stay, so tombstones still match), then syncs it.
    fn scrub_dead_records(&mut self) -> Result<()> {
        let record_len = self.record_len as u64;
        let zeros = vec![0u8; self.record_len - 12];
        let path = self.data_path.clone();
        self.data.flush().map_err(io_err(&path))?;
        let file = self.data.get_mut();
        for slot in (0..self.live.len()).filter(|&s| !self.live[s]) {
            file.seek(SeekFrom::Start(HEADER_LEN + slot as u64 * record_len + 12)).map_err(io_err(&path))?;
            file.write_all(&zeros).map_err(io_err(&path))?;
        }
        file.seek(SeekFrom::End(0)).map_err(io_err(&path))?;
        file.sync_data().map_err(io_err(&path))
    }

    fn compact_files(&mut self) -> Result<()> {
        self.flush()?;
        if self.dead == 0 && self.tomb_entries == 0 {
            return Ok(());
        }
        self.scrub_dead_records()?;
        let generation = self.generation + 1;
        let dim32 = u32::try_from(self.dim).map_err(|_| Error::UnsupportedDimension { dim: self.dim, max: MAX_DIM })?;

        // New data file with the live records only.
        let data_tmp = self.dir.join(DATA_TMP);
        let file = crate::private::create(&data_tmp).map_err(io_err(&data_tmp))?;
        let mut w = BufWriter::with_capacity(WRITE_BUFFER, file);
        let word = if self.cipher.is_some() { dim32 | SEALED_FLAG } else { dim32 };
        w.write_all(&header(DATA_MAGIC, word, generation)).map_err(io_err(&data_tmp))?;
        for slot in 0..self.ids.len() {
            if !self.live[slot] {
                continue;
            }
            self.fill_record(slot)?;
            w.write_all(&self.record).map_err(io_err(&data_tmp))?;
        }
        let file = w.into_inner().map_err(|e| Error::Io { path: data_tmp.clone(), source: e.into_error() })?;
        file.sync_all().map_err(io_err(&data_tmp))?;
        drop(file);

        // New, empty tombstone log of the same generation.
        let tomb_tmp = self.dir.join(TOMB_TMP);
        let mut file = crate::private::create(&tomb_tmp).map_err(io_err(&tomb_tmp))?;
        file.write_all(&header(TOMB_MAGIC, 0, generation)).map_err(io_err(&tomb_tmp))?;
        file.sync_all().map_err(io_err(&tomb_tmp))?;
        drop(file);

        // Data first: a crash between the renames leaves a stale log, discarded at open.
        fs_err::rename(&data_tmp, &self.data_path).map_err(io_err(&self.data_path))?;
        sync_dir(&self.dir)?;
        fs_err::rename(&tomb_tmp, &self.tomb_path).map_err(io_err(&self.tomb_path))?;
        sync_dir(&self.dir)?;

        let mut data = open_rw(&self.data_path)?;
        data.seek(SeekFrom::End(0)).map_err(io_err(&self.data_path))?;
        let mut tomb = open_rw(&self.tomb_path)?;
        tomb.seek(SeekFrom::End(0)).map_err(io_err(&self.tomb_path))?;
        // The old handles point at unlinked files with nothing buffered.
        self.data = BufWriter::with_capacity(WRITE_BUFFER, data);
        self.tomb = BufWriter::with_capacity(WRITE_BUFFER, tomb);
        self.generation = generation;
        self.tomb_entries = 0;
        self.compact_memory();
        Ok(())
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
                self.codes.copy_within(slot * dim..(slot + 1) * dim, next * dim);
                self.ids[next] = self.ids[slot];
                self.collections[next] = self.collections[slot];
                self.scales[next] = self.scales[slot];
                self.slot_of.insert(self.ids[slot], next);
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
    }

    /// Serialises slot `slot` into `self.record` (sealing scale and codes when encrypted).
    fn fill_record(&mut self, slot: usize) -> Result<()> {
        self.record.clear();
        self.record.extend_from_slice(&self.ids[slot].to_le_bytes());
        self.record.extend_from_slice(&self.collections[slot].to_le_bytes());
        self.record.extend_from_slice(&self.scales[slot].to_le_bytes());
        self.record.extend(self.codes[slot * self.dim..(slot + 1) * self.dim].iter().map(|&u| u ^ 0x80));
        if let Some(c) = &self.cipher {
            let sealed = c
                .seal(&self.record[12..], &self.ids[slot].to_le_bytes())
                .map_err(|reason| Error::Encryption { path: self.data_path.clone(), reason })?;
            self.record.truncate(12);
            self.record.extend_from_slice(&sealed);
        }
        debug_assert_eq!(self.record.len(), self.record_len);
        Ok(())
    }
}

impl VectorIndex for FlatIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.slot_of.len()
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
        if self.slot_of.contains_key(&id) {
            return Err(Error::DuplicateId { id });
        }
        self.check_writable()?;
        let slot = self.ids.len();
        let start = slot * self.dim;
        let scale = quantize_into(vector, &mut self.scratch);
        self.codes.extend(self.scratch.iter().map(|&c| to_offset(c)));
        self.ids.push(id);
        self.collections.push(collection);
        self.scales.push(scale);
        self.live.push(true);
        let written =
            self.fill_record(slot).and_then(|()| self.data.write_all(&self.record).map_err(io_err(&self.data_path)));
        if let Err(e) = written {
            self.broken = true;
            self.codes.truncate(start);
            self.ids.pop();
            self.collections.pop();
            self.scales.pop();
            self.live.pop();
            return Err(e);
        }
        self.slot_of.insert(id, slot);
        Ok(())
    }

    fn remove(&mut self, id: u64) -> Result<bool> {
        let Some(&slot) = self.slot_of.get(&id) else {
            return Ok(false);
        };
        self.check_writable()?;
        // The record must reach the file before its tombstone can.
        if let Err(e) = self.data.flush() {
            self.broken = true;
            return Err(io_err(&self.data_path)(e));
        }
        let mut entry = [0u8; TOMB_ENTRY as usize];
        entry[..8].copy_from_slice(&id.to_le_bytes());
        entry[8..].copy_from_slice(&(slot as u64).to_le_bytes());
        if let Err(e) = self.tomb.write_all(&entry) {
            self.broken = true;
            return Err(io_err(&self.tomb_path)(e));
        }
        self.tomb_entries += 1;
        self.slot_of.remove(&id);
        self.kill(slot);
        Ok(true)
    }

    fn search(&self, query: &[f32], k: usize, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        let q = self.prepare_query(query)?;
        let filter = CollectionFilter::new(collections);
        if k == 0 || filter.accepts_nothing() || self.slot_of.is_empty() {
            return Ok(Vec::new());
        }
        let k = k.min(self.slot_of.len());
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

    fn flush(&mut self) -> Result<()> {
        self.check_writable()?;
        let result = (|| {
            self.data.flush().map_err(io_err(&self.data_path))?;
            self.data.get_ref().sync_data().map_err(io_err(&self.data_path))?;
            self.tomb.flush().map_err(io_err(&self.tomb_path))?;
            self.tomb.get_ref().sync_data().map_err(io_err(&self.tomb_path))?;
            sync_dir(&self.dir)
        })();
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    fn compact(&mut self) -> Result<()> {
        self.check_writable()?;
        let result = self.compact_files();
        if result.is_err() {
            self.broken = true;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{approx_cosine, quantize};
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
