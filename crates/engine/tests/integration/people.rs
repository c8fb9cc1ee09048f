//! People: grouping a collection's faces by person on real photos, where its governance
//! allows it; corrections that survive later runs after more ingestion; grouping off erases
//! every trace.

use std::path::Path;

use gabarit_engine::grouping::{GroupingReport, PeopleQuery};
use gabarit_engine::people::GroupingAfterIngest;
use gabarit_engine::{Caller, Gabarit};
use gabarit_governance::{GovernanceDraft, PurposeCategory, Role};

use crate::{data_dir, governance, ingest_options, sample, user};

/// Copies a sample into `dir`, mirrored or scaled when asked: another photo of the same face
/// (other bytes, other template).
fn photo(dir: &Path, name: &str, variant: &str) {
    let src = sample(name);
    let out = dir.join(format!("{variant}-{name}"));
    let img = image::open(&src).unwrap();
    let img = match variant {
        "mirror" => img.fliph(),
        "small" => img.resize(img.width() * 7 / 10, img.height() * 7 / 10, image::imageops::FilterType::Triangle),
        _ => img,
    };
    img.to_rgb8().save_with_format(&out, image::ImageFormat::Jpeg).unwrap();
}

/// Ingests `dir` into press; the grouping that followed, where press groups faces.
fn ingest(engine: &Gabarit, who: &Caller, dir: &Path) -> Option<GroupingAfterIngest> {
    engine.ingest(who, &ingest_options("press", vec![dir.to_path_buf()]), &mut |_| {}).unwrap().grouping
}

/// The report of the grouping that followed an ingestion.
fn grouped(after: Option<GroupingAfterIngest>) -> GroupingReport {
    match after {
        Some(GroupingAfterIngest::Ran(r)) => r,
        other => panic!("the ingestion did not group: {other:?}"),
    }
}

/// The person of each face, by face id.
fn person_of(engine: &Gabarit, who: &Caller) -> std::collections::BTreeMap<u64, u64> {
    let mut out = std::collections::BTreeMap::new();
    for p in engine.list_people(who, "press", Default::default()).unwrap().items {
        for a in engine.show_person(who, p.id).unwrap().members {
            out.insert(a.face_id, p.id);
        }
    }
    out
}

/// Faces of a photo's file name (as ingested) by face id.
fn faces_of(engine: &Gabarit, who: &Caller, file: &str) -> Vec<u64> {
    let sha = gabarit_media::sha256_hex(&fs_err::read(file).unwrap());
    let records = engine.records_of_content(who, &sha).unwrap();
    records.iter().flat_map(|r| r["faces"].as_array().unwrap().iter().map(|f| f["face_id"].as_u64().unwrap())).collect()
}

#[test]
fn corrections_survive_a_later_run_after_more_photos_and_grouping_off_erases_every_trace() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin) = data_dir(dir.path());
    let curator = user(&engine, &admin, "cur", Role::Curator, &[]);
    // Event photos may not be grouped; off is the default and groups nothing.
    let events =
        GovernanceDraft { purpose_category: Some(PurposeCategory::EventPhotos), grouping: true, ..governance() };
    let refused = engine.create_collection(
        &curator,
        "events",
        "",
        &events,
        &crate::buffalo_s(),
        gabarit_inference::EngineFamily::ORT_F32,
    );
    assert!(refused.unwrap_err().to_string().contains("grouping"));
    crate::new_collection(&engine, &curator, "press", &crate::buffalo_s());
    let off = engine.group_people(&curator, "press", &mut |_| {}).unwrap_err();
    assert!(off.to_string().contains("grouping is off"), "{off}");
    engine.update_collection(&curator, "press", &GovernanceDraft { grouping: true, ..governance() }).unwrap();

    let first = dir.path().join("first");
    fs_err::create_dir_all(&first).unwrap();
    for (name, variant) in [
        ("obama.jpg", "plain"),
        ("obama2.jpg", "plain"),
        ("obama3.jpg", "plain"),
        ("biden.jpg", "plain"),
        ("biden.jpg", "mirror"),
        ("biden.jpg", "small"),
    ] {
        photo(&first, name, variant);
    }
    // Ingestion groups the new faces by itself where the governance says so.
    let run = grouped(ingest(&engine, &curator, &first));
    assert_eq!((run.faces, run.searched, run.persons, run.new_persons), (6, 6, 2, 2), "{run:?}");
    let obama: Vec<u64> = ["plain-obama.jpg", "plain-obama2.jpg", "plain-obama3.jpg"]
        .iter()
        .flat_map(|f| faces_of(&engine, &curator, first.join(f).to_str().unwrap()))
        .collect();
    let biden: Vec<u64> = ["plain-biden.jpg", "mirror-biden.jpg", "small-biden.jpg"]
        .iter()
        .flat_map(|f| faces_of(&engine, &curator, first.join(f).to_str().unwrap()))
        .collect();
    assert_eq!((obama.len(), biden.len()), (3, 3), "one face per photo");

    let run = engine.group_people(&curator, "press", &mut |_| {}).unwrap();
    assert_eq!((run.faces, run.searched, run.persons, run.new_persons), (6, 0, 2, 0), "nothing new: {run:?}");
    let before = person_of(&engine, &curator);
    let (o, b) = (before[&obama[0]], before[&biden[0]]);
    assert_ne!(o, b);
    assert!(obama.iter().all(|f| before[f] == o) && biden.iter().all(|f| before[f] == b), "{before:?}");

    // Corrections: obama3 is not this person; the two persons are one (a merge the faces
    // alone would never make); the merged person gets a name.
    assert_eq!(engine.not_person(&curator, obama[2]).unwrap(), o);
    engine.merge_people(&curator, o, b).unwrap();
    engine.name_person(&curator, o, Some("Personne témoin")).unwrap();
    let merged: Vec<u64> = obama[..2].iter().chain(&biden).copied().collect();
    let check = |when: &str| {
        let now = person_of(&engine, &curator);
        assert!(merged.iter().all(|f| now.get(f) == Some(&o)), "{when}: merge lost: {now:?}");
        assert_ne!(now.get(&obama[2]), Some(&o), "{when}: 'not this person' lost: {now:?}");
        let p = engine
            .list_people(&curator, "press", Default::default())
            .unwrap()
            .items
            .into_iter()
            .find(|p| p.id == o)
            .unwrap();
        assert_eq!(p.label.as_deref(), Some("Personne témoin"), "{when}");
        now
    };
    check("after the corrections");

    // More photos: more of both, and other people.
    let second = dir.path().join("second");
    fs_err::create_dir_all(&second).unwrap();
    for (name, variant) in [
        ("obama3.jpg", "mirror"),
        ("obama2.jpg", "small"),
        ("obama.jpg", "mirror"),
        ("players.jpg", "plain"),
        ("yaoming.jpg", "plain"),
    ] {
        photo(&second, name, variant);
    }
    let run = grouped(ingest(&engine, &curator, &second));
    assert!(run.faces > 9, "{run:?}");
    assert_eq!(run.searched, run.faces - 6, "only the new faces are searched: {run:?}");
    let now = check("after a run over more photos");
    // The mirrored obama3 and obama3 are alike: with obama3 kept apart from the person, they
    // may make a person of their own, never the merged one.
    let mirrored3 = faces_of(&engine, &curator, second.join("mirror-obama3.jpg").to_str().unwrap());
    assert_eq!(mirrored3.len(), 1);
    // A run with nothing new searches nothing and changes nothing.
    let again = engine.group_people(&curator, "press", &mut |_| {}).unwrap();
    assert_eq!(again.searched, 0);
    assert_eq!(person_of(&engine, &curator), now);

    // Pages: two at a time, they list every person once, in the order of one long page;
    // the named filter finds the one named person; the limit is bounded.
    let page = |offset, limit, named_only| {
        engine.list_people(&curator, "press", PeopleQuery { offset, limit, named_only }).unwrap()
    };
    let all = page(0, 1000, false);
    assert!(all.total >= 3 && all.items.len() as u64 == all.total, "{all:?}");
    assert!(all.items.windows(2).all(|w| w[0].faces >= w[1].faces), "most faces first");
    let mut paged = Vec::new();
    for offset in (0..all.total as usize + 2).step_by(2) {
        let p = page(offset, 2, false);
        assert_eq!((p.total, p.offset, p.limit), (all.total, offset, 2));
        assert!(p.items.len() <= 2);
        paged.extend(p.items);
    }
    assert_eq!(paged, all.items);
    let named = page(0, 50, true);
    assert_eq!((named.total, named.items.len()), (1, 1));
    assert_eq!((named.items[0].id, named.items[0].label.as_deref()), (o, Some("Personne témoin")));
    assert_eq!(page(0, 1_000_000, false).limit, 1000);
    assert_eq!(page(0, 0, false).items.len(), 1);
    // By name: a part of it, letter case and accents aside; nothing else; the text bounded.
    let find = |name: &str| engine.find_people(&curator, "press", name, PeopleQuery::default());
    for text in ["témoin", "TEMOIN", "sonne té", "Personne Témoin"] {
        let found = find(text).unwrap();
        assert_eq!((found.total, found.items.iter().map(|p| p.id).collect::<Vec<_>>()), (1, vec![o]), "{text}");
    }
    assert_eq!(find("témoins").unwrap().total, 0);
    for refused in ["  ", &"x".repeat(201)] {
        assert_eq!(find(refused).unwrap_err().invalid_field(), Some("name"), "{refused:?}");
    }

    // The label is personal data: never in the audit log.
    let (entries, _) = engine.audit_verify(&admin_dpo(&engine, &admin), None).unwrap();
    assert!(entries > 0);
    for file in ["catalog.db", "catalog.db-wal"] {
        let bytes = fs_err::read(dir.path().join("data").join(file)).unwrap_or_default();
        assert!(!contains(&bytes, "Personne témoin".as_bytes()), "{file}: the label is stored sealed");
    }

    // Grouping off: every person, label, mark and pair goes.
    engine.update_collection(&curator, "press", &governance()).unwrap();
    assert!(
        engine.list_people(&curator, "press", Default::default()).unwrap_err().to_string().contains("grouping is off")
    );
    let db = rusqlite::Connection::open(dir.path().join("data/catalog.db")).unwrap();
    for table in ["persons", "person_faces", "person_not", "grouping_pairs", "grouping_searched", "groupings"] {
        let n: i64 = db.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap();
        assert_eq!(n, 0, "{table}");
    }
}

fn admin_dpo(engine: &Gabarit, admin: &Caller) -> Caller {
    user(engine, admin, "dora", Role::Dpo, &[])
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_request_extends_to_a_reviewed_person_and_erasure_leaves_no_trace_of_its_group() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin) = data_dir(dir.path());
    let curator = user(&engine, &admin, "cur", Role::Curator, &[]);
    let dpo = admin_dpo(&engine, &admin);
    let grouped = GovernanceDraft { grouping: true, ..governance() };
    engine
        .create_collection(
            &curator,
            "press",
            "",
            &grouped,
            &crate::buffalo_s(),
            gabarit_inference::EngineFamily::ORT_F32,
        )
        .unwrap();
    let photos = dir.path().join("photos");
    fs_err::create_dir_all(&photos).unwrap();
    for name in ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"] {
        photo(&photos, name, "plain");
    }
    ingest(&engine, &curator, &photos);
    engine.group_people(&curator, "press", &mut |_| {}).unwrap();
    let person = engine.list_people(&curator, "press", Default::default()).unwrap().items.remove(0);
    assert_eq!(person.faces, 3, "{person:?}");
    engine.name_person(&curator, person.id, Some("Nom sensible")).unwrap();
    let db = rusqlite::Connection::open(dir.path().join("data/catalog.db")).unwrap();
    let sealed: Vec<u8> =
        db.query_row("SELECT label FROM persons WHERE id = ?1", [person.id as i64], |r| r.get(0)).unwrap();
    drop(db);

    // At 0.99 the request photo matches only its own copy; the report names the person and
    // the faces it did not reach.
    let request = engine.open_request(&dpo, "erasure", "R-1", "ID card", "2026-11-02").unwrap().id;
    let photo = sample("obama.jpg");
    let (plan, _) = engine.erase(&dpo, request, &photo, (Some(0.99), &[]), None).unwrap();
    assert_eq!(plan.matches.len(), 1);
    assert_eq!(plan.matches[0].person, Some(person.id));
    assert_eq!(plan.persons.len(), 1);
    let reached = &plan.persons[0];
    assert_eq!(
        (reached.person, reached.faces, reached.matched, reached.not_matched.len(), reached.extended),
        (person.id, 3, 1, 2, false)
    );
    // A person the photo did not reach cannot be named.
    let stranger = engine.erase(&dpo, request, &photo, (Some(0.99), &[person.id + 1000]), None).unwrap_err();
    assert!(stranger.to_string().contains("person"), "{stranger}");
    // Extended after review: the three faces, then erased.
    let (plan, _) = engine.erase(&dpo, request, &photo, (Some(0.99), &[person.id]), None).unwrap();
    assert_eq!(plan.matches.len(), 3);
    assert_eq!(plan.matches.iter().filter(|m| m.via_person).count(), 2);
    let (_, deleted) = engine.erase(&dpo, request, &photo, (Some(0.99), &[person.id]), Some(3)).unwrap();
    let deleted = deleted.unwrap();
    assert_eq!((deleted.faces, deleted.templates, deleted.persons), (3, 3, 1));

    // Every trace of the group is gone: rows, and the sealed name's bytes from the files.
    assert!(engine.show_person(&curator, person.id).is_err());
    let db = rusqlite::Connection::open(dir.path().join("data/catalog.db")).unwrap();
    for (table, expected) in
        [("persons", 0), ("person_faces", 0), ("person_not", 0), ("grouping_pairs", 0), ("grouping_searched", 1)]
    {
        let n: i64 = db.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0)).unwrap();
        assert_eq!(n, expected, "{table}: only biden's face is left");
    }
    drop(db);
    for file in ["catalog.db", "catalog.db-wal"] {
        let bytes = fs_err::read(dir.path().join("data").join(file)).unwrap_or_default();
        assert!(!contains(&bytes, &sealed), "{file} still holds the sealed name");
    }
}
