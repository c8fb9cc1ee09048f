//! Routes, extractors and the helpers the handlers share (the handlers live in `*_api`, by
//! area). Every `/api/v1` route except the OpenAPI document authenticates the
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
use gabarit_engine::governed;
use gabarit_engine::search::SearchOptions;
use serde::Deserialize;
use serde_json::json;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::metrics::{JobLabels, LatencyLabels, RouteLabels, StageLabels};
use crate::{ApiError, AppState};

mod collections_api;
mod people_api;
mod rights_api;
mod search_api;
mod users_api;
mod views;

use views::*;

type Shared = State<Arc<AppState>>;

#[derive(OpenApi)]
#[openapi(
    info(title = "Gabarit", description = "Face search, lawful by design. Every call is authorised by role and audited; results are candidates for human review."),
    modifiers(&KeyScheme),
    // A job's `report`, by its kind.
    components(schemas(gabarit_engine::ingest::IngestReport, gabarit_engine::jobs::ErasureReport, gabarit_engine::grouping::GroupingReport))
)]
struct ApiDoc;

/// Declares on every operation the error statuses it may answer, with the error body
/// (`{"error": {"code", "type", "message"}}`): what any request may meet (a malformed path, query or
/// body, a body over the limit, a record not found, an invalid value, an internal error), what
/// an authenticated route may (401, 403), a JSON body (415), a creation, a change that would
/// leave no admin or a source read back (409), the login (429).
struct ErrorResponses;

impl utoipa::Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let text = || Object::with_type(Type::String);
        let code = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(crate::ErrorCode::ALL.iter().map(|c| c.name())))
            .description(Some(crate::ErrorCode::documentation()))
            .build();
        let kind = ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["request", "auth", "state", "internal"]))
            .description(Some("What a client does about it: correct the request, authenticate or ask for rights, wait for the stored data's state to change, or report an internal failure"))
            .build();
        let inner = ObjectBuilder::new()
            .property("code", code)
            .property("type", kind)
            .property("message", text())
            .property(
                "field",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("The request field at fault, when one is (`paths`, `received_on`, `face`…)")),
            )
            .required("code")
            .required("type")
            .required("message")
            .build();
        let error = ObjectBuilder::new().property("error", inner).required("error").build();
        let components = openapi.components.get_or_insert_with(Default::default);
        components.schemas.insert("Error".into(), error.into());
        let response = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build())
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
            ];
            for (method, operation) in operations {
                let Some(op) = operation.as_mut() else { continue };
                let authenticated = op.security.is_some();
                let json_body = op.request_body.as_ref().is_some_and(|b| b.content.contains_key("application/json"));
                let mut codes = vec![
                    ("400", "Malformed path, query or body"),
                    ("404", "No such record, or none the caller may see"),
                    ("413", "Body over the upload limit"),
                    ("422", "A value is not valid (each error names the field)"),
                    ("500", "Internal error (the catalog, the index, the models, a record that does not authenticate)"),
                ];
                if authenticated {
                    codes.push(("401", "No valid API key or session"));
                    codes.push(("403", "The caller's roles or grants do not allow it, or a missing CSRF token"));
                }
                if json_body {
                    codes.push(("415", "The body is not JSON (Content-Type: application/json expected)"));
                }
                if method == "post" && matches!(path.as_str(), "/api/v1/users" | "/api/v1/collections") {
                    codes.push(("409", "The name is taken"));
                }
                if (method == "delete" && path == "/api/v1/users/{name}")
                    || (method == "put" && path == "/api/v1/users/{name}/roles")
                {
                    codes.push(("409", "The change would leave no admin, or an admin would disable themselves"));
                }
                if method == "get" && matches!(path.as_str(), "/api/v1/images/{id}/file" | "/api/v1/faces/{id}/crop") {
                    codes.push(("409", "The stored photo or video cannot be read back as it was ingested"));
                }
                if method == "post" && path == "/api/v1/session" {
                    codes.push(("429", "Too many failed logins"));
                }
                for (code, description) in codes {
                    op.responses.responses.entry(code.to_string()).or_insert_with(|| response(description).into());
                }
            }
        }
    }
}

struct KeyScheme;

impl utoipa::Modify for KeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))));
    }
}

/// The API's routes, each registered with its part of the OpenAPI document.
fn api_routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(users_api::me))
        .routes(routes!(users_api::vocabulary))
        .routes(routes!(collections_api::list_collections))
        .routes(routes!(collections_api::show_collection))
        .routes(routes!(search_api::search))
        .routes(routes!(search_api::analyse_query))
        .routes(routes!(search_api::search_query))
        .routes(routes!(search_api::review))
        .routes(routes!(search_api::list_candidates))
        .routes(routes!(search_api::show_candidate))
        .routes(routes!(search_api::my_cases))
        .routes(routes!(search_api::query_face))
        .routes(routes!(collections_api::update_governance))
        .routes(routes!(collections_api::show_image))
        .routes(routes!(collections_api::image_file))
        .routes(routes!(collections_api::face_crop))
        .routes(routes!(users_api::list_users, users_api::create_user))
        .routes(routes!(users_api::disable_user))
        .routes(routes!(users_api::set_roles))
        .routes(routes!(users_api::set_password))
        .routes(routes!(users_api::list_keys, users_api::issue_key))
        .routes(routes!(users_api::revoke_key))
        .routes(routes!(users_api::grant))
        .routes(routes!(users_api::ungrant))
        .routes(routes!(rights_api::audit_checkpoint))
        .routes(routes!(rights_api::audit_entries))
        .routes(routes!(rights_api::audit_verify))
        .routes(routes!(rights_api::processing_record))
        .routes(routes!(collections_api::create_collection))
        .routes(routes!(rights_api::list_rights, rights_api::open_rights))
        .routes(routes!(rights_api::rights_access))
        .routes(routes!(rights_api::rights_erase))
        .routes(routes!(rights_api::rights_object))
        .routes(routes!(rights_api::retention_run))
        .routes(routes!(collections_api::list_jobs, collections_api::submit_job))
        .routes(routes!(collections_api::show_job))
        .routes(routes!(collections_api::upload))
        .routes(routes!(users_api::login, users_api::logout, users_api::current_session))
        .routes(routes!(people_api::group_people))
        .routes(routes!(people_api::list_people))
        .routes(routes!(people_api::find_people))
        .routes(routes!(people_api::show_person))
        .routes(routes!(people_api::name_person))
        .routes(routes!(people_api::merge_people))
        .routes(routes!(people_api::split_person))
        .routes(routes!(people_api::move_face, people_api::not_person))
}

/// The OpenAPI document (served at `/api/v1/openapi.json`; `web/openapi.json` holds a copy the
/// web UI's types are generated from).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut spec) = api_routes().split_for_parts();
    // Once every route is in the document: each declares the error statuses it may answer.
    utoipa::Modify::modify(&ErrorResponses, &mut spec);
    spec
}

/// The router and its OpenAPI document.
pub fn router(state: Arc<AppState>) -> (Router, utoipa::openapi::OpenApi) {
    let (api, _) = api_routes()
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), track))
        .layer(DefaultBodyLimit::max(state.max_upload_bytes))
        .with_state(state.clone())
        .split_for_parts();
    let spec = openapi();
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
    let (templates, jobs) = { (state.gabarit.templates_held()? as u64, state.gabarit.job_counts()?) };
    state.metrics.templates.set(templates);
    state.metrics.replica_lag.set(state.gabarit.replica_lag()?.unwrap_or(0.0));
    for name in ["queued", "running", "done", "failed"] {
        let n = jobs.iter().find(|(s, _)| s == name).map_or(0, |(_, n)| *n);
        state.metrics.jobs.get_or_create(&JobLabels { state: name.into() }).set(n as i64);
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &state.metrics.registry)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response())
}

/// The authenticated caller: by API key (`X-Api-Key` or `Authorization: Bearer`), else by the
/// web UI's session cookie (state-changing requests must echo its CSRF token).
pub struct Caller(pub gabarit_engine::Caller);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, ApiError> {
        let header = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let key = header(header::HeaderName::from_static("x-api-key"))
            .or_else(|| header(header::AUTHORIZATION).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim))
            .filter(|k| !k.is_empty())
            .map(str::to_string);
        if let Some(key) = key {
            let st = state.clone();
            return blocking(move || Ok(Caller(st.gabarit.authenticate_key(&key)?))).await;
        }
        let Some(token) = session_cookie(&parts.headers) else {
            return Err(crate::error::ErrorCode::Unauthenticated
                .with("an API key is required (header X-Api-Key or Authorization: Bearer)"));
        };
        let st = state.clone();
        let (who, csrf) = blocking(move || Ok(st.gabarit.authenticate_session(&token)?)).await?;
        let safe = matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD);
        let echoed = header(header::HeaderName::from_static("x-csrf-token")).unwrap_or_default();
        if !safe && !same(echoed.as_bytes(), csrf.as_bytes()) {
            return Err(
                crate::error::ErrorCode::Csrf.with("state-changing requests of a session need its X-CSRF-Token header")
            );
        }
        Ok(Caller(who))
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

/// A JPEG answer no cache keeps (faces and photos are personal data).
fn jpeg_response(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-store")], bytes).into_response()
}

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

/// Runs work that uses the face models off the async threads, at most 2 × workers at once.
async fn analysing<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    gated(state, &state.analysing, "analysis", f).await
}

/// Runs a search of the index off the async threads, at most cores + 1 at once; the others
/// wait their turn in order, so that under load every search waits about as long (a fair
/// queue instead of threads sharing the cores).
async fn searching<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    gated(state, &state.searching, "search", f).await
}

/// Runs blocking work once `gate` lets it through, counting the requests waiting at `stage`.
async fn gated<T: Send + 'static>(
    state: &AppState,
    gate: &tokio::sync::Semaphore,
    stage: &'static str,
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let waiting = state.metrics.waiting.get_or_create(&StageLabels { stage }).clone();
    waiting.inc();
    let permit = gate.acquire().await;
    waiting.dec();
    let _permit = permit.map_err(|_| ApiError::internal("the server is shutting down"))?;
    blocking(f).await
}

/// Runs blocking work (SQLite, the face models) off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("a worker failed: {e}")))?
}

/// A multipart form: the `image` file (if any), its name, and the text fields in order.
pub(crate) struct Form {
    pub(crate) image: Option<axum::body::Bytes>,
    name: String,
    pub(crate) fields: Vec<(String, String)>,
}

/// Reads every field of a multipart form (also used by `crate::fuzzing`).
pub(crate) async fn read_form(mut form: Multipart) -> Result<Form, ApiError> {
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

#[cfg(test)]
mod tests {
    /// The web UI's API types are generated from `web/openapi.json` when it is built: the copy
    /// must be the document the server serves. `GABARIT_UPDATE_OPENAPI=1` writes it anew.
    #[test]
    fn the_web_uis_copy_of_the_openapi_document_is_the_servers() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/openapi.json");
        let served = serde_json::to_string_pretty(&super::openapi()).unwrap() + "\n";
        if std::env::var_os("GABARIT_UPDATE_OPENAPI").is_some() {
            fs_err::write(&path, &served).unwrap();
        }
        let copy = fs_err::read_to_string(&path).unwrap_or_default();
        assert!(
            copy == served,
            "{} differs from the document the server serves: run GABARIT_UPDATE_OPENAPI=1 cargo test -p gabarit-server openapi, then rebuild the web UI",
            path.display()
        );
    }

    /// Every success answer is typed in the document: a JSON answer by a schema with
    /// properties or a reference to one (never a bare object), so the web UI's types cover it.
    #[test]
    fn every_success_answer_has_its_schema_in_the_document() {
        let document = serde_json::to_value(super::openapi()).unwrap();
        let mut untyped = Vec::new();
        let mut checked = 0;
        for (path, operations) in document["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                for (status, answer) in operation["responses"].as_object().unwrap() {
                    if !status.starts_with('2') {
                        continue;
                    }
                    checked += 1;
                    let Some(content) = answer["content"].as_object() else {
                        untyped.push(format!("{method} {path} {status}: no content"));
                        continue;
                    };
                    if let Some(json) = content.get("application/json") {
                        let schema = &json["schema"];
                        let typed = schema.get("$ref").is_some()
                            || schema.get("items").is_some()
                            || schema.get("properties").is_some();
                        if !typed {
                            untyped.push(format!("{method} {path} {status}: {schema}"));
                        }
                    }
                }
            }
        }
        assert!(checked >= 40, "the document lists the routes: {checked} answers");
        assert!(untyped.is_empty(), "answers without a schema: {untyped:#?}");
    }
}
