//! Internal routes used by the two CLIs. Only loopback callers without a browser `Origin`
//! may use them, so no web page can drive the tab through the server.

use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use bridge_core::protocol::{Command, ServerMessage};
use serde::Deserialize;

use super::read_body;
use crate::error::ApiError;
use crate::pool::{start_job_on, JobEvent};
use crate::state::AppState;

/// Default port of bridge-id-updater's capture listener.
pub(crate) const DEFAULT_CAPTURE_PORT: u16 = 5103;

/// The no-tab error, with the server URL the userscript must use when it is not its default.
pub(crate) fn no_tab(state: &AppState) -> ApiError {
    ApiError::no_tab(state.custom_userscript_url().as_deref())
}

pub(crate) fn check_caller(req: &HttpRequest) -> Result<(), ApiError> {
    let loopback = req.peer_addr().is_some_and(|a| a.ip().is_loopback());
    if !loopback || req.headers().contains_key(header::ORIGIN) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            "Internal routes are only for the bridge CLIs on this machine.",
        ));
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
struct CaptureBody {
    listen_port: Option<u16>,
}

pub(crate) async fn start_id_capture(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    check_caller(&req)?;
    let body = read_body(&req, payload, 4096).await?;
    let parsed: CaptureBody = if body.iter().all(u8::is_ascii_whitespace) {
        CaptureBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::invalid_request(format!("Body must be {{\"listen_port\": <port>}}: {e}"))
        })?
    };
    let port = parsed.listen_port.unwrap_or(DEFAULT_CAPTURE_PORT);
    if port == 0 {
        return Err(
            ApiError::invalid_request("listen_port must not be 0").with_param("listen_port")
        );
    }
    let link = state.pool().any_ready_tab().ok_or_else(|| no_tab(&state))?;
    let report_to = format!("http://127.0.0.1:{port}/update");
    if !link.send(&ServerMessage::Command {
        command: Command::ActivateIdCapture,
        id: None,
        report_to: Some(report_to.clone()),
    }) {
        return Err(no_tab(&state));
    }
    tracing::info!(tab = link.conn, port, "id capture armed in a tab");
    // A userscript injected after the page started cannot see the page's requests: say so,
    // so the CLI does not wait for a capture that cannot come.
    let late_injection = state
        .pool()
        .snapshot_of(link.conn)
        .is_some_and(|t| t.late_injection);
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "status": "ok",
        "tab": link.conn,
        "report_to": report_to,
        "late_injection": late_injection,
    })))
}

pub(crate) async fn request_model_update(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    check_caller(&req)?;
    let link = state.pool().any_ready_tab().ok_or_else(|| no_tab(&state))?;
    let (mut guard, mut rx) = start_job_on(state.pool(), &link, |id| ServerMessage::Command {
        command: Command::SendPageSource,
        id: Some(id),
        report_to: None,
    });
    let timeout: Duration = state.options().page_source_timeout;
    let html = rx
        .answer(timeout, |event| match event {
            JobEvent::PageSource(html) => Some(Ok(html)),
            JobEvent::Failed(failure) => Some(Err(ApiError::bad_gateway(format!(
                "The tab could not send its page: {}",
                failure.message
            )))),
            _ => None,
        })
        .await
        .map_err(|end| ApiError::tab_wait(end, "its page source", timeout))??;
    guard.finish();
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}
