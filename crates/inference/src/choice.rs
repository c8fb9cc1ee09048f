//! The engine family measured best on this machine: `gabarit models check` times each family
//! the machine offers on photos and checks its templates against ONNX Runtime f32 (see
//! `gabarit_engine::families`); the fastest that passes is recorded here, in
//! `engine-choice.json` of the models directory, with the CPU it was measured on. Where no
//! record exists, or it was made on another CPU, or its family is no longer available,
//! [`crate::preferred_family`] applies its rule instead.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::install::Artifact;
use crate::pack::openvino_artifacts;
use crate::runtime::{Backend, EngineFamily, Precision};
use crate::{Error, Result};

/// File name of the record in the models directory.
pub const CHOICE_FILE: &str = "engine-choice.json";

/// One family's measurement, as recorded (for `models check` to show and for the reader).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FamilyTrial {
    /// The family, such as `openvino/bf16`.
    pub family: String,
    /// Faces compared with ONNX Runtime f32's (summed over the packs measured).
    pub faces: usize,
    /// Largest difference of a box coordinate from ONNX Runtime f32's, in pixels.
    pub worst_box_px: f32,
    /// Lowest cosine between a template and ONNX Runtime f32's of the same face.
    pub worst_cosine: f32,
    /// Wall time per photo on one thread (the best of the timed passes, summed over packs).
    pub ms_per_photo: f64,
    /// Why the family fails the parity check (`None`: it passes).
    pub failure: Option<String>,
}

/// What `gabarit models check` measured and chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasuredChoice {
    /// The CPU measured on ([`cpu_model`]).
    pub cpu: String,
    /// The packs measured.
    pub packs: Vec<String>,
    /// Photos per pass.
    pub photos: usize,
    /// The fastest family that passed.
    pub family: String,
    /// Every family measured, ONNX Runtime f32 (the reference) first.
    pub trials: Vec<FamilyTrial>,
}

impl MeasuredChoice {
    /// The chosen family.
    pub fn chosen(&self) -> Result<EngineFamily> {
        self.family.parse().map_err(|e: String| Error::Unsupported(e))
    }
}

/// The CPU's model name (`/proc/cpuinfo`), or the architecture where it cannot be read.
pub fn cpu_model() -> String {
    fs_err::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string())
            })
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Whether every file of `artifacts` is present in `models_dir` (hashes are checked when
/// they are loaded).
pub fn installed(models_dir: &Path, artifacts: &[Artifact]) -> bool {
    artifacts.iter().all(|a| models_dir.join(&a.file).is_file())
}

/// Whether OpenVINO's libraries are installed in `models_dir`.
pub fn openvino_installed(models_dir: &Path) -> bool {
    openvino_artifacts().is_ok_and(|a| installed(models_dir, &a))
}

/// The families this machine can run with what is installed: ONNX Runtime f32; OpenVINO f32
/// where its libraries are installed, and bf16 too where the CPU computes it natively.
pub fn available_families(models_dir: &Path) -> Result<Vec<EngineFamily>> {
    let mut out = vec![EngineFamily { backend: Backend::Ort, precision: Precision::F32 }];
    if openvino_installed(models_dir) {
        out.push(EngineFamily { backend: Backend::OpenVino, precision: Precision::F32 });
        if crate::openvino::cpu_has_native_bf16(models_dir)? {
            out.push(EngineFamily { backend: Backend::OpenVino, precision: Precision::Bf16 });
        }
    }
    Ok(out)
}

fn record_path(models_dir: &Path) -> PathBuf {
    models_dir.join(CHOICE_FILE)
}

/// Writes the record (mode 0600, replacing any earlier one atomically).
pub fn record_choice(models_dir: &Path, choice: &MeasuredChoice) -> Result<PathBuf> {
    let path = record_path(models_dir);
    let tmp = models_dir.join(format!(".{CHOICE_FILE}.tmp"));
    let text = serde_json::to_string_pretty(choice).map_err(|e| Error::Unsupported(e.to_string()))?;
    let mut options = fs_err::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use fs_err::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    fs_err::rename(&tmp, &path)?;
    Ok(path)
}

/// The record, if `models check` wrote one; an unreadable or malformed record is an error
/// naming the file (run `gabarit models check` again or delete it).
pub fn read_choice(models_dir: &Path) -> Result<Option<MeasuredChoice>> {
    let path = record_path(models_dir);
    let text = match fs_err::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::ChoiceRecord { path, detail: e.to_string() }),
    };
    let choice: MeasuredChoice =
        serde_json::from_slice(&text).map_err(|e| Error::ChoiceRecord { path: path.clone(), detail: e.to_string() })?;
    choice.chosen().map_err(|e| Error::ChoiceRecord { path, detail: e.to_string() })?;
    Ok(Some(choice))
}

/// The recorded family, when it was measured on this CPU and is still available here.
pub fn recorded_family(models_dir: &Path) -> Result<Option<EngineFamily>> {
    let Some(choice) = read_choice(models_dir)? else {
        return Ok(None);
    };
    if choice.cpu != cpu_model() {
        return Ok(None);
    }
    let family = choice.chosen()?;
    Ok(is_available(models_dir, family)?.then_some(family))
}

/// Whether `family` runs here, finding out no more than it needs: OpenVINO's libraries are
/// loaded (to ask the CPU plugin about bfloat16) only for a bf16 family, so that a command
/// whose recorded choice is ONNX Runtime does not pay OpenVINO's start-up.
pub fn is_available(models_dir: &Path, family: EngineFamily) -> Result<bool> {
    Ok(match (family.backend, family.precision) {
        (Backend::Ort, Precision::F32) => true,
        (Backend::Ort, Precision::Bf16) => false,
        (Backend::OpenVino, Precision::F32) => openvino_installed(models_dir),
        (Backend::OpenVino, Precision::Bf16) => {
            openvino_installed(models_dir) && crate::openvino::cpu_has_native_bf16(models_dir)?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without OpenVINO installed, only ONNX Runtime f32 runs, and finding that out loads
    /// nothing (an OpenVINO load would fail here: its libraries are absent).
    #[test]
    fn availability_of_each_family_without_openvino() {
        let dir = tempfile::tempdir().unwrap();
        let families = [
            EngineFamily { backend: Backend::Ort, precision: Precision::F32 },
            EngineFamily { backend: Backend::Ort, precision: Precision::Bf16 },
            EngineFamily { backend: Backend::OpenVino, precision: Precision::F32 },
            EngineFamily { backend: Backend::OpenVino, precision: Precision::Bf16 },
        ];
        let available: Vec<bool> = families.iter().map(|f| is_available(dir.path(), *f).unwrap()).collect();
        assert_eq!(available, [true, false, false, false]);
        let listed = available_families(dir.path()).unwrap();
        for (f, a) in families.iter().zip(&available) {
            assert_eq!(listed.contains(f), *a, "{f}");
        }
    }
}
