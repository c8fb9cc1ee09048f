//! Gabarit's HTTP API: REST under `/api/v1`, described by an OpenAPI 3 document generated
//! from the handlers (`/api/v1/openapi.json`), plus `/healthz` and `/metrics` (Prometheus).
//!
//! A thin layer: each handler authenticates the caller by API key, then calls one governed
//! use case of `gabarit-engine`, which authorises (the core's policy) and audits. The server
//! adds no rule and bypasses none. No response ever carries a template.
//!
//! Errors are JSON `{"error": {"code", "message"}}` with a stable code ([`ApiError`]).

mod api;
mod error;
mod metrics;

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use gabarit_engine::FaceService;
use gabarit_engine::store::Store;
use gabarit_inference::Calibration;

pub use api::router;
pub use error::ApiError;

/// Everything a request may need, shared by all requests.
pub struct AppState {
    store: Mutex<Store>,
    service: FaceService,
    calibration: Option<Calibration>,
    verification_threshold: f32,
    rights_threshold: f32,
    max_upload_bytes: usize,
    metrics: metrics::Metrics,
    failed_logins: Mutex<std::collections::HashMap<String, Vec<std::time::Instant>>>,
    /// Requests that run the face models at once (twice the engines: one running, one ready);
    /// the others wait here, cheaply, instead of holding a thread and their upload.
    analysing: tokio::sync::Semaphore,
}

/// What the server needs besides the data directory and the face engines.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Largest request body (uploads), bytes; more is refused with 413.
    pub max_upload_bytes: usize,
    /// The pack's verification threshold (default search threshold).
    pub verification_threshold: f32,
    /// The pack's rights threshold (objections).
    pub rights_threshold: f32,
}

impl AppState {
    /// Shared state over an opened store and a face service.
    pub fn new(store: Store, service: FaceService, calibration: Option<Calibration>, opts: &ServerOptions) -> Self {
        let permits = service.config().workers.max(1) * 2;
        AppState {
            analysing: tokio::sync::Semaphore::new(permits),
            store: Mutex::new(store),
            service,
            calibration,
            verification_threshold: opts.verification_threshold,
            rights_threshold: opts.rights_threshold,
            max_upload_bytes: opts.max_upload_bytes,
            metrics: metrics::Metrics::default(),
            failed_logins: Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn store(&self) -> Result<MutexGuard<'_, Store>, ApiError> {
        self.store.lock().map_err(|_| ApiError::internal("the data directory lock is poisoned"))
    }
}

/// Serves the API on `listener` until `shutdown` resolves, then finishes the requests in
/// flight (graceful shutdown).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (app, _) = router(state);
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
