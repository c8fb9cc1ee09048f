//! Model-based tests: random sequences of insert, remove, flush, reopen and compact against a
//! `HashMap` model. After every step the live ids and the top-1 of a few queries agree.
//!
//! `gabarit_index::model` is the test every index kind runs (the graph index too); the one
//! below is the flat index's own, stricter one:
//! The model scores with the crate's own quantised cosine (`quant::quantize` and
//! `quant::approx_cosine`), so the comparison is exact, ties by smaller id included: this test
//! checks bookkeeping (slots, tombstones, files), the contract suite checks accuracy.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use gabarit_index::quant::{approx_cosine, quantize};
use gabarit_index::testing::TestRng;
use gabarit_index::{Error, FlatIndex, Hit, VectorIndex};
use proptest::prelude::*;

const DIM: usize = 24;

#[derive(Debug, Clone)]
enum Op {
    Insert { id: u64, collection: u32, seed: u64 },
    Remove { id: u64 },
    Flush,
    Reopen,
    Compact,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u64..16, 0u32..3, 0u64..10).prop_map(|(id, collection, seed)| Op::Insert { id, collection, seed }),
        3 => (0u64..16).prop_map(|id| Op::Remove { id }),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
        1 => Just(Op::Compact),
    ]
}

/// Few distinct seeds, so identical vectors under different ids (exact ties) are common.
fn vector(seed: u64) -> Vec<f32> {
    TestRng::new(1000 + seed).unit(DIM)
}

fn model_top1(model: &HashMap<u64, (u32, Vec<f32>)>, query: &[f32], collections: Option<&[u32]>) -> Option<Hit> {
    let (qq, qs) = quantize(query);
    model
        .iter()
        .filter(|(_, (c, _))| collections.is_none_or(|cs| cs.contains(c)))
        .map(|(&id, (c, v))| {
            let (vq, vs) = quantize(v);
            Hit { id, collection: *c, score: approx_cosine(&qq, qs, &vq, vs) }
        })
        .min_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)))
}

fn check(index: &FlatIndex, model: &HashMap<u64, (u32, Vec<f32>)>, queries: &[Vec<f32>], step: usize) {
    let live: BTreeSet<u64> = index.ids().collect();
    let expected: BTreeSet<u64> = model.keys().copied().collect();
    assert_eq!(live, expected, "step {step}: live ids");
    assert_eq!(index.len(), model.len(), "step {step}: len");
    let all: BTreeSet<u64> = index.search_threshold(&queries[0], -2.0, None).unwrap().iter().map(|h| h.id).collect();
    assert_eq!(all, expected, "step {step}: exhaustive search");
    for q in queries {
        for filter in [None, Some(&[1u32][..]), Some(&[0, 2][..])] {
            let got = index.search(q, 1, filter).unwrap();
            assert_eq!(got.first().copied(), model_top1(model, q, filter), "step {step}: top-1 with {filter:?}");
        }
    }
}

fn run(dir: &Path, ops: &[Op]) {
    let queries: Vec<Vec<f32>> = (0..3).map(|s| TestRng::new(s).unit(DIM)).collect();
    let mut model: HashMap<u64, (u32, Vec<f32>)> = HashMap::new();
    let mut index = FlatIndex::open(dir, DIM).unwrap();
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Insert { id, collection, seed } => {
                let v = vector(*seed);
                let result = index.insert(*id, *collection, &v);
                if model.contains_key(id) {
                    assert!(matches!(result, Err(Error::DuplicateId { .. })), "step {step}: duplicate accepted");
                } else {
                    result.unwrap();
                    model.insert(*id, (*collection, v));
                }
            }
            Op::Remove { id } => {
                assert_eq!(index.remove(*id).unwrap(), model.remove(id).is_some(), "step {step}: remove {id}");
            }
            Op::Flush => index.flush().unwrap(),
            Op::Reopen => {
                drop(index);
                index = FlatIndex::open(dir, DIM).unwrap();
            }
            Op::Compact => {
                index.compact().unwrap();
                assert_eq!(index.stats().dead, 0);
            }
        }
        check(&index, &model, &queries, step);
    }
    // Whatever the history, a final flush and reopen gives the same state.
    index.flush().unwrap();
    drop(index);
    let index = FlatIndex::open(dir, DIM).unwrap();
    check(&index, &model, &queries, ops.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn index_behaves_like_a_hashmap(ops in proptest::collection::vec(op(), 1..40)) {
        let tmp = tempfile::tempdir().unwrap();
        run(tmp.path(), &ops);
    }

    #[test]
    fn every_index_kind_passes_the_shared_model_test(ops in gabarit_index::model::ops()) {
        let tmp = tempfile::tempdir().unwrap();
        gabarit_index::model::run(tmp.path(), &|dir| Box::new(FlatIndex::open(dir, gabarit_index::model::DIM).unwrap()), &ops);
        let tmp = tempfile::tempdir().unwrap();
        gabarit_index::model::run(
            tmp.path(),
            &|dir| Box::new(gabarit_index::CompressedIndex::open(dir, gabarit_index::model::DIM).unwrap()),
            &ops,
        );
    }
}
