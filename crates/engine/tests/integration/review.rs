//! Human review that a person can do, and erasure that lasts, on a real data directory with
//! the real models: the query face kept for the reviewers (who sees it, when it goes, that
//! its bytes leave the files), and a photo erased on request refused when ingested again.

use std::path::{Path, PathBuf};

use gabarit_engine::ingest::ERASED_ON_REQUEST;
use gabarit_engine::{Caller, Error, Gabarit, governed};
use gabarit_governance::Role;

use crate::{data_dir, governance, ingest_options, sample, search_options, user};

struct World {
    engine: Gabarit,
    data: PathBuf,
    admin: Caller,
    curator: Caller,
}

impl World {
    fn new(dir: &Path) -> World {
        let (engine, admin) = data_dir(dir);
        let data = dir.join("data");
        let curator = user(&engine, &admin, "cur", Role::Curator, &[]);
        let w = World { engine, data, admin, curator };
        for c in ["press", "other"] {
            w.engine
                .create_collection(
                    &w.curator,
                    c,
                    "",
                    &governance(),
                    &crate::buffalo_s(),
                    gabarit_inference::EngineFamily::ORT_F32,
                )
                .unwrap();
        }
        w
    }

    fn user(&mut self, name: &str, role: Role, grants: &[&str]) -> Caller {
        user(&self.engine, &self.admin, name, role, grants)
    }

    fn ingest(&mut self, collection: &str, inputs: Vec<PathBuf>) -> gabarit_engine::ingest::IngestReport {
        let opts = ingest_options(collection, inputs);
        self.engine.ingest(&self.curator, &opts, &mut |_| {}).unwrap()
    }

    /// The bytes of every file of the data directory, concatenated.
    fn files(&self) -> Vec<u8> {
        let mut all = Vec::new();
        let mut stack = vec![self.data.clone()];
        while let Some(d) = stack.pop() {
            for e in fs_err::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    all.extend(fs_err::read(&p).unwrap());
                }
            }
        }
        all
    }

    /// The sealed bytes of a kept query face, as the catalog stores them.
    fn sealed_probe(&self, search: u64) -> Option<Vec<u8>> {
        let db = rusqlite::Connection::open(self.data.join("catalog.db")).unwrap();
        db.query_row("SELECT crop FROM probes WHERE search_id = ?1", [search as i64], |r| r.get(0)).ok()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn not_found(r: gabarit_engine::Result<Vec<u8>>) -> bool {
    matches!(r, Err(Error::Catalog(gabarit_catalog::Error::NotFound { .. })))
}

#[test]
fn the_query_face_is_kept_sealed_for_its_reviewers_only_and_goes_with_the_last_decision() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::new(dir.path());
    let inv = w.user("inv", Role::Investigator, &["press"]);
    let inv2 = w.user("inv2", Role::Investigator, &["press"]);
    let rev1 = w.user("rev1", Role::Reviewer, &["press"]);
    let rev2 = w.user("rev2", Role::Reviewer, &["press"]);
    let rev_out = w.user("rev-out", Role::Reviewer, &["other"]);
    let gallery = dir.path().join("gallery");
    fs_err::create_dir_all(&gallery).unwrap();
    for f in ["obama2.jpg", "biden.jpg"] {
        fs_err::copy(sample(f), gallery.join(f)).unwrap();
    }
    assert_eq!(w.ingest("press", vec![gallery]).ingested, 2);

    // Every face of the gallery is a candidate (threshold −1): two candidates, one query face.
    let photo = w.engine.analyze_query(&inv, &[gabarit_catalog::PackKey::legacy()], &sample("obama.jpg")).unwrap();
    let found = w
        .engine
        .search_faces(
            &inv,
            "CASE-9",
            "identify the person in a press photo",
            "obama.jpg",
            &photo,
            &search_options(Some(-1.0), 30),
        )
        .unwrap();
    assert_eq!(found.candidate_ids.len(), 2, "{:?}", found.result.candidates);
    let search = found.search_id;
    let query_face = found.result.candidates[0].query_face;

    // The searcher and a reviewer of press see the face searched for, as a JPEG of the face.
    let seen = w.engine.probe(&inv, search, query_face).unwrap();
    let crop = image::load_from_memory(&seen).unwrap();
    let face = &photo.faces.faces[query_face].bbox;
    // The face with a quarter of margin (this one, 232×342 px, fits in the photo), at most 256 px.
    let margin = 0.5 * face.width().max(face.height());
    let aspect = (face.width() + margin) / (face.height() + margin);
    assert_eq!(crop.width().max(crop.height()), 256, "{}x{} for {face:?}", crop.width(), crop.height());
    assert!((crop.width() as f32 / crop.height() as f32 - aspect).abs() < 0.02, "{}x{}", crop.width(), crop.height());
    assert_eq!(w.engine.probe(&rev1, search, query_face).unwrap(), seen);
    // Nobody else: another investigator, a reviewer of another collection (not found), a
    // curator (refused by role).
    assert!(not_found(w.engine.probe(&inv2, search, query_face)));
    assert!(not_found(w.engine.probe(&rev_out, search, query_face)));
    let refused = w.engine.probe(&w.curator, search, query_face);
    assert!(matches!(refused, Err(Error::Policy(gabarit_governance::Error::Forbidden { .. }))), "{refused:?}");
    // Kept sealed: the JPEG is in no file of the data directory, its sealed form is.
    let sealed = w.sealed_probe(search).expect("kept");
    let files = w.files();
    assert!(!contains(&files, &seen[..64.min(seen.len())]), "the crop is encrypted at rest");
    assert!(contains(&files, &sealed[..64]), "positive control: the sealed crop is found in the files");

    // The reviewer's view says the query face is kept; my cases shows the review states.
    let view = w.engine.candidate(&rev1, found.candidate_ids[0]).unwrap();
    assert!(view.query_face_kept);
    assert_eq!(view.review.candidate.purpose, "identify the person in a press photo");
    assert_eq!(view.review.candidate.query_face, query_face);

    // Decisions: one confirmation leaves it; the second candidate rejected and the first
    // confirmed twice decide the search: the crop goes, its bytes with it.
    w.engine.review(&rev1, found.candidate_ids[0], true).unwrap();
    w.engine.review(&rev1, found.candidate_ids[1], false).unwrap();
    assert!(w.engine.probe(&inv, search, query_face).is_ok(), "one candidate still undecided");
    let cases = w.engine.my_cases(&inv, 10).unwrap();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].query_faces_kept, vec![query_face]);
    let states: Vec<(u32, bool)> = cases[0].candidates.iter().map(|c| (c.confirmations, c.rejected)).collect();
    assert_eq!(states, vec![(1, false), (0, true)]);
    assert!(w.engine.my_cases(&inv2, 10).unwrap().is_empty(), "one's own cases only");

    let decided = w.engine.review(&rev2, found.candidate_ids[0], true).unwrap();
    assert!(decided.confirmed);
    assert!(not_found(w.engine.probe(&inv, search, query_face)), "gone after the last decision");
    assert!(not_found(w.engine.probe(&rev1, search, query_face)));
    assert!(w.sealed_probe(search).is_none());
    assert!(!contains(&w.files(), &sealed[..64]), "the sealed bytes left the files");
    assert!(w.engine.my_cases(&inv, 10).unwrap()[0].query_faces_kept.is_empty());
    assert!(!w.engine.candidate(&rev1, found.candidate_ids[0]).unwrap().query_face_kept);

    // Audited: kept, viewed (searcher and reviewer), deleted with the last decision.
    let auditor = w.user("auditor", Role::Dpo, &[]);
    let log = w.engine.audit_export(&auditor, None, None).unwrap();
    let entry = |action: &str| log.iter().filter(|e| e.action == action).cloned().collect::<Vec<_>>();
    let searched = &entry("search")[0];
    assert_eq!(searched.detail["query_faces_kept"], serde_json::json!([query_face]));
    assert_eq!(entry("query_face_view").len(), 3, "searcher, reviewer, searcher again");
    let confirms = entry("candidate_confirm");
    assert_eq!(confirms.last().unwrap().detail["query_faces_deleted"], 1);
    assert_eq!(confirms[0].detail["query_faces_deleted"], 0);
}

#[test]
fn a_query_face_goes_when_its_period_ends_even_undecided() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::new(dir.path());
    let inv = w.user("inv", Role::Investigator, &["press"]);
    let dpo = w.user("dpo", Role::Dpo, &[]);
    assert_eq!(w.ingest("press", vec![sample("obama2.jpg")]).ingested, 1);
    let photo = w.engine.analyze_query(&inv, &[gabarit_catalog::PackKey::legacy()], &sample("obama.jpg")).unwrap();
    let opts = search_options(Some(-1.0), 2);
    let found = w.engine.search_faces(&inv, "C", "p", "obama.jpg", &photo, &opts).unwrap();
    let out_of_range = search_options(Some(-1.0), 0);
    let refused = w.engine.search_faces(&inv, "C", "p", "q", &photo, &out_of_range);
    assert!(
        matches!(refused, Err(Error::InvalidField { field: "probe_days", ref problem }) if problem.contains("1 to 365")),
        "{refused:?}"
    );
    let qf = found.result.candidates[0].query_face;
    // Tomorrow it is still kept; in three days, retention deletes it.
    let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    assert_eq!(w.engine.retention_run(&dpo, tomorrow).unwrap().query_faces_expired, 0);
    assert!(w.engine.probe(&inv, found.search_id, qf).is_ok());
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(72);
    assert_eq!(w.engine.retention_run(&dpo, later).unwrap().query_faces_expired, 1);
    assert!(not_found(w.engine.probe(&inv, found.search_id, qf)));
    assert!(w.sealed_probe(found.search_id).is_none());
    let record = w.engine.processing_record(&dpo).unwrap();
    assert_eq!(record.query_faces.kept, 0);
    assert!(governed::processing_record_text(&record).contains("Query faces kept for review"));
}

#[test]
fn a_photo_erased_on_request_is_refused_in_every_collection_and_a_rerun_keeps_the_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::new(dir.path());
    let dpo = w.user("dpo", Role::Dpo, &[]);
    let folder = dir.path().join("folder");
    fs_err::create_dir_all(&folder).unwrap();
    for f in ["yaoming.jpg", "biden.jpg"] {
        fs_err::copy(sample(f), folder.join(f)).unwrap();
    }
    assert_eq!(w.ingest("press", vec![folder.clone()]).ingested, 2);
    let request = w.engine.open_request(&dpo, "erasure", "R-17", "ID card", "2026-11-30").unwrap().id;
    let (plan, _) = w.engine.erase(&dpo, request, &sample("yaoming.jpg"), (Some(0.36), &[]), None).unwrap();
    assert_eq!(plan.matches.len(), 1, "{:?}", plan.matches);
    let (_, deleted) = w.engine.erase(&dpo, request, &sample("yaoming.jpg"), (Some(0.36), &[]), Some(1)).unwrap();
    assert_eq!(deleted.unwrap().images, 1);
    let first = w.engine.list_requests(&dpo).unwrap().into_iter().find(|r| r.id == request).unwrap();
    assert_eq!(first.outcome.as_deref(), Some("1 face(s), 1 image(s) erased"));

    // The same folder again, into press and into another collection: the erased photo is
    // refused and the request named; the other photo is a duplicate in press, new in other.
    for (collection, ingested, duplicates) in [("press", 0, 1), ("other", 1, 0)] {
        let again = w.ingest(collection, vec![folder.clone()]);
        assert_eq!(
            (again.ingested, again.duplicates, again.erased_on_request),
            (ingested, duplicates, 1),
            "{collection}"
        );
        assert_eq!(again.failed.len(), 1);
        assert_eq!(again.failed[0].code, ERASED_ON_REQUEST);
        assert!(again.failed[0].uri.ends_with("yaoming.jpg"), "{:?}", again.failed[0]);
        assert!(again.failed[0].message.contains(&format!("erased on request {request}")), "{:?}", again.failed[0]);
    }
    // A copy under another name is the same content: refused too. The register holds a keyed
    // tag of each erased photo's hash, not the hash (which would tell whose photo was erased).
    let copy = dir.path().join("renamed.jpg");
    fs_err::copy(sample("yaoming.jpg"), &copy).unwrap();
    assert_eq!(w.ingest("other", vec![copy]).erased_on_request, 1);
    let sha = gabarit_media::sha256_hex(&fs_err::read(sample("yaoming.jpg")).unwrap());
    let db = rusqlite::Connection::open(w.data.join("catalog.db")).unwrap();
    let tags: Vec<String> = db
        .prepare("SELECT tag FROM erased_content")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tags.len(), 1);
    assert!(tags[0].len() == 64 && tags[0] != sha, "a keyed tag, not the hash");

    // Run again (the person is not there any more): a new run under the request; the
    // recorded outcome is not rewritten.
    let (_, again) = w.engine.erase(&dpo, request, &sample("yaoming.jpg"), (Some(0.36), &[]), Some(0)).unwrap();
    assert_eq!(again.unwrap().faces, 0);
    let after = w.engine.list_requests(&dpo).unwrap().into_iter().find(|r| r.id == request).unwrap();
    assert_eq!(after.outcome, first.outcome);
    assert_eq!(after.runs.len(), 2);
    assert_eq!(after.runs[0].outcome, "1 face(s), 1 image(s) erased");
    assert_eq!(after.runs[1].outcome, "0 face(s), 0 image(s) erased");
}

#[test]
fn a_query_face_goes_when_the_erasure_of_its_candidates_leaves_nothing_to_decide() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = World::new(dir.path());
    let inv = w.user("inv", Role::Investigator, &["press"]);
    let dpo = w.user("dpo", Role::Dpo, &[]);
    assert_eq!(w.ingest("press", vec![sample("obama2.jpg")]).ingested, 1);
    let photo = w.engine.analyze_query(&inv, &[gabarit_catalog::PackKey::legacy()], &sample("obama.jpg")).unwrap();
    let opts = search_options(None, 30);
    let found = w.engine.search_faces(&inv, "C", "p", "obama.jpg", &photo, &opts).unwrap();
    assert_eq!(found.candidate_ids.len(), 1, "obama2.jpg");
    let qf = found.result.candidates[0].query_face;
    let sealed = w.sealed_probe(found.search_id).expect("kept while undecided");
    // The person's faces erased: the search has nothing left to decide, its query face goes.
    let request = w.engine.open_request(&dpo, "erasure", "R-1", "ID card", "2026-11-30").unwrap().id;
    let (_, deleted) = w.engine.erase(&dpo, request, &sample("obama.jpg"), (Some(0.36), &[]), Some(1)).unwrap();
    assert_eq!(deleted.unwrap().faces, 1);
    assert!(not_found(w.engine.probe(&inv, found.search_id, qf)));
    assert!(w.sealed_probe(found.search_id).is_none());
    assert!(!contains(&w.files(), &sealed[..64]), "its sealed bytes left the files with the erasure");
}
