//! Pack manifests: everything model-specific, as data.

use gabarit_pipeline::EngineConfig;
use serde::Deserialize;

use crate::install::Artifact;
use crate::{Error, Result};

/// Decision thresholds of a pack (cosine similarity of two templates).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct Thresholds {
    /// At or above: `compare` reports the same person.
    pub verification: f32,
}

/// A model pack.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Pack {
    /// Short name (`buffalo_s`).
    pub name: String,
    /// One-line description.
    pub description: String,
    /// Licence terms of the weights, printed at install.
    pub licence: String,
    /// Detector model file (one of the artifacts).
    pub detector_file: String,
    /// Embedder model file (one of the artifacts).
    pub embedder_file: String,
    /// Input specs, normalisation and quality policy.
    pub engine: EngineConfig,
    /// Decision thresholds.
    pub thresholds: Thresholds,
    /// Files to install.
    pub artifacts: Vec<Artifact>,
}

#[derive(Deserialize)]
struct ArtifactList {
    artifacts: Vec<Artifact>,
}

const BUFFALO_S: &str = include_str!("../packs/buffalo_s.toml");
const RUNTIME: &str = include_str!("../packs/runtime.toml");
const SAMPLES: &str = include_str!("../packs/samples.toml");

/// Names of the packs compiled into this binary.
pub const PACK_NAMES: &[&str] = &["buffalo_s"];

/// The default pack.
pub const DEFAULT_PACK: &str = "buffalo_s";

impl Pack {
    /// The built-in pack called `name`.
    pub fn builtin(name: &str) -> Result<Pack> {
        let text = match name {
            "buffalo_s" => BUFFALO_S,
            other => {
                return Err(Error::Manifest {
                    name: other.to_string(),
                    detail: format!("unknown pack; available: {}", PACK_NAMES.join(", ")),
                });
            }
        };
        Self::parse(name, text)
    }

    /// Parses a manifest.
    pub fn parse(name: &str, text: &str) -> Result<Pack> {
        toml::from_str(text).map_err(|e| Error::Manifest { name: name.to_string(), detail: e.to_string() })
    }
}

/// The ONNX Runtime library artifact (pinned wheel of `onnxruntime`).
pub fn runtime_artifacts() -> Result<Vec<Artifact>> {
    parse_list("runtime", RUNTIME)
}

/// The sample photos used by the demo and the tests.
pub fn sample_artifacts() -> Result<Vec<Artifact>> {
    parse_list("samples", SAMPLES)
}

fn parse_list(name: &str, text: &str) -> Result<Vec<Artifact>> {
    toml::from_str::<ArtifactList>(text)
        .map(|l| l.artifacts)
        .map_err(|e| Error::Manifest { name: name.to_string(), detail: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_manifests_parse_and_are_consistent() {
        let pack = Pack::builtin("buffalo_s").expect("pack");
        assert_eq!(pack.engine.embedder.dim, 512);
        assert_eq!(pack.engine.detector.strides, vec![8, 16, 32]);
        for f in [&pack.detector_file, &pack.embedder_file] {
            assert!(pack.artifacts.iter().any(|a| &a.file == f), "{f} must be an artifact");
        }
        for a in pack.artifacts.iter().chain(&runtime_artifacts().expect("rt")).chain(&sample_artifacts().expect("s")) {
            assert_eq!(a.sha256.len(), 64, "{}", a.file);
            assert!(a.package.contains("=="), "{} must be pinned", a.package);
        }
        assert!(pack.licence.contains("NON-COMMERCIAL"));
        assert!(Pack::builtin("nope").is_err());
    }
}
