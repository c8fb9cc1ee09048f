//! Re-embedding a collection with another model pack: the new templates are made beside the
//! old ones (which stay searchable), batch by batch, so that a stopped run resumes where it
//! was; the collection changes over to the new pack in one transaction once every face has
//! its new template (or is reported unreadable).

use crate::{Catalog, Error, PackKey, Result, Tx, now};

/// A collection's re-embedding under way.
#[derive(Debug, Clone, PartialEq)]
pub struct Reembedding {
    /// The pack its templates are being made with.
    pub pack: PackKey,
    /// The backend and precision making them.
    pub engine: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// Who started it.
    pub started_by: String,
    /// Faces with their new template already made.
    pub made: u64,
    /// Faces whose image could not be read (they will have no template).
    pub unreadable: u64,
}

/// A face's new template, or why it has none.
#[derive(Debug, Clone, PartialEq)]
pub enum NewTemplate {
    /// The quantised template and its scale.
    Made(Vec<i8>, f32),
    /// Its image (or video frame) could not be read: the reason.
    Unreadable(String),
}

/// What changing a collection over to its new pack did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChangedOver {
    /// The pack before.
    pub from: PackKey,
    /// The pack now.
    pub to: PackKey,
    /// Templates replaced.
    pub templates: u64,
    /// Faces left without a template (their image could not be read), by id.
    pub unreadable: Vec<u64>,
}

impl Catalog {
    /// The re-embedding of a collection under way, if any.
    pub fn reembedding(&self, collection: u32) -> Result<Option<Reembedding>> {
        self.db().row(
            "SELECT pack, pack_sha256, started_at, started_by, engine,
                (SELECT COUNT(*) FROM reembedded WHERE collection_id = ?1 AND vector IS NOT NULL),
                (SELECT COUNT(*) FROM reembedded WHERE collection_id = ?1 AND vector IS NULL)
             FROM reembeds WHERE collection_id = ?1",
            &[&collection],
            |r| {
                Ok(Reembedding {
                    pack: PackKey { name: r.get(0)?, sha256: r.get(1)? },
                    started_at: r.get(2)?,
                    started_by: r.get(3)?,
                    engine: r.get(4)?,
                    made: r.get(5)?,
                    unreadable: r.get(6)?,
                })
            },
        )
    }

    /// Faces of the collection that have a template and no new one yet (at most `limit`, by
    /// id): what a re-embedding has left to do.
    pub fn faces_to_reembed(&self, collection: u32, limit: usize) -> Result<Vec<u64>> {
        self.db().rows(
            "SELECT t.face_id FROM templates t WHERE t.collection_id = ?1
                 AND NOT EXISTS (SELECT 1 FROM reembedded r WHERE r.face_id = t.face_id)
             ORDER BY t.face_id LIMIT ?2",
            &[&collection, &limit],
            |r| r.get(0),
        )
    }

    /// How many faces of the collection have a template and no new one yet.
    pub fn faces_left_to_reembed(&self, collection: u32) -> Result<u64> {
        self.count(
            "SELECT COUNT(*) FROM templates t WHERE t.collection_id = ?1
                 AND NOT EXISTS (SELECT 1 FROM reembedded r WHERE r.face_id = t.face_id)",
            &[&collection],
        )
    }
}

impl Tx<'_> {
    /// Starts re-embedding the collection with `pack` run by `engine` (its templates stay as
    /// they are until [`Tx::change_over`]); starting again with the same pack and engine
    /// resumes, with another is refused while one is under way.
    pub fn begin_reembed(&self, collection: u32, pack: &PackKey, engine: &str, by: &str) -> Result<Reembedding> {
        if let Some(under_way) = self.reembedding(collection)? {
            if under_way.pack == *pack && under_way.engine == engine {
                return Ok(under_way);
            }
            return Err(Error::Invalid(format!(
                "a re-embedding with pack {} on {} is under way: finish it (run it again with the same pack, \
                 --backend and --precision) before another",
                under_way.pack, under_way.engine
            )));
        }
        self.db().execute(
            "INSERT INTO reembeds (collection_id, pack, pack_sha256, engine, started_at, started_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            &[&collection, &pack.name, &pack.sha256, &engine, &now(), &by],
        )?;
        self.reembedding(collection)?.ok_or_else(|| Error::Invalid("the re-embedding was not recorded".into()))
    }

    /// Keeps the new templates of these faces of the collection (sealed like every template).
    pub fn keep_reembedded(&self, collection: u32, faces: &[(u64, NewTemplate)]) -> Result<()> {
        for (face, new) in faces {
            let (scale, blob, unreadable) = match new {
                NewTemplate::Made(codes, scale) => {
                    let (blob, scale) = self.seal_template(codes, *scale, &face.to_le_bytes())?;
                    (Some(scale), Some(blob), None)
                }
                NewTemplate::Unreadable(why) => (None, None, Some(why.as_str())),
            };
            self.db().execute(
                "INSERT INTO reembedded (face_id, collection_id, scale, vector, unreadable) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (face_id) DO UPDATE SET collection_id = excluded.collection_id, scale = excluded.scale,
                     vector = excluded.vector, unreadable = excluded.unreadable",
                &[face, &collection, &scale, &blob, &unreadable],
            )?;
        }
        Ok(())
    }

    /// Changes the collection over to its new pack: every template replaced by its new one,
    /// those of unreadable images deleted, the collection's pack recorded. Refused while a
    /// face has no new template yet.
    pub fn change_over(&self, collection: u32) -> Result<ChangedOver> {
        let under_way = self
            .reembedding(collection)?
            .ok_or_else(|| Error::Invalid(format!("collection {collection} is not being re-embedded")))?;
        let left = self.faces_left_to_reembed(collection)?;
        if left > 0 {
            return Err(Error::Invalid(format!("{left} face(s) have no new template yet: run the re-embedding again")));
        }
        let from = self
            .db()
            .row("SELECT pack, pack_sha256 FROM collections WHERE id = ?1", &[&collection], |r| {
                Ok(PackKey { name: r.get(0)?, sha256: r.get(1)? })
            })?
            .ok_or_else(|| Error::NotFound { kind: "collection", name: collection.to_string() })?;
        let unreadable = self.db().rows(
            "SELECT r.face_id FROM reembedded r JOIN templates t ON t.face_id = r.face_id
             WHERE r.collection_id = ?1 AND r.vector IS NULL ORDER BY r.face_id",
            &[&collection],
            |r| r.get(0),
        )?;
        self.db().execute(
            "DELETE FROM templates WHERE collection_id = ?1 AND face_id IN
                 (SELECT face_id FROM reembedded WHERE collection_id = ?1 AND vector IS NULL)",
            &[&collection],
        )?;
        let templates = self.db().execute(
            "UPDATE templates SET
                 scale = (SELECT r.scale FROM reembedded r WHERE r.face_id = templates.face_id),
                 vector = (SELECT r.vector FROM reembedded r WHERE r.face_id = templates.face_id)
             WHERE collection_id = ?1",
            &[&collection],
        )?;
        self.db().execute(
            "UPDATE collections SET pack = ?2, pack_sha256 = ?3, engine = ?4 WHERE id = ?1",
            &[&collection, &under_way.pack.name, &under_way.pack.sha256, &under_way.engine],
        )?;
        self.db().execute("DELETE FROM reembedded WHERE collection_id = ?1", &[&collection])?;
        self.db().execute("DELETE FROM reembeds WHERE collection_id = ?1", &[&collection])?;
        Ok(ChangedOver { from, to: under_way.pack, templates, unreadable })
    }
}
