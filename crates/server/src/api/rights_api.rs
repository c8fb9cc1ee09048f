//! Rights requests (access, erasure as a job, objection), retention, the audit log and the
//! record of processing.

use super::*;

/// A period of the audit log.
#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct Period {
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
    /// `newest` first (default) or `oldest` first.
    order: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", security(("api_key" = [])), params(Period),
    responses((status = 200, body = gabarit_engine::governed::AuditPage, description = "A page of the audit entries of the period, newest first unless `order=oldest`: total, offset, limit, items, and every action the log holds (dpo); the first page's reading is audited (`audit_view`)")))]
pub(super) async fn audit_entries(
    State(state): Shared,
    Caller(who): Caller,
    Params(p): Params<Period>,
) -> Result<Json<gabarit_engine::governed::AuditPage>, ApiError> {
    blocking(move || {
        let q = governed::AuditQuery {
            from: p.from,
            to: p.to,
            action: p.action,
            actor: p.actor,
            offset: p.offset.unwrap_or(0),
            limit: p.limit.unwrap_or(1000),
            oldest_first: p.order.as_deref() == Some("oldest"),
        };
        if let Some(order) = p.order.as_deref().filter(|o| !matches!(*o, "oldest" | "newest")) {
            return Err(ApiError::bad_request(format!(
                "order {:?}: newest or oldest",
                gabarit_engine::governance::limits::shown(order)
            )));
        }
        Ok(Json(state.gabarit.audit_browse(&who, &q)?))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", security(("api_key" = [])),
    responses((status = 200, body = Verified, description = "Whether the hash chain is intact, and the first broken entry (dpo)")))]
pub(super) async fn audit_verify(State(state): Shared, Caller(who): Caller) -> Result<Json<Verified>, ApiError> {
    blocking(move || {
        let (entries, broken) = state.gabarit.audit_verify(&who, None)?;
        Ok(Json(Verified { entries, intact: broken.is_none(), first_break: broken }))
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/audit/checkpoints", tag = "audit", security(("api_key" = [])),
    responses((status = 200, body = gabarit_engine::governed::Checkpoint, description = "A signed checkpoint of the audit chain (its length and head), to keep outside the server: `gabarit audit verify --anchor FILE` then tells whether the chain was truncated or rewritten since (dpo)")))]
pub(super) async fn audit_checkpoint(
    State(state): Shared,
    Caller(who): Caller,
) -> Result<Json<gabarit_engine::governed::Checkpoint>, ApiError> {
    blocking(move || Ok(Json(state.gabarit.audit_anchor(&who)?))).await
}

#[utoipa::path(get, path = "/api/v1/reports/processing", tag = "reports", security(("api_key" = [])),
    responses((status = 200, body = gabarit_engine::governed::ProcessingRecord, description = "Record of processing activities, GDPR art. 30 (dpo)")))]
pub(super) async fn processing_record(
    State(state): Shared,
    Caller(who): Caller,
) -> Result<Json<gabarit_engine::governed::ProcessingRecord>, ApiError> {
    blocking(move || Ok(Json(state.gabarit.processing_record(&who)?))).await
}

#[utoipa::path(get, path = "/api/v1/rights", tag = "rights", security(("api_key" = [])),
    responses((status = 200, body = Vec<gabarit_engine::rights::RightsRequest>, description = "Rights requests with deadlines, newest first (dpo)")))]
pub(super) async fn list_rights(
    State(state): Shared,
    Caller(who): Caller,
) -> Result<Json<Vec<gabarit_engine::rights::RightsRequest>>, ApiError> {
    blocking(move || Ok(Json(state.gabarit.list_requests(&who)?))).await
}

/// A rights request as received.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct NewRequest {
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
    responses((status = 200, body = gabarit_engine::rights::RightsRequest, description = "The request with its deadline (dpo)")))]
pub(super) async fn open_rights(
    State(state): Shared,
    Caller(who): Caller,
    Body(r): Body<NewRequest>,
) -> Result<Json<gabarit_engine::rights::RightsRequest>, ApiError> {
    blocking(move || {
        let req = state.gabarit.open_request(&who, &r.kind, &r.requester, &r.verification, &r.received_on)?;
        Ok(Json(req))
    })
    .await
}

/// A rights action's photo of the requester (multipart).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(super) struct RightsForm {
    /// The requester's photo.
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    image: String,
    /// For erasure: the number of faces listed by the plan, to delete them.
    confirm: Option<usize>,
    /// A person (group of faces) of a matched face the DPO reviewed, to extend the request to
    /// its other faces (repeat the field for several; see the report's `persons`).
    person: Option<Vec<u64>>,
}

/// The `person` fields of a rights form.
fn persons_of(form: &Form) -> Result<Vec<u64>, ApiError> {
    let persons: Vec<u64> = form
        .fields
        .iter()
        .filter(|(f, _)| f == "person")
        .map(|(_, v)| parse::<u64>("person", v))
        .collect::<Result<_, _>>()?;
    if persons.len() > 1_000 {
        return Err(gabarit_engine::Error::field("person", format!("{} given, at most 1000", persons.len())).into());
    }
    Ok(persons)
}

#[utoipa::path(post, path = "/api/v1/rights/{id}/access", tag = "rights", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Request id")), request_body(content = RightsForm, content_type = "multipart/form-data"),
    responses((status = 200, body = gabarit_engine::rights::RightsReport, description = "Every face of the requester in every collection, with its source and legal fields, and what GDPR art. 15 gives the person: per collection the purposes, legal basis, categories of data, recipients, retention (as data and in words) and the supervisory authority of each jurisdiction; their rights; that matching is automated with human review (dpo)")))]
pub(super) async fn rights_access(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
    form: Form,
) -> Result<Json<gabarit_engine::rights::RightsReport>, ApiError> {
    let persons = persons_of(&form)?;
    on_requester_photo(state, form, move |st, photo| st.gabarit.access(&who, id, photo, None, &persons)).await
}

#[utoipa::path(post, path = "/api/v1/rights/{id}/erase", tag = "rights", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Request id")), request_body(content = RightsForm, content_type = "multipart/form-data"),
    responses((status = 200, body = ErasurePlan, description = "Without confirm: the faces that would be erased (the plan; dpo)"),
        (status = 202, body = ErasurePlan, description = "With confirm = their number: the plan and the job that erases them (follow it at /api/v1/jobs/{id})")))]
pub(super) async fn rights_erase(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
    form: Form,
) -> Result<Response, ApiError> {
    let mut confirm = None;
    for (field, value) in &form.fields {
        match field.as_str() {
            "confirm" => confirm = Some(parse::<usize>("confirm", value)?),
            "person" => {}
            other => return Err(ApiError::bad_request(format!("unknown field {other:?}"))),
        }
    }
    let persons = persons_of(&form)?;
    let Json(out) = on_requester_photo(state, form, move |st, photo| {
        let (report, confirmed) = st.gabarit.plan_erasure(&who, id, photo, (None, &persons), confirm)?;
        // Confirmed: the deletion, the compaction and the vacuum run as a job (ids only).
        let job = confirmed.map(|e| st.gabarit.submit_erasure(&who, &e)).transpose()?;
        if job.is_some() {
            crate::jobs::wake(st);
        }
        Ok(ErasurePlan { report, job })
    })
    .await?;
    let status = if out.job.is_none() { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((status, Json(out)).into_response())
}

#[utoipa::path(post, path = "/api/v1/rights/{id}/object", tag = "rights", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Request id")), request_body(content = RightsForm, content_type = "multipart/form-data"),
    responses((status = 200, body = gabarit_engine::rights::RightsReport, description = "The requester's faces are hidden from search and blocked at ingestion (dpo)")))]
pub(super) async fn rights_object(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
    form: Form,
) -> Result<Json<gabarit_engine::rights::RightsReport>, ApiError> {
    on_requester_photo(state, form, move |st, photo| st.gabarit.object(&who, id, photo, None)).await
}

/// Runs a rights action on the requester's uploaded photo, among the
/// analysing requests; errors name the upload.
pub(super) async fn on_requester_photo<T: Send + 'static>(
    state: Arc<AppState>,
    form: Form,
    action: impl FnOnce(&AppState, &std::path::Path) -> gabarit_engine::Result<T> + Send + 'static,
) -> Result<Json<T>, ApiError> {
    let upload = form.image_file()?;
    analysing(&state.clone(), move || {
        let out = action(&state, upload.path()).map_err(form.named(&upload))?;
        Ok(Json(out))
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/retention/run", tag = "rights", security(("api_key" = [])),
    responses((status = 200, body = gabarit_engine::rights::RetentionReport, description = "What expired under each collection's retention was deleted (dpo)")))]
pub(super) async fn retention_run(
    State(state): Shared,
    Caller(who): Caller,
) -> Result<Json<gabarit_engine::rights::RetentionReport>, ApiError> {
    blocking(move || Ok(Json(state.gabarit.retention_run(&who, jiff::Timestamp::now())?))).await
}
