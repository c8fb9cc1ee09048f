//! Background jobs through the engine, as the server runs them: an upload kept in the data
//! directory, ingested by a job that reports every file it does not read and keeps only
//! the files its collection stored; a job a stopped server left running is put back in the
//! queue and run again to its end.

use gabarit_engine::auth::{authenticate_key, bootstrap_admin};
use gabarit_engine::store::Store;
use gabarit_engine::{accounts, governed, jobs};
use gabarit_governance::Role;

#[test]
fn an_upload_job_reports_what_it_does_not_read_and_keeps_only_what_its_collection_stored() {
    let dir = tempfile::tempdir().unwrap();
    let kek = gabarit_crypto::Kek::generate().unwrap();
    let mut store = Store::create(&dir.path().join("data"), &kek).unwrap();
    let admin_key = bootstrap_admin(&mut store, "admin").unwrap();
    let admin = authenticate_key(&store, &admin_key).unwrap();
    let cur_key = accounts::add_user(&mut store, &admin, "cur", &[Role::Curator]).unwrap();
    let cur = authenticate_key(&store, &cur_key).unwrap();
    governed::create_collection(&mut store, &cur, "press", "", &crate::governance()).unwrap();
    let service = crate::service();
    let defaults = crate::ingest_options("", Vec::new());
    governed::governed_ingest(
        &service,
        &mut store,
        &cur,
        &crate::ingest_options("press", vec![crate::sample("biden.jpg")]),
        &mut |_| {},
    )
    .unwrap();
    let read = |n: &str| fs_err::read(crate::sample(n)).unwrap();
    let (obama, biden) = (read("obama2.jpg"), read("biden.jpg"));
    let files: Vec<(String, &[u8])> = vec![
        ("../../evil name.jpg".into(), &obama),
        ("biden.jpg".into(), &biden),
        ("minutes.txt".into(), b"minutes of the meeting"),
        ("more.zip".into(), b"PK\x03\x04 not read from an upload"),
    ];
    let job = jobs::submit_upload(&mut store, &cur, "press", &files).unwrap();
    let upload = std::path::PathBuf::from(&job.inputs[0]);
    assert_eq!(fs_err::read_dir(&upload).unwrap().count(), 4, "kept whole before the job runs");
    let done = jobs::run_next(&service, &mut store, &defaults).unwrap().expect("the queued job");
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
    assert!(jobs::run_next(&service, &mut store, &defaults).unwrap().is_none(), "the queue is empty");
}

#[test]
fn a_job_left_running_is_queued_again_and_run_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let kek = gabarit_crypto::Kek::generate().unwrap();
    let root = dir.path().join("data");
    let mut store = Store::create(&root, &kek).unwrap();
    let admin_key = bootstrap_admin(&mut store, "admin").unwrap();
    let admin = authenticate_key(&store, &admin_key).unwrap();
    let cur_key = accounts::add_user(&mut store, &admin, "cur", &[Role::Curator]).unwrap();
    let cur = authenticate_key(&store, &cur_key).unwrap();
    governed::create_collection(&mut store, &cur, "press", "", &crate::governance()).unwrap();
    let job = jobs::submit_upload(
        &mut store,
        &cur,
        "press",
        &[("o.jpg".into(), &fs_err::read(crate::sample("obama2.jpg")).unwrap()[..])],
    )
    .unwrap();
    // A server that claimed the job, then stopped: the job stays "running".
    let mut raw = rusqlite::Connection::open(root.join("catalog.db")).unwrap();
    let tx = raw.transaction().unwrap();
    tx.execute("UPDATE background_jobs SET state = 'running', runs = 1 WHERE id = ?1", [job.id as i64]).unwrap();
    tx.commit().unwrap();
    assert_eq!(jobs::requeue_interrupted(&store).unwrap(), [job.id]);
    assert!(jobs::requeue_interrupted(&store).unwrap().is_empty(), "once");
    let service = crate::service();
    let done = jobs::run_next(&service, &mut store, &crate::ingest_options("", Vec::new())).unwrap().unwrap();
    assert_eq!((done.id, done.state.as_str(), done.runs), (job.id, "done", 2));
    assert_eq!(done.report.unwrap()["ingested"], 1);
}
