//! The contract suite every exact [`VectorIndex`] backend must pass (feature `testing`).
//!
//! A backend's tests call [`contract_tests`] (or each `check_*` function from its own
//! `#[test]`, for parallel runs and clearer failures) with an opener: a function that opens
//! the index stored at a directory, creating it if empty. The opener is called again on the
//! same directory to check persistence, after the previous index was dropped. Backends that
//! do not live in a directory (PostgreSQL) map the directory to a schema or table name.
//!
//! The suite is behind a feature rather than `#[cfg(test)]` so that backends in other crates
//! (an ANN index, pgvector) can run the very same checks: they depend on
//! `gabarit-index = { workspace = true, features = ["testing"] }` in `[dev-dependencies]`.
//! It needs no dependency of its own (a small deterministic generator makes the data).
//!
//! It checks exact backends: results are compared with a brute-force f32 cosine, allowing only
//! the quantisation error (scores within 0.01, and rank swaps only between candidates whose
//! f32 scores are within 0.005). An approximate backend would need a recall-based variant.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::{Error, Hit, VectorIndex};

/// Opens (creating if needed) the index stored at a directory.
pub type Opener<'a> = &'a dyn Fn(&Path) -> Box<dyn VectorIndex>;

/// Largest allowed difference between a backend's score and the f32 cosine.
pub const SCORE_TOLERANCE: f32 = 0.01;

/// Two candidates whose f32 cosines are closer than this may come in either order.
pub const RANK_TOLERANCE: f32 = 0.005;

/// One check of the suite: a fresh directory and the opener.
pub type Check = fn(&Path, Opener<'_>);

/// Runs every check, each in its own subdirectory of `scratch`.
pub fn contract_tests(scratch: &Path, open: Opener<'_>) {
    let checks: [(&str, Check); 13] = [
        ("empty", check_empty),
        ("search_matches_brute_force", check_search_matches_brute_force),
        ("exact_search_matches_brute_force", check_exact_search_matches_brute_force),
        ("ties_by_smaller_id", check_ties_by_smaller_id),
        ("collection_filter", check_collection_filter),
        ("remove", check_remove),
        ("reopen_identical", check_reopen_identical),
        ("compact_keeps_live", check_compact_keeps_live),
        ("compaction_in_halves", check_compaction_in_halves),
        ("threshold_matches_brute_force", check_threshold_matches_brute_force),
        ("threshold_since_mark", check_threshold_since_mark),
        ("invalid_input", check_invalid_input),
        ("k_larger_than_len", check_k_larger_than_len),
    ];
    for (name, check) in checks {
        let dir = scratch.join(name);
        check(&dir, open);
    }
}

/// Deterministic generator (SplitMix64), so the suite needs no dependency.
#[derive(Debug, Clone)]
pub struct TestRng(u64);

impl TestRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> TestRng {
        TestRng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    pub fn symmetric(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A random direction (sum of four uniforms per component, then normalised).
    pub fn unit(&mut self, dim: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dim).map(|_| (0..4).map(|_| self.symmetric()).sum()).collect();
        normalise(v)
    }

    /// `normalise(base + noise × random direction)`: cosine with `base` is about
    /// `1 / sqrt(1 + noise²)`.
    pub fn near(&mut self, base: &[f32], noise: f32) -> Vec<f32> {
        let n = self.unit(base.len());
        normalise(base.iter().zip(n).map(|(b, e)| b + noise * e).collect())
    }
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// f32 dot product (the cosine of unit vectors).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// What the suite inserted: id → (collection, vector).
pub(crate) type Model = HashMap<u64, (u32, Vec<f32>)>;

/// Brute-force f32 ranking of the model, best first, ties by smaller id.
pub(crate) fn brute_force(model: &Model, query: &[f32], collections: Option<&[u32]>) -> Vec<(u64, f32)> {
    let mut all: Vec<(u64, f32)> = model
        .iter()
        .filter(|(_, (c, _))| collections.is_none_or(|cs| cs.contains(c)))
        .map(|(&id, (_, v))| (id, cosine(query, v)))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all
}

fn fresh(dir: &Path, open: Opener<'_>) -> Box<dyn VectorIndex> {
    assert!(!dir.exists() || is_empty_dir(dir), "{}: the suite needs a fresh directory", dir.display());
    open(dir)
}

fn is_empty_dir(dir: &Path) -> bool {
    fs_err::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(false)
}

fn insert_random(
    index: &mut dyn VectorIndex,
    model: &mut Model,
    rng: &mut TestRng,
    ids: std::ops::Range<u64>,
    collections: u32,
) {
    let dim = index.dim();
    for id in ids {
        let c = rng.below(u64::from(collections)) as u32;
        let v = rng.unit(dim);
        index.insert(id, c, &v).expect("insert");
        model.insert(id, (c, v));
    }
}

/// Inserts near copies of `centre` under `ids` (collection `id % 3`), each at the distance
/// `spread(id)` gives: a cluster that thresholds cut through.
fn plant_near(
    index: &mut dyn VectorIndex,
    model: &mut Model,
    rng: &mut TestRng,
    centre: &[f32],
    ids: std::ops::Range<u64>,
    spread: impl Fn(u64) -> f32,
) {
    for id in ids {
        let v = rng.near(centre, spread(id));
        index.insert(id, (id % 3) as u32, &v).expect("insert");
        model.insert(id, ((id % 3) as u32, v));
    }
}

/// Queries: half near a stored vector (clear winners), half random (dense near-ties).
fn queries(model: &Model, rng: &mut TestRng, dim: usize, count: usize) -> Vec<Vec<f32>> {
    let mut ids: Vec<u64> = model.keys().copied().collect();
    ids.sort_unstable();
    (0..count)
        .map(|i| {
            if i % 2 == 0 && !ids.is_empty() {
                let id = ids[rng.below(ids.len() as u64) as usize];
                rng.near(&model[&id].1, 0.3 + 0.1 * (i % 7) as f32)
            } else {
                rng.unit(dim)
            }
        })
        .collect()
}

/// Checks a top-k answer against the brute-force ranking: same length, scores within
/// [`SCORE_TOLERANCE`] of the f32 cosine, correct collections, best first with ties by id,
/// and at every rank an id whose f32 score is within [`RANK_TOLERANCE`] of the true score at
/// that rank (identical ids wherever the true scores are not near-ties).
fn assert_matches(hits: &[Hit], truth: &[(u64, f32)], k: usize, model: &Model, query: &[f32], what: &str) {
    assert_eq!(hits.len(), k.min(truth.len()), "{what}: number of hits");
    assert_sorted(hits, what);
    let mut seen = BTreeSet::new();
    for (rank, hit) in hits.iter().enumerate() {
        assert!(seen.insert(hit.id), "{what}: id {} returned twice", hit.id);
        let (collection, v) = model.get(&hit.id).unwrap_or_else(|| panic!("{what}: unknown or removed id {}", hit.id));
        assert_eq!(hit.collection, *collection, "{what}: collection of id {}", hit.id);
        let exact = cosine(query, v);
        assert!(
            (hit.score - exact).abs() < SCORE_TOLERANCE,
            "{what}: id {} scored {} vs f32 {exact}",
            hit.id,
            hit.score
        );
        let (true_id, true_score) = truth[rank];
        assert!(
            hit.id == true_id || (exact - true_score).abs() < RANK_TOLERANCE,
            "{what}: rank {rank} is id {} (f32 {exact}), brute force has id {true_id} (f32 {true_score})",
            hit.id
        );
    }
}

fn assert_sorted(hits: &[Hit], what: &str) {
    for w in hits.windows(2) {
        assert!(
            w[0].score > w[1].score || (w[0].score == w[1].score && w[0].id < w[1].id),
            "{what}: not best first with ties by smaller id: {:?} then {:?}",
            w[0],
            w[1]
        );
    }
}

/// All live hits, via an exhaustive threshold search below any cosine.
fn everything(index: &dyn VectorIndex, dim: usize) -> BTreeSet<u64> {
    let q = TestRng::new(99).unit(dim);
    index.search_threshold(&q, -2.0, None).expect("threshold search").iter().map(|h| h.id).collect()
}

/// An empty index has no vectors and finds nothing.
pub fn check_empty(dir: &Path, open: Opener<'_>) {
    let index = fresh(dir, open);
    let q = TestRng::new(1).unit(index.dim());
    assert_eq!(index.len(), 0);
    assert!(index.is_empty());
    assert!(index.search(&q, 10, None).expect("search").is_empty());
    assert!(index.search_threshold(&q, -2.0, None).expect("threshold").is_empty());
}

/// Top-10 agrees with brute-force f32 cosine (identical ids except near-ties).
pub fn check_search_matches_brute_force(dir: &Path, open: Opener<'_>) {
    let mut index = fresh(dir, open);
    let dim = index.dim();
    let mut rng = TestRng::new(2);
    let mut model = Model::new();
    insert_random(index.as_mut(), &mut model, &mut rng, 0..3000, 4);
    assert_eq!(index.len(), 3000);
    let (mut identical, mut overlap) = (0, 0);
    let qs = queries(&model, &mut rng, dim, 40);
    for (i, q) in qs.iter().enumerate() {
        let hits = index.search(q, 10, None).expect("search");
        let truth = brute_force(&model, q, None);
        assert_matches(&hits, &truth, 10, &model, q, &format!("query {i}"));
        let top: BTreeSet<u64> = truth.iter().take(10).map(|t| t.0).collect();
        overlap += hits.iter().filter(|h| top.contains(&h.id)).count();
        if hits.iter().map(|h| h.id).eq(truth.iter().take(10).map(|t| t.0)) {
            identical += 1;
        }
        if i % 2 == 0 {
            // A query near a stored vector finds it first.
            assert_eq!(hits[0].id, truth[0].0, "query {i}: nearest neighbour");
        }
    }
    // On dense random data, ranks 5–10 are often closer than the quantisation error, so whole
    // lists are identical only for some queries; the sets nearly always agree.
    let recall = overlap as f64 / 400.0;
    eprintln!("top-10 vs f32 brute force: {identical}/40 lists identical, recall@10 {recall:.3}");
    assert!(recall >= 0.95, "recall@10 against f32 brute force is {recall}");
}

/// `search_exact` finds the true top-10 (within the quantisation error) with and without a
/// collection filter, whatever the index; an exhaustive index's `search` gives the same.
pub fn check_exact_search_matches_brute_force(dir: &Path, open: Opener<'_>) {
    let mut index = fresh(dir, open);
    let dim = index.dim();
    let mut rng = TestRng::new(12);
    let mut model = Model::new();
    insert_random(index.as_mut(), &mut model, &mut rng, 0..2000, 4);
    for (i, q) in queries(&model, &mut rng, dim, 20).iter().enumerate() {
        for filter in [None, Some(&[1u32, 3][..])] {
            let hits = index.search_exact(q, 10, filter).expect("exact search");
            let truth = brute_force(&model, q, filter);
            assert_matches(&hits, &truth, 10, &model, q, &format!("exact, query {i}, {filter:?}"));
            if index.is_exhaustive() {
                assert_eq!(index.search(q, 10, filter).expect("search"), hits, "query {i}: exhaustive search");
            }
        }
    }
}

/// Equal scores come out by increasing id.
pub fn check_ties_by_smaller_id(dir: &Path, open: Opener<'_>) {
    let mut index = fresh(dir, open);
    let dim = index.dim();
    let mut rng = TestRng::new(3);
    let v = rng.unit(dim);
    for id in [50, 7, 1000, 3, 42] {
        index.insert(id, 0, &v).expect("insert");
    }
    for id in 2000..2100 {
        index.insert(id, 0, &rng.unit(dim)).expect("insert");
    }
    let hits = index.search(&v, 5, None).expect("search");
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [3, 7, 42, 50, 1000]);
    assert!(hits.iter().all(|h| h.score == hits[0].score));
    let hits = index.search(&v, 3, None).expect("search");
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [3, 7, 42]);
}

/// `collections` restricts results to those collections.
pub fn check_collection_filter(dir: &Path, open: Opener<'_>) {
    let mut index = fresh(dir, open);
    let dim = index.dim();
    let mut rng = TestRng::new(4);
    let mut model = Model::new();
    insert_random(index.as_mut(), &mut model, &mut rng, 0..2000, 5);
    for (i, q) in queries(&model, &mut rng, dim, 10).iter().enumerate() {
        for filter in [&[1u32, 3][..], &[4], &[0, 1, 2, 3, 4], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]] {
            let hits = index.search(q, 10, Some(filter)).expect("search");
            assert!(hits.iter().all(|h| filter.contains(&h.collection)), "query {i}: collection filter {filter:?}");
            let truth = brute_force(&model, q, Some(filter));
            assert_matches(&hits, &truth, 10, &model, q, &format!("query {i}, collections {filter:?}"));
            let all = index.search_threshold(q, 0.0, Some(filter)).expect("threshold");
            assert!(all.iter().all(|h| filter.contains(&h.collection)));
        }
        assert!(index.search(q, 10, Some(&[])).expect("search").is_empty());
        assert!(index.search(q, 10, Some(&[77])).expect("search").is_empty());
        assert!(index.search_threshold(q, -2.0, Some(&[])).expect("threshold").is_empty());
        let everything = index.search(q, 10, Some(&[0, 1, 2, 3, 4])).expect("search");
        assert_eq!(everything, index.search(q, 10, None).expect("search"));
    }
}

/// Removed vectors are never returned; remove reports whether the id was live; a removed id
/// can be inserted again.
pub fn check_remove(dir: &Path, open: Opener<'_>) {
    let mut index = fresh(dir, open);
    let dim = index.dim();
    let mut rng = TestRng::new(5);
    let mut model = Model::new();
    insert_random(index.as_mut(), &mut model, &mut rng, 0..600, 3);
    let mut removed = Model::new();
    for id in (0..600).step_by(3) {
        assert!(index.remove(id).expect("remove"), "id {id} was live");
        removed.insert(id, model.remove(&id).expect("in model"));
    }
    assert!(!index.remove(0).expect("remove"), "second removal");
    assert!(!index.remove(123_456).expect("remove"), "unknown id");
    assert_eq!(index.len(), 400);
    let check = |index: &dyn VectorIndex, model: &Model, what: &str| {
        assert_eq!(everything(index, dim), model.keys().copied().collect(), "{what}: live ids");
        assert_eq!(index.count(None), model.len(), "{what}: count of all");
        for filter in [&[0u32][..], &[1, 2], &[2, 9], &[]] {
            let live = model.values().filter(|(c, _)| filter.contains(c)).count();
            assert_eq!(index.count(Some(filter)), live, "{what}: count in {filter:?}");
        }
        for (&id, (_, v)) in removed.iter().filter(|(id, _)| !model.contains_key(id)).take(50) {
            let hits = index.search(v, 20, None).expect("search");
            assert!(
                hits.iter().all(|h| !removed.contains_key(&h.id) || model.contains_key(&h.id)),
                "{what}: removed id returned"
            );
            assert!(hits.iter().all(|h| h.id != id));
            let above = index.search_threshold(v, 0.5, None).expect("threshold");
            assert!(above.iter().all(|h| h.id != id), "{what}: removed id {id} in threshold search");
        }
    };
    check(index.as_ref(), &model, "after remove");
    index.flush().expect("flush");
    drop(index);
    let mut index = open(dir);
    check(index.as_ref(), &model, "after reopen");
    // Insert a removed id again, with a new vector.
    let v = rng.unit(dim);
    index.insert(3, 2, &v).expect("re-insert");
    model.insert(3, (2, v.clone()));
    let hits = index.search(&v, 1, None).expect("search");
    assert_eq!((hits[0].id, hits[0].collection), (3, 2));
    check(index.as_ref(), &model, "after re-insert");
    index.flush().expect("flush");
    drop(index);
    let index = open(dir);
    check(index.as_ref(), &model, "after re-insert and reopen");
    assert_eq!(index.search(&v, 1, None).expect("search")[0].id, 3);
}

/// Reopening after a flush gives identical results, bit for bit.
pub fn check_reopen_identical(dir: &Path, open: Opener<'_>) {
    let mut index = fresh(dir, open);
    let dim = index.dim();
    let mut rng = TestRng::new(6);
    let mut model = Model::new();
    insert_random(index.as_mut(), &mut model, &mut rng, 0..1500, 3);
    for id in (0..1500).step_by(7) {
        index.remove(id).expect("remove");
        model.remove(&id);
    }
    let qs = queries(&model, &mut rng, dim, 10);
    let answers = |index: &dyn VectorIndex| -> Vec<(Vec<Hit>, Vec<Hit>, Vec<Hit>)> {
        qs.iter()
            .map(|q| {
                (
                    index.search(q, 10, None).expect("search"),
                    index.search(q, 5, Some(&[1])).expect("search"),
                    index.search_threshold(q, 0.1, None).expect("threshold"),
                )
            })
            .collect()
    };
    let before = answers(index.as_ref());
    index.flush().expect("flush");
    drop(index);
    let mut index = open(dir);
    assert_eq!(index.len(), model.len());
    assert_eq!(answers(index.as_ref()), before, "after reopen");
    index.compact().expect("compact");
    assert_eq!(answers(index.as_ref()), before, "after compact");
    drop(index);
    let index = open(dir);
    assert_eq!(index.len(), model.len());
    assert_eq!(answers(index.as_ref()), before, "after compact and reopen");
}

/// Compaction keeps every live vector and its results.
pub fn check_compact_keeps_live(dir: &Path, open: Opener<'_>) {
    let mut index = fresh(dir, open);
    let dim = index.dim();
    let mut rng = TestRng::new(7);
    let mut model = Model::new();
    insert_random(index.as_mut(), &mut model, &mut rng, 0..800, 2);
    index.compact().expect("compact with nothing removed");
    for id in (0..800).filter(|id| id % 5 != 0) {
        index.remove(id).expect("remove");
        model.remove(&id);
    }
    index.compact().expect("compact");
    assert_eq!(index.len(), model.len());
    assert_eq!(everything(index.as_ref(), dim), model.keys().copied().collect());
    insert_random(index.as_mut(), &mut model, &mut rng, 800..900, 2);
    for q in queries(&model, &mut rng, dim, 6) {
        let hits = index.search(&q, 10, None).expect("search");
        assert_matches(&hits, &brute_force(&model, &q, None), 10, &model, &q, "after compact");
    }
    drop(index);
    let index = open(dir);
    assert_eq!(everything(index.as_ref(), dim), model.keys().copied().collect(), "after reopen");
}

/// Whether a file of `dir` (a temporary one included) holds `v`'s int8 codes as an unsealed
/// index stores them; false for an index kept elsewhere (no directory).
fn holds(dir: &Path, v: &[f32]) -> bool {
    let (codes, _) = crate::quant::quantize(v);
    let stored: Vec<u8> = codes.iter().map(|&c| c as u8).collect();
    let files: Vec<_> = if dir.is_dir() { fs_err::read_dir(dir).expect("list").collect() } else { Vec::new() };
    files
        .into_iter()
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .any(|path| fs_err::read(&path).expect("read").windows(stored.len()).any(|w| w == stored))
}

/// A compaction in two halves: while it is prepared (shared access) searches answer as before;
/// once finished the index answers as a whole compaction leaves it, and removed templates'
/// bytes are gone from every file of the directory. If the index changed between the halves,
/// the second compacts whole: what was removed meanwhile is gone too, what was inserted is
/// kept. A kind without halves passes through `compact`.
pub fn check_compaction_in_halves(dir: &Path, open: Opener<'_>) {
    let mut index = fresh(dir, open);
    let dim = index.dim();
    let mut rng = TestRng::new(13);
    let mut model = Model::new();
    insert_random(index.as_mut(), &mut model, &mut rng, 0..700, 3);
    // A recognisable template to erase: its bytes must leave the files.
    let marked = rng.unit(dim);
    index.insert(700, 0, &marked).expect("insert");
    for id in (0..700).step_by(4).chain([700]) {
        index.remove(id).expect("remove");
        model.remove(&id);
    }
    let qs = queries(&model, &mut rng, dim, 6);
    let answers = |index: &dyn VectorIndex| -> Vec<(Vec<Hit>, Vec<Hit>)> {
        qs.iter()
            .map(|q| {
                (index.search(q, 10, None).expect("search"), index.search_threshold(q, 0.1, None).expect("threshold"))
            })
            .collect()
    };
    let before = answers(index.as_ref());
    index.flush().expect("flush");
    let kept_in_files = dir.is_dir();
    assert_eq!(holds(dir, &marked), kept_in_files, "before compaction, a removed template's codes are still on disk");
    let prepared = index.prepare_compaction().expect("prepare");
    assert_eq!(answers(index.as_ref()), before, "searches while the compaction is prepared");
    index.finish_compaction(prepared).expect("finish");
    assert_eq!(answers(index.as_ref()), before, "after the compaction");
    assert_eq!(everything(index.as_ref(), dim), model.keys().copied().collect());
    assert!(index.search_threshold(&marked, 0.9, None).expect("threshold").is_empty());

    // Changed between the halves: an insert and a removal.
    let prepared = index.prepare_compaction().expect("prepare with nothing removed");
    drop(prepared);
    let again = rng.unit(dim);
    index.insert(800, 1, &again).expect("insert");
    model.insert(800, (1, again));
    index.remove(1).expect("remove");
    model.remove(&1);
    let second = rng.unit(dim);
    index.insert(801, 2, &second).expect("insert");
    model.insert(801, (2, second));
    index.remove(2).expect("remove");
    model.remove(&2);
    let prepared = index.prepare_compaction().expect("prepare");
    index.remove(3).expect("remove between the halves");
    model.remove(&3);
    let third = rng.unit(dim);
    index.insert(802, 0, &third).expect("insert between the halves");
    model.insert(802, (0, third));
    index.finish_compaction(prepared).expect("finish after a change");
    assert_eq!(everything(index.as_ref(), dim), model.keys().copied().collect(), "after a change");
    for q in queries(&model, &mut rng, dim, 4) {
        let hits = index.search(&q, 10, None).expect("search");
        assert_matches(&hits, &brute_force(&model, &q, None), 10, &model, &q, "after a change");
    }
    index.flush().expect("flush");
    drop(index);
    let index = open(dir);
    assert_eq!(everything(index.as_ref(), dim), model.keys().copied().collect(), "after reopen");
    assert!(!holds(dir, &marked), "the erased template's codes are gone from every file");
}

/// A threshold search returns exactly the vectors whose f32 cosine is at least the threshold,
/// except within [`SCORE_TOLERANCE`] of it.
pub fn check_threshold_matches_brute_force(dir: &Path, open: Opener<'_>) {
    let mut index = fresh(dir, open);
    let dim = index.dim();
    let mut rng = TestRng::new(8);
    let mut model = Model::new();
    insert_random(index.as_mut(), &mut model, &mut rng, 0..1000, 3);
    // Plant a cluster of near copies so that thresholds cut through populated scores.
    let centre = rng.unit(dim);
    plant_near(index.as_mut(), &mut model, &mut rng, &centre, 1000..1200, |id| 0.4 + (id % 20) as f32 * 0.1);
    for threshold in [0.9, 0.6, 0.3, 0.1, 0.05, 0.0] {
        for filter in [None, Some(&[0u32, 2][..])] {
            let hits = index.search_threshold(&centre, threshold, filter).expect("threshold");
            assert_sorted(&hits, "threshold search");
            assert!(hits.iter().all(|h| h.score >= threshold));
            let got: BTreeSet<u64> = hits.iter().map(|h| h.id).collect();
            assert_eq!(got.len(), hits.len(), "duplicates");
            for (id, score) in brute_force(&model, &centre, filter) {
                let near_edge = (score - threshold).abs() < SCORE_TOLERANCE;
                assert!(
                    near_edge || got.contains(&id) == (score >= threshold),
                    "threshold {threshold}: id {id} with f32 cosine {score} {}",
                    if got.contains(&id) { "returned" } else { "missing" }
                );
            }
        }
    }
}

/// What a threshold search found at a [`Mark`](crate::Mark), less the ids inserted since, plus
/// the hits among them ([`VectorIndex::search_threshold_since`]), is exactly what it finds now
/// once the ids removed since are left out — through inserts, removals, and ids removed and
/// inserted again with another vector; the hits since are the full search's own (same scores,
/// same order); a compaction that renumbers slots, or another opening of the index, makes the
/// mark unusable (`None`), never wrong. An index without marks (`mark()` is `None`) passes.
pub fn check_threshold_since_mark(dir: &Path, open: Opener<'_>) {
    let mut index = fresh(dir, open);
    let dim = index.dim();
    let mut rng = TestRng::new(12);
    let mut model = Model::new();
    insert_random(index.as_mut(), &mut model, &mut rng, 0..400, 3);
    let centre = rng.unit(dim);
    plant_near(index.as_mut(), &mut model, &mut rng, &centre, 400..500, |id| 0.3 + (id % 10) as f32 * 0.1);
    let Some(mark) = index.mark() else {
        assert!(
            index
                .search_threshold_since(&centre, 0.2, crate::Mark::new(crate::Layout::fresh(), 0))
                .expect("since")
                .is_none()
        );
        return;
    };
    let thresholds = [0.6, 0.3, 0.1];
    let before: Vec<Vec<Hit>> =
        thresholds.iter().map(|&t| index.search_threshold(&centre, t, None).expect("threshold")).collect();
    // Since the mark: new templates near the centre, removals old and new, and old ids removed
    // and inserted again (one near the centre, one far from it: it must leave the set).
    plant_near(index.as_mut(), &mut model, &mut rng, &centre, 500..600, |id| 0.3 + (id % 10) as f32 * 0.1);
    let mut reinserted = Vec::new();
    for id in (400..600).step_by(7) {
        assert!(index.remove(id).expect("remove"));
        model.remove(&id);
    }
    for (id, near) in [(400u64, false), (407, true), (3, true)] {
        index.remove(id).expect("remove");
        let v = if near { rng.near(&centre, 0.2) } else { rng.unit(dim) };
        index.insert(id, 1, &v).expect("insert again");
        model.insert(id, (1, v));
        reinserted.push(id);
    }
    let live: BTreeSet<u64> = model.keys().copied().collect();
    for (&t, was) in thresholds.iter().zip(&before) {
        let since = index.search_threshold_since(&centre, t, mark).expect("since").expect("the mark still holds");
        let inserted: BTreeSet<u64> = since.inserted.iter().copied().collect();
        let expected: BTreeSet<u64> = (500..600).chain(reinserted.iter().copied()).collect();
        assert!(expected.is_subset(&inserted), "threshold {t}: every id stored since is listed");
        assert!(inserted.iter().all(|id| *id >= 500 || reinserted.contains(id)), "threshold {t}: only those");
        let now = index.search_threshold(&centre, t, None).expect("threshold");
        let now_inserted: Vec<Hit> = now.iter().copied().filter(|h| inserted.contains(&h.id)).collect();
        assert_eq!(since.hits, now_inserted, "threshold {t}: the full search's own hits");
        let updated: BTreeSet<u64> = was
            .iter()
            .map(|h| h.id)
            .filter(|id| !inserted.contains(id))
            .chain(since.hits.iter().map(|h| h.id))
            .filter(|id| live.contains(id))
            .collect();
        assert_eq!(updated, now.iter().map(|h| h.id).collect(), "threshold {t}: brought up to date");
    }
    let far = index.search_threshold(&centre, 0.6, None).expect("threshold");
    assert!(far.iter().all(|h| h.id != 400), "the id inserted again far from the centre left the set");
    let now = index.mark().expect("a mark");
    assert_eq!(index.search_threshold_since(&centre, 0.1, now).expect("since"), Some(crate::Since::default()));
    assert!(matches!(index.search_threshold_since(&centre, f32::NAN, now), Err(Error::NanThreshold)));
    index.compact().expect("compact");
    assert_eq!(index.search_threshold_since(&centre, 0.1, mark).expect("since"), None, "renumbered by compaction");
    let after = index.mark().expect("a mark");
    index.flush().expect("flush");
    drop(index);
    let index = open(dir);
    assert_eq!(index.search_threshold_since(&centre, 0.1, after).expect("since"), None, "another opening");
}

/// Wrong dimensions, non-finite values, duplicate ids and NaN thresholds are typed errors and
/// change nothing.
pub fn check_invalid_input(dir: &Path, open: Opener<'_>) {
    let mut index = fresh(dir, open);
    let dim = index.dim();
    let mut rng = TestRng::new(9);
    let v = rng.unit(dim);
    index.insert(1, 0, &v).expect("insert");
    let short = vec![0.1f32; dim - 1];
    let long = vec![0.1f32; dim + 1];
    assert!(
        matches!(index.insert(2, 0, &short), Err(Error::WrongDimension { expected, found }) if expected == dim && found == dim - 1)
    );
    assert!(matches!(index.insert(2, 0, &long), Err(Error::WrongDimension { .. })));
    assert!(matches!(index.insert(2, 0, &[]), Err(Error::WrongDimension { .. })));
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut w = v.clone();
        w[dim / 2] = bad;
        assert!(matches!(index.insert(2, 0, &w), Err(Error::NonFinite { position }) if position == dim / 2));
        assert!(matches!(index.search(&w, 5, None), Err(Error::NonFinite { .. })));
        assert!(matches!(index.search_threshold(&w, 0.5, None), Err(Error::NonFinite { .. })));
    }
    assert!(matches!(index.insert(1, 3, &v), Err(Error::DuplicateId { id: 1 })));
    assert!(matches!(index.search(&short, 5, None), Err(Error::WrongDimension { .. })));
    assert!(matches!(index.search_threshold(&long, 0.5, None), Err(Error::WrongDimension { .. })));
    assert!(matches!(index.search_threshold(&v, f32::NAN, None), Err(Error::NanThreshold)));
    assert_eq!(index.len(), 1);
    let hits = index.search(&v, 5, None).expect("search");
    assert_eq!(hits.len(), 1);
    assert_eq!((hits[0].id, hits[0].collection), (1, 0));
    index.flush().expect("flush");
    drop(index);
    assert_eq!(open(dir).len(), 1, "rejected inserts left no trace on disk");
}

/// `k` above the number of live vectors returns them all; `k = 0` returns none.
pub fn check_k_larger_than_len(dir: &Path, open: Opener<'_>) {
    let mut index = fresh(dir, open);
    let dim = index.dim();
    let mut rng = TestRng::new(10);
    let mut model = Model::new();
    insert_random(index.as_mut(), &mut model, &mut rng, 0..30, 2);
    index.remove(4).expect("remove");
    model.remove(&4);
    let q = rng.unit(dim);
    let hits = index.search(&q, 1000, None).expect("search");
    assert_matches(&hits, &brute_force(&model, &q, None), 1000, &model, &q, "k > len");
    assert!(index.search(&q, 0, None).expect("search").is_empty());
}
