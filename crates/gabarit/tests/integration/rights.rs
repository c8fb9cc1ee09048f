//! Rights by face: access, erasure (bytes gone from the files), objection (blocks
//! re-ingestion and hides from search), retention with an injectable clock, art. 30 record.

use std::path::{Path, PathBuf};

use crate::catalog::{Backend, GOVERNANCE, as_user, new_collection, raw_catalog_of, search_json, storage_of};
use crate::{run, sample};

fn ok(cmd: &mut std::process::Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn folder(dir: &Path, name: &str, photos: &[&str]) -> PathBuf {
    let g = dir.join(name);
    fs_err::create_dir_all(&g).unwrap();
    for n in photos {
        fs_err::copy(sample(n), g.join(n)).unwrap();
    }
    g
}

pub fn open_request(data: &Path, kind: &str) -> u64 {
    let out = ok(as_user(data, "dora").args([
        "rights",
        "open",
        "--kind",
        kind,
        "--requester",
        "REQ-2026-042",
        "--verification",
        "ID document checked at the desk",
        "--received",
        "2026-11-20",
    ]));
    assert!(out.contains("due by 2026-12-20"), "one month to answer: {out}");
    out.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn access_json(data: &Path, dir: &Path, request: u64) -> serde_json::Value {
    let out_dir = dir.join("reports");
    ok(as_user(data, "dora")
        .args(["rights", "access", &request.to_string()])
        .arg(sample("obama.jpg"))
        .arg("--out")
        .arg(&out_dir));
    let html = fs_err::read_to_string(out_dir.join(format!("access-{request}.html"))).unwrap();
    assert!(html.contains("REQ-2026-042") && html.contains("id=\"matches\""));
    let report: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(out_dir.join(format!("access-{request}.json"))).unwrap()).unwrap();
    if !report["matches"].as_array().unwrap().is_empty() {
        // The page holds what art. 15 lists, as a person reads it.
        for needle in [
            "Commission nationale de l'informatique et des libertés (CNIL)",
            "<a href=\"https://www.cnil.fr\">",
            "3650 days after ingestion",
            "the legitimate interests pursued by the controller (GDPR art. 6(1)(f))",
            "inv (investigator: searches the collection)",
            "Categories of personal data",
            "Your rights",
            "(GDPR art. 17)",
            "Automated matching",
        ] {
            assert!(html.contains(needle), "{needle:?} not in the HTML report:\n{html}");
        }
    }
    report
}

#[test]
fn access_then_erasure_then_access_finds_nothing_and_the_bytes_are_gone() {
    access_erasure_access(Backend::Directory);
}

#[test]
fn on_postgresql_access_then_erasure_then_access_finds_nothing_and_the_bytes_are_gone() {
    access_erasure_access(Backend::Postgres);
}

fn access_erasure_access(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = backend.place(&data);
    let storage = storage_of(&data, server.as_ref());
    new_collection(&data, "press");
    ok(as_user(&data, "cur").args(["collection", "create", "events"]).args(GOVERNANCE));
    ok(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "press"]).arg(folder(
        dir.path(),
        "a",
        &["obama2.jpg", "players.jpg"],
    )));
    ok(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "events"]).arg(folder(
        dir.path(),
        "b",
        &["obama3.jpg", "biden.jpg"],
    )));
    // Access: both collections are searched exhaustively; the report carries the legal fields.
    let access = open_request(&data, "access");
    let report = access_json(&data, dir.path(), access);
    let matches = report["matches"].as_array().unwrap();
    let mut collections: Vec<&str> = matches.iter().map(|m| m["collection"].as_str().unwrap()).collect();
    collections.sort();
    assert_eq!(collections, vec!["events", "press"], "obama2 in press, obama3 in events: {report}");
    assert_eq!(matches[0]["governance"]["legal_basis"], "legitimate_interests");
    assert_eq!(matches[0]["governance"]["retention"]["days"], 3650);
    assert!(matches.iter().all(|m| m["captured_at"].is_string()));
    // And, per collection, what GDPR art. 15(1) gives the person.
    let notice = |name: &str| {
        report["collections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["collection"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no art. 15 section for {name}: {report}"))
    };
    let (press, events) = (notice("press"), notice("events"));
    assert_eq!(press["faces"], 1);
    assert_eq!(press["purpose_category"], "archive");
    assert_eq!(press["condition"], "archiving");
    assert_eq!(press["controller_contact"], "dpo@agence.example");
    assert_eq!(press["retention"]["days"], 3650);
    assert_eq!(press["retention_text"], "3650 days after ingestion", "the retention as a person reads it");
    let fr = &press["jurisdictions"][0];
    assert_eq!(fr["code"], "FR");
    assert_eq!(fr["authority"]["name"], "Commission nationale de l'informatique et des libertés (CNIL)");
    assert_eq!(fr["authority"]["website"], "https://www.cnil.fr");
    let recipients = |c: &serde_json::Value| -> Vec<String> {
        c["recipients"].as_array().unwrap().iter().map(|r| format!("{} {}", r["name"], r["roles"])).collect()
    };
    assert_eq!(
        recipients(&press),
        [r#""cur" ["curator"]"#, r#""dora" ["dpo"]"#, r#""inv" ["investigator"]"#],
        "the investigator granted press, the curators and the DPOs; not the reviewers it is not granted to, nor the admin: {press}"
    );
    assert!(!recipients(&events).iter().any(|r| r.contains("inv")), "inv is not granted events: {events}");
    let categories: Vec<&str> =
        press["data_categories"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
    assert_eq!(categories, ["photographs", "face_templates", "face_positions", "exif"]);
    let rights: Vec<&str> =
        report["subject_rights"].as_array().unwrap().iter().map(|r| r["right"].as_str().unwrap()).collect();
    assert_eq!(rights, ["rectification", "erasure", "restriction", "objection"]);
    assert!(report["automated_matching"].as_str().unwrap().contains("reviewed by people"), "{report}");
    let face_ids: Vec<u64> = matches.iter().map(|m| m["face_id"].as_u64().unwrap()).collect();
    // The stored bytes of those templates, to look for after erasure.
    let mut doomed = Vec::new();
    raw_catalog_of(&data)
        .templates(|t| {
            if face_ids.contains(&t.face_id) {
                doomed.push(t.vector.iter().map(|v| *v as u8).collect::<Vec<u8>>());
            }
        })
        .unwrap();
    assert_eq!(doomed.len(), 2);
    for bytes in &doomed {
        assert!(!crate::files_containing(&storage, bytes).is_empty(), "the template is on disk before erasure");
    }
    // Erasure: first the list, then the confirmed deletion.
    let erasure = open_request(&data, "erasure");
    let plan = ok(as_user(&data, "dora").args(["rights", "erase", &erasure.to_string()]).arg(sample("obama.jpg")));
    assert!(plan.contains("--confirm 2") && plan.contains("nothing deleted yet"), "{plan}");
    let wrong = run(as_user(&data, "dora")
        .args(["rights", "erase", &erasure.to_string(), "--confirm", "5"])
        .arg(sample("obama.jpg")));
    assert_eq!(wrong.status.code(), Some(2), "a confirmation that does not match the list is refused");
    let done = ok(as_user(&data, "dora")
        .args(["rights", "erase", &erasure.to_string(), "--confirm", "2"])
        .arg(sample("obama.jpg")));
    assert!(done.contains("2 face(s), 2 image(s)"), "{done}");
    // The same access request now finds nothing; other people are still there.
    let again = access_json(&data, dir.path(), open_request(&data, "access"));
    assert!(again["matches"].as_array().unwrap().is_empty(), "{again}");
    assert_eq!(again["templates_searched"], 23, "players (22) and biden (1) remain");
    for bytes in &doomed {
        let left = crate::files_containing(&storage, bytes);
        assert!(left.is_empty(), "erased template bytes still in {left:?}");
        let offset: Vec<u8> = bytes.iter().map(|b| b.wrapping_add(128)).collect();
        assert!(crate::files_containing(&storage, &offset).is_empty());
    }
    // Only the dpo handles rights; everything is in the audit log.
    assert_eq!(run(as_user(&data, "inv").args(["rights", "list"])).status.code(), Some(2));
    let audit = ok(as_user(&data, "dora").args(["audit", "export"]));
    assert!(audit.contains("\"rights_erasure\"") && audit.contains("\"rights_access\""));
    assert!(ok(as_user(&data, "dora").args(["audit", "verify"])).contains("intact"));
}

#[test]
fn an_objection_blocks_re_ingestion_and_hides_from_search() {
    objection_blocks_and_hides(Backend::Directory);
}

#[test]
fn on_postgresql_an_objection_blocks_re_ingestion_and_hides_from_search() {
    objection_blocks_and_hides(Backend::Postgres);
}

fn objection_blocks_and_hides(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _server = backend.place(&data);
    new_collection(&data, "press");
    ok(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "press"]).arg(folder(
        dir.path(),
        "a",
        &["obama2.jpg", "gdp.jpg"],
    )));
    assert_eq!(search_json(&data, &sample("obama.jpg"), &[])["candidates"].as_array().unwrap().len(), 1);
    let objection = open_request(&data, "objection");
    ok(as_user(&data, "dora").args(["rights", "object", &objection.to_string()]).arg(sample("obama.jpg")));
    // Search never returns the person again.
    assert!(search_json(&data, &sample("obama.jpg"), &[])["candidates"].as_array().unwrap().is_empty());
    // Re-ingesting photos of the person stores no face of theirs.
    let report = dir.path().join("report.json");
    ok(as_user(&data, "cur")
        .args(["ingest", "--quiet", "--collection", "press", "--report"])
        .arg(&report)
        .arg(folder(dir.path(), "b", &["obama3.jpg", "obama.jpg", "biden.jpg"])));
    let r: serde_json::Value = serde_json::from_str(&fs_err::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["suppressed_by_objection"], 2, "{r}");
    assert_eq!(r["faces"], 1, "only biden's face is stored: {r}");
    let held: serde_json::Value =
        serde_json::from_str(&ok(as_user(&data, "cur").args(["faces-of", "--json"]).arg(sample("obama3.jpg"))))
            .unwrap();
    assert_eq!(held[0]["faces"], serde_json::json!([]), "the photo is held, its face is not: {held}");
}

#[test]
fn retention_deletes_on_time_with_an_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    ok(as_user(&data, "cur").args(["collection", "update", "press", "--retention-days", "30"]));
    ok(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "press"]).arg(folder(
        dir.path(),
        "a",
        &["obama2.jpg", "biden.jpg"],
    )));
    let at = |days: i64| (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * days)).to_string();
    let out = ok(as_user(&data, "dora").args(["retention", "run", "--now", &at(29)]));
    assert!(out.contains("nothing has expired"), "{out}");
    assert_eq!(search_json(&data, &sample("obama.jpg"), &[])["gallery_size"], 2);
    let out = ok(as_user(&data, "dora").args(["retention", "run", "--now", &at(31)]));
    assert!(out.contains("press: 2 image(s), 2 face(s), 2 template(s) deleted"), "{out}");
    assert_eq!(search_json(&data, &sample("obama.jpg"), &[])["gallery_size"], 0);
    assert_eq!(
        run(as_user(&data, "cur").args(["retention", "run"])).status.code(),
        Some(2),
        "only the dpo runs retention"
    );
}

#[test]
fn the_record_of_processing_lists_basis_counts_recipients_and_requests() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    open_request(&data, "access");
    let out = ok(as_user(&data, "dora").args(["report", "processing"]));
    assert!(out.contains("## press"), "{out}");
    assert!(
        out.contains("GDPR art. 6(1)(f) legitimate_interests") && out.contains("GDPR art. 9(2)(j) archiving"),
        "{out}"
    );
    assert!(out.contains("inv (investigator)") && out.contains("DPIA-2026-007"), "{out}");
    assert!(out.contains("access open: 1"), "{out}");
}
