//! Search: by uploaded photo, by a face of an analysed photo, and the review of candidates.

use super::*;

/// Search request fields (multipart).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(super) struct SearchForm {
    /// The query photo.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    image: String,
    /// Case reference (required).
    case_ref: String,
    /// Purpose (required).
    purpose: String,
    /// Candidates per query face (default 10).
    top_k: Option<usize>,
    /// Minimum score (default: the pack's verification threshold).
    threshold: Option<f32>,
    /// Search only this face of the photo.
    face: Option<usize>,
    /// A collection to search (repeatable; default: those granted).
    collection: Option<String>,
    /// `true` to scan every template.
    exact: Option<bool>,
}

#[utoipa::path(post, path = "/api/v1/search", tag = "search", security(("api_key" = [])),
    request_body(content = SearchForm, content_type = "multipart/form-data"),
    responses((status = 200, body = gabarit_engine::governed::GovernedSearch, description = "Candidates for human review, with the search id"),
        (status = 413, description = "Upload over the limit"), (status = 422, description = "No face, not an image…")))]
pub(super) async fn search(
    State(state): Shared,
    Caller(who): Caller,
    form: Form,
) -> Result<Json<gabarit_engine::governed::GovernedSearch>, ApiError> {
    let (mut case_ref, mut purpose) = (String::new(), String::new());
    let mut opts = default_search(&state);
    for (field, value) in &form.fields {
        match field.as_str() {
            "case_ref" => case_ref.clone_from(value),
            "purpose" => purpose.clone_from(value),
            "top_k" => opts.top_k = parse::<usize>("top_k", value)?.clamp(1, 1000),
            "threshold" => opts.threshold = Some(parse("threshold", value)?),
            "face" => opts.face = Some(parse("face", value)?),
            "collection" => opts.collections.push(value.clone()),
            "exact" => opts.exact = parse("exact", value)?,
            other => return Err(ApiError::bad_request(format!("unknown field {other:?}"))),
        }
    }
    // The collections first: no photo is analysed for a search the caller may not make.
    let (st, caller, collections) = (state.clone(), who.clone(), opts.collections.clone());
    let packs = blocking(move || Ok(st.gabarit.search_packs(&caller, &collections)?)).await?;
    let upload = form.image_file()?;
    // First the models (at most 2 × workers photos at once), then the index (one search per
    // core at once, first come first served).
    let (shared, analyst) = (state.clone(), who.clone());
    let (img, form) = analysing(&state, move || {
        let img = shared.gabarit.analyze_query(&analyst, &packs, upload.path()).map_err(form.named(&upload))?;
        Ok((img, form))
    })
    .await?;
    let result =
        searching(&state.clone(), move || search_analysed(&state, &who, &case_ref, &purpose, &form.name, &img, &opts))
            .await?;
    Ok(Json(result))
}

/// The purpose-bound search of an analysed photo.
fn search_analysed(
    state: &AppState,
    who: &gabarit_engine::Caller,
    case_ref: &str,
    purpose: &str,
    query: &str,
    img: &gabarit_engine::query::QueryPhoto,
    opts: &SearchOptions,
) -> Result<gabarit_engine::governed::GovernedSearch, ApiError> {
    Ok(state.gabarit.search_faces(who, case_ref, purpose, query, img, opts)?)
}

/// Search options before the request's fields.
fn default_search(state: &AppState) -> SearchOptions {
    SearchOptions {
        collections: Vec::new(),
        top_k: 10,
        threshold: None,
        face: None,
        target_fpir: 1e-3,
        exact: false,
        probe_days: state.probe_days,
    }
}

/// Query photo (multipart).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(super) struct QueryForm {
    /// The query photo.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    image: String,
}

#[utoipa::path(post, path = "/api/v1/queries", tag = "search", security(("api_key" = [])),
    request_body(content = QueryForm, content_type = "multipart/form-data"),
    responses((status = 201, body = AnalysedQuery, description = "The faces found on the photo (boxes, quality; never templates) and the query id to search one of them with"),
        (status = 413, description = "Upload over the limit"), (status = 422, description = "Not an image…")))]
pub(super) async fn analyse_query(State(state): Shared, Caller(who): Caller, form: Form) -> Result<Response, ApiError> {
    if let Some((field, _)) = form.fields.first() {
        return Err(ApiError::bad_request(format!("unknown field {field:?}")));
    }
    let upload = form.image_file()?;
    let (st, caller) = (state.clone(), who.clone());
    let packs = blocking(move || Ok(st.gabarit.search_packs(&caller, &[])?)).await?;
    let answer = analysing(&state.clone(), move || {
        let img = state.gabarit.analyze_query(&who, &packs, upload.path()).map_err(form.named(&upload))?;
        let faces: Vec<AnalysedFace> = img
            .faces
            .faces
            .iter()
            .enumerate()
            .map(|(index, f)| AnalysedFace { index, bbox: f.bbox, score: f.score, quality: f.quality })
            .collect();
        let (width, height) = (img.faces.width, img.faces.height);
        let id = state.gabarit.keep_query(&who, &form.name, &img)?;
        Ok(AnalysedQuery { query_id: id, name: form.name, width, height, faces })
    })
    .await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// A search with an analysed query photo.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct QuerySearch {
    /// Case reference (required).
    case_ref: String,
    /// Purpose (required).
    purpose: String,
    /// The face of the photo to search with (index in the analysis; default: every face).
    face: Option<usize>,
    /// Candidates per query face (default 10, at most 1000).
    top_k: Option<usize>,
    /// Minimum score (default: the pack's verification threshold).
    threshold: Option<f32>,
    /// Collections to search (default: those granted).
    #[serde(default)]
    collections: Vec<String>,
    /// `true` to scan every template.
    #[serde(default)]
    exact: bool,
}

#[utoipa::path(post, path = "/api/v1/queries/{id}/search", tag = "search", security(("api_key" = [])),
    params(("id" = String, Path, description = "Query id from POST /api/v1/queries")), request_body = QuerySearch,
    responses((status = 200, body = gabarit_engine::governed::GovernedSearch, description = "Candidates for human review, with the search id (as POST /api/v1/search)"),
        (status = 404, description = "No such query of this user (or expired)")))]
pub(super) async fn search_query(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<String>,
    Body(req): Body<QuerySearch>,
) -> Result<Json<gabarit_engine::governed::GovernedSearch>, ApiError> {
    let mut opts = default_search(&state);
    opts.collections = req.collections;
    opts.top_k = req.top_k.unwrap_or(10).clamp(1, 1000);
    opts.threshold = req.threshold;
    opts.face = req.face;
    opts.exact = req.exact;
    state.gabarit.may_search(&who)?;
    let result = searching(&state.clone(), move || {
        let Some((name, img)) = state.gabarit.kept_query(&who, &id)? else {
            return Err(crate::error::ErrorCode::NotFound
                .with(format!("query {id}: no such query of yours (queries expire after 15 minutes)")));
        };
        search_analysed(&state, &who, &req.case_ref, &req.purpose, &name, &img, &opts)
    })
    .await?;
    Ok(Json(result))
}

/// A reviewer's decision.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct Decision {
    /// `confirm` or `reject`.
    decision: String,
}

#[utoipa::path(post, path = "/api/v1/candidates/{id}/review", tag = "search", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Candidate id")), request_body = Decision,
    responses((status = 200, body = gabarit_engine::review::ReviewState, description = "The candidate's state: confirmed once two different reviewers confirm")))]
pub(super) async fn review(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
    Body(d): Body<Decision>,
) -> Result<Json<gabarit_engine::review::ReviewState>, ApiError> {
    let confirm = match d.decision.as_str() {
        "confirm" => true,
        "reject" => false,
        other => return Err(ApiError::bad_request(format!("decision {other:?}: expected confirm or reject"))),
    };
    blocking(move || Ok(Json(state.gabarit.review(&who, id, confirm)?))).await
}

/// How many candidates a listing shows.
#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct CandidateListing {
    /// At most this many, newest first (default 50, at most 500).
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/candidates", tag = "search", security(("api_key" = [])), params(CandidateListing),
    responses((status = 200, body = Candidates, description = "Candidates awaiting a decision (fewer than two confirmations, no rejection), newest first (reviewer)")))]
pub(super) async fn list_candidates(
    State(state): Shared,
    Caller(who): Caller,
    Params(listing): Params<CandidateListing>,
) -> Result<Json<Candidates>, ApiError> {
    let limit = listing.limit.unwrap_or(50).clamp(1, 500);
    blocking(move || Ok(Json(Candidates { items: state.gabarit.awaiting_review(&who, limit)? }))).await
}

#[utoipa::path(get, path = "/api/v1/candidates/{id}", tag = "search", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Candidate id")),
    responses((status = 200, body = gabarit_engine::review::CandidateView, description = "The candidate: score and its meaning, review state, the face's image and box (reviewer)")))]
pub(super) async fn show_candidate(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
) -> Result<Json<gabarit_engine::review::CandidateView>, ApiError> {
    blocking(move || Ok(Json(state.gabarit.candidate(&who, id)?))).await
}

#[utoipa::path(get, path = "/api/v1/searches/{id}/query-faces/{index}", tag = "search", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Search id"), ("index" = usize, Path, description = "Query face (a candidate's query_face)")),
    responses((status = 200, description = "The query face kept for review, as JPEG (the searcher, or a reviewer of one of its candidates; audited)", content_type = "image/jpeg"),
        (status = 404, description = "Not kept (every candidate decided, period over) or not yours to see")))]
pub(super) async fn query_face(
    State(state): Shared,
    Caller(who): Caller,
    Param((id, index)): Param<(u64, usize)>,
) -> Result<Response, ApiError> {
    blocking(move || Ok(jpeg_response(state.gabarit.probe(&who, id, index)?))).await
}

/// How many of one's searches a listing shows.
#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct CaseListing {
    /// At most this many, newest first (default 50, at most 500).
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/searches", tag = "search", security(("api_key" = [])), params(CaseListing),
    responses((status = 200, body = Cases, description = "The caller's own searches, newest first, with each candidate's review state and the query faces still kept (investigator)")))]
pub(super) async fn my_cases(
    State(state): Shared,
    Caller(who): Caller,
    Params(listing): Params<CaseListing>,
) -> Result<Json<Cases>, ApiError> {
    let limit = listing.limit.unwrap_or(50).clamp(1, 500);
    blocking(move || Ok(Json(Cases { items: state.gabarit.my_cases(&who, limit)? }))).await
}
