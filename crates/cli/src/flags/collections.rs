//! The flags of collections and ingestion: a collection's governance record, `collection`
//! subcommands, the ingestion budget, video sampling.

use std::path::PathBuf;

use super::{EngineArgs, EngineChoice};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};

#[derive(Args, Default)]
pub(crate) struct GovernanceArgs {
    /// Controller's name.
    #[arg(long)]
    pub(crate) controller: Option<String>,
    /// Controller's contact (email or address).
    #[arg(long)]
    pub(crate) controller_contact: Option<String>,
    /// Purpose, in plain words.
    #[arg(long)]
    pub(crate) purpose: Option<String>,
    /// Purpose category: archive, investigation, event_photos, fraud_prevention, research.
    #[arg(long)]
    pub(crate) purpose_category: Option<String>,
    /// GDPR art. 6(1) basis: a..f or its name (e.g. legitimate_interests).
    #[arg(long)]
    pub(crate) legal_basis: Option<String>,
    /// GDPR art. 9(2) condition: a..j or its name (e.g. archiving).
    #[arg(long)]
    pub(crate) condition: Option<String>,
    /// Jurisdiction, ISO 3166-1 alpha-2 (repeatable).
    #[arg(long = "jurisdiction")]
    pub(crate) jurisdictions: Vec<String>,
    /// Retention in days after ingestion.
    #[arg(long, conflicts_with = "retention_until")]
    pub(crate) retention_days: Option<u32>,
    /// Retention until this date (YYYY-MM-DD).
    #[arg(long)]
    pub(crate) retention_until: Option<String>,
    /// DPIA reference.
    #[arg(long)]
    pub(crate) dpia: Option<String>,
    /// Group the collection's faces by person (`gabarit people`): `on` only where the purpose
    /// category allows it (not event_photos) and a DPIA covering it is recorded; `off` erases
    /// every group, name and correction. Default: off.
    #[arg(long, value_parser = ["on", "off"])]
    pub(crate) grouping: Option<String>,
}

impl GovernanceArgs {
    /// Applies the flags given on top of `draft`.
    pub(crate) fn apply(
        &self,
        mut d: gabarit_engine::governance::GovernanceDraft,
    ) -> Result<gabarit_engine::governance::GovernanceDraft> {
        use gabarit_engine::governance as g;
        if let Some(v) = &self.controller {
            d.controller = Some(v.clone());
        }
        if let Some(v) = &self.controller_contact {
            d.controller_contact = Some(v.clone());
        }
        if let Some(v) = &self.purpose {
            d.purpose = Some(v.clone());
        }
        if let Some(v) = &self.purpose_category {
            d.purpose_category = Some(g::PurposeCategory::parse(v)?);
        }
        if let Some(v) = &self.legal_basis {
            d.legal_basis = Some(g::LegalBasis::parse(v)?);
        }
        if let Some(v) = &self.condition {
            d.condition = Some(g::Condition::parse(v)?);
        }
        if !self.jurisdictions.is_empty() {
            d.jurisdictions = self.jurisdictions.iter().map(|j| g::parse_jurisdiction(j)).collect::<Result<_, _>>()?;
        }
        if let Some(days) = self.retention_days {
            if days == 0 {
                bail!("--retention-days must be at least 1");
            }
            d.retention = Some(g::Retention::Days(days));
        }
        if let Some(date) = &self.retention_until {
            let date: jiff::civil::Date =
                date.parse().with_context(|| format!("--retention-until {date:?}: expected YYYY-MM-DD"))?;
            d.retention = Some(g::Retention::Until(date));
        }
        if let Some(v) = &self.dpia {
            d.dpia = Some(v.clone());
        }
        if let Some(v) = &self.grouping {
            d.grouping = v == "on";
        }
        Ok(d)
    }
}

#[derive(Subcommand)]
pub(crate) enum CollectionCommand {
    /// Create a collection with its controller, purpose, legal basis, jurisdiction, retention
    /// and DPIA (ingestion refuses a collection without them).
    Create {
        /// Unique name.
        name: String,
        /// What it holds.
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        governance: GovernanceArgs,
        /// The backend and precision its templates will come from (default: the fastest here).
        #[command(flatten)]
        engine: EngineChoice,
    },
    /// Change governance fields of a collection (logged with before and after).
    Update {
        /// Collection.
        name: String,
        #[command(flatten)]
        governance: GovernanceArgs,
    },
    /// List collections with their counts.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one collection.
    Show {
        /// Its name.
        name: String,
    },
    /// Re-embed a collection's faces with the pack named by `--pack` (from the stored images
    /// and landmarks: faces, provenance and reviews stay), then change the collection over to
    /// it. Resumable: run it again after a stop. It does not change over while an objection
    /// has no template of the new pack (the DPO runs `rights object` again with its photo).
    Reembed {
        /// Collection.
        name: String,
        /// Faces per batch (one transaction each).
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Hide the progress bar.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        engine: EngineArgs,
    },
}

/// Bounds of an ingestion run (the server applies them to each job).
#[derive(Args, Clone, Copy)]
pub(crate) struct BudgetArgs {
    /// Most photos and videos one run takes from its inputs (more is refused before any work).
    #[arg(long, default_value_t = gabarit_engine::walk::Budget::default().max_files)]
    pub(crate) max_files: usize,
    /// Most folder entries one walk visits.
    #[arg(long, default_value_t = gabarit_engine::walk::Budget::default().max_entries)]
    pub(crate) max_entries: usize,
    /// Longest a run lasts, in minutes (0: no limit); past it, the run stops between batches
    /// and a new run goes on where it stopped.
    #[arg(long, default_value_t = 0)]
    pub(crate) max_minutes: u64,
}

impl BudgetArgs {
    pub(crate) fn budget(self) -> gabarit_engine::walk::Budget {
        gabarit_engine::walk::Budget {
            max_files: self.max_files,
            max_entries: self.max_entries,
            max_duration: (self.max_minutes > 0).then(|| std::time::Duration::from_secs(self.max_minutes * 60)),
            ..gabarit_engine::walk::Budget::default()
        }
    }
}

#[derive(Args)]
pub(crate) struct IngestArgs {
    /// Folders (recursive), photo and video files, zip or tar archives (photos inside them).
    #[arg(required = true)]
    pub(crate) inputs: Vec<PathBuf>,
    /// Target collection.
    #[arg(long)]
    pub(crate) collection: String,
    /// Write the JSON report here.
    #[arg(long)]
    pub(crate) report: Option<PathBuf>,
    /// Images per catalog transaction.
    #[arg(long, default_value_t = 32)]
    pub(crate) batch: usize,
    /// No progress bar.
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Queue the ingestion as a background job, for `gabarit worker` processes (or a server)
    /// to run, instead of running it here; prints the job's id.
    #[arg(long)]
    pub(crate) queue: bool,
    /// With --queue: split the ingestion into this many jobs, each taking its share of the
    /// files (by a hash of each file's name), so that as many workers run it at once.
    #[arg(long, default_value_t = 1, requires = "queue", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(crate) parts: u32,
    #[command(flatten)]
    pub(crate) video: VideoArgs,
    #[command(flatten)]
    pub(crate) budget: BudgetArgs,
    #[command(flatten)]
    pub(crate) engine: EngineArgs,
}

#[derive(Args)]
pub(crate) struct WorkerArgs {
    /// The worker's name, recorded on the jobs it holds (default: host name and process id).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Stop once no job is queued or running anywhere (default: wait for more).
    #[arg(long)]
    pub(crate) exit_when_idle: bool,
    #[command(flatten)]
    pub(crate) jobs: JobArgs,
}

/// How background jobs run: the server's runner and `gabarit worker`.
#[derive(Args)]
pub(crate) struct JobArgs {
    /// On a PostgreSQL store: how long a job stays this process's without renewal ("60s",
    /// "5m"; renewed every third of it, at least 3 s); when the process stops, a worker or
    /// another server takes the job over once this passed. (A data directory's server resumes
    /// its jobs at its next start.)
    #[arg(long, default_value = "60s", value_parser = crate::flags::parse_interval)]
    pub(crate) lease: std::time::Duration,
    /// Photos its ingestion jobs store per transaction.
    #[arg(long, default_value_t = 32)]
    pub(crate) batch: usize,
    #[command(flatten)]
    pub(crate) budget: BudgetArgs,
    #[command(flatten)]
    pub(crate) video: VideoArgs,
    #[command(flatten)]
    pub(crate) engine: EngineArgs,
}

/// How videos are read (ingestion, and the server's ingestion jobs).
#[derive(Args)]
pub(crate) struct VideoArgs {
    /// Video: frames sampled per second (plus the first frame after each cut).
    #[arg(long, default_value_t = 2.0)]
    pub(crate) video_rate: f64,
    /// Video: scene-change score (0–1) that marks a cut.
    #[arg(long, default_value_t = 0.3)]
    pub(crate) scene_threshold: f64,
    /// Video: a quick pass that decodes keyframes only.
    #[arg(long)]
    pub(crate) keyframes_only: bool,
    /// Video: best faces kept per track.
    #[arg(long, default_value_t = 3)]
    pub(crate) track_templates: usize,
    /// Video: frames are scaled down to this longer side before detection.
    #[arg(long, default_value_t = 1920)]
    pub(crate) video_max_side: u32,
}
