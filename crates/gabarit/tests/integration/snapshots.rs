//! Snapshots of representative API answers (insta): a change to what a route answers shows in
//! review as a diff of its `.snap` file, beside the OpenAPI document's. Times, hashes and the
//! engine family (which depends on the machine) are redacted; everything else is as served.

use insta::assert_json_snapshot;
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::catalog::new_collection;
use crate::server::{key, start};

#[test]
fn representative_api_answers_keep_their_shape() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    let keys: std::collections::BTreeMap<&str, String> =
        ["admin", "cur", "inv", "raoul", "dora"].into_iter().map(|u| (u, key(&data, u))).collect();
    let server = start(&data, &[]);
    let http = Client::new();
    let get = |path: &str, user: &str| -> (u16, Value) {
        let r = http.get(format!("{}{path}", server.base)).header("X-Api-Key", &keys[user]).send().unwrap();
        (r.status().as_u16(), r.json().unwrap())
    };

    assert_json_snapshot!("vocabulary", get("/api/v1/vocabulary", "inv"));
    assert_json_snapshot!("me_investigator", get("/api/v1/me", "inv"));
    assert_json_snapshot!("collection", get("/api/v1/collections/press", "cur"), {
        "[1].collection.created_at" => "[time]",
        "[1].collection.pack_sha256" => "[sha256]",
        "[1].collection.engine" => "[engine family]",
    });
    assert_json_snapshot!("users", get("/api/v1/users", "admin"), {
        "[1][].created_at" => "[time]",
    });
    assert_json_snapshot!("candidate_not_found", get("/api/v1/candidates/999", "raoul"));

    let r = http
        .post(format!("{}/api/v1/rights", server.base))
        .header("X-Api-Key", &keys["dora"])
        .json(&json!({"kind": "access", "requester": "R-1", "verification": "ID card", "received_on": "2026-11-02"}))
        .send()
        .unwrap();
    let opened: (u16, Value) = (r.status().as_u16(), r.json().unwrap());
    assert_json_snapshot!("rights_request_opened", opened);

    // A field at fault is named as data, for a client to point at it.
    let post = |path: &str, user: &str, body: Value| -> (u16, Value) {
        let r =
            http.post(format!("{}{path}", server.base)).header("X-Api-Key", &keys[user]).json(&body).send().unwrap();
        (r.status().as_u16(), r.json().unwrap())
    };
    let bad_date = json!({"kind": "access", "requester": "R-2", "verification": "ID card", "received_on": "2 Nov"});
    assert_json_snapshot!("rights_request_bad_date", post("/api/v1/rights", "dora", bad_date));
    assert_json_snapshot!(
        "job_without_paths",
        post("/api/v1/jobs", "cur", json!({"collection": "press", "paths": []}))
    );
}
