//! Writing captured ids: the global ids (with mode and side) into `config.jsonc` through the
//! core CST editor, or a session into a model's pool in `model_endpoint_map.json`. Both writes
//! are atomic; a failed one leaves the file as it was.

use std::path::{Path, PathBuf};

use bridge_core::config::edit::{edit_file, EditError};
use bridge_core::config::{self, keys};
use bridge_core::fsutil::write_atomic;
use bridge_core::models::EndpointMap;

use crate::capture::CapturedIds;
use crate::exit::{Exit, Failure};
use crate::plan::{Destination, Plan, PoolWrite};

/// Added to messages about a config file that cannot be read.
pub const CONFIG_DIR_HINT: &str =
    "fix the file, or pass --config-dir DIR (the folder holding config.jsonc)";

/// Store `ids` where `plan` says; returns the lines telling the user what changed.
pub fn store(dir: &Path, plan: &Plan, ids: &CapturedIds) -> Result<Vec<String>, Failure> {
    match &plan.destination {
        Destination::Global => store_global(dir, plan, ids),
        Destination::Pool { model, write } => store_pool(dir, plan, ids, model, *write),
    }
}

/// The four values change in one atomic edit, so the server never sees new ids with the old
/// mode (it reads `id_updater_last_mode`/`id_updater_battle_target` as the global ids' mode).
fn store_global(dir: &Path, plan: &Plan, ids: &CapturedIds) -> Result<Vec<String>, Failure> {
    let path = config::config_file(dir);
    let edits = [
        (keys::SESSION_ID, ids.session_id.as_str()),
        (keys::MESSAGE_ID, ids.message_id.as_str()),
        (keys::ID_UPDATER_LAST_MODE, plan.mode.as_str()),
        (keys::ID_UPDATER_BATTLE_TARGET, plan.target.as_str()),
    ];
    edit_file(&path, &edits).map_err(|e| edit_failure(&path, e))?;
    Ok(vec![
        format!("Wrote {}:", path.display()),
        format!("  \"{}\": \"{}\"", keys::SESSION_ID, ids.session_id),
        format!("  \"{}\": \"{}\"", keys::MESSAGE_ID, ids.message_id),
        format!("  \"{}\": \"{}\"", keys::ID_UPDATER_LAST_MODE, plan.mode),
        format!(
            "  \"{}\": \"{}\"",
            keys::ID_UPDATER_BATTLE_TARGET,
            plan.target
        ),
    ])
}

fn edit_failure(path: &Path, error: EditError) -> Failure {
    let exit = match &error {
        EditError::Write { .. } => Exit::File,
        EditError::Rejected(_) => Exit::Other,
        EditError::Read { .. }
        | EditError::Syntax { .. }
        | EditError::NotAnObject
        | EditError::Invalid(_) => Exit::Config,
    };
    // Only the top-level message: it already quotes its source.
    Failure::msg(
        exit,
        format!("the ids were not saved to {}: {error}", path.display()),
    )
}

fn store_pool(
    dir: &Path,
    plan: &Plan,
    ids: &CapturedIds,
    model: &str,
    write: PoolWrite,
) -> Result<Vec<String>, Failure> {
    // Read again now: the file may have been edited while the capture was pending.
    let (path, mut map) = read_endpoint_map(dir)?;
    let entry = plan.entry(ids);
    let verb = match write {
        PoolWrite::Append => {
            map.append(model, entry);
            "Added to"
        }
        PoolWrite::Replace => {
            map.set_pool(model, vec![entry]);
            "Replaced"
        }
    };
    write_atomic(&path, map.to_json_pretty().as_bytes()).map_err(|e| {
        Failure::new(
            Exit::File,
            anyhow::Error::new(e).context(format!("the ids were not saved to {}", path.display())),
        )
    })?;
    let size = map.pool(model).map_or(0, <[_]>::len);
    let sessions = if size == 1 { "session" } else { "sessions" };
    Ok(vec![
        format!(
            "{verb} the pool of \"{model}\" in {} (now {size} {sessions}):",
            path.display()
        ),
        format!("  \"session_id\": \"{}\"", ids.session_id),
        format!("  \"message_id\": \"{}\"", ids.message_id),
        format!("  mode: {}", plan.describe_mode()),
    ])
}

/// `model_endpoint_map.json` of `dir`; a missing file is an empty map.
pub fn read_endpoint_map(dir: &Path) -> Result<(PathBuf, EndpointMap), Failure> {
    let path = config::endpoint_map_file(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Failure::msg(
                Exit::Config,
                format!("cannot read {}: {e}", path.display()),
            ))
        }
    };
    let map = EndpointMap::parse(&text, &path)
        .map_err(|e| Failure::msg(Exit::Config, format!("{e}: {CONFIG_DIR_HINT}")))?;
    Ok((path, map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_core::config::{load_config, BattleTarget, Mode};

    const S: &str = "8f1c2a4e-3b5d-4c6e-9f70-1a2b3c4d5e6f";
    const M: &str = "0d9e8f7a-6b5c-4d3e-8a2f-9e8d7c6b5a4f";

    fn ids() -> CapturedIds {
        CapturedIds {
            session_id: S.to_owned(),
            message_id: M.to_owned(),
        }
    }

    fn plan(destination: Destination) -> Plan {
        Plan {
            mode: Mode::Battle,
            target: BattleTarget::B,
            destination,
        }
    }

    #[test]
    fn global_edits_four_values_and_keeps_comments() {
        let dir = tempfile::tempdir().unwrap();
        let text = "{\n  // keep\n  \"session_id\": \"old\", // c\n  \"port\": 5102\n}\n";
        std::fs::write(dir.path().join("config.jsonc"), text).unwrap();
        let lines = store(dir.path(), &plan(Destination::Global), &ids()).unwrap();
        assert!(lines[0].starts_with("Wrote "), "{lines:?}");
        let out = std::fs::read_to_string(dir.path().join("config.jsonc")).unwrap();
        assert!(out.starts_with(&format!(
            "{{\n  // keep\n  \"session_id\": \"{S}\", // c\n  \"port\": 5102"
        )));
        let (c, _) = load_config(&dir.path().join("config.jsonc")).unwrap();
        assert_eq!(c.message_id.as_deref(), Some(M));
        assert_eq!(c.id_updater_last_mode, Mode::Battle);
        assert_eq!(c.id_updater_battle_target, BattleTarget::B);
    }

    #[test]
    fn global_failures_have_exit_codes() {
        let dir = tempfile::tempdir().unwrap();
        let e = store(dir.path(), &plan(Destination::Global), &ids()).unwrap_err();
        assert_eq!(e.exit, Exit::Config, "{e}");
        std::fs::write(dir.path().join("config.jsonc"), "{ \"port\": }").unwrap();
        let e = store(dir.path(), &plan(Destination::Global), &ids()).unwrap_err();
        assert_eq!(e.exit, Exit::Config, "{e}");
        let text = e.to_string();
        assert!(text.contains("config.jsonc:1:"), "{text}");
        // Said once, not once per error in the chain.
        assert_eq!(text.matches("syntax error").count(), 1, "{text}");
    }

    #[test]
    fn pool_append_and_replace() {
        let dir = tempfile::tempdir().unwrap();
        let map_path = dir.path().join("model_endpoint_map.json");
        std::fs::write(
            &map_path,
            r#"{"m": {"session_id": "a", "message_id": "b"}, "other": {"flow": "evaluation"}}"#,
        )
        .unwrap();
        let append = plan(Destination::Pool {
            model: "m".to_owned(),
            write: PoolWrite::Append,
        });
        let lines = store(dir.path(), &append, &ids()).unwrap();
        assert!(lines[0].contains("(now 2 sessions)"), "{lines:?}");
        let text = std::fs::read_to_string(&map_path).unwrap();
        let map = EndpointMap::parse(&text, &map_path).unwrap();
        let pool = map.pool("m").unwrap();
        assert_eq!(pool.len(), 2);
        assert_eq!(pool[0].session_id.as_deref(), Some("a"));
        assert_eq!(pool[1], append.entry(&ids()));
        assert!(map.contains("other"));

        let replace = plan(Destination::Pool {
            model: "m".to_owned(),
            write: PoolWrite::Replace,
        });
        store(dir.path(), &replace, &ids()).unwrap();
        let text = std::fs::read_to_string(&map_path).unwrap();
        let map = EndpointMap::parse(&text, &map_path).unwrap();
        assert_eq!(map.pool("m").unwrap(), [replace.entry(&ids())]);
        assert!(map.contains("other"));
    }

    #[test]
    fn pool_in_a_missing_map_creates_it_and_broken_map_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = plan(Destination::Pool {
            model: "new".to_owned(),
            write: PoolWrite::Append,
        });
        store(dir.path(), &p, &ids()).unwrap();
        let (_, map) = read_endpoint_map(dir.path()).unwrap();
        assert_eq!(map.pool("new").unwrap().len(), 1);

        let map_path = dir.path().join("model_endpoint_map.json");
        std::fs::write(&map_path, "{\"m\": 1}").unwrap();
        let e = store(dir.path(), &p, &ids()).unwrap_err();
        assert_eq!(e.exit, Exit::Config);
        assert_eq!(std::fs::read_to_string(&map_path).unwrap(), "{\"m\": 1}");
    }
}
