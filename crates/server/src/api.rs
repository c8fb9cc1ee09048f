//! Routes and handlers. Every `/api/v1` route except the OpenAPI document authenticates the
//! caller by API key (`X-Api-Key: gbk_…` or `Authorization: Bearer gbk_…`) and calls one
//! governed use case; routes are registered only through `utoipa_axum::routes!`, so the
//! OpenAPI document lists exactly the routes served.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Multipart, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use gabarit_engine::search::SearchOptions;
use gabarit_engine::{governed, jobs, rights};
use gabarit_governance::Principal;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::metrics::{JobLabels, LatencyLabels, RouteLabels, StageLabels};
use crate::{ApiError, AppState};

type Shared = State<Arc<AppState>>;

#[derive(OpenApi)]
#[openapi(
    info(title = "Gabarit", description = "Face search, lawful by design. Every call is authorised by role and audited; results are candidates for human review."),
    modifiers(&KeyScheme)
)]
struct ApiDoc;

struct KeyScheme;

impl utoipa::Modify for KeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))));
    }
}

/// The router and its OpenAPI document.
pub fn router(state: Arc<AppState>) -> (Router, utoipa::openapi::OpenApi) {
    let (api, spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(me))
        .routes(routes!(list_collections))
        .routes(routes!(show_collection))
        .routes(routes!(search))
        .routes(routes!(analyse_query))
        .routes(routes!(search_query))
        .routes(routes!(review))
        .routes(routes!(list_candidates))
        .routes(routes!(show_candidate))
        .routes(routes!(update_governance))
        .routes(routes!(show_image))
        .routes(routes!(image_file))
        .routes(routes!(face_crop))
        .routes(routes!(list_users))
        .routes(routes!(audit_entries))
        .routes(routes!(audit_verify))
        .routes(routes!(processing_record))
        .routes(routes!(create_user))
        .routes(routes!(issue_key))
        .routes(routes!(grant))
        .routes(routes!(create_collection))
        .routes(routes!(list_rights, open_rights))
        .routes(routes!(rights_access))
        .routes(routes!(rights_erase))
        .routes(routes!(rights_object))
        .routes(routes!(retention_run))
        .routes(routes!(list_jobs, submit_job))
        .routes(routes!(show_job))
        .routes(routes!(upload))
        .routes(routes!(login, logout))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(state.max_upload_bytes))
        .with_state(state.clone())
        .split_for_parts();
    let document = Arc::new(spec.clone());
    let public = Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .route("/metrics", axum::routing::get(metrics))
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move { Json(document.as_ref().clone()) }
            }),
        )
        .with_state(state);
    (api.merge(public).fallback(crate::web::serve), spec)
}

/// Counts and times every API request by its route pattern (never its ids).
async fn track(State(state): Shared, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let method = req.method().to_string();
    let m = &state.metrics;
    m.in_flight.inc();
    let started = Instant::now();
    let response = next.run(req).await;
    m.in_flight.dec();
    m.latency.get_or_create(&LatencyLabels { route: route.clone() }).observe(started.elapsed().as_secs_f64());
    let route_for_log = route.clone();
    m.requests.get_or_create(&RouteLabels { method, route, status: response.status().as_u16() }).inc();
    tracing::info!(route = %route_for_log, status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    response
}

async fn metrics(State(state): Shared) -> Result<Response, ApiError> {
    let (templates, jobs) = {
        let store = state.store()?;
        (store.index.len() as u64, store.catalog.job_counts().map_err(gabarit_engine::Error::from)?)
    };
    state.metrics.templates.set(templates);
    for name in ["queued", "running", "done", "failed"] {
        let n = jobs.iter().find(|(s, _)| s == name).map_or(0, |(_, n)| *n);
        state.metrics.jobs.get_or_create(&JobLabels { state: name.into() }).set(n as i64);
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &state.metrics.registry)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response())
}

/// The authenticated caller.
pub struct Caller(pub Principal);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let header = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let key = header(header::HeaderName::from_static("x-api-key"))
            .or_else(|| header(header::AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim))
            .filter(|k| !k.is_empty());
        let Some(key) = key else {
            // The web UI's session cookie; state-changing requests must echo its CSRF token.
            if let Some(token) = session_cookie(&parts.headers) {
                let store = state.store()?;
                if let Some((who, csrf)) = governed::session_user(&store, &token)? {
                    let safe = matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD);
                    let echoed = header(header::HeaderName::from_static("x-csrf-token")).unwrap_or_default();
                    if !safe && !same(echoed.as_bytes(), csrf.as_bytes()) {
                        return Err(ApiError::new(
                            StatusCode::FORBIDDEN,
                            "csrf",
                            "state-changing requests of a session need its X-CSRF-Token header",
                        ));
                    }
                    return Ok(Caller(who));
                }
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "session_expired",
                    "the session has ended: log in again",
                ));
            }
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "an API key is required (header X-Api-Key or Authorization: Bearer)",
            ));
        };
        let store = state.store()?;
        let user = store.catalog.user_for_key(key).map_err(gabarit_engine::Error::from)?;
        let Some(name) = user else {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_key", "this API key is not valid"));
        };
        Ok(Caller(governed::actor(&store, Some(&name))?))
    }
}

const SESSION_COOKIE: &str = "gabarit_session";

fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|cookies| {
        cookies.split(';').find_map(|c| {
            let (name, value) = c.trim().split_once('=')?;
            (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_string())
        })
    })
}

/// Compares secrets in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON body whose rejection is an [`ApiError`] (`bad_request`, naming what is wrong).
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
struct Body<T>(T);

/// A path parameter whose rejection is an [`ApiError`].
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
struct Param<T>(T);

/// Query parameters whose rejection is an [`ApiError`].
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
struct Params<T>(T);

impl axum::extract::FromRequest<Arc<AppState>> for Form {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let multipart = Multipart::from_request(req, state).await.map_err(|e| ApiError::bad_request(e.body_text()))?;
        read_form(multipart).await
    }
}

/// Runs work that uses the face models off the async threads, at most a few at a time.
async fn analysing<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let waiting = state.metrics.waiting.get_or_create(&StageLabels { stage: "analysis" }).clone();
    waiting.inc();
    let permit = state.analysing.acquire().await;
    waiting.dec();
    let _permit = permit.map_err(|_| ApiError::internal("the server is shutting down"))?;
    blocking(f).await
}

/// Runs a search of the index off the async threads, at most one per core (plus one) at once: the others
/// wait their turn in order, so that under load every search waits about as long (a fair
/// queue instead of threads sharing the cores).
async fn searching<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let waiting = state.metrics.waiting.get_or_create(&StageLabels { stage: "search" }).clone();
    waiting.inc();
    let permit = state.searching.acquire().await;
    waiting.dec();
    let _permit = permit.map_err(|_| ApiError::internal("the server is shutting down"))?;
    blocking(f).await
}

/// Runs blocking work (SQLite, the face models) off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("a worker failed: {e}")))?
}

#[utoipa::path(get, path = "/api/v1/me", tag = "users", security(("api_key" = [])),
    responses((status = 200, description = "The caller: name, roles, collections granted")))]
async fn me(State(state): Shared, Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    let collections = blocking(move || {
        let store = state.store()?;
        let all = store.catalog.collections().map_err(gabarit_engine::Error::from)?;
        Ok(all
            .into_iter()
            .filter(|c| who.collections.contains(&c.collection.id))
            .map(|c| c.collection.name)
            .collect::<Vec<_>>())
    });
    let roles: Vec<&str> = who.roles.iter().map(|r| r.name()).collect();
    Ok(Json(json!({"name": who.name, "roles": roles, "collections": collections.await?})))
}

#[utoipa::path(get, path = "/api/v1/collections", tag = "collections", security(("api_key" = [])),
    responses((status = 200, description = "Collections with their counts")))]
async fn list_collections(State(state): Shared, Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    let store = state.store()?;
    Ok(Json(json!(governed::list_collections(&store, &who)?)))
}

#[utoipa::path(get, path = "/api/v1/collections/{name}", tag = "collections", security(("api_key" = [])),
    params(("name" = String, Path, description = "Collection name")),
    responses((status = 200, description = "Counts and governance fields"), (status = 404, description = "No such collection")))]
async fn show_collection(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
) -> Result<Json<Value>, ApiError> {
    let store = state.store()?;
    let summary = governed::list_collections(&store, &who)?
        .into_iter()
        .find(|c| c.collection.name == name)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no collection named {name:?}")))?;
    let governance = store.catalog.governance(&name).map_err(gabarit_engine::Error::from)?;
    Ok(Json(json!({"collection": summary, "governance": governance})))
}

/// Search request fields (multipart).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct SearchForm {
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

/// A multipart form: the `image` file (if any), its name, and the text fields in order.
struct Form {
    image: Option<axum::body::Bytes>,
    name: String,
    fields: Vec<(String, String)>,
}

async fn read_form(mut form: Multipart) -> Result<Form, ApiError> {
    let mut out = Form { image: None, name: "upload".into(), fields: Vec::new() };
    while let Some(field) = form.next_field().await? {
        let field_name = field.name().unwrap_or_default().to_string();
        if field_name == "image" {
            out.name = field.file_name().unwrap_or("upload").to_string();
            out.image = Some(field.bytes().await?);
        } else {
            let value = field.text().await?;
            out.fields.push((field_name, value));
        }
    }
    Ok(out)
}

impl Form {
    /// Writes the image to a temporary file (the engine reads files), or names what is missing.
    fn image_file(&self) -> Result<tempfile::NamedTempFile, ApiError> {
        let image = self.image.as_ref().ok_or_else(|| ApiError::bad_request("field image: the photo is missing"))?;
        let file = tempfile::Builder::new()
            .prefix("gabarit-upload-")
            .tempfile()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        fs_err::write(file.path(), image).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(file)
    }

    /// Turns an engine error into an API error naming the upload, not the temporary copy.
    fn named(&self, file: &tempfile::NamedTempFile) -> impl Fn(gabarit_engine::Error) -> ApiError + use<> {
        let (temp, name) = (file.path().display().to_string(), self.name.clone());
        move |e| {
            let mut api = ApiError::from(e);
            api.message = api.message.replace(&temp, &name);
            api
        }
    }
}

fn parse<T: std::str::FromStr>(field: &str, value: &str) -> Result<T, ApiError> {
    value.trim().parse().map_err(|_| ApiError::bad_request(format!("field {field}: {value:?} is not valid")))
}

#[utoipa::path(post, path = "/api/v1/search", tag = "search", security(("api_key" = [])),
    request_body(content = SearchForm, content_type = "multipart/form-data"),
    responses((status = 200, description = "Candidates for human review, with the search id"),
        (status = 413, description = "Upload over the limit"), (status = 422, description = "No face, not an image…")))]
async fn search(State(state): Shared, Caller(who): Caller, form: Form) -> Result<Json<Value>, ApiError> {
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
    let upload = form.image_file()?;
    // First the models (at most 2 × workers photos at once), then the index (one search per
    // core at once, first come first served).
    let (shared, analyst) = (state.clone(), who.clone());
    let (img, form) = analysing(&state, move || {
        let img = governed::analyze_query(&shared.service, &analyst, upload.path()).map_err(form.named(&upload))?;
        Ok((img, form))
    })
    .await?;
    let result = searching(&state.clone(), move || {
        Ok(governed::governed_search_faces(
            &mut *state.store()?,
            &who,
            &case_ref,
            &purpose,
            &form.name,
            &img,
            &opts,
            state.calibration.as_ref(),
            state.verification_threshold,
        )?)
    })
    .await?;
    Ok(Json(json!(result)))
}

/// Search options before the request's fields.
fn default_search(state: &AppState) -> SearchOptions {
    SearchOptions {
        collections: Vec::new(),
        top_k: 10,
        threshold: None,
        face: None,
        target_fpir: 1e-3,
        suppression_threshold: Some(state.rights_threshold),
        exact: false,
    }
}

/// Query photo (multipart).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct QueryForm {
    /// The query photo.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    image: String,
}

#[utoipa::path(post, path = "/api/v1/queries", tag = "search", security(("api_key" = [])),
    request_body(content = QueryForm, content_type = "multipart/form-data"),
    responses((status = 201, description = "The faces found on the photo (boxes, quality; never templates) and the query id to search one of them with"),
        (status = 413, description = "Upload over the limit"), (status = 422, description = "Not an image…")))]
async fn analyse_query(State(state): Shared, Caller(who): Caller, form: Form) -> Result<Response, ApiError> {
    if let Some((field, _)) = form.fields.first() {
        return Err(ApiError::bad_request(format!("unknown field {field:?}")));
    }
    let upload = form.image_file()?;
    let answer = analysing(&state.clone(), move || {
        let img = governed::analyze_query(&state.service, &who, upload.path()).map_err(form.named(&upload))?;
        let faces: Vec<Value> = img
            .faces
            .iter()
            .enumerate()
            .map(|(index, f)| json!({"index": index, "bbox": f.bbox, "score": f.score, "quality": f.quality}))
            .collect();
        let (width, height) = (img.width, img.height);
        let id = state
            .queries
            .lock()
            .map_err(|_| ApiError::internal("the query lock is poisoned"))?
            .insert(&who.name, &form.name, img)
            .map_err(|e| ApiError::internal(format!("no randomness for a query id: {e}")))?;
        Ok(json!({"query_id": id, "name": form.name, "width": width, "height": height, "faces": faces}))
    })
    .await?;
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// A search with an analysed query photo.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct QuerySearch {
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
    responses((status = 200, description = "Candidates for human review, with the search id (as POST /api/v1/search)"),
        (status = 404, description = "No such query of this user (or expired)")))]
async fn search_query(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<String>,
    Body(req): Body<QuerySearch>,
) -> Result<Json<Value>, ApiError> {
    let mut opts = default_search(&state);
    opts.collections = req.collections;
    opts.top_k = req.top_k.unwrap_or(10).clamp(1, 1000);
    opts.threshold = req.threshold;
    opts.face = req.face;
    opts.exact = req.exact;
    governed::may_search(&who)?;
    let result = searching(&state.clone(), move || {
        let found =
            state.queries.lock().map_err(|_| ApiError::internal("the query lock is poisoned"))?.get(&id, &who.name);
        let Some((name, img)) = found else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("query {id}: no such query of yours (queries expire after 15 minutes)"),
            ));
        };
        let mut store = state.store()?;
        Ok(governed::governed_search_faces(
            &mut store,
            &who,
            &req.case_ref,
            &req.purpose,
            &name,
            &img,
            &opts,
            state.calibration.as_ref(),
            state.verification_threshold,
        )?)
    })
    .await?;
    Ok(Json(json!(result)))
}

/// A reviewer's decision.
#[derive(Deserialize, utoipa::ToSchema)]
struct Decision {
    /// `confirm` or `reject`.
    decision: String,
}

#[utoipa::path(post, path = "/api/v1/candidates/{id}/review", tag = "search", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Candidate id")), request_body = Decision,
    responses((status = 200, description = "The candidate's state: confirmed once two different reviewers confirm")))]
async fn review(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
    Body(d): Body<Decision>,
) -> Result<Json<Value>, ApiError> {
    let confirm = match d.decision.as_str() {
        "confirm" => true,
        "reject" => false,
        other => return Err(ApiError::bad_request(format!("decision {other:?}: expected confirm or reject"))),
    };
    blocking(move || {
        let mut store = state.store()?;
        Ok(Json(json!(governed::review(&mut store, &who, id, confirm)?)))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/images/{id}", tag = "images", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Image or video id")),
    responses((status = 200, description = "The record, its faces (boxes, quality, times) and tracks; never templates")))]
async fn show_image(State(state): Shared, Caller(who): Caller, Param(id): Param<u64>) -> Result<Json<Value>, ApiError> {
    let store = state.store()?;
    Ok(Json(governed::image_record(&store, &who, id)?))
}

/// Which frame of a video.
#[derive(Deserialize, utoipa::IntoParams)]
struct FrameTime {
    /// Seconds from the start (videos only).
    time_s: Option<f64>,
}

fn jpeg_response(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-store")], bytes).into_response()
}

#[utoipa::path(get, path = "/api/v1/images/{id}/file", tag = "images", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Image or video id"), FrameTime),
    responses((status = 200, description = "The photo upright, or the video's frame at time_s, as JPEG (audited)", content_type = "image/jpeg")))]
async fn image_file(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
    Params(t): Params<FrameTime>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let mut store = state.store()?;
        let limits = gabarit_media::DecodeLimits::default();
        Ok(jpeg_response(governed::source_image(&mut store, &who, id, t.time_s, &limits)?))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/faces/{id}/crop", tag = "images", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Face id")),
    responses((status = 200, description = "The face with a margin, as JPEG, for review (audited)", content_type = "image/jpeg")))]
async fn face_crop(State(state): Shared, Caller(who): Caller, Param(id): Param<u64>) -> Result<Response, ApiError> {
    blocking(move || {
        let mut store = state.store()?;
        let limits = gabarit_media::DecodeLimits::default();
        Ok(jpeg_response(governed::face_crop(&mut store, &who, id, &limits)?))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("api_key" = [])),
    responses((status = 200, description = "Users with roles and grants (admin)")))]
async fn list_users(State(state): Shared, Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    let store = state.store()?;
    Ok(Json(json!(governed::list_users(&store, &who)?)))
}

/// A period of the audit log.
#[derive(Deserialize, utoipa::IntoParams)]
struct Period {
    /// From (RFC 3339), inclusive.
    from: Option<String>,
    /// To (RFC 3339), exclusive.
    to: Option<String>,
    /// Entries to skip (default 0).
    offset: Option<usize>,
    /// Entries to return (default 1000, at most 10,000).
    limit: Option<usize>,
    /// Only entries of this action (e.g. `search`, `image_view`).
    action: Option<String>,
    /// Only entries of this actor (a user name).
    actor: Option<String>,
}

/// One page of a list: `total` items in all, `items` from `offset`.
fn page<T: serde::Serialize>(all: Vec<T>, offset: Option<usize>, limit: Option<usize>) -> Value {
    let total = all.len();
    let offset = offset.unwrap_or(0);
    let limit = limit.unwrap_or(1000).clamp(1, 10_000);
    let items: Vec<T> = all.into_iter().skip(offset).take(limit).collect();
    json!({"total": total, "offset": offset, "limit": limit, "items": items})
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("api_key" = [])), params(Period),
    responses((status = 200, description = "A page of the audit entries of the period: total, offset, limit, items (dpo)")))]
async fn audit_entries(
    State(state): Shared,
    Caller(who): Caller,
    Params(p): Params<Period>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let mut store = state.store()?;
        let mut entries = governed::audit_export(&mut store, &who, p.from.as_deref(), p.to.as_deref())?;
        entries.retain(|e| {
            p.action.as_deref().is_none_or(|a| e.action == a) && p.actor.as_deref().is_none_or(|a| e.actor == a)
        });
        Ok(Json(page(entries, p.offset, p.limit)))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", security(("api_key" = [])),
    responses((status = 200, description = "Whether the hash chain is intact, and the first broken entry (dpo)")))]
async fn audit_verify(State(state): Shared, Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let mut store = state.store()?;
        let (entries, broken) = governed::audit_verify(&mut store, &who)?;
        Ok(Json(json!({"entries": entries, "intact": broken.is_none(), "first_break": broken})))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/reports/processing", tag = "reports", security(("api_key" = [])),
    responses((status = 200, description = "Record of processing activities, GDPR art. 30 (dpo)")))]
async fn processing_record(State(state): Shared, Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let mut store = state.store()?;
        Ok(Json(json!(governed::processing_record(&mut store, &who)?)))
    })
    .await
}

/// A new user.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewUser {
    /// Name.
    name: String,
    /// Roles: admin, curator, investigator, reviewer, dpo.
    roles: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("api_key" = [])), request_body = NewUser,
    responses((status = 200, description = "The user's API key, shown once (admin)")))]
async fn create_user(
    State(state): Shared,
    Caller(who): Caller,
    Body(u): Body<NewUser>,
) -> Result<Json<Value>, ApiError> {
    let roles = u
        .roles
        .iter()
        .map(|r| gabarit_governance::Role::parse(r).map_err(|e| ApiError::bad_request(e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    let mut store = state.store()?;
    let key = governed::add_user(&mut store, &who, &u.name, &roles)?;
    Ok(Json(json!({"name": u.name, "key": key})))
}

#[utoipa::path(post, path = "/api/v1/users/{name}/keys", tag = "users", security(("api_key" = [])),
    params(("name" = String, Path, description = "User")),
    responses((status = 200, description = "A new API key for the user, shown once (admin)")))]
async fn issue_key(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
) -> Result<Json<Value>, ApiError> {
    let mut store = state.store()?;
    let key = governed::issue_key(&mut store, &who, &name)?;
    Ok(Json(json!({"name": name, "key": key})))
}

/// A collection to grant.
#[derive(Deserialize, utoipa::ToSchema)]
struct Grant {
    /// Collection name.
    collection: String,
}

#[utoipa::path(post, path = "/api/v1/users/{name}/grants", tag = "users", security(("api_key" = [])),
    params(("name" = String, Path, description = "User")), request_body = Grant,
    responses((status = 200, description = "The user may now search the collection (admin)")))]
async fn grant(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
    Body(g): Body<Grant>,
) -> Result<Json<Value>, ApiError> {
    let mut store = state.store()?;
    governed::grant(&mut store, &who, &name, &g.collection)?;
    Ok(Json(json!({"name": name, "collection": g.collection})))
}

/// A new collection with its governance fields.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewCollection {
    /// Name.
    name: String,
    /// Description.
    #[serde(default)]
    description: String,
    /// Controller, purpose, legal basis, jurisdiction, retention… (ingestion is refused until
    /// every field is set).
    #[schema(value_type = Object)]
    governance: gabarit_governance::GovernanceDraft,
}

#[utoipa::path(post, path = "/api/v1/collections", tag = "collections", security(("api_key" = [])), request_body = NewCollection,
    responses((status = 200, description = "Created; lists the governance fields still missing (curator)")))]
async fn create_collection(
    State(state): Shared,
    Caller(who): Caller,
    Body(c): Body<NewCollection>,
) -> Result<Json<Value>, ApiError> {
    let mut store = state.store()?;
    governed::create_collection(&mut store, &who, &c.name, &c.description, &c.governance)?;
    Ok(Json(json!({"name": c.name, "missing": c.governance.missing()})))
}

#[utoipa::path(get, path = "/api/v1/rights", tag = "rights", security(("api_key" = [])),
    responses((status = 200, description = "Rights requests with deadlines, newest first (dpo)")))]
async fn list_rights(State(state): Shared, Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    let store = state.store()?;
    Ok(Json(json!(rights::list_requests(&store, &who)?)))
}

/// A rights request as received.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewRequest {
    /// access, erasure or objection.
    kind: String,
    /// Who asks (a reference, not a biometric).
    requester: String,
    /// How their identity was verified.
    verification: String,
    /// Date received, YYYY-MM-DD (the deadline is one month later).
    received_on: String,
}

#[utoipa::path(post, path = "/api/v1/rights", tag = "rights", security(("api_key" = [])), request_body = NewRequest,
    responses((status = 200, description = "The request with its deadline (dpo)")))]
async fn open_rights(
    State(state): Shared,
    Caller(who): Caller,
    Body(r): Body<NewRequest>,
) -> Result<Json<Value>, ApiError> {
    let mut store = state.store()?;
    let req = rights::open_request(&mut store, &who, &r.kind, &r.requester, &r.verification, &r.received_on)?;
    Ok(Json(json!(req)))
}

/// A rights action's photo of the requester (multipart).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct RightsForm {
    /// The requester's photo.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    image: String,
    /// For erasure: the number of faces listed by the plan, to delete them.
    confirm: Option<usize>,
}

#[utoipa::path(post, path = "/api/v1/rights/{id}/access", tag = "rights", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Request id")), request_body(content = RightsForm, content_type = "multipart/form-data"),
    responses((status = 200, description = "Every face of the requester in every collection, with provenance and legal fields (dpo)")))]
async fn rights_access(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
    form: Form,
) -> Result<Json<Value>, ApiError> {
    on_requester_photo(state, form, move |st, store, photo| {
        rights::access(&st.service, store, &who, id, photo, st.rights_threshold).map(|r| json!(r))
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/rights/{id}/erase", tag = "rights", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Request id")), request_body(content = RightsForm, content_type = "multipart/form-data"),
    responses((status = 200, description = "Without confirm: the faces that would be erased (the plan; dpo)"),
        (status = 202, description = "With confirm = their number: the plan and the job that erases them (follow it at /api/v1/jobs/{id})")))]
async fn rights_erase(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
    form: Form,
) -> Result<Response, ApiError> {
    let mut confirm = None;
    for (field, value) in &form.fields {
        match field.as_str() {
            "confirm" => confirm = Some(parse::<usize>("confirm", value)?),
            other => return Err(ApiError::bad_request(format!("unknown field {other:?}"))),
        }
    }
    let Json(out) = on_requester_photo(state, form, move |st, store, photo| {
        let (report, confirmed) =
            rights::plan_erasure(&st.service, store, &who, id, photo, st.rights_threshold, confirm)?;
        // Confirmed: the deletion, the compaction and the vacuum run as a job (ids only).
        let job = confirmed.map(|e| jobs::submit_erasure(store, &who, &e)).transpose()?;
        if job.is_some() {
            crate::jobs::wake(st);
        }
        Ok(json!({"report": report, "job": job}))
    })
    .await?;
    let status = if out["job"].is_null() { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((status, Json(out)).into_response())
}

#[utoipa::path(post, path = "/api/v1/rights/{id}/object", tag = "rights", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Request id")), request_body(content = RightsForm, content_type = "multipart/form-data"),
    responses((status = 200, description = "The requester's faces are hidden from search and blocked at ingestion (dpo)")))]
async fn rights_object(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
    form: Form,
) -> Result<Json<Value>, ApiError> {
    on_requester_photo(state, form, move |st, store, photo| {
        rights::object(&st.service, store, &who, id, photo, st.rights_threshold).map(|r| json!(r))
    })
    .await
}

/// Runs a rights action on the requester's uploaded photo, with the store, among the
/// analysing requests; errors name the upload.
async fn on_requester_photo(
    state: Arc<AppState>,
    form: Form,
    action: impl FnOnce(&AppState, &mut gabarit_engine::store::Store, &std::path::Path) -> gabarit_engine::Result<Value>
    + Send
    + 'static,
) -> Result<Json<Value>, ApiError> {
    let upload = form.image_file()?;
    analysing(&state.clone(), move || {
        let mut store = state.store()?;
        let out = action(&state, &mut store, upload.path()).map_err(form.named(&upload))?;
        Ok(Json(out))
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/retention/run", tag = "rights", security(("api_key" = [])),
    responses((status = 200, description = "What expired under each collection's retention was deleted (dpo)")))]
async fn retention_run(State(state): Shared, Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let mut store = state.store()?;
        Ok(Json(json!(rights::retention_run(&mut store, &who, jiff::Timestamp::now())?)))
    })
    .await
}

/// A login.
#[derive(Deserialize, utoipa::ToSchema)]
struct Credentials {
    /// User name.
    name: String,
    /// Password (set by an admin with `gabarit user password`).
    password: String,
}

/// Failed logins allowed per user name within [`LOGIN_WINDOW`] before 429.
const LOGIN_ATTEMPTS: usize = 5;
/// The window of failed logins.
const LOGIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(15 * 60);

#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = Credentials,
    responses((status = 200, description = "Logged in: an HttpOnly, Secure, SameSite=Strict session cookie, and the CSRF token"),
        (status = 401, description = "Unknown user or wrong password"), (status = 429, description = "Too many failed logins")))]
async fn login(State(state): Shared, Body(c): Body<Credentials>) -> Result<Response, ApiError> {
    {
        let mut failures = state.failed_logins.lock().map_err(|_| ApiError::internal("lock poisoned"))?;
        // Forget failures older than the window (and names with none left: bounded memory).
        failures.retain(|_, times: &mut Vec<Instant>| {
            times.retain(|t| t.elapsed() < LOGIN_WINDOW);
            !times.is_empty()
        });
        if failures.get(&c.name).is_some_and(|times| times.len() >= LOGIN_ATTEMPTS) {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!("{LOGIN_ATTEMPTS} failed logins for {:?}: wait 15 minutes", c.name),
            ));
        }
    }
    let name = c.name.clone();
    let st = state.clone();
    let session = blocking(move || {
        let mut store = st.store()?;
        governed::login(&mut store, &c.name, &c.password).map_err(|e| {
            if matches!(e, gabarit_engine::Error::Policy(_)) {
                ApiError::new(StatusCode::UNAUTHORIZED, "bad_credentials", "unknown user or wrong password")
            } else {
                ApiError::from(e)
            }
        })
    })
    .await;
    let session = match session {
        Ok(s) => s,
        Err(e) => {
            if e.code == "bad_credentials"
                && let Ok(mut failures) = state.failed_logins.lock()
            {
                failures.entry(name).or_default().push(Instant::now());
            }
            return Err(e);
        }
    };
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={}",
        session.token,
        governed::SESSION_HOURS * 3600
    );
    Ok(([(header::SET_COOKIE, cookie)], Json(json!(session))).into_response())
}

#[utoipa::path(delete, path = "/api/v1/session", tag = "session", security(("api_key" = [])),
    responses((status = 200, description = "Logged out: the session is deleted and the cookie cleared")))]
async fn logout(
    State(state): Shared,
    Caller(who): Caller,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = session_cookie(&headers) {
        let mut store = state.store()?;
        governed::logout(&mut store, &who, &token)?;
    }
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0");
    Ok(([(header::SET_COOKIE, cookie)], Json(json!({"user": who.name}))).into_response())
}

/// Ingestion of server paths.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewJob {
    /// Target collection.
    collection: String,
    /// Folders, files or archives on the server, under an ingestion root (`serve --ingest-root`).
    paths: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", security(("api_key" = [])), request_body = NewJob,
    responses((status = 202, description = "The job, queued; follow it at /api/v1/jobs/{id}"),
        (status = 422, description = "A path outside the ingestion roots, a collection without complete governance…")))]
async fn submit_job(State(state): Shared, Caller(who): Caller, Body(req): Body<NewJob>) -> Result<Response, ApiError> {
    let job = blocking(move || {
        let mut store = state.store()?;
        let paths: Vec<std::path::PathBuf> = req.paths.iter().map(std::path::PathBuf::from).collect();
        let job = jobs::submit_ingest(&mut store, &who, &req.collection, &paths, &state.ingest_roots)?;
        drop(store);
        crate::jobs::wake(&state);
        Ok(job)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!(job))).into_response())
}

/// Uploaded photos and videos (multipart).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    /// A file (repeat the field for several).
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/collections/{name}/uploads", tag = "jobs", security(("api_key" = [])),
    params(("name" = String, Path, description = "Collection")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 202, description = "The files are kept in the data directory and their ingestion queued (the job)"),
        (status = 413, description = "Upload over the limit")))]
async fn upload(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
    mut form: Multipart,
) -> Result<Response, ApiError> {
    // Nothing of a caller who may not ingest is read or written.
    jobs::may_ingest(&who)?;
    let mut files = Vec::new();
    while let Some(field) = form.next_field().await? {
        if field.name() != Some("file") {
            return Err(ApiError::bad_request(format!("unknown field {:?}: send files as `file`", field.name())));
        }
        let file_name = safe_file_name(field.file_name().unwrap_or_default());
        files.push((file_name, field.bytes().await?));
    }
    if files.is_empty() {
        return Err(ApiError::bad_request("field file: no file uploaded"));
    }
    let job = blocking(move || {
        let root = jobs::uploads_dir(&*state.store()?);
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
        let staging = root.join(format!(".incoming-{}", hex::encode(id)));
        let dir = root.join(format!("{}-{}", jiff::Timestamp::now().strftime("%Y%m%dT%H%M%S"), hex::encode(id)));
        // Written aside, then moved in whole: a failed upload leaves nothing behind.
        let write = || -> std::io::Result<()> {
            fs_err::create_dir_all(&staging)?;
            for (i, (file_name, bytes)) in files.iter().enumerate() {
                fs_err::write(staging.join(format!("{i:04}-{file_name}")), bytes)?;
            }
            fs_err::rename(&staging, &dir)
        };
        if let Err(e) = write() {
            let _ = fs_err::remove_dir_all(&staging);
            return Err(ApiError::internal(format!("cannot keep the upload: {e}")));
        }
        let mut store = state.store()?;
        match jobs::submit_ingest(&mut store, &who, &name, std::slice::from_ref(&dir), &[]) {
            Ok(job) => {
                drop(store);
                crate::jobs::wake(&state);
                Ok(job)
            }
            Err(e) => {
                let _ = fs_err::remove_dir_all(&dir);
                Err(e.into())
            }
        }
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(json!(job))).into_response())
}

/// A file name safe to write in the uploads folder: letters, digits, `.`, `-`, `_` only, no
/// leading dot, at most 100 characters.
fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String =
        base.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    let clean = clean.trim_start_matches('.');
    let clean: String = clean.chars().rev().take(100).collect::<Vec<_>>().into_iter().rev().collect();
    if clean.is_empty() { "upload".into() } else { clean }
}

/// How many jobs a listing shows.
#[derive(Deserialize, utoipa::IntoParams)]
struct JobListing {
    /// At most this many, newest first (default 50, at most 500).
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", security(("api_key" = [])), params(JobListing),
    responses((status = 200, description = "Recent jobs, newest first, with their progress")))]
async fn list_jobs(
    State(state): Shared,
    Caller(who): Caller,
    Params(listing): Params<JobListing>,
) -> Result<Json<Value>, ApiError> {
    let limit = listing.limit.unwrap_or(50).clamp(1, 500);
    let items = blocking(move || Ok(jobs::list_jobs(&*state.store()?, &who, limit)?)).await?;
    Ok(Json(json!({"items": items})))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Job id")),
    responses((status = 200, description = "The job: state (queued, running, done, failed), files done and in all, faces, report or error")))]
async fn show_job(State(state): Shared, Caller(who): Caller, Param(id): Param<u64>) -> Result<Json<Value>, ApiError> {
    let job = blocking(move || Ok(jobs::job(&*state.store()?, &who, id)?)).await?;
    Ok(Json(json!(job)))
}

/// How many candidates a listing shows.
#[derive(Deserialize, utoipa::IntoParams)]
struct CandidateListing {
    /// At most this many, newest first (default 50, at most 500).
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/candidates", tag = "search", security(("api_key" = [])), params(CandidateListing),
    responses((status = 200, description = "Candidates awaiting a decision (fewer than two confirmations, no rejection), newest first (reviewer)")))]
async fn list_candidates(
    State(state): Shared,
    Caller(who): Caller,
    Params(listing): Params<CandidateListing>,
) -> Result<Json<Value>, ApiError> {
    let limit = listing.limit.unwrap_or(50).clamp(1, 500);
    blocking(move || {
        let items = governed::awaiting_review(&*state.store()?, &who, limit)?;
        let items: Vec<Value> = items.iter().map(|c| with_meaning(&state, c)).collect();
        Ok(Json(json!({"items": items})))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/candidates/{id}", tag = "search", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Candidate id")),
    responses((status = 200, description = "The candidate: score and its meaning, review state, the face's image and box (reviewer)")))]
async fn show_candidate(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let c = governed::candidate(&*state.store()?, &who, id)?;
        Ok(Json(with_meaning(&state, &c)))
    })
    .await
}

/// A candidate with the calibrated false-match rate of its score (the share of comparisons
/// between different people scoring at least as high).
fn with_meaning(state: &AppState, c: &governed::CandidateView) -> Value {
    let mut v = json!(c);
    let fmr = state.calibration.as_ref().map(|cal| cal.fmr_at(c.review.candidate.score));
    v["false_match_rate"] = json!(fmr);
    v["expected_false_candidates"] = json!(fmr.map(|f| gabarit_metrics::expected_false_candidates(f, c.gallery_size)));
    v
}

#[utoipa::path(put, path = "/api/v1/collections/{name}/governance", tag = "collections", security(("api_key" = [])),
    params(("name" = String, Path, description = "Collection")),
    request_body(content = Object, description = "Every governance field (the whole record is replaced; ingestion needs all of them)"),
    responses((status = 200, description = "The fields still missing, if any (curator; logged with before and after)")))]
async fn update_governance(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
    Body(draft): Body<gabarit_governance::GovernanceDraft>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        governed::update_collection(&mut *state.store()?, &who, &name, &draft)?;
        Ok(Json(json!({"name": name, "missing": draft.missing()})))
    })
    .await
}
