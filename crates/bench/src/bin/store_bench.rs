//! `store-bench N`: the cost of encryption at rest and of the audit log on a data directory
//! of N synthetic face-like templates (identity structure as in `gabarit-index`'s bench):
//! opening the index plain vs sealed, top-10 search latency (the same in-memory scan either
//! way), and the per-search bookkeeping of a governed search (recording the search and its
//! candidates, appending to the audit chain). Prints one JSON object.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use gabarit_crypto::{Kek, Keyring};
use gabarit_engine::store::Sealer;
use gabarit_index::{FlatIndex, RecordCipher, VectorIndex};
use rand::{RngExt, SeedableRng};

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<()> {
    let n: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(200_000);
    let dim = 512;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let centres: Vec<Vec<f32>> = (0..n.div_ceil(5))
        .map(|_| {
            let mut c: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
            normalise(&mut c);
            c
        })
        .collect();
    let make = |rng: &mut rand::rngs::StdRng, c: &[f32]| {
        let mut v: Vec<f32> = c.iter().map(|x| x + rng.random_range(-0.055f32..0.055)).collect();
        normalise(&mut v);
        v
    };
    let vectors: Vec<Vec<f32>> = (0..n).map(|i| make(&mut rng, &centres[i / 5])).collect();
    let queries: Vec<Vec<f32>> = (0..100).map(|i| make(&mut rng, &centres[(i * 7919) % centres.len()])).collect();
    let dir = tempfile::tempdir()?;
    let kek = Kek::generate()?;
    Keyring::create(dir.path().join("keyring.json"), &kek)?;
    let sealer = || -> Result<Arc<dyn RecordCipher>> {
        Ok(Arc::new(Sealer(Arc::new(Keyring::open(dir.path().join("keyring.json"), &kek)?))))
    };
    let mut results = serde_json::Map::new();
    for (name, cipher) in [("plain", None), ("sealed", Some(sealer()?))] {
        let path = dir.path().join(name);
        let t = Instant::now();
        {
            let mut idx = FlatIndex::open_with(&path, dim, cipher.clone())?;
            for (i, v) in vectors.iter().enumerate() {
                idx.insert(i as u64, 1, v)?;
            }
            idx.flush()?;
        }
        let build = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let idx = FlatIndex::open_with(&path, dim, cipher)?;
        let open = t.elapsed().as_secs_f64();
        let mut lat: Vec<f64> = queries
            .iter()
            .map(|q| {
                let t = Instant::now();
                let _ = idx.search(q, 10, None);
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        let disk = fs_err::metadata(path.join("vectors.dat"))?.len() as f64 / n as f64;
        results.insert(
            name.into(),
            serde_json::json!({"build_s": build, "open_s": open, "search_p50_ms": percentile(&mut lat, 0.5),
                "search_p99_ms": percentile(&mut lat, 0.99), "bytes_per_template_on_disk": disk}),
        );
    }
    // Governed-search bookkeeping: record the search and 10 candidates with its authenticated
    // audit entry (one transaction), in a catalog opened with its data key.
    let mut cat = gabarit_catalog::Catalog::open_keyed(
        &dir.path().join("catalog.db"),
        Arc::new(Keyring::open(dir.path().join("keyring.json"), &kek)?),
    )?;
    let cands: Vec<gabarit_catalog::NewCandidate> = (0..10)
        .map(|i| gabarit_catalog::NewCandidate {
            face_id: i as u64,
            collection_id: 1,
            query_face: 0,
            rank: i + 1,
            score: 0.5,
        })
        .collect();
    let collections = ["c".to_string()];
    let mut book: Vec<f64> = (0..200)
        .map(|i| -> Result<f64> {
            let t = Instant::now();
            let started = jiff::Timestamp::now().to_string();
            let search = gabarit_catalog::NewSearch {
                actor: "bench",
                case_ref: "CASE",
                purpose: "bench",
                query_sha256: "ab",
                collections: &collections,
                gallery_size: n as u64,
                started_at: &started,
            };
            cat.audited("bench", "search", |tx| {
                let (s, c) = tx.record_search(&search, &cands)?;
                Ok(((), serde_json::json!({"search": s, "i": i, "candidates": c.len()})))
            })?;
            Ok(t.elapsed().as_secs_f64() * 1000.0)
        })
        .collect::<Result<_>>()?;
    results.insert(
        "governed_search_bookkeeping".into(),
        serde_json::json!({"p50_ms": percentile(&mut book, 0.5), "p99_ms": percentile(&mut book, 0.99)}),
    );
    results.insert("templates".into(), serde_json::json!(n));
    println!("{}", serde_json::Value::Object(results));
    Ok(())
}
