//! The model table of one configuration: every servable model resolved once, on load or
//! reload, with its session pool and flow, so a request's model lookup and session choice cost
//! the same whatever the size of `models.json` and `model_endpoint_map.json`.

use std::collections::HashMap;
use std::sync::Arc;

use super::choice::{global_pool, model_sessions};
use super::SessionPool;
use super::{ModelKind, Registry, ResolveError, ResolvedModel, SessionError, SessionLease};
use crate::config::{BattleTarget, Config, Mode, UpstreamFlow};

/// One model as a request needs it, built once per configuration.
#[derive(Debug, Clone)]
pub struct ModelRoute {
    pub model: ResolvedModel,
    /// The flow the first pool entry that names one asks for.
    flow: Option<UpstreamFlow>,
    /// Mode and battle target of the `evaluation` flow: those of the first pool entry that
    /// names a flow, else the config's.
    evaluation_side: (Mode, BattleTarget),
    /// The sessions of the `retry` flow, or why there are none.
    sessions: Result<Arc<SessionPool>, SessionError>,
}

impl ModelRoute {
    fn new(
        model: ResolvedModel,
        config: &Config,
        global: &Result<Arc<SessionPool>, String>,
    ) -> Self {
        let flow_entry = model.pool.iter().find(|e| e.flow.is_some());
        let evaluation_side = (
            flow_entry
                .and_then(|e| e.mode)
                .unwrap_or(config.id_updater_last_mode),
            flow_entry
                .and_then(|e| e.battle_target)
                .unwrap_or(config.id_updater_battle_target),
        );
        Self {
            flow: flow_entry.and_then(|e| e.flow),
            evaluation_side,
            sessions: model_sessions(&model, config, global),
            model,
        }
    }

    /// A model neither file lists but whose id is known (from the site's model catalog): the
    /// config's flow and side, the global ids for the `retry` flow. Built per request; only
    /// such requests pay for it.
    pub fn unlisted(public_name: &str, model_id: &str, kind: ModelKind, config: &Config) -> Self {
        let model = ResolvedModel {
            public_name: public_name.to_owned(),
            model_id: Some(model_id.to_owned()),
            kind,
            pool: Vec::new(),
        };
        Self::new(model, config, &global_pool(config))
    }

    /// The upstream flow for this model: its pool's, else `default` (the config's).
    pub fn flow(&self, default: UpstreamFlow) -> UpstreamFlow {
        self.flow.unwrap_or(default)
    }

    /// Mode and battle target of an `evaluation` request for this model.
    pub fn evaluation_side(&self) -> (Mode, BattleTarget) {
        self.evaluation_side
    }

    /// `n` sessions for one `retry` request (see [`SessionPool::choose`]).
    pub fn choose_sessions(&self, n: usize) -> Result<Vec<SessionLease>, SessionError> {
        let pool = self.sessions.as_ref().map_err(Clone::clone)?;
        Ok(pool.choose(n))
    }

    /// The session pool of the `retry` flow, shared by every request of this configuration.
    pub fn sessions(&self) -> Result<&Arc<SessionPool>, &SessionError> {
        self.sessions.as_ref()
    }
}

/// Every servable model of one configuration, by name.
#[derive(Debug, Default)]
pub struct ModelTable {
    routes: HashMap<String, ModelRoute>,
    /// The first image model of `models.json`: the images route's default.
    first_image: Option<String>,
}

impl ModelTable {
    /// Resolves every model of `registry` against `config`. Models without a pool share one
    /// pool of the global ids.
    pub fn build(registry: &Registry, config: &Config) -> ModelTable {
        let global = global_pool(config);
        let routes = registry
            .model_names()
            .into_iter()
            .filter_map(|name| {
                let model = registry.resolve(&name).ok()?;
                Some((name, ModelRoute::new(model, config, &global)))
            })
            .collect();
        let first_image = registry
            .models
            .iter()
            .find(|m| m.kind == ModelKind::Image)
            .map(|m| m.public_name.clone());
        ModelTable {
            routes,
            first_image,
        }
    }

    /// The model for a requested name (exact, as [`Registry::resolve`]).
    pub fn resolve(&self, name: &str) -> Result<&ModelRoute, ResolveError> {
        self.routes
            .get(name)
            .ok_or_else(|| ResolveError::ModelNotFound {
                model: name.to_owned(),
            })
    }

    /// Every model of the table, in no particular order.
    pub fn routes(&self) -> impl Iterator<Item = &ModelRoute> {
        self.routes.values()
    }

    /// The first image model of `models.json`, if any.
    pub fn first_image_model(&self) -> Option<&str> {
        self.first_image.as_deref()
    }

    pub fn len(&self) -> usize {
        self.routes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unlisted_model_takes_the_config_flow_side_and_global_ids() {
        let config = Config {
            session_id: Some("00000000-0000-4000-8000-000000000001".into()),
            message_id: Some("00000000-0000-4000-8000-000000000002".into()),
            ..Config::default()
        };
        let route = ModelRoute::unlisted("new-model", "id-1", ModelKind::Search, &config);
        assert_eq!(route.model.model_id.as_deref(), Some("id-1"));
        assert_eq!(route.model.kind, ModelKind::Search);
        assert!(route.model.pool.is_empty());
        assert_eq!(
            route.flow(UpstreamFlow::Evaluation),
            UpstreamFlow::Evaluation
        );
        assert_eq!(route.flow(UpstreamFlow::Retry), UpstreamFlow::Retry);
        assert_eq!(
            route.evaluation_side(),
            (config.id_updater_last_mode, config.id_updater_battle_target)
        );
        assert_eq!(route.sessions().unwrap().len(), 1);
    }
}
