//! Human review (AI Act art. 14): the query face a search keeps for its reviewers, the
//! reviewers' queue and decisions, and the investigator's own cases.
//!
//! A search keeps, for each query face that has candidates, a JPEG crop of that face (never
//! the whole photo), sealed with the data key and bound to the search. Only the searcher and
//! the reviewers who can see one of the search's candidates may look at it. It goes, in the
//! transaction of the decision's audit entry, once every candidate of the search is decided
//! (rejected once, confirmed twice, or its face erased: an erasure or retention that leaves a
//! search with nothing to decide deletes its query faces too), or when its period ends (30
//! days unless the search said otherwise; [`expire_probes`] runs with retention), whichever
//! comes first.

use gabarit_catalog::{CandidateRecord, CandidateState, PackKey, SearchRecord};
use gabarit_governance::{Scope, actions, confirmed};
use serde::Serialize;
use serde_json::json;

use crate::auth::Caller;
use crate::store::Store;
use crate::{Error, ImageFaces, Result};

/// How long a search's query face is kept at most, unless the search says otherwise.
pub const DEFAULT_PROBE_DAYS: u32 = 30;

/// The longest a search may keep its query face.
pub const MAX_PROBE_DAYS: u32 = 365;

/// The longest side of a kept query face, pixels.
const PROBE_SIDE: u32 = 256;

/// A query photo analysed for a search: its faces (with templates) and, for each face, the
/// JPEG crop a search keeps for its reviewers. Made by [`crate::governed::analyze_query`].
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
                let crop = crate::search::face_crop(pixels, &f.bbox);
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
                crate::search::jpeg(&crop)
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
        return Err(Error::Invalid(format!("query faces are kept 1 to {MAX_PROBE_DAYS} days, not {days}")));
    }
    Ok(seconds(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24 * i64::from(days))))
}

/// The state of a candidate after a review.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewState {
    /// The candidate.
    pub candidate: CandidateRecord,
    /// Whether two different reviewers confirmed it and nobody rejected it.
    pub confirmed: bool,
}

/// A reviewer confirms or rejects a candidate of a collection granted to them; logged (AI Act
/// art. 14(5)). A candidate of another collection does not exist for them. The decision that
/// leaves no candidate of its search undecided deletes the search's kept query faces, in the
/// same transaction.
pub fn review(store: &mut Store, who: &Caller, candidate: u64, confirm: bool) -> Result<ReviewState> {
    let proof = who.may::<actions::Review>()?;
    let action = if confirm { "candidate_confirm" } else { "candidate_reject" };
    let ((c, dropped), _) = store.catalog.audited(who.name(), action, |tx| {
        let c = tx.review(proof.scope(), candidate, who.name(), confirm)?;
        let done = confirmed(&c.confirmed_by, &c.rejected_by);
        let dropped = if tx.search_decided(c.search_id)? { tx.drop_probes(c.search_id)? } else { 0 };
        let detail = json!({"candidate": candidate, "search": c.search_id, "case": c.case_ref, "face": c.face_id,
            "confirmed": done, "query_faces_deleted": dropped});
        Ok(((c, dropped), detail))
    })?;
    if dropped > 0 {
        // The freed pages are zeroed (secure_delete); the checkpoint takes the WAL's copy too.
        store.catalog.checkpoint()?;
    }
    let done = confirmed(&c.confirmed_by, &c.rejected_by);
    Ok(ReviewState { candidate: c, confirmed: done })
}

/// A candidate as a reviewer sees it: its review state, the search's case and purpose, the
/// face it points to (where it is, its box), and whether the query face is still kept.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateView {
    /// Review state.
    #[serde(flatten)]
    pub review: ReviewState,
    /// The face's image.
    pub image_id: u64,
    /// Its collection.
    pub collection: String,
    /// The image's path or URI.
    pub path: String,
    /// The face's box in the image.
    pub bbox: gabarit_types::BBox,
    /// EXIF capture time.
    pub captured_at: Option<String>,
    /// For a video: the time of the frame, seconds.
    pub time_s: Option<f64>,
    /// Templates the search compared against (N), to say what the score means at that size.
    pub gallery_size: u64,
    /// Whether the query face this candidate answers is still kept (see [`probe`]).
    pub query_face_kept: bool,
    /// The model pack of the face's template (its collection's).
    pub pack: String,
    /// Share of comparisons between different people scoring at least this high (the pack's
    /// calibration).
    pub false_match_rate: Option<f64>,
    /// Faces of other people expected to score this high in a gallery of this size: FMR × N.
    pub expected_false_candidates: Option<f64>,
    /// Impostor comparisons the calibration measured (below one in that many, it cannot tell).
    pub calibration_comparisons: Option<u64>,
}

/// One candidate of a collection granted to the reviewer; viewing it is not a decision and is
/// not logged (the faces' pictures are, when fetched).
pub fn candidate(store: &Store, who: &Caller, id: u64) -> Result<CandidateView> {
    let proof = who.may::<actions::Review>()?;
    candidate_in(store, proof.scope(), id)
}

fn candidate_in(store: &Store, scope: &Scope, id: u64) -> Result<CandidateView> {
    let c = store.catalog.candidate(scope, id)?;
    let face = store.catalog.face(scope, c.face_id)?;
    let gallery_size = store.catalog.search_gallery_size(c.search_id)?;
    let kept = store.catalog.probe_kept(c.search_id, c.query_face, &seconds(jiff::Timestamp::now()))?;
    let done = confirmed(&c.confirmed_by, &c.rejected_by);
    let pack = store.catalog.collection(&face.collection)?.pack_key();
    let calibration = crate::search::calibration_of(&pack)?;
    let fmr = calibration.as_ref().map(|cal| cal.fmr_at(c.score));
    Ok(CandidateView {
        pack: pack.name,
        false_match_rate: fmr,
        expected_false_candidates: fmr.map(|f| gabarit_metrics::expected_false_candidates(f, gallery_size)),
        calibration_comparisons: calibration.map(|cal| cal.impostor_comparisons),
        review: ReviewState { candidate: c, confirmed: done },
        image_id: face.image_id,
        collection: face.collection,
        path: face.uri,
        bbox: face.bbox,
        captured_at: face.captured_at,
        time_s: face.moment.map(|m| m.time_s),
        gallery_size,
        query_face_kept: kept,
    })
}

/// Candidates awaiting a decision in the collections granted to the reviewer, newest first.
pub fn awaiting_review(store: &Store, who: &Caller, limit: usize) -> Result<Vec<CandidateView>> {
    let proof = who.may::<actions::Review>()?;
    let mut out = Vec::new();
    for id in store.catalog.candidates_awaiting_review(proof.scope(), limit)? {
        match candidate_in(store, proof.scope(), id) {
            Ok(view) => out.push(view),
            Err(Error::Catalog(gabarit_catalog::Error::NotFound { .. })) => {} // erased meanwhile
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The query face `query_face` of a search, as JPEG, for the searcher or a reviewer who can
/// see one of its candidates (anyone else: not found); audited.
pub fn probe(store: &mut Store, who: &Caller, search: u64, query_face: usize) -> Result<Vec<u8>> {
    let not_found = || -> Error {
        gabarit_catalog::Error::NotFound { kind: "query face", name: format!("{query_face} of search {search}") }.into()
    };
    let as_investigator = who.may::<actions::Search>().is_ok();
    let as_reviewer = match who.may::<actions::Review>() {
        Ok(proof) => Some(proof),
        Err(e) if !as_investigator => return Err(e), // neither role: refused as such
        Err(_) => None,
    };
    let record = store.catalog.search_record(search).map_err(|_| not_found())?;
    let as_reviewer = match as_reviewer {
        Some(proof) => store.catalog.candidates_of_search_in(proof.scope(), search)? > 0,
        None => false,
    };
    let as_searcher = as_investigator && record.actor == who.name();
    if !(as_reviewer || as_searcher) {
        return Err(not_found());
    }
    let kept = store.catalog.probe(search, query_face, &seconds(jiff::Timestamp::now()))?.ok_or_else(not_found)?;
    store.catalog.audit(who.name(), "query_face_view", json!({"search": search, "query_face": query_face}))?;
    Ok(kept.jpeg)
}

/// One of the investigator's searches with its candidates' review states.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// The search.
    pub search: SearchRecord,
    /// Its candidates, by query face and rank.
    pub candidates: Vec<CandidateState>,
    /// The query faces still kept for review.
    pub query_faces_kept: Vec<usize>,
}

/// The caller's own searches, newest first, with their candidates' review states
/// (investigator). Holds no biometric data and no picture: not audited.
pub fn my_cases(store: &Store, who: &Caller, limit: usize) -> Result<Vec<Case>> {
    who.may::<actions::Search>()?;
    let now = seconds(jiff::Timestamp::now());
    let mut out = Vec::new();
    for search in store.catalog.searches_by(who.name(), limit.clamp(1, 500))? {
        let candidates = store.catalog.candidate_states(search.id)?;
        let query_faces_kept = store.catalog.probes_of(search.id, &now)?;
        out.push(Case { search, candidates, query_faces_kept });
    }
    Ok(out)
}

/// Deletes the query faces whose period has ended by `now`, one audited transaction per
/// search, as `actor` (run with retention); returns how many went.
pub(crate) fn expire_probes(store: &mut Store, actor: &str, now: jiff::Timestamp) -> Result<u64> {
    let mut gone = 0;
    for search in store.catalog.searches_with_expired_probes(&seconds(now))? {
        let (n, _) = store.catalog.audited(actor, "query_face_expire", |tx| {
            let n = tx.drop_probes(search)?;
            Ok((n, json!({"search": search, "query_faces_deleted": n})))
        })?;
        gone += n;
    }
    if gone > 0 {
        store.catalog.checkpoint()?;
    }
    Ok(gone)
}
