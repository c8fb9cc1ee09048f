//! A stored source viewed through the engine: a video's frame is given at a time within the
//! video, refused (and not on the record) at a time outside it.

use gabarit_engine::Error;
use gabarit_governance::Role;
use gabarit_video::testing::{Part, slideshow};

#[test]
fn a_videos_frame_is_given_at_a_time_within_it_and_refused_outside_it() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin) = crate::data_dir(dir.path());
    let cur = crate::user(&engine, &admin, "cur", Role::Curator, &[]);
    let dpo = crate::user(&engine, &admin, "dora", Role::Dpo, &[]);
    crate::new_collection(&engine, &cur, "footage", &crate::buffalo_s());
    let clip = dir.path().join("clip.mp4");
    slideshow(&[Part::Blank { seconds: 1.0 }], &clip).expect("ffmpeg (scripts/system-packages.sh)");
    let opts = crate::ingest_options("footage", vec![clip.clone()]);
    let report = engine.ingest(&cur, &opts, &mut |_| {}).unwrap();
    assert_eq!((report.ingested, report.videos), (1, 1), "{report:?}");
    let held = engine.records_of_content(&cur, &gabarit_media::sha256_hex(&fs_err::read(&clip).unwrap())).unwrap();
    let image = &held[0]["image"];
    let (id, duration) = (image["id"].as_u64().unwrap(), image["video"]["duration_s"].as_f64().unwrap());
    assert!((duration - 1.0).abs() < 0.05, "{duration}");
    let limits = Default::default();
    for t in [0.0, duration / 2.0] {
        let jpeg = engine.source_image(&cur, id, Some(t), &limits).unwrap();
        assert_eq!(jpeg[..2], [0xFF, 0xD8], "a JPEG at {t} s");
    }
    for t in [-0.5, duration, duration + 0.5] {
        match engine.source_image(&cur, id, Some(t), &limits) {
            Err(Error::InvalidField { field, problem }) => {
                assert_eq!(field, "time_s");
                assert!(problem.contains(&format!("{t} s is outside the video")), "{problem}");
            }
            other => panic!("{t} s: {:?}", other.map(|b| b.len())),
        }
    }
    let log = engine.audit_export(&dpo, None, None).unwrap();
    let viewed: Vec<f64> =
        log.iter().filter(|e| e.action == "image_view").map(|e| e.detail["time_s"].as_f64().unwrap()).collect();
    assert_eq!(viewed, [0.0, duration / 2.0], "only the frames given are on the record");
}

#[test]
fn a_faces_crop_is_the_face_with_a_margin_and_its_viewing_is_on_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, admin) = crate::data_dir(dir.path());
    let cur = crate::user(&engine, &admin, "cur", Role::Curator, &[]);
    let dpo = crate::user(&engine, &admin, "dora", Role::Dpo, &[]);
    crate::new_collection(&engine, &cur, "press", &crate::buffalo_s());
    let photo = crate::sample("obama2.jpg");
    let opts = crate::ingest_options("press", vec![photo.clone()]);
    engine.ingest(&cur, &opts, &mut |_| {}).unwrap();
    let held = engine.records_of_content(&cur, &gabarit_media::sha256_hex(&fs_err::read(&photo).unwrap())).unwrap();
    let face = &held[0]["faces"][0];
    let id = face["face_id"].as_u64().unwrap();
    let bbox: Vec<f64> = (0..4).map(|k| face["bbox"][k].as_f64().unwrap()).collect();
    let jpeg = engine.face_crop(&cur, id, &Default::default()).unwrap();
    let crop = image::load_from_memory(&jpeg).unwrap();
    // The box and a quarter of its larger side around it, within the photo.
    let side = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]);
    let (w, h) = (crop.width() as f64, crop.height() as f64);
    assert!(w > bbox[2] - bbox[0] && w <= bbox[2] - bbox[0] + side * 0.5 + 2.0, "{w} for {bbox:?}");
    assert!(h > bbox[3] - bbox[1] && h <= bbox[3] - bbox[1] + side * 0.5 + 2.0, "{h} for {bbox:?}");
    let log = engine.audit_export(&dpo, None, None).unwrap();
    let viewed: Vec<u64> =
        log.iter().filter(|e| e.action == "face_view").map(|e| e.detail["face"].as_u64().unwrap()).collect();
    assert_eq!(viewed, [id]);
}
