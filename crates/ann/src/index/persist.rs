//! Opening an index from its directory (records, tombstones and the graph file), graph
//! checkpoints, and compaction, which physically erases removed templates.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use gabarit_index::records::{Loader, Record, RecordFiles};
use gabarit_index::{Error as IndexError, Layout, MAX_DIM, RecordCipher, Result, VectorIndex};
use hashbrown::HashTable;

use super::{AnnIndex, AnnOptions, Error, threads_of};
use crate::files::{GRAPH_FILE, GRAPH_TMP, read_graph, write_graph, write_graph_to};
use crate::graph::{Graph, MAX_SLOTS, Vectors};
use crate::hugebuf::HugeBuf;

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
            layout: Layout::fresh(),
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

    pub(super) fn save_graph(&mut self) -> Result<()> {
        let vecs = Vectors { codes: self.codes.as_slice(), scales: &self.scales, dim: self.dim };
        self.graph.connect_unreachable(&vecs, self.opts.ef_construction);
        write_graph(self.files.dir(), &self.graph, self.files.generation(), self.opts.ef_construction)?;
        self.graph_saved = self.graph.slots();
        self.replayable = true;
        Ok(())
    }

    pub(super) fn compact_files(&mut self) -> Result<()> {
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
        self.layout = Layout::fresh();
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
