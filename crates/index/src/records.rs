//! The files every index kind keeps its templates in, written once here: the record file, the
//! tombstone log, their headers, the directory lock, and compaction's rewrite.
//!
//! - `vectors.dat`: a 24-byte header (`b"GBRTVEC\0"`, format version `u32` LE = 1, dimension
//!   `u32` LE with bit 31 set when records are sealed, generation `u64` LE) followed by
//!   fixed-size records `[id u64 LE][collection u32 LE][scale f32 LE][dim × i8]`, appended in
//!   insertion order (scale and codes sealed with the id as associated data when a
//!   [`RecordCipher`] is given). A record's position (its *slot*) is its index after the header.
//! - `tombstones.log`: a 24-byte header (`b"GBRTDEL\0"`, version `u32` LE = 1, reserved `u32`,
//!   generation `u64` LE) followed by 16-byte entries `[id u64 LE][slot u64 LE]`, appended on
//!   each removal. An entry kills the record at `slot` only if that record carries `id`, so an
//!   id removed and inserted again is never confused with its old record.
//! - `index.lock`: empty; held with an exclusive lock while the index is open.
//!
//! The generation changes at each compaction; a tombstone log whose generation differs from
//! the data file's (a crash between the renames of a compaction) is stale and discarded. A
//! torn record or tombstone at the end of a file (a crash during an append) is cut off at
//! open; any other damage is [`Error::Corrupt`]. A write that fails half-way marks the files
//! broken: every later write is refused until the index is opened again (which repairs).
//!
//! An index kind keeps its own structures in memory (the flat index's codes, the graph) and
//! hands this module the records to write; at open it receives each record and each live
//! tombstone through callbacks.

use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Error, RecordCipher, Result};

/// Largest supported dimension (keeps every integer dot product far from `i32` overflow).
pub const MAX_DIM: usize = 65_536;

/// The record file.
pub const DATA_FILE: &str = "vectors.dat";
/// The tombstone log.
pub const TOMB_FILE: &str = "tombstones.log";
/// The lock file.
pub const LOCK_FILE: &str = "index.lock";
const DATA_TMP: &str = "vectors.dat.tmp";
const TOMB_TMP: &str = "tombstones.log.tmp";
const DATA_MAGIC: [u8; 8] = *b"GBRTVEC\0";
const TOMB_MAGIC: [u8; 8] = *b"GBRTDEL\0";
const FORMAT_VERSION: u32 = 1;
/// Bytes of each file's header.
pub const HEADER_LEN: u64 = 24;
/// `[id u64][collection u32]`: the part of a record never sealed.
const RECORD_PREFIX: usize = 12;
/// Bit of the data header's dimension word saying that records are sealed.
const SEALED_FLAG: u32 = 1 << 31;
const TOMB_ENTRY: u64 = 16;
const WRITE_BUFFER: usize = 1 << 20;
const READ_CHUNK: usize = 8 << 20;

/// One stored template as an index kind holds it: its codes in offset form (`code + 128`,
/// see [`crate::quant::to_offset`]).
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// Id.
    pub id: u64,
    /// Collection.
    pub collection: u32,
    /// Quantisation scale.
    pub scale: f32,
    /// `dim` codes in offset form.
    pub codes: &'a [u8],
}

/// What an index kind does with its files' content at open: [`RecordFiles::open`] calls
/// `reserve` with the number of records, `record` for each in slot order, then `tombstone`
/// for each entry of the current log (the kind checks that the record at `slot` still
/// carries `id`: entries of lost appends match nothing).
pub trait Loader {
    /// The record file holds `slots` records (live or not).
    fn reserve(&mut self, slots: usize);
    /// The record at `slot`.
    fn record(&mut self, slot: usize, record: Record<'_>) -> Result<()>;
    /// A removal: the record of `id` at `slot`.
    fn tombstone(&mut self, id: u64, slot: usize);
}

/// An error naming `path`, from an I/O error.
pub fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.to_path_buf(), source }
}

/// A damaged file.
pub fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::Corrupt { path: path.to_path_buf(), reason: reason.into() }
}

/// Syncs a directory (its entries: files created or renamed in it).
pub fn sync_dir(dir: &Path) -> Result<()> {
    let d = fs_err::File::open(dir).map_err(io_err(dir))?;
    d.sync_all().map_err(io_err(dir))
}

/// Opens `path` for reading and writing, creating it private (0600) if needed.
pub fn open_rw(path: &Path) -> Result<fs_err::File> {
    crate::private::options().read(true).write(true).create(true).truncate(false).open(path).map_err(io_err(path))
}

/// The little-endian `u64` at `at`.
pub fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// The little-endian `u32` at `at`.
pub fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn header(magic: [u8; 8], word: u32, generation: u64) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&magic);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&word.to_le_bytes());
    h[16..24].copy_from_slice(&generation.to_le_bytes());
    h
}

/// Parses a data or tombstone header: returns (word, generation).
fn parse_header(path: &Path, h: &[u8], magic: [u8; 8]) -> Result<(u32, u64)> {
    if h[..8] != magic {
        return Err(corrupt(path, "not a Gabarit index file (bad magic)"));
    }
    let version = u32_at(h, 8);
    if version != FORMAT_VERSION {
        return Err(corrupt(path, format!("format version {version}, this build reads {FORMAT_VERSION}")));
    }
    Ok((u32_at(h, 12), u64_at(h, 16)))
}

/// The record file and tombstone log of one open index directory (locked while open).
///
/// Dropping it writes buffered appends to the operating system but does not sync them; call
/// [`RecordFiles::flush`] for durability.
#[derive(Debug)]
pub struct RecordFiles {
    dir: PathBuf,
    data_path: PathBuf,
    tomb_path: PathBuf,
    dim: usize,
    generation: u64,
    data: BufWriter<fs_err::File>,
    tomb: BufWriter<fs_err::File>,
    tomb_entries: u64,
    /// Keeps the directory lock for the files' lifetime.
    _lock: fs_err::File,
    cipher: Option<Arc<dyn RecordCipher>>,
    /// Bytes of one record on disk.
    record_len: usize,
    record: Vec<u8>,
    /// Records in the data file, written out or still in the write buffer.
    slots: usize,
    /// Set when a write failed half-way: the files may end with a torn record, which only a
    /// reopen repairs.
    broken: bool,
    /// Set while [`RecordFiles::write_aside`] writes the new record file (one at a time).
    aside_busy: std::sync::atomic::AtomicBool,
}

/// A compaction's new record file, written aside while the index could still be read
/// ([`RecordFiles::write_aside`]), put in place by [`RecordFiles::install`] if the files did
/// not change meanwhile.
#[derive(Debug)]
pub struct Aside {
    /// The files' generation, records and removals when it was written.
    then: (u64, usize, u64),
    /// Records it holds.
    slots: usize,
}

/// What [`RecordFiles::open`] found besides the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// Records in the data file (live or not).
    pub slots: usize,
    /// Whether the data file was created now (the directory held no index).
    pub created: bool,
}

impl RecordFiles {
    /// Opens the files in `dir`, creating the directory and empty files if needed, and
    /// removing the temporary files a compaction may have left (`temporary`: the index kind's
    /// own, besides the record file's and the log's).
    ///
    /// Hands the records and the current log's entries to `loader` (at most `max_slots`
    /// records). Fails with [`Error::IndexDimension`] if the stored
    /// index has another dimension, [`Error::Encryption`] if its records are sealed and no
    /// cipher is given (or the reverse, or a record does not open), [`Error::Corrupt`] if a file
    /// is damaged otherwise, and [`Error::Io`] if another open index holds the directory.
    pub fn open(
        dir: &Path,
        dim: usize,
        cipher: Option<Arc<dyn RecordCipher>>,
        temporary: &[&str],
        max_slots: usize,
        loader: &mut impl Loader,
    ) -> Result<(RecordFiles, Opened)> {
        let dim32 = u32::try_from(dim).ok().filter(|&d| d > 0 && dim <= MAX_DIM);
        let Some(dim32) = dim32 else { return Err(Error::UnsupportedDimension { dim, max: MAX_DIM }) };
        crate::private::create_dir(dir).map_err(io_err(dir))?;
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
        for tmp in [DATA_TMP, TOMB_TMP].iter().chain(temporary) {
            let p = dir.join(tmp);
            if p.exists() {
                fs_err::remove_file(&p).map_err(io_err(&p))?;
            }
        }
        let data_path = dir.join(DATA_FILE);
        let tomb_path = dir.join(TOMB_FILE);

        let mut data = open_rw(&data_path)?;
        let len = data.metadata().map_err(io_err(&data_path))?.len();
        let created = len == 0;
        let generation = if created {
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
            let found = (word & !SEALED_FLAG) as usize;
            if found != dim {
                return Err(Error::IndexDimension { path: data_path, expected: dim, found });
            }
            generation
        };
        let overhead = cipher.as_ref().map_or(0, |c| c.overhead());
        let record_len = RECORD_PREFIX + 4 + dim + overhead;
        let len = len.max(HEADER_LEN);
        let slots = (len - HEADER_LEN) / record_len as u64;
        let intact = HEADER_LEN + slots * record_len as u64;
        if intact != len {
            // A torn record from a crash during an append.
            data.set_len(intact).map_err(io_err(&data_path))?;
            data.sync_all().map_err(io_err(&data_path))?;
        }
        let slots = usize::try_from(slots).map_err(|_| corrupt(&data_path, "too many records"))?;
        if slots > max_slots {
            return Err(corrupt(&data_path, format!("more records than an index can hold ({max_slots})")));
        }
        let mut files = RecordFiles {
            dir: dir.to_path_buf(),
            dim,
            generation,
            data: BufWriter::with_capacity(WRITE_BUFFER, open_rw(&data_path)?),
            tomb: BufWriter::with_capacity(WRITE_BUFFER, open_rw(&tomb_path)?),
            tomb_entries: 0,
            _lock: lock,
            cipher,
            record_len,
            record: Vec::with_capacity(record_len),
            slots,
            broken: false,
            aside_busy: std::sync::atomic::AtomicBool::new(false),
            data_path,
            tomb_path,
        };
        loader.reserve(slots);
        files.read_records(&mut data, slots, loader)?;
        drop(data);
        let log_created = files.read_tombstones(loader)?;
        let end = files.data.get_mut().seek(SeekFrom::End(0)).map_err(io_err(&files.data_path))?;
        debug_assert_eq!(end, intact);
        if created || log_created {
            sync_dir(&files.dir)?;
        }
        Ok((files, Opened { slots, created }))
    }

    fn read_records(&mut self, file: &mut fs_err::File, slots: usize, loader: &mut impl Loader) -> Result<()> {
        let record_len = self.record_len;
        file.seek(SeekFrom::Start(HEADER_LEN)).map_err(io_err(&self.data_path))?;
        let per_chunk = (READ_CHUNK / record_len).max(1);
        let mut buf = vec![0u8; per_chunk.min(slots.max(1)) * record_len];
        let mut codes = vec![0u8; self.dim];
        let mut slot = 0;
        while slot < slots {
            let n = per_chunk.min(slots - slot);
            let chunk = &mut buf[..n * record_len];
            file.read_exact(chunk).map_err(io_err(&self.data_path))?;
            for sealed in chunk.chunks_exact(record_len) {
                let (id, collection, scale) = self.decode(slot, sealed, &mut codes)?;
                loader.record(slot, Record { id, collection, scale, codes: &codes })?;
                slot += 1;
            }
        }
        Ok(())
    }

    /// Opens the record at `slot` (`sealed`: its bytes as stored) into its id, collection and
    /// scale, and its codes in offset form into `codes`.
    fn decode(&self, slot: usize, sealed: &[u8], codes: &mut [u8]) -> Result<(u64, u32, f32)> {
        let id = u64_at(sealed, 0);
        // The scale and the codes, after the id and the collection (kept in clear).
        let mut opened = Vec::new();
        let payload: &[u8] = match &self.cipher {
            None => &sealed[RECORD_PREFIX..],
            Some(c) => {
                opened.resize((sealed.len() - RECORD_PREFIX).saturating_sub(c.overhead()), 0);
                c.open_into(&sealed[RECORD_PREFIX..], &id.to_le_bytes(), &mut opened).map_err(|reason| {
                    Error::Encryption { path: self.data_path.clone(), reason: format!("record {slot}: {reason}") }
                })?;
                &opened
            }
        };
        if payload.len() != 4 + self.dim || codes.len() != self.dim {
            return Err(corrupt(&self.data_path, format!("record {slot} has a wrong length")));
        }
        let collection = u32_at(sealed, 8);
        let scale = f32::from_bits(u32_at(payload, 0));
        if !scale.is_finite() || scale < 0.0 {
            return Err(corrupt(&self.data_path, format!("record {slot} has an invalid scale {scale}")));
        }
        for (to, &from) in codes.iter_mut().zip(&payload[4..]) {
            *to = from ^ 0x80;
        }
        Ok((id, collection, scale))
    }

    /// Reads back the record at `slot`, which must carry `id`: its codes in offset form into
    /// `codes` (`dim` bytes), its collection and scale returned. From the data file with one
    /// positioned read (no shared cursor: readers may call this at once), or from the write
    /// buffer for a record appended since it was last written out. `raw` is scratch space.
    /// Fails with [`Error::Corrupt`] if the slot holds another id (or none), and as
    /// [`RecordFiles::check_writable`] after a failed write.
    pub fn read(&self, slot: usize, id: u64, codes: &mut [u8], raw: &mut Vec<u8>) -> Result<(u32, f32)> {
        self.check_writable()?;
        self.stored(slot, raw)?;
        let (found, collection, scale) = self.decode(slot, raw, codes)?;
        if found != id {
            return Err(corrupt(&self.data_path, format!("slot {slot} holds another record than id {id}")));
        }
        Ok((collection, scale))
    }

    /// The record at `slot` as stored (sealed, when encrypted) into `raw`: from the data file
    /// with one positioned read, or from the write buffer for a record not yet written out.
    fn stored(&self, slot: usize, raw: &mut Vec<u8>) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let buffered = self.data.buffer();
        if slot >= self.slots || !buffered.len().is_multiple_of(self.record_len) {
            return Err(corrupt(&self.data_path, format!("no record at slot {slot}")));
        }
        let on_disk = self.slots - buffered.len() / self.record_len;
        raw.resize(self.record_len, 0);
        if slot >= on_disk {
            let at = (slot - on_disk) * self.record_len;
            raw.copy_from_slice(&buffered[at..at + self.record_len]);
        } else {
            let at = HEADER_LEN + (slot * self.record_len) as u64;
            self.data.get_ref().file().read_exact_at(raw, at).map_err(io_err(&self.data_path))?;
        }
        Ok(())
    }

    /// Reads the tombstone log; returns whether it was (re)created.
    fn read_tombstones(&mut self, loader: &mut impl Loader) -> Result<bool> {
        let path = self.tomb_path.clone();
        let generation = self.generation;
        let file = self.tomb.get_mut();
        let len = file.metadata().map_err(io_err(&path))?.len();
        // Shorter than a header: created (or reset) by a run that crashed before the header
        // was written, so it held no entry yet.
        let mut reset = len < HEADER_LEN;
        if !reset {
            let mut h = [0u8; HEADER_LEN as usize];
            file.read_exact(&mut h).map_err(io_err(&path))?;
            let (_, found) = parse_header(&path, &h, TOMB_MAGIC)?;
            // A log from another generation predates the last compaction: its entries are
            // already applied to the data file.
            reset = found != generation;
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
            // Entries that match no slot (lost appends before a crash) are ignored.
            if let Ok(slot) = usize::try_from(u64_at(e, 8)) {
                loader.tombstone(u64_at(e, 0), slot);
            }
        }
        self.tomb_entries = entries;
        Ok(false)
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The record file (what errors about the index name).
    pub fn data_path(&self) -> &Path {
        &self.data_path
    }

    /// The generation (changes at each compaction).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Entries in the tombstone log (removals since the last compaction).
    pub fn tombstones(&self) -> u64 {
        self.tomb_entries
    }

    /// Bytes of one record on disk.
    pub fn record_len(&self) -> usize {
        self.record_len
    }

    /// Bytes of the record file and the tombstone log, headers included.
    pub fn disk_bytes(&self, slots: usize) -> u64 {
        2 * HEADER_LEN + (slots * self.record_len) as u64 + self.tomb_entries * TOMB_ENTRY
    }

    /// Heap bytes of the write buffers.
    pub fn buffer_bytes(&self) -> usize {
        self.data.capacity() + self.tomb.capacity() + self.record.capacity()
    }

    /// Refuses writes after a failed one (a reopen repairs the files).
    pub fn check_writable(&self) -> Result<()> {
        if self.broken {
            return Err(Error::Io {
                path: self.data_path.clone(),
                source: std::io::Error::other("a previous write failed; reopen the index to repair it"),
            });
        }
        Ok(())
    }

    /// Serialises `r` into `self.record` (sealed when encrypted).
    fn fill(&mut self, r: Record<'_>) -> Result<()> {
        self.record.clear();
        self.record.extend_from_slice(&r.id.to_le_bytes());
        self.record.extend_from_slice(&r.collection.to_le_bytes());
        self.record.extend_from_slice(&r.scale.to_le_bytes());
        self.record.extend(r.codes.iter().map(|&u| u ^ 0x80));
        if let Some(c) = &self.cipher {
            let sealed = c
                .seal(&self.record[RECORD_PREFIX..], &r.id.to_le_bytes())
                .map_err(|reason| Error::Encryption { path: self.data_path.clone(), reason })?;
            self.record.truncate(RECORD_PREFIX);
            self.record.extend_from_slice(&sealed);
        }
        if self.record.len() != self.record_len {
            return Err(Error::Encryption {
                path: self.data_path.clone(),
                reason: "the cipher's output length differs from its declared overhead".into(),
            });
        }
        Ok(())
    }

    /// Appends a record (buffered). A failure marks the files broken.
    pub fn append(&mut self, r: Record<'_>) -> Result<()> {
        self.check_writable()?;
        debug_assert_eq!(r.codes.len(), self.dim);
        let written = self.fill(r).and_then(|()| self.data.write_all(&self.record).map_err(io_err(&self.data_path)));
        match written {
            Ok(()) => self.slots += 1,
            Err(_) => self.broken = true,
        }
        written
    }

    /// Appends the tombstone of the record of `id` at `slot` (after writing out the buffered
    /// records: a record reaches the file before its tombstone can). A failure marks the files
    /// broken.
    pub fn append_tombstone(&mut self, id: u64, slot: usize) -> Result<()> {
        self.check_writable()?;
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
        Ok(())
    }

    /// Makes every append durable. A failure marks the files broken.
    pub fn flush(&mut self) -> Result<()> {
        self.check_writable()?;
        let synced = (|| {
            self.data.flush().map_err(io_err(&self.data_path))?;
            self.data.get_ref().sync_data().map_err(io_err(&self.data_path))?;
            self.tomb.flush().map_err(io_err(&self.tomb_path))?;
            self.tomb.get_ref().sync_data().map_err(io_err(&self.tomb_path))?;
            sync_dir(&self.dir)
        })();
        if synced.is_err() {
            self.broken = true;
        }
        synced
    }

    /// Compacts the files: overwrites the records of `dead` slots in place with zeros (so file
    /// systems that overwrite in place do not keep them in freed blocks), then writes `live`
    /// (the records to keep, in their new order) to a new record file of the next generation
    /// with an empty tombstone log, and renames both over the old ones (the record file first:
    /// a crash between the renames leaves a stale log, discarded at open). `also(generation)`
    /// writes the index kind's own files of the new generation to temporary paths and returns
    /// (temporary, final) pairs, renamed between the two. A failure marks the files broken.
    pub fn compact<'a>(
        &mut self,
        dead: impl Iterator<Item = usize>,
        live: impl Iterator<Item = Record<'a>>,
        also: impl FnOnce(u64) -> Result<Vec<(PathBuf, PathBuf)>>,
    ) -> Result<()> {
        let write_live = |files: &mut RecordFiles, w: &mut BufWriter<fs_err::File>, path: &Path| {
            let mut written = 0;
            for r in live {
                files.fill(r)?;
                w.write_all(&files.record).map_err(io_err(path))?;
                written += 1;
            }
            Ok(written)
        };
        self.rewrite(dead, write_live, also)
    }

    /// [`RecordFiles::compact`] for an index kind that does not keep the records in memory:
    /// the records of the `live` slots (in their new order) are copied from the current data
    /// file as they are stored (still sealed).
    pub fn compact_from_file(
        &mut self,
        dead: impl Iterator<Item = usize>,
        live: impl Iterator<Item = usize>,
        also: impl FnOnce(u64) -> Result<Vec<(PathBuf, PathBuf)>>,
    ) -> Result<()> {
        let write_live =
            |files: &mut RecordFiles, w: &mut BufWriter<fs_err::File>, path: &Path| files.copy_stored(live, w, path);
        self.rewrite(dead, write_live, also)
    }

    /// Copies the records of the `live` slots, as stored (still sealed), to `w` (the new data
    /// file at `path`); how many.
    fn copy_stored(
        &self,
        live: impl Iterator<Item = usize>,
        w: &mut BufWriter<fs_err::File>,
        path: &Path,
    ) -> Result<usize> {
        let mut raw = Vec::new();
        let mut written = 0;
        for slot in live {
            self.stored(slot, &mut raw)?;
            w.write_all(&raw).map_err(io_err(path))?;
            written += 1;
        }
        Ok(written)
    }

    /// Compaction's steps, `write_live` writing the live records to the new data file and
    /// saying how many. Refused after a failed write; a failure marks the files broken.
    fn rewrite(
        &mut self,
        dead: impl Iterator<Item = usize>,
        write_live: impl FnOnce(&mut RecordFiles, &mut BufWriter<fs_err::File>, &Path) -> Result<usize>,
        also: impl FnOnce(u64) -> Result<Vec<(PathBuf, PathBuf)>>,
    ) -> Result<()> {
        self.check_writable()?;
        let result = self.rewrite_files(dead, write_live, also);
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    fn rewrite_files(
        &mut self,
        dead: impl Iterator<Item = usize>,
        write_live: impl FnOnce(&mut RecordFiles, &mut BufWriter<fs_err::File>, &Path) -> Result<usize>,
        also: impl FnOnce(u64) -> Result<Vec<(PathBuf, PathBuf)>>,
    ) -> Result<()> {
        self.data.flush().map_err(io_err(&self.data_path))?;
        self.tomb.flush().map_err(io_err(&self.tomb_path))?;
        let (mut w, data_tmp) = self.begin_aside()?;
        let slots = write_live(self, &mut w, &data_tmp)?;
        let aside = self.end_aside(w, &data_tmp, slots)?;
        self.install_files(aside, dead, also)
    }

    /// The new record file of the next generation, created at its temporary path with its
    /// header.
    fn begin_aside(&self) -> Result<(BufWriter<fs_err::File>, PathBuf)> {
        let dim32 = u32::try_from(self.dim).map_err(|_| Error::UnsupportedDimension { dim: self.dim, max: MAX_DIM })?;
        let data_tmp = self.dir.join(DATA_TMP);
        let file = crate::private::create(&data_tmp).map_err(io_err(&data_tmp))?;
        let mut w = BufWriter::with_capacity(WRITE_BUFFER, file);
        let word = if self.cipher.is_some() { dim32 | SEALED_FLAG } else { dim32 };
        w.write_all(&header(DATA_MAGIC, word, self.generation + 1)).map_err(io_err(&data_tmp))?;
        Ok((w, data_tmp))
    }

    /// Writes out and syncs the new record file of `slots` records.
    fn end_aside(&self, w: BufWriter<fs_err::File>, data_tmp: &Path, slots: usize) -> Result<Aside> {
        let file = w.into_inner().map_err(|e| Error::Io { path: data_tmp.to_path_buf(), source: e.into_error() })?;
        file.sync_all().map_err(io_err(data_tmp))?;
        Ok(Aside { then: (self.generation, self.slots, self.tomb_entries), slots })
    }

    /// The first half of a compaction that does not stop readers: copies the records of the
    /// `live` slots (in their new order) as they are stored (still sealed) to a new record
    /// file at a temporary path, from shared access — searches go on meanwhile. One at a time:
    /// a second call while one runs fails. Nothing the index uses is changed; on failure the
    /// temporary file is removed.
    pub fn write_aside(&self, live: impl Iterator<Item = usize>) -> Result<Aside> {
        use std::sync::atomic::Ordering;
        self.check_writable()?;
        let data_tmp = self.dir.join(DATA_TMP);
        if self.aside_busy.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(Error::Io {
                path: data_tmp,
                source: std::io::Error::other("another compaction is being prepared in this index"),
            });
        }
        let written = (|| {
            let (mut w, data_tmp) = self.begin_aside()?;
            let slots = self.copy_stored(live, &mut w, &data_tmp)?;
            self.end_aside(w, &data_tmp, slots)
        })();
        if written.is_err() {
            let _ = fs_err::remove_file(&data_tmp);
        }
        self.aside_busy.store(false, Ordering::Release);
        written
    }

    /// The second half: if the files are as they were when `aside` was written, scrubs the
    /// records of the `dead` slots in place and puts the new record file in place with an
    /// empty log, as [`RecordFiles::compact`] does (`also`: the kind's own files), and says
    /// true. If records or removals were added since, or another compaction ran, it changes
    /// nothing, removes the stale file (it may hold records removed since) and says false: the
    /// caller compacts whole. A failure marks the files broken.
    pub fn install(
        &mut self,
        aside: Aside,
        dead: impl Iterator<Item = usize>,
        also: impl FnOnce(u64) -> Result<Vec<(PathBuf, PathBuf)>>,
    ) -> Result<bool> {
        self.check_writable()?;
        if aside.then != (self.generation, self.slots, self.tomb_entries) {
            if !self.aside_busy.load(std::sync::atomic::Ordering::Acquire) {
                let data_tmp = self.dir.join(DATA_TMP);
                if data_tmp.exists() {
                    fs_err::remove_file(&data_tmp).map_err(io_err(&data_tmp))?;
                }
            }
            return Ok(false);
        }
        let installed = (|| {
            self.data.flush().map_err(io_err(&self.data_path))?;
            self.tomb.flush().map_err(io_err(&self.tomb_path))?;
            self.install_files(aside, dead, also)
        })();
        if installed.is_err() {
            self.broken = true;
        }
        installed.map(|()| true)
    }

    /// Scrubs the dead records where they lie, then renames the new record file (written
    /// aside), the kind's own files and a new empty log over the old ones.
    fn install_files(
        &mut self,
        aside: Aside,
        dead: impl Iterator<Item = usize>,
        also: impl FnOnce(u64) -> Result<Vec<(PathBuf, PathBuf)>>,
    ) -> Result<()> {
        // 1. Scrub the dead records where they lie (so file systems that overwrite in place do
        // not keep them in freed blocks).
        {
            let path = self.data_path.clone();
            let zeros = vec![0u8; self.record_len - RECORD_PREFIX];
            let file = self.data.get_mut();
            for slot in dead {
                file.seek(SeekFrom::Start(HEADER_LEN + (slot * self.record_len + RECORD_PREFIX) as u64))
                    .map_err(io_err(&path))?;
                file.write_all(&zeros).map_err(io_err(&path))?;
            }
            file.seek(SeekFrom::End(0)).map_err(io_err(&path))?;
            file.sync_data().map_err(io_err(&path))?;
        }
        // 2. The live records are in the new file of the next generation; the kind's own files.
        let generation = self.generation + 1;
        let data_tmp = self.dir.join(DATA_TMP);
        let own = also(generation)?;
        // 3. A new, empty tombstone log of the same generation.
        let tomb_tmp = self.dir.join(TOMB_TMP);
        let mut file = crate::private::create(&tomb_tmp).map_err(io_err(&tomb_tmp))?;
        file.write_all(&header(TOMB_MAGIC, 0, generation)).map_err(io_err(&tomb_tmp))?;
        file.sync_all().map_err(io_err(&tomb_tmp))?;
        drop(file);
        // 4. Renames: records first, the kind's own files, the log last.
        fs_err::rename(&data_tmp, &self.data_path).map_err(io_err(&self.data_path))?;
        sync_dir(&self.dir)?;
        for (tmp, dest) in own {
            fs_err::rename(&tmp, &dest).map_err(io_err(&dest))?;
            sync_dir(&self.dir)?;
        }
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
        self.slots = aside.slots;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects nothing: the tests read records back by slot.
    struct Nothing;
    impl Loader for Nothing {
        fn reserve(&mut self, _: usize) {}
        fn record(&mut self, _: usize, _: Record<'_>) -> Result<()> {
            Ok(())
        }
        fn tombstone(&mut self, _: u64, _: usize) {}
    }

    fn codes(i: u8) -> Vec<u8> {
        (0..8).map(|j| i.wrapping_mul(31).wrapping_add(j)).collect()
    }

    #[test]
    fn records_are_read_back_by_slot_from_the_buffer_the_file_and_after_a_compaction() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut files, _) = RecordFiles::open(tmp.path(), 8, None, &[], usize::MAX, &mut Nothing).unwrap();
        let append = |files: &mut RecordFiles, i: u8| {
            let c = codes(i);
            files.append(Record {
                id: 100 + u64::from(i),
                collection: u32::from(i % 3),
                scale: f32::from(i),
                codes: &c,
            })
        };
        let check = |files: &RecordFiles, slot: usize, i: u8| {
            let (mut out, mut raw) = (vec![0u8; 8], Vec::new());
            let (collection, scale) = files.read(slot, 100 + u64::from(i), &mut out, &mut raw).unwrap();
            assert_eq!((collection, scale, out), (u32::from(i % 3), f32::from(i), codes(i)), "slot {slot}");
        };
        for i in 0..5 {
            append(&mut files, i).unwrap();
        }
        // Still in the write buffer.
        assert_eq!(fs_err::metadata(tmp.path().join(DATA_FILE)).unwrap().len(), HEADER_LEN);
        (0..5).for_each(|i| check(&files, usize::from(i), i));
        files.flush().unwrap();
        for i in 5..8 {
            append(&mut files, i).unwrap();
        }
        // Five in the file, three in the buffer.
        (0..8).for_each(|i| check(&files, usize::from(i), i));
        let (mut out, mut raw) = (vec![0u8; 8], Vec::new());
        for (slot, id) in [(2, 101), (8, 108), (usize::MAX / 2, 100)] {
            let err = files.read(slot, id, &mut out, &mut raw).unwrap_err();
            assert!(matches!(&err, Error::Corrupt { path, .. } if path.ends_with(DATA_FILE)), "{err:?}");
        }
        // Compacted from the file: slots 1, 3 and 6 gone, the others renumbered in order.
        let kept = [0u8, 2, 4, 5, 7];
        files
            .compact_from_file([1, 3, 6].into_iter(), kept.iter().map(|&i| usize::from(i)), |_| Ok(Vec::new()))
            .unwrap();
        for (slot, &i) in kept.iter().enumerate() {
            check(&files, slot, i);
        }
        assert!(files.read(5, 108, &mut out, &mut raw).is_err());
        append(&mut files, 9).unwrap();
        check(&files, 5, 9);
        let data = fs_err::read(tmp.path().join(DATA_FILE)).unwrap();
        for gone in [1u8, 3, 6] {
            assert!(!data.windows(8).any(|w| w == (100 + u64::from(gone)).to_le_bytes()), "{gone}");
        }
    }

    #[test]
    fn a_record_file_written_aside_is_installed_only_if_nothing_changed_meanwhile() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut files, _) = RecordFiles::open(tmp.path(), 8, None, &[], usize::MAX, &mut Nothing).unwrap();
        let append = |files: &mut RecordFiles, i: u8| {
            let c = codes(i);
            files.append(Record { id: 100 + u64::from(i), collection: 0, scale: 1.0, codes: &c }).unwrap();
        };
        (0..6).for_each(|i| append(&mut files, i));
        files.append_tombstone(101, 1).unwrap();
        let tmp_path = tmp.path().join(DATA_TMP);
        // Changed between the halves: a record appended. Nothing installed, the file aside gone.
        let aside = files.write_aside([0usize, 2, 3, 4, 5].into_iter()).unwrap();
        assert!(tmp_path.is_file());
        append(&mut files, 6);
        assert!(!files.install(aside, [1usize].into_iter(), |_| Ok(Vec::new())).unwrap());
        assert!(!tmp_path.exists(), "a stale file aside is removed");
        assert_eq!((files.generation(), files.tombstones()), (0, 1));
        // A removal between the halves: the same.
        let aside = files.write_aside([0usize, 2, 3, 4, 5, 6].into_iter()).unwrap();
        files.append_tombstone(103, 3).unwrap();
        assert!(!files.install(aside, [1usize].into_iter(), |_| Ok(Vec::new())).unwrap());
        // Unchanged: installed, renumbered, the dead records gone from the file.
        let kept = [0u8, 2, 4, 5, 6];
        let aside = files.write_aside(kept.iter().map(|&i| usize::from(i))).unwrap();
        assert!(files.install(aside, [1usize, 3].into_iter(), |_| Ok(Vec::new())).unwrap());
        assert_eq!((files.generation(), files.tombstones()), (1, 0));
        let (mut out, mut raw) = (vec![0u8; 8], Vec::new());
        for (slot, &i) in kept.iter().enumerate() {
            files.read(slot, 100 + u64::from(i), &mut out, &mut raw).unwrap();
            assert_eq!(out, codes(i));
        }
        let data = fs_err::read(tmp.path().join(DATA_FILE)).unwrap();
        for gone in [1u8, 3] {
            assert!(!data.windows(8).any(|w| w == (100 + u64::from(gone)).to_le_bytes()), "{gone}");
        }
        assert!(!tmp_path.exists());
    }
}
