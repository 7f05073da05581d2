//! The `evaluation` flow (UPSTREAM.md §3, as of §7): request builders and the history mapping.
//!
//! LMArena keeps the conversation on its side: a new conversation is started with
//! `POST create-evaluation`, a follow-up is `POST post-to-evaluation/{id}`, a regeneration is
//! `PUT retry-evaluation-session-message/{id}/messages/{message}`, and generation is stopped
//! with `POST stop/{id}/messages/{message}`. An OpenAI request is stateless, so this module
//! decides how to send one:
//!
//! - [`EvaluationHistory::plan`] recognises a request that continues an evaluation this server
//!   created (its messages are exactly that evaluation's turns, as sent and answered, plus one
//!   new user message, for the same model) → [`Plan::Continue`]; anything else →
//!   [`Plan::Fresh`] with the earlier turns folded into one user message by [`fold_messages`].
//! - [`EvaluationTarget::resolve`] decides whom a conversation asks (one chosen model in
//!   `direct-battle` mode, or an anonymous `battle`) and which side answers; [`build_create`],
//!   [`build_post`], [`build_regenerate`] and [`build_stop`] turn that into the upstream
//!   request. The reCAPTCHA token is not in the body: the tab mints it and inserts it into the
//!   field the returned [`RecaptchaSpec`](crate::protocol::RecaptchaSpec) names.
//!
//! Submodules: `build` (targets and request builders), `fold` (history → one user message),
//! `history` (which conversations this server created).
//!
//! # Transcript folding format
//!
//! [`fold_messages`] reuses the retry flow's message conversion (roles, content parts →
//! text + attachments, blank user text, tavern merge), then writes blocks separated by a blank
//! line, each present only when it has something in it:
//!
//! 1. `<system>` … `</system>`: the system messages before the first other message (with
//!    tavern mode: all system messages), their texts joined by a blank line.
//! 2. `<conversation>` … `</conversation>`: every earlier turn, in order, each as
//!    `<user>`/`<assistant>`/`<system>`/`<tool>`/`<function>` … `</…>` on its own lines.
//! 3. The final user message's text, as is (not wrapped).
//! 4. A trailing assistant message (prefill) as `<answer_start>` … `</answer_start>`, then the
//!    line [`transcript::CONTINUE_INSTRUCTION`].
//!
//! Attachments of every turn are carried as `experimental_attachments` (the same URL once);
//! inside blocks 1, 2 and 4 a turn's attachments are marked `[attachment N: name]`, N being the
//! 1-based position in `experimental_attachments`. A lone user message is sent as is; a system
//! prompt plus one user message is block 1 and the user text.
//!
//! ```text
//! <system>
//! You are terse.
//! </system>
//!
//! <conversation>
//! <user>
//! Hi
//! </user>
//! <assistant>
//! Hello!
//! </assistant>
//! </conversation>
//!
//! What is 2+2?
//!
//! <answer_start>
//! The answer is
//! </answer_start>
//!
//! Your answer has already begun with the text inside <answer_start>. Continue it from exactly where that text ends, without repeating it.
//! ```

mod build;
mod fold;
mod history;

use uuid::Uuid;

use super::retry::{Attachment, ParticipantPosition, RETRY_ACCEPT, RETRY_CONTENT_TYPE};
use crate::config::{BattleTarget, Mode};
use crate::models::ModelKind;

pub use super::retry::IdSource;
pub use build::{
    build_create, build_post, build_regenerate, build_stop, Contest, EvaluationRequest,
    EvaluationTarget,
};
pub use fold::{fold_messages, FoldOptions};
pub use history::{EvaluationHistory, KnownEvaluation, Plan};

/// Starts a new evaluation.
pub const CREATE_PATH: &str = "/nextjs-api/stream/create-evaluation";
/// Followed by the evaluation id: a new user message in an existing evaluation.
pub const POST_PATH_PREFIX: &str = "/nextjs-api/stream/post-to-evaluation/";
/// Followed by `{evaluation_id}/messages/{message_id}`: regenerate one answer.
pub const REGENERATE_PATH_PREFIX: &str = "/nextjs-api/stream/retry-evaluation-session-message/";
/// Followed by `{evaluation_id}/messages/{message_id}`: stop generating that answer upstream
/// (aborting the fetch alone does not, UPSTREAM.md §7).
pub const STOP_PATH_PREFIX: &str = "/nextjs-api/stream/stop/";
/// Path segment between the evaluation id and the message id (regenerate, stop).
pub const PATH_MESSAGES: &str = "/messages/";
/// Former name of [`PATH_MESSAGES`].
pub const REGENERATE_PATH_MESSAGES: &str = PATH_MESSAGES;
pub const CREATE_METHOD: &str = "POST";
pub const POST_METHOD: &str = "POST";
pub const REGENERATE_METHOD: &str = "PUT";
pub const STOP_METHOD: &str = "POST";
/// Same headers as the retry flow: the page sends its JSON as `text/plain`.
pub const CONTENT_TYPE: &str = RETRY_CONTENT_TYPE;
pub const ACCEPT: &str = RETRY_ACCEPT;
/// Body of a regeneration before the tab adds its `chat_retry` token (§7: the site sends
/// only the token).
pub const REGENERATE_BODY: &str = "{}";
/// Body of the stop call. *Unconfirmed* (§7 names the path only): sent empty.
pub const STOP_BODY: &str = "";
/// Values of `mode`. `direct` is refused on create since 2026-07 (§7): only the fake LMArena
/// and tests name it.
pub const MODE_DIRECT: &str = "direct";
pub const MODE_DIRECT_BATTLE: &str = "direct-battle";
pub const MODE_BATTLE: &str = "battle";
/// Values of `modality`.
pub const MODALITY_CHAT: &str = "chat";
pub const MODALITY_IMAGE: &str = "image";
pub const MODALITY_SEARCH: &str = "search";
/// How many conversations [`EvaluationHistory`] remembers unless configured otherwise.
pub const DEFAULT_HISTORY_CAPACITY: usize = 512;

/// Whether a follow-up (`post-to-evaluation`) body keeps the evaluation `id`.
///
/// UPSTREAM.md §7: the gateway README (2026-09-17) describes the follow-up as "the create body
/// without `mode`", i.e. with `id`; a traffic capture (2026-07-11) shows it "without `id`"
/// (*unconfirmed*). We follow the README. This constant is the one place that choice lives.
pub const FOLLOW_UP_SENDS_ID: bool = true;

/// Field names of the create and post bodies.
pub mod fields {
    pub const ID: &str = "id";
    pub const MODE: &str = "mode";
    pub const MODEL_A_ID: &str = "modelAId";
    pub const USER_MESSAGE_ID: &str = "userMessageId";
    pub const MODEL_A_MESSAGE_ID: &str = "modelAMessageId";
    pub const MODEL_B_MESSAGE_ID: &str = "modelBMessageId";
    pub const USER_MESSAGE: &str = "userMessage";
    pub const CONTENT: &str = "content";
    pub const EXPERIMENTAL_ATTACHMENTS: &str = "experimental_attachments";
    pub const METADATA: &str = "metadata";
    pub const MODALITY: &str = "modality";
}

/// The words of the folded transcript (see the module docs).
pub mod transcript {
    /// Between blocks.
    pub const BLOCK_SEPARATOR: &str = "\n\n";
    pub const SYSTEM_TAG: &str = "system";
    pub const CONVERSATION_TAG: &str = "conversation";
    pub const USER_TAG: &str = "user";
    pub const ASSISTANT_TAG: &str = "assistant";
    pub const TOOL_TAG: &str = "tool";
    pub const FUNCTION_TAG: &str = "function";
    pub const ANSWER_START_TAG: &str = "answer_start";
    /// Follows the `<answer_start>` block of a prefill.
    pub const CONTINUE_INSTRUCTION: &str = "Your answer has already begun with the text inside \
        <answer_start>. Continue it from exactly where that text ends, without repeating it.";
    /// Marker of an attachment inside a block: `[attachment 1: image.png]`.
    pub const ATTACHMENT_LABEL: &str = "attachment";
}

/// Fresh UUIDv7 ids, as the page generates them for evaluations and messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct V7Ids;

impl IdSource for V7Ids {
    fn next_id(&mut self) -> Uuid {
        Uuid::now_v7()
    }
}

/// `modality` for a model kind: image and search models have their own, everything else chats.
pub fn modality(kind: &ModelKind) -> &'static str {
    match kind {
        ModelKind::Image => MODALITY_IMAGE,
        ModelKind::Search => MODALITY_SEARCH,
        ModelKind::Text | ModelKind::Other(_) => MODALITY_CHAT,
    }
}

/// Which side's answer the client gets: `a` in a direct chat, the target side in a battle.
pub fn answer_side(mode: Mode, target: BattleTarget) -> ParticipantPosition {
    match mode {
        Mode::DirectChat => ParticipantPosition::A,
        Mode::Battle => target.into(),
    }
}

/// The one user message sent upstream: a folded transcript, or a new user turn as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldedPrompt {
    pub content: String,
    pub attachments: Vec<Attachment>,
}
