use std::path::Path;

use super::tests_stores::both;
use super::*;
use gabarit_governance::{actions, authorize_system};
use gabarit_types::{BBox, Landmarks, Quality};

/// A catalog opened with a data key (kept in a keyring beside it).
pub(super) fn open_keyed(p: &Path) -> Catalog {
    let mut cat = Catalog::open(p).unwrap();
    let kek = gabarit_crypto::Kek::from_bytes([7u8; 32]);
    let keyring = p.with_extension("keyring.json");
    let key = if keyring.exists() {
        gabarit_crypto::Keyring::open(&keyring, &kek).unwrap()
    } else {
        gabarit_crypto::Keyring::create(&keyring, &kek).unwrap()
    };
    cat.set_data_key(std::sync::Arc::new(key));
    cat
}

/// The scope of every collection.
pub(super) fn all() -> Scope {
    authorize_system::<actions::ViewRecords>("test").scope().clone()
}

pub(super) fn create(cat: &mut Catalog, name: &str) -> Collection {
    cat.audited("t", "collection_create", |tx| {
        Ok((tx.create_collection(name, "", crate::LEGACY_PACK, "ort/f32")?, serde_json::json!({})))
    })
    .unwrap()
    .0
}

pub(super) fn store(cat: &mut Catalog, job: u64, collection: u32, items: &[BatchItem]) -> Vec<StoreOutcome> {
    cat.audited("t", "ingest_batch", |tx| Ok((tx.store_batch(job, collection, items)?, serde_json::json!({}))))
        .unwrap()
        .0
}

pub(super) fn face(x: f32, template: bool) -> NewFace {
    NewFace {
        bbox: BBox { x1: x, y1: 1.0, x2: x + 10.0, y2: 11.0 },
        landmarks: Landmarks([[x, 2.0]; 5]),
        score: 0.9,
        quality: Quality {
            detector_score: 0.9,
            size_px: 10.0,
            sharpness: 100.0,
            yaw_deg: 1.0,
            pitch_deg: 2.0,
            roll_deg: 3.0,
            usable: true,
        },
        template: template.then(|| (vec![1i8, -2, 3], 0.01)),
        moment: None,
    }
}

pub(super) fn image(sha: &str, faces: Vec<NewFace>) -> BatchItem {
    BatchItem::Image(NewImage {
        sha256: sha.into(),
        uri: format!("/photos/{sha}.jpg"),
        source_uri: "/photos".into(),
        source_kind: "folder".into(),
        bytes: 1000,
        width: 640,
        height: 480,
        format: "jpeg".into(),
        captured_at: Some("2024-05-01T10:00:00".into()),
        camera: None,
        faces,
        video: None,
    })
}

both!(faces_read_by_id_many_at_a_time_are_those_of_the_scope, |w| {
    let mut cat = w.keyed();
    let (mine, other) = (create(&mut cat, "mine"), create(&mut cat, "other"));
    let mut ids = Vec::new();
    for (collection, n) in [(&mine, 40), (&other, 3)] {
        let job = cat.begin_job(collection.id, &["/photos".into()]).unwrap();
        let items: Vec<BatchItem> =
            (0..n).map(|i| image(&format!("{}-{i}", collection.name), vec![face(i as f32, true)])).collect();
        for out in store(&mut cat, job, collection.id, &items) {
            let StoreOutcome::Inserted { template_faces, .. } = out else { panic!("{out:?}") };
            ids.extend(template_faces);
        }
    }
    // More than one read's worth, an unknown id, and an id twice.
    let mut asked = ids.clone();
    asked.extend([999_999, ids[5]]);
    let everything = cat.faces(&all(), &asked).unwrap();
    assert_eq!(everything.len(), 43);
    for id in &ids {
        let one = cat.face(&all(), *id).unwrap();
        let many = &everything[id];
        assert_eq!(
            (many.face_id, &many.uri, many.bbox.x1, many.collection_id),
            (one.face_id, &one.uri, one.bbox.x1, one.collection_id)
        );
    }
    let viewer = gabarit_governance::Principal {
        name: "vera".into(),
        roles: vec![gabarit_governance::Role::Reviewer],
        collections: vec![mine.id],
    };
    let proof = gabarit_governance::authorize::<actions::Review>(&viewer).unwrap();
    let within = cat.faces(proof.scope(), &asked).unwrap();
    assert_eq!(within.len(), 40);
    assert!(within.values().all(|f| f.collection_id == mine.id));
    assert!(cat.faces(&all(), &[]).unwrap().is_empty());
});

both!(stores_images_faces_and_templates_with_provenance, |w| {
    let mut cat = w.keyed();
    let c = create(&mut cat, "archive");
    let again = cat.audited("t", "collection_create", |tx| {
        Ok((tx.create_collection("archive", "", crate::LEGACY_PACK, "ort/f32")?, serde_json::json!({})))
    });
    assert!(matches!(again, Err(Error::AlreadyExists { .. })));
    let job = cat.begin_job(c.id, &["/photos".into()]).unwrap();
    let out = store(
        &mut cat,
        job,
        c.id,
        &[
            image("aa", vec![face(0.0, true), face(50.0, false)]),
            image("aa", vec![face(0.0, true)]),
            BatchItem::Failed { uri: "/photos/bad.jpg".into(), code: "corrupt_image".into(), message: "bad".into() },
        ],
    );
    let StoreOutcome::Inserted { image_id, template_faces } = &out[0] else { panic!("{out:?}") };
    assert_eq!(template_faces.len(), 1);
    assert_eq!(out[1], StoreOutcome::Duplicate);
    assert_eq!(out[2], StoreOutcome::Failed);
    let f = cat.face(&all(), template_faces[0]).unwrap();
    assert_eq!((f.collection.as_str(), f.uri.as_str(), f.source.as_str()), ("archive", "/photos/aa.jpg", "/photos"));
    assert_eq!(f.bbox.x2, 10.0);
    assert_eq!(f.quality.pitch_deg, 2.0);
    assert!(f.has_template);
    assert_eq!(cat.faces_of_image(&all(), *image_id).unwrap().len(), 2);
    let mut templates = Vec::new();
    cat.templates(|t| templates.push(t)).unwrap();
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0].vector, vec![1, -2, 3]);
    assert_eq!(templates[0].scale, 0.01);
    let summary = &cat.collections(&all()).unwrap()[0];
    assert_eq!((summary.images, summary.faces, summary.templates), (1, 2, 1));
    let files = cat.job_files(job).unwrap();
    assert_eq!(files.len(), 2, "one row per distinct uri: {files:?}");
    assert!(cat.has_image(c.id, "aa").unwrap());
    assert_eq!(cat.images_by_sha256(&all(), "aa").unwrap()[0].captured_at.as_deref(), Some("2024-05-01T10:00:00"));
});

both!(reopening_keeps_everything_and_snapshots_ignore_ids, |w| {
    let snap = {
        let mut cat = w.keyed();
        let c = create(&mut cat, "a");
        let job = cat.begin_job(c.id, &[]).unwrap();
        let mut video = face(2.0, true);
        video.moment = Some(Moment { track: 3, time_s: 1.25 });
        store(&mut cat, job, c.id, &[image("x", vec![face(1.0, true), video]), image("y", vec![])]);
        cat.content_snapshot().unwrap()
    };
    assert_eq!(snap.len(), 2);
    assert!(
        snap.iter().any(|line| line.ends_with("|0:1.00,1.00,11.00,11.00:1;1:2.00,1.00,12.00,11.00:1@3/1.250")),
        "{snap:?}"
    );
    assert_eq!(w.plain().content_snapshot().unwrap(), snap);
    // The same content stored in the other order, in SQLite whatever the store under test,
    // gives the same snapshot.
    let sqlite = super::tests_stores::Store::sqlite();
    let mut other = sqlite.keyed();
    let c = create(&mut other, "a");
    let job = other.begin_job(c.id, &[]).unwrap();
    store(&mut other, job, c.id, &[image("y", vec![])]);
    let mut video = face(2.0, true);
    video.moment = Some(Moment { track: 3, time_s: 1.25 });
    store(&mut other, job, c.id, &[image("x", vec![face(1.0, true), video])]);
    assert_eq!(other.content_snapshot().unwrap(), snap);
});

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("catalog.db");
    {
        let cat = Catalog::open(&p).unwrap();
        cat.exec_batch("PRAGMA user_version = 999").unwrap();
    }
    assert!(matches!(Catalog::open(&p), Err(Error::TooNew { found: 999, .. })));
}

both!(bad_names_are_refused, |w| {
    let mut cat = w.keyed();
    let blank = cat.audited("t", "collection_create", |tx| {
        Ok((tx.create_collection("  ", "", crate::LEGACY_PACK, "ort/f32")?, serde_json::json!({})))
    });
    assert!(matches!(blank, Err(Error::Policy(_))), "{blank:?}");
    let long = "x".repeat(300);
    let long = cat.audited("t", "collection_create", |tx| {
        Ok((tx.create_collection(&long, "", crate::LEGACY_PACK, "ort/f32")?, serde_json::json!({})))
    });
    assert!(matches!(long, Err(Error::Policy(_))), "{long:?}");
    assert!(cat.audit_entries(None, None).unwrap().is_empty(), "a refused change leaves no entry");
    assert!(matches!(cat.collection("nope"), Err(Error::NotFound { .. })));
});

both!(a_video_keeps_its_tracks_and_each_face_its_moment, |w| {
    let mut cat = w.keyed();
    let col = create(&mut cat, "clips");
    let job = cat.begin_job(col.id, &[]).unwrap();
    let mut faces = vec![face(1.0, true), face(30.0, true), face(60.0, true)];
    for (i, f) in faces.iter_mut().enumerate() {
        f.moment = Some(Moment { track: (i / 2) as u32, time_s: 0.5 * i as f64 });
    }
    let BatchItem::Image(mut img) = image("v1", faces) else { unreachable!() };
    img.format = "mp4".into();
    img.video = Some((
        VideoMeta { duration_s: 8.0, frame_rate: 25.0, codec: "h264".into() },
        vec![
            TrackSpan { track: 0, start_s: 0.0, end_s: 2.5, sightings: 6 },
            TrackSpan { track: 1, start_s: 5.0, end_s: 7.5, sightings: 6 },
        ],
    ));
    let out = store(&mut cat, job, col.id, &[BatchItem::Image(img)]);
    let StoreOutcome::Inserted { image_id, template_faces } = &out[0] else { panic!("{out:?}") };
    assert_eq!(template_faces.len(), 3);
    let rec = cat.image(&all(), *image_id).unwrap();
    assert_eq!(rec.video, Some(VideoMeta { duration_s: 8.0, frame_rate: 25.0, codec: "h264".into() }));
    let tracks = cat.tracks_of_image(&all(), *image_id).unwrap();
    assert_eq!(tracks.len(), 2);
    assert_eq!((tracks[1].start_s, tracks[1].end_s, tracks[1].sightings), (5.0, 7.5, 6));
    let moments: Vec<_> = cat.faces_of_image(&all(), *image_id).unwrap().iter().map(|f| f.moment).collect();
    assert_eq!(
        moments,
        vec![
            Some(Moment { track: 0, time_s: 0.0 }),
            Some(Moment { track: 0, time_s: 0.5 }),
            Some(Moment { track: 1, time_s: 1.0 })
        ]
    );
    // A photo has neither.
    store(&mut cat, job, col.id, &[image("p1", vec![face(1.0, true)])]);
    let photo = cat.images_by_sha256(&all(), "p1").unwrap().remove(0);
    assert_eq!(photo.video, None);
    assert_eq!(cat.faces_of_image(&all(), photo.id).unwrap()[0].moment, None);
});

both!(a_change_and_its_audit_entry_are_stored_together_or_not_at_all, |w| {
    let mut cat = w.keyed();
    create(&mut cat, "a");
    let failed: Result<((), _)> = cat.audited("t", "collection_create", |tx| {
        tx.create_collection("b", "", crate::LEGACY_PACK, "ort/f32")?;
        Err(Error::Invalid("changed my mind".into()))
    });
    assert!(failed.is_err());
    assert!(cat.collection("b").is_err(), "the change was rolled back");
    let actions: Vec<String> = cat.audit_entries(None, None).unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["collection_create"], "one change, one entry");
    // Without the key nothing is changed: no entry could be written.
    let mut bare = w.plain();
    let locked = bare.audited("t", "collection_create", |tx| {
        Ok((tx.create_collection("c", "", crate::LEGACY_PACK, "ort/f32")?, serde_json::json!({})))
    });
    assert!(matches!(locked, Err(Error::Locked { .. })), "{locked:?}");
    assert_eq!(cat.verify_audit(None).unwrap(), (1, None));
});

both!(accounts_edited_outside_gabarit_do_not_authenticate, |w| {
    let mut cat = w.keyed();
    create(&mut cat, "press");
    let key = cat
        .audited("t", "user_create", |tx| {
            tx.create_user("inv", &[gabarit_governance::Role::Investigator])?;
            tx.grant("inv", "press")?;
            Ok((tx.issue_key("inv")?, serde_json::json!({})))
        })
        .unwrap()
        .0;
    assert_eq!(cat.user_for_key(&key).unwrap().as_deref(), Some("inv"));
    assert_eq!(cat.principal("inv").unwrap().collections.len(), 1);
    // Roles given by hand.
    w.execute("UPDATE users SET roles = '[\"admin\"]' WHERE name = 'inv'", &[]);
    assert!(matches!(cat.user("inv"), Err(Error::Tampered { .. })));
    assert!(matches!(cat.user_for_key(&key), Err(Error::Tampered { .. })));
    w.execute("UPDATE users SET roles = '[\"investigator\"]' WHERE name = 'inv'", &[]);
    assert!(cat.user("inv").unwrap().is_some(), "put back as it was, it authenticates again");
    // A grant, and a key, added by hand.
    w.execute(
        "INSERT INTO collections (name, description, created_at) VALUES ('secret', '', '2026-01-01');
         INSERT INTO grants (user_id, collection_id) SELECT u.id, c.id FROM users u, collections c
            WHERE u.name = 'inv' AND c.name = 'secret';",
        &[],
    );
    assert!(matches!(cat.principal("inv"), Err(Error::Tampered { .. })));
    w.execute("DELETE FROM grants WHERE collection_id = (SELECT id FROM collections WHERE name = 'secret')", &[]);
    let forged_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"00:secret"));
    w.execute(
        "INSERT INTO api_keys (user_id, prefix, salt, hash, created_at) SELECT id, 'abcdef', '00', ?1, 'now' FROM users",
        &[&forged_hash],
    );
    assert!(matches!(cat.user_for_key("gbk_abcdef_secret"), Err(Error::Tampered { .. })));
});

both!(revoked_keys_disabled_users_and_withdrawn_grants_stop_at_once, |w| {
    let mut cat = w.keyed();
    create(&mut cat, "press");
    let (k1, k2) = cat
        .audited("t", "user_create", |tx| {
            tx.create_user("inv", &[gabarit_governance::Role::Investigator])?;
            tx.grant("inv", "press")?;
            Ok(((tx.issue_key("inv")?, tx.issue_key("inv")?), serde_json::json!({})))
        })
        .unwrap()
        .0;
    let prefix = k1.split('_').nth(1).unwrap().to_string();
    cat.audited("t", "key_revoke", |tx| Ok((tx.revoke_key("inv", &prefix)?, serde_json::json!({})))).unwrap();
    assert_eq!(cat.user_for_key(&k1).unwrap(), None);
    assert_eq!(cat.user_for_key(&k2).unwrap().as_deref(), Some("inv"));
    assert_eq!(cat.keys_of("inv").unwrap().iter().filter(|k| k.revoked_at.is_some()).count(), 1);
    cat.audited("t", "grant_revoke", |tx| Ok((tx.ungrant("inv", "press")?, serde_json::json!({})))).unwrap();
    assert!(cat.principal("inv").unwrap().collections.is_empty());
    let (token, _) = cat
        .audited("t", "login", |tx| Ok((tx.create_session("inv", "2999-01-01T00:00:00Z")?, serde_json::json!({}))))
        .unwrap()
        .0;
    assert!(cat.session(&token, "2026-01-01T00:00:00Z").unwrap().is_some());
    let ended = cat.audited("t", "user_disable", |tx| Ok((tx.disable_user("inv")?, serde_json::json!({})))).unwrap().0;
    assert_eq!(ended, 1);
    assert_eq!(cat.user_for_key(&k2).unwrap(), None);
    assert!(cat.session(&token, "2026-01-01T00:00:00Z").unwrap().is_none());
    assert_eq!(cat.verify_audit(None).unwrap().1, None);
});

both!(a_reviewers_queue_is_filtered_by_grant_before_its_limit, |w| {
    let mut cat = w.keyed();
    let (mine, other) = (create(&mut cat, "mine"), create(&mut cat, "other"));
    let job = cat.begin_job(mine.id, &[]).unwrap();
    let faces =
        |cat: &mut Catalog, c: u32, sha: &str| match &store(cat, job, c, &[image(sha, vec![face(1.0, true)])])[0] {
            StoreOutcome::Inserted { template_faces, .. } => template_faces[0],
            other @ (StoreOutcome::Duplicate | StoreOutcome::Failed) => panic!("{other:?}"),
        };
    let (f_mine, f_other) = (faces(&mut cat, mine.id, "m"), faces(&mut cat, other.id, "o"));
    let search = |cat: &mut Catalog, face_id: u64, collection_id: u32| {
        let s = NewSearch {
            actor: "inv",
            case_ref: "C",
            purpose: "p",
            query_sha256: "q",
            collections: &[],
            gallery_size: 2,
            started_at: "2026-01-01T00:00:00Z",
        };
        let c = NewCandidate { face_id, collection_id, query_face: 0, rank: 1, score: 0.9 };
        cat.audited("inv", "search", |tx| Ok((tx.record_search(&s, &[c])?, serde_json::json!({})))).unwrap().0.1[0]
    };
    let my_candidate = search(&mut cat, f_mine, mine.id);
    for _ in 0..5 {
        search(&mut cat, f_other, other.id);
    }
    let reviewer = gabarit_governance::Principal {
        name: "raoul".into(),
        roles: vec![gabarit_governance::Role::Reviewer],
        collections: vec![mine.id],
    };
    let proof = gabarit_governance::authorize::<actions::Review>(&reviewer).unwrap();
    assert_eq!(cat.candidates_awaiting_review(proof.scope(), 3).unwrap(), [my_candidate]);
    assert!(matches!(cat.candidate(proof.scope(), my_candidate + 1), Err(Error::NotFound { .. })));
    let decided = cat.audited("raoul", "candidate_reject", |tx| {
        Ok((tx.review(proof.scope(), my_candidate + 1, "raoul", false), serde_json::json!({})))
    });
    assert!(matches!(decided.unwrap().0, Err(Error::NotFound { .. })), "another collection's candidate");
});

/// A catalog as schema 7 left it: a user with a key and a grant, a plain-hashed audit chain.
fn schema_7_catalog(p: &Path) -> String {
    let conn = rusqlite::Connection::open(p).unwrap();
    for sql in &migrations::MIGRATIONS[..7] {
        conn.execute_batch(sql).unwrap();
    }
    conn.execute_batch("PRAGMA user_version = 7").unwrap();
    conn.execute_batch(
        "INSERT INTO collections (name, created_at) VALUES ('press', '2026-01-01');
         INSERT INTO users (name, roles, created_at) VALUES ('inv', '[\"investigator\"]', '2026-01-01');
         INSERT INTO grants (user_id, collection_id) VALUES (1, 1);",
    )
    .unwrap();
    let (salt, secret) = ("00ff", "s3cret");
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(format!("{salt}:{secret}").as_bytes()));
    conn.execute(
        "INSERT INTO api_keys (user_id, prefix, salt, hash, created_at) VALUES (1, 'abc', ?1, ?2, '2026-01-01')",
        [salt, &hash],
    )
    .unwrap();
    let mut prev = gabarit_governance::audit::GENESIS.to_string();
    for seq in 1..=2u64 {
        let detail = serde_json::json!({"n": seq});
        let h = gabarit_governance::audit::legacy_hash(&prev, seq, "2026-01-01T00:00:00Z", "admin", "grant", &detail);
        conn.execute(
            "INSERT INTO audit (seq, at, actor, action, detail, prev_hash, hash) VALUES (?1, '2026-01-01T00:00:00Z', 'admin', 'grant', ?2, ?3, ?4)",
            rusqlite::params![seq as i64, detail.to_string(), prev, h],
        )
        .unwrap();
        prev = h;
    }
    format!("gbk_abc_{secret}")
}

#[test]
fn an_older_catalog_is_upgraded_with_the_key_in_one_transaction_and_not_without() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.db");
    let key = schema_7_catalog(&p);
    assert!(matches!(Catalog::open(&p), Err(Error::Locked { .. })), "no upgrade without the key");
    let version: i64 =
        rusqlite::Connection::open(&p).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, 7, "left as it was");
    let cat = open_keyed_upgrade(&p);
    assert_eq!(cat.user_for_key(&key).unwrap().as_deref(), Some("inv"));
    assert_eq!(cat.principal("inv").unwrap().collections, [1]);
    let (entries, broken) = cat.verify_audit(None).unwrap();
    assert_eq!((entries, broken), (4, None), "2 plain entries, the marker vouching for them, the upgrade's entry");
    // Rewriting the old entries now breaks the chain: the marker holds their head.
    let raw = rusqlite::Connection::open(&p).unwrap();
    raw.execute_batch("DROP TRIGGER audit_append_only_update; UPDATE audit SET actor = 'x' WHERE seq = 1;").unwrap();
    assert!(cat.verify_audit(None).unwrap().1.is_some());
}

/// Runs `f` as one audited change and returns its value.
pub(super) fn change<T>(cat: &mut Catalog, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> T {
    try_change(cat, f).unwrap()
}

/// Runs `f` as one audited change (rolled back if it fails).
pub(super) fn try_change<T>(cat: &mut Catalog, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
    cat.audited("t", "test", |tx| Ok((f(tx)?, serde_json::json!({})))).map(|(v, _)| v)
}

fn open_keyed_upgrade(p: &Path) -> Catalog {
    let kek = gabarit_crypto::Kek::from_bytes([7u8; 32]);
    let key = gabarit_crypto::Keyring::create(p.with_extension("keyring.json"), &kek).unwrap();
    Catalog::open_keyed(p, std::sync::Arc::new(key)).unwrap()
}

#[test]
fn suppression_templates_made_before_schema_11_are_the_legacy_packs() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.db");
    let conn = rusqlite::Connection::open(&p).unwrap();
    for sql in &migrations::MIGRATIONS[..10] {
        conn.execute_batch(sql).unwrap();
    }
    conn.execute_batch(
        "PRAGMA user_version = 10;
         INSERT INTO rights_requests (kind, requester, verification, received_on, deadline, created_by, created_at)
             VALUES ('objection', 'R', 'id card', '2026-01-01', '2026-02-01', 'dpo', '2026-01-01');
         INSERT INTO suppressions (request_id, created_at, scale, vector) VALUES (1, '2026-01-01', 0.0, x'00');",
    )
    .unwrap();
    drop(conn);
    let cat = open_keyed_upgrade(&p);
    let legacy = PackKey::legacy();
    assert_eq!(cat.suppression_count(&legacy).unwrap(), 1);
    assert!(cat.objections_without(&legacy).unwrap().is_empty());
}

both!(templates_are_read_and_counted_per_pack, |w| {
    let mut cat = w.keyed();
    let old = create(&mut cat, "old");
    let open = PackKey { name: "open".into(), sha256: "ab".repeat(32) };
    let new = cat
        .audited("t", "collection_create", |tx| {
            Ok((tx.create_collection("new", "", (&open.name, &open.sha256), "ort/f32")?, serde_json::json!({})))
        })
        .unwrap()
        .0;
    assert_eq!(new.pack_key(), open);
    assert_eq!(cat.packs_in_use().unwrap(), [PackKey::legacy(), open.clone()]);
    let job = cat.begin_job(old.id, &["/photos".into()]).unwrap();
    store(&mut cat, job, old.id, &[image("aa", vec![face(0.0, true)]), image("bb", vec![face(0.0, true)])]);
    let job = cat.begin_job(new.id, &["/photos".into()]).unwrap();
    store(&mut cat, job, new.id, &[image("cc", vec![face(0.0, true), face(50.0, true)])]);
    let of = |pack: &PackKey| {
        let mut v = Vec::new();
        cat.templates_of(pack, |t| v.push(t.collection_id)).unwrap();
        v
    };
    assert_eq!(of(&PackKey::legacy()), [old.id, old.id]);
    assert_eq!(of(&open), [new.id, new.id]);
    assert_eq!((cat.template_count_of(&PackKey::legacy()).unwrap(), cat.template_count_of(&open).unwrap()), (2, 2));
    let elsewhere = PackKey { name: "open".into(), sha256: "cd".repeat(32) };
    assert_eq!((of(&elsewhere).len(), cat.template_count_of(&elsewhere).unwrap()), (0, 0));
});

// A stored JSON value changed outside Gabarit (a face's landmarks, a job's inputs or report)
// is an error naming the record and column when read, never a default: zero landmarks would
// re-embed the face misaligned, an empty input list would make a resumed job ingest nothing.
both!(a_corrupt_stored_value_is_an_error_naming_its_record, |w| {
    let mut cat = w.keyed();
    let c = create(&mut cat, "archive");
    let job = cat.begin_job(c.id, &["/photos".into()]).unwrap();
    let out = store(&mut cat, job, c.id, &[image("aa", vec![face(0.0, true)])]);
    let StoreOutcome::Inserted { template_faces, .. } = &out[0] else { panic!("{out:?}") };
    let face_id = template_faces[0];
    let queued = cat
        .audited("t", "job_queue", |tx| {
            Ok((tx.queue_job("ingest", "archive", &["/in".into()], "t")?, serde_json::json!({})))
        })
        .unwrap()
        .0;
    cat.end_job(queued.id, Ok(&serde_json::json!({"files": 3}))).unwrap();
    assert_eq!(cat.background_job(queued.id).unwrap().unwrap().report, Some(serde_json::json!({"files": 3})));

    w.execute("UPDATE faces SET landmarks = '[[1,2],[3' WHERE id = ?1", &[&face_id]);
    let err = cat.face(&all(), face_id).unwrap_err().to_string();
    assert!(err.contains(&format!("face {face_id}: stored landmarks unreadable")), "{err}");

    w.execute("UPDATE background_jobs SET inputs = 'not json' WHERE id = ?1", &[&queued.id]);
    let err = cat.background_job(queued.id).unwrap_err().to_string();
    assert!(err.contains(&format!("job {}: stored inputs unreadable", queued.id)), "{err}");
    assert!(cat.background_jobs(10).is_err(), "the listing does not skip it either");

    w.execute("UPDATE background_jobs SET inputs = '[\"/in\"]', report = '{' WHERE id = ?1", &[&queued.id]);
    let err = cat.background_job(queued.id).unwrap_err().to_string();
    assert!(err.contains(&format!("job {}: stored report unreadable", queued.id)), "{err}");
});

both!(background_jobs_are_queued_claimed_once_tracked_ended_and_requeued, |w| {
    let mut cat = w.keyed();
    create(&mut cat, "archive");
    let queue = |cat: &mut Catalog, input: &str| {
        change(cat, |tx| tx.queue_job("ingest", "archive", &[input.to_string()], "curator"))
    };
    let (a, b) = (queue(&mut cat, "/a"), queue(&mut cat, "/b"));
    assert_eq!((a.state.as_str(), a.runs, a.inputs.as_slice()), ("queued", 0, ["/a".to_string()].as_slice()));
    let first = cat.claim_job().unwrap().unwrap();
    assert_eq!((first.id, first.state.as_str(), first.runs), (a.id, "running", 1));
    cat.job_progress(a.id, 3, 10, 7).unwrap();
    let seen = w.plain().background_job(a.id).unwrap().unwrap();
    assert_eq!((seen.done, seen.total, seen.faces), (3, Some(10), 7));
    let second = cat.claim_job().unwrap().unwrap();
    assert_eq!(second.id, b.id);
    assert_eq!(cat.claim_job().unwrap(), None, "nothing left to claim");
    cat.end_job(b.id, Err("disk full")).unwrap();
    assert_eq!(cat.job_counts().unwrap(), [("failed".to_string(), 1), ("running".to_string(), 1)]);
    // A server stopped while `a` ran: it is queued again, and claimed with its second run.
    assert_eq!(cat.requeue_interrupted_jobs(3).unwrap(), [a.id]);
    let again = cat.claim_job().unwrap().unwrap();
    assert_eq!((again.id, again.runs, again.done, again.total), (a.id, 2, 0, None));
    assert_eq!(cat.requeue_interrupted_jobs(2).unwrap(), Vec::<u64>::new(), "run twice: not again");
    let failed = cat.background_job(a.id).unwrap().unwrap();
    assert_eq!(failed.state, "failed");
    assert!(failed.error.unwrap().starts_with("interrupted 2 times"));
    let c = queue(&mut cat, "/c");
    cat.claim_job().unwrap();
    cat.end_job(c.id, Ok(&serde_json::json!({"files": 2}))).unwrap();
    let listed = cat.background_jobs(2).unwrap();
    assert_eq!(listed.iter().map(|j| j.id).collect::<Vec<_>>(), [c.id, b.id], "newest first, at most 2");
    assert_eq!(listed[0].report, Some(serde_json::json!({"files": 2})));
});

both!(a_workers_lease_is_renewed_taken_over_once_it_expires_and_ends_only_by_its_holder, |w| {
    let mut cat = w.keyed();
    create(&mut cat, "archive");
    let a = change(&mut cat, |tx| tx.queue_job("ingest", "archive", &["/a".to_string()], "curator"));
    let hour = 3_600_000;
    let taken = cat.claim_job_leased("worker-1", hour, 3).unwrap().unwrap();
    assert_eq!((taken.id, taken.state.as_str(), taken.runs), (a.id, "running", 1));
    assert_eq!(cat.claim_job_leased("worker-2", hour, 3).unwrap(), None, "held: not taken twice");
    assert!(cat.renew_lease(a.id, "worker-1", hour).unwrap());
    assert!(!cat.renew_lease(a.id, "worker-2", hour).unwrap(), "not worker-2's");
    assert_eq!(cat.requeue_interrupted_jobs(3).unwrap(), Vec::<u64>::new(), "a server start leaves leased jobs");
    // worker-1 stops: its lease runs out (renewed to end now), and worker-2 takes the job over.
    assert!(cat.renew_lease(a.id, "worker-1", 0).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(5));
    let over = cat.claim_job_leased("worker-2", hour, 3).unwrap().unwrap();
    assert_eq!((over.id, over.runs, over.done), (a.id, 2, 0));
    assert!(!cat.renew_lease(a.id, "worker-1", hour).unwrap(), "worker-1 lost it");
    assert!(!cat.end_leased_job(a.id, "worker-1", Ok(&serde_json::json!({"files": 1}))).unwrap());
    assert_eq!(cat.background_job(a.id).unwrap().unwrap().state, "running", "worker-1's end changed nothing");
    assert!(cat.end_leased_job(a.id, "worker-2", Ok(&serde_json::json!({"files": 2}))).unwrap());
    let done = cat.background_job(a.id).unwrap().unwrap();
    assert_eq!((done.state.as_str(), done.report), ("done", Some(serde_json::json!({"files": 2}))));
    assert!(!cat.renew_lease(a.id, "worker-2", hour).unwrap(), "an ended job has no lease");
    assert_eq!(cat.claim_job_leased("worker-3", hour, 3).unwrap(), None, "a done job is not taken");
    // A job whose workers keep stopping is failed after max_runs, not taken again.
    let b = change(&mut cat, |tx| tx.queue_job("ingest", "archive", &["/b".to_string()], "curator"));
    for run in 1..=2u32 {
        let t = cat.claim_job_leased(&format!("w{run}"), 0, 2).unwrap().unwrap();
        assert_eq!((t.id, t.runs), (b.id, run));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(cat.claim_job_leased("w3", hour, 2).unwrap(), None);
    let failed = cat.background_job(b.id).unwrap().unwrap();
    assert_eq!(failed.state, "failed");
    assert!(failed.error.unwrap().starts_with("its worker stopped 2 times"));
    // A runner's name is bounded like any free text.
    assert!(matches!(cat.claim_job_leased(&"x".repeat(201), hour, 3), Err(Error::Policy(_))));
});

both!(a_searchs_candidates_keep_their_order_over_several_statements, |w| {
    let mut cat = w.keyed();
    let c = create(&mut cat, "press");
    let job = cat.begin_job(c.id, &[]).unwrap();
    let out = store(&mut cat, job, c.id, &[image("m", (0..20).map(|i| face(i as f32 * 20.0, true)).collect())]);
    let StoreOutcome::Inserted { template_faces: f, .. } = &out[0] else { panic!("{out:?}") };
    let s = NewSearch {
        actor: "inv",
        case_ref: "C-2",
        purpose: "p",
        query_sha256: "q",
        collections: &["press".to_string()],
        gallery_size: 20,
        started_at: "2026-01-01T00:00:00Z",
    };
    // 37 candidates (three statements), two query faces, the same face answering both.
    let candidates: Vec<NewCandidate> = (0..37)
        .map(|i| NewCandidate {
            face_id: f[i % 20],
            collection_id: c.id,
            query_face: i / 20,
            rank: i % 20 + 1,
            score: 1.0 - i as f32 / 64.0,
        })
        .collect();
    let (_, ids) = change(&mut cat, |tx| tx.record_search(&s, &candidates));
    assert_eq!(ids.len(), 37);
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 37);
    for (id, want) in ids.iter().zip(&candidates) {
        let got = cat.candidate(&all(), *id).unwrap();
        assert_eq!((got.face_id, got.query_face, got.score), (want.face_id, want.query_face, want.score), "{id}");
    }
    let none = change(&mut cat, |tx| tx.record_search(&s, &[]));
    assert!(none.1.is_empty());
});

both!(collections_named_in_one_read_come_in_the_order_asked, |w| {
    let mut cat = w.keyed();
    let (a, b) = (create(&mut cat, "alpha"), create(&mut cat, "beta"));
    let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let got = cat.collections_named(&names(&["beta", "alpha", "beta"])).unwrap();
    assert_eq!(got.iter().map(|c| c.id).collect::<Vec<_>>(), [b.id, a.id, b.id]);
    assert!(cat.collections_named(&[]).unwrap().is_empty());
    let missing = cat.collections_named(&names(&["alpha", "gamma"])).unwrap_err();
    assert!(matches!(&missing, Error::NotFound { kind: "collection", name } if name == "gamma"), "{missing}");
});

both!(searches_reviews_and_kept_query_faces_round_trip, |w| {
    let mut cat = w.keyed();
    let (mine, other) = (create(&mut cat, "mine"), create(&mut cat, "other"));
    let job = cat.begin_job(mine.id, &[]).unwrap();
    let out = store(&mut cat, job, mine.id, &[image("m", vec![face(1.0, true), face(40.0, true)])]);
    let StoreOutcome::Inserted { template_faces: f, .. } = &out[0] else { panic!("{out:?}") };
    let out = store(&mut cat, job, other.id, &[image("o", vec![face(1.0, true)])]);
    let StoreOutcome::Inserted { template_faces: g, .. } = &out[0] else { panic!("{out:?}") };
    let s = NewSearch {
        actor: "inv",
        case_ref: "C-1",
        purpose: "p",
        query_sha256: "q",
        collections: &["mine".to_string(), "other".to_string()],
        gallery_size: 3,
        started_at: "2026-01-01T00:00:00Z",
    };
    let candidates = [
        NewCandidate { face_id: f[0], collection_id: mine.id, query_face: 0, rank: 1, score: 0.75 },
        NewCandidate { face_id: g[0], collection_id: other.id, query_face: 0, rank: 2, score: 0.5 },
        NewCandidate { face_id: f[1], collection_id: mine.id, query_face: 1, rank: 1, score: 0.25 },
    ];
    let (search, ids) = change(&mut cat, |tx| {
        let made = tx.record_search(&s, &candidates)?;
        tx.keep_probe(made.0, 0, b"jpeg bytes of face 0", "2026-02-01T00:00:00Z")?;
        tx.keep_probe(made.0, 1, b"face 1", "2026-01-15T00:00:00Z")?;
        Ok(made)
    });
    assert_eq!(ids.len(), 3);
    let rec = cat.search_record(search).unwrap();
    assert_eq!((rec.case_ref.as_str(), rec.gallery_size, rec.collections.len()), ("C-1", 3, 2));
    assert_eq!(cat.searches_by("inv", 10).unwrap().len(), 1);
    assert_eq!(cat.search_gallery_size(search).unwrap(), 3);
    let reach = |ids: Vec<u32>| {
        let p = gabarit_governance::Principal {
            name: "r".into(),
            roles: vec![gabarit_governance::Role::Reviewer],
            collections: ids,
        };
        gabarit_governance::authorize::<actions::Review>(&p).unwrap().scope().clone()
    };
    assert_eq!(cat.candidates_of_search_in(&all(), search).unwrap(), 3);
    assert_eq!(cat.candidates_of_search_in(&reach(vec![mine.id]), search).unwrap(), 2);
    assert_eq!(cat.candidates_of_search_in(&reach(vec![]), search).unwrap(), 0);
    assert_eq!(cat.candidates_awaiting_review(&all(), 10).unwrap(), [ids[2], ids[1], ids[0]]);
    // Two confirmations decide a candidate, one rejection too; a reviewer's second word replaces the first.
    let review =
        |cat: &mut Catalog, id: u64, who: &str, confirm: bool| change(cat, |tx| tx.review(&all(), id, who, confirm));
    review(&mut cat, ids[0], "ann", false);
    let c = review(&mut cat, ids[0], "ann", true);
    assert_eq!((c.confirmed_by.as_slice(), c.rejected_by.len()), (["ann".to_string()].as_slice(), 0));
    review(&mut cat, ids[0], "bob", true);
    review(&mut cat, ids[1], "bob", false);
    assert!(!cat.search_decided(search).unwrap());
    let states = cat.candidate_states(search).unwrap();
    assert_eq!(
        states.iter().map(|s| (s.query_face, s.rank, s.confirmations, s.rejected, s.erased)).collect::<Vec<_>>(),
        [(0, 1, 2, false, false), (0, 2, 0, true, false), (1, 1, 0, false, false)]
    );
    assert_eq!(cat.candidates_awaiting_review(&all(), 10).unwrap(), [ids[2]]);
    // Kept query faces: sealed, opened, expiring.
    let probe = cat.probe(search, 0, "2026-01-10T00:00:00Z").unwrap().unwrap();
    assert_eq!(probe.jpeg, b"jpeg bytes of face 0");
    assert!(w.texts("SELECT search_id FROM probes", &[]).len() == 2);
    assert!(cat.probe_kept(search, 1, "2026-01-10T00:00:00Z").unwrap());
    assert!(!cat.probe_kept(search, 1, "2026-01-20T00:00:00Z").unwrap(), "expired");
    assert_eq!(cat.probes_of(search, "2026-01-20T00:00:00Z").unwrap(), [0]);
    assert_eq!(cat.probe_count().unwrap(), (2, Some("2026-02-01T00:00:00Z".to_string())));
    assert_eq!(cat.searches_with_expired_probes("2026-01-20T00:00:00Z").unwrap(), [search]);
    assert_eq!(change(&mut cat, |tx| tx.drop_probes_of_decided_searches()), 0, "one candidate undecided");
    review(&mut cat, ids[2], "ann", false);
    assert!(cat.search_decided(search).unwrap());
    assert_eq!(change(&mut cat, |tx| tx.drop_probes_of_decided_searches()), 2);
    assert_eq!(cat.probe_count().unwrap(), (0, None));
});

both!(people_are_grouped_named_corrected_merged_and_erased, |w| {
    let mut cat = w.keyed();
    let c = create(&mut cat, "events");
    let job = cat.begin_job(c.id, &[]).unwrap();
    // Photo p: faces 1 and 2; photo q: face 3; a video v: faces 4 and 5 on one track, 6 alone.
    let out = store(
        &mut cat,
        job,
        c.id,
        &[image("p", vec![face(1.0, true), face(40.0, true)]), image("q", vec![face(1.0, true)])],
    );
    let ids = |o: &StoreOutcome| match o {
        StoreOutcome::Inserted { template_faces, .. } => template_faces.clone(),
        other @ (StoreOutcome::Duplicate | StoreOutcome::Failed) => panic!("{other:?}"),
    };
    let (pf, qf) = (ids(&out[0]), ids(&out[1]));
    let mut video = vec![face(1.0, true), face(1.0, true), face(60.0, true)];
    video[0].moment = Some(Moment { track: 0, time_s: 0.0 });
    video[1].moment = Some(Moment { track: 0, time_s: 0.5 });
    video[2].moment = Some(Moment { track: 1, time_s: 1.0 });
    let vf = ids(&store(&mut cat, job, c.id, &[image("v", video)])[0]);
    let faces = cat.grouping_faces(c.id).unwrap();
    assert_eq!(faces.len(), 6);
    assert_eq!(faces[0].template, (vec![1, -2, 3], 0.01));
    assert_eq!(faces[3].moment, Some(Moment { track: 0, time_s: 0.0 }));

    // Pairs and searched faces; another edge threshold starts over.
    cat.add_grouping_pairs(c.id, 0.4, &[(qf[0], pf[0]), (pf[0], qf[0]), (vf[0], vf[2])], &[pf[0], qf[0]]).unwrap();
    assert_eq!(cat.grouping_pairs(c.id).unwrap().len(), 2, "a pair is stored once, smaller id first");
    assert!(cat.grouping_pairs(c.id).unwrap().contains(&(pf[0], qf[0])));
    assert_eq!(cat.grouping_searched(c.id).unwrap().len(), 2);
    cat.add_grouping_pairs(c.id, 0.5, &[(pf[0], qf[0])], &[pf[0]]).unwrap();
    assert_eq!((cat.grouping_pairs(c.id).unwrap().len(), cat.grouping_searched(c.id).unwrap().len()), (1, 1));

    let (a, b, e) =
        change(&mut cat, |tx| Ok((tx.create_person(c.id)?, tx.create_person(c.id)?, tx.create_person(c.id)?)));
    let assign = |face_id, person_id| Assignment { face_id, person_id, confirmed: false };
    let left = change(&mut cat, |tx| {
        tx.replace_assignments(c.id, &[assign(pf[0], a), assign(qf[0], a), assign(vf[0], a), assign(pf[1], b)], 0.6)
    });
    assert_eq!(left, 2, "the person given no face is gone");
    assert!(matches!(cat.person(e), Err(Error::NotFound { .. })));
    let run = cat.grouping_run(c.id).unwrap().unwrap();
    assert_eq!((run.edge, run.join, run.faces, run.persons), (0.5, Some(0.6), 4, 2));
    assert_eq!(cat.faces_with_track_mates(c.id, &[vf[0], pf[1]]).unwrap(), [pf[1], vf[0], vf[1]]);
    assert_eq!(cat.photo_clash(a, &[pf[1]]).unwrap(), Some((pf[1], pf[0])), "same photo as a's face");
    assert_eq!(cat.photo_clash(a, &[vf[2]]).unwrap(), None, "same video, another moment");
    assert_eq!(cat.photo_clash(b, &[vf[1]]).unwrap(), None);

    // Names are sealed, paged lists by size, named only on request.
    change(&mut cat, |tx| tx.set_person_label(a, Some("Zoé Dupré-7f3a")));
    let (total, page) = cat.persons(c.id, false, 0, 1).unwrap();
    assert_eq!((total, page.len(), page[0].id, page[0].faces), (2, 1, a, 3));
    assert_eq!(page[0].label.as_deref(), Some("Zoé Dupré-7f3a"));
    assert_eq!(cat.persons(c.id, false, 1, 10).unwrap().1[0].id, b);
    assert_eq!(cat.persons(c.id, true, 0, 10).unwrap().0, 1);
    assert_eq!(cat.named_persons(c.id).unwrap()[0].id, a);
    let labels =
        w.raw(|db| db.rows("SELECT label FROM persons WHERE label IS NOT NULL", &[], |r| r.get::<Vec<u8>>(0)).unwrap());
    assert!(labels.len() == 1 && !labels[0].windows(4).any(|x| x == b"Dupr"), "the label is sealed");
    assert!(matches!(try_change(&mut cat, |tx| tx.set_person_label(999, Some("x"))), Err(Error::NotFound { .. })));

    // Corrections: a face moved (confirmed), "not this person" marks, a merge.
    change(&mut cat, |tx| tx.assign_faces(&[qf[0]], Some(b), true));
    assert_eq!(cat.person_of_face(qf[0]).unwrap(), Some(Assignment { face_id: qf[0], person_id: b, confirmed: true }));
    assert_eq!(cat.person(b).unwrap().confirmed, 1);
    change(&mut cat, |tx| {
        tx.mark_not(vf[0], b)?;
        tx.mark_not(vf[0], b)?;
        tx.mark_not(vf[0], a)?;
        tx.mark_not(pf[0], b)
    });
    assert_eq!(cat.person_marks(c.id).unwrap(), [(pf[0], b), (vf[0], a), (vf[0], b)]);
    change(&mut cat, |tx| tx.fold_person(a, b));
    assert!(matches!(cat.person(a), Err(Error::NotFound { .. })));
    assert_eq!(cat.faces_of_person(b).unwrap().len(), 4);
    assert_eq!(cat.person_marks(c.id).unwrap(), [], "the marks the merge contradicted are gone");
    change(&mut cat, |tx| tx.assign_faces(&[pf[1]], None, false));
    assert_eq!(change(&mut cat, |tx| tx.tidy_persons(c.id)), 1);
    change(&mut cat, |tx| tx.mark_not(vf[2], b));
    let erased = change(&mut cat, |tx| tx.erase_grouping(c.id));
    assert_eq!((erased.persons, erased.assignments, erased.marks, erased.pairs), (1, 3, 1, 1));
    assert_eq!(cat.persons(c.id, false, 0, 10).unwrap().0, 0);
    assert_eq!(cat.grouping_run(c.id).unwrap(), None);
    assert!(cat.grouping_searched(c.id).unwrap().is_empty());
});

both!(a_collection_is_reembedded_resumably_and_changed_over_at_once, |w| {
    let mut cat = w.keyed();
    let c = create(&mut cat, "archive");
    let job = cat.begin_job(c.id, &[]).unwrap();
    store(
        &mut cat,
        job,
        c.id,
        &[image("a", vec![face(1.0, true), face(30.0, false)]), image("b", vec![face(1.0, true)])],
    );
    let faces = cat.faces_to_reembed(c.id, 10).unwrap();
    assert_eq!(faces.len(), 2, "faces with a template only");
    let open = PackKey { name: "open".into(), sha256: "ab".repeat(32) };
    let started = change(&mut cat, |tx| tx.begin_reembed(c.id, &open, "openvino/bf16", "curator"));
    assert_eq!((started.made, started.unreadable, started.engine.as_str()), (0, 0, "openvino/bf16"));
    let other = PackKey { name: "other".into(), sha256: "cd".repeat(32) };
    assert!(matches!(
        try_change(&mut cat, |tx| tx.begin_reembed(c.id, &other, "ort/f32", "x")),
        Err(Error::Invalid(_))
    ));
    assert_eq!(
        change(&mut cat, |tx| tx.begin_reembed(c.id, &open, "openvino/bf16", "x")).started_by,
        "curator",
        "resumed"
    );
    change(&mut cat, |tx| tx.keep_reembedded(c.id, &[(faces[0], NewTemplate::Made(vec![9, 8, 7, 6], 0.5))]));
    assert_eq!(cat.faces_to_reembed(c.id, 10).unwrap(), [faces[1]]);
    assert!(matches!(try_change(&mut cat, |tx| tx.change_over(c.id)), Err(Error::Invalid(_))), "one face left");
    // Made again (the last word counts), and the other face's image unreadable.
    change(&mut cat, |tx| {
        tx.keep_reembedded(c.id, &[(faces[0], NewTemplate::Made(vec![5, 4, 3, 2], 0.25))])?;
        tx.keep_reembedded(c.id, &[(faces[1], NewTemplate::Unreadable("gone".into()))])
    });
    let under_way = cat.reembedding(c.id).unwrap().unwrap();
    assert_eq!((under_way.made, under_way.unreadable), (1, 1));
    assert_eq!(cat.faces_left_to_reembed(c.id).unwrap(), 0);
    let done = change(&mut cat, |tx| tx.change_over(c.id));
    assert_eq!(
        (done.from, done.to.clone(), done.templates, done.unreadable.as_slice()),
        (PackKey::legacy(), open.clone(), 1, [faces[1]].as_slice())
    );
    let mut templates = Vec::new();
    cat.templates(|t| templates.push((t.face_id, t.vector, t.scale))).unwrap();
    assert_eq!(templates, [(faces[0], vec![5, 4, 3, 2], 0.25)]);
    let now = cat.collection("archive").unwrap();
    assert_eq!((now.pack_key(), now.engine.as_str()), (open, "openvino/bf16"));
    assert_eq!(cat.reembedding(c.id).unwrap(), None);
});

both!(an_analysed_query_is_its_owners_only_sealed_expires_and_the_oldest_go_first, |w| {
    let cat = w.keyed();
    let t0 = 1_000_000;
    cat.keep_query(("qa", "ines", "a.jpg"), b"the analysis of a", t0, t0 + 900_000, 3).unwrap();
    assert_eq!(
        cat.kept_query("qa", "ines", t0 + 1).unwrap(),
        Some(("a.jpg".to_string(), b"the analysis of a".to_vec()))
    );
    assert_eq!(cat.kept_query("qa", "carl", t0 + 1).unwrap(), None, "another user's");
    assert_eq!(cat.kept_query("qa", "ines", t0 + 900_000).unwrap(), None, "expired");
    assert!(w.files_holding(b"the analysis of a").is_empty(), "sealed at rest");
    for (i, id) in ["qb", "qc", "qd"].iter().enumerate() {
        cat.keep_query((id, "ines", "b.jpg"), b"more", t0 + 10 + i as i64, t0 + 900_000, 3).unwrap();
    }
    assert_eq!(cat.kept_query("qa", "ines", t0 + 20).unwrap(), None, "the oldest went first");
    for id in ["qb", "qc", "qd"] {
        assert!(cat.kept_query(id, "ines", t0 + 20).unwrap().is_some(), "{id}");
    }
    // The expired are dropped when the next is kept.
    cat.keep_query(("qe", "ines", "e.jpg"), b"late", t0 + 900_000, t0 + 1_800_000, 3).unwrap();
    assert_eq!(w.texts("SELECT id FROM analysed_queries ORDER BY id", &[]), [["qe"]]);
    assert!(matches!(cat.keep_query(("qf", "ines", &"n".repeat(501)), b"x", t0, t0 + 1, 3), Err(Error::Policy(_))));
    // Without the data key there is nothing to seal or open with.
    assert!(matches!(w.plain().kept_query("qe", "ines", t0 + 900_001), Err(Error::Locked { .. })));
});

both!(login_attempts_are_counted_per_name_and_address_per_address_and_in_all, |w| {
    let cat = w.keyed();
    let limits = crate::LoginCounts { per_name_and_address: 2, per_address: 3, global: 4, window_ms: 60_000 };
    let t = 1_000_000;
    let a = cat.admit_login("rita", "10.0.0.1", t, &limits).unwrap().unwrap();
    cat.admit_login("rita", "10.0.0.1", t + 1, &limits).unwrap().unwrap();
    assert_eq!(cat.admit_login("rita", "10.0.0.1", t + 2, &limits).unwrap(), Err(59_998), "per name and address");
    cat.admit_login("carl", "10.0.0.1", t + 3, &limits).unwrap().unwrap();
    assert!(cat.admit_login("dina", "10.0.0.1", t + 4, &limits).unwrap().is_err(), "per address");
    cat.admit_login("rita", "10.0.0.2", t + 5, &limits).unwrap().unwrap();
    assert!(cat.admit_login("eve", "10.0.0.3", t + 6, &limits).unwrap().is_err(), "in all");
    // rita logs in from 10.0.0.1: her attempts from there are forgotten.
    cat.login_succeeded(a, "rita", "10.0.0.1").unwrap();
    assert!(cat.admit_login("eve", "10.0.0.3", t + 7, &limits).unwrap().is_ok());
    // Past the window, nothing counts.
    for name in ["a", "b", "c"] {
        assert!(cat.admit_login(name, "10.0.0.9", t + 70_000, &limits).unwrap().is_ok(), "{name}");
    }
    assert_eq!(w.texts("SELECT name FROM login_attempts ORDER BY name", &[]), [["a"], ["b"], ["c"]]);
});
