//! Users, roles, grants, API keys (issue, list, revoke), and web sessions (login, logout).

use super::*;
use gabarit_engine::auth;

#[utoipa::path(get, path = "/api/v1/me", tag = "users", security(("api_key" = [])),
    responses((status = 200, body = MeView, description = "The caller: name, roles, collections granted; for curators, the folders they may ingest from by path")))]
pub(super) async fn me(State(state): Shared, Caller(who): Caller) -> Result<Json<MeView>, ApiError> {
    blocking(move || {
        let me = state.gabarit.me(&who)?;
        // Curators see where they may ingest from by path on the server.
        let ingest_roots = state
            .gabarit
            .may_ingest(&who)
            .is_ok()
            .then(|| state.ingest_roots.iter().map(|p| p.display().to_string()).collect());
        Ok(Json(MeView { me, ingest_roots }))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/vocabulary", tag = "users", security(("api_key" = [])),
    responses((status = 200, body = gabarit_engine::governance::Vocabulary, description = "The governance vocabulary: lawful bases (art. 6(1)) and conditions (art. 9(2)) with their articles, purpose categories, roles; the codes the other routes take")))]
pub(super) async fn vocabulary(Caller(_who): Caller) -> Json<gabarit_engine::governance::Vocabulary> {
    Json(gabarit_engine::governance::vocabulary())
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("api_key" = [])),
    responses((status = 200, body = Vec<gabarit_engine::accounts::UserRecord>, description = "Users with roles and grants (admin)")))]
pub(super) async fn list_users(
    State(state): Shared,
    Caller(who): Caller,
) -> Result<Json<Vec<gabarit_engine::accounts::UserRecord>>, ApiError> {
    blocking(move || Ok(Json(state.gabarit.list_users(&who)?))).await
}

/// A new user.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct NewUser {
    /// Name: letters, digits and `. _ - @`, at most 64.
    name: String,
    /// Roles: admin, curator, investigator, reviewer, dpo.
    roles: Vec<String>,
}

fn parse_roles(roles: &[String]) -> Result<Vec<gabarit_engine::governance::Role>, ApiError> {
    if roles.len() > gabarit_engine::governance::Role::ALL.len() {
        return Err(ApiError::bad_request("roles: at most one of each"));
    }
    roles
        .iter()
        .map(|r| gabarit_engine::governance::Role::parse(r).map_err(|e| ApiError::bad_request(e.to_string())))
        .collect()
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("api_key" = [])), request_body = NewUser,
    responses((status = 200, body = NewKey, description = "The user's API key, shown once (admin)")))]
pub(super) async fn create_user(
    State(state): Shared,
    Caller(who): Caller,
    Body(u): Body<NewUser>,
) -> Result<Json<NewKey>, ApiError> {
    let roles = parse_roles(&u.roles)?;
    blocking(move || {
        let key = state.gabarit.add_user(&who, &u.name, &roles)?;
        Ok(Json(NewKey { name: u.name, key }))
    })
    .await
}

#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "users", security(("api_key" = [])),
    params(("name" = String, Path, description = "User")),
    responses((status = 200, body = UserDisabled, description = "The user is disabled: keys and sessions stop at once; the record stays for the audit log (admin)")))]
pub(super) async fn disable_user(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
) -> Result<Json<UserDisabled>, ApiError> {
    blocking(move || {
        state.gabarit.disable_user(&who, &name)?;
        Ok(Json(UserDisabled { name, disabled: true }))
    })
    .await
}

/// New roles.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct Roles {
    /// Roles: admin, curator, investigator, reviewer, dpo.
    roles: Vec<String>,
}

#[utoipa::path(put, path = "/api/v1/users/{name}/roles", tag = "users", security(("api_key" = [])),
    params(("name" = String, Path, description = "User")), request_body = Roles,
    responses((status = 200, body = RolesSet, description = "The user's roles are replaced (admin; logged with before and after)")))]
pub(super) async fn set_roles(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
    Body(r): Body<Roles>,
) -> Result<Json<RolesSet>, ApiError> {
    let roles = parse_roles(&r.roles)?;
    blocking(move || {
        state.gabarit.set_roles(&who, &name, &roles)?;
        Ok(Json(RolesSet { name, roles }))
    })
    .await
}

/// A new password.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct NewPassword {
    /// At least 12 characters.
    password: String,
}

#[utoipa::path(put, path = "/api/v1/users/{name}/password", tag = "users", security(("api_key" = [])),
    params(("name" = String, Path, description = "User")), request_body = NewPassword,
    responses((status = 200, body = PasswordSet, description = "The user's web password is set and their sessions end (admin; the password is not logged)")))]
pub(super) async fn set_password(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
    Body(p): Body<NewPassword>,
) -> Result<Json<PasswordSet>, ApiError> {
    blocking(move || {
        state.gabarit.set_password(&who, &name, &p.password)?;
        Ok(Json(PasswordSet { name }))
    })
    .await
}

#[utoipa::path(get, path = "/api/v1/users/{name}/keys", tag = "users", security(("api_key" = [])),
    params(("name" = String, Path, description = "User")),
    responses((status = 200, body = Keys, description = "The user's API keys: prefixes, dates, revocations; never the secrets (admin)")))]
pub(super) async fn list_keys(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
) -> Result<Json<Keys>, ApiError> {
    blocking(move || Ok(Json(Keys { items: state.gabarit.list_keys(&who, &name)? }))).await
}

#[utoipa::path(post, path = "/api/v1/users/{name}/keys", tag = "users", security(("api_key" = [])),
    params(("name" = String, Path, description = "User")),
    responses((status = 200, body = NewKey, description = "A new API key for the user, shown once (admin)")))]
pub(super) async fn issue_key(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
) -> Result<Json<NewKey>, ApiError> {
    blocking(move || {
        let key = state.gabarit.issue_key(&who, &name)?;
        Ok(Json(NewKey { name, key }))
    })
    .await
}

#[utoipa::path(delete, path = "/api/v1/users/{name}/keys/{prefix}", tag = "users", security(("api_key" = [])),
    params(("name" = String, Path, description = "User"), ("prefix" = String, Path, description = "The key's prefix (gbk_<prefix>_…)")),
    responses((status = 200, body = KeyRevoked, description = "The key is revoked: it stops working at once (admin)")))]
pub(super) async fn revoke_key(
    State(state): Shared,
    Caller(who): Caller,
    Param((name, prefix)): Param<(String, String)>,
) -> Result<Json<KeyRevoked>, ApiError> {
    blocking(move || {
        state.gabarit.revoke_key(&who, &name, &prefix)?;
        Ok(Json(KeyRevoked { name, revoked: prefix }))
    })
    .await
}

/// A collection to grant.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct Grant {
    /// Collection name.
    collection: String,
}

#[utoipa::path(post, path = "/api/v1/users/{name}/grants", tag = "users", security(("api_key" = [])),
    params(("name" = String, Path, description = "User")), request_body = Grant,
    responses((status = 200, body = Granted, description = "The user may now search, or review, the collection (admin)")))]
pub(super) async fn grant(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
    Body(g): Body<Grant>,
) -> Result<Json<Granted>, ApiError> {
    blocking(move || {
        state.gabarit.grant(&who, &name, &g.collection)?;
        Ok(Json(Granted { name, collection: g.collection }))
    })
    .await
}

#[utoipa::path(delete, path = "/api/v1/users/{name}/grants/{collection}", tag = "users", security(("api_key" = [])),
    params(("name" = String, Path, description = "User"), ("collection" = String, Path, description = "Collection")),
    responses((status = 200, body = Withdrawn, description = "The grant is withdrawn: at once (admin)")))]
pub(super) async fn ungrant(
    State(state): Shared,
    Caller(who): Caller,
    Param((name, collection)): Param<(String, String)>,
) -> Result<Json<Withdrawn>, ApiError> {
    blocking(move || {
        state.gabarit.ungrant(&who, &name, &collection)?;
        Ok(Json(Withdrawn { name, withdrawn: collection }))
    })
    .await
}

/// A login.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct Credentials {
    /// User name.
    name: String,
    /// Password (set by an admin with `gabarit user password`).
    password: String,
}

#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = Credentials,
    responses((status = 200, body = gabarit_engine::auth::Session, description = "Logged in: an HttpOnly, Secure, SameSite=Strict session cookie, and the CSRF token"),
        (status = 401, description = "Unknown user or wrong password"),
        (status = 429, description = "Too many failed logins for this name from this address, from this address, or in all")))]
pub(super) async fn login(
    State(state): Shared,
    axum::extract::ConnectInfo(from): axum::extract::ConnectInfo<std::net::SocketAddr>,
    Body(c): Body<Credentials>,
) -> Result<Response, ApiError> {
    // A name that cannot exist is refused before anything is counted, checked or written.
    gabarit_engine::governance::limits::user_name(&c.name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let session = blocking(move || Ok(state.gabarit.login(&state.logins, &c.name, &c.password, from.ip())?)).await?;
    let cookie = format!(
        "{SESSION_COOKIE}={}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={}",
        session.token,
        auth::SESSION_HOURS * 3600
    );
    Ok(([(header::SET_COOKIE, cookie)], Json(json!(session))).into_response())
}

#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, body = CurrentSession, description = "This browser's web session, if it has one: its user and CSRF token, so that a new tab of a logged-in browser carries on with it (another site cannot read the answer); `{\"session\": null}` without one")))]
pub(super) async fn current_session(
    State(state): Shared,
    headers: axum::http::HeaderMap,
) -> Result<Json<CurrentSession>, ApiError> {
    let Some(token) = session_cookie(&headers) else { return Ok(Json(CurrentSession { session: None })) };
    blocking(move || match state.gabarit.authenticate_session(&token) {
        Ok((who, csrf)) => Ok(Json(CurrentSession { session: Some(SessionOf { user: who.name().to_string(), csrf }) })),
        Err(gabarit_engine::Error::Auth(_)) => Ok(Json(CurrentSession { session: None })),
        Err(e) => Err(e.into()),
    })
    .await
}

#[utoipa::path(delete, path = "/api/v1/session", tag = "session", security(("api_key" = [])),
    responses((status = 200, body = LoggedOut, description = "Logged out: the caller's own session is deleted (a cookie of someone else's session ends nothing) and the cookie cleared")))]
pub(super) async fn logout(
    State(state): Shared,
    Caller(who): Caller,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let ended = match session_cookie(&headers) {
        Some(token) => blocking(move || Ok(state.gabarit.logout(&who, &token)?)).await?,
        None => false,
    };
    let cookie = format!("{SESSION_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0");
    Ok(([(header::SET_COOKIE, cookie)], Json(LoggedOut { ended })).into_response())
}

#[cfg(test)]
mod tests {
    /// The web UI has words, in English and in French, for every code the vocabulary serves
    /// (a new value in the Rust enums needs its words in the catalogues, not a copy of the list).
    #[test]
    fn every_code_of_the_vocabulary_has_words_in_both_catalogues() {
        let web = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/src/i18n/");
        let collections = fs_err::read_to_string(format!("{web}collections.ts")).unwrap();
        let common = fs_err::read_to_string(format!("{web}common.ts")).unwrap();
        let v = gabarit_engine::governance::vocabulary();
        let terms = v.legal_bases.iter().chain(&v.conditions).chain(&v.purpose_categories);
        for code in terms.map(|t| t.code) {
            let keyed = collections.matches(&format!("{code}: ")).count();
            assert!(keyed >= 2, "{code}: words in {keyed} of the 2 languages of web/src/i18n/collections.ts");
        }
        for role in v.roles {
            let keyed = common.matches(&format!("{role}: ")).count();
            assert!(keyed >= 2, "role {role}: words in {keyed} of the 2 languages of web/src/i18n/common.ts");
        }
    }
}
