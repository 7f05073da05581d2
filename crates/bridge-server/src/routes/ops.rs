//! Operations routes: liveness (`/health`), the status JSON (`/status`), Prometheus text
//! (`/metrics`) and the status page for a person (`/`, a static file that polls `/status`).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// Content type of the Prometheus text exposition format.
pub(crate) const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The status page: plain HTML with inline CSS and JS, no external assets.
const STATUS_PAGE: &str = include_str!("../../assets/status.html");
/// The page loads nothing from elsewhere and talks only to this server; inline script and
/// style are its own.
const STATUS_PAGE_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

pub(crate) async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub(crate) async fn status(state: web::Data<AppState>) -> HttpResponse {
    let config = state.config();
    let stats = state.stats().snapshot();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": state.uptime().as_secs(),
            "config_dir": state.options().config_dir.display().to_string(),
            "config": state.reload_status(),
            "flow": config.upstream_flow.as_str(),
            "auto_update": config.enable_auto_update,
            "api_key_required": config.api_key.is_some(),
            "evaluation_history": state.conversations().size(),
            "tabs": state.pool().snapshot(),
            "ready": crate::doctor::ready_checks(&state),
            "userscript_url": state.userscript_url(),
            "userscript_url_is_default": state.custom_userscript_url().is_none(),
            "queue": state.pool().queue_len(),
            "in_flight": stats.in_flight,
            "counts": {
                "total": stats.total,
                "by_outcome": stats.outcomes,
                "client_aborts": stats.client_aborts,
                "fresh_fallbacks": stats.fresh_fallbacks,
            },
            "evaluation_cleanup": {
                "mode": state.config().evaluation_cleanup,
                "deleted": stats.cleanup.deleted,
                "failed": stats.cleanup.failed,
            },
            "upstream_statuses": stats.upstream_statuses,
            "unknown_line_types": stats.unknown_line_types,
            "recent": stats.recent,
            "update": stats.update,
        }))
}

pub(crate) async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let text = state.stats().render_prometheus(
        &state.pool().snapshot(),
        state.pool().queue_len(),
        state.uptime(),
    );
    HttpResponse::Ok()
        .content_type(PROMETHEUS_CONTENT_TYPE)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(text)
}

pub(crate) async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, STATUS_PAGE_CSP))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(STATUS_PAGE)
}
