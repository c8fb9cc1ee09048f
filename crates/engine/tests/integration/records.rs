//! A stored source viewed through the engine: a video's frame is given at a time within the
//! video, refused (and not on the record) at a time outside it.

use gabarit_engine::{Error, governed};
use gabarit_governance::Role;
use gabarit_video::testing::{Part, slideshow};

#[test]
fn a_videos_frame_is_given_at_a_time_within_it_and_refused_outside_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, admin) = crate::data_dir(dir.path());
    let cur = crate::user(&mut store, &admin, "cur", Role::Curator, &[]);
    let dpo = crate::user(&mut store, &admin, "dora", Role::Dpo, &[]);
    governed::create_collection(&mut store, &cur, "footage", "", &crate::governance(), &crate::buffalo_s()).unwrap();
    let clip = dir.path().join("clip.mp4");
    slideshow(&[Part::Blank { seconds: 1.0 }], &clip).expect("ffmpeg (scripts/system-packages.sh)");
    let opts = crate::ingest_options("footage", vec![clip.clone()]);
    let report = governed::governed_ingest(&crate::service(), &mut store, &cur, &opts, &mut |_| {}).unwrap();
    assert_eq!((report.ingested, report.videos), (1, 1), "{report:?}");
    let held =
        governed::records_of_content(&mut store, &cur, &gabarit_media::sha256_hex(&fs_err::read(&clip).unwrap()))
            .unwrap();
    let image = &held[0]["image"];
    let (id, duration) = (image["id"].as_u64().unwrap(), image["video"]["duration_s"].as_f64().unwrap());
    assert!((duration - 1.0).abs() < 0.05, "{duration}");
    let limits = Default::default();
    for t in [0.0, duration / 2.0] {
        let jpeg = governed::source_image(&mut store, &cur, id, Some(t), &limits).unwrap();
        assert_eq!(jpeg[..2], [0xFF, 0xD8], "a JPEG at {t} s");
    }
    for t in [-0.5, duration, duration + 0.5] {
        match governed::source_image(&mut store, &cur, id, Some(t), &limits) {
            Err(Error::Invalid(m)) => assert!(m.contains(&format!("time {t} s is outside the video")), "{m}"),
            other => panic!("{t} s: {:?}", other.map(|b| b.len())),
        }
    }
    let log = governed::audit_export(&mut store, &dpo, None, None).unwrap();
    let viewed: Vec<f64> =
        log.iter().filter(|e| e.action == "image_view").map(|e| e.detail["time_s"].as_f64().unwrap()).collect();
    assert_eq!(viewed, [0.0, duration / 2.0], "only the frames given are on the record");
}
