//! `index-bench`: builds a `FlatIndex` of synthetic face-like templates and measures build
//! time, size per vector, and exact top-10 search latency (one thread and all threads per
//! query) and throughput. Prints one JSON line.
//!
//! Usage: `index-bench [N] [--dim D] [--queries Q] [--dir PATH] [--keep] [--npy DIR]
//! [--compressed [--int8-in-memory] [--breadths B1,B2,...]]` (N defaults to 1,000,000, D to
//! 512, Q to 200, the breadths of the 1-bit top-k to 300,1000,3000,10000; PATH must
//! not exist and is deleted at the end unless `--keep`; by default a directory under the system
//! temp dir). `--npy DIR` also writes the templates and the probes as `database.npy` and
//! `queries.npy` (`f32`), for `../shared/bench/peers/ann_faiss.py --vectors … --queries …`.
//!
//! `--compressed` then reopens the directory as a `CompressedIndex` (its int8 codes read from
//! the record file to re-score, or kept in memory with `--int8-in-memory`) and compares exact
//! top-10 searches (exhaustive, and from 1-bit estimates at several breadths: recall against
//! the exact top-10) and exhaustive threshold searches at the packs' rights thresholds (0.25,
//! 0.38) with the flat scan's, one thread and all threads: time, code stages read per
//! template (128 bytes each), templates re-scored, and that the answers are identical (it
//! fails otherwise), on the first 100 probes; and what objections cost a search once 100
//! templates were inserted: 10 exhaustive searches from nothing against bringing the last ones
//! up to date from the inserted templates (identical, or it fails); and a compaction after 10
//! removals, whole and in its two halves (the first runs while searches go on); and opening
//! again, coding the records and taking the codes the last close left. A second JSON line,
//! with the memory per template.
//!
//! Data: N/5 identities, each a random unit centre; a template is
//! `normalise(centre + noise)` with uniform noise of norm sqrt(2/3), so two templates of one
//! identity score about 0.6 and templates of different identities 0.0 ± 0.045 (D = 512).
//! Template `id = identity × 5 + j`; probes are fresh templates of random identities.
//! `--like DIR` draws them instead as real templates are distributed (mean and covariance of
//! the 6,356 faces of `../shared/eval/lfw-dev` embedded with buffalo_s, in `DIR/mean.npy` and
//! `DIR/factor.npy`, made by `scripts/like-real-templates.py`): impostors 0.01 ± 0.07, mates
//! about 0.62, 90% of the variance in 229 of the 512 dimensions.

use std::error::Error;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gabarit_index::{CompressedIndex, CompressedOptions, FlatIndex, ScanCounts, VectorIndex};

const PER_IDENTITY: u64 = 5;
/// The exact top-`k` ids of each query by `f32` cosine over the `n` generated templates (as
/// FAISS's flat index finds them): the reference the peers' recall is measured against.
fn f32_truth(n: u64, dim: usize, queries: &[&[f32]], k: usize, cores: usize) -> Result<Vec<Vec<u64>>, Box<dyn Error>> {
    let mut best: Vec<Vec<(f32, u64)>> = vec![Vec::new(); queries.len()];
    let batch = 50_000u64;
    let mut first = 0;
    while first < n {
        let count = batch.min(n - first);
        let vectors = generate(first, usize::try_from(count)?, dim, cores);
        let per = queries.len().div_ceil(cores).max(1);
        std::thread::scope(|s| {
            for (qs, bs) in queries.chunks(per).zip(best.chunks_mut(per)) {
                let vectors = &vectors;
                s.spawn(move || {
                    for (q, b) in qs.iter().zip(bs) {
                        for (j, v) in vectors.chunks_exact(dim).enumerate() {
                            let dot: f32 = q.iter().zip(v).map(|(a, b)| a * b).sum();
                            if b.len() < k || dot > b[k - 1].0 {
                                b.push((dot, first + j as u64));
                                b.sort_by(|x, y| y.0.total_cmp(&x.0));
                                b.truncate(k);
                            }
                        }
                    }
                });
            }
        });
        first += count;
    }
    Ok(best.into_iter().map(|b| b.into_iter().map(|(_, id)| id).collect()).collect())
}

/// Writes the header of a little-endian `f32` `.npy` array of `rows × cols` (format 1.0).
fn npy_header(out: &mut impl std::io::Write, rows: usize, cols: usize) -> std::io::Result<()> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + dict + padding + newline: a multiple of 64.
    let len = (10 + dict.len() + 1).div_ceil(64) * 64 - 10;
    let header = format!("{dict:<width$}\n", width = len - 1);
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&u16::try_from(len).unwrap_or(u16::MAX).to_le_bytes())?;
    out.write_all(header.as_bytes())
}

/// Writes `rows` of `f32` as `.npy` data (after [`npy_header`]).
fn npy_rows(out: &mut impl std::io::Write, values: &[f32]) -> std::io::Result<()> {
    for v in values {
        out.write_all(&v.to_le_bytes())?;
    }
    Ok(())
}

/// Thresholds of the compressed index's comparison: the rights thresholds of the two packs.
const THRESHOLDS: [f32; 2] = [0.25, 0.38];
const SEED: u64 = 0x6A62_7269_7420_2021;

/// wyrand: fast, good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut r = Rng(seed);
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xA076_1D64_78BD_642F);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xE703_7ED1_A0B4_28DB);
        ((t >> 64) as u64) ^ (t as u64)
    }
    /// Fills `out` with uniforms in `[-amp, amp)`, two per draw.
    fn fill_symmetric(&mut self, out: &mut [f32], amp: f32) {
        let k = amp / (1u64 << 31) as f32;
        let mut chunks = out.chunks_exact_mut(2);
        for pair in &mut chunks {
            let x = self.next();
            pair[0] = (x as u32 as i32) as f32 * k;
            pair[1] = ((x >> 32) as u32 as i32) as f32 * k;
        }
        for last in chunks.into_remainder() {
            *last = (self.next() as u32 as i32) as f32 * k;
        }
    }
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

fn centre(identity: u64, dim: usize, out: &mut [f32]) {
    Rng::new(SEED ^ identity.wrapping_mul(0x9E37_79B9_7F4A_7C15)).fill_symmetric(out, 1.0);
    debug_assert_eq!(out.len(), dim);
    normalise(out);
}

/// The second generator (`--like DIR`): templates distributed as real ones, `normalise(m + F·z)`
/// with `z` standard normal, `m` the mean and `F Fᵀ` the covariance of real templates
/// (`DIR/mean.npy`, `DIR/factor.npy`, computed from `../shared/eval`); the templates of one
/// identity share `z`'s part `√ρ·z_identity` (the rest, `√(1 − ρ)·z_draw`, is the template's
/// own), so that mates score about ρ plus the mean's share, impostors as real impostors do.
struct Like {
    mean: Vec<f32>,
    /// Row-major `dim × dim`.
    factor: Vec<f32>,
}

/// The share of `z` two templates of one identity have in common.
const LIKE_RHO: f32 = 0.615;

static LIKE: std::sync::OnceLock<Like> = std::sync::OnceLock::new();

/// Standard normals from a seed (Box–Muller).
fn fill_normal(seed: u64, out: &mut [f32]) {
    let mut rng = Rng::new(seed);
    let uniform = |rng: &mut Rng| ((rng.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    for pair in out.chunks_mut(2) {
        let (u, v) = (uniform(&mut rng), uniform(&mut rng));
        let r = (-2.0 * u.ln()).sqrt();
        let t = 2.0 * std::f64::consts::PI * v;
        pair[0] = (r * t.cos()) as f32;
        if let Some(second) = pair.get_mut(1) {
            *second = (r * t.sin()) as f32;
        }
    }
}

fn template_like(like: &Like, identity: u64, draw: u64, z: &mut [f32], out: &mut [f32]) {
    let dim = out.len();
    fill_normal(SEED ^ identity.wrapping_mul(0x9E37_79B9_7F4A_7C15), z);
    let mut own = vec![0f32; dim];
    fill_normal(SEED.rotate_left(17) ^ draw, &mut own);
    let (a, b) = (LIKE_RHO.sqrt(), (1.0 - LIKE_RHO).sqrt());
    for (zi, o) in z.iter_mut().zip(&own) {
        *zi = a * *zi + b * o;
    }
    for ((o, row), m) in out.iter_mut().zip(like.factor.chunks_exact(dim)).zip(&like.mean) {
        *o = m + row.iter().zip(z.iter()).map(|(f, x)| f * x).sum::<f32>();
    }
    normalise(out);
}

/// Reads a little-endian `f32` `.npy` array (format 1.0, C order): its shape and values.
fn npy_read(path: &std::path::Path) -> Result<(Vec<usize>, Vec<f32>), Box<dyn Error>> {
    let bytes = fs_err::read(path)?;
    let bad = |why: &str| format!("{}: {why}", path.display());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file").into());
    }
    let len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let header = std::str::from_utf8(bytes.get(10..10 + len).ok_or_else(|| bad("truncated header"))?)?;
    if !header.contains("'descr': '<f4'") || !header.contains("'fortran_order': False") {
        return Err(bad("not little-endian float32 in C order").into());
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .ok_or_else(|| bad("no shape"))?
        .split(',')
        .filter(|d| !d.trim().is_empty())
        .map(|d| d.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()?;
    let values: Vec<f32> =
        bytes[10 + len..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    if values.len() != shape.iter().product::<usize>() {
        return Err(bad("data length differs from its shape").into());
    }
    Ok((shape, values))
}

/// One template of `identity`: its centre plus fresh noise (seeded by `draw`).
fn template(identity: u64, draw: u64, dim: usize, centre_buf: &mut [f32], out: &mut [f32]) {
    if let Some(like) = LIKE.get() {
        template_like(like, identity, draw, centre_buf, out);
        return;
    }
    centre(identity, dim, centre_buf);
    // Noise of squared norm 2/3: uniform amplitude a with dim × a²/3 = 2/3.
    let amp = (2.0 / dim as f32).sqrt();
    Rng::new(SEED.rotate_left(17) ^ draw).fill_symmetric(out, amp);
    for (o, c) in out.iter_mut().zip(centre_buf.iter()) {
        *o += c;
    }
    normalise(out);
}

/// Templates `first..first + count` (id order), generated on `threads` threads.
fn generate(first: u64, count: usize, dim: usize, threads: usize) -> Vec<f32> {
    let mut out = vec![0f32; count * dim];
    let per = count.div_ceil(threads).max(1);
    std::thread::scope(|s| {
        for (t, part) in out.chunks_mut(per * dim).enumerate() {
            s.spawn(move || {
                let mut c = vec![0f32; dim];
                for (j, v) in part.chunks_exact_mut(dim).enumerate() {
                    let id = first + (t * per + j) as u64;
                    template(id / PER_IDENTITY, id, dim, &mut c, v);
                }
            });
        }
    });
    out
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

struct Latency {
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
    top1_correct: usize,
}

fn time_queries(index: &FlatIndex, probes: &[(u64, Vec<f32>)]) -> Result<Latency, Box<dyn Error>> {
    let mut times = Vec::with_capacity(probes.len());
    let mut top1_correct = 0;
    for (identity, q) in probes {
        let t = Instant::now();
        let hits = index.search(q, 10, None)?;
        times.push(t.elapsed());
        if hits.first().is_some_and(|h| h.id / PER_IDENTITY == *identity) {
            top1_correct += 1;
        }
    }
    let mean_ms = times.iter().map(|d| d.as_secs_f64()).sum::<f64>() * 1e3 / times.len().max(1) as f64;
    times.sort_unstable();
    Ok(Latency { p50_ms: percentile(&times, 0.5), p99_ms: percentile(&times, 0.99), mean_ms, top1_correct })
}

fn rss_bytes() -> Option<u64> {
    let status = fs_err::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

struct Args {
    n: u64,
    dim: usize,
    queries: usize,
    dir: Option<PathBuf>,
    npy: Option<PathBuf>,
    like: Option<PathBuf>,
    keep: bool,
    compressed: bool,
    int8_in_memory: bool,
    breadths: Vec<usize>,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        n: 1_000_000,
        dim: 512,
        queries: 200,
        dir: None,
        npy: None,
        like: None,
        keep: false,
        compressed: false,
        int8_in_memory: false,
        breadths: vec![300, 1000, 3000, 10000],
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--dim" => args.dim = value("--dim")?.parse()?,
            "--queries" => args.queries = value("--queries")?.parse()?,
            "--dir" => args.dir = Some(PathBuf::from(value("--dir")?)),
            "--keep" => args.keep = true,
            "--npy" => args.npy = Some(PathBuf::from(value("--npy")?)),
            "--like" => args.like = Some(PathBuf::from(value("--like")?)),
            "--compressed" => args.compressed = true,
            "--int8-in-memory" => args.int8_in_memory = true,
            "--breadths" => {
                let list = value("--breadths")?;
                args.breadths = list
                    .split(',')
                    .map(|b| b.trim().replace('_', "").parse::<usize>().map_err(|e| format!("--breadths: {b}: {e}")))
                    .collect::<Result<_, _>>()?;
                if args.breadths.contains(&0) {
                    return Err("--breadths: a breadth must be at least 1".into());
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: index-bench [N] [--dim D] [--queries Q] [--dir PATH] [--keep] [--npy DIR] [--like DIR] [--compressed [--int8-in-memory] [--breadths B1,B2,...]]"
                );
                std::process::exit(0);
            }
            n => args.n = n.replace('_', "").parse().map_err(|e| format!("N: {n}: {e}"))?,
        }
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let (n, dim) = (args.n, args.dim);
    if let Some(like) = &args.like {
        let (mean_shape, mean) = npy_read(&like.join("mean.npy"))?;
        let (factor_shape, factor) = npy_read(&like.join("factor.npy"))?;
        if mean_shape != [dim] || factor_shape != [dim, dim] {
            return Err(format!("{}: mean and factor of dimension {dim} expected", like.display()).into());
        }
        LIKE.get_or_init(|| Like { mean, factor });
    }
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("gabarit-index-bench-{}", std::process::id())));
    if dir.exists() {
        return Err(format!("{}: already exists", dir.display()).into());
    }

    // Build: generation (timed apart) and insertion, in batches.
    let mut index = FlatIndex::open(&dir, dim)?;
    index.reserve(usize::try_from(n)?);
    let (mut generate_time, mut insert_time) = (Duration::ZERO, Duration::ZERO);
    let batch = 50_000u64;
    let mut first = 0;
    let mut npy = match &args.npy {
        Some(dir) => {
            fs_err::create_dir_all(dir)?;
            let mut w = std::io::BufWriter::new(fs_err::File::create(dir.join("database.npy"))?);
            npy_header(&mut w, usize::try_from(n)?, dim)?;
            Some(w)
        }
        None => None,
    };
    while first < n {
        let count = batch.min(n - first);
        let t = Instant::now();
        let vectors = generate(first, usize::try_from(count)?, dim, cores);
        generate_time += t.elapsed();
        if let Some(w) = npy.as_mut() {
            npy_rows(w, &vectors)?;
        }
        let t = Instant::now();
        for (j, v) in vectors.chunks_exact(dim).enumerate() {
            let id = first + j as u64;
            index.insert(id, (id % 4) as u32, v)?;
        }
        insert_time += t.elapsed();
        first += count;
    }
    let t = Instant::now();
    index.flush()?;
    let flush_time = t.elapsed();
    let stats = index.stats();

    // Probes: fresh templates of random identities, and their expected similarity levels.
    let identities = n.div_ceil(PER_IDENTITY);
    let mut rng = Rng::new(SEED ^ 0xFEED);
    let mut c = vec![0f32; dim];
    let probes: Vec<(u64, Vec<f32>)> = (0..args.queries)
        .map(|i| {
            let identity = rng.next() % identities;
            let mut v = vec![0f32; dim];
            template(identity, u64::MAX - i as u64, dim, &mut c, &mut v);
            (identity, v)
        })
        .collect();
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    let mut own = vec![0f32; dim];
    for (identity, q) in probes.iter().take(50) {
        template(*identity, identity * PER_IDENTITY, dim, &mut c, &mut own);
        genuine.push(cos(q, &own));
        let other = (identity + 1 + rng.next() % (identities - 1).max(1)) % identities;
        template(other, other * PER_IDENTITY, dim, &mut c, &mut own);
        impostor.push(cos(q, &own));
    }
    if let Some(dir) = &args.npy {
        use std::io::Write;
        if let Some(mut w) = npy.take() {
            w.flush()?;
        }
        let mut w = std::io::BufWriter::new(fs_err::File::create(dir.join("queries.npy"))?);
        npy_header(&mut w, probes.len(), dim)?;
        for (_, q) in &probes {
            npy_rows(&mut w, q)?;
        }
        w.flush()?;
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
    let sd = |v: &[f32]| {
        let m = mean(v);
        (v.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / v.len().max(1) as f32).sqrt()
    };

    // Warm-up, then single-thread and all-thread latency.
    index.set_search_threads(1);
    for (_, q) in probes.iter().take(3) {
        index.search(q, 10, None)?;
    }
    let one = time_queries(&index, &probes)?;
    index.set_search_threads(0);
    let all = time_queries(&index, &probes)?;

    // Throughput: one single-threaded query stream per core, sharing the index.
    index.set_search_threads(1);
    let t = Instant::now();
    let shared = &index;
    let per_stream = probes.len().div_ceil(cores);
    std::thread::scope(|s| -> Result<(), String> {
        let streams: Vec<_> = probes
            .chunks(per_stream.max(1))
            .map(|chunk| {
                s.spawn(move || -> Result<(), String> {
                    for (_, q) in chunk {
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
    let stream_qps = probes.len() as f64 / t.elapsed().as_secs_f64();

    // Exhaustive threshold search (access and erasure requests), all threads.
    index.set_search_threads(0);
    let t = Instant::now();
    let mut above = 0;
    let threshold_queries = probes.len().min(20);
    for (_, q) in probes.iter().take(threshold_queries) {
        above += index.search_threshold(q, 0.3, None)?.len();
    }
    let threshold_ms = t.elapsed().as_secs_f64() * 1e3 / threshold_queries.max(1) as f64;
    let rss = rss_bytes().unwrap_or(0);

    println!(
        concat!(
            "{{\"bench\":\"gabarit-index flat\",\"n\":{},\"dim\":{},\"cores\":{},\"queries\":{},",
            "\"generate_s\":{:.2},\"build_s\":{:.2},\"insert_s\":{:.2},\"flush_s\":{:.2},",
            "\"disk_bytes_per_vector\":{:.1},\"memory_bytes_per_vector\":{:.1},\"rss_bytes_per_vector\":{:.1},",
            "\"search_1t_p50_ms\":{:.1},\"search_1t_p99_ms\":{:.1},\"search_1t_qps\":{:.2},",
            "\"search_{}t_p50_ms\":{:.1},\"search_{}t_p99_ms\":{:.1},\"search_{}t_qps\":{:.2},",
            "\"streams_{}x1t_qps\":{:.2},\"threshold_0.3_ms\":{:.1},\"threshold_0.3_mean_hits\":{:.1},",
            "\"top1_identity_correct\":{:.3},\"genuine_cos\":[{:.3},{:.3}],\"impostor_cos\":[{:.3},{:.3}]}}"
        ),
        n,
        dim,
        cores,
        probes.len(),
        generate_time.as_secs_f64(),
        (insert_time + flush_time).as_secs_f64(),
        insert_time.as_secs_f64(),
        flush_time.as_secs_f64(),
        stats.disk_bytes_per_vector,
        stats.memory_bytes_per_vector,
        rss as f64 / n.max(1) as f64,
        one.p50_ms,
        one.p99_ms,
        1e3 / one.mean_ms,
        cores,
        all.p50_ms,
        cores,
        all.p99_ms,
        cores,
        1e3 / all.mean_ms,
        cores,
        stream_qps,
        threshold_ms,
        above as f64 / threshold_queries.max(1) as f64,
        (one.top1_correct + all.top1_correct) as f64 / (2 * probes.len()).max(1) as f64,
        mean(&genuine),
        sd(&genuine),
        mean(&impostor),
        sd(&impostor),
    );

    if args.compressed {
        let queries: Vec<&[f32]> = probes.iter().take(100).map(|(_, q)| q.as_slice()).collect();
        let mut flat_answers = Vec::new();
        let mut flat_ms = Vec::new();
        let mut flat_top = Vec::new();
        let mut flat_top_ms = Vec::new();
        for threads in [1, 0] {
            index.set_search_threads(threads);
            let t = Instant::now();
            for q in &queries {
                flat_top.push(index.search(q, 10, None)?);
            }
            flat_top_ms.push(t.elapsed().as_secs_f64() * 1e3 / queries.len().max(1) as f64);
            for threshold in THRESHOLDS {
                let t = Instant::now();
                for q in &queries {
                    flat_answers.push(index.search_threshold(q, threshold, None)?);
                }
                flat_ms.push(t.elapsed().as_secs_f64() * 1e3 / queries.len().max(1) as f64);
            }
        }
        drop(index);
        let t = Instant::now();
        let options = CompressedOptions { int8_in_memory: args.int8_in_memory };
        let mut compressed = CompressedIndex::open_with_options(&dir, dim, None, options)?;
        let open_s = t.elapsed().as_secs_f64();
        let mut answers = flat_answers.iter();
        let mut tops = flat_top.iter();
        let mut fields = Vec::new();
        for (t_index, (threads, name)) in [(1, "1t".to_string()), (0, format!("{cores}t"))].into_iter().enumerate() {
            compressed.set_search_threads(threads);
            let t = Instant::now();
            let mut counts = ScanCounts::default();
            for q in &queries {
                let (hits, c) = compressed.search_exact_counted(q, 10, None)?;
                if Some(&hits) != tops.next() {
                    return Err("top-10: the compressed index differs from the flat scan".into());
                }
                counts.stages += c.stages;
                counts.templates += c.templates;
                counts.rescored += c.rescored;
            }
            let ms = t.elapsed().as_secs_f64() * 1e3 / queries.len().max(1) as f64;
            let flat = flat_top_ms[t_index];
            fields.push(format!(
                "\"top10_{name}\":{{\"flat_ms\":{flat:.1},\"compressed_ms\":{ms:.1},\"speedup\":{:.2},\"stages_per_template\":{:.2},\"rescored_per_query\":{:.1}}}",
                flat / ms,
                counts.stages as f64 / counts.templates.max(1) as f64,
                counts.rescored as f64 / queries.len().max(1) as f64,
            ));
            for (i, threshold) in THRESHOLDS.into_iter().enumerate() {
                let t = Instant::now();
                let mut counts = ScanCounts::default();
                for q in &queries {
                    let (hits, c) = compressed.search_threshold_counted(q, threshold, None)?;
                    if Some(&hits) != answers.next() {
                        return Err(
                            format!("threshold {threshold}: the compressed index differs from the flat scan").into()
                        );
                    }
                    counts.templates += c.templates;
                    counts.stages += c.stages;
                    counts.rescored += c.rescored;
                }
                let ms = t.elapsed().as_secs_f64() * 1e3 / queries.len().max(1) as f64;
                let flat = flat_ms[if threads == 1 { i } else { THRESHOLDS.len() + i }];
                fields.push(format!(
                    "\"threshold_{threshold}_{name}\":{{\"flat_ms\":{flat:.1},\"compressed_ms\":{ms:.1},\"speedup\":{:.2},\"stages_per_template\":{:.2},\"rescored_per_query\":{:.1}}}",
                    flat / ms,
                    counts.stages as f64 / counts.templates.max(1) as f64,
                    counts.rescored as f64 / queries.len().max(1) as f64,
                ));
            }
        }
        // Top-10 from the 1-bit estimates, re-scored: recall against the exact top-10 (the int8
        // scan's, and the f32 cosine's as the peers measure it).
        let truth = f32_truth(n, dim, &queries, 10, cores)?;
        let flat_found: usize =
            flat_top.iter().zip(&truth).map(|(hits, t)| hits.iter().filter(|h| t.contains(&h.id)).count()).sum();
        fields.push(format!(
            "\"flat_int8_recall_at_10_f32\":{:.4}",
            flat_found as f64 / (10 * truth.len()).max(1) as f64
        ));
        for &breadth in &args.breadths {
            compressed.set_search_breadth(breadth);
            for (t_index, (threads, name)) in [(1, "1t".to_string()), (0, format!("{cores}t"))].into_iter().enumerate()
            {
                compressed.set_search_threads(threads);
                let (mut found, mut rescored, mut stages) = (0usize, 0usize, 0usize);
                let (mut found_above, mut above, mut found_f32) = (0usize, 0usize, 0usize);
                let mut times = Vec::new();
                for ((q, exact), truth) in queries.iter().zip(&flat_top).zip(&truth) {
                    let t = Instant::now();
                    let (hits, c) = compressed.search_estimated_counted(q, 10, None)?;
                    times.push(t.elapsed());
                    rescored += c.rescored;
                    stages += c.stages;
                    found += hits.iter().filter(|h| exact.iter().any(|e| e.id == h.id)).count();
                    found_f32 += hits.iter().filter(|h| truth.contains(&h.id)).count();
                    let exact_above: Vec<u64> = exact.iter().filter(|e| e.score >= 0.25).map(|e| e.id).collect();
                    above += exact_above.len();
                    found_above += hits.iter().filter(|h| exact_above.contains(&h.id)).count();
                }
                times.sort();
                let flat = flat_top_ms[t_index];
                fields.push(format!(
                    "\"estimated_top10_breadth{breadth}_{name}\":{{\"flat_ms\":{flat:.1},\"p50_ms\":{:.2},\"p99_ms\":{:.2},\"recall_at_10\":{:.4},\"recall_at_10_f32\":{:.4},\"recall_at_10_above_0.25\":{:.4},\"stages_per_query\":{:.1},\"rescored_per_query\":{:.1}}}",
                    percentile(&times, 0.5),
                    percentile(&times, 0.99),
                    found as f64 / (10 * queries.len()).max(1) as f64,
                    found_f32 as f64 / (10 * queries.len()).max(1) as f64,
                    found_above as f64 / above.max(1) as f64,
                    stages as f64 / queries.len().max(1) as f64,
                    rescored as f64 / queries.len().max(1) as f64,
                ));
            }
        }
        // Objections: what a search pays to know the faces they hide once 100 templates were
        // inserted — every template scanned again, once per objection (a computation from
        // nothing), or only the templates inserted since (`search_threshold_since`, as the
        // engine now does); the same faces either way (it fails otherwise).
        let objections = &queries[..queries.len().min(10)];
        let mark = compressed.mark().ok_or("the compressed index gives no mark")?;
        let added = 100u64;
        for (j, v) in generate(n, usize::try_from(added)?, dim, cores).chunks_exact(dim).enumerate() {
            let id = n + j as u64;
            compressed.insert(id, (id % 4) as u32, v)?;
        }
        compressed.set_search_threads(0);
        let t = Instant::now();
        let mut full = Vec::new();
        for q in objections {
            full.push(compressed.search_threshold(q, 0.25, None)?);
        }
        let full_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let mut since = Vec::new();
        for q in objections {
            since.push(compressed.search_threshold_since(q, 0.25, mark)?.ok_or("the mark no longer holds")?);
        }
        let since_ms = t.elapsed().as_secs_f64() * 1e3;
        for (all, new) in full.iter().zip(&since) {
            let inserted: Vec<_> = all.iter().filter(|h| h.id >= n).copied().collect();
            if new.hits != inserted || new.inserted.len() != usize::try_from(added)? {
                return Err("objections: the templates inserted since differ from the full search's".into());
            }
        }
        fields.push(format!(
            "\"objections_after_{added}_inserts\":{{\"objections\":{},\"from_nothing_ms\":{full_ms:.1},\"since_mark_ms\":{since_ms:.3},\"speedup\":{:.0}}}",
            objections.len(),
            full_ms / since_ms.max(1e-6),
        ));
        // Compaction after an erasure (10 templates removed): what holds searches — the whole
        // compaction under the write lock before, only its second half now (the new files are
        // written aside while searches go on).
        let stats = compressed.stats();
        let erase = |index: &mut CompressedIndex, from: u64| -> Result<(), Box<dyn Error>> {
            for id in (from..from + 10).map(|i| i * 997) {
                index.remove(id)?;
            }
            Ok(index.flush()?)
        };
        erase(&mut compressed, 1)?;
        let t = Instant::now();
        compressed.compact()?;
        let whole_s = t.elapsed().as_secs_f64();
        erase(&mut compressed, 20)?;
        let t = Instant::now();
        let prepared = compressed.prepare_compaction()?;
        let prepare_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        compressed.finish_compaction(prepared)?;
        let finish_ms = t.elapsed().as_secs_f64() * 1e3;
        fields.push(format!(
            "\"compaction_after_10_removals\":{{\"whole_s\":{whole_s:.2},\"prepare_s\":{prepare_s:.2},\"finish_ms\":{finish_ms:.1}}}"
        ));
        // Opening again: the close after the compaction reads the records' digest from the new
        // file and leaves the codes (codes.cache); the next open takes them; without them, an
        // open codes every record, and the close after it writes them.
        let t = Instant::now();
        drop(compressed);
        let close_compacted_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let compressed = CompressedIndex::open_with_options(&dir, dim, None, options)?;
        let cached_s = t.elapsed().as_secs_f64();
        if !compressed.codes_from_cache() {
            return Err("the codes left at close were not taken at the next open".into());
        }
        drop(compressed);
        fs_err::remove_file(dir.join("codes.cache"))?;
        let t = Instant::now();
        let compressed = CompressedIndex::open_with_options(&dir, dim, None, options)?;
        let coded_s = t.elapsed().as_secs_f64();
        if compressed.codes_from_cache() {
            return Err("codes taken from a cache that was removed".into());
        }
        let t = Instant::now();
        drop(compressed);
        let close_s = t.elapsed().as_secs_f64();
        // A checkpoint after 10,000 inserts (what a server does after an ingestion job): the
        // part that holds the index exclusively (a flush), and the part beside searches.
        let mut compressed = CompressedIndex::open_with_options(&dir, dim, None, options)?;
        for (i, v) in generate(n, 10_000, dim, cores).chunks_exact(dim).enumerate() {
            compressed.insert(n + 1000 + i as u64, 0, v)?;
        }
        let t = Instant::now();
        compressed.checkpoint_exclusive()?;
        let exclusive_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        compressed.checkpoint_shared()?;
        let shared_s = t.elapsed().as_secs_f64();
        drop(compressed);
        fields.push(format!(
            "\"reopen\":{{\"coding_s\":{coded_s:.2},\"from_codes_left_s\":{cached_s:.2},\"close_writing_codes_s\":{close_s:.2},\"close_after_compaction_s\":{close_compacted_s:.2},\"checkpoint_exclusive_ms\":{exclusive_ms:.1},\"checkpoint_shared_s\":{shared_s:.2}}}"
        ));
        println!(
            "{{\"bench\":\"gabarit-index compressed\",\"n\":{n},\"int8_in_memory\":{},\"open_s\":{open_s:.2},\"memory_bytes_per_vector\":{:.1},\"identical_to_flat\":true,{}}}",
            args.int8_in_memory,
            stats.memory_bytes_per_vector,
            fields.join(",")
        );
    } else {
        drop(index);
    }
    if !args.keep {
        fs_err::remove_dir_all(&dir)?;
    }
    Ok(())
}
