//! Searches with their candidates, and reviewers' decisions. Candidates are read through the
//! caller's [`Scope`]: one outside the collections it covers does not exist for them.

use serde::{Deserialize, Serialize};

use crate::sql::{Param, Row};
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

/// The condition "`column` is one of the collections of `scope`", with its parameters
/// numbered from `first`: always true for a scope reaching everything, never for an empty one.
fn scope_filter(scope: &Scope, column: &str, first: usize) -> (String, Vec<u32>) {
    match scope.collections() {
        None => ("1 = 1".into(), Vec::new()),
        Some(ids) if ids.is_empty() => ("1 = 0".into(), Vec::new()),
        Some(ids) => {
            let marks: Vec<String> = (first..first + ids.len()).map(|i| format!("?{i}")).collect();
            (format!("{column} IN ({})", marks.join(", ")), ids.iter().copied().collect())
        }
    }
}

/// Candidates inserted by one statement of [`Catalog::record_search`].
const CANDIDATES_PER_INSERT: usize = 16;

impl Catalog {
    /// Ids of the candidates within `scope` still awaiting a decision (fewer than two
    /// confirmations, no rejection) whose face is still in the catalog, newest first, at most
    /// `limit`.
    pub fn candidates_awaiting_review(&self, scope: &Scope, limit: usize) -> Result<Vec<u64>> {
        let (within, ids) = scope_filter(scope, "c.collection_id", 2);
        let mut params: Vec<&dyn Param> = vec![&limit];
        params.extend(ids.iter().map(|id| id as &dyn Param));
        self.db().rows(
            &format!(
                "SELECT c.id FROM candidates c JOIN faces f ON f.id = c.face_id
                 WHERE {within}
                   AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.candidate_id = c.id AND r.decision = 'reject')
                   AND (SELECT COUNT(*) FROM reviews r WHERE r.candidate_id = c.id AND r.decision = 'confirm') < 2
                 ORDER BY c.id DESC LIMIT ?1"
            ),
            &params,
            |r| r.get::<u64>(0),
        )
    }

    /// The number of templates a search compared against.
    pub fn search_gallery_size(&self, search: u64) -> Result<u64> {
        self.db()
            .row("SELECT gallery_size FROM searches WHERE id = ?1", &[&search], |r| r.get::<u64>(0))?
            .ok_or_else(|| Error::NotFound { kind: "search", name: search.to_string() })
    }

    /// A candidate within `scope`, with its reviews (`NotFound` outside it).
    pub fn candidate(&self, scope: &Scope, id: u64) -> Result<CandidateRecord> {
        let not_found = || Error::NotFound { kind: "candidate", name: id.to_string() };
        type Stored = (u64, String, String, u64, Option<u32>, i64, f32);
        let row: Option<Stored> = self.db().row(
            "SELECT c.search_id, s.case_ref, s.purpose, c.face_id, c.collection_id, c.query_face, c.score
             FROM candidates c JOIN searches s ON c.search_id = s.id WHERE c.id = ?1",
            &[&id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
        )?;
        let (search_id, case_ref, purpose, face_id, collection_id, query_face, score) = row.ok_or_else(not_found)?;
        // A candidate whose collection is unknown (its face erased before the column existed)
        // is within reach only of a proof reaching everything.
        let collection_id = collection_id.unwrap_or(0);
        if !scope.covers(collection_id) {
            return Err(not_found());
        }
        let reviews: Vec<(String, String)> = self.db().rows(
            "SELECT reviewer, decision FROM reviews WHERE candidate_id = ?1 ORDER BY at, reviewer",
            &[&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
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
        self.db()
            .row(
                "SELECT id, actor, case_ref, purpose, collections, gallery_size, started_at FROM searches WHERE id = ?1",
                &[&id],
                search_row,
            )?
            .ok_or_else(|| Error::NotFound { kind: "search", name: id.to_string() })
    }

    /// The searches made by `actor`, newest first, at most `limit`.
    pub fn searches_by(&self, actor: &str, limit: usize) -> Result<Vec<SearchRecord>> {
        self.db().rows(
            "SELECT id, actor, case_ref, purpose, collections, gallery_size, started_at FROM searches
             WHERE actor = ?1 ORDER BY id DESC LIMIT ?2",
            &[&actor, &limit],
            search_row,
        )
    }

    /// The candidates of a search with their review states, by query face and rank.
    pub fn candidate_states(&self, search: u64) -> Result<Vec<CandidateState>> {
        self.db().rows(
            "SELECT c.id, c.face_id, c.query_face, c.rank, c.score,
                    (SELECT COUNT(*) FROM reviews r WHERE r.candidate_id = c.id AND r.decision = 'confirm'),
                    CASE WHEN EXISTS (SELECT 1 FROM reviews r WHERE r.candidate_id = c.id AND r.decision = 'reject')
                         THEN 1 ELSE 0 END,
                    CASE WHEN EXISTS (SELECT 1 FROM faces f WHERE f.id = c.face_id) THEN 0 ELSE 1 END
             FROM candidates c WHERE c.search_id = ?1 ORDER BY c.query_face, c.rank",
            &[&search],
            |r| {
                Ok(CandidateState {
                    id: r.get(0)?,
                    face_id: r.get(1)?,
                    query_face: r.get::<i64>(2)?.max(0) as usize,
                    rank: r.get::<i64>(3)?.max(0) as usize,
                    score: r.get(4)?,
                    confirmations: r.get::<i64>(5)?.max(0) as u32,
                    rejected: r.get(6)?,
                    erased: r.get(7)?,
                })
            },
        )
    }

    /// How many candidates of a search lie within `scope`.
    pub fn candidates_of_search_in(&self, scope: &Scope, search: u64) -> Result<u64> {
        let (within, ids) = scope_filter(scope, "c.collection_id", 2);
        let mut params: Vec<&dyn Param> = vec![&search];
        params.extend(ids.iter().map(|id| id as &dyn Param));
        self.count(&format!("SELECT COUNT(*) FROM candidates c WHERE c.search_id = ?1 AND {within}"), &params)
    }

    /// The kept query face `query_face` of a search, opened, unless it has gone or expired
    /// by `now` (RFC 3339).
    pub fn probe(&self, search: u64, query_face: usize, now: &str) -> Result<Option<Probe>> {
        let row: Option<(Vec<u8>, String)> = self.db().row(
            "SELECT crop, expires_at FROM probes WHERE search_id = ?1 AND query_face = ?2 AND expires_at > ?3",
            &[&search, &query_face, &now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
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
        Ok(self
            .db()
            .row(
                "SELECT 1 FROM probes WHERE search_id = ?1 AND query_face = ?2 AND expires_at > ?3",
                &[&search, &query_face, &now],
                |_| Ok(()),
            )?
            .is_some())
    }

    /// The query faces of a search kept and not expired by `now` (their indexes).
    pub fn probes_of(&self, search: u64, now: &str) -> Result<Vec<usize>> {
        self.db().rows(
            "SELECT query_face FROM probes WHERE search_id = ?1 AND expires_at > ?2 ORDER BY query_face",
            &[&search, &now],
            |r| Ok(r.get::<i64>(0)?.max(0) as usize),
        )
    }

    /// How many query faces are kept, and when the last of them expires.
    pub fn probe_count(&self) -> Result<(u64, Option<String>)> {
        Ok(self
            .db()
            .row("SELECT COUNT(*), MAX(expires_at) FROM probes", &[], |r| Ok((r.get(0)?, r.get(1)?)))?
            .unwrap_or((0, None)))
    }

    /// Whether every candidate of a search is decided: rejected by one reviewer, confirmed by two,
    /// or its face gone.
    pub fn search_decided(&self, search: u64) -> Result<bool> {
        let undecided = self.db().row(
            &format!("SELECT 1 FROM candidates c WHERE c.search_id = ?1 AND NOT {DECIDED} LIMIT 1"),
            &[&search],
            |_| Ok(()),
        )?;
        Ok(undecided.is_none())
    }

    /// The searches whose kept query faces have expired by `now` (RFC 3339).
    pub fn searches_with_expired_probes(&self, now: &str) -> Result<Vec<u64>> {
        self.db().rows(
            "SELECT DISTINCT search_id FROM probes WHERE expires_at <= ?1 ORDER BY search_id",
            &[&now],
            |r| r.get(0),
        )
    }
}

fn search_row(r: &Row<'_>) -> Result<SearchRecord> {
    let id: u64 = r.get(0)?;
    let collections = r.json(4, "collections", || format!("search {id}"))?;
    Ok(SearchRecord {
        id,
        actor: r.get(1)?,
        case_ref: r.get(2)?,
        purpose: r.get(3)?,
        collections,
        gallery_size: r.get::<i64>(5)?.max(0) as u64,
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
        self.db().execute(
            "INSERT INTO probes (search_id, query_face, crop, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (search_id, query_face)
             DO UPDATE SET crop = excluded.crop, created_at = excluded.created_at, expires_at = excluded.expires_at",
            &[&search, &query_face, &sealed, &now(), &expires_at],
        )?;
        Ok(())
    }

    /// Deletes the kept query faces of every search left with no candidate undecided (after a
    /// deletion of faces: an erased candidate counts as decided); returns how many went.
    pub fn drop_probes_of_decided_searches(&self) -> Result<u64> {
        self.db().execute(
            &format!(
                "DELETE FROM probes WHERE search_id IN (SELECT DISTINCT p.search_id FROM probes p
                 WHERE NOT EXISTS (SELECT 1 FROM candidates c WHERE c.search_id = p.search_id AND NOT {DECIDED}))"
            ),
            &[],
        )
    }

    /// Deletes the kept query faces of a search; returns how many there were.
    pub fn drop_probes(&self, search: u64) -> Result<u64> {
        self.db().execute("DELETE FROM probes WHERE search_id = ?1", &[&search])
    }

    /// Records a search and its candidates; returns the search id and candidate ids.
    pub fn record_search(&self, search: &NewSearch<'_>, candidates: &[NewCandidate]) -> Result<(u64, Vec<u64>)> {
        let search_id: u64 = self
            .db()
            .row(
                "INSERT INTO searches (actor, case_ref, purpose, query_sha256, collections, gallery_size, started_at, finished_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
                &[
                    &search.actor,
                    &search.case_ref,
                    &search.purpose,
                    &search.query_sha256,
                    &serde_json::to_string(search.collections).unwrap_or_default(),
                    &search.gallery_size,
                    &search.started_at,
                    &now(),
                ],
                |r| r.get(0),
            )?
            .ok_or_else(|| Error::Invalid("a new search got no id".into()))?;
        let mut ids = Vec::with_capacity(candidates.len());
        for chunk in candidates.chunks(CANDIDATES_PER_INSERT) {
            ids.extend(self.insert_candidates(search_id, chunk)?);
        }
        Ok((search_id, ids))
    }

    /// Inserts `candidates` of search `search_id` by one statement; their ids, in their order.
    fn insert_candidates(&self, search_id: u64, candidates: &[NewCandidate]) -> Result<Vec<u64>> {
        let rows: Vec<String> = (0..candidates.len())
            .map(|i| {
                let first = 6 * i + 1;
                format!("(?{first}, ?{}, ?{}, ?{}, ?{}, ?{})", first + 1, first + 2, first + 3, first + 4, first + 5)
            })
            .collect();
        let sql = format!(
            "INSERT INTO candidates (search_id, face_id, collection_id, query_face, rank, score) VALUES {}
             RETURNING id, face_id, query_face, rank",
            rows.join(", ")
        );
        let mut params: Vec<&dyn Param> = Vec::with_capacity(6 * candidates.len());
        for c in candidates {
            params.extend([&search_id as &dyn Param, &c.face_id, &c.collection_id, &c.query_face, &c.rank, &c.score]);
        }
        // Neither store promises the order of the rows returned: each is matched to its
        // candidate by face, query face and rank.
        let mut waiting: std::collections::HashMap<(u64, u64, u64), Vec<usize>> = std::collections::HashMap::new();
        for (i, c) in candidates.iter().enumerate().rev() {
            waiting.entry((c.face_id, c.query_face as u64, c.rank as u64)).or_default().push(i);
        }
        let mut ids = vec![None; candidates.len()];
        for (id, key) in self.db().rows(&sql, &params, |r| Ok((r.get::<u64>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))))? {
            if let Some(i) = waiting.get_mut(&key).and_then(Vec::pop) {
                ids[i] = Some(id);
            }
        }
        ids.into_iter().map(|id| id.ok_or_else(|| Error::Invalid("a new candidate got no id".into()))).collect()
    }

    /// Records a reviewer's decision on a candidate within `scope` (a later decision by the
    /// same reviewer replaces theirs).
    pub fn review(&self, scope: &Scope, candidate: u64, reviewer: &str, confirm: bool) -> Result<CandidateRecord> {
        self.candidate(scope, candidate)?;
        self.db().execute(
            "INSERT INTO reviews (candidate_id, reviewer, decision, at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (candidate_id, reviewer) DO UPDATE SET decision = excluded.decision, at = excluded.at",
            &[&candidate, &reviewer, &if confirm { "confirm" } else { "reject" }, &now()],
        )?;
        self.candidate(scope, candidate)
    }
}
