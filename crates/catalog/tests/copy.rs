//! Copying a catalog between the two stores (what `gabarit migrate` does with the records):
//! the fixture catalog (something in every table) copied from SQLite to a real PostgreSQL,
//! interrupted and resumed, and back to SQLite; equal digests, a verifying audit chain, the
//! same templates, a rewritten path, and identity columns that go on after the copied ids.

// Helpers outside #[test] functions may unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod fixture;

use std::ops::ControlFlow;
use std::sync::Arc;

use gabarit_catalog::pg::LocalServer;
use gabarit_catalog::{Catalog, Rewrite, TableDigest};
use gabarit_governance::{actions, authorize_system};

fn templates(cat: &Catalog) -> Vec<(u64, Vec<i8>, u32)> {
    let mut out = Vec::new();
    cat.templates(|t| out.push((t.face_id, t.vector, t.scale.to_bits()))).unwrap();
    out
}

fn uris(cat: &Catalog) -> Vec<String> {
    let mut all: Vec<String> = cat.content_snapshot().unwrap().into_iter().filter(|l| l.contains("/")).collect();
    all.sort();
    all
}

/// The fixture catalog (something in every table) in a temporary folder, with its data key.
fn fixture_catalog() -> (tempfile::TempDir, Arc<gabarit_crypto::DataKey>, Catalog) {
    let tmp = tempfile::tempdir().unwrap();
    let (lite_path, keyring) = (tmp.path().join("catalog.db"), tmp.path().join("keyring.json"));
    fixture::write(&lite_path, &keyring).unwrap();
    let kek = gabarit_crypto::Kek::from_bytes(fixture::FIXTURE_KEK);
    let key = Arc::new(gabarit_crypto::Keyring::open(&keyring, &kek).unwrap());
    let source = Catalog::open_keyed(&lite_path, key.clone()).unwrap();
    (tmp, key, source)
}

#[test]
fn a_catalog_goes_to_postgresql_and_back_interrupted_and_resumed_with_equal_digests() {
    let (tmp, key, source) = fixture_catalog();
    let original = source.content_digests(None).unwrap();
    assert!(original.iter().filter(|d| d.rows > 0).count() >= 20, "the fixture fills most tables: {original:?}");
    let total: u64 = original.iter().map(|d| d.rows).sum();

    let pg = LocalServer::start().unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"));
    let target = Catalog::open_postgres(&pg.url(), Some(key.clone())).unwrap();
    let there = Rewrite { from: "/archive/".into(), to: "/moved/archive/".into() };

    // Stopped after three chunks of two rows: the target holds six rows, a new copy goes on.
    let mut chunks = 0;
    let first = source
        .copy_into(&target, Some(&there), 2, &mut |p| {
            assert_eq!(p.total, total);
            chunks += 1;
            if chunks == 3 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .unwrap();
    assert_eq!((first.rows, first.already, first.complete), (6, 0, false));
    let mut last_done = 0;
    let second = source
        .copy_into(&target, Some(&there), 2, &mut |p| {
            assert!(p.done > last_done && p.done <= total, "{} after {last_done}", p.done);
            last_done = p.done;
            ControlFlow::Continue(())
        })
        .unwrap();
    assert!(second.complete);
    let counts = |d: Vec<TableDigest>| d.into_iter().map(|t| (t.table, t.rows)).collect::<Vec<_>>();
    assert_eq!(counts(target.content_digests(None).unwrap()), counts(original.clone()));
    assert_eq!((second.already, second.rows), (6, total - 6), "no row copied twice, none left out");

    // The same records, with the path rewritten everywhere but in the audit chain.
    let moved: Vec<TableDigest> = target.content_digests(None).unwrap();
    assert_eq!(moved, source.content_digests(Some(&there)).unwrap());
    assert_ne!(moved, original, "the paths were rewritten");
    let audit = |d: &[TableDigest]| d.iter().find(|t| t.table == "audit").cloned().unwrap();
    assert_eq!(audit(&moved), audit(&original), "the audit chain is copied as written");
    assert!(uris(&target).iter().all(|u| !u.contains("/archive/") || u.contains("/moved/archive/")));
    assert_eq!(uris(&target).len(), uris(&source).len());
    let (entries, broken) = target.verify_audit(None).unwrap();
    assert_eq!((entries, broken), (source.verify_audit(None).unwrap().0, None));
    assert_eq!(target.audit_head().unwrap(), source.audit_head().unwrap());
    assert_eq!(templates(&target), templates(&source), "sealed templates open under the same key");
    assert!(!templates(&target).is_empty());

    // Copying again changes nothing.
    let again = source.copy_into(&target, Some(&there), 100, &mut |_| ControlFlow::Continue(())).unwrap();
    assert_eq!((again.rows, again.already, again.complete), (0, total, true));

    // And back to SQLite, the path put back: the original digests, table for table.
    let back_path = tmp.path().join("back.db");
    let back = Catalog::open_keyed(&back_path, key.clone()).unwrap();
    let home = Rewrite { from: "/moved/archive/".into(), to: "/archive/".into() };
    let copied = target.copy_into(&back, Some(&home), 1000, &mut |_| ControlFlow::Continue(())).unwrap();
    assert_eq!((copied.rows, copied.complete), (total, true));
    assert_eq!(back.content_digests(None).unwrap(), original);
    assert_eq!(back.content_snapshot().unwrap(), source.content_snapshot().unwrap());
    assert_eq!(back.verify_audit(None).unwrap().1, None);

    // The copies go on after the copied ids: a new collection takes the next id on both.
    let everything = authorize_system::<actions::ListCollections>("test").scope().clone();
    let next = source.collections(&everything).unwrap().iter().map(|c| c.collection.id).max().unwrap() + 1;
    for mut cat in [target, back] {
        let (c, _) = cat
            .audited("test", "collection_create", |tx| {
                Ok((tx.create_collection("after", "", gabarit_catalog::LEGACY_PACK, "ort/f32")?, serde_json::json!({})))
            })
            .unwrap();
        assert_eq!(c.id, next);
        assert_eq!(cat.verify_audit(None).unwrap().1, None);
    }
}

#[test]
fn a_copy_into_a_store_of_other_records_is_refused_by_its_first_conflict() {
    let (tmp, key, source) = fixture_catalog();
    // Another catalog with a collection of its own: the copy's first collection collides.
    let other_path = tmp.path().join("other.db");
    let mut other = Catalog::open_keyed(&other_path, key).unwrap();
    other
        .audited("test", "collection_create", |tx| {
            Ok((tx.create_collection("archive", "", gabarit_catalog::LEGACY_PACK, "ort/f32")?, serde_json::json!({})))
        })
        .unwrap();
    let before = other.content_digests(None).unwrap();
    assert!(source.copy_into(&other, None, 10, &mut |_| ControlFlow::Continue(())).is_err());
    assert_eq!(other.content_digests(None).unwrap(), before, "nothing half-written");
}
