//! Session and message ids go into upstream request paths, so each one loaded from the config
//! directory must be a UUID (`8-4-4-4-12` hex). Empty ids and the shipped `YOUR_…`
//! placeholders stay accepted: they mean "not configured".

use std::path::{Path, PathBuf};

use super::{is_placeholder_id, map_keys, EndpointMap};
use crate::clip::{clip, NAME_CHARS};
use crate::config::Config;

/// An id that is neither a UUID nor "not configured".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {where_}`{key}` must be a UUID like 8f1c2a4e-3b5d-4c6e-9f70-1a2b3c4d5e6f (or empty), found `{value}`; run bridge-id-updater to capture real ids", file.display())]
pub struct BadId {
    pub file: PathBuf,
    /// `model `name`: ` for an entry of the endpoint map, empty for config.jsonc.
    where_: String,
    pub key: &'static str,
    pub value: String,
}

/// Whether `id` may be used: a hyphenated UUID, or empty / a placeholder ("not configured").
pub fn id_acceptable(id: &str) -> bool {
    let id = id.trim();
    id.is_empty() || is_placeholder_id(id) || (id.len() == 36 && uuid::Uuid::try_parse(id).is_ok())
}

/// Checks the global ids of `config.jsonc` (at `config_path`) and every pool entry of the
/// endpoint map (at `map_path`); the first bad id is the error.
pub fn check_ids(
    config: &Config,
    config_path: &Path,
    map: &EndpointMap,
    map_path: &Path,
) -> Result<(), BadId> {
    let bad = |file: &Path, where_: String, key: &'static str, value: &str| BadId {
        file: file.to_owned(),
        where_,
        key,
        value: clip(value, NAME_CHARS).into_owned(),
    };
    for (key, value) in [
        (map_keys::SESSION_ID, config.session_id.as_deref()),
        (map_keys::MESSAGE_ID, config.message_id.as_deref()),
    ] {
        if let Some(v) = value.filter(|v| !id_acceptable(v)) {
            return Err(bad(config_path, String::new(), key, v));
        }
    }
    for model in map.model_names() {
        for entry in map.pool(model).unwrap_or_default() {
            for (key, value) in [
                (map_keys::SESSION_ID, entry.session_id.as_deref()),
                (map_keys::MESSAGE_ID, entry.message_id.as_deref()),
            ] {
                if let Some(v) = value.filter(|v| !id_acceptable(v)) {
                    let where_ = format!("model `{}`: ", clip(model, NAME_CHARS));
                    return Err(bad(map_path, where_, key, v));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::SessionEntry;

    const S: &str = "11111111-1111-4111-8111-111111111111";

    #[test]
    fn uuids_empty_and_placeholders_pass_and_anything_else_fails() {
        for ok in [
            S,
            "",
            "  ",
            "YOUR_SESSION_ID",
            "your-message-id-here",
            " 8F1C2A4E-3B5D-4C6E-9F70-1A2B3C4D5E6F ",
        ] {
            assert!(id_acceptable(ok), "{ok}");
        }
        for bad in [
            "abc",
            "../x",
            "11111111111141118111111111111111",
            "{11111111-1111-4111-8111-111111111111}",
            "urn:uuid:11111111-1111-4111-8111-111111111111",
            "11111111-1111-4111-8111-11111111111/",
        ] {
            assert!(!id_acceptable(bad), "{bad}");
        }
    }

    #[test]
    fn the_error_names_file_model_and_key() {
        let config = Config {
            session_id: Some(S.to_owned()),
            message_id: Some("m?x=1".to_owned()),
            ..Config::default()
        };
        let map = EndpointMap::default();
        let e = check_ids(
            &config,
            Path::new("c/config.jsonc"),
            &map,
            Path::new("m.json"),
        )
        .unwrap_err();
        assert_eq!(e.key, "message_id");
        assert!(
            e.to_string().starts_with("c/config.jsonc: `message_id`"),
            "{e}"
        );

        let config = Config::default();
        let mut map = EndpointMap::default();
        map.append("gpt", SessionEntry::new("bad", S));
        let e = check_ids(&config, Path::new("c.jsonc"), &map, Path::new("map.json")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("map.json: model `gpt`: `session_id`"),
            "{e}"
        );
        assert!(check_ids(
            &Config::default(),
            Path::new("c"),
            &EndpointMap::default(),
            Path::new("m")
        )
        .is_ok());
    }
}
