//! Integration tests of `gabarit-ann`, one binary: the `VectorIndex` contract suite (exact
//! paths and forced graph searches), physical erasure, persistence and recovery, and recall on
//! face-like data.

// clippy.toml allows unwrap in `#[test]` functions only; the helpers here are test code too.
#![allow(clippy::unwrap_used)]

mod contract;
mod erasure;
mod model;
mod persistence;
mod recall;

use std::path::Path;

use gabarit_ann::{AnnIndex, AnnOptions};
use gabarit_index::VectorIndex;

/// Dimension used by the tests (the production one).
pub const DIM: usize = 512;

/// Opens an `AnnIndex` of dimension [`DIM`] with default options.
pub fn open_default(dir: &Path) -> Box<dyn VectorIndex> {
    Box::new(AnnIndex::open(dir, DIM).expect("open ANN index"))
}

/// Options under which every search walks the graph (no exact fallback), with a small `m` so
/// that small test sets still have several levels.
pub fn graph_only() -> AnnOptions {
    AnnOptions { m: 8, ef_construction: 100, ef_search: 200, exact_below: 0, threads: 2, ..AnnOptions::default() }
}

/// Like [`graph_only`], with a breadth that makes walks of the contract suite's sets (at most
/// 3,000 random vectors, the adversarial case for a graph) find the exact answers.
pub fn graph_wide() -> AnnOptions {
    AnnOptions { m: 16, ef_search: 3000, ..graph_only() }
}

/// Opens an `AnnIndex` of dimension [`DIM`] whose searches always walk the graph.
pub fn open_graph_only(dir: &Path) -> Box<dyn VectorIndex> {
    Box::new(AnnIndex::open_with(dir, DIM, graph_wide(), None).expect("open ANN index"))
}
