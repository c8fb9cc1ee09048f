//! The one table from engine errors to HTTP statuses and stable codes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error as the API returns it: a status, a stable code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    /// 500.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 400 for a missing or malformed request field.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body { error: Inner { code: self.code, message: &self.message } };
        (self.status, Json(body)).into_response()
    }
}

impl From<gabarit_engine::Error> for ApiError {
    fn from(e: gabarit_engine::Error) -> Self {
        use gabarit_catalog::Error as C;
        use gabarit_engine::{AuthError as A, Error as E};
        use gabarit_governance::Error as G;
        let message = e.to_string();
        match e {
            // Incomplete governance is not the caller's role: say so, with the fields missing.
            E::Policy(G::Incomplete { missing, collection }) => Self::new(
                StatusCode::FORBIDDEN,
                "governance_incomplete",
                format!(
                    "collection {collection:?}: its governance lacks {} (complete it before ingesting)",
                    missing.join(", ")
                ),
            ),
            E::Policy(G::Forbidden { .. }) => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            E::Policy(G::Invalid { .. } | G::Bounds { .. }) | E::Catalog(C::Policy(_)) | E::Invalid(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
            }
            E::Auth(a) => match a {
                A::InvalidKey => Self::new(StatusCode::UNAUTHORIZED, "invalid_key", message),
                A::SessionEnded => Self::new(StatusCode::UNAUTHORIZED, "session_expired", message),
                A::BadCredentials => Self::new(StatusCode::UNAUTHORIZED, "bad_credentials", message),
                A::TooManyAttempts { .. } => Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message),
                A::NoUsers => Self::new(StatusCode::UNAUTHORIZED, "invalid_key", message),
            },
            E::Catalog(c) => match c {
                C::NotFound { .. } => Self::new(StatusCode::NOT_FOUND, "not_found", message),
                C::AlreadyExists { .. } => Self::new(StatusCode::CONFLICT, "conflict", message),
                C::Invalid(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message),
                C::Tampered { .. } => {
                    tracing::error!(error = %message, "a record does not authenticate");
                    Self::new(StatusCode::INTERNAL_SERVER_ERROR, "integrity", message)
                }
                C::Locked { .. } | C::Crypto { .. } => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "crypto", message),
                C::Sqlite { .. } | C::TooNew { .. } => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "catalog", message),
                C::Policy(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message),
            },
            E::Key(_) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "crypto", message),
            E::Inference(_) | E::Model(_) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "model", message),
            E::Index(_) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "index", message),
            E::Io(_) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "io", message),
            E::Worker(_) | E::Internal(_) => {
                tracing::error!(error = %message, "internal error");
                Self::internal(message)
            }
            E::PackMismatch { .. } => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "pack_mismatch", message),
            E::EngineMismatch { .. } => Self::new(StatusCode::CONFLICT, "engine_mismatch", message),
        }
    }
}

impl From<axum::extract::multipart::MultipartError> for ApiError {
    fn from(e: axum::extract::multipart::MultipartError) -> Self {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "bad_request" };
        Self::new(status, code, e.body_text())
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        Self::new(e.status(), "bad_request", e.body_text())
    }
}

impl From<axum::extract::rejection::PathRejection> for ApiError {
    fn from(e: axum::extract::rejection::PathRejection) -> Self {
        Self::new(e.status(), "bad_request", e.body_text())
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(e: axum::extract::rejection::QueryRejection) -> Self {
        Self::new(e.status(), "bad_request", e.body_text())
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
            (
                E::Catalog(gabarit_catalog::Error::Crypto {
                    path: "catalog.db".into(),
                    what: "template of face 3".into(),
                    reason: "seal failed".into(),
                }),
                StatusCode::INTERNAL_SERVER_ERROR,
                "crypto",
            ),
        ];
        for (error, status, code) in cases {
            let api = ApiError::from(error);
            assert_eq!((api.status, api.code), (status, code), "{}", api.message);
        }
    }
}
