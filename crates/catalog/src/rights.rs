//! Rights requests, suppression templates, and physical deletion of faces and images.

use serde::{Deserialize, Serialize};

use crate::sql::{Db, Row};
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

fn request_row(r: &Row<'_>) -> Result<RightsRequest> {
    Ok(RightsRequest {
        id: r.get(0)?,
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
            .db()
            .row(&format!("{REQUEST_SELECT} WHERE id = ?1"), &[&id], request_row)?
            .ok_or_else(|| Error::NotFound { kind: "rights request", name: id.to_string() })?;
        req.runs = self.request_runs(id)?;
        Ok(req)
    }

    /// Every rights request, newest first.
    pub fn requests(&self) -> Result<Vec<RightsRequest>> {
        let mut out = self.db().rows(&format!("{REQUEST_SELECT} ORDER BY id DESC"), &[], request_row)?;
        for r in &mut out {
            r.runs = self.request_runs(r.id)?;
        }
        Ok(out)
    }

    fn request_runs(&self, id: u64) -> Result<Vec<RequestRun>> {
        self.db().rows(
            "SELECT at, photo_sha256, outcome FROM request_runs WHERE request_id = ?1 ORDER BY id",
            &[&id],
            |r| Ok(RequestRun { at: r.get(0)?, photo_sha256: r.get(1)?, outcome: r.get(2)? }),
        )
    }

    /// The photos erased on request (see [`ErasedContent`]); needs the data key.
    pub fn erased_content(&self) -> Result<ErasedContent> {
        let key =
            self.key.as_ref().ok_or(Error::Locked { path: self.path.clone(), what: "the erased photos' register" })?;
        let tags: Vec<(String, u64)> =
            self.db().rows("SELECT tag, request_id FROM erased_content", &[], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(ErasedContent { key: key.mac_key(ERASED_CONTENT_KEY), tags: tags.into_iter().collect() })
    }

    /// How many suppression templates (objections) there are for one pack.
    pub fn suppression_count(&self, pack: &PackKey) -> Result<u64> {
        self.count(
            "SELECT COUNT(*) FROM suppressions WHERE pack = ?1 AND pack_sha256 = ?2",
            &[&pack.name, &pack.sha256],
        )
    }

    /// The suppression templates of one pack, as (vector, scale).
    pub fn suppressions(&self, pack: &PackKey) -> Result<Vec<(Vec<i8>, f32)>> {
        let rows: Vec<(Vec<u8>, f32, u64)> = self.db().rows(
            "SELECT vector, scale, request_id FROM suppressions WHERE pack = ?1 AND pack_sha256 = ?2 ORDER BY id",
            &[&pack.name, &pack.sha256],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        rows.into_iter()
            .map(|(blob, scale, request)| self.open_template(&blob, scale, &suppression_aad(request)))
            .collect()
    }

    /// The objections (request ids, in order) that have suppression templates but none of this
    /// pack: they would not hold over this pack's templates.
    pub fn objections_without(&self, pack: &PackKey) -> Result<Vec<u64>> {
        self.db().rows(
            "SELECT DISTINCT request_id FROM suppressions WHERE request_id NOT IN
                 (SELECT request_id FROM suppressions WHERE pack = ?1 AND pack_sha256 = ?2)
             ORDER BY request_id",
            &[&pack.name, &pack.sha256],
            |r| r.get(0),
        )
    }

    /// Images ingested into `collection` before `before` (RFC 3339), with their face ids.
    pub fn images_ingested_before(&self, collection: u32, before: &str) -> Result<Vec<(u64, Vec<u64>)>> {
        let ids: Vec<u64> = self.db().rows(
            "SELECT id FROM images WHERE collection_id = ?1 AND ingested_at < ?2 ORDER BY id",
            &[&collection, &before],
            |r| r.get(0),
        )?;
        let mut out = Vec::new();
        for id in ids {
            let faces = self.faces_of(id)?.into_iter().map(|f| f.face_id).collect();
            out.push((id, faces));
        }
        Ok(out)
    }

    /// Makes deleted rows physically absent. SQLite: secure_delete zeroes freed content, the
    /// WAL is checkpointed and truncated, and VACUUM rewrites the file. PostgreSQL: see
    /// [`checkpoint`](Self::checkpoint), which already rewrites what holds personal data.
    pub fn purge_free_pages(&self) -> Result<()> {
        match self.db() {
            Db::Lite(..) => {
                self.exec_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM; PRAGMA wal_checkpoint(TRUNCATE);")
            }
            Db::Pg(..) => self.checkpoint(),
        }
    }

    /// Makes what a committed deletion freed leave every file. SQLite: moves the WAL's pages
    /// into the database file and truncates the WAL; with secure_delete, freed content is then
    /// zeroes (no VACUUM: cheap at any size, but the file keeps its length). PostgreSQL, where
    /// a deleted row stays in its page until the table is rewritten: `VACUUM FULL` of the tables
    /// that hold faces, photos' paths, templates, names and query faces (new files, the old
    /// unlinked), then a new WAL segment and a checkpoint, so that the server deletes the
    /// segments holding the rows as written (with `wal_recycle = off`, no archive and no
    /// replication slot keeping them: the operator's part, `crates/catalog/README.md`).
    pub fn checkpoint(&self) -> Result<()> {
        match self.db() {
            Db::Lite(..) => self.exec_batch("PRAGMA wal_checkpoint(TRUNCATE);"),
            Db::Pg(..) => {
                let db = self.db();
                db.batch(&format!("VACUUM FULL {PERSONAL_TABLES}"))?;
                db.batch("SELECT pg_switch_wal()")?;
                db.batch("CHECKPOINT")
            }
        }
    }

    /// Counts of rights requests per kind and status.
    pub fn request_counts(&self) -> Result<Vec<(String, String, u64)>> {
        self.db().rows(
            "SELECT kind, status, COUNT(*) FROM rights_requests GROUP BY kind, status ORDER BY kind, status",
            &[],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
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
        let id: Option<u64> = self.db().row(
            "INSERT INTO rights_requests (kind, requester, verification, received_on, deadline, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
            &[&kind, &requester, &verification, &received_on, &deadline, &created_by, &now()],
            |r| r.get(0),
        )?;
        self.request(id.ok_or_else(|| Error::Invalid("a new request got no id".into()))?)
    }

    /// Records a run of a request: the first closes it with its outcome; a later run is a new
    /// entry under it and leaves the recorded outcome as it was.
    pub fn close_request(&self, id: u64, photo_sha256: &str, outcome: &str) -> Result<()> {
        let at = now();
        self.db().execute(
            "UPDATE rights_requests SET photo_sha256 = ?1, outcome = ?2, status = 'done'
             WHERE id = ?3 AND status <> 'done'",
            &[&photo_sha256, &outcome, &id],
        )?;
        self.db().execute(
            "INSERT INTO request_runs (request_id, at, photo_sha256, outcome) VALUES (?1, ?2, ?3, ?4)",
            &[&id, &at, &photo_sha256, &outcome],
        )?;
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
            added += self.db().execute(
                "INSERT INTO erased_content (tag, request_id, erased_at) VALUES (?1, ?2, ?3) ON CONFLICT (tag) DO NOTHING",
                &[&erased_tag(&key, sha), &request, &at],
            )?;
        }
        Ok(added)
    }

    /// Stores a suppression template (objection) of one pack.
    pub fn add_suppression(&self, request: u64, pack: &PackKey, vector: &[i8], scale: f32) -> Result<u64> {
        let (blob, scale) = self.seal_template(vector, scale, &suppression_aad(request))?;
        let id: Option<u64> = self.db().row(
            "INSERT INTO suppressions (request_id, created_at, scale, vector, pack, pack_sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
            &[&request, &now(), &scale, &blob, &pack.name, &pack.sha256],
            |r| r.get(0),
        )?;
        id.ok_or_else(|| Error::Invalid("a new suppression template got no id".into()))
    }

    /// Deletes faces (and their templates), then the images left without any face. Then
    /// [`Catalog::purge_free_pages`] makes the bytes leave the files.
    pub fn delete_faces(&self, face_ids: &[u64]) -> Result<Deleted> {
        let tx = self.db();
        let mut d = Deleted::default();
        let mut images = Vec::new();
        for id in face_ids {
            let image = tx.row("SELECT image_id FROM faces WHERE id = ?1", &[id], |r| r.get::<i64>(0))?;
            let Some(image) = image else { continue };
            d.templates += tx.execute("DELETE FROM templates WHERE face_id = ?1", &[id])?;
            d.faces += tx.execute("DELETE FROM faces WHERE id = ?1", &[id])?;
            images.push(image);
        }
        images.sort_unstable();
        images.dedup();
        for image in &images {
            tx.execute(
                &format!("{FORGET_JOB_FILE} AND NOT EXISTS (SELECT 1 FROM faces WHERE image_id = ?1)"),
                &[image],
            )?;
            d.images += tx.execute(
                "DELETE FROM images WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM faces WHERE image_id = ?1)",
                &[image],
            )?;
        }
        d.persons = tx.execute(DROP_EMPTY_PERSONS, &[])?;
        Ok(d)
    }

    /// Deletes images (their faces and templates included) by id. Then
    /// [`Catalog::purge_free_pages`] makes the bytes leave the files.
    pub fn delete_images(&self, image_ids: &[u64]) -> Result<Deleted> {
        let tx = self.db();
        let mut d = Deleted::default();
        for id in image_ids {
            d.templates +=
                tx.execute("DELETE FROM templates WHERE face_id IN (SELECT id FROM faces WHERE image_id = ?1)", &[id])?;
            d.faces += tx.execute("DELETE FROM faces WHERE image_id = ?1", &[id])?;
            tx.execute(FORGET_JOB_FILE, &[id])?;
            d.images += tx.execute("DELETE FROM images WHERE id = ?1", &[id])?;
        }
        d.persons = tx.execute(DROP_EMPTY_PERSONS, &[])?;
        Ok(d)
    }
}

/// Forgets what the ingestion jobs of image `?1`'s collection recorded about its file (the
/// photo's path is personal data too): run before the image itself is deleted.
const FORGET_JOB_FILE: &str = "DELETE FROM job_files WHERE uri = (SELECT uri FROM images WHERE id = ?1)
       AND job_id IN (SELECT j.id FROM jobs j JOIN images i ON i.collection_id = j.collection_id WHERE i.id = ?1)";

/// The tables a deletion of faces or images frees personal data in (PostgreSQL's
/// [`Catalog::checkpoint`] rewrites them).
const PERSONAL_TABLES: &str = "templates, faces, images, tracks, job_files, sources, persons, person_faces, person_not, \
                               grouping_pairs, grouping_searched, probes, candidates, reembedded";

fn suppression_aad(request: u64) -> Vec<u8> {
    let mut aad = b"suppression:".to_vec();
    aad.extend_from_slice(&request.to_le_bytes());
    aad
}
