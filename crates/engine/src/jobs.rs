//! Background work asked for over HTTP: ingestion (queued by a curator) and confirmed
//! erasures (queued by a DPO, see [`crate::rights::carry_out_erasure`]). A job is queued in the
//! catalog, then run by the server's job runner with its asker's rights (checked again when it
//! runs), its progress recorded as it goes. A server stopped mid-job (even killed) resumes it at its next start; ingestion skips
//! what the collection already holds, so a resumed job neither duplicates nor loses a file.
//!
//! Server-side paths must lie under a root the administrator allowed (`serve
//! --ingest-root`); uploads are kept in the data directory's `uploads/` folder.
//!
//! `gabarit worker` processes, on any machine that reaches the store (a PostgreSQL database),
//! take jobs under a [`Lease`] instead: renewed while the job runs, and when it runs out (the
//! worker was killed, or lost the database) another worker takes the job over and runs it
//! again, skipping what is stored already.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use gabarit_catalog::{BackgroundJob, JobPart};
use gabarit_governance::actions;
use serde_json::json;

use crate::auth::{Caller, Via};
use crate::governed::governed_ingest;
use crate::ingest::{IngestOptions, SkippedFile};
use crate::store::{Store, private, remove_upload};
use crate::{Error, FaceServices, Result};

/// How often a running job's progress is written to the catalog.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// A job left running by a stopped server is started again at most this many times in all:
/// a job that stops its server every time it runs must not do so at every restart.
pub const MAX_RUNS: u32 = 3;

/// Whether `who` may ask for ingestion at all (checked before an upload is read).
pub(crate) fn may_ingest(who: &Caller) -> Result<()> {
    who.may::<actions::Ingest>()?;
    Ok(())
}

/// Queues the ingestion of `inputs` (server paths, each under one of `allowed_roots` or in the
/// uploads folder) into `collection`, as `who` (curator), as `parts` jobs (1: one job), each
/// ingesting the files of its [`JobPart`] so that several workers share the work; all queued in
/// one transaction with one audit entry. The collection's governance must be complete now, and
/// again when each job runs.
pub(crate) fn submit_ingest(
    store: &mut Store,
    who: &Caller,
    collection: &str,
    inputs: &[PathBuf],
    allowed_roots: &[PathBuf],
    parts: u32,
) -> Result<Vec<BackgroundJob>> {
    who.may::<actions::Ingest>()?;
    if parts == 0 || parts > JobPart::MAX {
        return Err(Error::field("parts", format!("{parts}: from 1 to {}", JobPart::MAX)));
    }
    store.catalog.governance(collection)?.complete(collection)?;
    if inputs.is_empty() {
        return Err(Error::field("paths", "name at least one folder, file or archive"));
    }
    let mut roots: Vec<PathBuf> = allowed_roots.iter().filter_map(|r| r.canonicalize().ok()).collect();
    roots.extend(store.uploads_dir().canonicalize().ok());
    if inputs.len() > 100 {
        return Err(Error::field("paths", format!("{} given, at most 100 per job", inputs.len())));
    }
    let mut resolved = Vec::with_capacity(inputs.len());
    for input in inputs {
        let shown = gabarit_governance::limits::shown(&input.display().to_string());
        let real = input.canonicalize().map_err(|e| Error::field("paths", format!("{shown}: {e}")))?;
        if !roots.iter().any(|root| real.starts_with(root)) {
            return Err(Error::field(
                "paths",
                format!("{shown}: not under an ingestion root the administrator allowed (serve --ingest-root)"),
            ));
        }
        resolved.push(real.display().to_string());
    }
    let (jobs, _) = store.catalog.audited(who.name(), "job_queue", |tx| {
        let jobs = if parts == 1 {
            vec![tx.queue_job("ingest", collection, &resolved, who.name())?]
        } else {
            (1..=parts)
                .map(|index| {
                    let part = JobPart::new(index, parts)?;
                    tx.queue_job_part("ingest", collection, &resolved, who.name(), Some(part))
                })
                .collect::<gabarit_catalog::Result<Vec<_>>>()?
        };
        let ids: Vec<u64> = jobs.iter().map(|j| j.id).collect();
        let mut detail = json!({"job": ids[0], "kind": "ingest", "collection": collection, "inputs": resolved});
        if parts > 1 {
            detail["jobs"] = json!(ids);
            detail["parts"] = json!(parts);
        }
        Ok((jobs, detail))
    })?;
    Ok(jobs)
}

/// Whether `who` may follow `job`: their own, or any ingestion for a curator.
fn may_follow(who: &Caller, job: &BackgroundJob) -> bool {
    job.requested_by == who.name() || (job.kind == "ingest" && who.can::<actions::Ingest>())
}

/// Whether `who` may have jobs at all: curators (ingestion), DPOs (erasures) and those who
/// group people.
fn may_have_jobs(who: &Caller) -> Result<()> {
    if who.can::<actions::Rights>() || who.can::<actions::People>() {
        return Ok(());
    }
    may_ingest(who)
}

/// Recent jobs `who` may follow, newest first (curators: every ingestion; DPOs: their
/// erasures).
pub(crate) fn list_jobs(store: &Store, who: &Caller, limit: usize) -> Result<Vec<BackgroundJob>> {
    may_have_jobs(who)?;
    let mut jobs = store.catalog.background_jobs(limit)?;
    jobs.retain(|j| may_follow(who, j));
    Ok(jobs)
}

/// One job `who` may follow.
pub(crate) fn job(store: &Store, who: &Caller, id: u64) -> Result<BackgroundJob> {
    may_have_jobs(who)?;
    let not_found = || gabarit_catalog::Error::NotFound { kind: "job", name: id.to_string() };
    let job = store.catalog.background_job(id)?.ok_or_else(not_found)?;
    if !may_follow(who, &job) {
        return Err(not_found().into());
    }
    Ok(job)
}

/// Queues a confirmed erasure (dpo): the faces go when the job runs.
pub(crate) fn submit_erasure(
    store: &mut Store,
    who: &Caller,
    erasure: &crate::rights::ConfirmedErasure,
) -> Result<BackgroundJob> {
    who.may::<actions::Rights>()?;
    let input = serde_json::to_string(erasure).map_err(|e| Error::Internal(e.to_string()))?;
    let (job, _) = store.catalog.audited(who.name(), "job_queue", |tx| {
        let job = tx.queue_job("erase", "", &[input], who.name())?;
        let detail = json!({"job": job.id, "kind": "erase", "request": erasure.request, "faces": erasure.faces.len()});
        Ok((job, detail))
    })?;
    Ok(job)
}

/// Queues a grouping of a collection's faces by person (its governance must allow it).
pub(crate) fn submit_grouping(store: &mut Store, who: &Caller, collection: &str) -> Result<BackgroundJob> {
    crate::grouping::grouped_collection(store, who, collection)?;
    let (job, _) = store.catalog.audited(who.name(), "job_queue", |tx| {
        let job = tx.queue_job("group", collection, &[], who.name())?;
        Ok((job.clone(), json!({"job": job.id, "kind": "group", "collection": collection})))
    })?;
    Ok(job)
}

/// Puts the jobs a stopped server left running back in the queue (at server start), unless
/// they were started [`MAX_RUNS`] times already: those are marked failed.
pub(crate) fn requeue_interrupted(store: &Store) -> Result<Vec<u64>> {
    let ids = store.catalog.requeue_interrupted_jobs(MAX_RUNS)?;
    if !ids.is_empty() {
        tracing::info!(jobs = ?ids, "resuming interrupted jobs");
    }
    Ok(ids)
}

/// Runs the oldest queued job to its end, with `defaults` for everything but the collection
/// and the inputs; `None` when the queue is empty. The job's own failure (its user lost the
/// right, a path vanished, a model failed) ends it as `failed` and is not an error here.
pub(crate) fn run_next(
    services: &FaceServices,
    store: &mut Store,
    defaults: &IngestOptions,
) -> Result<Option<BackgroundJob>> {
    let Some(job) = store.catalog.claim_job()? else { return Ok(None) };
    tracing::info!(job = job.id, run = job.runs, "job started");
    let outcome = run_guarded(services, store, defaults, &job);
    store.catalog.end_job(job.id, outcome.as_ref().map_err(String::as_str))?;
    tracing::info!(job = job.id, ok = outcome.is_ok(), "job ended");
    Ok(store.catalog.background_job(job.id)?)
}

/// Runs a job: its report, or why it failed (logged). A job that panics fails alone: the
/// runner goes on with the next.
fn run_guarded(
    services: &FaceServices,
    store: &mut Store,
    defaults: &IngestOptions,
    job: &BackgroundJob,
) -> std::result::Result<serde_json::Value, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(services, store, defaults, job)))
        .unwrap_or_else(|_| Err(Error::Worker("the job stopped on an internal error".into())))
        .map_err(|e| {
            tracing::warn!(job = job.id, error = %e, "job failed");
            e.to_string()
        })
}

/// Who a worker is and how long its hold on a job lasts without renewal.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The worker's name (host and process, by default), recorded on the jobs it holds.
    pub runner: String,
    /// How long a job stays the worker's without a renewal; renewed every third of it.
    pub duration: Duration,
}

/// Runs the next job a worker may take (the oldest queued, or one whose lease ran out) to its
/// end under `lease`, renewed from a second connection while it runs; `None` when there is
/// none. Ending a job taken over meanwhile by another worker changes nothing.
pub(crate) fn run_next_leased(
    services: &FaceServices,
    store: &mut Store,
    defaults: &IngestOptions,
    lease: &Lease,
) -> Result<Option<BackgroundJob>> {
    let millis = u64::try_from(lease.duration.as_millis()).unwrap_or(u64::MAX);
    let Some(job) = store.catalog.claim_job_leased(&lease.runner, millis, MAX_RUNS)? else { return Ok(None) };
    tracing::info!(job = job.id, run = job.runs, "job taken");
    let heartbeat = store.handle()?;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let outcome = std::thread::scope(|scope| {
        let (id, runner) = (job.id, lease.runner.as_str());
        scope.spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(lease.duration / 3) {
                match heartbeat.catalog.renew_lease(id, runner, millis) {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(job = id, "the job's lease was lost: another worker runs it");
                        return;
                    }
                    Err(e) => tracing::warn!(job = id, error = %e, "the job's lease could not be renewed"),
                }
            }
        });
        let outcome = run_guarded(services, store, defaults, &job);
        drop(stop);
        outcome
    });
    if !store.catalog.end_leased_job(job.id, &lease.runner, outcome.as_ref().map_err(String::as_str))? {
        tracing::warn!(job = job.id, "the job was taken over by another worker: its end is that worker's to record");
    }
    tracing::info!(job = job.id, ok = outcome.is_ok(), "job ended");
    Ok(store.catalog.background_job(job.id)?)
}

fn run(
    services: &FaceServices,
    store: &mut Store,
    defaults: &IngestOptions,
    job: &BackgroundJob,
) -> Result<serde_json::Value> {
    let who = Caller::resolve(store, &job.requested_by, Via::Job { id: job.id })?;
    match job.kind.as_str() {
        "ingest" => run_ingest(services, store, defaults, job, &who),
        "erase" => {
            let input = job.inputs.first().map(String::as_str).unwrap_or_default();
            let erasure: crate::rights::ConfirmedErasure = serde_json::from_str(input)
                .map_err(|e| Error::Internal(format!("job {}: stored input unreadable: {e}", job.id)))?;
            let deleted = crate::rights::carry_out_erasure(store, &who, &erasure)?;
            let faces = erasure.faces.len() as u64;
            store.catalog.job_progress(job.id, faces, faces, deleted.faces)?;
            Ok(serde_json::to_value(ErasureReport { request: erasure.request, deleted })
                .map_err(|e| Error::Internal(format!("job {}: report: {e}", job.id)))?)
        }
        "group" => {
            let progress_store = store.handle()?;
            let report = crate::grouping::group_people(store, &who, &job.collection, &mut |p| {
                if let Err(e) = progress_store.catalog.job_progress(job.id, p.searched as u64, p.to_search as u64, 0) {
                    tracing::warn!(job = job.id, error = %e, "progress of a job could not be recorded");
                }
            })?;
            Ok(serde_json::to_value(report).map_err(|e| Error::Internal(format!("job {}: report: {e}", job.id)))?)
        }
        other => Err(Error::Internal(format!("job {}: unknown kind {other:?} in the catalog", job.id))),
    }
}

/// What a confirmed erasure's job reports once done.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, serde::Serialize)]
pub struct ErasureReport {
    /// The rights request.
    pub request: u64,
    /// What was deleted.
    pub deleted: gabarit_catalog::Deleted,
}

fn run_ingest(
    services: &FaceServices,
    store: &mut Store,
    defaults: &IngestOptions,
    job: &BackgroundJob,
    who: &Caller,
) -> Result<serde_json::Value> {
    let opts = IngestOptions {
        collection: job.collection.clone(),
        inputs: job.inputs.iter().map(PathBuf::from).collect(),
        part: job.part,
        ..defaults.clone()
    };
    for input in &opts.inputs {
        if !Path::new(input).exists() {
            return Err(Error::field("paths", format!("{}: no longer exists", input.display())));
        }
    }
    // Progress goes to the catalog through a second connection: the ingestion holds this one.
    let progress_store = store.handle()?;
    let mut gate = ProgressGate::default();
    let mut failed_progress = None;
    let mut progress = |p: crate::ingest::IngestProgress| {
        if gate.due(Instant::now(), p.done, p.total)
            && let Err(e) = progress_store.catalog.job_progress(job.id, p.done as u64, p.total as u64, p.faces as u64)
        {
            failed_progress.get_or_insert(e);
        }
    };
    let mut report = governed_ingest(services, store, who, &opts, &mut progress)?;
    if let Some(e) = failed_progress {
        tracing::warn!(job = job.id, error = %e, "progress of a job could not be recorded");
    }
    // An uploaded file the walk does not take is reported, never dropped unseen.
    let unread = unread_uploads(store, &opts.inputs)?;
    report.files += unread.len();
    report.failed.extend(unread);
    store.catalog.job_progress(job.id, report.files as u64, report.files as u64, report.faces as u64)?;
    let discarded = discard_unused_uploads(store, &opts.inputs)?;
    let mut value = serde_json::to_value(&report).map_err(|e| Error::Internal(e.to_string()))?;
    value["uploads_discarded"] = json!(discarded);
    Ok(value)
}

/// Which steps of a running job have their progress written: the first, then at most one
/// every [`PROGRESS_EVERY`], and the last.
#[derive(Debug, Default)]
struct ProgressGate {
    /// When progress was last written.
    last: Option<Instant>,
}

impl ProgressGate {
    /// Whether the step that has `done` files of `total` handled, at `now`, is written (it then
    /// counts as the last written).
    fn due(&mut self, now: Instant, done: usize, total: usize) -> bool {
        let due = done == total || self.last.is_none_or(|last| now.saturating_duration_since(last) >= PROGRESS_EVERY);
        if due {
            self.last = Some(now);
        }
        due
    }
}

/// The uploaded files of these inputs that ingestion does not read (by their name neither a
/// photo nor a video: an archive, a document…), each as a file that failed
/// (`not_a_photo_or_video`), in the order they were uploaded.
fn unread_uploads(store: &Store, inputs: &[PathBuf]) -> Result<Vec<SkippedFile>> {
    let Ok(uploads) = store.uploads_dir().canonicalize() else { return Ok(Vec::new()) };
    let mut unread = Vec::new();
    for dir in inputs.iter().filter(|i| i.starts_with(&uploads) && i.is_dir()) {
        for entry in fs_err::read_dir(dir).map_err(Error::Io)? {
            let file = entry.map_err(Error::Io)?.path();
            if !file.is_file() || crate::walk::wanted(&file) {
                continue;
            }
            let uri = file.display().to_string();
            let why = if crate::walk::is_zip(&file) || crate::walk::is_tar(&file) {
                "an archive is not read from an upload: upload its photos and videos, or ingest it by path"
            } else {
                "not a photo or video by its name (.jpg, .png, .webp, .mp4…): not read"
            };
            unread.push(SkippedFile { message: format!("{uri}: {why}"), uri, code: "not_a_photo_or_video".into() });
        }
    }
    unread.sort_by(|a, b| a.uri.cmp(&b.uri));
    Ok(unread)
}

/// Deletes the uploaded files of these inputs that no image record points to (content the
/// collection already held, files that could not be read): the server keeps no photo it does
/// not catalog. Returns how many went.
fn discard_unused_uploads(store: &Store, inputs: &[PathBuf]) -> Result<usize> {
    let Ok(uploads) = store.uploads_dir().canonicalize() else { return Ok(0) };
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

/// Keeps uploaded files in a new folder of the uploads folder (written aside, then moved in
/// whole; readable by the server's account only) and queues their ingestion into
/// `collection`, as `who` (curator). File names are made safe; nothing is kept when the job
/// cannot be queued.
pub(crate) fn submit_upload(
    store: &mut Store,
    who: &Caller,
    collection: &str,
    files: &[(String, &[u8])],
) -> Result<BackgroundJob> {
    may_ingest(who)?;
    if files.is_empty() {
        return Err(Error::field("file", "no file uploaded"));
    }
    let root = store.uploads_dir();
    private::create_dir(&root)?;
    let id = crate::random_hex(8)?;
    let staging = root.join(format!(".incoming-{id}"));
    let dir = root.join(format!("{}-{id}", jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S")));
    let write = || -> Result<()> {
        private::create_dir(&staging)?;
        for (i, (name, bytes)) in files.iter().enumerate() {
            private::write_file(&staging.join(format!("{i:04}-{}", safe_file_name(name))), bytes)?;
        }
        fs_err::rename(&staging, &dir).map_err(Error::Io)
    };
    if let Err(e) = write() {
        let _ = fs_err::remove_dir_all(&staging);
        return Err(e);
    }
    submit_ingest(store, who, collection, std::slice::from_ref(&dir), &[], 1)
        .and_then(|jobs| {
            jobs.into_iter().next().ok_or_else(|| Error::Internal("an upload's job was not queued".into()))
        })
        .inspect_err(|_| {
            let _ = fs_err::remove_dir_all(&dir);
        })
}

/// A file name safe to write in the uploads folder: letters, digits, `.`, `-`, `_` only, no
/// leading dot, at most 100 characters.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String =
        base.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    let clean = clean.trim_start_matches('.');
    let clean: String = clean.chars().rev().take(100).collect::<Vec<_>>().into_iter().rev().collect();
    if clean.is_empty() { "upload".into() } else { clean }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_uploaded_name_keeps_only_its_last_part_in_safe_characters() {
        for (given, kept) in [
            ("../../evil name.jpg", "evil_name.jpg"),
            ("C:\\Users\\ana\\photo 1.JPG", "photo_1.JPG"),
            ("..hidden.png", "hidden.png"),
            ("été-2024_v2.webp", "_t_-2024_v2.webp"),
            ("", "upload"),
            ("...", "upload"),
            ("dir/", "upload"),
        ] {
            assert_eq!(safe_file_name(given), kept, "{given:?}");
        }
        // At most 100 characters, the end (with the extension) kept.
        let long = format!("{}.jpg", "a".repeat(200));
        let safe = safe_file_name(&long);
        assert_eq!((safe.chars().count(), safe.ends_with("a.jpg")), (100, true));
    }

    #[test]
    fn a_jobs_progress_is_written_at_its_first_step_then_at_most_every_half_second_and_at_its_last() {
        let start = Instant::now();
        let mut gate = ProgressGate::default();
        let written: Vec<bool> = [(0, 0), (100, 1), (499, 2), (500, 3), (600, 9), (700, 10)]
            .into_iter()
            .map(|(ms, done)| gate.due(start + Duration::from_millis(ms), done, 10))
            .collect();
        assert_eq!(
            written,
            [true, false, false, true, false, true],
            "the first step; 500 ms after it, not before; the last step, whenever it comes"
        );
    }

    #[test]
    fn removing_an_upload_removes_its_emptied_folder_but_never_the_uploads_folder() {
        let root = tempfile::tempdir().unwrap();
        let uploads = root.path().join("uploads");
        let job = uploads.join("20261202T000000-aa");
        fs_err::create_dir_all(&job).unwrap();
        for f in ["0000-a.jpg", "0001-b.jpg"] {
            fs_err::write(job.join(f), b"x").unwrap();
        }
        remove_upload(&job.join("0000-a.jpg"), &uploads).unwrap();
        assert!(job.is_dir() && !job.join("0000-a.jpg").exists(), "the folder still holds b.jpg");
        remove_upload(&job.join("0001-b.jpg"), &uploads).unwrap();
        assert!(!job.exists() && uploads.is_dir(), "the emptied folder goes, the uploads folder stays");
        // A file directly in the uploads folder: the uploads folder stays, even emptied.
        fs_err::write(uploads.join("loose.jpg"), b"x").unwrap();
        remove_upload(&uploads.join("loose.jpg"), &uploads).unwrap();
        assert!(uploads.is_dir());
    }
}
