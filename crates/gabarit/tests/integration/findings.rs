//! The security review of issue 12, finding by finding: each test reproduces one finding as an
//! attacker would (a real server on loopback, a valid low-privilege key, hostile files, write
//! access to the catalog without the key) and fails if the hole is open again.

use std::collections::BTreeMap;
use std::path::Path;

use reqwest::blocking::{Client, multipart};
use serde_json::{Value, json};

use crate::catalog::{GOVERNANCE, as_user, new_collection};
use crate::server::{audit_of, error_code, gallery, key, photo_form, search, search_form, start, wait_for_job};
use crate::{run, sample};

fn ok(cmd: &mut std::process::Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The audit entries of `action`, read by the DPO over HTTP.
#[test]
fn finding_01_a_reviewer_decides_only_on_candidates_of_collections_granted_to_them() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = gallery(dir.path()); // raoul reviews press; rita is granted nothing
    let server = start(&data, &[]);
    let http = Client::new();
    let found = search(&http, &server.base, &keys["inv"], "obama.jpg", &[]);
    let candidate = found["candidate_ids"][0].as_u64().unwrap();
    let review = |user: &str, decision: &str| {
        http.post(format!("{}/api/v1/candidates/{candidate}/review", server.base))
            .header("X-Api-Key", &keys[user])
            .json(&json!({"decision": decision}))
            .send()
            .unwrap()
    };
    for decision in ["confirm", "reject"] {
        let resp = review("rita", decision);
        let status = resp.status().as_u16();
        let body = resp.text().unwrap();
        assert_eq!(status, 404, "{decision} by a reviewer not granted press: {body}");
        assert!(!body.contains("CASE-7"), "the case reference does not leak: {body}");
        assert!(!body.contains("score"), "nor the score: {body}");
    }
    // From the command line too.
    let out = run(as_user(&data, "rita").args(["review", "confirm", &candidate.to_string()]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // Nothing was recorded: raoul, granted press, sees no decision.
    let shown: Value = http
        .get(format!("{}/api/v1/candidates/{candidate}", server.base))
        .header("X-Api-Key", &keys["raoul"])
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(shown["candidate"]["confirmed_by"], json!([]), "{shown}");
    assert_eq!(shown["candidate"]["rejected_by"], json!([]), "{shown}");
    assert_eq!(review("raoul", "confirm").status().as_u16(), 200);
}

/// A client whose requests come from `address` (any 127.0.0.0/8 address reaches loopback).
fn client_from(address: &str) -> Client {
    Client::builder().local_address(address.parse::<std::net::IpAddr>().ok()).build().unwrap()
}

#[test]
fn finding_02_logins_are_counted_before_the_check_per_name_and_address_and_never_lock_the_owner_out() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = gallery(dir.path());
    ok(as_user(&data, "admin").args(["user", "password", "rita"]).env("GABARIT_PASSWORD", "correct horse battery"));
    let server = start(&data, &[]);
    let login = |http: &Client, name: &str, password: &str| {
        http.post(format!("{}/api/v1/session", server.base))
            .json(&json!({"name": name, "password": password}))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    // 30 wrong passwords for rita at once, from one address: at most 5 are checked.
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..30)
            .map(|i| s.spawn(move || login(&client_from("127.0.0.1"), "rita", &format!("wrong password {i}"))))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(checked <= 5, "{checked} wrong passwords were checked: {statuses:?}");
    assert_eq!(checked + statuses.iter().filter(|s| **s == 429).count(), 30, "{statuses:?}");
    let http = Client::new();
    let failed = audit_of(&http, &server.base, &keys["dora"], "login_failed");
    assert!(failed.len() <= 5, "{} failed logins audited", failed.len());
    // The owner, from their own address, still logs in; from the attacked address they wait.
    assert_eq!(login(&client_from("127.0.0.2"), "rita", "correct horse battery"), 200);
    assert_eq!(login(&client_from("127.0.0.1"), "rita", "correct horse battery"), 429);
    // Guesses spread across names from one address are stopped too.
    let attacker = client_from("127.0.0.3");
    let spread: Vec<u16> = (0..40).map(|i| login(&attacker, &format!("name{i}"), "guess guess guess")).collect();
    assert!(spread.iter().filter(|s| **s == 401).count() <= 20, "{spread:?}");
    assert_eq!(spread.last(), Some(&429), "{spread:?}");
}

#[cfg(unix)]
#[test]
fn finding_03_ingestion_by_path_never_follows_a_link_out_of_its_root_and_survives_link_loops() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    let (root, outside) = (dir.path().join("archive"), dir.path().join("private"));
    fs_err::create_dir_all(root.join("sub")).unwrap();
    fs_err::create_dir_all(&outside).unwrap();
    fs_err::copy(sample("biden.jpg"), root.join("sub/biden.jpg")).unwrap();
    fs_err::copy(sample("obama3.jpg"), outside.join("obama3.jpg")).unwrap();
    std::os::unix::fs::symlink(outside.join("obama3.jpg"), root.join("escape.jpg")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("escape-dir")).unwrap();
    // Two links to the folder itself: walking them would never end.
    std::os::unix::fs::symlink(".", root.join("loop1")).unwrap();
    std::os::unix::fs::symlink(".", root.join("loop2")).unwrap();
    let keys: BTreeMap<&str, String> = ["cur", "inv"].into_iter().map(|u| (u, key(&data, u))).collect();
    let server = start(&data, &["--ingest-root", root.to_str().unwrap()]);
    let http = Client::new();
    let submit = |path: &Path| -> u64 {
        let resp = http
            .post(format!("{}/api/v1/jobs", server.base))
            .header("X-Api-Key", &keys["cur"])
            .json(&json!({"collection": "press", "paths": [path]}))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 202);
        resp.json::<Value>().unwrap()["id"].as_u64().unwrap()
    };
    let job = submit(&root);
    let done = wait_for_job(&http, &server.base, &keys["cur"], job, std::time::Duration::from_secs(120));
    assert_eq!(done["state"], "done", "the walk ended: {done}");
    assert_eq!(done["report"]["ingested"], 1, "biden.jpg only: {done}");
    let skipped = done["report"]["failed"].as_array().unwrap();
    let reasons: Vec<String> = skipped.iter().map(|f| format!("{} {}", f["uri"], f["code"])).collect();
    assert!(reasons.iter().any(|r| r.contains("escape.jpg") && r.contains("link_outside_root")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("escape-dir") && r.contains("link_outside_root")), "{reasons:?}");
    // The photo outside the root was never stored: obama's search finds nothing.
    let found = search(&http, &server.base, &keys["inv"], "obama.jpg", &[]);
    assert_eq!(found["candidates"], json!([]), "{found}");
    // The queue goes on: a later job runs.
    let later = dir.path().join("archive/later");
    fs_err::create_dir_all(&later).unwrap();
    fs_err::copy(sample("obama2.jpg"), later.join("obama2.jpg")).unwrap();
    let job = submit(&later);
    let done = wait_for_job(&http, &server.base, &keys["cur"], job, std::time::Duration::from_secs(120));
    assert_eq!((done["state"].as_str(), done["report"]["ingested"].as_u64()), (Some("done"), Some(1)), "{done}");
}

#[test]
fn finding_04_a_huge_login_name_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = gallery(dir.path());
    let server = start(&data, &[]);
    let size = |p: &Path| fs_err::metadata(p).map(|m| m.len()).unwrap_or(0);
    let catalog_bytes = || size(&data.join("catalog.db")) + size(&data.join("catalog.db-wal"));
    let before = catalog_bytes();
    let http = Client::new();
    let name = "x".repeat(1_500_000);
    let resp = http
        .post(format!("{}/api/v1/session", server.base))
        .json(&json!({"name": name, "password": "whatever it is"}))
        .send()
        .unwrap();
    let (status, code) = error_code(resp);
    assert_eq!((status, code.as_str()), (400, "bad_request"));
    let entries = audit_of(&http, &server.base, &keys["dora"], "login_failed");
    assert!(entries.iter().all(|e| e.to_string().len() < 2_000), "no entry holds the name");
    assert!(catalog_bytes() < before + 200_000, "{} bytes written", catalog_bytes() - before);
}

#[test]
fn finding_05_retention_keeps_an_uploaded_photo_another_collection_still_uses() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    let expired = crate::catalog::governance_expired();
    ok(as_user(&data, "cur").args(["collection", "create", "expired"]).args(&expired));
    let keys: BTreeMap<&str, String> = ["cur", "inv", "dora"].into_iter().map(|u| (u, key(&data, u))).collect();
    let server = start(&data, &["--retention-every", "0"]);
    let http = Client::new();
    // A photo uploaded into the expired collection, then ingested by path into press.
    let form = multipart::Form::new()
        .part("file", multipart::Part::bytes(fs_err::read(sample("obama2.jpg")).unwrap()).file_name("obama2.jpg"));
    let job: Value = http
        .post(format!("{}/api/v1/collections/expired/uploads", server.base))
        .header("X-Api-Key", &keys["cur"])
        .multipart(form)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let upload = job["inputs"][0].as_str().unwrap().to_string();
    let done = wait_for_job(&http, &server.base, &keys["cur"], job["id"].as_u64().unwrap(), secs(120));
    assert_eq!(done["report"]["ingested"], 1, "{done}");
    let job: Value = http
        .post(format!("{}/api/v1/jobs", server.base))
        .header("X-Api-Key", &keys["cur"])
        .json(&json!({"collection": "press", "paths": [upload]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let done = wait_for_job(&http, &server.base, &keys["cur"], job["id"].as_u64().unwrap(), secs(120));
    assert_eq!(done["report"]["ingested"], 1, "{done}");
    let run =
        http.post(format!("{}/api/v1/retention/run", server.base)).header("X-Api-Key", &keys["dora"]).send().unwrap();
    assert_eq!(run.status().as_u16(), 200);
    // press still holds the photo, and serves it.
    let found = search(&http, &server.base, &keys["inv"], "obama.jpg", &["press"]);
    let image = found["candidates"][0]["image_id"].as_u64().unwrap_or_else(|| panic!("{found}"));
    let file = http
        .get(format!("{}/api/v1/images/{image}/file", server.base))
        .header("X-Api-Key", &keys["inv"])
        .send()
        .unwrap();
    assert_eq!(file.status().as_u16(), 200, "the file press points to is still there");
}

fn secs(s: u64) -> std::time::Duration {
    std::time::Duration::from_secs(s)
}

#[test]
fn finding_06_keys_users_grants_and_sessions_can_be_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = gallery(dir.path());
    ok(as_user(&data, "admin").args(["user", "password", "rita"]).env("GABARIT_PASSWORD", "correct horse battery"));
    let server = start(&data, &[]);
    let http = Client::new();
    let url = |p: &str| format!("{}{p}", server.base);
    let me = |key: &str| http.get(url("/api/v1/me")).header("X-Api-Key", key).send().unwrap().status().as_u16();
    let admin = |method: reqwest::Method, path: &str| {
        let resp = http.request(method, url(path)).header("X-Api-Key", &keys["admin"]).send().unwrap();
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().unwrap_or(Value::Null))
    };
    // A second key for inv; revoking the first leaves the second.
    let (status, second) = admin(reqwest::Method::POST, "/api/v1/users/inv/keys");
    assert_eq!(status, 200, "{second}");
    let second = second["key"].as_str().unwrap().to_string();
    let prefix = keys["inv"].split('_').nth(1).unwrap().to_string();
    let (status, listed) = admin(reqwest::Method::GET, "/api/v1/users/inv/keys");
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(3), "{listed}"); // init, key(), the second
    let (status, body) = admin(reqwest::Method::DELETE, &format!("/api/v1/users/inv/keys/{prefix}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(me(&keys["inv"]), 401, "the revoked key");
    assert_eq!(me(&second), 200, "the other key");
    // A grant withdrawn: press is no longer searched.
    let (status, body) = admin(reqwest::Method::DELETE, "/api/v1/users/inv/grants/press");
    assert_eq!(status, 200, "{body}");
    let resp = http
        .post(url("/api/v1/search"))
        .header("X-Api-Key", &second)
        .multipart(search_form(&fs_err::read(sample("obama.jpg")).unwrap(), "obama.jpg").text("collection", "press"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    // A user disabled: every key stops.
    let (status, body) = admin(reqwest::Method::DELETE, "/api/v1/users/inv");
    assert_eq!(status, 200, "{body}");
    assert_eq!(me(&second), 401);
    // Sessions: a password change ends them; another user's key cannot end one.
    let login = || {
        let resp = http
            .post(url("/api/v1/session"))
            .json(&json!({"name": "rita", "password": "correct horse battery"}))
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string()
    };
    let session = login();
    let with_cookie = |cookie: &str| http.get(url("/api/v1/me")).header("Cookie", cookie).send().unwrap();
    let bye = http
        .delete(url("/api/v1/session"))
        .header("X-Api-Key", &keys["raoul"])
        .header("Cookie", &session)
        .send()
        .unwrap();
    assert!(bye.status().is_success() || bye.status().as_u16() == 400, "{}", bye.status());
    assert_eq!(with_cookie(&session).status().as_u16(), 200, "raoul's key did not end rita's session");
    ok(as_user(&data, "admin").args(["user", "password", "rita"]).env("GABARIT_PASSWORD", "another good password"));
    assert_eq!(with_cookie(&session).status().as_u16(), 401, "a new password ends the sessions");
    // The same from the command line, each audited.
    ok(as_user(&data, "admin").args(["user", "ungrant", "raoul", "press"]));
    ok(as_user(&data, "admin").args(["user", "key", "revoke", "raoul", keys["raoul"].split('_').nth(1).unwrap()]));
    assert_eq!(me(&keys["raoul"]), 401);
    ok(as_user(&data, "admin").args(["user", "disable", "rita"]));
    let entries = audit_of(&http, &server.base, &keys["dora"], "");
    let count = |action: &str| entries.iter().filter(|e| e["action"] == action).count();
    for action in ["key_revoke", "grant_revoke", "user_disable"] {
        assert_eq!(count(action), 2, "{action}: once over HTTP, once from the command line");
    }
    let ended: Vec<u64> = entries
        .iter()
        .filter(|e| e["action"] == "user_password_set")
        .filter_map(|e| e["detail"]["sessions_ended"].as_u64())
        .collect();
    assert!(ended.contains(&1), "the second password ended rita's session: {ended:?}");
}

/// The catalog opened as an attacker with write access but no key would: plain SQLite.
fn raw_catalog(data: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(data.join("catalog.db")).unwrap()
}

#[test]
fn finding_07_tampering_with_the_audit_or_the_accounts_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _keys) = gallery(dir.path());
    let anchor = dir.path().join("anchor.json");
    ok(as_user(&data, "dora").args(["audit", "anchor", "--out"]).arg(&anchor));
    let verify = |extra: &[&str]| run(as_user(&data, "dora").args(["audit", "verify"]).args(extra));
    assert!(verify(&["--anchor", anchor.to_str().unwrap()]).status.success());
    // Truncation: the newest entries deleted (triggers dropped first) still pass a plain
    // verification of what remains, not one against the checkpoint.
    let saved = dir.path().join("saved.db");
    fs_err::copy(data.join("catalog.db"), &saved).unwrap();
    {
        let db = raw_catalog(&data);
        db.execute_batch(
            "DROP TRIGGER audit_append_only_delete; DELETE FROM audit WHERE seq > (SELECT MAX(seq) - 3 FROM audit);",
        )
        .unwrap();
    }
    let out = verify(&["--anchor", anchor.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("truncated"), "{}", String::from_utf8_lossy(&out.stdout));
    // Rewriting: one entry changed and the chain recomputed with SHA-256 from there.
    fs_err::copy(&saved, data.join("catalog.db")).unwrap();
    let _ = fs_err::remove_file(data.join("catalog.db-wal"));
    {
        let db = raw_catalog(&data);
        db.execute_batch("DROP TRIGGER audit_append_only_update;").unwrap();
        let rows: Vec<(i64, String, String, String, String, String)> = {
            let mut stmt =
                db.prepare("SELECT seq, at, actor, action, detail, prev_hash FROM audit ORDER BY seq").unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let mut prev = rows[0].5.clone();
        for (seq, at, actor, action, detail, _) in rows {
            let actor = if seq == 3 { "someone-else".to_string() } else { actor };
            let detail: Value = serde_json::from_str(&detail).unwrap();
            let canonical = json!({"seq": seq, "at": at, "actor": actor, "action": action, "detail": detail});
            use sha2::Digest;
            let hash = hex::encode(sha2::Sha256::digest(format!("{prev}\n{canonical}").as_bytes()));
            db.execute(
                "UPDATE audit SET actor = ?1, prev_hash = ?2, hash = ?3 WHERE seq = ?4",
                rusqlite::params![actor, prev, hash, seq],
            )
            .unwrap();
            prev = hash;
        }
    }
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(1), "a rewritten chain: {}", String::from_utf8_lossy(&out.stdout));
    // An API key inserted by hand, for the admin, is refused.
    fs_err::copy(&saved, data.join("catalog.db")).unwrap();
    let _ = fs_err::remove_file(data.join("catalog.db-wal"));
    let forged = {
        use sha2::Digest;
        let db = raw_catalog(&data);
        let (salt, secret) = ("00112233445566778899aabbccddeeff", "a".repeat(48));
        let hash = hex::encode(sha2::Sha256::digest(format!("{salt}:{secret}").as_bytes()));
        db.execute(
            "INSERT INTO api_keys (user_id, prefix, salt, hash, created_at)
             SELECT id, 'abcdefabcdef', ?1, ?2, '2026-11-30T00:00:00Z' FROM users WHERE name = 'admin'",
            rusqlite::params![salt, hash],
        )
        .unwrap();
        format!("gbk_abcdefabcdef_{secret}")
    };
    let mut cmd = crate::gabarit();
    crate::catalog::with_data(&mut cmd, &data)
        .env_remove("GABARIT_USER")
        .env_remove("GABARIT_KEY_FILE")
        .env("GABARIT_API_KEY", &forged);
    let out = run(cmd.args(["user", "list"]));
    assert_eq!(out.status.code(), Some(2), "a forged key row: {}", String::from_utf8_lossy(&out.stdout));
    // Roles given by hand are refused too.
    {
        let db = raw_catalog(&data);
        db.execute("UPDATE users SET roles = '[\"admin\"]' WHERE name = 'inv'", []).unwrap();
    }
    let out = run(as_user(&data, "inv").args(["user", "list"]));
    assert_eq!(out.status.code(), Some(2), "roles edited by hand: {}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn finding_07_an_ingestion_killed_half_way_has_its_stored_images_on_the_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "c");
    let gallery = dir.path().join("gallery");
    fs_err::create_dir_all(&gallery).unwrap();
    for copy in 0..6u8 {
        for n in ["obama.jpg", "obama2.jpg", "biden.jpg", "players.jpg"] {
            let mut bytes = fs_err::read(sample(n)).unwrap();
            bytes.extend_from_slice(&[copy; 16]);
            fs_err::write(gallery.join(format!("{copy}-{n}")), bytes).unwrap();
        }
    }
    let mut child = as_user(&data, "cur")
        .args(["ingest", "--quiet", "--batch", "2", "--collection", "c"])
        .arg(&gallery)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let images =
        || -> i64 { raw_catalog(&data).query_row("SELECT COUNT(*) FROM images", [], |r| r.get(0)).unwrap_or(0) };
    let t = std::time::Instant::now();
    while images() == 0 {
        assert!(child.try_wait().unwrap().is_none(), "the ingestion ended before it could be interrupted");
        assert!(t.elapsed() < secs(120));
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let stored = images();
    assert!(stored > 0 && stored < 24, "interrupted half-way: {stored}");
    let audited: i64 = {
        let db = raw_catalog(&data);
        let mut stmt = db.prepare("SELECT detail FROM audit WHERE action = 'ingest_batch'").unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(|d| {
                serde_json::from_str::<Value>(&d.unwrap()).unwrap()["images"].as_array().map_or(0, Vec::len) as i64
            })
            .sum()
    };
    assert_eq!(audited, stored, "every stored image is on the audit record");
}

#[test]
fn finding_08_a_folder_named_like_an_archive_member_is_read_as_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    let root = dir.path().join("shots");
    fs_err::create_dir_all(root.join("conf!")).unwrap();
    fs_err::copy(sample("obama2.jpg"), root.join("conf!/x.jpg")).unwrap();
    // A sibling zip called `conf` holding another photo under the same name.
    {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(fs_err::File::create(root.join("conf")).unwrap());
        zip.start_file("x.jpg", zip::write::SimpleFileOptions::default()).unwrap();
        zip.write_all(&fs_err::read(sample("biden.jpg")).unwrap()).unwrap();
        zip.finish().unwrap();
    }
    ok(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "press"]).arg(root.join("conf!")));
    let keys: BTreeMap<&str, String> = ["inv"].into_iter().map(|u| (u, key(&data, u))).collect();
    let server = start(&data, &[]);
    let http = Client::new();
    let found = search(&http, &server.base, &keys["inv"], "obama.jpg", &[]);
    let image = found["candidates"][0]["image_id"].as_u64().unwrap_or_else(|| panic!("{found}"));
    let resp = http
        .get(format!("{}/api/v1/images/{image}/file", server.base))
        .header("X-Api-Key", &keys["inv"])
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let served = image::load_from_memory(&resp.bytes().unwrap()).unwrap();
    let obama2 = image::open(sample("obama2.jpg")).unwrap();
    assert_eq!((served.width(), served.height()), (obama2.width(), obama2.height()), "obama2, not biden");
}

#[test]
fn finding_09_a_reviewers_queue_holds_their_candidates_whatever_other_collections_hold() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = gallery(dir.path()); // raoul reviews press only
    ok(as_user(&data, "cur").args(["collection", "create", "other"]).args(GOVERNANCE));
    ok(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "other"]).arg(sample("obama2.jpg")));
    ok(as_user(&data, "admin").args(["user", "grant", "inv", "other"]));
    let server = start(&data, &[]);
    let http = Client::new();
    let press = search(&http, &server.base, &keys["inv"], "obama.jpg", &["press"]);
    let mine = press["candidate_ids"][0].as_u64().unwrap();
    for _ in 0..6 {
        search(&http, &server.base, &keys["inv"], "obama.jpg", &["other"]);
    }
    let queue: Value = http
        .get(format!("{}/api/v1/candidates?limit=5", server.base))
        .header("X-Api-Key", &keys["raoul"])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let ids: Vec<u64> =
        queue["items"].as_array().unwrap().iter().map(|c| c["candidate"]["id"].as_u64().unwrap()).collect();
    assert!(ids.contains(&mine), "raoul's candidate {mine} in {ids:?}");
}

#[cfg(unix)]
#[test]
fn finding_10_the_data_directory_and_everything_in_it_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = gallery(dir.path());
    let server = start(&data, &[]);
    let http = Client::new();
    let form = multipart::Form::new()
        .part("file", multipart::Part::bytes(fs_err::read(sample("obama3.jpg")).unwrap()).file_name("o.jpg"));
    let job: Value = http
        .post(format!("{}/api/v1/collections/press/uploads", server.base))
        .header("X-Api-Key", &keys["cur"])
        .multipart(form)
        .send()
        .unwrap()
        .json()
        .unwrap();
    wait_for_job(&http, &server.base, &keys["cur"], job["id"].as_u64().unwrap(), secs(120));
    search(&http, &server.base, &keys["inv"], "obama.jpg", &[]);
    let mut checked = 0;
    let mut stack = vec![data.clone()];
    while let Some(d) = stack.pop() {
        let mode = fs_err::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", d.display());
        for e in fs_err::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let mode = fs_err::metadata(&p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode & 0o077, 0, "{} is {mode:o}", p.display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 6, "catalog, WAL, keyring, index files, the upload: {checked}");
}

#[test]
fn finding_11_every_view_is_authorised_and_audited_and_every_field_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (data, keys) = gallery(dir.path());
    // The command line's views are authorised: an admin holds no collection's records.
    for args in [&["image", "show", "1"][..], &["faces-of", sample("biden.jpg").to_str().unwrap()][..]] {
        let out = run(as_user(&data, "admin").args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
    }
    ok(as_user(&data, "cur").args(["image", "show", "1"]));
    ok(as_user(&data, "cur").args(["faces-of"]).arg(sample("biden.jpg")));
    // An investigator lists only the collections granted to them.
    ok(as_user(&data, "cur").args(["collection", "create", "secret"]).args(GOVERNANCE));
    let listed = ok(as_user(&data, "inv").args(["collection", "list", "--json"]));
    let names: Vec<String> = serde_json::from_str::<Value>(&listed)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["press"]);
    let server = start(&data, &[]);
    let http = Client::new();
    let resp = http.get(format!("{}/api/v1/images/1", server.base)).header("X-Api-Key", &keys["cur"]).send().unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let views = audit_of(&http, &server.base, &keys["dora"], "record_view");
    assert!(views.len() >= 3, "image show, faces-of, GET /images/1: {views:?}");
    // Governance over HTTP is checked like the command line's.
    let mut governance: Value = http
        .get(format!("{}/api/v1/collections/press", server.base))
        .header("X-Api-Key", &keys["cur"])
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["governance"]
        .clone();
    for (field, value) in [("jurisdictions", json!(["zz!"])), ("retention", json!({"until": "-009999-01-01"}))] {
        let mut bad = governance.clone();
        bad[field] = value;
        let resp = http
            .put(format!("{}/api/v1/collections/press/governance", server.base))
            .header("X-Api-Key", &keys["cur"])
            .json(&bad)
            .send()
            .unwrap();
        assert_eq!(resp.status().as_u16(), 422, "{field}");
    }
    governance["purpose"] = json!("p".repeat(100_000));
    let resp = http
        .put(format!("{}/api/v1/collections/press/governance", server.base))
        .header("X-Api-Key", &keys["cur"])
        .json(&governance)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422, "a purpose of 100,000 characters");
    // Access answers access requests only.
    let erasure: Value = http
        .post(format!("{}/api/v1/rights", server.base))
        .header("X-Api-Key", &keys["dora"])
        .json(&json!({"kind": "erasure", "requester": "R", "verification": "ID", "received_on": "2026-11-20"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let resp = http
        .post(format!("{}/api/v1/rights/{}/access", server.base, erasure["id"]))
        .header("X-Api-Key", &keys["dora"])
        .multipart(photo_form(&fs_err::read(sample("obama.jpg")).unwrap(), "obama.jpg"))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 422);
}

#[test]
fn finding_11_tar_members_with_the_same_name_are_each_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    let tar_path = dir.path().join("twice.tar");
    {
        let mut tar = tar::Builder::new(fs_err::File::create(&tar_path).unwrap());
        for n in ["obama2.jpg", "biden.jpg"] {
            let bytes = fs_err::read(sample(n)).unwrap();
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, "same.jpg", bytes.as_slice()).unwrap();
        }
        tar.finish().unwrap();
    }
    let report = dir.path().join("report.json");
    let out = run(as_user(&data, "cur")
        .args(["ingest", "--quiet", "--collection", "press", "--report"])
        .arg(&report)
        .arg(&tar_path));
    let report: Value = serde_json::from_slice(&fs_err::read(&report).unwrap()).unwrap();
    let accounted = report["ingested"].as_u64().unwrap() + report["failed"].as_array().unwrap().len() as u64;
    assert_eq!(accounted, 2, "both members are accounted for: {report}");
    assert_eq!(report["files"], 2, "{report}");
    let _ = out;
}

#[test]
fn finding_07_the_server_anchors_the_chain_at_start_and_the_checkpoint_catches_a_later_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _keys) = gallery(dir.path());
    let anchors = dir.path().join("data.anchors");
    let server = start(&data, &[]);
    let t = std::time::Instant::now();
    let checkpoint = loop {
        let found = fs_err::read_dir(&anchors).ok().and_then(|mut d| d.next()).map(|e| e.unwrap().path());
        if let Some(p) = found.filter(|p| fs_err::metadata(p).map(|m| m.len() > 0).unwrap_or(false)) {
            break p;
        }
        assert!(t.elapsed() < secs(60), "no checkpoint in {}", anchors.display());
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs_err::metadata(&checkpoint).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", checkpoint.display());
    }
    let cp: Value = serde_json::from_str(&fs_err::read_to_string(&checkpoint).unwrap()).unwrap();
    assert!(cp["entries"].as_u64().unwrap() > 10 && cp["mac"].as_str().unwrap().len() == 64, "{cp}");
    drop(server);
    let verify = || run(as_user(&data, "dora").args(["audit", "verify", "--anchor"]).arg(&checkpoint));
    assert!(verify().status.success());
    raw_catalog(&data)
        .execute_batch(
            "DROP TRIGGER audit_append_only_delete; DELETE FROM audit WHERE seq > (SELECT MAX(seq) - 5 FROM audit);",
        )
        .unwrap();
    let out = verify();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
}
