//! `GET /v1/models`: the names of models.json and model_endpoint_map.json in OpenAI's shape,
//! each with an extra `type` (`chat`, `search`, `image`) that clients ignore. With
//! `?all=true`, also the models of the site's list (the last catalog the server saw) that
//! neither file names.

use std::collections::HashSet;

use actix_web::{web, HttpRequest, HttpResponse};
use bridge_core::openai::{ModelList, ModelObject};
use serde::Deserialize;

use crate::clock::unix_now;
use crate::state::AppState;

/// `owned_by` of every listed model.
pub(crate) const OWNED_BY: &str = "lmarena";

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    /// `true`/`1`: add the site's models that the config files do not name.
    #[serde(default)]
    all: Option<String>,
}

impl ListQuery {
    fn all(&self) -> bool {
        self.all
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
    }
}

pub(crate) async fn list_models(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    // A query this route does not understand is ignored, never an error.
    let query = web::Query::<ListQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .unwrap_or_default();
    let created = unix_now();
    let snapshot = state.snapshot();
    let mut data: Vec<ModelObject> = snapshot
        .registry
        .model_names()
        .into_iter()
        .map(|name| {
            let kind = snapshot.models.resolve(&name).map(|r| r.model.kind.clone());
            let entry = ModelObject::new(name, created, OWNED_BY);
            match kind {
                Ok(kind) => entry.with_kind(&kind),
                Err(_) => entry,
            }
        })
        .collect();
    if query.all() {
        let listed: HashSet<String> = data.iter().map(|m| m.id.clone()).collect();
        let known = state.known_models().current();
        data.extend(
            known
                .iter()
                .filter(|m| !listed.contains(&m.name))
                .map(|m| ModelObject::new(m.name.clone(), created, OWNED_BY).with_kind(&m.kind)),
        );
    }
    HttpResponse::Ok().json(ModelList::new(data))
}
