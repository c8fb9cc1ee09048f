//! The face engine's pure steps and the [`FaceEngine`] that drives them.
//!
//! `image → detect → align → embed`, with every step a function of values:
//! - [`letterbox`]: plans and fills the detector input tensor (aspect kept, image top-left,
//!   OpenCV-compatible bilinear resize fused with normalisation and the NCHW layout);
//! - [`scrfd`] and [`yunet`]: decode each detector family's per-stride outputs into boxes
//!   and landmarks, greedy NMS;
//! - [`align`]: Umeyama similarity to the ArcFace 112×112 template and a bilinear warp fused
//!   with normalisation into the embedder's input tensor;
//! - [`quality`]: sharpness and head-pose estimates, and the usable-face policy.
//!
//! Models sit behind the [`DetectorModel`] and [`EmbedderModel`] traits; `gabarit-inference`
//! implements them on ONNX Runtime. This crate never touches files or the network.

pub mod align;
mod engine;
pub mod letterbox;
pub mod quality;
pub mod scrfd;
mod spec;
pub mod yunet;

pub use engine::{Analysis, FaceBatch, FaceEngine, MAX_PHOTOS_GATHERED, StageTimes};
pub use spec::{ChannelOrder, DetectorInput, DetectorKind, DetectorSpec, EmbedderSpec, EngineConfig, QualityPolicy};

/// Errors of the face engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model failed to run or returned outputs of an unexpected shape.
    #[error("model {model}: {detail}")]
    Model {
        /// Which model ("detector" or "embedder").
        model: &'static str,
        /// What went wrong.
        detail: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The raw outputs of the detector for one stride: scores (`n`), boxes (`n × 4`) and
/// landmarks (`n × 10`), with `n = (H / stride) × (W / stride) × anchors`; what the box and
/// landmark values mean depends on the detector's kind ([`scrfd`], [`yunet`]).
#[derive(Debug, Clone, Default)]
pub struct StrideOutput {
    /// Stride in input pixels (8, 16 or 32 for SCRFD).
    pub stride: u32,
    /// Face scores (YuNet: class scores), one per anchor.
    pub scores: Vec<f32>,
    /// YuNet's objectness scores, one per anchor (empty for SCRFD).
    pub objectness: Vec<f32>,
    /// Four values per anchor (SCRFD: distances left, top, right, bottom in stride units).
    pub boxes: Vec<f32>,
    /// Landmark offsets (x, y) × 5 in stride units, ten per anchor.
    pub landmarks: Vec<f32>,
}

impl StrideOutput {
    /// All-zero outputs of one stride for `n` anchors, with YuNet's objectness scores or
    /// without (what a photo with no face gives; the decoders' tests start from it).
    pub fn zeros(stride: u32, n: usize, objectness: bool) -> Self {
        StrideOutput {
            stride,
            scores: vec![0.0; n],
            objectness: if objectness { vec![0.0; n] } else { Vec::new() },
            boxes: vec![0.0; 4 * n],
            landmarks: vec![0.0; 10 * n],
        }
    }
}

/// A face detector network: takes a normalised NCHW tensor `1 × 3 × height × width`.
pub trait DetectorModel {
    /// Runs the network and returns one [`StrideOutput`] per stride.
    fn run(&mut self, input: &[f32], height: usize, width: usize) -> Result<Vec<StrideOutput>>;
}

/// A face embedding network: takes `n × 3 × size × size` aligned crops.
pub trait EmbedderModel {
    /// Runs the network and returns `n × dim` raw (not yet normalised) embeddings.
    fn run(&mut self, input: &[f32], n: usize) -> Result<Vec<f32>>;

    /// How many faces a call should hold for this backend to reach its lowest cost per face:
    /// the engine gathers the faces of several photos up to it before embedding them (see
    /// [`FaceBatch`]). 1 (the default): calls cost the same per face whatever their size, so
    /// each photo is embedded on its own.
    fn faces_worth_gathering(&self) -> usize {
        1
    }
}

/// L2-normalises `v` in place and returns its original norm (a zero vector stays zero).
pub fn l2_normalize(v: &mut [f32]) -> f32 {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 1e-12 {
        let inv = 1.0 / norm;
        v.iter_mut().for_each(|x| *x *= inv);
    }
    norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l2_normalize_makes_unit_vectors_and_keeps_zero() {
        let mut v = [3.0, 4.0];
        assert_eq!(l2_normalize(&mut v), 5.0);
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = [0.0f32; 3];
        assert_eq!(l2_normalize(&mut z), 0.0);
        assert_eq!(z, [0.0; 3]);
    }
}
