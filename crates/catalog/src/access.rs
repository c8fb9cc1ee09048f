//! Governance records: collections' legal fields, users, API keys, grants, the audit chain,
//! searches with their candidates, and reviews.

use gabarit_governance::audit::{self, Entry};
use gabarit_governance::{GovernanceDraft, Principal, Role};
use rand::TryRng;
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Catalog, Error, Result, now};

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Collections granted for search.
    pub collections: Vec<String>,
    /// Created at.
    pub created_at: String,
}

/// A candidate with its reviews.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateRecord {
    /// Candidate id.
    pub id: u64,
    /// Search it came from.
    pub search_id: u64,
    /// Case reference of that search.
    pub case_ref: String,
    /// Face id.
    pub face_id: u64,
    /// Score.
    pub score: f32,
    /// Reviewers who confirmed.
    pub confirmed_by: Vec<String>,
    /// Reviewers who rejected.
    pub rejected_by: Vec<String>,
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

impl Catalog {
    /// The governance fields of a collection (possibly incomplete).
    pub fn governance(&self, collection: &str) -> Result<GovernanceDraft> {
        let text: String = self
            .conn
            .query_row("SELECT governance FROM collections WHERE name = ?1", [collection], |r| r.get(0))
            .optional()
            .map_err(self.err())?
            .ok_or_else(|| Error::NotFound { kind: "collection", name: collection.into() })?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("collection {collection}: stored governance: {e}")))
    }

    /// Replaces the governance fields of a collection.
    pub fn set_governance(&self, collection: &str, g: &GovernanceDraft) -> Result<()> {
        let text = serde_json::to_string(g).map_err(|e| Error::Invalid(e.to_string()))?;
        let n = self
            .conn
            .execute("UPDATE collections SET governance = ?1 WHERE name = ?2", params![text, collection])
            .map_err(self.err())?;
        if n == 0 {
            return Err(Error::NotFound { kind: "collection", name: collection.into() });
        }
        Ok(())
    }

    /// Number of users.
    pub fn user_count(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT COUNT(*) FROM users", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(self.err())
    }

    /// Creates a user.
    pub fn create_user(&self, name: &str, roles: &[Role]) -> Result<UserRecord> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 || !name.chars().all(|c| c.is_alphanumeric() || "._-@".contains(c)) {
            return Err(Error::Invalid(format!("invalid user name {name:?}: letters, digits and . _ - @")));
        }
        if roles.is_empty() {
            return Err(Error::Invalid("a user needs at least one role".into()));
        }
        if self.user(name)?.is_some() {
            return Err(Error::AlreadyExists { kind: "user", name: name.into() });
        }
        let roles_json = serde_json::to_string(roles).map_err(|e| Error::Invalid(e.to_string()))?;
        self.conn
            .execute(
                "INSERT INTO users (name, roles, created_at) VALUES (?1, ?2, ?3)",
                params![name, roles_json, now()],
            )
            .map_err(self.err())?;
        self.user(name)?.ok_or_else(|| Error::NotFound { kind: "user", name: name.into() })
    }

    /// Replaces a user's roles.
    pub fn set_roles(&self, name: &str, roles: &[Role]) -> Result<()> {
        let roles_json = serde_json::to_string(roles).map_err(|e| Error::Invalid(e.to_string()))?;
        let n = self
            .conn
            .execute("UPDATE users SET roles = ?1 WHERE name = ?2", params![roles_json, name])
            .map_err(self.err())?;
        if n == 0 {
            return Err(Error::NotFound { kind: "user", name: name.into() });
        }
        Ok(())
    }

    /// The user called `name`.
    pub fn user(&self, name: &str) -> Result<Option<UserRecord>> {
        let row: Option<(u32, String, String, String)> = self
            .conn
            .query_row("SELECT id, name, roles, created_at FROM users WHERE name = ?1 AND disabled = 0", [name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()
            .map_err(self.err())?;
        let Some((id, name, roles, created_at)) = row else { return Ok(None) };
        let roles: Vec<Role> = serde_json::from_str(&roles).map_err(|e| Error::Invalid(e.to_string()))?;
        let mut stmt = self
            .conn
            .prepare("SELECT c.name FROM grants g JOIN collections c ON g.collection_id = c.id WHERE g.user_id = ?1 ORDER BY c.name")
            .map_err(self.err())?;
        let collections = stmt
            .query_map([id], |r| r.get(0))
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(self.err())?;
        Ok(Some(UserRecord { id, name, roles, collections, created_at }))
    }

    /// Every user.
    pub fn users(&self) -> Result<Vec<UserRecord>> {
        let mut stmt =
            self.conn.prepare("SELECT name FROM users WHERE disabled = 0 ORDER BY name").map_err(self.err())?;
        let names = stmt
            .query_map([], |r| r.get(0))
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(self.err())?;
        names.iter().filter_map(|n| self.user(n).transpose()).collect()
    }

    /// The policy's view of a user.
    pub fn principal(&self, name: &str) -> Result<Principal> {
        let u = self.user(name)?.ok_or_else(|| Error::NotFound { kind: "user", name: name.into() })?;
        let mut ids = Vec::new();
        for c in &u.collections {
            ids.push(self.collection(c)?.id);
        }
        Ok(Principal { name: u.name, roles: u.roles, collections: ids })
    }

    /// Grants a user search access to a collection.
    pub fn grant(&self, user: &str, collection: &str) -> Result<()> {
        let u = self.user(user)?.ok_or_else(|| Error::NotFound { kind: "user", name: user.into() })?;
        let c = self.collection(collection)?;
        self.conn
            .execute("INSERT OR IGNORE INTO grants (user_id, collection_id) VALUES (?1, ?2)", params![u.id, c.id])
            .map_err(self.err())?;
        Ok(())
    }

    /// Issues an API key for a user: returns it (shown once); only a salted hash is stored.
    pub fn issue_key(&self, user: &str) -> Result<String> {
        let u = self.user(user)?.ok_or_else(|| Error::NotFound { kind: "user", name: user.into() })?;
        let (prefix, secret, salt) = (random_hex(6)?, random_hex(24)?, random_hex(16)?);
        self.conn
            .execute(
                "INSERT INTO api_keys (user_id, prefix, salt, hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![u.id, prefix, salt, key_hash(&salt, &secret), now()],
            )
            .map_err(self.err())?;
        Ok(format!("gbk_{prefix}_{secret}"))
    }

    /// The user an API key belongs to, if it is valid and not revoked.
    pub fn user_for_key(&self, key: &str) -> Result<Option<String>> {
        let mut parts = key.trim().splitn(3, '_');
        let (Some("gbk"), Some(prefix), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
            return Ok(None);
        };
        let row: Option<(String, String, String)> = self
            .conn
            .query_row(
                "SELECT k.salt, k.hash, u.name FROM api_keys k JOIN users u ON k.user_id = u.id
                 WHERE k.prefix = ?1 AND k.revoked_at IS NULL AND u.disabled = 0",
                [prefix],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(self.err())?;
        Ok(row.and_then(|(salt, hash, name)| same(key_hash(&salt, secret).as_bytes(), hash.as_bytes()).then_some(name)))
    }

    /// Stores a user's password hash (PHC string, hashed by the caller).
    pub fn set_password_hash(&self, name: &str, hash: &str) -> Result<()> {
        let n = self
            .conn
            .execute("UPDATE users SET password_hash = ?1 WHERE name = ?2 AND disabled = 0", params![hash, name])
            .map_err(self.err())?;
        if n == 0 {
            return Err(Error::NotFound { kind: "user", name: name.into() });
        }
        Ok(())
    }

    /// A user's password hash, if they have a password.
    pub fn password_hash(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT password_hash FROM users WHERE name = ?1 AND disabled = 0", [name], |r| {
                r.get::<_, Option<String>>(0)
            })
            .optional()
            .map_err(self.err())?
            .flatten())
    }

    /// Opens a session for a user until `expires_at` (RFC 3339); returns the session token
    /// and its CSRF token. Only the token's hash is stored.
    pub fn create_session(&self, name: &str, expires_at: &str) -> Result<(String, String)> {
        let u = self.user(name)?.ok_or_else(|| Error::NotFound { kind: "user", name: name.into() })?;
        let (token, csrf) = (random_hex(32)?, random_hex(32)?);
        self.conn
            .execute(
                "INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hex::encode(Sha256::digest(token.as_bytes())), u.id, csrf, now(), expires_at],
            )
            .map_err(self.err())?;
        Ok((token, csrf))
    }

    /// The user and CSRF token of a session that has not expired at `now` (RFC 3339).
    pub fn session(&self, token: &str, now: &str) -> Result<Option<(String, String)>> {
        self.conn
            .query_row(
                "SELECT u.name, s.csrf FROM sessions s JOIN users u ON s.user_id = u.id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND u.disabled = 0",
                params![hex::encode(Sha256::digest(token.as_bytes())), now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())
    }

    /// Ends a session (and drops every expired one).
    pub fn end_session(&self, token: &str, now: &str) -> Result<()> {
        self.conn
            .execute(
                "DELETE FROM sessions WHERE token_hash = ?1 OR expires_at <= ?2",
                params![hex::encode(Sha256::digest(token.as_bytes())), now],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Appends an entry to the audit chain (atomically with respect to other writers).
    pub fn audit(&mut self, actor: &str, action: &str, detail: serde_json::Value) -> Result<Entry> {
        let path = self.path.clone();
        let err = |source| Error::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        let entry = append_audit(&tx, actor, action, detail).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(entry)
    }

    /// Audit entries in stored order (by rowid), optionally within `[from, to]` (RFC 3339
    /// prefixes compared as text).
    pub fn audit_entries(&self, from: Option<&str>, to: Option<&str>) -> Result<Vec<Entry>> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, at, actor, action, detail, prev_hash, hash FROM audit ORDER BY rowid")
            .map_err(self.err())?;
        let rows = stmt.query_map([], entry_row).map_err(self.err())?;
        let all = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())?;
        Ok(all
            .into_iter()
            .filter(|e| {
                from.is_none_or(|f| e.at.as_str() >= f) && to.is_none_or(|t| e.at.as_str() <= t || e.at.starts_with(t))
            })
            .collect())
    }

    /// Records a search and its candidates, and appends its audit entry (`action`, with the
    /// detail `audit` makes from the search id and candidate ids) in the same transaction: a
    /// search is never recorded unaudited. Returns the search id and candidate ids.
    #[allow(clippy::too_many_arguments)]
    pub fn record_search(
        &mut self,
        actor: &str,
        case_ref: &str,
        purpose: &str,
        query_sha256: &str,
        collections: &[String],
        gallery_size: u64,
        started_at: &str,
        candidates: &[(u64, usize, usize, f32)],
        action: &str,
        audit: impl FnOnce(u64, &[u64]) -> serde_json::Value,
    ) -> Result<(u64, Vec<u64>)> {
        let path = self.path.clone();
        let err = |source| Error::Sqlite { path: path.clone(), source };
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(err)?;
        tx.execute(
            "INSERT INTO searches (actor, case_ref, purpose, query_sha256, collections, gallery_size, started_at, finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                actor,
                case_ref,
                purpose,
                query_sha256,
                serde_json::to_string(collections).unwrap_or_default(),
                gallery_size as i64,
                started_at,
                now()
            ],
        )
        .map_err(err)?;
        let search_id = tx.last_insert_rowid() as u64;
        let mut ids = Vec::new();
        for (face_id, query_face, rank, score) in candidates {
            tx.execute(
                "INSERT INTO candidates (search_id, face_id, query_face, rank, score) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![search_id as i64, *face_id as i64, *query_face as i64, *rank as i64, score],
            )
            .map_err(err)?;
            ids.push(tx.last_insert_rowid() as u64);
        }
        append_audit(&tx, actor, action, audit(search_id, &ids)).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok((search_id, ids))
    }

    /// Records a reviewer's decision on a candidate (a later decision by the same reviewer
    /// replaces theirs).
    pub fn review(&self, candidate: u64, reviewer: &str, confirm: bool) -> Result<CandidateRecord> {
        self.candidate(candidate)?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO reviews (candidate_id, reviewer, decision, at) VALUES (?1, ?2, ?3, ?4)",
                params![candidate as i64, reviewer, if confirm { "confirm" } else { "reject" }, now()],
            )
            .map_err(self.err())?;
        self.candidate(candidate)
    }

    /// Ids of the candidates still awaiting a decision (fewer than two confirmations, no
    /// rejection) whose face is still in the catalog, newest first, at most `limit`.
    pub fn candidates_awaiting_review(&self, limit: usize) -> Result<Vec<u64>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c.id FROM candidates c JOIN faces f ON f.id = c.face_id
                 WHERE NOT EXISTS (SELECT 1 FROM reviews r WHERE r.candidate_id = c.id AND r.decision = 'reject')
                   AND (SELECT COUNT(*) FROM reviews r WHERE r.candidate_id = c.id AND r.decision = 'confirm') < 2
                 ORDER BY c.id DESC LIMIT ?1",
            )
            .map_err(self.err())?;
        let ids = stmt.query_map([limit as i64], |r| r.get::<_, i64>(0).map(|id| id as u64)).map_err(self.err())?;
        ids.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())
    }

    /// The number of templates a search compared against.
    pub fn search_gallery_size(&self, search: u64) -> Result<u64> {
        self.conn
            .query_row("SELECT gallery_size FROM searches WHERE id = ?1", [search as i64], |r| r.get::<_, i64>(0))
            .optional()
            .map_err(self.err())?
            .map(|n| n as u64)
            .ok_or_else(|| Error::NotFound { kind: "search", name: search.to_string() })
    }

    /// A candidate with its reviews.
    pub fn candidate(&self, id: u64) -> Result<CandidateRecord> {
        let row: Option<(u64, String, u64, f32)> = self
            .conn
            .query_row(
                "SELECT c.search_id, s.case_ref, c.face_id, c.score FROM candidates c JOIN searches s ON c.search_id = s.id WHERE c.id = ?1",
                [id as i64],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get::<_, i64>(2)? as u64, r.get(3)?)),
            )
            .optional()
            .map_err(self.err())?;
        let (search_id, case_ref, face_id, score) =
            row.ok_or_else(|| Error::NotFound { kind: "candidate", name: id.to_string() })?;
        let mut stmt = self
            .conn
            .prepare("SELECT reviewer, decision FROM reviews WHERE candidate_id = ?1 ORDER BY at")
            .map_err(self.err())?;
        let reviews = stmt
            .query_map([id as i64], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        let pick = |d: &str| reviews.iter().filter(|(_, x)| x == d).map(|(u, _)| u.clone()).collect();
        Ok(CandidateRecord {
            id,
            search_id,
            case_ref,
            face_id,
            score,
            confirmed_by: pick("confirm"),
            rejected_by: pick("reject"),
        })
    }
}

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Entry> {
    let detail: String = r.get(4)?;
    Ok(Entry {
        seq: r.get::<_, i64>(0)? as u64,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
        prev_hash: r.get(5)?,
        hash: r.get(6)?,
    })
}

/// Appends the next entry of the audit chain within `tx` (which holds the write lock).
fn append_audit(
    tx: &rusqlite::Transaction<'_>,
    actor: &str,
    action: &str,
    detail: serde_json::Value,
) -> rusqlite::Result<Entry> {
    let last = tx
        .query_row(
            "SELECT seq, at, actor, action, detail, prev_hash, hash FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            entry_row,
        )
        .optional()?;
    let entry = audit::next_entry(last.as_ref(), &now(), actor, action, detail);
    tx.execute(
        "INSERT INTO audit (seq, at, actor, action, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            entry.seq as i64,
            entry.at,
            entry.actor,
            entry.action,
            entry.detail.to_string(),
            entry.prev_hash,
            entry.hash
        ],
    )?;
    Ok(entry)
}
