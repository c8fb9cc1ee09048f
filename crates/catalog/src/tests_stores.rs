//! Running a catalog test on both stores: [`Store`] gives a test fresh catalogs on SQLite (a
//! temporary file) or on PostgreSQL (a server of its own, `pg::LocalServer`), opened with one
//! data key, and raw reads of what is stored; [`both!`] makes a test of each.

use std::sync::Arc;

use crate::sql::Db;
use crate::{Catalog, Result};

/// Where a test's catalog lives.
pub(super) enum Store {
    Lite { dir: tempfile::TempDir },
    Pg { server: crate::pg::LocalServer, dir: tempfile::TempDir },
}

impl Store {
    pub(super) fn sqlite() -> Store {
        Store::Lite { dir: tempfile::tempdir().unwrap() }
    }

    pub(super) fn postgres() -> Store {
        let server = crate::pg::LocalServer::start().unwrap_or_else(|e| panic!("PostgreSQL for the tests: {e}"));
        Store::Pg { server, dir: tempfile::tempdir().unwrap() }
    }

    fn dir(&self) -> &std::path::Path {
        match self {
            Store::Lite { dir } | Store::Pg { dir, .. } => dir.path(),
        }
    }

    fn key(&self) -> Arc<gabarit_crypto::DataKey> {
        let kek = gabarit_crypto::Kek::from_bytes([7u8; 32]);
        let keyring = self.dir().join("keyring.json");
        let key = if keyring.exists() {
            gabarit_crypto::Keyring::open(&keyring, &kek).unwrap()
        } else {
            gabarit_crypto::Keyring::create(&keyring, &kek).unwrap()
        };
        Arc::new(key)
    }

    /// A connection to the catalog with the data key (every call opens another).
    pub(super) fn keyed(&self) -> Catalog {
        match self {
            Store::Lite { dir } => Catalog::open_keyed(&dir.path().join("c.db"), self.key()).unwrap(),
            Store::Pg { server, .. } => Catalog::open_postgres(&server.url(), Some(self.key())).unwrap(),
        }
    }

    /// A connection to the catalog without the key.
    pub(super) fn plain(&self) -> Catalog {
        match self {
            Store::Lite { dir } => Catalog::open(&dir.path().join("c.db")).unwrap(),
            Store::Pg { server, .. } => Catalog::open_postgres(&server.url(), None).unwrap(),
        }
    }

    /// `f` with a connection of the store's own (not the catalog's): reads and edits by hand.
    pub(super) fn raw<T>(&self, f: impl FnOnce(Db<'_>) -> T) -> T {
        match self {
            Store::Lite { dir } => {
                let path = dir.path().join("c.db");
                let conn = rusqlite::Connection::open(&path).unwrap();
                f(Db::Lite(&conn, &path))
            }
            Store::Pg { server, .. } => {
                let client = postgres::Client::connect(&server.url(), postgres::NoTls).unwrap();
                f(Db::Pg(&std::cell::RefCell::new(crate::pg::Connection::new(client)), "raw"))
            }
        }
    }

    /// The files of the store (the catalog's database file and its WAL; the server's whole
    /// data directory) that hold `marker`.
    pub(super) fn files_holding(&self, marker: &[u8]) -> Vec<String> {
        let root = match self {
            Store::Lite { dir } => dir.path().to_path_buf(),
            Store::Pg { server, .. } => server.data_dir(),
        };
        let mut found = Vec::new();
        let mut stack = vec![root];
        while let Some(d) = stack.pop() {
            for entry in fs_err::read_dir(&d).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if fs_err::read(&path).is_ok_and(|b| b.windows(marker.len()).any(|w| w == marker)) {
                    found.push(path.display().to_string());
                }
            }
        }
        found
    }

    /// Runs a statement on the store itself (not through the catalog): an edit by hand.
    pub(super) fn execute(&self, sql: &str, params: &[&dyn crate::sql::Param]) {
        match self {
            Store::Lite { dir } => {
                let path = dir.path().join("c.db");
                let conn = rusqlite::Connection::open(&path).unwrap();
                Db::Lite(&conn, &path).batch_or_execute(sql, params).unwrap();
            }
            Store::Pg { server, .. } => {
                let client = postgres::Client::connect(&server.url(), postgres::NoTls).unwrap();
                Db::Pg(&std::cell::RefCell::new(crate::pg::Connection::new(client)), "raw")
                    .batch_or_execute(sql, params)
                    .unwrap();
            }
        }
    }

    /// The text columns of every row of `sql`, read from the store itself (not through the
    /// catalog).
    pub(super) fn texts(&self, sql: &str, params: &[&dyn crate::sql::Param]) -> Vec<Vec<String>> {
        let read = |db: Db<'_>| -> Result<Vec<Vec<String>>> {
            db.rows(sql, params, |r| {
                let mut row = Vec::new();
                let mut i = 0;
                while let Ok(v) = r.get::<String>(i) {
                    row.push(v);
                    i += 1;
                }
                Ok(row)
            })
        };
        match self {
            Store::Lite { dir } => {
                let path = dir.path().join("c.db");
                let conn = rusqlite::Connection::open(&path).unwrap();
                read(Db::Lite(&conn, &path)).unwrap()
            }
            Store::Pg { server, .. } => {
                let client = postgres::Client::connect(&server.url(), postgres::NoTls).unwrap();
                read(Db::Pg(&std::cell::RefCell::new(crate::pg::Connection::new(client)), "raw")).unwrap()
            }
        }
    }
}

/// `both!(name, |store| { … })`: the test `name::sqlite` and `name::postgres`, each given a
/// fresh [`Store`].
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn sqlite() {
                let run: fn(&$crate::tests_stores::Store) = $body;
                run(&$crate::tests_stores::Store::sqlite());
            }
            #[test]
            fn postgres() {
                let run: fn(&$crate::tests_stores::Store) = $body;
                run(&$crate::tests_stores::Store::postgres());
            }
        }
    };
}
pub(super) use both;
