//! Users, roles, grants, API keys and passwords (admin), and a caller's own account. Every
//! change is audited in its transaction; revoking a key, disabling a user or withdrawing a
//! grant takes effect at the next request (roles and grants are read afresh for each caller),
//! and a new password or a disabled user ends that user's web sessions.

pub use gabarit_catalog::{KeyRecord, UserRecord};
use gabarit_governance::{Role, actions, limits};
use serde::Serialize;
use serde_json::json;

use crate::auth::Caller;
use crate::store::Store;
use crate::{Error, Result};

fn role_names(roles: &[Role]) -> Vec<&'static str> {
    roles.iter().map(|r| r.name()).collect()
}

fn prefix_of(key: &str) -> String {
    key.split('_').nth(1).unwrap_or_default().to_string()
}

/// Adds a user with roles; returns their API key (shown once).
pub(crate) fn add_user(store: &mut Store, who: &Caller, name: &str, roles: &[Role]) -> Result<String> {
    who.may::<actions::ManageUsers>()?;
    let name = limits::user_name(name)?;
    let (key, _) = store.catalog.audited(who.name(), "user_create", |tx| {
        tx.create_user(name, roles)?;
        let key = tx.issue_key(name)?;
        Ok((key.clone(), json!({"user": name, "roles": role_names(roles), "key": prefix_of(&key)})))
    })?;
    Ok(key)
}

/// Whether, after the change `keeps_admin` describes for `user`, an enabled admin is left.
fn admins_left(store: &Store, user: &str, keeps_admin: bool) -> Result<bool> {
    let others = store.catalog.users()?.iter().filter(|u| u.name != user && u.roles.contains(&Role::Admin)).count();
    Ok(others > 0 || keeps_admin)
}

/// Replaces a user's roles; the last admin keeps theirs.
pub(crate) fn set_roles(store: &mut Store, who: &Caller, name: &str, roles: &[Role]) -> Result<()> {
    who.may::<actions::ManageUsers>()?;
    let before = store.catalog.principal(name)?.roles;
    if !admins_left(store, name, roles.contains(&Role::Admin))? {
        return Err(Error::LastAdmin(format!("{name} is the last admin: give another user the admin role first")));
    }
    store.catalog.audited(who.name(), "role_change", |tx| {
        tx.set_roles(name, roles)?;
        Ok(((), json!({"user": name, "before": role_names(&before), "after": role_names(roles)})))
    })?;
    Ok(())
}

/// Grants a user a collection: investigators search it, reviewers review its candidates.
pub(crate) fn grant(store: &mut Store, who: &Caller, user: &str, collection: &str) -> Result<()> {
    who.may::<actions::ManageUsers>()?;
    store.catalog.audited(who.name(), "grant", |tx| {
        tx.grant(user, collection)?;
        Ok(((), json!({"user": user, "collection": collection})))
    })?;
    Ok(())
}

/// Withdraws a grant (refused when there was none).
pub(crate) fn ungrant(store: &mut Store, who: &Caller, user: &str, collection: &str) -> Result<()> {
    who.may::<actions::ManageUsers>()?;
    store.catalog.audited(who.name(), "grant_revoke", |tx| {
        if !tx.ungrant(user, collection)? {
            return Err(gabarit_catalog::Error::NotFound {
                kind: "grant",
                name: format!("{} to {}", limits::shown(collection), limits::shown(user)),
            });
        }
        Ok(((), json!({"user": user, "collection": collection})))
    })?;
    Ok(())
}

/// Issues a new API key for a user (shown once); the others stay valid until revoked.
pub(crate) fn issue_key(store: &mut Store, who: &Caller, user: &str) -> Result<String> {
    who.may::<actions::ManageUsers>()?;
    let (key, _) = store.catalog.audited(who.name(), "key_issue", |tx| {
        let key = tx.issue_key(user)?;
        Ok((key.clone(), json!({"user": user, "key": prefix_of(&key)})))
    })?;
    Ok(key)
}

/// Revokes a user's API key, named by its prefix; it stops working at once.
pub(crate) fn revoke_key(store: &mut Store, who: &Caller, user: &str, prefix: &str) -> Result<()> {
    who.may::<actions::ManageUsers>()?;
    store.catalog.audited(who.name(), "key_revoke", |tx| {
        tx.revoke_key(user, prefix)?;
        Ok(((), json!({"user": user, "key": prefix})))
    })?;
    Ok(())
}

/// A user's API keys: prefixes, dates, revocations (never the secrets).
pub(crate) fn list_keys(store: &Store, who: &Caller, user: &str) -> Result<Vec<KeyRecord>> {
    who.may::<actions::ManageUsers>()?;
    Ok(store.catalog.keys_of(user)?)
}

/// Disables a user: keys and sessions stop working; the record stays for the audit log. An
/// admin cannot disable themselves, nor the last admin.
pub(crate) fn disable_user(store: &mut Store, who: &Caller, name: &str) -> Result<()> {
    who.may::<actions::ManageUsers>()?;
    if name == who.name() {
        return Err(Error::LastAdmin("an admin cannot disable their own account".into()));
    }
    let roles = store.catalog.principal(name)?.roles;
    if roles.contains(&Role::Admin) && !admins_left(store, name, false)? {
        return Err(Error::LastAdmin(format!("{name} is the last admin: give another user the admin role first")));
    }
    store.catalog.audited(who.name(), "user_disable", |tx| {
        let ended = tx.disable_user(name)?;
        Ok(((), json!({"user": name, "sessions_ended": ended})))
    })?;
    Ok(())
}

/// Sets a user's password for the web UI (at least 12 characters; hashed with Argon2id;
/// logged without it); their open sessions end.
pub(crate) fn set_password(store: &mut Store, who: &Caller, name: &str, password: &str) -> Result<()> {
    who.may::<actions::ManageUsers>()?;
    let length = password.chars().count();
    if !(12..=limits::PASSWORD).contains(&length) {
        return Err(Error::field("password", format!("a password needs 12 to {} characters", limits::PASSWORD)));
    }
    let hash = crate::auth::hash_password(password)?;
    store.catalog.audited(who.name(), "user_password_set", |tx| {
        let ended = tx.set_password_hash(name, &hash)?;
        Ok(((), json!({"user": name, "sessions_ended": ended})))
    })?;
    Ok(())
}

/// Every enabled user with roles and grants.
pub(crate) fn list_users(store: &Store, who: &Caller) -> Result<Vec<UserRecord>> {
    who.may::<actions::ManageUsers>()?;
    Ok(store.catalog.users()?)
}

/// The caller's own account.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct Me {
    /// Name.
    pub name: String,
    /// Roles.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<gabarit_governance::Role>))]
    pub roles: Vec<&'static str>,
    /// Collections granted.
    pub collections: Vec<String>,
}

/// The caller's own account: name, roles, collections granted.
pub(crate) fn me(store: &Store, who: &Caller) -> Result<Me> {
    let user = store.catalog.user(who.name())?;
    Ok(Me {
        name: who.name().to_string(),
        roles: role_names(who.roles()),
        collections: user.map(|u| u.collections).unwrap_or_default(),
    })
}
