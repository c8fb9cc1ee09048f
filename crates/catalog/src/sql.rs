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
//! and statements cast aggregates whose type differs (`CAST(sum(…) AS bigint)`) and a
//! parameter whose type the server cannot infer (`CAST(?1 AS text) IS NULL`), use
//! `ON CONFLICT … DO NOTHING` rather than `INSERT OR IGNORE`, and `RETURNING` rather than
//! `last_insert_rowid()`.
//!
//! Modules move onto it one at a time (the audit chain and collections first); the rest still
//! call rusqlite directly (`Catalog::lite`, which on PostgreSQL is `Error::NotYetOnPostgres`)
//! until they do.

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::Path;

use crate::{Error, Result};

/// A value as both stores hold it: the four storage classes of SQLite, which the PostgreSQL
/// schema mirrors (`bigint`, `double precision`, `text`, `bytea`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// What the catalog binds as a parameter: integers (any width, and `bool` as 0/1), reals,
/// text, bytes, and their `Option`s. Every value binds the same on both stores (a `u32` would
/// otherwise bind to PostgreSQL's `oid`).
pub(crate) trait Param {
    fn value(&self) -> Value<'_>;
}

macro_rules! int_params {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> Value<'_> {
                // Wider than i64 only for u64 and usize above i64::MAX, which no id reaches; they
                // saturate rather than wrap.
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_params!(i64, i32, u32, u64, usize, u8, u16, i16);

impl Param for bool {
    fn value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}
impl Param for f64 {
    fn value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}
impl Param for f32 {
    fn value(&self) -> Value<'_> {
        Value::Real(f64::from(*self))
    }
}
impl Param for str {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}
impl Param for String {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}
impl Param for [u8] {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}
impl Param for Vec<u8> {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}
impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}
impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value<'_> {
        self.as_ref().map_or(Value::Null, Param::value)
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match *self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(i),
            Value::Real(r) => ValueRef::Real(r),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl postgres::types::ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        match *self {
            Value::Null => Ok(postgres::types::IsNull::Yes),
            // The schema's integers are bigint; the server may infer a narrower type for a
            // parameter compared with an expression (then the value must fit).
            Value::Int(i) if *ty == Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
            Value::Int(i) if *ty == Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
            Value::Int(i) if *ty == Type::FLOAT8 => (i as f64).to_sql(ty, out),
            Value::Int(i) => i.to_sql(ty, out),
            Value::Real(r) => r.to_sql(ty, out),
            Value::Text(t) => t.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        use postgres::types::Type;
        [Type::INT8, Type::INT4, Type::INT2, Type::FLOAT8, Type::TEXT, Type::VARCHAR, Type::BYTEA].contains(ty)
    }

    postgres::types::to_sql_checked!();
}

/// What the catalog reads from a column: the counterpart of [`Param`] (integers of any width,
/// checked on the way; `bool` from 0/1; `f32` from a real; `Option`s for NULLs).
pub(crate) trait Column: Sized {
    /// What both drivers decode.
    type Stored: rusqlite::types::FromSql + for<'a> postgres::types::FromSql<'a>;
    /// The value, or `None` when it does not fit.
    fn from_stored(stored: Self::Stored) -> Option<Self>;
}

/// An integer column of either store: SQLite's INTEGER; PostgreSQL's `bigint`, and the
/// `integer` or `smallint` an expression gives (`CASE … THEN 1`).
pub(crate) struct AnyInt(i64);

impl rusqlite::types::FromSql for AnyInt {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<AnyInt> {
        i64::column_result(value).map(AnyInt)
    }
}

impl<'a> postgres::types::FromSql<'a> for AnyInt {
    fn from_sql(
        ty: &postgres::types::Type,
        raw: &'a [u8],
    ) -> std::result::Result<AnyInt, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        Ok(AnyInt(match *ty {
            Type::INT2 => i64::from(i16::from_sql(ty, raw)?),
            Type::INT4 => i64::from(i32::from_sql(ty, raw)?),
            _ => i64::from_sql(ty, raw)?,
        }))
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        use postgres::types::Type;
        [Type::INT2, Type::INT4, Type::INT8].contains(ty)
    }
}

macro_rules! same_columns {
    ($($t:ty),*) => {$(
        impl Column for $t {
            type Stored = $t;
            fn from_stored(stored: $t) -> Option<$t> {
                Some(stored)
            }
        }
    )*};
}
same_columns!(f64, String, Vec<u8>);

macro_rules! int_columns {
    ($($t:ty),*) => {$(
        impl Column for $t {
            type Stored = AnyInt;
            fn from_stored(stored: AnyInt) -> Option<$t> {
                <$t>::try_from(stored.0).ok()
            }
        }
    )*};
}
int_columns!(i64, i32, u32, u64, usize, u8, u16, i16);

impl Column for bool {
    type Stored = AnyInt;
    fn from_stored(stored: AnyInt) -> Option<bool> {
        Some(stored.0 != 0)
    }
}
impl Column for f32 {
    type Stored = f64;
    fn from_stored(stored: f64) -> Option<f32> {
        Some(stored as f32)
    }
}
impl<T: Column> Column for Option<T> {
    type Stored = Option<T::Stored>;
    fn from_stored(stored: Option<T::Stored>) -> Option<Option<T>> {
        match stored {
            None => Some(None),
            Some(s) => T::from_stored(s).map(Some),
        }
    }
}

/// A connection of either store, borrowed from the catalog.
#[derive(Clone, Copy)]
pub(crate) enum Db<'c> {
    /// SQLite, and the database file (for errors).
    Lite(&'c rusqlite::Connection, &'c Path),
    /// PostgreSQL, and the name errors give it (never the URL: it may hold a password).
    Pg(&'c RefCell<crate::pg::Connection>, &'c str),
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
        let stored: T::Stored = match self {
            Row::Lite(row, path) => row.get(index).map_err(|source| lite_error(path, source))?,
            Row::Pg(row, name) => row.try_get(index).map_err(|source| pg_error(name, source))?,
        };
        T::from_stored(stored).ok_or_else(|| Error::OutOfRange { name: self.store(), column: index })
    }

    /// The JSON text of column `index` (`column`) of the row of `record`, parsed: a value that
    /// does not parse is [`Error::Corrupt`] naming its record and column, never a default.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(
        &self,
        index: usize,
        column: &'static str,
        record: impl FnOnce() -> String,
    ) -> Result<T> {
        let text: String = self.get(index)?;
        serde_json::from_str(&text).map_err(|e| Error::Corrupt {
            name: self.store(),
            value: crate::CorruptValue { record: record(), column, detail: e.to_string() },
        })
    }

    fn store(&self) -> String {
        match self {
            Row::Lite(_, path) => path.display().to_string(),
            Row::Pg(_, name) => (*name).to_owned(),
        }
    }
}

/// The PostgreSQL connection, unless a statement is already using it (a statement run while
/// another's rows are being read: SQLite allows it, one PostgreSQL connection does not).
fn client_of<'a>(
    client: &'a RefCell<crate::pg::Connection>,
    name: &str,
) -> Result<std::cell::RefMut<'a, crate::pg::Connection>> {
    client
        .try_borrow_mut()
        .map_err(|_| Error::Invalid(format!("catalog {name}: a statement ran while another's rows were being read")))
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

/// The advisory lock a writing transaction takes on PostgreSQL: one writer at a time, as on
/// SQLite, so the audit chain stays one chain whatever the number of processes.
const WRITER_LOCK: i64 = 0x6761_6261_7269_7400;

impl Db<'_> {
    /// Begins a writing transaction: SQLite's `BEGIN IMMEDIATE` (the write lock first);
    /// PostgreSQL's `BEGIN` and the writers' advisory lock.
    pub(crate) fn begin_write(&self) -> Result<()> {
        match *self {
            Db::Lite(..) => self.simple("BEGIN IMMEDIATE"),
            Db::Pg(..) => self.simple(&format!("BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK})")),
        }
    }

    /// Commits the transaction.
    pub(crate) fn commit(&self) -> Result<()> {
        self.simple("COMMIT")
    }

    /// Rolls the transaction back.
    pub(crate) fn rollback(&self) -> Result<()> {
        self.simple("ROLLBACK")
    }

    /// Runs statements without parameters (a schema).
    pub(crate) fn batch(&self, sql: &str) -> Result<()> {
        match *self {
            Db::Lite(conn, path) => conn.execute_batch(sql).map_err(|e| lite_error(path, e)),
            Db::Pg(client, name) => crate::pg::blocking(|| {
                let mut client = client_of(client, name)?;
                // A schema may have changed: statements are described again.
                client.forget_prepared();
                client.batch_execute(sql).map_err(|e| pg_error(name, e))
            }),
        }
    }

    /// Several statements when there are no parameters, else one (for tests' edits by hand).
    #[cfg(test)]
    pub(crate) fn batch_or_execute(&self, sql: &str, params: &[&dyn Param]) -> Result<()> {
        if params.is_empty() { self.batch(sql) } else { self.execute(sql, params).map(drop) }
    }

    /// Runs one statement without parameters.
    fn simple(&self, sql: &str) -> Result<()> {
        match *self {
            Db::Lite(conn, path) => {
                conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(drop).map_err(|e| lite_error(path, e))
            }
            Db::Pg(client, name) => {
                crate::pg::blocking(|| client_of(client, name)?.batch_execute(sql).map_err(|e| pg_error(name, e)))
            }
        }
    }

    /// Runs a statement; the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &[&dyn Param]) -> Result<u64> {
        match *self {
            Db::Lite(conn, path) => {
                let mut stmt = conn.prepare_cached(sql).map_err(|e| lite_error(path, e))?;
                let values: Vec<Value<'_>> = params.iter().map(|p| p.value()).collect();
                stmt.execute(rusqlite::params_from_iter(&values)).map(|n| n as u64).map_err(|e| lite_error(path, e))
            }
            Db::Pg(client, name) => {
                let values: Vec<Value<'_>> = params.iter().map(|p| p.value()).collect();
                let pg: Vec<&(dyn postgres::types::ToSql + Sync)> = values.iter().map(|v| v as _).collect();
                crate::pg::blocking(|| {
                    client_of(client, name)?
                        .run_prepared(pg_placeholders(sql).as_ref(), |client, statement| client.execute(statement, &pg))
                        .map_err(|e| pg_error(name, e))
                })
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
        let mut out = Vec::new();
        self.each(sql, params, |r| {
            out.push(read(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Hands every row of a query to `each` as it arrives (a million templates are never all
    /// in memory at once).
    pub(crate) fn each(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut each: impl FnMut(&Row<'_>) -> Result<()>,
    ) -> Result<()> {
        let values: Vec<Value<'_>> = params.iter().map(|p| p.value()).collect();
        match *self {
            Db::Lite(conn, path) => {
                let mut stmt = conn.prepare_cached(sql).map_err(|e| lite_error(path, e))?;
                let mut rows = stmt.query(rusqlite::params_from_iter(&values)).map_err(|e| lite_error(path, e))?;
                while let Some(row) = rows.next().map_err(|e| lite_error(path, e))? {
                    each(&Row::Lite(row, path))?;
                }
                Ok(())
            }
            Db::Pg(client, name) => crate::pg::blocking(|| {
                use postgres::fallible_iterator::FallibleIterator;
                // An error of `each` (reading a row) is kept apart from the server's: it does not
                // make the statement be prepared again.
                let mut failed = None;
                client_of(client, name)?
                    .run_prepared(pg_placeholders(sql).as_ref(), |client, statement| {
                        let params = values.iter().map(|v| v as &(dyn postgres::types::ToSql + Sync));
                        let mut rows = client.query_raw(statement, params)?;
                        while let Some(row) = rows.next()? {
                            if let Err(e) = each(&Row::Pg(&row, name)) {
                                failed = Some(e);
                                break;
                            }
                        }
                        Ok(())
                    })
                    .map_err(|e| pg_error(name, e))?;
                failed.map_or(Ok(()), Err)
            }),
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
        let connection = RefCell::new(crate::pg::Connection::new(client));
        exercise(Db::Pg(&connection, "test"));
        // Each statement is prepared once per connection and kept: run again, it is only bound
        // and executed (the server holds one prepared statement for its text).
        let db = Db::Pg(&connection, "test");
        let prepared = || connection.borrow().prepared_count();
        let before = prepared();
        let name = |id: i64| db.row("SELECT name FROM t WHERE id = ?1", &[&id], |r| r.get::<String>(0)).unwrap();
        assert_eq!((name(1), name(3), name(1)), (Some("un".into()), Some("l'é?1".into()), Some("un".into())));
        assert_eq!(prepared(), before + 1);
        let on_server = |text: &str| {
            db.row("SELECT count(*) FROM pg_prepared_statements WHERE statement = ?1", &[&text], |r| r.get::<i64>(0))
                .unwrap()
        };
        assert_eq!(on_server("SELECT name FROM t WHERE id = $1"), Some(1));
        // A statement the server fails is forgotten (prepared anew next time); a row the
        // caller cannot read is not the statement's fault.
        let divide = |by: i64| db.row("SELECT 6 / ?1", &[&by], |r| r.get::<i64>(0));
        assert_eq!(divide(3).unwrap(), Some(2));
        let with_divide = prepared();
        assert!(divide(0).is_err());
        assert_eq!(prepared(), with_divide - 1);
        assert_eq!(divide(2).unwrap(), Some(3));
        assert!(db.row("SELECT name FROM t WHERE id = ?1", &[&1i64], |r| r.get::<i64>(0)).is_err());
        assert_eq!((prepared(), on_server("SELECT name FROM t WHERE id = $1")), (with_divide, Some(1)));
        // After statements run as a batch (a schema), every statement is described again.
        db.batch("CREATE TABLE u (x bigint)").unwrap();
        assert_eq!(prepared(), 0);
        assert_eq!(name(1), Some("un".into()));
    }
}
