//! Searches with their candidates, and reviewers' decisions. Candidates are read through the
//! caller's [`Scope`]: one outside the collections it covers does not exist for them.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{Catalog, Error, Result, Scope, Tx, now};

/// A candidate with its reviews.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateRecord {
    /// Candidate id.
    pub id: u64,
    /// Search it came from.
    pub search_id: u64,
    /// Case reference of that search.
    pub case_ref: String,
    /// Face id.
    pub face_id: u64,
    /// Collection of the face.
    pub collection_id: u32,
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

fn scope_json(scope: &Scope) -> Option<String> {
    scope.collections().map(|ids| serde_json::to_string(&ids.iter().collect::<Vec<_>>()).unwrap_or_default())
}

impl Catalog {
    /// Ids of the candidates within `scope` still awaiting a decision (fewer than two
    /// confirmations, no rejection) whose face is still in the catalog, newest first, at most
    /// `limit`.
    pub fn candidates_awaiting_review(&self, scope: &Scope, limit: usize) -> Result<Vec<u64>> {
        let mut stmt = self
            .conn
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
        self.conn
            .query_row("SELECT gallery_size FROM searches WHERE id = ?1", [search as i64], |r| r.get::<_, i64>(0))
            .optional()
            .map_err(self.err())?
            .map(|n| n as u64)
            .ok_or_else(|| Error::NotFound { kind: "search", name: search.to_string() })
    }

    /// A candidate within `scope`, with its reviews (`NotFound` outside it).
    pub fn candidate(&self, scope: &Scope, id: u64) -> Result<CandidateRecord> {
        let not_found = || Error::NotFound { kind: "candidate", name: id.to_string() };
        let row: Option<(u64, String, u64, Option<u32>, f32)> = self
            .conn
            .query_row(
                "SELECT c.search_id, s.case_ref, c.face_id, c.collection_id, c.score
                 FROM candidates c JOIN searches s ON c.search_id = s.id WHERE c.id = ?1",
                [id as i64],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get::<_, i64>(2)? as u64, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(self.err())?;
        let (search_id, case_ref, face_id, collection_id, score) = row.ok_or_else(not_found)?;
        // A candidate whose collection is unknown (its face erased before the column existed)
        // is within reach only of a proof reaching everything.
        let collection_id = collection_id.unwrap_or(0);
        if !scope.covers(collection_id) {
            return Err(not_found());
        }
        let mut stmt = self
            .conn
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
            face_id,
            collection_id,
            score,
            confirmed_by: pick("confirm"),
            rejected_by: pick("reject"),
        })
    }
}

impl Tx<'_> {
    /// Records a search and its candidates; returns the search id and candidate ids.
    pub fn record_search(&self, search: &NewSearch<'_>, candidates: &[NewCandidate]) -> Result<(u64, Vec<u64>)> {
        self.conn
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
        let search_id = self.conn.last_insert_rowid() as u64;
        let mut ids = Vec::with_capacity(candidates.len());
        for c in candidates {
            self.conn
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
            ids.push(self.conn.last_insert_rowid() as u64);
        }
        Ok((search_id, ids))
    }

    /// Records a reviewer's decision on a candidate within `scope` (a later decision by the
    /// same reviewer replaces theirs).
    pub fn review(&self, scope: &Scope, candidate: u64, reviewer: &str, confirm: bool) -> Result<CandidateRecord> {
        self.candidate(scope, candidate)?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO reviews (candidate_id, reviewer, decision, at) VALUES (?1, ?2, ?3, ?4)",
                params![candidate as i64, reviewer, if confirm { "confirm" } else { "reject" }, now()],
            )
            .map_err(self.err())?;
        self.candidate(scope, candidate)
    }
}
