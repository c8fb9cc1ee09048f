//! A migration stopped in the middle (the process dying while it copies) goes on where it
//! stopped when run again, and ends with both stores equal; a target holding another store's
//! records is refused untouched.

use std::panic::{AssertUnwindSafe, catch_unwind};

use gabarit_catalog::Catalog;
use gabarit_engine::migrate::{MigrateOptions, Stage};
use gabarit_engine::store::{Place, Store};
use gabarit_engine::{Caller, Gabarit};
use gabarit_governance::Role;

use crate::{buffalo_s, ingest_options, new_collection, sample, service, user};

fn opened(dir: &std::path::Path, kek: &gabarit_crypto::Kek, admin_key: &str) -> (Gabarit, Caller) {
    let engine = Gabarit::open(Store::open(dir.join("data"), kek).unwrap(), Some(service()));
    let admin = engine.authenticate_key(admin_key).unwrap();
    (engine, admin)
}

fn rows(cat: &Catalog) -> u64 {
    cat.content_digests(None).unwrap().iter().map(|t| t.rows).sum()
}

#[test]
fn a_migration_stopped_midway_goes_on_where_it_stopped_and_ends_with_equal_stores() {
    let dir = tempfile::tempdir().unwrap();
    let kek = gabarit_crypto::Kek::generate().unwrap();
    let engine = Gabarit::open(Store::create(dir.path().join("data"), &kek).unwrap(), Some(service()));
    let admin_key = engine.bootstrap_admin("admin").unwrap();
    let admin = engine.authenticate_key(&admin_key).unwrap();
    let cur = user(&engine, &admin, "cur", Role::Curator, &[]);
    new_collection(&engine, &cur, "press", &buffalo_s());
    let photos = vec![sample("players.jpg"), sample("gdp.jpg"), sample("obama.jpg")];
    let ingested = engine.ingest(&cur, &ingest_options("press", photos), &mut |_| {}).unwrap();
    assert_eq!(ingested.ingested, 3);

    let pg = gabarit_catalog::pg::LocalServer::start().unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"));
    let target = Place::Postgres { url: pg.url(), uploads: dir.path().join("pg-uploads"), replica: None };
    let opts = MigrateOptions { target: target.clone(), index: None, chunk: 4 };
    // The process dies after 40 rows are in the target.
    let died = catch_unwind(AssertUnwindSafe(|| {
        engine.migrate(&admin, &kek, &opts, &mut |p| {
            if p.stage == Stage::Records && p.done >= 40 {
                panic!("the process stops here");
            }
        })
    }));
    assert!(died.is_err());
    drop(engine);
    let partial = rows(&Catalog::open_postgres(&pg.url(), None).unwrap());
    let source_rows = rows(&Catalog::open(&dir.path().join("data/catalog.db")).unwrap());
    assert!(partial >= 40 && partial < source_rows, "{partial} of {source_rows}");

    // Started again: it goes on, copies the rest once, and both stores hold the same.
    let (engine, admin) = opened(dir.path(), &kek, &admin_key);
    let report = engine.migrate(&admin, &kek, &opts, &mut |_| {}).unwrap();
    assert!(report.resumed);
    assert_eq!(report.copied + partial, report.rows, "{report:?}");
    let (source, moved) =
        (Catalog::open(&dir.path().join("data/catalog.db")).unwrap(), Catalog::open_postgres(&pg.url(), None).unwrap());
    let without_audit =
        |c: &Catalog| c.content_digests(None).unwrap().into_iter().filter(|t| t.table != "audit").collect::<Vec<_>>();
    assert_eq!(without_audit(&moved), without_audit(&source));
    let actions = |c: &Catalog| c.audit_entries(None, None).unwrap().into_iter().map(|e| e.action).collect::<Vec<_>>();
    let (from, to) = (actions(&source), actions(&moved));
    assert_eq!(from.iter().filter(|a| *a == "store_migrate_begin").count(), 1);
    assert_eq!(from.iter().filter(|a| *a == "store_migrate_resume").count(), 1);
    assert_eq!(from.last().map(String::as_str), Some("store_migrate_out"));
    assert_eq!(to.last().map(String::as_str), Some("store_migrate_in"));
    assert_eq!(to[..to.len() - 1], from[..from.len() - 1]);

    // The moved store opens, its chain verifies, and its index holds every template.
    let moved_engine = Gabarit::open(Store::open(&target, &kek).unwrap(), Some(service()));
    let admin_there = moved_engine.authenticate_key(&admin_key).unwrap();
    let dpo = user(&moved_engine, &admin_there, "dpo", Role::Dpo, &[]);
    assert_eq!(moved_engine.audit_verify(&dpo, None).unwrap().1, None);
    assert_eq!(moved_engine.templates_held().unwrap(), report.templates_indexed);
    assert!(report.templates_indexed >= 27, "{report:?}");
}

#[test]
fn a_target_holding_another_stores_records_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin, kek) = crate::data_dir_with(dir.path(), service());
    let cur = user(&engine, &admin, "cur", Role::Curator, &[]);
    new_collection(&engine, &cur, "press", &buffalo_s());
    // Another data directory, under another key-encryption key, then under the same one.
    let other_kek = gabarit_crypto::Kek::generate().unwrap();
    for (name, other) in [("under-another-kek", &other_kek), ("under-the-same-kek", &kek)] {
        let root = dir.path().join(name);
        let store = Store::create(root.clone(), other).unwrap();
        Gabarit::open(store, None).bootstrap_admin("someone").unwrap();
        let before = fs_err::read(root.join("catalog.db")).unwrap();
        let opts = MigrateOptions { target: Place::Dir(root.clone()), index: None, chunk: 100 };
        let refused = engine.migrate(&admin, &kek, &opts, &mut |_| {}).unwrap_err();
        assert!(!refused.to_string().is_empty());
        let held = Catalog::open(&root.join("catalog.db")).unwrap();
        assert_eq!(held.audit_entries(None, None).unwrap().len(), 1, "{name}: {refused}");
        drop(held);
        assert_eq!(fs_err::read(root.join("catalog.db")).unwrap().len(), before.len(), "{name}");
    }
    // And the store being migrated is not its own target.
    let opts = MigrateOptions { target: Place::Dir(dir.path().join("data")), index: None, chunk: 100 };
    assert!(engine.migrate(&admin, &kek, &opts, &mut |_| {}).unwrap_err().to_string().contains("being migrated"));
}

/// A synthetic face holding template `v` (unit, 512 components).
fn synthetic_face(k: usize, v: &[f32]) -> gabarit_catalog::NewFace {
    let x = 20.0 + 200.0 * k as f32;
    gabarit_catalog::NewFace {
        bbox: gabarit_types::BBox { x1: x, y1: 40.0, x2: x + 120.0, y2: 190.0 },
        landmarks: gabarit_types::Landmarks([
            [x + 35.0, 90.0],
            [x + 85.0, 90.0],
            [x + 60.0, 120.0],
            [x + 40.0, 150.0],
            [x + 80.0, 150.0],
        ]),
        score: 0.9,
        quality: gabarit_types::Quality {
            detector_score: 0.9,
            size_px: 120.0,
            sharpness: 200.0,
            yaw_deg: 0.0,
            pitch_deg: 0.0,
            roll_deg: 0.0,
            usable: true,
        },
        template: Some(gabarit_index::quant::quantize(v)),
        moment: None,
    }
}

#[test]
fn a_large_store_moves_to_postgresql_its_index_loaded_in_bulk_and_built_once() {
    let dir = tempfile::tempdir().unwrap();
    let kek = gabarit_crypto::Kek::generate().unwrap();
    let engine = Gabarit::open(Store::create(dir.path().join("data"), &kek).unwrap(), Some(service()));
    let admin = engine.authenticate_key(&engine.bootstrap_admin("admin").unwrap()).unwrap();
    let cur = user(&engine, &admin, "cur", Role::Curator, &[]);
    new_collection(&engine, &cur, "press", &buffalo_s());
    // 6,000 synthetic templates (1,200 images of 5 faces), written as ingestion writes them.
    let key = std::sync::Arc::new(gabarit_crypto::Keyring::open(dir.path().join("data/keyring.json"), &kek).unwrap());
    let mut cat = Catalog::open_keyed(&dir.path().join("data/catalog.db"), key).unwrap();
    let collection = cat.collection("press").unwrap();
    let job = cat.begin_job(collection.id, &["synthetic".into()]).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut unit = || {
        let mut v: Vec<f32> = (0..512)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.iter_mut().for_each(|a| *a /= norm);
        v
    };
    for batch in 0..6 {
        let items: Vec<gabarit_catalog::BatchItem> = (0..200)
            .map(|i| {
                let n = batch * 200 + i;
                gabarit_catalog::BatchItem::Image(gabarit_catalog::NewImage {
                    sha256: format!("{n:064x}"),
                    uri: format!("synthetic://{n}"),
                    source_uri: "synthetic".into(),
                    source_kind: "synthetic".into(),
                    bytes: 0,
                    width: 1200,
                    height: 300,
                    format: "jpeg".into(),
                    captured_at: None,
                    camera: None,
                    faces: (0..5).map(|k| synthetic_face(k, &unit())).collect(),
                    video: None,
                })
            })
            .collect();
        cat.audited("test", "ingest_batch", |tx| {
            Ok((tx.store_batch(job, collection.id, &items)?, serde_json::json!({})))
        })
        .unwrap();
    }
    cat.finish_job(job, "done").unwrap();
    drop(cat);

    let pg = gabarit_catalog::pg::LocalServer::start().unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"));
    let target = Place::Postgres { url: pg.url(), uploads: dir.path().join("pg-uploads"), replica: None };
    let opts = MigrateOptions { target, index: None, chunk: 2000 };
    let report = engine.migrate(&admin, &kek, &opts, &mut |_| {}).unwrap();
    assert_eq!(report.templates_indexed, 6000, "{report:?}");
    // The HNSW index is there, built after the load, over every row.
    let mut sql = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    let hnsw: Vec<String> = sql
        .query("SELECT indexname::text FROM pg_indexes WHERE indexname LIKE 'templates%hnsw'", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(hnsw.len(), 1, "{hnsw:?}");
    let table = hnsw[0].trim_end_matches("_hnsw").to_owned();
    let rows: i64 = sql.query_one(&format!("SELECT count(*) FROM {table}"), &[]).unwrap().get(0);
    assert_eq!(rows, 6000);
    // Made again after the load: newer than the change counter created with the table.
    let rebuilt: bool = sql
        .query_one(
            &format!(
                "SELECT (SELECT oid FROM pg_class WHERE relname = '{table}_hnsw') > \
                 (SELECT oid FROM pg_class WHERE relname = '{table}_changes')"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert!(rebuilt, "the HNSW index was built after the load, not kept up row by row");
}
