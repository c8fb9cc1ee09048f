//! Ingestion: a job's bookkeeping (started, finished, the outcome of each file) and the
//! storing of a batch of images with their faces and templates.

use crate::{BatchItem, Catalog, Error, NewFace, Result, StoreOutcome, Tx, now};

/// Records a file's outcome, or replaces the one recorded (a resumed job): followed by the
/// values and [`REPLACE_FILE`].
const RECORD_FILE: &str = "INSERT INTO job_files (job_id, uri, outcome, detail, faces) VALUES";
const REPLACE_FILE: &str = "ON CONFLICT (job_id, uri) DO UPDATE SET outcome = excluded.outcome, detail = excluded.detail, faces = excluded.faces";

impl Catalog {
    /// Starts an ingestion job and returns its id.
    pub fn begin_job(&self, collection_id: u32, inputs: &[String]) -> Result<u64> {
        let args = serde_json::to_string(inputs).map_err(|e| Error::Invalid(e.to_string()))?;
        let id = self.db().row(
            "INSERT INTO jobs (kind, collection_id, args, state, started_at) VALUES ('ingest', ?1, ?2, 'running', ?3)
             RETURNING id",
            &[&collection_id, &args, &now()],
            |r| r.get::<u64>(0),
        )?;
        id.ok_or_else(|| Error::Invalid("a new job got no id".into()))
    }

    /// Marks a job finished.
    pub fn finish_job(&self, job: u64, state: &str) -> Result<()> {
        self.db().execute("UPDATE jobs SET state = ?1, finished_at = ?2 WHERE id = ?3", &[&state, &now(), &job])?;
        Ok(())
    }

    /// Records a file that was skipped before analysis (e.g. already present).
    pub fn record_outcome(&self, job: u64, uri: &str, outcome: &str, detail: &str) -> Result<()> {
        self.db()
            .execute(&format!("{RECORD_FILE} (?1, ?2, ?3, ?4, 0) {REPLACE_FILE}"), &[&job, &uri, &outcome, &detail])?;
        Ok(())
    }

    /// Outcomes of a job: (uri, outcome, detail, faces).
    pub fn job_files(&self, job: u64) -> Result<Vec<(String, String, String, u32)>> {
        self.db().rows(
            "SELECT uri, outcome, detail, faces FROM job_files WHERE job_id = ?1 ORDER BY uri",
            &[&job],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
    }
}

impl Tx<'_> {
    /// Stores a batch of items (in the transaction of its audit entry: all or nothing).
    pub fn store_batch(&self, job: u64, collection_id: u32, items: &[BatchItem]) -> Result<Vec<StoreOutcome>> {
        let tx = self.db();
        let mut outcomes = Vec::with_capacity(items.len());
        let ingested_at = now();
        for item in items {
            match item {
                BatchItem::Failed { uri, code, message } => {
                    tx.execute(
                        &format!("{RECORD_FILE} (?1, ?2, 'failed', ?3, 0) {REPLACE_FILE}"),
                        &[&job, uri, &format!("{code}: {message}")],
                    )?;
                    outcomes.push(StoreOutcome::Failed);
                }
                BatchItem::Image(img) => {
                    let exists = tx.row(
                        "SELECT id FROM images WHERE collection_id = ?1 AND sha256 = ?2",
                        &[&collection_id, &img.sha256],
                        |r| r.get::<i64>(0),
                    )?;
                    if exists.is_some() {
                        tx.execute(
                            &format!(
                                "{RECORD_FILE} (?1, ?2, 'duplicate', 'same content already in the collection', 0) {REPLACE_FILE}"
                            ),
                            &[&job, &img.uri],
                        )?;
                        outcomes.push(StoreOutcome::Duplicate);
                        continue;
                    }
                    tx.execute(
                        "INSERT INTO sources (collection_id, uri, kind, added_at) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (collection_id, uri) DO NOTHING",
                        &[&collection_id, &img.source_uri, &img.source_kind, &ingested_at],
                    )?;
                    let source_id = tx
                        .row(
                            "SELECT id FROM sources WHERE collection_id = ?1 AND uri = ?2",
                            &[&collection_id, &img.source_uri],
                            |r| r.get::<i64>(0),
                        )?
                        .ok_or_else(|| Error::Invalid("a source just stored is missing".into()))?;
                    let image_id = tx.row(
                        "INSERT INTO images (collection_id, source_id, sha256, uri, bytes, width, height, format, captured_at, camera, ingested_at, job_id,
                            kind, duration_s, frame_rate, codec)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                         RETURNING id",
                        &[
                            &collection_id,
                            &source_id,
                            &img.sha256,
                            &img.uri,
                            &img.bytes,
                            &img.width,
                            &img.height,
                            &img.format,
                            &img.captured_at,
                            &img.camera,
                            &ingested_at,
                            &job,
                            &if img.video.is_some() { "video" } else { "photo" },
                            &img.video.as_ref().map(|v| v.0.duration_s),
                            &img.video.as_ref().map(|v| v.0.frame_rate),
                            &img.video.as_ref().map(|v| v.0.codec.as_str()),
                        ],
                        |r| r.get::<i64>(0),
                    )?;
                    let image_id = image_id.ok_or_else(|| Error::Invalid("a new image got no id".into()))?;
                    for t in img.video.iter().flat_map(|v| &v.1) {
                        tx.execute(
                            "INSERT INTO tracks (image_id, track, start_s, end_s, sightings) VALUES (?1, ?2, ?3, ?4, ?5)",
                            &[&image_id, &t.track, &t.start_s, &t.end_s, &t.sightings],
                        )?;
                    }
                    let template_faces = self.insert_faces(image_id, collection_id, &img.faces)?;
                    tx.execute(
                        &format!("{RECORD_FILE} (?1, ?2, 'ingested', '', ?3) {REPLACE_FILE}"),
                        &[&job, &img.uri, &img.faces.len()],
                    )?;
                    outcomes.push(StoreOutcome::Inserted { image_id: image_id as u64, template_faces });
                }
            }
        }
        Ok(outcomes)
    }

    /// Inserts an image's faces (and the sealed template of each embedded one); returns the
    /// ids of the faces with a template.
    fn insert_faces(&self, image_id: i64, collection_id: u32, faces: &[NewFace]) -> Result<Vec<u64>> {
        let tx = self.db();
        let mut template_faces = Vec::new();
        for (idx, f) in faces.iter().enumerate() {
            let q = &f.quality;
            let face_id = tx.row(
                "INSERT INTO faces (image_id, idx, x1, y1, x2, y2, landmarks, score, size_px, sharpness, yaw, pitch, roll, usable, track, time_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                 RETURNING id",
                &[
                    &image_id,
                    &idx,
                    &f.bbox.x1,
                    &f.bbox.y1,
                    &f.bbox.x2,
                    &f.bbox.y2,
                    &serde_json::to_string(&f.landmarks).unwrap_or_default(),
                    &f.score,
                    &q.size_px,
                    &q.sharpness,
                    &q.yaw_deg,
                    &q.pitch_deg,
                    &q.roll_deg,
                    &q.usable,
                    &f.moment.map(|m| m.track),
                    &f.moment.map(|m| m.time_s),
                ],
                |r| r.get::<i64>(0),
            )?;
            let face_id = face_id.ok_or_else(|| Error::Invalid("a new face got no id".into()))?;
            if let Some((vector, scale)) = &f.template {
                let (blob, stored_scale) = self.seal_template(vector, *scale, &(face_id as u64).to_le_bytes())?;
                tx.execute(
                    "INSERT INTO templates (face_id, collection_id, scale, vector) VALUES (?1, ?2, ?3, ?4)",
                    &[&face_id, &collection_id, &stored_scale, &blob],
                )?;
                template_faces.push(face_id as u64);
            }
        }
        Ok(template_faces)
    }
}
