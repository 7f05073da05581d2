//! `models.json` and `model_endpoint_map.json`: model resolution, session pools, session choice.
//!
//! This file holds the types both files share; the work is split by seam:
//! - `catalog`: [`Models`], public model name → LMArena model id and kind (`"id"`,
//!   `"id:image"`, `"null:image"`, `"id:search"`), in file order.
//! - `endpoint_map`: [`EndpointMap`], public model name → session pool (one object or a list
//!   of objects).
//! - `registry`: [`Registry`], both files together; [`Registry::resolve`] turns a requested
//!   name into a [`ResolvedModel`] or a [`ResolveError::ModelNotFound`].
//! - `choice`: [`SessionPool`], the usable sessions of a model's pool (or the global ids of
//!   `config.jsonc`, only when `use_default_ids_if_mapping_not_found` allows it) with a
//!   least-busy index; a pick is a [`SessionLease`], in flight until dropped.
//! - `table`: [`ModelTable`], every model of one configuration resolved once (model, flow,
//!   session pool), so a request's lookup and choice do not grow with the files.
//! - `problems`: [`config_problems`], configuration that loads but cannot work (placeholder
//!   ids under the `retry` flow, ids that are not UUIDs, models without an id).
//! - `ids`: [`check_ids`], every loaded session/message id is a UUID or "not configured".
//! - `json_file`: the JSONC reading and order-keeping writing both files share.
//!
//! Both files are read with the same JSONC dialect as `config.jsonc`, and can be written back
//! (for the updater tools) without reordering models.

use std::path::PathBuf;

use crate::config::{BattleTarget, Mode, UpstreamFlow};

mod catalog;
mod choice;
mod endpoint_map;
mod ids;
mod json_file;
mod problems;
mod registry;
mod table;
#[cfg(test)]
mod test_fixtures;

pub use catalog::{ModelEntry, Models};
pub use choice::{SessionError, SessionLease, SessionPick, SessionPool};
pub use endpoint_map::EndpointMap;
pub use ids::{check_ids, id_acceptable, BadId};
pub use problems::{config_problems, ConfigProblem};
pub use registry::{Registry, ResolveError, ResolvedModel};
pub use table::{ModelRoute, ModelTable};

/// Model id written for image models that have none (`"null:image"`), as the original did.
pub(crate) const NULL_MODEL_ID: &str = "null";
/// Type suffixes of `models.json` values.
pub(crate) const KIND_TEXT: &str = "text";
pub(crate) const KIND_IMAGE: &str = "image";
pub(crate) const KIND_SEARCH: &str = "search";

/// Field names of an entry of `model_endpoint_map.json`.
pub(crate) mod map_keys {
    pub(crate) const SESSION_ID: &str = "session_id";
    pub(crate) const MESSAGE_ID: &str = "message_id";
    pub(crate) const MODE: &str = "mode";
    pub(crate) const BATTLE_TARGET: &str = "battle_target";
    pub(crate) const FLOW: &str = "flow";
}

/// Prefix of the placeholder ids shipped in the default config (`YOUR_SESSION_ID`); compared
/// case-insensitively. `your-` covers forks of the original that wrote `your-session-id-here`.
const PLACEHOLDER_PREFIXES: [&str; 2] = ["your_", "your-"];

/// What kind of model an entry of `models.json` is (the `:type` suffix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelKind {
    Text,
    Image,
    Search,
    /// Any other suffix, kept as written.
    Other(String),
}

impl ModelKind {
    /// The kind for a `:type` suffix (`image`, `search`, `text` in any case; anything else is
    /// [`ModelKind::Other`]).
    pub(crate) fn from_suffix(suffix: &str) -> ModelKind {
        if suffix.eq_ignore_ascii_case(KIND_IMAGE) {
            ModelKind::Image
        } else if suffix.eq_ignore_ascii_case(KIND_SEARCH) {
            ModelKind::Search
        } else if suffix.eq_ignore_ascii_case(KIND_TEXT) {
            ModelKind::Text
        } else {
            ModelKind::Other(suffix.to_owned())
        }
    }

    /// The suffix written after `:` in `models.json`; `None` for text models, which have none.
    pub(crate) fn suffix(&self) -> Option<&str> {
        match self {
            ModelKind::Text => None,
            ModelKind::Image => Some(KIND_IMAGE),
            ModelKind::Search => Some(KIND_SEARCH),
            ModelKind::Other(s) => Some(s),
        }
    }
}

/// `type` of a `GET /v1/models` entry for a text model (and any other suffix: those are
/// served through the chat modality).
pub const API_TYPE_CHAT: &str = "chat";
/// `type` of a search model's entry.
pub const API_TYPE_SEARCH: &str = "search";
/// `type` of an image model's entry.
pub const API_TYPE_IMAGE: &str = "image";

impl ModelKind {
    /// The `type` field of this model's `GET /v1/models` entry.
    pub fn api_type(&self) -> &'static str {
        match self {
            ModelKind::Image => API_TYPE_IMAGE,
            ModelKind::Search => API_TYPE_SEARCH,
            ModelKind::Text | ModelKind::Other(_) => API_TYPE_CHAT,
        }
    }
}

/// One session of a pool in `model_endpoint_map.json` (or the global ids).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionEntry {
    pub session_id: Option<String>,
    pub message_id: Option<String>,
    pub mode: Option<Mode>,
    pub battle_target: Option<BattleTarget>,
    /// Per-model flow override (`{"flow":"evaluation"}` needs no ids).
    pub flow: Option<UpstreamFlow>,
}

impl SessionEntry {
    /// An entry with both ids and no overrides.
    pub fn new(session_id: impl Into<String>, message_id: impl Into<String>) -> Self {
        Self {
            session_id: Some(session_id.into()),
            message_id: Some(message_id.into()),
            ..Self::default()
        }
    }

    /// Why this entry cannot be used for the `retry` flow, or `None` when it can.
    pub(crate) fn unusable_reason(&self) -> Option<String> {
        if self.flow == Some(UpstreamFlow::Evaluation) {
            return Some("the entry uses flow \"evaluation\", which needs no ids".to_owned());
        }
        id_problem(map_keys::SESSION_ID, self.session_id.as_deref())
            .or_else(|| id_problem(map_keys::MESSAGE_ID, self.message_id.as_deref()))
    }
}

/// Whether `id` is one of the shipped placeholders such as `YOUR_SESSION_ID`.
pub(crate) fn is_placeholder_id(id: &str) -> bool {
    let id = id.trim();
    PLACEHOLDER_PREFIXES.iter().any(|p| {
        id.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    })
}

/// What is wrong with one id, for error messages.
fn id_problem(name: &str, id: Option<&str>) -> Option<String> {
    match id.map(str::trim) {
        None => Some(format!("{name} is missing")),
        Some("") => Some(format!("{name} is empty")),
        Some(id) if is_placeholder_id(id) => Some(format!("{name} is the placeholder `{id}`")),
        Some(_) => None,
    }
}

/// Why `models.json` or `model_endpoint_map.json` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: syntax error: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// Valid JSON, but not the shape the file needs.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_detection() {
        for id in [
            "YOUR_SESSION_ID",
            "your_message_id",
            " Your_x ",
            "your-session-id-here",
        ] {
            assert!(is_placeholder_id(id), "{id}");
        }
        for id in ["", "a1b2", "yours", "you", "中文"] {
            assert!(!is_placeholder_id(id), "{id}");
        }
    }
}
