//! Rights by face (GDPR art. 15, 17, 21), run by the data protection officer on a recorded
//! request: the request photo's template is compared exhaustively (exact scan, never
//! approximate) with every template of every collection, at the pack's rights threshold.
//!
//! - access: a report listing each matching face with its collection, source, capture time,
//!   legal basis, purpose and retention, and, per collection, what GDPR art. 15(1) gives the
//!   person: purposes, categories of data, recipients, retention, the supervisory authority of
//!   each jurisdiction, with their rights and how matching is automated and reviewed;
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

use gabarit_catalog::PackKey;
pub use gabarit_catalog::{Deleted, RequestRun, RightsRequest};
use gabarit_governance::{GovernanceDraft, Scope, actions};
use gabarit_types::BBox;
use serde::{Deserialize, Serialize};
use serde_json::json;

mod html;
mod notice;
mod retention;

pub use html::report_html;
use notice::notices;
pub use notice::{
    AUTOMATED_MATCHING, CollectionNotice, DATA_CATEGORIES, DataCategory, Jurisdiction, Recipient, SUBJECT_RIGHTS,
    SubjectRight,
};
pub use retention::{RetentionReport, SCHEDULED_RETENTION};
pub(crate) use retention::{retention_run, scheduled_retention};

use crate::auth::Caller;
use crate::store::Store;
use crate::{Error, FaceService, FaceServices, Result};

/// One face matching a rights request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct RightsMatch {
    /// Face id.
    pub face_id: u64,
    /// Similarity with the request photo (a score of its pack).
    pub score: f32,
    /// The model pack of the face's template (its collection's).
    pub pack: String,
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
    /// The person (group of faces) it belongs to, in a collection that groups faces.
    pub person: Option<u64>,
    /// Whether it was not matched by the request photo but reached through its person, which
    /// the DPO reviewed and named in the request (`score` is then 0: not compared).
    pub via_person: bool,
}

/// A person one of the matched faces belongs to: what the DPO reviews before extending the
/// request to it (`gabarit people show`), with the faces the photo did not reach.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct PersonReached {
    /// Person id.
    pub person: u64,
    /// Collection.
    pub collection: String,
    /// Its faces.
    pub faces: u64,
    /// Of which the request photo matched.
    pub matched: u64,
    /// Its faces the photo did not match (reported, or erased, only when the request is
    /// extended to the person).
    pub not_matched: Vec<u64>,
    /// Whether this request was extended to it.
    pub extended: bool,
}

/// The answer to a rights request.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct RightsReport {
    /// The request.
    pub request: RightsRequest,
    /// SHA-256 of the request photo (the photo itself is not kept).
    pub photo_sha256: String,
    /// Threshold used (the first pack's rights threshold: see `packs` for each).
    pub threshold: f32,
    /// Each pack's templates were compared with the request photo as that pack sees it, at
    /// that pack's threshold.
    pub packs: Vec<RightsPack>,
    /// Templates compared (all collections, every pack).
    pub templates_searched: u64,
    /// Every matching face (and, for the persons the request was extended to, their other
    /// faces: `via_person`).
    pub matches: Vec<RightsMatch>,
    /// The persons the matched faces belong to, where collections group faces.
    pub persons: Vec<PersonReached>,
    /// When the report was produced.
    pub generated_at: String,
    /// What GDPR art. 15(1)(a)–(g) tells the person about each collection holding a face of
    /// theirs, in the order the collections first appear in `matches`.
    pub collections: Vec<CollectionNotice>,
    /// The rights the person has over these data (art. 15(1)(e)); the complaint to a
    /// supervisory authority (art. 15(1)(f)) is named per collection.
    pub subject_rights: Vec<SubjectRight>,
    /// That matching is automated and how people review it (art. 15(1)(h)).
    pub automated_matching: &'static str,
}

/// Records a request; the deadline is one month after receipt (GDPR art. 12(3)).
pub(crate) fn open_request(
    store: &mut Store,
    who: &Caller,
    kind: &str,
    requester: &str,
    verification: &str,
    received_on: &str,
) -> Result<RightsRequest> {
    who.may::<actions::Rights>()?;
    let received: jiff::civil::Date = received_on.parse().map_err(|_| {
        Error::field(
            "received_on",
            format!("{:?}: expected YYYY-MM-DD", gabarit_governance::limits::shown(received_on)),
        )
    })?;
    if !(2000..=2200).contains(&received.year()) {
        return Err(Error::field("received_on", format!("{received}: not a date a request was received on")));
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

/// One pack of a rights request: its templates searched at its threshold.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct RightsPack {
    /// Pack name.
    pub pack: String,
    /// Threshold applied to its scores.
    pub threshold: f32,
    /// Its templates compared.
    pub templates_searched: u64,
}

/// The requester as every pack in use sees them: the pack, its threshold, and the template of
/// the largest usable face of the request photo as that pack finds it.
struct RequestTemplates {
    packs: Vec<(PackKey, f32, Vec<f32>)>,
    photo_sha256: String,
}

impl RequestTemplates {
    /// The threshold of the first pack (what a report names when one pack is in use).
    fn threshold(&self) -> f32 {
        self.packs.first().map_or(0.0, |p| p.1)
    }
}

/// Analyses the request photo with every pack of the collections there are (a request reaches
/// every template held). A threshold is one pack's score: given while several packs are in
/// use, it is refused; by default each pack's rights threshold applies.
fn request_templates(
    services: &FaceServices,
    store: &Store,
    photo: &Path,
    threshold: Option<f32>,
) -> Result<RequestTemplates> {
    let keys = store.packs_in_use()?;
    if keys.len() > 1 && threshold.is_some() {
        return Err(Error::field(
            "threshold",
            format!(
                "a threshold is a score of one pack, and the collections hold templates of {} packs: leave it out (each pack's rights threshold applies)",
                keys.len()
            ),
        ));
    }
    let best = |service: &FaceService| -> Result<(Vec<f32>, String)> {
        let img = service.analyze_photo(photo)?;
        let face = img.best_face().ok_or_else(|| Error::NoFace {
            photo: photo.display().to_string(),
            detail: format!(" in the request photo (pack {})", service.config().pack.name),
        })?;
        let t =
            face.template.clone().ok_or_else(|| Error::Model("the request photo's face was not embedded".into()))?;
        Ok((t.0, img.sha256.clone()))
    };
    if keys.is_empty() {
        // Nothing is held: the photo is still checked, and its hash recorded.
        let (_, photo_sha256) = best(&*services.get(&crate::store::pack_key(services.default_pack()))?)?;
        return Ok(RequestTemplates { packs: Vec::new(), photo_sha256 });
    }
    let mut packs = Vec::with_capacity(keys.len());
    let mut photo_sha256 = String::new();
    for key in keys {
        let service = services.get(&key)?;
        let (template, sha) = best(&service)?;
        photo_sha256 = sha;
        let t = threshold.unwrap_or(service.config().pack.thresholds.rights);
        packs.push((key, t, template));
    }
    Ok(RequestTemplates { packs, photo_sha256 })
}

/// Every face matching the requester, pack by pack (exhaustive threshold searches).
fn find(store: &Store, scope: &Scope, requester: &RequestTemplates) -> Result<Vec<RightsMatch>> {
    let mut out = Vec::new();
    for (key, threshold, template) in &requester.packs {
        for h in store.index(key)?.search_threshold(template, *threshold, None)? {
            out.push(matched(store, scope, key, h)?);
        }
    }
    Ok(out)
}

/// What a request reports of one matching face.
fn matched(store: &Store, scope: &Scope, key: &PackKey, h: gabarit_index::Hit) -> Result<RightsMatch> {
    matched_face(store, scope, key, h.id, h.score)
}

/// What a request reports of one face, with its score.
fn matched_face(store: &Store, scope: &Scope, key: &PackKey, face: u64, score: f32) -> Result<RightsMatch> {
    let f = store.catalog.face(scope, face)?;
    let img = store.catalog.image(scope, f.image_id)?;
    Ok(RightsMatch {
        face_id: f.face_id,
        score,
        pack: key.name.clone(),
        governance: store.catalog.governance(&f.collection)?,
        collection: f.collection,
        path: f.uri,
        source: f.source,
        bbox: f.bbox,
        captured_at: f.captured_at,
        ingested_at: img.ingested_at,
        person: store.catalog.person_of_face(f.face_id)?.map(|a| a.person_id),
        via_person: false,
    })
}

/// Adds to `matches` the other faces of the persons in `extend` (each must be a person of a
/// matched face: the DPO extends a request only to persons its photo reached, after reviewing
/// them); returns every person reached.
fn extend_to_persons(
    store: &Store,
    scope: &Scope,
    matches: &mut Vec<RightsMatch>,
    extend: &[u64],
) -> Result<Vec<PersonReached>> {
    let mut reached: Vec<u64> = matches.iter().filter_map(|m| m.person).collect();
    reached.sort_unstable();
    reached.dedup();
    if let Some(p) = extend.iter().find(|p| !reached.contains(p)) {
        return Err(Error::field(
            "persons",
            format!(
                "person {p} holds none of the faces the request photo matched: a request extends only to the persons it reached"
            ),
        ));
    }
    let matched: std::collections::HashSet<u64> = matches.iter().map(|m| m.face_id).collect();
    let collections = store.catalog.collections_in(scope)?;
    let mut out = Vec::with_capacity(reached.len());
    for p in reached {
        let person = store.catalog.person(p)?;
        let collection = collections.iter().find(|c| c.id == person.collection_id).ok_or_else(|| {
            gabarit_catalog::Error::NotFound { kind: "collection", name: person.collection_id.to_string() }
        })?;
        let faces = store.catalog.faces_of_person(p)?;
        let not_matched: Vec<u64> = faces.iter().map(|a| a.face_id).filter(|f| !matched.contains(f)).collect();
        let extended = extend.contains(&p);
        if extended {
            for &f in &not_matched {
                let mut m = matched_face(store, scope, &collection.pack_key(), f, 0.0)?;
                m.via_person = true;
                matches.push(m);
            }
        }
        out.push(PersonReached {
            person: p,
            collection: collection.name.clone(),
            faces: faces.len() as u64,
            matched: (faces.len() - not_matched.len()) as u64,
            not_matched,
            extended,
        });
    }
    Ok(out)
}

/// The report of a request as it stands now, over `templates_searched` templates.
fn report(
    store: &Store,
    request: u64,
    requester: &RequestTemplates,
    templates_searched: u64,
    (matches, persons): (Vec<RightsMatch>, Vec<PersonReached>),
) -> Result<RightsReport> {
    let collections = notices(store, &matches)?;
    let mut packs = Vec::with_capacity(requester.packs.len());
    for (key, threshold, _) in &requester.packs {
        packs.push(RightsPack {
            pack: key.name.clone(),
            threshold: *threshold,
            templates_searched: store.catalog.template_count_of(key)?,
        });
    }
    Ok(RightsReport {
        request: store.catalog.request(request)?,
        photo_sha256: requester.photo_sha256.clone(),
        threshold: requester.threshold(),
        packs,
        templates_searched,
        matches,
        persons,
        generated_at: jiff::Timestamp::now().to_string(),
        collections,
        subject_rights: SUBJECT_RIGHTS.to_vec(),
        automated_matching: AUTOMATED_MATCHING,
    })
}

/// Every rights request, newest first, with its deadline and status (dpo).
pub(crate) fn list_requests(store: &Store, who: &Caller) -> Result<Vec<RightsRequest>> {
    who.may::<actions::Rights>()?;
    Ok(store.catalog.requests()?)
}

fn check_kind(req: &RightsRequest, kinds: &[&str]) -> Result<()> {
    if kinds.contains(&req.kind.as_str()) {
        Ok(())
    } else {
        Err(Error::WrongRequestKind { request: req.id, kind: req.kind.clone(), expected: kinds.join(" or ") })
    }
}

/// Access (art. 15): every face of the requester across all collections.
pub(crate) fn access(
    services: &FaceServices,
    store: &mut Store,
    who: &Caller,
    request: u64,
    photo: &Path,
    threshold: Option<f32>,
    persons: &[u64],
) -> Result<RightsReport> {
    let proof = who.may::<actions::Rights>()?;
    let req = store.catalog.request(request)?;
    check_kind(&req, &["access"])?;
    let requester = request_templates(services, store, photo, threshold)?;
    let mut matches = find(store, proof.scope(), &requester)?;
    let reached = extend_to_persons(store, proof.scope(), &mut matches, persons)?;
    let templates_searched = store.catalog.template_count(None)?;
    let sha = requester.photo_sha256.clone();
    store.catalog.audited(who.name(), "rights_access", |tx| {
        tx.close_request(request, &sha, &format!("{} face(s) reported", matches.len()))?;
        let detail = json!({"request": request, "input_sha256": sha, "thresholds": thresholds_detail(&requester),
            "templates_searched": templates_searched, "faces": matches.iter().map(|m| m.face_id).collect::<Vec<_>>(),
            "extended_to_persons": persons});
        Ok(((), detail))
    })?;
    report(store, request, &requester, templates_searched, (matches, reached))
}

/// Each pack's threshold, for an audit entry.
fn thresholds_detail(requester: &RequestTemplates) -> serde_json::Value {
    requester.packs.iter().map(|(k, t, _)| (k.name.clone(), json!(t))).collect::<serde_json::Map<_, _>>().into()
}

/// Erasure (art. 17). Without `confirm` only lists what would go (the plan); with `confirm`
/// equal to the number of faces listed, deletes them physically.
pub(crate) fn erase(
    services: &FaceServices,
    store: &mut Store,
    who: &Caller,
    request: u64,
    photo: &Path,
    reach: (Option<f32>, &[u64]),
    confirm: Option<usize>,
) -> Result<(RightsReport, Option<gabarit_catalog::Deleted>)> {
    let (report, confirmed) = plan_erasure(services, store, who, request, photo, reach, confirm)?;
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
    /// Threshold the faces matched at (the first pack's, when several were searched).
    pub threshold: f32,
    /// The faces listed to the DPO and confirmed.
    pub faces: Vec<u64>,
}

/// The faces an erasure request's photo matches (the plan, as a report), and, when `confirm`
/// names how many there are, the confirmed erasure to carry out (dpo).
pub(crate) fn plan_erasure(
    services: &FaceServices,
    store: &Store,
    who: &Caller,
    request: u64,
    photo: &Path,
    (threshold, persons): (Option<f32>, &[u64]),
    confirm: Option<usize>,
) -> Result<(RightsReport, Option<ConfirmedErasure>)> {
    let proof = who.may::<actions::Rights>()?;
    let req = store.catalog.request(request)?;
    check_kind(&req, &["erasure"])?;
    let requester = request_templates(services, store, photo, threshold)?;
    let mut matches = find(store, proof.scope(), &requester)?;
    let reached = extend_to_persons(store, proof.scope(), &mut matches, persons)?;
    let templates_searched = store.catalog.template_count(None)?;
    let faces: Vec<u64> = matches.iter().map(|m| m.face_id).collect();
    let (sha, threshold) = (requester.photo_sha256.clone(), requester.threshold());
    let report = report(store, request, &requester, templates_searched, (matches, reached))?;
    let Some(n) = confirm else { return Ok((report, None)) };
    if n != faces.len() {
        return Err(Error::ConfirmationStale { confirmed: n, matching: faces.len() });
    }
    Ok((report, Some(ConfirmedErasure { request, input_sha256: sha, threshold, faces })))
}

/// Deletes the confirmed faces' templates and faces, and the images left without a face,
/// closing the request, in the transaction of its audit entry; then the server's copies of
/// uploads no record uses any more; compacts the index and vacuums the catalog so that the
/// bytes leave the files (dpo). Doing it again deletes nothing more.
pub(crate) fn carry_out_erasure(
    store: &mut Store,
    who: &Caller,
    e: &ConfirmedErasure,
) -> Result<gabarit_catalog::Deleted> {
    let proof = who.may::<actions::Rights>()?;
    check_kind(&store.catalog.request(e.request)?, &["erasure"])?;
    let images = images_of_faces(store, proof.scope(), &e.faces)?;
    let uploads = store.uploads_dir().canonicalize().ok();
    let ((deleted, files), _) = store.catalog.audited(who.name(), "rights_erasure", |tx| {
        let deleted = tx.delete_faces(&e.faces)?;
        let query_faces = tx.drop_probes_of_decided_searches()?;
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
                           "persons": deleted.persons, "uploaded_files": files.len()},
               "photos_refused_from_now_on": remembered, "query_faces_deleted": query_faces});
        Ok(((deleted, files), detail))
    })?;
    finish_deletion(store, uploads.as_deref(), &files, e.faces.iter().copied())?;
    Ok(deleted)
}

/// After a deletion committed: the uploaded copies no record uses go, the catalog's freed
/// pages are purged, the index forgets the faces and is compacted.
pub(super) fn finish_deletion(
    store: &Store,
    uploads: Option<&Path>,
    files: &[std::path::PathBuf],
    faces: impl Iterator<Item = u64>,
) -> Result<()> {
    if let Some(uploads) = uploads {
        for f in files {
            crate::store::remove_upload(f, uploads)?;
        }
    }
    store.catalog.purge_free_pages()?;
    let faces: Vec<u64> = faces.collect();
    for key in store.packs_in_use()? {
        let shared = store.index(&key)?;
        let mut removed = false;
        {
            let mut index = shared.write();
            for &id in &faces {
                removed |= index.remove(id)?;
            }
        }
        // The erased templates' bytes leave the files before the erasure returns; searches
        // wait only while the rewritten files are put in place.
        if removed {
            shared.compact()?;
        }
    }
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
pub(super) fn uploads_left(
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
pub(crate) fn object(
    services: &FaceServices,
    store: &mut Store,
    who: &Caller,
    request: u64,
    photo: &Path,
    threshold: Option<f32>,
) -> Result<RightsReport> {
    let proof = who.may::<actions::Rights>()?;
    let req = store.catalog.request(request)?;
    check_kind(&req, &["objection"])?;
    let requester = request_templates(services, store, photo, threshold)?;
    if requester.packs.is_empty() {
        return Err(Error::NoTemplatesYet);
    }
    let mut matches = find(store, proof.scope(), &requester)?;
    let reached = extend_to_persons(store, proof.scope(), &mut matches, &[])?;
    let sha = requester.photo_sha256.clone();
    store.catalog.audited(who.name(), "rights_objection", |tx| {
        let mut ids = Vec::with_capacity(requester.packs.len());
        for (key, _, template) in &requester.packs {
            let (codes, scale) = gabarit_index::quant::quantize(template);
            ids.push(tx.add_suppression(request, key, &codes, scale)?);
        }
        tx.close_request(
            request,
            &sha,
            &format!(
                "suppression template(s) {} stored; {} existing face(s) hidden",
                ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
                matches.len()
            ),
        )?;
        let detail = json!({"request": request, "input_sha256": sha, "suppressions": ids,
            "packs": requester.packs.iter().map(|p| &p.0.name).collect::<Vec<_>>(),
            "hidden_faces": matches.iter().map(|m| m.face_id).collect::<Vec<_>>()});
        Ok(((), detail))
    })?;
    let templates_searched = store.catalog.template_count(None)?;
    report(store, request, &requester, templates_searched, (matches, reached))
}
