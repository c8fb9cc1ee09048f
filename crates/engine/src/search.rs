//! Search by photo: every face of the query photo (or the one chosen) against the templates
//! of the chosen collections, with provenance and what each score means at this gallery
//! size. Results are candidates for human review, never identifications.

use gabarit_governance::{Authorized, actions};
use gabarit_inference::Calibration;
use gabarit_types::{BBox, Quality};
use serde::Serialize;

use crate::sources::{VideoPlace, video_place};
use crate::store::Store;
use crate::{Error, Result};

/// Galleries of at most this many templates are always searched exhaustively (about 2 ms on
/// 2 cores), whatever the index.
pub const EXACT_UP_TO: u64 = 50_000;

/// How to search.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// Collections to search (empty: all).
    pub collections: Vec<String>,
    /// Candidates per query face.
    pub top_k: usize,
    /// Minimum score (default: each pack's verification threshold); a score of one pack, so
    /// refused for a search over collections of several packs.
    pub threshold: Option<f32>,
    /// Search only this face of the query photo (0 = highest detector score).
    pub face: Option<usize>,
    /// FPIR target for the suggested threshold at the current gallery size.
    pub target_fpir: f64,
    /// Scan every template instead of walking the graph index.
    pub exact: bool,
    /// Days the search keeps its query faces for review at most (1 to
    /// [`crate::query::MAX_PROBE_DAYS`]; they go earlier once every candidate is decided).
    pub probe_days: u32,
}

/// One candidate face.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// Index of the query face it answers.
    pub query_face: usize,
    /// Rank among that face's candidates (1 = best).
    pub rank: usize,
    /// Cosine similarity (a score of its pack: scores of two packs are not comparable).
    pub score: f32,
    /// The model pack of the template it matched (its collection's).
    pub pack: String,
    /// Share of impostor comparisons scoring at least this (pack calibration).
    pub false_match_rate: Option<f64>,
    /// Expected number of faces of other people scoring at least this in a gallery of this
    /// size: FMR × N.
    pub expected_false_candidates: Option<f64>,
    /// Face id.
    pub face_id: u64,
    /// Image id.
    pub image_id: u64,
    /// Collection.
    pub collection: String,
    /// Its id.
    pub collection_id: u32,
    /// Image path or URI.
    pub path: String,
    /// Source the image came from.
    pub source: String,
    /// Face box in the image.
    pub bbox: BBox,
    /// EXIF capture time (for a video, the container's creation time).
    pub captured_at: Option<String>,
    /// For a face from a video: where in it.
    pub video: Option<VideoPlace>,
}

/// A face of the query photo.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct QueryFace {
    /// Index in the photo (0 = highest detector score).
    pub index: usize,
    /// Box.
    pub bbox: BBox,
    /// Quality.
    pub quality: Quality,
    /// Number of candidates found for it.
    pub candidates: usize,
}

/// The answer to a search.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    /// Query photo.
    pub query: String,
    /// SHA-256 of the query photo (what the audit log keeps, never the image).
    pub query_sha256: String,
    /// Collections searched.
    pub collections: Vec<String>,
    /// Templates searched (N).
    pub gallery_size: u64,
    /// Score threshold applied (the first pack's: see `packs` for each).
    pub threshold: f32,
    /// Threshold that would keep FPIR at `target_fpir` for this N (the first pack's
    /// calibration).
    pub fpir_threshold: Option<f32>,
    /// Each pack searched: the collections of several packs are searched each with its own
    /// pack's query template, and their candidates ranked together by false match rate.
    pub packs: Vec<PackSearched>,
    /// Impostor comparisons the calibration measured (the fewest of the packs'): a false match
    /// rate below one in that many cannot be told.
    pub calibration_comparisons: Option<u64>,
    /// FPIR target.
    pub target_fpir: f64,
    /// Whether the search scanned every template (`--exact`, or an exact index); otherwise the
    /// index ranked the gallery approximately (graph or compressed codes), which may miss a few
    /// of the true top-k.
    pub exhaustive: bool,
    /// Faces found in the query photo.
    pub faces: Vec<QueryFace>,
    /// Candidates, per query face then by rank.
    pub candidates: Vec<Candidate>,
    /// The lag of the streaming replica the templates were read from, in seconds, when it was
    /// beyond the bound set for it: faces stored in the last that many seconds may be missing
    /// (absent when the answer is current or within the bound).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica_lag_s: Option<f64>,
}

/// What a search did with one pack's templates.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct PackSearched {
    /// Pack name.
    pub pack: String,
    /// Its collections searched.
    pub collections: Vec<String>,
    /// Their templates (N of this pack).
    pub gallery_size: u64,
    /// Score threshold applied to this pack's scores.
    pub threshold: f32,
    /// Threshold that would keep FPIR at `target_fpir` for the whole gallery (this pack's
    /// calibration).
    pub fpir_threshold: Option<f32>,
    /// Impostor comparisons its calibration measured (a false match rate below one in that
    /// many cannot be told).
    pub calibration_comparisons: Option<u64>,
}

/// One pack's part of a search: its collections, index, rules and hidden faces.
struct PackPart {
    key: gabarit_catalog::PackKey,
    ids: Option<Vec<u32>>,
    names: Vec<String>,
    index: crate::store::SharedIndex,
    gallery_size: u64,
    threshold: f32,
    calibration: Option<std::sync::Arc<Calibration>>,
    hidden: std::sync::Arc<std::collections::HashSet<u64>>,
}

/// A hit of one pack, with the key it is ranked by among the hits of every pack.
struct RankedHit {
    part: usize,
    hit: gabarit_index::Hit,
    fmr: Option<f64>,
    /// Share of genuine comparisons scoring at least this: among hits beyond every impostor
    /// score (false match rate 0), the rarer a genuine score this high, the stronger.
    genuine_tail: f64,
}

/// Searches the collections `proof` covers with the faces of a query photo already analysed
/// with their packs (named `query` in messages and in the result): the models run before,
/// without the store. Each pack's collections are searched with that pack's template of the
/// face; with several packs, candidates are ranked by false match rate (each pack's
/// calibration), never by raw score.
pub(crate) fn search_faces(
    store: &Store,
    proof: &Authorized<actions::Search>,
    query: &str,
    photo: &crate::query::QueryPhoto,
    opts: &SearchOptions,
) -> Result<SearchResult> {
    let img = &photo.faces;
    let scope = proof.scope();
    let mut searched = store.catalog.collections_in(scope)?;
    searched.retain(|c| opts.collections.is_empty() || opts.collections.contains(&c.name));
    let names: Vec<String> = searched.iter().map(|c| c.name.clone()).collect();
    let parts = pack_parts(store, scope, &searched, query, photo, opts)?;
    let gallery_size: u64 = parts.iter().map(|p| p.gallery_size).sum();
    // A gallery this small is scanned whole (a few milliseconds): every face is compared, and
    // the result says so.
    let exact = opts.exact || gallery_size <= EXACT_UP_TO;
    if img.faces.is_empty() {
        return Err(Error::NoFace { photo: query.to_string(), detail: " in the query photo".into() });
    }
    if let Some(k) = opts.face
        && k >= img.faces.len()
    {
        return Err(Error::field(
            "face",
            format!("{k} asked, but {query} has {} face(s) (0 to {})", img.faces.len(), img.faces.len() - 1),
        ));
    }
    let mut faces = Vec::new();
    let mut candidates = Vec::new();
    for (index, face) in img.faces.iter().enumerate() {
        if opts.face.is_some_and(|k| k != index) {
            continue;
        }
        let ranked = ranked_hits(&parts, photo, index, exact, opts.top_k)?;
        let ids: Vec<u64> = ranked.iter().map(|r| r.hit.id).collect();
        let mut records = store.catalog.faces(scope, &ids)?;
        let mut n = 0;
        for RankedHit { part, hit, fmr, .. } in ranked {
            if n == opts.top_k {
                break;
            }
            // Erased by another handle after the index was read: no longer a candidate.
            let Some(rec) = records.remove(&hit.id) else { continue };
            let video = video_place(store, scope, &rec)?;
            n += 1;
            candidates.push(Candidate {
                query_face: index,
                rank: n,
                score: hit.score,
                pack: parts[part].key.name.clone(),
                false_match_rate: fmr,
                expected_false_candidates: fmr.map(|f| gabarit_metrics::expected_false_candidates(f, gallery_size)),
                face_id: rec.face_id,
                image_id: rec.image_id,
                collection: rec.collection,
                collection_id: rec.collection_id,
                path: rec.uri,
                source: rec.source,
                bbox: rec.bbox,
                captured_at: rec.captured_at,
                video,
            });
        }
        faces.push(QueryFace { index, bbox: face.bbox, quality: face.quality, candidates: n });
    }
    let fpir =
        |p: &PackPart| p.calibration.as_ref().map(|c| c.threshold_for_fpir(opts.target_fpir, gallery_size.max(1)));
    let mut replica_lag: Option<f64> = None;
    if let Some(bound) = store.replica_max_lag() {
        for part in &parts {
            if let Some(lag) = part.index.staleness()?.filter(|lag| *lag > bound.as_secs_f64()) {
                replica_lag = Some(replica_lag.map_or(lag, |l| l.max(lag)));
            }
        }
    }
    if let Some(lag) = replica_lag {
        tracing::warn!(lag_s = lag, "a search read from a replica lagging beyond its bound");
    }
    Ok(SearchResult {
        query: query.to_string(),
        query_sha256: img.sha256.clone(),
        collections: names,
        gallery_size,
        threshold: parts.first().map_or(opts.threshold.unwrap_or(0.0), |p| p.threshold),
        fpir_threshold: parts.first().and_then(fpir),
        target_fpir: opts.target_fpir,
        exhaustive: exact || parts.iter().all(|p| p.index.is_exhaustive()),
        packs: parts
            .iter()
            .map(|p| PackSearched {
                pack: p.key.name.clone(),
                collections: p.names.clone(),
                gallery_size: p.gallery_size,
                threshold: p.threshold,
                fpir_threshold: fpir(p),
                calibration_comparisons: p.calibration.as_ref().map(|c| c.impostor_comparisons),
            })
            .collect(),
        calibration_comparisons: parts
            .iter()
            .map(|p| p.calibration.as_ref().map(|c| c.impostor_comparisons))
            .min()
            .flatten(),
        faces,
        candidates,
        replica_lag_s: replica_lag,
    })
}

/// Each pack's part of a search over `searched` (the collections of one pack, its index,
/// gallery size, threshold, calibration and the faces objections hide); refused when a
/// threshold is given for several packs, when the query photo lacks a pack's analysis, or
/// when several packs lack a calibration to rank by.
fn pack_parts(
    store: &Store,
    scope: &gabarit_governance::Scope,
    searched: &[gabarit_catalog::Collection],
    query: &str,
    photo: &crate::query::QueryPhoto,
    opts: &SearchOptions,
) -> Result<Vec<PackPart>> {
    let mut keys: Vec<gabarit_catalog::PackKey> = searched.iter().map(|c| c.pack_key()).collect();
    keys.sort();
    keys.dedup();
    if keys.len() > 1 && opts.threshold.is_some() {
        return Err(Error::field(
            "threshold",
            format!(
                "a threshold is a score of one pack, and these collections hold templates of {} packs ({}): search without one (each pack's own applies) or one pack's collections at a time",
                keys.len(),
                keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let mut parts = Vec::with_capacity(keys.len());
    for key in keys {
        if !photo.packs().any(|p| *p == key) {
            return Err(Error::QueryNotAnalysedWith { query: query.to_string(), pack: key.name });
        }
        let pack = crate::store::pack_of(&key)?;
        let calibration = crate::store::calibration_of(&key)?;
        let mine: Vec<&gabarit_catalog::Collection> = searched.iter().filter(|c| c.pack_key() == key).collect();
        let ids: Option<Vec<u32>> = scope.collections().map(|_| mine.iter().map(|c| c.id).collect());
        let index = store.index(&key)?;
        // The index mirrors the catalog's templates and counts them without a table scan.
        let gallery_size = index.count(ids.as_deref()) as u64;
        let hidden = crate::objections::suppressed_faces(store, &key, pack.thresholds.rights)?;
        parts.push(PackPart {
            ids,
            names: mine.iter().map(|c| c.name.clone()).collect(),
            index,
            gallery_size,
            threshold: opts.threshold.unwrap_or(pack.thresholds.verification),
            calibration,
            hidden,
            key,
        });
    }
    if parts.len() > 1 && parts.iter().any(|p| p.calibration.is_none()) {
        return Err(Error::PacksNeedCalibration);
    }
    Ok(parts)
}

/// The candidates of the query face `index` in every pack's part, above its threshold and not
/// hidden, ranked by false match rate when several packs are searched.
fn ranked_hits(
    parts: &[PackPart],
    photo: &crate::query::QueryPhoto,
    index: usize,
    exact: bool,
    top_k: usize,
) -> Result<Vec<RankedHit>> {
    let mut ranked = Vec::new();
    for (p, part) in parts.iter().enumerate() {
        let Some(template) = photo.template(index, &part.key) else { continue };
        let k = top_k + part.hidden.len();
        let hits = if exact {
            part.index.search_exact(template, k, part.ids.as_deref())?
        } else {
            part.index.search(template, k, part.ids.as_deref())?
        };
        ranked.extend(hits.into_iter().filter(|h| h.score >= part.threshold && !part.hidden.contains(&h.id)).map(
            |hit| RankedHit {
                part: p,
                fmr: part.calibration.as_ref().map(|c| c.fmr_at(hit.score)),
                genuine_tail: part.calibration.as_ref().map_or(0.0, |c| c.genuine.tail_fraction(hit.score)),
                hit,
            },
        ));
    }
    if parts.len() > 1 {
        ranked.sort_by(|a, b| {
            let fmr = |r: &RankedHit| r.fmr.unwrap_or(1.0);
            fmr(a).total_cmp(&fmr(b)).then(a.genuine_tail.total_cmp(&b.genuine_tail)).then(a.hit.id.cmp(&b.hit.id))
        });
    }
    Ok(ranked)
}
