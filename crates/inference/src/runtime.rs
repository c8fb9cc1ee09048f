//! The backends that run a pack's networks — ONNX Runtime, loaded dynamically from the
//! installed library, with its model adapters here, and OpenVINO ([`crate::openvino`]) — and
//! [`open_engine`], which opens a pack's engine on the one the session options name.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use gabarit_pipeline::{DetectorKind, DetectorModel, EmbedderModel, FaceEngine, StrideOutput};
use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use crate::install::{Artifact, verify_installed};
use crate::openvino::{OvDetector, OvEmbedder};
use crate::pack::{Pack, openvino_artifacts, runtime_artifacts};
use crate::{Error, Result};

/// A pack's face engine on one of the backends.
pub type LoadedFaceEngine = FaceEngine<Detector, Embedder>;

/// The runtime that runs the networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Backend {
    /// ONNX Runtime's CPU provider.
    Ort,
    /// OpenVINO's CPU plugin.
    OpenVino,
}

impl Backend {
    /// The name used by flags, the environment and the data directory.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Ort => "ort",
            Backend::OpenVino => "openvino",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "ort" => Ok(Backend::Ort),
            "openvino" => Ok(Backend::OpenVino),
            _ => Err(format!("unknown backend {s:?}: use ort or openvino")),
        }
    }
}

/// The arithmetic the networks run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Precision {
    /// 32-bit floats, as the models were trained.
    F32,
    /// bfloat16 (8-bit mantissa) where the CPU computes it natively (AVX-512 BF16, AMX);
    /// OpenVINO only.
    Bf16,
}

impl Precision {
    /// The name used by flags, the environment and the data directory.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            _ => Err(format!("unknown precision {s:?}: use f32 or bf16")),
        }
    }
}

/// The backend and precision that make a collection's templates: recorded with each collection
/// so that all of its templates come from one of them (`ort/f32`, `openvino/f32`,
/// `openvino/bf16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EngineFamily {
    /// The runtime.
    pub backend: Backend,
    /// The arithmetic.
    pub precision: Precision,
}

impl EngineFamily {
    /// ONNX Runtime in f32: what made every template before families were recorded.
    pub const ORT_F32: EngineFamily = EngineFamily { backend: Backend::Ort, precision: Precision::F32 };
}

impl std::fmt::Display for EngineFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.backend, self.precision)
    }
}

impl std::str::FromStr for EngineFamily {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (backend, precision) =
            s.split_once('/').ok_or_else(|| format!("{s:?} is not an engine family such as ort/f32"))?;
        Ok(EngineFamily { backend: backend.parse()?, precision: precision.parse()? })
    }
}

/// The family that makes templates fastest here among those whose templates pass the parity
/// check against ONNX Runtime f32 (cosine ≥ 0.999 in f32, ≥ 0.99 in bf16, boxes within 0.5 px),
/// given what the caller fixed. When nothing is fixed and `gabarit models check` measured the
/// families on this CPU ([`crate::choice`]), its choice. Otherwise the rule those measurements
/// gave on this project's machines (README, "Backends"): OpenVINO when its libraries are
/// installed in `models_dir`, in bf16 where the CPU computes it natively, else f32; ONNX
/// Runtime otherwise.
pub fn preferred_family(
    models_dir: &Path,
    backend: Option<Backend>,
    precision: Option<Precision>,
) -> Result<EngineFamily> {
    if backend.is_none()
        && precision.is_none()
        && let Some(measured) = crate::choice::recorded_family(models_dir)?
    {
        return Ok(measured);
    }
    let openvino_installed = || crate::choice::openvino_installed(models_dir);
    let backend = match (backend, precision) {
        (Some(b), _) => b,
        (None, Some(Precision::Bf16)) => Backend::OpenVino,
        (None, _) if openvino_installed() => Backend::OpenVino,
        (None, _) => Backend::Ort,
    };
    let precision = match (backend, precision) {
        (_, Some(p)) => p,
        (Backend::Ort, None) => Precision::F32,
        (Backend::OpenVino, None) => {
            if crate::openvino::cpu_has_native_bf16(models_dir)? {
                Precision::Bf16
            } else {
                Precision::F32
            }
        }
    };
    Ok(EngineFamily { backend, precision })
}

/// How sessions use the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Intra-op threads per session.
    pub threads: usize,
    /// Whether idle intra-op threads spin (ONNX Runtime). Off by default: on small machines
    /// spinning threads steal the cores that other workers need.
    pub spin: bool,
    /// The runtime.
    pub backend: Backend,
    /// The arithmetic.
    pub precision: Precision,
}

impl SessionOptions {
    /// The family of the templates these sessions make.
    pub fn family(&self) -> EngineFamily {
        EngineFamily { backend: self.backend, precision: self.precision }
    }
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions { threads: 1, spin: false, backend: Backend::Ort, precision: Precision::F32 }
    }
}

static ENVIRONMENT: OnceLock<std::result::Result<Environment, String>> = OnceLock::new();
/// The files whose SHA-256 this process has checked.
static VERIFIED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Checks the SHA-256 of each artifact not yet checked by this process.
fn verify_once(models_dir: &Path, artifacts: &[Artifact]) -> Result<()> {
    let mut verified = VERIFIED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let new: Vec<Artifact> =
        artifacts.iter().filter(|a| !verified.contains(&models_dir.join(&a.file))).cloned().collect();
    verify_installed(models_dir, &new)?;
    verified.extend(new.iter().map(|a| models_dir.join(&a.file)));
    Ok(())
}

/// The runtime library's path in a models directory.
pub fn runtime_library(models_dir: &Path) -> Result<PathBuf> {
    let artifacts = runtime_artifacts()?;
    let file = artifacts.first().map(|a| a.file.clone()).unwrap_or_default();
    Ok(models_dir.join(file))
}

/// Loads ONNX Runtime from `models_dir` once per process.
fn environment(models_dir: &Path) -> Result<&'static Environment> {
    let env = ENVIRONMENT.get_or_init(|| {
        let lib = runtime_library(models_dir).map_err(|e| e.to_string())?;
        if !lib.is_file() {
            return Err(Error::NotInstalled { path: lib, dir: models_dir.to_path_buf() }.to_string());
        }
        ort::init_from(&lib)
            .map_err(|e| format!("cannot load {}: {e}", lib.display()))?
            .with_name("gabarit")
            .build()
            .map_err(|e| e.to_string())
    });
    env.as_ref().map_err(|e| Error::Runtime(e.clone()))
}

fn session(env: &Environment, model: &Path, opts: SessionOptions, dequantize_at_load: bool) -> Result<Session> {
    let err = |e: ort::Error<_>| Error::Runtime(format!("{}: {e}", model.display()));
    Session::builder(env)
        .map_err(|e| Error::Runtime(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(err)?
        .with_quant_qdq(!dequantize_at_load)
        .map_err(err)?
        .with_intra_threads(opts.threads.max(1))
        .map_err(err)?
        .with_inter_threads(1)
        .map_err(err)?
        .with_intra_op_spinning(opts.spin)
        .map_err(err)?
        .commit_from_file(model)
        .map_err(|e| Error::Runtime(format!("{}: {e}", model.display())))
}

/// Opens the pack's engine from `models_dir` on the backend `opts` names: checks the SHA-256
/// of the backend's and the pack's files (once per process), loads the runtime, builds one
/// detector and one embedder.
pub fn open_engine(models_dir: &Path, pack: &Pack, opts: SessionOptions) -> Result<LoadedFaceEngine> {
    let (detector, embedder) = match opts.backend {
        Backend::Ort => {
            if opts.precision != Precision::F32 {
                return Err(Error::Unsupported(format!(
                    "ONNX Runtime's CPU provider runs f32 only, not {}: use --backend openvino for {0}",
                    opts.precision
                )));
            }
            verify_once(models_dir, &runtime_artifacts()?)?;
            verify_once(models_dir, &pack.artifacts)?;
            let env = environment(models_dir)?;
            let detector = OrtDetector {
                session: session(env, &models_dir.join(&pack.detector_file), opts, pack.dequantize_at_load)?,
                strides: pack.engine.detector.strides.clone(),
                kind: pack.engine.detector.kind,
            };
            let embedder = OrtEmbedder {
                session: session(env, &models_dir.join(&pack.embedder_file), opts, pack.dequantize_at_load)?,
                size: pack.engine.embedder.size as usize,
            };
            (Detector::Ort(detector), Embedder::Ort(embedder))
        }
        Backend::OpenVino => {
            verify_once(models_dir, &openvino_artifacts()?)?;
            verify_once(models_dir, &pack.artifacts)?;
            let (detector, embedder) = crate::openvino::open(models_dir, pack, opts)?;
            (Detector::OpenVino(detector), Embedder::OpenVino(embedder))
        }
    };
    Ok(FaceEngine::new(detector, embedder, pack.engine.clone()))
}

/// A detector on one of the backends.
pub enum Detector {
    /// On ONNX Runtime.
    Ort(OrtDetector),
    /// On OpenVINO.
    OpenVino(OvDetector),
}

impl DetectorModel for Detector {
    fn run(&mut self, input: &[f32], height: usize, width: usize) -> gabarit_pipeline::Result<Vec<StrideOutput>> {
        match self {
            Detector::Ort(d) => d.run(input, height, width),
            Detector::OpenVino(d) => d.run(input, height, width),
        }
    }
}

/// An embedder on one of the backends.
pub enum Embedder {
    /// On ONNX Runtime.
    Ort(OrtEmbedder),
    /// On OpenVINO.
    OpenVino(OvEmbedder),
}

impl EmbedderModel for Embedder {
    fn run(&mut self, input: &[f32], n: usize) -> gabarit_pipeline::Result<Vec<f32>> {
        match self {
            Embedder::Ort(e) => e.run(input, n),
            Embedder::OpenVino(e) => e.run(input, n),
        }
    }

    fn faces_worth_gathering(&self) -> usize {
        match self {
            Embedder::Ort(e) => e.faces_worth_gathering(),
            Embedder::OpenVino(e) => e.faces_worth_gathering(),
        }
    }
}

fn model_err(model: &'static str) -> impl Fn(ort::Error) -> gabarit_pipeline::Error {
    move |e| gabarit_pipeline::Error::Model { model, detail: e.to_string() }
}

/// A detector on ONNX Runtime. Its outputs come grouped by kind, each kind once per stride:
/// SCRFD's scores, boxes, landmarks; YuNet's class scores, objectness, boxes, landmarks.
pub struct OrtDetector {
    session: Session,
    strides: Vec<u32>,
    kind: DetectorKind,
}

impl DetectorModel for OrtDetector {
    fn run(&mut self, input: &[f32], height: usize, width: usize) -> gabarit_pipeline::Result<Vec<StrideOutput>> {
        let err = model_err("detector");
        let tensor = TensorRef::from_array_view(([1usize, 3, height, width], input)).map_err(&err)?;
        let outputs = self.session.run(ort::inputs![tensor]).map_err(&err)?;
        let n = self.strides.len();
        let kinds = match self.kind {
            DetectorKind::Scrfd => 3,
            DetectorKind::Yunet => 4,
        };
        if outputs.len() != kinds * n {
            return Err(gabarit_pipeline::Error::Model {
                model: "detector",
                detail: format!("expected {} outputs, got {}", kinds * n, outputs.len()),
            });
        }
        let take = |i: usize| -> gabarit_pipeline::Result<Vec<f32>> {
            let (_, data) = outputs[i].try_extract_tensor::<f32>().map_err(&err)?;
            Ok(data.to_vec())
        };
        (0..n)
            .map(|i| {
                let objectness = if kinds == 4 { take(n + i)? } else { Vec::new() };
                Ok(StrideOutput {
                    stride: self.strides[i],
                    scores: take(i)?,
                    objectness,
                    boxes: take((kinds - 2) * n + i)?,
                    landmarks: take((kinds - 1) * n + i)?,
                })
            })
            .collect()
    }
}

/// An embedder (ArcFace, SFace) on ONNX Runtime.
pub struct OrtEmbedder {
    session: Session,
    size: usize,
}

impl EmbedderModel for OrtEmbedder {
    fn run(&mut self, input: &[f32], n: usize) -> gabarit_pipeline::Result<Vec<f32>> {
        let err = model_err("embedder");
        let tensor = TensorRef::from_array_view(([n, 3, self.size, self.size], input)).map_err(&err)?;
        let outputs = self.session.run(ort::inputs![tensor]).map_err(&err)?;
        let (_, data) = outputs[0].try_extract_tensor::<f32>().map_err(&err)?;
        Ok(data.to_vec())
    }
}
