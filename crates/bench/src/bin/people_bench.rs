//! `people-bench --index DIR --vectors db.npy [--k 32] [--ef 128] [--threads 2] [--count N]
//! [--join COSINE]`:
//! time and memory to group a large set of templates into people (issue 19), with candidate
//! pairs from the graph index as a collection's would come.
//!
//! `DIR` is a graph index of the rows of `db.npy`, id = row (what `ann-bench --keep --dir DIR`
//! leaves, on the face-like synthetic set whose identities are `row / 5`). Steps, each timed:
//! read the templates; for each template, its `k` nearest others by a graph search of breadth
//! `ef` on `--threads` threads, kept when they score at least the edge floor; group them
//! (`gabarit_people::group`, one thread) with the thresholds buffalo_s's calibration gives for
//! that many faces (or `--join`: the synthetic set's scores are not buffalo_s's); score the groups against the identities (BCubed, pairwise). Prints one
//! JSON line with the times, the peak resident memory after each step, and the scores.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use clap::Parser;
use gabarit_ann::AnnIndex;
use gabarit_index::VectorIndex;

#[derive(Parser)]
#[command(name = "people-bench", about = "Time and memory to group templates into people")]
struct Args {
    /// A graph index of the rows of `--vectors` (id = row).
    #[arg(long)]
    index: PathBuf,
    /// float32 `.npy` of shape (rows, dim), the templates.
    #[arg(long)]
    vectors: PathBuf,
    /// Only the first N rows (default: all).
    #[arg(long)]
    count: Option<usize>,
    /// Neighbours searched per template.
    #[arg(long, default_value_t = 32)]
    k: usize,
    /// Search breadth.
    #[arg(long, default_value_t = 128)]
    ef: usize,
    /// Search threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Join threshold (default: what buffalo_s's calibration gives for this many faces).
    #[arg(long)]
    join: Option<f32>,
    /// Templates per identity in the synthetic set (labels for the scores).
    #[arg(long, default_value_t = 5)]
    per_identity: usize,
}

fn peak_rss_mb() -> f64 {
    let status = fs_err::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.k > 0 && args.ef >= args.k, "--ef must be at least --k, and --k at least 1");
    let t = Instant::now();
    let (rows, dim, mut templates) =
        gabarit_ann::synth::read_npy(&args.vectors).with_context(|| format!("reading {}", args.vectors.display()))?;
    let n = args.count.unwrap_or(rows).min(rows);
    templates.truncate(n * dim);
    let read_s = t.elapsed().as_secs_f64();
    let mut index = AnnIndex::open(&args.index, dim).with_context(|| format!("opening {}", args.index.display()))?;
    ensure!(index.len() >= n, "{}: {} templates, fewer than the {n} rows asked for", args.index.display(), index.len());
    index.set_search_breadth(args.ef);
    let open_mb = peak_rss_mb();

    let pack = gabarit_inference::Pack::builtin("buffalo_s")?;
    let calibration = pack.calibration()?;
    let calibrated = gabarit_engine::people::thresholds(&pack, calibration.as_ref(), n as u64);
    let thresholds = args.join.map_or(calibrated, |join| calibrated.with_join(join));

    let t = Instant::now();
    let chunk = n.div_ceil(args.threads.max(1)).max(1);
    let index = &index;
    let templates_ref = &templates;
    let parts: Vec<Result<Vec<gabarit_people::Edge>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                s.spawn(move || -> Result<Vec<gabarit_people::Edge>> {
                    let mut edges = Vec::new();
                    for a in start..(start + chunk).min(n) {
                        let hits = index.search(&templates_ref[a * dim..(a + 1) * dim], args.k + 1, None)?;
                        edges.extend(
                            hits.iter()
                                .filter(|h| h.id as usize != a && (h.id as usize) < n && h.score >= thresholds.edge)
                                .take(args.k)
                                .map(|h| gabarit_people::Edge { a: a as u32, b: h.id as u32 }),
                        );
                    }
                    Ok(edges)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a search thread panicked"))))
            .collect()
    });
    let mut edges = Vec::new();
    for p in parts {
        edges.extend(p?);
    }
    let search_s = t.elapsed().as_secs_f64();
    let search_mb = peak_rss_mb();

    let t = Instant::now();
    let faces = gabarit_people::Faces { templates: &templates, dim, photos: None };
    let grouping = gabarit_people::group(
        faces,
        &edges,
        gabarit_people::Rules { join: thresholds.join },
        &gabarit_people::Constraints::default(),
    )?;
    let group_s = t.elapsed().as_secs_f64();
    let group_mb = peak_rss_mb();
    let labels: Vec<usize> = (0..n).map(|i| i / args.per_identity.max(1)).collect();
    let scores = gabarit_metrics::clustering_scores(&grouping.group_of, &labels);
    println!(
        "{}",
        serde_json::json!({
            "templates": n, "dim": dim, "k": args.k, "ef": args.ef, "threads": args.threads,
            "join": thresholds.join, "calibrated_join": calibrated.join, "edge_floor": thresholds.edge, "pairs": edges.len(),
            "read_s": read_s, "search_s": search_s, "group_s": group_s, "groups": grouping.groups,
            "peak_rss_mb_after_open": open_mb, "peak_rss_mb_after_search": search_mb, "peak_rss_mb_after_grouping": group_mb,
            "scores": scores,
        })
    );
    Ok(())
}
