//! Who is calling: every governed use case takes a [`Caller`], and only this module makes one,
//! from an API key ([`authenticate_key`]), a web session ([`authenticate_session`]), or for
//! the engine's own work (a queued job runs as its asker). A front end cannot act by a name
//! alone.
//!
//! Logging in ([`login`]) is limited by [`LoginLimiter`]: each attempt is counted, in the
//! store (so every server process on it counts the same), *before* the password is checked,
//! per user name and client address, per address, and in all, so that concurrent guesses
//! cannot slip past the count, guesses spread across names are stopped, and an account's
//! owner is not locked out from their own address by someone else's guesses. Unknown names
//! and names without a password cost the same Argon2 verification as the others.

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use gabarit_governance::{Act, Authorized, Principal, Role, authorize, limits};
use serde::Serialize;
use serde_json::json;

use crate::store::Store;
use crate::{Error, Result};

/// Why a caller could not be authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The API key is unknown, revoked, or its user disabled.
    #[error("this API key is not valid (unknown, revoked, or its user disabled)")]
    InvalidKey,
    /// The session expired, was ended, or its user disabled.
    #[error("the session has ended: log in again")]
    SessionEnded,
    /// Unknown user or wrong password (never says which).
    #[error("unknown user or wrong password")]
    BadCredentials,
    /// Too many failed logins: wait.
    #[error("too many failed logins: try again in {retry_after_s} s")]
    TooManyAttempts {
        /// Seconds until an attempt is counted again.
        retry_after_s: u64,
    },
    /// The data directory has no user yet.
    #[error("this data directory has no users yet: create the first admin with `gabarit init --admin NAME`")]
    NoUsers,
}

/// How a caller was authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// An API key, named by its public prefix.
    ApiKey {
        /// The key's prefix.
        prefix: String,
    },
    /// A web session (password login).
    Session,
    /// A background job running for the user who queued it.
    Job {
        /// The job.
        id: u64,
    },
    /// The first admin, created with the data directory.
    Bootstrap,
}

/// An authenticated user, as the governed use cases take them. Only this crate makes one.
#[derive(Debug, Clone)]
pub struct Caller {
    principal: Principal,
    via: Via,
}

impl Caller {
    /// User name.
    pub fn name(&self) -> &str {
        &self.principal.name
    }

    /// Roles.
    pub fn roles(&self) -> &[Role] {
        &self.principal.roles
    }

    /// How they were authenticated.
    pub fn via(&self) -> &Via {
        &self.via
    }

    /// The user `name` as the catalog holds them now (roles and grants read afresh).
    pub(crate) fn resolve(store: &Store, name: &str, via: Via) -> Result<Caller> {
        Ok(Caller { principal: store.catalog.principal(name)?, via })
    }

    /// The ids of the collections granted to this caller (as they were when authenticated).
    pub(crate) fn granted(&self) -> &[u32] {
        &self.principal.collections
    }

    /// The proof that this caller may do `A`, reaching what their roles and grants reach.
    pub(crate) fn may<A: Act>(&self) -> Result<Authorized<A>> {
        Ok(authorize::<A>(&self.principal)?)
    }

    /// Whether this caller may do `A` at all.
    pub fn can<A: Act>(&self) -> bool {
        authorize::<A>(&self.principal).is_ok()
    }
}

/// The user of an API key (`gbk_<prefix>_<secret>`).
pub(crate) fn authenticate_key(store: &Store, key: &str) -> Result<Caller> {
    let key = key.trim();
    if key.len() > 200 {
        return Err(AuthError::InvalidKey.into());
    }
    match store.catalog.principal_for_key(key)? {
        Some((principal, prefix)) => Ok(Caller { principal, via: Via::ApiKey { prefix } }),
        None if store.catalog.user_count()? == 0 => Err(AuthError::NoUsers.into()),
        None => Err(AuthError::InvalidKey.into()),
    }
}

/// The user of a live web session, and its CSRF token.
pub(crate) fn authenticate_session(store: &Store, token: &str) -> Result<(Caller, String)> {
    if token.len() > 200 {
        return Err(AuthError::SessionEnded.into());
    }
    let (name, csrf) =
        store.catalog.session(token, &seconds_string(jiff::Timestamp::now()))?.ok_or(AuthError::SessionEnded)?;
    Ok((Caller::resolve(store, &name, Via::Session)?, csrf))
}

/// Creates the first admin of an empty data directory; returns their API key (shown once).
pub(crate) fn bootstrap_admin(store: &mut Store, name: &str) -> Result<String> {
    if store.catalog.user_count()? > 0 {
        return Err(Error::AlreadyInitialised);
    }
    let name = limits::user_name(name)?.to_string();
    let (key, _) = store.catalog.audited(&name, "user_create", |tx| {
        tx.create_user(&name, &[Role::Admin])?;
        let key = tx.issue_key(&name)?;
        let prefix = key.split('_').nth(1).unwrap_or_default().to_string();
        Ok((key, json!({"user": name, "roles": ["admin"], "bootstrap": true, "key": prefix})))
    })?;
    Ok(key)
}

/// How long a web session lasts.
pub const SESSION_HOURS: i64 = 12;

pub(crate) fn seconds_string(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A web session: the token for the cookie and the CSRF token for state-changing requests.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// User.
    pub user: String,
    /// Session token (goes in an HttpOnly cookie; only its hash is stored).
    #[serde(skip)]
    pub token: String,
    /// CSRF token (sent back in the `X-CSRF-Token` header of state-changing requests).
    pub csrf: String,
    /// Expiry.
    pub expires_at: String,
}

/// Limits of [`LoginLimiter`]: failed attempts allowed within `window`.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Per user name from one client address.
    pub per_name_and_address: usize,
    /// Per client address, whatever the names.
    pub per_address: usize,
    /// In all.
    pub global: usize,
    /// The window.
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits { per_name_and_address: 5, per_address: 20, global: 200, window: Duration::from_secs(15 * 60) }
    }
}

/// Counts login attempts (failed ones, and those being checked) per name and address, per
/// address and in all, over a sliding window, in the store: every server process on it counts
/// the same attempts, and a restart forgets none.
pub struct LoginLimiter {
    limits: LoginLimits,
}

/// An attempt counted before its check; a successful login takes it back.
struct Ticket {
    id: u64,
    name: String,
    from: String,
}

impl LoginLimiter {
    /// A limiter with these limits.
    pub fn new(limits: LoginLimits) -> Self {
        LoginLimiter { limits }
    }

    /// Counts an attempt, or refuses it when a limit is reached (the seconds to wait).
    fn admit(
        &self,
        catalog: &gabarit_catalog::Catalog,
        name: &str,
        from: IpAddr,
    ) -> Result<std::result::Result<Ticket, u64>> {
        let counts = gabarit_catalog::LoginCounts {
            per_name_and_address: self.limits.per_name_and_address as u64,
            per_address: self.limits.per_address as u64,
            global: self.limits.global as u64,
            window_ms: i64::try_from(self.limits.window.as_millis()).unwrap_or(i64::MAX),
        };
        let from = from.to_string();
        let now = jiff::Timestamp::now().as_millisecond();
        Ok(catalog
            .admit_login(name, &from, now, &counts)?
            .map(|id| Ticket { id, name: name.to_string(), from })
            .map_err(|wait_ms| wait_ms.unsigned_abs().div_ceil(1000)))
    }

    /// A successful login: its attempt and the earlier failures of that name from that
    /// address are forgotten.
    fn succeeded(&self, catalog: &gabarit_catalog::Catalog, ticket: Ticket) -> Result<()> {
        Ok(catalog.login_succeeded(ticket.id, &ticket.name, &ticket.from)?)
    }
}

impl Default for LoginLimiter {
    fn default() -> Self {
        Self::new(LoginLimits::default())
    }
}

/// A hash to verify against when the user has no password (or does not exist), so that every
/// attempt costs one Argon2 verification.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("a password nobody has, for timing").unwrap_or_default())
}

/// The Argon2id PHC string of a password, with a fresh salt.
pub(crate) fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use rand::TryRng;
    let mut random = [0u8; 16];
    rand::rngs::SysRng
        .try_fill_bytes(&mut random)
        .map_err(|e| Error::Internal(format!("no system randomness: {e}")))?;
    let salt = SaltString::encode_b64(&random).map_err(|e| Error::Internal(format!("salt: {e}")))?;
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::Internal(format!("cannot hash the password: {e}")))?
        .to_string())
}

fn password_matches(hash: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash)
        .is_ok_and(|parsed| argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Logs a user in with their password from client address `from`. The name and password are
/// bounded before anything else (a name that cannot exist is refused without a trace); each
/// checked attempt is audited (never the password).
pub(crate) fn login(
    store: &mut Store,
    limiter: &LoginLimiter,
    name: &str,
    password: &str,
    from: IpAddr,
) -> Result<Session> {
    let name = limits::user_name(name)?.to_string();
    if password.len() > limits::PASSWORD {
        return Err(AuthError::BadCredentials.into());
    }
    let ticket = limiter
        .admit(&store.catalog, &name, from)?
        .map_err(|retry_after_s| AuthError::TooManyAttempts { retry_after_s })?;
    let stored = store.catalog.password_hash(&name)?;
    let ok = password_matches(stored.as_deref().unwrap_or(decoy_hash()), password) && stored.is_some();
    if !ok {
        store.catalog.audit(&name, "login_failed", json!({"user": name, "from": from.to_string()}))?;
        return Err(AuthError::BadCredentials.into());
    }
    limiter.succeeded(&store.catalog, ticket)?;
    let expires_at = seconds_string(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(SESSION_HOURS));
    let ((token, csrf), _) = store.catalog.audited(&name, "login", |tx| {
        let session = tx.create_session(&name, &expires_at)?;
        Ok((session, json!({"user": name, "from": from.to_string(), "expires_at": expires_at})))
    })?;
    Ok(Session { user: name, token, csrf, expires_at })
}

/// Ends the caller's own session `token`; a token of someone else's session ends nothing.
/// Returns whether a session ended.
pub(crate) fn logout(store: &mut Store, who: &Caller, token: &str) -> Result<bool> {
    if !store.catalog.session_of(token, who.name())? {
        return Ok(false);
    }
    let now = seconds_string(jiff::Timestamp::now());
    let (ended, _) = store.catalog.audited(who.name(), "logout", |tx| {
        let ended = tx.end_session(who.name(), token, &now)?;
        Ok((ended, json!({"user": who.name()})))
    })?;
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
    }

    /// A catalog file for the attempts (each thread opens its own connection to it).
    fn catalog_file() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        gabarit_catalog::Catalog::open(&path).unwrap();
        (dir, path)
    }

    fn open(path: &std::path::Path) -> gabarit_catalog::Catalog {
        gabarit_catalog::Catalog::open(path).unwrap()
    }

    #[test]
    fn attempts_are_counted_before_they_are_checked_even_all_at_once_by_several_processes() {
        let (_dir, path) = catalog_file();
        let limiter = LoginLimiter::default();
        let admitted = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..30 {
                s.spawn(|| {
                    // Each its own connection, as separate server processes would have.
                    if limiter.admit(&open(&path), "rita", ip("10.0.0.1")).unwrap().is_ok() {
                        admitted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(admitted.into_inner(), 5);
        let cat = open(&path);
        assert!(limiter.admit(&cat, "rita", ip("10.0.0.2")).unwrap().is_ok(), "the owner's own address is not locked");
        let wait = limiter.admit(&cat, "rita", ip("10.0.0.1")).unwrap().err().unwrap();
        assert!((899..=900).contains(&wait), "the rest of the 15-minute window: {wait} s");
    }

    #[test]
    fn guesses_spread_across_names_and_addresses_are_stopped() {
        let (_dir, path) = catalog_file();
        let cat = open(&path);
        let limiter = LoginLimiter::new(LoginLimits { global: 30, ..LoginLimits::default() });
        let from_one =
            (0..25).filter(|i| limiter.admit(&cat, &format!("n{i}"), ip("10.0.0.3")).unwrap().is_ok()).count();
        assert_eq!(from_one, 20, "per address");
        let everywhere =
            (0..25).filter(|i| limiter.admit(&cat, "x", ip(&format!("10.0.1.{i}"))).unwrap().is_ok()).count();
        assert_eq!(everywhere, 10, "the global ceiling: 30 in all");
    }

    #[test]
    fn a_successful_login_takes_its_attempt_and_earlier_failures_back() {
        let (_dir, path) = catalog_file();
        let cat = open(&path);
        let limiter = LoginLimiter::default();
        for _ in 0..4 {
            let _failed = limiter.admit(&cat, "rita", ip("10.0.0.1")).unwrap().ok().unwrap();
        }
        let ok = limiter.admit(&cat, "rita", ip("10.0.0.1")).unwrap().ok().unwrap();
        limiter.succeeded(&cat, ok).unwrap();
        for _ in 0..5 {
            assert!(limiter.admit(&cat, "rita", ip("10.0.0.1")).unwrap().is_ok());
        }
        assert!(limiter.admit(&cat, "rita", ip("10.0.0.1")).unwrap().is_err());
    }

    #[test]
    fn attempts_older_than_the_window_no_longer_count() {
        let (_dir, path) = catalog_file();
        let cat = open(&path);
        let limiter = LoginLimiter::new(LoginLimits { window: Duration::from_millis(300), ..LoginLimits::default() });
        for _ in 0..5 {
            assert!(limiter.admit(&cat, "rita", ip("10.0.0.1")).unwrap().is_ok());
        }
        assert!(limiter.admit(&cat, "rita", ip("10.0.0.1")).unwrap().is_err());
        std::thread::sleep(Duration::from_millis(350));
        assert!(limiter.admit(&cat, "rita", ip("10.0.0.1")).unwrap().is_ok());
    }

    #[test]
    fn the_decoy_is_an_argon2_hash_like_the_real_ones() {
        let real = hash_password("correct horse battery").unwrap();
        let decoy = decoy_hash();
        let params = |h: &str| h.split('$').take(4).collect::<Vec<_>>().join("$");
        assert_eq!(params(decoy), params(&real), "same algorithm, version and cost");
        assert!(!password_matches(decoy, "correct horse battery"));
    }
}
