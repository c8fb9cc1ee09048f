//! People: a collection's faces grouped by person, and the corrections (the engine's
//! `grouping` use cases).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::{Body, Caller, Param, Params, Shared, blocking};
use crate::ApiError;
use axum::extract::State;

#[utoipa::path(post, path = "/api/v1/collections/{name}/people/jobs", tag = "people", security(("api_key" = [])),
    params(("name" = String, Path, description = "Collection (its governance must have grouping on)")),
    responses((status = 202, body = gabarit_engine::jobs::BackgroundJob, description = "The grouping, queued: it searches the faces not searched yet, then groups them all under the corrections; follow it at /api/v1/jobs/{id}")))]
pub(super) async fn group_people(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
) -> Result<Response, ApiError> {
    let job = blocking(move || {
        let job = state.gabarit.submit_grouping(&who, &name)?;
        crate::jobs::wake(&state);
        Ok(job)
    })
    .await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// A page of a collection's persons.
#[derive(Deserialize, utoipa::IntoParams)]
pub(super) struct PeoplePageParams {
    /// Persons to skip (default 0).
    offset: Option<usize>,
    /// Persons to return (default 100, at most 1000).
    limit: Option<usize>,
    /// Only the persons someone named (default false).
    named: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/collections/{name}/people", tag = "people", security(("api_key" = [])),
    params(("name" = String, Path, description = "Collection"), PeoplePageParams),
    responses((status = 200, body = gabarit_engine::grouping::PeoplePage, description = "A page of its persons, most faces first, with their names: total, offset, limit, items (audited)")))]
pub(super) async fn list_people(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
    Params(p): Params<PeoplePageParams>,
) -> Result<Json<gabarit_engine::grouping::PeoplePage>, ApiError> {
    let query = gabarit_engine::grouping::PeopleQuery {
        offset: p.offset.unwrap_or(0),
        limit: p.limit.unwrap_or(gabarit_engine::grouping::DEFAULT_PEOPLE_PAGE),
        named_only: p.named.unwrap_or(false),
    };
    blocking(move || Ok(Json(state.gabarit.list_people(&who, &name, query)?))).await
}

/// A search of a collection's persons by name.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NameSearch {
    /// A part of the name (at most 200 characters; letter case and accents aside). Sent in the
    /// body, not the address, so that no access log keeps it.
    name: String,
    /// Persons to skip (default 0).
    offset: Option<usize>,
    /// Persons to return (default 100, at most 1000).
    limit: Option<usize>,
}

#[utoipa::path(post, path = "/api/v1/collections/{name}/people/search", tag = "people", security(("api_key" = [])),
    params(("name" = String, Path, description = "Collection")), request_body = NameSearch,
    responses((status = 200, body = gabarit_engine::grouping::PeoplePage, description = "A page of the named persons whose name contains the text, most faces first (audited, without the text)")))]
pub(super) async fn find_people(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
    Body(search): Body<NameSearch>,
) -> Result<Json<gabarit_engine::grouping::PeoplePage>, ApiError> {
    let page = gabarit_engine::grouping::PeopleQuery {
        offset: search.offset.unwrap_or(0),
        limit: search.limit.unwrap_or(gabarit_engine::grouping::DEFAULT_PEOPLE_PAGE),
        named_only: true,
    };
    blocking(move || Ok(Json(state.gabarit.find_people(&who, &name, &search.name, page)?))).await
}

#[utoipa::path(get, path = "/api/v1/people/{id}", tag = "people", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Person id")),
    responses((status = 200, body = gabarit_engine::grouping::PersonView, description = "The person and its faces (audited)")))]
pub(super) async fn show_person(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
) -> Result<Json<gabarit_engine::grouping::PersonView>, ApiError> {
    blocking(move || Ok(Json(state.gabarit.show_person(&who, id)?))).await
}

/// A person's name.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Label {
    /// The name (at most 200 characters; stored encrypted, never logged), or null to remove it.
    label: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/people/{id}/label", tag = "people", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Person id")), request_body = Label,
    responses((status = 200, body = gabarit_engine::grouping::PersonView, description = "The person named (its faces confirmed)")))]
pub(super) async fn name_person(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
    Body(req): Body<Label>,
) -> Result<Json<gabarit_engine::grouping::PersonView>, ApiError> {
    blocking(move || {
        state.gabarit.name_person(&who, id, req.label.as_deref())?;
        Ok(Json(state.gabarit.show_person(&who, id)?))
    })
    .await
}

/// The person merged into another.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Merge {
    /// The person merged into the one of the path (it ceases to exist).
    from: u64,
}

#[utoipa::path(post, path = "/api/v1/people/{id}/merge", tag = "people", security(("api_key" = [])),
    params(("id" = u64, Path, description = "The person kept")), request_body = Merge,
    responses((status = 200, body = gabarit_engine::grouping::PersonView, description = "The merged person")))]
pub(super) async fn merge_people(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
    Body(req): Body<Merge>,
) -> Result<Json<gabarit_engine::grouping::PersonView>, ApiError> {
    blocking(move || {
        state.gabarit.merge_people(&who, id, req.from)?;
        Ok(Json(state.gabarit.show_person(&who, id)?))
    })
    .await
}

/// Faces split off a person.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Split {
    /// Face ids of the person (some, not all; at most 10,000).
    faces: Vec<u64>,
}

/// The person a change made or left.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct PersonId {
    /// Person id.
    person: u64,
}

#[utoipa::path(post, path = "/api/v1/people/{id}/split", tag = "people", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Person id")), request_body = Split,
    responses((status = 200, body = PersonId, description = "The new person holding the faces split off")))]
pub(super) async fn split_person(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
    Body(req): Body<Split>,
) -> Result<Json<PersonId>, ApiError> {
    if req.faces.len() > 10_000 {
        return Err(gabarit_engine::Error::field("faces", format!("{} given, at most 10000", req.faces.len())).into());
    }
    blocking(move || Ok(Json(PersonId { person: state.gabarit.split_person(&who, id, &req.faces)? }))).await
}

/// Where a face belongs.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct MoveTo {
    /// The person it belongs to.
    person: u64,
}

#[utoipa::path(put, path = "/api/v1/faces/{id}/person", tag = "people", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Face id")), request_body = MoveTo,
    responses((status = 200, body = PersonId, description = "The face moved (with its video track) to the person; marked not its former one")))]
pub(super) async fn move_face(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
    Body(req): Body<MoveTo>,
) -> Result<Json<PersonId>, ApiError> {
    blocking(move || {
        state.gabarit.move_face(&who, id, req.person)?;
        Ok(Json(PersonId { person: req.person }))
    })
    .await
}

#[utoipa::path(delete, path = "/api/v1/faces/{id}/person", tag = "people", security(("api_key" = [])),
    params(("id" = u64, Path, description = "Face id")),
    responses((status = 200, body = PersonId, description = "\"Not this person\": the face left the person it was in (returned), and no later run puts it back")))]
pub(super) async fn not_person(
    State(state): Shared,
    Caller(who): Caller,
    Param(id): Param<u64>,
) -> Result<Json<PersonId>, ApiError> {
    blocking(move || Ok(Json(PersonId { person: state.gabarit.not_person(&who, id)? }))).await
}
