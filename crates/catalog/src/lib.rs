//! The catalog: what Gabarit holds and where it came from, in SQLite.
//!
//! Collections contain sources; sources yield images (identified by the SHA-256 of their
//! content, unique within a collection); images hold faces (box, landmarks, quality); faces
//! have templates (int8-quantised vectors with their scale). Ingestion jobs record each
//! file's outcome. Every face traces back to its image, source and collection.
//!
//! The database runs in WAL mode with foreign keys on; schema changes are numbered
//! migrations (`PRAGMA user_version`). Each batch of images is stored in one transaction, so
//! an interrupted ingestion leaves either whole images or nothing. This crate is the only
//! user of `rusqlite`; it holds no policy and no biometric maths. Writing transactions begin
//! IMMEDIATE (they take the write lock first), so several connections to one catalog wait
//! for each other (busy timeout) instead of failing on a stale snapshot.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

mod accounts;
mod audit_log;
mod collections;
mod copy;
mod error;
mod images;
mod ingest;
mod integrity;
mod jobs;
mod logins;
mod migrations;
mod people;
pub mod pg;
mod queries;
mod records;
mod reembed;
mod rights;
mod searches;
mod sql;
mod templates;
mod tx;

pub use accounts::{KeyRecord, UserRecord};
pub use copy::{Copied, CopyProgress, Rewrite, TableDigest};
pub use error::{CorruptValue, Error, Result};
pub use gabarit_governance::Scope;
pub use jobs::{BackgroundJob, JobPart};
pub use logins::LoginCounts;
pub use migrations::{LEGACY_PACK, SCHEMA_VERSION};
pub use people::{Assignment, ErasedGrouping, GroupingFace, GroupingRun, PersonRecord};
pub use records::{
    BatchItem, Collection, CollectionSummary, FaceRecord, ImageRecord, Moment, NewFace, NewImage, PackKey,
    StoreOutcome, StoredTemplate, TrackSpan, VideoMeta,
};
pub use reembed::{ChangedOver, NewTemplate, Reembedding};
pub use rights::{Deleted, ErasedContent, RequestRun, RightsRequest};
pub use searches::{CandidateRecord, CandidateState, NewCandidate, NewSearch, Probe, SearchRecord};
pub use tx::Tx;

/// The catalog, in SQLite or (issue 17, in progress) PostgreSQL.
pub struct Catalog {
    store: Store,
    /// The database file; for PostgreSQL, `postgres://user@host:port/database` (no password).
    path: PathBuf,
    /// Seals templates and suppression templates at rest.
    key: Option<std::sync::Arc<gabarit_crypto::DataKey>>,
    /// Authenticates the audit chain (derived from the data key).
    audit_key: Option<gabarit_governance::audit::AuditKey>,
    /// Authenticates accounts, keys, grants and sessions (derived from the data key).
    rows: Option<gabarit_crypto::MacKey>,
}

/// Where the records are.
enum Store {
    Lite(Connection),
    Pg(Box<std::cell::RefCell<pg::Connection>>, String),
}

/// While another connection writes: retry soon (100 µs, then 1 ms, then 5 ms steps) for about
/// 10 s in all, then give up (`SQLITE_BUSY`). SQLite's own busy timeout sleeps in steps that
/// grow to 100 ms, which made a short write wait up to 100 ms behind another.
fn wait_for_writer(attempt: i32) -> bool {
    let pause = match attempt {
        0..50 => std::time::Duration::from_micros(100),
        50..500 => std::time::Duration::from_millis(1),
        _ => std::time::Duration::from_millis(5),
    };
    std::thread::sleep(pause);
    attempt < 2400
}

pub(crate) fn now() -> String {
    jiff::Timestamp::now().to_string()
}

impl Catalog {
    /// Opens (creating and migrating if needed) the catalog at `path`, without the data key:
    /// enough to read records, not to change them (every change writes its authenticated audit
    /// entry) nor to upgrade a catalog older than schema 8.
    pub fn open(path: &Path) -> Result<Catalog> {
        Self::open_with(path, None)
    }

    /// Opens (creating and migrating if needed) the catalog at `path` with the data key.
    pub fn open_keyed(path: &Path, key: std::sync::Arc<gabarit_crypto::DataKey>) -> Result<Catalog> {
        Self::open_with(path, Some(key))
    }

    /// Connects to the catalog in the PostgreSQL database at `url`
    /// (`postgres://user:password@host:port/database`), creating its schema in an empty
    /// database, with the data key if given. Issue 17 moves the catalog's subjects there one at
    /// a time: those not yet moved fail with [`Error::NotYetOnPostgres`].
    pub fn open_postgres(url: &str, key: Option<std::sync::Arc<gabarit_crypto::DataKey>>) -> Result<Catalog> {
        let target = pg::Target::of(url)?;
        let name = target.name().to_owned();
        let client = target.open()?;
        let mut cat = Catalog {
            store: Store::Pg(Box::new(std::cell::RefCell::new(client)), name.clone()),
            path: PathBuf::from(name),
            key: None,
            audit_key: None,
            rows: None,
        };
        if let Some(key) = key {
            cat.set_data_key(key);
        }
        pg::schema::create_or_check(&cat.db(), &cat.path)?;
        Ok(cat)
    }

    fn open_with(path: &Path, key: Option<std::sync::Arc<gabarit_crypto::DataKey>>) -> Result<Catalog> {
        let conn = Connection::open(path).map_err(|source| Error::Sqlite { path: path.to_path_buf(), source })?;
        let mut cat =
            Catalog { store: Store::Lite(conn), path: path.to_path_buf(), key: None, audit_key: None, rows: None };
        if let Some(key) = key {
            cat.set_data_key(key);
        }
        cat.exec_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; PRAGMA synchronous = FULL;")?;
        cat.lite_mut()?
            .busy_handler(Some(wait_for_writer))
            .map_err(|source| Error::Sqlite { path: path.to_path_buf(), source })?;
        migrations::migrate(&mut cat)?;
        Ok(cat)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |source| Error::Sqlite { path: self.path.clone(), source }
    }

    /// The connection, for statements written once for both stores ([`sql`]).
    fn db(&self) -> sql::Db<'_> {
        match &self.store {
            Store::Lite(conn) => sql::Db::Lite(conn, &self.path),
            Store::Pg(client, name) => sql::Db::Pg(client, name),
        }
    }

    /// The SQLite connection, for the subjects not yet written for both stores: on
    /// PostgreSQL, [`Error::NotYetOnPostgres`].
    fn lite(&self) -> Result<&Connection> {
        match &self.store {
            Store::Lite(conn) => Ok(conn),
            Store::Pg(_, name) => Err(Error::NotYetOnPostgres { name: name.clone() }),
        }
    }

    /// [`lite`](Self::lite), to change the connection itself (a rusqlite transaction).
    fn lite_mut(&mut self) -> Result<&mut Connection> {
        match &mut self.store {
            Store::Lite(conn) => Ok(conn),
            Store::Pg(_, name) => Err(Error::NotYetOnPostgres { name: name.clone() }),
        }
    }

    fn exec_batch(&self, sql: &str) -> Result<()> {
        self.lite()?.execute_batch(sql).map_err(self.err())
    }

    /// Seals templates with `key` from now on and opens sealed ones with it; authenticates the
    /// audit chain and the account records with keys derived from it.
    pub fn set_data_key(&mut self, key: std::sync::Arc<gabarit_crypto::DataKey>) {
        self.audit_key = Some(gabarit_governance::audit::AuditKey::new(*key.derive("gabarit/audit/v1")));
        self.rows = Some(key.mac_key("gabarit/catalog-rows/v1"));
        self.key = Some(key);
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_accounts;
#[cfg(test)]
mod tests_copy;
#[cfg(test)]
mod tests_rights;
#[cfg(test)]
mod tests_stores;
