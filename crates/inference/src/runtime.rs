//! ONNX Runtime, loaded dynamically from the installed library, and the model adapters.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gabarit_pipeline::{DetectorKind, DetectorModel, EmbedderModel, FaceEngine, StrideOutput};
use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use crate::install::verify_installed;
use crate::pack::{Pack, runtime_artifacts};
use crate::{Error, Result};

/// The face engine on ONNX Runtime.
pub type OrtFaceEngine = FaceEngine<OrtDetector, OrtEmbedder>;

/// How sessions use the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionOptions {
    /// Intra-op threads per session.
    pub threads: usize,
    /// Whether idle intra-op threads spin. Off by default: on small machines spinning threads
    /// steal the cores that other workers need.
    pub spin: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions { threads: 1, spin: false }
    }
}

static ENVIRONMENT: OnceLock<std::result::Result<Environment, String>> = OnceLock::new();
static VERIFIED: OnceLock<std::result::Result<(), String>> = OnceLock::new();

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

/// Opens the pack's engine from `models_dir`: checks every file's SHA-256 (once per process),
/// loads the runtime, builds one detector and one embedder session.
pub fn open_engine(models_dir: &Path, pack: &Pack, opts: SessionOptions) -> Result<OrtFaceEngine> {
    VERIFIED
        .get_or_init(|| {
            verify_installed(models_dir, &runtime_artifacts().map_err(|e| e.to_string())?)
                .and_then(|()| verify_installed(models_dir, &pack.artifacts))
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Runtime(e.clone()))?;
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
    Ok(FaceEngine::new(detector, embedder, pack.engine.clone()))
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
