//! Configuration that loads but cannot work: placeholder or missing ids where the `retry` flow
//! needs them, ids that are not UUIDs, models the `evaluation` flow cannot name. The server
//! logs these at startup and shows them on `/status`; `bridge-server doctor` prints them with
//! the one thing to do about each.

use super::choice::{global_pool, model_sessions};
use super::{is_placeholder_id, map_keys, Registry, SessionError};
use crate::config::{Config, UpstreamFlow, CONFIG_FILE_NAME, ENDPOINT_MAP_FILE_NAME};

/// What the person can do about ids the `retry` flow cannot use.
const RETRY_IDS_FIX: &str = "set \"upstream_flow\": \"evaluation\" in config/config.jsonc (it \
     needs no captured ids), or capture ids with bridge-id-updater";

/// One piece of configuration that cannot work as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigProblem {
    /// Models that would use the `retry` flow have no usable session (placeholder or missing
    /// global ids, or no map entry while falling back is off); one problem for all of them.
    RetryWithoutIds { models: Vec<String>, reason: String },
    /// A model's pool in the endpoint map has no usable entry for the `retry` flow.
    PoolUnusable { model: String, reason: String },
    /// An id that is set and not a placeholder, but not a UUID as LMArena's ids are.
    NotUuid { location: String, value: String },
    /// A model only in the endpoint map, served by the `evaluation` flow, which needs the model
    /// id from `models.json`.
    MissingModelId { model: String },
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigProblem::RetryWithoutIds { models, reason } => {
                let shown: Vec<&str> = models.iter().take(3).map(String::as_str).collect();
                let more = models.len().saturating_sub(shown.len());
                write!(
                    f,
                    "the retry flow cannot serve {} model(s) ({}{}): {reason}",
                    models.len(),
                    shown.join(", "),
                    if more > 0 {
                        format!(", and {more} more")
                    } else {
                        String::new()
                    }
                )
            }
            ConfigProblem::PoolUnusable { model, reason } => write!(
                f,
                "model `{model}` in {ENDPOINT_MAP_FILE_NAME} has no usable session: {reason}"
            ),
            ConfigProblem::NotUuid { location, value } => {
                write!(f, "{location} is `{value}`, which is not a UUID")
            }
            ConfigProblem::MissingModelId { model } => write!(
                f,
                "model `{model}` is only in {ENDPOINT_MAP_FILE_NAME}; the evaluation flow needs \
                 its model id from models.json"
            ),
        }
    }
}

impl ConfigProblem {
    /// The one thing to do about this problem.
    pub fn fix(&self) -> String {
        match self {
            ConfigProblem::RetryWithoutIds { .. } | ConfigProblem::PoolUnusable { .. } => {
                RETRY_IDS_FIX.to_owned()
            }
            ConfigProblem::NotUuid { .. } => {
                "capture the ids again with bridge-id-updater (LMArena \
                 ids look like 0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b)"
                    .to_owned()
            }
            ConfigProblem::MissingModelId { model } => format!(
                "add `{model}` to config/models.json (bridge-model-updater lists the site's models)"
            ),
        }
    }
}

/// Every problem of `config` with `registry`, most fundamental first: ids the `retry` flow
/// cannot use, then malformed ids, then models the `evaluation` flow cannot name.
pub fn config_problems(config: &Config, registry: &Registry) -> Vec<ConfigProblem> {
    let global_sessions = global_pool(config);
    let mut global: Option<(Vec<String>, String)> = None;
    let mut pools = Vec::new();
    let mut missing_ids = Vec::new();
    for name in registry.model_names() {
        let Ok(model) = registry.resolve(&name) else {
            continue;
        };
        match model.flow(config.upstream_flow) {
            UpstreamFlow::Evaluation => {
                if !registry.models.contains(&name) {
                    missing_ids.push(ConfigProblem::MissingModelId { model: name });
                }
            }
            UpstreamFlow::Retry => match model_sessions(&model, config, &global_sessions) {
                Ok(_) => {}
                Err(SessionError::PoolUnusable { model, reason, .. }) => {
                    pools.push(ConfigProblem::PoolUnusable { model, reason });
                }
                Err(SessionError::NoMapping { .. }) => {
                    let reason = format!(
                        "they have no session in {ENDPOINT_MAP_FILE_NAME} and \
                         use_default_ids_if_mapping_not_found is false"
                    );
                    global
                        .get_or_insert_with(|| (Vec::new(), reason))
                        .0
                        .push(name);
                }
                Err(SessionError::GlobalIdsUnusable { reason, .. }) => {
                    let reason =
                        format!("they use the global ids of {CONFIG_FILE_NAME}, but {reason}");
                    global
                        .get_or_insert_with(|| (Vec::new(), reason))
                        .0
                        .push(name);
                }
            },
        }
    }
    let retry = global.map(|(models, reason)| ConfigProblem::RetryWithoutIds { models, reason });
    retry
        .into_iter()
        .chain(pools)
        .chain(malformed_ids(config, registry))
        .chain(missing_ids)
        .collect()
}

/// Ids in `config.jsonc` and the endpoint map that are set but are not UUIDs.
fn malformed_ids(config: &Config, registry: &Registry) -> Vec<ConfigProblem> {
    let mut problems = Vec::new();
    let globals = [
        (map_keys::SESSION_ID, config.session_id.as_deref()),
        (map_keys::MESSAGE_ID, config.message_id.as_deref()),
    ];
    for (key, id) in globals {
        if let Some(value) = malformed(id) {
            problems.push(ConfigProblem::NotUuid {
                location: format!("{CONFIG_FILE_NAME} {key}"),
                value,
            });
        }
    }
    for name in registry.endpoint_map.model_names() {
        let pool = registry.endpoint_map.pool(name).unwrap_or_default();
        for (i, entry) in pool.iter().enumerate() {
            let ids = [
                (map_keys::SESSION_ID, entry.session_id.as_deref()),
                (map_keys::MESSAGE_ID, entry.message_id.as_deref()),
            ];
            for (key, id) in ids {
                if let Some(value) = malformed(id) {
                    let at = if pool.len() > 1 {
                        format!(" entry {}", i + 1)
                    } else {
                        String::new()
                    };
                    problems.push(ConfigProblem::NotUuid {
                        location: format!("{ENDPOINT_MAP_FILE_NAME} `{name}`{at} {key}"),
                        value,
                    });
                }
            }
        }
    }
    problems
}

/// The id, when it is set, not a placeholder and not a UUID.
fn malformed(id: Option<&str>) -> Option<String> {
    let id = id?.trim();
    if id.is_empty() || is_placeholder_id(id) || uuid::Uuid::try_parse(id).is_ok() {
        return None;
    }
    Some(id.chars().take(64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID_A: &str = "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    const UUID_B: &str = "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c";

    fn config(flow: UpstreamFlow, session: &str, message: &str) -> Config {
        Config {
            upstream_flow: flow,
            session_id: Some(session.to_owned()),
            message_id: Some(message.to_owned()),
            ..Config::default()
        }
    }

    fn registry(models: &str, map: &str) -> Registry {
        Registry::parse(models, map).unwrap()
    }

    const MODELS: &str = r#"{"m1": "11111111-1111-4111-8111-111111111111",
                             "m2": "22222222-2222-4222-8222-222222222222"}"#;

    #[test]
    fn shipped_placeholders_under_retry_are_one_problem_naming_every_model() {
        let c = config(UpstreamFlow::Retry, "YOUR_SESSION_ID", "YOUR_MESSAGE_ID");
        let problems = config_problems(&c, &registry(MODELS, "{}"));
        assert_eq!(problems.len(), 1, "{problems:?}");
        let ConfigProblem::RetryWithoutIds { models, reason } = &problems[0] else {
            panic!("{problems:?}")
        };
        assert_eq!(models, &["m1", "m2"]);
        assert!(reason.contains("YOUR_SESSION_ID"), "{reason}");
        let text = problems[0].to_string();
        assert!(text.contains("m1, m2"), "{text}");
        assert!(problems[0]
            .fix()
            .contains("\"upstream_flow\": \"evaluation\""));
        assert!(problems[0].fix().contains("bridge-id-updater"));
    }

    #[test]
    fn placeholders_do_not_matter_under_evaluation() {
        let c = config(
            UpstreamFlow::Evaluation,
            "YOUR_SESSION_ID",
            "YOUR_MESSAGE_ID",
        );
        assert!(config_problems(&c, &registry(MODELS, "{}")).is_empty());
    }

    #[test]
    fn captured_uuids_have_no_problem() {
        let c = config(UpstreamFlow::Retry, UUID_A, UUID_B);
        assert!(config_problems(&c, &registry(MODELS, "{}")).is_empty());
    }

    #[test]
    fn no_mapping_without_fallback_is_reported() {
        let mut c = config(UpstreamFlow::Retry, UUID_A, UUID_B);
        c.use_default_ids_if_mapping_not_found = false;
        let problems = config_problems(&c, &registry(MODELS, "{}"));
        assert!(
            matches!(&problems[..], [ConfigProblem::RetryWithoutIds { reason, .. }]
                if reason.contains("use_default_ids_if_mapping_not_found is false")),
            "{problems:?}"
        );
    }

    #[test]
    fn unusable_pool_and_malformed_ids_are_named() {
        let c = config(UpstreamFlow::Retry, UUID_A, "not-a-uuid");
        let map = r#"{"m1": {"session_id": "YOUR_SESSION_ID", "message_id": "YOUR_MESSAGE_ID"},
                      "m2": [{"session_id": "abc", "message_id": "0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"},
                             {"session_id": "def", "message_id": "ghi"}]}"#;
        let problems = config_problems(&c, &registry(MODELS, map));
        let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            matches!(&problems[0], ConfigProblem::PoolUnusable { model, .. } if model == "m1"),
            "{texts:?}"
        );
        assert!(
            texts
                .iter()
                .any(|t| t == "config.jsonc message_id is `not-a-uuid`, which is not a UUID"),
            "{texts:?}"
        );
        assert!(
            texts
                .iter()
                .any(|t| t.contains("`m2` entry 1 session_id is `abc`")),
            "{texts:?}"
        );
        assert!(
            texts
                .iter()
                .any(|t| t.contains("`m2` entry 2 message_id is `ghi`")),
            "{texts:?}"
        );
        assert!(problems
            .iter()
            .filter(|p| matches!(p, ConfigProblem::NotUuid { .. }))
            .all(|p| p.fix().contains("bridge-id-updater")));
    }

    #[test]
    fn map_only_models_need_a_model_id_under_evaluation() {
        let c = config(UpstreamFlow::Evaluation, UUID_A, UUID_B);
        let map =
            format!(r#"{{"only-here": {{"session_id": "{UUID_A}", "message_id": "{UUID_B}"}}}}"#);
        let problems = config_problems(&c, &registry(MODELS, &map));
        assert_eq!(
            problems,
            vec![ConfigProblem::MissingModelId {
                model: "only-here".to_owned()
            }]
        );
        assert!(problems[0].fix().contains("models.json"));
        // Under retry the captured session's own model answers: nothing to report.
        let c = config(UpstreamFlow::Retry, UUID_A, UUID_B);
        assert!(config_problems(&c, &registry(MODELS, &map)).is_empty());
    }
}
