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
//! Connections ([`Target`]): in plain text unless the URL says `sslmode=require`; then over TLS
//! (rustls, its `ring` provider) with the server's certificate always verified, chain and host
//! name, against `sslrootcert=FILE` (the CA that signed it, PEM) or else the system's roots
//! (`SSL_CERT_FILE`, or `/etc/ssl/certs/ca-certificates.crt`). Unlike libpq's `require`, which
//! encrypts without verifying, there is no TLS here that a man in the middle could answer.

mod keyring;
pub(crate) mod schema;
pub mod server;
mod vectors;

pub use keyring::{keep_keyring, keyring_place, read_keyring, replace_keyring};
pub use server::{LocalServer, ServerError};
pub use vectors::{DEFAULT_BREADTH, PgVectorIndex, is_table_name};

use std::collections::HashMap;

/// Runs `f`, which blocks on PostgreSQL, from wherever it is called: the synchronous client
/// drives its connection on a runtime of its own, which cannot start on a thread that is
/// running a tokio runtime's tasks (the HTTP server's), so there `f` runs as a blocking section
/// (`block_in_place`, which leaves the runtime for its duration).
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    if tokio::runtime::Handle::try_current().is_ok() { tokio::task::block_in_place(f) } else { f() }
}

/// A connection to PostgreSQL that may be used and dropped inside an async runtime (closing it
/// blocks too: see [`blocking`]), with the catalog's statements prepared once per connection
/// ([`Connection::run_prepared`]).
pub struct Connection {
    client: Option<postgres::Client>,
    /// Statements prepared on this connection, by their text; at most [`MAX_PREPARED`].
    prepared: HashMap<String, postgres::Statement>,
}

/// Statements a connection keeps prepared (the catalog has about 300 distinct ones; past this
/// many, all are forgotten and prepared again as they come).
pub(crate) const MAX_PREPARED: usize = 1024;

impl Connection {
    /// Wraps a connected client.
    pub fn new(client: postgres::Client) -> Connection {
        Connection { client: Some(client), prepared: HashMap::new() }
    }

    /// Runs `f` with the statement `sql` prepared on this connection: the first time, the
    /// server parses and describes it (a round trip of its own, as for any statement given as
    /// text); afterwards it is only bound and executed, one round trip instead of two. A
    /// statement whose run fails is forgotten (prepared anew next time: a table another process
    /// altered since is described again).
    pub(crate) fn run_prepared<T>(
        &mut self,
        sql: &str,
        f: impl FnOnce(&mut postgres::Client, &postgres::Statement) -> Result<T, postgres::Error>,
    ) -> Result<T, postgres::Error> {
        let statement = match self.prepared.get(sql) {
            Some(statement) => statement.clone(),
            None => {
                let statement = self.prepare(sql)?;
                if self.prepared.len() >= MAX_PREPARED {
                    self.prepared.clear();
                }
                self.prepared.insert(sql.to_owned(), statement.clone());
                statement
            }
        };
        let result = f(self, &statement);
        if result.is_err() {
            self.prepared.remove(sql);
        }
        result
    }

    /// Forgets every prepared statement (after statements that may change the schema).
    pub(crate) fn forget_prepared(&mut self) {
        self.prepared.clear();
    }

    /// How many statements are prepared on this connection.
    #[cfg(test)]
    pub(crate) fn prepared_count(&self) -> usize {
        self.prepared.len()
    }
}

impl std::ops::Deref for Connection {
    type Target = postgres::Client;
    fn deref(&self) -> &postgres::Client {
        self.client.as_ref().expect("a connection is only taken by its drop")
    }
}

impl std::ops::DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut postgres::Client {
        self.client.as_mut().expect("a connection is only taken by its drop")
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // Prepared statements are closed through the client: before it.
        self.prepared.clear();
        if let Some(client) = self.client.take() {
            blocking(move || drop(client));
        }
    }
}

/// A database to connect to: its URL read, and the TLS connector when the URL asks for TLS.
#[derive(Clone)]
pub(crate) struct Target {
    config: postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    name: String,
}

/// Where the system's root certificates are when `SSL_CERT_FILE` does not say (Debian's).
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

impl Target {
    /// Reads `url` (`postgres://…[?sslmode=require[&sslrootcert=FILE]]`); the CA file is read
    /// now, so that a missing or empty one is refused before any connection.
    pub(crate) fn of(url: &str) -> crate::Result<Target> {
        let (url, root_file) = split_root_file(url);
        let config: postgres::Config =
            url.parse().map_err(|source| crate::Error::Postgres { name: "the PostgreSQL URL".into(), source })?;
        let name = display_name(&config);
        let tls = if config.get_ssl_mode() == postgres::config::SslMode::Require {
            Some(tls_connector(&name, root_file.as_deref())?)
        } else if root_file.is_some() {
            return Err(crate::Error::Invalid(format!(
                "{name}: sslrootcert is given without sslmode=require: say sslmode=require to connect over TLS"
            )));
        } else {
            None
        };
        Ok(Target { config, tls, name })
    }

    /// Connects (blocking; see [`blocking`]).
    pub(crate) fn connect(&self) -> Result<postgres::Client, postgres::Error> {
        blocking(|| match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(postgres::NoTls),
        })
    }

    /// Connects, as a [`Connection`]; an error names the database.
    pub(crate) fn open(&self) -> crate::Result<Connection> {
        self.connect().map(Connection::new).map_err(|source| crate::Error::Postgres { name: self.name.clone(), source })
    }

    /// How errors name the database (see [`display_name`]).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// `url` without its `sslrootcert` parameter (libpq's name; the client library does not know
/// it), and that parameter's value.
fn split_root_file(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else { return (url.to_owned(), None) };
    let mut root = None;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("sslrootcert=") {
            Some(file) => {
                root = Some(file.to_owned());
                false
            }
            None => true,
        })
        .collect();
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    (url, root)
}

/// A rustls connector trusting the certificates of `root_file` (PEM), or the system's roots.
fn tls_connector(name: &str, root_file: Option<&str>) -> crate::Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let system = std::env::var("SSL_CERT_FILE").unwrap_or_else(|_| SYSTEM_ROOTS.into());
    let file = root_file.unwrap_or(&system);
    let refused = |why: String| crate::Error::Invalid(format!("{name}: TLS: {why}"));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| refused(format!("the root certificates {file}: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(refused(format!("{file} holds no certificate to trust (sslrootcert: the CA's, PEM)")));
    }
    // ring: no post-quantum key exchange (hence the deprecation), but no C toolchain beyond a
    // compiler either; aws-lc-rs, which has it, builds with cmake. Classic ECDHE until then.
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| refused(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// How errors and logs name the database of a URL (see [`display_name`]); an unreadable URL
/// is refused, naming no part of it.
pub fn display_name_of(url: &str) -> crate::Result<String> {
    let (url, _) = split_root_file(url);
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
