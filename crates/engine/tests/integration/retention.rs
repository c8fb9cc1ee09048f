//! Retention through the engine, run at the times that matter: a collection's photos go when
//! their period ends and not before (a number of days after ingestion, to the second; or
//! until a date, that date included), the server's copy of an uploaded photo goes with the
//! last record of any collection using it, and the operator's own files are never touched.

use std::path::PathBuf;

use gabarit_engine::Gabarit;
use gabarit_governance::{GovernanceDraft, Retention, Role};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};

#[test]
fn retention_deletes_as_each_period_ends_with_the_last_uploaded_copy_and_never_an_operators_file() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin) = crate::data_dir(dir.path());
    let cur = crate::user(&engine, &admin, "cur", Role::Curator, &[]);
    let dpo = crate::user(&engine, &admin, "dora", Role::Dpo, &[]);
    let keeping = |retention| GovernanceDraft { retention: Some(retention), ..crate::governance() };
    // `until` gets its date below, once the day its photo came in is known.
    for (name, days) in [("until", 3650), ("days", 1), ("kept", 3650)] {
        engine
            .create_collection(
                &cur,
                name,
                "",
                &keeping(Retention::Days(days)),
                &crate::buffalo_s(),
                gabarit_inference::EngineFamily::ORT_F32,
            )
            .unwrap();
    }
    let defaults = crate::ingest_options("", Vec::new());
    let run_job = |engine: &Gabarit| {
        let done = engine.run_next(&defaults).unwrap().unwrap();
        done.report.unwrap()["ingested"].as_u64()
    };
    // A photo uploaded into `until`, the same file then ingested into `kept`.
    let biden = fs_err::read(crate::sample("biden.jpg")).unwrap();
    let job = engine.submit_upload(&cur, "until", &[("biden.jpg".into(), &biden[..])]).unwrap();
    let upload = PathBuf::from(&job.inputs[0]);
    assert_eq!(run_job(&engine), Some(1));
    engine.submit_ingest(&cur, "kept", std::slice::from_ref(&upload), &[], 1).unwrap();
    assert_eq!(run_job(&engine), Some(1));
    let uploaded = upload.join("0000-biden.jpg");
    // A photo of the operator's, in a folder of the server, ingested into `days`.
    let folder = dir.path().join("archive");
    fs_err::create_dir_all(&folder).unwrap();
    let source = folder.join("obama2.jpg");
    fs_err::copy(crate::sample("obama2.jpg"), &source).unwrap();
    let opts = crate::ingest_options("days", vec![folder]);
    assert_eq!(engine.ingest(&cur, &opts, &mut |_| {}).unwrap().ingested, 1);

    let ingested_at = |content: &[u8], collection: &str| -> Timestamp {
        let records = engine.records_of_content(&cur, &gabarit_media::sha256_hex(content)).unwrap();
        let image = records.iter().map(|r| &r["image"]).find(|i| i["collection"] == collection).unwrap();
        image["ingested_at"].as_str().unwrap().parse().unwrap()
    };
    let (in_until, in_kept) = (ingested_at(&biden, "until"), ingested_at(&biden, "kept"));
    let in_days = ingested_at(&fs_err::read(&source).unwrap(), "days");
    let retain = |engine: &Gabarit, now: Timestamp| -> Vec<(String, u64)> {
        let report = engine.retention_run(&dpo, now).unwrap();
        report.collections.into_iter().map(|(c, deleted)| (c, deleted.images)).collect()
    };
    let nothing: Vec<(String, u64)> = Vec::new();
    let until = |engine: &Gabarit, date| {
        engine.update_collection(&cur, "until", &keeping(Retention::Until(date))).unwrap();
    };
    let second = SignedDuration::from_secs(1);

    // Until a date: kept to that date's last moment...
    let day = TimeZone::UTC.to_datetime(in_until).date();
    until(&engine, day);
    let last_moment = TimeZone::UTC.to_timestamp(day.tomorrow().unwrap().at(0, 0, 0, 0)).unwrap() - second;
    assert_eq!(retain(&engine, last_moment), nothing);
    // ... and the day after, deleted, up to what came in at the moment retention runs. The
    // uploaded copy stays: `kept` still uses it.
    until(&engine, day.yesterday().unwrap());
    assert_eq!(retain(&engine, in_until), [("until".to_string(), 1)]);
    assert!(uploaded.is_file());

    // A number of days after ingestion: kept a second before, deleted a second after; the
    // operator's file stays.
    let one_day = SignedDuration::from_hours(24);
    assert_eq!(retain(&engine, in_days + one_day - second), nothing);
    assert_eq!(retain(&engine, in_days + one_day + second), [("days".to_string(), 1)]);
    assert!(source.is_file(), "a photo of the operator's is never deleted");

    // The last record using the uploaded copy goes: the copy goes, with its upload's folder.
    let ten_years = SignedDuration::from_hours(24 * 3650);
    assert_eq!(retain(&engine, in_kept + ten_years + second), [("kept".to_string(), 1)]);
    assert!(!uploaded.exists() && !upload.exists(), "{}", upload.display());
    assert!(
        engine.root().unwrap().expect("a data directory").join("uploads").is_dir(),
        "the uploads folder itself stays"
    );
}
