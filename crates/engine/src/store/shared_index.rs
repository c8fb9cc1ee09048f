//! The vector index of one pack, by kind (graph, exact or compressed), shared by the handles of a store:
//! readers search while one writer inserts, and the faces hidden by objections are cached by
//! the index's generation.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use gabarit_ann::{AnnIndex, AnnOptions};
use gabarit_index::{CompressedIndex, FlatIndex, Hit, RecordCipher, VectorIndex};

use super::PackKey;
use crate::{Error, Result};

/// Which vector index a data directory keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndexKind {
    /// HNSW graph over int8 templates: approximate top-k, exact on request.
    #[default]
    Graph,
    /// Flat int8 scan: every search exact.
    Exact,
    /// Exhaustive searches exact, pruned by 6-bit codes in memory that prove most templates out
    /// of reach; top-k ranked by 1-bit codes and re-scored exactly; the int8 codes stay on
    /// disk, read only to re-score (`gabarit_index::CompressedIndex`).
    Compressed,
    /// A table in PostgreSQL with pgvector (the kind of a store on PostgreSQL, and its only
    /// one): HNSW top-k, sequential scans for exact and threshold searches.
    Pgvector,
}

impl IndexKind {
    /// Name as written in `index-kind` and taken by `--index`.
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::Graph => "graph",
            IndexKind::Exact => "exact",
            IndexKind::Compressed => "compressed",
            IndexKind::Pgvector => "pgvector",
        }
    }

    /// The kind a new store at `place` gets: a graph in a data directory, pgvector in
    /// PostgreSQL.
    pub fn default_for(place: &super::Place) -> IndexKind {
        match place {
            super::Place::Dir(_) => IndexKind::default(),
            super::Place::Postgres { .. } => IndexKind::Pgvector,
        }
    }

    /// Parses a name.
    pub fn parse(name: &str) -> Result<IndexKind> {
        match name.trim() {
            "graph" => Ok(IndexKind::Graph),
            "exact" => Ok(IndexKind::Exact),
            "compressed" => Ok(IndexKind::Compressed),
            "pgvector" => Ok(IndexKind::Pgvector),
            other => Err(Error::field("index", format!("{other:?}: expected graph, exact, compressed or pgvector"))),
        }
    }

    /// The folder of a pack's index: `graph` or `index` for the pack of the collections made
    /// before packs were recorded (as then), `graph-<pack>-<hash prefix>` for the others.
    pub(super) fn dir(self, root: &Path, pack: &PackKey) -> PathBuf {
        let base = match self {
            IndexKind::Graph => "graph",
            IndexKind::Exact | IndexKind::Pgvector => "index",
            IndexKind::Compressed => "compressed",
        };
        if *pack == PackKey::legacy() {
            root.join(base)
        } else {
            root.join(format!("{base}-{}-{}", pack.name, pack.sha256.get(..12).unwrap_or(&pack.sha256)))
        }
    }

    pub(super) fn open(
        self,
        dir: &Path,
        dim: usize,
        cipher: Arc<dyn RecordCipher>,
    ) -> std::result::Result<Index, gabarit_index::Error> {
        match self {
            IndexKind::Pgvector => Err(gabarit_index::Error::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::other("a pgvector index is kept in PostgreSQL, not in files"),
            }),
            IndexKind::Exact => FlatIndex::open_with(dir, dim, Some(cipher)).map(|i| Box::new(i) as Index),
            IndexKind::Compressed => CompressedIndex::open_with(dir, dim, Some(cipher)).map(|i| Box::new(i) as Index),
            IndexKind::Graph => AnnIndex::open_with(dir, dim, AnnOptions::default(), Some(cipher))
                .map(|i| Box::new(i) as Index)
                .map_err(|e| match e {
                    gabarit_ann::Error::Index(e) => e,
                    other @ gabarit_ann::Error::Option { .. } => gabarit_index::Error::Io {
                        path: dir.to_path_buf(),
                        source: std::io::Error::other(other.to_string()),
                    },
                }),
        }
    }
}

/// The vector index of a data directory: flat, compressed or graph, behind the one trait.
pub type Index = Box<dyn VectorIndex>;

/// Adds a template the catalog has just committed. An index other processes share (in
/// PostgreSQL) may hold it already, put there by a process that caught the index up with the
/// catalog in between: the same template, not a duplicate.
pub(crate) fn insert_committed(
    index: &mut dyn VectorIndex,
    id: u64,
    collection: u32,
    vector: &[f32],
) -> gabarit_index::Result<()> {
    match index.insert(id, collection, vector) {
        Err(gabarit_index::Error::DuplicateId { .. }) if index.shared_version()?.is_some() => Ok(()),
        other => other,
    }
}

/// The index of a data directory, shared by its handles.
///
/// Each method takes the lock for its own duration; [`SharedIndex::read`] and
/// [`SharedIndex::write`] hold it across several calls. A panic while the lock was held does
/// not make the index unusable: its structures are updated so that a reader never sees half a
/// change (the graph's seqlocks, the flat index's append-only slots), so the lock is taken
/// back rather than failing every later request.
#[derive(Clone)]
pub struct SharedIndex {
    index: Arc<RwLock<Index>>,
    /// Counts the times the index was taken for writing: what was computed from the index
    /// at one generation is still true while it has not changed.
    generation: Arc<std::sync::atomic::AtomicU64>,
    /// Faces hidden by objections, with what they were computed from.
    suppressed: Arc<std::sync::Mutex<Option<Suppressed>>>,
}

/// The faces matching the suppression templates (objections), at one index generation.
pub(super) struct Suppressed {
    generation: u64,
    /// The index's own version when other processes change it too (pgvector).
    shared: Option<u64>,
    suppressions: u64,
    threshold: f32,
    faces: Arc<std::collections::HashSet<u64>>,
}

impl SharedIndex {
    pub(super) fn new(index: Index) -> Self {
        SharedIndex { index: Arc::new(RwLock::new(index)), generation: Arc::default(), suppressed: Arc::default() }
    }

    /// How many times the index was taken for writing.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The faces hidden by `suppressions` objections at `threshold`, computed by `compute` only
    /// when the index or the objections changed since the last time (every search needs them;
    /// computing them scans every template once per objection). An index other processes
    /// change too (in PostgreSQL) is compared by its shared version as well, read before
    /// computing: a change made meanwhile makes the next search compute again.
    pub fn suppressed_faces(
        &self,
        suppressions: u64,
        threshold: f32,
        compute: impl FnOnce() -> crate::Result<std::collections::HashSet<u64>>,
    ) -> crate::Result<Arc<std::collections::HashSet<u64>>> {
        let generation = self.generation();
        let shared = self.read().shared_version()?;
        let cached = self.suppressed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = cached.as_ref()
            && (c.generation, c.shared, c.suppressions, c.threshold) == (generation, shared, suppressions, threshold)
        {
            return Ok(c.faces.clone());
        }
        drop(cached);
        let faces = Arc::new(compute()?);
        *self.suppressed.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Suppressed { generation, shared, suppressions, threshold, faces: faces.clone() });
        Ok(faces)
    }

    /// Reads it (shared with other readers).
    pub fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes it (alone).
    pub fn write(&self) -> RwLockWriteGuard<'_, Index> {
        let guard = self.index.write().unwrap_or_else(PoisonError::into_inner);
        // Counted once the writer holds the index: a reader that saw the old generation
        // computed from the index as it was before this writer.
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        guard
    }

    /// Templates held.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Templates held in `collections` (all when `None`).
    pub fn count(&self, collections: Option<&[u32]>) -> usize {
        self.read().count(collections)
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether top-k searches scan every template.
    pub fn is_exhaustive(&self) -> bool {
        self.read().is_exhaustive()
    }

    /// Sets the breadth of graph searches (more: better recall, slower); no effect on an exact
    /// index.
    pub fn set_ef_search(&self, ef: usize) {
        self.write().set_search_breadth(ef);
    }

    /// Top-k (approximate for a graph index).
    pub fn search(&self, query: &[f32], k: usize, collections: Option<&[u32]>) -> gabarit_index::Result<Vec<Hit>> {
        self.read().search(query, k, collections)
    }

    /// Top-k with this breadth instead of the index's own (see `VectorIndex::search_breadth`).
    pub fn search_breadth(
        &self,
        query: &[f32],
        k: usize,
        collections: Option<&[u32]>,
        breadth: usize,
    ) -> gabarit_index::Result<Vec<Hit>> {
        self.read().search_breadth(query, k, collections, breadth)
    }

    /// Top-k by scanning every template.
    pub fn search_exact(
        &self,
        query: &[f32],
        k: usize,
        collections: Option<&[u32]>,
    ) -> gabarit_index::Result<Vec<Hit>> {
        self.read().search_exact(query, k, collections)
    }

    /// Every template scoring at least `threshold` (exhaustive).
    pub fn search_threshold(
        &self,
        query: &[f32],
        threshold: f32,
        collections: Option<&[u32]>,
    ) -> gabarit_index::Result<Vec<Hit>> {
        self.read().search_threshold(query, threshold, collections)
    }

    /// How far behind the writes its interactive searches may be (a replica's lag, seconds).
    pub fn staleness(&self) -> gabarit_index::Result<Option<f64>> {
        self.read().staleness()
    }

    /// Adds a template.
    pub fn insert(&self, id: u64, collection: u32, vector: &[f32]) -> gabarit_index::Result<()> {
        self.write().insert(id, collection, vector)
    }

    /// Removes a template; whether it was there.
    pub fn remove(&self, id: u64) -> gabarit_index::Result<bool> {
        self.write().remove(id)
    }

    /// Makes the changes durable.
    pub fn flush(&self) -> gabarit_index::Result<()> {
        self.write().flush()
    }

    /// Rewrites the files without removed templates.
    pub fn compact(&self) -> gabarit_index::Result<()> {
        self.write().compact()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faces_hidden_by_objections_are_computed_again_only_when_the_index_or_the_objections_change() {
        let dir = tempfile::tempdir().unwrap();
        let flat = FlatIndex::open_with(dir.path(), 512, None).unwrap();
        let shared = SharedIndex::new(Box::new(flat));
        let computed = std::cell::Cell::new(0);
        let hidden = |objections: u64, threshold: f32| {
            shared
                .suppressed_faces(objections, threshold, || {
                    computed.set(computed.get() + 1);
                    Ok([computed.get() as u64].into_iter().collect())
                })
                .unwrap()
        };
        assert!(hidden(1, 0.25).contains(&1));
        assert!(hidden(1, 0.25).contains(&1), "the same index and objections: the cached set");
        assert_eq!(computed.get(), 1);
        let mut v = vec![0.0f32; 512];
        v[0] = 1.0;
        shared.insert(7, 1, &v).unwrap();
        assert!(hidden(1, 0.25).contains(&2), "a template added: computed again");
        assert!(hidden(2, 0.25).contains(&3), "an objection added: computed again");
        assert!(hidden(2, 0.3).contains(&4), "another threshold: computed again");
        assert_eq!(computed.get(), 4);
        let before = shared.generation();
        let _ = shared.search(&v, 1, None).unwrap();
        assert_eq!(shared.generation(), before, "reading does not change the generation");
    }
}
