//! The enums `config.jsonc` spells as strings (`Mode`, `BattleTarget`, `UpstreamFlow`,
//! `ReasoningOutput`, `EvaluationCleanup`), with their spellings and parse errors.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How captured sessions are used upstream: a direct chat or one side of a battle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    DirectChat,
    Battle,
}

/// Which side of a battle answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BattleTarget {
    #[default]
    A,
    B,
}

/// Which LMArena API the server talks to (UPSTREAM.md §2, §3 and §7).
///
/// `evaluation` is the default: today's site ignores the history the `retry` flow sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamFlow {
    Retry,
    #[default]
    Evaluation,
}

/// The warning a config naming `"upstream_flow": "retry"` gets (logged, shown on /status).
pub const RETRY_FLOW_WARNING: &str = "the legacy retry flow only regenerates the captured \
    answer: today's LMArena rebuilds it from that conversation's own history and ignores the \
    history your client sends (UPSTREAM.md §7). Remove the key or set \"evaluation\" to chat \
    with the history you send.";

/// How reasoning deltas reach the OpenAI client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningOutput {
    /// `delta.reasoning_content` (DeepSeek style).
    #[default]
    ReasoningContent,
    /// `<think>…</think>` around the reasoning, inside `content`.
    ThinkTags,
    /// Dropped.
    Omit,
}

/// What happens to the conversations the `evaluation` flow creates in the person's LMArena
/// history (UPSTREAM.md §7 "Stop and clean-up").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationCleanup {
    /// They stay (and can be continued while remembered).
    #[default]
    Keep,
    /// Deleted once the answer is complete; such a conversation is never continued.
    DeleteAfterAnswer,
    /// Deleted when it leaves the continuation memory (`evaluation_history_size`).
    DeleteOnEvict,
}

/// A string that is not one of an enum's spellings in the config files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not one of {expected}")]
pub struct UnknownValue {
    pub value: String,
    /// The accepted spellings, for the message.
    pub expected: &'static str,
}

impl Mode {
    pub const DIRECT_CHAT: &'static str = "direct_chat";
    pub const BATTLE: &'static str = "battle";

    /// The spelling used in the config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::DirectChat => Self::DIRECT_CHAT,
            Mode::Battle => Self::BATTLE,
        }
    }
}

impl FromStr for Mode {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case(Self::DIRECT_CHAT) {
            Ok(Mode::DirectChat)
        } else if t.eq_ignore_ascii_case(Self::BATTLE) {
            Ok(Mode::Battle)
        } else {
            Err(unknown(s, Self::EXPECTED))
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl BattleTarget {
    /// The spelling used in the config files (upper case, as the original wrote it).
    pub fn as_str(self) -> &'static str {
        match self {
            BattleTarget::A => "A",
            BattleTarget::B => "B",
        }
    }
}

impl FromStr for BattleTarget {
    type Err = UnknownValue;
    /// `A`/`B`, either case (some forks of the original wrote `a`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "A" | "a" => Ok(BattleTarget::A),
            "B" | "b" => Ok(BattleTarget::B),
            _ => Err(unknown(s, Self::EXPECTED)),
        }
    }
}

impl fmt::Display for BattleTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl UpstreamFlow {
    pub const RETRY: &'static str = "retry";
    pub const EVALUATION: &'static str = "evaluation";

    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamFlow::Retry => Self::RETRY,
            UpstreamFlow::Evaluation => Self::EVALUATION,
        }
    }
}

impl FromStr for UpstreamFlow {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case(Self::RETRY) {
            Ok(UpstreamFlow::Retry)
        } else if t.eq_ignore_ascii_case(Self::EVALUATION) {
            Ok(UpstreamFlow::Evaluation)
        } else {
            Err(unknown(s, Self::EXPECTED))
        }
    }
}

impl fmt::Display for UpstreamFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ReasoningOutput {
    pub const REASONING_CONTENT: &'static str = "reasoning_content";
    pub const THINK_TAGS: &'static str = "think_tags";
    pub const OMIT: &'static str = "omit";

    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningOutput::ReasoningContent => Self::REASONING_CONTENT,
            ReasoningOutput::ThinkTags => Self::THINK_TAGS,
            ReasoningOutput::Omit => Self::OMIT,
        }
    }
}

impl FromStr for ReasoningOutput {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        [
            ReasoningOutput::ReasoningContent,
            ReasoningOutput::ThinkTags,
            ReasoningOutput::Omit,
        ]
        .into_iter()
        .find(|v| t.eq_ignore_ascii_case(v.as_str()))
        .ok_or_else(|| unknown(s, Self::EXPECTED))
    }
}

impl fmt::Display for ReasoningOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EvaluationCleanup {
    pub const KEEP: &'static str = "keep";
    pub const DELETE_AFTER_ANSWER: &'static str = "delete_after_answer";
    pub const DELETE_ON_EVICT: &'static str = "delete_on_evict";

    pub fn as_str(self) -> &'static str {
        match self {
            EvaluationCleanup::Keep => Self::KEEP,
            EvaluationCleanup::DeleteAfterAnswer => Self::DELETE_AFTER_ANSWER,
            EvaluationCleanup::DeleteOnEvict => Self::DELETE_ON_EVICT,
        }
    }
}

impl FromStr for EvaluationCleanup {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        [
            EvaluationCleanup::Keep,
            EvaluationCleanup::DeleteAfterAnswer,
            EvaluationCleanup::DeleteOnEvict,
        ]
        .into_iter()
        .find(|v| t.eq_ignore_ascii_case(v.as_str()))
        .ok_or_else(|| unknown(s, Self::EXPECTED))
    }
}

impl fmt::Display for EvaluationCleanup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Enums written as strings in the config files.
pub(super) trait Spelled: FromStr<Err = UnknownValue> {
    /// The accepted spellings, for messages.
    const EXPECTED: &'static str;
}

impl Spelled for Mode {
    const EXPECTED: &'static str = "\"direct_chat\" or \"battle\"";
}

impl Spelled for BattleTarget {
    const EXPECTED: &'static str = "\"A\" or \"B\"";
}

impl Spelled for UpstreamFlow {
    const EXPECTED: &'static str = "\"retry\" or \"evaluation\"";
}

impl Spelled for ReasoningOutput {
    const EXPECTED: &'static str = "\"reasoning_content\", \"think_tags\" or \"omit\"";
}

impl Spelled for EvaluationCleanup {
    const EXPECTED: &'static str = "\"keep\", \"delete_after_answer\" or \"delete_on_evict\"";
}

fn unknown(value: &str, expected: &'static str) -> UnknownValue {
    UnknownValue {
        value: value.to_owned(),
        expected,
    }
}
