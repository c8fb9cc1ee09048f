//! Background jobs asked for over HTTP: a queue persisted in the catalog, so that a server
//! restarted while a job ran resumes it, and so that any handle can report a job's progress.
//!
//! States: `queued` → `running` → `done` or `failed`. A job found `running` when a server
//! starts was interrupted: it goes back to `queued` (its work is idempotent: ingestion skips
//! what the collection already holds).

use serde::Serialize;

use crate::sql::{Db, Row};
use crate::{Catalog, Error, Result, Tx, now};

/// A job's end as stored: its state, report and error.
fn ending(outcome: std::result::Result<&serde_json::Value, &str>) -> (&'static str, Option<String>, Option<String>) {
    match outcome {
        Ok(report) => ("done", Some(report.to_string()), None),
        Err(why) => ("failed", None, Some(why.to_string())),
    }
}

/// The time now in Unix milliseconds (leases).
fn now_millis() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A background job.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackgroundJob {
    /// Id.
    pub id: u64,
    /// Kind (`ingest`).
    pub kind: String,
    /// Target collection.
    pub collection: String,
    /// Its inputs (paths on the server).
    pub inputs: Vec<String>,
    /// Who asked for it.
    pub requested_by: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// How many times it was started (more than 1: resumed after an interruption).
    pub runs: u32,
    /// Files handled in the current run.
    pub done: u64,
    /// Files in all (known once the inputs were listed).
    pub total: Option<u64>,
    /// Faces stored in the current run.
    pub faces: u64,
    /// Why it failed.
    pub error: Option<String>,
    /// The run's report (JSON), once done: an ingestion's `IngestReport`, an erasure's
    /// `ErasureReport`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub report: Option<serde_json::Value>,
    /// When it was asked for.
    pub created_at: String,
    /// When its last run started.
    pub started_at: Option<String>,
    /// When it ended.
    pub finished_at: Option<String>,
    /// The part of its inputs this job ingests, when its ingestion was queued in parts.
    pub part: Option<JobPart>,
}

/// One part of an ingestion queued in several: the files whose URI falls in it
/// ([`takes`](Self::takes)). Every file of the inputs falls in exactly one part, whatever the
/// order in which they are listed and on whichever machine, so parts run by different workers
/// neither overlap nor leave a file out.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct JobPart {
    /// This part, from 1.
    pub index: u32,
    /// How many parts the ingestion has.
    pub of: u32,
}

impl JobPart {
    /// The most parts one ingestion is queued in.
    pub const MAX: u32 = 256;

    /// Part `index` (from 1) of `of`, checked.
    pub fn new(index: u32, of: u32) -> Result<JobPart> {
        if of == 0 || of > Self::MAX || index == 0 || index > of {
            return Err(Error::Invalid(format!("part {index} of {of}: parts run from 1 to at most {}", Self::MAX)));
        }
        Ok(JobPart { index, of })
    }

    /// Whether the file named `uri` (its catalog URI) falls in this part: the first eight bytes
    /// of the URI's SHA-256, modulo the number of parts.
    pub fn takes(&self, uri: &str) -> bool {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(uri.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % u64::from(self.of) == u64::from(self.index - 1)
    }
}

const COLUMNS: &str = "id, kind, collection, inputs, requested_by, state, runs, done, total, faces, error, report, \
                       created_at, started_at, finished_at, part, parts";

fn job_row(r: &Row<'_>) -> Result<BackgroundJob> {
    let id: u64 = r.get(0)?;
    let inputs = r.json(3, "inputs", || format!("job {id}"))?;
    let report = match r.get::<Option<String>>(11)? {
        None => None,
        Some(_) => Some(r.json(11, "report", || format!("job {id}"))?),
    };
    Ok(BackgroundJob {
        id,
        kind: r.get(1)?,
        collection: r.get(2)?,
        inputs,
        requested_by: r.get(4)?,
        state: r.get(5)?,
        runs: r.get(6)?,
        done: r.get(7)?,
        total: r.get(8)?,
        faces: r.get(9)?,
        error: r.get(10)?,
        report,
        created_at: r.get(12)?,
        started_at: r.get(13)?,
        finished_at: r.get(14)?,
        part: match (r.get::<Option<u32>>(15)?, r.get::<Option<u32>>(16)?) {
            (Some(index), Some(of)) => Some(JobPart::new(index, of)?),
            (None, None) => None,
            (index, of) => return Err(Error::Invalid(format!("job {id}: part {index:?} of {of:?}"))),
        },
    })
}

impl Catalog {
    /// A job by id.
    pub fn background_job(&self, id: u64) -> Result<Option<BackgroundJob>> {
        self.db().row(&format!("SELECT {COLUMNS} FROM background_jobs WHERE id = ?1"), &[&id], job_row)
    }

    /// Jobs, newest first, at most `limit`.
    pub fn background_jobs(&self, limit: usize) -> Result<Vec<BackgroundJob>> {
        self.db().rows(&format!("SELECT {COLUMNS} FROM background_jobs ORDER BY id DESC LIMIT ?1"), &[&limit], job_row)
    }

    /// Takes the oldest queued job and marks it running (one taker wins, whatever the number
    /// of processes: one statement; on PostgreSQL the queued row is taken `FOR UPDATE SKIP
    /// LOCKED`, so concurrent takers get different jobs); `None` when none.
    pub fn claim_job(&mut self) -> Result<Option<BackgroundJob>> {
        let lock = match self.db() {
            Db::Lite(..) => "",
            Db::Pg(..) => "FOR UPDATE SKIP LOCKED",
        };
        let id = self.db().row(
            &format!(
                "UPDATE background_jobs SET state = 'running', runs = runs + 1, done = 0, total = NULL, faces = 0,
                    started_at = ?1
                 WHERE state = 'queued'
                   AND id = (SELECT id FROM background_jobs WHERE state = 'queued' ORDER BY id LIMIT 1 {lock})
                 RETURNING id"
            ),
            &[&now()],
            |r| r.get::<u64>(0),
        )?;
        match id {
            Some(id) => self.background_job(id),
            None => Ok(None),
        }
    }

    /// Takes a job for the worker `runner` under a lease of `lease_ms` milliseconds: the
    /// oldest queued job, or a running one whose lease expired (its worker stopped or lost
    /// the database). A job whose lease expired after `max_runs` runs is marked failed instead
    /// (a job that kills its workers must not kill them all). One taker wins, as with
    /// [`claim_job`](Self::claim_job); the worker renews the lease
    /// ([`renew_lease`](Self::renew_lease)) while it runs.
    pub fn claim_job_leased(&mut self, runner: &str, lease_ms: u64, max_runs: u32) -> Result<Option<BackgroundJob>> {
        let runner = gabarit_governance::limits::bounded("runner", runner, 200, false)?;
        let lock = match self.db() {
            Db::Lite(..) => "",
            Db::Pg(..) => "FOR UPDATE SKIP LOCKED",
        };
        let now_ms = now_millis();
        self.db().execute(
            "UPDATE background_jobs SET state = 'failed', finished_at = ?1,
                error = 'its worker stopped ' || runs || ' times while it ran: not started again'
             WHERE state = 'running' AND lease_until < ?2 AND runs >= ?3",
            &[&now(), &now_ms, &max_runs],
        )?;
        let takeable = "(state = 'queued' OR (state = 'running' AND lease_until < ?4))";
        let id = self.db().row(
            &format!(
                "UPDATE background_jobs SET state = 'running', runs = runs + 1, done = 0, total = NULL, faces = 0,
                    started_at = ?1, runner = ?2, lease_until = ?3
                 WHERE {takeable}
                   AND id = (SELECT id FROM background_jobs WHERE {takeable} ORDER BY id LIMIT 1 {lock})
                 RETURNING id"
            ),
            &[&now(), &runner, &now_ms.saturating_add(lease_ms as i64), &now_ms],
            |r| r.get::<u64>(0),
        )?;
        match id {
            Some(id) => self.background_job(id),
            None => Ok(None),
        }
    }

    /// Extends `runner`'s lease on a running job to `lease_ms` from now; `false` when the
    /// job is no longer its own (taken over after the lease expired, or ended).
    pub fn renew_lease(&self, id: u64, runner: &str, lease_ms: u64) -> Result<bool> {
        let runner = gabarit_governance::limits::bounded("runner", runner, 200, false)?;
        let n = self.db().execute(
            "UPDATE background_jobs SET lease_until = ?1 WHERE id = ?2 AND runner = ?3 AND state = 'running'",
            &[&now_millis().saturating_add(lease_ms as i64), &id, &runner],
        )?;
        Ok(n == 1)
    }

    /// Ends a job `runner` holds, as [`end_job`](Self::end_job); `false` (and nothing
    /// changed) when it is no longer its own.
    pub fn end_leased_job(
        &self,
        id: u64,
        runner: &str,
        outcome: std::result::Result<&serde_json::Value, &str>,
    ) -> Result<bool> {
        let runner = gabarit_governance::limits::bounded("runner", runner, 200, false)?;
        let (state, report, error) = ending(outcome);
        let n = self.db().execute(
            "UPDATE background_jobs SET state = ?1, report = ?2, error = ?3, finished_at = ?4, lease_until = NULL
             WHERE id = ?5 AND runner = ?6 AND state = 'running'",
            &[&state, &report, &error, &now(), &id, &runner],
        )?;
        Ok(n == 1)
    }

    /// Records a running job's progress.
    pub fn job_progress(&self, id: u64, done: u64, total: u64, faces: u64) -> Result<()> {
        self.db().execute(
            "UPDATE background_jobs SET done = ?1, total = ?2, faces = ?3 WHERE id = ?4 AND state = 'running'",
            &[&done, &total, &faces, &id],
        )?;
        Ok(())
    }

    /// Ends a job: `done` with its report, or `failed` with the reason.
    pub fn end_job(&self, id: u64, outcome: std::result::Result<&serde_json::Value, &str>) -> Result<()> {
        let (state, report, error) = ending(outcome);
        self.db().execute(
            "UPDATE background_jobs SET state = ?1, report = ?2, error = ?3, finished_at = ?4 WHERE id = ?5",
            &[&state, &report, &error, &now(), &id],
        )?;
        Ok(())
    }

    /// How many jobs are in each state.
    pub fn job_counts(&self) -> Result<Vec<(String, u64)>> {
        self.db().rows("SELECT state, COUNT(*) FROM background_jobs GROUP BY state ORDER BY state", &[], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
    }

    /// Puts jobs left `running` by a stopped server back in the queue, except those already
    /// started `max_runs` times: they are marked failed (a job that stops its server every
    /// time it runs must not do so at every restart). Returns the ids queued again. Jobs a
    /// worker runs under a lease are left to it (another takes them once the lease expires).
    pub fn requeue_interrupted_jobs(&self, max_runs: u32) -> Result<Vec<u64>> {
        self.db().execute(
            "UPDATE background_jobs SET state = 'failed', finished_at = ?1,
                error = 'interrupted ' || runs || ' times (the server stopped while it ran): not started again'
             WHERE state = 'running' AND lease_until IS NULL AND runs >= ?2",
            &[&now(), &max_runs],
        )?;
        let mut ids = self.db().rows(
            "UPDATE background_jobs SET state = 'queued' WHERE state = 'running' AND lease_until IS NULL RETURNING id",
            &[],
            |r| r.get::<u64>(0),
        )?;
        ids.sort_unstable();
        Ok(ids)
    }
}

impl Tx<'_> {
    /// Queues a job; returns it.
    pub fn queue_job(
        &self,
        kind: &str,
        collection: &str,
        inputs: &[String],
        requested_by: &str,
    ) -> Result<BackgroundJob> {
        self.queue_job_part(kind, collection, inputs, requested_by, None)
    }

    /// Queues a job that handles `part` of its inputs (all of them: `None`); returns it.
    pub fn queue_job_part(
        &self,
        kind: &str,
        collection: &str,
        inputs: &[String],
        requested_by: &str,
        part: Option<JobPart>,
    ) -> Result<BackgroundJob> {
        let inputs = serde_json::to_string(inputs).map_err(|e| Error::Invalid(e.to_string()))?;
        let (index, of) = (part.map(|p| p.index), part.map(|p| p.of));
        let id = self
            .db()
            .row(
                "INSERT INTO background_jobs (kind, collection, inputs, requested_by, state, created_at, part, parts)
                 VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?7) RETURNING id",
                &[&kind, &collection, &inputs, &requested_by, &now(), &index, &of],
                |r| r.get::<u64>(0),
            )?
            .ok_or_else(|| Error::Invalid("a new job got no id".into()))?;
        self.background_job(id)?.ok_or_else(|| Error::NotFound { kind: "job", name: id.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::JobPart;

    #[test]
    fn every_file_falls_in_exactly_one_part_and_every_part_gets_some() {
        let uris: Vec<String> = (0..3000).map(|i| format!("/archive/{}/photo-{i:05}.jpg", i % 17)).collect();
        for of in [1, 2, 3, 7, 64] {
            let parts: Vec<JobPart> = (1..=of).map(|i| JobPart::new(i, of).unwrap()).collect();
            let mut sizes = vec![0usize; of as usize];
            for uri in &uris {
                let taken: Vec<usize> = (0..parts.len()).filter(|&p| parts[p].takes(uri)).collect();
                assert_eq!(taken.len(), 1, "{uri} in parts {taken:?} of {of}");
                sizes[taken[0]] += 1;
            }
            let fair = uris.len() / of as usize;
            assert!(sizes.iter().all(|&n| n > fair / 2 && n < fair * 2), "{of} parts: {sizes:?}");
        }
        // The same name falls in the same part on every machine, run and version (workers of
        // two builds may share a job): pinned values of the first 8 bytes of SHA-256, modulo.
        for (uri, of_3, of_7) in [("/archive/a.jpg", 2, 3), ("/archive/b.jpg", 1, 4), ("/archive/c.jpg", 1, 3)] {
            assert!(JobPart::new(of_3, 3).unwrap().takes(uri), "{uri}");
            assert!(JobPart::new(of_7, 7).unwrap().takes(uri), "{uri}");
        }
    }

    #[test]
    fn parts_are_numbered_from_1_to_at_most_256() {
        for (index, of) in [(0, 3), (4, 3), (1, 0), (1, 257)] {
            assert!(JobPart::new(index, of).is_err(), "{index} of {of}");
        }
        assert_eq!(JobPart::new(256, 256).unwrap(), JobPart { index: 256, of: 256 });
    }
}
