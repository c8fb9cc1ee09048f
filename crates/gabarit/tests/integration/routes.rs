//! The role × grant table over every route of the HTTP API: each route of the OpenAPI
//! document (a route without its row here fails the test) is called without a key, with a
//! forged key, and by one user of each role granted `press` and one granted another
//! collection only; the status must be what the core's permission table says.

use gabarit_governance::{Action, Reach, Role, reach};
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::catalog::{GOVERNANCE, add_user, as_user, key_file};
use crate::run;
use crate::server::{collection_governance, error_code, gallery, multipart_whole, start};

/// What a route reaches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Bound {
    /// Records of `press`: a caller granted only `other` gets 403 or 404.
    Press,
    /// `press` among others: allowed callers see it only if granted.
    Listing,
    /// Nothing collection-bound: the role decides.
    Role,
}

/// Who may call a route.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// The permission table's answer for this action, reaching as `Bound` says.
    Act(Action, Bound),
    /// Jobs: curators, DPOs and those who group people may list and follow (their) jobs.
    Jobs,
    /// Everyone authenticated.
    Own,
    /// A search's query face: its searcher (`inv`, not among the callers) and the reviewers
    /// of its candidates' collection; another investigator gets 404, anyone else 403.
    QueryFace,
}

/// The table: every route of the API and who may call it.
fn rule(method: &str, path: &str) -> Rule {
    use Action as A;
    use Bound::{Listing, Press, Role as ByRole};
    match (method, path) {
        ("get", "/api/v1/me" | "/api/v1/vocabulary") | ("delete", "/api/v1/session") => Rule::Own,
        ("get", "/api/v1/collections") => Rule::Act(A::ListCollections, Listing),
        ("get", "/api/v1/collections/{name}") => Rule::Act(A::ListCollections, Press),
        ("post", "/api/v1/collections") | ("put", "/api/v1/collections/{name}/governance") => {
            Rule::Act(A::ManageCollections, ByRole)
        }
        ("post", "/api/v1/search") => Rule::Act(A::Search, Press),
        ("post", "/api/v1/queries" | "/api/v1/queries/{id}/search") => Rule::Act(A::Search, ByRole),
        ("post", "/api/v1/candidates/{id}/review") | ("get", "/api/v1/candidates/{id}") => Rule::Act(A::Review, Press),
        ("get", "/api/v1/candidates") => Rule::Act(A::Review, Listing),
        ("get", "/api/v1/searches") => Rule::Act(A::Search, ByRole),
        ("get", "/api/v1/searches/{id}/query-faces/{index}") => Rule::QueryFace,
        ("get", "/api/v1/images/{id}" | "/api/v1/images/{id}/file" | "/api/v1/faces/{id}/crop") => {
            Rule::Act(A::ViewRecords, Press)
        }
        ("get" | "post", "/api/v1/users")
        | ("delete", "/api/v1/users/{name}")
        | ("put", "/api/v1/users/{name}/roles" | "/api/v1/users/{name}/password")
        | ("get" | "post", "/api/v1/users/{name}/keys")
        | ("delete", "/api/v1/users/{name}/keys/{prefix}")
        | ("post", "/api/v1/users/{name}/grants")
        | ("delete", "/api/v1/users/{name}/grants/{collection}") => Rule::Act(A::ManageUsers, ByRole),
        ("get", "/api/v1/audit" | "/api/v1/audit/verify") | ("post", "/api/v1/audit/checkpoints") => {
            Rule::Act(A::Audit, ByRole)
        }
        ("get", "/api/v1/reports/processing") => Rule::Act(A::Reports, ByRole),
        ("get" | "post", "/api/v1/rights")
        | ("post", "/api/v1/rights/{id}/access" | "/api/v1/rights/{id}/erase" | "/api/v1/rights/{id}/object") => {
            Rule::Act(A::Rights, ByRole)
        }
        ("post", "/api/v1/retention/run") => Rule::Act(A::Retention, ByRole),
        ("post", "/api/v1/jobs" | "/api/v1/collections/{name}/uploads") => Rule::Act(A::Ingest, ByRole),
        ("get", "/api/v1/jobs" | "/api/v1/jobs/{id}") => Rule::Jobs,
        ("post", "/api/v1/collections/{name}/people/jobs" | "/api/v1/collections/{name}/people/search")
        | ("get", "/api/v1/collections/{name}/people" | "/api/v1/people/{id}")
        | ("put", "/api/v1/people/{id}/label" | "/api/v1/faces/{id}/person")
        | ("post", "/api/v1/people/{id}/merge" | "/api/v1/people/{id}/split")
        | ("delete", "/api/v1/faces/{id}/person") => Rule::Act(A::People, Press),
        (m, other) => panic!("{m} {other} has no row in the role × grant table: add one"),
    }
}

/// What the table expects of a call.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    /// Through the policy: neither 401 nor 403 (nor, for a `press` record, 404).
    Allowed,
    /// Through, and the listing shows `press` or not.
    Lists(bool),
    /// Refused by role: 403.
    Forbidden,
    /// Refused by scope: 403 or 404 (the record does not exist for them).
    OutOfScope,
}

fn expect(rule: Rule, role: Role, granted: bool) -> Expect {
    match rule {
        Rule::Own => Expect::Allowed,
        Rule::Jobs if matches!(role, Role::Curator | Role::Dpo | Role::Investigator) => Expect::Allowed,
        Rule::Jobs => Expect::Forbidden,
        Rule::QueryFace => match role {
            Role::Reviewer if granted => Expect::Allowed,
            Role::Reviewer | Role::Investigator => Expect::OutOfScope,
            Role::Admin | Role::Curator | Role::Dpo if reach(role, Action::Review).is_some() => Expect::Allowed,
            Role::Admin | Role::Curator | Role::Dpo => Expect::Forbidden,
        },
        Rule::Act(action, bound) => match (reach(role, action), bound) {
            (None, _) => Expect::Forbidden,
            (Some(_), Bound::Role) => Expect::Allowed,
            (Some(r), Bound::Listing) => Expect::Lists(r == Reach::Everything || granted),
            (Some(Reach::Everything), Bound::Press) => Expect::Allowed,
            (Some(Reach::Granted), Bound::Press) => {
                if granted {
                    Expect::Allowed
                } else {
                    Expect::OutOfScope
                }
            }
        },
    }
}

/// A well-formed body for each route that takes one (a malformed body would be refused
/// before the policy is asked).
fn valid_body(path: &str, person: u64) -> Value {
    match path {
        "/api/v1/candidates/{id}/review" => json!({"decision": "confirm"}),
        "/api/v1/jobs" => json!({"collection": "press", "paths": ["/nonexistent"]}),
        "/api/v1/queries/{id}/search" => json!({"case_ref": "CASE-7", "purpose": "test", "face": 0}),
        "/api/v1/users" => json!({"name": "newcomer", "roles": ["reviewer"]}),
        "/api/v1/users/{name}/grants" => json!({"collection": "press"}),
        "/api/v1/users/{name}/roles" => json!({"roles": ["reviewer"]}),
        "/api/v1/users/{name}/password" => json!({"password": "a long enough password"}),
        "/api/v1/collections" => json!({"name": "extra", "governance": {}}),
        "/api/v1/people/{id}/label" => json!({"label": "témoin"}),
        "/api/v1/collections/{name}/people/search" => json!({"name": "tém"}),
        // Merging a person into itself, splitting off a face it does not hold: refused by
        // the use case (422), after the policy.
        "/api/v1/people/{id}/merge" => json!({"from": person}),
        "/api/v1/people/{id}/split" => json!({"faces": [0]}),
        "/api/v1/faces/{id}/person" => json!({"person": person}),
        "/api/v1/rights" => {
            json!({"kind": "access", "requester": "R-9", "verification": "v", "received_on": "2026-11-02"})
        }
        _ => json!({}),
    }
}

#[test]
fn every_route_with_every_role_granted_or_not_answers_what_the_permission_table_says() {
    let dir = tempfile::tempdir().unwrap();
    let (data, mut keys) = gallery(dir.path());
    let ok = |out: std::process::Output| assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    ok(run(as_user(&data, "cur").args(["collection", "create", "other"]).args(GOVERNANCE)));
    // One user of each role granted press, one granted other only; a target for user routes.
    let mut callers = Vec::new();
    for role in Role::ALL {
        for granted in [true, false] {
            let name = format!("{}-{}", role.name(), if granted { "in" } else { "out" });
            add_user(&data, &name, role.name());
            ok(run(as_user(&data, "admin").args(["user", "grant", &name, if granted { "press" } else { "other" }])));
            callers.push((role, granted, fs_err::read_to_string(key_file(&data, &name)).unwrap().trim().to_string()));
        }
    }
    add_user(&data, "target", "reviewer");
    // press groups its faces by person: a second photo of the searched face makes a person.
    ok(run(as_user(&data, "cur").args(["collection", "update", "press", "--grouping", "on"])));
    let more = dir.path().join("more");
    fs_err::create_dir_all(&more).unwrap();
    fs_err::copy(crate::sample("obama3.jpg"), more.join("obama3.jpg")).unwrap();
    ok(run(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "press"]).arg(&more)));
    let persons = run(as_user(&data, "cur").args(["people", "list", "press", "--json"]));
    let persons: Value = serde_json::from_slice(&persons.stdout).unwrap();
    let person = persons["items"][0]["id"].as_u64().unwrap_or_else(|| panic!("a person: {persons}"));
    let server = start(&data, &[]);
    let http = Client::new();
    // A candidate of press, for the candidate routes.
    let photo = fs_err::read(crate::sample("obama.jpg")).unwrap();
    let found: Value = multipart_whole(
        http.post(format!("{}/api/v1/search", server.base)).header("X-Api-Key", &keys["inv"]),
        "image",
        &photo,
        &[("case_ref", "C"), ("purpose", "p")],
    )
    .send()
    .unwrap()
    .json()
    .unwrap();
    let candidate = found["candidate_ids"][0].as_u64().unwrap_or_else(|| panic!("{found}"));
    let image = found["candidates"][0]["image_id"].as_u64().unwrap();
    let face = found["candidates"][0]["face_id"].as_u64().unwrap();
    let search = found["search_id"].as_u64().unwrap();
    let spec: Value = http.get(format!("{}/api/v1/openapi.json", server.base)).send().unwrap().json().unwrap();
    let governance = collection_governance(&http, &server.base, &keys["cur"]);
    let not_a_photo = b"not a photo".to_vec();
    keys.insert("forged", "gbk_000000000000_00000000000000000000000000000000".into());
    let mut failures = Vec::new();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if matches!((method.as_str(), path.as_str()), ("post" | "get", "/api/v1/session")) {
                continue; // logging in is how one gets a session, and a browser asks for its own (tested with the sessions)
            }
            let rule = rule(method, path);
            let id = if path.contains("/candidates/") {
                candidate
            } else if path.starts_with("/api/v1/people/") {
                person
            } else if path.contains("/searches/") {
                search
            } else if path.contains("/faces/") {
                face
            } else {
                image
            };
            let url = format!("{}{}", server.base, path)
                .replace("{id}", &id.to_string())
                .replace("{name}", if path.starts_with("/api/v1/users") { "target" } else { "press" })
                .replace("{prefix}", "000000000000")
                .replace("{index}", "0")
                .replace("{collection}", "press");
            let request = |key: Option<&str>| {
                let mut r = match method.as_str() {
                    "get" => http.get(&url),
                    // Multipart bodies sent whole with a length (a streamed body may still be
                    // sending when the server has refused and closed the connection).
                    "post" if path == "/api/v1/search" => multipart_whole(
                        http.post(&url),
                        "image",
                        &not_a_photo,
                        &[("case_ref", "C"), ("purpose", "p"), ("collection", "press")],
                    ),
                    "post" if path.ends_with("/uploads") => multipart_whole(http.post(&url), "file", &not_a_photo, &[]),
                    "post" if path.contains("/rights/{id}/") || path == "/api/v1/queries" => {
                        multipart_whole(http.post(&url), "image", &not_a_photo, &[])
                    }
                    "post" => http.post(&url).json(&valid_body(path, person)),
                    "delete" => http.delete(&url),
                    "put" if path.ends_with("/governance") => http.put(&url).json(&governance), // unchanged
                    "put" => http.put(&url).json(&valid_body(path, person)),
                    other => panic!("{other} {path}: add it to the test"),
                };
                if let Some(k) = key {
                    r = r.header("X-Api-Key", k);
                }
                r.send().unwrap()
            };
            assert_eq!(error_code(request(None)), (401, "unauthenticated".into()), "{method} {path} without a key");
            assert_eq!(error_code(request(Some(&keys["forged"]))), (401, "invalid_key".into()), "{method} {path}");
            for (role, granted, key) in &callers {
                let expected = expect(rule, *role, *granted);
                let resp = request(Some(key));
                let status = resp.status().as_u16();
                let body = resp.text().unwrap_or_default();
                let fine = match &expected {
                    Expect::Allowed => {
                        let out_of_scope =
                            status == 404 && matches!(rule, Rule::Act(_, Bound::Press) | Rule::QueryFace);
                        ![401, 403].contains(&status) && !out_of_scope
                    }
                    Expect::Lists(shown) => status == 200 && body.contains("\"press\"") == *shown,
                    Expect::Forbidden => status == 403,
                    Expect::OutOfScope => status == 403 || status == 404,
                };
                if !fine {
                    failures.push(format!(
                        "{method} {path} as {} granted {}: expected {expected:?}, got {status} {}",
                        role.name(),
                        if *granted { "press" } else { "other" },
                        body.chars().take(200).collect::<String>()
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} cells differ:\n{}", failures.len(), failures.join("\n"));
    let routes = checked / 10;
    assert_eq!(routes, 51, "every route of the API (but the login) is in the spec and was checked");
    // Public: health, metrics (counts, never ids or people), the spec itself.
    assert_eq!(http.get(format!("{}/healthz", server.base)).send().unwrap().text().unwrap(), "ok\n");
    let metrics = http.get(format!("{}/metrics", server.base)).send().unwrap().text().unwrap();
    assert!(
        metrics.contains(r#"gabarit_http_requests_total{method="GET",route="/api/v1/users",status="403"} 8"#),
        "{metrics}"
    );
}
