//! What a run will do (mode, battle side, destination of the ids), the models a pool can belong
//! to, and the pure rules that fill in what neither a flag nor a prompt said.

use bridge_core::config::{BattleTarget, Mode};
use bridge_core::models::{EndpointMap, ModelKind, Models, SessionEntry};

use crate::capture::CapturedIds;
use crate::exit::{Exit, Failure, Own};

/// Lowest similarity at which an unknown `--model` gets a "did you mean".
const SUGGESTION_THRESHOLD: f64 = 0.8;

/// Where captured ids go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `session_id`/`message_id` of `config.jsonc`, used by every model without a pool.
    Global,
    /// The pool of one model in `model_endpoint_map.json`.
    Pool { model: String, write: PoolWrite },
}

/// How a session joins a model's pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolWrite {
    /// Add it to the sessions already there.
    #[default]
    Append,
    /// Make it the only one.
    Replace,
}

/// Everything decided before the capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub mode: Mode,
    /// Kept for direct chat too: it is the default side next time.
    pub target: BattleTarget,
    pub destination: Destination,
}

impl Plan {
    /// The pool entry for captured `ids`: it carries its own mode (and side, in battle), so it
    /// does not depend on the global `id_updater_last_mode` of `config.jsonc`.
    pub fn entry(&self, ids: &CapturedIds) -> SessionEntry {
        SessionEntry {
            mode: Some(self.mode),
            battle_target: (self.mode == Mode::Battle).then_some(self.target),
            ..SessionEntry::new(ids.session_id.clone(), ids.message_id.clone())
        }
    }

    /// "direct chat" or "battle, side B", for messages.
    pub fn describe_mode(&self) -> String {
        match self.mode {
            Mode::DirectChat => "direct chat".to_owned(),
            Mode::Battle => format!("battle, side {}", self.target),
        }
    }
}

/// A model whose pool can receive the ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChoice {
    pub name: String,
    /// Sessions in its pool now.
    pub pool_len: usize,
    /// A `:search` model of `models.json` (these answer only on battle side A).
    pub search: bool,
}

impl std::fmt::Display for ModelChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if self.search {
            f.write_str(" [search]")?;
        }
        match self.pool_len {
            0 => Ok(()),
            1 => f.write_str("  (pool: 1 session)"),
            n => write!(f, "  (pool: {n} sessions)"),
        }
    }
}

/// The models of `models.json` in file order, then those only in `model_endpoint_map.json`
/// (the server accepts both: a map-only model runs on its captured session's own model).
pub fn model_choices(models: &Models, map: &EndpointMap) -> Vec<ModelChoice> {
    let pool_len = |name: &str| map.pool(name).map_or(0, <[SessionEntry]>::len);
    let mut out: Vec<ModelChoice> = models
        .iter()
        .map(|m| ModelChoice {
            name: m.public_name.clone(),
            pool_len: pool_len(&m.public_name),
            search: m.kind == ModelKind::Search,
        })
        .collect();
    for name in map.model_names() {
        if !models.contains(name) {
            out.push(ModelChoice {
                name: name.to_owned(),
                pool_len: pool_len(name),
                search: false,
            });
        }
    }
    out
}

/// The choice named `name` (exact), or an [`Own::UnknownModel`] failure with a suggestion.
pub fn find_model<'a>(choices: &'a [ModelChoice], name: &str) -> Result<&'a ModelChoice, Failure> {
    if let Some(found) = choices.iter().find(|c| c.name == name) {
        return Ok(found);
    }
    let closest = choices
        .iter()
        .map(|c| (strsim::jaro_winkler(&c.name, name), &c.name))
        .filter(|(score, _)| *score >= SUGGESTION_THRESHOLD)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let hint = match closest {
        Some((_, close)) => format!("did you mean `{close}`?"),
        None => "check the name, or add the model with bridge-model-updater".to_owned(),
    };
    Err(Failure::msg(
        Exit::Own(Own::UnknownModel),
        format!("model `{name}` is in neither models.json nor model_endpoint_map.json: {hint}"),
    ))
}

/// A warning when a battle capture for a search model is on side B, where search models do
/// not answer.
pub fn search_side_warning(plan: &Plan, choice: &ModelChoice) -> Option<String> {
    (choice.search && plan.mode == Mode::Battle && plan.target == BattleTarget::B).then(|| {
        format!(
            "`{}` is a search model; search models answer only on battle side A",
            choice.name
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn ids() -> CapturedIds {
        CapturedIds {
            session_id: "s".to_owned(),
            message_id: "m".to_owned(),
        }
    }

    #[test]
    fn entry_carries_mode_and_side_in_battle_only() {
        let mut plan = Plan {
            mode: Mode::Battle,
            target: BattleTarget::B,
            destination: Destination::Global,
        };
        let e = plan.entry(&ids());
        assert_eq!(e.session_id.as_deref(), Some("s"));
        assert_eq!(e.message_id.as_deref(), Some("m"));
        assert_eq!(e.mode, Some(Mode::Battle));
        assert_eq!(e.battle_target, Some(BattleTarget::B));
        assert_eq!(plan.describe_mode(), "battle, side B");
        plan.mode = Mode::DirectChat;
        let e = plan.entry(&ids());
        assert_eq!(e.mode, Some(Mode::DirectChat));
        assert_eq!(e.battle_target, None);
        assert_eq!(e.flow, None);
        assert_eq!(plan.describe_mode(), "direct chat");
    }

    fn choices() -> Vec<ModelChoice> {
        let models = Models::parse(
            r#"{"gpt-5": "u1", "web-search": "u2:search", "pic": "null:image"}"#,
            Path::new("models.json"),
        )
        .unwrap();
        let map = EndpointMap::parse(
            r#"{"web-search": [{"session_id": "a", "message_id": "b"}, {"session_id": "c", "message_id": "d"}],
                "anon-battle": {"session_id": "e", "message_id": "f"}}"#,
            Path::new("map.json"),
        )
        .unwrap();
        model_choices(&models, &map)
    }

    #[test]
    fn choices_list_models_then_map_only_names() {
        let c = choices();
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["gpt-5", "web-search", "pic", "anon-battle"]);
        assert_eq!(c[1].pool_len, 2);
        assert!(c[1].search && !c[0].search);
        assert_eq!(c[1].to_string(), "web-search [search]  (pool: 2 sessions)");
        assert_eq!(c[3].to_string(), "anon-battle  (pool: 1 session)");
        assert_eq!(c[0].to_string(), "gpt-5");
    }

    #[test]
    fn unknown_model_suggests_close_names() {
        let c = choices();
        assert_eq!(find_model(&c, "anon-battle").unwrap().pool_len, 1);
        let e = find_model(&c, "gpt5").unwrap_err();
        assert_eq!(e.exit, Exit::Own(Own::UnknownModel));
        assert!(e.to_string().contains("did you mean `gpt-5`?"), "{e}");
        let e = find_model(&c, "zzzzzz").unwrap_err();
        assert!(e.to_string().contains("bridge-model-updater"), "{e}");
    }

    #[test]
    fn search_models_on_side_b_are_flagged() {
        let c = choices();
        let mut plan = Plan {
            mode: Mode::Battle,
            target: BattleTarget::B,
            destination: Destination::Global,
        };
        assert!(search_side_warning(&plan, &c[1]).is_some());
        assert!(search_side_warning(&plan, &c[0]).is_none());
        plan.target = BattleTarget::A;
        assert!(search_side_warning(&plan, &c[1]).is_none());
    }
}
