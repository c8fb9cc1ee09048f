//! PostgreSQL with pgvector: the second storage backend (issue 17), built a piece at a time.
//!
//! Here: the catalog's records behind the same [`crate::Catalog`] API (its statements are
//! written once for both stores, `crate::sql`, and the schema in PostgreSQL's types, `schema`),
//! [`PgVectorIndex`], the templates in a pgvector table under the deployment's secret rotation,
//! the keyring in a table (`keyring`), and [`LocalServer`], a server of its own for tests.
//!
//! The client is the `postgres` crate (sfackler's synchronous client over `tokio-postgres`),
//! chosen by fit with the code: the catalog is synchronous (rusqlite), the engine calls it from
//! worker threads (the HTTP server's `spawn_blocking`), and its transactions are closures over a
//! connection (`Catalog::audited`). `tokio-postgres` or `sqlx` would make every catalog method
//! async and change each caller for no gain; `sqlx`'s compile-time checks would need a database
//! at build time. `pgvector` gives the `vector` type's binary encoding.
//!
//! Connections are in plain text (`NoTls`): for a server on the same machine or a private
//! network. TLS to a remote server is one connector away (`postgres-native-tls` or
//! `postgres-openssl`) and is listed in the README as the operator's to require until then.

mod keyring;
pub(crate) mod schema;
pub mod server;
mod vectors;

pub use keyring::{keep_keyring, keyring_place, read_keyring, replace_keyring};
pub use server::{LocalServer, ServerError};
pub use vectors::{DEFAULT_BREADTH, PgVectorIndex, is_table_name};

/// Runs `f`, which blocks on PostgreSQL, from wherever it is called: the synchronous client
/// drives its connection on a runtime of its own, which cannot start on a thread that is
/// running a tokio runtime's tasks (the HTTP server's), so there `f` runs as a blocking section
/// (`block_in_place`, which leaves the runtime for its duration).
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    if tokio::runtime::Handle::try_current().is_ok() { tokio::task::block_in_place(f) } else { f() }
}

/// A connection to PostgreSQL that may be used and dropped inside an async runtime (closing it
/// blocks too: see [`blocking`]).
pub struct Connection(Option<postgres::Client>);

impl Connection {
    /// Wraps a connected client.
    pub fn new(client: postgres::Client) -> Connection {
        Connection(Some(client))
    }
}

impl std::ops::Deref for Connection {
    type Target = postgres::Client;
    fn deref(&self) -> &postgres::Client {
        self.0.as_ref().expect("a connection is only taken by its drop")
    }
}

impl std::ops::DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut postgres::Client {
        self.0.as_mut().expect("a connection is only taken by its drop")
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            blocking(move || drop(client));
        }
    }
}

/// How errors and logs name the database of a URL (see [`display_name`]); an unreadable URL
/// is refused, naming no part of it.
pub fn display_name_of(url: &str) -> crate::Result<String> {
    let config: postgres::Config =
        url.parse().map_err(|source| crate::Error::Postgres { name: "the PostgreSQL URL".into(), source })?;
    Ok(display_name(&config))
}

/// How errors and logs name a database: `postgres://user@host:port/database`, never with its
/// password.
pub(crate) fn display_name(config: &postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        Some(postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("postgres://{}@{host}:{port}/{}", config.get_user().unwrap_or(""), config.get_dbname().unwrap_or(""))
}

/// A PostgreSQL error with its causes (the client's `Display` gives only its kind, such as
/// "db error"): the server's message and SQLSTATE, or why the connection failed.
pub fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
