//! Collections (governance), their images and faces, and ingestion jobs (paths and uploads).

use super::*;

#[utoipa::path(get, path = "/api/v1/collections", tag = "collections", security(("api_key" = [])),
    responses((status = 200, body = Vec<gabarit_engine::governed::CollectionSummary>, description = "Collections with their counts")))]
pub(super) async fn list_collections(
    State(state): Shared,
    Caller(who): Caller,
) -> Result<Json<Vec<gabarit_engine::governed::CollectionSummary>>, ApiError> {
    blocking(move || Ok(Json(state.gabarit.list_collections(&who)?))).await
}

#[utoipa::path(get, path = "/api/v1/collections/{name}", tag = "collections", security(("api_key" = [])),
    params(("name" = String, Path, description = "Collection name")),
    responses((status = 200, body = CollectionDetails, description = "Counts and governance fields"), (status = 404, description = "No such collection")))]
pub(super) async fn show_collection(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
) -> Result<Json<CollectionDetails>, ApiError> {
    blocking(move || {
        let (collection, governance) = state.gabarit.collection(&who, &name)?;
        Ok(Json(CollectionDetails { collection, governance }))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/images/{id}", tag = "images", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Image or video id")),
    responses((status = 200, body = gabarit_engine::governed::ImageView, description = "The record, its faces (boxes, quality, times) and tracks; never templates (audited)")))]
pub(super) async fn show_image(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
) -> Result<Json<gabarit_engine::governed::ImageView>, ApiError> {
    blocking(move || Ok(Json(state.gabarit.image_record(&who, id)?))).await
}

/// Which frame of a video.
#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct FrameTime {
    /// Seconds from the start (videos only).
    time_s: Option<f64>,
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
        let limits = gabarit_engine::faces::DecodeLimits::default();
        Ok(jpeg_response(state.gabarit.source_image(&who, id, t.time_s, &limits)?))
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
        let limits = gabarit_engine::faces::DecodeLimits::default();
        Ok(jpeg_response(state.gabarit.face_crop(&who, id, &limits)?))
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
    governance: gabarit_engine::governance::GovernanceDraft,
    /// The model pack its templates will come from (default: the server's default pack);
    /// fixed for the collection's life.
    #[serde(default)]
    #[schema(example = "open")]
    pack: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/collections", tag = "collections", security(("api_key" = [])), request_body = NewCollection,
    responses((status = 200, body = CollectionCreated, description = "Created; lists the governance fields still missing (curator)"),
        (status = 400, description = "Not a pack this server knows")))]
pub(super) async fn create_collection(
    State(state): Shared,
    Caller(who): Caller,
    Body(c): Body<NewCollection>,
) -> Result<Json<CollectionCreated>, ApiError> {
    blocking(move || {
        let pack = match &c.pack {
            None => state.faces()?.default_pack().clone(),
            Some(name) => gabarit_engine::models::Pack::builtin(name).map_err(|_| {
                ApiError::bad_request(format!(
                    "pack {:?}: not a pack this server knows ({})",
                    gabarit_engine::governance::limits::shown(name),
                    gabarit_engine::models::PACK_NAMES.join(", ")
                ))
            })?,
        };
        let engine = state.faces()?.config().session.family();
        state.gabarit.create_collection(&who, &c.name, &c.description, &c.governance, &pack, engine)?;
        Ok(Json(CollectionCreated { name: c.name, pack: pack.name, missing: c.governance.missing() }))
    })
    .await
}

/// Ingestion of server paths.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewJob {
    /// Target collection.
    collection: String,
    /// Folders, files or archives on the server, under an ingestion root (`serve --ingest-root`).
    paths: Vec<String>,
    /// Jobs to split the ingestion into, so that several workers (`gabarit worker`) share it:
    /// each ingests the files whose path's SHA-256 falls in its part. From 1 (the default) to 256.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 256, example = 1)]
    parts: Option<u32>,
}

#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", security(("api_key" = [])), request_body = NewJob,
    responses((status = 202, body = QueuedIngestion, description = "The job (the first of its parts), queued; follow it at /api/v1/jobs/{id}"),
        (status = 422, description = "A path outside the ingestion roots, a collection without complete governance, parts out of range…")))]
pub(super) async fn submit_job(
    State(state): Shared,
    Caller(who): Caller,
    Body(req): Body<NewJob>,
) -> Result<Response, ApiError> {
    let queued = blocking(move || {
        let paths: Vec<std::path::PathBuf> = req.paths.iter().map(std::path::PathBuf::from).collect();
        let parts = req.parts.unwrap_or(1);
        let jobs = state.gabarit.submit_ingest(&who, &req.collection, &paths, &state.ingest_roots, parts)?;
        crate::jobs::wake(&state);
        let ids = jobs.iter().map(|j| j.id).collect();
        let job = jobs.into_iter().next().ok_or_else(|| ApiError::internal("the job was not queued"))?;
        Ok(QueuedIngestion { job, jobs: ids })
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(queued)).into_response())
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
    responses((status = 202, body = gabarit_engine::jobs::BackgroundJob, description = "The files are kept in the data directory and their ingestion queued (the job)"),
        (status = 413, description = "Upload over the limit")))]
pub(super) async fn upload(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
    mut form: Multipart,
) -> Result<Response, ApiError> {
    // Nothing of a caller who may not ingest is read or written.
    state.gabarit.may_ingest(&who)?;
    let mut files = Vec::new();
    while let Some(field) = form.next_field().await? {
        if field.name() != Some("file") {
            return Err(ApiError::bad_request(format!("unknown field {:?}: send files as `file`", field.name())));
        }
        let file_name = field.file_name().unwrap_or_default().to_string();
        files.push((file_name, field.bytes().await?));
    }
    let job = blocking(move || {
        let files: Vec<(String, &[u8])> = files.iter().map(|(n, b)| (n.clone(), b.as_ref())).collect();
        let job = state.gabarit.submit_upload(&who, &name, &files)?;
        crate::jobs::wake(&state);
        Ok(job)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// How many jobs a listing shows.
#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct JobListing {
    /// At most this many, newest first (default 50, at most 500).
    limit: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", security(("api_key" = [])), params(JobListing),
    responses((status = 200, body = Jobs, description = "Recent jobs, newest first, with their progress")))]
pub(super) async fn list_jobs(
    State(state): Shared,
    Caller(who): Caller,
    Params(listing): Params<JobListing>,
) -> Result<Json<Jobs>, ApiError> {
    let limit = listing.limit.unwrap_or(50).clamp(1, 500);
    let items = blocking(move || Ok(state.gabarit.list_jobs(&who, limit)?)).await?;
    Ok(Json(Jobs { items }))
}

#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Job id")),
    responses((status = 200, body = gabarit_engine::jobs::BackgroundJob, description = "The job: state (queued, running, done, failed), files done and in all, faces, report or error")))]
pub(super) async fn show_job(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
) -> Result<Json<gabarit_engine::jobs::BackgroundJob>, ApiError> {
    Ok(Json(blocking(move || Ok(state.gabarit.job(&who, id)?)).await?))
}

#[utoipa::path(put, path = "/api/v1/collections/{name}/governance", tag = "collections", security(("api_key" = [])),
    params(("name" = String, Path, description = "Collection")),
    request_body(content = gabarit_engine::governance::GovernanceDraft, description = "Every governance field (the whole record is replaced; ingestion needs all of them)"),
    responses((status = 200, body = GovernanceSaved, description = "The fields still missing, if any (curator; logged with before and after)")))]
pub(super) async fn update_governance(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
    Body(draft): Body<gabarit_engine::governance::GovernanceDraft>,
) -> Result<Json<GovernanceSaved>, ApiError> {
    blocking(move || {
        state.gabarit.update_collection(&who, &name, &draft)?;
        Ok(Json(GovernanceSaved { name, missing: draft.missing() }))
    })
    .await
}
