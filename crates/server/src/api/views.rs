//! The shapes of the answers the server composes around the engine's records (the records
//! themselves are the engine's types); each is a schema of the OpenAPI document, from which
//! the web UI's types are generated.

use gabarit_engine::accounts::Me;
use gabarit_engine::governance::GovernanceDraft;
use gabarit_engine::governed::CollectionSummary;
use gabarit_engine::jobs::BackgroundJob;
use serde::Serialize;

/// The caller's account, and for curators where they may ingest from.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct MeView {
    /// Name, roles, collections granted.
    #[serde(flatten)]
    pub me: Me,
    /// For curators: the folders on the server they may ingest from by path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ingest_roots: Option<Vec<String>>,
}

/// A collection: its counts and its governance fields.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct CollectionDetails {
    /// Counts, pack and engine.
    pub collection: CollectionSummary,
    /// Controller, purpose, legal basis…
    pub governance: GovernanceDraft,
}

/// A collection created: its pack, and the governance fields still missing (ingestion is
/// refused until they are set).
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct CollectionCreated {
    /// Name.
    pub name: String,
    /// The model pack its templates will come from.
    pub pack: String,
    /// The fields still missing (their flag names).
    pub missing: Vec<&'static str>,
}

/// Governance saved: the fields still missing.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct GovernanceSaved {
    /// The collection.
    pub name: String,
    /// The fields still missing (their flag names).
    pub missing: Vec<&'static str>,
}

/// This browser's web session, if any.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct CurrentSession {
    /// `null` without a valid session cookie.
    pub session: Option<SessionOf>,
}

/// Whose session it is and its CSRF token.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct SessionOf {
    /// User.
    pub user: String,
    /// CSRF token (the `X-CSRF-Token` header of state-changing requests).
    pub csrf: String,
}

/// A logout.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct LoggedOut {
    /// Whether a session of the caller's ended.
    pub ended: bool,
}

/// An erasure's plan: the faces found and, once confirmed, the job that erases them.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ErasurePlan {
    /// The faces found, and the notice.
    pub report: gabarit_engine::rights::RightsReport,
    /// With `confirm`: the background job deleting them (`null` without).
    pub job: Option<gabarit_engine::jobs::BackgroundJob>,
}

/// Recent jobs, newest first.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Jobs {
    /// The jobs.
    pub items: Vec<gabarit_engine::jobs::BackgroundJob>,
}

/// A query photo analysed: its faces to choose from, and the id to search one of them with.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct AnalysedQuery {
    /// Query id (for `POST /api/v1/queries/{id}/search`; expires after 15 minutes).
    pub query_id: String,
    /// The photo's name, as uploaded.
    pub name: String,
    /// Width, pixels.
    pub width: u32,
    /// Height, pixels.
    pub height: u32,
    /// Its faces (boxes and quality; never templates).
    pub faces: Vec<AnalysedFace>,
}

/// A face of a query photo.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct AnalysedFace {
    /// Its index (the `face` to search).
    pub index: usize,
    /// Box.
    pub bbox: gabarit_engine::BBox,
    /// Detector score.
    pub score: f32,
    /// Quality signals.
    pub quality: gabarit_engine::Quality,
}

/// Candidates awaiting a decision.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Candidates {
    /// The candidates, newest first.
    pub items: Vec<gabarit_engine::review::CandidateView>,
}

/// The caller's searches.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Cases {
    /// The searches, newest first.
    pub items: Vec<gabarit_engine::review::Case>,
}

/// A new API key, shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct NewKey {
    /// The user.
    pub name: String,
    /// The key (`gbk_…`): only its hash is stored.
    pub key: String,
}

/// A user disabled.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct UserDisabled {
    /// The user.
    pub name: String,
    /// Always `true`.
    pub disabled: bool,
}

/// A user's roles, replaced.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct RolesSet {
    /// The user.
    pub name: String,
    /// Their roles now.
    pub roles: Vec<gabarit_engine::governance::Role>,
}

/// A user's web password, set.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct PasswordSet {
    /// The user.
    pub name: String,
}

/// A user's API keys.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Keys {
    /// Prefixes, dates, revocations; never the secrets.
    pub items: Vec<gabarit_engine::accounts::KeyRecord>,
}

/// A key revoked.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct KeyRevoked {
    /// The user.
    pub name: String,
    /// The prefix of the key revoked.
    pub revoked: String,
}

/// A collection granted.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Granted {
    /// The user.
    pub name: String,
    /// The collection.
    pub collection: String,
}

/// A grant withdrawn.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Withdrawn {
    /// The user.
    pub name: String,
    /// The collection.
    pub withdrawn: String,
}

/// The audit chain checked.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct Verified {
    /// Entries checked.
    pub entries: usize,
    /// Whether the chain is intact.
    pub intact: bool,
    /// The first broken entry, if any.
    pub first_break: Option<gabarit_engine::governed::Break>,
}

/// An ingestion queued: its first job, and the ids of all its jobs when it was queued in parts.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct QueuedIngestion {
    /// The first (or only) job; follow it at /api/v1/jobs/{id}.
    #[serde(flatten)]
    pub job: BackgroundJob,
    /// Every job of the ingestion, the first one included (one per part), in part order.
    pub jobs: Vec<u64>,
}
