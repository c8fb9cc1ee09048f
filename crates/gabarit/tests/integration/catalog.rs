//! Catalog, ingestion and search on the embedded default (one data directory).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::{gabarit, kill_when, run, sample};

fn data_cmd(data: &Path) -> std::process::Command {
    as_user(data, "cur")
}

/// The command acting as `user` on `data`, with that user's API key file.
pub fn as_user(data: &Path, user: &str) -> std::process::Command {
    let mut c = gabarit();
    with_data(&mut c, data);
    c.env("GABARIT_KEY_FILE", key_file(data, user));
    c
}

/// Where the tests keep `user`'s API key for `data` (beside it, outside; mode 0600).
pub fn key_file(data: &Path, user: &str) -> PathBuf {
    data.with_extension(format!("{user}.key"))
}

/// Points a command at a data directory and its key-encryption key (kept beside it, outside),
/// acting as nobody. When the test put the records on PostgreSQL ([`on_postgres`]), the
/// command gets the database's URL instead, with its uploads in `data/uploads`.
pub fn with_data<'a>(c: &'a mut std::process::Command, data: &Path) -> &'a mut std::process::Command {
    match fs_err::read_to_string(data.with_extension("url")) {
        Ok(url) => c.env("GABARIT_DATA", url.trim()).env("GABARIT_UPLOADS", data.join("uploads")),
        Err(_) => c.env("GABARIT_DATA", data).env_remove("GABARIT_UPLOADS"),
    };
    c.env("GABARIT_KEK_FILE", data.with_extension("kek"))
        .env_remove("GABARIT_KEK")
        .env_remove("GABARIT_KEY_FILE")
        .env_remove("GABARIT_API_KEY")
}

/// Where a test keeps its records: the embedded data directory, or a PostgreSQL database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `--data DIR`.
    Directory,
    /// `--data postgres://…`, on a server started for the test.
    Postgres,
}

impl Backend {
    /// Puts `data`'s records where this backend keeps them: for PostgreSQL, a server started for
    /// the test (a database of its own, dropped with the returned server), whose URL the
    /// commands then get as `--data` ([`with_data`]); the keys stay beside `data`.
    pub fn place(self, data: &Path) -> Option<gabarit_catalog::pg::LocalServer> {
        match self {
            Backend::Directory => None,
            Backend::Postgres => {
                let server = gabarit_catalog::pg::LocalServer::start()
                    .unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"));
                fs_err::create_dir_all(data.parent().unwrap()).unwrap();
                write_private(&data.with_extension("url"), &server.url());
                Some(server)
            }
        }
    }
}

/// The catalog of `data` opened as someone with the files or the database but no key would:
/// templates come out sealed.
pub fn raw_catalog_of(data: &Path) -> gabarit_catalog::Catalog {
    match fs_err::read_to_string(data.with_extension("url")) {
        Ok(url) => gabarit_catalog::Catalog::open_postgres(url.trim(), None).unwrap(),
        Err(_) => gabarit_catalog::Catalog::open(&data.join("catalog.db")).unwrap(),
    }
}

/// Every file holding `data`'s records: the data directory, or the database server's files.
pub fn storage_of(data: &Path, server: Option<&gabarit_catalog::pg::LocalServer>) -> PathBuf {
    server.map_or_else(|| data.to_path_buf(), |s| s.data_dir())
}

/// Adds a user with a role, keeping their API key in [`key_file`].
pub fn add_user(data: &Path, user: &str, role: &str) {
    let out = ok(as_user(data, "admin").args(["user", "add", user, "--role", role]));
    let key = out.split_whitespace().last().expect("the key is printed");
    assert!(key.starts_with("gbk_"), "{out}");
    write_private(&key_file(data, user), key);
}

/// Writes a file only its owner reads (as key files must be).
pub fn write_private(path: &Path, text: &str) {
    use fs_err::os::unix::fs::OpenOptionsExt;
    let mut f = fs_err::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).unwrap();
    std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
}

/// Full governance flags of a collection.
pub const GOVERNANCE: &[&str] = &[
    "--controller",
    "Agence Exemple",
    "--controller-contact",
    "dpo@agence.example",
    "--purpose",
    "press photo archive: find every photo of a person for editorial and rights work",
    "--purpose-category",
    "archive",
    "--legal-basis",
    "f",
    "--condition",
    "j",
    "--jurisdiction",
    "FR",
    "--retention-days",
    "3650",
    "--dpia",
    "DPIA-2026-007",
];

/// [`GOVERNANCE`] with a retention that ended yesterday ("until" a past date, whatever the
/// clock says).
pub fn governance_expired() -> Vec<String> {
    let until = crate::yesterday();
    GOVERNANCE
        .chunks(2)
        .filter(|pair| pair[0] != "--retention-days")
        .flatten()
        .map(|s| s.to_string())
        .chain(["--retention-until".to_string(), until])
        .collect()
}

fn ok(cmd: &mut std::process::Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A data directory with an admin, a curator `cur`, an investigator `inv` (granted the
/// collection), reviewers `rita` and `raoul`, a dpo `dora`, and one governed collection.
pub fn new_collection(data: &Path, name: &str) {
    new_collection_with(data, name, &[]);
}

/// [`new_collection`] with more arguments to `init` (`--index KIND`).
pub fn new_collection_with(data: &Path, name: &str, init: &[&str]) {
    ok(with_data(&mut gabarit(), data)
        .args(["init", "--admin", "admin", "--key-out"])
        .arg(key_file(data, "admin"))
        .args(init));
    for (user, role) in
        [("cur", "curator"), ("inv", "investigator"), ("rita", "reviewer"), ("raoul", "reviewer"), ("dora", "dpo")]
    {
        add_user(data, user, role);
    }
    ok(data_cmd(data).args(["collection", "create", name]).args(GOVERNANCE));
    ok(as_user(data, "admin").args(["user", "grant", "inv", name]));
}

pub fn search_json(data: &Path, photo: &Path, extra: &[&str]) -> serde_json::Value {
    let out = ok(as_user(data, "inv")
        .arg("search")
        .arg(photo)
        .args(["--json", "--case", "CASE-1", "--purpose", "test"])
        .args(extra));
    serde_json::from_str(&out).expect("search JSON")
}

fn file_name(v: &serde_json::Value) -> String {
    Path::new(v["path"].as_str().expect("path")).file_name().expect("name").to_string_lossy().into_owned()
}

#[test]
fn a_planted_face_is_found_at_rank_one_and_biden_is_not_returned() {
    planted_face_found_and_biden_not_returned(Backend::Directory);
}

#[test]
fn on_postgresql_a_planted_face_is_found_at_rank_one_and_biden_is_not_returned() {
    planted_face_found_and_biden_not_returned(Backend::Postgres);
}

fn planted_face_found_and_biden_not_returned(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (data, gallery) = (dir.path().join("data"), dir.path().join("gallery"));
    let _server = backend.place(&data);
    fs_err::create_dir_all(&gallery).unwrap();
    for n in ["players.jpg", "gdp.jpg", "yaoming.jpg", "biden.jpg", "obama2.jpg"] {
        fs_err::copy(sample(n), gallery.join(n)).unwrap();
    }
    new_collection(&data, "press");
    ok(data_cmd(&data).args(["ingest", "--quiet", "--collection", "press"]).arg(&gallery));
    let result = search_json(&data, &sample("obama.jpg"), &[]);
    assert_eq!(result["gallery_size"], 30, "22 + 5 + 1 + 1 + 1 templates");
    let candidates = result["candidates"].as_array().unwrap();
    assert!(!candidates.is_empty());
    assert_eq!(file_name(&candidates[0]), "obama2.jpg", "{result}");
    assert!(candidates[0]["score"].as_f64().unwrap() > 0.5);
    assert!(candidates[0]["expected_false_candidates"].as_f64().unwrap() < 0.01);
    assert!(candidates.iter().all(|c| file_name(c) != "biden.jpg"), "biden is not above the threshold");
    // Biden's own photo finds biden only (and obama2 is not returned for it).
    let result = search_json(&data, &sample("biden.jpg"), &[]);
    let names: Vec<String> = result["candidates"].as_array().unwrap().iter().map(file_name).collect();
    assert_eq!(names, vec!["biden.jpg".to_string()]);
    // Restricting to another (empty) collection finds nothing.
    ok(data_cmd(&data).args(["collection", "create", "other"]).args(GOVERNANCE));
    ok(as_user(&data, "admin").args(["user", "grant", "inv", "other"]));
    let result = search_json(&data, &sample("obama.jpg"), &["--collection", "other"]);
    assert_eq!(result["gallery_size"], 0);
    assert!(result["candidates"].as_array().unwrap().is_empty());
    // Crops for review.
    let crops = dir.path().join("crops");
    ok(as_user(&data, "inv")
        .arg("search")
        .arg(sample("obama3.jpg"))
        .args(["--case", "CASE-1", "--purpose", "test", "--collection", "press", "--crops"])
        .arg(&crops));
    let written: Vec<_> = fs_err::read_dir(&crops).unwrap().collect();
    assert_eq!(written.len(), 1, "one candidate (obama2), one crop");
}

/// Distinct photos made from the samples: crops at different offsets, re-encoded.
pub fn make_gallery(dir: &Path, copies: u32) -> Vec<PathBuf> {
    fs_err::create_dir_all(dir).unwrap();
    let mut out = Vec::new();
    for n in ["players.jpg", "gdp.jpg", "obama.jpg", "obama2.jpg", "biden.jpg"] {
        let img = image::open(sample(n)).unwrap().to_rgb8();
        for k in 0..copies {
            let (w, h) = (img.width(), img.height());
            let crop = image::imageops::crop_imm(&img, k * 3, k * 2, w - k * 3, h - k * 2).to_image();
            let p = dir.join(format!("{}-{k}.jpg", n.trim_end_matches(".jpg")));
            crop.save(&p).unwrap();
            out.push(p);
        }
    }
    out
}

pub fn snapshot(data: &Path) -> Vec<String> {
    let cat = gabarit_catalog::Catalog::open(&data.join("catalog.db")).unwrap();
    cat.content_snapshot().unwrap()
}

fn candidate_set(data: &Path) -> Vec<(String, i64)> {
    let r = search_json(data, &sample("obama.jpg"), &["--top-k", "50"]);
    let mut v: Vec<(String, i64)> = r["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (file_name(c), (c["score"].as_f64().unwrap() * 1e4).round() as i64))
        .collect();
    v.sort();
    v
}

#[test]
fn killed_ingestion_resumes_to_the_same_catalog_as_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let gallery = dir.path().join("gallery");
    make_gallery(&gallery, 8);
    // Reference: one uninterrupted run.
    let reference = dir.path().join("reference");
    new_collection(&reference, "c");
    ok(data_cmd(&reference).args(["ingest", "--quiet", "--batch", "4", "--collection", "c"]).arg(&gallery));
    let want = snapshot(&reference);
    assert_eq!(want.len(), 40);
    // Interrupted three times, each run killed (SIGKILL) as soon as it has stored more than
    // the one before: every kill lands in the middle of real work, then a run to the end.
    let data = dir.path().join("killed");
    new_collection(&data, "c");
    let mut stored = 0;
    for run in 1..=3 {
        let mut child = data_cmd(&data)
            .args(["ingest", "--quiet", "--batch", "4", "--collection", "c"])
            .arg(&gallery)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let before = stored;
        let killed = kill_when(&mut child, || snapshot(&data).len() > before, Duration::from_secs(300));
        stored = snapshot(&data).len();
        assert!(killed, "run {run} ended before it could be interrupted ({stored} of 40 stored)");
        assert!(
            before < stored && stored < 40,
            "run {run} was killed with part of the work stored: {before} → {stored} of 40"
        );
    }
    let out = ok(data_cmd(&data).args(["ingest", "--quiet", "--batch", "4", "--collection", "c"]).arg(&gallery));
    assert!(out.contains("0 failed"), "{out}");
    assert_eq!(snapshot(&data), want, "same images, same faces, no duplicates, nothing lost");
    assert_eq!(candidate_set(&data), candidate_set(&reference), "the index agrees with the catalog");
}

#[test]
fn archives_and_bad_files_are_ingested_or_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "c");
    // A zip with two photos and a text file, a tar.gz with one photo, and a corrupt photo.
    let zip_path = dir.path().join("photos.zip");
    {
        let mut z = zip::ZipWriter::new(fs_err::File::create(&zip_path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        for n in ["obama2.jpg", "yaoming.jpg"] {
            z.start_file(format!("inner/{n}"), opts).unwrap();
            z.write_all(&fs_err::read(sample(n)).unwrap()).unwrap();
        }
        z.start_file("readme.txt", opts).unwrap();
        z.write_all(b"not a photo").unwrap();
        z.finish().unwrap();
    }
    let tar_path = dir.path().join("more.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(fs_err::File::create(&tar_path).unwrap(), flate2::Compression::fast());
        let mut t = tar::Builder::new(gz);
        t.append_path_with_name(sample("biden.jpg"), "deep/biden.jpg").unwrap();
        t.into_inner().unwrap().finish().unwrap();
    }
    let bad = dir.path().join("broken.jpg");
    fs_err::write(&bad, b"\xFF\xD8\xFF\xE0 definitely not a jpeg").unwrap();
    let report = dir.path().join("report.json");
    let out = run(data_cmd(&data)
        .args(["ingest", "--quiet", "--collection", "c", "--report"])
        .arg(&report)
        .arg(&zip_path)
        .arg(&tar_path)
        .arg(&bad));
    assert_eq!(out.status.code(), Some(1), "one file failed: exit 1");
    let r: serde_json::Value = serde_json::from_str(&fs_err::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["files"], 4, "2 zip photos + 1 tar photo + 1 broken; the text file is not a photo");
    assert_eq!(r["ingested"], 3);
    assert_eq!(r["faces"], 3);
    assert_eq!(r["failed"].as_array().unwrap().len(), 1);
    assert!(r["failed"][0]["uri"].as_str().unwrap().ends_with("broken.jpg"));
    // Archive members are traceable and searchable.
    let result = search_json(&data, &sample("obama.jpg"), &[]);
    let top = result["candidates"][0]["path"].as_str().unwrap();
    assert!(top.ends_with("photos.zip!/inner/obama2.jpg"), "{top}");
    // faces-of finds the catalog record of a file by its content.
    let shown = ok(data_cmd(&data).args(["faces-of", "--json"]).arg(sample("biden.jpg")));
    let v: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(v[0]["faces"].as_array().unwrap().len(), 1);
    assert!(v[0]["image"]["uri"].as_str().unwrap().ends_with("more.tar.gz!/deep/biden.jpg"));
    let id = v[0]["image"]["id"].as_u64().unwrap();
    let shown = ok(data_cmd(&data).args(["image", "show", &id.to_string()]));
    assert!(shown.contains("deep/biden.jpg"));
    // Searching a data directory that does not exist says what to do.
    let out = run(as_user(&dir.path().join("nowhere"), "inv").arg("search").arg(sample("obama.jpg")).args([
        "--case",
        "C",
        "--purpose",
        "P",
    ]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gabarit init"));
}
