//! Background jobs through the engine, as the server runs them: an upload kept in the data
//! directory, ingested by a job that reports every file it does not read and keeps only
//! the files its collection stored; a folder of the server ingested by a job that reads its
//! photos and leaves every one of its files alone; at most 100 paths a job; a job a stopped
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
    let job = engine.submit_ingest(&cur, "press", std::slice::from_ref(&folder), &roots).unwrap();
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
fn a_job_names_at_most_100_paths() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, cur) = press(dir.path());
    let folder = dir.path().join("incoming");
    fs_err::create_dir_all(&folder).unwrap();
    let roots = [dir.path().to_path_buf()];
    let job = engine.submit_ingest(&cur, "press", &vec![folder.clone(); 100], &roots).unwrap();
    assert_eq!(job.inputs.len(), 100);
    match engine.submit_ingest(&cur, "press", &vec![folder; 101], &roots) {
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
