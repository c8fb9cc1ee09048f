//! `api-bench`: concurrent searches against a running `gabarit serve` on loopback.
//!
//! For each client count (default 1, 8, 32), each client makes the same search in a loop until
//! `--requests` searches were made in all or `--seconds` passed; reports throughput,
//! p50/p99/max latency, errors, and the server's resident memory before and after
//! (`--server-pid`). Loopback only. Prints one JSON object.
//!
//! Two ways to search, as the API offers them (`--mode`):
//! - `photo`: each search uploads the photo (`POST /api/v1/search`): detection and embedding
//!   of the whole photo, then the index;
//! - `face`: each client uploads the photo once (`POST /api/v1/queries`, timed apart), then
//!   searches with its face (`POST /api/v1/queries/{id}/search`): what the web UI does once a
//!   face is picked, and what an investigator repeats with other collections or options.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use reqwest::blocking::{Client, multipart};

#[derive(Parser)]
struct Args {
    /// Server address (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// An investigator's API key (or GABARIT_API_KEY).
    #[arg(long, env = "GABARIT_API_KEY")]
    key: String,
    /// The query photo.
    #[arg(long)]
    photo: std::path::PathBuf,
    /// Client counts to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    clients: Vec<usize>,
    /// Searches per client count, at most.
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Seconds per client count, at most.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Candidates per search.
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    /// The server's process id, to report its memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Minimum score of the candidates (default: the server's, the pack's verification
    /// threshold); `-1` returns `--top-k` candidates whatever their score, so that every search
    /// also reads and records that many candidates (on synthetic galleries nothing reaches
    /// the real threshold).
    #[arg(long, allow_hyphen_values = true)]
    threshold: Option<f32>,
    /// `photo` (upload with each search) or `face` (analyse once, then search by the face).
    #[arg(long, default_value = "face", value_parser = ["photo", "face"])]
    mode: String,
    /// Exhaustive searches (`exact`: every template scanned, as rights requests and objections
    /// do) instead of the index's interactive top-k.
    #[arg(long)]
    exact: bool,
}

/// One client's search: the upload each time, or the analysed face.
fn search_once(http: &Client, args: &Args, photo: &[u8], name: &str, query: Option<&str>) -> bool {
    let base = args.base.trim_end_matches('/');
    let request = match query {
        Some(id) => http.post(format!("{base}/api/v1/queries/{id}/search")).json(&serde_json::json!({
            "case_ref": "LOAD-TEST", "purpose": "api-bench load measurement", "face": 0, "top_k": args.top_k,
            "threshold": args.threshold, "exact": args.exact,
        })),
        None => {
            let mut form = multipart::Form::new()
                .part("image", multipart::Part::bytes(photo.to_vec()).file_name(name.to_string()))
                .text("case_ref", "LOAD-TEST")
                .text("purpose", "api-bench load measurement")
                .text("top_k", args.top_k.to_string())
                .text("exact", args.exact.to_string());
            if let Some(t) = args.threshold {
                form = form.text("threshold", t.to_string());
            }
            http.post(format!("{base}/api/v1/search")).multipart(form)
        }
    };
    request.header("X-Api-Key", &args.key).send().map(|r| r.status().is_success() && r.bytes().is_ok()).unwrap_or(false)
}

/// Uploads the photo for analysis; the query id and the time it took (ms).
fn analyse(http: &Client, args: &Args, photo: &[u8], name: &str) -> Result<(String, f64)> {
    let t = Instant::now();
    let resp = http
        .post(format!("{}/api/v1/queries", args.base.trim_end_matches('/')))
        .header("X-Api-Key", &args.key)
        .multipart(
            multipart::Form::new().part("image", multipart::Part::bytes(photo.to_vec()).file_name(name.to_string())),
        )
        .send()?;
    let status = resp.status();
    let body: serde_json::Value = resp.json()?;
    let id = body["query_id"].as_str().with_context(|| format!("analysis refused ({status}): {body}"))?;
    Ok((id.to_string(), t.elapsed().as_secs_f64() * 1000.0))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = fs_err::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<()> {
    let args = Args::parse();
    let host = args.base.trim_start_matches("http://").split([':', '/']).next().unwrap_or_default();
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
        bail!("{}: api-bench drives servers on loopback only", args.base);
    }
    let photo = fs_err::read(&args.photo)?;
    let name = args.photo.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "query.jpg".into());
    let mut levels = Vec::new();
    let rss_start = args.server_pid.and_then(rss_kib);
    for &clients in &args.clients {
        let issued = AtomicUsize::new(0);
        let mut analyses = Vec::new();
        let mut queries = Vec::new();
        if args.mode == "face" {
            let http = Client::builder().timeout(Duration::from_secs(120)).build()?;
            for _ in 0..clients.max(1) {
                let (id, ms) = analyse(&http, &args, &photo, &name)?;
                queries.push(id);
                analyses.push(ms);
            }
        }
        let started = Instant::now();
        let deadline = started + Duration::from_secs(args.seconds);
        let results: Vec<(Vec<f64>, usize)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..clients.max(1))
                .map(|c| {
                    let (issued, photo, name, args) = (&issued, &photo, &name, &args);
                    let query = queries.get(c).cloned();
                    scope.spawn(move || -> Result<(Vec<f64>, usize)> {
                        let http = Client::builder().timeout(Duration::from_secs(120)).build()?;
                        let (mut latencies, mut errors) = (Vec::new(), 0usize);
                        while issued.fetch_add(1, Ordering::Relaxed) < args.requests && Instant::now() < deadline {
                            let t = Instant::now();
                            let ok = search_once(&http, args, photo, name, query.as_deref());
                            if ok {
                                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                            } else {
                                errors += 1;
                            }
                        }
                        Ok((latencies, errors))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().map_err(|_| anyhow::anyhow!("a client panicked"))?)
                .collect::<Result<_>>()
        })?;
        let wall = started.elapsed().as_secs_f64();
        let mut all: Vec<f64> = results.iter().flat_map(|(l, _)| l.iter().copied()).collect();
        all.sort_by(f64::total_cmp);
        let errors: usize = results.iter().map(|(_, e)| e).sum();
        levels.push(serde_json::json!({
            "clients": clients,
            "searches": all.len(),
            "errors": errors,
            "seconds": wall,
            "searches_per_s": all.len() as f64 / wall,
            "p50_ms": percentile(&all, 0.50),
            "p99_ms": percentile(&all, 0.99),
            "max_ms": all.last().copied().unwrap_or(f64::NAN),
            "server_rss_kib": args.server_pid.and_then(rss_kib),
            "analysis_ms": (!analyses.is_empty()).then(|| analyses.iter().sum::<f64>() / analyses.len() as f64),
        }));
    }
    let out = serde_json::json!({
        "base": args.base,
        "photo": args.photo.display().to_string(),
        "top_k": args.top_k,
        "mode": args.mode,
        "exact": args.exact,
        "threshold": args.threshold,
        "server_rss_kib_at_start": rss_start,
        "levels": levels,
    });
    println!("{}", serde_json::to_string_pretty(&out).context("json")?);
    Ok(())
}
