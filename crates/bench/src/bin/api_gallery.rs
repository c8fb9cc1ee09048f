//! `api-gallery --data DIR --vectors FILE.npy --collection NAME [--count N]`: fills an existing,
//! initialised data directory (`gabarit init`, any index kind, the collection created by the CLI
//! with complete governance) with N synthetic templates, the rows of a float32 `.npy` file of
//! shape (N, 512), for HTTP load benchmarks of `gabarit serve` at gallery sizes that photos
//! cannot reach on a test machine.
//!
//! 1. Catalog: rows become faces (`--faces-per-image`, default 5) of synthetic images
//!    (`synthetic://api-gallery/0000042`, with a made-up content hash), quantised as ingestion
//!    quantises them and written through `Catalog::store_batch` in transactions of about
//!    `--chunk` templates, sealed with the directory's data key (opened as `Store::open` does).
//! 2. Index: every catalog template missing from `DIR/graph` is linked with
//!    `AnnIndex::insert_batch` (all cores), `--graph-chunk` at a time, each chunk flushed with
//!    its graph file, so that `Store::open` finds as many templates as the catalog and does not
//!    rebuild (its rebuild links one template after another: hours at 1,000,000).
//! 3. Check: `Store::open`, counts, and a few rows searched for themselves; one JSON line.
//!
//! With `--data postgres://…` (a database made by `gabarit --data postgres://… init`, the
//! collection created by the CLI), step 1 is the same and step 2 is the store's own: opened,
//! its pgvector index catches up with the catalog (loaded without its HNSW index, built once
//! at the end), timed as `index_build_s`. So is step 2 in a data directory with an `exact` or
//! `compressed` index: the store builds it from the catalog as it opens.
//!
//! Resumable: batches are atomic and images numbered, so a run killed at any point and started
//! again with the same arguments carries on (a collection holding other images is refused).
//! Until it has finished, do not open the directory with `gabarit` (it would rebuild the index
//! from the catalog on one thread). The key-encryption key comes as for the CLI:
//! `--kek-file`/`GABARIT_KEK_FILE` or `GABARIT_KEK` (hex).

use std::io::{BufReader, IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use gabarit_ann::{AnnIndex, AnnOptions};
use gabarit_catalog::{BatchItem, Catalog, NewFace, NewImage, StoreOutcome};
use gabarit_crypto::{Kek, Keyring};
use gabarit_engine::store::{IndexKind, Sealer, Store};

/// The dimension of the gallery's templates: buffalo_s's, the pack of the collection it fills
/// (checked), whose index is the data directory's `graph` folder.
const TEMPLATE_DIM: usize = 512;
use gabarit_index::VectorIndex;
use gabarit_types::{BBox, Landmarks, Quality};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Parser)]
#[command(name = "api-gallery", about = "Fills a data directory with synthetic templates from a .npy file")]
struct Args {
    /// The data directory (made by `gabarit init`, graph index), or a PostgreSQL database made
    /// by `gabarit --data postgres://… init`.
    #[arg(long, env = "GABARIT_DATA")]
    data: String,
    /// float32 `.npy` file of shape (rows, 512), C order.
    #[arg(long)]
    vectors: PathBuf,
    /// The collection to fill (must exist, with complete governance).
    #[arg(long)]
    collection: String,
    /// Templates to store (default: every row).
    #[arg(long)]
    count: Option<usize>,
    /// Faces per synthetic image.
    #[arg(long, default_value_t = 5)]
    faces_per_image: usize,
    /// Templates per catalog transaction.
    #[arg(long, default_value_t = 10_000)]
    chunk: usize,
    /// Templates per `insert_batch` (each followed by a flush that writes the graph file).
    #[arg(long, default_value_t = 50_000)]
    graph_chunk: usize,
    /// Key-encryption key file.
    #[arg(long, env = "GABARIT_KEK_FILE")]
    kek_file: Option<PathBuf>,
}

/// A float32 `.npy` matrix read row range by row range.
struct Npy {
    path: PathBuf,
    file: BufReader<fs_err::File>,
    rows: usize,
    cols: usize,
    data_start: u64,
}

impl Npy {
    fn open(path: &Path) -> Result<Npy> {
        let mut file = BufReader::with_capacity(1 << 22, fs_err::File::open(path)?);
        let (rows, cols, data_start) = gabarit_ann::synth::read_npy_header(&mut file, path)?;
        let len = file.get_ref().metadata()?.len();
        ensure!(
            len >= data_start + (rows * cols * 4) as u64,
            "{}: shorter than its shape ({rows}, {cols})",
            path.display()
        );
        Ok(Npy { path: path.to_path_buf(), file, rows, cols, data_start })
    }

    /// Rows `start..start + n`, each L2-normalised (templates are unit vectors).
    fn read_rows(&mut self, start: usize, n: usize, out: &mut Vec<f32>) -> Result<()> {
        let at = self.data_start + (start * self.cols * 4) as u64;
        self.file.seek(SeekFrom::Start(at)).with_context(|| format!("{}: seek", self.path.display()))?;
        let mut bytes = vec![0u8; n * self.cols * 4];
        self.file
            .read_exact(&mut bytes)
            .with_context(|| format!("{}: rows {start}..{}", self.path.display(), start + n))?;
        out.clear();
        out.extend(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
        for (i, row) in out.chunks_exact_mut(self.cols).enumerate() {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            ensure!(norm.is_finite() && norm > 0.0, "{}: row {} is zero or not finite", self.path.display(), start + i);
            row.iter_mut().for_each(|x| *x /= norm);
        }
        Ok(())
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A made-up, hash-like and unique "content hash" of synthetic image `i`.
fn synthetic_sha(i: usize) -> String {
    (0..4u64).map(|k| format!("{:016x}", splitmix(((i as u64) << 2 | k) ^ 0x6761_6261_7269_7400))).collect()
}

fn synthetic_uri(i: usize) -> String {
    format!("synthetic://api-gallery/{i:07}")
}

/// Synthetic image `i` holding the given unit templates as its faces, left to right.
fn synthetic_image(i: usize, rows: &[f32], source: &str) -> NewImage {
    let faces = rows
        .chunks_exact(TEMPLATE_DIM)
        .enumerate()
        .map(|(k, v)| {
            let (x, y, side) = (40.0 + 240.0 * k as f32, 300.0, 160.0);
            let eye = side * 0.3;
            NewFace {
                bbox: BBox { x1: x, y1: y, x2: x + side, y2: y + side * 1.25 },
                landmarks: Landmarks([
                    [x + eye, y + side * 0.45],
                    [x + side - eye, y + side * 0.45],
                    [x + side * 0.5, y + side * 0.7],
                    [x + side * 0.35, y + side * 0.95],
                    [x + side * 0.65, y + side * 0.95],
                ]),
                score: 0.9 - 0.01 * k as f32,
                quality: Quality {
                    detector_score: 0.9 - 0.01 * k as f32,
                    size_px: side,
                    sharpness: 250.0,
                    yaw_deg: 0.0,
                    pitch_deg: 0.0,
                    roll_deg: 0.0,
                    usable: true,
                },
                template: Some(gabarit_index::quant::quantize(v)),
                moment: None,
            }
        })
        .collect();
    NewImage {
        sha256: synthetic_sha(i),
        uri: synthetic_uri(i),
        source_uri: source.to_string(),
        source_kind: "synthetic".into(),
        bytes: 0,
        width: 1280,
        height: 960,
        format: "jpeg".into(),
        captured_at: None,
        camera: None,
        faces,
        video: None,
    }
}

fn bar(len: u64, unit: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!("{{bar:40}} {{pos}}/{{len}} {unit} {{per_sec}} ETA {{eta}}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Moves the bar; when stderr is not a terminal (a log file), also prints a line.
fn advance(bar: &ProgressBar, pos: u64, what: &str, started: Instant) {
    bar.set_position(pos);
    if !std::io::stderr().is_terminal() {
        let len = bar.length().unwrap_or(pos).max(1);
        let secs = started.elapsed().as_secs_f64();
        eprintln!("{what}: {pos}/{len} ({:.1}%) after {secs:.0} s", 100.0 * pos as f64 / len as f64);
    }
}

fn load_kek(file: Option<&Path>) -> Result<Kek> {
    if let Some(path) = file {
        return Ok(Kek::from_file(path)?);
    }
    if std::env::var_os("GABARIT_KEK").is_some() {
        return Ok(Kek::from_env("GABARIT_KEK")?);
    }
    bail!("give the key-encryption key with --kek-file FILE (or GABARIT_KEK_FILE / GABARIT_KEK)")
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.faces_per_image >= 1 && args.chunk >= 1 && args.graph_chunk >= 1, "sizes must be at least 1");
    let url = gabarit_engine::store::Place::is_database_url(&args.data).then_some(&args.data);
    let root = Path::new(&args.data);
    let graph = match url {
        Some(_) => false,
        None => {
            ensure!(root.join("catalog.db").is_file(), "{} has no catalog: run `gabarit init` first", root.display());
            Store::kind_of(root)? == IndexKind::Graph
        }
    };
    let kek = load_kek(args.kek_file.as_deref())?;
    let mut npy = Npy::open(&args.vectors)?;
    ensure!(npy.cols == TEMPLATE_DIM, "{}: rows of {} values, not {TEMPLATE_DIM}", args.vectors.display(), npy.cols);
    let n = args.count.unwrap_or(npy.rows);
    ensure!(n <= npy.rows, "--count {n}: {} has only {} rows", args.vectors.display(), npy.rows);
    let fpi = args.faces_per_image;
    let total_images = n.div_ceil(fpi);
    let faces_before = |images: usize| (images * fpi).min(n);

    // The catalog and the index as `Store::open` opens them, without its consistency check
    // (which would rebuild a partly built index on one thread).
    let (key, mut catalog) = match url {
        Some(url) => {
            let json =
                gabarit_catalog::pg::read_keyring(url)?.context("the database has no keyring: run `gabarit init`")?;
            let key = Arc::new(Keyring::open_bytes(&gabarit_catalog::pg::keyring_place(url)?, &json, &kek)?);
            (key.clone(), Catalog::open_postgres(url, Some(key))?)
        }
        None => {
            let key = Arc::new(Keyring::open(root.join("keyring.json"), &kek)?);
            let mut catalog = Catalog::open(&root.join("catalog.db"))?;
            catalog.set_data_key(key.clone());
            (key, catalog)
        }
    };
    let collection = catalog.collection(&args.collection)?;
    ensure!(
        collection.pack_key() == gabarit_catalog::PackKey::legacy(),
        "collection {} records pack {}: the gallery's vectors are buffalo_s templates",
        collection.name,
        collection.pack_key()
    );
    catalog.governance(&args.collection)?.complete(&args.collection)?;
    let t = Instant::now();
    let index = match graph {
        false => None,
        true => Some(AnnIndex::open_with(
            root.join("graph"),
            TEMPLATE_DIM,
            AnnOptions::default(),
            Some(Arc::new(Sealer(key.clone()))),
        )?),
    };
    // A loading tool run by the operator with the key-encryption key: it reaches every
    // collection, and its writes are audited like any ingestion.
    let everything = gabarit_governance::authorize_system::<gabarit_governance::actions::ViewRecords>("api-gallery");
    let index_open_s = t.elapsed().as_secs_f64();

    // 1. Catalog: carry on after the images already stored (numbered, written in order).
    let summary = catalog
        .collections(everything.scope())?
        .into_iter()
        .find(|c| c.collection.id == collection.id)
        .context("the collection vanished")?;
    let done = usize::try_from(summary.images)?;
    if done > 0 {
        let ours = done <= total_images
            && catalog.has_image(collection.id, &synthetic_sha(done - 1))?
            && (done == total_images || !catalog.has_image(collection.id, &synthetic_sha(done))?)
            && summary.templates == faces_before(done) as u64;
        if !ours {
            bail!(
                "collection {:?} already holds {} images and {} templates that this run (--count {n}, --faces-per-image {fpi}) did not write: refusing to add to it",
                args.collection,
                summary.images,
                summary.templates
            );
        }
    }
    let resumed = done > 0 || index.as_ref().is_some_and(|i| i.len() > 0);
    let source = format!("api-gallery:{}", fs_err::canonicalize(&args.vectors)?.display());
    let t = Instant::now();
    let mut stored = 0usize;
    if done < total_images {
        let job = catalog.begin_job(collection.id, std::slice::from_ref(&source))?;
        let per_batch = (args.chunk / fpi).max(1);
        let progress = bar(n as u64, "templates (catalog)");
        progress.set_position(faces_before(done) as u64);
        let mut rows = Vec::new();
        let mut image = done;
        let filled: Result<()> = (|| {
            while image < total_images {
                let last = (image + per_batch).min(total_images);
                let (first_row, end_row) = (faces_before(image), faces_before(last));
                npy.read_rows(first_row, end_row - first_row, &mut rows)?;
                let items: Vec<BatchItem> = (image..last)
                    .map(|i| {
                        let a = (faces_before(i) - first_row) * TEMPLATE_DIM;
                        let b = (faces_before(i + 1) - first_row) * TEMPLATE_DIM;
                        BatchItem::Image(synthetic_image(i, &rows[a..b], &source))
                    })
                    .collect();
                let (outcomes, _) = catalog.audited("api-gallery", "ingest_batch", |tx| {
                    let outcomes = tx.store_batch(job, collection.id, &items)?;
                    Ok((outcomes, serde_json::json!({"job": job, "synthetic": true, "images": items.len()})))
                })?;
                ensure!(
                    outcomes.iter().all(|o| matches!(o, StoreOutcome::Inserted { .. })),
                    "images {image}..{last}: some were not inserted (already present?)"
                );
                stored += end_row - first_row;
                image = last;
                advance(&progress, end_row as u64, "catalog", t);
            }
            Ok(())
        })();
        progress.finish_and_clear();
        catalog.finish_job(job, if filled.is_ok() { "done" } else { "failed" })?;
        filled?;
        catalog.audit(
            "api-gallery",
            "ingest",
            serde_json::json!({"collection": args.collection, "job": job, "inputs": [source], "synthetic": true,
                "ingested": total_images - done, "templates": stored}),
        )?;
    }
    let catalog_fill_s = t.elapsed().as_secs_f64();
    let filled = Filled { n, fpi, resumed, stored, catalog_fill_s, index_open_s, collection: collection.id };
    match index {
        Some(index) => finish_graph(&args, root, &kek, key, catalog, index, &mut npy, &filled),
        None => finish_by_the_store(&args, url, &kek, catalog, &filled),
    }
}

/// What the catalog fill did.
struct Filled {
    n: usize,
    fpi: usize,
    resumed: bool,
    stored: usize,
    catalog_fill_s: f64,
    index_open_s: f64,
    collection: u32,
}

/// On PostgreSQL, the pgvector index is the store's own, caught up with the catalog when the
/// store opens it (loaded without its HNSW index, which is built once at the end); in a data
/// directory with an exact or compressed index, the store builds it from the catalog when it
/// opens it (one insertion per template, no graph to link): timed.
fn finish_by_the_store(args: &Args, url: Option<&String>, kek: &Kek, catalog: Catalog, filled: &Filled) -> Result<()> {
    let templates = catalog.template_count(None)?;
    drop(catalog);
    let place = match url {
        Some(url) => gabarit_engine::store::Place::Postgres {
            url: url.to_owned(),
            uploads: std::env::temp_dir().join("api-gallery-uploads"),
            replica: None,
        },
        None => gabarit_engine::store::Place::Dir(PathBuf::from(&args.data)),
    };
    let t = Instant::now();
    let store = Store::open(place, kek)?;
    let held = store.templates_held()?;
    let index_build_s = t.elapsed().as_secs_f64();
    ensure!(held as u64 == templates, "the index holds {held} templates, the catalog {templates}");
    let data = match url {
        Some(url) => gabarit_catalog::pg::display_name_of(url)?,
        None => args.data.clone(),
    };
    println!(
        "{}",
        serde_json::json!({
            "data": data, "index": store.index_kind().name(), "collection": args.collection, "vectors": args.vectors,
            "count": filled.n, "faces_per_image": filled.fpi, "resumed": filled.resumed,
            "catalog_templates_all": templates, "index_templates": held, "stored_now": filled.stored,
            "catalog_fill_s": filled.catalog_fill_s, "index_build_s": index_build_s,
        })
    );
    Ok(())
}

/// In a data directory: the graph linked in parallel batches, then checked.
#[allow(clippy::too_many_arguments)]
fn finish_graph(
    args: &Args,
    root: &Path,
    kek: &Kek,
    key: Arc<gabarit_crypto::DataKey>,
    catalog: Catalog,
    mut index: AnnIndex,
    npy: &mut Npy,
    filled: &Filled,
) -> Result<()> {
    let Filled { n, fpi, resumed, stored, catalog_fill_s, index_open_s, .. } = *filled;
    let everything = gabarit_governance::authorize_system::<gabarit_governance::actions::ViewRecords>("api-gallery");

    // 2. Index: every catalog template it lacks, linked in parallel batches.
    let t = Instant::now();
    let mut items: Vec<(u64, u32)> = Vec::new();
    let mut codes: Vec<i8> = Vec::new();
    let mut scales: Vec<f32> = Vec::new();
    catalog.templates(|t| {
        if !index.contains(t.face_id) {
            items.push((t.face_id, t.collection_id));
            codes.extend_from_slice(&t.vector);
            scales.push(t.scale);
        }
    })?;
    ensure!(codes.len() == items.len() * TEMPLATE_DIM, "a catalog template is not {TEMPLATE_DIM}-dimensional");
    let graph_read_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let linked = items.len();
    if linked > 0 {
        index.reserve(linked);
        let progress = bar(linked as u64, "templates (graph)");
        let mut vectors = Vec::with_capacity(args.graph_chunk * TEMPLATE_DIM);
        for (c, chunk) in items.chunks(args.graph_chunk).enumerate() {
            let first = c * args.graph_chunk;
            vectors.clear();
            for (k, _) in chunk.iter().enumerate() {
                let s = (first + k) * TEMPLATE_DIM;
                let v = gabarit_index::quant::dequantize(&codes[s..s + TEMPLATE_DIM], scales[first + k]);
                vectors.extend_from_slice(&v);
            }
            index.insert_batch(chunk, &vectors)?;
            // After a batch insert, flush rewrites graph.dat: a later open links nothing again.
            index.flush()?;
            advance(&progress, (first + chunk.len()) as u64, "graph", t);
        }
        progress.finish_and_clear();
    }
    let graph_build_s = t.elapsed().as_secs_f64();
    let expected = catalog.template_count(None)?;
    ensure!(
        index.len() as u64 == expected,
        "the index holds {} templates but the catalog {expected}: it holds templates the catalog does not; remove {} and run again",
        index.len(),
        root.join("graph").display()
    );
    let unreachable = index.unreachable();
    drop(index);
    drop(catalog);

    // 3. Check: the engine opens it without rebuilding, and rows find themselves.
    let t = Instant::now();
    let store = Store::open(root, kek)?;
    let open_s = t.elapsed().as_secs_f64();
    let held = store.templates_held()?;
    drop(store);
    let mut catalog = Catalog::open(&root.join("catalog.db"))?;
    catalog.set_data_key(key.clone());
    let templates = catalog.template_count(None)?;
    ensure!(held as u64 == templates, "Store::open: index {held} ≠ catalog {templates}");
    let index =
        AnnIndex::open_with(root.join("graph"), TEMPLATE_DIM, AnnOptions::default(), Some(Arc::new(Sealer(key))))?;
    let probes: Vec<usize> = (0..20).map(|k| k * n / 20).collect();
    let (mut found, mut latencies) = (0, Vec::new());
    let mut row = Vec::new();
    for &p in &probes {
        npy.read_rows(p, 1, &mut row)?;
        let t = Instant::now();
        let hits = index.search(&row, 1, Some(&[filled.collection]))?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        if let Some(hit) = hits.first() {
            let face = catalog.face(everything.scope(), hit.id)?;
            if face.uri == synthetic_uri(p / fpi) && face.index as usize == p % fpi {
                found += 1;
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let summary = catalog
        .collections(everything.scope())?
        .into_iter()
        .find(|c| c.collection.id == filled.collection)
        .context("the collection vanished")?;
    println!(
        "{}",
        serde_json::json!({
            "data": root, "collection": args.collection, "vectors": args.vectors, "count": n,
            "faces_per_image": fpi, "resumed": resumed,
            "images": summary.images, "faces": summary.faces, "templates": summary.templates,
            "catalog_templates_all": templates, "index_templates": held, "unreachable": unreachable,
            "stored_now": stored, "linked_now": linked,
            "index_open_s": index_open_s, "catalog_fill_s": catalog_fill_s, "graph_read_s": graph_read_s,
            "graph_build_s": graph_build_s, "store_open_s": open_s,
            "self_search_top1": format!("{found}/{}", probes.len()),
            "self_search_p50_ms": latencies[latencies.len() / 2],
        })
    );
    ensure!(found == probes.len(), "only {found} of {} rows found themselves at rank 1", probes.len());
    Ok(())
}
