//! A collection records the model pack its templates come from; ingestion, search, rights
//! requests and objections use each collection's own pack, and a search over collections of
//! two packs ranks their candidates by calibrated false match rate.

use gabarit_catalog::PackKey;
use gabarit_engine::store::{Store, pack_key};
use gabarit_engine::{Error, Gabarit, rights};
use gabarit_governance::Role;
use gabarit_inference::Pack;

#[test]
fn a_collection_records_its_pack_and_a_pack_made_otherwise_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Services whose default pack is open.
    let open_default = crate::service_of(Pack::builtin("open").unwrap());
    let (engine, admin, _) = crate::data_dir_with(dir.path(), open_default);
    let cur = crate::user(&engine, &admin, "cur", Role::Curator, &[]);
    let dpo = crate::user(&engine, &admin, "dora", Role::Dpo, &[]);
    crate::new_collection(&engine, &cur, "press", &crate::buffalo_s());
    let buffalo = Pack::builtin("buffalo_s").unwrap();
    let press = engine.collection(&cur, "press").unwrap().0.collection;
    assert_eq!((press.pack.as_str(), press.pack_sha256.clone()), ("buffalo_s", buffalo.templates_sha256()));
    // The creation's audit entry names it.
    let log = engine.audit_export(&dpo, None, None).unwrap();
    let entry = crate::audit::entries_of(&log, "collection_create").pop().expect("an entry");
    assert_eq!(
        (entry["pack"].as_str(), entry["pack_sha256"].as_str()),
        (Some("buffalo_s"), Some(press.pack_sha256.as_str()))
    );
    // Whatever the default pack, a collection is ingested with its own.
    let opts = crate::ingest_options("press", vec![crate::sample("obama2.jpg")]);
    let report = engine.ingest(&cur, &opts, &mut |_| {}).unwrap();
    assert_eq!((report.ingested, report.templates), (1, 1));
    assert!(report.grouping.is_none(), "press does not group faces: {:?}", report.grouping);
    assert_eq!(crate::packs_of_collections(&engine, &cur), [PackKey::legacy()]);
    // buffalo_s with mirror-averaged templates: same name, other templates; a collection
    // recording a hash this build does not make is refused, not ingested with another pack.
    let mut averaged = buffalo.clone();
    averaged.engine.embedder.flip_average = true;
    let err = gabarit_engine::store::check_collection_pack(&press, &averaged).expect_err("templates made otherwise");
    assert!(matches!(&err, Error::PackMismatch { holder, .. } if holder == "collection \"press\""), "{err}");
    let unknown = PackKey { name: "buffalo_s".into(), sha256: "00".repeat(32) };
    assert!(matches!(crate::service().get(&unknown), Err(Error::PackMismatch { .. })));
}

#[test]
fn two_packs_side_by_side_search_rights_and_objections_each_with_its_own_pack() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin, kek) = crate::data_dir_with(dir.path(), crate::service());
    let cur = crate::user(&engine, &admin, "cur", Role::Curator, &[]);
    let dpo = crate::user(&engine, &admin, "dora", Role::Dpo, &[]);
    let open = Pack::builtin("open").unwrap();
    crate::new_collection(&engine, &cur, "press", &crate::buffalo_s());
    crate::new_collection(&engine, &cur, "wire", &open);
    let inv = crate::user(&engine, &admin, "ivo", Role::Investigator, &["press", "wire"]);
    let ingest = |engine: &Gabarit, c: &str, photos: &[&str]| {
        let opts = crate::ingest_options(c, photos.iter().map(|p| crate::sample(p)).collect());
        engine.ingest(&cur, &opts, &mut |_| {}).unwrap()
    };
    assert_eq!(ingest(&engine, "press", &["obama2.jpg", "biden.jpg"]).templates, 2);
    assert_eq!(ingest(&engine, "wire", &["obama3.jpg", "yaoming.jpg"]).templates, 2);
    assert_eq!(crate::packs_of_collections(&engine, &cur), [PackKey::legacy(), pack_key(&open)]);
    assert_eq!(engine.templates_held().unwrap(), 4);
    // The open pack's index is its own folder, of 128-d templates.
    let open_dir = dir.path().join("data").join(format!("compressed-open-{}", &pack_key(&open).sha256[..12]));
    assert!(open_dir.is_dir(), "{}", open_dir.display());

    // One search over both: Obama from each collection, each found with its pack's template,
    // ranked by false match rate; nobody else.
    let mut opts = crate::search_options(None, 30);
    opts.collections = vec!["press".into(), "wire".into()];
    let found = engine.search(&inv, "CASE-2", "two packs", &crate::sample("obama.jpg"), &opts).unwrap();
    let r = &found.result;
    let got: Vec<(&str, &str, bool)> = r
        .candidates
        .iter()
        .map(|c| {
            (c.collection.as_str(), c.pack.as_str(), c.path.ends_with("obama2.jpg") || c.path.ends_with("obama3.jpg"))
        })
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|g| g.2), "only Obama: {got:?}");
    let mut packs: Vec<&str> = got.iter().map(|g| g.1).collect();
    packs.sort_unstable();
    assert_eq!(packs, ["buffalo_s", "open"]);
    assert_eq!(r.candidates.iter().map(|c| c.rank).collect::<Vec<_>>(), [1, 2]);
    let fmr: Vec<f64> = r.candidates.iter().map(|c| c.false_match_rate.expect("calibrated")).collect();
    assert!(fmr[0] <= fmr[1], "ranked by false match rate: {fmr:?}");
    assert_eq!(r.gallery_size, 4);
    assert_eq!(
        r.packs.iter().map(|p| (p.pack.as_str(), p.gallery_size)).collect::<Vec<_>>(),
        [("buffalo_s", 2), ("open", 2)]
    );
    // A threshold is one pack's score: refused over two packs.
    opts.threshold = Some(0.3);
    let refused = engine.search(&inv, "CASE-2", "two packs", &crate::sample("obama.jpg"), &opts);
    assert!(
        matches!(refused, Err(Error::InvalidField { field: "threshold", ref problem }) if problem.contains("one pack")),
        "{refused:?}"
    );

    // Access reaches both packs' templates.
    let request = engine.open_request(&dpo, "access", "R-1", "passport", "2026-11-30").unwrap();
    let report = engine.access(&dpo, request.id, &crate::sample("obama.jpg"), None, &[]).unwrap();
    let mut matched: Vec<(&str, &str)> =
        report.matches.iter().map(|m| (m.collection.as_str(), m.pack.as_str())).collect();
    matched.sort_unstable();
    assert_eq!(matched, [("press", "buffalo_s"), ("wire", "open")]);
    assert_eq!(report.templates_searched, 4);
    let refused = engine.access(&dpo, request.id, &crate::sample("obama.jpg"), Some(0.3), &[]);
    assert!(
        matches!(refused, Err(Error::InvalidField { field: "threshold", ref problem }) if problem.contains("one pack")),
        "{refused:?}"
    );
    let log = engine.audit_export(&dpo, None, None).unwrap();
    let entry = crate::audit::entries_of(&log, "rights_access").pop().expect("the access's entry");
    assert_eq!(entry["thresholds"], serde_json::json!({"buffalo_s": 0.25f32, "open": 0.38f32}), "{entry}");
    assert_eq!(
        report.packs.iter().map(|p| (p.pack.as_str(), p.threshold, p.templates_searched)).collect::<Vec<_>>(),
        [("buffalo_s", 0.25, 2), ("open", 0.38, 2)],
        "each pack at its own rights threshold"
    );
    assert!(
        rights::report_html(&report)
            .contains("at each model's own threshold (buffalo_s 0.25 over 2 templates; open 0.38 over 2 templates)"),
        "the notice says each pack's threshold"
    );

    // An objection holds over both packs: its templates are made with each.
    let objection = engine.open_request(&dpo, "objection", "R-2", "passport", "2026-11-30").unwrap();
    engine.object(&dpo, objection.id, &crate::sample("yaoming.jpg"), None).unwrap();
    let again = ingest(&engine, "wire", &["yaoming.jpg"]);
    assert_eq!((again.templates, again.duplicates), (0, 1));
    let opts = crate::ingest_options("press", vec![crate::sample("yaoming.jpg")]);
    let refused = engine.ingest(&cur, &opts, &mut |_| {}).unwrap();
    assert_eq!((refused.templates, refused.suppressed_by_objection), (0, 1), "the objection holds in buffalo_s too");

    // A third collection of another pack: refused while the objection has no template of it.
    let mut averaged = crate::buffalo_s();
    averaged.engine.embedder.flip_average = true;
    crate::new_collection(&engine, &cur, "mirror", &averaged);
    // The data directory opened again with services whose default pack is that one (the only
    // services that make its templates).
    drop(engine);
    let store = Store::open(dir.path().join("data"), &kek).unwrap();
    let engine = Gabarit::open(store, Some(crate::service_of(averaged.clone())));
    let opts = crate::ingest_options("mirror", vec![crate::sample("yaoming.jpg")]);
    let err = engine.ingest(&cur, &opts, &mut |_| {}).unwrap_err();
    assert!(matches!(&err, Error::ObjectionsLackPack { requests, .. } if requests == &[objection.id]), "{err}");
    assert_eq!(engine.collection(&cur, "mirror").unwrap().0.templates, 0, "nothing stored");
    // The DPO runs the objection again: now it holds there too.
    engine.object(&dpo, objection.id, &crate::sample("yaoming.jpg"), None).unwrap();
    let report = engine.ingest(&cur, &opts, &mut |_| {}).unwrap();
    assert_eq!((report.templates, report.suppressed_by_objection), (0, 1));
}

#[test]
fn a_collection_is_ingested_on_the_backend_and_precision_it_records_whatever_the_default() {
    use gabarit_inference::{Backend, EngineFamily, Precision};
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin) = crate::data_dir(dir.path());
    let cur = crate::user(&engine, &admin, "cur", Role::Curator, &[]);
    // Services whose default is ONNX Runtime f32; a collection made on OpenVINO f32.
    let services = engine.faces().unwrap();
    assert_eq!(services.config().session.family(), EngineFamily::ORT_F32);
    let on_openvino = EngineFamily { backend: Backend::OpenVino, precision: Precision::F32 };
    let governance = crate::governance();
    engine.create_collection(&cur, "wire", "", &governance, &crate::buffalo_s(), on_openvino).unwrap();
    let wire = engine.collection(&cur, "wire").unwrap().0.collection;
    assert_eq!(wire.engine, "openvino/f32");
    // Ingestion loads the collection's (the check in the ingestion itself refuses any other).
    let opts = crate::ingest_options("wire", vec![crate::sample("obama.jpg"), crate::sample("biden.jpg")]);
    let report = engine.ingest(&cur, &opts, &mut |_| {}).unwrap();
    assert_eq!((report.ingested, report.templates), (2, 2));
    assert_eq!(services.for_collection(&wire).unwrap().config().session.family(), on_openvino);
    // A record this build cannot read is refused, not guessed.
    let edited = gabarit_catalog::Collection { engine: "tpu/int4".into(), ..wire };
    assert!(matches!(services.for_collection(&edited), Err(gabarit_engine::Error::Invalid(_))));
}
