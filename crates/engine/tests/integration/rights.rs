//! Rights by face through the engine's use cases: the art. 15 report says, collection by
//! collection, what the law lists — in words a person reads, with the recipients the
//! permission table gives — and its HTML page escapes what the operator typed; a request is
//! used only for its kind; an objection hides the person from search and keeps their photos
//! out at ingestion. (Erasure is proven on a served data directory: the CLI's `erasure.rs`.)

use gabarit_engine::auth::{Caller, authenticate_key, bootstrap_admin};
use gabarit_engine::store::Store;
use gabarit_engine::{Error, accounts, governed, rights};
use gabarit_governance::Role;

/// A data directory with `press` (obama2 and biden ingested), its governance naming a
/// controller with characters HTML must escape, and a caller per role.
struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    service: gabarit_engine::FaceService,
    cur: Caller,
    inv: Caller,
    dpo: Caller,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let kek = gabarit_crypto::Kek::generate().unwrap();
    let mut store = Store::create(&dir.path().join("data"), &kek).unwrap();
    let admin_key = bootstrap_admin(&mut store, "admin").unwrap();
    let admin = authenticate_key(&store, &admin_key).unwrap();
    let mut key = |name: &str, role: Role| accounts::add_user(&mut store, &admin, name, &[role]).unwrap();
    let keys = [key("cur", Role::Curator), key("inv", Role::Investigator), key("dora", Role::Dpo)];
    key("raoul", Role::Reviewer);
    key("rita", Role::Reviewer);
    let mut governance = crate::governance();
    governance.controller = Some("Agence <Exemple> & Fils".into());
    let curator = authenticate_key(&store, &keys[0]).unwrap();
    governed::create_collection(&mut store, &curator, "press", "", &governance).unwrap();
    for user in ["inv", "raoul"] {
        accounts::grant(&mut store, &admin, user, "press").unwrap();
    }
    // Callers as they authenticate now, their grants given.
    let [cur, inv, dpo] = keys.map(|k| authenticate_key(&store, &k).unwrap());
    let service = crate::service();
    let photos = vec![crate::sample("obama2.jpg"), crate::sample("biden.jpg")];
    governed::governed_ingest(&service, &mut store, &cur, &crate::ingest_options("press", photos), &mut |_| {})
        .unwrap();
    Fixture { _dir: dir, store, service, cur, inv, dpo }
}

#[test]
fn an_access_report_gives_each_collections_notice_in_words_and_its_page_escapes_them() {
    let Fixture { _dir, mut store, service, cur, dpo, .. } = fixture();
    // A second photo of the person in the same collection: one notice, counting both faces.
    let more = crate::ingest_options("press", vec![crate::sample("obama3.jpg")]);
    governed::governed_ingest(&service, &mut store, &cur, &more, &mut |_| {}).unwrap();
    let request = rights::open_request(&mut store, &dpo, "access", "REQ-1", "ID card", "2026-11-30").unwrap();
    let report = rights::access(&service, &mut store, &dpo, request.id, &crate::sample("obama.jpg"), 0.36).unwrap();
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
    ] {
        assert!(html.contains(needle), "{needle:?} not in the page");
    }
    assert!(!html.contains("<Exemple>"), "the operator's text is escaped");
    // A request serves its own kind only.
    let wrong = rights::erase(&service, &mut store, &dpo, request.id, &crate::sample("obama.jpg"), 0.36, None);
    assert!(matches!(&wrong, Err(Error::Invalid(m)) if m.contains("access")), "{wrong:?}");
}

#[test]
fn an_objection_hides_the_person_from_search_and_keeps_their_photos_out() {
    let Fixture { _dir, mut store, service, cur, inv, dpo } = fixture();
    let search = |store: &mut Store| {
        let opts = crate::search_options(None, 30);
        let found = governed::governed_search(
            &service,
            store,
            &inv,
            "CASE-3",
            "identify",
            &crate::sample("obama.jpg"),
            &opts,
            None,
            0.3,
        )
        .unwrap();
        found.result.candidates.len()
    };
    assert_eq!(search(&mut store), 1, "found before the objection");
    let request = rights::open_request(&mut store, &dpo, "objection", "REQ-2", "ID card", "2026-11-30").unwrap();
    let report = rights::object(&service, &mut store, &dpo, request.id, &crate::sample("obama.jpg"), 0.36).unwrap();
    assert_eq!(report.matches.len(), 1, "the face it hides");
    assert_eq!(search(&mut store), 0, "hidden from search");
    let opts = crate::ingest_options("press", vec![crate::sample("obama3.jpg"), crate::sample("yaoming.jpg")]);
    let ingested = governed::governed_ingest(&service, &mut store, &cur, &opts, &mut |_| {}).unwrap();
    assert_eq!(
        (ingested.suppressed_by_objection, ingested.templates),
        (1, 1),
        "obama3's face kept out, yaoming's stored"
    );
    // Another request's kind is refused for an objection.
    let access = rights::open_request(&mut store, &dpo, "access", "REQ-3", "ID card", "2026-11-30").unwrap();
    let wrong = rights::object(&service, &mut store, &dpo, access.id, &crate::sample("obama.jpg"), 0.36);
    assert!(matches!(&wrong, Err(Error::Invalid(m)) if m.contains("objection")), "{wrong:?}");
}
