//! From one-to-one rates to one-to-many expectations as the gallery grows.

/// The FPIR implied by a per-comparison FMR against a gallery of `gallery_size` entries:
/// `1 - (1 - fmr)^N`, the chance that at least one of `N` independent impostor comparisons
/// passes the threshold.
///
/// Computed as `-expm1(N * ln_1p(-fmr))`, which stays accurate when `fmr` is tiny (e.g.
/// `fmr = 1e-9`, `N = 1e6` gives `9.9950016712e-4`, where the naive formula loses digits, and
/// `fmr = 1e-18` still gives `N * 1e-18` where the naive formula returns 0).
///
/// This assumes independent comparisons with the same FMR, a first-order model; real
/// galleries correlate. `fmr` is clamped to `[0, 1]`; NaN gives NaN; `N = 0` gives 0.
pub fn fpir_from_fmr(fmr: f64, gallery_size: u64) -> f64 {
    if fmr.is_nan() {
        return f64::NAN;
    }
    let fmr = fmr.clamp(0.0, 1.0);
    if gallery_size == 0 || fmr == 0.0 {
        return 0.0;
    }
    if fmr == 1.0 {
        return 1.0;
    }
    -(gallery_size as f64 * (-fmr).ln_1p()).exp_m1()
}

/// The expected number of false candidates per search above the threshold: `fmr × N`.
///
/// `fmr` is clamped to `[0, 1]`; NaN gives NaN.
pub fn expected_false_candidates(fmr: f64, gallery_size: u64) -> f64 {
    if fmr.is_nan() {
        return f64::NAN;
    }
    fmr.clamp(0.0, 1.0) * gallery_size as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel_close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs()
    }

    #[test]
    fn fpir_from_fmr_small_values_are_stable() {
        // 1 - (1 - 1e-9)^1e6 = 9.99500167124508582e-4 (50-digit decimal arithmetic).
        let v = fpir_from_fmr(1e-9, 1_000_000);
        assert!(rel_close(v, 9.995_001_671_245_086e-4, 1e-12), "{v}");
        // Far below f64 epsilon relative to 1: the naive formula would give exactly 0.
        assert_eq!(1.0 - (1.0 - 1e-18f64).powi(1_000_000), 0.0);
        let v = fpir_from_fmr(1e-18, 1_000_000);
        assert!(rel_close(v, 1e-12, 1e-9), "{v}");
    }

    #[test]
    fn fpir_from_fmr_known_values_and_edges() {
        assert!(rel_close(fpir_from_fmr(0.5, 2), 0.75, 1e-15));
        assert!(rel_close(fpir_from_fmr(0.1, 1), 0.1, 1e-15));
        assert!(rel_close(fpir_from_fmr(0.01, 100), 1.0 - 0.99f64.powi(100), 1e-12));
        assert_eq!(fpir_from_fmr(0.0, 1_000_000), 0.0);
        assert_eq!(fpir_from_fmr(1e-3, 0), 0.0);
        assert_eq!(fpir_from_fmr(1.0, 10), 1.0);
        assert_eq!(fpir_from_fmr(2.0, 10), 1.0);
        assert_eq!(fpir_from_fmr(-1.0, 10), 0.0);
        assert!(fpir_from_fmr(f64::NAN, 10).is_nan());
        // Saturates towards 1 for a huge gallery.
        assert!(fpir_from_fmr(1e-3, 100_000_000) > 0.999_999);
    }

    #[test]
    fn expected_false_candidates_is_fmr_times_n() {
        assert!(rel_close(expected_false_candidates(1e-6, 10_000_000), 10.0, 1e-12));
        assert_eq!(expected_false_candidates(0.5, 0), 0.0);
        assert_eq!(expected_false_candidates(2.0, 3), 3.0);
        assert!(expected_false_candidates(f64::NAN, 3).is_nan());
    }
}
