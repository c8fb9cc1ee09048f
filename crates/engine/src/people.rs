//! People: grouping faces by person. The grouping itself is `gabarit_people::group` (pure);
//! this module turns a pack's calibration into its thresholds and finds the candidate pairs.
//!
//! The join threshold is where, in a set of `n` faces, a face's best match among the other
//! people's faces reaches the threshold for at most [`JOIN_FPIR`] of the faces (the pack's
//! calibration gives the false-match rate at every score), and never below the pack's
//! verification threshold: two single faces merge only on evidence that a search would call a
//! match. Groups then merge on the mean similarity of their pairs of faces.

use gabarit_inference::{Calibration, Pack};
use gabarit_people::Edge;

/// The share of faces whose best false match may reach the join threshold.
pub const JOIN_FPIR: f64 = 0.01;

/// Most candidate pairs kept per face: its most similar other faces above the edge floor.
pub const NEIGHBOURS: usize = 32;

/// The thresholds of a grouping.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupingThresholds {
    /// Least mean pair similarity for two groups to merge.
    pub join: f32,
    /// Least similarity for two faces to be compared at all (a candidate pair).
    pub edge: f32,
}

/// The thresholds for grouping `faces` faces with `pack` (see the module documentation).
pub fn thresholds(pack: &Pack, calibration: Option<&Calibration>, faces: u64) -> GroupingThresholds {
    let floor = pack.thresholds.verification;
    let join = calibration.map_or(floor, |c| c.threshold_for_fpir(JOIN_FPIR, faces.max(1)).max(floor));
    GroupingThresholds { join, edge: pack.thresholds.rights.min(join) }
}

/// Candidate pairs among `templates` (`n × dim`, L2-normalised): for each face its at most
/// `k` most similar others scoring at least `floor`, found by an exact scan (for evaluation
/// sets; a collection's come from its vector index).
pub fn exact_neighbours(templates: &[f32], dim: usize, floor: f32, k: usize) -> Vec<Edge> {
    let n = templates.len() / dim.max(1);
    let row = |i: usize| &templates[i * dim..(i + 1) * dim];
    let mut edges = Vec::new();
    let mut near: Vec<(f32, u32)> = Vec::new();
    for a in 0..n {
        near.clear();
        for b in 0..n {
            if b != a {
                let s: f32 = row(a).iter().zip(row(b)).map(|(x, y)| x * y).sum();
                if s >= floor {
                    near.push((s, b as u32));
                }
            }
        }
        near.sort_unstable_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        edges.extend(near.iter().take(k).map(|&(_, b)| Edge { a: a as u32, b }));
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_are_the_k_best_above_the_floor() {
        // Four unit vectors on a circle: 0 is nearest 1, then 3, then 2.
        let at = |deg: f32| [deg.to_radians().cos(), deg.to_radians().sin()];
        let t: Vec<f32> = [at(0.0), at(20.0), at(170.0), at(-50.0)].concat();
        let e = exact_neighbours(&t, 2, 0.0, 1);
        assert_eq!(e.iter().filter(|e| e.a == 0).map(|e| e.b).collect::<Vec<_>>(), vec![1]);
        let e = exact_neighbours(&t, 2, 0.0, 8);
        assert_eq!(e.iter().filter(|e| e.a == 0).map(|e| e.b).collect::<Vec<_>>(), vec![1, 3]);
        assert!(e.iter().all(|e| e.a != e.b));
    }
}
