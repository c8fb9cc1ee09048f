//! Lawful by design: legal basis before ingestion, roles, purpose-bound search, two-reviewer
//! confirmation, the tamper-evident audit chain.

use crate::catalog::{Backend, GOVERNANCE, as_user, new_collection};
use crate::{run, sample};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn gallery(dir: &std::path::Path) -> std::path::PathBuf {
    let g = dir.join("gallery");
    fs_err::create_dir_all(&g).unwrap();
    for n in ["obama2.jpg", "biden.jpg"] {
        fs_err::copy(sample(n), g.join(n)).unwrap();
    }
    g
}

#[test]
fn ingestion_is_refused_without_legal_basis_and_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    // A second collection with only some of the fields.
    assert!(run(as_user(&data, "cur").args(["collection", "create", "bare", "--controller", "X"])).status.success());
    let out = run(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "bare"]).arg(gallery(dir.path())));
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for field in ["legal-basis", "condition", "purpose", "jurisdiction", "retention-days", "dpia"] {
        assert!(err.contains(field), "{field} named in: {err}");
    }
    assert!(!err.contains("controller,"), "the controller is set: {err}");
    // Once updated (and logged), ingestion works.
    assert!(run(as_user(&data, "cur").args(["collection", "update", "bare"]).args(GOVERNANCE)).status.success());
    let out = run(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "bare"]).arg(gallery(dir.path())));
    assert!(out.status.success(), "{}", stderr(&out));
    // Only a curator ingests.
    let out = run(as_user(&data, "inv").args(["ingest", "--quiet", "--collection", "press"]).arg(gallery(dir.path())));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("may not ingest"), "{}", stderr(&out));
}

#[test]
fn search_is_authenticated_purpose_bound_and_limited_to_granted_collections() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    assert!(run(as_user(&data, "cur").args(["collection", "create", "secret"]).args(GOVERNANCE)).status.success());
    let g = gallery(dir.path());
    for c in ["press", "secret"] {
        assert!(run(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", c]).arg(&g)).status.success());
    }
    let search =
        |user: &str, extra: &[&str]| run(as_user(&data, user).arg("search").arg(sample("obama.jpg")).args(extra));
    // No case reference: refused.
    let out = search("inv", &["--purpose", "test"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--case"), "{}", stderr(&out));
    // A collection not granted: refused.
    let out = search("inv", &["--case", "C1", "--purpose", "p", "--collection", "secret"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("secret"), "{}", stderr(&out));
    // No user, an unknown user, or a user without the investigator role: refused.
    let mut anonymous = crate::gabarit();
    crate::catalog::with_data(&mut anonymous, &data);
    let out = run(anonymous.arg("search").arg(sample("obama.jpg")).args(["--case", "C", "--purpose", "p"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--key-file"), "{}", stderr(&out));
    assert_eq!(search("nobody", &["--case", "C1", "--purpose", "p"]).status.code(), Some(2));
    assert_eq!(search("cur", &["--case", "C1", "--purpose", "p"]).status.code(), Some(2));
    // Granted: searches only the granted collection by default.
    let out = search("inv", &["--case", "C1", "--purpose", "p", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["collections"], serde_json::json!(["press"]));
    assert_eq!(v["case_ref"], "C1");
}

#[test]
fn one_reviewer_cannot_confirm_alone() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    assert!(
        run(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "press"]).arg(gallery(dir.path())))
            .status
            .success()
    );
    let v = crate::catalog::search_json(&data, &sample("obama.jpg"), &[]);
    let candidate = v["candidate_ids"][0].as_u64().unwrap().to_string();
    let review = |user: &str, decision: &str| {
        let out = run(as_user(&data, user).args(["review", decision, &candidate]));
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out))
    };
    // A reviewer decides only on the candidates of collections granted to them.
    let (code, _) = review("rita", "confirm");
    assert_eq!(code, Some(2), "rita is not granted press yet");
    for reviewer in ["rita", "raoul"] {
        assert!(run(as_user(&data, "admin").args(["user", "grant", reviewer, "press"])).status.success());
    }
    let (code, text) = review("rita", "confirm");
    assert_eq!(code, Some(0));
    assert!(text.contains("not confirmed"), "{text}");
    let (_, text) = review("rita", "confirm");
    assert!(text.contains("not confirmed"), "the same reviewer twice is one: {text}");
    let (code, _) = review("inv", "confirm");
    assert_eq!(code, Some(2), "an investigator is not a reviewer");
    let (_, text) = review("raoul", "confirm");
    assert!(text.contains("CONFIRMED"), "{text}");
}

fn audit_verify(data: &std::path::Path) -> (Option<i32>, String) {
    let out = run(as_user(data, "dora").args(["audit", "verify"]));
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out))
}

#[test]
fn audit_verify_detects_modified_deleted_and_reordered_entries() {
    audit_verify_detects_edits(Backend::Directory);
}

#[test]
fn on_postgresql_audit_verify_detects_modified_deleted_and_reordered_entries() {
    audit_verify_detects_edits(Backend::Postgres);
}

/// An attacker who can write the catalog (the file, or the database as its owner) but has no
/// key: each edit of the chain is found by `audit verify`.
trait Tamperer {
    /// Gabarit's own guard: the log refuses updates and deletions.
    fn refused(&self, sql: &str) -> bool;
    /// Runs `sql` with the guards removed.
    fn tamper(&self, sql: &str);
    /// Puts the log back as it was before the first edit.
    fn restore(&self);
}

struct FileTamperer {
    data: std::path::PathBuf,
    snapshot: Vec<u8>,
}

impl Tamperer for FileTamperer {
    fn refused(&self, sql: &str) -> bool {
        rusqlite::Connection::open(self.data.join("catalog.db")).unwrap().execute_batch(sql).is_err()
    }
    fn tamper(&self, sql: &str) {
        let conn = rusqlite::Connection::open(self.data.join("catalog.db")).unwrap();
        // The log is append-only for Gabarit; a tamperer with file access removes the guards.
        conn.execute_batch(
            "DROP TRIGGER IF EXISTS audit_append_only_update; DROP TRIGGER IF EXISTS audit_append_only_delete;",
        )
        .unwrap();
        conn.execute_batch(sql).unwrap();
    }
    fn restore(&self) {
        for ext in ["-wal", "-shm"] {
            let _ = fs_err::remove_file(self.data.join(format!("catalog.db{ext}")));
        }
        fs_err::write(self.data.join("catalog.db"), &self.snapshot).unwrap();
    }
}

struct DatabaseTamperer {
    url: String,
}

impl DatabaseTamperer {
    fn new(url: String) -> Self {
        let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        db.batch_execute("CREATE TABLE saved_audit AS SELECT * FROM audit").unwrap();
        DatabaseTamperer { url }
    }
    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }
}

impl Tamperer for DatabaseTamperer {
    fn refused(&self, sql: &str) -> bool {
        self.client().batch_execute(sql).is_err()
    }
    fn tamper(&self, sql: &str) {
        // The table's owner turns the guards off, edits, and turns them on again.
        let mut db = self.client();
        db.batch_execute("ALTER TABLE audit DISABLE TRIGGER USER").unwrap();
        db.batch_execute(sql).unwrap();
        db.batch_execute("ALTER TABLE audit ENABLE TRIGGER USER").unwrap();
    }
    fn restore(&self) {
        self.tamper("DELETE FROM audit; INSERT INTO audit SELECT * FROM saved_audit;");
    }
}

fn audit_verify_detects_edits(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = backend.place(&data);
    new_collection(&data, "press");
    assert!(
        run(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "press"]).arg(gallery(dir.path())))
            .status
            .success()
    );
    crate::catalog::search_json(&data, &sample("obama.jpg"), &[]);
    let (code, text) = audit_verify(&data);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("intact"));
    // Export as JSON lines: the search entry keeps the query's hash, never the image.
    let out = run(as_user(&data, "dora").args(["audit", "export"]));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let search = lines.iter().find(|e| e["action"] == "search").expect("search audited");
    assert_eq!(search["actor"], "inv");
    assert_eq!(search["detail"]["input_sha256"].as_str().unwrap().len(), 64);
    assert!(!search["detail"]["candidates"].as_array().unwrap().is_empty());
    assert!(lines.iter().any(|e| e["action"] == "ingest") && lines.iter().any(|e| e["action"] == "collection_create"));
    // Only the dpo reads the audit log.
    assert_eq!(run(as_user(&data, "inv").args(["audit", "verify"])).status.code(), Some(2));

    let attacker: Box<dyn Tamperer> = match fs_err::read_to_string(data.with_extension("url")) {
        Ok(url) => Box::new(DatabaseTamperer::new(url.trim().to_owned())),
        Err(_) => {
            Box::new(FileTamperer { snapshot: fs_err::read(data.join("catalog.db")).unwrap(), data: data.clone() })
        }
    };
    let (tamper, restore) = (|sql: &str| attacker.tamper(sql), || attacker.restore());
    // Gabarit itself refuses to change the log.
    assert!(attacker.refused("UPDATE audit SET actor = 'x' WHERE seq = 1"));
    assert!(attacker.refused("DELETE FROM audit WHERE seq = 1"));
    tamper("UPDATE audit SET detail = '{\"user\":\"mallory\"}' WHERE seq = 3");
    let (code, text) = audit_verify(&data);
    assert_eq!(code, Some(1));
    assert!(text.contains("entry 3") && text.contains("modified"), "{text}");
    restore();
    tamper("DELETE FROM audit WHERE seq = 4");
    let (code, text) = audit_verify(&data);
    assert_eq!(code, Some(1));
    assert!(text.contains("entry 4"), "{text}");
    restore();
    // Reorder: swap the contents of entries 5 and 6.
    tamper(
        "CREATE TEMP TABLE s AS SELECT * FROM audit WHERE seq IN (5, 6);
         UPDATE audit SET at = (SELECT at FROM s WHERE seq = 6), actor = (SELECT actor FROM s WHERE seq = 6),
           action = (SELECT action FROM s WHERE seq = 6), detail = (SELECT detail FROM s WHERE seq = 6),
           prev_hash = (SELECT prev_hash FROM s WHERE seq = 6), hash = (SELECT hash FROM s WHERE seq = 6) WHERE seq = 5;
         UPDATE audit SET at = (SELECT at FROM s WHERE seq = 5), actor = (SELECT actor FROM s WHERE seq = 5),
           action = (SELECT action FROM s WHERE seq = 5), detail = (SELECT detail FROM s WHERE seq = 5),
           prev_hash = (SELECT prev_hash FROM s WHERE seq = 5), hash = (SELECT hash FROM s WHERE seq = 5) WHERE seq = 6;",
    );
    let (code, text) = audit_verify(&data);
    assert_eq!(code, Some(1));
    assert!(text.contains("entry 5"), "{text}");
}
