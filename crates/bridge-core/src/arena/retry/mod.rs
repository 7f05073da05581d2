//! Builder for the `retry` flow (UPSTREAM.md §2).
//!
//! Turns an OpenAI chat request into the complete upstream request that re-generates a captured
//! assistant message: `PUT /nextjs-api/stream/retry-evaluation-session-message/{session}/messages/{message}`
//! with the whole history rebuilt as LMArena messages. Pure: ids and clock are injected.
//!
//! [`build_messages`] is steps 1–7 (roles, content and attachments, empty user text, tavern
//! merge, `--bypass` image trick, bypass mode, participant positions) and is meant for reuse by
//! other flows; [`build_retry_request`] adds ids, the parent chain, timestamps, statuses and
//! `modelId` (step 8). The tab adds a `chat_retry` reCAPTCHA token ([`recaptcha_spec`]).
//!
//! Today's site (UPSTREAM.md §7) ignores the history sent this way: it regenerates the captured
//! answer from that conversation's own history. The flow stays as an opt-in legacy.

use std::collections::BTreeMap;

use serde::Serialize;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

mod attachments;

use self::attachments::convert_content;
use super::recaptcha::{v3_spec, TokenAction};
use super::UpstreamRequest;
use crate::config::{BattleTarget, Config, Mode};
use crate::models::{ModelKind, ResolvedModel, SessionPick};
use crate::openai::{ChatCompletionRequest, ChatMessage, Role};
use crate::protocol::RecaptchaSpec;

/// Path prefix of the retry endpoint (before 2025-08-27 it was `/api/stream/`).
pub const RETRY_PATH_PREFIX: &str = "/nextjs-api/stream/retry-evaluation-session-message/";
/// Path segment between the session id and the message id.
pub const RETRY_PATH_MESSAGES: &str = "/messages/";
pub const RETRY_METHOD: &str = "PUT";
pub const HEADER_CONTENT_TYPE: &str = "Content-Type";
pub const HEADER_ACCEPT: &str = "Accept";
/// The page sends its JSON body as `text/plain`, so we do too.
pub const RETRY_CONTENT_TYPE: &str = "text/plain;charset=UTF-8";
pub const RETRY_ACCEPT: &str = "*/*";
/// Message status of history turns.
pub const STATUS_SUCCESS: &str = "success";
/// Message status of the turn the model answers (text models only).
pub const STATUS_PENDING: &str = "pending";
/// Marker at the end of the last user message that triggers the image trick (step 5).
pub const BYPASS_SUFFIX: &str = "--bypass";
/// User message put first when the image trick leaves the history starting with the assistant.
pub const BYPASS_GREETING: &str = "Hi";
/// What an empty user message, and the bypass-mode filler message, is sent as.
pub const BLANK_USER_TEXT: &str = " ";
/// Separator between text parts, and between merged system messages.
pub const TEXT_JOINER: &str = "\n\n";
/// Content type of an attachment whose type cannot be determined.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Everything besides the OpenAI request that decides the upstream request.
#[derive(Debug, Clone, Copy)]
pub struct RetryContext<'a> {
    /// `tavern_mode_enabled`, `bypass_enabled`.
    pub config: &'a Config,
    /// `model_id` (`None` → `modelId: null`), `kind` (image models have other rules).
    pub model: &'a ResolvedModel,
    /// The captured ids to retry, with their mode and battle side.
    pub session: &'a SessionPick,
}

/// Source of message ids, injectable so tests are deterministic.
pub trait IdSource {
    fn next_id(&mut self) -> Uuid;
}

impl<F: FnMut() -> Uuid> IdSource for F {
    fn next_id(&mut self) -> Uuid {
        self()
    }
}

/// Random UUIDv4 ids, as the LMArena page itself uses for retry messages.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn next_id(&mut self) -> Uuid {
        Uuid::new_v4()
    }
}

/// A request that cannot be sent upstream; the server answers 400 with `param`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct BuildError {
    pub message: String,
    /// The offending field, e.g. `messages[2].content[1]`.
    pub param: Option<String>,
}

impl BuildError {
    fn new(message: impl Into<String>, param: Option<String>) -> Self {
        Self {
            message: message.into(),
            param,
        }
    }
}

/// Role of an upstream message. `developer` has already become `system` (step 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ArenaRole {
    System,
    User,
    Assistant,
    /// Passed through as the client sent it, like the original did.
    Tool,
    Function,
}

impl From<Role> for ArenaRole {
    fn from(role: Role) -> Self {
        match role {
            Role::System | Role::Developer => ArenaRole::System,
            Role::User => ArenaRole::User,
            Role::Assistant => ArenaRole::Assistant,
            Role::Tool => ArenaRole::Tool,
            Role::Function => ArenaRole::Function,
        }
    }
}

/// Which side of the evaluation a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParticipantPosition {
    A,
    B,
}

impl From<BattleTarget> for ParticipantPosition {
    fn from(target: BattleTarget) -> Self {
        match target {
            BattleTarget::A => ParticipantPosition::A,
            BattleTarget::B => ParticipantPosition::B,
        }
    }
}

/// One `experimental_attachments` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub name: String,
    #[serde(rename = "contentType")]
    pub content_type: String,
    /// A `data:` URI or an http(s) URL.
    pub url: String,
}

impl Attachment {
    fn is_image(&self) -> bool {
        self.content_type.starts_with("image/")
    }
}

/// One upstream message before ids, times and statuses are assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArenaMessage {
    pub role: ArenaRole,
    pub content: String,
    pub attachments: Vec<Attachment>,
    pub participant_position: ParticipantPosition,
}

/// The switches of [`build_messages`], independent of how the flow sends the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageOptions {
    /// Step 4: merge all system messages into one, first.
    pub tavern_mode: bool,
    /// Step 6: append a blank user message (ignored for image models).
    pub bypass_mode: bool,
    pub image_model: bool,
    pub mode: Mode,
    pub battle_target: BattleTarget,
    /// Step 5 only strips the `--bypass` suffix and keeps the images on the user message
    /// (for flows with no assistant turn to hide them on, such as `evaluation`).
    pub keep_bypass_images: bool,
}

impl MessageOptions {
    pub fn from_context(ctx: &RetryContext<'_>) -> Self {
        Self {
            tavern_mode: ctx.config.tavern_mode_enabled,
            bypass_mode: ctx.config.bypass_enabled,
            image_model: ctx.model.kind == ModelKind::Image,
            mode: ctx.session.mode,
            battle_target: ctx.session.battle_target,
            keep_bypass_images: false,
        }
    }
}

/// Steps 1–7 of UPSTREAM.md §2: the upstream message list for an OpenAI history.
pub fn build_messages(
    messages: &[ChatMessage],
    opts: &MessageOptions,
) -> Result<Vec<ArenaMessage>, BuildError> {
    // Steps 1–3, message by message, so errors can name the client's own indices.
    let mut drafts = messages
        .iter()
        .enumerate()
        .map(|(i, message)| {
            let role = ArenaRole::from(message.role);
            let (mut content, attachments) = convert_content(&message.content, i)?;
            if role == ArenaRole::User && content.trim().is_empty() {
                content = BLANK_USER_TEXT.to_owned();
            }
            Ok(Draft {
                role,
                content,
                attachments,
            })
        })
        .collect::<Result<Vec<_>, BuildError>>()?;

    if opts.tavern_mode {
        drafts = merge_system_messages(drafts);
    }
    apply_bypass_trick(&mut drafts, opts.keep_bypass_images);
    if opts.bypass_mode && !opts.image_model {
        drafts.push(Draft::text(ArenaRole::User, BLANK_USER_TEXT));
    }
    if drafts.is_empty() {
        return Err(BuildError::new(
            "Nothing to send: every message is an empty system message.",
            Some("messages".to_owned()),
        ));
    }

    // Step 7.
    Ok(drafts
        .into_iter()
        .map(|d| {
            let participant_position = match opts.mode {
                Mode::DirectChat if d.role == ArenaRole::System => ParticipantPosition::B,
                Mode::DirectChat => ParticipantPosition::A,
                Mode::Battle => opts.battle_target.into(),
            };
            ArenaMessage {
                role: d.role,
                content: d.content,
                attachments: d.attachments,
                participant_position,
            }
        })
        .collect())
}

/// The token instruction that goes with a retry PUT: a v3 token minted with action
/// `chat_retry` in body field `recaptchaV3Token` (UPSTREAM.md §7).
pub fn recaptcha_spec(config: &Config) -> RecaptchaSpec {
    v3_spec(TokenAction::Retry, &config.recaptcha_site_key)
}

/// The whole upstream request of the retry flow (UPSTREAM.md §2, steps 1–8).
pub fn build_retry_request(
    req: &ChatCompletionRequest,
    ctx: &RetryContext<'_>,
    ids: &mut dyn IdSource,
    now: OffsetDateTime,
) -> Result<UpstreamRequest, BuildError> {
    let session_id = checked_id(&ctx.session.session_id, "session_id")?;
    let message_id = checked_id(&ctx.session.message_id, "message_id")?;
    let opts = MessageOptions::from_context(ctx);
    let messages = build_messages(&req.messages, &opts)?;
    let timestamp = iso_timestamp(now)?;

    let last = messages.len().saturating_sub(1);
    let mut parent: Option<String> = None;
    let mut wire = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        let id = ids.next_id().to_string();
        let status = if opts.image_model || i < last {
            STATUS_SUCCESS
        } else {
            STATUS_PENDING
        };
        wire.push(WireMessage {
            role: message.role,
            content: &message.content,
            id: id.clone(),
            evaluation_id: None,
            evaluation_session_id: session_id,
            parent_message_ids: parent.take().into_iter().collect(),
            experimental_attachments: &message.attachments,
            failure_reason: None,
            metadata: None,
            participant_position: message.participant_position,
            created_at: &timestamp,
            updated_at: &timestamp,
            status,
        });
        parent = Some(id);
    }

    let body = serde_json::to_string(&WireBody {
        messages: wire,
        model_id: ctx.model.model_id.as_deref(),
    })
    .map_err(|e| BuildError::new(format!("could not encode the upstream body: {e}"), None))?;

    let headers = BTreeMap::from([
        (
            HEADER_CONTENT_TYPE.to_owned(),
            RETRY_CONTENT_TYPE.to_owned(),
        ),
        (HEADER_ACCEPT.to_owned(), RETRY_ACCEPT.to_owned()),
    ]);
    Ok(UpstreamRequest {
        path: format!("{RETRY_PATH_PREFIX}{session_id}{RETRY_PATH_MESSAGES}{message_id}"),
        method: RETRY_METHOD.to_owned(),
        headers,
        body,
    })
}

/// Formats `now` the way the page does (`Date.toISOString()`): UTC with milliseconds.
pub fn iso_timestamp(now: OffsetDateTime) -> Result<String, BuildError> {
    now.to_offset(UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .map_err(|e| BuildError::new(format!("could not format the timestamp: {e}"), None))
}

#[derive(Serialize)]
struct WireBody<'a> {
    messages: Vec<WireMessage<'a>>,
    #[serde(rename = "modelId")]
    model_id: Option<&'a str>,
}

/// One upstream message with exactly the fields of UPSTREAM.md §2, in the page's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireMessage<'a> {
    role: ArenaRole,
    content: &'a str,
    id: String,
    evaluation_id: Option<&'a str>,
    evaluation_session_id: &'a str,
    parent_message_ids: Vec<String>,
    #[serde(rename = "experimental_attachments")]
    experimental_attachments: &'a [Attachment],
    failure_reason: Option<&'a str>,
    metadata: Option<&'a str>,
    participant_position: ParticipantPosition,
    created_at: &'a str,
    updated_at: &'a str,
    status: &'static str,
}

/// The ids go into a path the tab fetches, so only id characters are allowed.
fn checked_id<'a>(id: &'a str, key: &str) -> Result<&'a str, BuildError> {
    let ok = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(id)
    } else {
        Err(BuildError::new(
            format!(
                "The captured {key} {id:?} is not a valid LMArena id (letters, digits, '-' and '_' \
                 only); run bridge-id-updater to capture new ids."
            ),
            None,
        ))
    }
}

struct Draft {
    role: ArenaRole,
    content: String,
    attachments: Vec<Attachment>,
}

impl Draft {
    fn text(role: ArenaRole, content: &str) -> Self {
        Self {
            role,
            content: content.to_owned(),
            attachments: Vec::new(),
        }
    }
}

/// Step 4: non-empty system contents joined into one system message, placed first.
fn merge_system_messages(drafts: Vec<Draft>) -> Vec<Draft> {
    let mut texts = Vec::new();
    let mut attachments = Vec::new();
    let mut rest = Vec::with_capacity(drafts.len());
    for draft in drafts {
        if draft.role == ArenaRole::System {
            if !draft.content.trim().is_empty() {
                texts.push(draft.content);
            }
            attachments.extend(draft.attachments);
        } else {
            rest.push(draft);
        }
    }
    if texts.is_empty() && attachments.is_empty() {
        return rest;
    }
    let mut merged = Vec::with_capacity(rest.len() + 1);
    merged.push(Draft {
        role: ArenaRole::System,
        content: texts.join(TEXT_JOINER),
        attachments,
    });
    merged.extend(rest);
    merged
}

/// Step 5: `… --bypass` on a last user message with an image moves its attachments onto an
/// empty assistant message just before it.
fn apply_bypass_trick(drafts: &mut Vec<Draft>, keep_images: bool) {
    let Some(last) = drafts.last_mut() else {
        return;
    };
    if last.role != ArenaRole::User || !last.attachments.iter().any(Attachment::is_image) {
        return;
    }
    let Some(kept) = last.content.trim_end().strip_suffix(BYPASS_SUFFIX) else {
        return;
    };
    let kept = kept.trim_end();
    last.content = if kept.trim().is_empty() {
        BLANK_USER_TEXT.to_owned()
    } else {
        kept.to_owned()
    };
    if keep_images {
        return;
    }
    let attachments = std::mem::take(&mut last.attachments);
    let at = drafts.len() - 1;
    drafts.insert(
        at,
        Draft {
            role: ArenaRole::Assistant,
            content: String::new(),
            attachments,
        },
    );
    if drafts
        .first()
        .is_some_and(|d| d.role == ArenaRole::Assistant)
    {
        drafts.insert(0, Draft::text(ArenaRole::User, BYPASS_GREETING));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_ids_never_reach_the_path() {
        assert!(checked_id("../../api/x", "session_id").is_err());
        assert!(checked_id("", "session_id").is_err());
        assert!(checked_id("0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "session_id").is_ok());
    }

    #[test]
    fn timestamp_has_milliseconds_and_z() {
        let t = time::macros::datetime!(2025-11-01 14:00:00.1234 +02:00);
        assert_eq!(iso_timestamp(t).unwrap(), "2025-11-01T12:00:00.123Z");
    }
}
