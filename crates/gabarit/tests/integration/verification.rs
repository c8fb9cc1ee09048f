//! Same person / different person at the pack's threshold.

use crate::{gabarit, run, sample};

fn compare(a: &str, b: &str) -> (f64, bool) {
    let out = run(gabarit().args(["compare", "--json"]).arg(sample(a)).arg(sample(b)));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    (v["similarity"].as_f64().expect("sim"), v["same_person"].as_bool().expect("bool"))
}

#[test]
fn obama_photos_match_each_other_and_not_biden() {
    for (a, b) in [("obama.jpg", "obama2.jpg"), ("obama.jpg", "obama3.jpg"), ("obama2.jpg", "obama3.jpg")] {
        let (sim, same) = compare(a, b);
        assert!(same && sim > 0.45, "{a} vs {b}: {sim}");
    }
    for o in ["obama.jpg", "obama2.jpg", "obama3.jpg"] {
        let (sim, same) = compare(o, "biden.jpg");
        assert!(!same && sim < 0.2, "{o} vs biden: {sim}");
    }
}

#[test]
fn a_photo_without_a_face_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let blank = dir.path().join("blank.png");
    image_blank(&blank);
    let out = run(gabarit().arg("compare").arg(sample("obama.jpg")).arg(&blank));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("blank.png") && err.contains("no face"), "{err}");
}

fn image_blank(path: &std::path::Path) {
    // A flat grey photo: valid, decodable, no face.
    let img = image::RgbImage::from_pixel(64, 64, image::Rgb([128, 128, 128]));
    img.save(path).expect("save png");
}
