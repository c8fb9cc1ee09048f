//! Users, API keys, grants, and web sessions (login, logout).

use super::*;

#[utoipa::path(get, path = "/api/v1/me", tag = "users", security(("api_key" = [])),
    responses((status = 200, description = "The caller: name, roles, collections granted")))]
pub(super) async fn me(State(state): Shared, Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    let name = who.name.clone();
    // The grants by name, without counting what every collection holds.
    let collections = blocking(move || {
        let user = state.store()?.catalog.user(&name).map_err(gabarit_engine::Error::from)?;
        Ok(user.map(|u| u.collections).unwrap_or_default())
    });
    let roles: Vec<&str> = who.roles.iter().map(|r| r.name()).collect();
    Ok(Json(json!({"name": who.name, "roles": roles, "collections": collections.await?})))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("api_key" = [])),
    responses((status = 200, description = "Users with roles and grants (admin)")))]
pub(super) async fn list_users(State(state): Shared, Caller(who): Caller) -> Result<Json<Value>, ApiError> {
    let store = state.store()?;
    Ok(Json(json!(governed::list_users(&store, &who)?)))
}

/// A new user.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct NewUser {
    /// Name.
    name: String,
    /// Roles: admin, curator, investigator, reviewer, dpo.
    roles: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", security(("api_key" = [])), request_body = NewUser,
    responses((status = 200, description = "The user's API key, shown once (admin)")))]
pub(super) async fn create_user(
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
pub(super) async fn issue_key(
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
pub(super) struct Grant {
    /// Collection name.
    collection: String,
}

#[utoipa::path(post, path = "/api/v1/users/{name}/grants", tag = "users", security(("api_key" = [])),
    params(("name" = String, Path, description = "User")), request_body = Grant,
    responses((status = 200, description = "The user may now search the collection (admin)")))]
pub(super) async fn grant(
    State(state): Shared,
    Caller(who): Caller,
    Param(name): Param<String>,
    Body(g): Body<Grant>,
) -> Result<Json<Value>, ApiError> {
    let mut store = state.store()?;
    governed::grant(&mut store, &who, &name, &g.collection)?;
    Ok(Json(json!({"name": name, "collection": g.collection})))
}

/// A login.
#[derive(Deserialize, utoipa::ToSchema)]
pub(super) struct Credentials {
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
pub(super) async fn login(State(state): Shared, Body(c): Body<Credentials>) -> Result<Response, ApiError> {
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
pub(super) async fn logout(
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
