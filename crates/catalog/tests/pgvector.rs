//! The templates on PostgreSQL with pgvector (issue 17), against a real server started for the
//! test (`LocalServer`: PostgreSQL 18 and pgvector 0.8 from `scripts/postgres-setup.sh`; the
//! test fails, never skips, when it is missing): the `VectorIndex` contract suite, the plans of
//! the exhaustive searches, what is stored, and the refusals at open.

use gabarit_catalog::pg::{LocalServer, PgVectorIndex};
use gabarit_index::testing::{self, TestRng, cosine};
use gabarit_index::{Error, SecretRotation, VectorIndex};

fn server() -> LocalServer {
    LocalServer::start().unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"))
}

fn rotation(dim: usize) -> SecretRotation {
    SecretRotation::new(&[0x5a; 32], dim)
}

#[test]
fn contract_suite() {
    let pg = server();
    let url = pg.url();
    let tmp = tempfile::tempdir().unwrap();
    // The suite gives each check a directory: its name is the table's.
    testing::contract_tests(tmp.path(), &|dir| {
        let table = format!("t_{}", dir.file_name().unwrap().to_str().unwrap());
        Box::new(PgVectorIndex::open(&url, &table, rotation(64)).unwrap())
    });
}

/// The model-based test of `gabarit-index` (random histories of insert, remove, flush, reopen
/// and compact against a `HashMap`), each history in a table of its own on one server.
#[test]
fn behaves_like_a_hashmap() {
    use gabarit_index::model::{self, DIM};
    use proptest::test_runner::{Config, TestRunner};
    let pg = server();
    let url = pg.url();
    let tmp = tempfile::tempdir().unwrap();
    let history = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config { cases: 48, ..Config::default() });
    runner
        .run(&model::ops(), |ops| {
            let table = format!("h{}", history.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            model::run(
                &tmp.path().join(&table),
                &|_| Box::new(PgVectorIndex::open(&url, &table, rotation(DIM)).unwrap()),
                &ops,
            );
            Ok(())
        })
        .unwrap();
}

/// The plan of a statement the index runs, with its settings.
fn plan(client: &mut postgres::Client, settings: &str, sql: &str, dim: usize) -> String {
    let q = pgvector::Vector::from(vec![0.5f32; dim]);
    let mut tx = client.transaction().expect("transaction");
    tx.batch_execute(settings).expect("settings");
    let rows = tx.query(&format!("EXPLAIN {sql}"), &[&q]).expect("explain");
    rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>().join("\n")
}

#[test]
fn exhaustive_searches_scan_every_row_and_store_only_rotated_vectors() {
    let pg = server();
    let url = pg.url();
    let dim = 128;
    let mut index = PgVectorIndex::open(&url, "templates", rotation(dim)).unwrap();
    let mut rng = TestRng::new(17);
    let vectors: Vec<Vec<f32>> = (0..3000).map(|_| rng.unit(dim)).collect();
    for (id, v) in vectors.iter().enumerate() {
        index.insert(id as u64, (id % 3) as u32, v).unwrap();
    }
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client.batch_execute("ANALYZE templates").unwrap();

    // Without the settings, the planner takes the HNSW index for a top-k: the approximate path.
    let topk = "SELECT id FROM templates ORDER BY embedding <#> $1 LIMIT 10";
    assert!(plan(&mut client, "", topk, dim).contains("templates_hnsw"), "HNSW serves an ordinary top-k");
    // With the exhaustive settings, the exact top-k and the threshold search scan the table.
    let settings =
        "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexonlyscan = off;";
    for sql in [
        "SELECT id FROM templates ORDER BY embedding <#> $1, id LIMIT 10",
        "SELECT id FROM templates ORDER BY embedding <#> $1 LIMIT 10",
        "SELECT id FROM templates WHERE (embedding <#> $1) <= -0.3",
    ] {
        let p = plan(&mut client, settings, sql, dim);
        assert!(p.contains("Seq Scan on templates"), "{sql}:\n{p}");
        assert!(!p.contains("hnsw") && !p.contains("Index"), "{sql}:\n{p}");
    }

    // Every row is scored: a threshold below any cosine returns all of them, with the f32
    // cosine of the unrotated vectors.
    let q = rng.unit(dim);
    let all = index.search_threshold(&q, -2.0, None).unwrap();
    assert_eq!(all.len(), 3000);
    for hit in &all {
        assert!((hit.score - cosine(&q, &vectors[hit.id as usize])).abs() < 1e-5, "id {}", hit.id);
    }
    let exact = index.search_exact(&q, 5, Some(&[1])).unwrap();
    let mut truth: Vec<(u64, f32)> =
        (0..3000u64).filter(|id| id % 3 == 1).map(|id| (id, cosine(&q, &vectors[id as usize]))).collect();
    truth.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    assert_eq!(exact.iter().map(|h| h.id).collect::<Vec<_>>(), truth.iter().take(5).map(|t| t.0).collect::<Vec<_>>());

    // What is stored is the rotated template: same norm, nothing like the template itself.
    let row = client.query_one("SELECT embedding FROM templates WHERE id = 7", &[]).unwrap();
    let stored: Vec<f32> = row.get::<_, pgvector::Vector>(0).to_vec();
    assert!((cosine(&stored, &stored) - cosine(&vectors[7], &vectors[7])).abs() < 1e-5);
    assert!(cosine(&stored, &vectors[7]).abs() < 0.35, "stored vector too close to the template");
    assert_eq!(stored, rotation(dim).apply(&vectors[7]));
}

#[test]
fn another_key_or_dimension_is_refused_and_bad_input_changes_nothing() {
    let pg = server();
    let url = pg.url();
    let mut index = PgVectorIndex::open(&url, "templates", rotation(32)).unwrap();
    let v = TestRng::new(1).unit(32);
    index.insert(1, 0, &v).unwrap();
    assert!(matches!(index.insert(1, 0, &v), Err(Error::DuplicateId { id: 1 })));
    assert!(matches!(index.insert(2, 0, &v[..31]), Err(Error::WrongDimension { expected: 32, found: 31 })));
    assert!(matches!(index.insert(u64::MAX, 0, &v), Err(Error::Database { .. })));
    assert_eq!(index.len(), 1);
    drop(index);
    let other = PgVectorIndex::open(&url, "templates", SecretRotation::new(&[1; 32], 32));
    assert!(matches!(other, Err(Error::Encryption { .. })), "{other:?}");
    let wider = PgVectorIndex::open(&url, "templates", rotation(64));
    assert!(matches!(wider, Err(Error::IndexDimension { expected: 64, found: 32, .. })), "{wider:?}");
    let bad = PgVectorIndex::open(&url, "templates; drop table templates", rotation(32));
    assert!(matches!(bad, Err(Error::Database { .. })), "{bad:?}");
    let wrong_password = url.replacen("gabarit:", "gabarit:x", 1);
    let refused = PgVectorIndex::open(&wrong_password, "templates", rotation(32));
    assert!(matches!(refused, Err(Error::Database { .. })), "{refused:?}");
    let index = PgVectorIndex::open(&url, "templates", rotation(32)).unwrap();
    assert_eq!(index.search(&v, 1, None).unwrap()[0].id, 1);
}

/// Every file under `dir` holding `needle`.
fn files_holding(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs_err::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if fs_err::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle)) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[test]
fn erased_template_bytes_leave_every_file_of_the_server() {
    let pg = server();
    let url = pg.url();
    let dim = 64;
    let mut index = PgVectorIndex::open(&url, "templates", rotation(dim)).unwrap();
    let mut rng = TestRng::new(23);
    for id in 0..200 {
        index.insert(id, 0, &rng.unit(dim)).unwrap();
    }
    let target = rng.unit(dim);
    index.insert(500, 0, &target).unwrap();
    let stored = rotation(dim).apply(&target);
    // On disk, pgvector stores the f32 components in the machine's order; 16 bytes are unique.
    let needle: Vec<u8> = stored[..4].iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client.batch_execute("CHECKPOINT").unwrap();
    let before = files_holding(&pg.data_dir(), &needle);
    eprintln!("before: {before:?}");
    assert!(!before.is_empty(), "the stored vector is found before erasure");
    assert!(index.remove(500).unwrap());
    index.compact().unwrap();
    let after = files_holding(&pg.data_dir(), &needle);
    assert!(after.is_empty(), "the erased template's bytes remain in {after:?}");
    assert_eq!(index.len(), 200);
}

/// Two processes on one table: each sees the other's changes in the shared version (what the
/// engine's caches are keyed by), and the ids held.
#[test]
fn another_connections_changes_advance_the_shared_version_and_the_counts() {
    let pg = server();
    let url = pg.url();
    let mut a = PgVectorIndex::open(&url, "shared", rotation(8)).unwrap();
    let mut b = PgVectorIndex::open(&url, "shared", rotation(8)).unwrap();
    let v0 = a.shared_version().unwrap().expect("a shared index has a version");
    assert_eq!(b.shared_version().unwrap(), Some(v0));
    assert_eq!((a.count(None), b.count(None)), (0, 0));
    b.insert(7, 1, &[1.0; 8]).unwrap();
    let v1 = a.shared_version().unwrap().unwrap();
    assert!(v1 > v0, "{v0} → {v1}");
    // Counts kept by a handle follow the other's changes.
    assert_eq!((a.count(None), a.count(Some(&[1])), a.count(Some(&[2]))), (1, 1, 0));
    assert!(matches!(b.insert(7, 1, &[1.0; 8]), Err(Error::DuplicateId { id: 7 })));
    assert_eq!(a.shared_version().unwrap(), Some(v1), "a refused insert changes nothing");
    a.insert(3, 2, &[0.5; 8]).unwrap();
    assert_eq!(b.ids().unwrap(), [3, 7]);
    assert_eq!((b.count(None), b.count(Some(&[2])), b.count(Some(&[1, 2, 2]))), (2, 1, 2));
    let v2 = b.shared_version().unwrap().unwrap();
    assert!(v2 > v1);
    assert!(!b.remove(99).unwrap());
    assert_eq!(a.shared_version().unwrap(), Some(v2), "removing nothing changes nothing");
    assert!(b.remove(7).unwrap());
    assert!(a.shared_version().unwrap().unwrap() > v2);
    assert_eq!(a.ids().unwrap(), [3]);
    assert_eq!((a.count(Some(&[1])), a.count(None)), (0, 1));
    assert_eq!(b.insert_many(&[(8, 1, vec![0.25; 8]), (9, 1, vec![0.5; 8])]).unwrap(), 2);
    assert_eq!((a.count(Some(&[1])), a.count(None)), (2, 3), "a bulk load is counted too");
    // An index only this process changes has none.
    let tmp = tempfile::tempdir().unwrap();
    let flat = gabarit_index::FlatIndex::open(tmp.path(), 8).unwrap();
    assert_eq!(flat.shared_version().unwrap(), None);
}

#[test]
fn many_templates_go_in_one_transaction_the_held_ones_left_as_they_are() {
    let pg = server();
    let url = pg.url();
    let dim = 16;
    let mut index = PgVectorIndex::open(&url, "many", rotation(dim)).unwrap();
    let mut rng = TestRng::new(5);
    let items: Vec<(u64, u32, Vec<f32>)> = (0..1203).map(|i| (i * 3 + 1, (i % 4) as u32, rng.unit(dim))).collect();
    // One of them is there already, under another vector: it stays as it was.
    index.insert(items[600].0, items[600].1, &items[601].2).unwrap();
    let before = index.shared_version().unwrap().unwrap();
    assert_eq!(index.insert_many(&items).unwrap(), 1202);
    assert!(index.shared_version().unwrap().unwrap() > before);
    assert_eq!(index.len(), 1203);
    assert_eq!(index.count(Some(&[1])), items.iter().filter(|t| t.1 == 1).count());
    for (id, _, v) in [&items[0], &items[599], &items[1202]] {
        assert_eq!(index.search_exact(v, 1, None).unwrap()[0].id, *id);
    }
    assert_eq!(index.search_exact(&items[601].2, 2, None).unwrap().iter().filter(|h| h.id == items[600].0).count(), 1);
    // All held: nothing added, nothing counted as a change.
    let v = index.shared_version().unwrap();
    assert_eq!(index.insert_many(&items[..10]).unwrap(), 0);
    assert_eq!(index.shared_version().unwrap(), v);
    // A vector of the wrong dimension refuses the whole batch.
    let mut bad = vec![(9_999_999, 0, rng.unit(dim))];
    bad.push((9_999_998, 0, vec![0.1; dim + 1]));
    assert!(index.insert_many(&bad).is_err());
    assert_eq!(index.len(), 1203);
}

#[test]
fn interactive_searches_read_from_a_replica_and_threshold_searches_from_the_primary() {
    let pg = server();
    let replica = pg.start_replica().unwrap_or_else(|e| panic!("a replica of the test's server: {e}"));
    let dim = 16;
    let mut index = PgVectorIndex::open(&pg.url(), "replicated", rotation(dim)).unwrap();
    let mut rng = TestRng::new(11);
    let first = rng.unit(dim);
    index.insert(1, 1, &first).unwrap();
    // The primary is no replica.
    assert!(index.read_from(&pg.url()).unwrap_err().to_string().contains("not a replica"));
    assert_eq!(index.replica_lag().unwrap(), None);
    index.read_from(&replica.url()).unwrap();
    let mut sql = postgres::Client::connect(&replica.url(), postgres::NoTls).unwrap();
    let wait = |sql: &mut postgres::Client, id: i64| {
        let started = std::time::Instant::now();
        while sql
            .query_one("SELECT count(*) FROM replicated WHERE id = $1", &[&id])
            .map(|r| r.get::<_, i64>(0))
            .unwrap_or(0)
            == 0
        {
            assert!(started.elapsed() < std::time::Duration::from_secs(60));
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    wait(&mut sql, 1);
    assert_eq!(index.search(&first, 1, None).unwrap()[0].id, 1);
    sql.execute("SELECT pg_wal_replay_pause()", &[]).unwrap();
    let second = rng.unit(dim);
    index.insert(2, 1, &second).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Top-k, approximate or exhaustive, from the replica: not there yet.
    assert!(index.search(&second, 2, None).unwrap().iter().all(|h| h.id != 2));
    assert!(index.search_exact(&second, 2, None).unwrap().iter().all(|h| h.id != 2));
    assert!(index.replica_lag().unwrap().unwrap() > 0.2);
    assert!(index.staleness().unwrap().unwrap() > 0.2, "the trait's staleness is the replica's lag");
    // Threshold searches (rights requests, objections) and the grouping's from the primary.
    assert!(index.search_threshold(&second, 0.99, None).unwrap().iter().any(|h| h.id == 2));
    assert_eq!(index.search_breadth(&second, 1, None, 40).unwrap()[0].id, 2);
    sql.execute("SELECT pg_wal_replay_resume()", &[]).unwrap();
    wait(&mut sql, 2);
    assert_eq!(index.search_exact(&second, 1, None).unwrap()[0].id, 2);
}

#[test]
fn a_large_load_goes_without_the_hnsw_index_which_is_built_once_after() {
    let pg = server();
    let url = pg.url();
    let dim = 16;
    let mut index = PgVectorIndex::open(&url, "loaded", rotation(dim)).unwrap();
    let mut sql = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let indexes = |sql: &mut postgres::Client| -> Vec<String> {
        sql.query("SELECT indexname::text FROM pg_indexes WHERE tablename = 'loaded' ORDER BY 1", &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    assert!(indexes(&mut sql).contains(&"loaded_hnsw".to_string()));
    index.suspend_search_index().unwrap();
    assert!(!indexes(&mut sql).contains(&"loaded_hnsw".to_string()));
    let mut rng = TestRng::new(3);
    let items: Vec<(u64, u32, Vec<f32>)> = (0..3000).map(|i| (i, 1, rng.unit(dim))).collect();
    index.insert_many(&items).unwrap();
    // Searches still answer meanwhile (every row scanned).
    assert_eq!(index.search(&items[42].2, 1, None).unwrap()[0].id, 42);
    let bare = index.bytes_on_server().unwrap();
    index.restore_search_index(64).unwrap();
    assert!(indexes(&mut sql).contains(&"loaded_hnsw".to_string()));
    assert!(index.bytes_on_server().unwrap() > bare, "the HNSW index takes room");
    assert_eq!(index.search(&items[2999].2, 1, None).unwrap()[0].id, 2999);
    // Left dropped by a process that stopped: the next open builds it again.
    index.suspend_search_index().unwrap();
    drop(index);
    let reopened = PgVectorIndex::open(&url, "loaded", rotation(dim)).unwrap();
    assert!(indexes(&mut sql).contains(&"loaded_hnsw".to_string()));
    assert_eq!(reopened.len(), 3000);
}

#[test]
fn searches_of_several_threads_run_at_once_on_their_own_connections() {
    let pg = server();
    let url = pg.url();
    let dim = 64;
    let mut index = PgVectorIndex::open(&url, "concurrent", rotation(dim)).unwrap();
    let mut rng = TestRng::new(21);
    let items: Vec<(u64, u32, Vec<f32>)> = (0..4000).map(|i| (i, (i % 3) as u32, rng.unit(dim))).collect();
    index.insert_many(&items).unwrap();
    let alone: Vec<Vec<u64>> = items[..40]
        .iter()
        .map(|(_, _, v)| index.search_exact(v, 5, None).unwrap().into_iter().map(|h| h.id).collect())
        .collect();
    let backends = |sql: &mut postgres::Client| -> i64 {
        sql.query_one("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'", &[])
            .unwrap()
            .get(0)
    };
    let mut sql = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let before = backends(&mut sql);
    let start = std::sync::Barrier::new(4);
    let together: Vec<Vec<Vec<u64>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    items[..40]
                        .iter()
                        .map(|(_, _, v)| index.search_exact(v, 5, None).unwrap().into_iter().map(|h| h.id).collect())
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for answers in &together {
        assert_eq!(answers, &alone, "the same answers as searched one at a time");
    }
    // At most three more connections than the index's first, whatever the number of threads.
    let opened = backends(&mut sql) - before;
    assert!((0..=3).contains(&opened), "{opened} connections opened");
}
