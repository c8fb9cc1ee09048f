//! Rights by face through the engine's use cases: the art. 15 report says, collection by
//! collection, what the law lists — in words a person reads, with the recipients the
//! permission table gives, the same the art. 30 record names — and its HTML page escapes what
//! the operator typed; a request is used only for its kind; an objection hides the person
//! from search and keeps their photos out at ingestion; an erasure takes every photo of the
//! person and each is refused when ingested again. (That an erasure's bytes leave the files
//! is proven on a served data directory: the CLI's `erasure.rs`.)

use gabarit_engine::auth::Caller;
use gabarit_engine::{Error, Gabarit, rights};
use gabarit_governance::Role;

/// A data directory with `press` (obama2 and biden ingested), its governance naming a
/// controller with characters HTML must escape, and a caller per role.
struct Fixture {
    _dir: tempfile::TempDir,
    engine: Gabarit,
    cur: Caller,
    inv: Caller,
    dpo: Caller,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin) = crate::data_dir(dir.path());
    let cur = crate::user(&engine, &admin, "cur", Role::Curator, &[]);
    let dpo = crate::user(&engine, &admin, "dora", Role::Dpo, &[]);
    let mut governance = crate::governance();
    governance.controller = Some("Agence <Exemple> & Fils".into());
    engine
        .create_collection(
            &cur,
            "press",
            "",
            &governance,
            &crate::buffalo_s(),
            gabarit_inference::EngineFamily::ORT_F32,
        )
        .unwrap();
    let inv = crate::user(&engine, &admin, "inv", Role::Investigator, &["press"]);
    crate::user(&engine, &admin, "raoul", Role::Reviewer, &["press"]);
    crate::user(&engine, &admin, "rita", Role::Reviewer, &[]);
    let photos = vec![crate::sample("obama2.jpg"), crate::sample("biden.jpg")];
    engine.ingest(&cur, &crate::ingest_options("press", photos), &mut |_| {}).unwrap();
    Fixture { _dir: dir, engine, cur, inv, dpo }
}

#[test]
fn an_access_report_gives_each_collections_notice_in_words_and_its_page_escapes_them() {
    let Fixture { _dir, engine, cur, dpo, .. } = fixture();
    // A second photo of the person in the same collection: one notice, counting both faces.
    let more = crate::ingest_options("press", vec![crate::sample("obama3.jpg")]);
    engine.ingest(&cur, &more, &mut |_| {}).unwrap();
    let request = engine.open_request(&dpo, "access", "REQ-1", "ID card", "2026-11-30").unwrap();
    let report = engine.access(&dpo, request.id, &crate::sample("obama.jpg"), Some(0.36), &[]).unwrap();
    let mut paths: Vec<&str> = report.matches.iter().map(|m| m.path.rsplit('/').next().unwrap()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["obama2.jpg", "obama3.jpg"]);
    assert_eq!(report.templates_searched, 3);
    assert_eq!(report.collections.len(), 1);
    let notice = &report.collections[0];
    assert_eq!((notice.collection.as_str(), notice.faces), ("press", 2));
    assert_eq!(notice.retention_text.as_deref(), Some("3650 days after ingestion"));
    let recipients: Vec<(&str, &[Role])> = notice.recipients.iter().map(|r| (r.name.as_str(), &r.roles[..])).collect();
    assert_eq!(
        recipients,
        [
            ("cur", &[Role::Curator][..]),
            ("dora", &[Role::Dpo][..]),
            ("inv", &[Role::Investigator][..]),
            ("raoul", &[Role::Reviewer][..])
        ],
        "curators and DPOs, and the investigators and reviewers granted press: not rita, not the admin"
    );
    // The record of processing activities (art. 30) names the same people for the collection.
    let record = engine.processing_record(&dpo).unwrap();
    let recipients: Vec<&[String]> = record.collections.iter().map(|c| &c.recipients[..]).collect();
    assert_eq!(recipients, [["cur (curator)", "dora (dpo)", "inv (investigator)", "raoul (reviewer)"]]);
    let html = rights::report_html(&report);
    for needle in [
        "Agence &lt;Exemple&gt; &amp; Fils",
        "photo and video archives",
        "archiving purposes in the public interest, scientific or historical research, or statistics (GDPR art. 9(2)(j))",
        "the legitimate interests pursued by the controller (GDPR art. 6(1)(f))",
        "inv (investigator: searches the collection)",
        "raoul (reviewer: confirms or rejects the faces a search finds)",
        "3650 days after ingestion",
        "REQ-1",
        "every one of the 3 templates held, exhaustively, at threshold 0.36. 2 face(s) match.",
    ] {
        assert!(html.contains(needle), "{needle:?} not in the page");
    }
    assert!(!html.contains("<Exemple>"), "the operator's text is escaped");
    // A request serves its own kind only.
    let wrong = engine.erase(&dpo, request.id, &crate::sample("obama.jpg"), (Some(0.36), &[]), None);
    assert!(
        matches!(&wrong, Err(Error::WrongRequestKind { request: id, kind, expected })
            if *id == request.id && kind == "access" && expected == "erasure"),
        "{wrong:?}"
    );
}

#[test]
fn an_objection_hides_the_person_from_search_and_keeps_their_photos_out() {
    let Fixture { _dir, engine, cur, inv, dpo } = fixture();
    let search = |engine: &Gabarit| {
        let opts = crate::search_options(None, 30);
        let found = engine.search(&inv, "CASE-3", "identify", &crate::sample("obama.jpg"), &opts).unwrap();
        found.result.candidates.len()
    };
    assert_eq!(search(&engine), 1, "found before the objection");
    let request = engine.open_request(&dpo, "objection", "REQ-2", "ID card", "2026-11-30").unwrap();
    let report = engine.object(&dpo, request.id, &crate::sample("obama.jpg"), Some(0.36)).unwrap();
    assert_eq!(report.matches.len(), 1, "the face it hides");
    assert_eq!(search(&engine), 0, "hidden from search");
    let opts = crate::ingest_options("press", vec![crate::sample("obama3.jpg"), crate::sample("yaoming.jpg")]);
    let ingested = engine.ingest(&cur, &opts, &mut |_| {}).unwrap();
    assert_eq!(
        (ingested.suppressed_by_objection, ingested.templates),
        (1, 1),
        "obama3's face kept out, yaoming's stored"
    );
    // Another request's kind is refused for an objection.
    let access = engine.open_request(&dpo, "access", "REQ-3", "ID card", "2026-11-30").unwrap();
    let wrong = engine.object(&dpo, access.id, &crate::sample("obama.jpg"), Some(0.36));
    assert!(
        matches!(&wrong, Err(Error::WrongRequestKind { request: id, kind, expected })
            if *id == access.id && kind == "access" && expected == "objection"),
        "{wrong:?}"
    );
}

#[test]
fn an_erasure_takes_every_photo_of_the_person_and_each_is_refused_afterwards() {
    let Fixture { _dir, engine, cur, dpo, .. } = fixture();
    let more = crate::ingest_options("press", vec![crate::sample("obama3.jpg")]);
    engine.ingest(&cur, &more, &mut |_| {}).unwrap();
    let request = engine.open_request(&dpo, "erasure", "REQ-4", "ID card", "2026-11-30").unwrap();
    let photo = crate::sample("obama.jpg");
    let index_bytes = |engine: &Gabarit| -> u64 {
        let files = fs_err::read_dir(engine.root().unwrap().expect("a data directory").join("compressed")).unwrap();
        files.map(|f| f.unwrap().metadata().unwrap().len()).sum()
    };
    let before = index_bytes(&engine);
    let (_, deleted) = engine.erase(&dpo, request.id, &photo, (Some(0.36), &[]), Some(2)).unwrap();
    let deleted = deleted.unwrap();
    assert_eq!((deleted.faces, deleted.images), (2, 2), "obama2's face and obama3's, and their photos");
    // The index is compacted: the erased templates' records leave its files.
    assert!(index_bytes(&engine) < before, "{} bytes after, {before} before", index_bytes(&engine));
    let log = engine.audit_export(&dpo, None, None).unwrap();
    let erasure = log.iter().find(|e| e.action == "rights_erasure").unwrap();
    assert_eq!(erasure.detail["photos_refused_from_now_on"], 2, "{}", erasure.detail);
    let again = crate::ingest_options("press", vec![crate::sample("obama3.jpg"), crate::sample("obama2.jpg")]);
    let report = engine.ingest(&cur, &again, &mut |_| {}).unwrap();
    assert_eq!((report.erased_on_request, report.ingested), (2, 0), "both photos refused");
}
