//! How well a clustering groups items by their true label: BCubed precision and recall
//! (Bagga and Baldwin 1998; Amigó et al. 2009) and pairwise precision and recall, from the
//! contingency counts of (cluster, label), so in `O(n log n)` at any size.

use std::collections::HashMap;
use std::hash::Hash;

/// Scores of a clustering against true labels.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClusteringScores {
    /// Items.
    pub items: usize,
    /// Clusters (single items included).
    pub clusters: usize,
    /// Mean over items of the share of its cluster that has its label.
    pub bcubed_precision: f64,
    /// Mean over items of the share of its label that is in its cluster.
    pub bcubed_recall: f64,
    /// Harmonic mean of the two.
    pub bcubed_f: f64,
    /// Of the pairs put in one cluster, the share with one label (1 when there is none).
    pub pairwise_precision: f64,
    /// Of the pairs with one label, the share put in one cluster (1 when there is none).
    pub pairwise_recall: f64,
}

fn harmonic(p: f64, r: f64) -> f64 {
    if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 }
}

fn pairs(k: u64) -> u64 {
    k * k.saturating_sub(1) / 2
}

/// Scores `clusters` (a cluster per item) against `labels` (a label per item).
///
/// # Panics
/// If the two slices differ in length.
pub fn clustering_scores<C: Hash + Eq, L: Hash + Eq>(clusters: &[C], labels: &[L]) -> ClusteringScores {
    assert_eq!(clusters.len(), labels.len(), "clustering_scores: one cluster and one label per item");
    let n = clusters.len();
    let mut cluster_size: HashMap<&C, u64> = HashMap::new();
    let mut label_size: HashMap<&L, u64> = HashMap::new();
    let mut both: HashMap<(&C, &L), u64> = HashMap::new();
    for (c, l) in clusters.iter().zip(labels) {
        *cluster_size.entry(c).or_default() += 1;
        *label_size.entry(l).or_default() += 1;
        *both.entry((c, l)).or_default() += 1;
    }
    // Each of the k items of a (cluster, label) cell has k of its cluster's items with its
    // label: it adds k / |cluster| to precision and k / |label| to recall.
    let (mut precision, mut recall) = (0.0f64, 0.0f64);
    let mut together_same = 0u64;
    for (&(c, l), &k) in &both {
        let kf = k as f64;
        precision += kf * kf / cluster_size[c] as f64;
        recall += kf * kf / label_size[l] as f64;
        together_same += pairs(k);
    }
    let together: u64 = cluster_size.values().map(|&k| pairs(k)).sum();
    let same: u64 = label_size.values().map(|&k| pairs(k)).sum();
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let (bp, br) = if n == 0 { (1.0, 1.0) } else { (precision / n as f64, recall / n as f64) };
    ClusteringScores {
        items: n,
        clusters: cluster_size.len(),
        bcubed_precision: bp,
        bcubed_recall: br,
        bcubed_f: harmonic(bp, br),
        pairwise_precision: ratio(together_same, together),
        pairwise_recall: ratio(together_same, same),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hand_computed_example() {
        // Labels a a a b b; clusters {0,1} {2,3} {4}.
        // BCubed precision: items 0,1 → 2/2; item 2 → 1/2 (cluster {2,3} holds a and b);
        // item 3 → 1/2; item 4 → 1: (1 + 1 + 0.5 + 0.5 + 1) / 5 = 0.8.
        // BCubed recall: items 0,1 → 2/3; item 2 → 1/3; item 3 → 1/2; item 4 → 1/2:
        // (2/3 + 2/3 + 1/3 + 1/2 + 1/2) / 5 = 8/15.
        // Pairs together: (0,1) same, (2,3) not → precision 1/2; same-label pairs: 3 of a + 1 of
        // b = 4, of which (0,1) together → recall 1/4.
        let s = clustering_scores(&[0, 0, 1, 1, 2], &["a", "a", "a", "b", "b"]);
        assert_eq!(s.clusters, 3);
        assert!((s.bcubed_precision - 0.8).abs() < 1e-12);
        assert!((s.bcubed_recall - 8.0 / 15.0).abs() < 1e-12);
        assert!((s.bcubed_f - 2.0 * 0.8 * (8.0 / 15.0) / (0.8 + 8.0 / 15.0)).abs() < 1e-12);
        assert!((s.pairwise_precision - 0.5).abs() < 1e-12);
        assert!((s.pairwise_recall - 0.25).abs() < 1e-12);
    }

    #[test]
    fn the_truth_scores_one_and_singletons_have_full_precision() {
        let labels = [3, 1, 3, 2, 1, 1];
        let s = clustering_scores(&labels, &labels);
        assert_eq!(
            (s.bcubed_precision, s.bcubed_recall, s.pairwise_precision, s.pairwise_recall),
            (1.0, 1.0, 1.0, 1.0)
        );
        let alone: Vec<usize> = (0..labels.len()).collect();
        let s = clustering_scores(&alone, &labels);
        assert_eq!(s.bcubed_precision, 1.0);
        assert!((s.bcubed_recall - (1.0 / 2.0 * 2.0 + 1.0 / 3.0 * 3.0 + 1.0) / 6.0).abs() < 1e-12);
        assert_eq!(s.pairwise_recall, 0.0);
        let one = vec![0; labels.len()];
        assert_eq!(clustering_scores(&one, &labels).bcubed_recall, 1.0);
    }
}
