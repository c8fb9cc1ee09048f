//! People: grouping faces by person. The grouping itself is `gabarit_people::group` (pure);
//! this module turns a pack's calibration into its thresholds.
//!
//! The join threshold is where, in a set of `n` faces, a face's best match among the other
//! people's faces reaches the threshold for at most [`JOIN_FPIR`] of the faces (the pack's
//! calibration gives the false-match rate at every score), and never below the pack's
//! verification threshold: two single faces merge only on evidence that a search would call a
//! match. Groups then merge on the mean similarity of their pairs of faces.

use gabarit_inference::{Calibration, Pack};

/// The share of faces whose best false match may reach the join threshold.
pub const JOIN_FPIR: f64 = 0.01;

/// Most candidate pairs kept per face: its most similar other faces above the edge floor.
pub const NEIGHBOURS: usize = 32;

/// The thresholds of a grouping.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GroupingThresholds {
    /// Least mean pair similarity for two groups to merge.
    pub join: f32,
    /// Least similarity for two faces to be compared at all (a candidate pair).
    pub edge: f32,
}

impl GroupingThresholds {
    /// The same with another join threshold (candidate pairs are still found at least down
    /// to it).
    pub fn with_join(self, join: f32) -> GroupingThresholds {
        GroupingThresholds { join, edge: self.edge.min(join) }
    }
}

/// The thresholds for grouping `faces` faces with `pack` (see the module documentation).
pub fn thresholds(pack: &Pack, calibration: Option<&Calibration>, faces: u64) -> GroupingThresholds {
    let floor = pack.thresholds.verification;
    let join = calibration.map_or(floor, |c| c.threshold_for_fpir(JOIN_FPIR, faces.max(1)).max(floor));
    GroupingThresholds { join, edge: pack.thresholds.rights.min(join) }
}
