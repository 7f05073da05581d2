//! Both model files together: loading them and resolving a requested model name.

use std::collections::HashSet;
use std::path::Path;

use super::{EndpointMap, ModelKind, Models, ModelsError, SessionEntry};
use crate::config::{UpstreamFlow, ENDPOINT_MAP_FILE_NAME, MODELS_FILE_NAME};

/// A model name resolved against both files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    /// The name the client asked for.
    pub public_name: String,
    /// Upstream `modelId`; `None` for `null:image` entries and endpoint-map-only models.
    pub model_id: Option<String>,
    pub kind: ModelKind,
    /// The model's session pool from `model_endpoint_map.json` (empty when it has none).
    pub pool: Vec<SessionEntry>,
}

impl ResolvedModel {
    /// The upstream flow for this model: the first pool entry that names one, else `default`
    /// (the config's `upstream_flow`).
    pub fn flow(&self, default: UpstreamFlow) -> UpstreamFlow {
        self.pool.iter().find_map(|e| e.flow).unwrap_or(default)
    }
}

/// A requested model that neither file lists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "model `{model}` not found: add it to config/models.json or \
         config/model_endpoint_map.json (or run bridge-model-updater)"
    )]
    ModelNotFound { model: String },
}

/// Both model files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    pub models: Models,
    pub endpoint_map: EndpointMap,
}

impl Registry {
    /// Reads `models.json` and `model_endpoint_map.json` from the config directory. A missing
    /// file counts as empty; a broken one is an error naming the file, line and column.
    pub fn load(dir: &Path) -> Result<Registry, ModelsError> {
        let models_path = crate::config::models_file(dir);
        let map_path = crate::config::endpoint_map_file(dir);
        let models_text = read_optional(&models_path)?;
        let map_text = read_optional(&map_path)?;
        Ok(Registry {
            models: Models::parse(&models_text, &models_path)?,
            endpoint_map: EndpointMap::parse(&map_text, &map_path)?,
        })
    }

    /// Parses both files from text (messages name them by their plain file names).
    pub fn parse(models_text: &str, map_text: &str) -> Result<Registry, ModelsError> {
        Ok(Registry {
            models: Models::parse(models_text, Path::new(MODELS_FILE_NAME))?,
            endpoint_map: EndpointMap::parse(map_text, Path::new(ENDPOINT_MAP_FILE_NAME))?,
        })
    }

    /// The model for a requested name: id and kind from `models.json`, pool from the endpoint
    /// map. A model only in the map has no id (the captured session's own model answers).
    pub fn resolve(&self, name: &str) -> Result<ResolvedModel, ResolveError> {
        let pool = self.endpoint_map.pool(name);
        let (model_id, kind) = match (self.models.get(name), pool) {
            (Some(entry), _) => (entry.model_id.clone(), entry.kind.clone()),
            (None, Some(_)) => (None, ModelKind::Text),
            (None, None) => {
                return Err(ResolveError::ModelNotFound {
                    model: name.to_owned(),
                })
            }
        };
        Ok(ResolvedModel {
            public_name: name.to_owned(),
            model_id,
            kind,
            pool: pool.map(<[SessionEntry]>::to_vec).unwrap_or_default(),
        })
    }

    /// Every servable model name: `models.json` order, then names only in the endpoint map.
    pub fn model_names(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        self.models
            .iter()
            .map(|e| e.public_name.as_str())
            .chain(self.endpoint_map.model_names())
            .filter(|name| seen.insert(*name))
            .map(str::to_owned)
            .collect()
    }
}

fn read_optional(path: &Path) -> Result<String, ModelsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(ModelsError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::test_fixtures::registry;

    #[test]
    fn resolve_table() {
        let r = registry();
        let cases: &[(&str, Option<&str>, ModelKind, usize)] = &[
            (
                "gpt-text",
                Some("11111111-1111-4111-8111-111111111111"),
                ModelKind::Text,
                0,
            ),
            (
                "dalle",
                Some("22222222-2222-4222-8222-222222222222"),
                ModelKind::Image,
                0,
            ),
            ("anon-image", None, ModelKind::Image, 0),
            (
                "web",
                Some("33333333-3333-4333-8333-333333333333"),
                ModelKind::Search,
                0,
            ),
            ("odd", Some("44444444"), ModelKind::Other("video".into()), 0),
            ("colon-id", Some("vendor:model:1"), ModelKind::Text, 0),
            (
                "pooled",
                Some("55555555-5555-4555-8555-555555555555"),
                ModelKind::Text,
                3,
            ),
            ("map-only", None, ModelKind::Text, 1),
            ("empty-list", None, ModelKind::Text, 0),
        ];
        for (name, id, kind, pool_len) in cases {
            let m = r.resolve(name).unwrap();
            assert_eq!(m.public_name, *name);
            assert_eq!(m.model_id.as_deref(), *id, "{name}");
            assert_eq!(&m.kind, kind, "{name}");
            assert_eq!(m.pool.len(), *pool_len, "{name}");
        }
    }

    #[test]
    fn unknown_model_names_model_and_files() {
        let e = registry().resolve("gpt-9").unwrap_err();
        assert_eq!(
            e,
            ResolveError::ModelNotFound {
                model: "gpt-9".into()
            }
        );
        let msg = e.to_string();
        for part in [
            "gpt-9",
            "config/models.json",
            "config/model_endpoint_map.json",
            "bridge-model-updater",
        ] {
            assert!(msg.contains(part), "{msg}");
        }
        // Names are exact: no case folding, no trimming.
        assert!(registry().resolve("GPT-TEXT").is_err());
    }

    #[test]
    fn model_names_order() {
        assert_eq!(
            registry().model_names(),
            [
                "gpt-text",
                "dalle",
                "anon-image",
                "web",
                "odd",
                "colon-id",
                "pooled",
                "map-only",
                "placeholders",
                "half",
                "eval",
                "empty-list"
            ]
        );
    }

    #[test]
    fn broken_files_name_file_and_position() {
        // (models.json text, model_endpoint_map.json text, file named, position, message part)
        type Case = (
            &'static str,
            &'static str,
            &'static str,
            (usize, usize),
            &'static str,
        );
        let cases: &[Case] = &[
            ("{\"a\": 1}", "{}", "models.json", (1, 7), "model `a`"),
            ("[]", "{}", "models.json", (1, 1), "found an array"),
            (
                "{\"a\": \"x\"",
                "{}",
                "models.json",
                (1, 1),
                "syntax error: Unterminated object",
            ),
            (
                "{}",
                "{\n  \"m\": \"s\"\n}",
                "model_endpoint_map.json",
                (2, 8),
                "model `m`",
            ),
            (
                "{}",
                "{\"m\": [1]}",
                "model_endpoint_map.json",
                (1, 8),
                "pool entry",
            ),
            (
                "{}",
                "{\"m\": {\"session_id\": 5}}",
                "model_endpoint_map.json",
                (1, 22),
                "`session_id` must be a string",
            ),
            (
                "{}",
                "{\"m\": {\"mode\": \"duel\"}}",
                "model_endpoint_map.json",
                (1, 16),
                "invalid `mode`",
            ),
            (
                "{}",
                "{\"m\": {\"battle_target\": \"C\"}}",
                "model_endpoint_map.json",
                (1, 25),
                "invalid `battle_target`",
            ),
        ];
        for (models, map, file, (line, col), msg) in cases {
            let e = Registry::parse(models, map).unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with(&format!("{file}:{line}:{col}:")), "{text}");
            assert!(text.contains(msg), "{text}");
        }
    }

    #[test]
    fn empty_files_are_empty() {
        let r = Registry::parse("", "  ").unwrap();
        assert!(r.models.is_empty() && r.endpoint_map.is_empty());
        assert!(r.model_names().is_empty());
    }

    #[test]
    fn load_missing_files_is_empty_and_broken_names_path() {
        let dir = tempfile::tempdir().unwrap();
        let r = Registry::load(dir.path()).unwrap();
        assert_eq!(r, Registry::default());
        std::fs::write(dir.path().join("models.json"), "{\"x\": \"id\"}").unwrap();
        std::fs::write(dir.path().join("model_endpoint_map.json"), "{\"x\": ").unwrap();
        let e = Registry::load(dir.path()).unwrap_err();
        assert!(matches!(e, ModelsError::Syntax { .. }));
        assert!(e.to_string().contains("model_endpoint_map.json:1:"), "{e}");
    }
}
