//! Entry points for the fuzz targets (`fuzz/`): the server's input parsing, without a server,
//! models or a data directory. Not part of the API.

use axum::extract::{FromRequest, Multipart, Request};

thread_local! {
    static RUNTIME: Option<tokio::runtime::Runtime> =
        tokio::runtime::Builder::new_current_thread().build().ok();
}

/// Reads a multipart form with the `Content-Type` `content_type` and the body `body` through
/// the extractor and the field loop the routes use (the default body limit applies). Returns
/// the number of fields read (the `image` file counting as one), or the error text a client
/// would get.
pub fn multipart(content_type: &str, body: &[u8]) -> Result<usize, String> {
    let req = Request::builder()
        .method("POST")
        .uri("/fuzz")
        .header(axum::http::header::CONTENT_TYPE, content_type)
        .body(axum::body::Body::from(body.to_vec()))
        .map_err(|e| e.to_string())?;
    let read = async {
        let form = Multipart::from_request(req, &()).await.map_err(|e| e.body_text())?;
        let form = crate::api::read_form(form).await.map_err(|e| e.message)?;
        Ok(form.fields.len() + usize::from(form.image.is_some()))
    };
    RUNTIME.with(|rt| match rt {
        Some(rt) => rt.block_on(read),
        None => Err("no tokio runtime".to_string()),
    })
}
