//! `POST /internal/request_model_catalog` (bridge-model-updater): the site's model catalog,
//! fetched through a connected tab, as the site sent it. The server keeps its models as the
//! known list (`GET /v1/models?all=true`, chats by catalog id).

use actix_web::{web, HttpRequest, HttpResponse};

use super::internal::check_caller;
use crate::catalog::fetch_catalog;
use crate::error::ApiError;
use crate::state::AppState;

pub(crate) async fn request_model_catalog(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    check_caller(&req)?;
    let (body, catalog) = fetch_catalog(&state).await?;
    state.known_models().replace(&catalog.models);
    tracing::info!(
        models = catalog.models.len(),
        arenas = catalog.arenas.len(),
        "model catalog received from a tab"
    );
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(body))
}
