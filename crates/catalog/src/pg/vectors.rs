//! Templates in PostgreSQL with pgvector: a [`VectorIndex`] over one table.
//!
//! Each row holds a template's id, its collection and the template under the deployment's
//! [`SecretRotation`] (`vector(dim)`, f32): inner products are kept, so scores are the f32
//! cosines, while the stored vectors are not the model's (see `crates/catalog/README.md` for
//! what that protects against and what it does not). A table `gabarit_vector_indexes` records
//! each index's dimension and the rotation's fingerprint, so opening a table with another key
//! or dimension is refused rather than searching garbage.
//!
//! Three ways to search, and which access path each may take:
//! - [`search`](VectorIndex::search), interactive top-k: pgvector's HNSW index (`vector_ip_ops`,
//!   `hnsw.ef_search` = the breadth, iterative scans in strict order so that a collection
//!   filter still fills `k`); approximate. Candidates beyond `k` are fetched so that ties come
//!   out by smaller id.
//! - [`search_threshold`](VectorIndex::search_threshold) and
//!   [`search_exact`](VectorIndex::search_exact), what rights requests and `search --exact`
//!   rely on: run in a transaction with index and bitmap scans disabled (`SET LOCAL`), so the
//!   only path left is a sequential scan that scores every row; a test reads the plan
//!   (`EXPLAIN`) and checks it. A distance filter cannot use HNSW anyway (the operator class
//!   only serves `ORDER BY … LIMIT`), but the exact top-k's `ORDER BY distance, id` could be
//!   planned as an incremental sort over the approximate index: disabling index scans is what
//!   excludes it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use gabarit_index::{Error, Hit, Result, SecretRotation, VectorIndex, validate_vector};
use pgvector::Vector;
use postgres::Client;
use postgres::error::SqlState;

/// Largest `hnsw.ef_search` pgvector accepts.
const MAX_EF_SEARCH: usize = 1000;

/// Default search breadth (`hnsw.ef_search`).
pub const DEFAULT_BREADTH: usize = 200;

/// Candidates fetched beyond `k` by the approximate search, so that equal scores at the k-th
/// rank come out by smaller id.
const TIE_MARGIN: usize = 32;

/// A [`VectorIndex`] stored in a PostgreSQL table with pgvector.
pub struct PgVectorIndex {
    client: Mutex<super::Connection>,
    /// More connections for searches made while the first is busy (a server's concurrent
    /// requests), each opened the first time it is needed.
    readers: [std::sync::OnceLock<Mutex<super::Connection>>; READERS],
    /// The database, to open them.
    target: super::Target,
    /// A streaming replica the interactive searches read from, if one is named.
    replica: Option<Replica>,
    table: String,
    dim: usize,
    rotation: SecretRotation,
    breadth: usize,
    /// Templates per collection as last counted, with the change count they were counted at:
    /// a search's gallery size comes from them while no change was made since (counting a
    /// million rows takes some 50 ms; reading the change count, a round trip).
    counted: Mutex<Option<(u64, HashMap<u32, usize>)>>,
}

impl std::fmt::Debug for PgVectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgVectorIndex").field("table", &self.table).field("dim", &self.dim).finish_non_exhaustive()
    }
}

/// A streaming replica of the database, and how messages name it.
struct Replica {
    client: Mutex<super::Connection>,
    name: String,
}

/// Where a search reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// The primary: what every write has reached (rights requests, objections, grouping).
    Primary,
    /// The replica when there is one (interactive searches), the primary when it fails.
    Replica,
}

/// The replica's delay, in seconds: none while it has replayed all it received, else the age
/// of the last transaction it replayed.
const REPLICA_LAG: &str = "SELECT CASE WHEN NOT pg_is_in_recovery() THEN NULL
    WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END::float8";

/// Whether `name` may be a table name: 1 to 48 lower-case ASCII letters, digits and
/// underscores, starting with a letter (it is written into statements, so nothing else).
pub fn is_table_name(name: &str) -> bool {
    (1..=48).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl PgVectorIndex {
    /// Connects to `url` and opens (creating if needed) the index in table `table`, for
    /// `rotation.dim()`-component templates under `rotation`. Refused if the table was made for
    /// another dimension ([`Error::IndexDimension`]) or another rotation
    /// ([`Error::Encryption`]).
    pub fn open(url: &str, table: &str, rotation: SecretRotation) -> Result<PgVectorIndex> {
        super::blocking(|| Self::open_here(url, table, rotation))
    }

    fn open_here(url: &str, table: &str, rotation: SecretRotation) -> Result<PgVectorIndex> {
        let dim = rotation.dim();
        if !is_table_name(table) {
            return Err(Error::Database {
                table: table.chars().take(64).collect(),
                reason: "not a valid table name".into(),
            });
        }
        if dim == 0 || dim > gabarit_index::MAX_DIM {
            return Err(Error::UnsupportedDimension { dim, max: gabarit_index::MAX_DIM });
        }
        let db = |e: postgres::Error| database(table, &e);
        let target = super::Target::of(url)
            .map_err(|e| Error::Database { table: table.to_owned(), reason: format!("the server: {e}") })?;
        let mut client = super::Connection::new(target.connect().map_err(|e| database("the server", &e))?);
        let fingerprint = rotation.fingerprint().to_vec();
        let mut tx = client.transaction().map_err(db)?;
        // One opener at a time creates the extension and the tables.
        tx.execute("SELECT pg_advisory_xact_lock(7305183251)", &[]).map_err(db)?;
        tx.batch_execute(&format!(
            "CREATE EXTENSION IF NOT EXISTS vector;
             CREATE TABLE IF NOT EXISTS gabarit_vector_indexes (
                 name text PRIMARY KEY, dim integer NOT NULL, rotation bytea NOT NULL);
             CREATE TABLE IF NOT EXISTS {table} (
                 id bigint PRIMARY KEY, collection bigint NOT NULL, embedding vector({dim}) NOT NULL);
             CREATE INDEX IF NOT EXISTS {table}_hnsw ON {table} USING hnsw (embedding vector_ip_ops);
             CREATE INDEX IF NOT EXISTS {table}_collection ON {table} (collection);
             CREATE SEQUENCE IF NOT EXISTS {table}_changes;"
        ))
        .map_err(db)?;
        tx.execute(
            "INSERT INTO gabarit_vector_indexes (name, dim, rotation) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
            &[&table, &(dim as i32), &fingerprint],
        )
        .map_err(db)?;
        let row =
            tx.query_one("SELECT dim, rotation FROM gabarit_vector_indexes WHERE name = $1", &[&table]).map_err(db)?;
        let (found, stored): (i32, Vec<u8>) = (row.get(0), row.get(1));
        if found as usize != dim {
            return Err(Error::IndexDimension { path: table.into(), expected: dim, found: found as usize });
        }
        if stored != fingerprint {
            return Err(Error::Encryption {
                path: table.into(),
                reason: "the table's templates were stored under another key's rotation".into(),
            });
        }
        tx.commit().map_err(db)?;
        Ok(PgVectorIndex {
            client: Mutex::new(client),
            readers: Default::default(),
            target,
            replica: None,
            table: table.to_owned(),
            dim,
            rotation,
            breadth: DEFAULT_BREADTH,
            counted: Mutex::new(None),
        })
    }

    /// Reads the interactive searches (`search`, `search_exact`) from the streaming replica at
    /// `url` from now on; the threshold searches of rights requests and objections, and the
    /// grouping's, stay on the primary, which every write has reached. Refused if `url` is not
    /// a server in recovery (a replica). A search the replica cannot answer (it does not have
    /// the table yet, it is down) is answered by the primary.
    pub fn read_from(&mut self, url: &str) -> Result<()> {
        let target = super::Target::of(url)
            .map_err(|e| Error::Database { table: self.table.clone(), reason: format!("the replica's URL: {e}") })?;
        let name = target.name().to_owned();
        let replica = super::blocking(|| -> Result<super::Connection> {
            let mut client =
                super::Connection::new(target.connect().map_err(|e| database(&format!("replica {name}"), &e))?);
            let standby: bool =
                client.query_one("SELECT pg_is_in_recovery()", &[]).map_err(|e| database(&name, &e))?.get(0);
            if !standby {
                return Err(Error::Database {
                    table: self.table.clone(),
                    reason: format!("{name} is not a replica (not in recovery): name a streaming replica, or none"),
                });
            }
            Ok(client)
        })?;
        self.replica = Some(Replica { client: Mutex::new(replica), name });
        Ok(())
    }

    /// How far behind the primary the replica's answers are, in seconds (none without a
    /// replica).
    pub fn replica_lag(&self) -> Result<Option<f64>> {
        let Some(replica) = &self.replica else { return Ok(None) };
        super::blocking(|| {
            let mut client = replica.client.lock().unwrap_or_else(PoisonError::into_inner);
            let row = client.query_one(REPLICA_LAG, &[]).map_err(|e| database(&replica.name, &e))?;
            Ok(row.get::<_, Option<f64>>(0).map(|s| s.max(0.0)))
        })
    }

    /// The ids of every template it holds, in order (to compare with the catalog's).
    pub fn ids(&self) -> Result<Vec<u64>> {
        super::blocking(|| self.ids_here())
    }

    fn ids_here(&self) -> Result<Vec<u64>> {
        let sql = format!("SELECT id FROM {} ORDER BY id", self.table);
        let rows = self.client().query(&sql, &[]).map_err(self.db())?;
        rows.iter()
            .map(|r| u64::try_from(r.get::<_, i64>(0)).map_err(|_| corrupt(&self.table, "negative id")))
            .collect()
    }

    /// Adds many templates in one transaction (rows of several hundred per statement, one
    /// change counted): what catching an index up with its catalog, or filling it after a
    /// migration, does. An id already held is left as it is (a template put there by another
    /// process: the same one). Returns how many were added.
    pub fn insert_many(&mut self, items: &[(u64, u32, Vec<f32>)]) -> Result<usize> {
        let mut rows = Vec::with_capacity(items.len());
        for (id, collection, vector) in items {
            let key = i64::try_from(*id).map_err(|_| Error::Database {
                table: self.table.clone(),
                reason: format!("id {id} is above the largest bigint"),
            })?;
            rows.push((key, i64::from(*collection), self.rotated(vector)?));
        }
        super::blocking(|| {
            let mut client = self.client();
            let mut tx = client.transaction().map_err(self.db())?;
            let mut added = 0;
            for part in rows.chunks(INSERT_ROWS) {
                let values: Vec<String> =
                    (0..part.len()).map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3)).collect();
                let sql = format!(
                    "INSERT INTO {} (id, collection, embedding) VALUES {} ON CONFLICT (id) DO NOTHING",
                    self.table,
                    values.join(", ")
                );
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    part.iter().flat_map(|(k, c, v)| [k as _, c as _, v as _]).collect();
                added += tx.execute(&sql, &params).map_err(self.db())? as usize;
            }
            tx.commit().map_err(self.db())?;
            // Counted once committed (a sequence is not transactional: counted inside, a
            // reader could see the new count before the rows, and keep what it read).
            if added > 0 {
                self.changed(&mut client)?;
            }
            Ok(added)
        })
    }

    /// Drops the HNSW index, so that a large load ([`insert_many`](Self::insert_many)) does not
    /// update it row by row; [`restore_search_index`](Self::restore_search_index) builds it
    /// again once, which pgvector does far faster (in memory, with parallel workers). Until
    /// then top-k searches, this process's and others', scan every row: correct, slower. An
    /// index left dropped by a process that stopped is built again by the next `open`.
    pub fn suspend_search_index(&mut self) -> Result<()> {
        let sql = format!("DROP INDEX IF EXISTS {}_hnsw", self.table);
        super::blocking(|| self.client().batch_execute(&sql)).map_err(self.db())
    }

    /// Builds the HNSW index again (see [`suspend_search_index`](Self::suspend_search_index)),
    /// with `memory_mib` of maintenance memory for the build (a graph that does not fit is
    /// built on disk, slower).
    pub fn restore_search_index(&mut self, memory_mib: u32) -> Result<()> {
        let t = &self.table;
        let sql = format!(
            "SET maintenance_work_mem = '{memory_mib}MB';
             CREATE INDEX IF NOT EXISTS {t}_hnsw ON {t} USING hnsw (embedding vector_ip_ops);
             RESET maintenance_work_mem;"
        );
        super::blocking(|| self.client().batch_execute(&sql)).map_err(self.db())
    }

    /// Bytes the table and its indexes take on the server.
    pub fn bytes_on_server(&self) -> Result<u64> {
        let sql = format!("SELECT pg_total_relation_size('{}')", self.table);
        let row = super::blocking(|| self.client().query_one(&sql, &[])).map_err(self.db())?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// Templates per collection, counted again only if a change was counted since the last
    /// time. The change count is read before the rows, and a change is counted once committed:
    /// counts kept are never older than the change count kept with them (a change committed
    /// in between is in them already, and makes the next call count again).
    fn counts(&self) -> Result<HashMap<u32, usize>> {
        let version = self.shared_version()?.unwrap_or(0);
        let mut counted = self.counted.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, counts)) = counted.as_ref()
            && *at == version
        {
            return Ok(counts.clone());
        }
        let sql = format!("SELECT collection, count(*) FROM {} GROUP BY collection", self.table);
        let rows = super::blocking(|| self.client().query(&sql, &[])).map_err(self.db())?;
        let mut counts = HashMap::with_capacity(rows.len());
        for row in rows {
            let (collection, n): (i64, i64) = (row.get(0), row.get(1));
            let collection =
                u32::try_from(collection).map_err(|_| corrupt(&self.table, "a collection id out of range"))?;
            counts.insert(collection, usize::try_from(n).unwrap_or(0));
        }
        *counted = Some((version, counts.clone()));
        Ok(counts)
    }

    /// Counts a change once it is committed (see [`VectorIndex::shared_version`]): a reader
    /// that sees the new count sees the change.
    fn changed(&self, client: &mut Client) -> Result<()> {
        client.query_one(&format!("SELECT nextval('{}_changes')", self.table), &[]).map_err(self.db())?;
        Ok(())
    }

    fn client(&self) -> std::sync::MutexGuard<'_, super::Connection> {
        self.client.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A connection for a search: the first free one, else a reader opened now (up to
    /// [`READERS`]), else the first once it is free. Searches of several threads run at once,
    /// each on its own server backend.
    fn searcher(&self) -> Result<std::sync::MutexGuard<'_, super::Connection>> {
        use std::sync::TryLockError;
        fn free(m: &Mutex<super::Connection>) -> Option<std::sync::MutexGuard<'_, super::Connection>> {
            match m.try_lock() {
                Ok(guard) => Some(guard),
                Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            }
        }
        if let Some(guard) = free(&self.client) {
            return Ok(guard);
        }
        for slot in &self.readers {
            match slot.get() {
                Some(reader) => {
                    if let Some(guard) = free(reader) {
                        return Ok(guard);
                    }
                }
                None => {
                    let client = self.target.connect().map_err(self.db())?;
                    // Another thread may have filled the slot meanwhile: then this one is dropped.
                    let _ = slot.set(Mutex::new(super::Connection::new(client)));
                    if let Some(guard) = slot.get().and_then(free) {
                        return Ok(guard);
                    }
                }
            }
        }
        Ok(self.client())
    }

    fn db(&self) -> impl Fn(postgres::Error) -> Error + '_ {
        |e| database(&self.table, &e)
    }

    /// The query, checked and rotated.
    fn rotated(&self, query: &[f32]) -> Result<Vector> {
        validate_vector(query, self.dim)?;
        Ok(Vector::from(self.rotation.apply(query)))
    }

    /// Runs `select` (parameters: `$1` the rotated query, `$2` the collection filter, then
    /// `extra`) in a read-only transaction whose `settings` are `SET LOCAL`, and returns the
    /// hits sorted best first, ties by smaller id.
    fn hits(
        &self,
        reads: Reads,
        settings: &str,
        select: &str,
        query: &Vector,
        collections: Option<&[u32]>,
        extra: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Hit>> {
        let filter: Option<Vec<i64>> = collections.map(|c| c.iter().map(|&c| i64::from(c)).collect());
        let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![query, &filter];
        params.extend_from_slice(extra);
        // Three round trips: the transaction begun with its settings, the statement (prepared
        // once per connection), the commit.
        let run = |client: &mut super::Connection| -> std::result::Result<Vec<postgres::Row>, postgres::Error> {
            let mut read = || {
                client.batch_execute(&format!("BEGIN READ ONLY; {settings}"))?;
                client.run_prepared(select, |client, statement| client.query(statement, &params))
            };
            match read() {
                Ok(rows) => {
                    client.batch_execute("COMMIT")?;
                    Ok(rows)
                }
                Err(e) => {
                    // The connection is left out of any transaction; the first error is the one told.
                    let _ = client.batch_execute("ROLLBACK");
                    Err(e)
                }
            }
        };
        let rows = super::blocking(|| -> Result<Vec<postgres::Row>> {
            if let (Reads::Replica, Some(replica)) = (reads, &self.replica) {
                match run(&mut replica.client.lock().unwrap_or_else(PoisonError::into_inner)) {
                    Ok(rows) => return Ok(rows),
                    Err(e) => tracing::warn!(
                        table = %self.table, replica = %replica.name, error = %database(&self.table, &e),
                        "the replica could not answer: the primary does"
                    ),
                }
            }
            let mut searcher = self.searcher()?;
            run(&mut searcher).map_err(self.db())
        })?;
        let mut hits = rows
            .iter()
            .map(|row| {
                let (id, collection, distance): (i64, i64, f64) = (row.get(0), row.get(1), row.get(2));
                Ok(Hit {
                    id: u64::try_from(id).map_err(|_| corrupt(&self.table, "negative id"))?,
                    collection: u32::try_from(collection)
                        .map_err(|_| corrupt(&self.table, "collection out of range"))?,
                    score: -(distance as f32),
                })
            })
            .collect::<Result<Vec<Hit>>>()?;
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
        Ok(hits)
    }

    fn approximate(
        &self,
        reads: Reads,
        query: &[f32],
        k: usize,
        collections: Option<&[u32]>,
        breadth: usize,
    ) -> Result<Vec<Hit>> {
        let q = self.rotated(query)?;
        if k == 0 || collections.is_some_and(|c| c.is_empty()) {
            return Ok(Vec::new());
        }
        let fetch = k.saturating_add(TIE_MARGIN);
        let ef = breadth.max(fetch).min(MAX_EF_SEARCH);
        let settings = format!("SET LOCAL hnsw.ef_search = {ef}; SET LOCAL hnsw.iterative_scan = strict_order;");
        let select = format!(
            "SELECT id, collection, (embedding <#> $1)::float8 FROM {t}
             WHERE $2::bigint[] IS NULL OR collection = ANY($2)
             ORDER BY embedding <#> $1 LIMIT $3",
            t = self.table
        );
        let mut hits =
            self.hits(reads, &settings, &select, &q, collections, &[&(fetch.min(i64::MAX as usize) as i64)])?;
        hits.truncate(k);
        Ok(hits)
    }
}

/// Connections a process may open for an index's searches besides its first.
const READERS: usize = 3;

/// Rows per `INSERT` of [`PgVectorIndex::insert_many`] (three parameters each).
const INSERT_ROWS: usize = 500;

/// Index and bitmap scans off: a sequential scan over every row is the only path left.
const EXHAUSTIVE: &str =
    "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexonlyscan = off;";

fn database(table: &str, e: &postgres::Error) -> Error {
    // The server's message; never the statement's parameters (templates).
    Error::Database { table: table.to_owned(), reason: super::describe(e) }
}

fn corrupt(table: &str, reason: &str) -> Error {
    Error::Corrupt { path: table.into(), reason: reason.into() }
}

impl VectorIndex for PgVectorIndex {
    fn dim(&self) -> usize {
        self.dim
    }

    fn len(&self) -> usize {
        self.count(None)
    }

    /// Counted by the server once per change (any process's): the count per collection is
    /// kept with the change count it was made at, and used while that has not moved. The
    /// trait gives no way to report a failure here: it is logged (the table, not the query)
    /// and counts as zero.
    fn count(&self, collections: Option<&[u32]>) -> usize {
        match self.counts() {
            Ok(counts) => {
                counts.iter().filter(|(c, _)| collections.is_none_or(|wanted| wanted.contains(c))).map(|(_, n)| n).sum()
            }
            Err(e) => {
                tracing::error!(table = %self.table, error = %e, "counting templates failed");
                0
            }
        }
    }

    fn insert(&mut self, id: u64, collection: u32, vector: &[f32]) -> Result<()> {
        let v = self.rotated(vector)?;
        let key = i64::try_from(id).map_err(|_| Error::Database {
            table: self.table.clone(),
            reason: format!("id {id} is above the largest bigint"),
        })?;
        let sql = format!("INSERT INTO {} (id, collection, embedding) VALUES ($1, $2, $3)", self.table);
        super::blocking(|| {
            let mut client = self.client();
            match client.execute(&sql, &[&key, &i64::from(collection), &v]) {
                Ok(_) => self.changed(&mut client),
                Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Err(Error::DuplicateId { id }),
                Err(e) => Err(database(&self.table, &e)),
            }
        })
    }

    fn remove(&mut self, id: u64) -> Result<bool> {
        let Ok(key) = i64::try_from(id) else { return Ok(false) };
        let sql = format!("DELETE FROM {} WHERE id = $1", self.table);
        super::blocking(|| {
            let mut client = self.client();
            let n = client.execute(&sql, &[&key]).map_err(self.db())?;
            if n > 0 {
                self.changed(&mut client)?;
            }
            Ok(n > 0)
        })
    }

    fn search(&self, query: &[f32], k: usize, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        self.approximate(Reads::Replica, query, k, collections, self.breadth)
    }

    fn search_breadth(&self, query: &[f32], k: usize, collections: Option<&[u32]>, breadth: usize) -> Result<Vec<Hit>> {
        self.approximate(Reads::Primary, query, k, collections, breadth)
    }

    fn search_threshold(&self, query: &[f32], threshold: f32, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        if threshold.is_nan() {
            return Err(Error::NanThreshold);
        }
        let q = self.rotated(query)?;
        if collections.is_some_and(|c| c.is_empty()) {
            return Ok(Vec::new());
        }
        // The server compares in f64, the score is the f32 of the distance: let the server
        // keep a little more, then apply the threshold to the score itself.
        let bound = -f64::from(threshold) + 1e-6;
        let select = format!(
            "SELECT id, collection, (embedding <#> $1)::float8 FROM {}
             WHERE ($2::bigint[] IS NULL OR collection = ANY($2)) AND (embedding <#> $1) <= $3",
            self.table
        );
        let mut hits = self.hits(Reads::Primary, EXHAUSTIVE, &select, &q, collections, &[&bound])?;
        hits.retain(|h| h.score >= threshold);
        Ok(hits)
    }

    fn search_exact(&self, query: &[f32], k: usize, collections: Option<&[u32]>) -> Result<Vec<Hit>> {
        let q = self.rotated(query)?;
        if k == 0 || collections.is_some_and(|c| c.is_empty()) {
            return Ok(Vec::new());
        }
        let select = format!(
            "SELECT id, collection, (embedding <#> $1)::float8 FROM {}
             WHERE $2::bigint[] IS NULL OR collection = ANY($2)
             ORDER BY embedding <#> $1, id LIMIT $3",
            self.table
        );
        self.hits(Reads::Replica, EXHAUSTIVE, &select, &q, collections, &[&(k.min(i64::MAX as usize) as i64)])
    }

    fn is_exhaustive(&self) -> bool {
        false
    }

    fn set_search_breadth(&mut self, breadth: usize) {
        self.breadth = breadth.max(1);
    }

    /// The count of changes (a sequence the inserts and removals of every process advance).
    fn shared_version(&self) -> Result<Option<u64>> {
        let sql = format!("SELECT last_value, is_called FROM {}_changes", self.table);
        let row = super::blocking(|| self.client().query_one(&sql, &[])).map_err(self.db())?;
        let (last, called): (i64, bool) = (row.get(0), row.get(1));
        Ok(Some(if called { last.unsigned_abs() } else { 0 }))
    }

    /// The replica's lag (see [`PgVectorIndex::read_from`]).
    fn staleness(&self) -> Result<Option<f64>> {
        self.replica_lag()
    }

    /// Every statement commits as it runs (the server's `synchronous_commit` decides when a
    /// commit is on disk): nothing is left to flush.
    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    /// `VACUUM FULL`: the table and its indexes are rewritten into new files without the
    /// removed rows, and the old files unlinked. Then the write-ahead log, which still holds
    /// the removed rows as they were inserted, is moved to a new segment (`pg_switch_wal`) and
    /// a checkpoint lets the server delete the old ones — on a server with `wal_recycle = off`
    /// (otherwise old segments are renamed for reuse, bytes intact) and no WAL archive or
    /// replication slot holding them: the operator's part, in `crates/catalog/README.md`.
    /// Needs the `pg_checkpoint` role and the right to run `pg_switch_wal`; without them,
    /// compaction fails and says so rather than claiming an erasure it did not do.
    fn compact(&mut self) -> Result<()> {
        super::blocking(|| {
            let mut client = self.client();
            // One statement each: VACUUM cannot run in the implicit transaction of a batch.
            for sql in [&format!("VACUUM FULL {}", self.table), "SELECT pg_switch_wal()", "CHECKPOINT"] {
                client.batch_execute(sql).map_err(self.db())?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::is_table_name;

    #[test]
    fn table_names() {
        for good in ["t", "templates_open_v1", "a1"] {
            assert!(is_table_name(good), "{good}");
        }
        for bad in ["", "1t", "T", "t-1", "t;drop table x", "t t", "é", &"t".repeat(49)] {
            assert!(!is_table_name(bad), "{bad}");
        }
    }
}
