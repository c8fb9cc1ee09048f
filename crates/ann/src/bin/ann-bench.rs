//! `ann-bench`: builds an [`AnnIndex`] of face-like synthetic templates (or of `.npy` vectors)
//! and measures build time, memory per template, single-thread top-10 latency, throughput of
//! two query threads and recall@10 against exact search, for several search breadths. Prints
//! JSON lines (and appends them to `--jsonl`).
//!
//! ```text
//! ann-bench [--n N] [--dim D] [--nq Q] [--seed S]
//!           [--vectors db.npy --queries q.npy] [--export DIR] [--export-only]
//!           [--ef 128,256,...] [--m M] [--m0 M0] [--ef-construction E] [--query-bits B]
//!           [--threads T] [--dir PATH] [--keep] [--reuse] [--jsonl FILE]
//! ```
//!
//! Data (default): N templates of N/5 identities from [`FaceLike`] (genuine cosine 0.6,
//! impostor 0 ± 0.066, as measured on LFW), and Q probes: fresh templates of random existing
//! identities, not in the database. `--export DIR` writes them as `DIR/db.npy` and
//! `DIR/queries.npy` (float32, C order) for `ann_faiss.py --vectors --queries`; `--vectors`
//! and `--queries` read such files instead of generating.
//!
//! Recall@10 is measured against two exact searches: float32 inner product over the original
//! vectors (what FAISS's `IndexFlatIP` answers: the `recall@10` field) and the exact scan of the
//! same int8 codes (`search_exact`, the answer of `gabarit_index::FlatIndex` with the same
//! scoring: `recall@10_vs_int8_exact`), which separates the graph's misses from quantisation.
//! `recall@10_above_0.3` counts only the true top-10 scoring at least 0.30 (the pack's
//! verification threshold; below it a search shows nothing): on face-like data, the mates.
//!
//! `foreign_cpu_share` (build and each breadth): the share of all CPUs' time spent outside this
//! process during that phase (from `/proc/stat` and `/proc/self/stat`): on a shared machine,
//! figures with a high share are slowed by other work.

use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gabarit_ann::synth::{FaceLike, read_npy, write_npy};
use gabarit_ann::{AnnIndex, AnnOptions};
use gabarit_index::VectorIndex;

struct Args {
    n: usize,
    dim: usize,
    nq: usize,
    seed: u64,
    vectors: Option<PathBuf>,
    queries: Option<PathBuf>,
    export: Option<PathBuf>,
    export_only: bool,
    efs: Vec<usize>,
    m: usize,
    m0: usize,
    ef_construction: usize,
    query_bits: u32,
    threads: usize,
    dir: Option<PathBuf>,
    keep: bool,
    reuse: bool,
    jsonl: Option<PathBuf>,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut a = Args {
        n: 1_000_000,
        dim: 512,
        nq: 1000,
        seed: 1,
        vectors: None,
        queries: None,
        export: None,
        export_only: false,
        efs: vec![128, 256, 512, 768, 1024, 2048],
        m: 16,
        m0: AnnOptions::default().m0,
        ef_construction: 200,
        query_bits: 12,
        threads: 2,
        dir: None,
        keep: false,
        reuse: false,
        jsonl: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--n" => a.n = value("--n")?.replace('_', "").parse()?,
            "--dim" => a.dim = value("--dim")?.parse()?,
            "--nq" => a.nq = value("--nq")?.parse()?,
            "--seed" => a.seed = value("--seed")?.parse()?,
            "--vectors" => a.vectors = Some(value("--vectors")?.into()),
            "--queries" => a.queries = Some(value("--queries")?.into()),
            "--export" => a.export = Some(value("--export")?.into()),
            "--export-only" => a.export_only = true,
            "--ef" => a.efs = value("--ef")?.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--m" => a.m = value("--m")?.parse()?,
            "--m0" => a.m0 = value("--m0")?.parse()?,
            "--ef-construction" => a.ef_construction = value("--ef-construction")?.parse()?,
            "--query-bits" => a.query_bits = value("--query-bits")?.parse()?,
            "--threads" => a.threads = value("--threads")?.parse()?,
            "--dir" => a.dir = Some(value("--dir")?.into()),
            "--keep" => a.keep = true,
            "--reuse" => a.reuse = true,
            "--jsonl" => a.jsonl = Some(value("--jsonl")?.into()),
            "-h" | "--help" => {
                println!(
                    "usage: ann-bench [--n N] [--dim D] [--nq Q] [--seed S] [--vectors db.npy --queries q.npy] \
                     [--export DIR] [--export-only] [--ef 128,256,...] [--m M] [--m0 M0] [--ef-construction E] \
                     [--query-bits B] [--threads T] [--dir PATH] [--keep] [--reuse] [--jsonl FILE]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other} (see --help)").into()),
        }
    }
    Ok(a)
}

fn rss_bytes() -> u64 {
    let status = fs_err::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| -> u64 {
        status.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
    };
    kb("VmRSS:") * 1024
}

/// CPU time counters (clock ticks): all CPUs busy, all CPUs total, this process.
#[derive(Clone, Copy)]
struct Cpu {
    busy: u64,
    total: u64,
    own: u64,
}

impl Cpu {
    fn now() -> Cpu {
        let stat = fs_err::read_to_string("/proc/stat").unwrap_or_default();
        let v: Vec<u64> = stat
            .lines()
            .next()
            .map(|l| l.split_whitespace().skip(1).take(8).filter_map(|x| x.parse().ok()).collect())
            .unwrap_or_default();
        let total: u64 = v.iter().sum();
        let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
        let me = fs_err::read_to_string("/proc/self/stat").unwrap_or_default();
        let own = me
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().skip(11).take(2).filter_map(|x| x.parse::<u64>().ok()).sum())
            .unwrap_or(0);
        Cpu { busy: total.saturating_sub(idle), total, own }
    }

    /// Share of all CPUs' time since `self` spent by other processes.
    fn foreign_since(&self) -> f64 {
        let now = Cpu::now();
        let total = now.total.saturating_sub(self.total).max(1);
        let foreign = now.busy.saturating_sub(self.busy).saturating_sub(now.own.saturating_sub(self.own));
        foreign as f64 / total as f64
    }
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

/// Exact float32 top-k by inner product, queries in blocks so that each database row is read
/// once per block, on `threads` threads.
fn exact_f32(db: &[f32], queries: &[f32], dim: usize, k: usize, threads: usize) -> Vec<Vec<(u64, f32)>> {
    let nq = queries.len() / dim;
    let per = nq.div_ceil(threads.max(1)).max(1);
    let mut out: Vec<Vec<(u64, f32)>> = vec![Vec::new(); nq];
    std::thread::scope(|s| {
        for (t, chunk) in out.chunks_mut(per).enumerate() {
            s.spawn(move || {
                const BLOCK: usize = 16;
                for (b, block) in chunk.chunks_mut(BLOCK).enumerate() {
                    let first = t * per + b * BLOCK;
                    let qs: Vec<&[f32]> =
                        (0..block.len()).map(|j| &queries[(first + j) * dim..(first + j + 1) * dim]).collect();
                    let mut tops: Vec<Vec<(f32, u64)>> = vec![Vec::with_capacity(k + 1); block.len()];
                    for (i, row) in db.chunks_exact(dim).enumerate() {
                        for (q, top) in qs.iter().zip(tops.iter_mut()) {
                            let mut acc = [0f32; 16];
                            for (x, y) in q.chunks_exact(16).zip(row.chunks_exact(16)) {
                                for l in 0..16 {
                                    acc[l] += x[l] * y[l];
                                }
                            }
                            let mut s: f32 = acc.iter().sum();
                            let rem = dim % 16;
                            for l in dim - rem..dim {
                                s += q[l] * row[l];
                            }
                            if top.len() < k || s > top[k - 1].0 {
                                let at = top.partition_point(|e| e.0 >= s);
                                top.insert(at, (s, i as u64));
                                top.truncate(k);
                            }
                        }
                    }
                    for (o, top) in block.iter_mut().zip(tops) {
                        *o = top.into_iter().map(|e| (e.1, e.0)).collect();
                    }
                }
            });
        }
    });
    out
}

/// The pack's verification threshold (buffalo_s): search results below it are never shown, so
/// `recall@10_above_0.3` counts only the true top-10 at or above it: the recall a user sees.
const ABOVE: f32 = 0.30;

fn overlap(found: &[u64], truth: &[u64]) -> usize {
    found.iter().filter(|id| truth.contains(id)).count()
}

struct Emitter(Option<fs_err::File>);

impl Emitter {
    fn emit(&mut self, line: String) -> Result<(), Box<dyn Error>> {
        use std::io::Write;
        println!("{line}");
        if let Some(f) = &mut self.0 {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let mut out = Emitter(match &args.jsonl {
        Some(p) => Some(fs_err::OpenOptions::new().create(true).append(true).open(p)?),
        None => None,
    });

    // Data.
    let t = Instant::now();
    let (db, queries, dim, source) = match (&args.vectors, &args.queries) {
        (Some(v), Some(q)) => {
            let (n, dim, db) = read_npy(v)?;
            let (_, qdim, queries) = read_npy(q)?;
            if qdim != dim {
                return Err("queries and vectors differ in dimension".into());
            }
            let _ = n;
            (db, queries, dim, format!("{} + {}", v.display(), q.display()))
        }
        (None, None) => {
            let g = FaceLike::new(args.dim, args.seed);
            let db = g.database(0, args.n, args.threads.max(1));
            let (_, queries) = g.probes(args.n as u64, args.nq, args.seed + 1);
            (db, queries, args.dim, format!("FaceLike seed={} exponent={:.4}", args.seed, g.exponent()))
        }
        _ => return Err("--vectors and --queries go together".into()),
    };
    let n = db.len() / dim;
    let nq = queries.len() / dim;
    let data_s = t.elapsed().as_secs_f64();
    if let Some(dir) = &args.export {
        fs_err::create_dir_all(dir)?;
        write_npy(&dir.join("db.npy"), n, dim, &db)?;
        write_npy(&dir.join("queries.npy"), nq, dim, &queries)?;
        eprintln!("exported {} and {}", dir.join("db.npy").display(), dir.join("queries.npy").display());
        if args.export_only {
            return Ok(());
        }
    }
    let t = Instant::now();
    let scored_truth = exact_f32(&db, &queries, dim, 10, args.threads.max(1));
    let truth: Vec<Vec<u64>> = scored_truth.iter().map(|t| t.iter().map(|e| e.0).collect()).collect();
    // What a face search shows: the true top-10 that score at least the search threshold.
    let above: Vec<Vec<u64>> =
        scored_truth.iter().map(|t| t.iter().filter(|e| e.1 >= ABOVE).map(|e| e.0).collect()).collect();
    let above_total: usize = above.iter().map(Vec::len).sum();
    let truth_s = t.elapsed().as_secs_f64();
    out.emit(format!(
        "{{\"setup\":true,\"source\":\"{source}\",\"n\":{n},\"dim\":{dim},\"nq\":{nq},\"threads\":{},\"data_s\":{data_s:.2},\"f32_truth_s\":{truth_s:.2}}}",
        args.threads
    ))?;

    // Build.
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("gabarit-ann-bench-{}", std::process::id())));
    let reuse = args.reuse && dir.exists();
    if dir.exists() && !reuse {
        return Err(format!("{}: already exists (--reuse searches it without building)", dir.display()).into());
    }
    let opts = AnnOptions {
        m: args.m,
        m0: args.m0,
        ef_construction: args.ef_construction,
        query_bits: args.query_bits,
        threads: args.threads,
        checkpoint_every: usize::MAX,
        ..AnnOptions::default()
    };
    if !reuse {
        // The item list is the benchmark's, not the index's: allocated before measuring.
        let items: Vec<(u64, u32)> = (0..n as u64).map(|id| (id, (id % 4) as u32)).collect();
        let rss0 = rss_bytes();
        let cpu = Cpu::now();
        let t = Instant::now();
        let mut index = AnnIndex::open_with(&dir, dim, opts, None)?;
        index.reserve(n);
        index.insert_batch(&items, &db)?;
        let insert_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        index.flush()?;
        let flush_s = t.elapsed().as_secs_f64();
        let build_s = insert_s + flush_s;
        let rss_growth = rss_bytes().saturating_sub(rss0);
        drop(items);
        let stats = index.stats();
        out.emit(format!(
        concat!(
            "{{\"build\":true,\"n\":{},\"m\":{},\"m0\":{},\"ef_construction\":{},\"build_threads\":{},\"build_s\":{:.1},",
            "\"insert_s\":{:.1},\"flush_s\":{:.2},\"bytes_per_template\":{:.1},\"vector_bytes_per_template\":{:.1},",
            "\"graph_bytes_per_template\":{:.1},\"id_bytes_per_template\":{:.1},\"rss_growth_bytes_per_template\":{:.1},",
            "\"disk_bytes_per_template\":{:.1},\"mean_degree\":{:.2},\"unreachable\":{},\"foreign_cpu_share\":{:.3}}}"
        ),
        n,
        args.m,
        args.m0,
        args.ef_construction,
        args.threads,
        build_s,
        insert_s,
        flush_s,
        stats.bytes_per_template,
        stats.vector_bytes as f64 / n as f64,
        stats.graph_bytes as f64 / n as f64,
        stats.id_bytes as f64 / n as f64,
        rss_growth as f64 / n as f64,
        stats.disk_bytes as f64 / n as f64,
        stats.mean_degree,
        index.unreachable(),
        cpu.foreign_since(),
    ))?;
        drop(index);
    }

    // Reopen (loads the graph file).
    let t = Instant::now();
    let mut index = AnnIndex::open_with(&dir, dim, opts, None)?;
    let open_s = t.elapsed().as_secs_f64();

    // The exact scan of the same codes, on all threads; also its single-thread latency.
    let rows: Vec<&[f32]> = queries.chunks_exact(dim).collect();
    let t = Instant::now();
    let int8_truth: Vec<Vec<u64>> = rows
        .iter()
        .map(|q| index.search_exact(q, 10, None).map(|h| h.iter().map(|h| h.id).collect()))
        .collect::<Result<_, _>>()?;
    let exact_ms = t.elapsed().as_secs_f64() * 1e3 / nq as f64;
    let ceiling: usize = int8_truth.iter().zip(&truth).map(|(a, b)| overlap(a, b)).sum();
    index.set_threads(1);
    let t = Instant::now();
    let sample = nq.min(20);
    for q in rows.iter().take(sample) {
        index.search_threshold(q, 0.3, None)?;
    }
    let threshold_1t_ms = t.elapsed().as_secs_f64() * 1e3 / sample as f64;
    out.emit(format!(
        "{{\"exact\":true,\"n\":{n},\"open_s\":{open_s:.2},\"exact_scan_{}threads_ms\":{exact_ms:.1},\"exact_scan_1thread_ms\":{threshold_1t_ms:.1},\"int8_exact_recall@10_vs_f32\":{:.4}}}",
        args.threads,
        ceiling as f64 / (10 * nq) as f64
    ))?;

    // Graph searches.
    for &ef in &args.efs {
        index.set_ef_search(ef);
        let cpu = Cpu::now();
        for q in rows.iter().take(5) {
            index.search(q, 10, None)?;
        }
        let mut lat = Vec::with_capacity(nq);
        let (mut hit, mut hit_int8, mut top1, mut hit_above) = (0, 0, 0, 0);
        for (i, q) in rows.iter().enumerate() {
            let t = Instant::now();
            let hits = index.search(q, 10, None)?;
            lat.push(t.elapsed());
            let ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
            hit += overlap(&ids, &truth[i]);
            hit_int8 += overlap(&ids, &int8_truth[i]);
            top1 += usize::from(ids.first() == truth[i].first());
            hit_above += overlap(&ids, &above[i]);
        }
        let mean_ms = lat.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / nq as f64;
        lat.sort_unstable();
        // Throughput: `threads` query streams sharing the index, one query at a time each.
        let shared = &index;
        let per = nq.div_ceil(args.threads.max(1)).max(1);
        let t = Instant::now();
        std::thread::scope(|s| -> Result<(), String> {
            let streams: Vec<_> = rows
                .chunks(per)
                .map(|chunk| {
                    s.spawn(move || -> Result<(), String> {
                        for q in chunk {
                            shared.search(q, 10, None).map_err(|e| e.to_string())?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for stream in streams {
                stream.join().map_err(|_| "query stream panicked".to_string())??;
            }
            Ok(())
        })?;
        let qps = nq as f64 / t.elapsed().as_secs_f64();
        out.emit(format!(
            concat!(
                "{{\"index\":\"gabarit-ann HNSW int8 (m={},m0={},efC={})\",\"n\":{},\"ef\":{},\"query_bits\":{},",
                "\"lat_ms_p50\":{:.3},\"lat_ms_p99\":{:.3},\"lat_ms_mean\":{:.3},\"qps_single_1thread\":{:.1},",
                "\"qps_{}threads\":{:.1},\"recall@10\":{:.4},\"recall@10_vs_int8_exact\":{:.4},\"recall1@1\":{:.4},",
                "\"recall@10_above_{}\":{:.5},\"truth_above\":{},\"foreign_cpu_share\":{:.3}}}"
            ),
            args.m,
            args.m0,
            args.ef_construction,
            n,
            ef,
            args.query_bits,
            percentile_ms(&lat, 0.5),
            percentile_ms(&lat, 0.99),
            mean_ms,
            1e3 / mean_ms,
            args.threads,
            qps,
            hit as f64 / (10 * nq) as f64,
            hit_int8 as f64 / (10 * nq) as f64,
            top1 as f64 / nq as f64,
            ABOVE,
            hit_above as f64 / above_total.max(1) as f64,
            above_total,
            cpu.foreign_since(),
        ))?;
    }
    drop(index);
    if !args.keep {
        fs_err::remove_dir_all(&dir)?;
    }
    out.emit(format!("{{\"done\":true,\"peak_rss_mb\":{:.0}}}", peak_rss_mb()))?;
    Ok(())
}

fn peak_rss_mb() -> f64 {
    let status = fs_err::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}
