//! Copying a catalog into another store, row for row: what `gabarit migrate` moves between a
//! data directory's SQLite and PostgreSQL (issue 17), and the digests that prove the copy.
//!
//! Every table of the schema ([`TABLES`], in an order that respects references) is copied in
//! chunks of rows taken in primary-key order, each chunk one writing transaction of the target:
//! an interrupted copy resumes after the last row the target holds, and never copies a row
//! twice. Values move as stored, so the audit chain's entries, the sealed templates and the
//! authenticated account rows stay valid under the same data key; a [`Rewrite`] may change a
//! path in the text of the other tables (uploaded files moved with the store).
//!
//! [`Catalog::content_digests`] gives each table's row count and the SHA-256 of its rows in
//! key order (columns by name, values with their type): equal on both stores exactly when they
//! hold the same records, whatever the store and the order the rows were written in. Text keys
//! are ordered by their bytes on both (`COLLATE "C"` on PostgreSQL, whose default collation
//! may follow a locale).

use std::ops::ControlFlow;

use sha2::{Digest, Sha256};

use crate::sql::{Column, Db, Param, Value};
use crate::{Catalog, Error, Result};

/// The type of a key column (text keys need a byte-order collation).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Key {
    Int,
    Text,
}

/// A table of the schema and its primary key.
struct Table {
    name: &'static str,
    key: &'static [(&'static str, Key)],
}

const fn table(name: &'static str, key: &'static [(&'static str, Key)]) -> Table {
    Table { name, key }
}

/// Every table of schema [`crate::SCHEMA_VERSION`] with its primary key, each after the tables
/// it references. A test checks it against both stores.
const TABLES: &[Table] = &[
    // The audit chain first: a target's chain is then a prefix of its source's from the first
    // chunk on, which is how a copy is told from a store of other records.
    table("audit", &[("seq", Key::Int)]),
    table("collections", &[("id", Key::Int)]),
    table("sources", &[("id", Key::Int)]),
    table("jobs", &[("id", Key::Int)]),
    table("job_files", &[("job_id", Key::Int), ("uri", Key::Text)]),
    table("images", &[("id", Key::Int)]),
    table("faces", &[("id", Key::Int)]),
    table("templates", &[("face_id", Key::Int)]),
    table("tracks", &[("image_id", Key::Int), ("track", Key::Int)]),
    table("users", &[("id", Key::Int)]),
    table("api_keys", &[("id", Key::Int)]),
    table("grants", &[("user_id", Key::Int), ("collection_id", Key::Int)]),
    table("sessions", &[("token_hash", Key::Text)]),
    table("searches", &[("id", Key::Int)]),
    table("candidates", &[("id", Key::Int)]),
    table("reviews", &[("candidate_id", Key::Int), ("reviewer", Key::Text)]),
    table("rights_requests", &[("id", Key::Int)]),
    table("suppressions", &[("id", Key::Int)]),
    table("background_jobs", &[("id", Key::Int)]),
    table("analysed_queries", &[("id", Key::Text)]),
    table("login_attempts", &[("id", Key::Int)]),
    table("probes", &[("search_id", Key::Int), ("query_face", Key::Int)]),
    table("erased_content", &[("tag", Key::Text)]),
    table("request_runs", &[("id", Key::Int)]),
    table("reembeds", &[("collection_id", Key::Int)]),
    table("reembedded", &[("face_id", Key::Int)]),
    table("persons", &[("id", Key::Int)]),
    table("person_faces", &[("face_id", Key::Int)]),
    table("person_not", &[("face_id", Key::Int), ("person_id", Key::Int)]),
    table("grouping_pairs", &[("a", Key::Int), ("b", Key::Int)]),
    table("grouping_searched", &[("face_id", Key::Int)]),
    table("groupings", &[("collection_id", Key::Int)]),
];

/// The table whose rows are never rewritten: the audit chain (its entries are authenticated
/// and chained as written).
const VERBATIM: &str = "audit";

/// Rows per `INSERT` (a few hundred values per statement stays within both stores' limits on
/// parameters).
const VALUES_PER_STATEMENT: usize = 900;

/// A change made to text on the way: every occurrence of `from` becomes `to`, in every text
/// value of every table but the audit chain's (the paths of uploaded files, which move with
/// the store to another folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The text replaced (a folder's path and its separator).
    pub from: String,
    /// What replaces it.
    pub to: String,
}

/// Where a copy is, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct CopyProgress<'a> {
    /// The table being copied.
    pub table: &'a str,
    /// Rows the target holds, all tables.
    pub done: u64,
    /// Rows the source holds, all tables.
    pub total: u64,
}

/// What a copy did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Rows copied by this run.
    pub rows: u64,
    /// Rows the target held before (a resumed copy).
    pub already: u64,
    /// Whether every table was copied to its end (false: stopped by the progress callback).
    pub complete: bool,
}

/// One table's content, as [`Catalog::content_digests`] gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDigest {
    /// The table.
    pub table: String,
    /// Its rows.
    pub rows: u64,
    /// SHA-256 of its rows in key order (hex).
    pub sha256: String,
}

/// A value of any column, owned: what a copy reads and writes back.
#[derive(Debug, Clone, PartialEq)]
enum Owned {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Owned {
    /// The value with `rewrite` applied to text.
    fn rewritten(self, rewrite: Option<&Rewrite>) -> Owned {
        match (self, rewrite) {
            (Owned::Text(t), Some(r)) if !r.from.is_empty() && t.contains(&r.from) => {
                Owned::Text(t.replace(&r.from, &r.to))
            }
            (other, _) => other,
        }
    }

    /// Feeds the value, tagged with its type, to a digest.
    fn hash_into(&self, h: &mut Sha256) {
        match self {
            Owned::Null => h.update([0]),
            Owned::Int(i) => {
                h.update([1]);
                h.update(i.to_le_bytes());
            }
            Owned::Real(r) => {
                h.update([2]);
                h.update(r.to_bits().to_le_bytes());
            }
            Owned::Text(t) => {
                h.update([3]);
                h.update((t.len() as u64).to_le_bytes());
                h.update(t.as_bytes());
            }
            Owned::Blob(b) => {
                h.update([4]);
                h.update((b.len() as u64).to_le_bytes());
                h.update(b);
            }
        }
    }
}

impl Param for Owned {
    fn value(&self) -> Value<'_> {
        match self {
            Owned::Null => Value::Null,
            Owned::Int(i) => Value::Int(*i),
            Owned::Real(r) => Value::Real(*r),
            Owned::Text(t) => Value::Text(t),
            Owned::Blob(b) => Value::Blob(b),
        }
    }
}

impl rusqlite::types::FromSql for Owned {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Owned> {
        use rusqlite::types::ValueRef;
        Ok(match value {
            ValueRef::Null => Owned::Null,
            ValueRef::Integer(i) => Owned::Int(i),
            ValueRef::Real(r) => Owned::Real(r),
            ValueRef::Text(t) => {
                Owned::Text(std::str::from_utf8(t).map_err(|e| rusqlite::types::FromSqlError::Other(e.into()))?.into())
            }
            ValueRef::Blob(b) => Owned::Blob(b.to_vec()),
        })
    }
}

impl<'a> postgres::types::FromSql<'a> for Owned {
    fn from_sql(
        ty: &postgres::types::Type,
        raw: &'a [u8],
    ) -> std::result::Result<Owned, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        Ok(match *ty {
            Type::INT2 => Owned::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::INT4 => Owned::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT8 => Owned::Int(i64::from_sql(ty, raw)?),
            Type::FLOAT4 => Owned::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::FLOAT8 => Owned::Real(f64::from_sql(ty, raw)?),
            Type::BYTEA => Owned::Blob(Vec::<u8>::from_sql(ty, raw)?),
            _ => Owned::Text(String::from_sql(ty, raw)?),
        })
    }

    fn from_sql_null(
        _: &postgres::types::Type,
    ) -> std::result::Result<Owned, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Owned::Null)
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        use postgres::types::Type;
        [Type::INT2, Type::INT4, Type::INT8, Type::FLOAT4, Type::FLOAT8, Type::TEXT, Type::VARCHAR, Type::BYTEA]
            .contains(ty)
    }
}

impl Column for Owned {
    type Stored = Owned;
    fn from_stored(stored: Owned) -> Option<Owned> {
        Some(stored)
    }
}

/// An identifier quoted for SQL (names come from this module and the stores' own schemas; one
/// with a quote is refused rather than escaped).
fn quoted(name: &str) -> Result<String> {
    if name.contains('"') {
        return Err(Error::Invalid(format!("a column named {name:?} is not one of the catalog's")));
    }
    Ok(format!("\"{name}\""))
}

/// How a store orders a table: its key columns, text by bytes.
fn key_order(db: &Db<'_>, t: &Table, descending: bool) -> String {
    let dir = if descending { " DESC" } else { "" };
    t.key.iter().map(|(name, kind)| format!("{}{}", key_column(db, name, *kind), dir)).collect::<Vec<_>>().join(", ")
}

fn key_column(db: &Db<'_>, name: &str, kind: Key) -> String {
    match (kind, db) {
        (Key::Int, _) => format!("\"{name}\""),
        (Key::Text, Db::Lite(..)) => format!("\"{name}\" COLLATE BINARY"),
        (Key::Text, Db::Pg(..)) => format!("\"{name}\" COLLATE \"C\""),
    }
}

/// `WHERE` the key is after `?1…` (row values on both stores).
fn after_key(db: &Db<'_>, t: &Table) -> String {
    let cols: Vec<String> = t.key.iter().map(|(name, kind)| key_column(db, name, *kind)).collect();
    let params: Vec<String> = (1..=t.key.len()).map(|i| format!("?{i}")).collect();
    if t.key.len() == 1 {
        format!("{} > {}", cols[0], params[0])
    } else {
        format!("({}) > ({})", cols.join(", "), params.join(", "))
    }
}

/// The columns of a table in a store, by name.
fn columns_of(db: &Db<'_>, table: &str) -> Result<Vec<String>> {
    let sql = match db {
        Db::Lite(..) => "SELECT name FROM pragma_table_info(?1)",
        Db::Pg(..) => {
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name::text = ?1"
        }
    };
    let mut names = db.rows(sql, &[&table], |r| r.get::<String>(0))?;
    names.sort();
    Ok(names)
}

fn count_of(db: &Db<'_>, table: &str) -> Result<u64> {
    Ok(db.row(&format!("SELECT count(*) FROM \"{table}\""), &[], |r| r.get::<u64>(0))?.unwrap_or(0))
}

/// Reads rows of `t` (its `columns`) in key order, after the key `after` if given, skipping
/// `skip` rows, at most `limit`.
fn read_rows(
    db: &Db<'_>,
    t: &Table,
    columns: &str,
    (after, skip): (Option<&[Owned]>, u64),
    limit: Option<usize>,
    mut each: impl FnMut(Vec<Owned>) -> Result<()>,
    width: usize,
) -> Result<()> {
    let mut sql = format!("SELECT {columns} FROM \"{}\"", t.name);
    let mut params: Vec<&dyn Param> = Vec::new();
    if let Some(after) = after {
        sql.push_str(&format!(" WHERE {}", after_key(db, t)));
        params.extend(after.iter().map(|v| v as &dyn Param));
    }
    sql.push_str(&format!(" ORDER BY {}", key_order(db, t, false)));
    if let Some(limit) = limit {
        sql.push_str(&format!(" LIMIT {limit}"));
    }
    if skip > 0 {
        sql.push_str(&format!(" OFFSET {skip}"));
    }
    db.each(&sql, &params, |r| {
        let row = (0..width).map(|i| r.get::<Owned>(i)).collect::<Result<Vec<_>>>()?;
        each(row)
    })
}

impl Catalog {
    /// Copies every record into `target` (a catalog of the same schema, on either store, empty
    /// or holding an earlier, interrupted copy of this one), chunk by chunk (`chunk` rows, one
    /// transaction of the target each), with `rewrite` applied to text. `progress` is told
    /// after each chunk and may stop the copy there ([`Copied::complete`] is then false; a new
    /// call resumes it). Writes no audit entry: the caller records the migration on both sides.
    pub fn copy_into(
        &self,
        target: &Catalog,
        rewrite: Option<&Rewrite>,
        chunk: usize,
        progress: &mut dyn FnMut(CopyProgress<'_>) -> ControlFlow<()>,
    ) -> Result<Copied> {
        let (from, to) = (self.db(), target.db());
        let chunk = chunk.max(1);
        let mut total = 0;
        let mut held = Vec::with_capacity(TABLES.len());
        for t in TABLES {
            total += count_of(&from, t.name)?;
            held.push(count_of(&to, t.name)?);
        }
        let already = held.iter().sum();
        self.check_target_holding(target, already)?;
        let mut copied = Copied { rows: 0, already, complete: false };
        for (t, &held) in TABLES.iter().zip(&held) {
            let columns = columns_of(&from, t.name)?;
            if columns != columns_of(&to, t.name)? {
                return Err(Error::Invalid(format!(
                    "table {} has other columns in {} than in {}: the two stores are not at the same schema",
                    t.name,
                    self.path.display(),
                    target.path.display()
                )));
            }
            let list = columns.iter().map(|c| quoted(c)).collect::<Result<Vec<_>>>()?.join(", ");
            let key_at: Vec<usize> = t
                .key
                .iter()
                .map(|(k, _)| columns.iter().position(|c| c == k))
                .collect::<Option<_>>()
                .ok_or_else(|| Error::Invalid(format!("table {} lacks a column of its key", t.name)))?;
            // Resumed after the rows the target holds: skipped by count (a rewritten key is not
            // the source's), then taken after the last key read.
            let mut skip = held;
            let mut last: Option<Vec<Owned>> = None;
            let rewrite = if t.name == VERBATIM { None } else { rewrite };
            loop {
                let mut rows = Vec::with_capacity(chunk.min(4096));
                let mut end = None;
                read_rows(
                    &from,
                    t,
                    &list,
                    (last.as_deref(), skip),
                    Some(chunk),
                    |row| {
                        end = Some(key_at.iter().map(|&i| row[i].clone()).collect::<Vec<_>>());
                        rows.push(row.into_iter().map(|v| v.rewritten(rewrite)).collect::<Vec<_>>());
                        Ok(())
                    },
                    columns.len(),
                )?;
                if rows.is_empty() {
                    break;
                }
                (last, skip) = (end, 0);
                insert_rows(&to, t.name, &list, columns.len(), &rows)?;
                copied.rows += rows.len() as u64;
                let at = CopyProgress { table: t.name, done: already + copied.rows, total };
                if progress(at).is_break() {
                    return Ok(copied);
                }
                if rows.len() < chunk {
                    break;
                }
            }
        }
        if let Db::Pg(..) = to {
            // Identity columns given their values: their sequences continue after the largest.
            for t in TABLES.iter().filter(|t| t.key == [("id", Key::Int)]) {
                to.row(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{0}', 'id'), max(id)) FROM \"{0}\" HAVING max(id) IS NOT NULL",
                        t.name
                    ),
                    &[],
                    |_| Ok(()),
                )?;
            }
        }
        copied.complete = true;
        Ok(copied)
    }

    /// Refuses a target ([`copy_into`](Self::copy_into)'s) that is neither empty nor an
    /// earlier copy of this catalog: its audit chain must be a prefix of this one's (every
    /// change of records writes an entry, so a store of other records has entries of its own),
    /// and records without an entry are another store's.
    pub fn check_copy_target(&self, target: &Catalog) -> Result<()> {
        let mut rows = 0;
        for t in TABLES {
            rows += count_of(&target.db(), t.name)?;
        }
        self.check_target_holding(target, rows)
    }

    /// [`check_copy_target`](Self::check_copy_target) of a target holding `rows` records.
    fn check_target_holding(&self, target: &Catalog, rows: u64) -> Result<()> {
        let foreign = |why: String| {
            Error::Invalid(format!(
                "{} is not empty and not a copy of {}: {why}",
                target.path.display(),
                self.path.display()
            ))
        };
        match target.audit_head()? {
            None if rows > 0 => Err(foreign(format!("it holds {rows} records and no audit entry"))),
            None => Ok(()),
            Some((seq, hash)) if self.audit_hash_at(seq)?.as_deref() != Some(hash.as_str()) => {
                Err(foreign(format!("its audit entry {seq} is not this catalog's")))
            }
            Some(_) => Ok(()),
        }
    }

    /// Each table's row count and the SHA-256 of its rows in key order, with `rewrite` applied
    /// to text as [`copy_into`](Self::copy_into) does: a store and its copy give the same.
    pub fn content_digests(&self, rewrite: Option<&Rewrite>) -> Result<Vec<TableDigest>> {
        let db = self.db();
        let mut out = Vec::with_capacity(TABLES.len());
        for t in TABLES {
            let columns = columns_of(&db, t.name)?;
            let list = columns.iter().map(|c| quoted(c)).collect::<Result<Vec<_>>>()?.join(", ");
            let rewrite = if t.name == VERBATIM { None } else { rewrite };
            let mut h = Sha256::new();
            for c in &columns {
                h.update((c.len() as u64).to_le_bytes());
                h.update(c.as_bytes());
            }
            let mut rows = 0;
            read_rows(
                &db,
                t,
                &list,
                (None, 0),
                None,
                |row| {
                    rows += 1;
                    for v in row {
                        v.rewritten(rewrite).hash_into(&mut h);
                    }
                    Ok(())
                },
                columns.len(),
            )?;
            out.push(TableDigest { table: t.name.to_owned(), rows, sha256: hex::encode(h.finalize()) });
        }
        Ok(out)
    }

    /// The last audit entry's sequence number and hash, if any (a copy's target holds a prefix
    /// of its source's chain).
    pub fn audit_head(&self) -> Result<Option<(u64, String)>> {
        self.db().row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[], |r| Ok((r.get(0)?, r.get(1)?)))
    }

    /// The hash of the audit entry `seq`, if there is one.
    pub fn audit_hash_at(&self, seq: u64) -> Result<Option<String>> {
        self.db().row("SELECT hash FROM audit WHERE seq = ?1", &[&seq], |r| r.get(0))
    }
}

/// Inserts `rows` into `table` in one writing transaction.
fn insert_rows(db: &Db<'_>, table: &str, list: &str, width: usize, rows: &[Vec<Owned>]) -> Result<()> {
    db.begin_write()?;
    let step = (|| -> Result<()> {
        let per_statement = (VALUES_PER_STATEMENT / width.max(1)).max(1);
        for part in rows.chunks(per_statement) {
            let mut sql = format!("INSERT INTO \"{table}\" ({list}) VALUES ");
            let mut n = 0;
            for (i, _) in part.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push('(');
                for j in 0..width {
                    n += 1;
                    if j > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!("?{n}"));
                }
                sql.push(')');
            }
            let params: Vec<&dyn Param> = part.iter().flatten().map(|v| v as &dyn Param).collect();
            db.execute(&sql, &params)?;
        }
        Ok(())
    })();
    match step {
        Ok(()) => db.commit(),
        Err(e) => {
            let _ = db.rollback();
            Err(e)
        }
    }
}

#[cfg(test)]
pub(crate) fn tables() -> Vec<(&'static str, Vec<&'static str>)> {
    TABLES.iter().map(|t| (t.name, t.key.iter().map(|(k, _)| *k).collect())).collect()
}
