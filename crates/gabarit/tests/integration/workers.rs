//! `gabarit worker` on PostgreSQL (issue 17): several worker processes on one database, one
//! killed while it runs a job; its job is taken over once its lease runs out, and the result
//! is the uninterrupted run's: each file stored once, none missing. An ingestion queued in parts
//! is run by several workers at once.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::catalog::{Backend, as_user, make_gallery, new_collection};
use crate::run;

fn ok(cmd: &mut std::process::Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Queues the ingestion of `gallery` into press as the curator; the job's id.
fn queue(data: &std::path::Path, gallery: &std::path::Path) -> i64 {
    let queued = ok(as_user(data, "cur").args(["ingest", "--queue", "--collection", "press"]).arg(gallery));
    queued.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Who holds `job` once it has handled at least `done` files, and how many it had.
fn holder_past(db: &mut postgres::Client, job: i64, done: i64) -> (String, i64) {
    let t = Instant::now();
    loop {
        let row = db.query_one("SELECT runner, done FROM background_jobs WHERE id = $1", &[&job]).unwrap();
        let (runner, now): (Option<String>, i64) = (row.get(0), row.get(1));
        if let Some(r) = runner
            && now >= done
        {
            return (r, now);
        }
        assert!(t.elapsed() < Duration::from_secs(300), "the job did not progress");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The paths of the images stored in press, and the gallery's, each sorted.
fn stored_and_expected(db: &mut postgres::Client, photos: &[std::path::PathBuf]) -> (Vec<String>, Vec<String>) {
    let mut stored: Vec<String> = db
        .query("SELECT uri FROM images i JOIN collections c ON c.id = i.collection_id WHERE c.name = 'press'", &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    stored.sort();
    let mut expected: Vec<String> = photos.iter().map(|p| p.canonicalize().unwrap().display().to_string()).collect();
    expected.sort();
    (stored, expected)
}

/// `gabarit worker NAME` on `data` (one pipeline, one thread, exits once no job is left), with
/// `extra` flags. Workers need no API key: they run each job with its asker's rights, checked
/// again.
fn start_worker(data: &std::path::Path, name: &str, extra: &[&str]) -> Child {
    let mut c = crate::gabarit();
    crate::catalog::with_data(&mut c, data);
    c.args(["worker", "--name", name, "--exit-when-idle", "--workers", "1", "--threads", "1"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits for worker `name` to end (at most 10 minutes), successfully.
fn wait_for(name: &str, mut worker: Child) {
    let t = Instant::now();
    while worker.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(600), "worker {name} did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(worker.wait().unwrap().success(), "worker {name}");
}

#[test]
fn three_workers_one_killed_mid_job_store_each_file_once_and_none_missing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Backend::Postgres.place(&data).expect("a server");
    new_collection(&data, "press");
    let gallery = dir.path().join("gallery");
    let photos = make_gallery(&gallery, 40);
    assert_eq!(photos.len(), 200);
    let job = queue(&data, &gallery);
    let mut db = postgres::Client::connect(&server.url(), postgres::NoTls).unwrap();
    let mut workers: Vec<(String, Child)> =
        ["w1", "w2", "w3"].iter().map(|n| (n.to_string(), start_worker(&data, n, &["--lease", "3s"]))).collect();
    // Kill the worker holding the job once it has stored part of it.
    let (holder, done_at_kill) = holder_past(&mut db, job, 30);
    let i = workers.iter().position(|(n, _)| *n == holder).unwrap();
    let (_, mut killed) = workers.remove(i);
    killed.kill().unwrap(); // SIGKILL
    killed.wait().unwrap();
    assert!(done_at_kill < 200, "killed mid-way ({done_at_kill} of 200 done)");
    for (name, w) in workers {
        wait_for(&name, w);
    }
    let row = db.query_one("SELECT state, runs, runner, report FROM background_jobs WHERE id = $1", &[&job]).unwrap();
    let (state, runs, runner, report): (String, i64, Option<String>, Option<String>) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!((state.as_str(), runs), ("done", 2), "taken over once");
    assert_ne!(runner.as_deref(), Some(holder.as_str()), "ended by another worker");
    let report: serde_json::Value = serde_json::from_str(&report.unwrap()).unwrap();
    // Each file once, none missing: the stored images are exactly the gallery's files.
    let (stored, expected) = stored_and_expected(&mut db, &photos);
    let names = |v: &[String]| v.iter().map(|u| u.rsplit('/').next().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(names(&stored), names(&expected), "report of the second run: {report}");
    assert_eq!(stored.len(), 200);
    let count = |db: &mut postgres::Client, sql: &str| db.query_one(sql, &[]).unwrap().get::<_, i64>(0);
    assert_eq!(count(&mut db, "SELECT count(DISTINCT uri) FROM images"), 200, "no file twice under another name");
    // The second run skipped what the first stored, and the index holds every template once.
    assert_eq!(report["duplicates"].as_u64().unwrap() + report["ingested"].as_u64().unwrap(), 200, "{report}");
    let templates = count(&mut db, "SELECT count(*) FROM templates");
    let table: String =
        db.query_one("SELECT name FROM gabarit_vector_indexes ORDER BY name LIMIT 1", &[]).unwrap().get(0);
    assert_eq!(count(&mut db, &format!("SELECT count(*) FROM {table}")), templates, "index and catalog agree");
    assert_eq!(
        count(&mut db, &format!("SELECT count(DISTINCT id) FROM {table}")),
        templates,
        "no template twice in the index"
    );
    assert!(ok(as_user(&data, "dora").args(["audit", "verify"])).contains("intact"));
}

/// Servers on one database take their jobs under leases too: the one killed while it runs a
/// job has it taken over by another, and a server starting meanwhile does not queue again a
/// job another server runs.
#[test]
fn on_postgresql_a_server_killed_mid_job_has_its_job_taken_over_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Backend::Postgres.place(&data).expect("a server");
    new_collection(&data, "press");
    let gallery = dir.path().join("gallery");
    let photos = make_gallery(&gallery, 20);
    let mut db = postgres::Client::connect(&server.url(), postgres::NoTls).unwrap();
    let mut servers: Vec<crate::server::Server> =
        (0..2).map(|_| crate::server::start(&data, &["--lease", "3s"])).collect();
    let job = queue(&data, &gallery);
    let (holder, _) = holder_past(&mut db, job, 15);
    let i = servers.iter().position(|s| holder.ends_with(&format!(":{}", s.child.id()))).expect("a server holds it");
    let mut killed = servers.remove(i);
    killed.child.kill().unwrap(); // SIGKILL
    killed.child.wait().unwrap();
    // A third server starts while the job is still the killed one's (its lease has not run out).
    servers.push(crate::server::start(&data, &["--lease", "3s"]));
    let t = Instant::now();
    let (state, runs) = loop {
        let row = db.query_one("SELECT state, runs FROM background_jobs WHERE id = $1", &[&job]).unwrap();
        let (state, runs): (String, i64) = (row.get(0), row.get(1));
        if state != "running" && state != "queued" {
            break (state, runs);
        }
        assert!(t.elapsed() < Duration::from_secs(600), "the job did not end");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!((state.as_str(), runs), ("done", 2), "taken over once, not queued again by the new server");
    let (stored, expected) = stored_and_expected(&mut db, &photos);
    assert_eq!(stored, expected, "each file once, none missing");
}

/// An ingestion queued in parts is shared: two workers run two of its parts at the same time,
/// and between them every file is stored once, none missing.
#[test]
fn two_workers_share_an_ingestion_queued_in_three_parts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Backend::Postgres.place(&data).expect("a server");
    new_collection(&data, "press");
    let gallery = dir.path().join("gallery");
    let photos = make_gallery(&gallery, 12);
    let queued =
        ok(as_user(&data, "cur").args(["ingest", "--queue", "--parts", "3", "--collection", "press"]).arg(&gallery));
    assert!(queued.contains("in 3 parts"), "{queued}");
    let mut db = postgres::Client::connect(&server.url(), postgres::NoTls).unwrap();
    let parts: Vec<(i64, i64, i64)> = db
        .query("SELECT id, part, parts FROM background_jobs ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(parts.iter().map(|p| (p.1, p.2)).collect::<Vec<_>>(), [(1, 3), (2, 3), (3, 3)]);
    let workers = [("w1", start_worker(&data, "w1", &[])), ("w2", start_worker(&data, "w2", &[]))];
    // Both run a part at once (each part takes seconds; an idle worker looks every 2 s).
    let t = Instant::now();
    loop {
        let running: Vec<String> = db
            .query("SELECT runner FROM background_jobs WHERE state = 'running'", &[])
            .unwrap()
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect();
        if running.len() == 2 && running[0] != running[1] {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(120), "the two workers never ran parts at the same time");
        std::thread::sleep(Duration::from_millis(10));
    }
    for (name, w) in workers {
        wait_for(name, w);
    }
    let rows = db.query("SELECT state, runs, report FROM background_jobs ORDER BY id", &[]).unwrap();
    let mut files = 0;
    for row in &rows {
        let (state, runs, report): (String, i64, Option<String>) = (row.get(0), row.get(1), row.get(2));
        assert_eq!((state.as_str(), runs), ("done", 1));
        let report: serde_json::Value = serde_json::from_str(&report.unwrap()).unwrap();
        assert_eq!(report["duplicates"], 0, "no part stored another's file: {report}");
        files += report["files"].as_u64().unwrap();
    }
    assert_eq!(files, 60, "the parts' files add up to the gallery's");
    let (stored, expected) = stored_and_expected(&mut db, &photos);
    assert_eq!(stored, expected, "each file once, none missing");
}
