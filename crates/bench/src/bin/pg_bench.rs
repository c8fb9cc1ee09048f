//! `pg-bench`: the templates of `ann-bench` (the same face-like generator, seed and probes, so
//! the same vectors at the same `--n`) in PostgreSQL with pgvector, as a store on PostgreSQL
//! keeps them (`PgVectorIndex`, the secret rotation), measured like `ann-bench` measures the
//! graph: load and HNSW build time, bytes per template on the server, recall@10 against the
//! exact float32 answer and single-client p50/p99 for several `ef_search`, searches/s with
//! `--threads` clients, and the exhaustive scan's latency. Prints one JSON line.
//!
//! ```text
//! pg-bench [--n N] [--nq Q] [--seed S] [--ef 40,100,200,400,1000] [--threads T]
//!          [--memory-mib M] [--url postgres://…]
//! ```
//!
//! Without `--url`, a server of its own (`LocalServer`, `GABARIT_POSTGRES`) on loopback. The
//! load is the store's bulk path: rows 2,000 per transaction without the HNSW index, then the
//! index built once (`maintenance_work_mem` = `--memory-mib`).

use std::time::Instant;

use anyhow::{Context, Result, ensure};
use clap::Parser;
use gabarit_ann::synth::FaceLike;
use gabarit_catalog::pg::{LocalServer, PgVectorIndex};
use gabarit_index::{SecretRotation, VectorIndex};

#[derive(Parser)]
#[command(name = "pg-bench", about = "ann-bench's templates in PostgreSQL with pgvector, measured")]
struct Args {
    /// Templates.
    #[arg(long, default_value_t = 1_000_000)]
    n: usize,
    /// Probes (fresh templates of existing identities).
    #[arg(long, default_value_t = 200)]
    nq: usize,
    /// The generator's seed (ann-bench's default: 1).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `hnsw.ef_search` values.
    #[arg(long, value_delimiter = ',', default_value = "40,100,200,400,1000")]
    ef: Vec<usize>,
    /// Clients for the throughput figure.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Maintenance memory for the HNSW build, MiB.
    #[arg(long, default_value_t = 3072)]
    memory_mib: u32,
    /// Exhaustive scans timed (each reads every row).
    #[arg(long, default_value_t = 5)]
    exact_queries: usize,
    /// A server of the user's instead of one started here.
    #[arg(long)]
    url: Option<String>,
}

const DIM: usize = 512;
const TABLE: &str = "pg_bench_templates";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The exact float32 top-10 of each probe (inner product), on `threads` threads.
fn exact_top10(db: &[f32], queries: &[f32], threads: usize) -> Vec<Vec<u64>> {
    let rows: Vec<&[f32]> = queries.chunks_exact(DIM).collect();
    let per = rows.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = rows
            .chunks(per)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|q| {
                            let mut best: Vec<(f32, u64)> = Vec::with_capacity(11);
                            for (i, row) in db.chunks_exact(DIM).enumerate() {
                                let score: f32 = q.iter().zip(row).map(|(a, b)| a * b).sum();
                                if best.len() < 10 || score > best[best.len() - 1].0 {
                                    let at = best.partition_point(|e| e.0 >= score);
                                    best.insert(at, (score, i as u64));
                                    best.truncate(10);
                                }
                            }
                            best.into_iter().map(|e| e.1).collect::<Vec<u64>>()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("a truth thread")).collect()
    })
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.n > 0 && args.nq > 0 && args.threads > 0, "sizes must be at least 1");
    let server = match &args.url {
        Some(_) => None,
        None => Some(LocalServer::start().context("PostgreSQL for the benchmark")?),
    };
    let url = args.url.clone().or_else(|| server.as_ref().map(LocalServer::url)).context("no server")?;
    let t = Instant::now();
    let generator = FaceLike::new(DIM, args.seed);
    let db = generator.database(0, args.n, args.threads);
    let (_, queries) = generator.probes(args.n as u64, args.nq, args.seed + 1);
    let data_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let truth = exact_top10(&db, &queries, args.threads);
    let truth_s = t.elapsed().as_secs_f64();

    let rotation = || SecretRotation::new(&[0x42; 32], DIM);
    let mut index = PgVectorIndex::open(&url, TABLE, rotation())?;
    ensure!(index.is_empty(), "{TABLE} holds templates already: use an empty database");
    index.suspend_search_index()?;
    let t = Instant::now();
    let bar = indicatif::ProgressBar::new(args.n as u64);
    let mut batch = Vec::with_capacity(2000);
    for (i, row) in db.chunks_exact(DIM).enumerate() {
        batch.push((i as u64, 1, row.to_vec()));
        if batch.len() == 2000 {
            index.insert_many(&std::mem::take(&mut batch))?;
            bar.set_position(i as u64 + 1);
        }
    }
    index.insert_many(&batch)?;
    bar.finish_and_clear();
    let load_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    index.restore_search_index(args.memory_mib)?;
    let build_s = t.elapsed().as_secs_f64();
    let bytes = index.bytes_on_server()?;
    ensure!(index.len() == args.n, "{} rows loaded of {}", index.len(), args.n);

    let probes: Vec<&[f32]> = queries.chunks_exact(DIM).collect();
    let mut sweeps = Vec::new();
    for &ef in &args.ef {
        index.set_search_breadth(ef);
        let (mut times, mut found) = (Vec::with_capacity(probes.len()), 0usize);
        for (q, want) in probes.iter().zip(&truth) {
            let t = Instant::now();
            let hits = index.search(q, 10, None)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            found += hits.iter().filter(|h| want.contains(&h.id)).count();
        }
        times.sort_by(f64::total_cmp);
        // Throughput: each client its own connection, the probes shared out.
        let t = Instant::now();
        std::thread::scope(|s| -> Result<()> {
            let per = probes.len().div_ceil(args.threads);
            let handles: Vec<_> = probes
                .chunks(per)
                .map(|part| {
                    let url = &url;
                    s.spawn(move || -> Result<()> {
                        let mut client = PgVectorIndex::open(url, TABLE, rotation())?;
                        client.set_search_breadth(ef);
                        for q in part {
                            client.search(q, 10, None)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
            }
            Ok(())
        })?;
        let per_s = probes.len() as f64 / t.elapsed().as_secs_f64();
        sweeps.push(serde_json::json!({
            "ef_search": ef, "recall_at_10": found as f64 / (10 * probes.len()) as f64,
            "p50_ms": percentile(&times, 0.5), "p99_ms": percentile(&times, 0.99),
            "searches_per_s": per_s, "clients": args.threads,
        }));
        eprintln!("{}", sweeps.last().map(ToString::to_string).unwrap_or_default());
    }
    let mut exact_ms: Vec<f64> = Vec::new();
    for q in probes.iter().take(args.exact_queries) {
        let t = Instant::now();
        index.search_exact(q, 10, None)?;
        exact_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    exact_ms.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({
            "source": format!("FaceLike seed={} (ann-bench's)", args.seed), "n": args.n, "nq": args.nq, "dim": DIM,
            "data_s": data_s, "f32_truth_s": truth_s, "load_s": load_s, "hnsw_build_s": build_s,
            "build_s": load_s + build_s, "bytes_on_server": bytes, "bytes_per_template": bytes as f64 / args.n as f64,
            "maintenance_work_mem_mib": args.memory_mib,
            "exact_top10_ms_p50": exact_ms.get(exact_ms.len() / 2), "hnsw": sweeps,
        })
    );
    Ok(())
}
