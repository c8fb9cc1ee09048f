//! One SQL for both stores: how the catalog's queries run on SQLite and on PostgreSQL
//! (issue 17) without being written twice.
//!
//! A subject's module writes its statements once, with SQLite's numbered placeholders (`?1`,
//! `?2`…), and runs them through a [`Db`]: on SQLite as they are; on PostgreSQL with the
//! placeholders rewritten to `$1`, `$2`… (outside quoted text). Parameters are [`Param`]s
//! (what both drivers can bind) and columns are read as [`Column`]s (what both can decode),
//! from a [`Row`] of either. The rule that keeps one statement valid on both: the PostgreSQL
//! schema gives every column the type its Rust value binds to — `bigint` for integers
//! (including flags, stored 0/1 as in SQLite), `double precision` for reals, `text`, `bytea` —
//! and statements cast aggregates whose type differs (`sum(…)::bigint`), use
//! `ON CONFLICT … DO NOTHING` rather than `INSERT OR IGNORE`, and `RETURNING` rather than
//! `last_insert_rowid()`.
//!
//! Modules move onto it one at a time (the audit chain first); the rest still call rusqlite
//! directly until they do.

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::Path;

use crate::{Error, Result};

/// A value both drivers can bind.
pub(crate) trait Param {
    fn lite(&self) -> &dyn rusqlite::ToSql;
    fn pg(&self) -> &(dyn postgres::types::ToSql + Sync);
}

impl<T: rusqlite::ToSql + postgres::types::ToSql + Sync> Param for T {
    fn lite(&self) -> &dyn rusqlite::ToSql {
        self
    }
    fn pg(&self) -> &(dyn postgres::types::ToSql + Sync) {
        self
    }
}

/// A column type both drivers can decode.
pub(crate) trait Column: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a> {}

impl<T: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a>> Column for T {}

/// A connection of either store, borrowed from the catalog.
#[derive(Clone, Copy)]
pub(crate) enum Db<'c> {
    /// SQLite, and the database file (for errors).
    Lite(&'c rusqlite::Connection, &'c Path),
    /// PostgreSQL, and the name errors give it (never the URL: it may hold a password).
    #[cfg_attr(not(test), allow(dead_code))]
    Pg(&'c RefCell<postgres::Client>, &'c str),
}

/// One row of a result, from either store.
pub(crate) enum Row<'r> {
    Lite(&'r rusqlite::Row<'r>, &'r Path),
    Pg(&'r postgres::Row, &'r str),
}

impl Row<'_> {
    /// Column `index`, decoded as `T` (a type mismatch or a NULL read as a non-`Option` is an
    /// error naming the store).
    pub(crate) fn get<T: Column>(&self, index: usize) -> Result<T> {
        match self {
            Row::Lite(row, path) => row.get(index).map_err(|source| lite_error(path, source)),
            Row::Pg(row, name) => row.try_get(index).map_err(|source| pg_error(name, source)),
        }
    }
}

fn lite_error(path: &Path, source: rusqlite::Error) -> Error {
    Error::Sqlite { path: path.to_path_buf(), source }
}

fn pg_error(name: &str, source: postgres::Error) -> Error {
    Error::Postgres { name: name.to_owned(), source }
}

/// `sql` with `?N` placeholders as PostgreSQL's `$N`; text between single quotes, and a `?`
/// not followed by a digit, are left alone.
pub(crate) fn pg_placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

impl Db<'_> {
    /// Runs a statement; the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<u64> {
        match *self {
            Db::Lite(conn, path) => {
                let mut stmt = conn.prepare_cached(sql).map_err(|e| lite_error(path, e))?;
                let lite: Vec<&dyn rusqlite::ToSql> = params.iter().map(|p| p.lite()).collect();
                stmt.execute(lite.as_slice()).map(|n| n as u64).map_err(|e| lite_error(path, e))
            }
            Db::Pg(client, name) => {
                let pg: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|p| p.pg()).collect();
                client.borrow_mut().execute(pg_placeholders(sql).as_ref(), &pg).map_err(|e| pg_error(name, e))
            }
        }
    }

    /// Every row of a query, each read by `read`.
    pub(crate) fn rows<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut read: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Vec<T>> {
        match *self {
            Db::Lite(conn, path) => {
                let mut stmt = conn.prepare_cached(sql).map_err(|e| lite_error(path, e))?;
                let lite: Vec<&dyn rusqlite::ToSql> = params.iter().map(|p| p.lite()).collect();
                let mut rows = stmt.query(lite.as_slice()).map_err(|e| lite_error(path, e))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().map_err(|e| lite_error(path, e))? {
                    out.push(read(&Row::Lite(row, path))?);
                }
                Ok(out)
            }
            Db::Pg(client, name) => {
                let pg: Vec<&(dyn postgres::types::ToSql + Sync)> = params.iter().map(|p| p.pg()).collect();
                let rows =
                    client.borrow_mut().query(pg_placeholders(sql).as_ref(), &pg).map_err(|e| pg_error(name, e))?;
                rows.iter().map(|row| read(&Row::Pg(row, name))).collect()
            }
        }
    }

    /// The first row of a query, if any, read by `read`.
    pub(crate) fn row<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        read: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        Ok(self.rows(sql, params, read)?.into_iter().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(pg_placeholders("SELECT 1"), "SELECT 1");
        assert_eq!(
            pg_placeholders("UPDATE t SET a = ?2 WHERE b = ?1 AND c = '?3' AND d = ?10"),
            "UPDATE t SET a = $2 WHERE b = $1 AND c = '?3' AND d = $10"
        );
        assert_eq!(pg_placeholders("SELECT '?' || ?1, 'it''s ?2', ?3"), "SELECT '?' || $1, 'it''s ?2', $3");
    }

    /// The same statements, the same values, on both stores.
    fn exercise(db: Db<'_>) {
        // SQLite takes PostgreSQL's type names (by affinity: bigint integer, double precision
        // real, bytea kept as given).
        db.execute("CREATE TABLE t (id bigint PRIMARY KEY, name text NOT NULL, note text, x double precision NOT NULL, b bytea)", &[])
            .unwrap();
        type Stored<'a> = (i64, &'a str, Option<&'a str>, f64, Option<Vec<u8>>);
        let rows: [Stored<'_>; 3] = [
            (1, "un", None, 0.5, Some(vec![0, 255, 7])),
            (2, "deux", Some("n"), -1.25, None),
            (3, "l'é?1", None, 3.0, Some(vec![])),
        ];
        for (id, name, note, x, b) in &rows {
            let n = db
                .execute(
                    "INSERT INTO t (id, name, note, x, b) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING",
                    &[id, name, note, x, b],
                )
                .unwrap();
            assert_eq!(n, 1);
        }
        assert_eq!(
            db.execute("INSERT INTO t (id, name, x) VALUES (?1, 'again', 0) ON CONFLICT (id) DO NOTHING", &[&1i64])
                .unwrap(),
            0
        );
        let read = db
            .rows("SELECT id, name, note, x, b FROM t WHERE id >= ?1 ORDER BY id", &[&1i64], |r| {
                Ok((
                    r.get::<i64>(0)?,
                    r.get::<String>(1)?,
                    r.get::<Option<String>>(2)?,
                    r.get::<f64>(3)?,
                    r.get::<Option<Vec<u8>>>(4)?,
                ))
            })
            .unwrap();
        assert_eq!(read.len(), 3);
        for ((id, name, note, x, b), want) in read.iter().zip(&rows) {
            assert_eq!((*id, name.as_str(), note.as_deref(), *x, b), (want.0, want.1, want.2, want.3, &want.4));
        }
        let total = db
            .row("SELECT count(*), CAST(sum(id) AS bigint) FROM t WHERE name <> ?1", &[&"deux"], |r| {
                Ok((r.get::<i64>(0)?, r.get::<i64>(1)?))
            })
            .unwrap();
        assert_eq!(total, Some((2, 4)));
        assert_eq!(db.row("SELECT id FROM t WHERE id = ?1", &[&9i64], |r| r.get::<i64>(0)).unwrap(), None);
        let returned = db.rows("DELETE FROM t WHERE id = ?1 RETURNING name", &[&2i64], |r| r.get::<String>(0)).unwrap();
        assert_eq!(returned, ["deux"]);
        // A NULL read as a non-Option, and a text read as an integer, are errors, not defaults.
        assert!(db.row("SELECT note FROM t WHERE id = 1", &[], |r| r.get::<String>(0)).is_err());
        assert!(db.row("SELECT name FROM t WHERE id = 1", &[], |r| r.get::<i64>(0)).is_err());
    }

    #[test]
    fn one_sql_on_sqlite() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        exercise(Db::Lite(&conn, Path::new(":memory:")));
    }

    #[test]
    fn one_sql_on_postgres() {
        let pg = crate::pg::LocalServer::start().unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"));
        let client = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
        exercise(Db::Pg(&RefCell::new(client), "test"));
    }
}
