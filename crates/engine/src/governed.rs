//! Governed use cases: every operation on collections and biometric data names the user
//! acting, is authorised by the core's policy (`gabarit-governance`), and is written to the
//! audit chain. The CLI and the server call these, never the raw operations.

use gabarit_governance::audit::{Break, verify};
use gabarit_governance::{Action, GovernanceDraft, Principal, Role, actions, authorize, authorize_search, confirmed};
use serde::Serialize;
use serde_json::json;

use crate::ingest::{IngestOptions, IngestProgress, IngestReport, ingest};
use crate::search::{SearchOptions, SearchResult, search_faces};
use crate::store::Store;
use crate::{Error, FaceService, Result};

/// Resolves the acting user. The CLI never acts as an anonymous superuser: a data directory
/// without users must first get an admin (`gabarit init --admin NAME`).
pub fn actor(store: &Store, name: Option<&str>) -> Result<Principal> {
    let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
        return Err(Error::Invalid("say who is acting: --as USER (or GABARIT_USER)".into()));
    };
    if store.catalog.user_count()? == 0 {
        return Err(Error::Invalid(
            "this data directory has no users yet: create the first admin with `gabarit init --admin NAME`".into(),
        ));
    }
    Ok(store.catalog.principal(name)?)
}

/// Creates the first admin of an empty data directory; returns their API key (shown once).
pub fn bootstrap_admin(store: &mut Store, name: &str) -> Result<String> {
    if store.catalog.user_count()? > 0 {
        return Err(Error::Invalid(
            "this data directory already has users: an admin adds more with `gabarit user add`".into(),
        ));
    }
    store.catalog.create_user(name, &[Role::Admin])?;
    let key = store.catalog.issue_key(name)?;
    store.catalog.audit(name, "user_create", json!({"user": name, "roles": ["admin"], "bootstrap": true}))?;
    Ok(key)
}

/// Adds a user with roles (admin only).
pub fn add_user(store: &mut Store, who: &Principal, name: &str, roles: &[Role]) -> Result<String> {
    authorize::<actions::Other>(who, Action::ManageUsers)?;
    store.catalog.create_user(name, roles)?;
    let key = store.catalog.issue_key(name)?;
    let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
    store.catalog.audit(&who.name, "user_create", json!({"user": name, "roles": names}))?;
    Ok(key)
}

/// Changes a user's roles (admin only).
pub fn set_roles(store: &mut Store, who: &Principal, name: &str, roles: &[Role]) -> Result<()> {
    authorize::<actions::Other>(who, Action::ManageUsers)?;
    let before = store.catalog.principal(name)?.roles;
    store.catalog.set_roles(name, roles)?;
    store.catalog.audit(&who.name, "role_change", json!({"user": name, "before": before, "after": roles}))?;
    Ok(())
}

/// Grants a user search access to a collection (admin only).
pub fn grant(store: &mut Store, who: &Principal, user: &str, collection: &str) -> Result<()> {
    authorize::<actions::Other>(who, Action::ManageUsers)?;
    store.catalog.grant(user, collection)?;
    store.catalog.audit(&who.name, "grant", json!({"user": user, "collection": collection}))?;
    Ok(())
}

/// Issues a new API key (admin only).
pub fn issue_key(store: &mut Store, who: &Principal, user: &str) -> Result<String> {
    authorize::<actions::Other>(who, Action::ManageUsers)?;
    let key = store.catalog.issue_key(user)?;
    store.catalog.audit(&who.name, "key_issue", json!({"user": user}))?;
    Ok(key)
}

/// Creates a collection with its governance fields (curator).
pub fn create_collection(
    store: &mut Store,
    who: &Principal,
    name: &str,
    description: &str,
    draft: &GovernanceDraft,
) -> Result<()> {
    authorize::<actions::Other>(who, Action::ManageCollections)?;
    store.catalog.create_collection(name, description)?;
    store.catalog.set_governance(name, draft)?;
    store.catalog.audit(
        &who.name,
        "collection_create",
        json!({"collection": name, "governance": draft, "missing": draft.missing()}),
    )?;
    Ok(())
}

/// Changes governance fields of a collection (curator); logged with before and after.
pub fn update_collection(store: &mut Store, who: &Principal, name: &str, draft: &GovernanceDraft) -> Result<()> {
    authorize::<actions::Other>(who, Action::ManageCollections)?;
    let before = store.catalog.governance(name)?;
    store.catalog.set_governance(name, draft)?;
    store.catalog.audit(
        &who.name,
        "collection_update",
        json!({"collection": name, "before": before, "after": draft}),
    )?;
    Ok(())
}

/// Ingests into a collection (curator), refusing a collection whose governance is incomplete.
pub fn governed_ingest(
    service: &FaceService,
    store: &mut Store,
    who: &Principal,
    opts: &IngestOptions,
    progress: &mut dyn FnMut(IngestProgress),
) -> Result<IngestReport> {
    authorize::<actions::Ingest>(who, Action::Ingest)?;
    store.catalog.governance(&opts.collection)?.complete(&opts.collection)?;
    let mut opts = opts.clone();
    opts.suppressions = crate::rights::suppression_vectors(store)?;
    let report = ingest(service, store, &opts, progress)?;
    store.catalog.audit(
        &who.name,
        "ingest",
        json!({
            "collection": report.collection, "job": report.job, "inputs": opts.inputs,
            "files": report.files, "ingested": report.ingested, "duplicates": report.duplicates,
            "failed": report.failed.len(), "faces": report.faces, "templates": report.templates,
            "suppressed_by_objection": report.suppressed_by_objection,
        }),
    )?;
    Ok(report)
}

/// A search with its purpose and the ids of its candidates (for review).
#[derive(Debug, Clone, Serialize)]
pub struct GovernedSearch {
    /// Search id.
    pub search_id: u64,
    /// Case reference.
    pub case_ref: String,
    /// Purpose.
    pub purpose: String,
    /// Candidate ids, parallel to `result.candidates`.
    pub candidate_ids: Vec<u64>,
    /// The result.
    #[serde(flatten)]
    pub result: SearchResult,
}

/// Purpose-bound search (investigator, within granted collections): needs a case reference
/// and a purpose; the search, its collections, the query's content hash (never the image) and
/// the candidates returned are recorded and audited.
#[allow(clippy::too_many_arguments)]
pub fn governed_search(
    service: &FaceService,
    store: &mut Store,
    who: &Principal,
    case_ref: &str,
    purpose: &str,
    photo: &std::path::Path,
    opts: &SearchOptions,
    calibration: Option<&gabarit_inference::Calibration>,
    pack_threshold: f32,
) -> Result<GovernedSearch> {
    let img = analyze_query(service, who, photo)?;
    let query = photo.display().to_string();
    governed_search_faces(store, who, case_ref, purpose, &query, &img, opts, calibration, pack_threshold)
}

/// The faces of a query photo, for a user who may search (checked first: nobody else's
/// photo is analysed). Needs no store, so a server runs it outside the store's lock.
pub fn analyze_query(service: &FaceService, who: &Principal, photo: &std::path::Path) -> Result<crate::ImageFaces> {
    may_search(who)?;
    service.analyze_photo(photo)
}

/// Whether `who` may search at all (decided before anything about a request is looked at).
pub fn may_search(who: &Principal) -> Result<()> {
    authorize::<actions::Search>(who, Action::Search)?;
    Ok(())
}

/// [`governed_search`] with the query photo already analysed by [`analyze_query`].
#[allow(clippy::too_many_arguments)]
pub fn governed_search_faces(
    store: &mut Store,
    who: &Principal,
    case_ref: &str,
    purpose: &str,
    query: &str,
    img: &crate::ImageFaces,
    opts: &SearchOptions,
    calibration: Option<&gabarit_inference::Calibration>,
    pack_threshold: f32,
) -> Result<GovernedSearch> {
    // Who may search at all is decided before anything about the request is looked at.
    authorize::<actions::Search>(who, Action::Search)?;
    if case_ref.trim().is_empty() || purpose.trim().is_empty() {
        return Err(Error::Invalid("every search needs a case reference (--case) and a purpose (--purpose)".into()));
    }
    let started = jiff::Timestamp::now().to_string();
    // Without --collection an investigator searches the collections granted to them.
    let mut opts = opts.clone();
    if opts.collections.is_empty() {
        opts.collections = store.catalog.user(&who.name)?.map(|u| u.collections).unwrap_or_default();
        if opts.collections.is_empty() {
            return Err(Error::Invalid(format!("{} has no collection granted for search", who.name)));
        }
    }
    let mut named = Vec::new();
    for c in &opts.collections {
        named.push((store.catalog.collection(c)?.id, c.clone()));
    }
    authorize_search(who, &named)?;
    let result = search_faces(store, query, img, &opts, calibration, pack_threshold)?;
    let cands: Vec<(u64, usize, usize, f32)> =
        result.candidates.iter().map(|c| (c.face_id, c.query_face, c.rank, c.score)).collect();
    let finished = jiff::Timestamp::now().to_string();
    let (search_id, candidate_ids) = store.catalog.record_search(
        &who.name,
        case_ref,
        purpose,
        &result.query_sha256,
        &result.collections,
        result.gallery_size,
        &started,
        &cands,
        "search",
        |search_id, candidate_ids| {
            json!({
                "search": search_id, "case": case_ref, "purpose": purpose,
                "period": {"from": started, "to": finished},
                "collections": result.collections, "gallery_size": result.gallery_size,
                "input_sha256": result.query_sha256, "threshold": result.threshold,
                "candidates": candidate_ids.iter().zip(&result.candidates)
                    .map(|(id, c)| json!({"candidate": id, "face": c.face_id, "score": c.score})).collect::<Vec<_>>(),
            })
        },
    )?;
    Ok(GovernedSearch { search_id, case_ref: case_ref.into(), purpose: purpose.into(), candidate_ids, result })
}

/// The state of a candidate after a review.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewState {
    /// The candidate.
    pub candidate: gabarit_catalog::CandidateRecord,
    /// Whether two different reviewers confirmed it and nobody rejected it.
    pub confirmed: bool,
}

/// A reviewer confirms or rejects a candidate; logged (AI Act art. 14(5)).
pub fn review(store: &mut Store, who: &Principal, candidate: u64, confirm: bool) -> Result<ReviewState> {
    authorize::<actions::Other>(who, Action::Review)?;
    let c = store.catalog.review(candidate, &who.name, confirm)?;
    let done = confirmed(&c.confirmed_by, &c.rejected_by);
    store.catalog.audit(
        &who.name,
        if confirm { "candidate_confirm" } else { "candidate_reject" },
        json!({"candidate": candidate, "search": c.search_id, "case": c.case_ref, "face": c.face_id, "confirmed": done}),
    )?;
    Ok(ReviewState { candidate: c, confirmed: done })
}

/// A candidate as a reviewer sees it: its review state and the face it points to (where it
/// is, its box), for a decision on the full photo.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateView {
    /// Review state.
    #[serde(flatten)]
    pub review: ReviewState,
    /// The face's image.
    pub image_id: u64,
    /// Its collection.
    pub collection: String,
    /// The image's path or URI.
    pub path: String,
    /// The face's box in the image.
    pub bbox: gabarit_types::BBox,
    /// Capture time, if known.
    pub captured_at: Option<String>,
    /// For a video: the time of the frame, seconds.
    pub time_s: Option<f64>,
    /// Templates the search compared against (N), to say what the score means at that size.
    pub gallery_size: u64,
}

/// One candidate for review (a reviewer granted its collection); viewing it is not a
/// decision and is not logged (the face's picture is, when fetched).
pub fn candidate(store: &Store, who: &Principal, id: u64) -> Result<CandidateView> {
    authorize::<actions::Other>(who, Action::Review)?;
    let c = store.catalog.candidate(id)?;
    let face = store.catalog.face(c.face_id)?;
    may_view(store, who, &face.collection, "candidates")?;
    let gallery_size = store.catalog.search_gallery_size(c.search_id)?;
    let done = confirmed(&c.confirmed_by, &c.rejected_by);
    Ok(CandidateView {
        review: ReviewState { candidate: c, confirmed: done },
        image_id: face.image_id,
        collection: face.collection,
        path: face.uri,
        bbox: face.bbox,
        captured_at: face.captured_at,
        time_s: face.moment.map(|m| m.time_s),
        gallery_size,
    })
}

/// Candidates awaiting a decision in the collections `who` may view, newest first (reviewer).
pub fn awaiting_review(store: &Store, who: &Principal, limit: usize) -> Result<Vec<CandidateView>> {
    authorize::<actions::Other>(who, Action::Review)?;
    let mut out = Vec::new();
    for id in store.catalog.candidates_awaiting_review(limit)? {
        match candidate(store, who, id) {
            Ok(view) => out.push(view),
            Err(Error::Policy(_)) => {} // another collection's
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Recomputes the audit chain (dpo); the first broken entry, if any.
pub fn audit_verify(store: &mut Store, who: &Principal) -> Result<(usize, Option<Break>)> {
    authorize::<actions::Other>(who, Action::Audit)?;
    let entries = store.catalog.audit_entries(None, None)?;
    let broken = verify(&entries);
    let n = entries.len();
    store.catalog.audit(&who.name, "audit_verify", json!({"entries": n, "intact": broken.is_none()}))?;
    Ok((n, broken))
}

/// Audit entries in a period (dpo), for export as JSON lines.
pub fn audit_export(
    store: &mut Store,
    who: &Principal,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Vec<gabarit_governance::audit::Entry>> {
    authorize::<actions::Other>(who, Action::Audit)?;
    let entries = store.catalog.audit_entries(from, to)?;
    store.catalog.audit(&who.name, "audit_export", json!({"from": from, "to": to, "entries": entries.len()}))?;
    Ok(entries)
}

/// One collection in the record of processing activities (GDPR art. 30).
#[derive(Debug, Clone, Serialize)]
pub struct ProcessingEntry {
    /// Collection.
    pub collection: String,
    /// Description.
    pub description: String,
    /// Governance fields.
    pub governance: GovernanceDraft,
    /// Categories of personal data.
    pub data_categories: Vec<&'static str>,
    /// Images, faces, templates held.
    pub counts: (u64, u64, u64),
    /// Who has access: users and roles.
    pub recipients: Vec<String>,
}

/// The record of processing activities (dpo).
#[derive(Debug, Clone, Serialize)]
pub struct ProcessingRecord {
    /// When.
    pub generated_at: String,
    /// Per collection.
    pub collections: Vec<ProcessingEntry>,
    /// Rights requests handled: (kind, status, count).
    pub rights_requests: Vec<(String, String, u64)>,
}

/// Builds the record of processing activities (dpo).
pub fn processing_record(store: &mut Store, who: &Principal) -> Result<ProcessingRecord> {
    authorize::<actions::Other>(who, Action::Reports)?;
    let users = store.catalog.users()?;
    let mut collections = Vec::new();
    for c in store.catalog.collections()? {
        let name = c.collection.name.clone();
        let recipients = users
            .iter()
            .filter(|u| u.collections.contains(&name) || u.roles.iter().any(|r| matches!(r, Role::Curator | Role::Dpo)))
            .map(|u| format!("{} ({})", u.name, u.roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(", ")))
            .collect();
        collections.push(ProcessingEntry {
            governance: store.catalog.governance(&name)?,
            collection: name,
            description: c.collection.description,
            data_categories: vec![
                "photographs of persons (image files, by reference)",
                "biometric templates of faces (GDPR art. 9)",
                "face positions and quality measures",
                "EXIF capture time and camera",
            ],
            counts: (c.images, c.faces, c.templates),
            recipients,
        });
    }
    let record = ProcessingRecord {
        generated_at: jiff::Timestamp::now().to_string(),
        collections,
        rights_requests: store.catalog.request_counts()?,
    };
    store.catalog.audit(&who.name, "report_processing", json!({"collections": record.collections.len()}))?;
    Ok(record)
}

/// The record as readable text.
pub fn processing_record_text(r: &ProcessingRecord) -> String {
    let mut out = format!("Record of processing activities (GDPR art. 30), generated {}\n", r.generated_at);
    for c in &r.collections {
        let g = &c.governance;
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "MISSING".into());
        out.push_str(&format!(
            "\n## {}\n{}\ncontroller: {} <{}>\npurpose: {} ({})\nlegal basis: {}; condition: {}\njurisdictions: {}\nretention: {}\nDPIA: {}\ndata: {}\nheld: {} images, {} faces, {} templates\nrecipients: {}\n",
            c.collection,
            c.description,
            opt(&g.controller),
            opt(&g.controller_contact),
            opt(&g.purpose),
            g.purpose_category.map(|p| p.name()).unwrap_or("MISSING"),
            g.legal_basis.map(|b| b.to_string()).unwrap_or("MISSING".into()),
            g.condition.map(|b| b.to_string()).unwrap_or("MISSING".into()),
            g.jurisdictions.join(", "),
            g.retention.map(|x| format!("{x:?}")).unwrap_or("MISSING".into()),
            opt(&g.dpia),
            c.data_categories.join("; "),
            c.counts.0,
            c.counts.1,
            c.counts.2,
            c.recipients.join(", "),
        ));
    }
    out.push_str("\n## Rights requests\n");
    for (kind, status, n) in &r.rights_requests {
        out.push_str(&format!("{kind} {status}: {n}\n"));
    }
    out
}

/// Re-wraps the data key under a new key-encryption key (admin); logged with both key ids.
pub fn rotate_keys(
    store: &mut Store,
    who: &Principal,
    old: &gabarit_crypto::Kek,
    new: &gabarit_crypto::Kek,
) -> Result<()> {
    authorize::<actions::Other>(who, Action::ManageUsers)?;
    store.rotate_kek(old, new)?;
    store.catalog.audit(&who.name, "keys_rotate", json!({"old_kek_id": old.id(), "new_kek_id": new.id()}))?;
    Ok(())
}

/// Every user with roles and grants (admin).
pub fn list_users(store: &Store, who: &Principal) -> Result<Vec<gabarit_catalog::UserRecord>> {
    authorize::<actions::Other>(who, Action::ManageUsers)?;
    Ok(store.catalog.users()?)
}

/// Collections with their counts (any user: names and counts hold no personal data).
pub fn list_collections(store: &Store, _who: &Principal) -> Result<Vec<gabarit_catalog::CollectionSummary>> {
    Ok(store.catalog.collections()?)
}

/// One collection with its counts (any user, as [`list_collections`]).
pub fn collection_summary(store: &Store, _who: &Principal, name: &str) -> Result<gabarit_catalog::CollectionSummary> {
    Ok(store.catalog.collection_summary(name)?)
}

/// Whether `who` may see what a collection holds: curators and dpos see every collection;
/// investigators and reviewers only collections granted to them.
fn may_view(store: &Store, who: &Principal, collection: &str, what: &str) -> Result<()> {
    let collection = store.catalog.collection(collection)?;
    let may = |action: Action| authorize::<actions::Other>(who, action).is_ok();
    let broad = may(Action::ManageCollections) || may(Action::Rights);
    let granted = who.collections.contains(&collection.id) && (may(Action::Search) || may(Action::Review));
    if broad || granted {
        return Ok(());
    }
    Err(gabarit_governance::Error::Forbidden {
        user: who.name.clone(),
        roles: who.roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(", "),
        action: format!("view {what} of collection {:?}", collection.name),
    }
    .into())
}

/// What the catalog holds for one image or video: the record, its faces (boxes, quality,
/// times; never templates) and its tracks (see [`may_view`] for who may).
pub fn image_record(store: &Store, who: &Principal, id: u64) -> Result<serde_json::Value> {
    let image = store.catalog.image(id)?;
    may_view(store, who, &image.collection, &format!("image {id}"))?;
    let faces = store.catalog.faces_of_image(id)?;
    let tracks = store.catalog.tracks_of_image(id)?;
    Ok(json!({"image": image, "faces": faces, "tracks": tracks}))
}

/// A stored face as a JPEG crop (the box with a quarter of margin), for review; audited.
pub fn face_crop(
    store: &mut Store,
    who: &Principal,
    face_id: u64,
    limits: &gabarit_media::DecodeLimits,
) -> Result<Vec<u8>> {
    let face = store.catalog.face(face_id)?;
    may_view(store, who, &face.collection, &format!("face {face_id}"))?;
    let place = match face.moment {
        None => None,
        Some(m) => {
            let image = store.catalog.image(face.image_id)?;
            Some(crate::search::VideoPlace {
                time_s: m.time_s,
                timestamp: gabarit_video::format_timestamp(m.time_s),
                track: m.track,
                frame_width: image.width,
                frame_height: image.height,
            })
        }
    };
    let pixels = crate::search::source_pixels(&face.uri, place.as_ref(), limits)?;
    let bytes = crate::search::jpeg(&crate::search::face_crop(&pixels, &face.bbox))?;
    store.catalog.audit(&who.name, "face_view", json!({"face": face_id, "image": face.image_id}))?;
    Ok(bytes)
}

/// A stored photo (upright), or the frame of a stored video at `time_s`, as JPEG; audited.
pub fn source_image(
    store: &mut Store,
    who: &Principal,
    image_id: u64,
    time_s: Option<f64>,
    limits: &gabarit_media::DecodeLimits,
) -> Result<Vec<u8>> {
    let image = store.catalog.image(image_id)?;
    may_view(store, who, &image.collection, &format!("image {image_id}"))?;
    let place = match (&image.video, time_s) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(Error::Invalid(format!("image {image_id} is a video: say which time (?time_s=)")));
        }
        (Some(v), Some(t)) if !(0.0..=v.duration_s).contains(&t) => {
            return Err(Error::Invalid(format!("time {t} s is outside the video (0 to {:.3} s)", v.duration_s)));
        }
        (Some(_), Some(t)) => Some(crate::search::VideoPlace {
            time_s: t,
            timestamp: gabarit_video::format_timestamp(t),
            track: 0,
            frame_width: image.width,
            frame_height: image.height,
        }),
    };
    let pixels = crate::search::source_pixels(&image.uri, place.as_ref(), limits)?;
    let bytes = crate::search::jpeg(&pixels)?;
    store.catalog.audit(&who.name, "image_view", json!({"image": image_id, "time_s": time_s}))?;
    Ok(bytes)
}

/// How long a web session lasts.
pub const SESSION_HOURS: i64 = 12;

fn seconds_string(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Sets a user's password for the web UI (admin; logged without the password). Passwords
/// are hashed with Argon2id; at least 12 characters.
pub fn set_password(store: &mut Store, who: &Principal, name: &str, password: &str) -> Result<()> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use rand::TryRng;
    authorize::<actions::Other>(who, Action::ManageUsers)?;
    if password.chars().count() < 12 {
        return Err(Error::Invalid("a password needs at least 12 characters".into()));
    }
    let mut random = [0u8; 16];
    rand::rngs::SysRng.try_fill_bytes(&mut random).map_err(|e| Error::Invalid(format!("no system randomness: {e}")))?;
    let salt = SaltString::encode_b64(&random).map_err(|e| Error::Invalid(format!("salt: {e}")))?;
    let hash = argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::Invalid(format!("cannot hash the password: {e}")))?
        .to_string();
    store.catalog.set_password_hash(name, &hash)?;
    store.catalog.audit(&who.name, "user_password_set", json!({"user": name}))?;
    Ok(())
}

/// A web session: the token for the cookie and the CSRF token for state-changing requests.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// User.
    pub user: String,
    /// Session token (goes in an HttpOnly cookie; only its hash is stored).
    #[serde(skip)]
    pub token: String,
    /// CSRF token (sent back in the `X-CSRF-Token` header of state-changing requests).
    pub csrf: String,
    /// Expiry.
    pub expires_at: String,
}

/// Logs a user in with their password; every attempt is audited (the password never is).
pub fn login(store: &mut Store, name: &str, password: &str) -> Result<Session> {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    let hash = store.catalog.password_hash(name)?;
    let ok = hash
        .as_deref()
        .and_then(|h| PasswordHash::new(h).ok())
        .is_some_and(|parsed| argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok());
    if !ok {
        store.catalog.audit(name, "login_failed", json!({"user": name}))?;
        return Err(gabarit_governance::Error::Forbidden {
            user: name.to_string(),
            roles: String::new(),
            action: "log in: unknown user or wrong password".into(),
        }
        .into());
    }
    let expires_at = seconds_string(jiff::Timestamp::now() + jiff::SignedDuration::from_hours(SESSION_HOURS));
    let (token, csrf) = store.catalog.create_session(name, &expires_at)?;
    store.catalog.audit(name, "login", json!({"user": name, "expires_at": expires_at}))?;
    Ok(Session { user: name.to_string(), token, csrf, expires_at })
}

/// The user of a live session and its CSRF token.
pub fn session_user(store: &Store, token: &str) -> Result<Option<(Principal, String)>> {
    let now = seconds_string(jiff::Timestamp::now());
    match store.catalog.session(token, &now)? {
        Some((name, csrf)) => Ok(Some((actor(store, Some(&name))?, csrf))),
        None => Ok(None),
    }
}

/// Ends a session.
pub fn logout(store: &mut Store, who: &Principal, token: &str) -> Result<()> {
    store.catalog.end_session(token, &seconds_string(jiff::Timestamp::now()))?;
    store.catalog.audit(&who.name, "logout", json!({"user": who.name}))?;
    Ok(())
}
