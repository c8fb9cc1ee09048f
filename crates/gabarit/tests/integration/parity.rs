//! Parity with each pack's reference pipeline, whose output is committed in tests/fixtures:
//! buffalo_s with InsightFace's (../shared/bench/peers/insightface_pipeline.py at a fixed 640
//! input), open with OpenCV's (crates/bench/peers/opencv_pipeline.py).

use base64::Engine as _;
use serde_json::Value;

use crate::{gabarit, json_lines, root, run, sample};

fn reference(fixture: &str) -> Value {
    let text = fs_err::read_to_string(root().join("tests/fixtures").join(fixture)).expect("fixture");
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

/// The face of `candidates` whose box is nearest `face`'s; it must be within 1 px.
fn nearest<'a>(face: &Value, candidates: &[&'a Value], what: &str) -> &'a Value {
    let b = floats(&face["bbox"]);
    let distance = |o: &Value| max_abs_diff(&floats(&o["bbox"]), &b);
    candidates
        .iter()
        .copied()
        .min_by(|x, y| distance(x).total_cmp(&distance(y)))
        .filter(|o| distance(o) <= 1.0)
        .unwrap_or_else(|| panic!("{what}: no face within 1 px of {b:?}"))
}

fn score(face: &Value) -> f64 {
    face.get("score").or_else(|| face.get("det_score")).and_then(Value::as_f64).expect("score")
}

/// Runs `gabarit --pack PACK faces --embeddings ARGS` on the fixture's photos and compares each
/// face with the reference pipeline's: same faces at or above the pack's score threshold
/// (when the reference was made at a lower threshold, faces within `margin` of the pack's
/// may fall either side), boxes and landmarks within 1 px, scores within 0.01, templates at
/// cosine ≥ 0.995. Returns the faces compared and the worst cosine.
fn compare_with_reference(
    fixture: &str,
    pack: &str,
    args: &[&str],
    threshold: f64,
    margin: f64,
    dim: usize,
) -> (usize, f64) {
    let reference = reference(fixture);
    let images = reference["images"].as_object().expect("images");
    let paths: Vec<_> = images.keys().map(|n| sample(n)).collect();
    // On ONNX Runtime in f32, as the references were made (the OpenVINO backend is compared
    // with it in backends.rs).
    let out = run(gabarit()
        .args(["--pack", pack, "faces", "--embeddings", "--backend", "ort", "--precision", "f32"])
        .args(args)
        .args(&paths));
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
        let ours: Vec<&Value> = line["faces"].as_array().expect("faces").iter().collect();
        let theirs: Vec<&Value> = want["faces"].as_array().expect("faces").iter().collect();
        let clear = |faces: &[&Value]| faces.iter().filter(|f| score(f) >= threshold + margin).count();
        assert_eq!(clear(&ours), clear(&theirs), "{name}: faces clearly above the threshold");
        assert!(ours.iter().all(|f| score(f) >= threshold), "{name}: a face under the pack's threshold");
        for o in &ours {
            // Each of our faces is one of the reference's (the reference lists down to 0.5).
            nearest(o, &theirs, &format!("{name}: reference"));
        }
        for t in theirs.iter().filter(|t| score(t) >= threshold + margin) {
            // Pair by nearest box: equal scores may be listed in another order.
            let o = nearest(t, &ours, &format!("{name}: Gabarit"));
            assert!(max_abs_diff(&floats(&o["landmarks"]), &floats(&t["kps"])) <= 1.0, "{name}: landmarks");
            assert!((score(o) - score(t)).abs() < 0.01, "{name}: score {} vs {}", score(o), score(t));
            let bytes =
                base64::engine::general_purpose::STANDARD.decode(t["embedding"].as_str().expect("b64")).expect("b64");
            let reference: Vec<f64> =
                bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect();
            let mine = floats(&o["embedding"]);
            assert_eq!((mine.len(), reference.len()), (dim, dim));
            let norm: f64 = mine.iter().map(|x| x * x).sum::<f64>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "templates are unit vectors");
            let cos: f64 = mine.iter().zip(&reference).map(|(a, b)| a * b).sum();
            assert!(cos >= 0.995, "{name}: cosine {cos} with the reference template");
            worst_cos = worst_cos.min(cos);
            faces_checked += 1;
        }
    }
    eprintln!("{pack}: worst cosine against the reference: {worst_cos:.5} over {faces_checked} faces");
    (faces_checked, worst_cos)
}

#[test]
fn detections_and_templates_match_the_reference_pipeline() {
    let (faces, _) =
        compare_with_reference("reference_buffalo_s_640.json", "buffalo_s", &["--det-size", "640"], 0.5, 0.0, 512);
    assert_eq!(faces, 34, "every reference face checked");
}

#[test]
fn the_open_pack_matches_opencvs_own_pipeline() {
    // tests/fixtures/reference_open.json: OpenCV 4.14's FaceDetectorYN and FaceRecognizerSF
    // on the published model files (scripts/make-open-reference.sh). OpenCV does not
    // mirror-average: the pack's flip averaging is compared apart.
    let threshold = gabarit_inference::Pack::builtin("open").expect("pack").engine.detector.score_threshold as f64;
    let (faces, _) = compare_with_reference("reference_open.json", "open", &["--flip", "false"], threshold, 0.01, 128);
    // The fixture has 57 faces at 0.6 or more (43 in players.jpg, 6 in gdp.jpg, one in each
    // other photo), 4 of them under 0.61: those may fall either side of the threshold, and
    // every face Gabarit reports must still be one of the reference's.
    assert_eq!(faces, 53, "every reference face clearly above the threshold checked");
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

#[test]
fn the_open_packs_flip_averaged_templates_are_the_mean_of_a_face_and_its_mirror() {
    // With flip averaging on (the pack's default), a face's template is close to, but not
    // the same as, the unmirrored one OpenCV computes: the mean of two unit vectors at cosine
    // c has cosine sqrt((1 + c) / 2) with each.
    let photo = sample("obama.jpg");
    let template = |flip: &str| -> Vec<f64> {
        let out = run(gabarit().args(["--pack", "open", "faces", "--embeddings", "--flip", flip]).arg(&photo));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        floats(&json_lines(&out)[0]["faces"][0]["embedding"])
    };
    let default = {
        let out = run(gabarit().args(["--pack", "open", "faces", "--embeddings"]).arg(&photo));
        floats(&json_lines(&out)[0]["faces"][0]["embedding"])
    };
    let (plain, averaged) = (template("false"), template("true"));
    assert_eq!(default, averaged, "the pack averages by default");
    let cos: f64 = plain.iter().zip(&averaged).map(|(a, b)| a * b).sum();
    assert!(cos > 0.9 && cos < 0.9999, "averaged vs plain: cosine {cos}");
}
