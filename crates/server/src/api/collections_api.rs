//! Collections (governance), their images and faces, and ingestion jobs (paths and uploads).

use super::*;

#[utoipa::path(get, path = "/api/v1/collections", tag = "collections", security(("api_key" = [])),
    responses((status = 200, description = "Collections with their counts")))]
pub(super) async fn list_collections(State(state): Shared, Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    let store = state.store()?;
    Ok(Json(json!(governed::list_collections(&store, &who)?)))
}

#[utoipa::path(get, path = "/api/v1/collections/{name}", tag = "collections", security(("api_key" = [])),
    params(("name" = String, Path, description = "Collection name")),
    responses((status = 200, description = "Counts and governance fields"), (status = 404, description = "No such collection")))]
pub(super) async fn show_collection(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
) -> Result<Json<Value>, ApiError> {
    let store = state.store()?;
    let summary = governed::collection_summary(&store, &who, &name)?;
    let governance = store.catalog.governance(&name).map_err(gabarit_engine::Error::from)?;
    Ok(Json(json!({"collection": summary, "governance": governance})))
}

#[utoipa::path(get, path = "/api/v1/images/{id}", tag = "images", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Image or video id")),
    responses((status = 200, description = "The record, its faces (boxes, quality, times) and tracks; never templates")))]
pub(super) async fn show_image(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
) -> Result<Json<Value>, ApiError> {
    let store = state.store()?;
    Ok(Json(governed::image_record(&store, &who, id)?))
}

/// Which frame of a video.
#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct FrameTime {
    /// Seconds from the start (videos only).
    time_s: Option<f64>,
}

fn jpeg_response(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-store")], bytes).into_response()
}

#[utoipa::path(get, path = "/api/v1/images/{id}/file", tag = "images", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Image or video id"), FrameTime),
    responses((status = 200, description = "The photo upright, or the video's frame at time_s, as JPEG (audited)", content_type = "image/jpeg")))]
pub(super) async fn image_file(
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
pub(super) async fn face_crop(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let mut store = state.store()?;
        let limits = gabarit_media::DecodeLimits::default();
        Ok(jpeg_response(governed::face_crop(&mut store, &who, id, &limits)?))
    })
    .await
}

/// A new collection with its governance fields.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct NewCollection {
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
pub(super) async fn create_collection(
    State(state): Shared,
    Caller(who): Caller,
    Body(c): Body<NewCollection>,
) -> Result<Json<Value>, ApiError> {
    let mut store = state.store()?;
    governed::create_collection(&mut store, &who, &c.name, &c.description, &c.governance)?;
    Ok(Json(json!({"name": c.name, "missing": c.governance.missing()})))
}

/// Ingestion of server paths.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewJob {
    /// Target collection.
    collection: String,
    /// Folders, files or archives on the server, under an ingestion root (`serve --ingest-root`).
    paths: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", security(("api_key" = [])), request_body = NewJob,
    responses((status = 202, description = "The job, queued; follow it at /api/v1/jobs/{id}"),
        (status = 422, description = "A path outside the ingestion roots, a collection without complete governance…")))]
pub(super) async fn submit_job(
    State(state): Shared,
    Caller(who): Caller,
    Body(req): Body<NewJob>,
) -> Result<Response, ApiError> {
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
pub(super) struct UploadForm {
    /// A file (repeat the field for several).
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/collections/{name}/uploads", tag = "jobs", security(("api_key" = [])),
    params(("name" = String, Path, description = "Collection")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 202, description = "The files are kept in the data directory and their ingestion queued (the job)"),
        (status = 413, description = "Upload over the limit")))]
pub(super) async fn upload(
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
pub(super) struct JobListing {
    /// At most this many, newest first (default 50, at most 500).
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", security(("api_key" = [])), params(JobListing),
    responses((status = 200, description = "Recent jobs, newest first, with their progress")))]
pub(super) async fn list_jobs(
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
pub(super) async fn show_job(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
) -> Result<Json<Value>, ApiError> {
    let job = blocking(move || Ok(jobs::job(&*state.store()?, &who, id)?)).await?;
    Ok(Json(json!(job)))
}

#[utoipa::path(put, path = "/api/v1/collections/{name}/governance", tag = "collections", security(("api_key" = [])),
    params(("name" = String, Path, description = "Collection")),
    request_body(content = Object, description = "Every governance field (the whole record is replaced; ingestion needs all of them)"),
    responses((status = 200, description = "The fields still missing, if any (curator; logged with before and after)")))]
pub(super) async fn update_governance(
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
