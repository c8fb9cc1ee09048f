//! File formats of the index directory.
//!
//! `vectors.dat` and `tombstones.log` are written by `gabarit_index::records`, as for the flat
//! index, so a flat index's directory opens as an ANN index (the graph is built at the first
//! open) and the record bytes are the same. `graph.dat` is this crate's:
//!
//! | bytes | content |
//! |---|---|
//! | 56 | header: `b"GBRTHNS\0"`, version `u32` = 2, `m` `u32`, generation `u64` (that of `vectors.dat`), slots `u64`, entry slot `u32` (`u32::MAX`: none), entry level `u32`, construction breadth `u32`, level-0 degree `m0` `u32`, seed `u64` |
//! | slots | level of each slot, `u8` |
//! | slots × m0 × 3 | level-0 neighbours of each slot, 3-byte little-endian slots, padded with `FF FF FF` |
//! | Σ level × m × 4 | upper-level neighbours of each slot above level 0, in slot order, level 1 first |
//! | 4 | CRC-32 of everything before |
//!
//! The graph covers the first `slots` records; records after them are linked again at open
//! (in order, one thread: the same inserts rebuild the same graph). A graph file that is
//! missing, damaged, of another generation or of another version (version 1 had `2m` `u32`
//! level-0 entries) is rebuilt from the records.

use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use gabarit_index::{Error, Result};

use crate::graph::{Entry, Graph, MAX_DEGREE, MAX_LEVEL, MAX_SLOTS, NONE};

pub(crate) use gabarit_index::records::{corrupt, io_err, sync_dir, u32_at, u64_at};

pub(crate) const GRAPH_FILE: &str = "graph.dat";
pub(crate) const GRAPH_TMP: &str = "graph.dat.tmp";
const GRAPH_MAGIC: [u8; 8] = *b"GBRTHNS\0";

/// Version of `graph.dat` (2: level-0 degree `m0` in the header, level-0 lists of 3-byte
/// slots). A graph file of another version is rebuilt from the records.
pub(crate) const GRAPH_VERSION: u32 = 2;

/// End of a level-0 list in `graph.dat`.
const END24: [u8; 3] = [0xFF; 3];
const GRAPH_HEADER_LEN: usize = 56;
pub(crate) const WRITE_BUFFER: usize = 1 << 20;

/// What a graph file says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GraphMeta {
    pub m: usize,
    pub m0: usize,
    pub generation: u64,
    pub slots: usize,
    pub ef_construction: usize,
    pub seed: u64,
}

/// Writes `graph` (all its slots) to `dir/graph.dat` through a temporary file and a rename.
pub(crate) fn write_graph(dir: &Path, graph: &Graph, generation: u64, ef_construction: usize) -> Result<()> {
    let tmp = dir.join(GRAPH_TMP);
    let path = dir.join(GRAPH_FILE);
    write_graph_to(&tmp, graph, generation, ef_construction)?;
    fs_err::rename(&tmp, &path).map_err(io_err(&path))?;
    sync_dir(dir)
}

/// Writes `graph` to `path` and syncs it (no rename).
pub(crate) fn write_graph_to(path: &Path, graph: &Graph, generation: u64, ef_construction: usize) -> Result<()> {
    let file = gabarit_index::private::create(path).map_err(io_err(path))?;
    let mut w = HashingWriter { inner: BufWriter::with_capacity(WRITE_BUFFER, file), crc: crc32fast::Hasher::new() };
    let slots = graph.slots();
    let entry = graph.entry();
    let mut h = [0u8; GRAPH_HEADER_LEN];
    h[..8].copy_from_slice(&GRAPH_MAGIC);
    h[8..12].copy_from_slice(&GRAPH_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(graph.m() as u32).to_le_bytes());
    h[16..24].copy_from_slice(&generation.to_le_bytes());
    h[24..32].copy_from_slice(&(slots as u64).to_le_bytes());
    h[32..36].copy_from_slice(&entry.slot.to_le_bytes());
    h[36..40].copy_from_slice(&u32::from(entry.level).to_le_bytes());
    h[40..44].copy_from_slice(&(ef_construction as u32).to_le_bytes());
    h[44..48].copy_from_slice(&(graph.m0() as u32).to_le_bytes());
    h[48..56].copy_from_slice(&graph.seed().to_le_bytes());
    w.write(path, &h)?;
    let levels: Vec<u8> = (0..slots as u32).map(|s| graph.level(s)).collect();
    w.write(path, &levels)?;
    let mut buf = Vec::with_capacity(1 << 16);
    let mut list = |w: &mut HashingWriter, slot: u32, level: usize, width: usize| -> Result<()> {
        let mut count = 0;
        for nb in graph.neighbours(slot, level) {
            if level == 0 {
                buf.extend_from_slice(&nb.to_le_bytes()[..3]);
            } else {
                buf.extend_from_slice(&nb.to_le_bytes());
            }
            count += 1;
        }
        for _ in count..width {
            if level == 0 {
                buf.extend_from_slice(&END24);
            } else {
                buf.extend_from_slice(&NONE.to_le_bytes());
            }
        }
        if buf.len() >= 1 << 15 {
            w.write(path, &buf)?;
            buf.clear();
        }
        Ok(())
    };
    for slot in 0..slots as u32 {
        list(&mut w, slot, 0, graph.m0())?;
    }
    for slot in 0..slots as u32 {
        for level in 1..=usize::from(graph.level(slot)) {
            list(&mut w, slot, level, graph.m())?;
        }
    }
    w.write(path, &buf)?;
    let crc = w.crc.clone().finalize();
    w.inner.write_all(&crc.to_le_bytes()).map_err(io_err(path))?;
    let file = w.inner.into_inner().map_err(|e| Error::Io { path: path.to_path_buf(), source: e.into_error() })?;
    file.sync_all().map_err(io_err(path))
}

struct HashingWriter {
    inner: BufWriter<fs_err::File>,
    crc: crc32fast::Hasher,
}

impl HashingWriter {
    fn write(&mut self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.crc.update(bytes);
        self.inner.write_all(bytes).map_err(io_err(path))
    }
}

struct HashingReader {
    inner: BufReader<fs_err::File>,
    crc: crc32fast::Hasher,
    path: PathBuf,
}

impl HashingReader {
    fn read(&mut self, out: &mut [u8]) -> Result<()> {
        self.inner.read_exact(out).map_err(io_err(&self.path))?;
        self.crc.update(out);
        Ok(())
    }
}

/// Reads `dir/graph.dat`. `Ok(None)` if there is none; `Err(Corrupt)` if it is damaged or
/// inconsistent (the caller rebuilds the graph then).
pub(crate) fn read_graph(dir: &Path) -> Result<Option<(GraphMeta, Graph)>> {
    let path = dir.join(GRAPH_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let file = fs_err::File::open(&path).map_err(io_err(&path))?;
    let len = file.metadata().map_err(io_err(&path))?.len();
    let mut r =
        HashingReader { inner: BufReader::with_capacity(WRITE_BUFFER, file), crc: crc32fast::Hasher::new(), path };
    let path = r.path.clone();
    if len < GRAPH_HEADER_LEN as u64 + 4 {
        return Err(corrupt(&path, "shorter than its header"));
    }
    let mut h = [0u8; GRAPH_HEADER_LEN];
    r.read(&mut h)?;
    if h[..8] != GRAPH_MAGIC {
        return Err(corrupt(&path, "not a Gabarit graph file (bad magic)"));
    }
    let version = u32_at(&h, 8);
    if version != GRAPH_VERSION {
        return Err(corrupt(&path, format!("graph format version {version}, this build reads {GRAPH_VERSION}")));
    }
    let m = u32_at(&h, 12) as usize;
    let m0 = u32_at(&h, 44) as usize;
    let meta = GraphMeta {
        m,
        m0,
        generation: u64_at(&h, 16),
        slots: usize::try_from(u64_at(&h, 24)).map_err(|_| corrupt(&path, "too many slots"))?,
        ef_construction: u32_at(&h, 40) as usize,
        seed: u64_at(&h, 48),
    };
    let entry = Entry { slot: u32_at(&h, 32), level: u8::try_from(u32_at(&h, 36)).unwrap_or(u8::MAX) };
    if !(2..=MAX_DEGREE).contains(&m) || !(2..=MAX_DEGREE).contains(&m0) || meta.slots > MAX_SLOTS {
        return Err(corrupt(&path, "invalid parameters"));
    }
    let slots = meta.slots;
    let mut levels = vec![0u8; slots];
    r.read(&mut levels)?;
    if levels.iter().any(|&l| l > MAX_LEVEL) {
        return Err(corrupt(&path, "invalid level"));
    }
    let upper: u64 = levels.iter().map(|&l| u64::from(l)).sum();
    let expected = GRAPH_HEADER_LEN as u64 + slots as u64 * (1 + 3 * m0 as u64) + upper * 4 * m as u64 + 4;
    if len != expected {
        return Err(corrupt(&path, format!("{len} bytes, expected {expected}")));
    }
    let mut graph = Graph::new(m, m0, meta.seed);
    graph.reserve(slots);
    for &l in &levels {
        graph.push_slot(l);
    }
    let mut buf = vec![0u8; m.max(m0) * 4];
    let mut items = Vec::with_capacity(m.max(m0));
    let mut read_list = |r: &mut HashingReader, graph: &Graph, slot: u32, level: usize, width: usize| -> Result<()> {
        let size = if level == 0 { 3 } else { 4 };
        r.read(&mut buf[..width * size])?;
        items.clear();
        for c in buf[..width * size].chunks_exact(size) {
            if (level == 0 && c == END24) || (level > 0 && u32_at(c, 0) == NONE) {
                break;
            }
            let nb = if level == 0 { u32::from_le_bytes([c[0], c[1], c[2], 0]) } else { u32_at(c, 0) };
            if nb as usize >= slots || usize::from(levels[nb as usize]) < level {
                return Err(corrupt(&r.path, format!("slot {slot} links to invalid slot {nb}")));
            }
            items.push(nb);
        }
        graph.set_neighbours(slot, level, &items);
        Ok(())
    };
    for slot in 0..slots as u32 {
        read_list(&mut r, &graph, slot, 0, m0)?;
    }
    for slot in 0..slots as u32 {
        for level in 1..=usize::from(levels[slot as usize]) {
            read_list(&mut r, &graph, slot, level, m)?;
        }
    }
    let computed = r.crc.clone().finalize();
    let mut stored = [0u8; 4];
    r.inner.read_exact(&mut stored).map_err(io_err(&path))?;
    if u32::from_le_bytes(stored) != computed {
        return Err(corrupt(&path, "checksum mismatch"));
    }
    let valid_entry = if slots == 0 {
        entry.slot == NONE
    } else {
        (entry.slot as usize) < slots
            && levels[entry.slot as usize] == entry.level
            && levels.iter().all(|&l| l <= entry.level)
    };
    if !valid_entry {
        return Err(corrupt(&path, "invalid entry point"));
    }
    graph.set_entry(if slots == 0 { Entry { slot: NONE, level: 0 } } else { entry });
    Ok(Some((meta, graph)))
}
