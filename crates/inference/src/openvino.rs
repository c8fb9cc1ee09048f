//! OpenVINO on the CPU, loaded at run time from the installed libraries (the `openvino` wheel's
//! C API, core, CPU plugin, ONNX front end and oneTBB), running the packs' ONNX files as they
//! are: the second backend behind the pipeline's model traits.
//!
//! Each engine has its own `Core`, configured before its two models are compiled: one stream,
//! the session's thread count, no CPU pinning (two worker processes, or two workers of one
//! process, would otherwise share one core), and the inference precision asked for — f32, or
//! bf16 where the CPU computes it natively (OpenVINO would otherwise pick bf16 by itself on a
//! CPU with AMX). The detector is compiled once with the model's dynamic input and adds static
//! compilations of the first few input sizes it meets often (see [`OvDetector`]).

use std::path::Path;
use std::sync::OnceLock;

use gabarit_pipeline::{DetectorKind, DetectorModel, EmbedderModel, StrideOutput};
use openvino::{CompiledModel, Core, DeviceType, ElementType, InferRequest, Model, RwPropertyKey, Shape, Tensor};

use crate::pack::{Pack, openvino_artifacts};
use crate::repair;
use crate::runtime::{Precision, SessionOptions};
use crate::{Error, Result};

static LOADED: OnceLock<std::result::Result<(), String>> = OnceLock::new();

/// Loads OpenVINO's C API from `models_dir` once per process.
fn load(models_dir: &Path) -> Result<()> {
    LOADED
        .get_or_init(|| {
            let artifacts = openvino_artifacts().map_err(|e| e.to_string())?;
            let file = artifacts.first().map(|a| a.file.clone()).unwrap_or_default();
            let lib = models_dir.join(file);
            if !lib.is_file() {
                return Err(Error::NotInstalled { path: lib, dir: models_dir.to_path_buf() }.to_string());
            }
            openvino_sys::library::load_from(lib.clone()).map_err(|e| format!("cannot load {}: {e}", lib.display()))
        })
        .clone()
        .map_err(Error::OpenVino)
}

fn ov_err(context: &Path) -> impl Fn(openvino::InferenceError) -> Error + '_ {
    move |e| Error::OpenVino(format!("{}: {e}", context.display()))
}

/// A `Core` set up for one engine: CPU, one stream, `opts.threads` threads, no pinning, the
/// precision asked for.
fn configured_core(models_dir: &Path, opts: SessionOptions) -> Result<Core> {
    load(models_dir)?;
    let mut core = Core::new().map_err(|e| Error::OpenVino(e.to_string()))?;
    let threads = opts.threads.max(1).to_string();
    let precision = match opts.precision {
        Precision::F32 => "f32",
        Precision::Bf16 => "bf16",
    };
    let err = ov_err(models_dir);
    for (key, value) in [
        (RwPropertyKey::NumStreams, "1"),
        (RwPropertyKey::InferenceNumThreads, threads.as_str()),
        (RwPropertyKey::HintEnableCpuPinning, "NO"),
        (RwPropertyKey::HintPerformanceMode, "LATENCY"),
        (RwPropertyKey::HintInferencePrecision, precision),
    ] {
        core.set_property(&DeviceType::CPU, &key, value).map_err(&err)?;
    }
    Ok(core)
}

/// Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX), as OpenVINO's CPU plugin
/// reports it; bf16 elsewhere would be emulated, slower than f32.
pub fn cpu_has_native_bf16(models_dir: &Path) -> Result<bool> {
    load(models_dir)?;
    let core = Core::new().map_err(|e| Error::OpenVino(e.to_string()))?;
    let caps =
        core.get_property(&DeviceType::CPU, &openvino::PropertyKey::DeviceCapabilities).map_err(ov_err(models_dir))?;
    Ok(caps.split([' ', ',']).any(|c| c.eq_ignore_ascii_case("BF16")))
}

/// Opens the pack's detector and embedder on OpenVINO (the files already verified).
pub(crate) fn open(models_dir: &Path, pack: &Pack, opts: SessionOptions) -> Result<(OvDetector, OvEmbedder)> {
    let detector_path = models_dir.join(&pack.detector_file);
    let embedder_path = models_dir.join(&pack.embedder_file);
    // The detector always computes in f32: in bf16 its scores and landmarks move enough to
    // change which faces pass the threshold and how they are aligned (measured on the sample
    // photos: a face more or fewer, templates down to cosine 0.89 against f32).
    let mut core = configured_core(models_dir, SessionOptions { precision: Precision::F32, ..opts })?;
    let mut embedder_core = configured_core(models_dir, opts)?;
    let detector_model = read(&mut core, &detector_path)?;
    let dynamic = core.compile_model(&detector_model, DeviceType::CPU).map_err(ov_err(&detector_path))?;
    let kinds = match pack.engine.detector.kind {
        DetectorKind::Scrfd => 3,
        DetectorKind::Yunet => 4,
    };
    let outputs = dynamic.get_output_size().map_err(ov_err(&detector_path))?;
    if outputs != kinds * pack.engine.detector.strides.len() {
        return Err(Error::OpenVino(format!(
            "{}: expected {} outputs, found {outputs}",
            detector_path.display(),
            kinds * pack.engine.detector.strides.len()
        )));
    }
    let embedder_model = read(&mut embedder_core, &embedder_path)?;
    let mut embedder = embedder_core.compile_model(&embedder_model, DeviceType::CPU).map_err(ov_err(&embedder_path))?;
    let embedder_request = embedder.create_infer_request().map_err(ov_err(&embedder_path))?;
    let mut detector = OvDetector {
        core,
        path: detector_path,
        model: detector_model,
        dynamic: None,
        sized: Vec::new(),
        strides: pack.engine.detector.strides.clone(),
        kind: pack.engine.detector.kind,
    };
    detector.dynamic = Some(Compiled::new(dynamic, &detector.path)?);
    Ok((
        detector,
        OvEmbedder {
            _core: embedder_core,
            _compiled: embedder,
            request: embedder_request,
            size: pack.engine.embedder.size as usize,
        },
    ))
}

/// Reads an ONNX model; block-quantised weights, which OpenVINO's ONNX reader refuses, are
/// dequantised in memory first ([`crate::repair::Rewrite::FoldDequantize`]: the values ONNX Runtime computes).
fn read(core: &mut Core, path: &Path) -> Result<Model> {
    let bytes = fs_err::read(path).map_err(|e| Error::OpenVino(e.to_string()))?;
    let bytes = repair::dequantized(&bytes).map_err(|e| Error::OpenVino(format!("{}: {e}", path.display())))?;
    core.read_model_from_buffer(&bytes, None).map_err(ov_err(path))
}

/// A compiled model and its one inference request.
struct Compiled {
    _model: CompiledModel,
    request: InferRequest,
}

impl Compiled {
    fn new(mut model: CompiledModel, path: &Path) -> Result<Compiled> {
        let request = model.create_infer_request().map_err(ov_err(path))?;
        Ok(Compiled { _model: model, request })
    }
}

/// How many static input sizes a detector compiles, at most, in its lifetime.
const SIZED_CAPACITY: usize = 8;
/// How many times an input size must be met before it gets its own static compilation: a
/// compilation costs about as much as 30 to 200 inferences save (measured: 640×640 runs 3 ms
/// faster static, 256×256 0.8 ms), so only sizes met often earn one.
const SIZED_AFTER: u32 = 32;
/// How many distinct sizes are counted (the sizes met least recently are forgotten).
const COUNTED: usize = 64;

/// A detector on OpenVINO. The adaptive input gives the detector many sizes; a dynamic
/// compilation serves them all, and a size met [`SIZED_AFTER`] times gets a static
/// compilation of its own, which the CPU plugin runs faster (LFW photos, all 256×256: 3.9 ms
/// per photo against 4.7). Static compilations are never evicted: at most
/// [`SIZED_CAPACITY`] are made, so photos of more sizes than that, in turn, cost no
/// recompilation (evicting least recently used ones cost 100 ms and more each time, and
/// made seven sizes in turn run at two thirds of the dynamic speed).
pub struct OvDetector {
    core: Core,
    path: std::path::PathBuf,
    model: Model,
    dynamic: Option<Compiled>,
    /// Sizes met, with their use count and, once frequent, their compilation; most recent last.
    sized: Vec<((usize, usize), u32, Option<Compiled>)>,
    strides: Vec<u32>,
    kind: DetectorKind,
}

impl OvDetector {
    fn request(&mut self, height: usize, width: usize) -> Result<&mut InferRequest> {
        let key = (height, width);
        let at = match self.sized.iter().position(|(k, _, _)| *k == key) {
            Some(i) => {
                let entry = self.sized.remove(i);
                self.sized.push(entry);
                self.sized.len() - 1
            }
            None => {
                if self.sized.len() >= COUNTED
                    && let Some(forgotten) = self.sized.iter().position(|e| e.2.is_none())
                {
                    self.sized.remove(forgotten);
                }
                self.sized.push((key, 0, None));
                self.sized.len() - 1
            }
        };
        self.sized[at].1 = self.sized[at].1.saturating_add(1);
        let compiled = self.sized.iter().filter(|e| e.2.is_some()).count();
        if self.sized[at].2.is_none() && self.sized[at].1 >= SIZED_AFTER && compiled < SIZED_CAPACITY {
            let dims = [1, 3, height as i64, width as i64];
            let shape = openvino::PartialShape::new_static(4, &dims).map_err(ov_err(&self.path))?;
            self.model.reshape_single_input(&shape).map_err(ov_err(&self.path))?;
            let compiled = self.core.compile_model(&self.model, DeviceType::CPU).map_err(ov_err(&self.path))?;
            self.sized[at].2 = Some(Compiled::new(compiled, &self.path)?);
        }
        match (&mut self.sized[at].2, &mut self.dynamic) {
            (Some(c), _) | (None, Some(c)) => Ok(&mut c.request),
            (None, None) => Err(Error::OpenVino(format!("{}: not compiled", self.path.display()))),
        }
    }
}

fn model_err(model: &'static str) -> impl Fn(Error) -> gabarit_pipeline::Error {
    move |e| gabarit_pipeline::Error::Model { model, detail: e.to_string() }
}

fn infer(request: &mut InferRequest, shape: &[i64], input: &[f32], path: &Path) -> Result<()> {
    let err = ov_err(path);
    let mut tensor = Tensor::new(ElementType::F32, &Shape::new(shape).map_err(&err)?).map_err(&err)?;
    let data = tensor.get_data_mut::<f32>().map_err(&err)?;
    if data.len() != input.len() {
        return Err(Error::OpenVino(format!(
            "{}: input of {} values for a tensor of {}",
            path.display(),
            input.len(),
            data.len()
        )));
    }
    data.copy_from_slice(input);
    request.set_input_tensor(&tensor).map_err(&err)?;
    request.infer().map_err(&err)
}

fn output(request: &InferRequest, i: usize, path: &Path) -> Result<Vec<f32>> {
    let err = ov_err(path);
    let tensor = request.get_output_tensor_by_index(i).map_err(&err)?;
    if tensor.get_size().map_err(&err)? == 0 {
        return Ok(Vec::new());
    }
    Ok(tensor.get_data::<f32>().map_err(&err)?.to_vec())
}

impl DetectorModel for OvDetector {
    fn run(&mut self, input: &[f32], height: usize, width: usize) -> gabarit_pipeline::Result<Vec<StrideOutput>> {
        let err = model_err("detector");
        let path = self.path.clone();
        let strides = self.strides.clone();
        let kinds = match self.kind {
            DetectorKind::Scrfd => 3,
            DetectorKind::Yunet => 4,
        };
        let request = self.request(height, width).map_err(&err)?;
        infer(request, &[1, 3, height as i64, width as i64], input, &path).map_err(&err)?;
        let n = strides.len();
        let take = |i: usize| output(request, i, &path).map_err(&err);
        (0..n)
            .map(|i| {
                let objectness = if kinds == 4 { take(n + i)? } else { Vec::new() };
                Ok(StrideOutput {
                    stride: strides[i],
                    scores: take(i)?,
                    objectness,
                    boxes: take((kinds - 2) * n + i)?,
                    landmarks: take((kinds - 1) * n + i)?,
                })
            })
            .collect()
    }
}

/// An embedder on OpenVINO: one compilation with the model's dynamic batch.
pub struct OvEmbedder {
    _core: Core,
    _compiled: CompiledModel,
    request: InferRequest,
    size: usize,
}

impl EmbedderModel for OvEmbedder {
    fn run(&mut self, input: &[f32], n: usize) -> gabarit_pipeline::Result<Vec<f32>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let err = model_err("embedder");
        let path = Path::new("embedder");
        let s = self.size as i64;
        infer(&mut self.request, &[n as i64, 3, s, s], input, path).map_err(&err)?;
        output(&self.request, 0, path).map_err(&err)
    }

    /// MobileFaceNet on this plugin, one thread, ms per face (AVX-512 BF16 CPU without AMX):
    /// bf16 9.0 one face per call, 8.0 by 4, 8.2 by 8; f32 12.0, 11.9, 12.7. Gathering the
    /// faces of portraits (one face each) up to 8 ran the LFW photos 2.6% faster in bf16
    /// (`gabarit-bench`, 2 workers, median of six paired runs); group photos, with several
    /// faces each, gained nothing from gathering more. (Static compilations per batch size ran no faster than the
    /// dynamic batch, and cost 150 ms each.)
    fn faces_worth_gathering(&self) -> usize {
        8
    }
}
