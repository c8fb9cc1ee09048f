//! `gabarit`: the face search engine's one binary. The command line (`gabarit-cli`) runs every
//! command; for `gabarit serve` it hands a ready engine to the HTTP server (`gabarit-server`).
//! Assembling the two here keeps each front end on the engine alone.

use std::process::ExitCode;

use anyhow::{Context, Result};
use gabarit_cli::ServeSetup;
use gabarit_engine::Gabarit;
use gabarit_server::{AppState, STORE_HANDLES, ServerOptions};

fn main() -> ExitCode {
    gabarit_cli::main(serve)
}

/// Serves the HTTP API and the web UI until Ctrl-C or SIGTERM.
fn serve(setup: ServeSetup) -> Result<()> {
    let opts = ServerOptions {
        max_upload_bytes: setup.max_upload_bytes,
        ingest_roots: setup.ingest_roots,
        ingest: setup.ingest,
        retention_every: setup.retention_every,
        anchor_dir: Some(setup.anchor_dir),
        probe_days: setup.probe_days,
        job_lease: setup.job_lease,
    };
    let gabarit = Gabarit::new(setup.store, setup.services, STORE_HANDLES)?;
    let state = std::sync::Arc::new(AppState::new(gabarit, &opts)?);
    let listen = setup.listen;
    let serving = state.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        println!("listening on http://{}", listener.local_addr()?);
        use std::io::Write;
        std::io::stdout().flush()?;
        gabarit_server::serve(listener, serving, shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    // The job runner keeps the engine until the process ends: the index is left ready for the
    // next start here (a job still running may insert more, which the next start codes).
    state.checkpoint_indexes().context("the index could not be left ready for the next start")
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
