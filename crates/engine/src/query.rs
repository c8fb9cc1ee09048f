//! The query photo of a search: its faces with their templates for each pack searched, and
//! the crop of each face a search keeps for its reviewers (see the `review` module), with how
//! long it may keep them.

use gabarit_catalog::PackKey;

use std::path::Path;

use crate::faces::{FaceService, FaceServices, ImageFaces, analyze_decoded};
use crate::sources::{face_crop, jpeg};
use crate::store;
use crate::{Error, Result};

/// How long an analysed query photo may be searched (kept sealed in the store meanwhile, so
/// that any server process on the store may run the search).
pub const QUERY_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// How many analysed query photos the store keeps at most (the oldest go first).
pub const MAX_QUERIES: usize = 256;

/// How long a search's query face is kept at most, unless the search says otherwise.
pub const DEFAULT_PROBE_DAYS: u32 = 30;

/// The longest a search may keep its query face.
pub const MAX_PROBE_DAYS: u32 = 365;

/// The longest side of a kept query face, pixels.
const PROBE_SIDE: u32 = 256;

/// A query photo analysed for a search: its faces (with templates) and, for each face, the
/// JPEG crop a search keeps for its reviewers. Made by `governed::analyze_query`.
#[derive(Debug, Clone)]
pub struct QueryPhoto {
    /// The faces found (by the first pack's detector), with that pack's templates.
    pub faces: ImageFaces,
    crops: Vec<Vec<u8>>,
    /// The pack of `faces`' templates.
    pack: PackKey,
    /// For each other pack: the template of each face of `faces` (the same face as that
    /// pack's detector found it, their boxes overlapping), when it found it.
    others: Vec<(PackKey, Vec<Option<Vec<f32>>>)>,
}

/// A [`QueryPhoto`] as kept between its analysis and its search (without its stage times).
#[derive(serde::Serialize, serde::Deserialize)]
struct KeptQuery {
    width: u32,
    height: u32,
    sha256: String,
    faces: Vec<gabarit_types::Face>,
    crops: Vec<Vec<u8>>,
    pack: PackKey,
    others: Vec<(PackKey, Vec<Option<Vec<f32>>>)>,
}

/// Keeps `photo`, analysed for `who`, for [`QUERY_TTL`]; returns its id.
pub(crate) fn keep_query(store: &store::Store, who: &crate::Caller, name: &str, photo: &QueryPhoto) -> Result<String> {
    who.may::<gabarit_governance::actions::Search>()?;
    let kept = KeptQuery {
        width: photo.faces.width,
        height: photo.faces.height,
        sha256: photo.faces.sha256.clone(),
        faces: photo.faces.faces.clone(),
        crops: photo.crops.clone(),
        pack: photo.pack.clone(),
        others: photo.others.clone(),
    };
    let plain = serde_json::to_vec(&kept).map_err(|e| Error::Internal(format!("an analysed query: {e}")))?;
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("no randomness for a query id: {e}")))?;
    let id = format!("q{}", hex::encode(bytes));
    let now = jiff::Timestamp::now().as_millisecond();
    let ttl = i64::try_from(QUERY_TTL.as_millis()).unwrap_or(i64::MAX);
    store.catalog.keep_query((&id, who.name(), name), &plain, now, now.saturating_add(ttl), MAX_QUERIES)?;
    Ok(id)
}

/// The analysed query `id` of `who`, unless it expired: its upload's name and its analysis.
pub(crate) fn kept_query(store: &store::Store, who: &crate::Caller, id: &str) -> Result<Option<(String, QueryPhoto)>> {
    who.may::<gabarit_governance::actions::Search>()?;
    let Some((name, plain)) = store.catalog.kept_query(id, who.name(), jiff::Timestamp::now().as_millisecond())? else {
        return Ok(None);
    };
    let kept: KeptQuery = serde_json::from_slice(&plain)
        .map_err(|e| Error::Internal(format!("analysed query {id}: stored analysis unreadable ({e})")))?;
    let faces = ImageFaces {
        width: kept.width,
        height: kept.height,
        sha256: kept.sha256,
        faces: kept.faces,
        times: Default::default(),
    };
    Ok(Some((name, QueryPhoto { faces, crops: kept.crops, pack: kept.pack, others: kept.others })))
}

/// The least overlap (intersection over union) at which two packs' detectors found the same
/// face.
const SAME_FACE_IOU: f32 = 0.4;

impl QueryPhoto {
    /// The template of face `index` for the pack `pack`, when that pack's analysis found it.
    pub fn template(&self, index: usize, pack: &PackKey) -> Option<&[f32]> {
        if *pack == self.pack {
            return self.faces.faces.get(index)?.template.as_ref().map(|t| t.0.as_slice());
        }
        let (_, templates) = self.others.iter().find(|(p, _)| p == pack)?;
        templates.get(index)?.as_deref()
    }

    /// The packs it was analysed with, the first one's faces first.
    pub fn packs(&self) -> impl Iterator<Item = &PackKey> {
        std::iter::once(&self.pack).chain(self.others.iter().map(|(p, _)| p))
    }

    /// Adds the analysis of the same photo by another pack: each of its faces gives its
    /// template to the face of this photo its box overlaps most (at least
    /// [`SAME_FACE_IOU`]); a face only the other pack's detector found is not searched with.
    pub fn add_pack(&mut self, pack: PackKey, other: &ImageFaces) {
        let mut templates: Vec<Option<Vec<f32>>> = vec![None; self.faces.faces.len()];
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (i, mine) in self.faces.faces.iter().enumerate() {
            for (j, theirs) in other.faces.iter().enumerate() {
                let iou = mine.bbox.iou_plus_one(&theirs.bbox);
                if iou >= SAME_FACE_IOU {
                    pairs.push((iou, i, j));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut taken = vec![false; other.faces.len()];
        for (_, i, j) in pairs {
            if templates[i].is_none() && !taken[j] {
                taken[j] = true;
                templates[i] = other.faces[j].template.as_ref().map(|t| t.0.clone());
            }
        }
        self.others.push((pack, templates));
    }

    /// The crop of face `index`, JPEG.
    pub fn crop(&self, index: usize) -> Option<&[u8]> {
        self.crops.get(index).map(Vec::as_slice)
    }

    /// The faces of a photo (with the templates of `pack`) with a crop of each, from its
    /// decoded pixels (upright).
    pub fn from_pixels(pixels: &image::RgbImage, faces: ImageFaces, pack: PackKey) -> Result<QueryPhoto> {
        let crops = faces
            .faces
            .iter()
            .map(|f| {
                let crop = face_crop(pixels, &f.bbox);
                let (w, h) = (crop.width(), crop.height());
                let crop = if w.max(h) > PROBE_SIDE {
                    let (tw, th) = if w >= h {
                        (PROBE_SIDE, (h * PROBE_SIDE / w).max(1))
                    } else {
                        ((w * PROBE_SIDE / h).max(1), PROBE_SIDE)
                    };
                    image::imageops::thumbnail(&crop, tw, th)
                } else {
                    crop
                };
                jpeg(&crop)
            })
            .collect::<Result<_>>()?;
        Ok(QueryPhoto { faces, crops, pack, others: Vec::new() })
    }
}

/// RFC 3339 in whole seconds (what the catalog compares expiries as text with).
pub(crate) fn seconds(t: jiff::Timestamp) -> String {
    jiff::Timestamp::from_second(t.as_second()).unwrap_or(t).to_string()
}

/// When a query face kept now for `days` days goes at the latest.
pub(crate) fn probe_expiry(days: u32) -> Result<String> {
    if !(1..=MAX_PROBE_DAYS).contains(&days) {
        return Err(Error::field("probe_days", format!("query faces are kept 1 to {MAX_PROBE_DAYS} days, not {days}")));
    }
    Ok(seconds(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * i64::from(days))))
}

impl FaceServices {
    /// Analyses a query photo with each of `packs` (the default pack's faces are the ones
    /// shown and cropped when it is one of them; see [`QueryPhoto::add_pack`]).
    pub fn analyze_query_photo(&self, packs: &[gabarit_catalog::PackKey], photo: &Path) -> Result<QueryPhoto> {
        let default = store::pack_key(&self.config().pack);
        let first = packs.iter().find(|p| **p == default).or(packs.first()).unwrap_or(&default);
        let mut query = self.get(first)?.analyze_query_photo(photo)?;
        for pack in packs.iter().filter(|p| *p != first) {
            let other = self.get(pack)?.analyze_photo(photo)?;
            query.add_pack(pack.clone(), &other);
        }
        Ok(query)
    }
}

impl FaceService {
    /// Analyses a query photo (with templates) and crops each face from the same decoded
    /// pixels (see [`QueryPhoto`]); a file error becomes [`Error::File`].
    pub fn analyze_query_photo(&self, photo: &Path) -> Result<QueryPhoto> {
        let mut engine = self.take_engine()?;
        let analysed = analyze_decoded(&mut engine, photo, &self.config().limits, true);
        self.return_engine(engine);
        let (faces, rgb) = analysed.map_err(Error::File)?;
        QueryPhoto::from_pixels(&rgb, faces, store::pack_key(&self.config().pack))
    }
}
