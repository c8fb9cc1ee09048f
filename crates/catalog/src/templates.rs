//! Templates: sealed at rest with the data key, opened when read, counted by collection or
//! pack.

use crate::sql::Param;
use crate::{Catalog, Error, PackKey, Result, StoredTemplate};

/// The bytes sealed for a template: scale (f32 LE) then the codes.
fn template_plaintext(vector: &[i8], scale: f32) -> Vec<u8> {
    let mut p = scale.to_le_bytes().to_vec();
    p.extend(vector.iter().map(|v| *v as u8));
    p
}

fn split_plaintext(p: &[u8]) -> (Vec<i8>, f32) {
    let scale = f32::from_le_bytes([p[0], p[1], p[2], p[3]]);
    (p[4..].iter().map(|b| *b as i8).collect(), scale)
}

impl Catalog {
    /// Seals a template for storage (aad binds it to its row), or stores it plain without key.
    pub(crate) fn seal_template(&self, vector: &[i8], scale: f32, aad: &[u8]) -> Result<(Vec<u8>, f32)> {
        match &self.key {
            None => Ok((vector.iter().map(|v| *v as u8).collect(), scale)),
            Some(k) => {
                let sealed = k.seal(&template_plaintext(vector, scale), aad).map_err(|e| Error::Crypto {
                    path: self.path.clone(),
                    what: "a template".into(),
                    reason: format!("cannot be encrypted ({e})"),
                })?;
                Ok((sealed, 0.0))
            }
        }
    }

    /// Opens a stored template.
    pub(crate) fn open_template(&self, blob: &[u8], scale: f32, aad: &[u8]) -> Result<(Vec<i8>, f32)> {
        match &self.key {
            None => Ok((blob.iter().map(|b| *b as i8).collect(), scale)),
            Some(k) => {
                let plain = k.open(blob, aad).map_err(|e| Error::Crypto {
                    path: self.path.clone(),
                    what: "a template".into(),
                    reason: format!("cannot be decrypted with this key ({e})"),
                })?;
                if plain.len() < 4 {
                    return Err(Error::Crypto {
                        path: self.path.clone(),
                        what: "a template".into(),
                        reason: "too short once decrypted".into(),
                    });
                }
                Ok(split_plaintext(&plain))
            }
        }
    }

    /// Every stored template (for building or checking the vector index).
    pub fn templates(&self, each: impl FnMut(StoredTemplate)) -> Result<()> {
        self.templates_where("", &[], each)
    }

    /// The templates of the collections of one pack (for building or checking its index).
    pub fn templates_of(&self, pack: &PackKey, each: impl FnMut(StoredTemplate)) -> Result<()> {
        self.templates_where(
            "JOIN collections c ON c.id = t.collection_id WHERE c.pack = ?1 AND c.pack_sha256 = ?2",
            &[&pack.name, &pack.sha256],
            each,
        )
    }

    /// The templates `filter` (joins and a condition on `templates t`) keeps, by face id.
    fn templates_where(&self, filter: &str, params: &[&dyn Param], mut each: impl FnMut(StoredTemplate)) -> Result<()> {
        let sql = format!(
            "SELECT t.face_id, t.collection_id, t.scale, t.vector FROM templates t {filter} ORDER BY t.face_id"
        );
        self.db().each(&sql, params, |r| {
            let blob: Vec<u8> = r.get(3)?;
            let face_id: u64 = r.get(0)?;
            let (vector, scale) = self.open_template(&blob, r.get(2)?, &face_id.to_le_bytes())?;
            each(StoredTemplate { face_id, collection_id: r.get(1)?, scale, vector });
            Ok(())
        })
    }

    /// Number of templates of the collections of one pack.
    pub fn template_count_of(&self, pack: &PackKey) -> Result<u64> {
        self.count(
            "SELECT COUNT(*) FROM templates t JOIN collections c ON c.id = t.collection_id
             WHERE c.pack = ?1 AND c.pack_sha256 = ?2",
            &[&pack.name, &pack.sha256],
        )
    }

    /// The packs of the collections there are, and those collections are being re-embedded
    /// with, in order (each once).
    pub fn packs_in_use(&self) -> Result<Vec<PackKey>> {
        self.db().rows(
            "SELECT pack, pack_sha256 FROM collections UNION SELECT pack, pack_sha256 FROM reembeds
             ORDER BY 1, 2",
            &[],
            |r| Ok(PackKey { name: r.get(0)?, sha256: r.get(1)? }),
        )
    }

    /// The count a `SELECT COUNT(*) …` gives.
    pub(crate) fn count(&self, sql: &str, params: &[&dyn Param]) -> Result<u64> {
        Ok(self.db().row(sql, params, |r| r.get::<u64>(0))?.unwrap_or(0))
    }

    /// Number of templates, in the given collections or all.
    pub fn template_count(&self, collections: Option<&[u32]>) -> Result<u64> {
        match collections {
            None => self.count("SELECT COUNT(*) FROM templates", &[]),
            Some(ids) => {
                let mut n = 0u64;
                for id in ids {
                    n += self.count("SELECT COUNT(*) FROM templates WHERE collection_id = ?1", &[id])?;
                }
                Ok(n)
            }
        }
    }
}
