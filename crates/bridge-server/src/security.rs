//! The gate every HTTP request passes: request id, CORS, API key, and the request log line.
//!
//! - The API key (when `api_key` is set) is needed everywhere except `/health`, `/` (the page
//!   carries no data itself) and `/ws` (tabs are checked by `Origin`); it is compared in
//!   constant time, before any body is read.
//! - CORS is off unless `cors_allowed_origins` lists the origin; preflights answer only the
//!   headers OpenAI clients send.
//! - While bound to a loopback address, a `Host` other than a loopback name is a 421 (DNS
//!   rebinding); the API's POST routes take only `application/json` (415) and refuse a
//!   browser `Origin` that is neither the server's own nor allowed by CORS (403).
//! - The log line carries request id, method, path, status, duration, model and tab, never
//!   prompt text or keys.

use std::time::Instant;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, HttpResponse};
use bridge_core::config::Config;
use subtle::ConstantTimeEq;

use tracing::Instrument;

use crate::error::ApiError;
use crate::guard;
use crate::state::AppState;

/// Response header carrying the request id.
pub(crate) const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request id given by the gate, in the request's extensions.
#[derive(Debug, Clone)]
struct RequestId(String);

pub(crate) fn request_id(req: &HttpRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default()
}

/// Facts a handler leaves for the request log line.
#[derive(Debug, Clone, Default)]
struct LogFacts {
    model: Option<String>,
    tab: Option<u64>,
}

/// Leaves the model and the tab for the request log line; the model also goes on the
/// request's span.
pub(crate) fn set_log_facts(req: &HttpRequest, model: Option<&str>, tab: Option<u64>) {
    let model = model.map(|m| bridge_core::clip::clip(m, bridge_core::clip::NAME_CHARS));
    let model = model.as_deref();
    if let Some(m) = model {
        tracing::Span::current().record("model", tracing::field::display(m));
    }
    let mut ext = req.extensions_mut();
    match ext.get_mut::<LogFacts>() {
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

/// Paths that never need the API key.
fn is_public(path: &str) -> bool {
    matches!(path, "/health" | "/" | "/ws")
}

/// Request headers a CORS preflight may ask for.
fn cors_header_allowed(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    matches!(
        name.as_str(),
        "authorization" | "content-type" | "accept" | API_KEY_HEADER
    ) || name.starts_with("x-stainless-")
        || name.starts_with("anthropic-")
}

/// Anthropic clients send the key in this header instead of `Authorization`.
const API_KEY_HEADER: &str = "x-api-key";

/// True when the `x-api-key` header is exactly `key`.
fn api_key_matches(value: Option<&HeaderValue>, key: &str) -> bool {
    value.is_some_and(|v| v.as_bytes().ct_eq(key.as_bytes()).into())
}

/// True when the `Authorization` header carries `key` (scheme case-insensitive).
pub(crate) fn bearer_matches(value: Option<&HeaderValue>, key: &str) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut parts = value.trim().splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    let token = parts.next().unwrap_or_default().trim();
    if !scheme.eq_ignore_ascii_case("bearer") {
        return false;
    }
    token.as_bytes().ct_eq(key.as_bytes()).into()
}

fn cors_origin(config: &Config, req: &ServiceRequest) -> Option<HeaderValue> {
    let origin = req.headers().get(header::ORIGIN)?;
    config
        .cors_origin_allowed(origin.to_str().ok()?)
        .then(|| origin.clone())
}

fn add_cors(headers: &mut actix_web::http::header::HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("x-request-id, retry-after, x-should-retry"),
    );
}

/// Why an API POST is refused before its body is read: a foreign browser `Origin` (403) or
/// a body that is not declared JSON (415).
fn refuse_post(config: &Config, req: &ServiceRequest, host: Option<&str>) -> Option<ApiError> {
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .is_ok_and(|o| guard::post_origin_allowed(config, o, host));
        if !allowed {
            return Some(ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                "This Origin may not use the API (see cors_allowed_origins in config.jsonc).",
            ));
        }
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !guard::is_json_content_type(content_type) {
        return Some(
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request_error",
                "The request body must be JSON, sent with 'Content-Type: application/json'.",
            )
            .with_code("unsupported_media_type"),
        );
    }
    None
}

/// The answer to a request refused before its body was read. The connection closes after
/// it: the unread body would otherwise be taken for the next request, and a keep-alive
/// client reusing the connection would be reset.
fn refused(req: ServiceRequest, err: ApiError) -> ServiceResponse {
    let mut res = req.error_response(err);
    res.response_mut()
        .head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    res
}

pub(crate) async fn gate(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let started = Instant::now();
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let config = state.config();
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let rid_header = HeaderValue::from_str(&request_id).ok();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let cors = cors_origin(&config, &req);
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    let bound = req.request().app_config().local_addr().ip();
    if !guard::host_allowed(bound, host.as_deref()) {
        tracing::info!(request_id = %request_id, %method, %path, status = 421, "request refused: Host is not a loopback name");
        let err = ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "invalid_request_error",
            "This server only answers to http://127.0.0.1, http://localhost or http://[::1] \
             (the Host header named another host).",
        )
        .with_code("invalid_host");
        return Ok(refused(req, err).map_into_right_body());
    }

    // CORS preflight.
    if method == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let Some(origin) = cors else {
            let err = ApiError::new(
                StatusCode::FORBIDDEN,
                "permission_error",
                "This Origin is not in cors_allowed_origins.",
            );
            return Ok(req.error_response(err).map_into_right_body());
        };
        let asked = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let allowed: Vec<&str> = asked
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty() && cors_header_allowed(h))
            .collect();
        let mut res = HttpResponse::NoContent();
        res.insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"));
        if !allowed.is_empty() {
            res.insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, allowed.join(", ")));
        }
        let mut res = res.finish();
        add_cors(res.headers_mut(), origin);
        return Ok(req.into_response(res).map_into_right_body());
    }

    // API key, before anything reads the body.
    if let Some(key) = config.api_key.as_deref() {
        let headers = req.headers();
        let presented = bearer_matches(headers.get(header::AUTHORIZATION), key)
            || api_key_matches(headers.get(API_KEY_HEADER), key);
        if !is_public(&path) && !presented {
            tracing::info!(request_id = %request_id, %method, %path, status = 401, "request refused: bad or missing API key");
            let mut res = refused(req, ApiError::unauthorized());
            if let Some(origin) = cors {
                add_cors(res.headers_mut(), origin);
            }
            if let Some(v) = rid_header {
                res.headers_mut()
                    .insert(header::HeaderName::from_static(REQUEST_ID_HEADER), v);
            }
            return Ok(res.map_into_right_body());
        }
    }

    if method == Method::POST && guard::is_json_post(&path) {
        if let Some(err) = refuse_post(&config, &req, host.as_deref()) {
            tracing::info!(request_id = %request_id, %method, %path, status = err.status.as_u16(), "request refused: {}", err.message);
            let mut res = refused(req, err);
            if let Some(origin) = cors {
                add_cors(res.headers_mut(), origin);
            }
            return Ok(res.map_into_right_body());
        }
    }

    // The handler and every task it spawns run in this span, so each of their log lines
    // carries the request id.
    let span = tracing::info_span!("request", id = %request_id, model = tracing::field::Empty);
    let mut res = {
        let _enter = span.enter();
        next.call(req)
    }
    .instrument(span.clone())
    .await?;
    if let Some(v) = rid_header {
        res.headers_mut()
            .insert(header::HeaderName::from_static(REQUEST_ID_HEADER), v);
    }
    if let Some(origin) = cors {
        add_cors(res.headers_mut(), origin);
    }
    let facts = res
        .request()
        .extensions()
        .get::<LogFacts>()
        .cloned()
        .unwrap_or_default();
    let status = res.status().as_u16();
    let ms = started.elapsed().as_millis() as u64;
    if path != "/health" && path != "/ws" {
        tracing::info!(
            request_id = %request_id,
            %method,
            %path,
            status,
            ms,
            model = facts.model.as_deref().unwrap_or("-"),
            tab = facts.tab.map(|t| t.to_string()).as_deref().unwrap_or("-"),
            "request"
        );
    }
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_key_exact() {
        let ok = HeaderValue::from_static("bEaReR sk-secret");
        assert!(bearer_matches(Some(&ok), "sk-secret"));
        let wrong = HeaderValue::from_static("Bearer sk-secreT");
        assert!(!bearer_matches(Some(&wrong), "sk-secret"));
        let prefix = HeaderValue::from_static("Bearer sk-secret-and-more");
        assert!(!bearer_matches(Some(&prefix), "sk-secret"));
        let basic = HeaderValue::from_static("Basic sk-secret");
        assert!(!bearer_matches(Some(&basic), "sk-secret"));
        assert!(!bearer_matches(None, "sk-secret"));
    }

    #[test]
    fn preflight_headers_are_filtered() {
        assert!(cors_header_allowed("Authorization"));
        assert!(cors_header_allowed("x-stainless-os"));
        assert!(!cors_header_allowed("cookie"));
    }
}
