//! Searches served from a streaming replica of the PostgreSQL store (issue 17, item 5): a
//! replica started from the test's primary with `pg_basebackup`; interactive searches read the
//! templates from it (a face stored while its replay is paused is not found through it, and is
//! through the primary), the result and `/metrics` report its lag beyond the bound, and every
//! write still reaches the primary.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::catalog::{Backend, as_user, new_collection, search_json};
use crate::{run, sample};

fn ok(cmd: &mut std::process::Command) -> String {
    let out = run(cmd);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn names(result: &Value) -> Vec<String> {
    result["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Path::new(c["path"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Runs `sql` on `url` and returns the first column of the first row as text.
fn query(url: &str, sql: &str) -> String {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let row = client.query_one(sql, &[]).unwrap();
    row.get::<_, Option<String>>(0).unwrap_or_default()
}

/// Waits until the replica has replayed everything the primary wrote so far.
fn caught_up(primary: &str, replica: &str) {
    let target = query(primary, "SELECT pg_current_wal_lsn()::text");
    let started = Instant::now();
    while query(replica, &format!("SELECT (pg_last_wal_replay_lsn() >= '{target}'::pg_lsn)::text")) != "true" {
        assert!(started.elapsed() < Duration::from_secs(60), "the replica did not catch up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn searches_read_from_a_replica_and_report_its_lag_beyond_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let primary = Backend::Postgres.place(&data).unwrap();
    let replica = primary.start_replica().unwrap_or_else(|e| panic!("a replica of the test's server: {e}"));
    let gallery = dir.path().join("gallery");
    fs_err::create_dir_all(&gallery).unwrap();
    for n in ["players.jpg", "gdp.jpg", "biden.jpg", "obama2.jpg"] {
        fs_err::copy(sample(n), gallery.join(n)).unwrap();
    }
    new_collection(&data, "press");
    ok(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "press"]).arg(&gallery));
    caught_up(&primary.url(), &replica.url());
    let through_replica = ["--replica", &replica.url(), "--replica-max-lag", "0.5"];
    let result = search_json(&data, &sample("obama.jpg"), &through_replica);
    assert_eq!(names(&result)[0], "obama2.jpg", "{result}");
    assert!(result.get("replica_lag_s").is_none(), "caught up: no lag reported: {result}");

    // Replay paused: what the primary stores from now on is not on the replica.
    assert_eq!(query(&replica.url(), "SELECT pg_wal_replay_pause()::text"), "");
    let later = dir.path().join("later");
    fs_err::create_dir_all(&later).unwrap();
    fs_err::copy(sample("obama3.jpg"), later.join("obama3.jpg")).unwrap();
    ok(as_user(&data, "cur").args(["ingest", "--quiet", "--collection", "press"]).arg(&later));
    std::thread::sleep(Duration::from_millis(1200));
    let stale = search_json(&data, &sample("obama.jpg"), &through_replica);
    assert!(!names(&stale).contains(&"obama3.jpg".to_string()), "read from the replica: {stale}");
    let lag = stale["replica_lag_s"].as_f64().unwrap_or_else(|| panic!("the lag is reported: {stale}"));
    assert!(lag > 1.0, "{lag}");
    // The primary has it, and the search made through the replica was recorded there.
    let current = search_json(&data, &sample("obama.jpg"), &[]);
    assert!(names(&current).contains(&"obama3.jpg".to_string()), "{current}");
    assert!(current.get("replica_lag_s").is_none());
    let searches: i64 = query(&primary.url(), "SELECT count(*)::text FROM searches").parse().unwrap();
    assert_eq!(searches, 3);
    // Within a generous bound the lag is not reported, though the answer comes from the replica.
    let tolerant =
        search_json(&data, &sample("obama.jpg"), &["--replica", &replica.url(), "--replica-max-lag", "3600"]);
    assert!(tolerant.get("replica_lag_s").is_none() && !names(&tolerant).contains(&"obama3.jpg".to_string()));

    // The server reports the lag in /metrics; replay resumed, it goes back to 0 and the
    // replica finds the new face.
    let server = crate::server::start(&data, &through_replica);
    let http = reqwest::blocking::Client::new();
    let gauge = |text: &str| -> f64 {
        let line =
            text.lines().find(|l| l.starts_with("gabarit_replica_lag_seconds ")).unwrap_or_else(|| panic!("{text}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let metrics = http.get(format!("{}/metrics", server.base)).send().unwrap().text().unwrap();
    assert!(gauge(&metrics) > 1.0, "{metrics}");
    query(&replica.url(), "SELECT pg_wal_replay_resume()::text");
    caught_up(&primary.url(), &replica.url());
    let metrics = http.get(format!("{}/metrics", server.base)).send().unwrap().text().unwrap();
    assert_eq!(gauge(&metrics), 0.0, "{metrics}");
    drop(server);
    let fresh = search_json(&data, &sample("obama.jpg"), &through_replica);
    assert!(names(&fresh).contains(&"obama3.jpg".to_string()), "{fresh}");

    // A replica must be one: the primary named as a replica is refused, and so is a replica of
    // a data directory.
    let wrong = run(as_user(&data, "inv")
        .args(["search", "--case", "C", "--purpose", "p", "--replica", &primary.url()])
        .arg(sample("obama.jpg")));
    assert_ne!(wrong.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("not a replica"));
}
