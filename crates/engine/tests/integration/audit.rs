//! Reading the audit log as a DPO does in the web UI: newest first, filtered by an action the
//! log holds and by actor, a one-day period read and a reversed one refused with what to do,
//! and the reading on the record once (its first page), not once per page turned; a
//! checkpoint written to its file, read back to verify the chain.

use gabarit_engine::governed::{self, AuditQuery};
use gabarit_engine::store::Store;
use gabarit_engine::{Error, Gabarit};
use gabarit_governance::Role;

#[test]
fn the_audit_log_reads_newest_first_by_page_and_each_reading_is_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin) = crate::data_dir(dir.path());
    for i in 0..5 {
        engine.add_user(&admin, &format!("user{i}"), &[Role::Reviewer]).unwrap();
    }
    let dpo_key = engine.add_user(&admin, "dora", &[Role::Dpo]).unwrap();
    let dora = engine.authenticate_key(&dpo_key).unwrap();

    let page = |engine: &Gabarit, offset: usize, action: Option<&str>| {
        let q = AuditQuery { offset, limit: 2, action: action.map(str::to_string), ..Default::default() };
        engine.audit_browse(&dora, &q).unwrap()
    };
    let first = page(&engine, 0, Some("user_create"));
    assert_eq!(first.total, 7, "the first admin, five users and dora");
    let names: Vec<&str> = first.items.iter().map(|e| e.detail["user"].as_str().unwrap()).collect();
    assert_eq!(names, ["dora", "user4"], "newest first");
    assert!(first.items[0].seq > first.items[1].seq);
    assert!(first.actions.contains(&"user_create".to_string()) && first.actions.contains(&"audit_view".to_string()));
    // Turning pages does not add to the log; a new reading (first page) does, once.
    let views = |engine: &Gabarit| page(engine, 0, Some("audit_view")).total;
    let before = views(&engine);
    page(&engine, 2, Some("user_create"));
    page(&engine, 4, Some("user_create"));
    assert_eq!(views(&engine), before + 1, "only the reading of the first page (this count's own) is recorded");
    // One day is a period (from and to the same date), filtered by actor as well as action:
    // the admin created dora that day, dora created nobody.
    let day = first.items[0].at[..10].to_string();
    let by = |engine: &Gabarit, actor: &str| {
        let q = AuditQuery {
            from: Some(day.clone()),
            to: Some(day.clone()),
            action: Some("user_create".into()),
            actor: Some(actor.into()),
            limit: 10,
            ..Default::default()
        };
        engine.audit_browse(&dora, &q).unwrap()
    };
    let by_admin = by(&engine, "admin");
    assert!(by_admin.items.iter().all(|e| e.actor == "admin"), "{:?}", by_admin.items);
    assert!(by_admin.items.iter().any(|e| e.detail["user"] == "dora"), "{:?}", by_admin.items);
    assert_eq!(by(&engine, "dora").total, 0);
    // Oldest first on demand.
    let q = AuditQuery { limit: 1, action: Some("user_create".into()), oldest_first: true, ..Default::default() };
    assert_eq!(engine.audit_browse(&dora, &q).unwrap().items[0].detail["user"], "admin");
    // A period that ends before it starts is refused with what to do.
    let q =
        AuditQuery { from: Some("2026-12-31".into()), to: Some("2026-01-01".into()), limit: 10, ..Default::default() };
    match engine.audit_browse(&dora, &q) {
        Err(Error::InvalidField { field, problem }) => {
            assert_eq!(field, "from");
            assert!(problem.contains("starts (2026-12-31) after it ends (2026-01-01)"), "{problem}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_checkpoint_file_holds_the_checkpoint_that_verifies_the_chain() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin) = crate::data_dir(dir.path());
    let dora = crate::user(&engine, &admin, "dora", Role::Dpo, &[]);
    let checkpoint = engine.audit_anchor(&dora).unwrap();
    let anchors = dir.path().join("anchors");
    let path = governed::write_checkpoint_file(&anchors, &checkpoint).unwrap();
    let stamp: String = checkpoint.at.chars().filter(char::is_ascii_alphanumeric).collect();
    assert_eq!(path, anchors.join(format!("audit-checkpoint-{stamp}.json")));
    let mode = |p: &std::path::Path| fs_err::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!((mode(&anchors), mode(&path)), (0o700, 0o600));
    let read: governed::Checkpoint = serde_json::from_str(&fs_err::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(read, checkpoint);
    let (entries, broken) = engine.audit_verify(&dora, Some(&read)).unwrap();
    assert_eq!((entries as u64, broken.is_none()), (checkpoint.entries, true));
}

/// The entries of `action` in the log, oldest first.
pub fn entries_of(log: &[gabarit_governance::audit::Entry], action: &str) -> Vec<serde_json::Value> {
    log.iter().filter(|e| e.action == action).map(|e| e.detail.clone()).collect()
}

#[test]
fn the_audit_record_holds_what_each_change_and_search_must_say_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let kek = gabarit_crypto::Kek::generate().unwrap();
    let engine = Gabarit::open(Store::create(dir.path().join("data"), &kek).unwrap(), Some(crate::service()));
    let admin_key = engine.bootstrap_admin("admin").unwrap();
    let admin = engine.authenticate_key(&admin_key).unwrap();
    let as_user = |engine: &Gabarit, name: &str, roles: &[Role]| {
        let key = engine.add_user(&admin, name, roles).unwrap();
        (engine.authenticate_key(&key).unwrap(), key)
    };
    let (cur, _) = as_user(&engine, "cur", &[Role::Curator]);
    let (dpo, _) = as_user(&engine, "dora", &[Role::Dpo]);
    crate::new_collection(&engine, &cur, "press", &crate::buffalo_s());
    // A governance change: before and after.
    let mut changed = crate::governance();
    changed.purpose = Some("press archive and rights clearance".into());
    engine.update_collection(&cur, "press", &changed).unwrap();
    // Accounts: grants, a role change, keys issued and revoked, a password, a rotation.
    let (_, inv_key) = as_user(&engine, "inv", &[Role::Investigator]);
    let (_, rita_key) = as_user(&engine, "rita", &[Role::Reviewer]);
    let (_, raoul_key) = as_user(&engine, "raoul", &[Role::Reviewer]);
    for u in ["inv", "rita", "raoul"] {
        engine.grant(&admin, u, "press").unwrap();
    }
    engine.set_roles(&admin, "raoul", &[Role::Reviewer, Role::Curator]).unwrap();
    engine.set_roles(&admin, "raoul", &[Role::Reviewer]).unwrap();
    let second = engine.issue_key(&admin, "inv").unwrap();
    let second_prefix = second.split('_').nth(1).unwrap().to_string();
    engine.revoke_key(&admin, "inv", &second_prefix).unwrap();
    engine.set_password(&admin, "rita", "a long enough password").unwrap();
    let new_kek = gabarit_crypto::Kek::generate().unwrap();
    engine.rotate_keys(&admin, &kek, &new_kek).unwrap();
    // A search, and its review by two people.
    let inv = engine.authenticate_key(&inv_key).unwrap();
    let opts = crate::ingest_options("press", vec![crate::sample("obama2.jpg")]);
    engine.ingest(&cur, &opts, &mut |_| {}).unwrap();
    let photo = crate::sample("obama.jpg");
    let search_opts = crate::search_options(None, 30);
    let found = engine.search(&inv, "CASE-12", "identify", &photo, &search_opts).unwrap();
    assert_eq!(found.candidate_ids.len(), 1);
    for key in [&rita_key, &raoul_key] {
        let reviewer = engine.authenticate_key(key).unwrap();
        engine.review(&reviewer, found.candidate_ids[0], true).unwrap();
    }
    let request = engine.open_request(&dpo, "access", "R-1", "ID card", "2026-11-30").unwrap();

    let log = engine.audit_export(&dpo, None, None).unwrap();
    let one = |action: &str| {
        let all = entries_of(&log, action);
        assert!(!all.is_empty(), "no {action} entry");
        all
    };
    // A governance change says what it was and what it became.
    let update = &one("collection_update")[0];
    assert_eq!(update["collection"], "press");
    assert_eq!(update["before"]["purpose"], "press archive");
    assert_eq!(update["after"]["purpose"], "press archive and rights clearance");
    // Accounts: who, what, before and after; keys by prefix only.
    let grants: Vec<String> = one("grant").iter().map(|g| format!("{}:{}", g["user"], g["collection"])).collect();
    assert_eq!(grants, [r#""inv":"press""#, r#""rita":"press""#, r#""raoul":"press""#]);
    let roles = one("role_change");
    assert_eq!(
        (roles[0]["user"].clone(), roles[0]["before"].clone()),
        ("raoul".into(), serde_json::json!(["reviewer"]))
    );
    assert_eq!(roles[0]["after"], serde_json::json!(["reviewer", "curator"]));
    assert_eq!(roles[1]["after"], serde_json::json!(["reviewer"]));
    let issued = one("key_issue");
    assert!(issued.iter().any(|k| k["user"] == "inv" && k["key"] == second_prefix.as_str()), "{issued:?}");
    assert_eq!(one("key_revoke")[0], serde_json::json!({"user": "inv", "key": second_prefix}));
    assert_eq!(one("user_password_set")[0]["user"], "rita");
    let rotation = &one("keys_rotate")[0];
    assert_eq!(
        (rotation["old_kek_id"].as_str(), rotation["new_kek_id"].as_str()),
        (Some(kek.id()), Some(new_kek.id()))
    );
    // A search (AI Act art. 12(3)): (a) its period of use, (b) the reference database searched,
    // (c) the input (its content hash, never the image), the candidates returned, the case and
    // purpose; (d) who verified the results: the reviewers' entries.
    let search = &one("search")[0];
    assert_eq!(search["search"], found.search_id);
    assert_eq!((search["case"].as_str(), search["purpose"].as_str()), (Some("CASE-12"), Some("identify")));
    let (from, to) = (search["period"]["from"].as_str().unwrap(), search["period"]["to"].as_str().unwrap());
    assert!(from.parse::<jiff::Timestamp>().unwrap() <= to.parse::<jiff::Timestamp>().unwrap());
    assert_eq!(search["collections"], serde_json::json!(["press"]));
    assert_eq!(search["gallery_size"], found.result.gallery_size);
    let sha = gabarit_media::sha256_hex(&fs_err::read(&photo).unwrap());
    assert_eq!(search["input_sha256"], sha.as_str());
    assert_eq!(search["candidates"][0]["candidate"], found.candidate_ids[0]);
    assert_eq!(search["candidates"][0]["face"], found.result.candidates[0].face_id);
    assert!(search["via"]["api_key"]["prefix"].is_string());
    let verified: Vec<(String, bool)> = log
        .iter()
        .filter(|e| e.action == "candidate_confirm")
        .map(|e| (e.actor.clone(), e.detail["confirmed"].as_bool().unwrap()))
        .collect();
    assert_eq!(verified, [("rita".to_string(), false), ("raoul".to_string(), true)]);
    let opened = &one("rights_request_open")[0];
    assert_eq!((opened["request"].as_u64(), opened["kind"].as_str()), (Some(request.id), Some("access")));
    // No secret in the record: no API key, no password, no key-encryption key.
    let text = serde_json::to_string(&log).unwrap();
    for secret in [&admin_key, &inv_key, &rita_key, &raoul_key, &second] {
        let secret_part = secret.rsplit('_').next().unwrap();
        assert!(!text.contains(secret_part), "an API key's secret is in the audit record");
    }
    assert!(!text.contains("a long enough password"));
}
