//! The `VectorIndex` contract suite of `gabarit-index`, run against `AnnIndex`: with default
//! options (small sets are searched exactly) and with every top-k search forced through the
//! graph.

use gabarit_index::testing;

use crate::{open_default, open_graph_only};

macro_rules! contract {
    ($module:ident, $opener:ident, $($name:ident),* $(,)?) => {
        mod $module {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let tmp = tempfile::tempdir().unwrap();
                    testing::$name(&tmp.path().join("index"), &$opener);
                }
            )*
        }
    };
}

contract!(
    default_options,
    open_default,
    check_empty,
    check_search_matches_brute_force,
    check_exact_search_matches_brute_force,
    check_ties_by_smaller_id,
    check_collection_filter,
    check_remove,
    check_reopen_identical,
    check_compact_keeps_live,
    check_threshold_matches_brute_force,
    check_invalid_input,
    check_k_larger_than_len,
);

contract!(
    graph_search,
    open_graph_only,
    check_empty,
    check_search_matches_brute_force,
    check_exact_search_matches_brute_force,
    check_collection_filter,
    check_remove,
    check_reopen_identical,
    check_compact_keeps_live,
    check_threshold_matches_brute_force,
    check_invalid_input,
    check_k_larger_than_len,
);

#[test]
fn whole_suite_in_one_call_at_another_dimension() {
    let tmp = tempfile::tempdir().unwrap();
    testing::contract_tests(tmp.path(), &|dir| Box::new(gabarit_ann::AnnIndex::open(dir, 64).unwrap()));
}
