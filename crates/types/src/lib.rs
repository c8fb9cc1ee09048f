//! Plain data types shared by every Gabarit crate.
//!
//! Values only: no I/O, no model, no policy. A [`Face`] is what the face engine finds in an
//! image; its [`Template`] is the biometric template ("gabarit biométrique") that search
//! compares. Templates are L2-normalised, so their dot product is the cosine similarity.

use serde::{Deserialize, Serialize};

/// An axis-aligned box in image pixels, serialised as `[x1, y1, x2, y2]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "[f32; 4]", into = "[f32; 4]")]
pub struct BBox {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
}

impl BBox {
    /// Width in pixels (never negative).
    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }
    /// Height in pixels (never negative).
    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }
    /// Area in square pixels.
    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }
    /// Intersection over union with `other`, using InsightFace's "+1" pixel convention so that
    /// non-maximum suppression matches the reference implementation.
    pub fn iou_plus_one(&self, other: &BBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1) + 1.0).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1) + 1.0).max(0.0);
        let inter = w * h;
        let a = (self.x2 - self.x1 + 1.0) * (self.y2 - self.y1 + 1.0);
        let b = (other.x2 - other.x1 + 1.0) * (other.y2 - other.y1 + 1.0);
        inter / (a + b - inter)
    }
}

impl From<[f32; 4]> for BBox {
    fn from(v: [f32; 4]) -> Self {
        BBox { x1: v[0], y1: v[1], x2: v[2], y2: v[3] }
    }
}

impl From<BBox> for [f32; 4] {
    fn from(b: BBox) -> Self {
        [b.x1, b.y1, b.x2, b.y2]
    }
}

/// Its JSON schema: four numbers, `[x1, y1, x2, y2]`, as it is serialised.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for BBox {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        ArrayBuilder::new()
            .items(ObjectBuilder::new().schema_type(Type::Number))
            .min_items(Some(4))
            .max_items(Some(4))
            .description(Some("[x1, y1, x2, y2] in image pixels"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for BBox {}

/// The five facial landmarks in image pixels, in this order: left eye, right eye, nose tip,
/// left mouth corner, right mouth corner ("left" as seen in the image).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Landmarks(pub [[f32; 2]; 5]);

/// One face as the detector reports it, in original image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Face box.
    pub bbox: BBox,
    /// Five landmarks.
    pub landmarks: Landmarks,
    /// Detector confidence in [0, 1].
    pub score: f32,
}

/// Quality signals of one face, and whether it meets the configured minimums.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Detector confidence in [0, 1].
    pub detector_score: f32,
    /// Shorter side of the face box, in pixels of the original image.
    pub size_px: f32,
    /// Variance of the Laplacian of the aligned 112×112 grey crop (higher is sharper;
    /// blurred faces score below about 50, sharp portraits several hundred).
    pub sharpness: f32,
    /// Estimated head yaw in degrees from the landmarks (0 frontal, ±90 profile); coarse.
    pub yaw_deg: f32,
    /// Estimated head pitch in degrees from the landmarks (positive: looking down); coarse.
    pub pitch_deg: f32,
    /// Roll (in-plane rotation of the eye line) in degrees.
    pub roll_deg: f32,
    /// True when every signal meets the configured minimum (see `QualityPolicy`).
    pub usable: bool,
}

/// A biometric template: an L2-normalised embedding vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Template(pub Vec<f32>);

impl Template {
    /// Cosine similarity with `other` (both are unit vectors, so this is their dot product).
    /// Templates of different lengths have no similarity: the result is `f32::NAN`.
    pub fn similarity(&self, other: &Template) -> f32 {
        if self.0.len() != other.0.len() {
            return f32::NAN;
        }
        self.0.iter().zip(&other.0).map(|(a, b)| a * b).sum()
    }
    /// Number of dimensions.
    pub fn dim(&self) -> usize {
        self.0.len()
    }
}

/// A face found in an image: detection, quality and (once embedded) its template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Face {
    /// Face box in original image pixels.
    pub bbox: BBox,
    /// Five landmarks in original image pixels.
    pub landmarks: Landmarks,
    /// Detector confidence.
    pub score: f32,
    /// Quality signals.
    pub quality: Quality,
    /// The template (absent when the caller asked for detection only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub template: Option<Template>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbox_serialises_as_four_numbers() {
        let b = BBox { x1: 1.0, y1: 2.0, x2: 3.5, y2: 4.0 };
        assert_eq!(serde_json::to_string(&b).unwrap(), "[1.0,2.0,3.5,4.0]");
        let back: BBox = serde_json::from_str("[1.0,2.0,3.5,4.0]").unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn iou_of_identical_boxes_is_one_and_disjoint_is_zero() {
        let a = BBox { x1: 0.0, y1: 0.0, x2: 9.0, y2: 9.0 };
        assert!((a.iou_plus_one(&a) - 1.0).abs() < 1e-6);
        let b = BBox { x1: 20.0, y1: 20.0, x2: 29.0, y2: 29.0 };
        assert_eq!(a.iou_plus_one(&b), 0.0);
        // half overlap along x: 5 of 10 columns shared -> 50 / 150
        let c = BBox { x1: 5.0, y1: 0.0, x2: 14.0, y2: 9.0 };
        assert!((a.iou_plus_one(&c) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn similarity_of_mismatched_lengths_is_nan() {
        let a = Template(vec![1.0, 0.0]);
        let b = Template(vec![1.0]);
        assert!(a.similarity(&b).is_nan());
        assert_eq!(a.similarity(&a), 1.0);
    }
}
