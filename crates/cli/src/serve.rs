//! `serve`: opens the data directory and the face services, then hands them to the HTTP
//! server the binary passes in ([`Start`]), which serves until Ctrl-C or SIGTERM.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use gabarit_engine::faces::{DecodeLimits, FaceServices};
use gabarit_engine::ingest::IngestOptions;
use gabarit_engine::models::Pack;
use gabarit_engine::store::Place;
use gabarit_engine::store::Store;

use crate::collections::video_options;
use crate::faces::services;
use crate::flags::{JobArgs, ServeArgs};
use crate::keys::open_existing;

/// What the server needs to start: the opened store and face services, and the options of
/// `gabarit serve` resolved (flags, configuration, defaults).
pub struct ServeSetup {
    /// The data directory, opened.
    pub store: Store,
    /// The face services of the packs the server may run.
    pub services: FaceServices,
    /// Address to listen on (`host:port`).
    pub listen: String,
    /// Largest request body (uploads), bytes.
    pub max_upload_bytes: usize,
    /// Folders curators may ingest from by path.
    pub ingest_roots: Vec<PathBuf>,
    /// How the server's ingestion jobs read files.
    pub ingest: IngestOptions,
    /// How often retention runs (also at start); `None`: only at start.
    pub retention_every: Option<Duration>,
    /// Where signed checkpoints of the audit chain are written (outside the data directory).
    pub anchor_dir: PathBuf,
    /// The lease its job runner takes jobs under, on a store other processes share.
    pub job_lease: gabarit_engine::jobs::Lease,
    /// Days a search keeps its query faces for review at most.
    pub probe_days: u32,
}

/// How the background jobs of a server or a worker read files, from their flags.
pub(crate) fn job_defaults(jobs: &JobArgs, pack: &Pack) -> Result<IngestOptions> {
    Ok(IngestOptions {
        collection: String::new(),
        inputs: Vec::new(),
        batch_size: jobs.batch.max(1),
        limits: DecodeLimits { max_pixels: jobs.engine.max_pixels, ..DecodeLimits::default() },
        suppressions: Vec::new(),
        suppression_threshold: pack.thresholds.rights,
        video: video_options(&jobs.video)?,
        budget: jobs.budget.budget(),
        part: None,
    })
}

/// Serves HTTP with a [`ServeSetup`] until asked to stop.
pub type Start = fn(ServeSetup) -> Result<()>;

pub(crate) fn serve(models: &Path, data: &Place, pack: Pack, args: ServeArgs, start: Start) -> Result<ExitCode> {
    let store = open_existing(data)?;
    if let Some(ef) = args.ef_search {
        anyhow::ensure!(ef >= 1, "--ef-search must be at least 1");
        store.set_ef_search(ef)?;
    }
    let anchor_dir = args.anchor_dir.clone().unwrap_or_else(|| match data {
        Place::Dir(root) => {
            let name = root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "data".into());
            root.with_file_name(format!("{name}.anchors"))
        }
        Place::Postgres { uploads, .. } => uploads.with_file_name("anchors"),
    });
    let ingest = job_defaults(&args.jobs, &pack)?;
    let services = services(models, pack, &args.jobs.engine, usize::MAX)?;
    start(ServeSetup {
        store,
        services,
        listen: args.listen.clone(),
        max_upload_bytes: args.max_upload_mib.max(1) << 20,
        ingest_roots: args.ingest_root.clone(),
        ingest,
        retention_every: (!args.retention_every.is_zero()).then_some(args.retention_every),
        anchor_dir,
        probe_days: args.probe_days,
        job_lease: crate::worker::lease(&args.jobs, crate::worker::default_name("serve"))?,
    })?;
    eprintln!("server stopped");
    Ok(ExitCode::SUCCESS)
}
