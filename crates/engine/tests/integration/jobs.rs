//! Background jobs through the engine, as the server runs them: an upload kept in the data
//! directory, ingested by a job that reports every file it does not read and keeps only
//! the files its collection stored; a folder of the server ingested by a job that reads its
//! photos and leaves every one of its files alone; an ingestion queued in parts, each file
//! ingested by exactly one of its jobs; at most 100 paths a job; a job a stopped
//! server left running is put back in the queue (and the server's log says so) and run again
//! to its end.

use std::path::Path;

use gabarit_engine::{Caller, Error, Gabarit};
use gabarit_governance::Role;

/// A data directory (`dir/data`) with the curator `cur` and the collection `press`.
fn press(dir: &Path) -> (Gabarit, Caller) {
    let (engine, admin) = crate::data_dir(dir);
    let cur = crate::user(&engine, &admin, "cur", Role::Curator, &[]);
    crate::new_collection(&engine, &cur, "press", &crate::buffalo_s());
    (engine, cur)
}

/// As [`press`], with the DPO `dora`, who reads the audit record.
fn press_and_dpo(dir: &Path) -> (Gabarit, Caller, Caller) {
    let (engine, admin) = crate::data_dir(dir);
    let cur = crate::user(&engine, &admin, "cur", Role::Curator, &[]);
    let dpo = crate::user(&engine, &admin, "dora", Role::Dpo, &[]);
    crate::new_collection(&engine, &cur, "press", &crate::buffalo_s());
    (engine, cur, dpo)
}

/// What `f` logs on this thread, as the server's log shows it.
fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Lines(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    (out, text)
}

#[test]
fn an_upload_job_reports_what_it_does_not_read_and_keeps_only_what_its_collection_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, cur) = press(dir.path());
    let defaults = crate::ingest_options("", Vec::new());
    engine.ingest(&cur, &crate::ingest_options("press", vec![crate::sample("biden.jpg")]), &mut |_| {}).unwrap();
    let read = |n: &str| fs_err::read(crate::sample(n)).unwrap();
    let (obama, biden) = (read("obama2.jpg"), read("biden.jpg"));
    let files: Vec<(String, &[u8])> = vec![
        ("../../evil name.jpg".into(), &obama),
        ("biden.jpg".into(), &biden),
        ("minutes.txt".into(), b"minutes of the meeting"),
        ("more.zip".into(), b"PK\x03\x04 not read from an upload"),
    ];
    let job = engine.submit_upload(&cur, "press", &files).unwrap();
    let upload = std::path::PathBuf::from(&job.inputs[0]);
    assert_eq!(fs_err::read_dir(&upload).unwrap().count(), 4, "kept whole before the job runs");
    let done = engine.run_next(&defaults).unwrap().expect("the queued job");
    assert_eq!((done.id, done.state.as_str()), (job.id, "done"), "{:?}", done.error);
    let report = done.report.unwrap();
    assert_eq!((report["ingested"].as_u64(), report["duplicates"].as_u64()), (Some(1), Some(1)), "{report}");
    assert_eq!(report["files"], 4, "{report}");
    assert_eq!(report["uploads_discarded"], 3, "the duplicate, the text and the archive: {report}");
    let failed: Vec<(&str, &str)> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["code"].as_str().unwrap(), f["uri"].as_str().unwrap().rsplit('/').next().unwrap()))
        .collect();
    assert_eq!(failed, [("not_a_photo_or_video", "0002-minutes.txt"), ("not_a_photo_or_video", "0003-more.zip")]);
    assert!(report["failed"][1]["message"].as_str().unwrap().contains("an archive is not read from an upload"));
    let kept: Vec<String> =
        fs_err::read_dir(&upload).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(kept, ["0000-evil_name.jpg"], "only the photo the collection stored, under a safe name");
    assert!(engine.run_next(&defaults).unwrap().is_none(), "the queue is empty");
}

#[test]
fn a_job_on_a_server_folder_reads_its_photos_and_leaves_every_file_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, cur) = press(dir.path());
    // The uploads folder exists (uploads were made before): a job on a folder elsewhere reports
    // and discards nothing from it all the same.
    fs_err::create_dir_all(engine.root().unwrap().expect("a data directory").join("uploads")).unwrap();
    let folder = dir.path().join("incoming");
    fs_err::create_dir_all(&folder).unwrap();
    fs_err::copy(crate::sample("biden.jpg"), folder.join("biden.jpg")).unwrap();
    fs_err::write(folder.join("notes.txt"), "not a photo").unwrap();
    let roots = [dir.path().to_path_buf()];
    let [job] = &engine.submit_ingest(&cur, "press", std::slice::from_ref(&folder), &roots, 1).unwrap()[..] else {
        panic!()
    };
    let done = engine.run_next(&crate::ingest_options("", Vec::new())).unwrap().unwrap();
    assert_eq!((done.id, done.state.as_str()), (job.id, "done"), "{:?}", done.error);
    let report = done.report.unwrap();
    assert_eq!((report["files"].as_u64(), report["ingested"].as_u64()), (Some(1), Some(1)), "{report}");
    assert_eq!(report["failed"], serde_json::json!([]), "a text file of a server folder is not the job's: {report}");
    assert_eq!(report["uploads_discarded"], 0, "{report}");
    let mut left: Vec<String> =
        fs_err::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort_unstable();
    assert_eq!(left, ["biden.jpg", "notes.txt"], "the operator's files stay");
}

#[test]
fn an_ingestion_queued_in_parts_ingests_each_file_in_exactly_one_of_its_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, cur, dpo) = press_and_dpo(dir.path());
    let folder = dir.path().join("incoming");
    fs_err::create_dir_all(folder.join("more")).unwrap();
    let photos = ["biden.jpg", "obama.jpg", "obama2.jpg", "obama3.jpg", "yaoming.jpg", "gdp.jpg"];
    for (i, name) in photos.iter().enumerate() {
        let to = if i % 2 == 0 { folder.join(name) } else { folder.join("more").join(name) };
        fs_err::copy(crate::sample(name), to).unwrap();
    }
    fs_err::write(folder.join("broken.jpg"), b"\xff\xd8 not a photo").unwrap();
    let roots = [dir.path().to_path_buf()];
    for parts in [0, 257] {
        match engine.submit_ingest(&cur, "press", std::slice::from_ref(&folder), &roots, parts) {
            Err(Error::InvalidField { field, .. }) => assert_eq!(field, "parts"),
            other => panic!("{parts} parts: {other:?}"),
        }
    }
    let jobs = engine.submit_ingest(&cur, "press", std::slice::from_ref(&folder), &roots, 3).unwrap();
    let parts: Vec<(u32, u32)> = jobs.iter().map(|j| j.part.map(|p| (p.index, p.of)).unwrap()).collect();
    assert_eq!(parts, [(1, 3), (2, 3), (3, 3)]);
    assert!(jobs.iter().all(|j| j.inputs == jobs[0].inputs && j.state == "queued"));
    let defaults = crate::ingest_options("", Vec::new());
    let mut reports = Vec::new();
    while let Some(done) = engine.run_next(&defaults).unwrap() {
        assert_eq!(done.state, "done", "{:?}", done.error);
        reports.push(done.report.unwrap());
    }
    assert_eq!(reports.len(), 3, "one run per part");
    let sum = |key: &str| reports.iter().map(|r| r[key].as_u64().unwrap()).sum::<u64>();
    // Every file in exactly one part: the parts' files add up to the folder's, each photo is
    // stored once (none a duplicate of another part's), and the broken one fails in one part.
    assert_eq!((sum("files"), sum("ingested"), sum("duplicates")), (7, 6, 0), "{reports:?}");
    let failed: Vec<&str> = reports
        .iter()
        .flat_map(|r| r["failed"].as_array().unwrap().iter().map(|f| f["uri"].as_str().unwrap()))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].ends_with("/broken.jpg"));
    // Each part took the files its hash names (the runs came in the order queued).
    let uris: Vec<String> = files_under(&folder);
    for (job, report) in jobs.iter().zip(&reports) {
        let part = job.part.unwrap();
        let taken = uris.iter().filter(|u| part.takes(u)).count() as u64;
        assert_eq!(report["files"].as_u64(), Some(taken), "part {part:?}: {report}");
    }
    assert_eq!(engine.collection(&cur, "press").unwrap().0.images, 6, "each photo stored once");
    // One audit entry queued the three.
    let log = engine.audit_export(&dpo, None, None).unwrap();
    let queued = crate::audit::entries_of(&log, "job_queue");
    assert_eq!(queued.len(), 1);
    let ids: Vec<u64> = jobs.iter().map(|j| j.id).collect();
    assert_eq!((queued[0]["jobs"].clone(), queued[0]["parts"].clone()), (serde_json::json!(ids), serde_json::json!(3)));
}

/// The canonical paths of the files under `folder`, as ingestion names them.
fn files_under(folder: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in fs_err::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path.canonicalize().unwrap().display().to_string());
        }
    }
    files
}

#[test]
fn an_ingestion_is_queued_in_at_most_256_parts_and_one_part_is_one_job() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, cur, dpo) = press_and_dpo(dir.path());
    let folder = dir.path().join("incoming");
    fs_err::create_dir_all(&folder).unwrap();
    let roots = [dir.path().to_path_buf()];
    let all = engine.submit_ingest(&cur, "press", std::slice::from_ref(&folder), &roots, 256).unwrap();
    assert_eq!(all.len(), 256);
    assert_eq!(all[255].part.map(|p| (p.index, p.of)), Some((256, 256)));
    let one = engine.submit_ingest(&cur, "press", std::slice::from_ref(&folder), &roots, 1).unwrap();
    assert_eq!((one.len(), one[0].part), (1, None));
    let log = engine.audit_export(&dpo, None, None).unwrap();
    let queued = crate::audit::entries_of(&log, "job_queue");
    assert_eq!(queued.len(), 2);
    assert_eq!(
        (queued[0]["parts"].clone(), queued[0]["jobs"].as_array().map(Vec::len)),
        (serde_json::json!(256), Some(256))
    );
    assert_eq!(
        (queued[1]["job"].clone(), queued[1].get("jobs"), queued[1].get("parts")),
        (serde_json::json!(one[0].id), None, None)
    );
}

#[test]
fn a_job_names_at_most_100_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, cur) = press(dir.path());
    let folder = dir.path().join("incoming");
    fs_err::create_dir_all(&folder).unwrap();
    let roots = [dir.path().to_path_buf()];
    let [job] = &engine.submit_ingest(&cur, "press", &vec![folder.clone(); 100], &roots, 1).unwrap()[..] else {
        panic!()
    };
    assert_eq!(job.inputs.len(), 100);
    assert_eq!(job.part, None, "one job: the whole of its inputs");
    match engine.submit_ingest(&cur, "press", &vec![folder; 101], &roots, 1) {
        Err(Error::InvalidField { field, problem }) => {
            assert_eq!((field, problem.as_str()), ("paths", "101 given, at most 100 per job"))
        }
        other => panic!("{other:?}"),
    }
    let queued: Vec<u64> = engine.list_jobs(&cur, 10).unwrap().iter().map(|j| j.id).collect();
    assert_eq!(queued, [job.id], "nothing queued for the refused one");
}

#[test]
fn a_job_left_running_is_queued_again_and_run_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, cur) = press(dir.path());
    let job = engine
        .submit_upload(&cur, "press", &[("o.jpg".into(), &fs_err::read(crate::sample("obama2.jpg")).unwrap()[..])])
        .unwrap();
    // A server that claimed the job, then stopped: the job stays "running".
    let mut raw = rusqlite::Connection::open(dir.path().join("data/catalog.db")).unwrap();
    let tx = raw.transaction().unwrap();
    tx.execute("UPDATE background_jobs SET state = 'running', runs = 1 WHERE id = ?1", [job.id as i64]).unwrap();
    tx.commit().unwrap();
    let (requeued, log) = logged(|| engine.requeue_interrupted().unwrap());
    assert_eq!(requeued, [job.id]);
    assert!(log.contains(&format!("resuming interrupted jobs jobs=[{}]", job.id)), "{log}");
    let (requeued, log) = logged(|| engine.requeue_interrupted().unwrap());
    assert!(requeued.is_empty(), "once");
    assert!(!log.contains("resuming"), "nothing to resume, nothing said: {log}");
    let done = engine.run_next(&crate::ingest_options("", Vec::new())).unwrap().unwrap();
    assert_eq!((done.id, done.state.as_str(), done.runs), (job.id, "done", 2));
    assert_eq!(done.report.unwrap()["ingested"], 1);
}
