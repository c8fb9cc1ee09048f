//! The `models` and `samples` commands: install, verify, measure the engine families.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use gabarit_inference::{Pack, install_artifacts, pack};
use gabarit_media::DecodeLimits;

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
    gabarit_inference::install::verify_installed(models, &pack::runtime_artifacts()?)?;
    gabarit_inference::install::verify_installed(models, &pack.artifacts)?;
    println!("{}: pack {} and ONNX Runtime verified", models.display(), pack.name);
    gabarit_inference::install::verify_installed(models, &pack::openvino_artifacts()?)?;
    let bf16 = gabarit_inference::openvino::cpu_has_native_bf16(models)?;
    println!(
        "OpenVINO verified; this CPU {} bfloat16 natively (--precision bf16 {})",
        if bf16 { "computes" } else { "does not compute" },
        if bf16 { "available" } else { "unavailable" }
    );
    Ok(())
}

/// Measures the engine families on `photos` (default: the images in `samples`) with every
/// installed pack, records the choice and prints the measurements.
pub(crate) fn models_check(models: &Path, photos: Vec<PathBuf>, samples: &Path) -> Result<ExitCode> {
    let photos = if photos.is_empty() { images_in(samples)? } else { photos };
    if photos.is_empty() {
        let chosen = gabarit_inference::preferred_family(models, None, None)?;
        println!(
            "no photos to measure on ({} has none: run `gabarit samples install`, or name photos); \
             default engine by rule: {chosen}",
            samples.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let packs = pack::BUILTIN_PACKS
        .iter()
        .map(|name| Pack::builtin(name))
        .filter(|p| p.as_ref().map_or(true, |p| gabarit_inference::choice::installed(models, &p.artifacts)))
        .collect::<Result<Vec<Pack>, _>>()?;
    let names: Vec<&str> = packs.iter().map(|p| p.name.as_str()).collect();
    eprintln!("measuring on {} photos with {} (one worker, one thread)", photos.len(), names.join(" and "));
    let choice = gabarit_engine::families::measure_families(models, &packs, &photos, DecodeLimits::default(), |f| {
        eprintln!("  {f}…")
    })?;
    let record = gabarit_inference::choice::record_choice(models, &choice)?;
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

/// The image files directly in `dir` (by extension, as ingestion's walk picks them), sorted;
/// none when it does not exist.
pub(crate) fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs_err::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry?.path();
        if path.is_file() && gabarit_media::has_image_extension(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

pub(crate) fn models_install(models: &Path, pack: &Pack, accepted: Option<&str>) -> Result<ExitCode> {
    println!("Model pack {}: {}", pack.name, pack.description);
    println!("Licence of the model weights:{}", pack.licence.trim_end());
    println!();
    if let Some(terms) = &pack.accept_licence
        && accepted != Some(terms.as_str())
    {
        bail!(
            "the weights of pack {} are not installed: their licence (above) restricts their use ({terms}). \
             If your use is within it, accept it with --accept-licence {terms} (or GABARIT_ACCEPT_LICENCE={terms}); \
             otherwise use the default pack, open, whose weights allow commercial use",
            pack.name
        );
    }
    let python = gabarit_inference::install::python();
    let runtime = install_artifacts(models, &pack::runtime_artifacts()?, &python)?;
    let openvino = install_artifacts(models, &pack::openvino_artifacts()?, &python)?;
    let report = install_artifacts(models, &pack.artifacts, &python)?;
    for p in runtime.installed.iter().chain(&openvino.installed).chain(&report.installed) {
        println!("installed {}", p.display());
    }
    for p in runtime.present.iter().chain(&openvino.present).chain(&report.present) {
        println!("present   {}", p.display());
    }
    println!("models directory: {} (SHA-256 verified)", models.display());
    Ok(ExitCode::SUCCESS)
}
