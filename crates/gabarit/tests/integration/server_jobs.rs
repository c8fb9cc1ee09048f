//! `gabarit serve`'s background work: ingestion jobs by path and by upload (progress, roots),
//! a server killed during a job resuming it at restart, retention applied by the server.

use std::collections::BTreeMap;

use reqwest::blocking::{Client, multipart};
use serde_json::Value;

use crate::catalog::{as_user, new_collection};

use crate::server::{
    collection_governance, error_code, first_audit_entry, key, photo_form, search_form, start, wait_for_job,
};
use crate::{run, sample};

fn collection_counts(http: &Client, base: &str, key: &str) -> Value {
    let v: Value =
        http.get(format!("{base}/api/v1/collections/press")).header("X-Api-Key", key).send().unwrap().json().unwrap();
    v["collection"].clone()
}

#[test]
fn ingestion_jobs_by_path_and_by_upload_report_progress_and_stay_inside_their_roots() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    let (allowed, outside) = (dir.path().join("archive"), dir.path().join("private"));
    fs_err::create_dir_all(&allowed).unwrap();
    fs_err::create_dir_all(&outside).unwrap();
    for n in ["players.jpg", "biden.jpg", "obama2.jpg"] {
        fs_err::copy(sample(n), allowed.join(n)).unwrap();
    }
    fs_err::copy(sample("obama3.jpg"), outside.join("obama3.jpg")).unwrap();
    let keys: BTreeMap<&str, String> = ["cur", "inv", "dora"].into_iter().map(|u| (u, key(&data, u))).collect();
    let server = start(&data, &["--ingest-root", allowed.to_str().unwrap()]);
    let http = Client::new();
    let submit = |body: Value| {
        http.post(format!("{}/api/v1/jobs", server.base)).header("X-Api-Key", &keys["cur"]).json(&body).send().unwrap()
    };
    // Outside the roots (directly, or by climbing out of one): refused, nothing queued.
    for path in [outside.display().to_string(), format!("{}/../private", allowed.display())] {
        let resp = submit(serde_json::json!({"collection": "press", "paths": [path]}));
        let (status, code) = error_code(resp);
        assert_eq!((status, code.as_str()), (422, "invalid"), "{path}");
    }
    // Governance edited over the API: incomplete, ingestion is refused; complete again, accepted.
    let governance = collection_governance(&http, &server.base, &keys["cur"]);
    let put = |body: &Value| -> Value {
        http.put(format!("{}/api/v1/collections/press/governance", server.base))
            .header("X-Api-Key", &keys["cur"])
            .json(body)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let mut partial = governance.clone();
    partial.as_object_mut().unwrap().remove("legal_basis");
    let answer = put(&partial);
    assert!(answer["missing"].as_array().unwrap().iter().any(|m| m.as_str().unwrap().contains("legal")), "{answer}");
    let resp = submit(serde_json::json!({"collection": "press", "paths": [allowed]}));
    let refused: Value = resp.json().unwrap();
    assert_eq!(refused["error"]["code"], "governance_incomplete", "no ingestion without a legal basis: {refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("legal"), "{refused}");
    assert_eq!(put(&governance)["missing"], serde_json::json!([]));
    let resp = submit(serde_json::json!({"collection": "press", "paths": [allowed]}));
    assert_eq!(resp.status().as_u16(), 202);
    let job: Value = resp.json().unwrap();
    let done = wait_for_job(
        &http,
        &server.base,
        &keys["cur"],
        job["id"].as_u64().unwrap(),
        std::time::Duration::from_secs(120),
    );
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!((done["done"].as_u64(), done["total"].as_u64()), (Some(3), Some(3)), "{done}");
    assert_eq!(done["report"]["ingested"], 3, "{done}");
    let faces_by_path = done["faces"].as_u64().unwrap();
    assert!(faces_by_path >= 5, "players.jpg alone has several faces: {done}");
    assert_eq!(job["jobs"], serde_json::json!([job["id"]]), "one job: {job}");
    // In parts, for several workers: every part a job, each file in exactly one of them.
    for parts in [0, 257] {
        let resp = submit(serde_json::json!({"collection": "press", "paths": [allowed], "parts": parts}));
        let (status, code) = error_code(resp);
        assert_eq!((status, code.as_str()), (422, "invalid"), "{parts} parts");
    }
    let resp = submit(serde_json::json!({"collection": "press", "paths": [allowed], "parts": 3}));
    assert_eq!(resp.status().as_u16(), 202);
    let queued: Value = resp.json().unwrap();
    let ids: Vec<u64> = queued["jobs"].as_array().unwrap().iter().map(|id| id.as_u64().unwrap()).collect();
    assert_eq!((ids.len(), ids[0]), (3, queued["id"].as_u64().unwrap()), "{queued}");
    assert_eq!(queued["part"], serde_json::json!({"index": 1, "of": 3}), "{queued}");
    let (mut files, mut duplicates) = (0, 0);
    for (i, id) in ids.iter().enumerate() {
        let part = wait_for_job(&http, &server.base, &keys["cur"], *id, std::time::Duration::from_secs(120));
        assert_eq!(
            (part["state"].as_str(), part["part"]["index"].as_u64()),
            (Some("done"), Some(i as u64 + 1)),
            "{part}"
        );
        files += part["report"]["files"].as_u64().unwrap();
        duplicates += part["report"]["duplicates"].as_u64().unwrap();
    }
    assert_eq!((files, duplicates), (3, 3), "each of the three photos, already stored, read by one part");
    // An upload: kept in the data directory, ingested by a job; its names are made safe.
    let form = multipart::Form::new()
        .part(
            "file",
            multipart::Part::bytes(fs_err::read(sample("obama3.jpg")).unwrap()).file_name("../../evil name.jpg"),
        )
        .part("file", multipart::Part::bytes(fs_err::read(sample("biden.jpg")).unwrap()).file_name("biden.jpg"))
        .part("file", multipart::Part::bytes(b"minutes of the meeting".to_vec()).file_name("notes.txt"));
    let resp = http
        .post(format!("{}/api/v1/collections/press/uploads", server.base))
        .header("X-Api-Key", &keys["cur"])
        .multipart(form)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let job: Value = resp.json().unwrap();
    let input = job["inputs"][0].as_str().unwrap().to_string();
    assert!(input.starts_with(data.join("uploads").canonicalize().unwrap().to_str().unwrap()), "{job}");
    let done = wait_for_job(
        &http,
        &server.base,
        &keys["cur"],
        job["id"].as_u64().unwrap(),
        std::time::Duration::from_secs(120),
    );
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(
        (done["report"]["ingested"].as_u64(), done["report"]["duplicates"].as_u64()),
        (Some(1), Some(1)),
        "biden.jpg was there: {done}"
    );
    let kept: Vec<String> =
        fs_err::read_dir(&input).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    // biden.jpg's content was already in the collection, notes.txt is no photo: neither is
    // kept, and the file that is not read is reported, not dropped in silence.
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(done["report"]["uploads_discarded"], 2, "{done}");
    assert_eq!(done["report"]["files"], 3, "{done}");
    let failed = done["report"]["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{done}");
    assert_eq!(failed[0]["code"], "not_a_photo_or_video");
    assert!(failed[0]["uri"].as_str().unwrap().ends_with("notes.txt"), "{done}");
    assert!(kept.iter().all(|n| !n.contains('/') && !n.contains(' ') && !n.starts_with('.')), "{kept:?}");
    // The uploaded photo is searchable.
    let found: Value = http
        .post(format!("{}/api/v1/search", server.base))
        .header("X-Api-Key", &keys["inv"])
        .multipart(search_form(&fs_err::read(sample("obama.jpg")).unwrap(), "obama.jpg"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let paths: Vec<&str> =
        found["candidates"].as_array().unwrap().iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert!(
        paths.iter().any(|p| p.ends_with("evil_name.jpg")) && paths.iter().any(|p| p.ends_with("obama2.jpg")),
        "{paths:?}"
    );
    // An investigator has jobs of their own (groupings) but sees none of the curator's
    // ingestions; the curator's list shows all five (by path, its three parts, the upload),
    // newest first.
    let theirs: Value = http
        .get(format!("{}/api/v1/jobs", server.base))
        .header("X-Api-Key", &keys["inv"])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(theirs["items"], serde_json::json!([]), "{theirs}");
    let list: Value = http
        .get(format!("{}/api/v1/jobs", server.base))
        .header("X-Api-Key", &keys["cur"])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let ids: Vec<u64> = list["items"].as_array().unwrap().iter().map(|j| j["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 5);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    // Jobs by state and the requests waiting for the models or the index, in the metrics.
    let metrics = http.get(format!("{}/metrics", server.base)).send().unwrap().text().unwrap();
    for line in
        ["gabarit_jobs{state=\"done\"} 5", "gabarit_jobs{state=\"queued\"} 0", "gabarit_waiting{stage=\"search\"} 0"]
    {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    // Erasing obama's faces deletes the server's copy of the uploaded photo, not the
    // operator's file ingested by path.
    let uploaded: Vec<std::path::PathBuf> = fs_err::read_dir(&input).unwrap().map(|e| e.unwrap().path()).collect();
    let erasure: Value = http
        .post(format!("{}/api/v1/rights", server.base))
        .header("X-Api-Key", &keys["dora"])
        .json(&serde_json::json!({"kind": "erasure", "requester": "R-3", "verification": "ID", "received_on": "2026-11-20"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let erase_url = format!("{}/api/v1/rights/{}/erase", server.base, erasure["id"]);
    let obama = fs_err::read(sample("obama.jpg")).unwrap();
    let plan: Value = http
        .post(&erase_url)
        .header("X-Api-Key", &keys["dora"])
        .multipart(photo_form(&obama, "obama.jpg"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let n = plan["report"]["matches"].as_array().unwrap().len();
    assert_eq!(n, 2, "obama2.jpg by path, obama3.jpg uploaded: {plan}");
    let queued: Value = http
        .post(&erase_url)
        .header("X-Api-Key", &keys["dora"])
        .multipart(photo_form(&obama, "obama.jpg").text("confirm", n.to_string()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let job = queued["job"]["id"].as_u64().unwrap();
    let done = wait_for_job(&http, &server.base, &keys["dora"], job, std::time::Duration::from_secs(60));
    assert_eq!(done["report"]["deleted"]["images"], 2, "{done}");
    let evil = uploaded.iter().find(|p| p.to_string_lossy().ends_with("evil_name.jpg")).unwrap();
    assert!(!evil.exists(), "the uploaded copy of an erased photo is gone");
    assert_eq!(uploaded.len(), 1, "{uploaded:?}");
    assert!(!std::path::Path::new(&input).exists(), "the upload's folder went with its last photo");
    assert!(allowed.join("obama2.jpg").exists(), "the operator's own file is theirs");
}

#[test]
fn a_server_killed_during_a_job_resumes_it_at_restart_without_duplicates_or_losses() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    let archive = dir.path().join("archive");
    fs_err::create_dir_all(&archive).unwrap();
    // 48 distinct files (the same photos with different trailing bytes: distinct content,
    // the same faces).
    let names = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "yaoming.jpg", "gdp.jpg"];
    let mut expected_faces = 0;
    let face_counts: BTreeMap<&str, u64> = names
        .iter()
        .map(|n| {
            let out = run(crate::gabarit().arg("faces").arg(sample(n)));
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            (*n, v["faces"].as_array().unwrap().len() as u64)
        })
        .collect();
    for copy in 0..8u8 {
        for n in names {
            let mut bytes = fs_err::read(sample(n)).unwrap();
            bytes.extend_from_slice(&[copy; 16]);
            fs_err::write(archive.join(format!("{copy}-{n}")), bytes).unwrap();
            expected_faces += face_counts[n];
        }
    }
    let cur = key(&data, "cur");
    let http = Client::new();
    let mut server = start(&data, &["--ingest-root", archive.to_str().unwrap()]);
    let job: Value = http
        .post(format!("{}/api/v1/jobs", server.base))
        .header("X-Api-Key", &cur)
        .json(&serde_json::json!({"collection": "press", "paths": [archive]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = job["id"].as_u64().unwrap();
    // SIGKILL the server once part of it is stored (read from the catalog itself), and check
    // that the catalog holds part of the work, not none nor all.
    let catalog = rusqlite::Connection::open(data.join("catalog.db")).unwrap();
    let count = |sql: &str| -> i64 { catalog.query_row(sql, [], |r| r.get(0)).unwrap_or(0) };
    let images = || count("SELECT COUNT(*) FROM images");
    let killed = crate::kill_when(&mut server.child, || images() > 0, std::time::Duration::from_secs(120));
    assert!(killed, "the server was still running");
    let state: String =
        catalog.query_row("SELECT state FROM background_jobs WHERE id = ?1", [id as i64], |r| r.get(0)).unwrap();
    let stored = images();
    assert!(state == "running" && stored > 0 && stored < 48, "part of the job stored: {state}, {stored} images");
    // Restarted, the server resumes the job by itself.
    server = start(&data, &["--ingest-root", archive.to_str().unwrap()]);
    let done = wait_for_job(&http, &server.base, &cur, id, std::time::Duration::from_secs(300));
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["runs"], 2, "resumed once: {done}");
    assert!(done["report"]["duplicates"].as_u64().unwrap() > 0, "the second run skipped what the first stored: {done}");
    let counts = collection_counts(&http, &server.base, &cur);
    assert_eq!(counts["images"].as_u64(), Some(48), "{counts}");
    assert_eq!(counts["faces"].as_u64(), Some(expected_faces), "{counts}");
}

#[test]
fn the_server_applies_retention_by_itself_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    // A second collection whose retention ended yesterday ("until" a past date, whatever the clock).
    let governance = crate::catalog::governance_expired();
    let out = run(as_user(&data, "cur").args(["collection", "create", "expired"]).args(&governance));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for collection in ["press", "expired"] {
        let out = run(as_user(&data, "cur")
            .args(["ingest", "--quiet", "--collection", collection])
            .arg(sample("obama2.jpg")));
        assert!(out.status.success());
    }
    let (cur, dora) = (key(&data, "cur"), key(&data, "dora"));
    let server = start(&data, &[]);
    let http = Client::new();
    let count = |name: &str| -> u64 {
        let v: Value = http
            .get(format!("{}/api/v1/collections/{name}", server.base))
            .header("X-Api-Key", &cur)
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["collection"]["images"].as_u64().unwrap()
    };
    let t = std::time::Instant::now();
    while count("expired") > 0 && t.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(count("expired"), 0, "expired content deleted without anyone asking");
    assert_eq!(count("press"), 1, "content within its retention kept");
    // The deletion is audited once the index is compacted too.
    let deletion =
        first_audit_entry(&http, &server.base, &dora, "retention_delete", std::time::Duration::from_secs(30));
    assert_eq!(deletion["actor"], "retention-schedule", "{deletion}");
    assert_eq!(deletion["detail"]["collection"], "expired");
    assert_eq!(deletion["detail"]["templates"], 1, "{deletion}");
}
