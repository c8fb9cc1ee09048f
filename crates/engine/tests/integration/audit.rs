//! Reading the audit log as a DPO does in the web UI: newest first, filtered by an action the
//! log holds, a reversed period refused with what to do, and the reading on the record once
//! (its first page), not once per page turned.

use gabarit_engine::auth::{authenticate_key, bootstrap_admin};
use gabarit_engine::governed::{AuditQuery, audit_browse};
use gabarit_engine::store::Store;
use gabarit_engine::{Error, accounts};
use gabarit_governance::Role;

#[test]
fn the_audit_log_reads_newest_first_by_page_and_each_reading_is_recorded_once() {
    let dir = tempfile::tempdir().unwrap();
    let kek = gabarit_crypto::Kek::generate().unwrap();
    let mut store = Store::create(&dir.path().join("data"), &kek).unwrap();
    let admin_key = bootstrap_admin(&mut store, "admin").unwrap();
    let admin = authenticate_key(&store, &admin_key).unwrap();
    for i in 0..5 {
        accounts::add_user(&mut store, &admin, &format!("user{i}"), &[Role::Reviewer]).unwrap();
    }
    let dpo_key = accounts::add_user(&mut store, &admin, "dora", &[Role::Dpo]).unwrap();
    let dora = authenticate_key(&store, &dpo_key).unwrap();

    let page = |store: &mut Store, offset: usize, action: Option<&str>| {
        let q = AuditQuery { offset, limit: 2, action: action.map(str::to_string), ..Default::default() };
        audit_browse(store, &dora, &q).unwrap()
    };
    let first = page(&mut store, 0, Some("user_create"));
    assert_eq!(first.total, 7, "the first admin, five users and dora");
    let names: Vec<&str> = first.items.iter().map(|e| e.detail["user"].as_str().unwrap()).collect();
    assert_eq!(names, ["dora", "user4"], "newest first");
    assert!(first.items[0].seq > first.items[1].seq);
    assert!(first.actions.contains(&"user_create".to_string()) && first.actions.contains(&"audit_view".to_string()));
    // Turning pages does not add to the log; a new reading (first page) does, once.
    let views = |store: &mut Store| page(store, 0, Some("audit_view")).total;
    let before = views(&mut store);
    page(&mut store, 2, Some("user_create"));
    page(&mut store, 4, Some("user_create"));
    assert_eq!(views(&mut store), before + 1, "only the reading of the first page (this count's own) is recorded");
    // Oldest first on demand.
    let q = AuditQuery { limit: 1, action: Some("user_create".into()), oldest_first: true, ..Default::default() };
    assert_eq!(audit_browse(&mut store, &dora, &q).unwrap().items[0].detail["user"], "admin");
    // A period that ends before it starts is refused with what to do.
    let q =
        AuditQuery { from: Some("2026-12-31".into()), to: Some("2026-01-01".into()), limit: 10, ..Default::default() };
    match audit_browse(&mut store, &dora, &q) {
        Err(Error::Invalid(m)) => assert!(m.contains("starts (2026-12-31) after it ends (2026-01-01)"), "{m}"),
        other => panic!("{other:?}"),
    }
}
