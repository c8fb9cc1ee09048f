//! Vector index for face templates.
//!
//! What it is:
//! - [`quant`]: symmetric per-vector int8 quantisation and the integer dot product (pure
//!   functions). Scores are approximate cosines, within about 0.002 of the f32 cosine on
//!   512-dimensional templates.
//! - [`VectorIndex`]: the trait every backend implements (this exact index now; an ANN index or
//!   PostgreSQL/pgvector later). Object-safe, `Send + Sync`.
//! - [`FlatIndex`]: an exact, persistent index. Templates are held in memory as int8 and
//!   scanned in full (in parallel above 20,000 vectors); on disk they live in an append-only
//!   record file with a tombstone log. [`VectorIndex::compact`] rewrites the files so that the
//!   bytes of removed templates are physically gone from the directory: deletion is a purge,
//!   not a flag.
//! - [`SecretRotation`]: a key-derived orthogonal rotation, under which a vector database
//!   (pgvector) stores templates with their inner products kept but unlinkable to the model's.
//! - `testing` (feature `testing`): the contract suite every backend must pass.
//!
//! What it is not: it does not normalise templates (callers pass L2-normalised vectors, so the
//! dot product is the cosine), it does not know people, media or legal bases (the catalog and
//! governance do), and it does no locking: writes take `&mut self`, searches `&self`, so a
//! shared index sits behind an `RwLock`.
//!
//! ```
//! use gabarit_index::{FlatIndex, VectorIndex};
//! # fn main() -> gabarit_index::Result<()> {
//! let dir = std::env::temp_dir().join(format!("gabarit-index-doctest-{}", std::process::id()));
//! let mut index = FlatIndex::open(&dir, 4)?;
//! index.insert(7, 1, &[0.5, 0.5, 0.5, 0.5])?;
//! index.insert(8, 2, &[1.0, 0.0, 0.0, 0.0])?;
//! index.flush()?;
//! let hits = index.search(&[1.0, 0.0, 0.0, 0.0], 1, None)?;
//! assert_eq!(hits[0].id, 8);
//! let hits = index.search(&[1.0, 0.0, 0.0, 0.0], 10, Some(&[1]))?;
//! assert_eq!(hits.len(), 1);
//! # drop(index);
//! # fs_err::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub mod bound;
mod code_cache;
mod compressed;
mod flat;
mod grow;
mod mark;
#[cfg(feature = "testing")]
pub mod model;
pub mod onebit;
pub mod private;
pub mod quant;
pub mod records;
pub mod secret_rotation;
pub mod select;
mod slot_of;
mod stages;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use compressed::{CompressedIndex, CompressedOptions, ScanCounts};
pub use flat::{FlatIndex, FlatStats, MAX_DIM, PARALLEL_MIN_VECTORS};
pub use mark::{Layout, Mark, Since};
pub use secret_rotation::SecretRotation;

/// Why an index operation failed. Caller mistakes (wrong dimension, NaN, duplicate id) are
/// apart from storage failures (I/O, corrupt or foreign files); every storage error names its
/// file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A vector or query does not have the index's dimension.
    #[error("vector has dimension {found}, the index expects {expected}")]
    WrongDimension {
        /// The index's dimension.
        expected: usize,
        /// The vector's length.
        found: usize,
    },
    /// A vector or query holds NaN or an infinity.
    #[error("vector component {position} is not finite")]
    NonFinite {
        /// Index of the first offending component.
        position: usize,
    },
    /// A search threshold is NaN.
    #[error("search threshold is NaN")]
    NanThreshold,
    /// `insert` was given an id that is already live (remove it first).
    #[error("id {id} is already in the index")]
    DuplicateId {
        /// The id.
        id: u64,
    },
    /// The dimension asked at open is not usable (0, or above [`MAX_DIM`]).
    #[error("unsupported dimension {dim} (1 to {max})")]
    UnsupportedDimension {
        /// The dimension asked.
        dim: usize,
        /// The largest supported dimension.
        max: usize,
    },
    /// The index on disk was built for another dimension.
    #[error("{path}: index has dimension {found}, opened with {expected}")]
    IndexDimension {
        /// The data file.
        path: PathBuf,
        /// The dimension asked at open.
        expected: usize,
        /// The dimension recorded in the file.
        found: usize,
    },
    /// A file is not an index file, has an unknown format version, or is damaged beyond the
    /// torn tail that a crash can leave (which is repaired silently).
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The index cannot hold more templates (compaction frees the slots of removed ones).
    #[error("{path}: an index holds at most {max} templates (removed ones count until compaction)")]
    Full {
        /// The data file.
        path: PathBuf,
        /// The capacity.
        max: usize,
    },
    /// Records could not be sealed or opened (wrong key, altered data, or a key given for a
    /// plain index and vice versa).
    #[error("{path}: {reason}")]
    Encryption {
        /// The data file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The database holding the index (PostgreSQL) refused or failed a statement, or could
    /// not be reached.
    #[error("{table}: {reason}")]
    Database {
        /// The table (or the server, before one is reached).
        table: String,
        /// What the database said.
        reason: String,
    },
    /// Reading, writing or syncing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Encryption of records at rest, implemented outside this crate (with the data key of the
/// data directory). `seal` output is `overhead()` bytes longer than its input.
pub trait RecordCipher: Send + Sync + std::fmt::Debug {
    /// Bytes added by sealing.
    fn overhead(&self) -> usize;
    /// Encrypts and authenticates `plain`, binding it to `aad`.
    fn seal(&self, plain: &[u8], aad: &[u8]) -> std::result::Result<Vec<u8>, String>;
    /// Decrypts `sealed`, failing if it was altered or bound to another `aad`.
    fn open(&self, sealed: &[u8], aad: &[u8]) -> std::result::Result<Vec<u8>, String>;
    /// Like [`open`](Self::open), into `out`, which must be `overhead()` bytes shorter than
    /// `sealed`: what scans call for every section they read, so a cipher that can should
    /// decrypt in place without allocating (the default opens and copies).
    fn open_into(&self, sealed: &[u8], aad: &[u8], out: &mut [u8]) -> std::result::Result<(), String> {
        let plain = self.open(sealed, aad)?;
        if plain.len() != out.len() {
            return Err(format!("{} bytes opened where {} were expected", plain.len(), out.len()));
        }
        out.copy_from_slice(&plain);
        Ok(())
    }
}

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    /// The template's id.
    pub id: u64,
    /// The collection the template was inserted into.
    pub collection: u32,
    /// Approximate cosine similarity with the query (higher is more similar).
    pub score: f32,
}

/// A searchable, persistent set of templates, each with an id and a collection.
///
/// The contract (checked by the `testing` suite, feature `testing`):
/// - Vectors have the index's [`dim`](Self::dim) and finite components; anything else is
///   rejected with [`Error::WrongDimension`] or [`Error::NonFinite`] and changes nothing.
/// - An id is live at most once: inserting a live id is [`Error::DuplicateId`]; after
///   [`remove`](Self::remove) the id may be inserted again.
/// - Results are ordered best first (higher score), ties broken by the smaller id. Removed
///   vectors are never returned.
/// - `collections: None` searches everything; `Some(list)` only those collections
///   (`Some(&[])` finds nothing).
/// - After [`flush`](Self::flush) returns, everything done before is durable; reopening the
///   same storage gives identical results.
/// - After [`compact`](Self::compact) returns, removed templates are physically gone from the
///   backend's storage, not merely hidden.
pub trait VectorIndex: Send + Sync {
    /// Dimension of every vector.
    fn dim(&self) -> usize;

    /// Number of live (inserted and not removed) vectors.
    fn len(&self) -> usize;

    /// Whether the index holds no live vector.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of live vectors in `collections` (all when `None`): the gallery size of a search,
    /// without asking the catalog (the flat index scans one `u32` per slot, about 1 ms at 1M;
    /// the graph index keeps a count per collection).
    fn count(&self, collections: Option<&[u32]>) -> usize;

    /// Adds `vector` under `id` in `collection`.
    fn insert(&mut self, id: u64, collection: u32, vector: &[f32]) -> Result<()>;

    /// Removes `id`; returns whether it was live.
    fn remove(&mut self, id: u64) -> Result<bool>;

    /// The `k` live vectors most similar to `query` (fewer if the index holds fewer), best
    /// first, restricted to `collections` when given.
    fn search(&self, query: &[f32], k: usize, collections: Option<&[u32]>) -> Result<Vec<Hit>>;

    /// Like [`search`](Self::search) with this breadth instead of the index's own (a graph's
    /// `ef`; an exhaustive index scans every vector whatever it is): for callers that trade
    /// recall for speed on many queries, such as the people grouping's neighbour lists.
    fn search_breadth(
        &self,
        query: &[f32],
        k: usize,
        collections: Option<&[u32]>,
        _breadth: usize,
    ) -> Result<Vec<Hit>> {
        self.search(query, k, collections)
    }

    /// Every live vector scoring at least `threshold` against `query`, best first. Exhaustive
    /// (never approximate), for access and erasure requests.
    fn search_threshold(&self, query: &[f32], threshold: f32, collections: Option<&[u32]>) -> Result<Vec<Hit>>;

    /// The `k` live vectors most similar to `query` found by scanning every one of them (never
    /// approximate, whatever the index): `search --exact`, and the reference an approximate
    /// search is measured against.
    fn search_exact(&self, query: &[f32], k: usize, collections: Option<&[u32]>) -> Result<Vec<Hit>>;

    /// Whether [`search`](Self::search) itself scans every live vector (then it returns what
    /// [`search_exact`](Self::search_exact) returns).
    fn is_exhaustive(&self) -> bool;

    /// Sets how broad an approximate search is (a graph's `ef`: more finds more of the true
    /// top-k, slower); an exhaustive index has nothing to set.
    fn set_search_breadth(&mut self, _breadth: usize) {}

    /// A number that changes whenever the index changes, by this process or another (an
    /// index kept in a database several processes write); `None` for an index only this
    /// process changes, which sees its own changes. What was computed from the index at one
    /// version is still true while the version is the same.
    fn shared_version(&self) -> Result<Option<u64>> {
        Ok(None)
    }

    /// How many seconds behind this index's writes the answers of [`search`](Self::search)
    /// and [`search_exact`](Self::search_exact) may be, when they are read elsewhere than
    /// where writes go (a database's streaming replica); `None` when they see every write.
    /// [`search_threshold`](Self::search_threshold) always sees every write.
    fn staleness(&self) -> Result<Option<f64>> {
        Ok(None)
    }

    /// Where the index stands now: the templates inserted after this are those
    /// [`search_threshold_since`](Self::search_threshold_since) looks at. `None` for an index
    /// that cannot say (one kept in a database other processes write).
    fn mark(&self) -> Option<Mark> {
        None
    }

    /// The templates inserted since `mark` — every id stored since, and those of them live and
    /// scoring at least `threshold` against `query`, scored and ordered as
    /// [`search_threshold`](Self::search_threshold) would (in every collection). `None` when
    /// the index cannot tell: its slots were renumbered since (compaction), or the mark is not
    /// its own. What held for a threshold search at `mark`, less the ids inserted since, plus
    /// these hits, is what holds now, less the ids removed since.
    fn search_threshold_since(&self, query: &[f32], threshold: f32, mark: Mark) -> Result<Option<Since>> {
        let _ = (query, threshold, mark);
        Ok(None)
    }

    /// The first half of a compaction that does not hold searches: the new files written aside
    /// from shared access (searches go on meanwhile), nothing the index reads changed. `None`
    /// when the kind has no such half or nothing needs rewriting: then
    /// [`finish_compaction`](Self::finish_compaction) does it all. One preparation at a time
    /// per index (a second one at once fails).
    fn prepare_compaction(&self) -> Result<Option<Prepared>> {
        Ok(None)
    }

    /// The second half: puts the prepared files in place and renumbers the slots, if the index
    /// did not change since they were prepared; otherwise, or with nothing prepared, compacts
    /// whole, as [`compact`](Self::compact). When it returns, removed templates are physically
    /// gone, as after `compact`.
    fn finish_compaction(&mut self, prepared: Option<Prepared>) -> Result<()> {
        drop(prepared);
        self.compact()
    }

    /// Makes every previous insert and remove durable.
    fn flush(&mut self) -> Result<()>;

    /// Makes every change durable and writes what lets the next open start quickly (the
    /// compressed index's codes, a graph index's graph), without closing: what a server does
    /// when it stops and after an ingestion job. It is [`checkpoint_exclusive`] then
    /// [`checkpoint_shared`]; a caller that shares the index behind a lock runs the second
    /// under the read lock, beside searches.
    ///
    /// [`checkpoint_exclusive`]: VectorIndex::checkpoint_exclusive
    /// [`checkpoint_shared`]: VectorIndex::checkpoint_shared
    fn checkpoint(&mut self) -> Result<()> {
        self.checkpoint_exclusive()?;
        self.checkpoint_shared()
    }

    /// The part of a checkpoint that changes the index: the default flushes (a graph index
    /// also writes its graph).
    fn checkpoint_exclusive(&mut self) -> Result<()> {
        self.flush()
    }

    /// The part of a checkpoint that only reads the index, after
    /// [`checkpoint_exclusive`](VectorIndex::checkpoint_exclusive) (a compressed index writes
    /// its codes here); the default does nothing.
    fn checkpoint_shared(&self) -> Result<()> {
        Ok(())
    }

    /// Rewrites storage so that removed vectors' bytes are physically gone; implies a flush.
    fn compact(&mut self) -> Result<()>;
}

/// What [`VectorIndex::prepare_compaction`] wrote aside, for the same index's
/// [`VectorIndex::finish_compaction`] (another kind's is ignored: it compacts whole).
pub struct Prepared(Box<dyn std::any::Any + Send + Sync>);

impl Prepared {
    /// Wraps a kind's own prepared state.
    pub fn new<T: std::any::Any + Send + Sync>(state: T) -> Prepared {
        Prepared(Box::new(state))
    }

    /// The kind's own state, if it is of that type.
    #[must_use]
    pub fn take<T: std::any::Any>(self) -> Option<T> {
        self.0.downcast::<T>().ok().map(|b| *b)
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prepared(..)")
    }
}

/// Checks a vector's length and values against the dimension (shared by backends).
pub fn validate_vector(vector: &[f32], dim: usize) -> Result<()> {
    if vector.len() != dim {
        return Err(Error::WrongDimension { expected: dim, found: vector.len() });
    }
    if let Some(position) = vector.iter().position(|x| !x.is_finite()) {
        return Err(Error::NonFinite { position });
    }
    Ok(())
}
