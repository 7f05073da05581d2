//! HTTP routes: OpenAI endpoints, operations, internal routes for the CLIs.

pub mod chat;
pub mod images;
pub mod internal;
pub mod models;
pub mod ops;

use actix_web::{web, HttpMessage, HttpRequest};
use futures_util::StreamExt;

use crate::error::ApiError;

/// The request id given by the logging middleware.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// Facts a handler leaves for the request log line.
#[derive(Debug, Clone, Default)]
pub struct LogFacts {
    pub model: Option<String>,
    pub tab: Option<u64>,
}

pub fn set_log_facts(req: &HttpRequest, model: Option<&str>, tab: Option<u64>) {
    let mut ext = req.extensions_mut();
    let facts = ext.get_mut::<LogFacts>();
    match facts {
        Some(f) => {
            if let Some(m) = model {
                f.model = Some(m.to_owned());
            }
            if tab.is_some() {
                f.tab = tab;
            }
        }
        None => {
            ext.insert(LogFacts {
                model: model.map(str::to_owned),
                tab,
            });
        }
    }
}

/// Reads a request body up to `limit` bytes; more is a 413.
pub async fn read_body(
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

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
