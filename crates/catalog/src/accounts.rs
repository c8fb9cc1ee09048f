//! Accounts: collections' governance fields, users with their roles and grants, API keys,
//! passwords and web sessions. Every row that grants power carries its code (see
//! [`crate::integrity`]) and is checked when read.

use gabarit_governance::{GovernanceDraft, Principal, Role};
use rand::TryRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::integrity::Row;
use crate::{Catalog, Error, Result, Tx, now};

/// A user.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Collections granted.
    pub collections: Vec<String>,
    /// Created at.
    pub created_at: String,
}

/// An API key as its user's admin sees it: never the secret, nor its hash.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key's public prefix (`gbk_<prefix>_…`).
    pub prefix: String,
    /// Issued at.
    pub created_at: String,
    /// Revoked at, if it was.
    pub revoked_at: Option<String>,
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    rand::rngs::SysRng.try_fill_bytes(&mut buf).map_err(|e| Error::Invalid(format!("no system randomness: {e}")))?;
    Ok(hex::encode(buf))
}

/// Compares secrets in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn key_hash(salt: &str, secret: &str) -> String {
    hex::encode(Sha256::digest(format!("{salt}:{secret}").as_bytes()))
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn not_found(kind: &'static str, name: &str) -> Error {
    Error::NotFound { kind, name: gabarit_governance::limits::shown(name) }
}

/// A user row as stored, with its code.
struct StoredUser {
    id: u32,
    name: String,
    roles: String,
    disabled: bool,
    password_hash: Option<String>,
    created_at: String,
    mac: Option<String>,
}

impl Catalog {
    /// The governance fields of a collection (possibly incomplete).
    pub fn governance(&self, collection: &str) -> Result<GovernanceDraft> {
        let text: String = self
            .db()
            .row("SELECT governance FROM collections WHERE name = ?1", &[&collection], |r| r.get(0))?
            .ok_or_else(|| not_found("collection", collection))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("collection {collection}: stored governance is not readable: {e}")))
    }

    /// Number of users.
    pub fn user_count(&self) -> Result<u64> {
        Ok(self.db().row("SELECT COUNT(*) FROM users", &[], |r| r.get::<u64>(0))?.unwrap_or(0))
    }

    /// The stored row of an enabled user, checked against its code.
    fn stored_user(&self, name: &str) -> Result<Option<StoredUser>> {
        let row = self.db().row(
            "SELECT id, name, roles, disabled, password_hash, created_at, mac FROM users WHERE name = ?1",
            &[&name],
            |r| {
                Ok(StoredUser {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    roles: r.get(2)?,
                    disabled: r.get(3)?,
                    password_hash: r.get(4)?,
                    created_at: r.get(5)?,
                    mac: r.get(6)?,
                })
            },
        )?;
        let Some(u) = row else { return Ok(None) };
        self.check_row(
            &Row::User {
                id: u.id,
                name: &u.name,
                roles: &u.roles,
                disabled: u.disabled,
                password_hash: u.password_hash.as_deref(),
            },
            u.mac.as_deref(),
            || format!("the account of user {:?}", u.name),
        )?;
        Ok((!u.disabled).then_some(u))
    }

    /// The enabled user called `name`, with roles and grants (checked against their codes).
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        Ok(self.granted_user(name)?.map(|(user, _)| user))
    }

    /// [`Catalog::user`], with the ids of the collections granted (in the order of their names).
    fn granted_user(&self, name: &str) -> Result<Option<(UserRecord, Vec<u32>)>> {
        let Some(u) = self.stored_user(name)? else { return Ok(None) };
        let roles: Vec<Role> = serde_json::from_str(&u.roles)
            .map_err(|e| Error::Invalid(format!("user {}: stored roles are not readable: {e}", u.name)))?;
        let grants = self.db().rows(
            "SELECT c.name, g.collection_id, g.mac FROM grants g JOIN collections c ON g.collection_id = c.id
             WHERE g.user_id = ?1 ORDER BY c.name",
            &[&u.id],
            |r| Ok((r.get::<String>(0)?, r.get::<u32>(1)?, r.get::<Option<String>>(2)?)),
        )?;
        let mut collections = Vec::with_capacity(grants.len());
        let mut ids = Vec::with_capacity(grants.len());
        for (collection, collection_id, mac) in grants {
            self.check_row(&Row::Grant { user_id: u.id, collection_id }, mac.as_deref(), || {
                format!("the grant of collection {collection:?} to {:?}", u.name)
            })?;
            collections.push(collection);
            ids.push(collection_id);
        }
        Ok(Some((UserRecord { id: u.id, name: u.name, roles, collections, created_at: u.created_at }, ids)))
    }

    /// Every enabled user.
    pub fn users(&self) -> Result<Vec<UserRecord>> {
        let names: Vec<String> =
            self.db().rows("SELECT name FROM users WHERE disabled = 0 ORDER BY name", &[], |r| r.get(0))?;
        names.iter().filter_map(|n| self.user(n).transpose()).collect()
    }

    /// The policy's view of an enabled user.
    pub fn principal(&self, name: &str) -> Result<Principal> {
        let (u, ids) = self.granted_user(name)?.ok_or_else(|| not_found("user", name))?;
        Ok(Principal { name: u.name, roles: u.roles, collections: ids })
    }

    /// The API keys of a user, newest first.
    pub fn keys_of(&self, user: &str) -> Result<Vec<KeyRecord>> {
        let u = self.user(user)?.ok_or_else(|| not_found("user", user))?;
        self.db().rows(
            "SELECT prefix, created_at, revoked_at FROM api_keys WHERE user_id = ?1 ORDER BY id DESC",
            &[&u.id],
            |r| Ok(KeyRecord { prefix: r.get(0)?, created_at: r.get(1)?, revoked_at: r.get(2)? }),
        )
    }

    /// The user an API key belongs to, if it is valid, not revoked and its user enabled; a key
    /// row that does not authenticate is an error (`Tampered`), not a user.
    pub fn user_for_key(&self, key: &str) -> Result<Option<String>> {
        let Some(name) = self.key_owner(key)? else { return Ok(None) };
        Ok(self.stored_user(&name)?.map(|u| u.name))
    }

    /// The name of the user a valid, unrevoked API key belongs to (the key row checked, not
    /// yet the user's).
    fn key_owner(&self, key: &str) -> Result<Option<String>> {
        let mut parts = key.trim().splitn(3, '_');
        let (Some("gbk"), Some(prefix), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
            return Ok(None);
        };
        type KeyRow = (u32, String, String, String, Option<String>, Option<String>, String);
        let row: Option<KeyRow> = self.db().row(
            "SELECT k.user_id, k.salt, k.hash, k.created_at, k.revoked_at, k.mac, u.name
             FROM api_keys k JOIN users u ON k.user_id = u.id WHERE k.prefix = ?1",
            &[&prefix],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )?;
        let Some((user_id, salt, hash, created_at, revoked_at, mac, name)) = row else { return Ok(None) };
        if !same(key_hash(&salt, secret).as_bytes(), hash.as_bytes()) {
            return Ok(None);
        }
        self.check_row(
            &Row::Key {
                user_id,
                prefix,
                salt: &salt,
                hash: &hash,
                created_at: &created_at,
                revoked_at: revoked_at.as_deref(),
            },
            mac.as_deref(),
            || format!("the API key {prefix}"),
        )?;
        if revoked_at.is_some() {
            return Ok(None);
        }
        Ok(Some(name))
    }

    /// The policy's view of the user an API key belongs to (valid, not revoked, user enabled;
    /// every row read checked against its code), with the key's prefix.
    pub fn principal_for_key(&self, key: &str) -> Result<Option<(Principal, String)>> {
        let Some(name) = self.key_owner(key)? else { return Ok(None) };
        let prefix = key.trim().split('_').nth(1).unwrap_or_default().to_string();
        match self.principal(&name) {
            Ok(p) => Ok(Some((p, prefix))),
            Err(Error::NotFound { .. }) => Ok(None), // disabled
            Err(e) => Err(e),
        }
    }

    /// A user's password hash, if they have a password (and are enabled).
    pub fn password_hash(&self, name: &str) -> Result<Option<String>> {
        Ok(self.stored_user(name)?.and_then(|u| u.password_hash))
    }

    /// The user and CSRF token of a session that has not expired at `now` (RFC 3339).
    pub fn session(&self, token: &str, now: &str) -> Result<Option<(String, String)>> {
        let hash = token_hash(token);
        let row: Option<(u32, String, String, Option<String>, String)> = self.db().row(
            "SELECT s.user_id, s.csrf, s.expires_at, s.mac, u.name FROM sessions s JOIN users u ON s.user_id = u.id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2",
            &[&hash, &now],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let Some((user_id, csrf, expires_at, mac, name)) = row else { return Ok(None) };
        self.check_row(
            &Row::Session { token_hash: &hash, user_id, csrf: &csrf, expires_at: &expires_at },
            mac.as_deref(),
            || format!("a session of {name:?}"),
        )?;
        Ok(self.stored_user(&name)?.map(|u| (u.name, csrf)))
    }

    /// Whether a session token belongs to `user`.
    pub fn session_of(&self, token: &str, user: &str) -> Result<bool> {
        Ok(self
            .db()
            .row(
                "SELECT 1 FROM sessions s JOIN users u ON s.user_id = u.id WHERE s.token_hash = ?1 AND u.name = ?2",
                &[&token_hash(token), &user],
                |_| Ok(()),
            )?
            .is_some())
    }
}

impl Tx<'_> {
    /// Replaces the governance fields of a collection.
    pub fn set_governance(&self, collection: &str, g: &GovernanceDraft) -> Result<()> {
        let text = serde_json::to_string(g).map_err(|e| Error::Invalid(e.to_string()))?;
        let n = self.db().execute("UPDATE collections SET governance = ?1 WHERE name = ?2", &[&text, &collection])?;
        if n == 0 {
            return Err(not_found("collection", collection));
        }
        Ok(())
    }

    /// Rewrites a user row's code after a change.
    fn recode_user(&self, name: &str) -> Result<()> {
        let (id, roles, disabled, password_hash): (u32, String, bool, Option<String>) = self
            .db()
            .row("SELECT id, roles, disabled, password_hash FROM users WHERE name = ?1", &[&name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .ok_or_else(|| not_found("user", name))?;
        let tag =
            self.row_tag(&Row::User { id, name, roles: &roles, disabled, password_hash: password_hash.as_deref() })?;
        self.db().execute("UPDATE users SET mac = ?1 WHERE id = ?2", &[&tag, &id])?;
        Ok(())
    }

    /// The enabled user `name`, or `NotFound`.
    fn existing(&self, name: &str) -> Result<UserRecord> {
        self.user(name)?.ok_or_else(|| not_found("user", name))
    }

    /// Creates a user (a name already bounded by the caller).
    pub fn create_user(&self, name: &str, roles: &[Role]) -> Result<UserRecord> {
        let name = gabarit_governance::limits::user_name(name)?;
        if roles.is_empty() {
            return Err(Error::Invalid("a user needs at least one role".into()));
        }
        let taken = self.db().row("SELECT 1 FROM users WHERE name = ?1", &[&name], |_| Ok(()))?.is_some();
        if taken {
            return Err(Error::AlreadyExists { kind: "user", name: name.into() });
        }
        let roles_json = serde_json::to_string(roles).map_err(|e| Error::Invalid(e.to_string()))?;
        self.db().execute(
            "INSERT INTO users (name, roles, created_at) VALUES (?1, ?2, ?3)",
            &[&name, &roles_json, &now()],
        )?;
        self.recode_user(name)?;
        self.existing(name)
    }

    /// Replaces a user's roles.
    pub fn set_roles(&self, name: &str, roles: &[Role]) -> Result<()> {
        if roles.is_empty() {
            return Err(Error::Invalid("a user needs at least one role".into()));
        }
        self.existing(name)?;
        let roles_json = serde_json::to_string(roles).map_err(|e| Error::Invalid(e.to_string()))?;
        self.db().execute("UPDATE users SET roles = ?1 WHERE name = ?2", &[&roles_json, &name])?;
        self.recode_user(name)
    }

    /// Disables a user: their keys and sessions stop working; the record stays (the audit log
    /// names them). Returns how many sessions ended.
    pub fn disable_user(&self, name: &str) -> Result<u64> {
        self.existing(name)?;
        self.db().execute("UPDATE users SET disabled = 1 WHERE name = ?1", &[&name])?;
        self.recode_user(name)?;
        self.end_sessions_of(name)
    }

    /// Grants a user a collection (search for investigators, review for reviewers).
    pub fn grant(&self, user: &str, collection: &str) -> Result<()> {
        let u = self.existing(user)?;
        let c = self.collection(collection)?;
        let tag = self.row_tag(&Row::Grant { user_id: u.id, collection_id: c.id })?;
        self.db().execute(
            "INSERT INTO grants (user_id, collection_id, mac) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id, collection_id) DO UPDATE SET mac = excluded.mac",
            &[&u.id, &c.id, &tag],
        )?;
        Ok(())
    }

    /// Withdraws a grant; whether there was one.
    pub fn ungrant(&self, user: &str, collection: &str) -> Result<bool> {
        let u = self.existing(user)?;
        let c = self.collection(collection)?;
        let n = self.db().execute("DELETE FROM grants WHERE user_id = ?1 AND collection_id = ?2", &[&u.id, &c.id])?;
        Ok(n > 0)
    }

    /// Issues an API key for a user: returns it (shown once); only a salted hash is stored.
    pub fn issue_key(&self, user: &str) -> Result<String> {
        let u = self.existing(user)?;
        let (prefix, secret, salt) = (random_hex(6)?, random_hex(24)?, random_hex(16)?);
        let (hash, created_at) = (key_hash(&salt, &secret), now());
        let tag = self.row_tag(&Row::Key {
            user_id: u.id,
            prefix: &prefix,
            salt: &salt,
            hash: &hash,
            created_at: &created_at,
            revoked_at: None,
        })?;
        self.db().execute(
            "INSERT INTO api_keys (user_id, prefix, salt, hash, created_at, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[&u.id, &prefix, &salt, &hash, &created_at, &tag],
        )?;
        Ok(format!("gbk_{prefix}_{secret}"))
    }

    /// Revokes a user's key by its prefix.
    pub fn revoke_key(&self, user: &str, prefix: &str) -> Result<()> {
        let u = self.existing(user)?;
        let row: Option<(i64, String, String, String)> = self.db().row(
            "SELECT id, salt, hash, created_at FROM api_keys WHERE user_id = ?1 AND prefix = ?2 AND revoked_at IS NULL",
            &[&u.id, &prefix],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let (id, salt, hash, created_at) = row.ok_or_else(|| not_found("API key of this user", prefix))?;
        let revoked_at = now();
        let tag = self.row_tag(&Row::Key {
            user_id: u.id,
            prefix,
            salt: &salt,
            hash: &hash,
            created_at: &created_at,
            revoked_at: Some(&revoked_at),
        })?;
        self.db().execute("UPDATE api_keys SET revoked_at = ?1, mac = ?2 WHERE id = ?3", &[&revoked_at, &tag, &id])?;
        Ok(())
    }

    /// Stores a user's password hash (PHC string, hashed by the caller) and ends their
    /// sessions; returns how many ended.
    pub fn set_password_hash(&self, name: &str, hash: &str) -> Result<u64> {
        self.existing(name)?;
        self.db().execute("UPDATE users SET password_hash = ?1 WHERE name = ?2", &[&hash, &name])?;
        self.recode_user(name)?;
        self.end_sessions_of(name)
    }

    /// Opens a session for a user until `expires_at` (RFC 3339); returns the session token
    /// and its CSRF token. Only the token's hash is stored.
    pub fn create_session(&self, name: &str, expires_at: &str) -> Result<(String, String)> {
        let u = self.existing(name)?;
        let (token, csrf) = (random_hex(32)?, random_hex(32)?);
        let hash = token_hash(&token);
        let tag = self.row_tag(&Row::Session { token_hash: &hash, user_id: u.id, csrf: &csrf, expires_at })?;
        self.db().execute(
            "INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at, mac) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[&hash, &u.id, &csrf, &now(), &expires_at, &tag],
        )?;
        Ok((token, csrf))
    }

    /// Ends a session of `user` (and drops every expired one); whether it was theirs.
    pub fn end_session(&self, user: &str, token: &str, now: &str) -> Result<bool> {
        let u = self.existing(user)?;
        let n = self
            .db()
            .execute("DELETE FROM sessions WHERE token_hash = ?1 AND user_id = ?2", &[&token_hash(token), &u.id])?;
        self.db().execute("DELETE FROM sessions WHERE expires_at <= ?1", &[&now])?;
        Ok(n > 0)
    }

    /// Ends every session of a user; returns how many.
    pub fn end_sessions_of(&self, user: &str) -> Result<u64> {
        self.db().execute("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?1)", &[&user])
    }
}
