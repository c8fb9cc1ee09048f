//! Biometric-evaluation maths for Gabarit.
//!
//! This crate turns comparison scores into the error rates that describe how well face
//! recognition works: DET curves, equal error rate, FNMR at a fixed FMR, open-set
//! identification rates (FNIR at a fixed FPIR, rank-k), confidence intervals, LFW-style
//! k-fold accuracy, a compact score histogram for calibrating thresholds, and BCubed and
//! pairwise scores of a grouping into people.
//!
//! # What it is and is not
//!
//! It is **pure maths**: plain functions on slices of scores that return plain values. It
//! does no I/O, loads no model, reads no dataset, and holds no policy. Deciding which
//! comparisons are genuine, which threshold to deploy, or how to report results is up to the
//! callers (the benchmark tooling, the engine's calibration).
//!
//! # Conventions used throughout
//!
//! * Scores are similarities (Gabarit uses cosine similarity): **higher means more alike**.
//! * A comparison is **accepted** when `score >= threshold`.
//! * *Genuine* (mated) comparisons pair two samples of the same identity, *impostor*
//!   (non-mated) comparisons pair different identities.
//! * FMR (false match rate) is the share of impostor scores that are accepted; FNMR (false
//!   non-match rate) is the share of genuine scores that are rejected.
//! * In the verification functions, non-finite scores (NaN, ±∞) are **ignored**: they are
//!   dropped before anything is counted. (Identification treats them differently, see
//!   [`fnir_at_fpir`].)
//! * Rates are `f64`; thresholds stay `f32`, the type of the scores they are compared with.
//! * Operating points at a target rate return `None` when the data cannot support the target:
//!   with fewer than `ceil(1 / target)` negative comparisons, a rate as small as the target
//!   cannot even be observed once.
//!
//! # Cost
//!
//! The functions are meant to run on tens of millions of impostor scores. Nothing is
//! quadratic: curves sort once (`O(n log n)`), operating points use selection (`O(n)`), and
//! the histogram is `O(n)` to build and `O(bins)` to query.

mod clustering;
mod confidence;
mod gallery;
mod histogram;
mod identification;
mod kfold;
mod scores;
mod verification;

pub use clustering::{ClusteringScores, clustering_scores};
pub use confidence::{Z_95, rule_of_three_upper, wilson_interval};
pub use gallery::{expected_false_candidates, fpir_from_fmr};
pub use histogram::ScoreHistogram;
pub use identification::{IdentificationPoint, fnir_at_fpir, mate_rank, rank_k_rate};
pub use kfold::{KFoldAccuracy, kfold_accuracy};
pub use verification::{DetPoint, Eer, OperatingPoint, det_curve, eer, fnmr_at_fmr};

/// Errors for inputs that cannot describe a valid object (currently: a [`ScoreHistogram`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// The histogram range is not finite or not increasing.
    #[error("histogram range must be finite with lo < hi (got lo = {lo}, hi = {hi})")]
    InvalidRange {
        /// Requested lower bound.
        lo: f32,
        /// Requested upper bound.
        hi: f32,
    },
    /// A histogram needs at least one bin.
    #[error("a histogram needs at least one bin")]
    NoBins,
    /// A (deserialised) histogram whose `total` is not the sum of its `counts`.
    #[error("histogram total {total} does not equal the sum of its counts ({sum})")]
    TotalMismatch {
        /// The stored total.
        total: u64,
        /// The sum of the stored counts (saturating).
        sum: u64,
    },
    /// Two histograms with different ranges or bin counts cannot be merged.
    #[error("cannot merge histograms with different ranges or bin counts")]
    LayoutMismatch,
}
