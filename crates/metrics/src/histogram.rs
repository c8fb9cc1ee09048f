//! A compact score distribution, for calibrating thresholds from impostor scores.

use serde::{Deserialize, Serialize};

use crate::MetricsError;

/// A fixed-range histogram of scores, compact enough to store next to a model (e.g. the
/// impostor score distribution used to map a target FMR to a threshold).
///
/// The range `[lo, hi)` is cut into `counts.len()` equal bins. The histogram models every
/// score as lying in `[lo, hi]` and spread uniformly inside its bin:
///
/// * scores below `lo` are counted in the first bin, scores at or above `hi` in the last
///   (choose the range to cover the data: `[-1, 1]` for cosine similarity);
/// * NaN scores are ignored (not counted in `total`).
///
/// Fields are private so that `total` always equals the sum of `counts`; deserialisation
/// checks this and the range, and fails on an invalid histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "HistogramRepr")]
pub struct ScoreHistogram {
    lo: f32,
    hi: f32,
    counts: Vec<u64>,
    total: u64,
}

/// The unchecked serialised form of [`ScoreHistogram`].
#[derive(Deserialize)]
struct HistogramRepr {
    lo: f32,
    hi: f32,
    counts: Vec<u64>,
    total: u64,
}

impl TryFrom<HistogramRepr> for ScoreHistogram {
    type Error = MetricsError;

    fn try_from(r: HistogramRepr) -> Result<Self, MetricsError> {
        let mut h = ScoreHistogram::new(r.lo, r.hi, r.counts.len())?;
        let sum = r.counts.iter().fold(0u64, |a, &c| a.saturating_add(c));
        if sum != r.total {
            return Err(MetricsError::TotalMismatch { total: r.total, sum });
        }
        h.counts = r.counts;
        h.total = r.total;
        Ok(h)
    }
}

impl ScoreHistogram {
    /// An empty histogram of `bins` equal bins over `[lo, hi)`.
    ///
    /// Fails unless `lo` and `hi` are finite with `lo < hi` and `bins >= 1`.
    pub fn new(lo: f32, hi: f32, bins: usize) -> Result<Self, MetricsError> {
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(MetricsError::InvalidRange { lo, hi });
        }
        if bins == 0 {
            return Err(MetricsError::NoBins);
        }
        Ok(Self { lo, hi, counts: vec![0; bins], total: 0 })
    }

    /// The histogram of `scores` with `bins` equal bins over `[lo, hi)` (see the type docs
    /// for out-of-range and NaN scores). `O(n)`.
    pub fn from_scores(scores: &[f32], lo: f32, hi: f32, bins: usize) -> Result<Self, MetricsError> {
        let mut h = Self::new(lo, hi, bins)?;
        for &s in scores {
            h.add(s);
        }
        Ok(h)
    }

    /// Counts one score (ignored if NaN; clamped into the first/last bin if out of range).
    pub fn add(&mut self, score: f32) {
        if score.is_nan() {
            return;
        }
        let bin = self.bin_of(score);
        self.counts[bin] += 1;
        self.total += 1;
    }

    /// Adds the counts of `other`, which must have the same range and number of bins.
    pub fn merge(&mut self, other: &ScoreHistogram) -> Result<(), MetricsError> {
        if self.lo != other.lo || self.hi != other.hi || self.counts.len() != other.counts.len() {
            return Err(MetricsError::LayoutMismatch);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        Ok(())
    }

    /// Lower bound of the range.
    pub fn lo(&self) -> f32 {
        self.lo
    }

    /// Upper bound of the range.
    pub fn hi(&self) -> f32 {
        self.hi
    }

    /// Count per bin; bin `i` covers `[lo + i w, lo + (i + 1) w)` with `w = (hi - lo) / bins`.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Number of scores counted (the sum of `counts`).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Share of scores `>= threshold`, interpolating linearly inside the bin that contains
    /// `threshold` (scores are taken as uniform within a bin).
    ///
    /// Continuous and non-increasing: 1 at or below `lo`, 0 at or above `hi` (out-of-range
    /// scores were clamped into the end bins, see the type docs). NaN if the histogram is
    /// empty or `threshold` is NaN.
    pub fn tail_fraction(&self, threshold: f32) -> f64 {
        if self.total == 0 || threshold.is_nan() {
            return f64::NAN;
        }
        if threshold <= self.lo {
            return 1.0;
        }
        if threshold >= self.hi {
            return 0.0;
        }
        let bins = self.counts.len();
        let pos = self.position(threshold);
        let k = (pos.floor() as usize).min(bins - 1);
        let share_above = ((k + 1) as f64 - pos).clamp(0.0, 1.0);
        let above: u64 = self.counts[k + 1..].iter().sum();
        (above as f64 + self.counts[k] as f64 * share_above) / self.total as f64
    }

    /// The smallest threshold whose [`tail_fraction`](Self::tail_fraction) is `<= target`
    /// (up to `f32` rounding, resolved upwards so the returned threshold always meets the
    /// target).
    ///
    /// Returns `lo` for `target >= 1`; for `target == 0`, the upper edge of the highest
    /// non-empty bin. NaN (which accepts nothing when used as a threshold) if the histogram is
    /// empty or `target` is NaN or negative. `O(bins)`.
    pub fn threshold_for_tail(&self, target: f64) -> f32 {
        if self.total == 0 || target.is_nan() || target < 0.0 {
            return f32::NAN;
        }
        if target >= 1.0 {
            return self.lo;
        }
        let total = self.total as f64;
        // Smallest bin edge `e` whose tail (the count from bin `e` up) meets the target.
        let mut e = self.counts.len();
        let mut suffix = 0u64;
        while e > 0 && (suffix + self.counts[e - 1]) as f64 / total <= target {
            suffix += self.counts[e - 1];
            e -= 1;
        }
        if e == 0 {
            return self.lo;
        }
        // The tail crosses the target inside bin e - 1, which is therefore non-empty.
        let count = self.counts[e - 1] as f64;
        let left = self.edge(e - 1);
        let right = self.edge(e);
        let width = right - left;
        let t = (right - (target * total - suffix as f64) * width / count).clamp(left, right);
        let mut t = t as f32;
        while self.tail_fraction(t) > target && t < self.hi {
            t = t.next_up();
        }
        t
    }

    /// Fractional bin position of `score`: 0 at `lo`, `bins` at `hi`.
    fn position(&self, score: f32) -> f64 {
        let (lo, hi) = (f64::from(self.lo), f64::from(self.hi));
        (f64::from(score) - lo) / (hi - lo) * self.counts.len() as f64
    }

    /// Bin index of a non-NaN score, clamped into range.
    fn bin_of(&self, score: f32) -> usize {
        let pos = self.position(score);
        if pos <= 0.0 { 0 } else { (pos.floor() as usize).min(self.counts.len() - 1) }
    }

    /// The `i`-th bin edge, `lo + i (hi - lo) / bins`, with edge `bins` exactly `hi`.
    fn edge(&self, i: usize) -> f64 {
        let bins = self.counts.len();
        if i >= bins {
            return f64::from(self.hi);
        }
        let (lo, hi) = (f64::from(self.lo), f64::from(self.hi));
        lo + (hi - lo) * i as f64 / bins as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    /// Bins of width 0.1 over [0, 0.4): counts [2, 2, 0, 2].
    fn sample() -> ScoreHistogram {
        let scores = [0.05, 0.15, 0.15, 0.35, -2.0, 5.0, f32::NAN];
        ScoreHistogram::from_scores(&scores, 0.0, 0.4, 4).expect("valid")
    }

    #[test]
    fn from_scores_bins_clamps_and_ignores_nan() {
        let h = sample();
        assert_eq!(h.counts(), &[2, 2, 0, 2]);
        assert_eq!(h.total(), 6);
        assert_eq!((h.lo(), h.hi()), (0.0, 0.4));
        // Infinities are clamped too; the exact upper bound lands in the last bin.
        let h = ScoreHistogram::from_scores(&[f32::NEG_INFINITY, 0.4, f32::INFINITY], 0.0, 0.4, 4).expect("valid");
        assert_eq!(h.counts(), &[1, 0, 0, 2]);
    }

    #[test]
    fn from_scores_rejects_invalid_layouts() {
        assert_eq!(ScoreHistogram::from_scores(&[], 1.0, 1.0, 4), Err(MetricsError::InvalidRange { lo: 1.0, hi: 1.0 }));
        assert!(ScoreHistogram::from_scores(&[], f32::NAN, 1.0, 4).is_err());
        assert!(ScoreHistogram::from_scores(&[], 0.0, f32::INFINITY, 4).is_err());
        assert_eq!(ScoreHistogram::from_scores(&[], 0.0, 1.0, 0), Err(MetricsError::NoBins));
    }

    #[test]
    fn tail_fraction_interpolates_inside_bins() {
        let h = sample();
        assert_eq!(h.tail_fraction(-1.0), 1.0);
        assert_eq!(h.tail_fraction(0.0), 1.0);
        assert!(close(h.tail_fraction(0.05), 5.0 / 6.0)); // 4 above + half of 2
        assert!(close(h.tail_fraction(0.1), 4.0 / 6.0));
        assert!(close(h.tail_fraction(0.15), 3.0 / 6.0));
        assert!(close(h.tail_fraction(0.25), 2.0 / 6.0)); // empty bin: flat
        assert!(close(h.tail_fraction(0.35), 1.0 / 6.0));
        assert_eq!(h.tail_fraction(0.4), 0.0);
        assert_eq!(h.tail_fraction(2.0), 0.0);
        assert!(h.tail_fraction(f32::NAN).is_nan());
        let empty = ScoreHistogram::new(0.0, 1.0, 4).expect("valid");
        assert!(empty.tail_fraction(0.5).is_nan());
    }

    #[test]
    fn threshold_for_tail_inverts_tail_fraction() {
        let h = sample();
        assert!(close(f64::from(h.threshold_for_tail(1.0 / 6.0)), 0.35));
        assert!(close(f64::from(h.threshold_for_tail(0.5)), 0.15));
        // Tail is exactly 1/3 from 0.2 to 0.3 (empty bin): the smallest such threshold is 0.2.
        assert!(close(f64::from(h.threshold_for_tail(1.0 / 3.0)), 0.2));
        assert!(close(f64::from(h.threshold_for_tail(5.0 / 6.0)), 0.05));
        assert_eq!(h.threshold_for_tail(1.0), 0.0);
        assert_eq!(h.threshold_for_tail(7.0), 0.0);
        assert_eq!(h.threshold_for_tail(0.0), 0.4);
        for target in [0.01, 0.1, 1.0 / 6.0, 0.2, 1.0 / 3.0, 0.4, 0.5, 0.9, 0.99] {
            let t = h.threshold_for_tail(target);
            assert!(h.tail_fraction(t) <= target, "{target} -> {t}");
            // Minimal up to f32 rounding: a hair lower exceeds the target.
            assert!(h.tail_fraction(t - 1e-5) > target, "{target} -> {t}");
        }
    }

    #[test]
    fn threshold_for_tail_of_zero_stops_at_the_highest_non_empty_bin() {
        let h = ScoreHistogram::from_scores(&[0.05, 0.15], 0.0, 0.4, 4).expect("valid");
        assert!(close(f64::from(h.threshold_for_tail(0.0)), 0.2));
    }

    #[test]
    fn threshold_for_tail_degenerate_inputs_are_nan() {
        let h = sample();
        assert!(h.threshold_for_tail(f64::NAN).is_nan());
        assert!(h.threshold_for_tail(-0.1).is_nan());
        let empty = ScoreHistogram::new(0.0, 1.0, 4).expect("valid");
        assert!(empty.threshold_for_tail(0.1).is_nan());
    }

    #[test]
    fn threshold_for_tail_on_many_scores_matches_the_empirical_quantile() {
        // 10 000 scores uniform on [-1, 1): the tail above t is (1 - t) / 2.
        let scores: Vec<f32> = (0..10_000).map(|i| -1.0 + (i as f32 + 0.5) / 5_000.0).collect();
        let h = ScoreHistogram::from_scores(&scores, -1.0, 1.0, 2_000).expect("valid");
        assert!(close(h.tail_fraction(0.5), 0.25));
        assert!((h.threshold_for_tail(1e-3) - 0.998).abs() < 1e-5);
        assert!((h.threshold_for_tail(0.25) - 0.5).abs() < 1e-5);
    }

    #[test]
    fn merge_adds_counts_and_checks_layout() {
        let mut a = ScoreHistogram::from_scores(&[0.05, 0.15], 0.0, 0.4, 4).expect("valid");
        let b = ScoreHistogram::from_scores(&[0.15, 0.35, -2.0, 5.0], 0.0, 0.4, 4).expect("valid");
        a.merge(&b).expect("same layout");
        assert_eq!(a, sample());
        let other = ScoreHistogram::new(0.0, 0.5, 4).expect("valid");
        assert_eq!(a.merge(&other), Err(MetricsError::LayoutMismatch));
        let other = ScoreHistogram::new(0.0, 0.4, 5).expect("valid");
        assert_eq!(a.merge(&other), Err(MetricsError::LayoutMismatch));
    }

    #[test]
    fn deserialisation_validates() {
        let ok = HistogramRepr { lo: 0.0, hi: 0.4, counts: vec![2, 2, 0, 2], total: 6 };
        assert_eq!(ScoreHistogram::try_from(ok), Ok(sample()));
        let bad_total = HistogramRepr { lo: 0.0, hi: 0.4, counts: vec![2, 2, 0, 2], total: 7 };
        assert_eq!(ScoreHistogram::try_from(bad_total), Err(MetricsError::TotalMismatch { total: 7, sum: 6 }));
        let bad_range = HistogramRepr { lo: 0.4, hi: 0.0, counts: vec![1], total: 1 };
        assert!(ScoreHistogram::try_from(bad_range).is_err());
        let no_bins = HistogramRepr { lo: 0.0, hi: 1.0, counts: vec![], total: 0 };
        assert_eq!(ScoreHistogram::try_from(no_bins), Err(MetricsError::NoBins));
    }
}
