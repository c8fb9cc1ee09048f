//! Routes and handlers. Every `/api/v1` route except the OpenAPI document authenticates the
//! caller by API key (`X-Api-Key: gbk_…` or `Authorization: Bearer gbk_…`) and calls one
//! governed use case; routes are registered only through `utoipa_axum::routes!`, so the
//! OpenAPI document lists exactly the routes served.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Multipart, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use gabarit_engine::governed;
use gabarit_engine::search::SearchOptions;
use gabarit_governance::Principal;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::metrics::{LatencyLabels, RouteLabels};
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
        .routes(routes!(review))
        .routes(routes!(show_image))
        .routes(routes!(list_users))
        .routes(routes!(audit_entries))
        .routes(routes!(audit_verify))
        .routes(routes!(processing_record))
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
    (api.merge(public), spec)
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
    let templates = {
        use gabarit_index::VectorIndex;
        state.store()?.index.len() as u64
    };
    state.metrics.templates.set(templates);
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

/// Runs blocking work (SQLite, the face models) off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("a worker failed: {e}")))?
}

#[utoipa::path(get, path = "/api/v1/me", tag = "users", security(("api_key" = [])),
    responses((status = 200, description = "The caller: name, roles, collections granted")))]
async fn me(Caller(who): Caller) -> Json<Value> {
    Json(json!({"name": who.name, "roles": who.roles.iter().map(|r| r.name()).collect::<Vec<_>>()}))
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
    Path(name): Path<String>,
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

fn parse<T: std::str::FromStr>(field: &str, value: &str) -> Result<T, ApiError> {
    value.trim().parse().map_err(|_| ApiError::bad_request(format!("field {field}: {value:?} is not valid")))
}

#[utoipa::path(post, path = "/api/v1/search", tag = "search", security(("api_key" = [])),
    request_body(content = SearchForm, content_type = "multipart/form-data"),
    responses((status = 200, description = "Candidates for human review, with the search id"),
        (status = 413, description = "Upload over the limit"), (status = 422, description = "No face, not an image…")))]
async fn search(State(state): Shared, Caller(who): Caller, mut form: Multipart) -> Result<Json<Value>, ApiError> {
    let (mut image, mut name) = (None, String::from("upload"));
    let (mut case_ref, mut purpose) = (String::new(), String::new());
    let mut opts = SearchOptions {
        collections: Vec::new(),
        top_k: 10,
        threshold: None,
        face: None,
        target_fpir: 1e-3,
        suppression_threshold: Some(state.rights_threshold),
        exact: false,
    };
    while let Some(field) = form.next_field().await? {
        let field_name = field.name().unwrap_or_default().to_string();
        if field_name == "image" {
            name = field.file_name().unwrap_or("upload").to_string();
            image = Some(field.bytes().await?);
            continue;
        }
        let value = field.text().await?;
        match field_name.as_str() {
            "case_ref" => case_ref = value,
            "purpose" => purpose = value,
            "top_k" => opts.top_k = parse::<usize>("top_k", &value)?.clamp(1, 1000),
            "threshold" => opts.threshold = Some(parse("threshold", &value)?),
            "face" => opts.face = Some(parse("face", &value)?),
            "collection" => opts.collections.push(value),
            "exact" => opts.exact = parse("exact", &value)?,
            other => return Err(ApiError::bad_request(format!("unknown field {other:?}"))),
        }
    }
    let image = image.ok_or_else(|| ApiError::bad_request("field image: the query photo is missing"))?;
    let state = state.clone();
    let result = blocking(move || {
        let upload = tempfile::Builder::new()
            .prefix("gabarit-query-")
            .tempfile()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        fs_err::write(upload.path(), &image).map_err(|e| ApiError::internal(e.to_string()))?;
        let temp = upload.path().display().to_string();
        // Messages name the uploaded file, not the temporary copy.
        let named = |e: gabarit_engine::Error| {
            let mut api = ApiError::from(e);
            api.message = api.message.replace(&temp, &name);
            api
        };
        // The models run without the store's lock: searches analyse their photos in parallel.
        let img = governed::analyze_query(&state.service, &who, upload.path()).map_err(named)?;
        let mut store = state.store()?;
        governed::governed_search_faces(
            &mut store,
            &who,
            &case_ref,
            &purpose,
            &name,
            &img,
            &opts,
            state.calibration.as_ref(),
            state.verification_threshold,
        )
        .map_err(named)
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
    Path(id): Path<u64>,
    Json(d): Json<Decision>,
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
async fn show_image(State(state): Shared, Caller(who): Caller, Path(id): Path<u64>) -> Result<Json<Value>, ApiError> {
    let store = state.store()?;
    Ok(Json(governed::image_record(&store, &who, id)?))
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
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("api_key" = [])), params(Period),
    responses((status = 200, description = "Audit entries of the period (dpo)")))]
async fn audit_entries(
    State(state): Shared,
    Caller(who): Caller,
    Query(p): Query<Period>,
) -> Result<Json<Value>, ApiError> {
    blocking(move || {
        let mut store = state.store()?;
        Ok(Json(json!(governed::audit_export(&mut store, &who, p.from.as_deref(), p.to.as_deref())?)))
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
