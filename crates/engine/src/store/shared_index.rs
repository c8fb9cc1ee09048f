//! The vector index of one pack, by kind (graph, exact or compressed), shared by the handles of a store:
//! readers search while one writer inserts, and the faces hidden by objections are cached by
//! the index's generation.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use gabarit_ann::{AnnIndex, AnnOptions};
use std::collections::HashSet;

use gabarit_index::{CompressedIndex, FlatIndex, Hit, Mark, RecordCipher, Since, VectorIndex};

use super::PackKey;
use crate::{Error, Result};

/// Which vector index a data directory keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IndexKind {
    /// HNSW graph over int8 templates: approximate top-k, exact on request.
    Graph,
    /// Flat int8 scan: every search exact.
    Exact,
    /// Exhaustive searches exact, pruned by 6-bit codes in memory that prove most templates out
    /// of reach; top-k ranked by 1-bit codes and re-scored exactly; the int8 codes stay on
    /// disk, read only to re-score (`gabarit_index::CompressedIndex`). The kind of a new data
    /// directory: at 1,000,000 templates it answers the API's searches faster than the graph
    /// (which keeps 7.6 times the memory and takes twenty times as long to build), and finds
    /// every true top-10 candidate above the rights threshold at its default breadth.
    #[default]
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

    /// The kind a new store at `place` gets: compressed in a data directory, pgvector in
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
    /// Held through a compaction's two halves: one compaction at a time.
    compacting: Arc<std::sync::Mutex<()>>,
}

/// The faces matching the suppression templates (objections), at one index generation.
pub(super) struct Suppressed {
    generation: u64,
    /// The index's own version when other processes change it too (pgvector).
    shared: Option<u64>,
    /// The suppression templates computed, the first ones in the catalog's order (they are
    /// only ever added).
    suppressions: usize,
    threshold: f32,
    /// Where the index stood when they were computed, if it can say: from there, only the
    /// templates inserted since are scanned.
    mark: Option<Mark>,
    faces: Arc<HashSet<u64>>,
}

impl SharedIndex {
    pub(super) fn new(index: Index) -> Self {
        SharedIndex {
            index: Arc::new(RwLock::new(index)),
            generation: Arc::default(),
            suppressed: Arc::default(),
            compacting: Arc::default(),
        }
    }

    /// How many times the index was taken for writing.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The faces hidden by objections at `threshold`: those matching one of the suppression
    /// templates `vectors` gives (in the catalog's order; `suppressions` is how many there are,
    /// read first). Every search needs them, and computing them from nothing scans every
    /// template once per objection, so they are kept and brought up to date: nothing to do
    /// while neither the index nor the objections changed; otherwise the templates inserted
    /// since the last time are scored against each suppression template, the new suppression
    /// templates against every template, and ids inserted since (an id removed and inserted
    /// again is another face) lose what was known of them. Ids removed since stay in the set:
    /// they are never hits. From nothing again when the index cannot say what was inserted
    /// since (a compaction renumbered it, or it is kept in PostgreSQL and its shared version
    /// changed) or the threshold changed. The index is read under one lock throughout, so
    /// where it stood and what was scanned are the same state.
    pub fn suppressed_faces(
        &self,
        suppressions: u64,
        threshold: f32,
        vectors: impl FnOnce() -> crate::Result<Vec<Vec<f32>>>,
    ) -> crate::Result<Arc<HashSet<u64>>> {
        let index = self.read();
        // Stable while the read lock is held: a writer counts once it holds the index.
        let generation = self.generation();
        let shared = index.shared_version()?;
        // Held while computing: concurrent searches wait for one computation, not run several.
        let mut cached = self.suppressed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = cached.as_ref()
            && (c.generation, c.shared, c.suppressions as u64, c.threshold)
                == (generation, shared, suppressions, threshold)
        {
            return Ok(c.faces.clone());
        }
        let vectors = vectors()?;
        let mark = index.mark();
        let known =
            cached.take().filter(|c| c.threshold == threshold && c.shared == shared && c.suppressions <= vectors.len());
        let mut faces = HashSet::new();
        let mut from = 0;
        if let Some(known) = known
            && let Some(updates) = since(index.as_ref(), &vectors[..known.suppressions], threshold, known.mark)?
        {
            faces = Arc::unwrap_or_clone(known.faces);
            // Every update lists every id inserted since: those lose what was known of them
            // before any update's hits go in.
            for id in updates.iter().flat_map(|u| &u.inserted) {
                faces.remove(id);
            }
            faces.extend(updates.iter().flat_map(|u| u.hits.iter().map(|h| h.id)));
            from = known.suppressions;
        }
        for v in &vectors[from..] {
            faces.extend(index.search_threshold(v, threshold, None)?.into_iter().map(|h| h.id));
        }
        let faces = Arc::new(faces);
        *cached =
            Some(Suppressed { generation, shared, suppressions: vectors.len(), threshold, mark, faces: faces.clone() });
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

    /// Makes the changes durable and writes what lets the next open start quickly (see
    /// `VectorIndex::checkpoint`): what changes the index under the write lock (a flush, a
    /// graph), the rest — a compressed index's codes, the long part — under the read lock,
    /// beside searches.
    pub fn checkpoint(&self) -> gabarit_index::Result<()> {
        self.write().checkpoint_exclusive()?;
        self.read().checkpoint_shared()
    }

    /// Rewrites the files without removed templates, holding searches only while the new files
    /// are put in place: they are written aside under the read lock (searches go on, writers
    /// wait), then renamed in under the write lock. An index that changed in between (a writer
    /// got the lock first) is compacted whole under the write lock.
    pub fn compact(&self) -> gabarit_index::Result<()> {
        let _one = self.compacting.lock().unwrap_or_else(PoisonError::into_inner);
        let prepared = self.read().prepare_compaction()?;
        self.write().finish_compaction(prepared)
    }
}

/// Each of `vectors`' threshold hits among the templates inserted since `mark`; `None` when
/// the index cannot tell (no mark, or renumbered since).
fn since(
    index: &dyn VectorIndex,
    vectors: &[Vec<f32>],
    threshold: f32,
    mark: Option<Mark>,
) -> gabarit_index::Result<Option<Vec<Since>>> {
    let Some(mark) = mark else {
        return Ok(None);
    };
    vectors.iter().map(|v| index.search_threshold_since(v, threshold, mark)).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use gabarit_index::testing::TestRng;

    use super::*;

    /// A flat index that counts its full threshold searches (every template scanned).
    struct Counting {
        inner: FlatIndex,
        full: Arc<AtomicUsize>,
    }

    impl VectorIndex for Counting {
        fn dim(&self) -> usize {
            self.inner.dim()
        }
        fn len(&self) -> usize {
            self.inner.len()
        }
        fn count(&self, collections: Option<&[u32]>) -> usize {
            self.inner.count(collections)
        }
        fn insert(&mut self, id: u64, collection: u32, vector: &[f32]) -> gabarit_index::Result<()> {
            self.inner.insert(id, collection, vector)
        }
        fn remove(&mut self, id: u64) -> gabarit_index::Result<bool> {
            self.inner.remove(id)
        }
        fn search(&self, query: &[f32], k: usize, collections: Option<&[u32]>) -> gabarit_index::Result<Vec<Hit>> {
            self.inner.search(query, k, collections)
        }
        fn search_threshold(
            &self,
            query: &[f32],
            t: f32,
            collections: Option<&[u32]>,
        ) -> gabarit_index::Result<Vec<Hit>> {
            self.full.fetch_add(1, Ordering::Relaxed);
            self.inner.search_threshold(query, t, collections)
        }
        fn search_exact(
            &self,
            query: &[f32],
            k: usize,
            collections: Option<&[u32]>,
        ) -> gabarit_index::Result<Vec<Hit>> {
            self.inner.search_exact(query, k, collections)
        }
        fn is_exhaustive(&self) -> bool {
            true
        }
        fn mark(&self) -> Option<Mark> {
            self.inner.mark()
        }
        fn search_threshold_since(&self, query: &[f32], t: f32, mark: Mark) -> gabarit_index::Result<Option<Since>> {
            self.inner.search_threshold_since(query, t, mark)
        }
        fn flush(&mut self) -> gabarit_index::Result<()> {
            self.inner.flush()
        }
        fn compact(&mut self) -> gabarit_index::Result<()> {
            self.inner.compact()
        }
    }

    const DIM: usize = 64;

    #[test]
    fn faces_hidden_by_objections_are_brought_up_to_date_from_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let full = Arc::new(AtomicUsize::new(0));
        let inner = FlatIndex::open_with(dir.path(), DIM, None).unwrap();
        let shared = SharedIndex::new(Box::new(Counting { inner, full: full.clone() }));
        let mut rng = TestRng::new(71);
        let objections: Vec<Vec<f32>> = (0..3).map(|_| rng.unit(DIM)).collect();
        let mut next_id = 0u64;
        let mut add = |shared: &SharedIndex, rng: &mut TestRng, count: usize| {
            for i in 0..count {
                // A third near one of the objections' faces, at varied distances.
                let v = if i % 3 == 0 {
                    rng.near(&objections[i % objections.len()], 0.2 + (i % 9) as f32 * 0.1)
                } else {
                    rng.unit(DIM)
                };
                shared.insert(next_id, 1, &v).unwrap();
                next_id += 1;
            }
        };
        // What a computation from nothing finds, among live templates.
        let truth = |shared: &SharedIndex, n: usize, t: f32| -> HashSet<u64> {
            let index = shared.read();
            objections[..n].iter().flat_map(|v| index.search_threshold(v, t, None).unwrap()).map(|h| h.id).collect()
        };
        // The live faces hidden, and how many full scans bringing them up to date took.
        let hidden = |shared: &SharedIndex, n: usize, t: f32| -> (HashSet<u64>, usize) {
            let before = full.load(Ordering::Relaxed);
            let faces = shared.suppressed_faces(n as u64, t, || Ok(objections[..n].to_vec())).unwrap();
            let scans = full.load(Ordering::Relaxed) - before;
            // Removed ids may stay in the set (they are never hits): compare the live ones.
            let live: HashSet<u64> =
                shared.read().search_exact(&objections[0], usize::MAX, None).unwrap().iter().map(|h| h.id).collect();
            (faces.iter().copied().filter(|id| live.contains(id)).collect(), scans)
        };
        add(&shared, &mut rng, 600);

        let (mut got, mut scans) = hidden(&shared, 2, 0.3);
        assert_eq!(scans, 2, "two objections from nothing");
        assert!(got.len() > 20, "the objections hide faces: {}", got.len());
        assert_eq!(got, truth(&shared, 2, 0.3));
        (got, scans) = hidden(&shared, 2, 0.3);
        assert_eq!(scans, 0, "nothing changed: the kept set");
        assert_eq!(got, truth(&shared, 2, 0.3));

        // Templates inserted: only they are scored.
        add(&shared, &mut rng, 90);
        (got, scans) = hidden(&shared, 2, 0.3);
        assert_eq!(scans, 0, "inserts: no full scan");
        assert_eq!(got, truth(&shared, 2, 0.3));

        // Hidden faces removed, one of them inserted again far from every objection (another
        // face under the same id: it must not stay hidden) and one again near.
        let mut was: Vec<u64> = got.iter().copied().collect();
        was.sort_unstable();
        for id in &was[..6] {
            assert!(shared.remove(*id).unwrap());
        }
        let far: Vec<f32> = {
            let mut v =
                objections.iter().fold(vec![0.0f32; DIM], |acc, o| acc.iter().zip(o).map(|(a, b)| a - b).collect());
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= n);
            v
        };
        shared.insert(was[0], 1, &far).unwrap();
        shared.insert(was[1], 1, &objections[1]).unwrap();
        (got, scans) = hidden(&shared, 2, 0.3);
        assert_eq!(scans, 0, "removals and an id inserted again: no full scan");
        assert!(!got.contains(&was[0]), "the id inserted again with another face is no longer hidden");
        assert!(got.contains(&was[1]));
        assert_eq!(got, truth(&shared, 2, 0.3));

        // An objection added: only its template scans every template.
        add(&shared, &mut rng, 30);
        (got, scans) = hidden(&shared, 3, 0.3);
        assert_eq!(scans, 1, "one new objection: one full scan");
        assert_eq!(got, truth(&shared, 3, 0.3));

        // Compaction renumbers the slots: from nothing again, and right.
        shared.compact().unwrap();
        (got, scans) = hidden(&shared, 3, 0.3);
        assert_eq!(scans, 3, "after compaction: from nothing");
        assert_eq!(got, truth(&shared, 3, 0.3));

        // Another threshold: from nothing.
        (got, scans) = hidden(&shared, 3, 0.5);
        assert_eq!(scans, 3, "another threshold: from nothing");
        assert_eq!(got, truth(&shared, 3, 0.5));

        let before = shared.generation();
        let _ = shared.search(&objections[0], 1, None).unwrap();
        assert_eq!(shared.generation(), before, "reading does not change the generation");
    }

    /// Compactions run while other threads search and insert: no search fails or pairs an id
    /// with another template's codes, inserts made during a compaction are kept (the second half then
    /// compacts whole), and in the end the index holds exactly what was inserted and not
    /// removed, with nothing left to compact.
    #[test]
    fn compactions_beside_searches_and_inserts_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let index = CompressedIndex::open_with(dir.path(), DIM, None).unwrap();
        let shared = SharedIndex::new(Box::new(index));
        let mut rng = TestRng::new(5);
        let vectors: Vec<Vec<f32>> = (0..3000).map(|_| rng.unit(DIM)).collect();
        for (id, v) in vectors[..2000].iter().enumerate() {
            shared.insert(id as u64, 1, v).unwrap();
        }
        let removed = |id: u64| id < 2000 && id.is_multiple_of(3);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let searcher = s.spawn(|| {
                let mut searches = 0;
                while !stop.load(Ordering::Relaxed) || searches < 50 {
                    // Every hit is the queried template itself (random templates are far apart):
                    // an id never comes back with another template's codes, however the slots
                    // are renumbered meanwhile.
                    let id = (searches * 7) % 3000;
                    let hits = shared.search_threshold(&vectors[id], 0.9, None).unwrap();
                    assert!(hits.iter().all(|h| h.id == id as u64), "{hits:?} for {id}");
                    searches += 1;
                }
                searches
            });
            let inserter = s.spawn(|| {
                for (id, v) in vectors.iter().enumerate().skip(2000) {
                    shared.insert(id as u64, 1, v).unwrap();
                }
            });
            for round in 0..4u64 {
                for id in (0..2000u64).filter(|&id| removed(id) && id % 4 == round) {
                    assert!(shared.remove(id).unwrap());
                }
                shared.compact().unwrap();
            }
            inserter.join().unwrap();
            stop.store(true, Ordering::Relaxed);
            assert!(searcher.join().unwrap() >= 50);
        });
        shared.compact().unwrap();
        let live: std::collections::BTreeSet<u64> =
            shared.search_exact(&vectors[0], usize::MAX, None).unwrap().iter().map(|h| h.id).collect();
        let expected: std::collections::BTreeSet<u64> = (0..3000).filter(|&id| !removed(id)).collect();
        assert_eq!(live, expected);
        for id in [1u64, 2000, 2999] {
            let hits = shared.search(&vectors[id as usize], 1, None).unwrap();
            assert_eq!((hits[0].id, hits[0].score > 0.99), (id, true), "template {id} found as itself");
        }
        assert!(shared.search_threshold(&vectors[3], 0.9, None).unwrap().is_empty(), "a removed template");
    }
}
