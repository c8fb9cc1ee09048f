//! One-to-one verification: DET curve, equal error rate, FNMR at a target FMR.

use serde::{Deserialize, Serialize};

use crate::scores::{allowed_errors, finite, finite_sorted, lowest_threshold, rate, required_count};

/// One point of a DET (detection error trade-off) curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetPoint {
    /// Decision threshold: a comparison is accepted when `score >= threshold`.
    pub threshold: f32,
    /// False match rate: share of impostor scores `>= threshold`.
    pub fmr: f64,
    /// False non-match rate: share of genuine scores `< threshold`.
    pub fnmr: f64,
}

/// The equal error rate and where it happens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Eer {
    /// The rate at which FMR and FNMR are equal (linearly interpolated, see [`eer`]).
    pub eer: f64,
    /// The (interpolated) threshold at which they are equal.
    pub threshold: f32,
}

/// A verification operating point chosen for a target FMR (see [`fnmr_at_fmr`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OperatingPoint {
    /// Decision threshold: a comparison is accepted when `score >= threshold`.
    pub threshold: f32,
    /// Achieved false match rate at `threshold` (never above the target).
    pub fmr: f64,
    /// False non-match rate at `threshold`.
    pub fnmr: f64,
    /// Number of (finite) genuine scores the rates were computed on.
    pub genuine_count: usize,
    /// Number of (finite) impostor scores the rates were computed on.
    pub impostor_count: usize,
}

/// Walks the distinct thresholds of two ascending score lists and yields one DET point each.
/// Both lists must be non-empty, finite and sorted ascending.
struct Sweep<'a> {
    genuine: &'a [f32],
    impostor: &'a [f32],
    g: usize,
    i: usize,
}

impl<'a> Sweep<'a> {
    fn new(genuine: &'a [f32], impostor: &'a [f32]) -> Self {
        Self { genuine, impostor, g: 0, i: 0 }
    }
}

impl Iterator for Sweep<'_> {
    type Item = DetPoint;

    fn next(&mut self) -> Option<DetPoint> {
        let t = match (self.genuine.get(self.g), self.impostor.get(self.i)) {
            (Some(&a), Some(&b)) => a.min(b),
            (Some(&a), None) | (None, Some(&a)) => a,
            (None, None) => return None,
        };
        // Everything before the cursors is < t: `g` genuine are rejected, and all impostors
        // from `i` on are accepted.
        let point = DetPoint {
            threshold: t,
            fmr: rate(self.impostor.len() - self.i, self.impostor.len()),
            fnmr: rate(self.g, self.genuine.len()),
        };
        while self.genuine.get(self.g) == Some(&t) {
            self.g += 1;
        }
        while self.impostor.get(self.i) == Some(&t) {
            self.i += 1;
        }
        Some(point)
    }
}

/// The DET curve: one point per distinct threshold over the union of both score lists, in
/// ascending threshold order.
///
/// At each threshold `t` (an observed score), FMR is the share of impostor scores `>= t` and
/// FNMR the share of genuine scores `< t`; equal scores always move together, so ties are
/// exact. Non-finite scores are ignored. If either list has no finite score, the curve is
/// empty (one of the two rates would be undefined).
///
/// The first point always has FMR = 1 and FNMR = 0. The curve has no point for "reject
/// everything" (FMR = 0, FNMR = 1), which would lie just above the largest score.
///
/// Sorts copies of both lists (`O(n log n)`). The result has up to `genuine.len() +
/// impostor.len()` points; for large inputs prefer [`eer`] and [`fnmr_at_fmr`], which do
/// not materialise the curve.
pub fn det_curve(genuine: &[f32], impostor: &[f32]) -> Vec<DetPoint> {
    let genuine = finite_sorted(genuine);
    let impostor = finite_sorted(impostor);
    if genuine.is_empty() || impostor.is_empty() {
        return Vec::new();
    }
    Sweep::new(&genuine, &impostor).collect()
}

/// The equal error rate: where FMR and FNMR cross.
///
/// Convention: walk the DET curve (see [`det_curve`]) in ascending threshold order, extended
/// with a final "reject everything" point at the threshold just above the largest score
/// (FMR = 0, FNMR = 1). `d = FMR - FNMR` starts at 1 and never increases. At the first point
/// where `d <= 0`:
///
/// * if `d == 0`, FMR equals FNMR there, and that is the EER at that point's threshold;
/// * otherwise `d` changed sign between the previous point `p` and this point `q`. Both
///   rates are interpolated linearly along the same parameter `a` in `[0, 1]` between `p`
///   and `q`, and `a = d_p / (d_p - d_q)` is where they meet. The EER is
///   `fmr_p + a (fmr_q - fmr_p)` (which equals the interpolated FNMR), and the threshold is
///   interpolated the same way, `t_p + a (t_q - t_p)`.
///
/// Non-finite scores are ignored. `None` if either list has no finite score.
/// Perfectly separated lists give an EER of 0.
pub fn eer(genuine: &[f32], impostor: &[f32]) -> Option<Eer> {
    let genuine = finite_sorted(genuine);
    let impostor = finite_sorted(impostor);
    let max = match (genuine.last(), impostor.last()) {
        (Some(&a), Some(&b)) => a.max(b),
        (Some(_), None) | (None, Some(_)) | (None, None) => return None,
    };
    let reject_all = DetPoint { threshold: max.next_up(), fmr: 0.0, fnmr: 1.0 };
    let mut prev: Option<DetPoint> = None;
    for q in Sweep::new(&genuine, &impostor).chain(std::iter::once(reject_all)) {
        let dq = q.fmr - q.fnmr;
        if dq <= 0.0 {
            let p = match prev {
                Some(p) if dq < 0.0 => p,
                // Exact crossing (or, impossibly, a first point with d <= 0).
                Some(_) | None => return Some(Eer { eer: q.fmr, threshold: q.threshold }),
            };
            let dp = p.fmr - p.fnmr;
            let a = dp / (dp - dq);
            let eer = p.fmr + a * (q.fmr - p.fmr);
            let t = f64::from(p.threshold) + a * (f64::from(q.threshold) - f64::from(p.threshold));
            return Some(Eer { eer, threshold: t as f32 });
        }
        prev = Some(q);
    }
    // Unreachable: the reject-all point has d = -1.
    None
}

/// FNMR at a target FMR: the lowest threshold whose FMR is `<= target_fmr`, and its FNMR.
///
/// Candidate thresholds are the observed scores (both lists) plus one "reject everything"
/// threshold just above the largest score, i.e. the thresholds of the DET curve extended as
/// in [`eer`]. The answer is the lowest candidate with FMR `<= target_fmr`, so the achieved
/// `fmr` never exceeds the target (with ties it may be well below it: tied impostor scores
/// cannot be split).
///
/// **Data-support rule:** returns `None` when fewer than `ceil(1 / target_fmr)` finite
/// impostor scores are available (a rate that small could not be observed even once), when
/// there is no finite genuine score, or when `target_fmr` is NaN or not positive.
///
/// Non-finite scores are ignored. Runs in `O(n)` (selection; no full sort).
pub fn fnmr_at_fmr(genuine: &[f32], impostor: &[f32], target_fmr: f64) -> Option<OperatingPoint> {
    let required = required_count(target_fmr)?;
    let genuine = finite(genuine);
    let mut impostor = finite(impostor);
    if genuine.is_empty() || impostor.len() < required {
        return None;
    }
    let allowed = allowed_errors(impostor.len(), target_fmr);
    let threshold = lowest_threshold(&mut impostor, allowed, &genuine)?;
    let false_matches = impostor.iter().filter(|&&s| s >= threshold).count();
    let false_non_matches = genuine.iter().filter(|&&s| s < threshold).count();
    Some(OperatingPoint {
        threshold,
        fmr: rate(false_matches, impostor.len()),
        fnmr: rate(false_non_matches, genuine.len()),
        genuine_count: genuine.len(),
        impostor_count: impostor.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-9;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < EPS
    }

    fn pt(threshold: f32, fmr: f64, fnmr: f64) -> DetPoint {
        DetPoint { threshold, fmr, fnmr }
    }

    /// A deterministic pseudo-random score list with many ties (quantised to 1/50).
    fn lcg_scores(seed: u64, n: usize, shift: f32) -> Vec<f32> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                ((x >> 33) % 50) as f32 / 50.0 + shift
            })
            .collect()
    }

    // ---- det_curve ----

    #[test]
    fn det_curve_with_ties_moves_equal_scores_together() {
        let genuine = [0.5, 0.5, 0.7];
        let impostor = [0.5, 0.3, 0.5, 0.1];
        let curve = det_curve(&genuine, &impostor);
        assert_eq!(curve, vec![pt(0.1, 1.0, 0.0), pt(0.3, 0.75, 0.0), pt(0.5, 0.5, 0.0), pt(0.7, 0.0, 2.0 / 3.0),]);
    }

    #[test]
    fn det_curve_of_all_equal_scores_is_a_single_point() {
        let curve = det_curve(&[0.5, 0.5], &[0.5, 0.5, 0.5]);
        assert_eq!(curve, vec![pt(0.5, 1.0, 0.0)]);
    }

    #[test]
    fn det_curve_ignores_nan_and_infinite_scores() {
        let clean = det_curve(&[0.5, 0.5, 0.7], &[0.5, 0.3, 0.5, 0.1]);
        let dirty =
            det_curve(&[f32::NAN, 0.5, 0.5, 0.7, f32::INFINITY], &[0.5, f32::NAN, 0.3, 0.5, f32::NEG_INFINITY, 0.1]);
        assert_eq!(clean, dirty);
    }

    #[test]
    fn det_curve_of_empty_input_is_empty() {
        assert!(det_curve(&[], &[]).is_empty());
        assert!(det_curve(&[0.5], &[]).is_empty());
        assert!(det_curve(&[], &[0.5]).is_empty());
        assert!(det_curve(&[f32::NAN], &[0.5]).is_empty());
    }

    #[test]
    fn det_curve_is_monotone_and_matches_brute_force() {
        let genuine = lcg_scores(1, 300, 0.3);
        let impostor = lcg_scores(2, 500, 0.0);
        let curve = det_curve(&genuine, &impostor);
        let mut distinct: Vec<f32> = genuine.iter().chain(&impostor).copied().collect();
        distinct.sort_by(f32::total_cmp);
        distinct.dedup();
        assert_eq!(curve.len(), distinct.len());
        for (p, &t) in curve.iter().zip(&distinct) {
            let fa = impostor.iter().filter(|&&s| s >= t).count() as f64 / 500.0;
            let fr = genuine.iter().filter(|&&s| s < t).count() as f64 / 300.0;
            assert_eq!(*p, pt(t, fa, fr));
        }
        for w in curve.windows(2) {
            assert!(w[0].threshold < w[1].threshold);
            assert!(w[0].fmr >= w[1].fmr && w[0].fnmr <= w[1].fnmr);
        }
    }

    // ---- eer ----

    #[test]
    fn eer_of_perfectly_separated_sets_is_zero() {
        let e = eer(&[0.8, 0.9], &[0.1, 0.2]).expect("defined");
        assert_eq!(e, Eer { eer: 0.0, threshold: 0.8 });
    }

    #[test]
    fn eer_of_fully_overlapping_sets_is_one_half() {
        let s = [0.1, 0.2, 0.3, 0.4];
        let e = eer(&s, &s).expect("defined");
        // t = 0.3: FMR = 2/4, FNMR = 2/4 exactly.
        assert_eq!(e, Eer { eer: 0.5, threshold: 0.3 });
    }

    #[test]
    fn eer_interpolates_between_the_sign_change() {
        // Points: 0.2 (1, 0), 0.5 (.5, 0), 0.6 (.5, 1/3), 0.7 (0, 1/3).
        // d goes 1/6 -> -1/3 between 0.6 and 0.7: a = 1/3, EER = 1/2 - 1/6 = 1/3.
        let e = eer(&[0.5, 0.7, 0.9], &[0.2, 0.6]).expect("defined");
        assert!(close(e.eer, 1.0 / 3.0), "{e:?}");
        assert!((e.threshold - (0.6 + 0.1 / 3.0)).abs() < 1e-6, "{e:?}");
    }

    #[test]
    fn eer_with_ties() {
        // DET: 0.1 (1, 0), 0.3 (.75, 0), 0.5 (.5, 0), 0.7 (0, 2/3).
        // d: 0.5 -> -2/3, a = 3/7, EER = 0.5 - 3/14 = 2/7, t = 0.5 + 0.2 * 3/7.
        let e = eer(&[0.5, 0.5, 0.7], &[0.5, 0.3, 0.5, 0.1]).expect("defined");
        assert!(close(e.eer, 2.0 / 7.0), "{e:?}");
        assert!((e.threshold - (0.5 + 0.2 * 3.0 / 7.0)).abs() < 1e-6, "{e:?}");
    }

    #[test]
    fn eer_of_all_equal_scores_is_one_half_via_the_reject_all_point() {
        // Only point (0.5: FMR 1, FNMR 0), then reject-all (FMR 0, FNMR 1): a = 1/2.
        let e = eer(&[0.5, 0.5], &[0.5, 0.5, 0.5]).expect("defined");
        assert!(close(e.eer, 0.5));
        assert!((e.threshold - 0.5).abs() < 1e-6);
    }

    #[test]
    fn eer_of_inverted_sets_is_one() {
        // Every impostor above every genuine.
        // DET: 0.1 (1, 0), 0.2 (1, .5), 0.8 (1, 1), ...: d == 0 first at 0.8.
        let e = eer(&[0.1, 0.2], &[0.8, 0.9]).expect("defined");
        assert_eq!(e, Eer { eer: 1.0, threshold: 0.8 });
    }

    #[test]
    fn eer_ignores_nan_and_needs_both_lists() {
        let clean = eer(&[0.5, 0.7, 0.9], &[0.2, 0.6]);
        let dirty = eer(&[0.5, f32::NAN, 0.7, 0.9], &[f32::NAN, 0.2, 0.6]);
        assert_eq!(clean, dirty);
        assert_eq!(eer(&[], &[0.1]), None);
        assert_eq!(eer(&[0.1], &[]), None);
        assert_eq!(eer(&[f32::NAN], &[0.1]), None);
        assert_eq!(eer(&[], &[]), None);
    }

    // ---- fnmr_at_fmr ----

    #[test]
    fn fnmr_at_fmr_reaches_the_target_exactly_when_possible() {
        let p = fnmr_at_fmr(&[0.5, 0.5, 0.7], &[0.1, 0.3, 0.5, 0.5], 0.5).expect("supported");
        assert_eq!(p, OperatingPoint { threshold: 0.5, fmr: 0.5, fnmr: 0.0, genuine_count: 3, impostor_count: 4 });
    }

    #[test]
    fn fnmr_at_fmr_cannot_split_ties() {
        // Target 1/4, but the two top impostors are tied at 0.5: the threshold must go above
        // both, to the next observed score 0.7, where FMR = 0 <= 1/4.
        let p = fnmr_at_fmr(&[0.5, 0.5, 0.7], &[0.1, 0.3, 0.5, 0.5], 0.25).expect("supported");
        assert_eq!(p.threshold, 0.7);
        assert_eq!(p.fmr, 0.0);
        assert!(close(p.fnmr, 2.0 / 3.0));
    }

    #[test]
    fn fnmr_at_fmr_uses_the_reject_all_threshold_above_the_largest_score() {
        let p = fnmr_at_fmr(&[0.1], &[0.9, 0.9, 0.2, 0.3], 0.25).expect("supported");
        assert_eq!(p.threshold, 0.9f32.next_up());
        assert_eq!((p.fmr, p.fnmr), (0.0, 1.0));
    }

    #[test]
    fn fnmr_at_fmr_picks_the_lowest_threshold_not_the_next_impostor() {
        // Impostors 0.2 0.3 0.4 0.9, target 1/4: 0.4 must be rejected; the next observed
        // score above it is a genuine 0.6, lower than the next impostor 0.9.
        let p = fnmr_at_fmr(&[0.1, 0.6, 0.95], &[0.2, 0.9, 0.3, 0.4], 0.25).expect("supported");
        assert_eq!(p.threshold, 0.6);
        assert_eq!(p.fmr, 0.25);
        assert!(close(p.fnmr, 1.0 / 3.0));
    }

    #[test]
    fn fnmr_at_fmr_of_separated_sets_is_zero() {
        // 1/4 allowed: 0.3 must be rejected, 0.4 may be accepted.
        let p = fnmr_at_fmr(&[0.8, 0.9], &[0.1, 0.2, 0.3, 0.4], 0.25).expect("supported");
        assert_eq!((p.threshold, p.fmr, p.fnmr), (0.4, 0.25, 0.0));
        // 0.1 allowed (10 impostors): the lowest threshold with no false match is 0.8.
        let imp = [0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.4, 0.4];
        let p = fnmr_at_fmr(&[0.8, 0.9], &imp, 0.1).expect("supported");
        assert_eq!((p.threshold, p.fmr, p.fnmr), (0.8, 0.0, 0.0));
    }

    #[test]
    fn fnmr_at_fmr_of_all_equal_scores() {
        let p = fnmr_at_fmr(&[0.5, 0.5], &[0.5, 0.5, 0.5, 0.5], 0.25).expect("supported");
        assert_eq!((p.threshold, p.fmr, p.fnmr), (0.5f32.next_up(), 0.0, 1.0));
        let p = fnmr_at_fmr(&[0.5, 0.5], &[0.5, 0.5, 0.5, 0.5], 1.0).expect("supported");
        assert_eq!((p.threshold, p.fmr, p.fnmr), (0.5, 1.0, 0.0));
    }

    #[test]
    fn fnmr_at_fmr_refuses_unsupported_targets() {
        let imp = [0.1, 0.3, 0.5, 0.5];
        // ceil(1 / 0.2) = 5 > 4 impostors.
        assert_eq!(fnmr_at_fmr(&[0.7], &imp, 0.2), None);
        // NaN impostors do not count towards support: 3 finite < ceil(1/0.25) = 4.
        assert_eq!(fnmr_at_fmr(&[0.7], &[0.1, 0.3, f32::NAN, 0.5], 0.25), None);
        assert_eq!(fnmr_at_fmr(&[], &imp, 0.5), None);
        assert_eq!(fnmr_at_fmr(&[f32::NAN], &imp, 0.5), None);
        assert_eq!(fnmr_at_fmr(&[0.7], &[], 0.5), None);
        assert_eq!(fnmr_at_fmr(&[0.7], &imp, 0.0), None);
        assert_eq!(fnmr_at_fmr(&[0.7], &imp, -1.0), None);
        assert_eq!(fnmr_at_fmr(&[0.7], &imp, f64::NAN), None);
        // Exactly enough: 4 impostors for 1/4.
        assert!(fnmr_at_fmr(&[0.7], &imp, 0.25).is_some());
    }

    #[test]
    fn fnmr_at_fmr_ignores_nan_scores() {
        let clean = fnmr_at_fmr(&[0.1, 0.6, 0.95], &[0.2, 0.9, 0.3, 0.4], 0.25);
        let dirty = fnmr_at_fmr(&[0.1, f32::NAN, 0.6, 0.95], &[0.2, 0.9, f32::NAN, 0.3, 0.4], 0.25);
        assert_eq!(clean, dirty);
        assert_eq!(dirty.map(|p| (p.genuine_count, p.impostor_count)), Some((3, 4)));
    }

    #[test]
    fn fnmr_at_fmr_agrees_with_the_extended_det_curve() {
        let genuine = lcg_scores(3, 400, 0.25);
        let impostor = lcg_scores(4, 1000, 0.0);
        let mut curve = det_curve(&genuine, &impostor);
        let max = curve.last().expect("non-empty").threshold;
        curve.push(pt(max.next_up(), 0.0, 1.0));
        for &target in &[0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 0.9, 1.0] {
            let p = fnmr_at_fmr(&genuine, &impostor, target).expect("supported");
            let q = curve.iter().find(|q| q.fmr <= target).expect("reject-all qualifies");
            assert_eq!((p.threshold, p.fmr, p.fnmr), (q.threshold, q.fmr, q.fnmr), "{target}");
            assert!(p.fmr <= target);
        }
    }
}
