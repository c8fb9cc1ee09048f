//! The job runner: one thread that runs the queued background jobs (ingestion) one after the
//! other, on a handle on the data directory taken for each, so that requests go on being served. Jobs
//! a previous server left running are queued again at start (see `gabarit_engine::jobs`); on a
//! store other processes share (PostgreSQL), jobs are taken under a lease instead, as
//! `gabarit worker` takes them.
//! Between jobs it applies the collections' retention: at start, then every
//! `ServerOptions::retention_every` (a day by default).

use std::sync::Arc;
use std::time::Duration;

use crate::AppState;

/// How long the runner sleeps when the queue is empty and nobody wakes it.
const IDLE_CHECK: Duration = Duration::from_secs(2);

/// Queues again the interrupted jobs and starts the runner thread.
pub fn start_runner(state: Arc<AppState>) -> std::io::Result<()> {
    let other = |e: &dyn std::fmt::Display| std::io::Error::other(format!("job runner: {e}"));
    // On a store other processes share, jobs are taken under a lease (another process takes
    // over a job whose runner stopped); a data directory's server resumes its own at start.
    let shared = state.gabarit.store_is_shared().map_err(|e| other(&e))?;
    if !shared {
        state.gabarit.requeue_interrupted().map_err(|e| other(&e))?;
    }
    std::thread::Builder::new().name("gabarit-jobs".into()).spawn(move || {
        let mut retention_due = Some(std::time::Instant::now());
        let mut anchor_due = state.anchor_dir.as_ref().map(|_| std::time::Instant::now());
        loop {
            if let (Some(due), Some(dir)) = (anchor_due, &state.anchor_dir)
                && due <= std::time::Instant::now()
            {
                match write_checkpoint(&state.gabarit, dir) {
                    Ok(path) => tracing::info!(file = %path.display(), "audit checkpoint written"),
                    Err(e) => tracing::error!(error = %e, "the audit checkpoint could not be written"),
                }
                anchor_due = Some(std::time::Instant::now() + ANCHOR_EVERY);
            }
            if let Some(due) = retention_due
                && due <= std::time::Instant::now()
            {
                match state.gabarit.scheduled_retention(jiff::Timestamp::now()) {
                    Ok(report) => tracing::info!(collections = report.collections.len(), "retention applied"),
                    Err(e) => tracing::error!(error = %e, "retention could not be applied"),
                }
                retention_due = state.retention_every.map(|every| std::time::Instant::now() + every);
            }
            let ran = if shared {
                state.gabarit.run_next_leased(&state.ingest, &state.job_lease)
            } else {
                state.gabarit.run_next(&state.ingest)
            };
            match ran {
                Ok(Some(job)) => {
                    // What an ingestion added is left for the next start, even one after a
                    // crash (a removal, as an erasure's, undoes nothing a checkpoint made).
                    if job.kind == "ingest"
                        && let Err(e) = state.gabarit.checkpoint_indexes()
                    {
                        tracing::error!(error = %e, "the index could not be checkpointed after a job");
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "the job runner could not read its queue"),
            }
            let (queued, wake) = &state.jobs_queued;
            let Ok(mut flag) = queued.lock() else { return };
            if !*flag {
                flag = match wake.wait_timeout(flag, IDLE_CHECK) {
                    Ok((flag, _)) => flag,
                    Err(_) => return,
                };
            }
            *flag = false;
        }
    })?;
    Ok(())
}

/// How often the server writes a checkpoint of the audit chain.
const ANCHOR_EVERY: Duration = Duration::from_secs(24 * 3600);

/// The actor the audit log names for the server's own checkpoints.
pub const SCHEDULED_ANCHOR: &str = "audit-schedule";

/// Writes a signed checkpoint of the audit chain into `dir` (created 0700; the file 0600).
fn write_checkpoint(
    engine: &gabarit_engine::Gabarit,
    dir: &std::path::Path,
) -> gabarit_engine::Result<std::path::PathBuf> {
    let checkpoint = engine.scheduled_anchor(SCHEDULED_ANCHOR)?;
    gabarit_engine::governed::write_checkpoint_file(dir, &checkpoint)
}

/// Wakes the runner: a job was queued.
pub fn wake(state: &AppState) {
    let (queued, wake) = &state.jobs_queued;
    if let Ok(mut flag) = queued.lock() {
        *flag = true;
        wake.notify_one();
    }
}
