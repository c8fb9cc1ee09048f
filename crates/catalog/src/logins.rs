//! Login attempts, counted in the store so that every server process on it counts the same
//! ones: each attempt is recorded before its password is checked, and refused once a limit
//! over the window is reached (per name and address, per address, in all).

use crate::{Catalog, Result};

/// The limits of [`Catalog::admit_login`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginCounts {
    /// Attempts per user name from one address.
    pub per_name_and_address: u64,
    /// Attempts per address, whatever the names.
    pub per_address: u64,
    /// Attempts in all.
    pub global: u64,
    /// The window, milliseconds.
    pub window_ms: i64,
}

impl Catalog {
    /// Records an attempt to log in as `name` from `address` at `now_ms` (Unix milliseconds),
    /// unless `limits` are reached over the window before it: `Ok(attempt)`, or `Err(ms)` to
    /// wait. Attempts older than the window are dropped. One writer at a time, so concurrent
    /// attempts are all counted.
    pub fn admit_login(
        &self,
        name: &str,
        address: &str,
        now_ms: i64,
        limits: &LoginCounts,
    ) -> Result<std::result::Result<u64, i64>> {
        let db = self.db();
        db.begin_write()?;
        let outcome = (|| -> Result<std::result::Result<u64, i64>> {
            let since = now_ms.saturating_sub(limits.window_ms);
            db.execute("DELETE FROM login_attempts WHERE at_ms <= ?1", &[&since])?;
            let counted: [(&str, &[&dyn crate::sql::Param], u64); 3] = [
                ("WHERE name = ?1 AND address = ?2", &[&name, &address], limits.per_name_and_address),
                ("WHERE address = ?1", &[&address], limits.per_address),
                ("", &[], limits.global),
            ];
            for (filter, params, limit) in counted {
                let (n, oldest): (u64, Option<i64>) = db
                    .row(&format!("SELECT COUNT(*), MIN(at_ms) FROM login_attempts {filter}"), params, |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .unwrap_or((0, None));
                if n >= limit {
                    let wait = oldest.map_or(1000, |t| t.saturating_add(limits.window_ms).saturating_sub(now_ms));
                    return Ok(Err(wait.max(1000)));
                }
            }
            let id = db.row(
                "INSERT INTO login_attempts (name, address, at_ms) VALUES (?1, ?2, ?3) RETURNING id",
                &[&name, &address, &now_ms],
                |r| r.get::<u64>(0),
            )?;
            Ok(Ok(id.unwrap_or_default()))
        })();
        match outcome {
            Ok(v) => {
                db.commit()?;
                Ok(v)
            }
            Err(e) => {
                let _ = db.rollback();
                Err(e)
            }
        }
    }

    /// A successful login: its attempt, and the earlier ones of that name from that address,
    /// are forgotten.
    pub fn login_succeeded(&self, attempt: u64, name: &str, address: &str) -> Result<()> {
        self.db().execute(
            "DELETE FROM login_attempts WHERE id = ?1 OR (name = ?2 AND address = ?3)",
            &[&attempt, &name, &address],
        )?;
        Ok(())
    }
}
