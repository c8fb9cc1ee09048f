//! `worker`: runs the background jobs queued in the store, one at a time, each under a lease
//! that another worker takes over if this one stops (see `gabarit_engine::jobs`).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use gabarit_engine::Gabarit;
use gabarit_engine::jobs::Lease;
use gabarit_engine::models::Pack;
use gabarit_engine::store::Place;

use crate::faces::services;
use crate::flags::WorkerArgs;
use crate::keys::open_existing;
use crate::serve::job_defaults;

/// How long an idle worker waits before looking at the queue again.
const IDLE_CHECK: Duration = Duration::from_secs(2);

/// The shortest lease: renewed every third of it, it must outlast a slow round trip.
const MIN_LEASE: Duration = Duration::from_secs(3);

pub(crate) fn worker(models: &Path, data: &Place, pack: Pack, args: WorkerArgs) -> Result<ExitCode> {
    let lease = lease(&args.jobs, args.name.clone().unwrap_or_else(|| default_name("worker")))?;
    let store = open_existing(data)?;
    let defaults = job_defaults(&args.jobs, &pack)?;
    let gabarit = Gabarit::open(store, Some(services(models, pack, &args.jobs.engine, usize::MAX)?));
    let runner = lease.runner.clone();
    eprintln!("worker {runner} on {}: taking jobs", data.name());
    loop {
        match gabarit.run_next_leased(&defaults, &lease)? {
            Some(job) => eprintln!("job {}: {}", job.id, job.state),
            None if args.exit_when_idle && !jobs_pending(&gabarit)? => break,
            None => std::thread::sleep(IDLE_CHECK),
        }
    }
    eprintln!("worker {runner}: no job left");
    Ok(ExitCode::SUCCESS)
}

/// Whether a job is queued or running (perhaps under a lease that will run out).
fn jobs_pending(gabarit: &Gabarit) -> Result<bool> {
    Ok(gabarit.job_counts()?.iter().any(|(state, n)| *n > 0 && (state == "queued" || state == "running")))
}

/// The lease of a process running jobs (a worker, or a server on a shared store).
pub(crate) fn lease(jobs: &crate::flags::JobArgs, runner: String) -> Result<Lease> {
    anyhow::ensure!(jobs.lease >= MIN_LEASE, "--lease must be at least {} s", MIN_LEASE.as_secs());
    Ok(Lease { runner, duration: jobs.lease })
}

/// `kind:host:pid`: unique among the processes of one database while they run.
pub(crate) fn default_name(kind: &str) -> String {
    let host = fs_err::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{kind}:{host}:{}", std::process::id())
}
