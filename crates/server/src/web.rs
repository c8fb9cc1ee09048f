//! The web UI: the static files of `web/dist` (built by `scripts/web-build.sh` with Vite),
//! embedded in the binary at build time and served from `/`. The UI routes with `#/…`, so
//! any other path that is not a file gets `index.html`. Pages load nothing from outside the
//! server (the Content-Security-Policy forbids it).

use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::Embed)]
#[folder = "../../web/dist/"]
#[allow_missing = true]
struct Assets;

/// What every page of the UI may load: its own files and the API, nothing else.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' blob: data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Whether the UI was built into this binary.
pub fn built() -> bool {
    Assets::get("index.html").is_some()
}

/// Serves a file of the UI, `index.html` for `/` and unknown paths without an extension, 404
/// for other unknown paths, and 503 with instructions when the UI was not built.
pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") {
        return crate::error::ErrorCode::NotFound.with(format!("no route {}", uri.path())).into_response();
    }
    let (name, file) = match Assets::get(if path.is_empty() { "index.html" } else { path }) {
        Some(file) => (if path.is_empty() { "index.html" } else { path }, file),
        None if !path.rsplit('/').next().unwrap_or_default().contains('.') => match Assets::get("index.html") {
            Some(file) => ("index.html", file),
            None => return not_built(),
        },
        None => return (StatusCode::NOT_FOUND, "not found\n").into_response(),
    };
    let mut response = file.data.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(mime) = HeaderValue::from_str(file.metadata.mimetype()) {
        headers.insert(header::CONTENT_TYPE, mime);
    }
    // Vite names assets by content hash: they never change; the page itself always may.
    let cache = if name.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

fn not_built() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The web UI is not in this binary: run scripts/web-build.sh, then build gabarit again.\n\
         The API is served under /api/v1 (see /api/v1/openapi.json).\n",
    )
        .into_response()
}
