//! A data directory: the SQLite catalog (source of truth) and the vector index derived from
//! it, kept consistent.
//!
//! Writes go to the catalog first (one transaction per batch), then to the index. A crash in
//! between leaves the index behind the catalog; opening the store notices (the counts
//! differ) and rebuilds the index from the catalog's templates, so search always sees exactly
//! what the catalog holds.
//!
//! The index is one of three kinds, chosen when the directory is created and recorded in its
//! `index-kind` file: `graph` (default: an HNSW graph over the int8 templates, for
//! interactive top-k search at millions of templates, with exact scans on request and for
//! threshold searches), `exact` (a flat scan only) or `compressed` (exhaustive searches exact
//! as `exact`'s, pruned by codes in memory; a top-k from 1-bit codes re-scored exactly; the
//! int8 codes left on disk). Directories made before the choice existed have no such
//! file and are `exact`. `gabarit migrate --index KIND` moves a directory to another kind
//! without running the models again.
//!
//! One process may open several handles on a data directory ([`Store::handle`]): each has
//! its own catalog connection (SQLite in WAL mode: readers never wait for the writer) and all
//! share one in-memory index ([`SharedIndex`]: searches read it together; an insertion or a
//! removal holds it alone, briefly). The server runs its requests and its jobs that way.
//!
//! Templates are encrypted at rest (AES-256-GCM) in both the catalog and the index files,
//! under the data directory's data key, itself stored only wrapped by a key-encryption key
//! (KEK) kept outside the data directory (`keyring.json` holds the wrapped key).
//!
//! A store may instead live in a PostgreSQL database with pgvector ([`Place::Postgres`]): the
//! catalog in its tables, each pack's templates in a pgvector table under a secret rotation
//! derived from the data key (`gabarit_catalog::pg::PgVectorIndex`), the wrapped data key in
//! the table `gabarit_keyring`. Several processes, on several machines, may open it at once:
//! the index is the database's, so each sees the others' changes, and a process that finds it
//! behind the catalog (another one stopped between the two) catches it up rather than
//! rebuilding it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use gabarit_catalog::Catalog;
use gabarit_crypto::{DataKey, Keyring};
use gabarit_index::{RecordCipher, VectorIndex};

pub use gabarit_catalog::{PackKey, SCHEMA_VERSION};
pub use gabarit_crypto::Kek;

use crate::{Error, Result};

mod shared_index;

pub(crate) use shared_index::insert_committed;
pub use shared_index::{Index, IndexKind, SharedIndex};

/// Where a store keeps its records.
#[derive(Clone, PartialEq, Eq)]
pub enum Place {
    /// A data directory: the SQLite catalog, the index files and `keyring.json`.
    Dir(PathBuf),
    /// A PostgreSQL database with pgvector (`postgres://user:password@host:port/database`):
    /// catalog, templates and wrapped data key in its tables. Uploaded files are kept in
    /// `uploads`, a folder of this machine (storage every machine running Gabarit on the
    /// database mounts, when there are several).
    Postgres {
        /// The connection URL (with its password, if any: never shown).
        url: String,
        /// Where uploaded files are kept.
        uploads: PathBuf,
        /// A streaming replica interactive searches read from, if any.
        replica: Option<Replica>,
    },
}

/// A streaming replica of a store's database: interactive searches read their templates from
/// it (rights requests, objections and every write stay on the primary), and a search answered
/// while it lags more than `max_lag` says so.
#[derive(Clone, PartialEq, Eq)]
pub struct Replica {
    /// Its connection URL (never shown).
    pub url: String,
    /// The lag beyond which a search result reports it.
    pub max_lag: std::time::Duration,
}

impl Place {
    /// A `postgres://` or `postgresql://` URL is a database (its uploads kept in the folder
    /// `uploads` gives, asked for only then); anything else names a data directory.
    pub fn parse<E>(
        text: &str,
        uploads: impl FnOnce() -> std::result::Result<PathBuf, E>,
    ) -> std::result::Result<Place, E> {
        Ok(if Place::is_database_url(text) {
            Place::Postgres { url: text.to_owned(), uploads: uploads()?, replica: None }
        } else {
            Place::Dir(PathBuf::from(text))
        })
    }

    /// Whether `text` names a PostgreSQL database (`postgres://` or `postgresql://`).
    pub fn is_database_url(text: &str) -> bool {
        text.starts_with("postgres://") || text.starts_with("postgresql://")
    }

    /// How messages name it: the folder, or the database without its password.
    pub fn name(&self) -> String {
        match self {
            Place::Dir(root) => root.display().to_string(),
            Place::Postgres { url, .. } => {
                gabarit_catalog::pg::display_name_of(url).unwrap_or_else(|_| "a PostgreSQL database".into())
            }
        }
    }
}

impl std::fmt::Debug for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// The key of a model pack's templates as this build makes them (name and
/// [`gabarit_inference::Pack::templates_sha256`]): what a new collection of that pack records.
pub fn pack_key(pack: &gabarit_inference::Pack) -> PackKey {
    PackKey { name: pack.name.clone(), sha256: pack.templates_sha256() }
}

/// Refuses to add to or compare with `collection`'s templates those of another pack (or of
/// The built-in pack of a collection's templates with its rules (thresholds, calibration);
/// refused when this build makes that pack's templates otherwise.
pub(crate) fn pack_of(key: &gabarit_catalog::PackKey) -> Result<gabarit_inference::Pack> {
    let pack = gabarit_inference::Pack::builtin(&key.name)?;
    if pack_key(&pack) != *key {
        return Err(Error::PackMismatch {
            holder: format!("the collections of pack {}", key.name),
            pack: format!("{} as this build makes it", pack_key(&pack)),
            held: key.to_string(),
        });
    }
    Ok(pack)
}

/// The calibration of a collection's pack (parsed once per process): `None` when the pack has
/// none, or this build makes that pack's templates otherwise.
pub(crate) fn calibration_of(
    key: &gabarit_catalog::PackKey,
) -> Result<Option<std::sync::Arc<gabarit_inference::Calibration>>> {
    type Cache = std::sync::Mutex<
        std::collections::HashMap<gabarit_catalog::PackKey, Option<std::sync::Arc<gabarit_inference::Calibration>>>,
    >;
    static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(key) {
        return Ok(c.clone());
    }
    let calibration = pack_of(key)?.calibration()?.map(std::sync::Arc::new);
    cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key.clone(), calibration.clone());
    Ok(calibration)
}

/// the same pack made otherwise: another file, alignment or mirror averaging).
pub fn check_collection_pack(collection: &gabarit_catalog::Collection, pack: &gabarit_inference::Pack) -> Result<()> {
    let key = pack_key(pack);
    if collection.pack_key() == key {
        Ok(())
    } else {
        Err(Error::PackMismatch {
            holder: format!("collection {:?}", collection.name),
            pack: key.to_string(),
            held: collection.pack_key().to_string(),
        })
    }
}

/// The backend and precision a collection's templates come from, as recorded; a value this
/// build cannot read (a catalog edited by hand) is refused.
pub fn collection_engine(collection: &gabarit_catalog::Collection) -> Result<gabarit_inference::EngineFamily> {
    collection.engine.parse().map_err(|e: String| {
        Error::Invalid(format!(
            "collection {:?} records engine {}",
            collection.name,
            gabarit_governance::limits::shown(&e)
        ))
    })
}

/// Refuses to add templates made by `asked` to a collection whose templates come from
/// another backend or precision.
pub fn check_collection_engine(
    collection: &gabarit_catalog::Collection,
    asked: gabarit_inference::EngineFamily,
) -> Result<()> {
    let held = collection_engine(collection)?;
    if held == asked {
        return Ok(());
    }
    Err(Error::EngineMismatch { collection: collection.name.clone(), held, asked })
}

/// The dimension of a pack's templates, from its manifest; a pack this build does not know, or
/// a key that cannot name a folder (a catalog edited by hand), is refused.
fn pack_dim(pack: &PackKey) -> Result<usize> {
    let sane = |s: &str, extra: &[char]| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || extra.contains(&c))
    };
    if !sane(&pack.name, &['_', '-']) || !sane(&pack.sha256, &[]) {
        return Err(Error::Internal(format!("the catalog names a pack {pack}: not a pack name and hash")));
    }
    Ok(gabarit_inference::Pack::builtin(&pack.name)?.engine.embedder.dim)
}

/// A data directory opened for use. Its catalog and index are private to the engine: the
/// front ends reach records only through the governed use cases, which authorise and audit.
pub struct Store {
    /// The catalog.
    pub(crate) catalog: Catalog,
    /// The vector indexes, one per pack (shared with the other handles of this data
    /// directory), each opened the first time a use case needs it: commands that touch only
    /// accounts, collections or the audit log run while a server holds the indexes.
    indexes: Arc<LazyIndexes>,
    /// Its kind.
    index_kind: IndexKind,
    place: Place,
    key: Arc<DataKey>,
}

/// The indexes of a store and its handles, one per pack: each opened once, by the first that
/// needs it.
#[derive(Default)]
struct LazyIndexes {
    opened: RwLock<std::collections::BTreeMap<PackKey, SharedIndex>>,
    opening: std::sync::Mutex<()>,
    /// The breadth of graph searches set for every index, opened or not.
    ef_search: std::sync::Mutex<Option<usize>>,
}

/// The data key as the index's record cipher.
#[derive(Debug)]
pub struct Sealer(pub Arc<DataKey>);

impl RecordCipher for Sealer {
    fn overhead(&self) -> usize {
        gabarit_crypto::SEAL_OVERHEAD
    }
    fn seal(&self, plain: &[u8], aad: &[u8]) -> std::result::Result<Vec<u8>, String> {
        self.0.seal(plain, aad).map_err(|e| e.to_string())
    }
    fn open(&self, sealed: &[u8], aad: &[u8]) -> std::result::Result<Vec<u8>, String> {
        self.0.open(sealed, aad).map_err(|e| e.to_string())
    }
    fn open_into(&self, sealed: &[u8], aad: &[u8], out: &mut [u8]) -> std::result::Result<(), String> {
        self.0.open_into(sealed, aad, out).map_err(|e| e.to_string())
    }
}

fn crypto_err(e: gabarit_crypto::Error) -> Error {
    Error::Key(e)
}

/// Files and folders only their owner may read: the data directory is 0700, what it holds
/// 0600 (a user with a shell on the machine but not the server's account reads nothing).
pub(crate) mod private {
    use std::path::Path;

    use crate::{Error, Result};

    /// Creates a folder (and its parents) and makes it 0700.
    pub fn create_dir(dir: &Path) -> Result<()> {
        fs_err::create_dir_all(dir).map_err(Error::Io)?;
        restrict(dir)
    }

    /// Makes an existing folder 0700 (a data directory made by an older version).
    pub fn restrict(dir: &Path) -> Result<()> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(Error::Io)?;
        }
        Ok(())
    }

    /// Writes a new file readable by its owner only (0600 from its creation).
    pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let mut options = fs_err::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use fs_err::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(path).map_err(Error::Io)?;
        f.write_all(bytes).map_err(Error::Io)?;
        f.sync_all().map_err(Error::Io)
    }
}

impl Store {
    /// Creates the store at `place` (catalog and keyring) with the default index kind if
    /// needed, then opens it; an existing data directory keeps the kind it has (one made when
    /// the default was another).
    pub fn create(place: impl Into<Place>, kek: &Kek) -> Result<Store> {
        let place = place.into();
        let kind = Self::kind_for(&place)?;
        Self::create_with(place, kek, kind)
    }

    /// The index kind of the store at `place`: the one an existing data directory records,
    /// else the default for a new store there.
    pub fn kind_for(place: &Place) -> Result<IndexKind> {
        match place {
            Place::Dir(root) if root.join("catalog.db").exists() => Self::kind_of(root),
            Place::Dir(_) | Place::Postgres { .. } => Ok(IndexKind::default_for(place)),
        }
    }

    /// Creates the store at `place` with this index kind if needed, then opens it. An existing
    /// store keeps its kind; asking for another is an error, and so is a kind the place cannot
    /// keep (pgvector is PostgreSQL's only one, and only there).
    pub fn create_with(place: impl Into<Place>, kek: &Kek, kind: IndexKind) -> Result<Store> {
        let place = place.into();
        match &place {
            Place::Dir(root) => {
                Self::create_dir(root, kind, |keyring| Keyring::create(keyring, kek).map(drop).map_err(crypto_err))?
            }
            Place::Postgres { url, .. } => {
                if kind != IndexKind::Pgvector {
                    return Err(Error::field(
                        "index",
                        format!("{}: a store on PostgreSQL keeps a pgvector index, not {}", place.name(), kind.name()),
                    ));
                }
                if gabarit_catalog::pg::read_keyring(url)?.is_none() {
                    let place = gabarit_catalog::pg::keyring_place(url)?;
                    let (_, json) = Keyring::create_bytes(&place, kek).map_err(crypto_err)?;
                    // Of two processes creating it at once, both keep the first's.
                    gabarit_catalog::pg::keep_keyring(url, &json)?;
                }
            }
        }
        Self::open(place, kek)
    }

    /// Makes `root` a data directory with this index kind, its keyring written by
    /// `write_keyring` (a new one, or a migrated store's), unless it is one already (of that
    /// kind: another is refused).
    pub(crate) fn create_dir(
        root: &Path,
        kind: IndexKind,
        write_keyring: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        if kind == IndexKind::Pgvector {
            return Err(Error::field(
                "index",
                format!(
                    "{}: a pgvector index is kept in PostgreSQL (a postgres:// URL), not in a data directory",
                    root.display()
                ),
            ));
        }
        private::create_dir(root)?;
        let kind_file = root.join("index-kind");
        let fresh = !root.join("catalog.db").exists();
        if fresh {
            private::write_file(&kind_file, format!("{}\n", kind.name()).as_bytes())?;
        } else {
            let existing = Self::kind_of(root)?;
            if existing != kind {
                return Err(Error::Invalid(format!(
                    "{}: this data directory keeps a {} index, not {}",
                    root.display(),
                    existing.name(),
                    kind.name()
                )));
            }
        }
        let keyring = root.join("keyring.json");
        if !keyring.exists() {
            if !fresh {
                return Err(Error::Invalid(format!(
                    "{}: a catalog without a keyring cannot be encrypted in place",
                    root.display()
                )));
            }
            write_keyring(&keyring)?;
        }
        if fresh {
            // SQLite creates its WAL and shared-memory files with the database's mode.
            private::write_file(&root.join("catalog.db"), b"")?;
        }
        Ok(())
    }

    /// The index kind recorded in a data directory (`exact` when none is: older directories).
    pub fn kind_of(root: &Path) -> Result<IndexKind> {
        let kind_file = root.join("index-kind");
        if kind_file.is_file() {
            IndexKind::parse(&fs_err::read_to_string(&kind_file).map_err(Error::Io)?).map_err(|e| {
                Error::Internal(format!("{}: {e} (a stored value changed outside Gabarit)", kind_file.display()))
            })
        } else {
            Ok(IndexKind::Exact)
        }
    }

    /// Opens the store at `place` with the key-encryption key.
    pub fn open(place: impl Into<Place>, kek: &Kek) -> Result<Store> {
        let place = place.into();
        let (catalog, index_kind, key) = match &place {
            Place::Dir(root) => {
                let keyring = root.join("keyring.json");
                if !keyring.is_file() {
                    return Err(Error::Invalid(format!("{} has no keyring.json: run `gabarit init`", root.display())));
                }
                let key = Arc::new(Keyring::open(&keyring, kek).map_err(crypto_err)?);
                private::restrict(root)?;
                let catalog = Catalog::open_keyed(&root.join("catalog.db"), key.clone())?;
                (catalog, Self::kind_of(root)?, key)
            }
            Place::Postgres { url, uploads, .. } => {
                let Some(json) = gabarit_catalog::pg::read_keyring(url)? else {
                    return Err(Error::Invalid(format!(
                        "{} has no keyring: run `gabarit init` with this --data",
                        place.name()
                    )));
                };
                let place = gabarit_catalog::pg::keyring_place(url)?;
                let key = Arc::new(Keyring::open_bytes(&place, &json, kek).map_err(crypto_err)?);
                let catalog = Catalog::open_postgres(url, Some(key.clone()))?;
                if uploads.exists() {
                    private::restrict(uploads)?;
                }
                (catalog, IndexKind::Pgvector, key)
            }
        };
        Ok(Store { catalog, indexes: Arc::default(), index_kind, place, key })
    }

    /// The vector index of a pack's templates, opened on first use: checked against the
    /// catalog, and rebuilt from the catalog's templates of that pack when it is behind (a
    /// crash between the two) or unreadable.
    pub(crate) fn index(&self, pack: &PackKey) -> Result<SharedIndex> {
        let opened = |s: &Self| s.indexes.opened.read().unwrap_or_else(PoisonError::into_inner).get(pack).cloned();
        if let Some(index) = opened(self) {
            return Ok(index);
        }
        let _opening = self.indexes.opening.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = opened(self) {
            return Ok(index);
        }
        let index = SharedIndex::new(self.open_index(pack)?);
        if let Some(ef) = *self.indexes.ef_search.lock().unwrap_or_else(PoisonError::into_inner) {
            index.set_ef_search(ef);
        }
        self.indexes.opened.write().unwrap_or_else(PoisonError::into_inner).insert(pack.clone(), index.clone());
        Ok(index)
    }

    fn open_index(&self, pack: &PackKey) -> Result<Index> {
        let root = match &self.place {
            Place::Dir(root) => root,
            Place::Postgres { url, .. } => return self.open_pg_index(url, pack),
        };
        let (catalog, index_kind) = (&self.catalog, self.index_kind);
        let dim = pack_dim(pack)?;
        let cipher = || -> Arc<dyn RecordCipher> { Arc::new(Sealer(self.key.clone())) };
        let index_dir = index_kind.dir(root, pack);
        let opened = index_kind.open(&index_dir, dim, cipher());
        let expected = catalog.template_count_of(pack)?;
        let mut index = match opened {
            Ok(i) if i.len() as u64 == expected => i,
            // Locked by another process, unreadable files: never delete, report.
            Err(
                e @ (gabarit_index::Error::Io { .. }
                | gabarit_index::Error::UnsupportedDimension { .. }
                | gabarit_index::Error::Full { .. }),
            ) => {
                return Err(e.into());
            }
            other => {
                match &other {
                    Ok(i) => tracing::warn!(
                        pack = %pack,
                        index = i.len(),
                        catalog = expected,
                        "vector index behind the catalog: rebuilding"
                    ),
                    Err(e) => {
                        tracing::warn!(pack = %pack, error = %e, "vector index unreadable: rebuilding from the catalog")
                    }
                }
                drop(other);
                if index_dir.exists() {
                    fs_err::remove_dir_all(&index_dir).map_err(Error::Io)?;
                }
                index_kind.open(&index_dir, dim, cipher())?
            }
        };
        if index.is_empty() && expected > 0 {
            let mut failed = None;
            catalog.templates_of(pack, |t| {
                if failed.is_none() {
                    let v = gabarit_index::quant::dequantize(&t.vector, t.scale);
                    if let Err(e) = index.insert(t.face_id, t.collection_id, &v) {
                        failed = Some(e);
                    }
                }
            })?;
            if let Some(e) = failed {
                return Err(e.into());
            }
            index.flush()?;
        }
        Ok(index)
    }

    /// A pack's templates in PostgreSQL, caught up with the catalog: the templates it lacks
    /// added, those the catalog no longer holds removed (a process stopped between its
    /// catalog's commit and the index; inserts go to the catalog first, removals too, so an
    /// id in the index and not in the catalog is one being removed).
    fn open_pg_index(&self, url: &str, pack: &PackKey) -> Result<Index> {
        let dim = pack_dim(pack)?;
        let seed = self.key.derive("gabarit/pgvector-rotation/v1");
        let rotation = gabarit_index::SecretRotation::new(&seed, dim);
        let mut index = gabarit_catalog::pg::PgVectorIndex::open(url, &pg_table(pack), rotation)?;
        if let Place::Postgres { replica: Some(replica), .. } = &self.place {
            index.read_from(&replica.url)?;
        }
        let expected = self.catalog.template_count_of(pack)?;
        if index.len() as u64 != expected {
            let held: std::collections::HashSet<u64> = index.ids()?.into_iter().collect();
            tracing::warn!(pack = %pack, index = held.len(), catalog = expected, "vector index behind the catalog: catching up");
            // Many missing (a migration, a load): loaded without the HNSW index, built once after.
            let bulk = expected.saturating_sub(held.len() as u64) >= BULK_LOAD_FROM.max(held.len() as u64);
            if bulk {
                index.suspend_search_index()?;
            }
            let mut in_catalog = std::collections::HashSet::new();
            let mut failed = None;
            let mut missing = Vec::new();
            self.catalog.templates_of(pack, |t| {
                in_catalog.insert(t.face_id);
                if failed.is_none() && !held.contains(&t.face_id) {
                    missing.push((t.face_id, t.collection_id, gabarit_index::quant::dequantize(&t.vector, t.scale)));
                    if missing.len() == CATCH_UP_BATCH {
                        failed = index.insert_many(&std::mem::take(&mut missing)).err();
                    }
                }
            })?;
            if let Some(e) = failed {
                return Err(e.into());
            }
            index.insert_many(&missing)?;
            if bulk {
                index.restore_search_index(BULK_BUILD_MEMORY_MIB)?;
            }
            for id in held.difference(&in_catalog) {
                index.remove(*id)?;
            }
        }
        Ok(Box::new(index))
    }

    /// The packs of the collections there are (each once, in order).
    pub fn packs_in_use(&self) -> Result<Vec<PackKey>> {
        Ok(self.catalog.packs_in_use()?)
    }

    /// Another handle on the same store: its own catalog connection, the same index.
    pub fn handle(&self) -> Result<Store> {
        let catalog = match &self.place {
            Place::Dir(root) => Catalog::open_keyed(&root.join("catalog.db"), self.key.clone())?,
            Place::Postgres { url, .. } => Catalog::open_postgres(url, Some(self.key.clone()))?,
        };
        Ok(Store {
            catalog,
            indexes: self.indexes.clone(),
            index_kind: self.index_kind,
            place: self.place.clone(),
            key: self.key.clone(),
        })
    }

    /// Whether `other` has the same data key (a copy of this store, or this store elsewhere):
    /// compared through a key derived for that only.
    pub(crate) fn shares_data_key_with(&self, other: &Store) -> bool {
        const LABEL: &str = "gabarit/store/same-data-key/v1";
        *self.key.derive(LABEL) == *other.key.derive(LABEL)
    }

    /// Where it keeps its records.
    pub fn place(&self) -> &Place {
        &self.place
    }

    /// The data directory (none for a store on PostgreSQL).
    pub fn root(&self) -> Option<&Path> {
        match &self.place {
            Place::Dir(root) => Some(root),
            Place::Postgres { .. } => None,
        }
    }

    /// Where uploaded files are kept: `uploads/` in the data directory, or the folder named
    /// with a database.
    pub fn uploads_dir(&self) -> PathBuf {
        match &self.place {
            Place::Dir(root) => root.join("uploads"),
            Place::Postgres { uploads, .. } => uploads.clone(),
        }
    }

    /// The kind of its vector index.
    pub fn index_kind(&self) -> IndexKind {
        self.index_kind
    }

    /// Templates the indexes hold, of every pack (a count: no record); opens the indexes.
    pub fn templates_held(&self) -> Result<usize> {
        let mut n = 0;
        for pack in self.packs_in_use()? {
            n += self.index(&pack)?.len();
        }
        Ok(n)
    }

    /// The largest lag of the replica the indexes in use read from, in seconds (none without a
    /// replica); opens the indexes.
    pub fn replica_lag(&self) -> Result<Option<f64>> {
        let mut lag: Option<f64> = None;
        for pack in self.packs_in_use()? {
            if let Some(l) = self.index(&pack)?.staleness()? {
                lag = Some(lag.map_or(l, |m| m.max(l)));
            }
        }
        Ok(lag)
    }

    /// The lag beyond which a search reports its replica's (none without a replica).
    pub(crate) fn replica_max_lag(&self) -> Option<std::time::Duration> {
        match &self.place {
            Place::Postgres { replica: Some(r), .. } => Some(r.max_lag),
            Place::Dir(_) | Place::Postgres { .. } => None,
        }
    }

    /// Opens the indexes of every pack in use now (a server does at start, so that it holds
    /// them from then on and reports a problem before it serves).
    pub fn open_index_now(&self) -> Result<()> {
        for pack in self.packs_in_use()? {
            self.index(&pack)?;
        }
        Ok(())
    }

    /// Makes every opened index's changes durable and writes what lets the next open start
    /// quickly (a compressed index's codes, a graph index's graph): what a server does when it
    /// stops and after an ingestion job. The indexes stay open.
    pub fn checkpoint_indexes(&self) -> Result<()> {
        let opened: Vec<_> =
            self.indexes.opened.read().unwrap_or_else(PoisonError::into_inner).values().cloned().collect();
        for index in opened {
            index.checkpoint()?;
        }
        Ok(())
    }

    /// Sets the breadth of graph searches (more: better recall, slower) of every index, opened
    /// now or later; no effect on an exact index.
    pub fn set_ef_search(&self, ef: usize) -> Result<()> {
        *self.indexes.ef_search.lock().unwrap_or_else(PoisonError::into_inner) = Some(ef);
        for index in self.indexes.opened.read().unwrap_or_else(PoisonError::into_inner).values() {
            index.set_ef_search(ef);
        }
        Ok(())
    }

    /// How many background jobs are in each state (counts: no record).
    pub fn job_counts(&self) -> Result<Vec<(String, u64)>> {
        Ok(self.catalog.job_counts()?)
    }

    /// Re-wraps the data key under a new key-encryption key (records stay as they are).
    pub fn rotate_kek(&self, old: &Kek, new: &Kek) -> Result<()> {
        match &self.place {
            Place::Dir(root) => Keyring::rotate(root.join("keyring.json"), old, new).map_err(crypto_err),
            Place::Postgres { url, .. } => {
                let json = gabarit_catalog::pg::read_keyring(url)?
                    .ok_or_else(|| Error::Invalid(format!("{} has no keyring", self.place.name())))?;
                let place = gabarit_catalog::pg::keyring_place(url)?;
                let rotated = Keyring::rotate_bytes(&place, &json, old, new).map_err(crypto_err)?;
                Ok(gabarit_catalog::pg::replace_keyring(url, &json, &rotated)?)
            }
        }
    }
}

impl From<PathBuf> for Place {
    fn from(root: PathBuf) -> Place {
        Place::Dir(root)
    }
}

impl From<&Place> for Place {
    fn from(place: &Place) -> Place {
        place.clone()
    }
}

impl From<&Path> for Place {
    fn from(root: &Path) -> Place {
        Place::Dir(root.to_path_buf())
    }
}

impl From<&PathBuf> for Place {
    fn from(root: &PathBuf) -> Place {
        Place::Dir(root.clone())
    }
}

/// Templates added per transaction when a pgvector index catches up with its catalog.
const CATCH_UP_BATCH: usize = 2000;

/// A catch-up adding at least this many templates, and more than the index holds, loads them
/// without the HNSW index and builds it once at the end.
const BULK_LOAD_FROM: u64 = 5_000;

/// Maintenance memory for that build (MiB): about 2.5 KB a 512-component template, so a
/// million are built in memory.
const BULK_BUILD_MEMORY_MIB: u32 = 3072;

/// The table of a pack's templates in PostgreSQL: `templates_<pack>_<hash prefix>`.
fn pg_table(pack: &PackKey) -> String {
    let name: String = pack.name.chars().take(24).map(|c| if c == '-' { '_' } else { c }).collect();
    format!("templates_{name}_{}", pack.sha256.get(..12).unwrap_or(&pack.sha256))
}

/// Deletes an uploaded file, and its upload's folder once that holds nothing more (never the
/// uploads folder itself).
pub(crate) fn remove_upload(file: &Path, uploads: &Path) -> Result<()> {
    fs_err::remove_file(file).map_err(Error::Io)?;
    if let Some(dir) = file.parent().filter(|d| *d != uploads)
        && fs_err::read_dir(dir).map_err(Error::Io)?.next().is_none()
    {
        fs_err::remove_dir(dir).map_err(Error::Io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_directory_made_when_the_default_kind_was_another_keeps_its_kind() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        let kek = Kek::generate().unwrap();
        assert_eq!(Store::kind_for(&Place::Dir(root.clone())).unwrap(), IndexKind::Compressed, "a new one");
        drop(Store::create_with(root.clone(), &kek, IndexKind::Graph).unwrap());
        assert_eq!(Store::kind_for(&Place::Dir(root.clone())).unwrap(), IndexKind::Graph);
        let store = Store::create(root.clone(), &kek).unwrap();
        assert_eq!(store.index_kind(), IndexKind::Graph, "opened as it is, not refused for another kind");
        drop(store);
        assert!(Store::create_with(root, &kek, IndexKind::Compressed).is_err(), "another kind asked for explicitly");
    }

    #[test]
    fn collections_made_before_packs_were_recorded_hold_the_built_in_buffalo_s_templates() {
        // The catalog's migration 10 records this hash for old collections; if buffalo_s's
        // templates ever change (another file, alignment, averaging), they must not be mixed
        // with the old ones: that change is a new pack, and this test says so.
        let key = pack_key(&gabarit_inference::Pack::builtin("buffalo_s").expect("built-in pack"));
        assert_eq!(key, PackKey::legacy());
    }

    #[test]
    fn each_pack_has_its_own_index_folder_and_a_hand_edited_pack_name_is_refused() {
        let root = Path::new("/data");
        let open = PackKey { name: "open".into(), sha256: "ab".repeat(32) };
        assert_eq!(IndexKind::Graph.dir(root, &PackKey::legacy()), root.join("graph"));
        assert_eq!(IndexKind::Exact.dir(root, &PackKey::legacy()), root.join("index"));
        assert_eq!(IndexKind::Graph.dir(root, &open), root.join("graph-open-abababababab"));
        assert_eq!(pack_dim(&PackKey::legacy()).unwrap(), 512);
        assert_eq!(pack_dim(&open).unwrap(), 128);
        for name in ["../x", "", "Open", "a/b"] {
            let bad = PackKey { name: name.into(), sha256: "ab".repeat(32) };
            assert!(matches!(pack_dim(&bad), Err(Error::Internal(_))), "{name:?}");
        }
        let bad = PackKey { name: "open".into(), sha256: "../..".into() };
        assert!(matches!(pack_dim(&bad), Err(Error::Internal(_))));
    }
}
