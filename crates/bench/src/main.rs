//! `gabarit-bench`: images/s and faces/s of the face engine, end to end and per stage, and
//! the same images through the pack's peer script (buffalo_s:
//! `../shared/bench/peers/insightface_pipeline.py`; open: `crates/bench/peers/opencv_pipeline.py`,
//! OpenCV's own pipeline) at the same number of cores, reported as ratios.
//!
//! ```text
//! gabarit-bench DIR... [--pack buffalo_s|open] [--workers 2] [--threads 1] [--repeat 1] [--det-size auto|640]
//!               [--backend ort|openvino] [--precision f32|bf16]
//!               [--peer ../shared/bench/peers/insightface_pipeline.py --peer-python PY]
//!               [--peer crates/bench/peers/opencv_pipeline.py --peer-models DIR]   (open pack)
//! ```
//! Prints one JSON object. Timings are wall-clock after a warm-up; they vary with the machine
//! and its load, so they are reported, never asserted in tests.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use gabarit_engine::{FaceService, FaceServiceConfig};
use gabarit_inference::{Backend, EngineFamily, Pack, Precision, SessionOptions};
use gabarit_media::{DecodeLimits, has_image_extension};
use gabarit_pipeline::{DetectorInput, StageTimes};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Throughput of the face engine, side by side with the peer script")]
struct Args {
    /// Folders or files of photos (searched recursively).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Models directory.
    #[arg(long, env = "GABARIT_MODELS")]
    models: PathBuf,
    /// Model pack.
    #[arg(long, env = "GABARIT_PACK", default_value = gabarit_inference::pack::DEFAULT_PACK)]
    pack: String,
    /// Mirror-average templates (overrides the pack; the peers never do: `false` compares the
    /// same work).
    #[arg(long)]
    flip: Option<bool>,
    /// Whether ONNX Runtime dequantises int8 weights once at load (overrides the pack).
    #[arg(long)]
    dequantize_at_load: Option<bool>,
    /// Parallel workers (each with its own sessions).
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Inference threads per worker.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Backend: `ort` or `openvino` (default: the one `gabarit models check` names). The peer
    /// script runs on the same.
    #[arg(long, env = "GABARIT_BACKEND")]
    backend: Option<Backend>,
    /// Precision: `f32` or `bf16` (default: as for `gabarit`). The peer runs the same.
    #[arg(long, env = "GABARIT_PRECISION")]
    precision: Option<Precision>,
    /// Process the image list this many times.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Images processed before timing starts.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Detector input: `auto` (the pack's), or a fixed square size such as 640.
    #[arg(long, default_value = "auto")]
    det_size: String,
    /// Peer script to run on the same images and cores.
    #[arg(long)]
    peer: Option<PathBuf>,
    /// The peer's detector input, when not the same as `--det-size` (the adaptive input picks
    /// 256 for 250×250 photos; the peer takes one fixed size).
    #[arg(long)]
    peer_det_size: Option<u32>,
    /// Python with onnxruntime, numpy and opencv for the peer script.
    #[arg(long, default_value = "python3")]
    peer_python: String,
    /// The peer's model files (`PEER_MODEL_DIR`), when not in `--models`: the open pack's peer
    /// runs the files as published, before Gabarit's install repairs them.
    #[arg(long)]
    peer_models: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut images = Vec::new();
    for input in &args.inputs {
        collect(input, &mut images)?;
    }
    images.sort();
    if images.is_empty() {
        bail!("no images under {:?}", args.inputs);
    }
    let detector_input = match args.det_size.as_str() {
        "auto" => None,
        n => Some(DetectorInput::Fixed(n.parse().context("--det-size: auto or a number")?)),
    };
    let family = gabarit_inference::preferred_family(&args.models, args.backend, args.precision)?;
    let config = FaceServiceConfig {
        models_dir: args.models.clone(),
        pack: {
            let mut pack = Pack::builtin(&args.pack)?;
            if let Some(flip) = args.flip {
                pack.engine.embedder.flip_average = flip;
            }
            if let Some(at_load) = args.dequantize_at_load {
                pack.dequantize_at_load = at_load;
            }
            pack
        },
        workers: args.workers,
        session: SessionOptions {
            threads: args.threads,
            backend: family.backend,
            precision: family.precision,
            ..SessionOptions::default()
        },
        limits: DecodeLimits::default(),
        detector_input,
    };
    let service = FaceService::new(config)?;
    let warm: Vec<PathBuf> = images.iter().take(args.warmup * args.workers).cloned().collect();
    service.analyze_files(&warm, true, |_, _, _| {})?;
    let run: Vec<PathBuf> = (0..args.repeat).flat_map(|_| images.iter().cloned()).collect();
    let mut times = StageTimes::default();
    let (mut faces, mut failed) = (0usize, 0usize);
    let t0 = Instant::now();
    service.analyze_files(&run, true, |_, _, r| match r {
        Ok(img) => {
            faces += img.faces.len();
            times.add(&img.times);
        }
        Err(_) => failed += 1,
    })?;
    let wall = t0.elapsed().as_secs_f64();
    let n = run.len() as f64;
    let ms = |d: Duration| (d.as_secs_f64() * 1000.0 / n * 1000.0).round() / 1000.0;
    let total = times.total().as_secs_f64();
    let outside = (total - times.model().as_secs_f64()) / total;
    let mut report = json!({
        "gabarit": {
            "images": run.len(), "faces": faces, "failed": failed, "seconds": round3(wall),
            "images_per_s": round3(n / wall), "faces_per_s": round3(faces as f64 / wall),
            "pack": args.pack, "flip_average": service.config().pack.engine.embedder.flip_average,
            "dequantize_at_load": service.config().pack.dequantize_at_load,
            "backend": family.backend.name(), "precision": family.precision.name(), "workers": args.workers, "threads_per_worker": args.threads, "det_size": args.det_size,
            "stage_ms_per_image": {
                "decode": ms(times.decode), "det_pre": ms(times.det_pre), "det_infer": ms(times.det_infer),
                "det_post": ms(times.det_post), "align": ms(times.align), "emb_infer": ms(times.emb_infer),
                "emb_post": ms(times.emb_post),
            },
            "share_outside_model": round3(outside),
        }
    });
    if let Some(script) = &args.peer {
        let peer = run_peer(&args, &service.config().pack, family, script, &images)?;
        let ratio = |k: &str| report["gabarit"][k].as_f64().unwrap_or(0.0) / peer[k].as_f64().unwrap_or(f64::NAN);
        let (images, faces) = (round3(ratio("images_per_s")), round3(ratio("faces_per_s")));
        report["ratio_images_per_s"] = json!(images);
        report["ratio_faces_per_s"] = json!(faces);
        report["peer"] = peer;
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if path.is_dir() {
        for entry in fs_err::read_dir(path)? {
            collect(&entry?.path(), out)?;
        }
    } else if has_image_extension(path) {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Runs the peer script on the same images (linked into one folder, as it takes one), with
/// the same workers, threads and score threshold; returns its summary line.
fn run_peer(args: &Args, pack: &Pack, family: EngineFamily, script: &Path, images: &[PathBuf]) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    for (i, img) in images.iter().enumerate() {
        let name = format!("{i:06}_{}", img.file_name().and_then(|n| n.to_str()).unwrap_or("x.jpg"));
        std::os::unix::fs::symlink(fs_err::canonicalize(img)?, dir.path().join(name))?;
    }
    let mut cmd = Command::new(&args.peer_python);
    cmd.arg(script)
        .arg(dir.path())
        .args(["--threads", &args.threads.to_string(), "--workers", &args.workers.to_string()])
        .args(["--repeat", &args.repeat.to_string()])
        .args(["--det-thresh", &pack.engine.detector.score_threshold.to_string()])
        .env("PEER_MODEL_DIR", args.peer_models.as_ref().unwrap_or(&args.models));
    if family != EngineFamily::ORT_F32 {
        // The InsightFace peer runs on OpenVINO too (OpenCV's does not).
        cmd.args(["--backend", family.backend.name(), "--precision", family.precision.name()]);
    }
    if args.threads > 1 {
        cmd.arg("--no-spin");
    }
    if let Some(size) = args.peer_det_size {
        cmd.args(["--det-size", &size.to_string()]);
    } else if args.det_size != "auto" {
        cmd.args(["--det-size", &args.det_size]);
    }
    let out = cmd.output().with_context(|| format!("running {}", script.display()))?;
    if !out.status.success() {
        bail!("peer script failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().rev().find(|l| l.contains("\"summary\"")).context("no summary line from the peer")?;
    Ok(serde_json::from_str(last)?)
}
