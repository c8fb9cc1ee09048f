//! What the engine needs to know about a model pack, as plain values.

use serde::{Deserialize, Serialize};

/// How the detector's input size is chosen for each photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "size")]
pub enum DetectorInput {
    /// A square `size × size` input, the photo letterboxed into it (InsightFace's behaviour).
    Fixed(u32),
    /// The photo's own size rounded up to a multiple of 32, downscaled (never upscaled) so
    /// its longer side is at most `size`. Small photos are not blown up, so faces that fill
    /// the frame stay within the anchors' range, and the detector costs less.
    Adaptive(u32),
}

/// Which detector family's outputs to decode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorKind {
    /// SCRFD (InsightFace): per stride, scores, box distances and landmark offsets per anchor.
    #[default]
    Scrfd,
    /// YuNet (OpenCV Zoo): per stride, class and objectness scores, box centre offsets and
    /// log sizes, landmark offsets, one prior per cell.
    Yunet,
}

/// Order of the colour planes in a network's input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelOrder {
    /// Red, green, blue.
    #[default]
    Rgb,
    /// Blue, green, red (OpenCV's native order).
    Bgr,
}

/// The detector part of a pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectorSpec {
    /// Detector family (how its outputs are decoded).
    #[serde(default)]
    pub kind: DetectorKind,
    /// Colour plane order of the input.
    #[serde(default)]
    pub channels: ChannelOrder,
    /// Input sizing.
    pub input: DetectorInput,
    /// Subtracted from each 0–255 channel value.
    pub mean: f32,
    /// Divides the centred value.
    pub std: f32,
    /// Feature strides, in output order.
    pub strides: Vec<u32>,
    /// Anchors per feature-map cell.
    pub anchors: usize,
    /// Minimum face score.
    pub score_threshold: f32,
    /// IoU above which the lower-scored of two boxes is dropped.
    pub nms_threshold: f32,
}

/// The embedder part of a pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedderSpec {
    /// Square crop size in pixels (112 for ArcFace).
    pub size: u32,
    /// Subtracted from each 0–255 channel value.
    pub mean: f32,
    /// Divides the centred value.
    pub std: f32,
    /// Output dimensions.
    pub dim: usize,
    /// Where the five landmarks go in the crop.
    pub template: [[f32; 2]; 5],
    /// Largest number of faces per embedder run.
    pub max_batch: usize,
    /// Average each face's embedding with its mirror image's (twice the embedder's cost).
    /// Templates made with and without it must not be mixed in one gallery.
    #[serde(default)]
    pub flip_average: bool,
}

impl EmbedderSpec {
    /// Crops per face: 2 with flip averaging (the face and its mirror image), else 1.
    pub fn views(&self) -> usize {
        if self.flip_average { 2 } else { 1 }
    }
}

/// What counts as a usable face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct QualityPolicy {
    /// Minimum detector score.
    pub min_score: f32,
    /// Minimum shorter side of the face box in pixels.
    pub min_size_px: f32,
    /// Minimum sharpness (variance of the Laplacian of the aligned crop).
    pub min_sharpness: f32,
    /// Maximum absolute yaw in degrees.
    pub max_abs_yaw_deg: f32,
}

impl Default for QualityPolicy {
    fn default() -> Self {
        QualityPolicy { min_score: 0.5, min_size_px: 20.0, min_sharpness: 10.0, max_abs_yaw_deg: 70.0 }
    }
}

/// Everything the [`FaceEngine`](crate::FaceEngine) needs besides the models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Detector spec.
    pub detector: DetectorSpec,
    /// Embedder spec.
    pub embedder: EmbedderSpec,
    /// Usable-face policy.
    pub quality: QualityPolicy,
}
