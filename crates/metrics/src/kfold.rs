//! LFW-style k-fold verification accuracy.

use serde::{Deserialize, Serialize};

/// Result of [`kfold_accuracy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KFoldAccuracy {
    /// Mean of the per-fold accuracies (each fold weighs the same, as in the LFW protocol).
    pub mean: f64,
    /// **Sample** standard deviation (divisor `folds - 1`) of the per-fold accuracies.
    pub std: f64,
    /// Accuracy on each held-out fold, indexed by fold.
    pub per_fold: Vec<f64>,
    /// Threshold chosen on the other folds and applied to each held-out fold.
    pub thresholds: Vec<f32>,
}

/// LFW-style k-fold verification accuracy.
///
/// `pairs` holds `(score, same_identity, fold)` with `fold` in `0..folds`. For each fold, the
/// threshold is chosen on the **other** folds to maximise accuracy (share of pairs with
/// `(score >= t) == same_identity`), then applied to the held-out fold.
///
/// Candidate thresholds on the training folds are, in ascending order: the smallest training
/// score (accept everything), the midpoint between each pair of consecutive distinct training
/// scores, and the value just above the largest training score (reject everything). When
/// several candidates tie for the best training accuracy, the **lowest** wins. (If two
/// consecutive scores are adjacent `f32` values, the midpoint is not representable and the
/// upper score is used instead, which separates them the same way.)
///
/// Pairs with a non-finite score are ignored. `None` when `folds < 2`, when a fold index is
/// `>= folds`, or when any fold has no (finite) pair.
///
/// Sorts once (`O(n log n)`), then one linear sweep per fold (`O(folds × n)`).
pub fn kfold_accuracy(pairs: &[(f32, bool, usize)], folds: usize) -> Option<KFoldAccuracy> {
    if folds < 2 || pairs.iter().any(|&(_, _, f)| f >= folds) {
        return None;
    }
    let mut data: Vec<(f32, bool, usize)> =
        pairs.iter().filter(|(s, _, _)| s.is_finite()).map(|&(s, same, f)| (s + 0.0, same, f)).collect();
    let mut fold_total = vec![0usize; folds];
    let mut fold_genuine = vec![0usize; folds];
    for &(_, same, f) in &data {
        fold_total[f] += 1;
        fold_genuine[f] += usize::from(same);
    }
    if fold_total.contains(&0) {
        return None;
    }
    data.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let all_genuine: usize = fold_genuine.iter().sum();

    let mut per_fold = Vec::with_capacity(folds);
    let mut thresholds = Vec::with_capacity(folds);
    for held_out in 0..folds {
        let train_genuine = all_genuine - fold_genuine[held_out];
        let t = best_threshold(&data, held_out, train_genuine);
        let test = data.iter().filter(|&&(_, _, f)| f == held_out);
        let correct = test.filter(|&&(s, same, _)| (s >= t) == same).count();
        per_fold.push(correct as f64 / fold_total[held_out] as f64);
        thresholds.push(t);
    }

    let k = folds as f64;
    let mean = per_fold.iter().sum::<f64>() / k;
    let var = per_fold.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / (k - 1.0);
    Some(KFoldAccuracy { mean, std: var.sqrt(), per_fold, thresholds })
}

/// The lowest candidate threshold maximising accuracy on every fold but `held_out`.
/// `data` is sorted by score; the training set is non-empty.
fn best_threshold(data: &[(f32, bool, usize)], held_out: usize, train_genuine: usize) -> f32 {
    // At a threshold between `last` and the next distinct score, the pairs seen so far are
    // rejected: correct = genuine above + impostors below = train_genuine - rg + ri.
    let mut rejected_genuine = 0usize;
    let mut rejected_impostor = 0usize;
    let mut last: Option<f32> = None;
    let mut best: Option<(usize, f32)> = None;
    // Strictly better only, so the lowest of tied candidates is kept.
    let consider = |correct: usize, t: f32, best: &mut Option<(usize, f32)>| {
        if best.is_none_or(|(c, _)| correct > c) {
            *best = Some((correct, t));
        }
    };
    for &(s, same, _) in data.iter().filter(|&&(_, _, f)| f != held_out) {
        if last.is_none_or(|p| s != p) {
            let candidate = match last {
                None => s,
                Some(p) => midpoint(p, s),
            };
            consider(train_genuine - rejected_genuine + rejected_impostor, candidate, &mut best);
        }
        if same {
            rejected_genuine += 1;
        } else {
            rejected_impostor += 1;
        }
        last = Some(s);
    }
    if let Some(p) = last {
        consider(rejected_impostor, p.next_up(), &mut best);
    }
    best.map_or(f32::NAN, |(_, t)| t)
}

/// A threshold strictly above `a` and at most `b` (`a < b`), halfway when representable.
fn midpoint(a: f32, b: f32) -> f32 {
    let m = ((f64::from(a) + f64::from(b)) / 2.0) as f32;
    if m > a { m } else { b }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn three_folds() -> Vec<(f32, bool, usize)> {
        vec![
            (0.9, true, 0),
            (0.8, true, 0),
            (0.3, false, 0),
            (0.2, false, 0),
            (0.85, true, 1),
            (0.4, true, 1),
            (0.35, false, 1),
            (0.1, false, 1),
            (0.7, true, 2),
            (0.6, true, 2),
            (0.65, false, 2),
            (0.15, false, 2),
        ]
    }

    #[test]
    fn kfold_with_known_best_thresholds() {
        // Fold 0 held out: training 0.1F 0.15F 0.35F 0.4T 0.6T 0.65F 0.7T 0.85T, best 7/8 at
        //   mid(0.35, 0.4) = 0.375; fold 0 is then perfectly classified: 1.0.
        // Fold 1 held out: training 0.15F 0.2F 0.3F 0.6T 0.65F 0.7T 0.8T 0.9T, 7/8 at both
        //   0.45 and 0.675, the lowest (0.45) wins; fold 1: 0.4T rejected -> 3/4.
        // Fold 2 held out: training separable, 8/8 at 0.375; fold 2: 0.65F accepted -> 3/4.
        let r = kfold_accuracy(&three_folds(), 3).expect("valid");
        assert_eq!(r.per_fold, vec![1.0, 0.75, 0.75]);
        let expected_t = [0.375f32, 0.45, 0.375];
        for (t, e) in r.thresholds.iter().zip(expected_t) {
            assert!((t - e).abs() < 1e-6, "{:?}", r.thresholds);
        }
        assert!(close(r.mean, 2.5 / 3.0));
        // Sample std: deviations 1/6, -1/12, -1/12 -> sqrt((1/36 + 2/144) / 2) = sqrt(1/48).
        assert!(close(r.std, (1.0f64 / 48.0).sqrt()), "{}", r.std);
    }

    #[test]
    fn kfold_perfectly_separated_is_fully_accurate() {
        let pairs = [(0.9, true, 0), (0.1, false, 0), (0.8, true, 1), (0.2, false, 1)];
        let r = kfold_accuracy(&pairs, 2).expect("valid");
        assert_eq!(r.per_fold, vec![1.0, 1.0]);
        assert_eq!((r.mean, r.std), (1.0, 0.0));
        // Fold 0 held out: training 0.2F 0.8T -> mid 0.5; fold 1 held out: 0.1F 0.9T -> 0.5.
        assert_eq!(r.thresholds, vec![0.5, 0.5]);
    }

    #[test]
    fn kfold_extremes_are_candidates() {
        // Training (fold 1) only genuine pairs: accept-everything (its min score) is best.
        // Fold 0 held out -> t = 0.6; 0.5T in fold 0 is rejected, 0.7T accepted.
        let pairs = [(0.7, true, 0), (0.5, true, 0), (0.6, true, 1), (0.8, true, 1)];
        let r = kfold_accuracy(&pairs, 2).expect("valid");
        assert_eq!(r.thresholds, vec![0.6, 0.5]);
        assert_eq!(r.per_fold, vec![0.5, 1.0]);
        // Only impostors: reject-everything (just above the max) is best.
        let pairs = [(0.7, false, 0), (0.6, false, 1)];
        let r = kfold_accuracy(&pairs, 2).expect("valid");
        assert_eq!(r.thresholds, vec![0.6f32.next_up(), 0.7f32.next_up()]);
        assert_eq!(r.per_fold, vec![0.0, 1.0]);
    }

    #[test]
    fn kfold_ties_are_never_split() {
        // Training fold 1 has a genuine and an impostor tied at 0.5 plus 0.9T: candidates
        // 0.5 (2/3 correct), 0.7 (2/3), above 0.9 (1/3): lowest best is 0.5.
        let pairs = [(0.5, true, 1), (0.5, false, 1), (0.9, true, 1), (0.4, false, 0), (0.6, true, 0)];
        let r = kfold_accuracy(&pairs, 2).expect("valid");
        assert_eq!(r.thresholds[0], 0.5);
        assert_eq!(r.per_fold[0], 1.0);
    }

    #[test]
    fn kfold_midpoint_of_adjacent_floats_separates_them() {
        let a = 0.5f32;
        let b = a.next_up();
        assert_eq!(midpoint(a, b), b);
        assert!((midpoint(0.2, 0.4) - 0.3).abs() < 1e-7);
    }

    #[test]
    fn kfold_ignores_nan_and_rejects_invalid_input() {
        let mut pairs = three_folds();
        let clean = kfold_accuracy(&pairs, 3);
        pairs.push((f32::NAN, true, 0));
        pairs.push((f32::NAN, false, 2));
        assert_eq!(kfold_accuracy(&pairs, 3), clean);

        assert_eq!(kfold_accuracy(&three_folds(), 1), None);
        // Fold 3 is empty.
        assert_eq!(kfold_accuracy(&three_folds(), 4), None);
        // A fold index out of range.
        let mut bad = three_folds();
        bad.push((0.5, true, 3));
        assert_eq!(kfold_accuracy(&bad, 3), None);
        // A fold with only a NaN pair is empty.
        let only_nan = [(0.9, true, 0), (0.1, false, 0), (f32::NAN, true, 1)];
        assert_eq!(kfold_accuracy(&only_nan, 2), None);
        assert_eq!(kfold_accuracy(&[], 10), None);
    }
}
