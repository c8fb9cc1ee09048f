//! The records the catalog stores and returns: collections and their pack, images, faces,
//! tracks and templates, and the ingestion batches that bring them in.

use gabarit_types::{BBox, Landmarks, Quality};
use serde::{Deserialize, Serialize};

use crate::LEGACY_PACK;

/// A collection.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    /// Id.
    pub id: u32,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// The model pack its templates come from.
    pub pack: String,
    /// SHA-256 of what makes that pack's templates (`Pack::templates_sha256`).
    pub pack_sha256: String,
    /// The backend and precision its templates come from (`ort/f32`, `openvino/bf16`…).
    #[serde(default = "legacy_engine")]
    pub engine: String,
}

/// The engine of the collections made before engines were recorded (schema 12).
fn legacy_engine() -> String {
    "ort/f32".into()
}

impl Collection {
    /// The pack its templates come from, as a key.
    pub fn pack_key(&self) -> PackKey {
        PackKey { name: self.pack.clone(), sha256: self.pack_sha256.clone() }
    }
}

/// What makes a set of templates comparable with each other: the model pack's name and the
/// hash of what makes its templates. Templates of two keys are never compared (their scores
/// mean different things, and their dimensions may differ).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PackKey {
    /// Pack name.
    pub name: String,
    /// SHA-256 of what makes its templates (`Pack::templates_sha256`).
    pub sha256: String,
}

impl PackKey {
    /// The key of the collections made before packs were recorded ([`LEGACY_PACK`]).
    pub fn legacy() -> PackKey {
        PackKey { name: LEGACY_PACK.0.into(), sha256: LEGACY_PACK.1.into() }
    }
}

impl std::fmt::Display for PackKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.sha256.get(..12).unwrap_or(&self.sha256))
    }
}

/// A collection with its counts.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionSummary {
    /// The collection.
    #[serde(flatten)]
    pub collection: Collection,
    /// Images.
    pub images: u64,
    /// Faces.
    pub faces: u64,
    /// Templates.
    pub templates: u64,
}

/// A face to store, with its template.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFace {
    /// Box.
    pub bbox: BBox,
    /// Landmarks.
    pub landmarks: Landmarks,
    /// Detector score.
    pub score: f32,
    /// Quality.
    pub quality: Quality,
    /// Quantised template and its scale (absent for faces not embedded).
    pub template: Option<(Vec<i8>, f32)>,
    /// For a face from a video: its track and the time of its frame.
    pub moment: Option<Moment>,
}

/// Where in a video a face was seen.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Moment {
    /// Track number within the video (0 = first to appear).
    pub track: u32,
    /// Time of the frame, seconds.
    pub time_s: f64,
}

/// What a video record holds beyond an image's fields.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoMeta {
    /// Duration, seconds.
    pub duration_s: f64,
    /// Average frame rate.
    pub frame_rate: f64,
    /// Codec.
    pub codec: String,
}

/// One appearance of a face in a video.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackSpan {
    /// Track number within the video.
    pub track: u32,
    /// First sighting, seconds.
    pub start_s: f64,
    /// Last sighting, seconds.
    pub end_s: f64,
    /// Sampled frames it was seen in.
    pub sightings: u32,
}

/// An image to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewImage {
    /// Content hash.
    pub sha256: String,
    /// Path or URI (`archive.zip!/inner/path` for archive members).
    pub uri: String,
    /// The source it came from (a folder, file or archive named by the operator).
    pub source_uri: String,
    /// Kind of source (`folder`, `file`, `zip`, `tar`).
    pub source_kind: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Format.
    pub format: String,
    /// EXIF capture time, when present.
    pub captured_at: Option<String>,
    /// EXIF camera make and model, when present.
    pub camera: Option<String>,
    /// Faces.
    pub faces: Vec<NewFace>,
    /// For a video: its metadata and tracks (faces then carry their [`Moment`]).
    pub video: Option<(VideoMeta, Vec<TrackSpan>)>,
}

/// One file of an ingestion batch.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchItem {
    /// A decoded image with its faces.
    Image(NewImage),
    /// A file that was not ingested, and why.
    Failed {
        /// Path or URI.
        uri: String,
        /// Stable code.
        code: String,
        /// Message.
        message: String,
    },
}

/// What storing one item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    /// New image stored; ids of its faces that have templates, with their collection.
    Inserted {
        /// Image id.
        image_id: u64,
        /// Face ids with templates.
        template_faces: Vec<u64>,
    },
    /// The same content is already in the collection.
    Duplicate,
    /// Recorded as failed.
    Failed,
}

/// A stored face with where it came from.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceRecord {
    /// Face id.
    pub face_id: u64,
    /// Position of the face in its image (0 = highest detector score).
    pub index: u32,
    /// Image id.
    pub image_id: u64,
    /// Collection id.
    pub collection_id: u32,
    /// Collection name.
    pub collection: String,
    /// Image path or URI.
    pub uri: String,
    /// Source the image came from.
    pub source: String,
    /// Box.
    pub bbox: BBox,
    /// Landmarks.
    pub landmarks: Landmarks,
    /// Detector score.
    pub score: f32,
    /// Quality.
    pub quality: Quality,
    /// EXIF capture time.
    pub captured_at: Option<String>,
    /// Whether a template is stored.
    pub has_template: bool,
    /// For a face from a video: track and time.
    pub moment: Option<Moment>,
}

/// A stored image.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Id.
    pub id: u64,
    /// Collection id.
    pub collection_id: u32,
    /// Collection.
    pub collection: String,
    /// Content hash.
    pub sha256: String,
    /// Path or URI.
    pub uri: String,
    /// Source.
    pub source: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Format.
    pub format: String,
    /// EXIF capture time.
    pub captured_at: Option<String>,
    /// EXIF camera.
    pub camera: Option<String>,
    /// When it was ingested.
    pub ingested_at: String,
    /// For a video: duration, frame rate, codec.
    pub video: Option<VideoMeta>,
}

/// A stored template.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTemplate {
    /// Face id.
    pub face_id: u64,
    /// Collection id.
    pub collection_id: u32,
    /// Quantised vector.
    pub vector: Vec<i8>,
    /// Its scale.
    pub scale: f32,
}
