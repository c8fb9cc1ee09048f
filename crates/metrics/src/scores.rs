//! Shared helpers: cleaning score lists, the "data must support the target" rule, and the
//! lowest threshold meeting a false-accept budget.

/// The finite scores of `scores`, `-0.0` folded into `+0.0`, in no particular order.
pub(crate) fn finite(scores: &[f32]) -> Vec<f32> {
    scores.iter().copied().filter(|s| s.is_finite()).map(|s| s + 0.0).collect()
}

/// The finite scores of `scores`, sorted ascending.
pub(crate) fn finite_sorted(scores: &[f32]) -> Vec<f32> {
    let mut v = finite(scores);
    v.sort_unstable_by(f32::total_cmp);
    v
}

/// `ceil(1 / target)`, the number of negative comparisons needed before a rate as small as
/// `target` can be observed at all. `None` for a target that is NaN or not positive.
pub(crate) fn required_count(target: f64) -> Option<usize> {
    if target.is_nan() || target <= 0.0 {
        return None;
    }
    // `as` saturates: an absurdly small target asks for usize::MAX comparisons.
    Some(((1.0 / target).ceil() as usize).max(1))
}

/// The largest `c` in `0..=n` such that `c / n <= target`, evaluated with the same
/// floating-point division used to report the rate (so the reported rate never exceeds the
/// target). `n` must be positive.
pub(crate) fn allowed_errors(n: usize, target: f64) -> usize {
    let nf = n as f64;
    let mut c = ((target * nf).floor().max(0.0) as usize).min(n);
    while c < n && (c + 1) as f64 / nf <= target {
        c += 1;
    }
    while c > 0 && c as f64 / nf > target {
        c -= 1;
    }
    c
}

/// The lowest observed threshold that accepts at most `allowed` of the `negatives`.
///
/// Candidates are the observed scores (`negatives` and `positives`, all finite) plus one
/// "reject everything" threshold just above the largest of them. The answer is the smallest
/// candidate `t` with `#{negatives >= t} <= allowed`; `None` only when there is no score at
/// all. Runs in `O(n)` (selection, not sorting); reorders `negatives`.
pub(crate) fn lowest_threshold(negatives: &mut [f32], allowed: usize, positives: &[f32]) -> Option<f32> {
    let all_min = |xs: &[f32]| xs.iter().copied().min_by(f32::total_cmp);
    if allowed >= negatives.len() {
        // No constraint: accept everything.
        return match (all_min(negatives), all_min(positives)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (Some(a), None) | (None, Some(a)) => Some(a),
            (None, None) => None,
        };
    }
    // The (allowed + 1)-th largest negative must be rejected: the threshold must lie strictly
    // above it, and any threshold strictly above it accepts at most `allowed` negatives.
    let k = negatives.len() - allowed - 1;
    let (_, &mut critical, above) = negatives.select_nth_unstable_by(k, f32::total_cmp);
    let next = above.iter().chain(positives).copied().filter(|&s| s > critical).min_by(f32::total_cmp);
    Some(next.unwrap_or_else(|| critical.next_up()))
}

/// `count / total` as a rate.
pub(crate) fn rate(count: usize, total: usize) -> f64 {
    count as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finite_drops_nan_and_infinities_and_folds_negative_zero() {
        let v = finite_sorted(&[0.5, f32::NAN, -0.0, f32::INFINITY, -0.25, f32::NEG_INFINITY]);
        assert_eq!(v, vec![-0.25, 0.0, 0.5]);
        assert!(v[1].is_sign_positive());
    }

    #[test]
    fn required_count_is_ceil_of_inverse() {
        assert_eq!(required_count(0.001), Some(1000));
        assert_eq!(required_count(1e-4), Some(10_000));
        assert_eq!(required_count(0.3), Some(4));
        assert_eq!(required_count(1.0), Some(1));
        assert_eq!(required_count(2.0), Some(1));
        assert_eq!(required_count(0.0), None);
        assert_eq!(required_count(-0.1), None);
        assert_eq!(required_count(f64::NAN), None);
    }

    #[test]
    fn allowed_errors_never_exceeds_target() {
        assert_eq!(allowed_errors(4, 0.5), 2);
        assert_eq!(allowed_errors(4, 0.49), 1);
        assert_eq!(allowed_errors(10, 0.3), 3); // 3/10 == 0.3 in f64 division
        assert_eq!(allowed_errors(1000, 0.001), 1);
        assert_eq!(allowed_errors(5, 7.0), 5);
        assert_eq!(allowed_errors(5, 0.0), 0);
        for n in 1..200 {
            for &t in &[0.001, 0.01, 0.1, 0.3, 1.0 / 3.0, 0.7] {
                let c = allowed_errors(n, t);
                assert!(rate(c, n) <= t);
                assert!(c == n || rate(c + 1, n) > t);
            }
        }
    }

    #[test]
    fn lowest_threshold_rejects_the_critical_negative_and_its_ties() {
        // negatives sorted: 0.1 0.3 0.5 0.5
        let mut neg = vec![0.5, 0.1, 0.5, 0.3];
        assert_eq!(lowest_threshold(&mut neg, 2, &[0.7]), Some(0.5));
        let mut neg = vec![0.5, 0.1, 0.5, 0.3];
        // One allowed but two tied at 0.5: must go above 0.5, next observed is 0.7.
        assert_eq!(lowest_threshold(&mut neg, 1, &[0.7, 0.2]), Some(0.7));
        let mut neg = vec![0.5, 0.1, 0.5, 0.3];
        // Nothing observed above 0.5: just above it.
        assert_eq!(lowest_threshold(&mut neg, 1, &[0.2]), Some(0.5f32.next_up()));
        let mut neg = vec![0.5, 0.1];
        assert_eq!(lowest_threshold(&mut neg, 2, &[0.05]), Some(0.05));
        assert_eq!(lowest_threshold(&mut [], 0, &[]), None);
    }
}
