//! Governed use cases: every operation on collections, records and biometric data takes the
//! authenticated [`Caller`], obtains from the core's policy the proof its action needs (whose
//! scope bounds the records it can reach), does the work and writes its audit entry in the
//! same transaction. The CLI and the server call these, never the catalog or the index.

use gabarit_catalog::{NewCandidate, NewSearch};
pub use gabarit_governance::audit::{Break, Entry};
use gabarit_governance::{GovernanceDraft, Role, actions, authorize_system, limits};
use serde::Serialize;
use serde_json::json;

pub use gabarit_catalog::CollectionSummary;
pub use gabarit_governance::audit::Checkpoint;

use crate::auth::Caller;
use crate::ingest::{IngestOptions, IngestProgress, IngestReport, ingest};
use crate::people::GroupingAfterIngest;
use crate::query::QueryPhoto;
use crate::search::{SearchOptions, SearchResult, search_faces};
use crate::store::Store;
use crate::{Error, FaceServices, Result};

/// Creates a collection with its governance fields (curator), bound to the model pack and
/// the engine family (backend, precision) its templates will come from.
pub(crate) fn create_collection(
    store: &mut Store,
    who: &Caller,
    name: &str,
    description: &str,
    draft: &GovernanceDraft,
    pack: &gabarit_inference::Pack,
    engine: gabarit_inference::EngineFamily,
) -> Result<()> {
    who.may::<actions::ManageCollections>()?;
    let draft = draft.validate()?;
    let key = crate::store::pack_key(pack);
    store.catalog.audited(who.name(), "collection_create", |tx| {
        let c = tx.create_collection(name, description, (&key.name, &key.sha256), &engine.to_string())?;
        tx.set_governance(&c.name, &draft)?;
        Ok((
            (),
            json!({"collection": c.name, "pack": c.pack, "pack_sha256": c.pack_sha256, "engine": c.engine,
                "governance": draft,
                "missing": draft.missing()}),
        ))
    })?;
    Ok(())
}

/// Replaces the governance fields of a collection (curator); logged with before and after.
pub(crate) fn update_collection(store: &mut Store, who: &Caller, name: &str, draft: &GovernanceDraft) -> Result<()> {
    who.may::<actions::ManageCollections>()?;
    let draft = draft.validate()?;
    store.catalog.audited(who.name(), "collection_update", |tx| {
        let before = tx.governance(name)?;
        tx.set_governance(name, &draft)?;
        // Grouping off: no group, label or correction of the collection remains.
        let erased = if draft.grouping { None } else { Some(tx.erase_grouping(tx.collection(name)?.id)?) };
        Ok(((), json!({"collection": name, "before": before, "after": draft, "grouping_erased": erased})))
    })?;
    Ok(())
}

/// The collections the caller may see (curators, DPOs and admins: all; investigators and
/// reviewers: those granted to them), with their counts.
pub(crate) fn list_collections(store: &Store, who: &Caller) -> Result<Vec<CollectionSummary>> {
    let proof = who.may::<actions::ListCollections>()?;
    Ok(store.catalog.collections(proof.scope())?)
}

/// One collection the caller may see, with its counts and governance fields.
pub(crate) fn collection(store: &Store, who: &Caller, name: &str) -> Result<(CollectionSummary, GovernanceDraft)> {
    let proof = who.may::<actions::ListCollections>()?;
    let summary = store.catalog.collection_summary(proof.scope(), name)?;
    Ok((summary, store.catalog.governance(name)?))
}

/// Ingests into a collection (curator) with its pack and engine family, refusing a collection whose governance
/// is incomplete, or while an objection holds no template of its pack. Each stored batch is
/// audited in its own transaction (`ingest_batch`), and the run as a whole at its end
/// (`ingest`).
pub(crate) fn governed_ingest(
    services: &FaceServices,
    store: &mut Store,
    who: &Caller,
    opts: &IngestOptions,
    progress: &mut dyn FnMut(IngestProgress),
) -> Result<IngestReport> {
    let proof = who.may::<actions::Ingest>()?;
    store.catalog.governance(&opts.collection)?.complete(&opts.collection)?;
    let collection = store.catalog.collection(&opts.collection)?;
    let pack = collection.pack_key();
    crate::objections::check_objections_hold(store, &pack)?;
    // The collection's pack on the collection's backend and precision.
    let service = services.for_collection(&collection)?;
    let mut opts = opts.clone();
    opts.suppressions = crate::objections::suppression_vectors(store, &pack)?;
    opts.suppression_threshold = service.config().pack.thresholds.rights;
    let report = ingest(&service, store, &proof, &opts, progress)?;
    store.catalog.audit(
        who.name(),
        "ingest",
        json!({
            "collection": report.collection, "job": report.job, "inputs": opts.inputs,
            "files": report.files, "ingested": report.ingested, "duplicates": report.duplicates,
            "erased_on_request": report.erased_on_request, "failed": report.failed.len(), "faces": report.faces, "templates": report.templates,
            "suppressed_by_objection": report.suppressed_by_objection,
        }),
    )?;
    let mut report = report;
    report.grouping = group_after_ingest(store, who, &opts.collection);
    Ok(report)
}

/// Groups the collection's faces by person after an ingestion, where its governance asks for
/// it (only the new faces are searched): the run's report, or why it did not run. A grouping
/// that fails leaves the ingestion done (the next run picks up where it stopped).
fn group_after_ingest(store: &mut Store, who: &Caller, collection: &str) -> Option<GroupingAfterIngest> {
    let not_run = |reason: String| Some(GroupingAfterIngest::NotRun { not_run: reason });
    match store.catalog.governance(collection) {
        Ok(g) if !g.grouping => return None,
        Ok(_) => {}
        Err(e) => return not_run(e.to_string()),
    }
    if !who.can::<actions::People>() {
        return not_run(format!("{} may not group people; a curator runs `gabarit people group`", who.name()));
    }
    match crate::grouping::group_people(store, who, collection, &mut |_| {}) {
        Ok(r) => Some(GroupingAfterIngest::Ran(r)),
        Err(e) => {
            tracing::warn!(error = %e, "grouping after ingestion failed");
            not_run(e.to_string())
        }
    }
}

/// A search with its purpose and the ids of its candidates (for review).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
pub(crate) fn governed_search(
    services: &FaceServices,
    store: &mut Store,
    who: &Caller,
    case_ref: &str,
    purpose: &str,
    photo: &std::path::Path,
    opts: &SearchOptions,
) -> Result<GovernedSearch> {
    // The collections first: nothing is analysed for a search the caller may not make.
    let packs = search_packs(store, who, &opts.collections)?;
    let img = analyze_query(services, who, &packs, photo)?;
    let query = photo.display().to_string();
    governed_search_faces(store, who, case_ref, purpose, &query, &img, opts)
}

/// The faces of a query photo, with each pack's templates and the crop of each face that a
/// search keeps for its reviewers, for a user who may search (checked first: nobody else's
/// photo is analysed). Needs no store, so a server runs it outside the store's lock; `packs`
/// come from [`search_packs`].
pub(crate) fn analyze_query(
    services: &FaceServices,
    who: &Caller,
    packs: &[gabarit_catalog::PackKey],
    photo: &std::path::Path,
) -> Result<QueryPhoto> {
    may_search(who)?;
    services.analyze_query_photo(packs, photo)
}

/// The packs of the collections a search by `who` would reach (those it names, or, when it
/// names none, those granted), decided before a query photo is analysed.
pub(crate) fn search_packs(
    store: &Store,
    who: &Caller,
    collections: &[String],
) -> Result<Vec<gabarit_catalog::PackKey>> {
    let (_, reached) = search_proof(store, who, collections)?;
    let mut packs: Vec<gabarit_catalog::PackKey> = reached.iter().map(|c| c.pack_key()).collect();
    packs.sort();
    packs.dedup();
    Ok(packs)
}

/// Whether `who` may search at all (decided before anything about a request is looked at).
pub(crate) fn may_search(who: &Caller) -> Result<()> {
    who.may::<actions::Search>()?;
    Ok(())
}

/// The proof of a search, narrowed to the collections it names (or, when it names none, to
/// those granted to the caller), with those collections.
fn search_proof(
    store: &Store,
    who: &Caller,
    collections: &[String],
) -> Result<(gabarit_governance::Authorized<actions::Search>, Vec<gabarit_catalog::Collection>)> {
    let proof = who.may::<actions::Search>()?;
    let reached = if collections.is_empty() {
        let granted: Vec<gabarit_catalog::Collection> = store
            .catalog
            .collections_in(proof.scope())?
            .into_iter()
            .filter(|c| who.granted().contains(&c.id))
            .collect();
        if granted.is_empty() {
            return Err(Error::NothingGranted { user: who.name().to_string() });
        }
        granted
    } else {
        store.catalog.collections_named(collections)?
    };
    let named: Vec<(u32, &str)> = reached.iter().map(|c| (c.id, c.name.as_str())).collect();
    Ok((proof.narrow(&named)?, reached))
}

/// [`governed_search`] with the query photo already analysed by [`analyze_query`]. The crop
/// of each query face that has candidates is kept, sealed, for the reviewers (see
/// [`crate::review`]), for `opts.probe_days` at most.
#[allow(clippy::too_many_arguments)]
pub(crate) fn governed_search_faces(
    store: &mut Store,
    who: &Caller,
    case_ref: &str,
    purpose: &str,
    query: &str,
    photo: &QueryPhoto,
    opts: &SearchOptions,
) -> Result<GovernedSearch> {
    // Who may search at all is decided before anything about the request is looked at.
    who.may::<actions::Search>()?;
    let case_ref = limits::bounded("case", case_ref, limits::CASE_REF, false)?;
    let purpose = limits::bounded("purpose", purpose, limits::PURPOSE, true)?;
    if case_ref.is_empty() {
        return Err(Error::field("case_ref", "every search needs a case reference (--case)"));
    }
    if purpose.is_empty() {
        return Err(Error::field("purpose", "every search needs a purpose (--purpose)"));
    }
    let started = jiff::Timestamp::now().to_string();
    let expires_at = crate::query::probe_expiry(opts.probe_days)?;
    // Without --collection an investigator searches the collections granted to them: the
    // proof is narrowed to exactly the collections searched, which is all `search_faces` reads.
    let (proof, _) = search_proof(store, who, &opts.collections)?;
    let result = search_faces(store, &proof, query, photo, opts)?;
    let cands: Vec<NewCandidate> = result
        .candidates
        .iter()
        .map(|c| NewCandidate {
            face_id: c.face_id,
            collection_id: c.collection_id,
            query_face: c.query_face,
            rank: c.rank,
            score: c.score,
        })
        .collect();
    // The crop of each query face with candidates, kept for the reviewers.
    let mut faces: Vec<usize> = cands.iter().map(|c| c.query_face).collect();
    faces.sort_unstable();
    faces.dedup();
    let crops = faces
        .into_iter()
        .map(|f| {
            photo.crop(f).map(|c| (f, c)).ok_or_else(|| Error::Internal(format!("query face {f}: no crop to keep")))
        })
        .collect::<Result<Vec<_>>>()?;
    let record = NewSearch {
        actor: who.name(),
        case_ref,
        purpose,
        query_sha256: &result.query_sha256,
        collections: &result.collections,
        gallery_size: result.gallery_size,
        started_at: &started,
    };
    let ((search_id, candidate_ids), _) = store.catalog.audited(who.name(), "search", |tx| {
        let (search_id, ids) = tx.record_search(&record, &cands)?;
        for (f, crop) in &crops {
            tx.keep_probe(search_id, *f, crop, &expires_at)?;
        }
        let kept: Vec<usize> = crops.iter().map(|(f, _)| *f).collect();
        let finished = jiff::Timestamp::now().to_string();
        let detail = json!({
            "search": search_id, "case": case_ref, "purpose": purpose, "via": who.via(),
            "period": {"from": started, "to": finished},
            "collections": result.collections, "gallery_size": result.gallery_size,
            "input_sha256": result.query_sha256, "threshold": result.threshold,
            "packs": result.packs.iter().map(|p| json!({"pack": p.pack, "threshold": p.threshold, "gallery_size": p.gallery_size})).collect::<Vec<_>>(),
            "query_faces_kept": kept, "kept_until": expires_at,
            "candidates": ids.iter().zip(&result.candidates)
                .map(|(id, c)| json!({"candidate": id, "face": c.face_id, "score": c.score})).collect::<Vec<_>>(),
        });
        Ok(((search_id, ids), detail))
    })?;
    Ok(GovernedSearch { search_id, case_ref: case_ref.into(), purpose: purpose.into(), candidate_ids, result })
}

/// Verifies the audit chain with the key (dpo), and with a checkpoint, that it still holds
/// what the checkpoint saw; the number of entries and the first break, if any.
pub(crate) fn audit_verify(
    store: &mut Store,
    who: &Caller,
    checkpoint: Option<&Checkpoint>,
) -> Result<(usize, Option<Break>)> {
    who.may::<actions::Audit>()?;
    let (n, broken) = store.catalog.verify_audit(checkpoint)?;
    store.catalog.audit(
        who.name(),
        "audit_verify",
        json!({"entries": n, "intact": broken.is_none(), "checkpoint": checkpoint.map(|c| json!({"at": c.at, "entries": c.entries}))}),
    )?;
    Ok((n, broken))
}

/// Audit entries in a period (dpo), for export as JSON lines.
pub(crate) fn audit_export(
    store: &mut Store,
    who: &Caller,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<Vec<gabarit_governance::audit::Entry>> {
    who.may::<actions::Audit>()?;
    let entries = store.catalog.audit_entries(from, to)?;
    store.catalog.audit(who.name(), "audit_export", json!({"from": from, "to": to, "entries": entries.len()}))?;
    Ok(entries)
}

/// What a reader of the audit log asks for: a period, an action, an actor, a page.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// From (RFC 3339), inclusive.
    pub from: Option<String>,
    /// To (RFC 3339): entries before it, or on that date.
    pub to: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only this actor.
    pub actor: Option<String>,
    /// Entries to skip.
    pub offset: usize,
    /// Entries to return (1 to 10,000).
    pub limit: usize,
    /// Oldest first (default: newest first).
    pub oldest_first: bool,
}

/// One page of the audit log, with what the reader can filter by.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    /// Entries matching, in all.
    pub total: usize,
    /// Skipped.
    pub offset: usize,
    /// Asked for.
    pub limit: usize,
    /// This page's entries.
    pub items: Vec<gabarit_governance::audit::Entry>,
    /// Every action the log holds (to filter by).
    pub actions: Vec<String>,
}

/// A page of the audit log (dpo), newest first unless asked otherwise. Reading it is on the
/// record once per reading (its first page), not once per page turned.
pub(crate) fn audit_browse(store: &mut Store, who: &Caller, q: &AuditQuery) -> Result<AuditPage> {
    who.may::<actions::Audit>()?;
    if let (Some(from), Some(to)) = (&q.from, &q.to)
        && from > to
    {
        return Err(Error::field(
            "from",
            format!("the period starts ({}) after it ends ({}): swap them", limits::shown(from), limits::shown(to)),
        ));
    }
    let mut entries = store.catalog.audit_entries(q.from.as_deref(), q.to.as_deref())?;
    entries.retain(|e| {
        q.action.as_deref().is_none_or(|a| e.action == a) && q.actor.as_deref().is_none_or(|a| e.actor == a)
    });
    if !q.oldest_first {
        entries.reverse();
    }
    let limit = q.limit.clamp(1, 10_000);
    let total = entries.len();
    let items = entries.into_iter().skip(q.offset).take(limit).collect();
    if q.offset == 0 {
        store.catalog.audit(
            who.name(),
            "audit_view",
            json!({"from": q.from, "to": q.to, "action": q.action, "actor": q.actor, "entries": total}),
        )?;
    }
    Ok(AuditPage { total, offset: q.offset, limit, items, actions: store.catalog.audit_actions()? })
}

/// A signed checkpoint of the audit chain (dpo), to keep outside the data directory: later,
/// `audit verify --anchor` tells whether the chain was truncated or rewritten since. The
/// anchoring itself is the last entry the checkpoint counts.
pub(crate) fn audit_anchor(store: &mut Store, who: &Caller) -> Result<Checkpoint> {
    who.may::<actions::Audit>()?;
    anchor(store, who.name())
}

/// The checkpoint the server writes on its own (at start, then daily), as `actor`.
pub(crate) fn scheduled_anchor(store: &mut Store, actor: &str) -> Result<Checkpoint> {
    let proof = authorize_system::<actions::Audit>(actor);
    anchor(store, proof.user())
}

fn anchor(store: &mut Store, actor: &str) -> Result<Checkpoint> {
    store.catalog.audit(actor, "audit_anchor", json!({}))?;
    Ok(store.catalog.audit_checkpoint()?)
}

/// One collection in the record of processing activities (GDPR art. 30).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct ProcessingRecord {
    /// When.
    pub generated_at: String,
    /// Per collection.
    pub collections: Vec<ProcessingEntry>,
    /// Rights requests handled: (kind, status, count).
    pub rights_requests: Vec<(String, String, u64)>,
    /// The query faces searches keep for their reviewers.
    pub query_faces: QueryFacesKept,
}

/// What the record says of the query faces kept for review (AI Act art. 14).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct QueryFacesKept {
    /// How they are kept and for how long.
    pub policy: &'static str,
    /// How many are kept now.
    pub kept: u64,
    /// When the last of them goes at the latest.
    pub last_expiry: Option<String>,
}

/// The rule the record of processing states for query faces.
pub const QUERY_FACE_POLICY: &str = "A search keeps, for each query face with candidates, a crop of that face (not the photo), encrypted with the data key, visible only to the searcher and to reviewers of the collections its candidates are in; it is deleted once every candidate of the search is decided, or at the end of the search's period (30 days unless set otherwise), whichever comes first. Each keeping, viewing and deletion is on the audit record.";

/// Builds the record of processing activities (dpo).
pub(crate) fn processing_record(store: &mut Store, who: &Caller) -> Result<ProcessingRecord> {
    let proof = who.may::<actions::Reports>()?;
    let users = store.catalog.users()?;
    let mut collections = Vec::new();
    for c in store.catalog.collections(proof.scope())? {
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
            data_categories: crate::rights::DATA_CATEGORIES.iter().map(|c| c.description).collect(),
            counts: (c.images, c.faces, c.templates),
            recipients,
        });
    }
    let record = ProcessingRecord {
        generated_at: jiff::Timestamp::now().to_string(),
        collections,
        rights_requests: store.catalog.request_counts()?,
        query_faces: {
            let (kept, last_expiry) = store.catalog.probe_count()?;
            QueryFacesKept { policy: QUERY_FACE_POLICY, kept, last_expiry }
        },
    };
    store.catalog.audit(who.name(), "report_processing", json!({"collections": record.collections.len()}))?;
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
            g.retention.map(|x| x.to_string()).unwrap_or("MISSING".into()),
            opt(&g.dpia),
            c.data_categories.join("; "),
            c.counts.0,
            c.counts.1,
            c.counts.2,
            c.recipients.join(", "),
        ));
    }
    out.push_str(&format!(
        "\n## Query faces kept for review\n{}\nkept now: {}{}\n",
        r.query_faces.policy,
        r.query_faces.kept,
        r.query_faces.last_expiry.as_deref().map(|t| format!(", the last going by {t}")).unwrap_or_default()
    ));
    out.push_str("\n## Rights requests\n");
    for (kind, status, n) in &r.rights_requests {
        out.push_str(&format!("{kind} {status}: {n}\n"));
    }
    out
}

/// Re-wraps the data key under a new key-encryption key (admin); logged with both key ids.
pub(crate) fn rotate_keys(
    store: &mut Store,
    who: &Caller,
    old: &gabarit_crypto::Kek,
    new: &gabarit_crypto::Kek,
) -> Result<()> {
    who.may::<actions::ManageUsers>()?;
    store.rotate_kek(old, new)?;
    store.catalog.audit(who.name(), "keys_rotate", json!({"old_kek_id": old.id(), "new_kek_id": new.id()}))?;
    Ok(())
}

/// An image's or video's record: its faces (boxes, quality, times; never templates) and, for a
/// video, its tracks.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct ImageView {
    /// The image or video.
    pub image: gabarit_catalog::ImageRecord,
    /// Its faces.
    pub faces: Vec<gabarit_catalog::FaceRecord>,
    /// A video's tracks (empty for a photo).
    pub tracks: Vec<gabarit_catalog::TrackSpan>,
}

/// What the catalog holds for one image or video within the caller's reach: the record, its
/// faces and its tracks; audited.
pub(crate) fn image_record(store: &mut Store, who: &Caller, id: u64) -> Result<ImageView> {
    let proof = who.may::<actions::ViewRecords>()?;
    let image = store.catalog.image(proof.scope(), id)?;
    let faces = store.catalog.faces_of_image(proof.scope(), id)?;
    let tracks = store.catalog.tracks_of_image(proof.scope(), id)?;
    store.catalog.audit(who.name(), "record_view", json!({"images": [id]}))?;
    Ok(ImageView { image, faces, tracks })
}

/// What the catalog holds for a photo's content (by its SHA-256) within the caller's reach;
/// audited.
pub(crate) fn records_of_content(store: &mut Store, who: &Caller, sha256: &str) -> Result<Vec<serde_json::Value>> {
    let proof = who.may::<actions::ViewRecords>()?;
    let mut out = Vec::new();
    for img in store.catalog.images_by_sha256(proof.scope(), sha256)? {
        let faces = store.catalog.faces_of_image(proof.scope(), img.id)?;
        let tracks = store.catalog.tracks_of_image(proof.scope(), img.id)?;
        out.push(json!({"image": img, "faces": faces, "tracks": tracks}));
    }
    let ids: Vec<u64> = out.iter().filter_map(|v| v["image"]["id"].as_u64()).collect();
    store.catalog.audit(who.name(), "record_view", json!({"images": ids, "input_sha256": sha256}))?;
    Ok(out)
}

/// A stored face as a JPEG crop (the box with a quarter of margin), for review; audited.
pub(crate) fn face_crop(
    store: &mut Store,
    who: &Caller,
    face_id: u64,
    limits: &gabarit_media::DecodeLimits,
) -> Result<Vec<u8>> {
    let proof = who.may::<actions::ViewRecords>()?;
    let face = store.catalog.face(proof.scope(), face_id)?;
    let place = crate::sources::video_place(store, proof.scope(), &face)?;
    let pixels = crate::sources::source_pixels(&face.uri, place.as_ref(), limits)?;
    let bytes = crate::sources::jpeg(&crate::sources::face_crop(&pixels, &face.bbox))?;
    store.catalog.audit(who.name(), "face_view", json!({"face": face_id, "image": face.image_id}))?;
    Ok(bytes)
}

/// A stored photo (upright), or the frame of a stored video at `time_s`, as JPEG; audited.
pub(crate) fn source_image(
    store: &mut Store,
    who: &Caller,
    image_id: u64,
    time_s: Option<f64>,
    limits: &gabarit_media::DecodeLimits,
) -> Result<Vec<u8>> {
    let proof = who.may::<actions::ViewRecords>()?;
    let image = store.catalog.image(proof.scope(), image_id)?;
    let place = match (&image.video, time_s) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(Error::VideoNeedsTime { image: image_id });
        }
        // The end is excluded: no frame starts at the duration (asking for it blamed the file).
        (Some(v), Some(t)) if !(0.0..v.duration_s).contains(&t) => {
            return Err(Error::field(
                "time_s",
                format!("{t} s is outside the video (from 0 s to before {:.3} s)", v.duration_s),
            ));
        }
        (Some(_), Some(t)) => Some(crate::sources::VideoPlace {
            time_s: t,
            timestamp: gabarit_video::format_timestamp(t),
            track: 0,
            frame_width: image.width,
            frame_height: image.height,
        }),
    };
    let pixels = crate::sources::source_pixels(&image.uri, place.as_ref(), limits)?;
    let bytes = crate::sources::jpeg(&pixels)?;
    store.catalog.audit(who.name(), "image_view", json!({"image": image_id, "time_s": time_s}))?;
    Ok(bytes)
}

/// Writes a checkpoint as `audit-checkpoint-<time>.json` in `dir` (the folder created 0700,
/// the file 0600); returns its path.
pub fn write_checkpoint_file(dir: &std::path::Path, checkpoint: &Checkpoint) -> Result<std::path::PathBuf> {
    crate::store::private::create_dir(dir)?;
    let stamp: String = checkpoint.at.chars().filter(char::is_ascii_alphanumeric).collect();
    let path = dir.join(format!("audit-checkpoint-{stamp}.json"));
    let text = serde_json::to_string_pretty(checkpoint).map_err(|e| Error::Internal(e.to_string()))?;
    crate::store::private::write_file(&path, format!("{text}\n").as_bytes())?;
    Ok(path)
}
