//! A data directory: the SQLite catalog (source of truth) and the vector index derived from
//! it, kept consistent.
//!
//! Writes go to the catalog first (one transaction per batch), then to the index. A crash in
//! between leaves the index behind the catalog; opening the store notices (the counts
//! differ) and rebuilds the index from the catalog's templates, so search always sees exactly
//! what the catalog holds.

use std::path::{Path, PathBuf};

use gabarit_catalog::Catalog;
use gabarit_index::{FlatIndex, VectorIndex};

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
}

impl Store {
    /// Opens (creating if needed) the data directory `root`.
    pub fn open(root: &Path) -> Result<Store> {
        fs_err::create_dir_all(root).map_err(Error::Io)?;
        let catalog = Catalog::open(&root.join("catalog.db"))?;
        let index_dir = root.join("index");
        let mut index = FlatIndex::open(&index_dir, TEMPLATE_DIM)?;
        let expected = catalog.template_count(None)?;
        if index.len() as u64 != expected {
            tracing::warn!(index = index.len(), catalog = expected, "vector index behind the catalog: rebuilding");
            drop(index);
            fs_err::remove_dir_all(&index_dir).map_err(Error::Io)?;
            index = FlatIndex::open(&index_dir, TEMPLATE_DIM)?;
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
        Ok(Store { catalog, index, root: root.to_path_buf() })
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }
}
