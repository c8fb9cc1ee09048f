//! Changes and their audit entry in one transaction.
//!
//! Every method that changes the catalog's records (collections, images and faces, accounts,
//! grants, keys, sessions, searches, reviews, rights requests) is a method of [`Tx`], and the
//! only way to get a `Tx` is [`Catalog::audited`], which appends the change's audit entry in
//! the same transaction: a change is never stored without its entry, nor an entry
//! without its change. Reads stay on [`Catalog`] (a `Tx` derefs to it). Job bookkeeping
//! (queue states, progress) is not a change of records and stays on the catalog.

use std::ops::Deref;

use gabarit_governance::audit::Entry;

use crate::{Catalog, Error, Result};

/// A catalog within a writing transaction (see [`Catalog::audited`]).
pub struct Tx<'a> {
    cat: &'a Catalog,
}

impl Deref for Tx<'_> {
    type Target = Catalog;
    fn deref(&self) -> &Catalog {
        self.cat
    }
}

/// Rolls back an open transaction unless it was committed (errors and panics alike).
struct Rollback<'a>(&'a Catalog, bool);

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        if !self.1 {
            let _ = self.0.db().rollback();
        }
    }
}

impl Catalog {
    /// Runs `change` in a writing transaction and appends its audit entry (`actor`, `action`,
    /// and the detail `change` returns beside its result) in the same transaction: both are
    /// stored, or neither. Returns the result and the entry.
    pub fn audited<T>(
        &mut self,
        actor: &str,
        action: &str,
        change: impl FnOnce(&Tx<'_>) -> Result<(T, serde_json::Value)>,
    ) -> Result<(T, Entry)> {
        if self.audit_key.is_none() {
            return Err(Error::Locked { path: self.path.clone(), what: "a change (its audit entry)" });
        }
        let cat: &Catalog = self;
        cat.db().begin_write()?;
        let mut guard = Rollback(cat, false);
        let (value, detail) = change(&Tx { cat })?;
        let entry = cat.append_audit(actor, action, detail)?;
        cat.db().commit()?;
        guard.1 = true;
        Ok((value, entry))
    }
}
