//! Every committed fixture catalog (`tests/fixtures/schema-N/`, one per schema, written by
//! `scripts/make-fixture-catalog.sh`) opens with this build: migrated to the current schema,
//! with its templates, accounts, grants, requests, searches, reviews and audit chain intact,
//! and writable afterwards.

// Helpers outside #[test] functions may unwrap too: a failure is a failed test.
#![allow(clippy::unwrap_used)]

mod fixture;

use std::sync::Arc;

use gabarit_catalog::{Catalog, SCHEMA_VERSION};
use gabarit_governance::{Role, actions, authorize_system};

fn fixtures() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut all: Vec<_> = fs_err::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    all.sort();
    all
}

#[test]
fn every_fixture_catalog_opens_migrated_with_everything_it_held() {
    let all = fixtures();
    for dir in &all {
        let expected: fixture::Expected =
            serde_json::from_str(&fs_err::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
        let work = tempfile::tempdir().unwrap();
        for f in ["catalog.db", "keyring.json"] {
            fs_err::copy(dir.join(f), work.path().join(f)).unwrap();
        }
        let kek = gabarit_crypto::Kek::from_bytes(fixture::FIXTURE_KEK);
        let key = Arc::new(gabarit_crypto::Keyring::open(work.path().join("keyring.json"), &kek).unwrap());
        let path = work.path().join("catalog.db");
        let mut cat = Catalog::open_keyed(&path, key).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let at = dir.display();
        let version: usize = rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .unwrap() as usize;
        assert_eq!(version, SCHEMA_VERSION, "{at}: migrated");
        // Content and templates (opened with the key), the same as written.
        assert_eq!(cat.content_snapshot().unwrap(), expected.snapshot, "{at}");
        let mut templates = Vec::new();
        cat.templates(|t| templates.push(t)).unwrap();
        assert_eq!(templates.len(), expected.templates.len(), "{at}");
        for (t, (face, seed)) in templates.iter().zip(&expected.templates) {
            let (codes, scale) = fixture::template(*seed);
            assert_eq!((t.face_id, &t.vector, t.scale), (*face, &codes, scale), "{at}: template of face {face}");
        }
        // Accounts: the key still authenticates its user, with their role and grant.
        let (principal, _) = cat.principal_for_key(&expected.key).unwrap().expect("the fixture's key");
        let archive = cat.collection("archive").unwrap();
        // Collections made before packs were recorded hold buffalo_s templates.
        assert_eq!((archive.pack.as_str(), archive.pack_sha256.as_str()), gabarit_catalog::LEGACY_PACK, "{at}");
        // And those made before engines were recorded, ONNX Runtime f32 templates.
        assert_eq!(archive.engine, "ort/f32", "{at}");
        assert_eq!(
            (principal.name.as_str(), principal.roles.as_slice(), principal.collections.as_slice()),
            ("ivo", &[Role::Investigator][..], &[archive.id][..]),
            "{at}"
        );
        assert!(cat.password_hash("rhea").unwrap().is_some_and(|h| h.starts_with("$argon2id$")), "{at}");
        let governance = cat.governance("archive").unwrap();
        assert_eq!(governance.dpia.as_deref(), Some("DPIA-FIXTURE"), "{at}");
        assert!(governance.missing().is_empty(), "{at}");
        // An objection's suppression template (in fixtures since schema 11) is buffalo_s's.
        let suppressions = cat.suppression_count(&gabarit_catalog::PackKey::legacy()).unwrap();
        assert_eq!(suppressions, u64::from(expected.schema >= 11), "{at}");
        if expected.schema >= 11 {
            assert_eq!(cat.suppressions(&gabarit_catalog::PackKey::legacy()).unwrap(), [fixture::template(99)], "{at}");
        }
        // The request, the search and its reviewed candidate.
        let request = cat.request(1).unwrap();
        assert_eq!((request.kind.as_str(), request.requester.as_str()), ("access", "REQ-FIXTURE"), "{at}");
        let search = cat.search_record(1).unwrap();
        assert_eq!((search.actor.as_str(), search.case_ref.as_str()), ("ivo", "CASE-FIXTURE"), "{at}");
        let scope = authorize_system::<actions::Review>("test").scope().clone();
        let candidate = cat.candidate(&scope, 1).unwrap();
        assert_eq!(candidate.confirmed_by, ["rhea"], "{at}");
        // The audit chain verifies, with at least what it held.
        let (entries, broken) = cat.verify_audit(None).unwrap();
        assert!(broken.is_none(), "{at}: {broken:?}");
        assert!(entries >= expected.audit_entries, "{at}: {entries} < {}", expected.audit_entries);
        // And it takes new records.
        cat.audited("test", "collection_create", |tx| {
            Ok((tx.create_collection("later", "", gabarit_catalog::LEGACY_PACK, "ort/f32")?, serde_json::json!({})))
        })
        .unwrap();
        assert!(cat.verify_audit(None).unwrap().1.is_none(), "{at}");
    }
    assert!(
        all.iter().any(|d| d.ends_with(format!("schema-{SCHEMA_VERSION}"))),
        "no fixture of the current schema {SCHEMA_VERSION}: run scripts/make-fixture-catalog.sh and commit it"
    );
}

#[test]
fn the_generator_still_writes_what_the_current_fixture_holds() {
    let work = tempfile::tempdir().unwrap();
    let fresh = fixture::write(&work.path().join("catalog.db"), &work.path().join("keyring.json")).unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/schema-{SCHEMA_VERSION}"));
    let committed: fixture::Expected =
        serde_json::from_str(&fs_err::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    assert_eq!(
        (fresh.schema, &fresh.templates, &fresh.snapshot, fresh.audit_entries),
        (committed.schema, &committed.templates, &committed.snapshot, committed.audit_entries)
    );
}
