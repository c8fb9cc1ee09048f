//! `gabarit people` and the `--grouping` governance flag, through the binary.

use crate::catalog::{GOVERNANCE, as_user, new_collection};
use crate::{run, sample};

fn text(out: &std::process::Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn people_are_grouped_after_ingestion_named_and_corrected_where_governance_allows() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    let cur = |args: &[&str]| run(as_user(&data, "cur").args(args));
    // Event photos may not group people: refused, naming the field, nothing created.
    let mut events: Vec<&str> = GOVERNANCE.to_vec();
    let at = events.iter().position(|a| *a == "--purpose-category").unwrap();
    events[at + 1] = "event_photos";
    let out =
        run(as_user(&data, "cur").args(["collection", "create", "gala"]).args(&events).args(["--grouping", "on"]));
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).1.contains("grouping"), "{:?}", text(&out));
    assert!(!text(&cur(&["collection", "list"])).0.contains("gala"));
    // Off by default: no people.
    let out = cur(&["people", "list", "press"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("grouping is off"), "{:?}", text(&out));
    assert!(cur(&["collection", "update", "press", "--grouping", "on"]).status.success());

    let gallery = dir.path().join("gallery");
    fs_err::create_dir_all(&gallery).unwrap();
    for n in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"] {
        fs_err::copy(sample(n), gallery.join(n)).unwrap();
    }
    let out = run(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "press"]).arg(&gallery));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("people: 4 faces in 1 persons (1 new; 4 faces searched now)"), "{stdout}");

    let list = |user: &str| -> Vec<serde_json::Value> {
        let out = run(as_user(&data, user).args(["people", "list", "press", "--json"]));
        assert!(out.status.success(), "{:?}", text(&out));
        let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let items = page["items"].as_array().unwrap().clone();
        assert_eq!(page["total"], items.len(), "one page holds them all: {page}");
        items
    };
    let persons = list("cur");
    assert_eq!(persons.len(), 1, "{persons:?}");
    assert_eq!(persons[0]["faces"], 3, "the three photos of one man: {persons:?}");
    let id = persons[0]["id"].as_u64().unwrap().to_string();
    // The investigator granted press sees them too; a reviewer may not.
    assert_eq!(list("inv").len(), 1);
    let out = run(as_user(&data, "rita").args(["people", "list", "press"]));
    assert_eq!(out.status.code(), Some(2));

    assert!(cur(&["people", "name", &id, "Personne A"]).status.success());
    let found = cur(&["people", "find", "press", "personne a", "--json"]);
    let found: serde_json::Value = serde_json::from_slice(&found.stdout).unwrap();
    assert_eq!((found["total"].as_u64(), found["items"][0]["id"].to_string()), (Some(1), id.clone()), "{found}");
    let show = cur(&["people", "show", &id, "--json"]);
    let view: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(view["label"], "Personne A");
    assert_eq!(view["confirmed"], 3);
    let face = view["members"][2]["face_id"].as_u64().unwrap().to_string();
    let out = cur(&["people", "not", &face]);
    assert!(out.status.success(), "{:?}", text(&out));
    // A run with nothing new keeps the correction.
    let out = cur(&["people", "group", "press", "--quiet", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["searched"], 0);
    let persons = list("cur");
    assert_eq!(persons[0]["faces"], 2, "{persons:?}");
    assert_eq!(persons[0]["label"], "Personne A");
    // Moving it back is accepted and drops the mark (the latest correction wins).
    assert!(cur(&["people", "move", &face, &id]).status.success());
    assert!(cur(&["people", "group", "press", "--quiet"]).status.success());
    assert_eq!(list("cur")[0]["faces"], 3);
    // Bad input: a person that does not exist, a label too long.
    let out = cur(&["people", "show", "999999"]);
    assert_eq!(out.status.code(), Some(2));
    let long = "x".repeat(201);
    let out = cur(&["people", "name", &id, &long]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("label"), "{:?}", text(&out));
    // The label is never in the audit log.
    let audit = run(as_user(&data, "dora").args(["audit", "export"]));
    assert!(audit.status.success(), "{:?}", text(&audit));
    assert!(!text(&audit).0.contains("Personne A"));
    assert!(text(&audit).0.contains("person_name"));
}
