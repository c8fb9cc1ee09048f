//! The models directory as the front ends see it: installing a pack, its runtimes and the
//! sample photos (pinned and SHA-256-checked), verifying them, and choosing the default engine
//! family (backend and precision) by rule or by measurement (`families`), with the
//! vocabulary of packs and engines they name.

use std::path::{Path, PathBuf};

pub use gabarit_inference::choice::{FamilyTrial, MeasuredChoice};
pub use gabarit_inference::pack::{BUILTIN_PACKS, DEFAULT_PACK, PACK_NAMES};
pub use gabarit_inference::{Backend, Calibration, EngineFamily, InstallReport, Pack, Precision, SessionOptions};
pub use gabarit_pipeline::DetectorInput;

use gabarit_inference::{install, pack};
use gabarit_media::DecodeLimits;

use crate::{Error, Result};

/// What `verify` found besides the checked hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// Whether this CPU computes bfloat16 natively (OpenVINO's bf16 precision is available).
    pub native_bf16: bool,
}

/// Checks the hash of every installed file: the ONNX Runtime library, `pack`'s models and
/// OpenVINO's libraries; says whether the CPU computes bfloat16 natively.
pub fn verify(models: &Path, pack: &Pack) -> Result<Verified> {
    install::verify_installed(models, &pack::runtime_artifacts()?)?;
    install::verify_installed(models, &pack.artifacts)?;
    install::verify_installed(models, &pack::openvino_artifacts()?)?;
    Ok(Verified { native_bf16: gabarit_inference::openvino::cpu_has_native_bf16(models)? })
}

/// What `install` put in the models directory.
#[derive(Debug, Clone, Default)]
pub struct Installed {
    /// Files written now.
    pub installed: Vec<PathBuf>,
    /// Files already there with the right hash.
    pub present: Vec<PathBuf>,
}

/// Installs the runtimes and `pack`'s models into `models` (each pinned and SHA-256-checked).
/// A pack whose weights' licence restricts their use is installed only when `accepted` names
/// its terms.
pub fn install(models: &Path, pack: &Pack, accepted: Option<&str>) -> Result<Installed> {
    if let Some(terms) = &pack.accept_licence
        && accepted != Some(terms.as_str())
    {
        return Err(Error::LicenceNotAccepted { pack: pack.name.clone(), terms: terms.clone() });
    }
    let python = install::python();
    let mut out = Installed::default();
    for artifacts in [pack::runtime_artifacts()?, pack::openvino_artifacts()?, pack.artifacts.clone()] {
        let report = gabarit_inference::install_artifacts(models, &artifacts, &python)?;
        out.installed.extend(report.installed);
        out.present.extend(report.present);
    }
    Ok(out)
}

/// Installs the sample photos into `dir` (pinned and SHA-256-checked).
pub fn install_samples(dir: &Path) -> Result<InstallReport> {
    Ok(gabarit_inference::install_artifacts(dir, &pack::sample_artifacts()?, &install::python())?)
}

/// The engine family a run uses: the one asked for, else the one `check` measured on this
/// CPU, else the rule's.
pub fn default_family(models: &Path, backend: Option<Backend>, precision: Option<Precision>) -> Result<EngineFamily> {
    Ok(gabarit_inference::preferred_family(models, backend, precision)?)
}

/// Whether the default family was measured here by `check` (rather than ruled).
pub fn default_is_measured(models: &Path) -> Result<bool> {
    Ok(gabarit_inference::choice::recorded_family(models)?.is_some())
}

/// The installed built-in packs.
pub fn installed_packs(models: &Path) -> Result<Vec<Pack>> {
    let mut out = Vec::new();
    for name in BUILTIN_PACKS {
        let pack = Pack::builtin(name)?;
        if gabarit_inference::choice::installed(models, &pack.artifacts) {
            out.push(pack);
        }
    }
    Ok(out)
}

/// Measures every engine family on `photos` with every installed pack (see `families`),
/// records the fastest that passes the parity checks as this CPU's default, and returns the
/// measurements with the record's path. `progress` hears each family as it starts.
pub fn check(
    models: &Path,
    packs: &[Pack],
    photos: &[PathBuf],
    progress: impl FnMut(EngineFamily),
) -> Result<(MeasuredChoice, PathBuf)> {
    let choice = crate::families::measure_families(models, packs, photos, DecodeLimits::default(), progress)?;
    let record = gabarit_inference::choice::record_choice(models, &choice)?;
    Ok((choice, record))
}

/// The image files directly in `dir` (by extension, as ingestion's walk picks them), sorted;
/// none when it does not exist.
pub fn photos_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs_err::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::Io(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(Error::Io)?.path();
        if path.is_file() && gabarit_media::has_image_extension(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}
