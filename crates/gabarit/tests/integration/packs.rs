//! Collections bound to their model pack: re-embedding a collection with another pack (killed
//! and resumed) and back, and a search over collections of two packs.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::catalog::{as_user, make_gallery, new_collection, search_json, snapshot};
use crate::rights::{folder, open_request};
use crate::{kill_when, run, sample};

fn ok(cmd: &mut std::process::Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The collection's pack, and how many faces have a new template kept by a re-embedding under
/// way (read without the key: names and counts only).
fn pack_state(data: &Path, collection: &str) -> (String, u64) {
    let cat = gabarit_catalog::Catalog::open(&data.join("catalog.db")).unwrap();
    let c = cat.collection(collection).unwrap();
    let made = cat.reembedding(c.id).unwrap().map_or(0, |r| r.made + r.unreadable);
    (c.pack, made)
}

/// The search's candidates as (file, collection, pack, score × 1e3 rounded), best first.
fn candidates(data: &Path, photo: &Path, extra: &[&str]) -> Vec<(String, String, String, i64)> {
    let r = search_json(data, photo, &[&["--top-k", "50"], extra].concat());
    r["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let file = Path::new(c["path"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
            let score = (c["score"].as_f64().unwrap() * 1e3).round() as i64;
            (file, c["collection"].as_str().unwrap().into(), c["pack"].as_str().unwrap().into(), score)
        })
        .collect()
}

/// A folder holding a new photo of Yao Ming (cropped by `margin` pixels: not a duplicate).
fn new_photo_of_yao(dir: &Path, margin: u32) -> std::path::PathBuf {
    let folder = dir.join(format!("yao-{margin}"));
    fs_err::create_dir_all(&folder).unwrap();
    let img = image::open(sample("yaoming.jpg")).unwrap().to_rgb8();
    let (w, h) = (img.width() - 2 * margin, img.height() - 2 * margin);
    image::imageops::crop_imm(&img, margin, margin, w, h).to_image().save(folder.join("yao.jpg")).unwrap();
    folder
}

/// Ingests `folder` into `c` (whose pack is `pack`) as the curator; how many faces an
/// objection kept out.
fn suppressed_on_ingest(data: &Path, pack: &str, folder: &Path) -> u64 {
    let report = folder.with_extension("report.json");
    ok(as_user(data, "cur")
        .args(["--pack", pack, "ingest", "--quiet", "--collection", "c", "--report"])
        .arg(&report)
        .arg(folder));
    let r: serde_json::Value = serde_json::from_str(&fs_err::read_to_string(&report).unwrap()).unwrap();
    r["suppressed_by_objection"].as_u64().unwrap()
}

/// Runs `collection reembed` as the curator and kills it (SIGKILL) once it has kept more new
/// templates than `before`; returns how many it had kept.
fn killed_reembed(data: &Path, pack: &str, before: u64) -> u64 {
    let mut child = as_user(data, "cur")
        .args(["--pack", pack, "collection", "reembed", "c", "--quiet", "--batch", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let killed = kill_when(&mut child, || pack_state(data, "c").1 > before, Duration::from_secs(300));
    assert!(killed, "the re-embedding ended before it could be interrupted");
    pack_state(data, "c").1
}

#[test]
fn a_collection_reembedded_to_open_and_back_killed_and_resumed_keeps_its_faces_and_its_objection() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "c");
    let gallery = dir.path().join("gallery");
    make_gallery(&gallery, 3);
    ok(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "c"]).arg(&gallery));
    // An objection (Yao Ming) made while the collection is buffalo_s's.
    ok(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "c"]).arg(folder(
        dir.path(),
        "yao",
        &["yaoming.jpg"],
    )));
    let objection = open_request(&data, "objection");
    ok(as_user(&data, "dora").args(["rights", "object", &objection.to_string()]).arg(sample("yaoming.jpg")));
    let faces = snapshot(&data);
    let first = candidates(&data, &sample("obama.jpg"), &[]);
    assert!(first[0].0.starts_with("obama"), "{first:?}");
    assert!(first.iter().all(|c| c.2 == "buffalo_s"));
    let total_faces: u64 = {
        let cat = gabarit_catalog::Catalog::open(&data.join("catalog.db")).unwrap();
        cat.template_count(None).unwrap()
    };

    // To open: killed mid-way, then resumed; the collection stays buffalo_s's meanwhile.
    let kept = killed_reembed(&data, "open", 0);
    assert!(0 < kept && kept < total_faces, "killed with part of the work kept: {kept} of {total_faces}");
    assert_eq!(pack_state(&data, "c").0, "buffalo_s");
    assert!(candidates(&data, &sample("obama.jpg"), &[])[0].0.starts_with("obama"), "searchable meanwhile");
    // Resumed: every face done, but no change-over while the objection has no open template.
    let out = run(as_user(&data, "cur").args(["--pack", "open", "collection", "reembed", "c", "--quiet"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("objection request(s) {objection}")), "{err}");
    assert_eq!(pack_state(&data, "c"), ("buffalo_s".into(), total_faces));
    // The DPO makes the objection's open template from the request's photo; then it finishes.
    ok(as_user(&data, "dora").args(["rights", "object", &objection.to_string()]).arg(sample("yaoming.jpg")));
    let out = ok(as_user(&data, "cur").args(["--pack", "open", "collection", "reembed", "c", "--quiet"]));
    assert!(out.contains("changed over from pack buffalo_s"), "{out}");
    assert_eq!(pack_state(&data, "c"), ("open".into(), 0));
    assert_eq!(snapshot(&data), faces, "the same images and faces, with their provenance");
    let found = candidates(&data, &sample("obama.jpg"), &[]);
    assert!(found[0].0.starts_with("obama") && found.iter().all(|c| c.2 == "open"), "{found:?}");
    // The objection holds in the open pack: a new photo of the person stores no face of theirs.
    assert_eq!(suppressed_on_ingest(&data, "open", &new_photo_of_yao(dir.path(), 4)), 1);

    // And back to buffalo_s, killed once: the same faces, and the same candidates and scores.
    let kept = killed_reembed(&data, "buffalo_s", 0);
    assert!(kept > 0);
    let out = ok(as_user(&data, "cur").args(["--pack", "buffalo_s", "collection", "reembed", "c", "--quiet"]));
    assert!(out.contains("changed over from pack open"), "{out}");
    assert_eq!(pack_state(&data, "c"), ("buffalo_s".into(), 0));
    let mut after = snapshot(&data);
    after.retain(|f| !f.contains("/yao-4/"));
    assert_eq!(after, faces, "the same images and faces");
    let back = candidates(&data, &sample("obama.jpg"), &[]);
    assert_eq!(back.len(), first.len(), "{back:?} vs {first:?}");
    for (b, f) in back.iter().zip(&first) {
        assert_eq!((&b.0, &b.1, &b.2), (&f.0, &f.1, &f.2));
        assert!((b.3 - f.3).abs() <= 2, "the same template again: {b:?} vs {f:?}");
    }
    // A new photo of the objector, in buffalo_s again: kept out.
    assert_eq!(suppressed_on_ingest(&data, "buffalo_s", &new_photo_of_yao(dir.path(), 8)), 1);
}
