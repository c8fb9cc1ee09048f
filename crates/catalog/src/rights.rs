//! Rights requests, suppression templates, and physical deletion of faces and images.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{Catalog, Error, PackKey, Result, Tx, now};

/// A rights request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RightsRequest {
    /// Id.
    pub id: u64,
    /// access, erasure or objection.
    pub kind: String,
    /// Requester reference (a name or file number; no biometric data).
    pub requester: String,
    /// How identity was verified (ID document, existing account…).
    pub verification: String,
    /// Date received (YYYY-MM-DD).
    pub received_on: String,
    /// Legal deadline: one month after receipt (GDPR art. 12(3)).
    pub deadline: String,
    /// DPO who recorded it.
    pub created_by: String,
    /// open or done.
    pub status: String,
    /// SHA-256 of the photo used, once run.
    pub photo_sha256: Option<String>,
    /// Outcome summary of its first run (never rewritten: later runs are in `runs`).
    pub outcome: Option<String>,
    /// Every run of the request, oldest first.
    #[serde(default)]
    pub runs: Vec<RequestRun>,
}

/// One run of a rights request (the first closes it; a later run is recorded beside it).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRun {
    /// When (RFC 3339).
    pub at: String,
    /// SHA-256 of the photo used.
    pub photo_sha256: String,
    /// What it did.
    pub outcome: String,
}

/// The photos erased on request, by a keyed tag of their content hash: ingestion asks
/// [`ErasedContent::request_of`] before reading a file further. Holds no hash and no photo.
pub struct ErasedContent {
    key: gabarit_crypto::MacKey,
    tags: std::collections::HashMap<String, u64>,
}

impl ErasedContent {
    /// The request that erased a photo with this content hash (SHA-256, hex), if any.
    pub fn request_of(&self, sha256: &str) -> Option<u64> {
        if self.tags.is_empty() {
            return None;
        }
        self.tags.get(&erased_tag(&self.key, sha256)).copied()
    }

    /// How many photos are remembered.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }
}

const ERASED_CONTENT_KEY: &str = "gabarit/erased-content/v1";

fn erased_tag(key: &gabarit_crypto::MacKey, sha256: &str) -> String {
    key.tag(&[b"erased-content", sha256.to_ascii_lowercase().as_bytes()])
}

/// What a physical deletion removed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    /// Templates.
    pub templates: u64,
    /// Faces.
    pub faces: u64,
    /// Images left without faces, deleted too.
    pub images: u64,
    /// Persons (groups of faces) left without faces, deleted with their names.
    #[serde(default)]
    pub persons: u64,
}

/// Deletes the persons left without faces (after faces were deleted: their assignments,
/// marks and candidate pairs went with them), names included.
const DROP_EMPTY_PERSONS: &str =
    "DELETE FROM persons WHERE NOT EXISTS (SELECT 1 FROM person_faces pf WHERE pf.person_id = persons.id)";

fn request_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RightsRequest> {
    Ok(RightsRequest {
        id: r.get::<_, i64>(0)? as u64,
        kind: r.get(1)?,
        requester: r.get(2)?,
        verification: r.get(3)?,
        received_on: r.get(4)?,
        deadline: r.get(5)?,
        created_by: r.get(6)?,
        status: r.get(7)?,
        photo_sha256: r.get(8)?,
        outcome: r.get(9)?,
        runs: Vec::new(),
    })
}

const REQUEST_SELECT: &str = "SELECT id, kind, requester, verification, received_on, deadline, created_by, status, photo_sha256, outcome FROM rights_requests";

impl Catalog {
    /// A rights request.
    pub fn request(&self, id: u64) -> Result<RightsRequest> {
        let mut req = self
            .lite()?
            .query_row(&format!("{REQUEST_SELECT} WHERE id = ?1"), [id as i64], request_row)
            .optional()
            .map_err(self.err())?
            .ok_or_else(|| Error::NotFound { kind: "rights request", name: id.to_string() })?;
        req.runs = self.request_runs(id)?;
        Ok(req)
    }

    /// Every rights request, newest first.
    pub fn requests(&self) -> Result<Vec<RightsRequest>> {
        let mut stmt = self.lite()?.prepare(&format!("{REQUEST_SELECT} ORDER BY id DESC")).map_err(self.err())?;
        let rows = stmt.query_map([], request_row).map_err(self.err())?;
        let mut out = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())?;
        for r in &mut out {
            r.runs = self.request_runs(r.id)?;
        }
        Ok(out)
    }

    fn request_runs(&self, id: u64) -> Result<Vec<RequestRun>> {
        self.rows_of_with(
            "SELECT at, photo_sha256, outcome FROM request_runs WHERE request_id = ?1 ORDER BY id",
            [id as i64],
            |r| Ok(RequestRun { at: r.get(0)?, photo_sha256: r.get(1)?, outcome: r.get(2)? }),
        )
    }

    /// The photos erased on request (see [`ErasedContent`]); needs the data key.
    pub fn erased_content(&self) -> Result<ErasedContent> {
        let key =
            self.key.as_ref().ok_or(Error::Locked { path: self.path.clone(), what: "the erased photos' register" })?;
        let tags = self.rows_of_with("SELECT tag, request_id FROM erased_content", [], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        Ok(ErasedContent { key: key.mac_key(ERASED_CONTENT_KEY), tags: tags.into_iter().collect() })
    }

    /// How many suppression templates (objections) there are for one pack.
    pub fn suppression_count(&self, pack: &PackKey) -> Result<u64> {
        self.lite()?
            .query_row(
                "SELECT COUNT(*) FROM suppressions WHERE pack = ?1 AND pack_sha256 = ?2",
                params![pack.name, pack.sha256],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(self.err())
    }

    /// The suppression templates of one pack, as (vector, scale).
    pub fn suppressions(&self, pack: &PackKey) -> Result<Vec<(Vec<i8>, f32)>> {
        let rows = self.rows_of_with(
            "SELECT vector, scale, request_id FROM suppressions WHERE pack = ?1 AND pack_sha256 = ?2 ORDER BY id",
            params![pack.name, pack.sha256],
            |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, f32>(1)?, r.get::<_, i64>(2)? as u64)),
        )?;
        rows.into_iter()
            .map(|(blob, scale, request)| self.open_template(&blob, scale, &suppression_aad(request)))
            .collect()
    }

    /// The objections (request ids, in order) that have suppression templates but none of this
    /// pack: they would not hold over this pack's templates.
    pub fn objections_without(&self, pack: &PackKey) -> Result<Vec<u64>> {
        self.rows_of_with(
            "SELECT DISTINCT request_id FROM suppressions WHERE request_id NOT IN
                 (SELECT request_id FROM suppressions WHERE pack = ?1 AND pack_sha256 = ?2)
             ORDER BY request_id",
            params![pack.name, pack.sha256],
            |r| Ok(r.get::<_, i64>(0)? as u64),
        )
    }

    /// Images ingested into `collection` before `before` (RFC 3339), with their face ids.
    pub fn images_ingested_before(&self, collection: u32, before: &str) -> Result<Vec<(u64, Vec<u64>)>> {
        let mut stmt = self
            .lite()?
            .prepare("SELECT id FROM images WHERE collection_id = ?1 AND ingested_at < ?2 ORDER BY id")
            .map_err(self.err())?;
        let ids = stmt
            .query_map(params![collection, before], |r| r.get::<_, i64>(0))
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        let mut out = Vec::new();
        for id in ids {
            let faces = self.faces_of(id as u64)?.into_iter().map(|f| f.face_id).collect();
            out.push((id as u64, faces));
        }
        Ok(out)
    }

    /// Makes deleted rows physically absent: secure_delete zeroes freed content, the WAL is
    /// checkpointed and truncated, and VACUUM rewrites the file.
    pub fn purge_free_pages(&self) -> Result<()> {
        self.exec_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
    }

    /// Moves the WAL's pages into the database file and truncates the WAL: with secure_delete,
    /// what a committed deletion freed is then zeroes in every file (no VACUUM: cheap at any
    /// size, but the file keeps its length).
    pub fn checkpoint(&self) -> Result<()> {
        self.exec_batch("PRAGMA wal_checkpoint(TRUNCATE);")
    }

    /// Counts of rights requests per kind and status.
    pub fn request_counts(&self) -> Result<Vec<(String, String, u64)>> {
        let mut stmt = self
            .lite()?
            .prepare("SELECT kind, status, COUNT(*) FROM rights_requests GROUP BY kind, status ORDER BY kind, status")
            .map_err(self.err())?;
        let rows =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))).map_err(self.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())
    }
}

impl Tx<'_> {
    /// Records a rights request.
    pub fn open_request(
        &self,
        kind: &str,
        requester: &str,
        verification: &str,
        received_on: &str,
        deadline: &str,
        created_by: &str,
    ) -> Result<RightsRequest> {
        if !matches!(kind, "access" | "erasure" | "objection") {
            return Err(Error::Invalid(format!(
                "request kind {:?}: access, erasure or objection",
                gabarit_governance::limits::shown(kind)
            )));
        }
        use gabarit_governance::limits::{REQUEST_TEXT, required};
        let requester = required("requester", requester, REQUEST_TEXT)?;
        let verification = required("verification", verification, REQUEST_TEXT)?;
        self.lite()?
            .execute(
                "INSERT INTO rights_requests (kind, requester, verification, received_on, deadline, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![kind, requester, verification, received_on, deadline, created_by, now()],
            )
            .map_err(self.err())?;
        self.request(self.lite()?.last_insert_rowid() as u64)
    }

    /// Records a run of a request: the first closes it with its outcome; a later run is a new
    /// entry under it and leaves the recorded outcome as it was.
    pub fn close_request(&self, id: u64, photo_sha256: &str, outcome: &str) -> Result<()> {
        let at = now();
        self.lite()?
            .execute(
                "UPDATE rights_requests SET photo_sha256 = ?1, outcome = ?2, status = 'done'
                 WHERE id = ?3 AND status <> 'done'",
                params![photo_sha256, outcome, id as i64],
            )
            .map_err(self.err())?;
        self.lite()?
            .execute(
                "INSERT INTO request_runs (request_id, at, photo_sha256, outcome) VALUES (?1, ?2, ?3, ?4)",
                params![id as i64, at, photo_sha256, outcome],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Remembers that the photos with these content hashes (SHA-256, hex) were erased on
    /// `request` (a keyed tag of each hash is kept; a photo already remembered keeps its first
    /// request). Returns how many were new.
    pub fn remember_erased(&self, request: u64, sha256s: &[String]) -> Result<u64> {
        let key =
            self.key.as_ref().ok_or(Error::Locked { path: self.path.clone(), what: "the erased photos' register" })?;
        let key = key.mac_key(ERASED_CONTENT_KEY);
        let at = now();
        let mut added = 0;
        for sha in sha256s {
            added += self
                .lite()?
                .execute(
                    "INSERT OR IGNORE INTO erased_content (tag, request_id, erased_at) VALUES (?1, ?2, ?3)",
                    params![erased_tag(&key, sha), request as i64, at],
                )
                .map_err(self.err())? as u64;
        }
        Ok(added)
    }

    /// Stores a suppression template (objection) of one pack.
    pub fn add_suppression(&self, request: u64, pack: &PackKey, vector: &[i8], scale: f32) -> Result<u64> {
        let (blob, scale) = self.seal_template(vector, scale, &suppression_aad(request))?;
        self.lite()?
            .execute(
                "INSERT INTO suppressions (request_id, created_at, scale, vector, pack, pack_sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![request as i64, now(), scale, blob, pack.name, pack.sha256],
            )
            .map_err(self.err())?;
        Ok(self.lite()?.last_insert_rowid() as u64)
    }

    /// Deletes faces (and their templates), then the images left without any face. Then
    /// [`Catalog::purge_free_pages`] makes the bytes leave the files.
    pub fn delete_faces(&self, face_ids: &[u64]) -> Result<Deleted> {
        let err = |source| Error::Sqlite { path: self.path.clone(), source };
        let tx = &self.lite()?;
        let mut d = Deleted::default();
        let mut images = Vec::new();
        for &id in face_ids {
            let image: Option<i64> = tx
                .query_row("SELECT image_id FROM faces WHERE id = ?1", [id as i64], |r| r.get(0))
                .optional()
                .map_err(err)?;
            let Some(image) = image else { continue };
            d.templates += tx.execute("DELETE FROM templates WHERE face_id = ?1", [id as i64]).map_err(err)? as u64;
            d.faces += tx.execute("DELETE FROM faces WHERE id = ?1", [id as i64]).map_err(err)? as u64;
            images.push(image);
        }
        images.sort_unstable();
        images.dedup();
        for image in images {
            tx.execute(&format!("{FORGET_JOB_FILE} AND NOT EXISTS (SELECT 1 FROM faces WHERE image_id = ?1)"), [image])
                .map_err(err)?;
            d.images += tx
                .execute(
                    "DELETE FROM images WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM faces WHERE image_id = ?1)",
                    [image],
                )
                .map_err(err)? as u64;
        }
        d.persons = tx.execute(DROP_EMPTY_PERSONS, []).map_err(err)? as u64;
        Ok(d)
    }

    /// Deletes images (their faces and templates included) by id. Then
    /// [`Catalog::purge_free_pages`] makes the bytes leave the files.
    pub fn delete_images(&self, image_ids: &[u64]) -> Result<Deleted> {
        let err = |source| Error::Sqlite { path: self.path.clone(), source };
        let tx = &self.lite()?;
        let mut d = Deleted::default();
        for &id in image_ids {
            d.templates += tx
                .execute(
                    "DELETE FROM templates WHERE face_id IN (SELECT id FROM faces WHERE image_id = ?1)",
                    [id as i64],
                )
                .map_err(err)? as u64;
            d.faces += tx.execute("DELETE FROM faces WHERE image_id = ?1", [id as i64]).map_err(err)? as u64;
            tx.execute(FORGET_JOB_FILE, [id as i64]).map_err(err)?;
            d.images += tx.execute("DELETE FROM images WHERE id = ?1", [id as i64]).map_err(err)? as u64;
        }
        d.persons = tx.execute(DROP_EMPTY_PERSONS, []).map_err(err)? as u64;
        Ok(d)
    }
}

/// Forgets what the ingestion jobs of image `?1`'s collection recorded about its file (the
/// photo's path is personal data too): run before the image itself is deleted.
const FORGET_JOB_FILE: &str = "DELETE FROM job_files WHERE uri = (SELECT uri FROM images WHERE id = ?1)
       AND job_id IN (SELECT j.id FROM jobs j JOIN images i ON i.collection_id = j.collection_id WHERE i.id = ?1)";

fn suppression_aad(request: u64) -> Vec<u8> {
    let mut aad = b"suppression:".to_vec();
    aad.extend_from_slice(&request.to_le_bytes());
    aad
}
