//! Query photos analysed and not yet searched: kept briefly, sealed with the data key, so that
//! a search may be run by another server process than the one that analysed the photo
//! (several `gabarit serve` on one database). Each belongs to the user who uploaded it.

use crate::{Catalog, Error, Result};

/// What a kept query is bound to: its id and its owner (a sealed query moved to another row
/// does not open).
fn query_aad(id: &str, owner: &str) -> Vec<u8> {
    format!("gabarit/analysed-query/v1\0{id}\0{owner}").into_bytes()
}

impl Catalog {
    /// Keeps the analysed query `id` of `owner` (`name`: the upload's name; `plain`: the
    /// analysis), sealed, until `expires_ms` (Unix milliseconds). Drops the expired queries
    /// and, past `max` kept, the oldest.
    pub fn keep_query(
        &self,
        (id, owner, name): (&str, &str, &str),
        plain: &[u8],
        now_ms: i64,
        expires_ms: i64,
        max: usize,
    ) -> Result<()> {
        let key = self.key.as_ref().ok_or(Error::Locked { path: self.path.clone(), what: "an analysed query" })?;
        let sealed = key.seal(plain, &query_aad(id, owner)).map_err(|e| Error::Crypto {
            path: self.path.clone(),
            what: "an analysed query".into(),
            reason: format!("cannot be encrypted ({e})"),
        })?;
        let name = gabarit_governance::limits::bounded("name", name, 500, false)?;
        self.db().execute("DELETE FROM analysed_queries WHERE expires_ms <= ?1", &[&now_ms])?;
        self.db().execute(
            "DELETE FROM analysed_queries WHERE id IN
                 (SELECT id FROM analysed_queries ORDER BY created_ms DESC, id LIMIT ?2 OFFSET ?1)",
            &[&max.saturating_sub(1), &i64::MAX],
        )?;
        self.db().execute(
            "INSERT INTO analysed_queries (id, owner, name, sealed, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[&id, &owner, &name, &sealed, &now_ms, &expires_ms],
        )?;
        Ok(())
    }

    /// The analysed query `id` if `owner` uploaded it and it has not expired at `now_ms`: its
    /// name and its analysis.
    pub fn kept_query(&self, id: &str, owner: &str, now_ms: i64) -> Result<Option<(String, Vec<u8>)>> {
        let key = self.key.as_ref().ok_or(Error::Locked { path: self.path.clone(), what: "an analysed query" })?;
        let row = self.db().row(
            "SELECT name, sealed FROM analysed_queries WHERE id = ?1 AND owner = ?2 AND expires_ms > ?3",
            &[&id, &owner, &now_ms],
            |r| Ok((r.get::<String>(0)?, r.get::<Vec<u8>>(1)?)),
        )?;
        let Some((name, sealed)) = row else { return Ok(None) };
        let plain = key.open(&sealed, &query_aad(id, owner)).map_err(|e| Error::Crypto {
            path: self.path.clone(),
            what: format!("analysed query {id}"),
            reason: format!("cannot be decrypted with this key ({e})"),
        })?;
        Ok(Some((name, plain)))
    }
}
