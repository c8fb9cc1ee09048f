//! Erasure proven where it can fail: on a real, encrypted data directory served over HTTP,
//! the erased faces' templates — in plain, as the catalog seals them and as the index seals
//! them (its own copy, under another nonce) — are in no file afterwards, WAL and uploads
//! included; no index file keeps a record of them; the uploaded photo is gone; everyone
//! else is still there.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use reqwest::blocking::{Client, multipart};
use serde_json::Value;

use crate::encryption::{data_key, stored_templates};
use crate::server::{gallery, gallery_with, open_request, photo_form, start, wait_for_job};
use crate::{all_files, sample};

/// Bytes of a run that counts as a copy (a template is 512 codes, a sealed one 544 bytes).
const RUN: usize = 32;
const DIM: usize = 512;
/// Layout of the index's data file (see `gabarit_index::flat`): a 24-byte header, then
/// `[id u64][collection u32][sealed scale and codes]` records.
const HEADER: usize = 24;
const PREFIX: usize = 12;
const SEALED_FLAG: u32 = 1 << 31;

/// A template as the data directory holds it, in each of its forms.
struct Held {
    face: u64,
    plain: Vec<u8>,
    catalog_sealed: Vec<u8>,
    index_sealed: Vec<u8>,
}

/// The folder of the data directory's index, by its kind.
fn index_dir(data: &Path) -> PathBuf {
    match fs_err::read_to_string(data.join("index-kind")).unwrap().trim() {
        "graph" => data.join("graph"),
        "compressed" => data.join("compressed"),
        other => panic!("index kind {other}"),
    }
}

/// The records of the index's data file, raw: each id with its sealed part.
fn index_records(data: &Path) -> Vec<(u64, Vec<u8>)> {
    let bytes = fs_err::read(index_dir(data).join("vectors.dat")).unwrap();
    let word = u32::from_le_bytes(bytes[12..16].try_into().unwrap());
    assert_eq!((word & SEALED_FLAG, (word & !SEALED_FLAG) as usize), (SEALED_FLAG, DIM), "sealed records of 512 codes");
    let len = PREFIX + gabarit_crypto::sealed_len(4 + DIM);
    assert_eq!((bytes.len() - HEADER) % len, 0, "whole records");
    bytes[HEADER..]
        .chunks_exact(len)
        .map(|r| (u64::from_le_bytes(r[..8].try_into().unwrap()), r[PREFIX..].to_vec()))
        .collect()
}

/// Every template of the store, in plain (opened with the key), sealed by the catalog and
/// sealed by the index.
fn held(data: &Path) -> Vec<Held> {
    let plain = stored_templates(data).into_iter().map(|t| (t.face_id, t.vector.iter().map(|c| *c as u8).collect()));
    let raw = rusqlite::Connection::open(data.join("catalog.db")).unwrap();
    let index = index_records(data);
    plain
        .map(|(face, plain)| {
            let catalog_sealed =
                raw.query_row("SELECT vector FROM templates WHERE face_id = ?1", [face as i64], |r| r.get(0)).unwrap();
            let index_sealed = index
                .iter()
                .find(|(id, _)| *id == face)
                .unwrap_or_else(|| panic!("face {face} has no record in the index file"))
                .1
                .clone();
            Held { face, plain, catalog_sealed, index_sealed }
        })
        .collect()
}

/// Files under `dir` holding a run of [`RUN`] bytes of any of `needles`.
fn files_with_runs_of(dir: &Path, needles: &[&[u8]]) -> Vec<PathBuf> {
    let runs: HashSet<&[u8]> = needles.iter().flat_map(|n| n.windows(RUN)).filter(|w| distinct(w) >= 8).collect();
    all_files(dir)
        .into_iter()
        .filter(|(_, bytes)| bytes.windows(RUN).any(|w| runs.contains(w)))
        .map(|(p, _)| p)
        .collect()
}

/// How many different byte values a run holds (a photo's runs of zeros or padding are
/// everywhere: they prove nothing).
fn distinct(run: &[u8]) -> usize {
    run.iter().collect::<HashSet<_>>().len()
}

fn needles(t: &Held) -> Vec<Vec<u8>> {
    let offset: Vec<u8> = t.plain.iter().map(|b| b.wrapping_add(128)).collect();
    vec![t.plain.clone(), offset, t.catalog_sealed.clone(), t.index_sealed.clone()]
}

#[test]
fn an_erasure_leaves_no_copy_of_the_templates_in_any_file_nor_a_record_in_the_index() {
    erasure_leaves_no_copy("graph");
}

/// The same with the compressed index, which keeps codes of its own in memory and reads the
/// int8 records from its data file.
#[test]
fn an_erasure_leaves_no_copy_of_the_templates_in_a_compressed_index() {
    erasure_leaves_no_copy("compressed");
}

fn erasure_leaves_no_copy(kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = gallery_with(dir.path(), kind);
    let server = start(&data, &[]);
    let http = Client::new();
    let url = |p: &str| format!("{}{p}", server.base);
    // An uploaded photo of the same person, kept in the data directory's uploads.
    let uploaded = fs_err::read(sample("obama3.jpg")).unwrap();
    let form = multipart::Form::new().part("file", multipart::Part::bytes(uploaded.clone()).file_name("o3.jpg"));
    let resp = http.post(url("/api/v1/collections/press/uploads")).header("X-Api-Key", &keys["cur"]).multipart(form);
    let job: Value = resp.send().unwrap().json().unwrap();
    let done = wait_for_job(&http, &server.base, &keys["cur"], job["id"].as_u64().unwrap(), secs(120));
    assert_eq!(done["report"]["ingested"], 1, "{done}");
    assert_eq!(
        files_with_runs_of(&data.join("uploads"), &[&uploaded]).len(),
        1,
        "the upload is kept in the data directory"
    );
    let dpo = |req: reqwest::blocking::RequestBuilder| -> Value {
        let resp = req.header("X-Api-Key", &keys["dora"]).send().unwrap();
        let (status, body) = (resp.status(), resp.json::<Value>().unwrap());
        assert!(status.is_success(), "{status}: {body}");
        body
    };
    let query = fs_err::read(sample("obama.jpg")).unwrap();
    let erasure = open_request(&http, &server.base, &keys["dora"], "erasure")["id"].as_u64().unwrap();
    let erase_url = url(&format!("/api/v1/rights/{erasure}/erase"));
    let plan = dpo(http.post(&erase_url).multipart(photo_form(&query, "obama.jpg")));
    let mut doomed: Vec<u64> =
        plan["report"]["matches"].as_array().unwrap().iter().map(|m| m["face_id"].as_u64().unwrap()).collect();
    doomed.sort_unstable();
    assert_eq!(doomed.len(), 2, "obama2 from the folder, obama3 uploaded: {plan}");
    // The templates as the store holds them, before: both sealed forms are found on disk (a
    // positive control for the scan below); in plain, never.
    let before = held(&data);
    assert_eq!(before.len(), 31, "the gallery's 30 faces and the upload's one");
    let (gone, kept): (Vec<&Held>, Vec<&Held>) = before.iter().partition(|t| doomed.contains(&t.face));
    assert_eq!(gone.len(), 2);
    for t in &gone {
        for sealed in [&t.catalog_sealed, &t.index_sealed] {
            assert!(!files_with_runs_of(&data, &[sealed]).is_empty(), "face {}: its sealed form is on disk", t.face);
        }
        assert_ne!(t.catalog_sealed, t.index_sealed, "the index seals its own copy");
    }
    // The confirmed erasure, as a job.
    let resp = http
        .post(&erase_url)
        .header("X-Api-Key", &keys["dora"])
        .multipart(photo_form(&query, "obama.jpg").text("confirm", "2"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let queued: Value = resp.json().unwrap();
    let done = wait_for_job(&http, &server.base, &keys["dora"], queued["job"]["id"].as_u64().unwrap(), secs(60));
    assert_eq!(
        (done["state"].as_str(), done["report"]["deleted"]["faces"].as_u64()),
        (Some("done"), Some(2)),
        "{done}"
    );
    // While the server still runs (its catalog WAL open), then once it has stopped: no run of
    // any form of the erased templates, nor of the uploaded photo, in any file.
    let forms: Vec<Vec<u8>> = gone.iter().flat_map(|t| needles(t)).chain([uploaded.clone()]).collect();
    let forms: Vec<&[u8]> = forms.iter().map(Vec::as_slice).collect();
    let wal = data.join("catalog.db-wal");
    assert!(wal.is_file(), "the server keeps its WAL");
    let left = files_with_runs_of(&data, &forms);
    assert!(left.is_empty(), "erased bytes left, server running: {left:?}");
    drop(server);
    let left = files_with_runs_of(&data, &forms);
    assert!(left.is_empty(), "erased bytes left: {left:?}");
    // Nor the erased photo's path (personal data too: a name, a place, a date), which the
    // ingestion's record of its files held.
    let path = dir.path().join("gallery/obama2.jpg").display().to_string();
    let holding = crate::files_containing(&data, path.as_bytes());
    assert!(holding.is_empty(), "{path} left in {holding:?}");
    // Every index file, opened with the key: no record of the erased faces, every other one.
    let raw: Vec<u64> = index_records(&data).into_iter().map(|(id, _)| id).collect();
    assert!(!raw.iter().any(|id| doomed.contains(id)), "the data file keeps a record of an erased face: {raw:?}");
    let sealer: Arc<dyn gabarit_index::RecordCipher> = Arc::new(gabarit_engine::store::Sealer(data_key(&data)));
    let ids: HashSet<u64> = match kind {
        "graph" => {
            let index = gabarit_ann::AnnIndex::open_with(
                index_dir(&data),
                DIM,
                gabarit_ann::AnnOptions::default(),
                Some(sealer),
            )
            .unwrap();
            let ids: HashSet<u64> = before.iter().map(|t| t.face).filter(|id| index.contains(*id)).collect();
            assert_eq!(gabarit_index::VectorIndex::len(&index), ids.len());
            ids
        }
        _ => gabarit_index::CompressedIndex::open_with(index_dir(&data), DIM, Some(sealer)).unwrap().ids().collect(),
    };
    assert!(doomed.iter().all(|id| !ids.contains(id)), "the index holds an erased face");
    assert!(kept.iter().all(|t| ids.contains(&t.face)), "the index lost someone else");
    assert_eq!(ids.len(), kept.len());
    let tombstones = fs_err::read(index_dir(&data).join("tombstones.log")).unwrap();
    assert_eq!(tombstones.len(), HEADER, "no tombstone left after the compaction");
    let after = held(&data);
    assert_eq!(after.iter().map(|t| t.face).collect::<Vec<_>>(), kept.iter().map(|t| t.face).collect::<Vec<_>>());
    assert!(all_files(&data.join("uploads")).is_empty(), "the uploaded photo is gone");
}

/// An erasure job killed once its deletion is committed but before the index is compacted
/// (a reader holding an older snapshot of the catalog keeps its WAL checkpoint waiting there):
/// the partial state is checked, then the restarted server resumes the job to its end.
#[test]
fn an_erasure_job_killed_after_its_commit_is_finished_by_the_restarted_server() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = gallery(dir.path());
    let mut server = start(&data, &[]);
    let http = Client::new();
    let dpo = |base: &str, path: &str| http.post(format!("{base}{path}")).header("X-Api-Key", &keys["dora"]);
    let opened = open_request(&http, &server.base, &keys["dora"], "erasure");
    let request = opened["id"].as_u64().unwrap();
    let query = fs_err::read(sample("obama.jpg")).unwrap();
    let erase = format!("/api/v1/rights/{request}/erase");
    let plan: Value =
        dpo(&server.base, &erase).multipart(photo_form(&query, "obama.jpg")).send().unwrap().json().unwrap();
    let doomed: Vec<u64> =
        plan["report"]["matches"].as_array().unwrap().iter().map(|m| m["face_id"].as_u64().unwrap()).collect();
    assert_eq!(doomed.len(), 1, "{plan}");
    let before = held(&data);
    let gone = before.iter().find(|t| t.face == doomed[0]).unwrap();
    let forms = needles(gone);
    let forms: Vec<&[u8]> = forms.iter().map(Vec::as_slice).collect();
    // The reader: a transaction on the catalog as it is before the erasure.
    let reader = rusqlite::Connection::open(data.join("catalog.db")).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let faces_before: i64 = reader.query_row("SELECT COUNT(*) FROM faces", [], |r| r.get(0)).unwrap();
    let resp =
        dpo(&server.base, &erase).multipart(photo_form(&query, "obama.jpg").text("confirm", "1")).send().unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let job = resp.json::<Value>().unwrap()["job"]["id"].as_u64().unwrap();
    let watcher = rusqlite::Connection::open(data.join("catalog.db")).unwrap();
    let state = |sql: &str| -> String { watcher.query_row(sql, [], |r| r.get(0)).unwrap() };
    let request_status = format!("SELECT status FROM rights_requests WHERE id = {request}");
    let job_state = format!("SELECT state FROM background_jobs WHERE id = {job}");
    let killed = crate::kill_when(&mut server.child, || state(&request_status) == "done", secs(60));
    assert!(killed, "the server was still running");
    // Partial: the deletion is committed, the job still running, the index not compacted.
    assert_eq!((state(&request_status), state(&job_state)), ("done".into(), "running".into()));
    let faces_after: i64 = watcher.query_row("SELECT COUNT(*) FROM faces", [], |r| r.get(0)).unwrap();
    assert_eq!(faces_after, faces_before - 1);
    assert!(index_records(&data).iter().any(|(id, _)| *id == doomed[0]), "the index file still holds the record");
    reader.execute_batch("COMMIT").unwrap();
    drop((reader, watcher));
    // Restarted: the job is resumed and ends; nothing of the template is left.
    let server = start(&data, &[]);
    let done = wait_for_job(&http, &server.base, &keys["dora"], job, secs(60));
    assert_eq!((done["state"].as_str(), done["runs"].as_u64()), (Some("done"), Some(2)), "{done}");
    drop(server);
    let left = files_with_runs_of(&data, &forms);
    assert!(left.is_empty(), "erased bytes left: {left:?}");
    assert!(!index_records(&data).iter().any(|(id, _)| *id == doomed[0]));
    assert_eq!(held(&data).len(), before.len() - 1, "one face erased, no other");
    let runs: i64 = rusqlite::Connection::open(data.join("catalog.db"))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM request_runs WHERE request_id = ?1", [request as i64], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, 2, "both runs are on the request's record");
    let verify = crate::run(crate::catalog::as_user(&data, "dora").args(["audit", "verify"]));
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
}

fn secs(s: u64) -> std::time::Duration {
    std::time::Duration::from_secs(s)
}
