//! Gabarit's use cases, with no CLI or HTTP in them.
//!
//! The front ends reach records only through the methods of [`Gabarit`], the facade: they are
//! the use cases, each taking the authenticated [`Caller`] (the functions behind them in
//! `governed`, `accounts`, `review`, `rights`, `jobs`, `reembed` and `auth` are crate-private);
//! each obtains its proof from the policy, works within its scope and audits in the same
//! transaction.
//!
//! The modules form layers; each uses only those of the layers above it (checked by the
//! `modules_form_layers` test):
//! 1. `store` (the data directory: catalog, indexes, keys, the packs of the templates held),
//!    `walk` (inputs listed and read, hostile ones refused), `governance` (its vocabulary).
//! 2. `auth` (who calls), `sources` (a stored face's pixels read back), `objections` (the faces
//!    they hide).
//! 3. `accounts` (users, keys, grants), `faces` (files into faces: the face services),
//!    `migrate` (a store moved to another place).
//! 4. `query` (a search's query photo), `ingest`, `eval` and `families` (measurements).
//! 5. `search`, `review` (the reviewers' work), `report` (evaluation reports), `reembed` (a
//!    collection moved to another pack), `models` (install, verify, choose the engine).
//! 6. `rights` (the data subjects' requests).
//! 7. `governed`: collections, ingestion, search, audit, records.
//! 8. `jobs`: the server's background work, running the use cases above.
//! 9. `gabarit`: [`Gabarit`], what a front end holds and the only way in: the store handles and
//!    the face services of one data directory, its methods the use cases.

pub mod accounts;
pub mod auth;
pub mod eval;
pub mod faces;
pub mod families;
pub mod gabarit;
pub mod governance;
pub mod governed;
pub mod grouping;
pub mod ingest;
pub mod jobs;
pub mod migrate;
pub mod models;
mod objections;
pub mod people;
pub mod query;
pub mod reembed;
pub mod report;
pub mod review;
pub mod rights;
pub mod search;
pub mod sources;
pub mod store;
pub mod walk;

pub use auth::{AuthError, Caller, Via};
pub use faces::{FaceService, FaceServiceConfig, FaceServices, FileError, ImageFaces};
pub use gabarit::Gabarit;
pub use gabarit_types::{BBox, Quality};

/// Errors that stop a whole operation (as opposed to one file's [`FileError`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Models or runtime could not be loaded.
    #[error(transparent)]
    Inference(#[from] gabarit_inference::Error),
    /// A worker thread died.
    #[error("worker failed: {0}")]
    Worker(String),
    /// The face models failed on input they were given (not a file's fault).
    #[error("the face models failed: {0}")]
    Model(String),
    /// The catalog failed.
    #[error(transparent)]
    Catalog(#[from] gabarit_catalog::Error),
    /// The vector index failed.
    #[error(transparent)]
    Index(#[from] gabarit_index::Error),
    /// A file-system error (names its path).
    #[error(transparent)]
    Io(std::io::Error),
    /// The request is invalid: the caller can correct it.
    #[error("{0}")]
    Invalid(String),
    /// One field of the request is invalid (the API names it as `field`, the CLI as its flag's
    /// words): the caller corrects that field.
    #[error("{field}: {problem}")]
    InvalidField {
        /// The field, as the HTTP API names it (`paths`, `received_on`, `face`…).
        field: &'static str,
        /// What is wrong with it (its value shown bounded).
        problem: String,
    },
    /// No face was found in a photo that needs one (a query photo, a request's photo).
    #[error("{photo}: no face found{detail}")]
    NoFace {
        /// The photo, as the caller named it.
        photo: String,
        /// More, when it helps (which pack looked), starting with a space or empty.
        detail: String,
    },
    /// A stored photo or video cannot be read back as it was ingested (moved, changed or
    /// unreadable since): its record stays, its pixels are not available.
    #[error("{uri}: cannot be read back as ingested: {reason}")]
    SourceUnavailable {
        /// The source's catalog URI.
        uri: String,
        /// Why.
        reason: String,
    },
    /// The change would leave no admin (or an admin disabling themselves).
    #[error("{0}")]
    LastAdmin(String),
    /// A rights request of another kind than the operation's was named.
    #[error("request {request} is an {kind} request, not {expected}")]
    WrongRequestKind {
        /// The request.
        request: u64,
        /// Its kind.
        kind: String,
        /// The kinds the operation takes (`access or erasure`).
        expected: String,
    },
    /// A photo the caller named could not be analysed (unreadable, not an image, too large…):
    /// its stable code and a message naming it.
    #[error("{}", .0.message)]
    File(FileError),
    /// A search named no collection and the caller is granted none.
    #[error("{user} has no collection granted for search")]
    NothingGranted {
        /// The caller.
        user: String,
    },
    /// A query photo analysed before the collections searched held templates of `pack`.
    #[error("{query} was not analysed with pack {pack}, which collections searched now hold: analyse it again")]
    QueryNotAnalysedWith {
        /// The query photo, as named.
        query: String,
        /// The pack it lacks.
        pack: String,
    },
    /// Collections of several packs are searched together, and one pack has no calibration to
    /// rank by false match rate.
    #[error("collections of several packs are ranked by false match rate, which needs each pack's calibration")]
    PacksNeedCalibration,
    /// The first administrator of a data directory that has users already.
    #[error("this data directory already has users: an admin adds more with `gabarit user add`")]
    AlreadyInitialised,
    /// An objection before any collection holds templates (its templates are made with their packs).
    #[error(
        "no collection holds templates yet: an objection's templates are made with the packs of the collections, so create the collections first"
    )]
    NoTemplatesYet,
    /// Objections recorded before a pack was used hold no template of it.
    #[error(
        "objection request(s) {} hold no template of pack {pack}, so they would not hide the faces added: run `gabarit rights object` again for each, with the request's photo",
        requests.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    )]
    ObjectionsLackPack {
        /// The objection requests.
        requests: Vec<u64>,
        /// The pack.
        pack: String,
    },
    /// A collection re-embedded with the pack its templates already come from.
    #[error("collection {collection:?} holds templates of pack {pack} already")]
    AlreadyOfPack {
        /// The collection.
        collection: String,
        /// The pack (name and hash).
        pack: String,
    },
    /// A frame of a video was asked for without its time.
    #[error("image {image} is a video: say which time (?time_s=)")]
    VideoNeedsTime {
        /// The video's image id.
        image: u64,
    },
    /// A pack's weights are under a licence that was not accepted.
    #[error(
        "the weights of pack {pack} are not installed: their licence restricts their use ({terms}). \
         If your use is within it, accept it with --accept-licence {terms} (or GABARIT_ACCEPT_LICENCE={terms}); \
         otherwise use the default pack, {default}, whose weights allow commercial use",
        default = crate::models::DEFAULT_PACK
    )]
    LicenceNotAccepted {
        /// The pack.
        pack: String,
        /// The terms to accept (`non-commercial`).
        terms: String,
    },
    /// What was confirmed has changed since: an erasure confirmed for `confirmed` faces when
    /// `matching` match now.
    #[error(
        "confirmation for {confirmed} face(s), but {matching} match now: run without --confirm to see the list again"
    )]
    ConfirmationStale {
        /// The faces confirmed.
        confirmed: usize,
        /// The faces matching now.
        matching: usize,
    },
    /// An ingestion run's time budget was spent; what it stored stays.
    #[error(
        "the run's time budget of {seconds} s was spent after {done} of {total} files: what is stored stays; run it again to go on"
    )]
    BudgetSpent {
        /// The budget, seconds.
        seconds: u64,
        /// Files done.
        done: usize,
        /// Files listed.
        total: usize,
    },
    /// Something that is not the caller's doing failed inside Gabarit (no system randomness, a
    /// value that does not serialise, a stored value that does not parse).
    #[error("internal error: {0}")]
    Internal(String),
    /// A policy refused the request.
    #[error(transparent)]
    Policy(#[from] gabarit_governance::Error),
    /// The caller could not be authenticated.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The key-encryption key or the keyring failed (wrong key, unreadable keyring).
    #[error(transparent)]
    Key(gabarit_crypto::Error),
    /// The model pack in use makes templates that this data directory cannot hold or compare
    /// with the ones it holds.
    #[error("{holder} holds templates of pack {held}; pack {pack} makes other templates and cannot be used with it")]
    PackMismatch {
        /// What holds the templates: the data directory, or a collection.
        holder: String,
        /// The pack in use.
        pack: String,
        /// The pack whose templates it holds.
        held: String,
    },
    /// A collection's templates come from one backend and precision; another was asked for.
    #[error(
        "collection {collection:?} holds templates made by {held}; this run uses {asked}: run it with \
         --backend {} --precision {} (or leave both unset to use the collection's)",
        .held.backend,
        .held.precision
    )]
    EngineMismatch {
        /// The collection.
        collection: String,
        /// The family its templates come from.
        held: gabarit_inference::EngineFamily,
        /// The family asked for.
        asked: gabarit_inference::EngineFamily,
    },
}

/// What kind of failure an [`Error`] is: all a front end needs to answer it (an HTTP status, an
/// exit code), without knowing the lower crates' errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is invalid: the caller can correct it.
    Invalid,
    /// No face in a photo that needs one: the caller can try another photo.
    NoFace,
    /// A stored photo or video cannot be read back as it was ingested.
    SourceUnavailable,
    /// No such record (or none the caller may see).
    NotFound,
    /// A record with that name already exists.
    Conflict,
    /// What the request confirmed has changed since: look again, then confirm.
    Stale,
    /// The run's time budget was spent; what it did stays, a new run goes on.
    BudgetSpent,
    /// The collection's governance lacks fields the operation needs (see
    /// [`Error::governance_missing`]).
    GovernanceIncomplete,
    /// The caller's role or grants do not allow it.
    Forbidden,
    /// The API key is unknown, revoked, or its user disabled (or no user exists yet).
    InvalidKey,
    /// The session has ended.
    SessionEnded,
    /// Unknown user or wrong password.
    BadCredentials,
    /// Too many failed logins.
    TooManyAttempts,
    /// The pack asked for makes other templates than the ones held.
    PackMismatch,
    /// The backend or precision asked for is not the collection's.
    EngineMismatch,
    /// A stored record does not authenticate with the data directory's key (changed outside
    /// Gabarit).
    Integrity,
    /// Sealing or opening a record, or the keys, failed.
    Crypto,
    /// The catalog database failed or is newer than this Gabarit.
    Catalog,
    /// The vector index failed.
    Index,
    /// The face models failed or could not be loaded.
    Model,
    /// A file could not be read or written.
    Io,
    /// Something inside Gabarit failed that is not the caller's doing.
    Internal,
}

impl Error {
    /// Field `field` of the request is invalid: `problem`.
    pub fn field(field: &'static str, problem: impl Into<String>) -> Error {
        Error::InvalidField { field, problem: problem.into() }
    }

    /// The request field at fault, when the error names one (a use case's own check, or a
    /// governance value refused: its flag name, such as `controller-contact`).
    pub fn invalid_field(&self) -> Option<&'static str> {
        use gabarit_catalog::Error as C;
        use gabarit_governance::Error as G;
        if let Error::InvalidField { field, .. } = self {
            return Some(field);
        }
        if let Error::Policy(G::Invalid { field, .. } | G::Bounds { field, .. })
        | Error::Catalog(C::Policy(G::Invalid { field, .. } | G::Bounds { field, .. })) = self
        {
            return Some(field);
        }
        None
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        use gabarit_catalog::Error as C;
        use gabarit_governance::Error as G;
        match self {
            Error::Invalid(_) | Error::InvalidField { .. } => ErrorKind::Invalid,
            Error::NoFace { .. } => ErrorKind::NoFace,
            Error::SourceUnavailable { .. } => ErrorKind::SourceUnavailable,
            Error::LastAdmin(_) => ErrorKind::Conflict,
            Error::WrongRequestKind { .. }
            | Error::VideoNeedsTime { .. }
            | Error::LicenceNotAccepted { .. }
            | Error::NothingGranted { .. }
            | Error::QueryNotAnalysedWith { .. }
            | Error::PacksNeedCalibration
            | Error::AlreadyInitialised
            | Error::NoTemplatesYet
            | Error::ObjectionsLackPack { .. }
            | Error::AlreadyOfPack { .. } => ErrorKind::Invalid,
            // The models failing on a photo is not the photo's fault.
            Error::File(f) if f.code == FileError::MODEL => ErrorKind::Model,
            Error::File(_) => ErrorKind::Invalid,
            Error::ConfirmationStale { .. } => ErrorKind::Stale,
            Error::BudgetSpent { .. } => ErrorKind::BudgetSpent,
            Error::Policy(p) | Error::Catalog(C::Policy(p)) => match p {
                G::Incomplete { .. } => ErrorKind::GovernanceIncomplete,
                G::Forbidden { .. } => ErrorKind::Forbidden,
                G::Invalid { .. } | G::Bounds { .. } => ErrorKind::Invalid,
            },
            Error::Auth(a) => match a {
                AuthError::InvalidKey | AuthError::NoUsers => ErrorKind::InvalidKey,
                AuthError::SessionEnded => ErrorKind::SessionEnded,
                AuthError::BadCredentials => ErrorKind::BadCredentials,
                AuthError::TooManyAttempts { .. } => ErrorKind::TooManyAttempts,
            },
            Error::Catalog(c) => match c {
                C::NotFound { .. } => ErrorKind::NotFound,
                C::AlreadyExists { .. } => ErrorKind::Conflict,
                C::Invalid(_) => ErrorKind::Invalid,
                C::Tampered { .. } => ErrorKind::Integrity,
                C::Locked { .. } | C::Crypto { .. } => ErrorKind::Crypto,
                C::Sqlite { .. }
                | C::Postgres { .. }
                | C::NotYetOnPostgres { .. }
                | C::Corrupt { .. }
                | C::OutOfRange { .. }
                | C::TooNew { .. } => ErrorKind::Catalog,
                C::Policy(_) => ErrorKind::Invalid,
            },
            Error::Key(_) => ErrorKind::Crypto,
            Error::Inference(_) | Error::Model(_) => ErrorKind::Model,
            Error::Index(_) => ErrorKind::Index,
            Error::Io(_) => ErrorKind::Io,
            Error::Worker(_) | Error::Internal(_) => ErrorKind::Internal,
            Error::PackMismatch { .. } => ErrorKind::PackMismatch,
            Error::EngineMismatch { .. } => ErrorKind::EngineMismatch,
        }
    }

    /// For incomplete governance: the collection and the names of the fields it lacks.
    pub fn governance_missing(&self) -> Option<(&str, &[&'static str])> {
        use gabarit_governance::Error::Incomplete;
        if let Error::Policy(Incomplete { collection, missing })
        | Error::Catalog(gabarit_catalog::Error::Policy(Incomplete { collection, missing })) = self
        {
            Some((collection, missing))
        } else {
            None
        }
    }
}

/// `bytes` random bytes from the system, in hex.
pub(crate) fn random_hex(bytes: usize) -> Result<String> {
    use rand::TryRng;
    let mut buf = vec![0u8; bytes];
    rand::rngs::SysRng.try_fill_bytes(&mut buf).map_err(|e| Error::Internal(format!("no system randomness: {e}")))?;
    Ok(hex::encode(buf))
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod kinds {
    use super::{Error, ErrorKind};
    use gabarit_catalog::Error as C;
    use gabarit_governance::Error as G;

    /// A failure inside Gabarit (a seal that fails, a dead worker) is never presented as the
    /// caller's fault, and a policy's refusal keeps its kind however deep it was raised.
    #[test]
    fn each_error_has_the_kind_a_front_end_answers_with() {
        let incomplete = || G::Incomplete { collection: "press".into(), missing: vec!["purpose", "dpia"] };
        let cases = [
            (Error::Invalid("bad field".into()), ErrorKind::Invalid),
            (Error::field("paths", "none given"), ErrorKind::Invalid),
            (Error::NothingGranted { user: "inv".into() }, ErrorKind::Invalid),
            (Error::QueryNotAnalysedWith { query: "q.jpg".into(), pack: "open".into() }, ErrorKind::Invalid),
            (Error::PacksNeedCalibration, ErrorKind::Invalid),
            (Error::AlreadyInitialised, ErrorKind::Invalid),
            (Error::NoTemplatesYet, ErrorKind::Invalid),
            (Error::ObjectionsLackPack { requests: vec![3, 4], pack: "open".into() }, ErrorKind::Invalid),
            (Error::AlreadyOfPack { collection: "press".into(), pack: "open".into() }, ErrorKind::Invalid),
            (Error::Internal("no system randomness".into()), ErrorKind::Internal),
            (Error::Worker("died".into()), ErrorKind::Internal),
            (Error::Model("nan".into()), ErrorKind::Model),
            (
                Error::Catalog(C::Crypto {
                    path: "catalog.db".into(),
                    what: "template of face 3".into(),
                    reason: "seal failed".into(),
                }),
                ErrorKind::Crypto,
            ),
            (Error::Catalog(C::Tampered { path: "catalog.db".into(), what: "face 3".into() }), ErrorKind::Integrity),
            (Error::Catalog(C::NotFound { kind: "collection", name: "x".into() }), ErrorKind::NotFound),
            (Error::Catalog(C::AlreadyExists { kind: "collection", name: "x".into() }), ErrorKind::Conflict),
            (Error::Policy(incomplete()), ErrorKind::GovernanceIncomplete),
            (Error::Catalog(C::Policy(incomplete())), ErrorKind::GovernanceIncomplete),
            (Error::Auth(crate::AuthError::NoUsers), ErrorKind::InvalidKey),
            (Error::NoFace { photo: "q.jpg".into(), detail: String::new() }, ErrorKind::NoFace),
            (Error::LastAdmin("alice is the last admin".into()), ErrorKind::Conflict),
            (
                Error::WrongRequestKind { request: 1, kind: "access".into(), expected: "erasure".into() },
                ErrorKind::Invalid,
            ),
            (Error::VideoNeedsTime { image: 4 }, ErrorKind::Invalid),
            (Error::LicenceNotAccepted { pack: "p".into(), terms: "t".into() }, ErrorKind::Invalid),
            (Error::ConfirmationStale { confirmed: 3, matching: 4 }, ErrorKind::Stale),
            (Error::BudgetSpent { seconds: 60, done: 3, total: 9 }, ErrorKind::BudgetSpent),
            (Error::Auth(crate::AuthError::TooManyAttempts { retry_after_s: 3 }), ErrorKind::TooManyAttempts),
        ];
        for (error, kind) in cases {
            assert_eq!(error.kind(), kind, "{error}");
        }
        let e = Error::Catalog(C::Policy(incomplete()));
        assert_eq!(e.governance_missing(), Some(("press", &["purpose", "dpia"][..])));
        assert_eq!(Error::Invalid("x".into()).governance_missing(), None);
        let e = Error::field("received_on", "\"2 Nov\": expected YYYY-MM-DD");
        assert_eq!(
            (e.invalid_field(), e.to_string().as_str()),
            (Some("received_on"), "received_on: \"2 Nov\": expected YYYY-MM-DD")
        );
        assert_eq!(Error::Invalid("x".into()).invalid_field(), None);
        // A governance value refused names its field too, wherever it was refused.
        let refused =
            || gabarit_governance::Error::Invalid { field: "grouping", value: "on".into(), expected: "off".into() };
        assert_eq!(Error::Policy(refused()).invalid_field(), Some("grouping"));
        let long = gabarit_governance::Error::Bounds { field: "purpose", problem: "too long".into() };
        assert_eq!(Error::Catalog(C::Policy(long)).invalid_field(), Some("purpose"));
        assert_eq!(Error::Policy(incomplete()).invalid_field(), None);
        assert!(
            Error::ObjectionsLackPack { requests: vec![3, 4], pack: "open".into() }
                .to_string()
                .starts_with("objection request(s) 3, 4 hold no template of pack open")
        );
    }
}

#[cfg(test)]
mod layers {
    /// The layers named in this crate's documentation, first the lowest.
    const LAYERS: &[&[&str]] = &[
        &["store", "walk", "governance", "people"],
        &["auth", "sources", "objections"],
        &["accounts", "faces", "migrate"],
        &["query", "ingest", "eval", "families"],
        &["search", "review", "report", "reembed", "models", "grouping"],
        &["rights"],
        &["governed"],
        &["jobs"],
        &["gabarit"],
    ];

    /// The layer of a module, or of an item the crate's root re-exports from one.
    fn layer_of(name: &str) -> Option<usize> {
        let module = match name {
            "FaceService" | "FaceServiceConfig" | "FaceServices" | "FileError" | "ImageFaces" => "faces",
            "AuthError" | "Caller" | "Via" => "auth",
            "Gabarit" => "gabarit",
            other => other,
        };
        LAYERS.iter().position(|layer| layer.contains(&module))
    }

    #[test]
    fn modules_form_layers() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut modules = 0;
        let mut crossings = Vec::new();
        for entry in fs_err::read_dir(&src).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_string();
            // A module's submodules (`name/*.rs`) are read with its file.
            if name == "lib" || path.is_dir() {
                continue;
            }
            let own = layer_of(&name).unwrap_or_else(|| panic!("module {name} is in no layer: name it in lib.rs"));
            modules += 1;
            let mut text = fs_err::read_to_string(&path).unwrap();
            if let Ok(children) = fs_err::read_dir(src.join(&name)) {
                for child in children {
                    text += &fs_err::read_to_string(child.unwrap().path()).unwrap();
                }
            }
            // `crate::name`, and each name of `use crate::{a, b::c}`.
            let mut used: Vec<&str> = text.split("crate::").skip(1).collect();
            let mut names = Vec::new();
            for rest in used.drain(..) {
                if let Some(group) = rest.strip_prefix('{') {
                    let group = &group[..group.find('}').unwrap()];
                    names.extend(group.split(',').map(|n| n.trim().split("::").next().unwrap().to_string()));
                } else {
                    names.push(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
                }
            }
            for used in names {
                if let Some(layer) = layer_of(&used).filter(|layer| used != name && *layer >= own) {
                    crossings.push(format!("{name} (layer {}) uses {used} (layer {})", own + 1, layer + 1));
                }
            }
        }
        assert!(crossings.is_empty(), "a module uses only the layers above its own: {crossings:#?}");
        assert_eq!(modules, LAYERS.iter().map(|l| l.len()).sum::<usize>(), "every layered module exists");
    }
}
