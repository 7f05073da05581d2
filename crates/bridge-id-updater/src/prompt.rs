//! The interactive questions (inquire, drawn on standard error). Each one is skipped when its
//! flag was given; see [`crate::app`].

use bridge_core::config::{BattleTarget, Mode};
use inquire::{InquireError, Select};

use crate::exit::{Exit, Failure, Own};
use crate::plan::{ModelChoice, PoolWrite};

/// Lines shown at once by the model list.
const MODEL_PAGE_SIZE: usize = 15;

pub const MODE_PROMPT: &str = "Capture a session for which mode?";
pub const TARGET_PROMPT: &str = "Which battle side answers?";
pub const DESTINATION_PROMPT: &str = "Where do the captured ids go?";
pub const MODEL_PROMPT: &str = "Which model's pool?";
pub const POOL_WRITE_PROMPT: &str = "This model already has sessions. Add or replace?";

const MODE_OPTIONS: [&str; 2] = [
    "Direct chat  (one model answers)",
    "Battle       (one side of a battle answers)",
];
const TARGET_OPTIONS: [&str; 2] = ["A  (left)", "B  (right)"];
const DESTINATION_OPTIONS: [&str; 2] = [
    "The global session_id/message_id in config.jsonc (models without a pool use them)",
    "A model's pool in model_endpoint_map.json",
];

/// Direct chat or battle; the cursor starts on `default`.
pub fn ask_mode(default: Mode) -> Result<Mode, Failure> {
    let start = match default {
        Mode::DirectChat => 0,
        Mode::Battle => 1,
    };
    let index = select(
        Select::new(MODE_PROMPT, MODE_OPTIONS.to_vec())
            .with_starting_cursor(start)
            .with_help_message("↑↓ move, enter to choose, esc to quit"),
    )?;
    Ok(if index == 0 {
        Mode::DirectChat
    } else {
        Mode::Battle
    })
}

/// Side A or B; the cursor starts on `default`.
pub fn ask_target(default: BattleTarget) -> Result<BattleTarget, Failure> {
    let start = match default {
        BattleTarget::A => 0,
        BattleTarget::B => 1,
    };
    let index = select(
        Select::new(TARGET_PROMPT, TARGET_OPTIONS.to_vec())
            .with_starting_cursor(start)
            .with_help_message("search models answer only on side A: choose A for them"),
    )?;
    Ok(if index == 0 {
        BattleTarget::A
    } else {
        BattleTarget::B
    })
}

/// True for a model's pool, false for the global ids (the default).
pub fn ask_pool_destination() -> Result<bool, Failure> {
    let index = select(
        Select::new(DESTINATION_PROMPT, DESTINATION_OPTIONS.to_vec())
            .with_help_message("↑↓ move, enter to choose, esc to quit"),
    )?;
    Ok(index == 1)
}

/// One of `choices`, filtered by typing.
pub fn ask_model(choices: &[ModelChoice]) -> Result<ModelChoice, Failure> {
    if choices.is_empty() {
        return Err(Failure::msg(
            Exit::Own(Own::UnknownModel),
            "models.json and model_endpoint_map.json list no models: add models with \
             bridge-model-updater, or choose the global ids",
        ));
    }
    let index = select(
        Select::new(MODEL_PROMPT, choices.to_vec())
            .with_page_size(MODEL_PAGE_SIZE)
            .with_help_message("type to filter, ↑↓ move, enter to choose, esc to quit"),
    )?;
    choices
        .get(index)
        .cloned()
        .ok_or_else(|| Failure::msg(Exit::Other, "the model list returned no choice"))
}

/// Append (the default) or replace a pool of `pool_len` sessions.
pub fn ask_pool_write(pool_len: usize) -> Result<PoolWrite, Failure> {
    let append = format!(
        "Add this session to the pool ({pool_len} → {})",
        pool_len + 1
    );
    let replace = "Replace the pool with this session".to_owned();
    let index = select(
        Select::new(POOL_WRITE_PROMPT, vec![append, replace])
            .with_help_message("requests are spread over the sessions of a pool"),
    )?;
    Ok(if index == 0 {
        PoolWrite::Append
    } else {
        PoolWrite::Replace
    })
}

/// Run a prompt and return the chosen option's index.
fn select<T: std::fmt::Display>(prompt: Select<'_, T>) -> Result<usize, Failure> {
    match prompt.raw_prompt() {
        Ok(option) => Ok(option.index),
        Err(InquireError::OperationCanceled | InquireError::OperationInterrupted) => Err(
            Failure::msg(Exit::Interrupted, "cancelled; nothing was changed"),
        ),
        Err(e) => Err(Failure::msg(
            Exit::Other,
            format!("the prompt failed: {e} (use --yes and flags instead)"),
        )),
    }
}
