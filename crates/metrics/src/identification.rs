//! One-to-many (open-set) identification, in the style of ISO/IEC 19795-1 and NIST FRTE.
//!
//! A search compares a probe with every gallery entry. *Mated* probes have a true mate in the
//! gallery; *non-mated* probes do not. What matters per probe is summarised as:
//!
//! * mated probe: the score of its mate and the mate's rank (see [`mate_rank`]);
//! * non-mated probe: its highest gallery score (its best false candidate).

use serde::{Deserialize, Serialize};

use crate::scores::{allowed_errors, finite, lowest_threshold, rate, required_count};

/// An open-set identification operating point chosen for a target FPIR (see
/// [`fnir_at_fpir`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IdentificationPoint {
    /// Decision threshold: a candidate is returned when `score >= threshold`.
    pub threshold: f32,
    /// False positive identification rate: share of non-mated probes whose top score is
    /// `>= threshold` (never above the target).
    pub fpir: f64,
    /// False negative identification rate: share of mated probes whose mate is not returned
    /// at rank `<= rank_limit` with score `>= threshold`.
    pub fnir: f64,
    /// Number of mated probes (all of them, including those with a non-finite score).
    pub mated_count: usize,
    /// Number of non-mated probes (all of them, including those with a non-finite score).
    pub nonmated_count: usize,
}

/// The 1-based rank of a mate among the gallery: `1 +` the number of `other_scores` strictly
/// higher than `mate_score`.
///
/// **Ties count in the probe's favour**: gallery entries scoring exactly the mate's score do
/// not push the mate down.
///
/// `other_scores` are the probe's scores against gallery entries of *other* identities. The
/// mate's own entry may be included (a score is never strictly above itself); with several
/// entries per identity, pass the best mate score and make sure no other entry of the mate's
/// identity exceeds it. NaN gallery scores never outrank the mate. A non-finite `mate_score`
/// gives `usize::MAX` ("mate not found").
pub fn mate_rank(mate_score: f32, other_scores: &[f32]) -> usize {
    if !mate_score.is_finite() {
        return usize::MAX;
    }
    1 + other_scores.iter().filter(|&&s| s > mate_score).count()
}

/// Closed-set rank-`k` identification rate (one point of the CMC curve): the share of mated
/// probes whose mate rank is in `1..=k`.
///
/// Ranks are 1-based; encode "mate not returned" as `usize::MAX`. A rank of 0 is not a valid
/// rank and counts as a miss. `None` when `mate_ranks` is empty or `k == 0`.
pub fn rank_k_rate(mate_ranks: &[usize], k: usize) -> Option<f64> {
    if mate_ranks.is_empty() || k == 0 {
        return None;
    }
    let hits = mate_ranks.iter().filter(|&&r| (1..=k).contains(&r)).count();
    Some(rate(hits, mate_ranks.len()))
}

/// FNIR at a target FPIR, for candidates limited to rank `<= rank_limit`.
///
/// * `mated`: per mated probe, `(mate score, mate rank)` (rank as in [`mate_rank`]);
/// * `nonmated_top`: per non-mated probe, its highest gallery score.
///
/// The threshold is the lowest `t` with `FPIR(t) <= target_fpir`, where `FPIR(t)` is the
/// share of non-mated probes whose top score is `>= t`. Candidate thresholds are the observed
/// finite scores (both inputs) plus one just above the largest of them, as in
/// [`crate::fnmr_at_fmr`]. `FNIR(t)` is the share of mated probes whose mate is *not* found
/// at rank `<= rank_limit` with score `>= t`.
///
/// **Non-finite scores mean "nothing returned"** and, unlike in verification, stay in the
/// denominators (dropping them would flatter the system): a mated probe with a non-finite
/// mate score is a miss at every threshold; a non-mated probe with a non-finite top score is
/// never a false positive.
///
/// **Data-support rule:** `None` when there are fewer than `ceil(1 / target_fpir)` non-mated
/// probes, when `mated` is empty, when `rank_limit == 0`, when `target_fpir` is NaN or not
/// positive, or when no score at all is finite.
///
/// Runs in `O(n)` (selection; no full sort).
pub fn fnir_at_fpir(
    mated: &[(f32, usize)],
    nonmated_top: &[f32],
    target_fpir: f64,
    rank_limit: usize,
) -> Option<IdentificationPoint> {
    let required = required_count(target_fpir)?;
    if mated.is_empty() || rank_limit == 0 || nonmated_top.len() < required {
        return None;
    }
    let mut negatives = finite(nonmated_top);
    let mate_scores: Vec<f32> = mated.iter().map(|&(s, _)| s).filter(|s| s.is_finite()).collect();
    let allowed = allowed_errors(nonmated_top.len(), target_fpir);
    let threshold = lowest_threshold(&mut negatives, allowed, &mate_scores)?;
    let false_positives = negatives.iter().filter(|&&s| s >= threshold).count();
    let hits = mated.iter().filter(|&&(s, r)| s.is_finite() && s >= threshold && (1..=rank_limit).contains(&r)).count();
    Some(IdentificationPoint {
        threshold,
        fpir: rate(false_positives, nonmated_top.len()),
        fnir: rate(mated.len() - hits, mated.len()),
        mated_count: mated.len(),
        nonmated_count: nonmated_top.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    // ---- mate_rank ----

    #[test]
    fn mate_rank_counts_strictly_higher_scores_and_ties_favour_the_probe() {
        assert_eq!(mate_rank(0.6, &[0.1, 0.2, 0.3]), 1);
        assert_eq!(mate_rank(0.6, &[0.7, 0.2, 0.9]), 3);
        // Two gallery entries tied with the mate: still rank 1.
        assert_eq!(mate_rank(0.6, &[0.6, 0.6, 0.5]), 1);
        // The mate's own score may be in the list.
        assert_eq!(mate_rank(0.6, &[0.6, 0.7]), 2);
        assert_eq!(mate_rank(0.6, &[]), 1);
        assert_eq!(mate_rank(0.6, &[f32::NAN, 0.7]), 2);
        assert_eq!(mate_rank(f32::NAN, &[0.1]), usize::MAX);
    }

    // ---- rank_k_rate ----

    #[test]
    fn rank_k_rate_counts_ranks_up_to_k() {
        let ranks = [1, 1, 2, 5, usize::MAX];
        assert_eq!(rank_k_rate(&ranks, 1), Some(0.4));
        assert_eq!(rank_k_rate(&ranks, 2), Some(0.6));
        assert_eq!(rank_k_rate(&ranks, 4), Some(0.6));
        assert_eq!(rank_k_rate(&ranks, 5), Some(0.8));
        assert_eq!(rank_k_rate(&ranks, usize::MAX), Some(1.0));
    }

    #[test]
    fn rank_k_rate_treats_rank_zero_as_a_miss_and_rejects_degenerate_input() {
        assert_eq!(rank_k_rate(&[0, 1], 3), Some(0.5));
        assert_eq!(rank_k_rate(&[], 1), None);
        assert_eq!(rank_k_rate(&[1, 2], 0), None);
    }

    // ---- fnir_at_fpir ----

    fn mated() -> Vec<(f32, usize)> {
        vec![(0.9, 1), (0.8, 1), (0.7, 2), (0.95, 3), (f32::NAN, usize::MAX)]
    }
    const NONMATED: [f32; 4] = [0.5, 0.6, 0.75, 0.85];

    #[test]
    fn fnir_at_fpir_rank_one() {
        // 1 of 4 non-mated may pass: 0.75 must be rejected; the lowest observed score above
        // it is the mate score 0.8. FPIR = 1/4 (0.85). Hits at rank 1 with score >= 0.8:
        // 0.9 and 0.8, so 3 of 5 mated probes are misses (the NaN one included).
        let p = fnir_at_fpir(&mated(), &NONMATED, 0.25, 1).expect("supported");
        assert_eq!(p, IdentificationPoint { threshold: 0.8, fpir: 0.25, fnir: 0.6, mated_count: 5, nonmated_count: 4 });
    }

    #[test]
    fn fnir_at_fpir_larger_rank_limit_finds_more_mates() {
        // Rank <= 3: 0.9, 0.8, 0.95 are hits (0.7 is below the threshold).
        let p = fnir_at_fpir(&mated(), &NONMATED, 0.25, 3).expect("supported");
        assert_eq!(p.threshold, 0.8);
        assert!(close(p.fnir, 0.4));
    }

    #[test]
    fn fnir_at_fpir_target_one_accepts_everything() {
        // Threshold = lowest observed score (0.5); every finite mate within rank 3 is a hit.
        let p = fnir_at_fpir(&mated(), &NONMATED, 1.0, 3).expect("supported");
        assert_eq!((p.threshold, p.fpir), (0.5, 1.0));
        assert!(close(p.fnir, 0.2));
    }

    #[test]
    fn fnir_at_fpir_nonfinite_nonmated_scores_count_but_never_match() {
        // 4 non-mated probes, one returned nothing (NaN): 1/4 allowed, and the finite ones
        // are 0.5 0.6 0.85, so 0.6 must be rejected; next observed above it: 0.7.
        let p = fnir_at_fpir(&mated(), &[0.5, f32::NAN, 0.6, 0.85], 0.25, 3).expect("supported");
        assert_eq!((p.threshold, p.fpir, p.nonmated_count), (0.7, 0.25, 4));
        // Hits within rank 3 and >= 0.7: 0.9, 0.8, 0.7, 0.95.
        assert!(close(p.fnir, 0.2));
    }

    #[test]
    fn fnir_at_fpir_with_tied_nonmated_tops() {
        // Two non-mated tied at 0.85 with 1/4 allowed: go above 0.85 -> 0.9.
        let p = fnir_at_fpir(&mated(), &[0.5, 0.85, 0.85, 0.1], 0.25, 3).expect("supported");
        assert_eq!((p.threshold, p.fpir), (0.9, 0.0));
        // Hits: 0.9 (rank 1), 0.95 (rank 3).
        assert!(close(p.fnir, 0.6));
    }

    #[test]
    fn fnir_at_fpir_refuses_unsupported_targets() {
        assert_eq!(fnir_at_fpir(&mated(), &NONMATED, 0.2, 1), None); // needs 5
        assert_eq!(fnir_at_fpir(&[], &NONMATED, 0.25, 1), None);
        assert_eq!(fnir_at_fpir(&mated(), &[], 0.25, 1), None);
        assert_eq!(fnir_at_fpir(&mated(), &NONMATED, 0.25, 0), None);
        assert_eq!(fnir_at_fpir(&mated(), &NONMATED, 0.0, 1), None);
        assert_eq!(fnir_at_fpir(&mated(), &NONMATED, f64::NAN, 1), None);
        assert_eq!(fnir_at_fpir(&[(f32::NAN, 1)], &[f32::NAN], 1.0, 1), None);
    }
}
