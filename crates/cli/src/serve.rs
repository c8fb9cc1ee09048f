//! `serve`: the HTTP API and web UI.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use gabarit_engine::faces::DecodeLimits;
use gabarit_engine::models::Pack;

use crate::collections::video_options;
use crate::faces::services;
use crate::flags::ServeArgs;
use crate::keys::open_existing;

pub(crate) fn serve(models: &Path, data: &Path, pack: Pack, args: ServeArgs) -> Result<ExitCode> {
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
            batch_size: args.batch.max(1),
            limits: DecodeLimits { max_pixels: args.engine.max_pixels, ..DecodeLimits::default() },
            suppressions: Vec::new(),
            suppression_threshold: pack.thresholds.rights,
            video: video_options(&args.video)?,
            budget: args.budget.budget(),
        },
    };
    let services = services(models, pack, &args.engine, usize::MAX)?;
    let gabarit = gabarit_engine::Gabarit::new(store, services, gabarit_server::STORE_HANDLES)?;
    let state = std::sync::Arc::new(gabarit_server::AppState::new(gabarit, &opts)?);
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
