//! The flags of the face engine (backend, precision, detector input, limits) and of the
//! commands that run it on photos alone: `faces`, `compare`, `eval`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use gabarit_engine::faces::DecodeLimits;
use gabarit_engine::models::DetectorInput;
use gabarit_engine::models::{Backend, EngineFamily, Precision};

#[derive(Args)]
pub(crate) struct EvalArgs {
    /// Folder of identity folders.
    pub(crate) dataset: PathBuf,
    /// LFW-style pairs file for k-fold accuracy.
    #[arg(long)]
    pub(crate) pairs: Option<PathBuf>,
    /// Folder of distractor photos added to the identification gallery.
    #[arg(long)]
    pub(crate) distractors: Option<PathBuf>,
    /// CSV `image,group` for per-group figures.
    #[arg(long)]
    pub(crate) groups: Option<PathBuf>,
    /// Where to write report.json and report.html.
    #[arg(long, default_value = "gabarit-eval")]
    pub(crate) out: PathBuf,
    /// Largest number of impostor pairs (a seeded sample above it).
    #[arg(long, default_value_t = 20_000_000)]
    pub(crate) max_impostor_pairs: usize,
    /// Seed of the impostor sample.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Which face stands for a photo with several.
    #[arg(long, value_enum, default_value = "central")]
    pub(crate) face: FaceChoiceArg,
    /// Mirror-average templates (overrides the pack).
    #[arg(long)]
    pub(crate) flip: Option<bool>,
    /// Template cache (default: under the models directory's parent, per settings).
    #[arg(long)]
    pub(crate) cache: Option<PathBuf>,
    /// Compare int8-quantised templates, as the index stores them.
    #[arg(long)]
    pub(crate) quantize: bool,
    /// Folder of the dataset that is not an identity (repeatable).
    #[arg(long, value_name = "NAME")]
    pub(crate) skip_folder: Vec<String>,
    /// Write the impostor score distribution to this calibration file.
    #[arg(long, value_name = "FILE")]
    pub(crate) write_calibration: Option<PathBuf>,
    /// Describe the data source in the calibration file.
    #[arg(long, default_value = "")]
    pub(crate) calibration_source: String,
    /// Also group the photos by person and score the grouping against the identities
    /// (BCubed and pairwise precision and recall).
    #[arg(long)]
    pub(crate) group_people: bool,
    /// The grouping's join threshold (default: from the pack's calibration).
    #[arg(long, requires = "group_people", value_name = "COSINE")]
    pub(crate) group_join: Option<f32>,
    /// Write the grouped templates, identities, photos and groups to this folder (private
    /// files), for `crates/bench/peers/people_peers.py`.
    #[arg(long, requires = "group_people", value_name = "DIR")]
    pub(crate) export_grouping: Option<PathBuf>,
    /// Fail (exit 1) if the pairs-file k-fold accuracy is below this.
    #[arg(long)]
    pub(crate) min_pairs_accuracy: Option<f64>,
    #[command(flatten)]
    pub(crate) engine: EngineArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum FaceChoiceArg {
    Central,
    Largest,
}

/// The backend and precision asked for; what is left unset is chosen (`gabarit models check`
/// says what), and ingestion into a collection uses the collection's own.
#[derive(Args, Clone, Default)]
pub(crate) struct EngineChoice {
    /// The runtime that runs the networks: `ort` (ONNX Runtime) or `openvino` (its CPU plugin;
    /// `gabarit models install` installs its libraries). Default: OpenVINO where installed.
    #[arg(long, env = "GABARIT_BACKEND")]
    pub(crate) backend: Option<Backend>,
    /// The networks' arithmetic: `f32`, or `bf16` (OpenVINO's embedder, on CPUs that compute
    /// bfloat16 natively: AVX-512 BF16 or AMX). Default: bf16 on OpenVINO where native.
    #[arg(long, env = "GABARIT_PRECISION")]
    pub(crate) precision: Option<Precision>,
}

impl EngineChoice {
    pub(crate) fn is_empty(&self) -> bool {
        self.backend.is_none() && self.precision.is_none()
    }

    pub(crate) fn family(&self, models: &Path) -> Result<EngineFamily> {
        Ok(gabarit_engine::models::default_family(models, self.backend, self.precision)?)
    }
}

#[derive(Args, Clone)]
pub(crate) struct EngineArgs {
    /// Parallel workers, each with its own model sessions (default: number of cores).
    #[arg(long)]
    pub(crate) workers: Option<usize>,
    /// Inference threads per worker.
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    #[command(flatten)]
    pub(crate) choice: EngineChoice,
    /// Detector input: `auto` (the pack's choice), `adaptive:N` or a fixed square size such as 640.
    #[arg(long, default_value = "auto", value_parser = parse_det_size)]
    pub(crate) det_size: DetSize,
    /// Refuse images declaring more pixels than this (decompression bombs).
    #[arg(long, default_value_t = DecodeLimits::default().max_pixels)]
    pub(crate) max_pixels: u64,
}

#[derive(Clone, Copy)]
pub(crate) enum DetSize {
    Pack,
    Set(DetectorInput),
}

pub(crate) fn parse_det_size(s: &str) -> Result<DetSize, String> {
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
pub(crate) struct FacesArgs {
    /// Photos (JPEG, PNG, WebP, BMP, TIFF).
    #[arg(required = true)]
    pub(crate) images: Vec<PathBuf>,
    /// Include each face's template (the pack's dimension: 128 or 512) as `embedding`.
    #[arg(long)]
    pub(crate) embeddings: bool,
    /// Mirror-average templates (overrides the pack; nothing is stored, so templates made
    /// otherwise cannot mix: for comparisons with other pipelines).
    #[arg(long)]
    pub(crate) flip: Option<bool>,
    #[command(flatten)]
    pub(crate) engine: EngineArgs,
}

#[derive(Args)]
pub(crate) struct CompareArgs {
    /// First photo.
    pub(crate) a: PathBuf,
    /// Second photo.
    pub(crate) b: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) engine: EngineArgs,
}
