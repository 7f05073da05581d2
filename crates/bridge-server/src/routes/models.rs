//! `GET /v1/models`: the names of models.json and model_endpoint_map.json in OpenAI's shape.

use actix_web::{web, HttpResponse};
use bridge_core::openai::{ModelList, ModelObject};

use crate::clock::unix_now;
use crate::state::AppState;

/// `owned_by` of every listed model.
pub(crate) const OWNED_BY: &str = "lmarena";

pub(crate) async fn list_models(state: web::Data<AppState>) -> HttpResponse {
    let created = unix_now();
    let data = state
        .snapshot()
        .registry
        .model_names()
        .into_iter()
        .map(|name| ModelObject::new(name, created, OWNED_BY))
        .collect();
    HttpResponse::Ok().json(ModelList::new(data))
}
