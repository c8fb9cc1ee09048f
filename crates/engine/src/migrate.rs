//! Moving a store to another place (issue 17, `gabarit migrate --to`): a data directory into
//! PostgreSQL, or back, or to another directory or database.
//!
//! The target gets the source's keyring as it is (the same data key, wrapped by the same
//! key-encryption key), so the records move as stored: the audit chain's entries, the sealed
//! templates and the authenticated account rows stay valid and `audit verify` gives the same
//! answer on both sides. The catalog is copied table by table in chunks, each a transaction of
//! the target ([`gabarit_catalog::Catalog::copy_into`]): an interrupted migration run again
//! goes on where it stopped. Uploaded files are copied into the target's uploads folder, and
//! their paths in the records rewritten to it. The target's vector index is then built (a data
//! directory) or caught up (pgvector) from the templates copied.
//!
//! Verified at the end: each table's row count and digest on the target equal the source's
//! (with the uploads' paths rewritten), every uploaded file's bytes too, and the index holds
//! every template. Audited on both sides: the source records the migration's start (that entry
//! is copied with the rest) and its end, the target its arrival, each with the digest of the
//! content moved. The source is left as it was: the operator retires it once satisfied.
//! Servers and workers on the source must be stopped first: a change made during the copy
//! fails the verification.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use gabarit_catalog::{Rewrite, TableDigest};
use gabarit_governance::actions;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::store::{IndexKind, Kek, Place, Store, private};
use crate::{Error, Result};

/// Rows per chunk of the copy (one transaction of the target each).
pub const DEFAULT_CHUNK: usize = 2000;

/// What to migrate to.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// The new place.
    pub target: Place,
    /// The index kind of a new data directory (its default when `None`; a database keeps a
    /// pgvector index).
    pub index: Option<IndexKind>,
    /// Rows per chunk of the copy.
    pub chunk: usize,
}

/// A stage of a migration, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Copying the records (rows).
    Records,
    /// Copying uploaded files (files).
    Uploads,
    /// Building the target's vector index and checking everything (no count).
    Checking,
}

/// Where a migration is.
#[derive(Debug, Clone, Copy)]
pub struct MigrationProgress {
    /// The stage.
    pub stage: Stage,
    /// Rows or files done, of the stage.
    pub done: u64,
    /// Rows or files in all, of the stage.
    pub total: u64,
}

/// What a migration did and checked.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    /// The source, by name (a database without its password).
    pub from: String,
    /// The target, by name.
    pub to: String,
    /// Whether an interrupted migration was taken up again.
    pub resumed: bool,
    /// Tables compared.
    pub tables: usize,
    /// Rows the two stores hold, equal.
    pub rows: u64,
    /// Rows this run copied.
    pub copied: u64,
    /// Uploaded files the target holds, equal to the source's.
    pub uploads: u64,
    /// Their bytes.
    pub upload_bytes: u64,
    /// Templates the target's index holds (all of the catalog's).
    pub templates_indexed: usize,
    /// SHA-256 of the tables' digests: the content both stores hold.
    pub digest: String,
}

/// Copies `store` to `opts.target` (admin; the key-encryption key must open the store).
pub(crate) fn migrate(
    store: &mut Store,
    who: &Caller,
    kek: &Kek,
    opts: &MigrateOptions,
    progress: &mut dyn FnMut(MigrationProgress),
) -> Result<MigrationReport> {
    who.may::<actions::ManageUsers>()?;
    let (from, to) = (store.place().name(), opts.target.name());
    if same_place(store.place(), &opts.target) {
        return Err(Error::field("to", format!("{to} is the store being migrated")));
    }
    let keyring = keyring_of(store)?;
    let target_kind = match (&opts.target, opts.index) {
        (Place::Postgres { .. }, Some(kind)) if kind != IndexKind::Pgvector => {
            return Err(Error::field(
                "index",
                format!("{to}: a store on PostgreSQL keeps a pgvector index, not {}", kind.name()),
            ));
        }
        (place, kind) => kind.unwrap_or_else(|| IndexKind::default_for(place)),
    };
    prepare_target(&opts.target, target_kind, &keyring, kek)?;
    let mut target = Store::open(&opts.target, kek)?;
    if !target.shares_data_key_with(store) {
        return Err(Error::field("to", format!("{to} holds another store's records (another data key)")));
    }
    store.catalog.check_copy_target(&target.catalog)?;
    let resumed = target.catalog.audit_head()?.is_some();
    store.catalog.audit(
        who.name(),
        if resumed { "store_migrate_resume" } else { "store_migrate_begin" },
        json!({"to": to, "index": target_kind.name()}),
    )?;

    let uploads = uploads_move(store, &target)?;
    let rewrite = uploads.as_ref().map(|u| u.rewrite.clone());
    let copied = store.catalog.copy_into(&target.catalog, rewrite.as_ref(), opts.chunk, &mut |p| {
        progress(MigrationProgress { stage: Stage::Records, done: p.done, total: p.total });
        ControlFlow::Continue(())
    })?;
    let (files, upload_bytes) = match &uploads {
        Some(u) => copy_uploads(&u.from, &u.to, progress)?,
        None => (0, 0),
    };

    progress(MigrationProgress { stage: Stage::Checking, done: 0, total: 0 });
    let expected = store.catalog.content_digests(rewrite.as_ref())?;
    let found = target.catalog.content_digests(None)?;
    let differing: Vec<&str> =
        expected.iter().zip(&found).filter(|(a, b)| a != b).map(|(a, _)| a.table.as_str()).collect();
    if !differing.is_empty() || expected.len() != found.len() {
        return Err(Error::Invalid(format!(
            "{to} does not hold what {from} holds (tables {}): was the source changed during the migration? \
             Stop every server and worker on it, then migrate again into a new, empty target",
            differing.join(", ")
        )));
    }
    let templates = target.catalog.template_count(None)?;
    let templates_indexed = target.templates_held()?;
    if templates_indexed as u64 != templates {
        return Err(Error::Internal(format!(
            "{to}: the index holds {templates_indexed} templates of the {templates} copied"
        )));
    }
    let digest = digest_of(&found);
    let rows = found.iter().map(|t| t.rows).sum();
    target.catalog.audit(
        who.name(),
        "store_migrate_in",
        json!({"from": from, "rows": rows, "uploads": files, "templates": templates, "digest": digest}),
    )?;
    store.catalog.audit(
        who.name(),
        "store_migrate_out",
        json!({"to": to, "rows": rows, "uploads": files, "templates": templates, "digest": digest}),
    )?;
    Ok(MigrationReport {
        from,
        to,
        resumed,
        tables: found.len(),
        rows,
        copied: copied.rows,
        uploads: files,
        upload_bytes,
        templates_indexed,
        digest,
    })
}

fn same_place(a: &Place, b: &Place) -> bool {
    match (a, b) {
        (Place::Dir(x), Place::Dir(y)) => {
            x == y || matches!((x.canonicalize(), y.canonicalize()), (Ok(x), Ok(y)) if x == y)
        }
        (Place::Postgres { .. }, Place::Postgres { .. }) => a.name() == b.name(),
        (Place::Dir(_), Place::Postgres { .. }) | (Place::Postgres { .. }, Place::Dir(_)) => false,
    }
}

/// The source's keyring as stored (its JSON).
fn keyring_of(store: &Store) -> Result<Vec<u8>> {
    match store.place() {
        Place::Dir(root) => fs_err::read(root.join("keyring.json")).map_err(Error::Io),
        Place::Postgres { url, .. } => gabarit_catalog::pg::read_keyring(url)?
            .ok_or_else(|| Error::Invalid(format!("{} has no keyring", store.place().name()))),
    }
}

/// Makes the target a store with the source's keyring, unless it is one already (an earlier
/// migration's, interrupted: checked by the caller); refuses a folder holding anything else.
fn prepare_target(target: &Place, kind: IndexKind, keyring: &[u8], kek: &Kek) -> Result<()> {
    let name = target.name();
    // The keyring must open with this KEK before anything is written.
    gabarit_crypto::Keyring::open_bytes(Path::new(&name), keyring, kek).map_err(Error::Key)?;
    match target {
        Place::Dir(root) => {
            let fresh = !root.join("catalog.db").exists();
            if fresh && root.exists() && fs_err::read_dir(root).map_err(Error::Io)?.next().is_some() {
                return Err(Error::field("to", format!("{name} is a folder that is not empty and holds no catalog")));
            }
            Store::create_dir(root, kind, |path| private::write_file(path, keyring))
        }
        Place::Postgres { url, .. } => {
            if gabarit_catalog::pg::read_keyring(url)?.is_none() {
                gabarit_catalog::pg::keep_keyring(url, keyring)?;
            }
            Ok(())
        }
    }
}

/// Where uploaded files go, and the rewrite of their paths.
struct UploadsMove {
    from: PathBuf,
    to: PathBuf,
    rewrite: Rewrite,
}

/// The uploads folders of both stores and the rewrite between them, when the source has one
/// and the two differ.
fn uploads_move(source: &Store, target: &Store) -> Result<Option<UploadsMove>> {
    let Ok(from) = source.uploads_dir().canonicalize() else { return Ok(None) };
    let to = target.uploads_dir();
    private::create_dir(&to)?;
    let to = to.canonicalize().map_err(Error::Io)?;
    if from == to {
        return Ok(None);
    }
    let as_prefix = |dir: &Path| -> Result<String> {
        let text = dir.to_str().filter(|t| !t.chars().any(|c| c == '"' || c == '\\' || c.is_control()));
        text.map(|t| format!("{t}/")).ok_or_else(|| {
            Error::field(
                "uploads",
                format!("{}: a folder whose path has quotes, backslashes or control characters", dir.display()),
            )
        })
    };
    let rewrite = Rewrite { from: as_prefix(&from)?, to: as_prefix(&to)? };
    Ok(Some(UploadsMove { from, to, rewrite }))
}

/// Copies every uploaded file (not the folders of uploads being written) into `to`, the same
/// relative path, each file written aside then renamed; a file there already with the same
/// bytes is left. Returns the files and bytes the target holds.
fn copy_uploads(from: &Path, to: &Path, progress: &mut dyn FnMut(MigrationProgress)) -> Result<(u64, u64)> {
    remove_partial_copies(to)?;
    let mut files = Vec::new();
    list_files(from, from, &mut files)?;
    let total = files.len() as u64;
    let mut bytes = 0;
    for (done, rel) in files.iter().enumerate() {
        let (src, dst) = (from.join(rel), to.join(rel));
        let content = fs_err::read(&src).map_err(Error::Io)?;
        bytes += content.len() as u64;
        if !dst.is_file() || fs_err::read(&dst).map_err(Error::Io)? != content {
            if let Some(dir) = dst.parent() {
                private::create_dir(dir)?;
            }
            let aside = dst.with_file_name(format!(".migrating-{}", crate::random_hex(8)?));
            private::write_file(&aside, &content)?;
            fs_err::rename(&aside, &dst).map_err(Error::Io)?;
        }
        progress(MigrationProgress { stage: Stage::Uploads, done: done as u64 + 1, total });
    }
    Ok((total, bytes))
}

/// Deletes the files an interrupted copy left half-written under `dir` (`.migrating-…`): no
/// photo stays in the target that no record names.
fn remove_partial_copies(dir: &Path) -> Result<()> {
    for entry in fs_err::read_dir(dir).map_err(Error::Io)? {
        let entry = entry.map_err(Error::Io)?;
        let kind = entry.file_type().map_err(Error::Io)?;
        if kind.is_dir() {
            remove_partial_copies(&entry.path())?;
        } else if kind.is_file() && entry.file_name().to_string_lossy().starts_with(".migrating-") {
            fs_err::remove_file(entry.path()).map_err(Error::Io)?;
        }
    }
    Ok(())
}

/// The regular files under `dir`, relative to `root`, in order; links are not followed and the
/// folders of uploads being written (`.incoming-…`) are left out.
fn list_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> =
        fs_err::read_dir(dir).map_err(Error::Io)?.collect::<std::io::Result<Vec<_>>>().map_err(Error::Io)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let kind = entry.file_type().map_err(Error::Io)?;
        let path = entry.path();
        if kind.is_dir() && !entry.file_name().to_string_lossy().starts_with(".incoming-") {
            list_files(root, &path, out)?;
        } else if kind.is_file() && !entry.file_name().to_string_lossy().starts_with(".migrating-") {
            out.push(path.strip_prefix(root).map_err(|e| Error::Internal(e.to_string()))?.to_path_buf());
        }
    }
    Ok(())
}

/// One SHA-256 over the tables' digests.
fn digest_of(tables: &[TableDigest]) -> String {
    let mut h = Sha256::new();
    for t in tables {
        h.update(format!("{} {} {}\n", t.table, t.rows, t.sha256).as_bytes());
    }
    hex::encode(h.finalize())
}
