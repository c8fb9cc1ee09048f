//! The web UI embedded in the binary: served with a strict content security policy (the pages
//! themselves are driven in a real browser by `tests/browser/`).

use reqwest::blocking::Client;

use crate::catalog::new_collection;
use crate::server::{error_code, start};

#[test]
fn the_web_ui_is_served_from_the_binary_with_a_strict_content_policy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    new_collection(&data, "press");
    let server = start(&data, &[]);
    let http = Client::new();
    let page = http.get(format!("{}/", server.base)).send().unwrap();
    let status = page.status().as_u16();
    let csp = page.headers().get("content-security-policy").map(|v| v.to_str().unwrap().to_string());
    let body = page.text().unwrap();
    if status == 503 {
        panic!("the web UI was not built into this binary (run scripts/web-build.sh, then cargo build): {body}");
    }
    assert_eq!(status, 200);
    assert!(body.contains("<script") && body.contains("/assets/"), "{body}");
    let csp = csp.expect("a Content-Security-Policy header");
    assert!(csp.contains("default-src 'self'") && csp.contains("connect-src 'self'"), "{csp}");
    // Every asset the page names is served, with its type.
    let assets: Vec<&str> = body.split('"').filter(|s| s.starts_with("/assets/")).collect();
    assert!(!assets.is_empty());
    for a in assets {
        let resp = http.get(format!("{}{a}", server.base)).send().unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{a}");
        let kind = resp.headers()["content-type"].to_str().unwrap().to_string();
        assert!(kind.contains("javascript") || kind.contains("css") || kind.starts_with("image/"), "{a}: {kind}");
    }
    // UI routes fall back to the page; unknown files and API paths do not.
    assert_eq!(http.get(format!("{}/search", server.base)).send().unwrap().status().as_u16(), 200);
    assert_eq!(http.get(format!("{}/nothing.js", server.base)).send().unwrap().status().as_u16(), 404);
    assert_eq!(
        error_code(http.get(format!("{}/api/v1/nothing", server.base)).send().unwrap()),
        (404, "not_found".into())
    );
}
