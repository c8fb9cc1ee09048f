//! Gabarit's HTTP API: REST under `/api/v1`, described by an OpenAPI 3 document generated
//! from the handlers (`/api/v1/openapi.json`), plus `/healthz` and `/metrics` (Prometheus).
//!
//! A thin layer: each handler authenticates the caller by API key, then calls one governed
//! use case of `gabarit-engine`, which authorises (the core's policy) and audits. The server
//! adds no rule and bypasses none. No response ever carries a template.
//!
//! The web UI (`web/`, built with Vite) is embedded and served from `/` ([`web`]).
//!
//! Errors are JSON `{"error": {"code", "type", "message"}}` with a stable code ([`ApiError`]).

mod api;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod jobs;
mod metrics;
pub mod web;

use std::future::Future;
use std::sync::{Arc, Mutex};

use gabarit_engine::{FaceServices, Gabarit};

pub use api::{openapi, router};
pub use error::{ApiError, ErrorCode};

/// Everything a request may need, shared by all requests.
pub struct AppState {
    /// The data directory's handles and the face services of its packs.
    gabarit: Gabarit,
    max_upload_bytes: usize,
    ingest_roots: Vec<std::path::PathBuf>,
    ingest: gabarit_engine::ingest::IngestOptions,
    retention_every: Option<std::time::Duration>,
    /// Wakes the job runner when a job is queued.
    jobs_queued: (Mutex<bool>, std::sync::Condvar),
    metrics: metrics::Metrics,
    /// Counts login attempts (per name and address, per address, in all).
    logins: gabarit_engine::auth::LoginLimiter,
    /// Where the audit chain's daily checkpoints are written.
    anchor_dir: Option<std::path::PathBuf>,
    /// Requests that run the face models at once (twice the engines: one running, one ready);
    /// the others wait here, cheaply, instead of holding a thread and their upload.
    analysing: tokio::sync::Semaphore,
    /// Searches of the index running at once (one per core, plus one writing its record while
    /// the others compute; fair: first come, first served).
    searching: tokio::sync::Semaphore,
    /// Days a search keeps its query faces at most.
    probe_days: u32,
    /// The lease its job runner takes jobs under when other processes share the store.
    job_lease: gabarit_engine::jobs::Lease,
}

/// What the server needs besides the data directory and the face engines.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Largest request body (uploads), bytes; more is refused with 413.
    pub max_upload_bytes: usize,
    /// Folders curators may ingest from by path (uploads need none).
    pub ingest_roots: Vec<std::path::PathBuf>,
    /// How the server's ingestion jobs read files (collection and inputs come with each job).
    pub ingest: gabarit_engine::ingest::IngestOptions,
    /// How often the collections' retention is applied (also at start); `None`: only at start.
    pub retention_every: Option<std::time::Duration>,
    /// A folder, outside the data directory, where the server writes a signed checkpoint of the
    /// audit chain at start and then daily (`audit verify --anchor` checks the chain against
    /// one); `None`: none.
    pub anchor_dir: Option<std::path::PathBuf>,
    /// Days a search keeps its query faces for review at most (they go earlier once every
    /// candidate is decided).
    pub probe_days: u32,
    /// The lease its job runner takes jobs under when other processes share the store.
    pub job_lease: gabarit_engine::jobs::Lease,
}

impl AppState {
    /// Shared state over the engine (its packs in use are loaded: a missing model is reported
    /// before the server serves).
    pub fn new(gabarit: Gabarit, opts: &ServerOptions) -> gabarit_engine::Result<Self> {
        let permits = gabarit.faces()?.config().workers.max(1) * 2;
        Ok(AppState {
            analysing: tokio::sync::Semaphore::new(permits),
            searching: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map(std::num::NonZeroUsize::get).unwrap_or(1) + 1,
            ),
            gabarit,
            max_upload_bytes: opts.max_upload_bytes,
            ingest_roots: opts.ingest_roots.clone(),
            ingest: opts.ingest.clone(),
            retention_every: opts.retention_every,
            jobs_queued: (Mutex::new(false), std::sync::Condvar::new()),
            metrics: metrics::Metrics::default(),
            logins: gabarit_engine::auth::LoginLimiter::default(),
            anchor_dir: opts.anchor_dir.clone(),
            probe_days: opts.probe_days,
            job_lease: opts.job_lease.clone(),
        })
    }

    /// Leaves the index ready for the next start (see `Gabarit::checkpoint_indexes`): for
    /// the binary, once the server has stopped.
    pub fn checkpoint_indexes(&self) -> gabarit_engine::Result<()> {
        self.gabarit.checkpoint_indexes()
    }

    /// The face services of the packs in use.
    fn faces(&self) -> Result<&FaceServices, ApiError> {
        Ok(self.gabarit.faces()?)
    }
}

/// Handles on the data directory a server keeps: requests use them at once, each with its
/// own catalog connection, all sharing the index.
pub const STORE_HANDLES: usize = 8;

/// Serves the API on `listener` until `shutdown` resolves, then finishes the requests in
/// flight (graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    jobs::start_runner(state.clone())?;
    let (app, _) = router(state);
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
