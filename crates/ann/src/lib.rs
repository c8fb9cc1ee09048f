//! Approximate nearest-neighbour search over face templates, for interactive top-k queries
//! at millions of templates.
//!
//! What it is:
//! - [`AnnIndex`]: a [`gabarit_index::VectorIndex`] backend. Templates are stored as int8
//!   codes ([`gabarit_index::quant`], 512 bytes at dimension 512) and linked in a hierarchical
//!   navigable small-world graph (HNSW; `graph`), searched with a finely quantised query
//!   (`kernel`). About 693 bytes per template in memory at `m0 = 48` (level-0 degree), `m = 16`,
//!   everything included.
//! - Persistent in one directory: the record and tombstone files of the flat index
//!   ([`gabarit_index::FlatIndex`]'s format, so a flat index's directory opens as an ANN
//!   index) plus `graph.dat`. [`VectorIndex::compact`](gabarit_index::VectorIndex::compact)
//!   reconnects the graph around removed templates and rewrites every file without them: their
//!   bytes are physically gone.
//! - [`VectorIndex::search_threshold`](gabarit_index::VectorIndex::search_threshold) is an
//!   exact scan (never approximate): access and erasure requests must find every match. So are
//!   top-k searches over few candidates (small indexes, narrow collection filters).
//! - [`synth`]: seeded face-like synthetic templates and `.npy` I/O, for the `ann-bench`
//!   binary and tests.
//!
//! What it is not: exact (top-k results of the graph are approximate: at the default breadth,
//! recall@10 on face-like data at 1,000,000 templates is 0.992 against the exact scan of the
//! same int8 codes, 0.984 against float32 exact search; see the README), a normaliser
//! (callers pass L2-normalised templates), concurrent for writers (writes take `&mut self`;
//! searches take `&self` and may run on many threads), or a policy layer (ids and collection
//! numbers only; who may search or erase is decided elsewhere).
//!
//! ```
//! use gabarit_ann::AnnIndex;
//! use gabarit_index::VectorIndex;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = std::env::temp_dir().join(format!("gabarit-ann-doctest-{}", std::process::id()));
//! let mut index = AnnIndex::open(&dir, 4)?;
//! index.insert(7, 1, &[0.5, 0.5, 0.5, 0.5])?;
//! index.insert(8, 2, &[1.0, 0.0, 0.0, 0.0])?;
//! index.flush()?;
//! let hits = index.search(&[1.0, 0.0, 0.0, 0.0], 1, None)?;
//! assert_eq!(hits[0].id, 8);
//! assert!(index.remove(8)?);
//! index.compact()?;
//! assert_eq!(index.search(&[1.0, 0.0, 0.0, 0.0], 10, None)?.len(), 1);
//! # drop(index);
//! # fs_err::remove_dir_all(&dir).ok();
//! # Ok(())
//! # }
//! ```

mod files;
pub mod graph;
mod hugebuf;
mod index;
pub mod kernel;
pub mod synth;

pub use index::{AnnIndex, AnnOptions, AnnStats, DEFAULT_EF_SEARCH, Error, PARALLEL_SCAN_MIN};

/// Result with this crate's [`Error`] (opening and configuring an index).
pub type Result<T, E = Error> = std::result::Result<T, E>;
