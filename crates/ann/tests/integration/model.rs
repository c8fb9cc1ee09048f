//! The model-based test of `gabarit-index` (random histories of insert, remove, flush, reopen
//! and compact against a `HashMap`), run against `AnnIndex` with every search through the
//! graph and with the default options.

use gabarit_ann::AnnIndex;
use gabarit_index::VectorIndex;
use gabarit_index::model::{self, DIM};
use proptest::prelude::*;

fn graph_only(dir: &std::path::Path) -> Box<dyn VectorIndex> {
    Box::new(AnnIndex::open_with(dir, DIM, crate::graph_only(), None).unwrap())
}

fn default_options(dir: &std::path::Path) -> Box<dyn VectorIndex> {
    Box::new(AnnIndex::open(dir, DIM).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_graph_behaves_like_a_hashmap(ops in model::ops()) {
        let tmp = tempfile::tempdir().unwrap();
        model::run(tmp.path(), &graph_only, &ops);
    }

    #[test]
    fn the_default_index_behaves_like_a_hashmap(ops in model::ops()) {
        let tmp = tempfile::tempdir().unwrap();
        model::run(tmp.path(), &default_options, &ops);
    }
}
