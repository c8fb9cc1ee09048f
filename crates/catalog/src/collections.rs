//! Collections: reading them (alone or with their counts) and creating one.

use crate::sql::Row;
use crate::{Catalog, Collection, CollectionSummary, Error, Result, Scope, Tx, now};

/// The columns [`collection_row`] reads, in order.
const COLLECTION_COLUMNS: &str = "id, name, description, created_at, pack, pack_sha256, engine";

fn collection_row(r: &Row<'_>) -> Result<Collection> {
    Ok(Collection {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        created_at: r.get(3)?,
        pack: r.get(4)?,
        pack_sha256: r.get(5)?,
        engine: r.get(6)?,
    })
}

impl Catalog {
    /// The collection called `name`.
    pub fn collection(&self, name: &str) -> Result<Collection> {
        self.db()
            .row(&format!("SELECT {COLLECTION_COLUMNS} FROM collections WHERE name = ?1"), &[&name], collection_row)?
            .ok_or_else(|| Error::NotFound { kind: "collection", name: name.into() })
    }

    /// The collections called `names`, in that order, read by one statement (`NotFound` for
    /// the first name no collection has, as [`Catalog::collection`]).
    pub fn collections_named(&self, names: &[String]) -> Result<Vec<Collection>> {
        let all: std::collections::HashMap<String, Collection> = self
            .db()
            .rows(&format!("SELECT {COLLECTION_COLUMNS} FROM collections"), &[], collection_row)?
            .into_iter()
            .map(|c| (c.name.clone(), c))
            .collect();
        names
            .iter()
            .map(|name| {
                all.get(name).cloned().ok_or_else(|| Error::NotFound { kind: "collection", name: name.clone() })
            })
            .collect()
    }

    /// The collections within `scope`, by name (no counts: cheap at any size).
    pub fn collections_in(&self, scope: &Scope) -> Result<Vec<Collection>> {
        let mut all = self.db().rows(
            &format!("SELECT {COLLECTION_COLUMNS} FROM collections ORDER BY name"),
            &[],
            collection_row,
        )?;
        all.retain(|c| scope.covers(c.id));
        Ok(all)
    }

    /// The collections within `scope`, with their counts.
    pub fn collections(&self, scope: &Scope) -> Result<Vec<CollectionSummary>> {
        let mut all = self.summaries(None)?;
        all.retain(|c| scope.covers(c.collection.id));
        Ok(all)
    }

    /// One collection within `scope`, with its counts.
    pub fn collection_summary(&self, scope: &Scope, name: &str) -> Result<CollectionSummary> {
        self.summaries(Some(name))?
            .pop()
            .filter(|c| scope.covers(c.collection.id))
            .ok_or_else(|| Error::NotFound { kind: "collection", name: gabarit_governance::limits::shown(name) })
    }

    /// Collections with their counts: every one, or the one named.
    fn summaries(&self, name: Option<&str>) -> Result<Vec<CollectionSummary>> {
        // The counts come after the columns `collection_row` reads.
        let counts = COLLECTION_COLUMNS.split(',').count();
        self.db().rows(
            "SELECT c.id, c.name, c.description, c.created_at, c.pack, c.pack_sha256, c.engine,
                (SELECT COUNT(*) FROM images i WHERE i.collection_id = c.id),
                (SELECT COUNT(*) FROM faces f JOIN images i ON f.image_id = i.id WHERE i.collection_id = c.id),
                (SELECT COUNT(*) FROM templates t JOIN faces f ON t.face_id = f.id JOIN images i ON f.image_id = i.id WHERE i.collection_id = c.id)
             FROM collections c WHERE CAST(?1 AS text) IS NULL OR c.name = ?1 ORDER BY c.name",
            &[&name],
            |r| {
                Ok(CollectionSummary {
                    collection: collection_row(r)?,
                    images: r.get::<i64>(counts)? as u64,
                    faces: r.get::<i64>(counts + 1)? as u64,
                    templates: r.get::<i64>(counts + 2)? as u64,
                })
            },
        )
    }
}

impl Tx<'_> {
    /// Creates a collection holding the templates of `pack` (name, `Pack::templates_sha256`)
    /// made by `engine` (backend/precision).
    pub fn create_collection(
        &self,
        name: &str,
        description: &str,
        pack: (&str, &str),
        engine: &str,
    ) -> Result<Collection> {
        let name =
            gabarit_governance::limits::required("collection name", name, gabarit_governance::limits::COLLECTION_NAME)?;
        let description = gabarit_governance::limits::bounded(
            "description",
            description,
            gabarit_governance::limits::DESCRIPTION,
            true,
        )?;
        if self.collection(name).is_ok() {
            return Err(Error::AlreadyExists { kind: "collection", name: name.into() });
        }
        let created_at = now();
        self.db().execute(
            "INSERT INTO collections (name, description, created_at, pack, pack_sha256, engine)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[&name, &description, &created_at, &pack.0, &pack.1, &engine],
        )?;
        self.collection(name)
    }
}
