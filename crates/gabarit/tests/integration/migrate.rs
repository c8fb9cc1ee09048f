//! `gabarit migrate` (issue 17): a data directory moved into PostgreSQL and back, on real
//! models and photos. Each store's content snapshot (every table's digest) equals the other's,
//! uploaded files move with the store and their paths with them, the audit chain verifies on
//! every side and records the migration on both, and the moved store serves the same search
//! once the source is gone.

use std::path::{Path, PathBuf};

use gabarit_catalog::{Catalog, Rewrite, TableDigest};

use crate::catalog::{as_user, key_file, new_collection, raw_catalog_of, search_json, write_private};
use crate::{run, sample};

const USERS: [&str; 6] = ["admin", "cur", "inv", "rita", "raoul", "dora"];

fn ok(cmd: &mut std::process::Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The keys of `from`'s users and its key-encryption key, for the store at `to` (the same
/// records, so the same keys).
fn same_keys(from: &Path, to: &Path) {
    for user in USERS {
        write_private(&key_file(to, user), &fs_err::read_to_string(key_file(from, user)).unwrap());
    }
    fs_err::copy(from.with_extension("kek"), to.with_extension("kek")).unwrap();
}

/// The candidates of a search for obama.jpg, as (file name, score) with their crops' count.
fn obama_search(data: &Path, crops: &Path) -> Vec<(String, f64)> {
    let result = search_json(data, &sample("obama.jpg"), &["--crops", crops.to_str().unwrap()]);
    let found: Vec<(String, f64)> = result["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = Path::new(c["path"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
            (name, c["score"].as_f64().unwrap())
        })
        .collect();
    assert_eq!(fs_err::read_dir(crops).unwrap().count(), found.len(), "a crop per candidate, read from its photo");
    found
}

fn actions(cat: &Catalog) -> Vec<(String, serde_json::Value)> {
    cat.audit_entries(None, None).unwrap().into_iter().map(|e| (e.action, e.detail)).collect()
}

fn migrate(data: &Path, to: &str, extra: &[&str]) -> serde_json::Value {
    let out = ok(as_user(data, "admin").args(["migrate", "--quiet", "--json", "--to", to]).args(extra));
    serde_json::from_str(&out).unwrap()
}

fn canonical_prefix(dir: &Path) -> String {
    format!("{}/", dir.canonicalize().unwrap().display())
}

fn digests(cat: &Catalog, rewrite: Option<&Rewrite>) -> Vec<TableDigest> {
    cat.content_digests(rewrite).unwrap()
}

#[test]
fn a_data_directory_goes_to_postgresql_and_back_with_equal_content_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    // Photos as the server keeps uploads: in a folder of the data directory's `uploads`.
    let upload = data.join("uploads").join("20261206T010000-0123456789abcdef");
    fs_err::create_dir_all(&upload).unwrap();
    for n in ["players.jpg", "gdp.jpg", "yaoming.jpg", "biden.jpg", "obama2.jpg"] {
        fs_err::copy(sample(n), upload.join(n)).unwrap();
    }
    ok(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "press"]).arg(&upload));
    let before = obama_search(&data, &dir.path().join("crops-dir"));
    assert_eq!(before[0].0, "obama2.jpg");
    let original = digests(&raw_catalog_of(&data), None);
    let uploads_dir = canonical_prefix(&data.join("uploads"));

    // Into PostgreSQL, uploads kept in a folder of their own.
    let pg = dir.path().join("pg");
    let server = gabarit_catalog::pg::LocalServer::start().unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"));
    write_private(&pg.with_extension("url"), &server.url());
    same_keys(&data, &pg);
    // What an interrupted copy would have left half-written in the target's uploads.
    let partial = pg.join("uploads").join(upload.file_name().unwrap()).join(".migrating-0123456789abcdef");
    fs_err::create_dir_all(partial.parent().unwrap()).unwrap();
    fs_err::write(&partial, &fs_err::read(sample("obama2.jpg")).unwrap()[..1000]).unwrap();
    // Only an admin migrates: an investigator is refused, and nothing reaches the database.
    let refused = run(as_user(&data, "inv").args(["migrate", "--quiet", "--to", &server.url()]));
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(gabarit_catalog::pg::read_keyring(&server.url()).unwrap().is_none());
    let report = migrate(&data, &server.url(), &["--to-uploads", pg.join("uploads").to_str().unwrap()]);
    assert_eq!(report["resumed"], false);
    assert_eq!((report["uploads"].as_u64(), report["templates_indexed"].as_u64()), (Some(5), Some(30)), "{report}");
    assert!(!report["to"].as_str().unwrap().contains("postgres://gabarit:"), "no password shown: {report}");
    let there = Rewrite { from: uploads_dir.clone(), to: canonical_prefix(&pg.join("uploads")) };
    let (source, target) = (raw_catalog_of(&data), raw_catalog_of(&pg));
    let moved = digests(&target, None);
    // The source has since recorded the migration's end: compared without the audit chain,
    // whose copied entries are the source's up to the target's own last one.
    let without_audit = |d: &[TableDigest]| d.iter().filter(|t| t.table != "audit").cloned().collect::<Vec<_>>();
    assert_eq!(without_audit(&moved), without_audit(&digests(&source, Some(&there))));
    assert_eq!(without_audit(&digests(&source, None)), without_audit(&original), "the source is left as it was");
    let images = |d: &[TableDigest]| d.iter().find(|t| t.table == "images").cloned().unwrap();
    assert_ne!(images(&moved), images(&original), "the photos' paths are the target's uploads folder's");
    assert_eq!(moved.iter().map(|t| t.rows).sum::<u64>(), report["rows"].as_u64().unwrap() + 1, "its arrival entry");
    assert!(!partial.exists(), "no half-written copy is left behind");
    for (name, _) in [("players.jpg", 0), ("obama2.jpg", 0)] {
        let moved_file = pg.join("uploads").join(upload.file_name().unwrap()).join(name);
        assert_eq!(fs_err::read(&moved_file).unwrap(), fs_err::read(sample(name)).unwrap());
    }
    // Audited on both sides, each chain intact: the source's start is in both, then each its own.
    let (from_log, to_log) = (actions(&source), actions(&target));
    let last = |log: &[(String, serde_json::Value)]| log.last().unwrap().clone();
    assert_eq!(last(&from_log).0, "store_migrate_out");
    assert_eq!(last(&to_log).0, "store_migrate_in");
    assert_eq!(last(&from_log).1["digest"], report["digest"]);
    assert_eq!(last(&to_log).1["digest"], report["digest"]);
    assert_eq!(to_log[..to_log.len() - 1], from_log[..from_log.len() - 1], "the target's chain is the source's");
    assert!(to_log.iter().any(|(a, _)| a == "store_migrate_begin"));
    for store in [&data, &pg] {
        let out = ok(as_user(store, "dora").args(["audit", "verify"]));
        assert!(out.contains("audit chain intact"), "{out}");
    }

    // The source retired: the database serves the same search, crops read from its uploads.
    let retired = dir.path().join("retired");
    fs_err::rename(&data, &retired).unwrap();
    let on_pg = obama_search(&pg, &dir.path().join("crops-pg"));
    assert_eq!(on_pg.len(), before.len());
    for ((name, score), (want_name, want)) in on_pg.iter().zip(&before) {
        assert_eq!(name, want_name);
        assert!((score - want).abs() < 1e-3, "{name}: {score} against {want}");
    }

    // Running it again is refused: the target has records of its own since.
    fs_err::rename(&retired, &data).unwrap();
    let again = run(as_user(&data, "admin")
        .args(["migrate", "--quiet", "--to", &server.url()])
        .args(["--to-uploads", pg.join("uploads").to_str().unwrap()]));
    assert_ne!(again.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not a copy"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    fs_err::rename(&data, &retired).unwrap();

    // And back into a data directory (a compressed index this time: a kind changed without
    // running the models): the database's content, with the uploads' paths now in the new
    // directory's.
    let back = dir.path().join("back");
    same_keys(&pg, &back);
    let report = migrate(&pg, back.to_str().unwrap(), &["--index", "compressed"]);
    assert_eq!(report["templates_indexed"].as_u64(), Some(30));
    assert_eq!(report["uploads"].as_u64(), Some(5));
    assert_eq!(fs_err::read_to_string(back.join("index-kind")).unwrap().trim(), "compressed");
    assert!(back.join("compressed/vectors.dat").is_file() && !back.join("graph").exists());
    let home = Rewrite { from: canonical_prefix(&pg.join("uploads")), to: canonical_prefix(&back.join("uploads")) };
    let returned = digests(&Catalog::open(&back.join("catalog.db")).unwrap(), None);
    assert_eq!(without_audit(&returned), without_audit(&digests(&target, Some(&home))));
    let (pg_log, back_log) = (actions(&target), actions(&Catalog::open(&back.join("catalog.db")).unwrap()));
    assert_eq!(back_log[..back_log.len() - 1], pg_log[..pg_log.len() - 1]);
    assert_eq!(back_log.iter().filter(|(a, _)| a == "store_migrate_in").count(), 2, "both arrivals");
    let out = ok(as_user(&back, "dora").args(["audit", "verify"]));
    assert!(out.contains("audit chain intact"), "{out}");
    let at_home = obama_search(&back, &dir.path().join("crops-back"));
    assert_eq!(at_home.iter().map(|c| &c.0).collect::<Vec<_>>(), before.iter().map(|c| &c.0).collect::<Vec<_>>());
    for ((_, score), (_, want)) in at_home.iter().zip(&before) {
        assert!((score - want).abs() < 1e-3);
    }
    assert_private(&back);
}

/// The new data directory and what it holds are its owner's only.
fn assert_private(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut stack: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let mode = fs_err::metadata(&p).unwrap().permissions().mode() & 0o777;
        if p.is_dir() {
            assert_eq!(mode, 0o700, "{}", p.display());
            stack.extend(fs_err::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", p.display());
        }
    }
}
