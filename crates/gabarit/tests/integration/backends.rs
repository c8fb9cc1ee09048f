//! The OpenVINO backend against ONNX Runtime on the sample photos (the same faces, boxes within
//! 0.5 px, templates at cosine ≥ 0.999 in f32 and ≥ 0.99 in bf16, for both packs), and each
//! collection kept to the one backend and precision its templates come from.

use std::path::Path;

use serde_json::Value;

use crate::catalog::{as_user, new_collection};
use crate::{gabarit, json_lines, models, run, sample};

const PHOTOS: [&str; 9] = [
    "biden.jpg",
    "gdp.jpg",
    "obama.jpg",
    "obama2.jpg",
    "obama3.jpg",
    "obama_partial_face.jpg",
    "obama_partial_face2.jpg",
    "players.jpg",
    "yaoming.jpg",
];

/// Each photo's faces as (box, template), from `faces --embeddings` on a backend and precision.
fn faces(pack: &str, backend: &str, precision: &str) -> Vec<Vec<(Vec<f64>, Vec<f64>)>> {
    let paths: Vec<_> = PHOTOS.iter().map(|n| sample(n)).collect();
    let out = run(gabarit()
        .args(["--pack", pack, "faces", "--embeddings", "--workers", "1"])
        .args(["--backend", backend, "--precision", precision])
        .args(&paths));
    assert!(out.status.success(), "{pack} on {backend}/{precision}: {}", String::from_utf8_lossy(&out.stderr));
    let floats = |v: &Value| v.as_array().expect("array").iter().map(|x| x.as_f64().expect("num")).collect::<Vec<_>>();
    json_lines(&out)
        .iter()
        .map(|line| {
            line["faces"]
                .as_array()
                .expect("faces")
                .iter()
                .map(|f| (floats(&f["bbox"]), floats(&f["embedding"])))
                .collect()
        })
        .collect()
}

/// Compares `other` with ONNX Runtime f32's faces: the same number in each photo, paired by
/// nearest box; returns the faces, the largest box difference (px) and the worst cosine.
fn against_ort(pack: &str, backend: &str, precision: &str) -> (usize, f64, f64) {
    let reference = faces(pack, "ort", "f32");
    let other = faces(pack, backend, precision);
    let (mut n, mut worst_box, mut worst_cos) = (0, 0.0f64, 1.0f64);
    for ((photo, want), got) in PHOTOS.iter().zip(&reference).zip(&other) {
        assert_eq!(got.len(), want.len(), "{pack} {backend}/{precision}: faces in {photo}");
        for (b, t) in want {
            let diff = |o: &Vec<f64>| o.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
            let (ob, ot) = got.iter().min_by(|x, y| diff(&x.0).total_cmp(&diff(&y.0))).expect("a face");
            assert_eq!(ot.len(), t.len());
            worst_box = worst_box.max(diff(ob));
            worst_cos = worst_cos.min(ot.iter().zip(t).map(|(x, y)| x * y).sum());
            n += 1;
        }
    }
    eprintln!("{pack} {backend}/{precision}: {n} faces, boxes within {worst_box:.3} px, worst cosine {worst_cos:.5}");
    (n, worst_box, worst_cos)
}

/// OpenVINO in `precision` against ONNX Runtime f32 on both packs: every face found by both
/// (34 with buffalo_s, 56 with open), boxes within 0.5 px (the detector computes in f32 in
/// both precisions), templates at cosine `min_cos` or more.
fn assert_openvino_parity(precision: &str, min_cos: f64) {
    for (pack, expected) in [("buffalo_s", 34), ("open", 56)] {
        let (n, worst_box, worst_cos) = against_ort(pack, "openvino", precision);
        assert_eq!(n, expected, "{pack}: faces compared");
        assert!(worst_box <= 0.5, "{pack} {precision}: boxes differ by {worst_box} px");
        assert!(worst_cos >= min_cos, "{pack} {precision}: worst cosine {worst_cos}");
    }
}

#[test]
fn openvino_f32_makes_onnx_runtimes_faces_and_templates() {
    assert_openvino_parity("f32", 0.999);
}

#[test]
fn openvino_bf16_templates_stay_within_cosine_0_99_of_f32() {
    if !gabarit_inference::openvino::cpu_has_native_bf16(&models()).expect("OpenVINO loads") {
        eprintln!("skipped: this CPU does not compute bfloat16 natively");
        return;
    }
    assert_openvino_parity("bf16", 0.99);
}

#[test]
fn onnx_runtime_refuses_bf16_with_a_typed_error() {
    let out = run(gabarit().args(["faces", "--backend", "ort", "--precision", "bf16"]).arg(sample("obama.jpg")));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("f32 only") && err.contains("--backend openvino"), "{err}");
    assert!(out.stdout.is_empty());
}

fn collection_engine(data: &Path, name: &str) -> String {
    let cat = gabarit_catalog::Catalog::open(&data.join("catalog.db")).unwrap();
    cat.collection(name).unwrap().engine
}

fn image_count(data: &Path) -> usize {
    let cat = gabarit_catalog::Catalog::open(&data.join("catalog.db")).unwrap();
    cat.content_snapshot().unwrap().iter().filter(|l| l.starts_with("press|")).count()
}

#[test]
fn a_collection_keeps_the_backend_and_precision_it_was_made_with() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Made on ONNX Runtime f32 (named), ingested into with no choice: the collection's is used.
    new_collection_on(&data, "press", &["--backend", "ort", "--precision", "f32"]);
    assert_eq!(collection_engine(&data, "press"), "ort/f32");
    let folder = dir.path().join("photos");
    fs_err::create_dir_all(&folder).unwrap();
    fs_err::copy(sample("obama.jpg"), folder.join("obama.jpg")).unwrap();
    let ingest = |extra: &[&str]| {
        run(as_user(&data, "cur")
            .env_remove("GABARIT_BACKEND")
            .env_remove("GABARIT_PRECISION")
            .args(["ingest", "--quiet", "--collection", "press"])
            .args(extra)
            .arg(&folder))
    };
    // Another family named: refused before anything is stored, naming the collection's.
    let refused = ingest(&["--backend", "openvino", "--precision", "f32"]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("ort/f32") && err.contains("openvino/f32") && err.contains("--backend ort"), "{err}");
    assert_eq!(image_count(&data), 0);
    // No choice: the collection's own (whatever the default here is).
    let out = ingest(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(image_count(&data), 1);
    assert_eq!(collection_engine(&data, "press"), "ort/f32");
    // The listing names each collection's pack and engine.
    let out = run(as_user(&data, "cur").args(["collection", "list"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listing = String::from_utf8_lossy(&out.stdout);
    let row = listing.lines().find(|l| l.starts_with("press ")).expect("press listed");
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&columns[..6], ["press", "1", "1", "1", "buffalo_s", "ort/f32"], "{listing}");
}

/// [`new_collection`] with the collection made on the engine `engine` names.
fn new_collection_on(data: &Path, name: &str, engine: &[&str]) {
    new_collection(data, "other");
    let out =
        run(as_user(data, "cur").args(["collection", "create", name]).args(engine).args(crate::catalog::GOVERNANCE));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(as_user(data, "admin").args(["user", "grant", "inv", name]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Ingestion on OpenVINO embeds the faces of several photos per call: each photo must still get
/// its own faces' templates. Every sample photo is ingested by one worker (so that photos are
/// gathered), then each one-face photo, searched for, finds itself first at cosine ≥ 0.999.
#[test]
fn gathered_photos_keep_their_own_templates_on_openvino() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection_on(&data, "press", &["--backend", "openvino", "--precision", "f32"]);
    let folder = dir.path().join("photos");
    fs_err::create_dir_all(&folder).unwrap();
    for name in PHOTOS {
        fs_err::copy(sample(name), folder.join(name)).unwrap();
    }
    let out =
        run(as_user(&data, "cur").args(["ingest", "--quiet", "--workers", "1", "--collection", "press"]).arg(&folder));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains(&format!("{} images ingested", PHOTOS.len())), "{report}");
    // The faces ONNX Runtime finds in the same photos (the same, as parity above shows).
    let expected: usize = faces("buffalo_s", "ort", "f32").iter().map(Vec::len).sum();
    assert!(report.contains(&format!("; {expected} faces (")), "{expected} faces expected: {report}");
    for name in ["biden.jpg", "obama.jpg", "obama2.jpg", "obama3.jpg"] {
        let result = crate::catalog::search_json(&data, &sample(name), &[]);
        let best = &result["candidates"][0];
        let found = Path::new(best["path"].as_str().expect("path")).file_name().expect("name");
        assert_eq!(found, name, "{name}: {result}");
        assert!(best["score"].as_f64().expect("score") >= 0.999, "{name}: {result}");
    }
}

/// A models directory of hard links (or copies) to the installed files, so that a record
/// written there does not change the default of the other tests.
fn private_models_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for entry in fs_err::read_dir(models()).expect("models dir") {
        let path = entry.expect("entry").path();
        if path.is_file() && path.file_name().is_some_and(|n| n != "engine-choice.json") {
            let to = dir.path().join(path.file_name().expect("name"));
            fs_err::hard_link(&path, &to).or_else(|_| fs_err::copy(&path, &to).map(|_| ())).expect("link a model file");
        }
    }
    dir
}

fn default_engine_line(models_dir: &Path) -> (bool, String) {
    let out = run(gabarit().env("GABARIT_MODELS", models_dir).args(["models", "verify"]));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (
        out.status.success(),
        text.lines().find(|l| l.starts_with("default engine") || l.starts_with("error")).unwrap_or("").to_string(),
    )
}

/// `models check` measures every family the machine offers on the photos with both packs,
/// records the fastest that passes parity (mode 0600), and the default follows the record
/// on this CPU only; a malformed record is an error naming it, not a silent default.
#[test]
fn models_check_records_the_fastest_family_that_passes_and_the_default_follows_it() {
    let dir = private_models_dir();
    let photos: Vec<_> = PHOTOS.iter().map(|n| sample(n)).collect();
    let out = run(gabarit().env("GABARIT_MODELS", dir.path()).args(["models", "check"]).args(&photos));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record_path = dir.path().join("engine-choice.json");
    assert_eq!(mode_of(&record_path), 0o600);
    let record: Value = serde_json::from_slice(&fs_err::read(&record_path).expect("record")).expect("json");
    assert_eq!(record["photos"], 9);
    assert_eq!(record["packs"], serde_json::json!(["open", "buffalo_s"]));
    let trials = record["trials"].as_array().expect("trials");
    let families: Vec<&str> = trials.iter().map(|t| t["family"].as_str().expect("family")).collect();
    let bf16 = gabarit_inference::openvino::cpu_has_native_bf16(&models()).expect("OpenVINO loads");
    let expected: &[&str] =
        if bf16 { &["ort/f32", "openvino/f32", "openvino/bf16"] } else { &["ort/f32", "openvino/f32"] };
    assert_eq!(families, expected);
    for t in trials {
        let family = t["family"].as_str().expect("family");
        // 56 faces with open and 34 with buffalo_s, each compared with ONNX Runtime f32's.
        assert_eq!(t["faces"], 90, "{family}");
        assert!(t["failure"].is_null(), "{family}: {}", t["failure"]);
        assert!(t["worst_box_px"].as_f64().expect("box") <= 0.5, "{family}");
        let min = if family.ends_with("bf16") { 0.99 } else { 0.999 };
        assert!(t["worst_cosine"].as_f64().expect("cos") >= min, "{family}: {}", t["worst_cosine"]);
        assert!(t["ms_per_photo"].as_f64().expect("ms") > 0.0, "{family}");
    }
    let fastest = trials
        .iter()
        .min_by(|a, b| a["ms_per_photo"].as_f64().unwrap().total_cmp(&b["ms_per_photo"].as_f64().unwrap()))
        .expect("a trial");
    assert_eq!(record["family"], fastest["family"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("default engine: {}", record["family"].as_str().unwrap())), "{stdout}");

    // The default follows the record: make ONNX Runtime the recorded choice.
    let mut edited = record.clone();
    edited["family"] = "ort/f32".into();
    fs_err::write(&record_path, serde_json::to_vec(&edited).unwrap()).unwrap();
    let (ok, line) = default_engine_line(dir.path());
    assert!(ok && line.starts_with("default engine: ort/f32 (measured here"), "{line}");
    // Measured on another CPU: ignored, the rule applies.
    edited["cpu"] = "another CPU".into();
    fs_err::write(&record_path, serde_json::to_vec(&edited).unwrap()).unwrap();
    let (ok, line) = default_engine_line(dir.path());
    let rule = if bf16 { "openvino/bf16" } else { "openvino/f32" };
    assert!(ok && line.starts_with(&format!("default engine: {rule} (by rule")), "{line}");
    // Malformed: an error naming the file.
    fs_err::write(&record_path, b"{\"family\": \"abacus/f64\"").unwrap();
    let (ok, line) = default_engine_line(dir.path());
    assert!(!ok && line.contains("engine-choice.json"), "{line}");
}

fn mode_of(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs_err::metadata(path).expect("metadata").permissions().mode() & 0o777
}
