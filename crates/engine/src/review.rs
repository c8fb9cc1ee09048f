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

use gabarit_catalog::{CandidateRecord, CandidateState, SearchRecord};
use gabarit_governance::{Scope, actions, confirmed};
use serde::Serialize;
use serde_json::json;

use crate::auth::Caller;
use crate::query::seconds;
use crate::store::Store;
use crate::{Error, Result};

/// The state of a candidate after a review.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
pub(crate) fn review(store: &mut Store, who: &Caller, candidate: u64, confirm: bool) -> Result<ReviewState> {
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
pub(crate) fn candidate(store: &Store, who: &Caller, id: u64) -> Result<CandidateView> {
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
    let calibration = crate::store::calibration_of(&pack)?;
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
pub(crate) fn awaiting_review(store: &Store, who: &Caller, limit: usize) -> Result<Vec<CandidateView>> {
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
pub(crate) fn probe(store: &mut Store, who: &Caller, search: u64, query_face: usize) -> Result<Vec<u8>> {
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
pub(crate) fn my_cases(store: &Store, who: &Caller, limit: usize) -> Result<Vec<Case>> {
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
