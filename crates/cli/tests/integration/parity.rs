//! Parity with the reference InsightFace pipeline (../shared/bench/peers/insightface_pipeline.py
//! at a fixed 640 input), whose output is committed in tests/fixtures.

use base64::Engine as _;
use serde_json::Value;

use crate::{gabarit, json_lines, root, run, sample};

fn reference() -> Value {
    let text = fs_err::read_to_string(root().join("tests/fixtures/reference_buffalo_s_640.json")).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

fn floats(v: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    for x in v.as_array().expect("array") {
        match x.as_array() {
            Some(inner) => out.extend(inner.iter().map(|y| y.as_f64().expect("num"))),
            None => out.push(x.as_f64().expect("num")),
        }
    }
    out
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn detections_and_templates_match_the_reference_pipeline() {
    let reference = reference();
    let images = reference["images"].as_object().expect("images");
    let paths: Vec<_> = images.keys().map(|n| sample(n)).collect();
    let out = run(gabarit().args(["faces", "--det-size", "640", "--embeddings"]).args(&paths));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out);
    assert_eq!(lines.len(), images.len());
    let mut faces_checked = 0;
    let mut worst_cos: f64 = 1.0;
    for line in &lines {
        let name = std::path::Path::new(line["path"].as_str().expect("path"))
            .file_name()
            .expect("name")
            .to_string_lossy()
            .to_string();
        let want = &images[&name];
        assert_eq!(line["width"], want["width"], "{name}");
        assert_eq!(line["height"], want["height"], "{name}");
        let ours = line["faces"].as_array().expect("faces");
        let theirs = want["faces"].as_array().expect("faces");
        assert_eq!(ours.len(), theirs.len(), "{name}: face count");
        for t in theirs {
            let tb = floats(&t["bbox"]);
            // Pair by nearest box: equal scores may be listed in another order.
            let o = ours
                .iter()
                .min_by(|a, b| {
                    max_abs_diff(&floats(&a["bbox"]), &tb).total_cmp(&max_abs_diff(&floats(&b["bbox"]), &tb))
                })
                .expect("a face");
            assert!(max_abs_diff(&floats(&o["bbox"]), &tb) <= 1.0, "{name}: box {:?} vs {tb:?}", o["bbox"]);
            assert!(max_abs_diff(&floats(&o["landmarks"]), &floats(&t["kps"])) <= 1.0, "{name}: landmarks");
            assert!((o["score"].as_f64().expect("score") - t["det_score"].as_f64().expect("s")).abs() < 0.01);
            let bytes =
                base64::engine::general_purpose::STANDARD.decode(t["embedding"].as_str().expect("b64")).expect("b64");
            let reference: Vec<f64> =
                bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect();
            let mine = floats(&o["embedding"]);
            assert_eq!(mine.len(), 512);
            let norm: f64 = mine.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "templates are unit vectors");
            let cos: f64 = mine.iter().zip(&reference).map(|(a, b)| a * b).sum();
            assert!(cos >= 0.995, "{name}: cosine {cos} with the reference template");
            worst_cos = worst_cos.min(cos);
            faces_checked += 1;
        }
    }
    assert_eq!(faces_checked, 34, "every reference face checked");
    eprintln!("worst cosine against the reference: {worst_cos:.5} over {faces_checked} faces");
}

#[test]
fn group_photo_counts_are_the_same_with_the_default_detector_input() {
    let out = run(gabarit().arg("faces").arg(sample("players.jpg")).arg(sample("gdp.jpg")).arg(sample("yaoming.jpg")));
    assert!(out.status.success());
    let counts: Vec<usize> = json_lines(&out).iter().map(|l| l["faces"].as_array().expect("faces").len()).collect();
    assert_eq!(counts, vec![22, 5, 1]);
    // Without --embeddings no template is printed.
    assert!(json_lines(&out)[0]["faces"][0].get("embedding").is_none());
}
