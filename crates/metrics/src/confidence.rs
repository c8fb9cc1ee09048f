//! Confidence intervals for observed error rates.

/// The two-sided 95 % standard-normal quantile, for [`wilson_interval`].
pub const Z_95: f64 = 1.959964;

/// The Wilson score interval for a binomial proportion: `successes` "events" (e.g. errors)
/// in `trials`, at normal quantile `z` (use [`Z_95`] for 95 %).
///
/// Returns `(lower, upper)`, clamped to `[0, 1]`; `lower` is exactly 0 when there are no
/// successes and `upper` exactly 1 when all trials are successes. Unlike the normal
/// approximation, it stays sensible for rates near 0, which is where biometric error rates
/// live. `None` when `trials == 0`, `successes > trials`, or `z` is negative or not finite.
pub fn wilson_interval(successes: u64, trials: u64, z: f64) -> Option<(f64, f64)> {
    if trials == 0 || successes > trials || !z.is_finite() || z < 0.0 {
        return None;
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let lower = if successes == 0 { 0.0 } else { (centre - half).clamp(0.0, 1.0) };
    let upper = if successes == trials { 1.0 } else { (centre + half).clamp(0.0, 1.0) };
    Some((lower, upper))
}

/// The "rule of three": with zero errors observed in `trials` independent trials, `3 / n` is
/// an approximate 95 % upper confidence bound on the error rate.
///
/// Clamped to at most 1 (a rate cannot exceed 1), so `trials` of 0 to 3 give 1.
pub fn rule_of_three_upper(trials: u64) -> f64 {
    if trials == 0 {
        return 1.0;
    }
    (3.0 / trials as f64).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() < tol
    }

    #[test]
    fn wilson_zero_of_ten() {
        let (lo, hi) = wilson_interval(0, 10, Z_95).expect("valid");
        assert_eq!(lo, 0.0);
        assert!(close(hi, 0.277_532, 1e-5), "{hi}");
    }

    #[test]
    fn wilson_five_of_ten() {
        let (lo, hi) = wilson_interval(5, 10, Z_95).expect("valid");
        assert!(close(lo, 0.236_593, 1e-5), "{lo}");
        assert!(close(hi, 0.763_407, 1e-5), "{hi}");
        // Symmetric around 1/2.
        assert!(close(lo + hi, 1.0, 1e-12));
    }

    #[test]
    fn wilson_all_successes_and_large_samples() {
        let (lo, hi) = wilson_interval(10, 10, Z_95).expect("valid");
        assert!(close(lo, 1.0 - 0.277_532, 1e-5), "{lo}");
        assert_eq!(hi, 1.0);
        // 1 error in 1e6: (1.7652457e-7, 5.6649119e-6).
        let (lo, hi) = wilson_interval(1, 1_000_000, Z_95).expect("valid");
        assert!(close(lo, 1.765_245_7e-7, 1e-13), "{lo}");
        assert!(close(hi, 5.664_911_9e-6, 1e-12), "{hi}");
        // z = 0 collapses onto the point estimate.
        assert_eq!(wilson_interval(3, 4, 0.0), Some((0.75, 0.75)));
    }

    #[test]
    fn wilson_rejects_invalid_input() {
        assert_eq!(wilson_interval(0, 0, Z_95), None);
        assert_eq!(wilson_interval(11, 10, Z_95), None);
        assert_eq!(wilson_interval(1, 10, -1.0), None);
        assert_eq!(wilson_interval(1, 10, f64::NAN), None);
        assert_eq!(wilson_interval(1, 10, f64::INFINITY), None);
    }

    #[test]
    fn rule_of_three() {
        assert!(close(rule_of_three_upper(3000), 0.001, 1e-15));
        assert!(close(rule_of_three_upper(300), 0.01, 1e-15));
        assert_eq!(rule_of_three_upper(3), 1.0);
        assert_eq!(rule_of_three_upper(1), 1.0);
        assert_eq!(rule_of_three_upper(0), 1.0);
    }
}
