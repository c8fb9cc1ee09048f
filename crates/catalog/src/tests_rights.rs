//! Rights requests, the erased-content register, suppression templates and physical erasure.

use std::path::Path;

use super::tests::{all, change, create, face, image, open_keyed, store, try_change};
use super::tests_stores::both;
use super::*;

fn open_request(cat: &mut Catalog, kind: &str, requester: &str) -> RightsRequest {
    change(cat, |tx| tx.open_request(kind, requester, "ID card", "2026-01-05", "2026-02-05", "dpo"))
}

/// Whether `file` holds `marker` anywhere (a missing file holds nothing).
fn holds(file: &Path, marker: &[u8]) -> bool {
    fs_err::read(file).map(|b| b.windows(marker.len()).any(|w| w == marker)).unwrap_or(false)
}

/// An image whose content hash is `sha` and whose path does not repeat it (the ingestion job's
/// record of the file, which keeps its path, is not what an erasure deletes).
fn hashed_image(sha: &str, uri: &str, faces: Vec<NewFace>) -> BatchItem {
    let BatchItem::Image(mut img) = image(sha, faces) else { unreachable!() };
    img.uri = uri.into();
    BatchItem::Image(img)
}

fn file_len(file: &Path) -> u64 {
    fs_err::metadata(file).map(|m| m.len()).unwrap_or(0)
}

both!(requests_are_recorded_listed_newest_first_and_counted_by_kind_and_status, |w| {
    let mut cat = w.keyed();
    let a = open_request(&mut cat, "erasure", "Ann");
    assert_eq!(
        a,
        RightsRequest {
            id: 1,
            kind: "erasure".into(),
            requester: "Ann".into(),
            verification: "ID card".into(),
            received_on: "2026-01-05".into(),
            deadline: "2026-02-05".into(),
            created_by: "dpo".into(),
            status: "open".into(),
            photo_sha256: None,
            outcome: None,
            runs: vec![],
        }
    );
    let b = open_request(&mut cat, "access", "Bob");
    let c = open_request(&mut cat, "erasure", "Cy");
    let o = open_request(&mut cat, "objection", "Di");
    let refused =
        try_change(&mut cat, |tx| tx.open_request("deletion", "Ed", "ID card", "2026-01-05", "2026-02-05", "dpo"));
    assert!(matches!(refused, Err(Error::Invalid(_))), "{refused:?}");
    let blank = try_change(&mut cat, |tx| tx.open_request("access", " ", "ID card", "2026-01-05", "2026-02-05", "dpo"));
    assert!(matches!(blank, Err(Error::Policy(_))), "{blank:?}");
    change(&mut cat, |tx| tx.close_request(c.id, "c0ffee", "1 face erased"));

    let other = w.plain();
    let listed = other.requests().unwrap();
    assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), [o.id, c.id, b.id, a.id]);
    assert_eq!(listed[1].status, "done");
    assert_eq!(listed[1].runs.len(), 1, "a listed request carries its runs");
    assert!(listed[2].runs.is_empty());
    assert_eq!(listed[3], a);
    let count = |k: &str, s: &str, n: u64| (k.to_string(), s.to_string(), n);
    assert_eq!(
        other.request_counts().unwrap(),
        [
            count("access", "open", 1),
            count("erasure", "done", 1),
            count("erasure", "open", 1),
            count("objection", "open", 1)
        ]
    );
    assert!(matches!(other.request(99), Err(Error::NotFound { .. })));
});

both!(the_first_run_closes_a_request_and_later_runs_are_recorded_beside_it, |w| {
    let mut cat = w.keyed();
    let r = open_request(&mut cat, "erasure", "Ann");
    let untouched = open_request(&mut cat, "erasure", "Bob");
    change(&mut cat, |tx| tx.close_request(r.id, "aaaa", "2 faces erased"));
    change(&mut cat, |tx| tx.close_request(r.id, "bbbb", "nothing left"));

    let other = w.plain();
    let got = other.request(r.id).unwrap();
    assert_eq!(got.status, "done");
    assert_eq!(got.photo_sha256.as_deref(), Some("aaaa"), "the first run's photo stays");
    assert_eq!(got.outcome.as_deref(), Some("2 faces erased"), "the first run's outcome stays");
    let runs: Vec<_> = got.runs.iter().map(|run| (run.photo_sha256.as_str(), run.outcome.as_str())).collect();
    assert_eq!(runs, [("aaaa", "2 faces erased"), ("bbbb", "nothing left")]);
    assert!(got.runs.iter().all(|run| run.at.parse::<jiff::Timestamp>().is_ok()), "{:?}", got.runs);
    assert_eq!(other.request(untouched.id).unwrap(), untouched, "another request is left as it was");
    assert_eq!(other.requests().unwrap()[1].runs, got.runs);
});

both!(the_erased_content_register_knows_each_photo_by_its_first_request_and_nothing_else, |w| {
    let mut cat = w.keyed();
    let (r1, r2) = (open_request(&mut cat, "erasure", "Ann"), open_request(&mut cat, "erasure", "Bob"));
    let empty = cat.erased_content().unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.len(), 0);
    assert_eq!(empty.request_of("aa"), None);

    let shas = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(change(&mut cat, |tx| tx.remember_erased(r2.id, &shas(&["aa", "BB"]))), 2);
    assert_eq!(change(&mut cat, |tx| tx.remember_erased(r1.id, &shas(&["AA", "cc", "dd"]))), 2, "aa was known");
    assert_eq!(change(&mut cat, |tx| tx.remember_erased(r1.id, &[])), 0);

    let other = w.keyed();
    let reg = other.erased_content().unwrap();
    assert_eq!(reg.len(), 4);
    assert!(!reg.is_empty());
    assert_eq!(reg.request_of("aa"), Some(r2.id), "a photo keeps its first request");
    assert_eq!(reg.request_of("bb"), Some(r2.id), "hashes compare case-insensitively");
    assert_eq!(reg.request_of("CC"), Some(r1.id));
    assert_eq!(reg.request_of("dd"), Some(r1.id));
    assert_eq!(reg.request_of("ee"), None);
    assert_eq!(reg.request_of(""), None);
    // Only keyed tags are stored, never the hashes; without the key there is no register.
    let tags: Vec<String> = w.texts("SELECT tag FROM erased_content", &[]).into_iter().flatten().collect();
    assert_eq!(tags.len(), 4);
    assert!(tags.iter().all(|t| t.len() > 2 && !["aa", "bb", "cc", "dd"].contains(&t.to_lowercase().as_str())));
    assert!(matches!(w.plain().erased_content(), Err(Error::Locked { .. })));
});

both!(suppression_templates_are_sealed_counted_and_read_back_as_stored, |w| {
    let mut cat = w.keyed();
    let (r1, r2) = (open_request(&mut cat, "objection", "Ann"), open_request(&mut cat, "objection", "Bob"));
    let legacy = crate::PackKey::legacy();
    assert_eq!(cat.suppression_count(&legacy).unwrap(), 0);
    assert!(cat.suppressions(&legacy).unwrap().is_empty());
    let first = change(&mut cat, |tx| tx.add_suppression(r1.id, &legacy, &[1, -2, 3], 0.5));
    let second = change(&mut cat, |tx| tx.add_suppression(r2.id, &legacy, &[-4, 5], 0.25));
    let rows: Vec<(u64, u64, f64, Vec<u8>)> = w.raw(|db| {
        db.rows("SELECT id, request_id, scale, vector FROM suppressions ORDER BY id", &[], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap()
    });
    assert_eq!(rows.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(), [(first, r1.id), (second, r2.id)]);
    for (_, _, scale, blob) in &rows {
        assert_eq!(*scale, 0.0, "the scale is sealed with the vector");
        assert!(blob.len() > 4 + 3, "sealed, not the plain codes: {blob:?}");
    }

    let other = w.keyed();
    assert_eq!(other.suppression_count(&legacy).unwrap(), 2);
    assert_eq!(other.suppressions(&legacy).unwrap(), [(vec![1, -2, 3], 0.5), (vec![-4, 5], 0.25)]);
});

both!(suppression_templates_are_kept_and_counted_per_pack, |w| {
    let mut cat = w.keyed();
    let (r1, r2) = (open_request(&mut cat, "objection", "Ann"), open_request(&mut cat, "objection", "Bob"));
    let legacy = crate::PackKey::legacy();
    let open = crate::PackKey { name: "open".into(), sha256: "ab".repeat(32) };
    let open_other = crate::PackKey { name: "open".into(), sha256: "cd".repeat(32) };
    change(&mut cat, |tx| tx.add_suppression(r1.id, &legacy, &[1, 2], 0.5));
    change(&mut cat, |tx| tx.add_suppression(r2.id, &legacy, &[3, 4], 0.5));
    change(&mut cat, |tx| tx.add_suppression(r2.id, &open, &[5, 6, 7], 0.25));
    assert_eq!(cat.suppression_count(&legacy).unwrap(), 2);
    assert_eq!(cat.suppression_count(&open).unwrap(), 1);
    assert_eq!(cat.suppression_count(&open_other).unwrap(), 0, "same name, other templates");
    assert_eq!(cat.suppressions(&open).unwrap(), [(vec![5, 6, 7], 0.25)]);
    // Ann's objection has no open template: it would not hold over the open pack's faces.
    assert_eq!(cat.objections_without(&open).unwrap(), [r1.id]);
    assert_eq!(cat.objections_without(&open_other).unwrap(), [r1.id, r2.id]);
    assert!(cat.objections_without(&legacy).unwrap().is_empty());
});

both!(a_suppression_template_sealed_for_one_request_does_not_open_for_another, |w| {
    let mut cat = w.keyed();
    let (r1, r2) = (open_request(&mut cat, "objection", "Ann"), open_request(&mut cat, "objection", "Bob"));
    let legacy = crate::PackKey::legacy();
    change(&mut cat, |tx| tx.add_suppression(r1.id, &legacy, &[1, 2], 0.5));
    change(&mut cat, |tx| tx.add_suppression(r2.id, &legacy, &[3, 4], 0.5));
    assert_eq!(cat.suppressions(&legacy).unwrap().len(), 2);
    // Each row moved to the other request by hand.
    w.execute("UPDATE suppressions SET request_id = CASE request_id WHEN ?1 THEN ?2 ELSE ?1 END", &[&r1.id, &r2.id]);
    let moved = cat.suppressions(&legacy);
    assert!(matches!(moved, Err(Error::Crypto { .. })), "{moved:?}");
    // Put back, they open again.
    w.execute("UPDATE suppressions SET request_id = CASE request_id WHEN ?1 THEN ?2 ELSE ?1 END", &[&r1.id, &r2.id]);
    assert_eq!(cat.suppressions(&legacy).unwrap(), [(vec![1, 2], 0.5), (vec![3, 4], 0.5)]);
});

both!(images_ingested_before_a_time_are_listed_with_their_faces_in_their_collection_only, |w| {
    let mut cat = w.keyed();
    let (a, b) = (create(&mut cat, "a"), create(&mut cat, "b"));
    let job = cat.begin_job(a.id, &[]).unwrap();
    store(&mut cat, job, b.id, &[image("z", vec![face(1.0, true)])]);
    store(&mut cat, job, a.id, &[image("x", vec![face(1.0, true), face(30.0, false)]), image("y", vec![])]);
    let id_of = |cat: &Catalog, sha: &str| cat.images_by_sha256(&all(), sha).unwrap()[0].id;
    let (x, y) = (id_of(&cat, "x"), id_of(&cat, "y"));
    let x_faces: Vec<u64> = cat.faces_of_image(&all(), x).unwrap().iter().map(|f| f.face_id).collect();
    assert_eq!(x_faces.len(), 2);
    assert_eq!(cat.images_ingested_before(a.id, "9999-01-01T00:00:00Z").unwrap(), [(x, x_faces), (y, vec![])]);
    assert!(cat.images_ingested_before(a.id, "2000-01-01T00:00:00Z").unwrap().is_empty());
    let ingested = cat.image(&all(), x).unwrap().ingested_at;
    assert!(cat.images_ingested_before(a.id, &ingested).unwrap().iter().all(|(id, _)| *id != x), "strictly before");
});

/// Three images in one collection: x with two embedded faces, y with one embedded face and
/// one not, z with one embedded face. Returns their ids and their faces' ids.
fn three_images(cat: &mut Catalog) -> [(u64, Vec<u64>); 3] {
    let c = create(cat, "press");
    let job = cat.begin_job(c.id, &[]).unwrap();
    store(
        cat,
        job,
        c.id,
        &[
            image("x", vec![face(1.0, true), face(30.0, true)]),
            image("y", vec![face(1.0, true), face(30.0, false)]),
            image("z", vec![face(1.0, true)]),
        ],
    );
    ["x", "y", "z"].map(|sha| {
        let id = cat.images_by_sha256(&all(), sha).unwrap()[0].id;
        (id, cat.faces_of_image(&all(), id).unwrap().iter().map(|f| f.face_id).collect())
    })
}

fn template_faces(cat: &Catalog) -> Vec<u64> {
    let mut faces = Vec::new();
    cat.templates(|t| faces.push(t.face_id)).unwrap();
    faces.sort_unstable();
    faces
}

both!(erasing_faces_deletes_their_templates_and_only_their_images_left_empty, |w| {
    let mut cat = w.keyed();
    let [(x, xf), (y, yf), (z, zf)] = three_images(&mut cat);
    assert_eq!(template_faces(&cat).len(), 4);
    let d = change(&mut cat, |tx| tx.delete_faces(&[xf[0], xf[1], yf[0], 9_999]));
    assert_eq!(d, Deleted { templates: 3, faces: 3, images: 1, persons: 0 });

    let other = w.keyed();
    assert!(!other.image_exists(x).unwrap(), "x had no face left");
    assert!(other.image_exists(y).unwrap(), "y keeps its other face");
    assert!(other.image_exists(z).unwrap());
    let faces_of = |id| other.faces_of_image(&all(), id).unwrap().iter().map(|f| f.face_id).collect::<Vec<_>>();
    assert_eq!(faces_of(y), [yf[1]]);
    assert_eq!(faces_of(z), zf);
    assert_eq!(template_faces(&other), zf, "only z's template is left");
    let summary = &other.collections(&all()).unwrap()[0];
    assert_eq!((summary.images, summary.faces, summary.templates), (2, 2, 1));
    // Once gone, nothing is deleted twice.
    assert_eq!(change(&mut cat, |tx| tx.delete_faces(&[xf[0], yf[0]])), Deleted::default());
    // The last face of y takes y with it, though it had no template.
    assert_eq!(
        change(&mut cat, |tx| tx.delete_faces(&[yf[1]])),
        Deleted { templates: 0, faces: 1, images: 1, persons: 0 }
    );
});

both!(erasing_images_deletes_their_faces_and_templates_and_nothing_else, |w| {
    let mut cat = w.keyed();
    let [(x, _), (y, _), (z, zf)] = three_images(&mut cat);
    let d = change(&mut cat, |tx| tx.delete_images(&[x, y, 9_999]));
    assert_eq!(d, Deleted { templates: 3, faces: 4, images: 2, persons: 0 });

    let other = w.keyed();
    assert!(!other.image_exists(x).unwrap());
    assert!(!other.image_exists(y).unwrap());
    assert!(other.image_exists(z).unwrap());
    assert_eq!(other.faces_of_image(&all(), z).unwrap().iter().map(|f| f.face_id).collect::<Vec<_>>(), zf);
    assert_eq!(template_faces(&other), zf);
    let summary = &other.collections(&all()).unwrap()[0];
    assert_eq!((summary.images, summary.faces, summary.templates), (1, 1, 1));
    assert_eq!(change(&mut cat, |tx| tx.delete_images(&[x, y])), Deleted::default());
});

#[test]
fn a_checkpoint_after_an_erasure_empties_the_wal_and_leaves_the_erased_bytes_in_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.db");
    let wal = dir.path().join("c.db-wal");
    let mut cat = open_keyed(&p);
    let c = create(&mut cat, "press");
    let job = cat.begin_job(c.id, &[]).unwrap();
    let marker = "marker-5f3a9c71e2";
    store(&mut cat, job, c.id, &[hashed_image(marker, "/photos/1.jpg", vec![face(1.0, true)]), image("kept", vec![])]);
    let id = cat.images_by_sha256(&all(), marker).unwrap()[0].id;
    change(&mut cat, |tx| tx.delete_images(&[id]));
    assert!(file_len(&wal) > 0);
    assert!(holds(&wal, marker.as_bytes()) || holds(&p, marker.as_bytes()), "still in a file before the checkpoint");
    cat.checkpoint().unwrap();
    assert_eq!(file_len(&wal), 0, "the WAL is truncated");
    assert!(!holds(&p, marker.as_bytes()) && !holds(&wal, marker.as_bytes()), "the erased image is in no file");
    assert_eq!(cat.images_by_sha256(&all(), "kept").unwrap().len(), 1);
}

#[test]
fn purging_after_an_erasure_shrinks_the_file_and_leaves_the_erased_bytes_in_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.db");
    let wal = dir.path().join("c.db-wal");
    let mut cat = open_keyed(&p);
    let c = create(&mut cat, "press");
    let job = cat.begin_job(c.id, &[]).unwrap();
    let marker = "marker-9d04be13a6";
    let items: Vec<BatchItem> = (0..300)
        .map(|i| {
            hashed_image(
                &format!("{marker}-{i:03}"),
                &format!("/photos/{i}.jpg"),
                vec![face(1.0, true), face(30.0, true)],
            )
        })
        .collect();
    store(&mut cat, job, c.id, &items);
    store(&mut cat, job, c.id, &[image("kept", vec![face(1.0, true)])]);
    let ids: Vec<u64> =
        (0..300).map(|i| cat.images_by_sha256(&all(), &format!("{marker}-{i:03}")).unwrap()[0].id).collect();
    change(&mut cat, |tx| tx.delete_images(&ids));
    cat.checkpoint().unwrap();
    let before = file_len(&p);
    create(&mut cat, "other");
    assert!(file_len(&wal) > 0);
    cat.purge_free_pages().unwrap();
    assert_eq!(file_len(&wal), 0, "the WAL is truncated");
    assert!(file_len(&p) < before, "VACUUM rewrote the file smaller: {} -> {}", before, file_len(&p));
    assert!(!holds(&p, marker.as_bytes()) && !holds(&wal, marker.as_bytes()), "the erased images are in no file");
    assert_eq!(cat.images_by_sha256(&all(), "kept").unwrap().len(), 1);
    assert_eq!(template_faces(&cat).len(), 1);
}

both!(an_erased_image_leaves_no_line_in_its_collections_job_records, |w| {
    let mut cat = w.keyed();
    let (press, events) = (create(&mut cat, "press"), create(&mut cat, "events"));
    let (job, other_job) = (cat.begin_job(press.id, &[]).unwrap(), cat.begin_job(events.id, &[]).unwrap());
    // The same file in two collections, and two other photos.
    store(&mut cat, job, press.id, &[image("a", vec![face(1.0, true)]), image("b", vec![face(2.0, true)])]);
    store(&mut cat, other_job, events.id, &[image("a", vec![face(1.0, true)])]);
    store(&mut cat, job, press.id, &[image("c", vec![face(3.0, true)])]);
    let uris =
        |cat: &Catalog, job: u64| -> Vec<String> { cat.job_files(job).unwrap().into_iter().map(|f| f.0).collect() };
    assert_eq!(uris(&cat, job), ["/photos/a.jpg", "/photos/b.jpg", "/photos/c.jpg"]);
    let image_of = |sha: &str, c: u32| {
        cat.images_by_sha256(&all(), sha).unwrap().into_iter().find(|i| i.collection_id == c).unwrap()
    };
    let (a, b) = (image_of("a", press.id), image_of("b", press.id));
    let faces_of_a: Vec<u64> = cat.faces_of_image(&all(), a.id).unwrap().iter().map(|f| f.face_id).collect();
    change(&mut cat, |tx| tx.delete_faces(&faces_of_a));
    change(&mut cat, |tx| tx.delete_images(&[b.id]));
    assert_eq!(uris(&cat, job), ["/photos/c.jpg"], "the erased files' lines are gone, the others stay");
    assert_eq!(uris(&cat, other_job), ["/photos/a.jpg"], "another collection's copy keeps its line");
});

both!(after_an_erasure_and_a_checkpoint_the_erased_bytes_are_in_no_file_of_the_store, |w| {
    let mut cat = w.keyed();
    let c = create(&mut cat, "press");
    let job = cat.begin_job(c.id, &[]).unwrap();
    let marker = "marker-0c7e41d9b8";
    let uri = format!("/photos/{marker}-path.jpg");
    store(
        &mut cat,
        job,
        c.id,
        &[hashed_image(marker, &uri, vec![face(1.0, true)]), image("kept", vec![face(2.0, true)])],
    );
    cat.checkpoint().unwrap();
    assert!(!w.files_holding(marker.as_bytes()).is_empty(), "stored: the marker is in a file");
    let id = cat.images_by_sha256(&all(), marker).unwrap()[0].id;
    let faces: Vec<u64> = cat.faces_of_image(&all(), id).unwrap().iter().map(|f| f.face_id).collect();
    let deleted = change(&mut cat, |tx| tx.delete_faces(&faces));
    assert_eq!((deleted.templates, deleted.faces, deleted.images), (1, 1, 1));
    cat.checkpoint().unwrap();
    let left = w.files_holding(marker.as_bytes());
    assert!(left.is_empty(), "the erased photo's hash and path remain in {left:?}");
    assert_eq!(cat.images_by_sha256(&all(), "kept").unwrap().len(), 1);
    assert_eq!(template_faces(&cat).len(), 1);
    cat.purge_free_pages().unwrap();
    assert!(w.files_holding(marker.as_bytes()).is_empty());
});
