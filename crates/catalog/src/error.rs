//! The catalog's error type, and the reading of a stored JSON value that names the record
//! and column of a corrupt one.

use std::path::PathBuf;

/// Catalog errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed.
    #[error("catalog {path}: {source}")]
    Sqlite {
        /// Database file.
        path: PathBuf,
        /// The error.
        #[source]
        source: rusqlite::Error,
    },
    /// PostgreSQL failed (the server refused, failed or could not be reached, or a column did
    /// not decode).
    #[error("catalog {name}: {}", crate::pg::describe(source))]
    Postgres {
        /// The database's name (never its URL, which may hold a password).
        name: String,
        /// The error.
        #[source]
        source: postgres::Error,
    },
    /// The operation is not yet written for a catalog in PostgreSQL (issue 17 moves the
    /// catalog's subjects there one at a time).
    #[error("catalog {name}: this operation is not yet available on PostgreSQL")]
    NotYetOnPostgres {
        /// The database (no password).
        name: String,
    },
    /// A stored integer does not fit the type it is read as (a row written by hand).
    #[error("catalog {name}: column {column} of a row holds a value out of range")]
    OutOfRange {
        /// The database.
        name: String,
        /// The column's position in the query.
        column: usize,
    },
    /// A stored value does not parse (a JSON column edited by hand, or damaged).
    #[error("catalog {name}: {value}")]
    Corrupt {
        /// The database.
        name: String,
        /// Which record and column, and why.
        value: CorruptValue,
    },
    /// A named thing does not exist.
    #[error("no {kind} named {name:?}")]
    NotFound {
        /// What was looked for.
        kind: &'static str,
        /// Its name or id.
        name: String,
    },
    /// A name is already taken.
    #[error("a {kind} named {name:?} already exists")]
    AlreadyExists {
        /// What.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// The input is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A value breaks a policy rule (too long, not a valid name…).
    #[error(transparent)]
    Policy(#[from] gabarit_governance::Error),
    /// A record does not authenticate with the data directory's key: it was written or
    /// changed by someone without the key (by hand, in the database file).
    #[error("catalog {path}: {what} does not authenticate with this data directory's key (changed outside Gabarit)")]
    Tampered {
        /// Database file.
        path: PathBuf,
        /// Which record.
        what: String,
    },
    /// The operation needs the data directory's key, and the catalog was opened without it.
    #[error("catalog {path}: opened without the data directory's key, which {what} needs")]
    Locked {
        /// Database file.
        path: PathBuf,
        /// What needed it.
        what: &'static str,
    },
    /// A template could not be sealed or opened with the data key.
    #[error("catalog {path}: {what}: {reason}")]
    Crypto {
        /// Database file.
        path: PathBuf,
        /// Which record.
        what: String,
        /// Why.
        reason: String,
    },
    /// The database was written by a newer Gabarit.
    #[error("catalog {path} has schema version {found}, newer than this Gabarit's {supported}; upgrade Gabarit")]
    TooNew {
        /// Database file.
        path: PathBuf,
        /// Version in the file.
        found: i64,
        /// Latest known.
        supported: i64,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A stored value that does not parse: named by its record and column, so that a corrupt row
/// is an error to act on, never silently read as a default.
#[derive(Debug, thiserror::Error)]
#[error("{record}: stored {column} unreadable ({detail})")]
pub struct CorruptValue {
    /// The record, such as `job 12`.
    pub record: String,
    /// The column.
    pub column: &'static str,
    /// The parser's message.
    pub detail: String,
}
