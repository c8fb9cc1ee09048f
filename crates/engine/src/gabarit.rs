//! [`Gabarit`]: one data directory with the face services of its packs, as a front end holds
//! it, and the only way in: its methods are the governed use cases. It owns the store handles
//! (each with its own catalog connection, all sharing the vector indexes) and the face services
//! (each pack's models, thresholds and calibration, loaded once); each method takes a free
//! handle, runs the use case (which obtains its proof from the policy, works within the
//! caller's scope and audits in the same transaction) and gives the handle back.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use gabarit_catalog::{BackgroundJob, CollectionSummary, KeyRecord, PackKey, RightsRequest, UserRecord};
use gabarit_governance::audit::{Break, Checkpoint, Entry};
use gabarit_governance::{GovernanceDraft, Role};

use crate::accounts::{self, Me};
use crate::auth::{self, Caller, LoginLimiter, Session};
use crate::faces::{DecodeLimits, FaceServices};
use crate::governed::{self, AuditPage, AuditQuery, GovernedSearch, ProcessingRecord};
use crate::ingest::{IngestOptions, IngestProgress, IngestReport};
use crate::migrate::{self, MigrateOptions, MigrationProgress, MigrationReport};
use crate::query::{self, QueryPhoto};
use crate::reembed::{self, ReembedOptions, ReembedProgress, ReembedReport};
use crate::review::{self, CandidateView, Case, ReviewState};
use crate::rights::{self, ConfirmedErasure, RetentionReport, RightsReport};
use crate::search::SearchOptions;
use crate::store::Store;
use crate::{Error, Result, grouping, jobs};

/// The engine over one data directory.
pub struct Gabarit {
    handles: Vec<Mutex<Store>>,
    next: AtomicUsize,
    faces: Option<FaceServices>,
}

impl Gabarit {
    /// `store` with `handles` handles in all (at least one), and the face services of the
    /// packs its collections use, loaded now (a missing model is reported before any request,
    /// not at the first one), with its indexes opened.
    pub fn new(store: Store, faces: FaceServices, handles: usize) -> Result<Gabarit> {
        store.open_index_now()?;
        for pack in store.packs_in_use()? {
            faces.get(&pack)?;
        }
        let mut all = Vec::with_capacity(handles.max(1));
        for _ in 1..handles.max(1) {
            all.push(Mutex::new(store.handle()?));
        }
        all.push(Mutex::new(store));
        Ok(Gabarit { handles: all, next: AtomicUsize::new(0), faces: Some(faces) })
    }

    /// `store` alone (one handle), for a command that runs one use case: a pack's models are
    /// loaded when a use case first needs them; without `faces`, the use cases that need a face
    /// service fail with an internal error.
    pub fn open(store: Store, faces: Option<FaceServices>) -> Gabarit {
        Gabarit { handles: vec![Mutex::new(store)], next: AtomicUsize::new(0), faces }
    }

    /// The same engine with these face services (a command adds them once its checks passed).
    pub fn with_faces(self, faces: FaceServices) -> Gabarit {
        Gabarit { faces: Some(faces), ..self }
    }

    /// A free handle on the data directory, else the next one in turn once it is free.
    pub(crate) fn store(&self) -> Result<MutexGuard<'_, Store>> {
        let poisoned = || Error::Internal("a data directory handle is poisoned".into());
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.handles.len();
        for i in 0..n {
            match self.handles[(start + i) % n].try_lock() {
                Ok(guard) => return Ok(guard),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Poisoned(_)) => return Err(poisoned()),
            }
        }
        self.handles[start % n].lock().map_err(|_| poisoned())
    }

    /// The face services of the packs in use.
    pub fn faces(&self) -> Result<&FaceServices> {
        self.faces.as_ref().ok_or_else(|| Error::Internal("this engine was opened without face services".into()))
    }

    /// The lag of the streaming replica searches read from, in seconds (none without one): a
    /// figure, for metrics.
    pub fn replica_lag(&self) -> Result<Option<f64>> {
        self.store()?.replica_lag()
    }

    /// Templates the index holds (live or not yet compacted away): a count, for metrics.
    pub fn templates_held(&self) -> Result<usize> {
        self.store()?.templates_held()
    }

    /// Background jobs by state: counts, for metrics.
    pub fn job_counts(&self) -> Result<Vec<(String, u64)>> {
        self.store()?.job_counts()
    }

    /// The data directory's root (none for a store on PostgreSQL).
    pub fn root(&self) -> Result<Option<PathBuf>> {
        Ok(self.store()?.root().map(Path::to_path_buf))
    }
}

/// Who calls: keys, sessions, the first administrator.
impl Gabarit {
    /// The caller an API key names (refused when unknown, revoked or disabled).
    pub fn authenticate_key(&self, key: &str) -> Result<Caller> {
        auth::authenticate_key(&*self.store()?, key)
    }

    /// The caller a web session names, with the session's CSRF token.
    pub fn authenticate_session(&self, token: &str) -> Result<(Caller, String)> {
        auth::authenticate_session(&*self.store()?, token)
    }

    /// The first administrator of a new data directory; its API key, shown once.
    pub fn bootstrap_admin(&self, name: &str) -> Result<String> {
        auth::bootstrap_admin(&mut *self.store()?, name)
    }

    /// A web session for a user's name and password (attempts limited per user and address).
    pub fn login(&self, limiter: &LoginLimiter, name: &str, password: &str, from: std::net::IpAddr) -> Result<Session> {
        auth::login(&mut *self.store()?, limiter, name, password, from)
    }

    /// Ends the caller's web session `token`; whether there was one.
    pub fn logout(&self, who: &Caller, token: &str) -> Result<bool> {
        auth::logout(&mut *self.store()?, who, token)
    }
}

/// Users, roles, grants and keys (administrators), and the caller's own account.
impl Gabarit {
    /// A new user with these roles; their first API key, shown once.
    pub fn add_user(&self, who: &Caller, name: &str, roles: &[Role]) -> Result<String> {
        accounts::add_user(&mut *self.store()?, who, name, roles)
    }

    /// A user's roles, replaced.
    pub fn set_roles(&self, who: &Caller, name: &str, roles: &[Role]) -> Result<()> {
        accounts::set_roles(&mut *self.store()?, who, name, roles)
    }

    /// `user` may reach the records of `collection`.
    pub fn grant(&self, who: &Caller, user: &str, collection: &str) -> Result<()> {
        accounts::grant(&mut *self.store()?, who, user, collection)
    }

    /// `user` may no longer reach the records of `collection`.
    pub fn ungrant(&self, who: &Caller, user: &str, collection: &str) -> Result<()> {
        accounts::ungrant(&mut *self.store()?, who, user, collection)
    }

    /// A new API key for `user`, shown once.
    pub fn issue_key(&self, who: &Caller, user: &str) -> Result<String> {
        accounts::issue_key(&mut *self.store()?, who, user)
    }

    /// The key of `user` starting with `prefix`, revoked.
    pub fn revoke_key(&self, who: &Caller, user: &str, prefix: &str) -> Result<()> {
        accounts::revoke_key(&mut *self.store()?, who, user, prefix)
    }

    /// The keys of `user` (prefixes and dates, never the keys).
    pub fn list_keys(&self, who: &Caller, user: &str) -> Result<Vec<KeyRecord>> {
        accounts::list_keys(&*self.store()?, who, user)
    }

    /// A user disabled: their keys and sessions stop working.
    pub fn disable_user(&self, who: &Caller, name: &str) -> Result<()> {
        accounts::disable_user(&mut *self.store()?, who, name)
    }

    /// A user's web password set; their open sessions end.
    pub fn set_password(&self, who: &Caller, name: &str, password: &str) -> Result<()> {
        accounts::set_password(&mut *self.store()?, who, name, password)
    }

    /// The users, their roles and grants.
    pub fn list_users(&self, who: &Caller) -> Result<Vec<UserRecord>> {
        accounts::list_users(&*self.store()?, who)
    }

    /// The caller's own account: name, roles, grants.
    pub fn me(&self, who: &Caller) -> Result<Me> {
        accounts::me(&*self.store()?, who)
    }
}

/// Collections and their governance, ingestion, and the records of images and faces.
impl Gabarit {
    /// A new collection with its governance fields, its pack and engine family fixed for life.
    pub fn create_collection(
        &self,
        who: &Caller,
        name: &str,
        description: &str,
        draft: &GovernanceDraft,
        pack: &gabarit_inference::Pack,
        engine: gabarit_inference::EngineFamily,
    ) -> Result<()> {
        governed::create_collection(&mut *self.store()?, who, name, description, draft, pack, engine)
    }

    /// A collection's governance fields, changed.
    pub fn update_collection(&self, who: &Caller, name: &str, draft: &GovernanceDraft) -> Result<()> {
        governed::update_collection(&mut *self.store()?, who, name, draft)
    }

    /// The collections the caller may see, with their counts.
    pub fn list_collections(&self, who: &Caller) -> Result<Vec<CollectionSummary>> {
        governed::list_collections(&*self.store()?, who)
    }

    /// One collection: its counts and governance fields.
    pub fn collection(&self, who: &Caller, name: &str) -> Result<(CollectionSummary, GovernanceDraft)> {
        governed::collection(&*self.store()?, who, name)
    }

    /// Files into a collection's faces and templates (refused while its governance is
    /// incomplete), with progress; resumable.
    pub fn ingest(
        &self,
        who: &Caller,
        opts: &IngestOptions,
        progress: &mut dyn FnMut(IngestProgress),
    ) -> Result<IngestReport> {
        governed::governed_ingest(self.faces()?, &mut *self.store()?, who, opts, progress)
    }

    /// The ingestion of files on the server's disk (under `allowed_roots`), queued as `parts`
    /// jobs (1: one) that workers share, each ingesting its [`JobPart`](jobs::JobPart) of the
    /// files.
    pub fn submit_ingest(
        &self,
        who: &Caller,
        collection: &str,
        inputs: &[PathBuf],
        allowed_roots: &[PathBuf],
        parts: u32,
    ) -> Result<Vec<BackgroundJob>> {
        jobs::submit_ingest(&mut *self.store()?, who, collection, inputs, allowed_roots, parts)
    }

    /// Uploaded files kept privately and their ingestion queued.
    pub fn submit_upload(&self, who: &Caller, collection: &str, files: &[(String, &[u8])]) -> Result<BackgroundJob> {
        jobs::submit_upload(&mut *self.store()?, who, collection, files)
    }

    /// Whether the caller may ingest at all (checked before an upload is read).
    pub fn may_ingest(&self, who: &Caller) -> Result<()> {
        jobs::may_ingest(who)
    }

    /// The caller's background jobs, newest first.
    pub fn list_jobs(&self, who: &Caller, limit: usize) -> Result<Vec<BackgroundJob>> {
        jobs::list_jobs(&*self.store()?, who, limit)
    }

    /// One background job.
    pub fn job(&self, who: &Caller, id: u64) -> Result<BackgroundJob> {
        jobs::job(&*self.store()?, who, id)
    }

    /// A collection's templates made again with another pack (dry run unless `opts` says).
    pub fn reembed(
        &self,
        who: &Caller,
        pack: &gabarit_inference::Pack,
        opts: &ReembedOptions,
        progress: &mut dyn FnMut(ReembedProgress),
    ) -> Result<ReembedReport> {
        reembed::reembed(self.faces()?, &mut *self.store()?, who, pack, opts, progress)
    }

    /// An image's or video's record: its faces (boxes, quality, times) and tracks, never
    /// templates (audited).
    pub fn image_record(&self, who: &Caller, id: u64) -> Result<governed::ImageView> {
        governed::image_record(&mut *self.store()?, who, id)
    }

    /// Groups a collection's faces by person (its governance must allow it): searches the
    /// neighbours of the faces not searched yet, then groups them all under the corrections.
    pub fn group_people(
        &self,
        who: &Caller,
        collection: &str,
        progress: &mut dyn FnMut(grouping::GroupingProgress),
    ) -> Result<grouping::GroupingReport> {
        grouping::group_people(&mut *self.store()?, who, collection, progress)
    }

    /// Queues a grouping of a collection's faces by person (run by the server's job runner).
    pub fn submit_grouping(&self, who: &Caller, collection: &str) -> Result<BackgroundJob> {
        jobs::submit_grouping(&mut *self.store()?, who, collection)
    }

    /// A page of the named persons of a collection whose name contains `name` (letter case
    /// and accents aside), most faces first.
    pub fn find_people(
        &self,
        who: &Caller,
        collection: &str,
        name: &str,
        page: grouping::PeopleQuery,
    ) -> Result<grouping::PeoplePage> {
        grouping::find_people(&mut *self.store()?, who, collection, name, page)
    }

    /// A page of the persons of a collection, most faces first.
    pub fn list_people(
        &self,
        who: &Caller,
        collection: &str,
        query: grouping::PeopleQuery,
    ) -> Result<grouping::PeoplePage> {
        grouping::list_people(&mut *self.store()?, who, collection, query)
    }

    /// One person with its faces.
    pub fn show_person(&self, who: &Caller, person: u64) -> Result<grouping::PersonView> {
        grouping::show_person(&mut *self.store()?, who, person)
    }

    /// Names a person (`None` removes the name); confirms its faces.
    pub fn name_person(&self, who: &Caller, person: u64, label: Option<&str>) -> Result<()> {
        grouping::name_person(&mut *self.store()?, who, person, label)
    }

    /// Merges person `from` into person `into`.
    pub fn merge_people(&self, who: &Caller, into: u64, from: u64) -> Result<()> {
        grouping::merge_people(&mut *self.store()?, who, into, from)
    }

    /// Splits faces off a person into a new one; returns its id.
    pub fn split_person(&self, who: &Caller, person: u64, faces: &[u64]) -> Result<u64> {
        grouping::split_person(&mut *self.store()?, who, person, faces)
    }

    /// Moves a face to another person.
    pub fn move_face(&self, who: &Caller, face: u64, to: u64) -> Result<()> {
        grouping::move_face(&mut *self.store()?, who, face, to)
    }

    /// Marks a face as not the person it is in; returns that person.
    pub fn not_person(&self, who: &Caller, face: u64) -> Result<u64> {
        grouping::not_person(&mut *self.store()?, who, face)
    }

    /// The records of a file's content (by SHA-256) in the caller's collections.
    pub fn records_of_content(&self, who: &Caller, sha256: &str) -> Result<Vec<serde_json::Value>> {
        governed::records_of_content(&mut *self.store()?, who, sha256)
    }

    /// A face with a margin, as JPEG, for review (audited).
    pub fn face_crop(&self, who: &Caller, face_id: u64, limits: &DecodeLimits) -> Result<Vec<u8>> {
        governed::face_crop(&mut *self.store()?, who, face_id, limits)
    }

    /// A photo upright, or a video's frame at `time_s`, as JPEG (audited).
    pub fn source_image(
        &self,
        who: &Caller,
        image_id: u64,
        time_s: Option<f64>,
        limits: &DecodeLimits,
    ) -> Result<Vec<u8>> {
        governed::source_image(&mut *self.store()?, who, image_id, time_s, limits)
    }
}

/// Searches and their review.
impl Gabarit {
    /// A case's search with a photo: candidates for review, audited with its purpose.
    pub fn search(
        &self,
        who: &Caller,
        case_ref: &str,
        purpose: &str,
        photo: &Path,
        opts: &SearchOptions,
    ) -> Result<GovernedSearch> {
        governed::governed_search(self.faces()?, &mut *self.store()?, who, case_ref, purpose, photo, opts)
    }

    /// Whether the caller may search at all (checked before a query photo is read).
    pub fn may_search(&self, who: &Caller) -> Result<()> {
        governed::may_search(who)
    }

    /// The packs a search of these collections (all the caller's when empty) needs.
    pub fn search_packs(&self, who: &Caller, collections: &[String]) -> Result<Vec<PackKey>> {
        governed::search_packs(&*self.store()?, who, collections)
    }

    /// A query photo's faces and templates, for each of `packs` (no record is touched).
    pub fn analyze_query(&self, who: &Caller, packs: &[PackKey], photo: &Path) -> Result<QueryPhoto> {
        governed::analyze_query(self.faces()?, who, packs, photo)
    }

    /// Keeps a query photo analysed for the caller, sealed in the store for
    /// [`query::QUERY_TTL`], so that any server process on the store may search it; its id.
    pub fn keep_query(&self, who: &Caller, name: &str, photo: &QueryPhoto) -> Result<String> {
        query::keep_query(&*self.store()?, who, name, photo)
    }

    /// The caller's analysed query photo `id`, unless it expired: its upload's name and its
    /// analysis (another user's is not found).
    pub fn kept_query(&self, who: &Caller, id: &str) -> Result<Option<(String, QueryPhoto)>> {
        query::kept_query(&*self.store()?, who, id)
    }

    /// A search with a query photo analysed already (`query` names it in the audit record).
    pub fn search_faces(
        &self,
        who: &Caller,
        case_ref: &str,
        purpose: &str,
        query: &str,
        photo: &QueryPhoto,
        opts: &SearchOptions,
    ) -> Result<GovernedSearch> {
        governed::governed_search_faces(&mut *self.store()?, who, case_ref, purpose, query, photo, opts)
    }

    /// A reviewer's decision on a candidate (two reviewers confirm a match).
    pub fn review(&self, who: &Caller, candidate: u64, confirm: bool) -> Result<ReviewState> {
        review::review(&mut *self.store()?, who, candidate, confirm)
    }

    /// One candidate as a reviewer sees it.
    pub fn candidate(&self, who: &Caller, id: u64) -> Result<CandidateView> {
        review::candidate(&*self.store()?, who, id)
    }

    /// The candidates awaiting the caller's decision.
    pub fn awaiting_review(&self, who: &Caller, limit: usize) -> Result<Vec<CandidateView>> {
        review::awaiting_review(&*self.store()?, who, limit)
    }

    /// A search's query face, as JPEG, for its reviewers (audited).
    pub fn probe(&self, who: &Caller, search: u64, query_face: usize) -> Result<Vec<u8>> {
        review::probe(&mut *self.store()?, who, search, query_face)
    }

    /// The caller's cases: their searches and how their review stands.
    pub fn my_cases(&self, who: &Caller, limit: usize) -> Result<Vec<Case>> {
        review::my_cases(&*self.store()?, who, limit)
    }
}

/// The data subjects' rights, retention, the audit trail and the record of processing.
impl Gabarit {
    /// A verified rights request, opened.
    pub fn open_request(
        &self,
        who: &Caller,
        kind: &str,
        requester: &str,
        verification: &str,
        received_on: &str,
    ) -> Result<RightsRequest> {
        rights::open_request(&mut *self.store()?, who, kind, requester, verification, received_on)
    }

    /// The rights requests.
    pub fn list_requests(&self, who: &Caller) -> Result<Vec<RightsRequest>> {
        rights::list_requests(&*self.store()?, who)
    }

    /// Access: every face of the requester, found with their photo, and the notice; extended
    /// to the other faces of `persons` (persons of matched faces the DPO
    /// reviewed; none to report only what the photo matches).
    pub fn access(
        &self,
        who: &Caller,
        request: u64,
        photo: &Path,
        threshold: Option<f32>,
        persons: &[u64],
    ) -> Result<RightsReport> {
        rights::access(self.faces()?, &mut *self.store()?, who, request, photo, threshold, persons)
    }

    /// Erasure: the requester's faces found, then erased once `confirm` repeats their count.
    pub fn erase(
        &self,
        who: &Caller,
        request: u64,
        photo: &Path,
        (threshold, persons): (Option<f32>, &[u64]),
        confirm: Option<usize>,
    ) -> Result<(RightsReport, Option<gabarit_catalog::Deleted>)> {
        rights::erase(self.faces()?, &mut *self.store()?, who, request, photo, (threshold, persons), confirm)
    }

    /// Erasure planned: the faces found and, once `confirm` repeats their count, the erasure
    /// to carry out (by [`Gabarit::carry_out_erasure`] or a background job).
    pub fn plan_erasure(
        &self,
        who: &Caller,
        request: u64,
        photo: &Path,
        (threshold, persons): (Option<f32>, &[u64]),
        confirm: Option<usize>,
    ) -> Result<(RightsReport, Option<ConfirmedErasure>)> {
        rights::plan_erasure(self.faces()?, &*self.store()?, who, request, photo, (threshold, persons), confirm)
    }

    /// A confirmed erasure, carried out.
    pub fn carry_out_erasure(&self, who: &Caller, e: &ConfirmedErasure) -> Result<gabarit_catalog::Deleted> {
        rights::carry_out_erasure(&mut *self.store()?, who, e)
    }

    /// A confirmed erasure, queued as a background job.
    pub fn submit_erasure(&self, who: &Caller, erasure: &ConfirmedErasure) -> Result<BackgroundJob> {
        jobs::submit_erasure(&mut *self.store()?, who, erasure)
    }

    /// Objection: the requester's faces hidden from search, durably (new ones too).
    pub fn object(&self, who: &Caller, request: u64, photo: &Path, threshold: Option<f32>) -> Result<RightsReport> {
        rights::object(self.faces()?, &mut *self.store()?, who, request, photo, threshold)
    }

    /// The collections' retention applied as of `now`.
    pub fn retention_run(&self, who: &Caller, now: jiff::Timestamp) -> Result<RetentionReport> {
        rights::retention_run(&mut *self.store()?, who, now)
    }

    /// The audit chain verified (against a checkpoint when given): entries, first break.
    pub fn audit_verify(&self, who: &Caller, checkpoint: Option<&Checkpoint>) -> Result<(usize, Option<Break>)> {
        governed::audit_verify(&mut *self.store()?, who, checkpoint)
    }

    /// The audit entries between two dates.
    pub fn audit_export(&self, who: &Caller, from: Option<&str>, to: Option<&str>) -> Result<Vec<Entry>> {
        governed::audit_export(&mut *self.store()?, who, from, to)
    }

    /// A page of audit entries, filtered.
    pub fn audit_browse(&self, who: &Caller, q: &AuditQuery) -> Result<AuditPage> {
        governed::audit_browse(&mut *self.store()?, who, q)
    }

    /// A signed checkpoint of the audit chain, to keep outside the data directory.
    pub fn audit_anchor(&self, who: &Caller) -> Result<Checkpoint> {
        governed::audit_anchor(&mut *self.store()?, who)
    }

    /// The record of processing activities (GDPR art. 30).
    pub fn processing_record(&self, who: &Caller) -> Result<ProcessingRecord> {
        governed::processing_record(&mut *self.store()?, who)
    }

    /// The data key re-wrapped under a new key-encryption key.
    pub fn rotate_keys(&self, who: &Caller, old: &gabarit_crypto::Kek, new: &gabarit_crypto::Kek) -> Result<()> {
        governed::rotate_keys(&mut *self.store()?, who, old, new)
    }

    /// The store copied to another place (a data directory or a PostgreSQL database), verified
    /// and audited on both sides; an interrupted migration run again goes on (admin, with the
    /// key-encryption key).
    pub fn migrate(
        &self,
        who: &Caller,
        kek: &gabarit_crypto::Kek,
        opts: &MigrateOptions,
        progress: &mut dyn FnMut(MigrationProgress),
    ) -> Result<MigrationReport> {
        migrate::migrate(&mut *self.store()?, who, kek, opts, progress)
    }
}

/// The server's own work, under its system actors.
impl Gabarit {
    /// A signed checkpoint of the audit chain, written by the server's schedule.
    pub fn scheduled_anchor(&self, actor: &str) -> Result<Checkpoint> {
        governed::scheduled_anchor(&mut *self.store()?, actor)
    }

    /// The collections' retention applied by the server's schedule.
    pub fn scheduled_retention(&self, now: jiff::Timestamp) -> Result<RetentionReport> {
        rights::scheduled_retention(&mut *self.store()?, now)
    }

    /// The jobs a previous server left running, queued again.
    pub fn requeue_interrupted(&self) -> Result<Vec<u64>> {
        jobs::requeue_interrupted(&*self.store()?)
    }

    /// The next queued job, run to its end; `None` when the queue is empty.
    pub fn run_next(&self, defaults: &IngestOptions) -> Result<Option<BackgroundJob>> {
        jobs::run_next(self.faces()?, &mut *self.store()?, defaults)
    }

    /// Makes the index's changes durable and writes what lets the next open start quickly:
    /// for a server that stops, and after an ingestion job (the index stays open).
    pub fn checkpoint_indexes(&self) -> Result<()> {
        self.store()?.checkpoint_indexes()
    }

    /// Whether other processes may share the store (a PostgreSQL database): jobs are then
    /// taken under leases.
    pub fn store_is_shared(&self) -> Result<bool> {
        Ok(matches!(self.store()?.place(), crate::store::Place::Postgres { .. }))
    }

    /// The next job a worker may take (queued, or its lease run out), run to its end under
    /// `lease`; `None` when there is none.
    pub fn run_next_leased(&self, defaults: &IngestOptions, lease: &jobs::Lease) -> Result<Option<BackgroundJob>> {
        jobs::run_next_leased(self.faces()?, &mut *self.store()?, defaults, lease)
    }
}
