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
    /// Rights requests and objections: more inclusive than `verification`.
    pub rights: f32,
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
    /// When the weights' licence restricts their use: the word an operator gives
    /// (`--accept-licence WORD`) to say they accept it before `models install` fetches them.
    #[serde(default)]
    pub accept_licence: Option<String>,
    /// Detector model file (one of the artifacts).
    pub detector_file: String,
    /// Embedder model file (one of the artifacts).
    pub embedder_file: String,
    /// Whether ONNX Runtime turns the models' quantised weights into float32 once, when it
    /// loads them (`session.disable_quant_qdq`), instead of keeping the `DequantizeLinear`
    /// nodes and running them at every inference. For weight-only quantised models (int8
    /// storage, float arithmetic) this is measured faster (see `packs/open.toml`).
    #[serde(default)]
    pub dequantize_at_load: bool,
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
const OPEN: &str = include_str!("../packs/open.toml");
const BUFFALO_S_CALIBRATION: &str = include_str!("../packs/buffalo_s.calibration.json");
const OPEN_CALIBRATION: &str = include_str!("../packs/open.calibration.json");
const RUNTIME: &str = include_str!("../packs/runtime.toml");
const OPENVINO: &str = include_str!("../packs/openvino.toml");
const SAMPLES: &str = include_str!("../packs/samples.toml");

/// Names of the packs compiled into this binary.
pub const PACK_NAMES: &[&str] = &["open", "buffalo_s"];

/// The default pack: the one whose every weight is under a licence allowing commercial use.
pub const DEFAULT_PACK: &str = "open";

/// Every built-in pack, the default first.
pub const BUILTIN_PACKS: [&str; 2] = [DEFAULT_PACK, "buffalo_s"];

impl Pack {
    /// The built-in pack called `name`.
    pub fn builtin(name: &str) -> Result<Pack> {
        let text = match name {
            "buffalo_s" => BUFFALO_S,
            "open" => OPEN,
            other => {
                return Err(Error::Manifest {
                    name: other.to_string(),
                    detail: format!("unknown pack; available: {}", PACK_NAMES.join(", ")),
                });
            }
        };
        Self::parse(name, text)
    }

    /// The pack's shipped calibration (see `gabarit eval --write-calibration`), if any.
    pub fn calibration(&self) -> Result<Option<Calibration>> {
        match self.name.as_str() {
            "buffalo_s" => Calibration::parse("buffalo_s.calibration.json", BUFFALO_S_CALIBRATION).map(Some),
            "open" => Calibration::parse("open.calibration.json", OPEN_CALIBRATION).map(Some),
            _ => Ok(None),
        }
    }

    /// What makes the pack's templates what they are, hashed (SHA-256, hex): the name, the
    /// detector's and embedder's files (their pinned hashes) and every setting that changes
    /// which faces are found or what their templates are (detector and embedder specs).
    /// Thresholds, calibration, quality policy and licence text are not in it: they change
    /// decisions, not templates. Two templates compare only if their packs' hashes are equal.
    pub fn templates_sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        let file_hash =
            |file: &str| self.artifacts.iter().find(|a| a.file == file).map(|a| a.sha256.clone()).unwrap_or_default();
        // Serialised directly (not through a JSON map, whose key order depends on features of
        // the build): structs in field order, so the hash is the same in every build.
        let identity = (
            &self.name,
            file_hash(&self.detector_file),
            file_hash(&self.embedder_file),
            &self.engine.detector,
            &self.engine.embedder,
        );
        let text = serde_json::to_string(&identity).unwrap_or_default();
        hex::encode(Sha256::digest(text.as_bytes()))
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

/// The OpenVINO runtime's libraries (pinned wheel of `openvino`).
pub fn openvino_artifacts() -> Result<Vec<Artifact>> {
    parse_list("openvino", OPENVINO)
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
        for a in pack
            .artifacts
            .iter()
            .chain(&runtime_artifacts().expect("rt"))
            .chain(&openvino_artifacts().expect("ov"))
            .chain(&sample_artifacts().expect("s"))
        {
            assert_eq!(a.sha256.len(), 64, "{}", a.file);
            assert!(a.package.contains("=="), "{} must be pinned", a.package);
        }
        assert!(pack.licence.contains("NON-COMMERCIAL"));
        assert!(Pack::builtin("nope").is_err());
    }

    #[test]
    fn the_open_pack_is_permissive_and_every_repaired_file_pins_both_hashes() {
        let pack = Pack::builtin("open").expect("pack");
        assert_eq!(pack.engine.embedder.dim, 128);
        assert_eq!(pack.engine.detector.kind, gabarit_pipeline::DetectorKind::Yunet);
        assert!(pack.licence.contains("MIT") && pack.licence.contains("Apache License 2.0"));
        assert!(!pack.licence.contains("NON-COMMERCIAL"));
        for f in [&pack.detector_file, &pack.embedder_file] {
            let a = pack.artifacts.iter().find(|a| &a.file == f).expect("an artifact");
            assert!(!a.repair.is_empty(), "{f}: ONNX Runtime needs the repair");
            let source = a.source_sha256.as_deref().expect("the published file's hash");
            assert_eq!(source.len(), 64);
            assert_ne!(source, a.sha256, "{f}: the repaired file differs from the published one");
        }
        for name in PACK_NAMES {
            assert_eq!(Pack::builtin(name).expect("builtin").name, *name);
        }
    }

    #[test]
    fn the_templates_hash_changes_with_what_changes_templates_only() {
        let pack = Pack::builtin("open").expect("pack");
        let base = pack.templates_sha256();
        assert_eq!(base.len(), 64);
        assert_ne!(base, Pack::builtin("buffalo_s").expect("pack").templates_sha256());
        let changed = |f: &dyn Fn(&mut Pack)| {
            let mut p = pack.clone();
            f(&mut p);
            p.templates_sha256()
        };
        assert_ne!(changed(&|p| p.engine.embedder.flip_average = false), base, "flip averaging");
        assert_ne!(changed(&|p| p.engine.embedder.template[0][0] += 0.5), base, "alignment");
        assert_ne!(changed(&|p| p.artifacts[1].sha256 = "0".repeat(64)), base, "the embedder file");
        assert_eq!(changed(&|p| p.thresholds.verification = 0.5), base, "thresholds decide, templates stay");
        assert_eq!(changed(&|p| p.engine.quality.min_size_px = 40.0), base, "quality decides usability only");
    }

    #[test]
    fn shipped_calibration_is_consistent_with_the_threshold() {
        for name in PACK_NAMES {
            calibration_is_consistent_with_the_threshold(name);
        }
    }

    fn calibration_is_consistent_with_the_threshold(name: &str) {
        let pack = Pack::builtin(name).expect("pack");
        let cal = pack.calibration().expect("parses").expect("shipped");
        assert_eq!(cal.pack, name);
        assert_eq!(cal.settings.contains("flip_average=true"), pack.engine.embedder.flip_average, "{name}");
        // The two packs' thresholds are set at about the same false match rates.
        let rights = cal.fmr_at(pack.thresholds.rights);
        assert!(rights > 2e-4 && rights < 8e-4, "{name}: FMR {rights} at the rights threshold");
        assert!(cal.impostor_comparisons > 1_000_000, "millions of impostor pairs");
        assert_eq!(cal.impostor.total(), cal.impostor_comparisons);
        // At the verification threshold the false match rate is small but not zero, and it
        // falls as the score rises.
        let fmr = cal.fmr_at(pack.thresholds.verification);
        assert!(fmr > 1e-6 && fmr < 1e-3, "{fmr}");
        assert!(cal.fmr_at(0.5) < fmr && cal.fmr_at(0.1) > fmr);
        // Bigger galleries need higher thresholds for the same FPIR.
        let (small, large) = (cal.threshold_for_fpir(1e-3, 1_000), cal.threshold_for_fpir(1e-3, 1_000_000));
        assert!(large > small, "{small} {large}");
        assert!((cal.expected_false_candidates(0.3, 1_000_000) - cal.fmr_at(0.3) * 1e6).abs() < 1e-6);
        // Where the histogram resolves the rate, the threshold is read from it; below, it is
        // extrapolated: continuous at the boundary, rising with the gallery, and short of the
        // mislabelled pairs at the histogram's top.
        let floor = RESOLVED_COMPARISONS as f64 / cal.impostor_comparisons as f64;
        assert_eq!(cal.threshold_for_fmr(floor * 2.0), cal.impostor.threshold_for_tail(floor * 2.0));
        let (at, below) = (cal.threshold_for_fmr(floor), cal.threshold_for_fmr(floor * 0.999));
        assert!((below - at).abs() < 0.002, "{name}: {at} then {below}");
        let sizes = [10_000u64, 100_000, 1_000_000, 10_000_000, 100_000_000];
        let joins: Vec<f32> = sizes.iter().map(|&n| cal.threshold_for_fpir(0.01, n)).collect();
        assert!(joins.windows(2).all(|w| w[1] > w[0]), "{name}: {joins:?}");
        assert!(joins[2] < 0.7, "{name}: {} at 1,000,000 templates", joins[2]);
        assert!(cal.impostor.threshold_for_tail(0.01 / 1e6) > 0.8, "{name}: the raw histogram's top is label noise");
    }
}

/// Impostor comparisons above a score needed to read its false match rate from a
/// calibration's histogram ([`Calibration::threshold_for_fmr`]).
pub const RESOLVED_COMPARISONS: u64 = 20;

/// What a score means for a pack: the impostor score distribution measured on a labelled
/// dataset (derived statistics only, no images or templates), from which search estimates
/// false-match rates and expected false candidates at any gallery size.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct Calibration {
    /// Pack it was measured with.
    pub pack: String,
    /// Where the data came from and how it was measured.
    pub source: String,
    /// Detector input and template settings of the run.
    pub settings: String,
    /// Impostor comparisons behind the histogram.
    pub impostor_comparisons: u64,
    /// Genuine comparisons of the same run.
    pub genuine_comparisons: u64,
    /// Impostor score distribution.
    pub impostor: gabarit_metrics::ScoreHistogram,
    /// Genuine score distribution.
    pub genuine: gabarit_metrics::ScoreHistogram,
}

impl Calibration {
    /// False match rate at `score`: share of impostor comparisons scoring at least that.
    pub fn fmr_at(&self, score: f32) -> f64 {
        self.impostor.tail_fraction(score)
    }
    /// Expected number of false candidates at or above `score` in a gallery of `n` templates.
    pub fn expected_false_candidates(&self, score: f32, n: u64) -> f64 {
        gabarit_metrics::expected_false_candidates(self.fmr_at(score), n)
    }
    /// The threshold keeping FPIR at most `target_fpir` in a gallery of `n` templates.
    pub fn threshold_for_fpir(&self, target_fpir: f64, n: u64) -> f32 {
        // FPIR = 1 - (1 - FMR)^N  =>  FMR = 1 - (1 - FPIR)^(1/N)
        let fmr = -((-target_fpir).ln_1p() / n.max(1) as f64).exp_m1();
        self.threshold_for_fmr(fmr)
    }
    /// The threshold at which the false match rate is `fmr`. Where the calibration resolves it
    /// (at least [`RESOLVED_COMPARISONS`] impostor comparisons above), read from the
    /// histogram; below, extrapolated: the histogram's highest scores are a handful of pairs,
    /// mostly mislabelled ones (LFW's top impostor pair scores 0.956), so reading them would
    /// put the threshold for a gallery of millions near 1. The tail is taken as exponential
    /// (the log of the false match rate linear in the score) through the thresholds at the
    /// smallest resolved rate and at 100 times it: heavier than the Gaussian-like tail of
    /// cosine scores, so the extrapolated threshold errs high, on the side of fewer false
    /// matches.
    pub fn threshold_for_fmr(&self, fmr: f64) -> f32 {
        let floor = RESOLVED_COMPARISONS as f64 / self.impostor_comparisons.max(1) as f64;
        if !(fmr > 0.0 && fmr < floor) {
            return self.impostor.threshold_for_tail(fmr);
        }
        let (wide, narrow) = (floor * 100.0, floor);
        let (t_wide, t_narrow) = (self.impostor.threshold_for_tail(wide), self.impostor.threshold_for_tail(narrow));
        let per_e_fold = f64::from(t_narrow - t_wide) / (wide / narrow).ln();
        (f64::from(t_narrow) + per_e_fold * (narrow / fmr).ln()).min(1.0) as f32
    }
    /// Parses a calibration file.
    pub fn parse(name: &str, text: &str) -> Result<Calibration> {
        serde_json::from_str(text).map_err(|e| Error::Manifest { name: name.to_string(), detail: e.to_string() })
    }
}
