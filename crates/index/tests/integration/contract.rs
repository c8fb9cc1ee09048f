//! The `VectorIndex` contract suite, run against `FlatIndex`, one `#[test]` per check.

use gabarit_index::testing;

use crate::open_flat;

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let tmp = tempfile::tempdir().unwrap();
                testing::$name(&tmp.path().join("index"), &open_flat);
            }
        )*
    };
}

contract!(
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

#[test]
fn whole_suite_in_one_call() {
    let tmp = tempfile::tempdir().unwrap();
    testing::contract_tests(tmp.path(), &|dir| Box::new(gabarit_index::FlatIndex::open(dir, 64).unwrap()));
}
