//! Authentication of the records that grant power: users (roles, password hash, disabled),
//! API keys, grants and sessions each carry a code (HMAC-SHA256 under a key derived from the
//! data key) over their content. A row written or edited by hand in the database file, by
//! someone without the key-encryption key, does not authenticate and is refused where it is
//! read (`Error::Tampered`).
//!
//! What it does not catch: a row put back exactly as it was at an earlier moment (a key row
//! deleted at revocation, restored from an old copy of the file). The audit chain records
//! every revocation; its checkpoints say whether the chain itself was rolled back.

use rusqlite::params;

use crate::{Catalog, Error, Result};

/// The record kinds, each with its own domain in the code.
pub(crate) enum Row<'a> {
    User {
        id: u32,
        name: &'a str,
        roles: &'a str,
        disabled: bool,
        password_hash: Option<&'a str>,
    },
    Key {
        user_id: u32,
        prefix: &'a str,
        salt: &'a str,
        hash: &'a str,
        created_at: &'a str,
        revoked_at: Option<&'a str>,
    },
    Grant {
        user_id: u32,
        collection_id: u32,
    },
    Session {
        token_hash: &'a str,
        user_id: u32,
        csrf: &'a str,
        expires_at: &'a str,
    },
}

impl Row<'_> {
    fn parts(&self) -> Vec<Vec<u8>> {
        let s = |v: &str| v.as_bytes().to_vec();
        let opt = |v: Option<&str>| v.map_or_else(|| vec![0xff], |v| v.as_bytes().to_vec());
        match self {
            Row::User { id, name, roles, disabled, password_hash } => vec![
                s("user"),
                id.to_le_bytes().to_vec(),
                s(name),
                s(roles),
                vec![u8::from(*disabled)],
                opt(*password_hash),
            ],
            Row::Key { user_id, prefix, salt, hash, created_at, revoked_at } => vec![
                s("api_key"),
                user_id.to_le_bytes().to_vec(),
                s(prefix),
                s(salt),
                s(hash),
                s(created_at),
                opt(*revoked_at),
            ],
            Row::Grant { user_id, collection_id } => {
                vec![s("grant"), user_id.to_le_bytes().to_vec(), collection_id.to_le_bytes().to_vec()]
            }
            Row::Session { token_hash, user_id, csrf, expires_at } => {
                vec![s("session"), s(token_hash), user_id.to_le_bytes().to_vec(), s(csrf), s(expires_at)]
            }
        }
    }
}

impl Catalog {
    /// The code of a row.
    pub(crate) fn row_tag(&self, row: &Row<'_>) -> Result<String> {
        let key = self.rows.as_ref().ok_or(Error::Locked { path: self.path.clone(), what: "account records" })?;
        let parts = row.parts();
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        Ok(key.tag(&refs))
    }

    /// Checks a row's stored code; `what` names it in the error.
    pub(crate) fn check_row(&self, row: &Row<'_>, tag: Option<&str>, what: impl FnOnce() -> String) -> Result<()> {
        let key = self.rows.as_ref().ok_or(Error::Locked { path: self.path.clone(), what: "account records" })?;
        let parts = row.parts();
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        if tag.is_some_and(|t| key.check(&refs, t)) {
            Ok(())
        } else {
            Err(Error::Tampered { path: self.path.clone(), what: what() })
        }
    }

    /// Codes the rows written before rows had codes (the upgrade to catalog schema 8, in its
    /// transaction); every later row gets its code when written. Returns how many were coded.
    pub(crate) fn code_rows(&self) -> Result<u64> {
        let tx = self;
        {
            let mut n = 0u64;
            let users: Vec<(u32, String, String, bool, Option<String>)> = tx
                .rows_of("SELECT id, name, roles, disabled, password_hash FROM users WHERE mac IS NULL", |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?;
            for (id, name, roles, disabled, password_hash) in users {
                let tag = tx.row_tag(&Row::User {
                    id,
                    name: &name,
                    roles: &roles,
                    disabled,
                    password_hash: password_hash.as_deref(),
                })?;
                n +=
                    tx.lite()?.execute("UPDATE users SET mac = ?1 WHERE id = ?2", params![tag, id]).map_err(tx.err())?
                        as u64;
            }
            type KeyRow = (i64, u32, String, String, String, String, Option<String>);
            let keys: Vec<KeyRow> = tx.rows_of(
                "SELECT id, user_id, prefix, salt, hash, created_at, revoked_at FROM api_keys WHERE mac IS NULL",
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            )?;
            for (id, user_id, prefix, salt, hash, created_at, revoked_at) in keys {
                let tag = tx.row_tag(&Row::Key {
                    user_id,
                    prefix: &prefix,
                    salt: &salt,
                    hash: &hash,
                    created_at: &created_at,
                    revoked_at: revoked_at.as_deref(),
                })?;
                n += tx
                    .lite()?
                    .execute("UPDATE api_keys SET mac = ?1 WHERE id = ?2", params![tag, id])
                    .map_err(tx.err())? as u64;
            }
            let grants: Vec<(u32, u32)> = tx
                .rows_of("SELECT user_id, collection_id FROM grants WHERE mac IS NULL", |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            for (user_id, collection_id) in grants {
                let tag = tx.row_tag(&Row::Grant { user_id, collection_id })?;
                n += tx
                    .lite()?
                    .execute(
                        "UPDATE grants SET mac = ?1 WHERE user_id = ?2 AND collection_id = ?3",
                        params![tag, user_id, collection_id],
                    )
                    .map_err(tx.err())? as u64;
            }
            // Sessions of the older schema are simply ended: their users log in again.
            tx.lite()?.execute("DELETE FROM sessions WHERE mac IS NULL", []).map_err(tx.err())?;
            Ok(n)
        }
    }

    /// Every row of a query without parameters.
    pub(crate) fn rows_of<T>(
        &self,
        sql: &str,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.lite()?.prepare(sql).map_err(self.err())?;
        let rows = stmt.query_map([], row).map_err(self.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())
    }
}
