//! The catalog in PostgreSQL (issue 17), against a real server started for the test
//! (`LocalServer`; fails, never skips, when PostgreSQL is missing): the schema mirrors
//! SQLite's, and the subjects moved so far (the audit chain, collections) behave as on SQLite,
//! the audit chain staying one chain with several writers.

use std::collections::BTreeMap;
use std::sync::Arc;

use gabarit_catalog::pg::LocalServer;
use gabarit_catalog::{Catalog, Error};

fn server() -> LocalServer {
    LocalServer::start().unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"))
}

fn key(dir: &std::path::Path) -> Arc<gabarit_crypto::DataKey> {
    let kek = gabarit_crypto::Kek::from_bytes([7u8; 32]);
    Arc::new(gabarit_crypto::Keyring::create(dir.join("keyring.json"), &kek).expect("keyring"))
}

/// Table → column → whether it may be NULL.
type Shape = BTreeMap<String, BTreeMap<String, bool>>;

#[test]
fn the_schema_mirrors_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let lite_path = tmp.path().join("catalog.db");
    drop(Catalog::open(&lite_path).unwrap());
    let conn = rusqlite::Connection::open(&lite_path).unwrap();
    let mut lite = Shape::new();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for table in tables {
        let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})")).unwrap();
        let columns = stmt
            .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(3)? == 0 && r.get::<_, i64>(5)? == 0)))
            .unwrap()
            .map(Result::unwrap);
        lite.insert(table, columns.collect());
    }

    let pg = server();
    drop(Catalog::open_postgres(&pg.url(), None).unwrap());
    // A second open finds the schema there and leaves it.
    drop(Catalog::open_postgres(&pg.url(), None).unwrap());
    let mut client = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    let mut pgshape = Shape::new();
    for row in client
        .query(
            "SELECT c.table_name::text, c.column_name::text, c.is_nullable = 'YES' AND c.column_name NOT IN
                 (SELECT k.column_name FROM information_schema.key_column_usage k
                  JOIN information_schema.table_constraints t ON t.constraint_name = k.constraint_name
                  WHERE t.constraint_type = 'PRIMARY KEY' AND k.table_name = c.table_name)
             FROM information_schema.columns c
             WHERE c.table_schema = 'public' AND c.table_name <> 'gabarit_schema'",
            &[],
        )
        .unwrap()
    {
        pgshape.entry(row.get(0)).or_default().insert(row.get(1), row.get(2));
    }
    assert_eq!(pgshape, lite, "tables, columns and NULLs of PostgreSQL's schema against SQLite's");
    assert!(lite.len() >= 30, "{} tables", lite.len());
}

#[test]
fn the_audit_chain_on_postgres_verifies_and_detects_edits() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = server();
    let key = key(tmp.path());
    let mut cat = Catalog::open_postgres(&pg.url(), Some(key.clone())).unwrap();
    for i in 0..5 {
        cat.audit("admin", "record_view", serde_json::json!({"face": i})).unwrap();
    }
    let entries = cat.audit_entries(None, None).unwrap();
    assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(entries[2].detail, serde_json::json!({"face": 2}));
    assert_eq!(cat.verify_audit(None).unwrap(), (5, None));
    let checkpoint = cat.audit_checkpoint().unwrap();
    assert_eq!(cat.audit_actions().unwrap(), ["record_view"]);

    // Without the key: reading works, appending does not.
    let mut locked = Catalog::open_postgres(&pg.url(), None).unwrap();
    assert!(matches!(locked.audit("x", "y", serde_json::json!({})), Err(Error::Locked { .. })));
    assert_eq!(locked.audit_entries(None, None).unwrap().len(), 5);

    // The table refuses edits; with its triggers disabled by the database's owner, an edit is
    // caught by the chain.
    let mut client = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    let refused = client.execute("UPDATE audit SET actor = 'mallory' WHERE seq = 3", &[]);
    let refused = refused.unwrap_err();
    assert!(refused.as_db_error().is_some_and(|e| e.message().contains("append-only")), "{refused:?}");
    assert!(client.execute("DELETE FROM audit WHERE seq = 5", &[]).is_err());
    assert!(client.batch_execute("TRUNCATE audit").is_err());
    client
        .batch_execute(
            "ALTER TABLE audit DISABLE TRIGGER USER; UPDATE audit SET actor = 'mallory' WHERE seq = 3;
             ALTER TABLE audit ENABLE TRIGGER USER;",
        )
        .unwrap();
    let (n, broken) = cat.verify_audit(None).unwrap();
    assert_eq!(n, 5);
    let broken = broken.expect("the edit is detected");
    assert_eq!((broken.position, broken.seq), (3, 3));
    assert!(cat.verify_audit(Some(&checkpoint)).unwrap().1.is_some());
}

#[test]
fn several_writers_keep_one_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = server();
    let key = key(tmp.path());
    let url = pg.url();
    std::thread::scope(|s| {
        for w in 0..4 {
            let (url, key) = (url.clone(), key.clone());
            s.spawn(move || {
                let mut cat = Catalog::open_postgres(&url, Some(key)).unwrap();
                for i in 0..25 {
                    cat.audit(&format!("writer{w}"), "record_view", serde_json::json!({"i": i})).unwrap();
                }
            });
        }
    });
    let cat = Catalog::open_postgres(&url, Some(key)).unwrap();
    let entries = cat.audit_entries(None, None).unwrap();
    assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=100).collect::<Vec<u64>>());
    assert_eq!(cat.verify_audit(None).unwrap(), (100, None));
    for w in 0..4 {
        assert_eq!(entries.iter().filter(|e| e.actor == format!("writer{w}")).count(), 25);
    }
}

#[test]
fn collections_on_postgres() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = server();
    let mut cat = Catalog::open_postgres(&pg.url(), Some(key(tmp.path()))).unwrap();
    let create = |cat: &mut Catalog, name: &str| {
        cat.audited("curator", "collection_create", |tx| {
            let c = tx.create_collection(name, "press archive", gabarit_catalog::LEGACY_PACK, "openvino/bf16")?;
            let id = c.id;
            Ok((c, serde_json::json!({"collection": id})))
        })
    };
    let (made, entry) = create(&mut cat, "archive").unwrap();
    assert_eq!((made.id, made.name.as_str(), made.engine.as_str()), (1, "archive", "openvino/bf16"));
    assert_eq!(entry.detail, serde_json::json!({"collection": 1}));
    create(&mut cat, "events").unwrap();
    assert!(matches!(create(&mut cat, "archive"), Err(Error::AlreadyExists { .. })));
    assert!(matches!(create(&mut cat, ""), Err(Error::Policy(_))));
    // A refused change leaves neither the change nor its entry.
    assert_eq!(cat.audit_entries(None, None).unwrap().len(), 2);
    assert_eq!(cat.collection("events").unwrap().id, 2);
    assert!(matches!(cat.collection("nope"), Err(Error::NotFound { .. })));
    let scope =
        gabarit_governance::authorize_system::<gabarit_governance::actions::ViewRecords>("test").scope().clone();
    let names: Vec<String> = cat.collections_in(&scope).unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["archive", "events"]);
    let summary = cat.collection_summary(&scope, "archive").unwrap();
    assert_eq!((summary.images, summary.faces, summary.templates), (0, 0, 0));
    assert_eq!(cat.collections(&scope).unwrap().len(), 2);
    // Every subject has moved: a request, a search, a job, people, a re-embedding all answer.
    assert!(cat.requests().unwrap().is_empty());
    assert!(cat.background_jobs(10).unwrap().is_empty());
    assert_eq!(cat.reembedding(1).unwrap(), None);
    assert_eq!(cat.persons(1, false, 0, 10).unwrap().0, 0);
}

#[test]
fn errors_say_what_the_server_said_and_never_the_password() {
    let pg = server();
    let url = pg.url();
    let password = url.split('@').next().unwrap().rsplit(':').next().unwrap().to_owned();
    let wrong = url.replacen(&password, "wrong", 1);
    let err = Catalog::open_postgres(&wrong, None).err().expect("refused");
    let text = err.to_string();
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(text.contains("postgres://gabarit@127.0.0.1:") && !text.contains("wrong"), "{text}");
    let unreachable =
        url.replacen(&format!(":{}/", url.rsplit(':').next().unwrap().split('/').next().unwrap()), ":1/", 1);
    let text = Catalog::open_postgres(&unreachable, None).err().expect("refused").to_string();
    assert!(text.contains("127.0.0.1:1") && text.to_lowercase().contains("refused"), "{text}");
    assert!(!text.contains(&password), "{text}");
}

#[test]
fn concurrent_takers_claim_each_job_once() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = server();
    let key = key(tmp.path());
    let url = pg.url();
    let mut cat = Catalog::open_postgres(&url, Some(key.clone())).unwrap();
    cat.audited("curator", "collection_create", |tx| {
        Ok((tx.create_collection("archive", "", gabarit_catalog::LEGACY_PACK, "ort/f32")?, serde_json::json!({})))
    })
    .unwrap();
    let mut queued = Vec::new();
    for i in 0..40 {
        let job = cat
            .audited("curator", "job_queue", |tx| {
                Ok((tx.queue_job("ingest", "archive", &[format!("/in/{i}")], "curator")?, serde_json::json!({})))
            })
            .unwrap()
            .0;
        queued.push(job.id);
    }
    let claimed: Vec<u64> = std::thread::scope(|s| {
        let takers: Vec<_> = (0..4)
            .map(|_| {
                let (url, key) = (url.clone(), key.clone());
                s.spawn(move || {
                    let mut cat = Catalog::open_postgres(&url, Some(key)).unwrap();
                    let mut mine = Vec::new();
                    while let Some(job) = cat.claim_job().unwrap() {
                        assert_eq!((job.state.as_str(), job.runs), ("running", 1));
                        mine.push(job.id);
                    }
                    mine
                })
            })
            .collect();
        takers.into_iter().flat_map(|t| t.join().unwrap()).collect()
    });
    let mut sorted = claimed.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, queued, "every job claimed, and once");
    assert_eq!(cat.job_counts().unwrap(), [("running".to_string(), 40)]);
}

/// A database an earlier build created (schema 16, before ingestions in parts) is brought to
/// the current schema when opened, its rows kept; the new columns then work.
#[test]
fn a_catalog_of_an_earlier_schema_is_upgraded_when_opened() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = server();
    let key = key(tmp.path());
    let mut cat = Catalog::open_postgres(&pg.url(), Some(key.clone())).unwrap();
    cat.audited("curator", "collection_create", |tx| {
        Ok((tx.create_collection("archive", "", gabarit_catalog::LEGACY_PACK, "ort/f32")?, serde_json::json!({})))
    })
    .unwrap();
    let old = cat
        .audited("curator", "job_queue", |tx| {
            Ok((tx.queue_job("ingest", "archive", &["/a".into()], "cur")?, serde_json::json!({})))
        })
        .unwrap()
        .0;
    drop(cat);
    // Schema 16 as an earlier build left it.
    let mut client = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    client
        .batch_execute(
            "ALTER TABLE background_jobs DROP COLUMN part, DROP COLUMN parts; UPDATE gabarit_schema SET version = 16",
        )
        .unwrap();
    let mut cat = Catalog::open_postgres(&pg.url(), Some(key)).unwrap();
    let version: i64 = client.query_one("SELECT version FROM gabarit_schema", &[]).unwrap().get(0);
    assert_eq!(version, gabarit_catalog::SCHEMA_VERSION as i64);
    assert_eq!(cat.background_job(old.id).unwrap().unwrap().part, None, "the job queued before, kept whole");
    let part = gabarit_catalog::JobPart::new(2, 3).unwrap();
    let new = cat
        .audited("curator", "job_queue", |tx| {
            Ok((tx.queue_job_part("ingest", "archive", &["/b".into()], "cur", Some(part))?, serde_json::json!({})))
        })
        .unwrap()
        .0;
    assert_eq!(cat.background_job(new.id).unwrap().unwrap().part, Some(part));
    assert_eq!(cat.verify_audit(None).unwrap().1, None, "the chain intact");
    // A schema older than the first one written for PostgreSQL is refused, untouched.
    client.batch_execute("UPDATE gabarit_schema SET version = 15").unwrap();
    match Catalog::open_postgres(&pg.url(), None) {
        Err(Error::Invalid(why)) => assert!(why.contains("schema 15"), "{why}"),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

/// A certificate authority and a server certificate it signed for 127.0.0.1 (PEM): the CA's
/// certificate, the server's, and the server's key.
fn certificates() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("test TLS set-up");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("test TLS set-up");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).expect("test TLS set-up");
    let key = rcgen::KeyPair::generate().expect("test TLS set-up");
    let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .expect("test TLS set-up")
        .signed_by(&key, &ca)
        .expect("test TLS set-up");
    (ca.pem(), server.pem(), key.serialize_pem())
}

/// A TLS front for the server at 127.0.0.1:`upstream` that behaves as a server whose rules
/// say `hostssl` (the wheel's PostgreSQL is built without TLS): it answers PostgreSQL's
/// SSLRequest with `S`, completes the TLS handshake with `certificate` and `key` (PEM), then
/// relays bytes both ways; a connection that does not ask for TLS is closed. Its port.
fn tls_front(upstream: u16, certificate: &str, key: &str) -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = vec![CertificateDer::from_pem_slice(certificate.as_bytes()).expect("test TLS set-up")];
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("test TLS set-up");
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("test TLS set-up")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("test TLS set-up");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("test TLS set-up");
    let port = listener.local_addr().expect("test TLS set-up").port();
    listener.set_nonblocking(true).expect("test TLS set-up");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("test TLS set-up");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("test TLS set-up");
            while let Ok((mut client, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    // SSLRequest: length 8, code 80877103.
                    let mut request = [0u8; 8];
                    if client.read_exact(&mut request).await.is_err() || request != [0, 0, 0, 8, 4, 210, 22, 47] {
                        return;
                    }
                    if client.write_all(b"S").await.is_err() {
                        return;
                    }
                    let Ok(mut tls) = acceptor.accept(client).await else { return };
                    let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
                });
            }
        });
    });
    port
}

/// `sslmode=require`: the catalog and the vector index connect over TLS to a server that
/// refuses plain text, verifying its certificate against `sslrootcert`; a certificate from
/// another authority, a missing CA file, or a CA file without `sslmode=require` are refused.
#[test]
fn over_tls_the_servers_certificate_is_verified_and_a_plain_connection_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = server();
    let (ca, certificate, private_key) = certificates();
    let config: postgres::Config = pg.url().parse().unwrap();
    let upstream = config.get_ports()[0];
    let front = tls_front(upstream, &certificate, &private_key);
    let ca_file = tmp.path().join("ca.pem");
    fs_err::write(&ca_file, &ca).unwrap();
    let plain = pg.url().replace(&format!(":{upstream}/"), &format!(":{front}/"));
    match Catalog::open_postgres(&plain, None) {
        Err(Error::Postgres { .. }) => {}
        other => panic!("plain text to a server requiring TLS: {:?}", other.map(|_| ())),
    }
    let tls = format!("{plain}?sslmode=require&sslrootcert={}", ca_file.display());
    let mut cat = Catalog::open_postgres(&tls, Some(key(tmp.path()))).unwrap();
    cat.audited("curator", "collection_create", |tx| {
        Ok((tx.create_collection("archive", "", gabarit_catalog::LEGACY_PACK, "ort/f32")?, serde_json::json!({})))
    })
    .unwrap();
    assert_eq!(cat.collection("archive").unwrap().name, "archive");
    let rotation = gabarit_index::SecretRotation::new(&[3u8; 32], 8);
    let mut index = gabarit_catalog::pg::PgVectorIndex::open(&tls, "tls_templates", rotation).unwrap();
    use gabarit_index::VectorIndex;
    index.insert(1, 1, &[0.5; 8]).unwrap();
    assert_eq!(index.search_exact(&[0.5; 8], 1, None).unwrap()[0].id, 1);
    // Another authority's certificate is not trusted.
    let (other_ca, _, _) = certificates();
    let other_file = tmp.path().join("other.pem");
    fs_err::write(&other_file, &other_ca).unwrap();
    match Catalog::open_postgres(&format!("{plain}?sslmode=require&sslrootcert={}", other_file.display()), None) {
        Err(Error::Postgres { source, .. }) => {
            assert!(format!("{source:?}").contains("InvalidCertificate"), "{source:?}")
        }
        other => panic!("a certificate of another authority: {:?}", other.map(|_| ())),
    }
    let missing = tmp.path().join("missing.pem");
    match Catalog::open_postgres(&format!("{plain}?sslmode=require&sslrootcert={}", missing.display()), None) {
        Err(Error::Invalid(why)) => assert!(why.contains("missing.pem"), "{why}"),
        other => panic!("a missing CA file: {:?}", other.map(|_| ())),
    }
    match Catalog::open_postgres(&format!("{plain}?sslrootcert={}", ca_file.display()), None) {
        Err(Error::Invalid(why)) => assert!(why.contains("sslmode=require"), "{why}"),
        other => panic!("a CA file without sslmode: {:?}", other.map(|_| ())),
    }
}
