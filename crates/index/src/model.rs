//! Model-based test of any [`VectorIndex`] (feature `testing`): random sequences of insert,
//! remove, flush, reopen and compact against a `HashMap` model. After every step the live ids,
//! the count per collection, and the top-1 of a few queries (approximate and exact, with and
//! without a collection filter) agree with the model.
//!
//! The model scores with the f32 cosine; an index scores with its own quantisation, so a top-1
//! may differ from the model's only between vectors whose f32 scores are within
//! [`RANK_TOLERANCE`], and its score stays within [`SCORE_TOLERANCE`]. Identical vectors under
//! different ids (common: few distinct seeds) score exactly alike in any index, so their tie
//! is always broken by the smaller id. A backend's tests run [`run`] from a `proptest!` with
//! [`ops`].

use std::collections::BTreeSet;
use std::path::Path;

use proptest::prelude::*;

use crate::testing::{Model, Opener, RANK_TOLERANCE, SCORE_TOLERANCE, TestRng, brute_force, cosine};
use crate::{Error, Hit, VectorIndex};

/// The dimension of the model's vectors.
pub const DIM: usize = 24;

/// One step of a history.
#[derive(Debug, Clone)]
pub enum Op {
    /// Inserts the vector of `seed` under `id` in `collection`.
    Insert {
        /// Id.
        id: u64,
        /// Collection.
        collection: u32,
        /// Which of a few vectors.
        seed: u64,
    },
    /// Removes `id`.
    Remove {
        /// Id.
        id: u64,
    },
    /// Makes everything durable.
    Flush,
    /// Drops the index and opens it again from its directory.
    Reopen,
    /// Compacts.
    Compact,
}

/// Histories of 1 to 40 steps over 16 ids, 3 collections and 10 distinct vectors.
pub fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        6 => (0u64..16, 0u32..3, 0u64..10).prop_map(|(id, collection, seed)| Op::Insert { id, collection, seed }),
        3 => (0u64..16).prop_map(|id| Op::Remove { id }),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => Just(Op::Compact),
    ];
    proptest::collection::vec(op, 1..40)
}

/// Few distinct seeds, so identical vectors under different ids (exact ties) are common.
fn vector(seed: u64) -> Vec<f32> {
    TestRng::new(1000 + seed).unit(DIM)
}

/// Checks a top-1 against the model's ranking.
fn check_top1(got: &[Hit], model: &Model, query: &[f32], collections: Option<&[u32]>, what: &str) {
    let truth = brute_force(model, query, collections);
    let Some(&(best, best_score)) = truth.first() else {
        assert!(got.is_empty(), "{what}: found {got:?} in an empty selection");
        return;
    };
    let hit = got.first().unwrap_or_else(|| panic!("{what}: nothing found, {best} expected"));
    assert!(got.len() == 1, "{what}: {} hits for k = 1", got.len());
    let (c, v) = &model[&hit.id];
    assert_eq!(hit.collection, *c, "{what}: collection of {}", hit.id);
    assert!(collections.is_none_or(|cs| cs.contains(c)), "{what}: {} is outside the filter", hit.id);
    let score = cosine(query, v);
    assert!((hit.score - score).abs() <= SCORE_TOLERANCE, "{what}: score {} for f32 {score}", hit.score);
    if hit.id != best {
        let same_vector = model[&best].1 == *v;
        assert!(!same_vector, "{what}: {} before {best}, an identical vector with a smaller id", hit.id);
        assert!(
            best_score - score <= RANK_TOLERANCE,
            "{what}: {} (f32 {score}) instead of {best} ({best_score})",
            hit.id
        );
    }
}

fn check(index: &dyn VectorIndex, model: &Model, queries: &[Vec<f32>], step: usize) {
    let expected: BTreeSet<u64> = model.keys().copied().collect();
    let all: BTreeSet<u64> =
        index.search_threshold(&queries[0], -2.0, None).expect("threshold search").iter().map(|h| h.id).collect();
    assert_eq!(all, expected, "step {step}: the live ids (exhaustive search)");
    assert_eq!(index.len(), model.len(), "step {step}: len");
    for c in 0..3u32 {
        let count = model.values().filter(|(mc, _)| *mc == c).count();
        assert_eq!(index.count(Some(&[c])), count, "step {step}: count of collection {c}");
    }
    for (i, q) in queries.iter().enumerate() {
        for filter in [None, Some(&[1u32][..]), Some(&[0, 2][..])] {
            let what = format!("step {step}, query {i}, filter {filter:?}");
            let approximate = index.search(q, 1, filter).expect("search");
            let exact = index.search_exact(q, 1, filter).expect("exact search");
            check_top1(&exact, model, q, filter, &format!("{what}, exact"));
            check_top1(&approximate, model, q, filter, &what);
            if index.is_exhaustive() {
                assert_eq!(approximate, exact, "{what}: an exhaustive index's search is its exact search");
            }
        }
    }
}

/// Runs the history `ops` on the index `open` makes in `dir`, checking it against the model
/// after every step and after a last flush and reopen.
pub fn run(dir: &Path, open: Opener<'_>, ops: &[Op]) {
    let queries: Vec<Vec<f32>> = (0..3).map(|s| TestRng::new(s).unit(DIM)).collect();
    let mut model = Model::new();
    let mut index = open(dir);
    assert_eq!(index.dim(), DIM, "the opener makes indexes of model::DIM");
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Insert { id, collection, seed } => {
                let v = vector(*seed);
                let result = index.insert(*id, *collection, &v);
                if model.contains_key(id) {
                    assert!(matches!(result, Err(Error::DuplicateId { .. })), "step {step}: duplicate accepted");
                } else {
                    result.expect("insert");
                    model.insert(*id, (*collection, v));
                }
            }
            Op::Remove { id } => {
                assert_eq!(index.remove(*id).expect("remove"), model.remove(id).is_some(), "step {step}: remove {id}");
            }
            Op::Flush => index.flush().expect("flush"),
            Op::Reopen => {
                drop(index);
                index = open(dir);
            }
            Op::Compact => index.compact().expect("compact"),
        }
        check(index.as_ref(), &model, &queries, step);
    }
    // Whatever the history, a final flush and reopen gives the same state.
    index.flush().expect("flush");
    drop(index);
    let index = open(dir);
    check(index.as_ref(), &model, &queries, ops.len());
}
