//! A collection records the model pack its templates come from, and templates of another
//! pack, or of the same pack made otherwise, are never added to it.

use gabarit_engine::{Error, governed};
use gabarit_governance::Role;
use gabarit_inference::Pack;

#[test]
fn a_collection_records_its_pack_and_refuses_templates_made_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, admin) = crate::data_dir(dir.path());
    let cur = crate::user(&mut store, &admin, "cur", Role::Curator, &[]);
    let dpo = crate::user(&mut store, &admin, "dora", Role::Dpo, &[]);
    governed::create_collection(&mut store, &cur, "press", "", &crate::governance()).unwrap();
    let buffalo = Pack::builtin("buffalo_s").unwrap();
    let press = governed::collection(&store, &cur, "press").unwrap().0.collection;
    assert_eq!((press.pack.as_str(), press.pack_sha256.clone()), ("buffalo_s", buffalo.templates_sha256()));
    // The creation's audit entry names it.
    let log = governed::audit_export(&mut store, &dpo, None, None).unwrap();
    let entry = crate::audit::entries_of(&log, "collection_create").pop().expect("an entry");
    assert_eq!(
        (entry["pack"].as_str(), entry["pack_sha256"].as_str()),
        (Some("buffalo_s"), Some(press.pack_sha256.as_str()))
    );

    // buffalo_s with mirror-averaged templates: same name, other templates.
    let mut averaged = buffalo.clone();
    averaged.engine.embedder.flip_average = true;
    let opts = crate::ingest_options("press", vec![crate::sample("obama2.jpg")]);
    let err = governed::governed_ingest(&crate::service_of(averaged), &mut store, &cur, &opts, &mut |_| {})
        .expect_err("templates made otherwise");
    assert!(matches!(&err, Error::PackMismatch { holder, .. } if holder == "collection \"press\""), "{err}");
    // Another pack altogether is refused for the whole data directory.
    let open = Pack::builtin("open").unwrap();
    let err = governed::governed_ingest(&crate::service_of(open), &mut store, &cur, &opts, &mut |_| {})
        .expect_err("another pack");
    assert!(matches!(&err, Error::PackMismatch { holder, .. } if holder == "this data directory"), "{err}");
    assert_eq!(governed::collection(&store, &cur, "press").unwrap().0.templates, 0, "nothing stored");
    // The collection's own pack ingests.
    let report = governed::governed_ingest(&crate::service(), &mut store, &cur, &opts, &mut |_| {}).unwrap();
    assert_eq!((report.ingested, report.templates), (1, 1));
}
