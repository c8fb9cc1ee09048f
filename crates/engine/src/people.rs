//! People: grouping faces by person. The grouping itself is `gabarit_people::group` (pure);
//! this module turns a pack's calibration into its thresholds, and holds what a run reports.
//!
//! The join threshold is where, in a set of `n` faces, a face's best match among the other
//! people's faces reaches the threshold for at most [`JOIN_FPIR`] of the faces (the pack's
//! calibration gives the false-match rate at every score), and never below the pack's
//! verification threshold: two single faces merge only on evidence that a search would call a
//! match. Groups then merge on the mean similarity of their pairs of faces.

use gabarit_inference::{Calibration, Pack};
use serde::Serialize;

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

/// What a grouping run did.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupingReport {
    /// Collection.
    pub collection: String,
    /// Faces grouped (with a template).
    pub faces: usize,
    /// Faces whose neighbours this run searched (the others' were kept from earlier runs).
    pub searched: usize,
    /// Candidate pairs over all faces.
    pub pairs: usize,
    /// Persons: groups of two faces or more, and every group a user corrected.
    pub persons: u64,
    /// Persons new in this run.
    pub new_persons: usize,
    /// Merges refused because photos, tracks or corrections kept the groups apart.
    pub refused: usize,
    /// Thresholds used.
    pub thresholds: GroupingThresholds,
    /// Time per phase.
    pub seconds: PhaseSeconds,
}

/// How long each phase of a run took, in seconds (a measurement, never a verdict).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PhaseSeconds {
    /// Reading the collection's templates.
    pub load: f64,
    /// Searching the new faces' neighbours and storing the pairs.
    pub search: f64,
    /// Reading the pairs and corrections, and grouping.
    pub group: f64,
    /// Storing the persons (one transaction with its audit entry).
    pub store: f64,
}

/// The people grouping after an ingestion, where the collection's governance groups faces:
/// the run's report, or why it did not run (the ingestion stands either way; `gabarit people
/// group` runs it later).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum GroupingAfterIngest {
    /// It ran.
    Ran(GroupingReport),
    /// It did not run.
    NotRun {
        /// Why.
        not_run: String,
    },
}
