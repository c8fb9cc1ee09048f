use super::*;
use gabarit_types::{BBox, Landmarks, Quality};

fn face(x: f32, template: bool) -> NewFace {
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

fn image(sha: &str, faces: Vec<NewFace>) -> BatchItem {
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

#[test]
fn stores_images_faces_and_templates_with_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let mut cat = Catalog::open(&dir.path().join("catalog.db")).unwrap();
    let c = cat.create_collection("archive", "press photos").unwrap();
    assert!(matches!(cat.create_collection("archive", ""), Err(Error::AlreadyExists { .. })));
    let job = cat.begin_job(c.id, &["/photos".into()]).unwrap();
    let out = cat
        .store_batch(
            job,
            c.id,
            &[
                image("aa", vec![face(0.0, true), face(50.0, false)]),
                image("aa", vec![face(0.0, true)]),
                BatchItem::Failed {
                    uri: "/photos/bad.jpg".into(),
                    code: "corrupt_image".into(),
                    message: "bad".into(),
                },
            ],
        )
        .unwrap();
    let StoreOutcome::Inserted { image_id, template_faces } = &out[0] else { panic!("{out:?}") };
    assert_eq!(template_faces.len(), 1);
    assert_eq!(out[1], StoreOutcome::Duplicate);
    assert_eq!(out[2], StoreOutcome::Failed);
    let f = cat.face(template_faces[0]).unwrap();
    assert_eq!((f.collection.as_str(), f.uri.as_str(), f.source.as_str()), ("archive", "/photos/aa.jpg", "/photos"));
    assert_eq!(f.bbox.x2, 10.0);
    assert_eq!(f.quality.pitch_deg, 2.0);
    assert!(f.has_template);
    assert_eq!(cat.faces_of_image(*image_id).unwrap().len(), 2);
    let mut templates = Vec::new();
    cat.templates(|t| templates.push(t)).unwrap();
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0].vector, vec![1, -2, 3]);
    assert_eq!(templates[0].scale, 0.01);
    let summary = &cat.collections().unwrap()[0];
    assert_eq!((summary.images, summary.faces, summary.templates), (1, 2, 1));
    let files = cat.job_files(job).unwrap();
    assert_eq!(files.len(), 2, "one row per distinct uri: {files:?}");
    assert!(cat.has_image(c.id, "aa").unwrap());
    assert_eq!(cat.images_by_sha256("aa").unwrap()[0].captured_at.as_deref(), Some("2024-05-01T10:00:00"));
}

#[test]
fn reopening_keeps_everything_and_snapshots_ignore_ids() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("catalog.db");
    let snap = {
        let mut cat = Catalog::open(&p).unwrap();
        let c = cat.create_collection("a", "").unwrap();
        let job = cat.begin_job(c.id, &[]).unwrap();
        cat.store_batch(job, c.id, &[image("x", vec![face(1.0, true)]), image("y", vec![])]).unwrap();
        cat.content_snapshot().unwrap()
    };
    let cat = Catalog::open(&p).unwrap();
    assert_eq!(cat.content_snapshot().unwrap(), snap);
    // The same content stored in the other order gives the same snapshot.
    let dir2 = tempfile::tempdir().unwrap();
    let mut other = Catalog::open(&dir2.path().join("c.db")).unwrap();
    let c = other.create_collection("a", "").unwrap();
    let job = other.begin_job(c.id, &[]).unwrap();
    other.store_batch(job, c.id, &[image("y", vec![])]).unwrap();
    other.store_batch(job, c.id, &[image("x", vec![face(1.0, true)])]).unwrap();
    assert_eq!(other.content_snapshot().unwrap(), snap);
}

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

#[test]
fn bad_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cat = Catalog::open(&dir.path().join("c.db")).unwrap();
    assert!(matches!(cat.create_collection("  ", ""), Err(Error::Invalid(_))));
    assert!(matches!(cat.collection("nope"), Err(Error::NotFound { .. })));
}

#[test]
fn a_video_keeps_its_tracks_and_each_face_its_moment() {
    let dir = tempfile::tempdir().unwrap();
    let mut cat = Catalog::open(&dir.path().join("c.db")).unwrap();
    let col = cat.create_collection("clips", "").unwrap();
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
    let out = cat.store_batch(job, col.id, &[BatchItem::Image(img)]).unwrap();
    let StoreOutcome::Inserted { image_id, template_faces } = &out[0] else { panic!("{out:?}") };
    assert_eq!(template_faces.len(), 3);
    let rec = cat.image(*image_id).unwrap();
    assert_eq!(rec.video, Some(VideoMeta { duration_s: 8.0, frame_rate: 25.0, codec: "h264".into() }));
    let tracks = cat.tracks_of_image(*image_id).unwrap();
    assert_eq!(tracks.len(), 2);
    assert_eq!((tracks[1].start_s, tracks[1].end_s, tracks[1].sightings), (5.0, 7.5, 6));
    let moments: Vec<_> = cat.faces_of_image(*image_id).unwrap().iter().map(|f| f.moment).collect();
    assert_eq!(
        moments,
        vec![
            Some(Moment { track: 0, time_s: 0.0 }),
            Some(Moment { track: 0, time_s: 0.5 }),
            Some(Moment { track: 1, time_s: 1.0 })
        ]
    );
    // A photo has neither.
    cat.store_batch(job, col.id, &[image("p1", vec![face(1.0, true)])]).unwrap();
    let photo = cat.images_by_sha256("p1").unwrap().remove(0);
    assert_eq!(photo.video, None);
    assert_eq!(cat.faces_of_image(photo.id).unwrap()[0].moment, None);
}
