//! Templates encrypted at rest: without the key-encryption key the data directory reveals no
//! template, and rotating the key keeps everything readable with the new key only.

use std::sync::Arc;

use crate::catalog::{as_user, new_collection, search_json, with_data};
use crate::{gabarit, run, sample};

/// The data key of `data`, unwrapped with its key-encryption key (kept beside it).
pub(crate) fn data_key(data: &std::path::Path) -> Arc<gabarit_crypto::DataKey> {
    let kek = gabarit_crypto::Kek::from_file(data.with_extension("kek")).unwrap();
    Arc::new(gabarit_crypto::Keyring::open(data.join("keyring.json"), &kek).unwrap())
}

/// The templates the catalog holds, read back with the data directory's key.
pub(crate) fn stored_templates(data: &std::path::Path) -> Vec<gabarit_catalog::StoredTemplate> {
    let catalog = gabarit_catalog::Catalog::open_keyed(&data.join("catalog.db"), data_key(data)).unwrap();
    let mut out = Vec::new();
    catalog.templates(|t| out.push(t)).unwrap();
    out
}

#[test]
fn the_data_directory_without_the_key_reveals_no_template() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    let gallery = dir.path().join("g");
    fs_err::create_dir_all(&gallery).unwrap();
    fs_err::copy(sample("obama2.jpg"), gallery.join("obama2.jpg")).unwrap();
    assert!(
        run(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "press"]).arg(&gallery)).status.success()
    );
    // The template as stored, read back with the key (what the scan below must not find), and
    // as Gabarit computes it from the photo: the same template (positive control).
    let stored = stored_templates(&data);
    assert_eq!(stored.len(), 1, "one face in obama2.jpg");
    let out = run(gabarit().args(["faces", "--embeddings"]).arg(gallery.join("obama2.jpg")));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let t: Vec<f32> =
        v["faces"][0]["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect();
    let (codes, _) = gabarit_index::quant::quantize(&t);
    let same = codes.iter().zip(&stored[0].vector).filter(|(a, b)| (**a as i16 - **b as i16).abs() <= 1).count();
    assert_eq!((codes.len(), same), (512, 512), "the stored template is the photo's, within a quantisation step");
    let plain: Vec<u8> = stored[0].vector.iter().map(|c| *c as u8).collect();
    let offset: Vec<u8> = plain.iter().map(|b| b.wrapping_add(128)).collect();
    // No run of 32 template bytes, in either stored form, anywhere in the data directory.
    for (_, bytes) in crate::all_files(&data) {
        for needle in [&plain, &offset] {
            assert!(!needle.windows(32).any(|n| bytes.windows(32).any(|w| w == n)), "a template run is readable");
        }
    }
    // Without the key: refused, naming the flag to give it with.
    let mut no_key = gabarit();
    with_data(&mut no_key, &data)
        .env_remove("GABARIT_KEK_FILE")
        .env("GABARIT_KEY_FILE", crate::catalog::key_file(&data, "inv"));
    let out = run(no_key.arg("search").arg(sample("obama.jpg")).args(["--case", "C", "--purpose", "p"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--kek-file"));
    // With another data directory's key: refused as the wrong key, naming both key ids.
    let wrong = dir.path().join("wrong.kek");
    let mut other = gabarit();
    with_data(&mut other, &dir.path().join("elsewhere"))
        .args(["init", "--admin", "someone"])
        .env("GABARIT_KEK_FILE", &wrong);
    let made = other.output().unwrap();
    assert!(
        made.status.success() && wrong.is_file(),
        "the other key was made: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let wrong_id = gabarit_crypto::Kek::from_file(&wrong).unwrap().id().to_string();
    let right_id = gabarit_crypto::Kek::from_file(data.with_extension("kek")).unwrap().id().to_string();
    assert_ne!(wrong_id, right_id);
    let mut wrong_key = as_user(&data, "inv");
    wrong_key.env("GABARIT_KEK_FILE", &wrong);
    let out = run(wrong_key.arg("search").arg(sample("obama.jpg")).args(["--case", "C", "--purpose", "p"]));
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("wrong key-encryption key") && said.contains(&right_id) && said.contains(&wrong_id),
        "{said}"
    );
    // Rotation: the new key opens everything, the old one no longer does.
    let new_kek = dir.path().join("new.kek");
    let out = run(as_user(&data, "admin").args(["keys", "rotate", "--new-kek-file"]).arg(&new_kek));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(as_user(&data, "inv").arg("search").arg(sample("obama.jpg")).args(["--case", "C", "--purpose", "p"]));
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(said.contains("wrong key-encryption key"), "the old key is refused as such: {said}");
    fs_err::rename(&new_kek, data.with_extension("kek")).unwrap();
    assert_eq!(search_json(&data, &sample("obama.jpg"), &[])["candidates"].as_array().unwrap().len(), 1);
    assert_eq!(stored_templates(&data)[0].vector, stored[0].vector, "the same template, opened with the new key");
}
