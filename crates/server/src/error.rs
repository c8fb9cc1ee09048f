//! The one table from engine errors to HTTP statuses and stable codes: [`ErrorCode`] lists
//! every code the API answers with its status and meaning (the OpenAPI document carries the
//! same table), and the `From` impls below say which engine error gets which code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Every error code of the API. A code has one HTTP status; several codes may share one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 400: a malformed path, query or body.
    BadRequest,
    /// 413: a body over the upload limit.
    TooLarge,
    /// 415: a body that is not of the expected type.
    UnsupportedMediaType,
    /// 422: a value is not valid (the message names the field).
    Invalid,
    /// 422: no face in a photo that needs one (a query, a request's photo).
    NoFace,
    /// 401: no API key or session.
    Unauthenticated,
    /// 401: the API key is unknown, revoked or its user disabled.
    InvalidKey,
    /// 401: the session ended.
    SessionExpired,
    /// 401: wrong name or password.
    BadCredentials,
    /// 429: too many failed logins.
    TooManyAttempts,
    /// 403: the caller's roles or grants do not allow it.
    Forbidden,
    /// 403: a state-changing request of a session without its CSRF token.
    Csrf,
    /// 403: the collection's governance is incomplete (the message names the fields).
    GovernanceIncomplete,
    /// 404: no such record, or none the caller may see.
    NotFound,
    /// 409: the name is taken.
    Conflict,
    /// 409: the collection's templates come from another backend or precision.
    EngineMismatch,
    /// 409: a stored photo or video cannot be read back as it was ingested.
    SourceUnavailable,
    /// 409: what the request confirmed has changed since.
    Stale,
    /// 409: an ingestion's time budget was spent (what it stored stays).
    BudgetSpent,
    /// 500: a record does not authenticate with the data directory's key.
    Integrity,
    /// 500: the keys or the encryption failed.
    Crypto,
    /// 500: the catalog failed.
    Catalog,
    /// 500: the face models failed or could not be loaded.
    Model,
    /// 500: the vector index failed.
    Index,
    /// 500: a file-system error.
    Io,
    /// 500: the data directory holds templates of another pack than the one in use.
    PackMismatch,
    /// 500: any other failure inside Gabarit.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of the documentation.
    pub const ALL: [ErrorCode; 27] = [
        ErrorCode::BadRequest,
        ErrorCode::TooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Invalid,
        ErrorCode::NoFace,
        ErrorCode::Unauthenticated,
        ErrorCode::InvalidKey,
        ErrorCode::SessionExpired,
        ErrorCode::BadCredentials,
        ErrorCode::TooManyAttempts,
        ErrorCode::Forbidden,
        ErrorCode::Csrf,
        ErrorCode::GovernanceIncomplete,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::EngineMismatch,
        ErrorCode::SourceUnavailable,
        ErrorCode::Stale,
        ErrorCode::BudgetSpent,
        ErrorCode::Integrity,
        ErrorCode::Crypto,
        ErrorCode::Catalog,
        ErrorCode::Model,
        ErrorCode::Index,
        ErrorCode::Io,
        ErrorCode::PackMismatch,
        ErrorCode::Internal,
    ];

    /// The code as the API writes it.
    pub fn name(self) -> &'static str {
        self.entry().0
    }

    /// Its HTTP status.
    pub fn status(self) -> StatusCode {
        self.entry().1
    }

    /// What it means, for the documentation.
    pub fn meaning(self) -> &'static str {
        self.entry().2
    }

    /// Its type, what a client does about it: `request` (the caller can correct the request),
    /// `auth` (who calls, and what they may do), `state` (the stored data's state prevents it:
    /// not the request's fault, not a failure), `internal` (a failure inside Gabarit).
    pub fn kind(self) -> &'static str {
        use ErrorCode as C;
        match self {
            C::BadRequest
            | C::TooLarge
            | C::UnsupportedMediaType
            | C::Invalid
            | C::NoFace
            | C::GovernanceIncomplete
            | C::NotFound
            | C::Conflict
            | C::EngineMismatch => "request",
            C::Unauthenticated
            | C::InvalidKey
            | C::SessionExpired
            | C::BadCredentials
            | C::TooManyAttempts
            | C::Forbidden
            | C::Csrf => "auth",
            C::SourceUnavailable | C::Stale | C::BudgetSpent | C::PackMismatch => "state",
            C::Integrity | C::Crypto | C::Catalog | C::Model | C::Index | C::Io | C::Internal => "internal",
        }
    }

    /// The anchor of its row in the README's table of error codes.
    pub fn anchor(self) -> String {
        format!("error-{}", self.name())
    }

    fn entry(self) -> (&'static str, StatusCode, &'static str) {
        use StatusCode as S;
        match self {
            ErrorCode::BadRequest => ("bad_request", S::BAD_REQUEST, "A malformed path, query or body"),
            ErrorCode::TooLarge => ("too_large", S::PAYLOAD_TOO_LARGE, "A body over the upload limit"),
            ErrorCode::UnsupportedMediaType => {
                ("unsupported_media_type", S::UNSUPPORTED_MEDIA_TYPE, "A body not of the expected type")
            }
            ErrorCode::Invalid => {
                ("invalid", S::UNPROCESSABLE_ENTITY, "A value is not valid (the message names the field)")
            }
            ErrorCode::NoFace => {
                ("no_face", S::UNPROCESSABLE_ENTITY, "No face in a photo that needs one: try another photo")
            }
            ErrorCode::Unauthenticated => ("unauthenticated", S::UNAUTHORIZED, "No API key or session"),
            ErrorCode::InvalidKey => {
                ("invalid_key", S::UNAUTHORIZED, "The API key is unknown, revoked or its user disabled")
            }
            ErrorCode::SessionExpired => ("session_expired", S::UNAUTHORIZED, "The session ended"),
            ErrorCode::BadCredentials => ("bad_credentials", S::UNAUTHORIZED, "Wrong name or password"),
            ErrorCode::TooManyAttempts => ("too_many_attempts", S::TOO_MANY_REQUESTS, "Too many failed logins"),
            ErrorCode::Forbidden => ("forbidden", S::FORBIDDEN, "The caller's roles or grants do not allow it"),
            ErrorCode::Csrf => ("csrf", S::FORBIDDEN, "A state-changing request of a session without its X-CSRF-Token"),
            ErrorCode::GovernanceIncomplete => (
                "governance_incomplete",
                S::FORBIDDEN,
                "The collection's governance is incomplete (the fields are named)",
            ),
            ErrorCode::NotFound => ("not_found", S::NOT_FOUND, "No such record, or none the caller may see"),
            ErrorCode::Conflict => ("conflict", S::CONFLICT, "The name is taken"),
            ErrorCode::EngineMismatch => {
                ("engine_mismatch", S::CONFLICT, "The collection's templates come from another backend or precision")
            }
            ErrorCode::SourceUnavailable => (
                "source_unavailable",
                S::CONFLICT,
                "A stored photo or video cannot be read back as it was ingested (moved, changed or unreadable)",
            ),
            ErrorCode::Stale => {
                ("stale", S::CONFLICT, "What the request confirmed has changed since (look again, then confirm)")
            }
            ErrorCode::BudgetSpent => (
                "budget_spent",
                S::CONFLICT,
                "An ingestion's time budget was spent: what it stored stays; run it again to go on",
            ),
            ErrorCode::Integrity => {
                ("integrity", S::INTERNAL_SERVER_ERROR, "A record does not authenticate with the data directory's key")
            }
            ErrorCode::Crypto => ("crypto", S::INTERNAL_SERVER_ERROR, "The keys or the encryption failed"),
            ErrorCode::Catalog => ("catalog", S::INTERNAL_SERVER_ERROR, "The catalog failed"),
            ErrorCode::Model => ("model", S::INTERNAL_SERVER_ERROR, "The face models failed or could not be loaded"),
            ErrorCode::Index => ("index", S::INTERNAL_SERVER_ERROR, "The vector index failed"),
            ErrorCode::Io => ("io", S::INTERNAL_SERVER_ERROR, "A file-system error"),
            ErrorCode::PackMismatch => {
                ("pack_mismatch", S::INTERNAL_SERVER_ERROR, "The data directory holds templates of another pack")
            }
            ErrorCode::Internal => ("internal", S::INTERNAL_SERVER_ERROR, "Any other failure inside Gabarit"),
        }
    }

    /// An error of this code.
    pub fn with(self, message: impl Into<String>) -> ApiError {
        ApiError::new(self, message)
    }

    /// The table of every code for the OpenAPI document: one line per code, `code` (status,
    /// type): meaning.
    pub fn documentation() -> String {
        let mut out = String::from("Every error code, its HTTP status, type and meaning (README: Error codes):\n\n");
        for c in ErrorCode::ALL {
            out.push_str(&format!("- `{}` ({}, {}): {}\n", c.name(), c.status().as_u16(), c.kind(), c.meaning()));
        }
        out
    }

    /// The same table as the README shows it (Markdown, one anchored row per code).
    pub fn readme_table() -> String {
        let mut out = String::from("| code | HTTP | type | meaning |\n|---|---|---|---|\n");
        for c in ErrorCode::ALL {
            out.push_str(&format!(
                "| <a id=\"{}\"></a>`{}` | {} | {} | {} |\n",
                c.anchor(),
                c.name(),
                c.status().as_u16(),
                c.kind(),
                c.meaning()
            ));
        }
        out
    }

    /// The code of an extractor's rejection, from the status axum gives it.
    fn of_rejection(status: StatusCode) -> ErrorCode {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => ErrorCode::TooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ErrorCode::UnsupportedMediaType,
            StatusCode::UNPROCESSABLE_ENTITY => ErrorCode::Invalid,
            _ => ErrorCode::BadRequest,
        }
    }
}

/// An error as the API returns it: a status, a stable code (with its type) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (the code's).
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// The code's type (see [`ErrorCode::kind`]).
    pub kind: &'static str,
    /// Human-readable message.
    pub message: String,
    /// The request field at fault, when one is (`paths`, `received_on`, `face`…).
    pub field: Option<&'static str>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// An error of `code`, with its status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { status: code.status(), code: code.name(), kind: code.kind(), message: message.into(), field: None }
    }

    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// 400 for a missing or malformed request field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            Body { error: Inner { code: self.code, kind: self.kind, message: &self.message, field: self.field } };
        (self.status, Json(body)).into_response()
    }
}

impl From<gabarit_engine::Error> for ApiError {
    fn from(e: gabarit_engine::Error) -> Self {
        use gabarit_engine::ErrorKind as K;
        let message = e.to_string();
        let code = match e.kind() {
            // Incomplete governance is not the caller's role: say so, with the fields missing.
            K::GovernanceIncomplete => {
                let message = match e.governance_missing() {
                    Some((collection, missing)) => format!(
                        "collection {collection:?}: its governance lacks {} (complete it before ingesting)",
                        missing.join(", ")
                    ),
                    None => message,
                };
                return Self::new(ErrorCode::GovernanceIncomplete, message);
            }
            K::Invalid => {
                return ApiError { field: e.invalid_field(), ..Self::new(ErrorCode::Invalid, message) };
            }
            K::NoFace => ErrorCode::NoFace,
            K::SourceUnavailable => ErrorCode::SourceUnavailable,
            K::NotFound => ErrorCode::NotFound,
            K::Conflict => ErrorCode::Conflict,
            K::Stale => ErrorCode::Stale,
            K::BudgetSpent => ErrorCode::BudgetSpent,
            K::Forbidden => ErrorCode::Forbidden,
            K::InvalidKey => ErrorCode::InvalidKey,
            K::SessionEnded => ErrorCode::SessionExpired,
            K::BadCredentials => ErrorCode::BadCredentials,
            K::TooManyAttempts => ErrorCode::TooManyAttempts,
            K::PackMismatch => ErrorCode::PackMismatch,
            K::EngineMismatch => ErrorCode::EngineMismatch,
            K::Integrity => {
                tracing::error!(error = %message, "a record does not authenticate");
                ErrorCode::Integrity
            }
            K::Crypto => ErrorCode::Crypto,
            K::Catalog => ErrorCode::Catalog,
            K::Index => ErrorCode::Index,
            K::Model => ErrorCode::Model,
            K::Io => ErrorCode::Io,
            K::Internal => {
                tracing::error!(error = %message, "internal error");
                return Self::internal(message);
            }
        };
        Self::new(code, message)
    }
}

impl From<axum::extract::multipart::MultipartError> for ApiError {
    fn from(e: axum::extract::multipart::MultipartError) -> Self {
        Self::new(ErrorCode::of_rejection(e.status()), e.body_text())
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        Self::new(ErrorCode::of_rejection(e.status()), e.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(e: axum::extract::rejection::PathRejection) -> Self {
        Self::new(ErrorCode::of_rejection(e.status()), e.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        Self::new(ErrorCode::of_rejection(e.status()), e.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the caller can correct is 422 `invalid`; a failure inside Gabarit is 500 with a
    /// code of its own, never presented as the caller's fault.
    #[test]
    fn internal_failures_are_500_and_caller_errors_422() {
        use gabarit_engine::Error as E;
        let cases = [
            (E::Invalid("bad field".into()), StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            (E::Internal("no system randomness".into()), StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            (E::Worker("died".into()), StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            (E::Model("nan".into()), StatusCode::INTERNAL_SERVER_ERROR, "model"),
        ];
        for (error, status, code) in cases {
            let api = ApiError::from(error);
            assert_eq!((api.status, api.code), (status, code), "{}", api.message);
        }
    }

    /// The table is a table: names unique and snake_case, every code in the documentation
    /// with its status, and an extractor's rejection keeps a status of the table.
    #[test]
    fn every_code_has_one_name_one_status_and_its_line_in_the_documentation() {
        let names: std::collections::BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        assert!(names.iter().all(|n| n.chars().all(|c| c.is_ascii_lowercase() || c == '_')), "{names:?}");
        let doc = ErrorCode::documentation();
        for c in ErrorCode::ALL {
            assert!(c.status().is_client_error() || c.status().is_server_error(), "{c:?}");
            let line = format!("- `{}` ({}, {}): {}", c.name(), c.status().as_u16(), c.kind(), c.meaning());
            assert!(doc.contains(&line), "{line}");
        }
        // The README carries the same table, each row with its anchor.
        let readme = fs_err::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
        assert!(
            readme.contains(&ErrorCode::readme_table()),
            "README.md's table of error codes differs from ErrorCode; it should read:\n{}",
            ErrorCode::readme_table()
        );
        for (status, code) in [
            (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            (StatusCode::BAD_REQUEST, "bad_request"),
            (StatusCode::METHOD_NOT_ALLOWED, "bad_request"),
        ] {
            let c = ErrorCode::of_rejection(status);
            assert_eq!(c.name(), code);
            assert_eq!(ApiError::new(c, "x").status, c.status());
        }
    }

    /// The web UI has words for every code, in English and in French (`errors` in
    /// web/src/i18n/common.ts): a new code needs its words there.
    #[test]
    fn every_code_has_words_in_both_languages_of_the_web_ui() {
        let common =
            fs_err::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/src/i18n/common.ts")).unwrap();
        let blocks: Vec<&str> =
            common.split("errors: {").skip(1).map(|rest| &rest[..rest.find('}').unwrap_or(rest.len())]).collect();
        assert_eq!(blocks.len(), 2, "one `errors` block per language");
        for (block, language) in blocks.iter().zip(["en", "fr"]) {
            for code in ErrorCode::ALL {
                assert!(
                    block.contains(&format!("\n    {}: '", code.name())),
                    "{}: no words in {language}",
                    code.name()
                );
            }
            assert_eq!(
                block.matches(": '").count(),
                ErrorCode::ALL.len(),
                "{language}: a code the server does not have"
            );
        }
    }
}
