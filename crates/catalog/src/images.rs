//! Reads of images, their faces and a video's tracks, each with where it came from.

use crate::sql::Row;
use crate::{Catalog, Error, FaceRecord, ImageRecord, Moment, Result, Scope, TrackSpan, VideoMeta};
use gabarit_types::{BBox, Landmarks, Quality};

/// Faces read by one statement of [`Catalog::faces`].
const FACES_PER_READ: usize = 32;

impl Catalog {
    /// Whether the collection already holds this content.
    pub fn has_image(&self, collection_id: u32, sha256: &str) -> Result<bool> {
        Ok(self
            .db()
            .row("SELECT 1 FROM images WHERE collection_id = ?1 AND sha256 = ?2", &[&collection_id, &sha256], |_| {
                Ok(())
            })?
            .is_some())
    }

    const FACE_SELECT: &'static str =
        "SELECT f.id, f.idx, i.id, c.id, c.name, i.uri, s.uri, f.x1, f.y1, f.x2, f.y2, f.landmarks, f.score,
            f.size_px, f.sharpness, f.yaw, f.pitch, f.roll, f.usable, i.captured_at,
            CASE WHEN EXISTS (SELECT 1 FROM templates t WHERE t.face_id = f.id) THEN 1 ELSE 0 END, f.track, f.time_s
         FROM faces f JOIN images i ON f.image_id = i.id JOIN collections c ON i.collection_id = c.id
         LEFT JOIN sources s ON i.source_id = s.id";

    fn face_row(r: &Row<'_>) -> Result<FaceRecord> {
        let face_id = r.get::<i64>(0)?;
        let landmarks: Landmarks = r.json(11, "landmarks", || format!("face {face_id}"))?;
        let score: f32 = r.get(12)?;
        let bbox = BBox { x1: r.get(7)?, y1: r.get(8)?, x2: r.get(9)?, y2: r.get(10)? };
        Ok(FaceRecord {
            face_id: face_id as u64,
            index: r.get(1)?,
            image_id: r.get(2)?,
            collection_id: r.get(3)?,
            collection: r.get(4)?,
            uri: r.get(5)?,
            source: r.get::<Option<String>>(6)?.unwrap_or_default(),
            bbox,
            landmarks,
            score,
            quality: Quality {
                detector_score: score,
                size_px: r.get(13)?,
                sharpness: r.get(14)?,
                yaw_deg: r.get(15)?,
                pitch_deg: r.get(16)?,
                roll_deg: r.get(17)?,
                usable: r.get(18)?,
            },
            captured_at: r.get(19)?,
            has_template: r.get(20)?,
            moment: match (r.get::<Option<u32>>(21)?, r.get::<Option<f64>>(22)?) {
                (Some(track), Some(time_s)) => Some(Moment { track, time_s }),
                _ => None,
            },
        })
    }

    /// The face with this id and its provenance, within `scope` (`NotFound` outside it).
    pub fn face(&self, scope: &Scope, face_id: u64) -> Result<FaceRecord> {
        let sql = format!("{} WHERE f.id = ?1", Self::FACE_SELECT);
        self.db()
            .row(&sql, &[&face_id], Self::face_row)?
            .filter(|f| scope.covers(f.collection_id))
            .ok_or_else(|| Error::NotFound { kind: "face", name: face_id.to_string() })
    }

    /// The faces with these ids and their provenance, by id: those within `scope` (a face
    /// erased or outside it is absent). Read 32 at a time, one statement each.
    pub fn faces(&self, scope: &Scope, face_ids: &[u64]) -> Result<std::collections::HashMap<u64, FaceRecord>> {
        let marks: Vec<String> = (1..=FACES_PER_READ).map(|i| format!("?{i}")).collect();
        let sql = format!("{} WHERE f.id IN ({})", Self::FACE_SELECT, marks.join(", "));
        let mut found = std::collections::HashMap::with_capacity(face_ids.len());
        for chunk in face_ids.chunks(FACES_PER_READ) {
            // One statement for every read: a short chunk repeats its last id.
            let padded: Vec<&dyn crate::sql::Param> =
                (0..FACES_PER_READ).map(|i| &chunk[i.min(chunk.len() - 1)] as &dyn crate::sql::Param).collect();
            for face in self.db().rows(&sql, &padded, Self::face_row)? {
                if scope.covers(face.collection_id) {
                    found.insert(face.face_id, face);
                }
            }
        }
        Ok(found)
    }

    /// The tracks of a video within `scope`, in order.
    pub fn tracks_of_image(&self, scope: &Scope, image_id: u64) -> Result<Vec<TrackSpan>> {
        self.image(scope, image_id)?;
        self.db().rows(
            "SELECT track, start_s, end_s, sightings FROM tracks WHERE image_id = ?1 ORDER BY track",
            &[&image_id],
            |r| Ok(TrackSpan { track: r.get(0)?, start_s: r.get(1)?, end_s: r.get(2)?, sightings: r.get(3)? }),
        )
    }

    /// The faces of an image within `scope`.
    pub fn faces_of_image(&self, scope: &Scope, image_id: u64) -> Result<Vec<FaceRecord>> {
        self.image(scope, image_id)?;
        self.faces_of(image_id)
    }

    /// The faces of an image, for the catalog's own bookkeeping.
    pub(crate) fn faces_of(&self, image_id: u64) -> Result<Vec<FaceRecord>> {
        let sql = format!("{} WHERE i.id = ?1 ORDER BY f.idx", Self::FACE_SELECT);
        self.db().rows(&sql, &[&image_id], Self::face_row)
    }

    const IMAGE_SELECT: &'static str =
        "SELECT i.id, c.name, i.sha256, i.uri, COALESCE(s.uri, ''), i.bytes, i.width, i.height, i.format,
            i.captured_at, i.camera, i.ingested_at, i.duration_s, i.frame_rate, i.codec, c.id
         FROM images i JOIN collections c ON i.collection_id = c.id LEFT JOIN sources s ON i.source_id = s.id";

    fn image_row(r: &Row<'_>) -> Result<ImageRecord> {
        Ok(ImageRecord {
            id: r.get(0)?,
            collection_id: r.get(15)?,
            collection: r.get(1)?,
            sha256: r.get(2)?,
            uri: r.get(3)?,
            source: r.get(4)?,
            bytes: r.get(5)?,
            width: r.get(6)?,
            height: r.get(7)?,
            format: r.get(8)?,
            captured_at: r.get(9)?,
            camera: r.get(10)?,
            ingested_at: r.get(11)?,
            video: match (r.get::<Option<f64>>(12)?, r.get::<Option<f64>>(13)?, r.get::<Option<String>>(14)?) {
                (Some(duration_s), Some(frame_rate), Some(codec)) => Some(VideoMeta { duration_s, frame_rate, codec }),
                _ => None,
            },
        })
    }

    /// The image with this id, within `scope` (`NotFound` outside it).
    pub fn image(&self, scope: &Scope, id: u64) -> Result<ImageRecord> {
        let sql = format!("{} WHERE i.id = ?1", Self::IMAGE_SELECT);
        self.db()
            .row(&sql, &[&id], Self::image_row)?
            .filter(|i| scope.covers(i.collection_id))
            .ok_or_else(|| Error::NotFound { kind: "image", name: id.to_string() })
    }

    /// Whether an image with this id is still in the catalog.
    pub fn image_exists(&self, id: u64) -> Result<bool> {
        Ok(self.db().row("SELECT 1 FROM images WHERE id = ?1", &[&id], |_| Ok(()))?.is_some())
    }

    /// Images with this content hash in the collections of `scope`.
    pub fn images_by_sha256(&self, scope: &Scope, sha256: &str) -> Result<Vec<ImageRecord>> {
        let sql = format!("{} WHERE i.sha256 = ?1 ORDER BY i.id", Self::IMAGE_SELECT);
        let mut all = self.db().rows(&sql, &[&sha256], Self::image_row)?;
        all.retain(|i| scope.covers(i.collection_id));
        Ok(all)
    }

    /// A canonical, id-free description of the catalog's content (collection, content hash,
    /// URI, faces with their boxes and whether they have templates), sorted: two catalogs with
    /// the same content give the same snapshot whatever order things were stored in.
    pub fn content_snapshot(&self) -> Result<Vec<String>> {
        // Each image's faces, formatted here rather than in SQL, so that both stores give the
        // very same text.
        let mut faces: std::collections::HashMap<i64, Vec<String>> = std::collections::HashMap::new();
        self.db().each(
            "SELECT f.image_id, f.idx, f.x1, f.y1, f.x2, f.y2,
                CASE WHEN EXISTS (SELECT 1 FROM templates t WHERE t.face_id = f.id) THEN 1 ELSE 0 END, f.track, f.time_s
             FROM faces f ORDER BY f.image_id, f.idx",
            &[],
            |r| {
                let moment = match (r.get::<Option<i64>>(7)?, r.get::<Option<f64>>(8)?) {
                    (Some(track), Some(time_s)) => format!("@{track}/{time_s:.3}"),
                    _ => String::new(),
                };
                let face = format!(
                    "{}:{:.2},{:.2},{:.2},{:.2}:{}{moment}",
                    r.get::<i64>(1)?,
                    r.get::<f64>(2)?,
                    r.get::<f64>(3)?,
                    r.get::<f64>(4)?,
                    r.get::<f64>(5)?,
                    r.get::<i64>(6)?
                );
                faces.entry(r.get(0)?).or_default().push(face);
                Ok(())
            },
        )?;
        let mut out = self.db().rows(
            "SELECT i.id, c.name, i.sha256, i.uri, i.width, i.height FROM images i JOIN collections c ON i.collection_id = c.id",
            &[],
            |r| {
                Ok(format!(
                    "{}|{}|{}|{}x{}|{}",
                    r.get::<String>(1)?,
                    r.get::<String>(2)?,
                    r.get::<String>(3)?,
                    r.get::<i64>(4)?,
                    r.get::<i64>(5)?,
                    faces.get(&r.get::<i64>(0)?).map(|f| f.join(";")).unwrap_or_default()
                ))
            },
        )?;
        out.sort();
        Ok(out)
    }

    /// Whether an image of any collection was read from `uri`.
    pub fn has_image_uri(&self, uri: &str) -> Result<bool> {
        Ok(self.db().row("SELECT 1 FROM images WHERE uri = ?1 LIMIT 1", &[&uri], |_| Ok(()))?.is_some())
    }
}
