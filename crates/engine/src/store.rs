//! A data directory: the SQLite catalog (source of truth) and the vector index derived from
//! it, kept consistent.
//!
//! Writes go to the catalog first (one transaction per batch), then to the index. A crash in
//! between leaves the index behind the catalog; opening the store notices (the counts
//! differ) and rebuilds the index from the catalog's templates, so search always sees exactly
//! what the catalog holds.
//!
//! Templates are encrypted at rest (AES-256-GCM) in both the catalog and the index files,
//! under the data directory's data key, itself stored only wrapped by a key-encryption key
//! (KEK) kept outside the data directory (`keyring.json` holds the wrapped key).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gabarit_catalog::Catalog;
use gabarit_crypto::{DataKey, Kek, Keyring};
use gabarit_index::{FlatIndex, RecordCipher, VectorIndex};

use crate::{Error, Result};

/// The dimension of templates (the current pack's).
pub const TEMPLATE_DIM: usize = 512;

/// A data directory opened for use.
pub struct Store {
    /// The catalog.
    pub catalog: Catalog,
    /// The exact vector index.
    pub index: FlatIndex,
    root: PathBuf,
    keyring: PathBuf,
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
}

fn crypto_err(e: gabarit_crypto::Error) -> Error {
    Error::Invalid(e.to_string())
}

impl Store {
    /// Creates the data directory `root` (catalog and keyring) if needed, then opens it.
    pub fn create(root: &Path, kek: &Kek) -> Result<Store> {
        fs_err::create_dir_all(root).map_err(Error::Io)?;
        let keyring = root.join("keyring.json");
        if !keyring.exists() {
            if root.join("catalog.db").exists() {
                return Err(Error::Invalid(format!(
                    "{}: a catalog without a keyring cannot be encrypted in place",
                    root.display()
                )));
            }
            Keyring::create(&keyring, kek).map_err(crypto_err)?;
        }
        Self::open(root, kek)
    }

    /// Opens the data directory `root` with the key-encryption key.
    pub fn open(root: &Path, kek: &Kek) -> Result<Store> {
        let keyring = root.join("keyring.json");
        if !keyring.is_file() {
            return Err(Error::Invalid(format!("{} has no keyring.json: run `gabarit init`", root.display())));
        }
        let key = Arc::new(Keyring::open(&keyring, kek).map_err(crypto_err)?);
        let mut catalog = Catalog::open(&root.join("catalog.db"))?;
        catalog.set_data_key(key.clone());
        let cipher = || -> Option<Arc<dyn RecordCipher>> { Some(Arc::new(Sealer(key.clone()))) };
        let index_dir = root.join("index");
        let opened = FlatIndex::open_with(&index_dir, TEMPLATE_DIM, cipher());
        let expected = catalog.template_count(None)?;
        let mut index = match opened {
            Ok(i) if i.len() as u64 == expected => i,
            // Locked by another process, unreadable files: never delete, report.
            Err(e @ (gabarit_index::Error::Io { .. } | gabarit_index::Error::UnsupportedDimension { .. })) => {
                return Err(e.into());
            }
            other => {
                match &other {
                    Ok(i) => tracing::warn!(
                        index = i.len(),
                        catalog = expected,
                        "vector index behind the catalog: rebuilding"
                    ),
                    Err(e) => tracing::warn!(error = %e, "vector index unreadable: rebuilding from the catalog"),
                }
                drop(other);
                if index_dir.exists() {
                    fs_err::remove_dir_all(&index_dir).map_err(Error::Io)?;
                }
                FlatIndex::open_with(&index_dir, TEMPLATE_DIM, cipher())?
            }
        };
        if index.is_empty() && expected > 0 {
            let mut failed = None;
            catalog.templates(|t| {
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
        Ok(Store { catalog, index, root: root.to_path_buf(), keyring })
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Re-wraps the data key under a new key-encryption key (records stay as they are).
    pub fn rotate_kek(&self, old: &Kek, new: &Kek) -> Result<()> {
        Keyring::rotate(&self.keyring, old, new).map_err(crypto_err)
    }
}
