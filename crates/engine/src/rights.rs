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

use gabarit_catalog::{PackKey, RightsRequest};
use gabarit_governance::legal::{SupervisoryAuthority, supervisory_authority};
use gabarit_governance::{
    Authorized, Condition, GovernanceDraft, LegalBasis, PurposeCategory, Retention, Scope, actions, authorize_system,
};
use gabarit_types::BBox;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::Caller;
use crate::store::Store;
use crate::{Error, FaceService, FaceServices, Result};

/// One face matching a rights request.
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
}

/// The answer to a rights request.
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
    /// Every matching face.
    pub matches: Vec<RightsMatch>,
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

/// A category of personal data a collection holds on a person (GDPR art. 15(1)(b)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DataCategory {
    /// Stable code.
    pub code: &'static str,
    /// In plain English.
    pub description: &'static str,
}

/// What every collection holds on a face (the record of processing lists the same).
pub const DATA_CATEGORIES: [DataCategory; 4] = [
    DataCategory { code: "photographs", description: "photographs of persons (image files, by reference)" },
    DataCategory { code: "face_templates", description: "biometric templates of faces (GDPR art. 9)" },
    DataCategory { code: "face_positions", description: "face positions and quality measures" },
    DataCategory { code: "exif", description: "EXIF capture time and camera" },
];

/// Someone who may see a collection's faces (GDPR art. 15(1)(c)): a user, with the roles by
/// which they may (an investigator or reviewer granted the collection, a curator, a DPO).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    /// User name.
    pub name: String,
    /// The roles that give them access to the collection.
    pub roles: Vec<gabarit_governance::Role>,
}

/// A jurisdiction of a collection and the authority a person may complain to there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Jurisdiction {
    /// ISO 3166-1 alpha-2 code.
    pub code: String,
    /// Its supervisory authority; `None` when the country is not in Gabarit's table (the
    /// person then asks the controller which authority to turn to).
    pub authority: Option<SupervisoryAuthority>,
}

/// What GDPR art. 15(1) tells the person about one collection holding faces of theirs.
#[derive(Debug, Clone, Serialize)]
pub struct CollectionNotice {
    /// Collection.
    pub collection: String,
    /// How many of the faces reported are in it.
    pub faces: usize,
    /// The controller (the person's contact for their rights).
    pub controller: Option<String>,
    /// The controller's contact.
    pub controller_contact: Option<String>,
    /// (a) The purpose, in the controller's words.
    pub purpose: Option<String>,
    /// (a) The kind of purpose.
    pub purpose_category: Option<PurposeCategory>,
    /// (a) The lawful basis (art. 6(1)).
    pub legal_basis: Option<LegalBasis>,
    /// (a) The condition lifting the ban on biometric data (art. 9(2)).
    pub condition: Option<Condition>,
    /// (b) The categories of personal data held.
    pub data_categories: Vec<DataCategory>,
    /// (c) Who may see the faces: the users and their roles.
    pub recipients: Vec<Recipient>,
    /// (d) How long the data are kept, as data.
    pub retention: Option<Retention>,
    /// (d) The same as a person reads it ("3650 days after ingestion").
    pub retention_text: Option<String>,
    /// (f) The jurisdictions and their supervisory authorities.
    pub jurisdictions: Vec<Jurisdiction>,
}

/// A right of the data subject over their data (GDPR art. 15(1)(e)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SubjectRight {
    /// Stable code: rectification, erasure, restriction or objection.
    pub right: &'static str,
    /// Its article of the GDPR.
    pub article: &'static str,
    /// In plain English.
    pub description: &'static str,
}

/// The rights art. 15(1)(e) names.
pub const SUBJECT_RIGHTS: [SubjectRight; 4] = [
    SubjectRight {
        right: "rectification",
        article: "16",
        description: "to have inaccurate personal data about you rectified",
    },
    SubjectRight {
        right: "erasure",
        article: "17",
        description: "to have your personal data erased: your faces, their templates and the photos left without faces are deleted",
    },
    SubjectRight {
        right: "restriction",
        article: "18",
        description: "to obtain the restriction of the processing of your personal data",
    },
    SubjectRight {
        right: "objection",
        article: "21",
        description: "to object to the processing of your personal data: your faces are then hidden from search and refused at ingestion",
    },
];

/// Art. 15(1)(h): matching is automated, decisions are not.
pub const AUTOMATED_MATCHING: &str = "Faces are matched automatically: a model computes a template (a list of numbers) from each face, and a search compares the template of the face searched for with the templates held; a face scoring above a threshold becomes a candidate. No decision is taken on a match alone: every candidate a search finds is reviewed by people, who confirm or reject it (two reviewers must confirm it), before it is relied on.";

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

/// One pack of a rights request: its templates searched at its threshold.
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
        return Err(Error::Invalid(format!(
            "a threshold is a score of one pack, and the collections hold templates of {} packs: leave it out (each pack's rights threshold applies)",
            keys.len()
        )));
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
    let f = store.catalog.face(scope, h.id)?;
    let img = store.catalog.image(scope, f.image_id)?;
    Ok(RightsMatch {
        face_id: f.face_id,
        score: h.score,
        pack: key.name.clone(),
        governance: store.catalog.governance(&f.collection)?,
        collection: f.collection,
        path: f.uri,
        source: f.source,
        bbox: f.bbox,
        captured_at: f.captured_at,
        ingested_at: img.ingested_at,
    })
}

/// The report of a request as it stands now, over `templates_searched` templates.
fn report(
    store: &Store,
    request: u64,
    requester: &RequestTemplates,
    templates_searched: u64,
    matches: Vec<RightsMatch>,
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
        generated_at: jiff::Timestamp::now().to_string(),
        collections,
        subject_rights: SUBJECT_RIGHTS.to_vec(),
        automated_matching: AUTOMATED_MATCHING,
    })
}

/// What art. 15(1) tells about each collection of `matches`, in their order.
fn notices(store: &Store, matches: &[RightsMatch]) -> Result<Vec<CollectionNotice>> {
    let mut out: Vec<CollectionNotice> = Vec::new();
    if matches.is_empty() {
        return Ok(out);
    }
    let users = store.catalog.users()?;
    for m in matches {
        if let Some(n) = out.iter_mut().find(|n| n.collection == m.collection) {
            n.faces += 1;
            continue;
        }
        let g = &m.governance;
        out.push(CollectionNotice {
            collection: m.collection.clone(),
            faces: 1,
            controller: g.controller.clone(),
            controller_contact: g.controller_contact.clone(),
            purpose: g.purpose.clone(),
            purpose_category: g.purpose_category,
            legal_basis: g.legal_basis,
            condition: g.condition,
            data_categories: DATA_CATEGORIES.to_vec(),
            recipients: recipients(&users, &m.collection),
            retention: g.retention,
            retention_text: g.retention.map(|r| r.to_string()),
            jurisdictions: g
                .jurisdictions
                .iter()
                .map(|code| Jurisdiction { code: code.clone(), authority: supervisory_authority(code) })
                .collect(),
        });
    }
    Ok(out)
}

/// The users who may see the faces of `collection`, by the permission table: the roles that
/// search, review or view records there (every collection, or those granted to the user).
fn recipients(users: &[gabarit_catalog::UserRecord], collection: &str) -> Vec<Recipient> {
    use gabarit_governance::{Action, Reach, reach};
    users
        .iter()
        .filter_map(|u| {
            let granted = u.collections.iter().any(|c| c == collection);
            let roles: Vec<_> = u
                .roles
                .iter()
                .copied()
                .filter(|&r| {
                    [Action::Search, Action::Review, Action::ViewRecords].into_iter().any(|a| match reach(r, a) {
                        Some(Reach::Everything) => true,
                        Some(Reach::Granted) => granted,
                        None => false,
                    })
                })
                .collect();
            (!roles.is_empty()).then(|| Recipient { name: u.name.clone(), roles })
        })
        .collect()
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
    services: &FaceServices,
    store: &mut Store,
    who: &Caller,
    request: u64,
    photo: &Path,
    threshold: Option<f32>,
) -> Result<RightsReport> {
    let proof = who.may::<actions::Rights>()?;
    let req = store.catalog.request(request)?;
    check_kind(&req, &["access"])?;
    let requester = request_templates(services, store, photo, threshold)?;
    let matches = find(store, proof.scope(), &requester)?;
    let templates_searched = store.catalog.template_count(None)?;
    let sha = requester.photo_sha256.clone();
    store.catalog.audited(who.name(), "rights_access", |tx| {
        tx.close_request(request, &sha, &format!("{} face(s) reported", matches.len()))?;
        let detail = json!({"request": request, "input_sha256": sha, "thresholds": thresholds_detail(&requester),
            "templates_searched": templates_searched, "faces": matches.iter().map(|m| m.face_id).collect::<Vec<_>>()});
        Ok(((), detail))
    })?;
    report(store, request, &requester, templates_searched, matches)
}

/// Each pack's threshold, for an audit entry.
fn thresholds_detail(requester: &RequestTemplates) -> serde_json::Value {
    requester.packs.iter().map(|(k, t, _)| (k.name.clone(), json!(t))).collect::<serde_json::Map<_, _>>().into()
}

/// Erasure (art. 17). Without `confirm` only lists what would go (the plan); with `confirm`
/// equal to the number of faces listed, deletes them physically.
pub fn erase(
    services: &FaceServices,
    store: &mut Store,
    who: &Caller,
    request: u64,
    photo: &Path,
    threshold: Option<f32>,
    confirm: Option<usize>,
) -> Result<(RightsReport, Option<gabarit_catalog::Deleted>)> {
    let (report, confirmed) = plan_erasure(services, store, who, request, photo, threshold, confirm)?;
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
pub fn plan_erasure(
    services: &FaceServices,
    store: &Store,
    who: &Caller,
    request: u64,
    photo: &Path,
    threshold: Option<f32>,
    confirm: Option<usize>,
) -> Result<(RightsReport, Option<ConfirmedErasure>)> {
    let proof = who.may::<actions::Rights>()?;
    let req = store.catalog.request(request)?;
    check_kind(&req, &["erasure"])?;
    let requester = request_templates(services, store, photo, threshold)?;
    let matches = find(store, proof.scope(), &requester)?;
    let templates_searched = store.catalog.template_count(None)?;
    let faces: Vec<u64> = matches.iter().map(|m| m.face_id).collect();
    let (sha, threshold) = (requester.photo_sha256.clone(), requester.threshold());
    let report = report(store, request, &requester, templates_searched, matches)?;
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
                           "uploaded_files": files.len()},
               "photos_refused_from_now_on": remembered, "query_faces_deleted": query_faces});
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
            crate::store::remove_upload(f, uploads)?;
        }
    }
    store.catalog.purge_free_pages()?;
    let faces: Vec<u64> = faces.collect();
    for key in store.packs_in_use()? {
        let shared = store.index(&key)?;
        let mut index = shared.write();
        let mut removed = false;
        for &id in &faces {
            removed |= index.remove(id)?;
        }
        if removed {
            index.compact()?;
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
        return Err(Error::Invalid(
            "no collection holds templates yet: an objection's templates are made with the packs of the collections, so create the collections first".into(),
        ));
    }
    let matches = find(store, proof.scope(), &requester)?;
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
    report(store, request, &requester, templates_searched, matches)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A lawful basis as a person reads it.
fn basis_words(b: LegalBasis) -> String {
    let words = match b {
        LegalBasis::Consent => "your consent",
        LegalBasis::Contract => "the performance of a contract",
        LegalBasis::LegalObligation => "a legal obligation of the controller",
        LegalBasis::VitalInterests => "the protection of vital interests",
        LegalBasis::PublicTask => "a task carried out in the public interest or in the exercise of official authority",
        LegalBasis::LegitimateInterests => "the legitimate interests pursued by the controller",
    };
    format!("{words} (GDPR art. 6(1)({}))", b.letter())
}

/// A condition for biometric data as a person reads it.
fn condition_words(c: Condition) -> String {
    let words = match c {
        Condition::ExplicitConsent => "your explicit consent",
        Condition::Employment => "obligations and rights in employment and social security law",
        Condition::VitalInterests => "the vital interests of a person unable to give consent",
        Condition::NotForProfit => {
            "the legitimate activities of a foundation, association or other not-for-profit body"
        }
        Condition::ManifestlyPublic => "data you manifestly made public",
        Condition::LegalClaims => "the establishment, exercise or defence of legal claims",
        Condition::SubstantialPublicInterest => "reasons of substantial public interest, on the basis of law",
        Condition::HealthCare => "preventive or occupational medicine, health or social care",
        Condition::PublicHealth => "reasons of public interest in the area of public health",
        Condition::Archiving => {
            "archiving purposes in the public interest, scientific or historical research, or statistics"
        }
    };
    format!("{words} (GDPR art. 9(2)({}))", c.letter())
}

/// A kind of purpose as a person reads it.
fn purpose_category_words(p: PurposeCategory) -> &'static str {
    match p {
        PurposeCategory::Archive => "photo and video archives",
        PurposeCategory::Investigation => "investigations on lawfully obtained media",
        PurposeCategory::EventPhotos => "event photos found by participants, with their consent",
        PurposeCategory::FraudPrevention => "identity-fraud detection",
        PurposeCategory::Research => "research and statistics",
    }
}

/// What a role lets a recipient do with a collection, as a person reads it.
fn role_words(r: gabarit_governance::Role) -> &'static str {
    use gabarit_governance::Role;
    match r {
        Role::Investigator => "investigator: searches the collection",
        Role::Reviewer => "reviewer: confirms or rejects the faces a search finds",
        Role::Curator => "curator: manages the collection and what is ingested into it",
        Role::Dpo => "data protection officer: handles rights requests",
        Role::Admin => "administrator",
    }
}

/// The report as a readable, self-contained HTML page holding what GDPR art. 15 gives the
/// person (in English; the web UI makes the same page in French or English, with the faces).
pub fn report_html(r: &RightsReport) -> String {
    let or_dash = |v: Option<&str>| esc(v.unwrap_or("-"));
    let mut rows = String::new();
    for m in &r.matches {
        let g = &m.governance;
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{:.3}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            m.face_id,
            m.score,
            esc(&m.collection),
            esc(&m.path),
            esc(&m.source),
            or_dash(m.captured_at.as_deref()),
            esc(&m.ingested_at),
            or_dash(g.controller.as_deref()),
            or_dash(g.purpose.as_deref()),
            g.legal_basis.map(|b| b.to_string()).unwrap_or("-".into())
                + " / "
                + &g.condition.map(|c| c.to_string()).unwrap_or("-".into()),
            g.retention.map(|r| r.to_string()).unwrap_or("-".into()),
        ));
    }
    let mut sections = String::new();
    for n in &r.collections {
        let list = |items: Vec<String>| {
            if items.is_empty() {
                "<p>none</p>".to_string()
            } else {
                format!("<ul>{}</ul>", items.iter().map(|i| format!("<li>{i}</li>")).collect::<String>())
            }
        };
        let categories = list(n.data_categories.iter().map(|c| esc(c.description)).collect());
        let recipients = list(
            n.recipients
                .iter()
                .map(|u| {
                    format!(
                        "{} ({})",
                        esc(&u.name),
                        u.roles.iter().map(|r| role_words(*r)).collect::<Vec<_>>().join("; ")
                    )
                })
                .collect(),
        );
        let contact = match (&n.controller, &n.controller_contact) {
            (Some(c), Some(cc)) => format!("{}, {}", esc(c), esc(cc)),
            (Some(c), None) => esc(c),
            (None, Some(cc)) => esc(cc),
            (None, None) => "not set".into(),
        };
        let authorities = list(
            n.jurisdictions
                .iter()
                .map(|j| match &j.authority {
                    Some(a) => format!(
                        "{}: {} — <a href=\"{}\">{}</a>",
                        esc(&j.code),
                        esc(a.name),
                        esc(a.website),
                        esc(a.website)
                    ),
                    None => format!("{}: ask the controller which supervisory authority to turn to", esc(&j.code)),
                })
                .collect(),
        );
        sections.push_str(&format!(
            r#"<section class="collection"><h2>Collection {name}: {faces} face(s)</h2><dl>
<dt>Controller</dt><dd>{contact}</dd>
<dt>Purposes</dt><dd>{purpose}{category}</dd>
<dt>Legal basis</dt><dd>{basis}</dd>
<dt>Condition for processing biometric data</dt><dd>{condition}</dd>
<dt>Categories of personal data</dt><dd>{categories}</dd>
<dt>Recipients: who may see these faces</dt><dd>{recipients}</dd>
<dt>Retention</dt><dd>{retention}</dd>
<dt>Source of the photos</dt><dd>Not collected from you: each photo's source is listed with its face above.</dd>
<dt>Right to lodge a complaint with a supervisory authority (GDPR art. 77)</dt><dd>{authorities}</dd>
</dl></section>
"#,
            name = esc(&n.collection),
            faces = n.faces,
            purpose = or_dash(n.purpose.as_deref()),
            category = n.purpose_category.map(|p| format!(" ({})", purpose_category_words(p))).unwrap_or_default(),
            basis = n.legal_basis.map(basis_words).unwrap_or("not set".into()),
            condition = n.condition.map(condition_words).unwrap_or("not set".into()),
            retention = esc(n.retention_text.as_deref().unwrap_or("not set")),
        ));
    }
    let rights: String = r
        .subject_rights
        .iter()
        .map(|s| format!("<li>the right {} (GDPR art. {})</li>", esc(s.description), s.article))
        .collect();
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Rights request {id}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 6px;text-align:left;font-size:90%}}dt{{font-weight:bold;margin-top:.6em}}</style></head><body>
<h1>Rights request {id} ({kind})</h1>
<p>Requester: {requester}. Identity verified by: {verification}. Received {received}, answer due by {deadline}.</p>
<p>The request photo (SHA-256 {sha}, not kept) was compared with every one of the {n} templates held, exhaustively, at {thr}. {count} face(s) match.</p>
<table id="matches"><tr><th>face</th><th>score</th><th>collection</th><th>image</th><th>source</th><th>captured</th><th>ingested</th><th>controller</th><th>purpose</th><th>legal basis / condition</th><th>retention</th></tr>{rows}</table>
{sections}<section id="rights"><h2>Your rights</h2><p>You have the right to a copy of these data (GDPR art. 15), and:</p><ul>{rights}</ul>
<p>To exercise them, write to the controller of the collection (contact above). You may also lodge a complaint with a supervisory authority (named above for each collection).</p></section>
<section id="automated"><h2>Automated matching</h2><p>{automated}</p></section>
<p><small>Generated {at} by Gabarit.</small></p></body></html>"#,
        id = r.request.id,
        kind = esc(&r.request.kind),
        requester = esc(&r.request.requester),
        verification = esc(&r.request.verification),
        received = esc(&r.request.received_on),
        deadline = esc(&r.request.deadline),
        sha = r.photo_sha256,
        n = r.templates_searched,
        thr = threshold_words(r),
        count = r.matches.len(),
        automated = esc(r.automated_matching),
        at = r.generated_at,
    )
}

/// The threshold(s) a report's matches were found at, in words.
fn threshold_words(r: &RightsReport) -> String {
    if r.packs.len() <= 1 {
        format!("threshold {:.2}", r.threshold)
    } else {
        let each: Vec<String> = r
            .packs
            .iter()
            .map(|p| format!("{} {:.2} over {} templates", esc(&p.pack), p.threshold, p.templates_searched))
            .collect();
        format!("each model's own threshold ({})", each.join("; "))
    }
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
    let uploads = store.uploads_dir().canonicalize().ok();
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
            let query_faces = tx.drop_probes_of_decided_searches()?;
            let files = uploads_left(tx, uploads.as_deref(), &paths)?;
            let detail = json!({"collection": name, "cutoff": cutoff.to_string(), "now": now.to_string(),
                "images": deleted.images, "faces": deleted.faces, "templates": deleted.templates, "uploaded_files": files.len(),
                "query_faces_deleted": query_faces});
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
