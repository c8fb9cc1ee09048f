//! Background work asked for over HTTP: ingestion (queued by a curator) and confirmed
//! erasures (queued by a DPO, see [`crate::rights::carry_out_erasure`]). A job is queued in the
//! catalog, then run by the server's job runner with its asker's rights (checked again when it
//! runs), its progress recorded as it goes. A server stopped mid-job (even killed) resumes it at its next start; ingestion skips
//! what the collection already holds, so a resumed job neither duplicates nor loses a file.
//!
//! Server-side paths must lie under a root the administrator allowed (`serve
//! --ingest-root`); uploads are kept in the data directory's `uploads/` folder.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gabarit_catalog::BackgroundJob;
use gabarit_governance::{Action, Principal, actions, authorize};
use serde_json::json;

use crate::governed::{actor, governed_ingest};
use crate::ingest::IngestOptions;
use crate::store::Store;
use crate::{Error, FaceService, Result};

/// How often a running job's progress is written to the catalog.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Where uploaded files are kept: `uploads/` in the data directory.
pub fn uploads_dir(store: &Store) -> PathBuf {
    store.root().join("uploads")
}

/// Whether `who` may ask for ingestion at all (checked before an upload is read).
pub fn may_ingest(who: &Principal) -> Result<()> {
    authorize::<actions::Ingest>(who, Action::Ingest)?;
    Ok(())
}

/// Queues the ingestion of `inputs` (server paths, each under one of `allowed_roots` or in the
/// uploads folder) into `collection`, as `who` (curator). The collection's governance must be
/// complete now, and again when the job runs.
pub fn submit_ingest(
    store: &mut Store,
    who: &Principal,
    collection: &str,
    inputs: &[PathBuf],
    allowed_roots: &[PathBuf],
) -> Result<BackgroundJob> {
    authorize::<actions::Ingest>(who, Action::Ingest)?;
    store.catalog.governance(collection)?.complete(collection)?;
    if inputs.is_empty() {
        return Err(Error::Invalid("paths: name at least one folder, file or archive".into()));
    }
    let mut roots: Vec<PathBuf> = allowed_roots.iter().filter_map(|r| r.canonicalize().ok()).collect();
    roots.extend(uploads_dir(store).canonicalize().ok());
    let mut resolved = Vec::with_capacity(inputs.len());
    for input in inputs {
        let real = input.canonicalize().map_err(|e| Error::Invalid(format!("path {}: {e}", input.display())))?;
        if !roots.iter().any(|root| real.starts_with(root)) {
            return Err(Error::Invalid(format!(
                "path {}: not under an ingestion root the administrator allowed (serve --ingest-root)",
                input.display()
            )));
        }
        resolved.push(real.display().to_string());
    }
    let job = store.catalog.queue_job("ingest", collection, &resolved, &who.name)?;
    store.catalog.audit(
        &who.name,
        "job_queue",
        json!({"job": job.id, "kind": "ingest", "collection": collection, "inputs": resolved}),
    )?;
    Ok(job)
}

/// Whether `who` may follow `job`: their own, or any ingestion for a curator.
fn may_follow(who: &Principal, job: &BackgroundJob) -> bool {
    job.requested_by == who.name || (job.kind == "ingest" && may_ingest(who).is_ok())
}

/// Whether `who` may have jobs at all: curators (ingestion) and DPOs (erasures).
fn may_have_jobs(who: &Principal) -> Result<()> {
    if authorize::<actions::Other>(who, Action::Rights).is_ok() {
        return Ok(());
    }
    may_ingest(who)
}

/// Recent jobs `who` may follow, newest first (curators: every ingestion; DPOs: their
/// erasures).
pub fn list_jobs(store: &Store, who: &Principal, limit: usize) -> Result<Vec<BackgroundJob>> {
    may_have_jobs(who)?;
    let mut jobs = store.catalog.background_jobs(limit)?;
    jobs.retain(|j| may_follow(who, j));
    Ok(jobs)
}

/// One job `who` may follow.
pub fn job(store: &Store, who: &Principal, id: u64) -> Result<BackgroundJob> {
    may_have_jobs(who)?;
    let not_found = || gabarit_catalog::Error::NotFound { kind: "job", name: id.to_string() };
    let job = store.catalog.background_job(id)?.ok_or_else(not_found)?;
    if !may_follow(who, &job) {
        return Err(not_found().into());
    }
    Ok(job)
}

/// Queues a confirmed erasure (dpo): the faces go when the job runs.
pub fn submit_erasure(
    store: &mut Store,
    who: &Principal,
    erasure: &crate::rights::ConfirmedErasure,
) -> Result<BackgroundJob> {
    authorize::<actions::Other>(who, Action::Rights)?;
    let input = serde_json::to_string(erasure).map_err(|e| Error::Invalid(e.to_string()))?;
    let job = store.catalog.queue_job("erase", "", &[input], &who.name)?;
    store.catalog.audit(
        &who.name,
        "job_queue",
        json!({"job": job.id, "kind": "erase", "request": erasure.request, "faces": erasure.faces.len()}),
    )?;
    Ok(job)
}

/// Puts the jobs a stopped server left running back in the queue (at server start).
pub fn requeue_interrupted(store: &Store) -> Result<Vec<u64>> {
    let ids = store.catalog.requeue_interrupted_jobs()?;
    if !ids.is_empty() {
        tracing::info!(jobs = ?ids, "resuming interrupted jobs");
    }
    Ok(ids)
}

/// Runs the oldest queued job to its end, with `defaults` for everything but the collection
/// and the inputs; `None` when the queue is empty. The job's own failure (its user lost the
/// right, a path vanished, a model failed) ends it as `failed` and is not an error here.
pub fn run_next(service: &FaceService, store: &mut Store, defaults: &IngestOptions) -> Result<Option<BackgroundJob>> {
    let Some(job) = store.catalog.claim_job()? else { return Ok(None) };
    tracing::info!(job = job.id, run = job.runs, "job started");
    let outcome = run(service, store, defaults, &job);
    match &outcome {
        Ok(report) => store.catalog.end_job(job.id, Ok(report))?,
        Err(e) => {
            tracing::warn!(job = job.id, error = %e, "job failed");
            store.catalog.end_job(job.id, Err(&e.to_string()))?
        }
    }
    tracing::info!(job = job.id, ok = outcome.is_ok(), "job ended");
    Ok(store.catalog.background_job(job.id)?)
}

fn run(
    service: &FaceService,
    store: &mut Store,
    defaults: &IngestOptions,
    job: &BackgroundJob,
) -> Result<serde_json::Value> {
    let who = actor(store, Some(&job.requested_by))?;
    match job.kind.as_str() {
        "ingest" => run_ingest(service, store, defaults, job, &who),
        "erase" => {
            let input = job.inputs.first().map(String::as_str).unwrap_or_default();
            let erasure: crate::rights::ConfirmedErasure =
                serde_json::from_str(input).map_err(|e| Error::Invalid(format!("job {}: {e}", job.id)))?;
            let deleted = crate::rights::carry_out_erasure(store, &who, &erasure)?;
            let faces = erasure.faces.len() as u64;
            store.catalog.job_progress(job.id, faces, faces, deleted.faces)?;
            Ok(json!({"request": erasure.request, "deleted": deleted}))
        }
        other => Err(Error::Invalid(format!("job {}: unknown kind {other:?}", job.id))),
    }
}

fn run_ingest(
    service: &FaceService,
    store: &mut Store,
    defaults: &IngestOptions,
    job: &BackgroundJob,
    who: &Principal,
) -> Result<serde_json::Value> {
    let opts = IngestOptions {
        collection: job.collection.clone(),
        inputs: job.inputs.iter().map(PathBuf::from).collect(),
        ..defaults.clone()
    };
    for input in &opts.inputs {
        if !Path::new(input).exists() {
            return Err(Error::Invalid(format!("path {}: no longer exists", input.display())));
        }
    }
    // Progress goes to the catalog through a second connection: the ingestion holds this one.
    let progress_store = store.handle()?;
    let mut last = Instant::now() - PROGRESS_EVERY;
    let mut failed_progress = None;
    let mut progress = |p: crate::ingest::IngestProgress| {
        if last.elapsed() >= PROGRESS_EVERY || p.done == p.total {
            last = Instant::now();
            if let Err(e) = progress_store.catalog.job_progress(job.id, p.done as u64, p.total as u64, p.faces as u64) {
                failed_progress.get_or_insert(e);
            }
        }
    };
    let report = governed_ingest(service, store, who, &opts, &mut progress)?;
    if let Some(e) = failed_progress {
        tracing::warn!(job = job.id, error = %e, "progress of a job could not be recorded");
    }
    store.catalog.job_progress(job.id, report.files as u64, report.files as u64, report.faces as u64)?;
    let discarded = discard_unused_uploads(store, &opts.inputs)?;
    let mut value = serde_json::to_value(&report).map_err(|e| Error::Invalid(e.to_string()))?;
    value["uploads_discarded"] = json!(discarded);
    Ok(value)
}

/// Deletes the uploaded files of these inputs that no image record points to (content the
/// collection already held, files that could not be read): the server keeps no photo it does
/// not catalog. Returns how many went.
fn discard_unused_uploads(store: &Store, inputs: &[PathBuf]) -> Result<usize> {
    let Ok(uploads) = uploads_dir(store).canonicalize() else { return Ok(0) };
    let mut discarded = 0;
    for dir in inputs.iter().filter(|i| i.starts_with(&uploads) && i.is_dir()) {
        for entry in fs_err::read_dir(dir).map_err(Error::Io)? {
            let file = entry.map_err(Error::Io)?.path();
            if file.is_file() && !store.catalog.has_image_uri(&file.display().to_string())? {
                remove_upload(&file, &uploads)?;
                discarded += 1;
            }
        }
    }
    Ok(discarded)
}

/// Deletes an uploaded file, and its upload's folder once that holds nothing more (never the
/// uploads folder itself).
pub(crate) fn remove_upload(file: &Path, uploads: &Path) -> Result<()> {
    fs_err::remove_file(file).map_err(Error::Io)?;
    if let Some(dir) = file.parent().filter(|d| *d != uploads)
        && fs_err::read_dir(dir).map_err(Error::Io)?.next().is_none()
    {
        fs_err::remove_dir(dir).map_err(Error::Io)?;
    }
    Ok(())
}
