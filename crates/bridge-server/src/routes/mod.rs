//! HTTP routes: OpenAI endpoints, the translated Anthropic Messages and Responses APIs
//! (`messages`, `responses`, over `chat::run` and `translate`), operations, internal routes
//! for the CLIs (`internal`, and `catalog` for the model updater). Handlers only parse, call the request layer (or the pool, for internal
//! routes) and render.

pub(crate) mod catalog;
pub(crate) mod chat;
pub(crate) mod completions;
pub(crate) mod doctor;
pub(crate) mod images;
pub(crate) mod internal;
pub(crate) mod messages;
pub(crate) mod models;
pub(crate) mod ops;
pub(crate) mod responses;
mod translate;

use std::convert::Infallible;

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::error::ApiError;

/// Reads a request body up to `limit` bytes; more is a 413.
pub(crate) async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let too_large = || {
        ApiError::too_large(format!(
            "Request body is larger than max_request_bytes ({limit} bytes)."
        ))
    };
    if let Some(len) = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
    {
        if len > limit {
            return Err(too_large());
        }
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::invalid_request(format!("Reading the body failed: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// A `200 text/event-stream` response streaming these SSE frames.
pub(crate) fn sse_response(body: mpsc::Receiver<bytes::Bytes>) -> HttpResponse {
    let body = tokio_stream::wrappers::ReceiverStream::new(body).map(Ok::<_, Infallible>);
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body)
}

/// A request body as JSON (the translated APIs read it as a value).
pub(crate) fn json_body(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_request(format!(
            "We could not parse the JSON body of your request: {e}"
        ))
    })
}
