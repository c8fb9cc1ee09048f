//! Rights by face (GDPR art. 15, 17, 21), run by the data protection officer on a recorded
//! request: the request photo's template is compared exhaustively (exact scan, never
//! approximate) with every template of every collection, at the pack's rights threshold.
//!
//! - access: a report listing each matching face with its collection, source, capture time,
//!   legal basis, purpose and retention;
//! - erasure: after a confirmation naming how many faces will go, deletes those templates and
//!   faces, and the images left without a face (with the server's copy of an uploaded photo);
//!   compacts the index and vacuums the catalog so the bytes are gone from the files;
//! - objection: keeps the template as a suppression template; ingestion drops matching faces
//!   before they are stored and search never returns them.
//!
//! An erasure is planned and confirmed on the photo ([`plan_erasure`]), then carried out on
//! the faces confirmed, by id ([`carry_out_erasure`]): at once by the CLI, as a background job
//! by the server (the deletion, the compaction of a large index and the vacuum of a large
//! catalog take seconds; the job holds face ids only, never a template, and is idempotent).

use std::path::Path;

use gabarit_catalog::RightsRequest;
use gabarit_governance::{Authorized, GovernanceDraft, Scope, actions, authorize_system};
use gabarit_index::VectorIndex;
use gabarit_types::BBox;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::Caller;
use crate::store::Store;
use crate::{Error, FaceService, Result};

/// One face matching a rights request.
#[derive(Debug, Clone, Serialize)]
pub struct RightsMatch {
    /// Face id.
    pub face_id: u64,
    /// Similarity with the request photo.
    pub score: f32,
    /// Collection.
    pub collection: String,
    /// Image path or URI.
    pub path: String,
    /// Source the image came from.
    pub source: String,
    /// Face box.
    pub bbox: BBox,
    /// EXIF capture time.
    pub captured_at: Option<String>,
    /// When it was ingested.
    pub ingested_at: String,
    /// The collection's controller, purpose, legal basis, condition, jurisdictions, retention.
    pub governance: GovernanceDraft,
}

/// The answer to a rights request.
#[derive(Debug, Clone, Serialize)]
pub struct RightsReport {
    /// The request.
    pub request: RightsRequest,
    /// SHA-256 of the request photo (the photo itself is not kept).
    pub photo_sha256: String,
    /// Threshold used (the pack's rights threshold).
    pub threshold: f32,
    /// Templates compared (all collections).
    pub templates_searched: u64,
    /// Every matching face.
    pub matches: Vec<RightsMatch>,
    /// When the report was produced.
    pub generated_at: String,
}

/// Records a request; the deadline is one month after receipt (GDPR art. 12(3)).
pub fn open_request(
    store: &mut Store,
    who: &Caller,
    kind: &str,
    requester: &str,
    verification: &str,
    received_on: &str,
) -> Result<RightsRequest> {
    who.may::<actions::Rights>()?;
    let received: jiff::civil::Date = received_on.parse().map_err(|_| {
        Error::Invalid(format!("--received {:?}: expected YYYY-MM-DD", gabarit_governance::limits::shown(received_on)))
    })?;
    if !(2000..=2200).contains(&received.year()) {
        return Err(Error::Invalid(format!("--received {received}: not a date a request was received on")));
    }
    let deadline = received
        .checked_add(jiff::Span::new().months(1))
        .map_err(|e| Error::Invalid(format!("deadline of {received}: {e}")))?;
    let (req, _) = store.catalog.audited(who.name(), "rights_request_open", |tx| {
        let req =
            tx.open_request(kind, requester, verification, &received.to_string(), &deadline.to_string(), who.name())?;
        let detail = json!({"request": req.id, "kind": req.kind, "requester": req.requester,
            "verification": req.verification, "received_on": req.received_on, "deadline": req.deadline});
        Ok((req, detail))
    })?;
    Ok(req)
}

/// The template standing for the requester: the largest usable face of the photo.
fn request_template(service: &FaceService, photo: &Path) -> Result<(Vec<f32>, String)> {
    let img = service.analyze_photo(photo)?;
    let face =
        img.best_face().ok_or_else(|| Error::Invalid(format!("{}: no face in the request photo", photo.display())))?;
    let t = face.template.clone().ok_or_else(|| Error::Invalid("the face was not embedded".into()))?;
    Ok((t.0, img.sha256.clone()))
}

fn find(store: &Store, scope: &Scope, template: &[f32], threshold: f32) -> Result<Vec<RightsMatch>> {
    let hits = store.index()?.search_threshold(template, threshold, None)?;
    let mut out = Vec::with_capacity(hits.len());
    for h in hits {
        let f = store.catalog.face(scope, h.id)?;
        let img = store.catalog.image(scope, f.image_id)?;
        out.push(RightsMatch {
            face_id: f.face_id,
            score: h.score,
            governance: store.catalog.governance(&f.collection)?,
            collection: f.collection,
            path: f.uri,
            source: f.source,
            bbox: f.bbox,
            captured_at: f.captured_at,
            ingested_at: img.ingested_at,
        });
    }
    Ok(out)
}

/// The report of a request as it stands now, over `templates_searched` templates.
fn report(
    store: &Store,
    request: u64,
    photo_sha256: &str,
    threshold: f32,
    templates_searched: u64,
    matches: Vec<RightsMatch>,
) -> Result<RightsReport> {
    Ok(RightsReport {
        request: store.catalog.request(request)?,
        photo_sha256: photo_sha256.to_string(),
        threshold,
        templates_searched,
        matches,
        generated_at: jiff::Timestamp::now().to_string(),
    })
}

/// Every rights request, newest first, with its deadline and status (dpo).
pub fn list_requests(store: &Store, who: &Caller) -> Result<Vec<RightsRequest>> {
    who.may::<actions::Rights>()?;
    Ok(store.catalog.requests()?)
}

fn check_kind(req: &RightsRequest, kinds: &[&str]) -> Result<()> {
    if kinds.contains(&req.kind.as_str()) {
        Ok(())
    } else {
        Err(Error::Invalid(format!("request {} is an {} request, not {}", req.id, req.kind, kinds.join(" or "))))
    }
}

/// Access (art. 15): every face of the requester across all collections.
pub fn access(
    service: &FaceService,
    store: &mut Store,
    who: &Caller,
    request: u64,
    photo: &Path,
    threshold: f32,
) -> Result<RightsReport> {
    let proof = who.may::<actions::Rights>()?;
    let req = store.catalog.request(request)?;
    check_kind(&req, &["access"])?;
    let (template, sha) = request_template(service, photo)?;
    let matches = find(store, proof.scope(), &template, threshold)?;
    let templates_searched = store.catalog.template_count(None)?;
    store.catalog.audited(who.name(), "rights_access", |tx| {
        tx.close_request(request, &sha, &format!("{} face(s) reported", matches.len()))?;
        let detail = json!({"request": request, "input_sha256": sha, "threshold": threshold,
            "templates_searched": templates_searched, "faces": matches.iter().map(|m| m.face_id).collect::<Vec<_>>()});
        Ok(((), detail))
    })?;
    report(store, request, &sha, threshold, templates_searched, matches)
}

/// Erasure (art. 17). Without `confirm` only lists what would go (the plan); with `confirm`
/// equal to the number of faces listed, deletes them physically.
pub fn erase(
    service: &FaceService,
    store: &mut Store,
    who: &Caller,
    request: u64,
    photo: &Path,
    threshold: f32,
    confirm: Option<usize>,
) -> Result<(RightsReport, Option<gabarit_catalog::Deleted>)> {
    let (report, confirmed) = plan_erasure(service, store, who, request, photo, threshold, confirm)?;
    let Some(confirmed) = confirmed else { return Ok((report, None)) };
    let deleted = carry_out_erasure(store, who, &confirmed)?;
    Ok((report, Some(deleted)))
}

/// An erasure confirmed by the DPO: the request, the request photo's hash and threshold (for
/// the record), and the faces to delete (ids only: no biometric data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfirmedErasure {
    /// Rights request.
    pub request: u64,
    /// SHA-256 of the request photo.
    pub input_sha256: String,
    /// Threshold the faces matched at.
    pub threshold: f32,
    /// The faces listed to the DPO and confirmed.
    pub faces: Vec<u64>,
}

/// The faces an erasure request's photo matches (the plan, as a report), and, when `confirm`
/// names how many there are, the confirmed erasure to carry out (dpo).
pub fn plan_erasure(
    service: &FaceService,
    store: &Store,
    who: &Caller,
    request: u64,
    photo: &Path,
    threshold: f32,
    confirm: Option<usize>,
) -> Result<(RightsReport, Option<ConfirmedErasure>)> {
    let proof = who.may::<actions::Rights>()?;
    let req = store.catalog.request(request)?;
    check_kind(&req, &["erasure"])?;
    let (template, sha) = request_template(service, photo)?;
    let matches = find(store, proof.scope(), &template, threshold)?;
    let templates_searched = store.index()?.len() as u64;
    let faces: Vec<u64> = matches.iter().map(|m| m.face_id).collect();
    let report = report(store, request, &sha, threshold, templates_searched, matches)?;
    let Some(n) = confirm else { return Ok((report, None)) };
    if n != faces.len() {
        return Err(Error::Invalid(format!(
            "confirmation for {n} face(s), but {} match now: run without --confirm to see the list again",
            faces.len()
        )));
    }
    Ok((report, Some(ConfirmedErasure { request, input_sha256: sha, threshold, faces })))
}

/// Deletes the confirmed faces' templates and faces, and the images left without a face,
/// closing the request, in the transaction of its audit entry; then the server's copies of
/// uploads no record uses any more; compacts the index and vacuums the catalog so that the
/// bytes leave the files (dpo). Doing it again deletes nothing more.
pub fn carry_out_erasure(store: &mut Store, who: &Caller, e: &ConfirmedErasure) -> Result<gabarit_catalog::Deleted> {
    let proof = who.may::<actions::Rights>()?;
    check_kind(&store.catalog.request(e.request)?, &["erasure"])?;
    let images = images_of_faces(store, proof.scope(), &e.faces)?;
    let uploads = crate::jobs::uploads_dir(store).canonicalize().ok();
    let ((deleted, files), _) = store.catalog.audited(who.name(), "rights_erasure", |tx| {
        let deleted = tx.delete_faces(&e.faces)?;
        let paths: Vec<(u64, String)> = images.iter().map(|i| (i.id, i.uri.clone())).collect();
        let files = uploads_left(tx, uploads.as_deref(), &paths)?;
        let contents: Vec<String> = images.iter().map(|i| i.sha256.clone()).collect();
        let remembered = tx.remember_erased(e.request, &contents)?;
        tx.close_request(
            e.request,
            &e.input_sha256,
            &format!("{} face(s), {} image(s) erased", deleted.faces, deleted.images),
        )?;
        let detail = json!({"request": e.request, "input_sha256": e.input_sha256, "threshold": e.threshold, "faces": e.faces,
               "deleted": {"templates": deleted.templates, "faces": deleted.faces, "images": deleted.images,
                           "uploaded_files": files.len()},
               "photos_refused_from_now_on": remembered});
        Ok(((deleted, files), detail))
    })?;
    finish_deletion(store, uploads.as_deref(), &files, e.faces.iter().copied())?;
    Ok(deleted)
}

/// After a deletion committed: the uploaded copies no record uses go, the catalog's freed
/// pages are purged, the index forgets the faces and is compacted.
fn finish_deletion(
    store: &Store,
    uploads: Option<&Path>,
    files: &[std::path::PathBuf],
    faces: impl Iterator<Item = u64>,
) -> Result<()> {
    if let Some(uploads) = uploads {
        for f in files {
            crate::jobs::remove_upload(f, uploads)?;
        }
    }
    store.catalog.purge_free_pages()?;
    let mut index = store.index()?.write();
    for id in faces {
        index.remove(id)?;
    }
    index.compact()?;
    Ok(())
}

/// An image one of the faces to erase is on.
struct ErasedImage {
    id: u64,
    uri: String,
    sha256: String,
}

/// The images of these faces, before they are deleted.
fn images_of_faces(store: &Store, scope: &Scope, faces: &[u64]) -> Result<Vec<ErasedImage>> {
    let mut images: Vec<ErasedImage> = Vec::new();
    for &f in faces {
        let face = match store.catalog.face(scope, f) {
            Ok(face) => face,
            Err(gabarit_catalog::Error::NotFound { .. }) => continue, // already gone (a resumed erasure)
            Err(e) => return Err(e.into()),
        };
        if images.iter().any(|i| i.id == face.image_id) {
            continue;
        }
        let image = store.catalog.image(scope, face.image_id)?;
        images.push(ErasedImage { id: image.id, uri: image.uri, sha256: image.sha256 });
    }
    images.sort_unstable_by_key(|i| i.id);
    Ok(images)
}

/// The uploaded files (kept by the server in the data directory's `uploads/`) of the images
/// the catalog no longer holds and that no other record, of any collection, points to: the
/// server's own copy goes with its last record. Files elsewhere are the operator's sources
/// and are left alone.
fn uploads_left(
    catalog: &gabarit_catalog::Catalog,
    uploads: Option<&Path>,
    images: &[(u64, String)],
) -> gabarit_catalog::Result<Vec<std::path::PathBuf>> {
    let Some(uploads) = uploads else { return Ok(Vec::new()) };
    let mut files = Vec::new();
    for (id, uri) in images {
        if catalog.image_exists(*id)? || catalog.has_image_uri(uri)? {
            continue; // still in the catalog, or another record uses the same file
        }
        let Ok(file) = Path::new(uri).canonicalize() else { continue };
        if file.starts_with(uploads) && file.is_file() && !files.contains(&file) {
            files.push(file);
        }
    }
    Ok(files)
}

/// Objection (art. 21): the request's template becomes a suppression template.
pub fn object(
    service: &FaceService,
    store: &mut Store,
    who: &Caller,
    request: u64,
    photo: &Path,
    threshold: f32,
) -> Result<RightsReport> {
    let proof = who.may::<actions::Rights>()?;
    let req = store.catalog.request(request)?;
    check_kind(&req, &["objection"])?;
    let (template, sha) = request_template(service, photo)?;
    let (codes, scale) = gabarit_index::quant::quantize(&template);
    let matches = find(store, proof.scope(), &template, threshold)?;
    store.catalog.audited(who.name(), "rights_objection", |tx| {
        let id = tx.add_suppression(request, &codes, scale)?;
        tx.close_request(
            request,
            &sha,
            &format!("suppression template {id} stored; {} existing face(s) hidden", matches.len()),
        )?;
        let detail = json!({"request": request, "input_sha256": sha, "suppression": id,
            "hidden_faces": matches.iter().map(|m| m.face_id).collect::<Vec<_>>()});
        Ok(((), detail))
    })?;
    let templates_searched = store.catalog.template_count(None)?;
    report(store, request, &sha, threshold, templates_searched, matches)
}

/// The suppression templates, as vectors.
pub(crate) fn suppression_vectors(store: &Store) -> Result<Vec<Vec<f32>>> {
    Ok(store.catalog.suppressions()?.into_iter().map(|(v, s)| gabarit_index::quant::dequantize(&v, s)).collect())
}

/// Faces hidden by objections: every stored face matching a suppression template.
pub(crate) fn suppressed_faces(
    store: &Store,
    threshold: f32,
) -> Result<std::sync::Arc<std::collections::HashSet<u64>>> {
    let suppressions = store.catalog.suppression_count()?;
    if suppressions == 0 {
        return Ok(Default::default());
    }
    store.index()?.suppressed_faces(suppressions, threshold, || {
        let mut out = std::collections::HashSet::new();
        for v in suppression_vectors(store)? {
            out.extend(store.index()?.search_threshold(&v, threshold, None)?.into_iter().map(|h| h.id));
        }
        Ok(out)
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The report as a readable, self-contained HTML page.
pub fn report_html(r: &RightsReport) -> String {
    let mut rows = String::new();
    for m in &r.matches {
        let g = &m.governance;
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            m.face_id,
            m.score,
            esc(&m.collection),
            esc(&m.path),
            esc(&m.source),
            esc(m.captured_at.as_deref().unwrap_or("-")),
            esc(g.controller.as_deref().unwrap_or("-")),
            esc(g.purpose.as_deref().unwrap_or("-")),
            g.legal_basis.map(|b| b.to_string()).unwrap_or("-".into()) + " / " + &g.condition.map(|c| c.to_string()).unwrap_or("-".into()),
            g.retention.map(|r| r.to_string()).unwrap_or("-".into()),
        ));
    }
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Rights request {id}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 6px;text-align:left;font-size:90%}}</style></head><body>
<h1>Rights request {id} ({kind})</h1>
<p>Requester: {requester}. Identity verified by: {verification}. Received {received}, answer due by {deadline}.</p>
<p>The request photo (SHA-256 {sha}, not kept) was compared with every one of the {n} templates held, exhaustively, at threshold {thr:.2}. {count} face(s) match.</p>
<table id="matches"><tr><th>face</th><th>score</th><th>collection</th><th>image</th><th>source</th><th>captured</th><th>controller</th><th>purpose</th><th>legal basis / condition</th><th>retention</th></tr>{rows}</table>
<p><small>Generated {at} by Gabarit.</small></p></body></html>"#,
        id = r.request.id,
        kind = esc(&r.request.kind),
        requester = esc(&r.request.requester),
        verification = esc(&r.request.verification),
        received = esc(&r.request.received_on),
        deadline = esc(&r.request.deadline),
        sha = r.photo_sha256,
        n = r.templates_searched,
        thr = r.threshold,
        count = r.matches.len(),
        at = r.generated_at,
    )
}

/// What retention deleted.
#[derive(Debug, Clone, Serialize)]
pub struct RetentionReport {
    /// Per collection: name and what was deleted.
    pub collections: Vec<(String, gabarit_catalog::Deleted)>,
    /// Query faces kept for review whose period ended (see [`crate::review`]).
    pub query_faces_expired: u64,
}

/// Deletes what has expired at `now` under each collection's retention (dpo).
pub fn retention_run(store: &mut Store, who: &Caller, now: jiff::Timestamp) -> Result<RetentionReport> {
    let proof = who.may::<actions::Retention>()?;
    delete_expired(store, &proof, now)
}

/// The actor the audit log names for retention run on schedule by the server.
pub const SCHEDULED_RETENTION: &str = "retention-schedule";

/// Retention run by the server on its own schedule (daily): no user asks for it, because each
/// collection's controller set its retention when it was created; audited as
/// [`SCHEDULED_RETENTION`].
pub fn scheduled_retention(store: &mut Store, now: jiff::Timestamp) -> Result<RetentionReport> {
    delete_expired(store, &authorize_system::<actions::Retention>(SCHEDULED_RETENTION), now)
}

fn delete_expired(
    store: &mut Store,
    proof: &Authorized<actions::Retention>,
    now: jiff::Timestamp,
) -> Result<RetentionReport> {
    let mut out = Vec::new();
    let uploads = crate::jobs::uploads_dir(store).canonicalize().ok();
    for c in store.catalog.collections_in(proof.scope())? {
        let name = c.name.clone();
        let Some(retention) = store.catalog.governance(&name)?.retention else { continue };
        let cutoff = match retention {
            gabarit_governance::Retention::Days(d) => now - jiff::SignedDuration::from_hours(24 * i64::from(d)),
            gabarit_governance::Retention::Until(date) => {
                if jiff::tz::TimeZone::UTC.to_datetime(now).date() > date {
                    now + jiff::SignedDuration::from_secs(1)
                } else {
                    continue;
                }
            }
        };
        let expired = store.catalog.images_ingested_before(c.id, &cutoff.to_string())?;
        if expired.is_empty() {
            continue;
        }
        let images: Vec<u64> = expired.iter().map(|(id, _)| *id).collect();
        let paths = images
            .iter()
            .map(|id| Ok((*id, store.catalog.image(proof.scope(), *id)?.uri)))
            .collect::<Result<Vec<_>>>()?;
        let ((deleted, files), _) = store.catalog.audited(proof.user(), "retention_delete", |tx| {
            let deleted = tx.delete_images(&images)?;
            let files = uploads_left(tx, uploads.as_deref(), &paths)?;
            let detail = json!({"collection": name, "cutoff": cutoff.to_string(), "now": now.to_string(),
                "images": deleted.images, "faces": deleted.faces, "templates": deleted.templates, "uploaded_files": files.len()});
            Ok(((deleted, files), detail))
        })?;
        finish_deletion(
            store,
            uploads.as_deref(),
            &files,
            expired.iter().flat_map(|(_, faces)| faces.iter().copied()),
        )?;
        out.push((name, deleted));
    }
    let query_faces_expired = crate::review::expire_probes(store, proof.user(), now)?;
    Ok(RetentionReport { collections: out, query_faces_expired })
}
