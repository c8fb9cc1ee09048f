//! Integration tests of `gabarit-index`, one binary: the contract suite against `FlatIndex`,
//! physical erasure, crash recovery, a model-based proptest, and the compressed index's
//! equality with the flat scan.

// clippy.toml allows unwrap in `#[test]` functions only; the helpers here are test code too.
#![allow(clippy::unwrap_used)]

mod compressed;
mod contract;
mod crash;
mod encrypted;
mod erasure;
mod model;

use std::path::Path;

use gabarit_index::{FlatIndex, VectorIndex};

/// Dimension used by the tests (the production one).
pub const DIM: usize = 512;

/// Opens a `FlatIndex` of dimension [`DIM`] in `dir`.
pub fn open_flat(dir: &Path) -> Box<dyn VectorIndex> {
    Box::new(FlatIndex::open(dir, DIM).expect("open flat index"))
}
