//! The `models` and `samples` commands: install, verify, measure the engine families.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use gabarit_engine::models::Pack;

pub(crate) fn models_dir(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    let dirs = directories::ProjectDirs::from("", "", "gabarit")
        .context("cannot determine the user's data directory; pass --models DIR or set GABARIT_MODELS")?;
    Ok(dirs.data_dir().join("models"))
}

/// Checks every installed file's hash (the runtime, `pack`, OpenVINO) and says what the CPU
/// offers.
pub(crate) fn models_verify(models: &Path, pack: &Pack) -> Result<()> {
    let verified = gabarit_engine::models::verify(models, pack)?;
    println!("{}: pack {}, ONNX Runtime and OpenVINO verified", models.display(), pack.name);
    let bf16 = verified.native_bf16;
    println!(
        "this CPU {} bfloat16 natively (--precision bf16 {})",
        if bf16 { "computes" } else { "does not compute" },
        if bf16 { "available" } else { "unavailable" }
    );
    Ok(())
}

/// Measures the engine families on `photos` (default: the images in `samples`) with every
/// installed pack, records the choice and prints the measurements.
pub(crate) fn models_check(models: &Path, photos: Vec<PathBuf>, samples: &Path) -> Result<ExitCode> {
    let photos = if photos.is_empty() { gabarit_engine::models::photos_in(samples)? } else { photos };
    if photos.is_empty() {
        let chosen = gabarit_engine::models::default_family(models, None, None)?;
        println!(
            "no photos to measure on ({} has none: run `gabarit samples install`, or name photos); \
             default engine by rule: {chosen}",
            samples.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let packs = gabarit_engine::models::installed_packs(models)?;
    let names: Vec<&str> = packs.iter().map(|p| p.name.as_str()).collect();
    eprintln!("measuring on {} photos with {} (one worker, one thread)", photos.len(), names.join(" and "));
    let (choice, record) = gabarit_engine::models::check(models, &packs, &photos, |f| eprintln!("  {f}…"))?;
    println!("{:<15} {:>6} {:>11} {:>12} {:>9}  parity", "engine", "faces", "worst box", "worst cosine", "ms/photo");
    for t in &choice.trials {
        let parity = match &t.failure {
            None if t.family == "ort/f32" => "reference".to_string(),
            None => "passes".to_string(),
            Some(why) => format!("fails: {why}"),
        };
        println!(
            "{:<15} {:>6} {:>8.3} px {:>12.5} {:>9.1}  {parity}",
            t.family, t.faces, t.worst_box_px, t.worst_cosine, t.ms_per_photo
        );
    }
    println!(
        "default engine: {} (the fastest that passes; recorded in {} for this CPU: {})",
        choice.family,
        record.display(),
        choice.cpu
    );
    Ok(ExitCode::SUCCESS)
}

/// Installs the runtimes and `pack`'s models, after showing the weights' licence.
pub(crate) fn models_install(models: &Path, pack: &Pack, accepted: Option<&str>) -> Result<ExitCode> {
    println!("Model pack {}: {}", pack.name, pack.description);
    println!("Licence of the model weights:{}", pack.licence.trim_end());
    println!();
    let report = gabarit_engine::models::install(models, pack, accepted)?;
    for p in &report.installed {
        println!("installed {}", p.display());
    }
    for p in &report.present {
        println!("present   {}", p.display());
    }
    println!("models directory: {} (SHA-256 verified)", models.display());
    Ok(ExitCode::SUCCESS)
}

/// `models verify`: the hashes, what the CPU offers, and the default engine family.
pub(crate) fn verify_command(models: &Path, pack: &Pack) -> Result<ExitCode> {
    models_verify(models, pack)?;
    let chosen = gabarit_engine::models::default_family(models, None, None)?;
    let how = if gabarit_engine::models::default_is_measured(models)? {
        "measured here by `gabarit models check`"
    } else {
        "by rule: OpenVINO where installed, bf16 where native; `gabarit models check` measures"
    };
    println!(
        "default engine: {chosen} ({how}; --backend/--precision or GABARIT_BACKEND/GABARIT_PRECISION \
             choose another; ingestion into a collection uses the collection's)"
    );
    Ok(ExitCode::SUCCESS)
}

/// `samples install`: the sample photos into `dir` (default: beside the models directory).
pub(crate) fn samples_install(models: &Path, dir: Option<PathBuf>) -> Result<ExitCode> {
    let dir = match dir {
        Some(d) => d,
        None => models.parent().unwrap_or(models).join("samples"),
    };
    let report = gabarit_engine::models::install_samples(&dir)?;
    println!(
        "samples in {}: {} installed, {} already present",
        dir.display(),
        report.installed.len(),
        report.present.len()
    );
    Ok(ExitCode::SUCCESS)
}
