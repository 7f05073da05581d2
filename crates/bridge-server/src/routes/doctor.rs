//! `POST /internal/doctor`: every readiness check the server can make, a probe of one tab
//! included, for `bridge-server doctor`. Loopback callers without a browser `Origin` only.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::internal::check_caller;
use crate::doctor;
use crate::error::ApiError;
use crate::state::AppState;

pub(crate) async fn doctor(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    check_caller(&req)?;
    let checks = doctor::full_checks(&state).await;
    let ready = checks.iter().all(|c| c.ok);
    Ok(HttpResponse::Ok().json(json!({ "ready": ready, "checks": checks })))
}
