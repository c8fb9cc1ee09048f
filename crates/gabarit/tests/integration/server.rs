//! `gabarit serve`: the HTTP API on loopback, against a data directory ingested from the
//! sample photos. Security: every route refuses without a valid key or with a role the core's
//! policy does not permit, uploads over the limit get 413, a bad image a JSON error.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use reqwest::blocking::{Client, multipart};
use serde_json::Value;

use crate::catalog::{Backend, as_user, new_collection_with};
use crate::{run, sample};

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn start(data: &Path, extra: &[&str]) -> Server {
    let mut child = as_user(data, "admin")
        .args(["serve", "--listen", "127.0.0.1:0", "--workers", "1"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}")).to_string();
    Server { child, base }
}

pub(crate) fn key(data: &Path, user: &str) -> String {
    let out = run(as_user(data, "admin").args(["user", "key", "issue", user]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).split_whitespace().last().unwrap().to_string()
}

/// A data directory (or the database the test placed there) with the sample gallery ingested
/// and a key per user.
pub(crate) fn gallery(dir: &Path) -> (std::path::PathBuf, BTreeMap<&'static str, String>) {
    gallery_init(dir, &[])
}

/// [`gallery`] in a data directory with an index of this kind.
pub(crate) fn gallery_with(dir: &Path, index: &str) -> (std::path::PathBuf, BTreeMap<&'static str, String>) {
    gallery_init(dir, &["--index", index])
}

fn gallery_init(dir: &Path, init: &[&str]) -> (std::path::PathBuf, BTreeMap<&'static str, String>) {
    let (data, photos) = (dir.join("data"), dir.join("gallery"));
    fs_err::create_dir_all(&photos).unwrap();
    for n in ["players.jpg", "gdp.jpg", "yaoming.jpg", "biden.jpg", "obama2.jpg"] {
        fs_err::copy(sample(n), photos.join(n)).unwrap();
    }
    new_collection_with(&data, "press", init);
    let out = run(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "press"]).arg(&photos));
    assert!(out.status.success());
    // raoul reviews press's candidates; rita, granted nothing, only decides on what she is shown.
    let out = run(as_user(&data, "admin").args(["user", "grant", "raoul", "press"]));
    assert!(out.status.success());
    let keys = ["admin", "cur", "inv", "rita", "raoul", "dora"].into_iter().map(|u| (u, key(&data, u))).collect();
    (data, keys)
}

pub(crate) fn search_form(photo: &[u8], name: &str) -> multipart::Form {
    multipart::Form::new()
        .part("image", multipart::Part::bytes(photo.to_vec()).file_name(name.to_string()))
        .text("case_ref", "CASE-7")
        .text("purpose", "test of the API")
}

/// A multipart/form-data request with one file field and text fields, as one sized body.
pub(crate) fn multipart_whole(
    request: reqwest::blocking::RequestBuilder,
    file_field: &str,
    bytes: &[u8],
    texts: &[(&str, &str)],
) -> reqwest::blocking::RequestBuilder {
    let boundary = "gabarit-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in texts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{file_field}\"; filename=\"x.jpg\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    request.header("Content-Type", format!("multipart/form-data; boundary={boundary}")).body(body)
}

pub(crate) fn photo_form(photo: &[u8], name: &str) -> multipart::Form {
    multipart::Form::new().part("image", multipart::Part::bytes(photo.to_vec()).file_name(name.to_string()))
}

fn fmr_of(candidate: &Value) -> f64 {
    candidate["false_match_rate"].as_f64().unwrap()
}

pub(crate) fn error_code(resp: reqwest::blocking::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().unwrap_or_else(|e| panic!("a JSON error body was expected ({status}): {e}"));
    (status, body["error"]["code"].as_str().unwrap_or_else(|| panic!("{body}")).to_string())
}

/// POSTs a multipart search with an `image` of `size` bytes over a raw socket, writing from
/// another thread, and reads the response whatever happens to the write.
fn raw_multipart_post(base: &str, path: &str, key: &str, size: usize) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = base.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let boundary = "gabarit-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"case_ref\"\r\n\r\nC\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\np\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"big.jpg\"\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend(std::iter::repeat_n(0u8, size));
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nX-Api-Key: {key}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(&body));
    });
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn has_long_number_array(v: &Value) -> bool {
    match v {
        Value::Array(a) => (a.len() >= 64 && a.iter().all(Value::is_number)) || a.iter().any(has_long_number_array),
        Value::Object(o) => o.values().any(has_long_number_array),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => false,
    }
}

#[test]
fn search_review_and_bad_uploads_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = gallery(dir.path());
    let server = start(&data, &["--max-upload-mib", "1"]);
    let http = Client::new();
    let post_search = |form: multipart::Form| {
        http.post(format!("{}/api/v1/search", server.base))
            .header("X-Api-Key", &keys["inv"])
            .multipart(form)
            .send()
            .unwrap()
    };
    let photo = fs_err::read(sample("obama.jpg")).unwrap();
    let found: Value = post_search(search_form(&photo, "obama.jpg")).json().unwrap();
    assert!(!has_long_number_array(&found), "no template or embedding in a response: {found}");
    let candidates = found["candidates"].as_array().unwrap();
    assert!(candidates[0]["path"].as_str().unwrap().ends_with("obama2.jpg"), "{found}");
    assert!(candidates.iter().all(|c| !c["path"].as_str().unwrap().ends_with("biden.jpg")), "{found}");
    assert_eq!(found["query"], "obama.jpg", "the upload's name, not a temporary path");
    let candidate = found["candidate_ids"][0].as_u64().unwrap();
    // Two different reviewers confirm.
    let review = |user: &str| -> Value {
        http.post(format!("{}/api/v1/candidates/{candidate}/review", server.base))
            .header("Authorization", format!("Bearer {}", keys[user]))
            .json(&serde_json::json!({"decision": "confirm"}))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    // Reviewers find the candidates awaiting them, each with its face's place and the meaning
    // of its score.
    let get = |path: &str, user: &str| -> Value {
        http.get(format!("{}{path}", server.base)).header("X-Api-Key", &keys[user]).send().unwrap().json().unwrap()
    };
    let awaiting = get("/api/v1/candidates", "raoul");
    let ids: Vec<u64> =
        awaiting["items"].as_array().unwrap().iter().map(|c| c["candidate"]["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), candidates.len(), "{awaiting}");
    assert!(ids.contains(&candidate));
    // Only within the collections a reviewer is granted.
    assert_eq!(get("/api/v1/candidates", "rita")["items"], serde_json::json!([]));
    let refused = http
        .get(format!("{}/api/v1/candidates/{candidate}", server.base))
        .header("X-Api-Key", &keys["rita"])
        .send()
        .unwrap();
    assert_eq!(error_code(refused), (404, "not_found".into()), "a candidate outside her grants does not exist for her");
    let shown = get(&format!("/api/v1/candidates/{candidate}"), "raoul");
    assert_eq!(shown["image_id"], candidates[0]["image_id"], "{shown}");
    assert_eq!(shown["gallery_size"], found["gallery_size"], "{shown}");
    let expected = shown["expected_false_candidates"].as_f64().unwrap();
    assert!((expected - fmr_of(&shown) * found["gallery_size"].as_f64().unwrap()).abs() < 1e-9, "{shown}");
    assert_eq!(shown["bbox"], candidates[0]["bbox"]);
    assert_eq!(
        shown["candidate"]["score"].as_f64().map(|s| (s * 1e4).round()),
        candidates[0]["score"].as_f64().map(|s| (s * 1e4).round())
    );
    let fmr = shown["false_match_rate"].as_f64().unwrap();
    assert!(fmr > 0.0 && fmr < 1e-3, "a genuine pair's score is rare among impostors: {fmr}");
    // Granted press (at once, over the API), rita may decide too.
    let granted = http
        .post(format!("{}/api/v1/users/rita/grants", server.base))
        .header("X-Api-Key", &keys["admin"])
        .json(&serde_json::json!({"collection": "press"}))
        .send()
        .unwrap();
    assert_eq!(granted.status().as_u16(), 200);
    assert_eq!(review("rita")["confirmed"], false);
    assert_eq!(review("raoul")["confirmed"], true);
    let shown = get(&format!("/api/v1/candidates/{candidate}"), "raoul");
    assert_eq!(shown["confirmed"], true);
    assert_eq!(shown["candidate"]["confirmed_by"], serde_json::json!(["rita", "raoul"]));
    let awaiting = get("/api/v1/candidates", "raoul");
    assert!(
        awaiting["items"].as_array().unwrap().iter().all(|c| c["candidate"]["id"] != candidate),
        "decided: {awaiting}"
    );
    // The image record of the candidate: boxes and quality, no template.
    let image: Value = http
        .get(format!("{}/api/v1/images/{}", server.base, candidates[0]["image_id"]))
        .header("X-Api-Key", &keys["inv"])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(image["faces"].as_array().unwrap().len(), 1, "{image}");
    assert!(!has_long_number_array(&image), "{image}");
    // The pictures a reviewer sees: the face crop and the whole photo (the UI boxes the face).
    let get_jpeg = |path: String| {
        let resp = http.get(format!("{}{path}", server.base)).header("X-Api-Key", &keys["inv"]).send().unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        assert_eq!(resp.headers()["content-type"], "image/jpeg");
        image::load_from_memory(&resp.bytes().unwrap()).unwrap()
    };
    let crop = get_jpeg(format!("/api/v1/faces/{}/crop", candidates[0]["face_id"]));
    let bbox: Vec<f64> = candidates[0]["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let side = (bbox[2] - bbox[0]).max(bbox[3] - bbox[1]);
    assert!(f64::from(crop.width()) > side && f64::from(crop.width()) < 1.6 * side, "{} for {side}", crop.width());
    let whole = get_jpeg(format!("/api/v1/images/{}/file", candidates[0]["image_id"]));
    assert_eq!(
        (u64::from(whole.width()), u64::from(whole.height())),
        (image["image"]["width"].as_u64().unwrap(), image["image"]["height"].as_u64().unwrap())
    );
    // A photo without a face: its own code, of the type a client corrects.
    let grey = image::RgbImage::from_pixel(64, 64, image::Rgb([128, 128, 128]));
    let mut png = std::io::Cursor::new(Vec::new());
    grey.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let resp = post_search(search_form(png.get_ref(), "grey.png"));
    assert_eq!(resp.status().as_u16(), 422);
    let body: Value = resp.json().unwrap();
    assert_eq!((body["error"]["code"].as_str(), body["error"]["type"].as_str()), (Some("no_face"), Some("request")));
    assert!(body["error"]["message"].as_str().unwrap().contains("grey.png"), "{body}");
    // A source moved away since it was ingested: not the caller's fault, not a failure.
    let source = std::path::PathBuf::from(image["image"]["uri"].as_str().unwrap());
    let moved = source.with_extension("moved");
    fs_err::rename(&source, &moved).unwrap();
    let resp = http
        .get(format!("{}/api/v1/images/{}/file", server.base, candidates[0]["image_id"]))
        .header("X-Api-Key", &keys["inv"])
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 409);
    let body: Value = resp.json().unwrap();
    assert_eq!(
        (body["error"]["code"].as_str(), body["error"]["type"].as_str()),
        (Some("source_unavailable"), Some("state")),
        "{body}"
    );
    fs_err::rename(&moved, &source).unwrap();
    // Over the upload limit: 413 with a JSON error (sent raw: the server answers before it
    // has read the body, and stops reading).
    let (status, body) = raw_multipart_post(&server.base, "/api/v1/search", &keys["inv"], 2 << 20);
    assert_eq!(status, 413, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["code"], "too_large", "{body}");
    // Not an image: a JSON error naming the upload.
    let resp = post_search(search_form(b"GIF89a but not really", "broken.jpg"));
    assert_eq!(resp.status().as_u16(), 422);
    let body: Value = resp.json().unwrap();
    assert_eq!(body["error"]["code"], "invalid");
    assert!(body["error"]["message"].as_str().unwrap().contains("broken.jpg"), "{body}");
    // Missing fields are named.
    let form = multipart::Form::new().text("case_ref", "C").text("purpose", "p");
    let resp = post_search(form);
    assert_eq!(resp.status().as_u16(), 400);
    assert!(resp.text().unwrap().contains("field image"));
    // And the server still serves.
    let again: Value = post_search(search_form(&photo, "obama.jpg")).json().unwrap();
    assert_eq!(again["candidates"][0]["path"], candidates[0]["path"]);
    // The audit chain recorded it all and is intact.
    let verify: Value = http
        .get(format!("{}/api/v1/audit/verify", server.base))
        .header("X-Api-Key", &keys["dora"])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(verify["intact"], true, "{verify}");
    let entries: Value = http
        .get(format!("{}/api/v1/audit?order=oldest", server.base))
        .header("X-Api-Key", &keys["dora"])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let actions: Vec<&str> = entries["items"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert_eq!(entries["total"].as_u64(), Some(actions.len() as u64), "one page holds them all: {entries}");
    // Pages: two entries from the third (oldest first: the reading above, on the record since,
    // comes last).
    let page: Value = http
        .get(format!("{}/api/v1/audit?offset=2&limit=2&order=oldest", server.base))
        .header("X-Api-Key", &keys["dora"])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["seq"], entries["items"][2]["seq"], "{page}");
    assert_eq!(actions.iter().filter(|a| **a == "search").count(), 2, "{actions:?}");
    // Filtered by action, by actor.
    let searches: Value = http
        .get(format!("{}/api/v1/audit?action=search", server.base))
        .header("X-Api-Key", &keys["dora"])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(searches["total"], 2, "{searches}");
    assert!(searches["items"].as_array().unwrap().iter().all(|e| e["action"] == "search" && e["actor"] == "inv"));
    let by_raoul: Value = http
        .get(format!("{}/api/v1/audit?actor=raoul", server.base))
        .header("X-Api-Key", &keys["dora"])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(by_raoul["total"], 1, "raoul confirmed once: {by_raoul}");
    assert_eq!(actions.iter().filter(|a| **a == "candidate_confirm").count(), 2, "{actions:?}");
    assert_eq!(actions.iter().filter(|a| **a == "face_view").count(), 1, "viewing a face is logged: {actions:?}");
}

#[test]
fn rights_by_face_over_http_access_then_erasure() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = gallery(dir.path());
    let server = start(&data, &[]);
    let http = Client::new();
    let dpo = |req: reqwest::blocking::RequestBuilder| -> Value {
        let resp = req.header("X-Api-Key", &keys["dora"]).send().unwrap();
        let status = resp.status();
        let body: Value = resp.json().unwrap();
        assert!(status.is_success(), "{status}: {body}");
        body
    };
    let url = |p: &str| format!("{}{p}", server.base);
    let photo = fs_err::read(sample("obama3.jpg")).unwrap();
    let open = |kind: &str| -> u64 {
        let r = open_request(&http, &server.base, &keys["dora"], kind);
        assert_eq!(r["deadline"], "2026-12-02", "one month: {r}");
        r["id"].as_u64().unwrap()
    };
    let access = open("access");
    let report =
        dpo(http.post(url(&format!("/api/v1/rights/{access}/access"))).multipart(photo_form(&photo, "obama3.jpg")));
    let paths: Vec<&str> = report["matches"].as_array().unwrap().iter().map(|m| m["path"].as_str().unwrap()).collect();
    assert_eq!(paths.len(), 1, "{report}");
    assert!(paths[0].ends_with("obama2.jpg"), "{paths:?}");
    assert!(report["matches"][0]["governance"]["legal_basis"].is_string(), "legal fields in the report: {report}");
    let listed = dpo(http.get(url("/api/v1/rights")));
    assert_eq!(listed[0]["id"], access);
    // Erasure: the plan, then the confirmed deletion.
    let erasure = open("erasure");
    let erase_url = url(&format!("/api/v1/rights/{erasure}/erase"));
    let plan = dpo(http.post(&erase_url).multipart(photo_form(&photo, "obama3.jpg")));
    assert_eq!(plan["job"], Value::Null, "a plan deletes nothing");
    let n = plan["report"]["matches"].as_array().unwrap().len();
    assert_eq!(n, 1);
    let wrong = http
        .post(&erase_url)
        .header("X-Api-Key", &keys["dora"])
        .multipart(photo_form(&photo, "obama3.jpg").text("confirm", "2"))
        .send()
        .unwrap();
    assert_eq!(error_code(wrong), (409, "stale".into()), "a confirmation must match the plan");
    // Confirmed, it is a job (ids only), which the DPO follows to its end.
    let resp = http
        .post(&erase_url)
        .header("X-Api-Key", &keys["dora"])
        .multipart(photo_form(&photo, "obama3.jpg").text("confirm", n.to_string()))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let queued: Value = resp.json().unwrap();
    assert_eq!(queued["job"]["kind"], "erase", "{queued}");
    let input: Value = serde_json::from_str(queued["job"]["inputs"][0].as_str().unwrap()).unwrap();
    let keys_kept: Vec<&String> = input.as_object().unwrap().keys().collect();
    assert_eq!(keys_kept, ["faces", "input_sha256", "request", "threshold"], "ids, never a template: {input}");
    let job = queued["job"]["id"].as_u64().unwrap();
    let done = wait_for_job(&http, &server.base, &keys["dora"], job, std::time::Duration::from_secs(60));
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["report"]["deleted"]["faces"], 1, "{done}");
    // A curator follows ingestions, not a DPO's erasures.
    let hidden = http.get(url(&format!("/api/v1/jobs/{job}"))).header("X-Api-Key", &keys["cur"]).send().unwrap();
    assert_eq!(error_code(hidden), (404, "not_found".into()));
    let request: Value = dpo(http.get(url("/api/v1/rights")));
    let closed = request.as_array().unwrap().iter().find(|r| r["id"] == erasure).unwrap();
    assert_ne!(closed["status"], "open", "the request is answered: {closed}");
    // A new access request finds nothing, and search no longer returns the face.
    let again = open("access");
    let after =
        dpo(http.post(url(&format!("/api/v1/rights/{again}/access"))).multipart(photo_form(&photo, "obama3.jpg")));
    assert_eq!(after["matches"], serde_json::json!([]), "{after}");
    let found: Value = http
        .post(url("/api/v1/search"))
        .header("X-Api-Key", &keys["inv"])
        .multipart(search_form(&fs_err::read(sample("obama.jpg")).unwrap(), "obama.jpg"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(
        found["candidates"].as_array().unwrap().iter().all(|c| !c["path"].as_str().unwrap().ends_with("obama2.jpg")),
        "{found}"
    );
    let metrics = http.get(url("/metrics")).send().unwrap().text().unwrap();
    assert!(metrics.contains("gabarit_templates 29"), "one template fewer: {metrics}");
}

#[test]
fn sessions_need_a_password_a_csrf_token_and_survive_only_until_logout() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _keys) = gallery(dir.path());
    let out = run(as_user(&data, "admin")
        .args(["user", "password", "rita"])
        .env("GABARIT_PASSWORD", "correct horse battery"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let short = run(as_user(&data, "admin").args(["user", "password", "raoul"]).env("GABARIT_PASSWORD", "short"));
    assert!(!short.status.success(), "a short password is refused");
    let server = start(&data, &[]);
    let http = Client::new();
    let url = |p: &str| format!("{}{p}", server.base);
    let login = |name: &str, password: &str| {
        http.post(url("/api/v1/session")).json(&serde_json::json!({"name": name, "password": password})).send().unwrap()
    };
    // Wrong passwords: 401, then 429 after five failures for that name.
    for _ in 0..5 {
        assert_eq!(error_code(login("raoul", "not the password")), (401, "bad_credentials".into()));
    }
    assert_eq!(error_code(login("raoul", "not the password")), (429, "too_many_attempts".into()));
    assert_eq!(error_code(login("nobody", "whatever it is")), (401, "bad_credentials".into()));
    // The right password: a hardened cookie and a CSRF token.
    let ok = login("rita", "correct horse battery");
    assert_eq!(ok.status().as_u16(), 200);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_string();
    let body: Value = ok.json().unwrap();
    let csrf = body["csrf"].as_str().unwrap().to_string();
    assert_eq!(csrf.len(), 64);
    assert!(body.get("token").is_none(), "the session token is only in the cookie: {body}");
    let me: Value = http.get(url("/api/v1/me")).header("Cookie", &session).send().unwrap().json().unwrap();
    assert_eq!(me["name"], "rita");
    assert_eq!(
        (me["roles"].clone(), me["collections"].clone()),
        (serde_json::json!(["reviewer"]), serde_json::json!([]))
    );
    // A new tab of the same browser (the cookie, no token yet) gets the session's token;
    // without the cookie, or with another's key only, there is no session to carry on.
    let current = |cookie: Option<&str>| -> Value {
        let mut r = http.get(url("/api/v1/session"));
        if let Some(c) = cookie {
            r = r.header("Cookie", c);
        }
        r.send().unwrap().json().unwrap()
    };
    assert_eq!(current(Some(&session))["session"], serde_json::json!({"user": "rita", "csrf": csrf}));
    assert_eq!(current(None)["session"], Value::Null);
    assert_eq!(current(Some("gabarit_session=forged"))["session"], Value::Null);
    // A state-changing request without the CSRF token is refused; with it, it reaches the core.
    let review = |csrf: Option<&str>| {
        let mut r = http.post(url("/api/v1/candidates/1/review")).header("Cookie", &session);
        if let Some(c) = csrf {
            r = r.header("X-CSRF-Token", c);
        }
        r.json(&serde_json::json!({"decision": "reject"})).send().unwrap()
    };
    assert_eq!(error_code(review(None)), (403, "csrf".into()));
    assert_eq!(error_code(review(Some(&"0".repeat(64)))), (403, "csrf".into()));
    assert_eq!(error_code(review(Some(&csrf))), (404, "not_found".into()), "no candidate 1 yet: past the CSRF check");
    // Logout ends the session.
    let bye =
        http.delete(url("/api/v1/session")).header("Cookie", &session).header("X-CSRF-Token", &csrf).send().unwrap();
    assert_eq!(bye.status().as_u16(), 200);
    assert!(bye.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(
        error_code(http.get(url("/api/v1/me")).header("Cookie", &session).send().unwrap()),
        (401, "session_expired".into())
    );
    assert_eq!(current(Some(&session))["session"], Value::Null, "an ended session is not carried on");
}

#[test]
fn a_photo_analysed_once_is_searched_by_the_face_picked_and_only_by_its_owner() {
    analysed_once_searched_by_face(Backend::Directory);
}

/// Two server instances on one database, no proxy: the photo analysed by one is searched on
/// the other.
#[test]
fn on_postgresql_a_photo_analysed_by_one_server_is_searched_on_another() {
    analysed_once_searched_by_face(Backend::Postgres);
}

fn analysed_once_searched_by_face(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let _pg = backend.place(&dir.path().join("data"));
    let (data, keys) = gallery(dir.path());
    let analysing = start(&data, &[]);
    let second = (backend == Backend::Postgres).then(|| start(&data, &[]));
    let server = second.as_ref().unwrap_or(&analysing);
    assert_eq!(backend == Backend::Postgres, server.base != analysing.base, "two servers on PostgreSQL");
    let http = Client::new();
    // players.jpg holds several faces: the analysis lists them, boxes inside the photo.
    let photo = fs_err::read(sample("players.jpg")).unwrap();
    let resp = http
        .post(format!("{}/api/v1/queries", analysing.base))
        .header("X-Api-Key", &keys["inv"])
        .multipart(photo_form(&photo, "players.jpg"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let analysed: Value = resp.json().unwrap();
    assert!(!has_long_number_array(&analysed), "no template in the analysis: {analysed}");
    let decoded = image::load_from_memory(&photo).unwrap();
    assert_eq!(
        (analysed["width"].as_u64(), analysed["height"].as_u64()),
        (Some(decoded.width().into()), Some(decoded.height().into()))
    );
    let faces = analysed["faces"].as_array().unwrap();
    assert!(faces.len() >= 3, "{analysed}");
    for (i, f) in faces.iter().enumerate() {
        assert_eq!(f["index"].as_u64(), Some(i as u64));
        let b: Vec<f64> = f["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(b[0] < b[2] && b[1] < b[3] && b[2] <= f64::from(decoded.width()) + 1.0, "{f}");
    }
    let query = analysed["query_id"].as_str().unwrap().to_string();
    let search = |user: &str, body: Value| {
        http.post(format!("{}/api/v1/queries/{query}/search", server.base))
            .header("X-Api-Key", &keys[user])
            .json(&body)
            .send()
            .unwrap()
    };
    // Each face picked is searched alone; players.jpg itself is in the gallery, so the face
    // picked finds its own copy at rank 1 with a score near 1, at the same place.
    for pick in [0usize, 2] {
        let resp = search("inv", serde_json::json!({"case_ref": "CASE-8", "purpose": "which player", "face": pick}));
        assert_eq!(resp.status().as_u16(), 200);
        let found: Value = resp.json().unwrap();
        assert_eq!(found["query"], "players.jpg");
        let candidates = found["candidates"].as_array().unwrap();
        assert!(candidates.iter().all(|c| c["query_face"] == pick), "only the face picked: {found}");
        let best = &candidates[0];
        assert!(best["path"].as_str().unwrap().ends_with("players.jpg"), "{found}");
        assert!(best["score"].as_f64().unwrap() > 0.95, "{best}");
        let b: Vec<f64> = best["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let q: Vec<f64> = faces[pick]["bbox"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!(b.iter().zip(&q).all(|(a, b)| (a - b).abs() < 3.0), "the picked face {q:?}, found {b:?}");
    }
    // Another user cannot use this query, nor can anyone after a typo.
    let resp = search("raoul", serde_json::json!({"case_ref": "C", "purpose": "p", "face": 0}));
    assert_eq!(error_code(resp), (403, "forbidden".into()), "a reviewer may not search");
    let resp = http
        .post(format!("{}/api/v1/queries/qdeadbeef/search", server.base))
        .header("X-Api-Key", &keys["inv"])
        .json(&serde_json::json!({"case_ref": "C", "purpose": "p"}))
        .send()
        .unwrap();
    assert_eq!(error_code(resp), (404, "not_found".into()));
    // A search still needs its case reference and purpose, and names unknown fields.
    assert_eq!(error_code(search("inv", serde_json::json!({"case_ref": " ", "purpose": "p"}))).0, 422);
    let resp = search("inv", serde_json::json!({"case_ref": "C", "purpose": "p", "colection": ["press"]}));
    let (status, _) = error_code(resp);
    assert!(status == 400 || status == 422, "{status}");
    // Searches with the query were audited, with the upload's name and hash.
    let entries: Value = http
        .get(format!("{}/api/v1/audit", server.base))
        .header("X-Api-Key", &keys["dora"])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let searches = entries["items"].as_array().unwrap().iter().filter(|e| e["action"] == "search").count();
    assert_eq!(searches, 2, "{entries}");
}

/// Polls a job until it has ended (or `wait` passed); returns its last state.
pub(crate) fn wait_for_job(http: &Client, base: &str, key: &str, id: u64, wait: std::time::Duration) -> Value {
    let t = std::time::Instant::now();
    loop {
        let job: Value =
            http.get(format!("{base}/api/v1/jobs/{id}")).header("X-Api-Key", key).send().unwrap().json().unwrap();
        if job["state"] == "done" || job["state"] == "failed" || t.elapsed() > wait {
            return job;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The audit entries of `action` (all when empty), newest first, read by the DPO `dpo`.
pub(crate) fn audit_of(http: &Client, base: &str, dpo: &str, action: &str) -> Vec<Value> {
    let filter = if action.is_empty() { String::new() } else { format!("&action={action}") };
    let v: Value = http
        .get(format!("{base}/api/v1/audit?limit=10000{filter}"))
        .header("X-Api-Key", dpo)
        .send()
        .unwrap()
        .json()
        .unwrap();
    v["items"].as_array().unwrap_or_else(|| panic!("{v}")).clone()
}

/// Searches `photo` as the investigator; returns the answer.
pub(crate) fn search(http: &Client, base: &str, key: &str, photo: &str, collections: &[&str]) -> Value {
    let mut form = search_form(&fs_err::read(sample(photo)).unwrap(), photo);
    for c in collections {
        form = form.text("collection", c.to_string());
    }
    let resp = http.post(format!("{base}/api/v1/search")).header("X-Api-Key", key).multipart(form).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.json().unwrap()
}

/// Opens a rights request of `kind` as the DPO `dpo` (received 2026-11-02, the ID checked);
/// returns it.
pub(crate) fn open_request(http: &Client, base: &str, dpo: &str, kind: &str) -> Value {
    let resp = http
        .post(format!("{base}/api/v1/rights"))
        .header("X-Api-Key", dpo)
        .json(&serde_json::json!({
            "kind": kind, "requester": "REQ-1", "verification": "ID card checked at the desk", "received_on": "2026-11-02"
        }))
        .send()
        .unwrap();
    let (status, body) = (resp.status(), resp.json::<Value>().unwrap());
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// The newest audit entry of `action`, as soon as there is one (polled for at most `wait`).
pub(crate) fn first_audit_entry(
    http: &Client,
    base: &str,
    key: &str,
    action: &str,
    wait: std::time::Duration,
) -> Value {
    let t = std::time::Instant::now();
    loop {
        if let Some(entry) = audit_of(http, base, key, action).into_iter().next() {
            return entry;
        }
        assert!(t.elapsed() < wait, "no {action} entry on the audit record");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub(crate) fn collection_governance(http: &Client, base: &str, key: &str) -> Value {
    let v: Value =
        http.get(format!("{base}/api/v1/collections/press")).header("X-Api-Key", key).send().unwrap().json().unwrap();
    v["governance"].clone()
}

/// A server stopped with SIGTERM leaves a compressed index's codes for the next start (the
/// job runner keeps the engine alive until the process ends, so nothing else would write
/// them), and the next start takes them: its searches answer as before.
#[test]
fn a_server_stopped_by_sigterm_leaves_the_index_ready_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = gallery_with(dir.path(), "compressed");
    let cache = || walk(&data).into_iter().find(|p| p.file_name().is_some_and(|n| n == "codes.cache"));
    // The ingestion's close left them; removed here, only the server can write them again.
    let left = cache().expect("the ingestion's close leaves the codes");
    fs_err::remove_file(&left).unwrap();
    let search = |base: &str| -> Vec<Value> {
        let resp = Client::new()
            .post(format!("{base}/api/v1/search"))
            .header("X-Api-Key", &keys["inv"])
            .multipart(search_form(&fs_err::read(sample("obama.jpg")).unwrap(), "q.jpg"))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        let body: Value = resp.json().unwrap();
        let candidates = body["candidates"].as_array().unwrap().clone();
        candidates.iter().map(|c| serde_json::json!([c["path"], c["score"]])).collect()
    };
    let mut server = start(&data, &[]);
    let before = search(&server.base);
    assert!(!before.is_empty());
    let pid = server.child.id().to_string();
    let killed = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(cache(), Some(left.clone()), "written at stop");
    let server = start(&data, &[]);
    assert_eq!(search(&server.base), before);
}

/// After an ingestion job the server checkpoints the index: killed outright afterwards, it
/// leaves codes for every template the job stored, and its next start takes them all.
#[test]
fn a_server_killed_after_an_ingestion_job_leaves_the_codes_of_what_it_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = gallery_with(dir.path(), "compressed");
    let cache = || walk(&data).into_iter().find(|p| p.file_name().is_some_and(|n| n == "codes.cache")).unwrap();
    // The slots the cache describes (its header: magic, version, dimension, then slots).
    let described = || u64::from_le_bytes(fs_err::read(cache()).unwrap()[16..24].try_into().unwrap());
    let before = described();
    let more = dir.path().join("more");
    fs_err::create_dir_all(&more).unwrap();
    for n in ["obama.jpg", "obama3.jpg"] {
        fs_err::copy(sample(n), more.join(n)).unwrap();
    }
    let mut server = start(&data, &["--ingest-root", more.to_str().unwrap()]);
    let http = Client::new();
    let job: Value = http
        .post(format!("{}/api/v1/jobs", server.base))
        .header("X-Api-Key", &keys["cur"])
        .json(&serde_json::json!({"collection": "press", "paths": [more]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = job["id"].as_u64().unwrap();
    let done = wait_for_job(&http, &server.base, &keys["cur"], id, std::time::Duration::from_secs(120));
    assert_eq!(done["state"], "done", "{done}");
    let stored = done["report"]["templates"].as_u64().unwrap_or_else(|| panic!("{done}"));
    assert!(stored >= 2, "{done}");
    // The checkpoint follows the job's end: wait for it, then kill the server outright.
    let t = std::time::Instant::now();
    while described() != before + stored && t.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    assert_eq!(described(), before + stored, "the codes of every template stored");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}
