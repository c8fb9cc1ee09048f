//! The catalog: what Gabarit holds and where it came from, in SQLite.
//!
//! Collections contain sources; sources yield images (identified by the SHA-256 of their
//! content, unique within a collection); images hold faces (box, landmarks, quality); faces
//! have templates (int8-quantised vectors with their scale). Ingestion jobs record each
//! file's outcome. Every face traces back to its image, source and collection.
//!
//! The database runs in WAL mode with foreign keys on; schema changes are numbered
//! migrations (`PRAGMA user_version`). Each batch of images is stored in one transaction, so
//! an interrupted ingestion leaves either whole images or nothing. This crate is the only
//! user of `rusqlite`; it holds no policy and no biometric maths. Writing transactions begin
//! IMMEDIATE (they take the write lock first), so several connections to one catalog wait
//! for each other (busy timeout) instead of failing on a stale snapshot.

use std::path::{Path, PathBuf};

use gabarit_types::{BBox, Landmarks, Quality};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

mod accounts;
mod audit_log;
mod integrity;
mod jobs;
mod migrations;
mod reembed;
mod rights;
mod searches;
mod tx;

pub use accounts::{KeyRecord, UserRecord};
pub use gabarit_governance::Scope;
pub use jobs::BackgroundJob;
pub use migrations::{LEGACY_PACK, SCHEMA_VERSION};
pub use reembed::{ChangedOver, NewTemplate, Reembedding};
pub use rights::{Deleted, ErasedContent, RequestRun, RightsRequest};
pub use searches::{CandidateRecord, CandidateState, NewCandidate, NewSearch, Probe, SearchRecord};
pub use tx::Tx;

/// Catalog errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed.
    #[error("catalog {path}: {source}")]
    Sqlite {
        /// Database file.
        path: PathBuf,
        /// The error.
        #[source]
        source: rusqlite::Error,
    },
    /// A named thing does not exist.
    #[error("no {kind} named {name:?}")]
    NotFound {
        /// What was looked for.
        kind: &'static str,
        /// Its name or id.
        name: String,
    },
    /// A name is already taken.
    #[error("a {kind} named {name:?} already exists")]
    AlreadyExists {
        /// What.
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// The input is invalid.
    #[error("{0}")]
    Invalid(String),
    /// A value breaks a policy rule (too long, not a valid name…).
    #[error(transparent)]
    Policy(#[from] gabarit_governance::Error),
    /// A record does not authenticate with the data directory's key: it was written or
    /// changed by someone without the key (by hand, in the database file).
    #[error("catalog {path}: {what} does not authenticate with this data directory's key (changed outside Gabarit)")]
    Tampered {
        /// Database file.
        path: PathBuf,
        /// Which record.
        what: String,
    },
    /// The operation needs the data directory's key, and the catalog was opened without it.
    #[error("catalog {path}: opened without the data directory's key, which {what} needs")]
    Locked {
        /// Database file.
        path: PathBuf,
        /// What needed it.
        what: &'static str,
    },
    /// A template could not be sealed or opened with the data key.
    #[error("catalog {path}: {what}: {reason}")]
    Crypto {
        /// Database file.
        path: PathBuf,
        /// Which record.
        what: String,
        /// Why.
        reason: String,
    },
    /// The database was written by a newer Gabarit.
    #[error("catalog {path} has schema version {found}, newer than this Gabarit's {supported}; upgrade Gabarit")]
    TooNew {
        /// Database file.
        path: PathBuf,
        /// Version in the file.
        found: i64,
        /// Latest known.
        supported: i64,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collection {
    /// Id.
    pub id: u32,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// The model pack its templates come from.
    pub pack: String,
    /// SHA-256 of what makes that pack's templates (`Pack::templates_sha256`).
    pub pack_sha256: String,
    /// The backend and precision its templates come from (`ort/f32`, `openvino/bf16`…).
    #[serde(default = "legacy_engine")]
    pub engine: String,
}

/// The engine of the collections made before engines were recorded (schema 12).
fn legacy_engine() -> String {
    "ort/f32".into()
}

impl Collection {
    /// The pack its templates come from, as a key.
    pub fn pack_key(&self) -> PackKey {
        PackKey { name: self.pack.clone(), sha256: self.pack_sha256.clone() }
    }
}

/// What makes a set of templates comparable with each other: the model pack's name and the
/// hash of what makes its templates. Templates of two keys are never compared (their scores
/// mean different things, and their dimensions may differ).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PackKey {
    /// Pack name.
    pub name: String,
    /// SHA-256 of what makes its templates (`Pack::templates_sha256`).
    pub sha256: String,
}

impl PackKey {
    /// The key of the collections made before packs were recorded ([`LEGACY_PACK`]).
    pub fn legacy() -> PackKey {
        PackKey { name: LEGACY_PACK.0.into(), sha256: LEGACY_PACK.1.into() }
    }
}

impl std::fmt::Display for PackKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.sha256.get(..12).unwrap_or(&self.sha256))
    }
}

/// The columns [`collection_row`] reads, in order.
const COLLECTION_COLUMNS: &str = "id, name, description, created_at, pack, pack_sha256, engine";

fn collection_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Collection> {
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

/// A collection with its counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionSummary {
    /// The collection.
    #[serde(flatten)]
    pub collection: Collection,
    /// Images.
    pub images: u64,
    /// Faces.
    pub faces: u64,
    /// Templates.
    pub templates: u64,
}

/// A face to store, with its template.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFace {
    /// Box.
    pub bbox: BBox,
    /// Landmarks.
    pub landmarks: Landmarks,
    /// Detector score.
    pub score: f32,
    /// Quality.
    pub quality: Quality,
    /// Quantised template and its scale (absent for faces not embedded).
    pub template: Option<(Vec<i8>, f32)>,
    /// For a face from a video: its track and the time of its frame.
    pub moment: Option<Moment>,
}

/// Where in a video a face was seen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Moment {
    /// Track number within the video (0 = first to appear).
    pub track: u32,
    /// Time of the frame, seconds.
    pub time_s: f64,
}

/// What a video record holds beyond an image's fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoMeta {
    /// Duration, seconds.
    pub duration_s: f64,
    /// Average frame rate.
    pub frame_rate: f64,
    /// Codec.
    pub codec: String,
}

/// One appearance of a face in a video.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackSpan {
    /// Track number within the video.
    pub track: u32,
    /// First sighting, seconds.
    pub start_s: f64,
    /// Last sighting, seconds.
    pub end_s: f64,
    /// Sampled frames it was seen in.
    pub sightings: u32,
}

/// An image to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewImage {
    /// Content hash.
    pub sha256: String,
    /// Path or URI (`archive.zip!/inner/path` for archive members).
    pub uri: String,
    /// The source it came from (a folder, file or archive named by the operator).
    pub source_uri: String,
    /// Kind of source (`folder`, `file`, `zip`, `tar`).
    pub source_kind: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Format.
    pub format: String,
    /// EXIF capture time, when present.
    pub captured_at: Option<String>,
    /// EXIF camera make and model, when present.
    pub camera: Option<String>,
    /// Faces.
    pub faces: Vec<NewFace>,
    /// For a video: its metadata and tracks (faces then carry their [`Moment`]).
    pub video: Option<(VideoMeta, Vec<TrackSpan>)>,
}

/// One file of an ingestion batch.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchItem {
    /// A decoded image with its faces.
    Image(NewImage),
    /// A file that was not ingested, and why.
    Failed {
        /// Path or URI.
        uri: String,
        /// Stable code.
        code: String,
        /// Message.
        message: String,
    },
}

/// What storing one item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    /// New image stored; ids of its faces that have templates, with their collection.
    Inserted {
        /// Image id.
        image_id: u64,
        /// Face ids with templates.
        template_faces: Vec<u64>,
    },
    /// The same content is already in the collection.
    Duplicate,
    /// Recorded as failed.
    Failed,
}

/// A stored face with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceRecord {
    /// Face id.
    pub face_id: u64,
    /// Position of the face in its image (0 = highest detector score).
    pub index: u32,
    /// Image id.
    pub image_id: u64,
    /// Collection id.
    pub collection_id: u32,
    /// Collection name.
    pub collection: String,
    /// Image path or URI.
    pub uri: String,
    /// Source the image came from.
    pub source: String,
    /// Box.
    pub bbox: BBox,
    /// Landmarks.
    pub landmarks: Landmarks,
    /// Detector score.
    pub score: f32,
    /// Quality.
    pub quality: Quality,
    /// EXIF capture time.
    pub captured_at: Option<String>,
    /// Whether a template is stored.
    pub has_template: bool,
    /// For a face from a video: track and time.
    pub moment: Option<Moment>,
}

/// A stored image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Id.
    pub id: u64,
    /// Collection id.
    pub collection_id: u32,
    /// Collection.
    pub collection: String,
    /// Content hash.
    pub sha256: String,
    /// Path or URI.
    pub uri: String,
    /// Source.
    pub source: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Format.
    pub format: String,
    /// EXIF capture time.
    pub captured_at: Option<String>,
    /// EXIF camera.
    pub camera: Option<String>,
    /// When it was ingested.
    pub ingested_at: String,
    /// For a video: duration, frame rate, codec.
    pub video: Option<VideoMeta>,
}

/// A stored template.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTemplate {
    /// Face id.
    pub face_id: u64,
    /// Collection id.
    pub collection_id: u32,
    /// Quantised vector.
    pub vector: Vec<i8>,
    /// Its scale.
    pub scale: f32,
}

/// The SQLite catalog.
pub struct Catalog {
    conn: Connection,
    path: PathBuf,
    /// Seals templates and suppression templates at rest.
    key: Option<std::sync::Arc<gabarit_crypto::DataKey>>,
    /// Authenticates the audit chain (derived from the data key).
    audit_key: Option<gabarit_governance::audit::AuditKey>,
    /// Authenticates accounts, keys, grants and sessions (derived from the data key).
    rows: Option<gabarit_crypto::MacKey>,
}

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

/// While another connection writes: retry soon (100 µs, then 1 ms, then 5 ms steps) for about
/// 10 s in all, then give up (`SQLITE_BUSY`). SQLite's own busy timeout sleeps in steps that
/// grow to 100 ms, which made a short write wait up to 100 ms behind another.
fn wait_for_writer(attempt: i32) -> bool {
    let pause = match attempt {
        0..50 => std::time::Duration::from_micros(100),
        50..500 => std::time::Duration::from_millis(1),
        _ => std::time::Duration::from_millis(5),
    };
    std::thread::sleep(pause);
    attempt < 2400
}

/// A stored value that does not parse: named by its record and column, so that a corrupt row
/// is an error to act on, never silently read as a default.
#[derive(Debug, thiserror::Error)]
#[error("{record}: stored {column} unreadable ({detail})")]
pub struct CorruptValue {
    /// The record, such as `job 12`.
    pub record: String,
    /// The column.
    pub column: &'static str,
    /// The parser's message.
    pub detail: String,
}

/// Parses the JSON text of column `index` (`column`) of the row of `record`.
pub(crate) fn json_column<T: serde::de::DeserializeOwned>(
    r: &rusqlite::Row<'_>,
    index: usize,
    column: &'static str,
    record: impl FnOnce() -> String,
) -> rusqlite::Result<T> {
    let text: String = r.get(index)?;
    serde_json::from_str(&text).map_err(|e| {
        let corrupt = CorruptValue { record: record(), column, detail: e.to_string() };
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(corrupt))
    })
}

pub(crate) fn now() -> String {
    jiff::Timestamp::now().to_string()
}

impl Catalog {
    /// Opens (creating and migrating if needed) the catalog at `path`, without the data key:
    /// enough to read records, not to change them (every change writes its authenticated audit
    /// entry) nor to upgrade a catalog older than schema 8.
    pub fn open(path: &Path) -> Result<Catalog> {
        Self::open_with(path, None)
    }

    /// Opens (creating and migrating if needed) the catalog at `path` with the data key.
    pub fn open_keyed(path: &Path, key: std::sync::Arc<gabarit_crypto::DataKey>) -> Result<Catalog> {
        Self::open_with(path, Some(key))
    }

    fn open_with(path: &Path, key: Option<std::sync::Arc<gabarit_crypto::DataKey>>) -> Result<Catalog> {
        let conn = Connection::open(path).map_err(|source| Error::Sqlite { path: path.to_path_buf(), source })?;
        let mut cat = Catalog { conn, path: path.to_path_buf(), key: None, audit_key: None, rows: None };
        if let Some(key) = key {
            cat.set_data_key(key);
        }
        cat.exec_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; PRAGMA synchronous = FULL;")?;
        cat.conn.busy_handler(Some(wait_for_writer)).map_err(cat.err())?;
        migrations::migrate(&mut cat)?;
        Ok(cat)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |source| Error::Sqlite { path: self.path.clone(), source }
    }

    fn exec_batch(&self, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).map_err(self.err())
    }

    /// Seals templates with `key` from now on and opens sealed ones with it; authenticates the
    /// audit chain and the account records with keys derived from it.
    pub fn set_data_key(&mut self, key: std::sync::Arc<gabarit_crypto::DataKey>) {
        self.audit_key = Some(gabarit_governance::audit::AuditKey::new(*key.derive("gabarit/audit/v1")));
        self.rows = Some(key.mac_key("gabarit/catalog-rows/v1"));
        self.key = Some(key);
    }

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

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The collection called `name`.
    pub fn collection(&self, name: &str) -> Result<Collection> {
        self.conn
            .query_row(&format!("SELECT {COLLECTION_COLUMNS} FROM collections WHERE name = ?1"), [name], collection_row)
            .optional()
            .map_err(self.err())?
            .ok_or_else(|| Error::NotFound { kind: "collection", name: name.into() })
    }

    /// The collections within `scope`, by name (no counts: cheap at any size).
    pub fn collections_in(&self, scope: &Scope) -> Result<Vec<Collection>> {
        let mut all =
            self.rows_of(&format!("SELECT {COLLECTION_COLUMNS} FROM collections ORDER BY name"), collection_row)?;
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
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c.id, c.name, c.description, c.created_at, c.pack, c.pack_sha256, c.engine,
                    (SELECT COUNT(*) FROM images i WHERE i.collection_id = c.id),
                    (SELECT COUNT(*) FROM faces f JOIN images i ON f.image_id = i.id WHERE i.collection_id = c.id),
                    (SELECT COUNT(*) FROM templates t JOIN faces f ON t.face_id = f.id JOIN images i ON f.image_id = i.id WHERE i.collection_id = c.id)
                 FROM collections c WHERE ?1 IS NULL OR c.name = ?1 ORDER BY c.name",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([name], |r| {
                Ok(CollectionSummary {
                    collection: collection_row(r)?,
                    images: r.get::<_, i64>(counts)? as u64,
                    faces: r.get::<_, i64>(counts + 1)? as u64,
                    templates: r.get::<_, i64>(counts + 2)? as u64,
                })
            })
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())
    }

    /// Whether the collection already holds this content.
    pub fn has_image(&self, collection_id: u32, sha256: &str) -> Result<bool> {
        self.conn
            .query_row(
                "SELECT 1 FROM images WHERE collection_id = ?1 AND sha256 = ?2",
                params![collection_id, sha256],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(self.err())
    }

    /// Starts an ingestion job and returns its id.
    pub fn begin_job(&self, collection_id: u32, inputs: &[String]) -> Result<u64> {
        let args = serde_json::to_string(inputs).map_err(|e| Error::Invalid(e.to_string()))?;
        self.conn
            .execute(
                "INSERT INTO jobs (kind, collection_id, args, state, started_at) VALUES ('ingest', ?1, ?2, 'running', ?3)",
                params![collection_id, args, now()],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid() as u64)
    }

    /// Marks a job finished.
    pub fn finish_job(&self, job: u64, state: &str) -> Result<()> {
        self.conn
            .execute("UPDATE jobs SET state = ?1, finished_at = ?2 WHERE id = ?3", params![state, now(), job as i64])
            .map_err(self.err())?;
        Ok(())
    }

    /// Records a file that was skipped before analysis (e.g. already present).
    pub fn record_outcome(&self, job: u64, uri: &str, outcome: &str, detail: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO job_files (job_id, uri, outcome, detail, faces) VALUES (?1, ?2, ?3, ?4, 0)",
                params![job as i64, uri, outcome, detail],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Every stored template (for building or checking the vector index).
    pub fn templates(&self, each: impl FnMut(StoredTemplate)) -> Result<()> {
        self.templates_where("", [], each)
    }

    /// The templates of the collections of one pack (for building or checking its index).
    pub fn templates_of(&self, pack: &PackKey, each: impl FnMut(StoredTemplate)) -> Result<()> {
        self.templates_where(
            "JOIN collections c ON c.id = t.collection_id WHERE c.pack = ?1 AND c.pack_sha256 = ?2",
            params![pack.name, pack.sha256],
            each,
        )
    }

    /// The templates `filter` (joins and a condition on `templates t`) keeps, by face id.
    fn templates_where(
        &self,
        filter: &str,
        params: impl rusqlite::Params,
        mut each: impl FnMut(StoredTemplate),
    ) -> Result<()> {
        let sql = format!(
            "SELECT t.face_id, t.collection_id, t.scale, t.vector FROM templates t {filter} ORDER BY t.face_id"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.err())?;
        let mut rows = stmt.query(params).map_err(self.err())?;
        while let Some(r) = rows.next().map_err(self.err())? {
            let blob: Vec<u8> = r.get(3).map_err(self.err())?;
            let face_id = r.get::<_, i64>(0).map_err(self.err())? as u64;
            let (vector, scale) = self.open_template(&blob, r.get(2).map_err(self.err())?, &face_id.to_le_bytes())?;
            each(StoredTemplate { face_id, collection_id: r.get(1).map_err(self.err())?, scale, vector });
        }
        Ok(())
    }

    /// Number of templates of the collections of one pack.
    pub fn template_count_of(&self, pack: &PackKey) -> Result<u64> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM templates t JOIN collections c ON c.id = t.collection_id
                 WHERE c.pack = ?1 AND c.pack_sha256 = ?2",
                params![pack.name, pack.sha256],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(self.err())
    }

    /// The packs of the collections there are, and those collections are being re-embedded
    /// with, in order (each once).
    pub fn packs_in_use(&self) -> Result<Vec<PackKey>> {
        self.rows_of(
            "SELECT pack, pack_sha256 FROM collections UNION SELECT pack, pack_sha256 FROM reembeds
             ORDER BY 1, 2",
            |r| Ok(PackKey { name: r.get(0)?, sha256: r.get(1)? }),
        )
    }

    /// Number of templates, in the given collections or all.
    pub fn template_count(&self, collections: Option<&[u32]>) -> Result<u64> {
        match collections {
            None => self
                .conn
                .query_row("SELECT COUNT(*) FROM templates", [], |r| r.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(self.err()),
            Some(ids) => {
                let mut n = 0u64;
                for id in ids {
                    let c: i64 = self
                        .conn
                        .query_row("SELECT COUNT(*) FROM templates WHERE collection_id = ?1", [id], |r| r.get(0))
                        .map_err(self.err())?;
                    n += c as u64;
                }
                Ok(n)
            }
        }
    }

    const FACE_SELECT: &'static str =
        "SELECT f.id, f.idx, i.id, c.id, c.name, i.uri, s.uri, f.x1, f.y1, f.x2, f.y2, f.landmarks, f.score,
            f.size_px, f.sharpness, f.yaw, f.pitch, f.roll, f.usable, i.captured_at,
            EXISTS (SELECT 1 FROM templates t WHERE t.face_id = f.id), f.track, f.time_s
         FROM faces f JOIN images i ON f.image_id = i.id JOIN collections c ON i.collection_id = c.id
         LEFT JOIN sources s ON i.source_id = s.id";

    fn face_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FaceRecord> {
        let face_id = r.get::<_, i64>(0)?;
        let landmarks: Landmarks = json_column(r, 11, "landmarks", || format!("face {face_id}"))?;
        let score: f32 = r.get(12)?;
        let bbox = BBox { x1: r.get(7)?, y1: r.get(8)?, x2: r.get(9)?, y2: r.get(10)? };
        Ok(FaceRecord {
            face_id: face_id as u64,
            index: r.get(1)?,
            image_id: r.get::<_, i64>(2)? as u64,
            collection_id: r.get(3)?,
            collection: r.get(4)?,
            uri: r.get(5)?,
            source: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
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
            moment: match (r.get::<_, Option<u32>>(21)?, r.get::<_, Option<f64>>(22)?) {
                (Some(track), Some(time_s)) => Some(Moment { track, time_s }),
                _ => None,
            },
        })
    }

    /// The face with this id and its provenance, within `scope` (`NotFound` outside it).
    pub fn face(&self, scope: &Scope, face_id: u64) -> Result<FaceRecord> {
        let sql = format!("{} WHERE f.id = ?1", Self::FACE_SELECT);
        self.conn
            .query_row(&sql, [face_id as i64], Self::face_row)
            .optional()
            .map_err(self.err())?
            .filter(|f| scope.covers(f.collection_id))
            .ok_or_else(|| Error::NotFound { kind: "face", name: face_id.to_string() })
    }

    /// The tracks of a video within `scope`, in order.
    pub fn tracks_of_image(&self, scope: &Scope, image_id: u64) -> Result<Vec<TrackSpan>> {
        self.image(scope, image_id)?;
        let mut stmt = self
            .conn
            .prepare("SELECT track, start_s, end_s, sightings FROM tracks WHERE image_id = ?1 ORDER BY track")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([image_id as i64], |r| {
                Ok(TrackSpan { track: r.get(0)?, start_s: r.get(1)?, end_s: r.get(2)?, sightings: r.get(3)? })
            })
            .map_err(self.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())
    }

    /// The faces of an image within `scope`.
    pub fn faces_of_image(&self, scope: &Scope, image_id: u64) -> Result<Vec<FaceRecord>> {
        self.image(scope, image_id)?;
        self.faces_of(image_id)
    }

    /// The faces of an image, for the catalog's own bookkeeping.
    pub(crate) fn faces_of(&self, image_id: u64) -> Result<Vec<FaceRecord>> {
        let sql = format!("{} WHERE i.id = ?1 ORDER BY f.idx", Self::FACE_SELECT);
        let mut stmt = self.conn.prepare(&sql).map_err(self.err())?;
        let rows = stmt.query_map([image_id as i64], Self::face_row).map_err(self.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())
    }

    const IMAGE_SELECT: &'static str =
        "SELECT i.id, c.name, i.sha256, i.uri, COALESCE(s.uri, ''), i.bytes, i.width, i.height, i.format,
            i.captured_at, i.camera, i.ingested_at, i.duration_s, i.frame_rate, i.codec, c.id
         FROM images i JOIN collections c ON i.collection_id = c.id LEFT JOIN sources s ON i.source_id = s.id";

    fn image_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ImageRecord> {
        Ok(ImageRecord {
            id: r.get::<_, i64>(0)? as u64,
            collection_id: r.get(15)?,
            collection: r.get(1)?,
            sha256: r.get(2)?,
            uri: r.get(3)?,
            source: r.get(4)?,
            bytes: r.get::<_, i64>(5)? as u64,
            width: r.get(6)?,
            height: r.get(7)?,
            format: r.get(8)?,
            captured_at: r.get(9)?,
            camera: r.get(10)?,
            ingested_at: r.get(11)?,
            video: match (r.get::<_, Option<f64>>(12)?, r.get::<_, Option<f64>>(13)?, r.get::<_, Option<String>>(14)?) {
                (Some(duration_s), Some(frame_rate), Some(codec)) => Some(VideoMeta { duration_s, frame_rate, codec }),
                _ => None,
            },
        })
    }

    /// The image with this id, within `scope` (`NotFound` outside it).
    pub fn image(&self, scope: &Scope, id: u64) -> Result<ImageRecord> {
        let sql = format!("{} WHERE i.id = ?1", Self::IMAGE_SELECT);
        self.conn
            .query_row(&sql, [id as i64], Self::image_row)
            .optional()
            .map_err(self.err())?
            .filter(|i| scope.covers(i.collection_id))
            .ok_or_else(|| Error::NotFound { kind: "image", name: id.to_string() })
    }

    /// Whether an image with this id is still in the catalog.
    pub fn image_exists(&self, id: u64) -> Result<bool> {
        self.conn
            .query_row("SELECT 1 FROM images WHERE id = ?1", [id as i64], |_| Ok(()))
            .optional()
            .map(|o| o.is_some())
            .map_err(self.err())
    }

    /// Images with this content hash in the collections of `scope`.
    pub fn images_by_sha256(&self, scope: &Scope, sha256: &str) -> Result<Vec<ImageRecord>> {
        let sql = format!("{} WHERE i.sha256 = ?1 ORDER BY i.id", Self::IMAGE_SELECT);
        let mut stmt = self.conn.prepare(&sql).map_err(self.err())?;
        let rows = stmt.query_map([sha256], Self::image_row).map_err(self.err())?;
        let mut all = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())?;
        all.retain(|i| scope.covers(i.collection_id));
        Ok(all)
    }

    /// A canonical, id-free description of the catalog's content (collection, content hash,
    /// URI, faces with their boxes and whether they have templates), sorted: two catalogs with
    /// the same content give the same snapshot whatever order things were stored in.
    pub fn content_snapshot(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT c.name, i.sha256, i.uri, i.width, i.height,
                    (SELECT group_concat(printf('%d:%.2f,%.2f,%.2f,%.2f:%d%s', f.idx, f.x1, f.y1, f.x2, f.y2,
                        EXISTS (SELECT 1 FROM templates t WHERE t.face_id = f.id),
                        CASE WHEN f.track IS NULL THEN '' ELSE printf('@%d/%.3f', f.track, f.time_s) END), ';')
                     FROM (SELECT * FROM faces WHERE image_id = i.id ORDER BY idx) f)
                 FROM images i JOIN collections c ON i.collection_id = c.id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(format!(
                    "{}|{}|{}|{}x{}|{}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<String>>(5)?.unwrap_or_default()
                ))
            })
            .map_err(self.err())?;
        let mut out = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())?;
        out.sort();
        Ok(out)
    }

    /// Whether an image of any collection was read from `uri`.
    pub fn has_image_uri(&self, uri: &str) -> Result<bool> {
        self.conn
            .query_row("SELECT 1 FROM images WHERE uri = ?1 LIMIT 1", [uri], |_| Ok(()))
            .optional()
            .map(|found| found.is_some())
            .map_err(self.err())
    }

    /// Outcomes of a job: (uri, outcome, detail, faces).
    pub fn job_files(&self, job: u64) -> Result<Vec<(String, String, String, u32)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT uri, outcome, detail, faces FROM job_files WHERE job_id = ?1 ORDER BY uri")
            .map_err(self.err())?;
        let rows =
            stmt.query_map([job as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).map_err(self.err())?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())
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
        self.conn
            .execute(
                "INSERT INTO collections (name, description, created_at, pack, pack_sha256, engine)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![name, description, created_at, pack.0, pack.1, engine],
            )
            .map_err(self.err())?;
        self.collection(name)
    }

    /// Stores a batch of items (in the transaction of its audit entry: all or nothing).
    pub fn store_batch(&self, job: u64, collection_id: u32, items: &[BatchItem]) -> Result<Vec<StoreOutcome>> {
        let err = |source| Error::Sqlite { path: self.path.clone(), source };
        let tx = &self.conn;
        let mut outcomes = Vec::with_capacity(items.len());
        let ingested_at = now();
        for item in items {
            match item {
                BatchItem::Failed { uri, code, message } => {
                    tx.execute(
                        "INSERT OR REPLACE INTO job_files (job_id, uri, outcome, detail, faces) VALUES (?1, ?2, 'failed', ?3, 0)",
                        params![job as i64, uri, format!("{code}: {message}")],
                    )
                    .map_err(err)?;
                    outcomes.push(StoreOutcome::Failed);
                }
                BatchItem::Image(img) => {
                    let exists: Option<i64> = tx
                        .query_row(
                            "SELECT id FROM images WHERE collection_id = ?1 AND sha256 = ?2",
                            params![collection_id, img.sha256],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(err)?;
                    if exists.is_some() {
                        tx.execute(
                            "INSERT OR REPLACE INTO job_files (job_id, uri, outcome, detail, faces) VALUES (?1, ?2, 'duplicate', 'same content already in the collection', 0)",
                            params![job as i64, img.uri],
                        )
                        .map_err(err)?;
                        outcomes.push(StoreOutcome::Duplicate);
                        continue;
                    }
                    tx.execute(
                        "INSERT OR IGNORE INTO sources (collection_id, uri, kind, added_at) VALUES (?1, ?2, ?3, ?4)",
                        params![collection_id, img.source_uri, img.source_kind, ingested_at],
                    )
                    .map_err(err)?;
                    let source_id: i64 = tx
                        .query_row(
                            "SELECT id FROM sources WHERE collection_id = ?1 AND uri = ?2",
                            params![collection_id, img.source_uri],
                            |r| r.get(0),
                        )
                        .map_err(err)?;
                    tx.execute(
                        "INSERT INTO images (collection_id, source_id, sha256, uri, bytes, width, height, format, captured_at, camera, ingested_at, job_id,
                            kind, duration_s, frame_rate, codec)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                        params![
                            collection_id,
                            source_id,
                            img.sha256,
                            img.uri,
                            img.bytes as i64,
                            img.width,
                            img.height,
                            img.format,
                            img.captured_at,
                            img.camera,
                            ingested_at,
                            job as i64,
                            if img.video.is_some() { "video" } else { "photo" },
                            img.video.as_ref().map(|v| v.0.duration_s),
                            img.video.as_ref().map(|v| v.0.frame_rate),
                            img.video.as_ref().map(|v| v.0.codec.clone()),
                        ],
                    )
                    .map_err(err)?;
                    let image_id = tx.last_insert_rowid();
                    for t in img.video.iter().flat_map(|v| &v.1) {
                        tx.execute(
                            "INSERT INTO tracks (image_id, track, start_s, end_s, sightings) VALUES (?1, ?2, ?3, ?4, ?5)",
                            params![image_id, t.track, t.start_s, t.end_s, t.sightings],
                        )
                        .map_err(err)?;
                    }
                    let template_faces = self.insert_faces(image_id, collection_id, &img.faces)?;
                    tx.execute(
                        "INSERT OR REPLACE INTO job_files (job_id, uri, outcome, detail, faces) VALUES (?1, ?2, 'ingested', '', ?3)",
                        params![job as i64, img.uri, img.faces.len() as i64],
                    )
                    .map_err(err)?;
                    outcomes.push(StoreOutcome::Inserted { image_id: image_id as u64, template_faces });
                }
            }
        }
        Ok(outcomes)
    }

    /// Inserts an image's faces (and the sealed template of each embedded one); returns the
    /// ids of the faces with a template.
    fn insert_faces(&self, image_id: i64, collection_id: u32, faces: &[NewFace]) -> Result<Vec<u64>> {
        let err = |source| Error::Sqlite { path: self.path.clone(), source };
        let tx = &self.conn;
        let mut template_faces = Vec::new();
        for (idx, f) in faces.iter().enumerate() {
            let q = &f.quality;
            tx.execute(
                "INSERT INTO faces (image_id, idx, x1, y1, x2, y2, landmarks, score, size_px, sharpness, yaw, pitch, roll, usable, track, time_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                params![
                    image_id,
                    idx as i64,
                    f.bbox.x1,
                    f.bbox.y1,
                    f.bbox.x2,
                    f.bbox.y2,
                    serde_json::to_string(&f.landmarks).unwrap_or_default(),
                    f.score,
                    q.size_px,
                    q.sharpness,
                    q.yaw_deg,
                    q.pitch_deg,
                    q.roll_deg,
                    q.usable,
                    f.moment.map(|m| m.track),
                    f.moment.map(|m| m.time_s),
                ],
            )
            .map_err(err)?;
            let face_id = tx.last_insert_rowid();
            if let Some((vector, scale)) = &f.template {
                let (blob, stored_scale) = self.seal_template(vector, *scale, &(face_id as u64).to_le_bytes())?;
                tx.execute(
                    "INSERT INTO templates (face_id, collection_id, scale, vector) VALUES (?1, ?2, ?3, ?4)",
                    params![face_id, collection_id, stored_scale, blob],
                )
                .map_err(err)?;
                template_faces.push(face_id as u64);
            }
        }
        Ok(template_faces)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_accounts;
#[cfg(test)]
mod tests_rights;
