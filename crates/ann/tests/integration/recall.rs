//! Recall of graph searches on face-like data against the exact scan of the same index, with
//! and without collection filters, before and after removals and compaction.

use gabarit_ann::synth::FaceLike;
use gabarit_ann::{AnnIndex, AnnOptions};
use gabarit_index::{Hit, VectorIndex};

use crate::DIM;

fn recall(found: &[Hit], truth: &[Hit]) -> usize {
    found.iter().filter(|h| truth.iter().any(|t| t.id == h.id)).count()
}

#[test]
fn graph_search_recall_on_face_like_data() {
    let tmp = tempfile::tempdir().unwrap();
    let n = 30_000;
    let g = FaceLike::new(DIM, 31);
    let db = g.database(0, n, 2);
    let opts = AnnOptions { ef_construction: 100, ef_search: 400, threads: 2, ..AnnOptions::default() };
    let mut index = AnnIndex::open_with(tmp.path().join("index"), DIM, opts, None).unwrap();
    // Collection 0 holds 60% of the templates (graph walk), collection 1 10% (exact scan).
    let items: Vec<(u64, u32)> = (0..n).map(|i| (i as u64, if i % 10 < 6 { 0 } else { (i % 10) as u32 - 5 })).collect();
    index.insert_batch(&items, &db).unwrap();
    let (who, probes) = g.probes(n as u64, 100, 8);
    let measure = |index: &AnnIndex, filter: Option<&[u32]>| -> f64 {
        let mut hits = 0;
        for (identity, p) in who.iter().zip(probes.chunks_exact(DIM)) {
            let found = index.search(p, 10, filter).unwrap();
            let truth = index.search_exact(p, 10, filter).unwrap();
            assert!(found.iter().all(|h| filter.is_none_or(|f| f.contains(&h.collection))));
            assert!(found.windows(2).all(|w| w[0].score >= w[1].score));
            if filter.is_none() && index.contains(identity * 5) {
                assert_eq!(found[0].id / 5, *identity, "the probe's own identity comes first");
            }
            hits += recall(&found, &truth);
        }
        hits as f64 / (10.0 * who.len() as f64)
    };
    let all = measure(&index, None);
    assert!(all >= 0.97, "recall@10 {all}");
    let wide = measure(&index, Some(&[0]));
    assert!(wide >= 0.97, "recall@10 in collection 0: {wide}");
    let narrow = measure(&index, Some(&[1]));
    assert_eq!(narrow, 1.0, "a narrow filter is an exact scan");

    // Remove a fifth (every template of some identities), compact, search again.
    for id in (0..n as u64).filter(|id| id / 5 % 5 == 0) {
        assert!(index.remove(id).unwrap());
    }
    let after_remove = measure(&index, None);
    index.compact().unwrap();
    assert_eq!(index.len(), n - n / 5);
    let after_compact = measure(&index, None);
    assert!(after_remove >= 0.95, "recall@10 with removed templates in the graph: {after_remove}");
    assert!(after_compact >= 0.95, "recall@10 after compaction: {after_compact}");
    let stats = index.stats();
    assert_eq!(stats.dead, 0);
    assert!(stats.mean_degree > 20.0, "mean degree {}", stats.mean_degree);
}
