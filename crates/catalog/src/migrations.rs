//! Numbered schema migrations. Version N is `MIGRATIONS[N - 1]`; the database's
//! `PRAGMA user_version` says which have run. Never edit a released migration: add one.

use crate::{Catalog, Error, Result};

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: collections, sources, images, faces, templates, jobs.
    "CREATE TABLE collections (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL
    );
    CREATE TABLE sources (
        id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        uri TEXT NOT NULL,
        kind TEXT NOT NULL,
        added_at TEXT NOT NULL,
        UNIQUE (collection_id, uri)
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        collection_id INTEGER REFERENCES collections(id) ON DELETE SET NULL,
        args TEXT NOT NULL,
        state TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT
    );
    CREATE TABLE job_files (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        uri TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL,
        faces INTEGER NOT NULL,
        PRIMARY KEY (job_id, uri)
    );
    CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        source_id INTEGER REFERENCES sources(id) ON DELETE SET NULL,
        job_id INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
        sha256 TEXT NOT NULL,
        uri TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        format TEXT NOT NULL,
        captured_at TEXT,
        camera TEXT,
        ingested_at TEXT NOT NULL,
        UNIQUE (collection_id, sha256)
    );
    CREATE INDEX images_sha256 ON images (sha256);
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
        landmarks TEXT NOT NULL,
        score REAL NOT NULL,
        size_px REAL NOT NULL,
        sharpness REAL NOT NULL,
        yaw REAL NOT NULL,
        pitch REAL NOT NULL,
        roll REAL NOT NULL,
        usable INTEGER NOT NULL,
        UNIQUE (image_id, idx)
    );
    CREATE TABLE templates (
        face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        scale REAL NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE INDEX templates_collection ON templates (collection_id);",
    // 2: governance of collections, users and keys, grants, the audit chain, searches and
    // their candidates with reviews.
    "ALTER TABLE collections ADD COLUMN governance TEXT NOT NULL DEFAULT '{}';
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        roles TEXT NOT NULL,
        created_at TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        prefix TEXT NOT NULL UNIQUE,
        salt TEXT NOT NULL,
        hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE TABLE grants (
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, collection_id)
    );
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TABLE searches (
        id INTEGER PRIMARY KEY,
        actor TEXT NOT NULL,
        case_ref TEXT NOT NULL,
        purpose TEXT NOT NULL,
        query_sha256 TEXT NOT NULL,
        collections TEXT NOT NULL,
        gallery_size INTEGER NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL
    );
    CREATE TABLE candidates (
        id INTEGER PRIMARY KEY,
        search_id INTEGER NOT NULL REFERENCES searches(id) ON DELETE CASCADE,
        face_id INTEGER NOT NULL,
        query_face INTEGER NOT NULL,
        rank INTEGER NOT NULL,
        score REAL NOT NULL
    );
    CREATE TABLE reviews (
        candidate_id INTEGER NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
        reviewer TEXT NOT NULL,
        decision TEXT NOT NULL CHECK (decision IN ('confirm', 'reject')),
        at TEXT NOT NULL,
        PRIMARY KEY (candidate_id, reviewer)
    );",
    // 3: rights requests and suppression templates (objections).
    "CREATE TABLE rights_requests (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('access', 'erasure', 'objection')),
        requester TEXT NOT NULL,
        verification TEXT NOT NULL,
        received_on TEXT NOT NULL,
        deadline TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'open',
        photo_sha256 TEXT,
        outcome TEXT
    );
    CREATE TABLE suppressions (
        id INTEGER PRIMARY KEY,
        request_id INTEGER NOT NULL REFERENCES rights_requests(id),
        created_at TEXT NOT NULL,
        scale REAL NOT NULL,
        vector BLOB NOT NULL
    );",
    // 4: videos. An image row is a photo or a video (duration, frame rate, codec); a face from
    // a video carries its track and the time of its frame; tracks give each appearance's span.
    "ALTER TABLE images ADD COLUMN kind TEXT NOT NULL DEFAULT 'photo';
    ALTER TABLE images ADD COLUMN duration_s REAL;
    ALTER TABLE images ADD COLUMN frame_rate REAL;
    ALTER TABLE images ADD COLUMN codec TEXT;
    ALTER TABLE faces ADD COLUMN track INTEGER;
    ALTER TABLE faces ADD COLUMN time_s REAL;
    CREATE TABLE tracks (
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        track INTEGER NOT NULL,
        start_s REAL NOT NULL,
        end_s REAL NOT NULL,
        sightings INTEGER NOT NULL,
        PRIMARY KEY (image_id, track)
    );",
    // 5: passwords for the web UI's login, and sessions (only hashes of their tokens).
    "ALTER TABLE users ADD COLUMN password_hash TEXT;
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );",
    // 6: background jobs asked for over HTTP (ingestion): persisted so that a restarted
    // server resumes them, with their progress for the UI.
    "CREATE TABLE background_jobs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        collection TEXT NOT NULL,
        inputs TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        state TEXT NOT NULL,
        runs INTEGER NOT NULL DEFAULT 0,
        done INTEGER NOT NULL DEFAULT 0,
        total INTEGER,
        faces INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        report TEXT,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT
    );",
    // 7: images found by path (what an upload left behind is what no image points to).
    "CREATE INDEX images_uri ON images (uri);",
    // 8: controls that hold. Users, keys, grants and sessions carry an authentication code
    // (the rows already there are coded, and the audit entries already there vouched for, by
    // this migration's keyed step, in its transaction: see `keyed_step`); a candidate names
    // its collection (the reviewers' queue filters by grant in SQL); archive
    // members get URIs no plain path can collide with (`zip:` or `tar:`, the archive's path
    // with `%` and `!` escaped, `!/`, the member); background jobs record their kind's limits.
    "ALTER TABLE users ADD COLUMN mac TEXT;
    ALTER TABLE api_keys ADD COLUMN mac TEXT;
    ALTER TABLE grants ADD COLUMN mac TEXT;
    ALTER TABLE sessions ADD COLUMN mac TEXT;
    ALTER TABLE candidates ADD COLUMN collection_id INTEGER;
    UPDATE candidates SET collection_id =
        (SELECT i.collection_id FROM faces f JOIN images i ON f.image_id = i.id WHERE f.id = candidates.face_id);
    CREATE INDEX candidates_collection ON candidates (collection_id, id);
    UPDATE images SET uri =
        (SELECT s.kind || ':' || replace(replace(s.uri, '%', '%25'), '!', '%21') || '!/'
                || substr(images.uri, length(s.uri) + 3)
         FROM sources s WHERE s.id = images.source_id)
    WHERE EXISTS (SELECT 1 FROM sources s WHERE s.id = images.source_id AND s.kind IN ('zip', 'tar')
                  AND substr(images.uri, 1, length(s.uri) + 2) = s.uri || '!/');",
    // 9: review and erasure that last. The query face of a search is kept (sealed) for its
    // reviewers until every candidate is decided or it expires; the photos an erasure removed
    // are remembered by a keyed tag of their content hash (never the hash itself, nor the
    // photo) so that ingestion refuses them again; a request run again keeps its first
    // outcome and gets a new run entry.
    "CREATE TABLE probes (
        search_id INTEGER NOT NULL REFERENCES searches(id),
        query_face INTEGER NOT NULL,
        crop BLOB NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        PRIMARY KEY (search_id, query_face)
    );
    CREATE INDEX probes_expiry ON probes (expires_at);
    CREATE TABLE erased_content (
        tag TEXT PRIMARY KEY,
        request_id INTEGER NOT NULL REFERENCES rights_requests(id),
        erased_at TEXT NOT NULL
    );
    CREATE TABLE request_runs (
        id INTEGER PRIMARY KEY,
        request_id INTEGER NOT NULL REFERENCES rights_requests(id),
        at TEXT NOT NULL,
        photo_sha256 TEXT NOT NULL,
        outcome TEXT NOT NULL
    );
    INSERT INTO request_runs (request_id, at, photo_sha256, outcome)
        SELECT id, created_at, photo_sha256, outcome FROM rights_requests
        WHERE status = 'done' AND photo_sha256 IS NOT NULL AND outcome IS NOT NULL;",
    // 10: each collection records the model pack its templates come from (name, and the
    // hash of what makes its templates: `Pack::templates_sha256`). Collections made before
    // hold buffalo_s templates, the only pack there was.
    "ALTER TABLE collections ADD COLUMN pack TEXT NOT NULL DEFAULT '';
    ALTER TABLE collections ADD COLUMN pack_sha256 TEXT NOT NULL DEFAULT '';
    UPDATE collections SET pack = 'buffalo_s',
        pack_sha256 = '01501a33dac5a2314f3a745e256d2c0d4082e3b3697727646484c9c0ae452909';",
    // 11: a suppression template (objection) is a template of one pack, compared only with
    // that pack's templates; an objection holds one per pack in use. Those made before are
    // buffalo_s's, like every template then. And re-embedding a collection with another pack.
    "ALTER TABLE suppressions ADD COLUMN pack TEXT NOT NULL DEFAULT '';
    ALTER TABLE suppressions ADD COLUMN pack_sha256 TEXT NOT NULL DEFAULT '';
    UPDATE suppressions SET pack = 'buffalo_s',
        pack_sha256 = '01501a33dac5a2314f3a745e256d2c0d4082e3b3697727646484c9c0ae452909';
    -- A collection being re-embedded with another pack: the pack, and each face's new
    -- template as it is made (NULL with a reason when its image could no longer be read).
    CREATE TABLE reembeds (
        collection_id INTEGER PRIMARY KEY REFERENCES collections(id),
        pack TEXT NOT NULL,
        pack_sha256 TEXT NOT NULL,
        started_at TEXT NOT NULL,
        started_by TEXT NOT NULL
    );
    CREATE TABLE reembedded (
        face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
        collection_id INTEGER NOT NULL REFERENCES collections(id),
        scale REAL,
        vector BLOB,
        unreadable TEXT
    );
    CREATE INDEX reembedded_collection ON reembedded (collection_id);",
    // 12: each collection records the backend and precision its templates come from (an
    // `EngineFamily` of the inference crate: ort/f32, openvino/f32, openvino/bf16), and so does
    // a re-embedding under way. Those made before came from ONNX Runtime in f32, the only
    // backend there was.
    // The fixture catalog of schema 11 was written before its migration created the two
    // re-embedding tables: they are made here when missing, as schema 11 defines them.
    "CREATE TABLE IF NOT EXISTS reembeds (
        collection_id INTEGER PRIMARY KEY REFERENCES collections(id),
        pack TEXT NOT NULL,
        pack_sha256 TEXT NOT NULL,
        started_at TEXT NOT NULL,
        started_by TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS reembedded (
        face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
        collection_id INTEGER NOT NULL REFERENCES collections(id),
        scale REAL,
        vector BLOB,
        unreadable TEXT
    );
    CREATE INDEX IF NOT EXISTS reembedded_collection ON reembedded (collection_id);
    ALTER TABLE collections ADD COLUMN engine TEXT NOT NULL DEFAULT 'ort/f32';
    ALTER TABLE reembeds ADD COLUMN engine TEXT NOT NULL DEFAULT 'ort/f32';",
    // 13: people. A collection whose governance allows it groups its faces by person: each
    // person (label sealed with the data key), its faces (`confirmed` when a user's correction
    // vouched for them), the faces a user said are not that person, the candidate pairs found
    // by neighbour searches (kept so that a later run searches only the new faces), which faces
    // were searched, and the last run's figures.
    "CREATE TABLE persons (
        id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        label BLOB,
        created_at TEXT NOT NULL
    );
    CREATE INDEX persons_collection ON persons (collection_id);
    CREATE TABLE person_faces (
        face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
        person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
        confirmed INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX person_faces_person ON person_faces (person_id);
    CREATE TABLE person_not (
        face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
        PRIMARY KEY (face_id, person_id)
    ) WITHOUT ROWID;
    CREATE INDEX person_not_person ON person_not (person_id);
    CREATE TABLE grouping_pairs (
        a INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        b INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        PRIMARY KEY (a, b)
    ) WITHOUT ROWID;
    CREATE INDEX grouping_pairs_b ON grouping_pairs (b);
    CREATE INDEX grouping_pairs_collection ON grouping_pairs (collection_id);
    CREATE TABLE grouping_searched (
        face_id INTEGER PRIMARY KEY REFERENCES faces(id) ON DELETE CASCADE,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE
    );
    CREATE INDEX grouping_searched_collection ON grouping_searched (collection_id);
    CREATE TABLE groupings (
        collection_id INTEGER PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,
        edge REAL NOT NULL,
        join_threshold REAL,
        ran_at TEXT,
        faces INTEGER NOT NULL DEFAULT 0,
        persons INTEGER NOT NULL DEFAULT 0
    );",
    // 14: background jobs run by `gabarit worker` processes under a lease: who runs the job,
    // and until when (Unix milliseconds) its lease holds unless renewed.
    "ALTER TABLE background_jobs ADD COLUMN runner TEXT;
    ALTER TABLE background_jobs ADD COLUMN lease_until INTEGER;",
    // 15: query photos analysed and not yet searched, sealed, kept minutes (several servers).
    "CREATE TABLE analysed_queries (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        name TEXT NOT NULL,
        sealed BLOB NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );",
    // 16: login attempts, counted by every server process on the store.
    "CREATE TABLE login_attempts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        address TEXT NOT NULL,
        at_ms INTEGER NOT NULL
    );
    CREATE INDEX login_attempts_name ON login_attempts (name, address);
    CREATE INDEX login_attempts_address ON login_attempts (address);",
    // 17: an ingestion queued in parts, each a job of its own that any worker may take: this
    // job's part (from 1) and how many there are (NULL: the whole of its inputs).
    "ALTER TABLE background_jobs ADD COLUMN part INTEGER;
    ALTER TABLE background_jobs ADD COLUMN parts INTEGER;",
];

/// The pack of the collections made before packs were recorded (schema 10): buffalo_s, and
/// the hash of what made its templates then (checked against the built-in pack by the engine's
/// tests).
pub const LEGACY_PACK: (&str, &str) = ("buffalo_s", "01501a33dac5a2314f3a745e256d2c0d4082e3b3697727646484c9c0ae452909");

/// The migration after which a keyed step runs, in the same transaction: it needs the data
/// key (to code the rows and vouch for the audit entries already there).
const KEYED_AFTER: usize = 8;

/// Runs the migrations the database has not seen, each in one transaction. The keyed step of
/// migration 8 needs the data key when there is something to code: a catalog opened without it
/// is then refused, and stays as it was.
pub(crate) fn migrate(cat: &mut Catalog) -> Result<()> {
    let path = cat.path.clone();
    let err = |source| Error::Sqlite { path: path.clone(), source };
    let version: i64 = cat.lite()?.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(err)?;
    let latest = MIGRATIONS.len() as i64;
    if version > latest {
        return Err(Error::TooNew { path: cat.path.clone(), found: version, supported: latest });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let cat: &Catalog = cat;
        cat.lite()?.execute_batch("BEGIN IMMEDIATE").map_err(err)?;
        let step = (|| -> Result<()> {
            cat.lite()?.execute_batch(sql).map_err(err)?;
            if i + 1 == KEYED_AFTER {
                keyed_step(cat)?;
            }
            cat.lite()?.execute_batch(&format!("PRAGMA user_version = {}", i + 1)).map_err(err)
        })();
        match step {
            Ok(()) => cat.lite()?.execute_batch("COMMIT").map_err(err)?,
            Err(e) => {
                let _ = cat.lite()?.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Codes the account rows of a catalog made before schema 8 and vouches for its audit
/// entries (a marker entry naming how many there are and the last one's hash); ends its web
/// sessions. Nothing to do in a new catalog.
fn keyed_step(cat: &Catalog) -> Result<()> {
    let rows: i64 = cat
        .lite()?
        .query_row(
            "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM api_keys) + (SELECT COUNT(*) FROM grants)
                  + (SELECT COUNT(*) FROM audit)",
            [],
            |r| r.get(0),
        )
        .map_err(cat.err())?;
    if rows == 0 {
        return Ok(());
    }
    if cat.audit_key.is_none() {
        return Err(Error::Locked { path: cat.path.clone(), what: "the upgrade to catalog schema 8" });
    }
    cat.vouch_for_plain_entries()?;
    let coded = cat.code_rows()?;
    cat.append_audit("gabarit", "records_coded", serde_json::json!({"rows": coded, "schema": KEYED_AFTER}))?;
    Ok(())
}

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();
