//! Templates on PostgreSQL with pgvector, measured: inserts through `VectorIndex::insert` and
//! 2,000 at a time through `PgVectorIndex::insert_many`, the
//! HNSW top-10 (latency and recall@10 against the exhaustive answer at several breadths), the
//! exhaustive top-10 and the exhaustive threshold search (sequential scans), on a server of its
//! own (`LocalServer`, `GABARIT_POSTGRES`). Vectors: identities with a few mates each in a
//! random cloud, 512 dimensions.
//!
//! `cargo run --release -p gabarit-catalog --example pgvector_bench -- [N] [QUERIES]`

use std::time::Instant;

use gabarit_catalog::pg::{LocalServer, PgVectorIndex};
use gabarit_index::testing::TestRng;
use gabarit_index::{SecretRotation, VectorIndex};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(50_000), |a| a.parse())?;
    let queries: usize = args.next().map_or(Ok(50), |a| a.parse())?;
    let dim = 512;
    let pg = LocalServer::start()?;
    let mut index = PgVectorIndex::open(&pg.url(), "templates", SecretRotation::new(&[9; 32], dim))?;
    let mut rng = TestRng::new(1);
    let identities: Vec<Vec<f32>> = (0..n / 4).map(|_| rng.unit(dim)).collect();
    let start = Instant::now();
    for id in 0..n {
        let v = if id % 2 == 0 { rng.near(&identities[id / 4], 0.6) } else { rng.unit(dim) };
        index.insert(id as u64, (id % 4) as u32, &v)?;
    }
    let build = start.elapsed().as_secs_f64();
    // The same vectors again, into another table, 2,000 per transaction (`insert_many`: how an
    // index catches up with its catalog, after a migration).
    let mut batched = PgVectorIndex::open(&pg.url(), "templates_batched", SecretRotation::new(&[9; 32], dim))?;
    let mut again = TestRng::new(1);
    let _: Vec<Vec<f32>> = (0..n / 4).map(|_| again.unit(dim)).collect();
    let all: Vec<(u64, u32, Vec<f32>)> = (0..n)
        .map(|id| {
            let v = if id % 2 == 0 { again.near(&identities[id / 4], 0.6) } else { again.unit(dim) };
            (id as u64, (id % 4) as u32, v)
        })
        .collect();
    let start = Instant::now();
    for part in all.chunks(2000) {
        batched.insert_many(part)?;
    }
    let batched_build = start.elapsed().as_secs_f64();
    drop(batched);
    let qs: Vec<Vec<f32>> = (0..queries).map(|i| rng.near(&identities[(i * 7919) % identities.len()], 0.6)).collect();
    let timed = |f: &dyn Fn(&[f32]) -> Vec<u64>| -> (Vec<Vec<u64>>, Vec<f64>) {
        let mut times = Vec::new();
        let answers = qs
            .iter()
            .map(|q| {
                let t = Instant::now();
                let a = f(q);
                times.push(t.elapsed().as_secs_f64() * 1e3);
                a
            })
            .collect();
        times.sort_by(f64::total_cmp);
        (answers, times)
    };
    let ids = |hits: Vec<gabarit_index::Hit>| hits.into_iter().map(|h| h.id).collect::<Vec<u64>>();
    let (truth, exact_ms) = timed(&|q| ids(index.search_exact(q, 10, None).expect("exact")));
    let (_, threshold_ms) = timed(&|q| ids(index.search_threshold(q, 0.38, None).expect("threshold")));
    println!(
        "{{\"n\": {n}, \"dim\": {dim}, \"queries\": {queries}, \"insert_per_s\": {:.0}, \"build_s\": {build:.1}, \"insert_many_per_s\": {:.0},",
        n as f64 / build,
        n as f64 / batched_build
    );
    println!(
        "  \"exact_top10_ms\": {{\"p50\": {:.1}, \"p99\": {:.1}}}, \"threshold_ms\": {{\"p50\": {:.1}, \"p99\": {:.1}}},",
        percentile(&exact_ms, 0.5),
        percentile(&exact_ms, 0.99),
        percentile(&threshold_ms, 0.5),
        percentile(&threshold_ms, 0.99)
    );
    println!("  \"hnsw\": [");
    for (i, breadth) in [40, 100, 200, 400, 1000].into_iter().enumerate() {
        let (found, ms) = timed(&|q| ids(index.search_breadth(q, 10, None, breadth).expect("search")));
        let hit: usize = found.iter().zip(&truth).map(|(f, t)| f.iter().filter(|id| t.contains(id)).count()).sum();
        let recall = hit as f64 / truth.iter().map(Vec::len).sum::<usize>().max(1) as f64;
        let comma = if i < 4 { "," } else { "" };
        println!(
            "    {{\"ef_search\": {breadth}, \"recall_at_10\": {recall:.4}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}}}{comma}",
            percentile(&ms, 0.5),
            percentile(&ms, 0.99)
        );
    }
    println!("  ]}}");
    Ok(())
}
