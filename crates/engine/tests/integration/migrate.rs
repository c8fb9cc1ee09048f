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
