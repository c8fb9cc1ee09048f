//! The audit chain in the catalog: entries appended within the transaction of their change
//! (see [`crate::Tx`]) or alone for what changes nothing (a record viewed, a failed login),
//! authenticated with a key derived from the data key, and read back for verification.

use gabarit_governance::audit::{self, Entry};

use crate::sql::Row;
use crate::{Catalog, Error, Result, now};

fn entry_row(r: &Row<'_>) -> Result<Entry> {
    let detail: String = r.get(4)?;
    Ok(Entry {
        seq: r.get::<i64>(0)? as u64,
        at: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
        prev_hash: r.get(5)?,
        hash: r.get(6)?,
    })
}

const ENTRY_COLUMNS: &str = "seq, at, actor, action, detail, prev_hash, hash";

impl Catalog {
    /// The chain's last entry.
    fn last_audit_entry(&self) -> Result<Option<Entry>> {
        self.db().row(&format!("SELECT {ENTRY_COLUMNS} FROM audit ORDER BY seq DESC LIMIT 1"), &[], entry_row)
    }

    /// Appends the next entry of the chain; the caller holds the write lock (an open
    /// transaction).
    pub(crate) fn append_audit(&self, actor: &str, action: &str, detail: serde_json::Value) -> Result<Entry> {
        let key = self.audit_key.as_ref().ok_or(Error::Locked { path: self.path.clone(), what: "the audit log" })?;
        let last = self.last_audit_entry()?;
        let entry = audit::next_entry(key, last.as_ref(), &now(), actor, action, detail);
        self.db().execute(
            "INSERT INTO audit (seq, at, actor, action, detail, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &[
                &(entry.seq as i64),
                &entry.at,
                &entry.actor,
                &entry.action,
                &entry.detail.to_string(),
                &entry.prev_hash,
                &entry.hash,
            ],
        )?;
        Ok(entry)
    }

    /// Appends an entry that goes with no change of records (a record viewed, an export, a
    /// failed login): alone, atomically with respect to other writers.
    pub fn audit(&mut self, actor: &str, action: &str, detail: serde_json::Value) -> Result<Entry> {
        Ok(self.audited(actor, action, |_| Ok(((), detail)))?.1)
    }

    /// Audit entries in stored order, optionally within `[from, to]` (RFC 3339
    /// prefixes compared as text).
    pub fn audit_entries(&self, from: Option<&str>, to: Option<&str>) -> Result<Vec<Entry>> {
        // Stored order is `seq`'s: it is the chain's position, and the primary key.
        let all = self.db().rows(&format!("SELECT {ENTRY_COLUMNS} FROM audit ORDER BY seq"), &[], entry_row)?;
        Ok(all
            .into_iter()
            .filter(|e| {
                from.is_none_or(|f| e.at.as_str() >= f) && to.is_none_or(|t| e.at.as_str() <= t || e.at.starts_with(t))
            })
            .collect())
    }

    /// The actions the log holds, by name.
    pub fn audit_actions(&self) -> Result<Vec<String>> {
        self.db().rows("SELECT DISTINCT action FROM audit ORDER BY action", &[], |r| r.get(0))
    }

    /// Verifies the whole chain with the key; the first broken entry, if any, and the number
    /// of entries. With a checkpoint, also that the chain still holds what it saw.
    pub fn verify_audit(&self, checkpoint: Option<&audit::Checkpoint>) -> Result<(usize, Option<audit::Break>)> {
        let key =
            self.audit_key.as_ref().ok_or(Error::Locked { path: self.path.clone(), what: "audit verification" })?;
        let entries = self.audit_entries(None, None)?;
        let broken = match checkpoint {
            Some(cp) => audit::verify_since(&entries, key, cp),
            None => audit::verify(&entries, key),
        };
        Ok((entries.len(), broken))
    }

    /// A checkpoint of the chain as it is now (its length and head), signed with the key.
    pub fn audit_checkpoint(&self) -> Result<audit::Checkpoint> {
        let key = self.audit_key.as_ref().ok_or(Error::Locked { path: self.path.clone(), what: "a checkpoint" })?;
        let entries = self.audit_entries(None, None)?;
        Ok(audit::Checkpoint::new(key, &entries, &now()))
    }

    /// For a chain begun before entries were keyed: appends the marker that vouches for its
    /// plain entries (in the transaction of the upgrade to schema 8). Returns whether it did.
    pub(crate) fn vouch_for_plain_entries(&self) -> Result<bool> {
        let Some(last) = self.last_audit_entry()?.filter(audit::is_legacy) else { return Ok(false) };
        self.append_audit("gabarit", audit::KEYED_MARKER, audit::keyed_marker_detail(last.seq, &last.hash))?;
        Ok(true)
    }
}
