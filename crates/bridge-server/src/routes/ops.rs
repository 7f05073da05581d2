//! Operations routes: liveness, status JSON, the status page.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

pub async fn status(state: web::Data<AppState>) -> HttpResponse {
    let config = state.config();
    HttpResponse::Ok().json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.uptime().as_secs(),
        "config_dir": state.options().config_dir.display().to_string(),
        "config": state.reload_status(),
        "flow": config.upstream_flow.as_str(),
        "tabs": state.pool().snapshot(),
        "queue": state.pool().queue_len(),
    }))
}

pub async fn index() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(include_str!("../../assets/status.html"))
}
