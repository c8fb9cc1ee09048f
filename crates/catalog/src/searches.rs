//! Searches with their candidates, and reviewers' decisions. Candidates are read through the
//! caller's [`Scope`]: one outside the collections it covers does not exist for them.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{Catalog, Error, Result, Scope, Tx, now};

/// A candidate with its reviews.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateRecord {
    /// Candidate id.
    pub id: u64,
    /// Search it came from.
    pub search_id: u64,
    /// Case reference of that search.
    pub case_ref: String,
    /// Purpose of that search.
    pub purpose: String,
    /// Face id.
    pub face_id: u64,
    /// Collection of the face.
    pub collection_id: u32,
    /// The face of the query photo it answers (index in the search's analysis).
    pub query_face: usize,
    /// Score.
    pub score: f32,
    /// Reviewers who confirmed.
    pub confirmed_by: Vec<String>,
    /// Reviewers who rejected.
    pub rejected_by: Vec<String>,
}

/// One candidate of a search to record: face, its collection, query face, rank, score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewCandidate {
    /// Face id.
    pub face_id: u64,
    /// Its collection.
    pub collection_id: u32,
    /// Index of the query face it answers.
    pub query_face: usize,
    /// Rank.
    pub rank: usize,
    /// Score.
    pub score: f32,
}

/// A search to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSearch<'a> {
    /// Who searched.
    pub actor: &'a str,
    /// Case reference.
    pub case_ref: &'a str,
    /// Purpose.
    pub purpose: &'a str,
    /// SHA-256 of the query photo.
    pub query_sha256: &'a str,
    /// Collections searched.
    pub collections: &'a [String],
    /// Templates compared against.
    pub gallery_size: u64,
    /// When it started (RFC 3339).
    pub started_at: &'a str,
}

/// A recorded search, as its searcher and its reviewers see it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchRecord {
    /// Search id.
    pub id: u64,
    /// Who searched.
    pub actor: String,
    /// Case reference.
    pub case_ref: String,
    /// Purpose.
    pub purpose: String,
    /// Collections searched.
    pub collections: Vec<String>,
    /// Templates compared against.
    pub gallery_size: u64,
    /// When it started.
    pub started_at: String,
}

/// A candidate of one of the caller's own searches, with its review state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateState {
    /// Candidate id.
    pub id: u64,
    /// Face id (its record is what reviewers see).
    pub face_id: u64,
    /// The query face it answers.
    pub query_face: usize,
    /// Rank among that face's candidates (1: the highest score).
    pub rank: usize,
    /// Score.
    pub score: f32,
    /// Confirmations so far.
    pub confirmations: u32,
    /// Whether a reviewer rejected it.
    pub rejected: bool,
    /// Whether its face has been erased (on request or by retention) since.
    pub erased: bool,
}

/// The query face of a search kept for its reviewers: a JPEG crop, opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// JPEG bytes.
    pub jpeg: Vec<u8>,
    /// When it goes at the latest (RFC 3339).
    pub expires_at: String,
}

fn probe_aad(search: u64, query_face: usize) -> Vec<u8> {
    format!("probe:{search}:{query_face}").into_bytes()
}

/// Whether a candidate is decided, in SQL over `c` (a candidate row): rejected by one
/// reviewer, confirmed by two, or its face gone.
const DECIDED: &str = "(NOT EXISTS (SELECT 1 FROM faces f WHERE f.id = c.face_id)
    OR EXISTS (SELECT 1 FROM reviews r WHERE r.candidate_id = c.id AND r.decision = 'reject')
    OR (SELECT COUNT(*) FROM reviews r WHERE r.candidate_id = c.id AND r.decision = 'confirm') >= 2)";

fn scope_json(scope: &Scope) -> Option<String> {
    scope.collections().map(|ids| serde_json::to_string(&ids.iter().collect::<Vec<_>>()).unwrap_or_default())
}

impl Catalog {
    /// Ids of the candidates within `scope` still awaiting a decision (fewer than two
    /// confirmations, no rejection) whose face is still in the catalog, newest first, at most
    /// `limit`.
    pub fn candidates_awaiting_review(&self, scope: &Scope, limit: usize) -> Result<Vec<u64>> {
        let mut stmt = self
            .lite()?
            .prepare(
                "SELECT c.id FROM candidates c JOIN faces f ON f.id = c.face_id
                 WHERE (?2 IS NULL OR c.collection_id IN (SELECT value FROM json_each(?2)))
                   AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.candidate_id = c.id AND r.decision = 'reject')
                   AND (SELECT COUNT(*) FROM reviews r WHERE r.candidate_id = c.id AND r.decision = 'confirm') < 2
                 ORDER BY c.id DESC LIMIT ?1",
            )
            .map_err(self.err())?;
        let ids = stmt
            .query_map(params![limit as i64, scope_json(scope)], |r| r.get::<_, i64>(0).map(|id| id as u64))
            .map_err(self.err())?;
        ids.collect::<rusqlite::Result<Vec<_>>>().map_err(self.err())
    }

    /// The number of templates a search compared against.
    pub fn search_gallery_size(&self, search: u64) -> Result<u64> {
        self.lite()?
            .query_row("SELECT gallery_size FROM searches WHERE id = ?1", [search as i64], |r| r.get::<_, i64>(0))
            .optional()
            .map_err(self.err())?
            .map(|n| n as u64)
            .ok_or_else(|| Error::NotFound { kind: "search", name: search.to_string() })
    }

    /// A candidate within `scope`, with its reviews (`NotFound` outside it).
    pub fn candidate(&self, scope: &Scope, id: u64) -> Result<CandidateRecord> {
        let not_found = || Error::NotFound { kind: "candidate", name: id.to_string() };
        type Row = (u64, String, String, u64, Option<u32>, i64, f32);
        let row: Option<Row> = self
            .lite()?
            .prepare_cached(
                "SELECT c.search_id, s.case_ref, s.purpose, c.face_id, c.collection_id, c.query_face, c.score
                 FROM candidates c JOIN searches s ON c.search_id = s.id WHERE c.id = ?1",
            )
            .and_then(|mut st| {
                st.query_row([id as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        r.get(1)?,
                        r.get(2)?,
                        r.get::<_, i64>(3)? as u64,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                })
                .optional()
            })
            .map_err(self.err())?;
        let (search_id, case_ref, purpose, face_id, collection_id, query_face, score) = row.ok_or_else(not_found)?;
        // A candidate whose collection is unknown (its face erased before the column existed)
        // is within reach only of a proof reaching everything.
        let collection_id = collection_id.unwrap_or(0);
        if !scope.covers(collection_id) {
            return Err(not_found());
        }
        let mut stmt = self
            .lite()?
            .prepare("SELECT reviewer, decision FROM reviews WHERE candidate_id = ?1 ORDER BY at")
            .map_err(self.err())?;
        let reviews = stmt
            .query_map([id as i64], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        let pick = |d: &str| reviews.iter().filter(|(_, x)| x == d).map(|(u, _)| u.clone()).collect();
        Ok(CandidateRecord {
            id,
            search_id,
            case_ref,
            purpose,
            face_id,
            collection_id,
            query_face: query_face.max(0) as usize,
            score,
            confirmed_by: pick("confirm"),
            rejected_by: pick("reject"),
        })
    }
}

impl Catalog {
    /// A recorded search.
    pub fn search_record(&self, id: u64) -> Result<SearchRecord> {
        self.lite()?
            .query_row(
                "SELECT id, actor, case_ref, purpose, collections, gallery_size, started_at FROM searches WHERE id = ?1",
                [id as i64],
                search_row,
            )
            .optional()
            .map_err(self.err())?
            .ok_or_else(|| Error::NotFound { kind: "search", name: id.to_string() })
    }

    /// The searches made by `actor`, newest first, at most `limit`.
    pub fn searches_by(&self, actor: &str, limit: usize) -> Result<Vec<SearchRecord>> {
        self.rows_of_with(
            "SELECT id, actor, case_ref, purpose, collections, gallery_size, started_at FROM searches
             WHERE actor = ?1 ORDER BY id DESC LIMIT ?2",
            params![actor, limit as i64],
            search_row,
        )
    }

    /// The candidates of a search with their review states, by query face and rank.
    pub fn candidate_states(&self, search: u64) -> Result<Vec<CandidateState>> {
        self.rows_of_with(
            "SELECT c.id, c.face_id, c.query_face, c.rank, c.score,
                    (SELECT COUNT(*) FROM reviews r WHERE r.candidate_id = c.id AND r.decision = 'confirm'),
                    EXISTS (SELECT 1 FROM reviews r WHERE r.candidate_id = c.id AND r.decision = 'reject'),
                    NOT EXISTS (SELECT 1 FROM faces f WHERE f.id = c.face_id)
             FROM candidates c WHERE c.search_id = ?1 ORDER BY c.query_face, c.rank",
            [search as i64],
            |r| {
                Ok(CandidateState {
                    id: r.get::<_, i64>(0)? as u64,
                    face_id: r.get::<_, i64>(1)? as u64,
                    query_face: r.get::<_, i64>(2)?.max(0) as usize,
                    rank: r.get::<_, i64>(3)?.max(0) as usize,
                    score: r.get(4)?,
                    confirmations: r.get::<_, i64>(5)?.max(0) as u32,
                    rejected: r.get(6)?,
                    erased: r.get(7)?,
                })
            },
        )
    }

    /// How many candidates of a search lie within `scope`.
    pub fn candidates_of_search_in(&self, scope: &Scope, search: u64) -> Result<u64> {
        self.lite()?
            .query_row(
                "SELECT COUNT(*) FROM candidates c
                 WHERE c.search_id = ?1 AND (?2 IS NULL OR c.collection_id IN (SELECT value FROM json_each(?2)))",
                params![search as i64, scope_json(scope)],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(self.err())
    }

    /// The kept query face `query_face` of a search, opened, unless it has gone or expired
    /// by `now` (RFC 3339).
    pub fn probe(&self, search: u64, query_face: usize, now: &str) -> Result<Option<Probe>> {
        let row: Option<(Vec<u8>, String)> = self
            .lite()?
            .query_row(
                "SELECT crop, expires_at FROM probes WHERE search_id = ?1 AND query_face = ?2 AND expires_at > ?3",
                params![search as i64, query_face as i64, now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(self.err())?;
        let Some((sealed, expires_at)) = row else { return Ok(None) };
        let key = self.key.as_ref().ok_or(Error::Locked { path: self.path.clone(), what: "a search's query face" })?;
        let jpeg = key.open(&sealed, &probe_aad(search, query_face)).map_err(|e| Error::Crypto {
            path: self.path.clone(),
            what: format!("the query face {query_face} of search {search}"),
            reason: format!("cannot be decrypted with this key ({e})"),
        })?;
        Ok(Some(Probe { jpeg, expires_at }))
    }

    /// Whether the query face `query_face` of a search is kept and not expired by `now`.
    pub fn probe_kept(&self, search: u64, query_face: usize, now: &str) -> Result<bool> {
        self.lite()?
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM probes WHERE search_id = ?1 AND query_face = ?2 AND expires_at > ?3)",
            )
            .and_then(|mut st| st.query_row(params![search as i64, query_face as i64, now], |r| r.get(0)))
            .map_err(self.err())
    }

    /// The query faces of a search kept and not expired by `now` (their indexes).
    pub fn probes_of(&self, search: u64, now: &str) -> Result<Vec<usize>> {
        self.rows_of_with(
            "SELECT query_face FROM probes WHERE search_id = ?1 AND expires_at > ?2 ORDER BY query_face",
            params![search as i64, now],
            |r| Ok(r.get::<_, i64>(0)?.max(0) as usize),
        )
    }

    /// How many query faces are kept, and when the last of them expires.
    pub fn probe_count(&self) -> Result<(u64, Option<String>)> {
        self.lite()?
            .query_row("SELECT COUNT(*), MAX(expires_at) FROM probes", [], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
            })
            .map_err(self.err())
    }

    /// Whether every candidate of a search is decided: rejected by one reviewer, confirmed by two,
    /// or its face gone.
    pub fn search_decided(&self, search: u64) -> Result<bool> {
        self.lite()?
            .query_row(
                &format!("SELECT NOT EXISTS (SELECT 1 FROM candidates c WHERE c.search_id = ?1 AND NOT {DECIDED})"),
                [search as i64],
                |r| r.get(0),
            )
            .map_err(self.err())
    }

    /// The searches whose kept query faces have expired by `now` (RFC 3339).
    pub fn searches_with_expired_probes(&self, now: &str) -> Result<Vec<u64>> {
        self.rows_of_with(
            "SELECT DISTINCT search_id FROM probes WHERE expires_at <= ?1 ORDER BY search_id",
            [now],
            |r| Ok(r.get::<_, i64>(0)? as u64),
        )
    }
}

fn search_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SearchRecord> {
    let id = r.get::<_, i64>(0)?;
    let collections = crate::json_column(r, 4, "collections", || format!("search {id}"))?;
    Ok(SearchRecord {
        id: id as u64,
        actor: r.get(1)?,
        case_ref: r.get(2)?,
        purpose: r.get(3)?,
        collections,
        gallery_size: r.get::<_, i64>(5)?.max(0) as u64,
        started_at: r.get(6)?,
    })
}

impl Tx<'_> {
    /// Keeps the query face `query_face` of a search for its reviewers, sealed with the data
    /// key (bound to the search and face), until `expires_at` (RFC 3339) at the latest.
    pub fn keep_probe(&self, search: u64, query_face: usize, jpeg: &[u8], expires_at: &str) -> Result<()> {
        let key = self.key.as_ref().ok_or(Error::Locked { path: self.path.clone(), what: "a search's query face" })?;
        let sealed = key.seal(jpeg, &probe_aad(search, query_face)).map_err(|e| Error::Crypto {
            path: self.path.clone(),
            what: format!("the query face {query_face} of search {search}"),
            reason: format!("cannot be encrypted ({e})"),
        })?;
        self.lite()?
            .execute(
                "INSERT OR REPLACE INTO probes (search_id, query_face, crop, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![search as i64, query_face as i64, sealed, now(), expires_at],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Deletes the kept query faces of every search left with no candidate undecided (after a
    /// deletion of faces: an erased candidate counts as decided); returns how many went.
    pub fn drop_probes_of_decided_searches(&self) -> Result<u64> {
        self.lite()?
            .execute(
                &format!(
                    "DELETE FROM probes WHERE search_id IN (SELECT DISTINCT p.search_id FROM probes p
                     WHERE NOT EXISTS (SELECT 1 FROM candidates c WHERE c.search_id = p.search_id AND NOT {DECIDED}))"
                ),
                [],
            )
            .map(|n| n as u64)
            .map_err(self.err())
    }

    /// Deletes the kept query faces of a search; returns how many there were.
    pub fn drop_probes(&self, search: u64) -> Result<u64> {
        self.lite()?
            .execute("DELETE FROM probes WHERE search_id = ?1", [search as i64])
            .map(|n| n as u64)
            .map_err(self.err())
    }

    /// Records a search and its candidates; returns the search id and candidate ids.
    pub fn record_search(&self, search: &NewSearch<'_>, candidates: &[NewCandidate]) -> Result<(u64, Vec<u64>)> {
        self.lite()?
            .execute(
                "INSERT INTO searches (actor, case_ref, purpose, query_sha256, collections, gallery_size, started_at, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    search.actor,
                    search.case_ref,
                    search.purpose,
                    search.query_sha256,
                    serde_json::to_string(search.collections).unwrap_or_default(),
                    search.gallery_size as i64,
                    search.started_at,
                    now()
                ],
            )
            .map_err(self.err())?;
        let search_id = self.lite()?.last_insert_rowid() as u64;
        let mut ids = Vec::with_capacity(candidates.len());
        for c in candidates {
            self.lite()?
                .execute(
                    "INSERT INTO candidates (search_id, face_id, collection_id, query_face, rank, score)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        search_id as i64,
                        c.face_id as i64,
                        c.collection_id,
                        c.query_face as i64,
                        c.rank as i64,
                        c.score
                    ],
                )
                .map_err(self.err())?;
            ids.push(self.lite()?.last_insert_rowid() as u64);
        }
        Ok((search_id, ids))
    }

    /// Records a reviewer's decision on a candidate within `scope` (a later decision by the
    /// same reviewer replaces theirs).
    pub fn review(&self, scope: &Scope, candidate: u64, reviewer: &str, confirm: bool) -> Result<CandidateRecord> {
        self.candidate(scope, candidate)?;
        self.lite()?
            .execute(
                "INSERT OR REPLACE INTO reviews (candidate_id, reviewer, decision, at) VALUES (?1, ?2, ?3, ?4)",
                params![candidate as i64, reviewer, if confirm { "confirm" } else { "reject" }, now()],
            )
            .map_err(self.err())?;
        self.candidate(scope, candidate)
    }
}
