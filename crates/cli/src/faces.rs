//! Commands on photos without a data directory: `faces`, `compare`, `eval`, and the face services they share.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use gabarit_engine::faces::DecodeLimits;
use gabarit_engine::models::{Pack, SessionOptions};
use gabarit_engine::{FaceService, FaceServiceConfig, FaceServices, ImageFaces};
use serde_json::json;

use crate::flags::{CompareArgs, DetSize, EngineArgs, EvalArgs, FaceChoiceArg, FacesArgs};
use crate::render;

pub(crate) fn service(models: &Path, pack: Pack, args: &EngineArgs, items: usize) -> Result<FaceService> {
    Ok(FaceService::new(service_config(models, pack, args, items)?)?)
}

/// The face services of a data directory's packs (loaded when a collection needs one), with
/// `pack` as the default.
pub(crate) fn services(models: &Path, pack: Pack, args: &EngineArgs, items: usize) -> Result<FaceServices> {
    Ok(FaceServices::new(service_config(models, pack, args, items)?))
}

pub(crate) fn service_config(models: &Path, pack: Pack, args: &EngineArgs, items: usize) -> Result<FaceServiceConfig> {
    let family = args.choice.family(models)?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let workers = args.workers.unwrap_or(cores).clamp(1, items.max(1));
    Ok(FaceServiceConfig {
        models_dir: models.to_path_buf(),
        pack,
        workers,
        session: SessionOptions {
            threads: args.threads,
            spin: false,
            backend: family.backend,
            precision: family.precision,
        },
        limits: DecodeLimits { max_pixels: args.max_pixels, ..DecodeLimits::default() },
        detector_input: match args.det_size {
            DetSize::Pack => None,
            DetSize::Set(i) => Some(i),
        },
    })
}

pub(crate) fn face_json(face: &gabarit_types::Face, with_embedding: bool) -> serde_json::Value {
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

pub(crate) fn round(v: f32, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (v as f64 * p).round() / p
}

pub(crate) fn round_all(v: &[f32], digits: i32) -> Vec<f64> {
    v.iter().map(|x| round(*x, digits)).collect()
}

pub(crate) fn faces(models: &Path, pack: Pack, args: FacesArgs) -> Result<ExitCode> {
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

pub(crate) fn compare(models: &Path, pack: Pack, args: CompareArgs) -> Result<ExitCode> {
    let threshold = pack.thresholds.verification;
    let calibration = pack.calibration()?;
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
    let fmr = calibration.as_ref().map(|c| c.fmr_at(similarity));
    if args.json {
        println!(
            "{}",
            json!({
                "a": {"path": args.a, "bbox": round_all(&<[f32; 4]>::from(fa.bbox), 2)},
                "b": {"path": args.b, "bbox": round_all(&<[f32; 4]>::from(fb.bbox), 2)},
                "similarity": round(similarity, 5),
                "threshold": threshold,
                "same_person": same,
                "false_match_rate_at_score": fmr,
            })
        );
    } else {
        println!(
            "similarity {similarity:.4} (threshold {threshold:.2}): {}",
            if same { "same person (candidate match, for human review)" } else { "different people" }
        );
        if let Some(fmr) = fmr.filter(|_| same) {
            if fmr > 0.0 {
                println!(
                    "  two different people score this high in about 1 of {:.0} comparisons (LFW calibration)",
                    1.0 / fmr
                );
            } else {
                println!("  no two different people scored this high in the calibration's comparisons");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn eval(models: &Path, mut pack: Pack, args: EvalArgs) -> Result<ExitCode> {
    use gabarit_engine::eval::{EvalOptions, FaceChoice, evaluate};
    if let Some(flip) = args.flip {
        pack.engine.embedder.flip_average = flip;
    }
    let face_choice = match args.face {
        FaceChoiceArg::Central => FaceChoice::Central,
        FaceChoiceArg::Largest => FaceChoice::Largest,
    };
    let threshold = pack.thresholds.verification;
    let pack_name = pack.name.clone();
    let service = service(models, pack, &args.engine, usize::MAX)?;
    let cfg = service.config();
    let det = cfg.detector_input.unwrap_or(cfg.pack.engine.detector.input);
    // Templates of another backend or precision are other templates: cached apart.
    let settings = format!(
        "{det:?}, flip_average={}, face={face_choice:?}, engine={}",
        cfg.pack.engine.embedder.flip_average,
        cfg.session.family()
    );
    let cache = match args.cache {
        Some(c) => c,
        None => {
            let key: String = settings.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            models.parent().unwrap_or(models).join("eval-cache").join(format!("{pack_name}-{key}.jsonl"))
        }
    };
    let opts = EvalOptions {
        dataset: args.dataset.clone(),
        pairs: args.pairs.clone(),
        distractors: args.distractors.clone(),
        groups: args.groups.clone(),
        max_impostor_pairs: args.max_impostor_pairs,
        seed: args.seed,
        face_choice,
        cache,
        threshold,
        skip_folders: args.skip_folder.clone(),
        quantize: args.quantize,
        grouping: args.group_people.then_some(args.group_join),
        export: args.export_grouping.clone(),
    };
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} photos {per_sec} ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (report, impostor) = evaluate(&service, &opts, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    fs_err::create_dir_all(&args.out)?;
    fs_err::write(args.out.join("report.json"), serde_json::to_string_pretty(&report)?)?;
    let html = gabarit_engine::report::html(&report).map_err(|e| anyhow::anyhow!("drawing the report: {e}"))?;
    fs_err::write(args.out.join("report.html"), html)?;
    render::eval_summary(&mut std::io::stdout().lock(), &report)?;
    let v = &report.verification;
    let pairs_accuracy = report.pairs.as_ref().and_then(|p| p.kfold.as_ref()).map(|k| k.mean);
    let below_minimum = matches!((pairs_accuracy, args.min_pairs_accuracy), (Some(mean), Some(min)) if mean < min);
    println!("report: {}", args.out.join("report.html").display());
    if let Some(file) = &args.write_calibration {
        let (Some(imp), Some(gen_h)) = (&v.impostor_histogram, &v.genuine_histogram) else {
            bail!("no comparisons to calibrate from");
        };
        let cal = gabarit_engine::models::Calibration {
            pack: report.pack.clone(),
            source: args.calibration_source.clone(),
            settings: settings.clone(),
            impostor_comparisons: impostor.len() as u64,
            genuine_comparisons: v.genuine_comparisons,
            impostor: imp.clone(),
            genuine: gen_h.clone(),
        };
        fs_err::write(file, serde_json::to_string(&cal)?)?;
        println!("calibration: {}", file.display());
    }
    if below_minimum {
        eprintln!("pairs accuracy below the required {:.3}%", args.min_pairs_accuracy.unwrap_or(0.0) * 100.0);
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
