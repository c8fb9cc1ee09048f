//! The compressed index's exhaustive searches are the flat scan's, exactly: a property test
//! over random and face-like galleries, queries and thresholds across the whole range (no
//! template missed, ever, and how many were re-scored), and physical erasure.

use std::path::Path;

use gabarit_index::testing::{TestRng, normalise};
use gabarit_index::{CompressedIndex, FlatIndex, VectorIndex};
use proptest::prelude::*;

/// A gallery of `n` templates: unrelated random directions (`face_like` false), or
/// identities of one to four mates at varied distances among unrelated templates, plus exact
/// duplicates (ties).
fn gallery(rng: &mut TestRng, dim: usize, n: usize, face_like: bool) -> Vec<Vec<f32>> {
    let mut out: Vec<Vec<f32>> = Vec::with_capacity(n);
    while out.len() < n {
        let centre = rng.unit(dim);
        if !face_like {
            out.push(centre);
            continue;
        }
        let mates = 1 + rng.below(4) as usize;
        for _ in 0..mates {
            let noise = 0.2 + rng.below(100) as f32 / 100.0;
            let v = rng.unit(dim);
            out.push(normalise(centre.iter().zip(&v).map(|(a, b)| a + noise * b).collect()));
        }
        if rng.below(10) == 0 {
            out.push(centre);
            out.push(out[out.len() - 1].clone());
        }
    }
    out.truncate(n);
    out
}

/// Both indexes over the same gallery (ids, collections, removals).
fn build(dir: &Path, dim: usize, vectors: &[Vec<f32>], removed_every: usize) -> (FlatIndex, CompressedIndex) {
    let mut flat = FlatIndex::open(dir.join("flat"), dim).unwrap();
    let mut compressed = CompressedIndex::open(dir.join("compressed"), dim).unwrap();
    for (i, v) in vectors.iter().enumerate() {
        let id = i as u64 * 7 + 3;
        flat.insert(id, (i % 3) as u32, v).unwrap();
        compressed.insert(id, (i % 3) as u32, v).unwrap();
        if removed_every > 0 && i % removed_every == 1 {
            flat.remove(id).unwrap();
            compressed.remove(id).unwrap();
        }
    }
    (flat, compressed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Threshold and top-k searches equal the flat scan's for any gallery, query and threshold.
    #[test]
    fn exhaustive_searches_equal_the_flat_scan(
        seed in any::<u64>(),
        dim in prop_oneof![Just(512usize), 8usize..200],
        n in 1usize..1500,
        face_like in any::<bool>(),
        removed_every in 0usize..6,
        thresholds in proptest::collection::vec(-1.0f32..1.0, 4),
        k in 1usize..40,
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let mut rng = TestRng::new(seed);
        let vectors = gallery(&mut rng, dim, n, face_like);
        let (flat, compressed) = build(tmp.path(), dim, &vectors, removed_every);
        // Queries: gallery members (their mates score high) and fresh directions.
        let queries = [vectors[rng.below(n as u64) as usize].clone(), rng.unit(dim)];
        for q in &queries {
            for filter in [None, Some(&[0u32, 2][..])] {
                for &t in thresholds.iter().chain(&[0.25, 0.38]) {
                    let (hits, counts) = compressed.search_threshold_counted(q, t, filter).unwrap();
                    prop_assert_eq!(&hits, &flat.search_threshold(q, t, filter).unwrap(), "threshold {}", t);
                    prop_assert_eq!(counts.templates, flat.count(filter));
                    prop_assert!(counts.rescored >= hits.len() && counts.rescored <= counts.templates);
                }
                let (top, counts) = compressed.search_exact_counted(q, k, filter).unwrap();
                prop_assert_eq!(&top, &flat.search_exact(q, k, filter).unwrap());
                prop_assert!(counts.rescored >= top.len());
            }
        }
    }
}

/// On a face-like gallery at the packs' rights thresholds, almost every template is decided
/// by its code: the count of re-scored templates is that of the matches, give or take a few.
#[test]
fn rights_searches_rescore_almost_only_the_matches() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = TestRng::new(77);
    let vectors = gallery(&mut rng, 512, 20_000, true);
    let (flat, compressed) = build(tmp.path(), 512, &vectors, 0);
    for i in [5usize, 500, 5000, 15_000] {
        for threshold in [0.25f32, 0.38] {
            let (hits, counts) = compressed.search_threshold_counted(&vectors[i], threshold, None).unwrap();
            assert_eq!(hits, flat.search_threshold(&vectors[i], threshold, None).unwrap());
            assert!(counts.rescored <= hits.len() + 20, "{threshold}: {} hits, {counts:?}", hits.len());
            assert!(counts.stages <= 2 * counts.templates + counts.templates / 20, "{threshold}: {counts:?}");
        }
    }
}

/// Removed templates are gone: from searches at once, from every file after compaction.
#[test]
fn removed_templates_are_gone_from_searches_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dim = 512;
    let mut rng = TestRng::new(78);
    let vectors = gallery(&mut rng, dim, 300, true);
    let mut index = CompressedIndex::open(tmp.path(), dim).unwrap();
    for (i, v) in vectors.iter().enumerate() {
        index.insert(i as u64, 0, v).unwrap();
    }
    index.flush().unwrap();
    let gone = 17usize;
    let codes: Vec<u8> = gabarit_index::quant::quantize(&vectors[gone]).0.iter().map(|&c| c as u8).collect();
    assert!(index.remove(gone as u64).unwrap());
    let hits = index.search_threshold(&vectors[gone], -1.0, None).unwrap();
    assert_eq!(hits.len(), 299);
    assert!(hits.iter().all(|h| h.id != gone as u64));
    index.compact().unwrap();
    for entry in fs_err::read_dir(tmp.path()).unwrap() {
        let bytes = fs_err::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(codes.len()).any(|w| w == codes.as_slice()), "the removed template's codes are on disk");
    }
    // The survivors are intact after compaction and reopening.
    drop(index);
    let index = CompressedIndex::open(tmp.path(), dim).unwrap();
    assert_eq!(index.search(&vectors[18], 1, None).unwrap()[0].id, 18);
    assert_eq!(index.len(), 299);
}
