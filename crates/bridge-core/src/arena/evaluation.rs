//! The `evaluation` flow (UPSTREAM.md §3): request builders and the history mapping.
//!
//! LMArena keeps the conversation on its side: a new conversation is started with
//! `POST create-evaluation`, a follow-up is `POST post-to-evaluation/{id}`, a regeneration is
//! `PUT retry-evaluation-session-message/{id}/messages/{message}`. An OpenAI request is
//! stateless, so this module decides how to send one:
//!
//! - [`EvaluationHistory::plan`] recognises a request that continues an evaluation this server
//!   created (its messages are exactly that evaluation's turns, as sent and answered, plus one
//!   new user message, for the same model) → [`Plan::Continue`]; anything else →
//!   [`Plan::Fresh`] with the earlier turns folded into one user message by [`fold_messages`].
//! - [`build_create`], [`build_post`], [`build_regenerate`] turn that into the upstream request.
//!   The reCAPTCHA token is not in the body: the tab mints it and inserts it into the field the
//!   returned [`RecaptchaSpec`] names.
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

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::num::NonZeroUsize;

use lru::LruCache;
use serde::ser::{Serialize, SerializeMap, Serializer};
use uuid::Uuid;

use super::retry::{
    build_messages, ArenaMessage, ArenaRole, Attachment, BuildError, MessageOptions,
    ParticipantPosition, HEADER_ACCEPT, HEADER_CONTENT_TYPE, RETRY_ACCEPT, RETRY_CONTENT_TYPE,
    TEXT_JOINER,
};
use super::UpstreamRequest;
use crate::config::{BattleTarget, Config, Mode};
use crate::models::{ModelKind, ResolvedModel};
use crate::openai::{ChatMessage, ContentPart, MessageContent, Role};
use crate::protocol::RecaptchaSpec;

pub use super::retry::IdSource;

/// Starts a new evaluation.
pub const CREATE_PATH: &str = "/nextjs-api/stream/create-evaluation";
/// Followed by the evaluation id: a new user message in an existing evaluation.
pub const POST_PATH_PREFIX: &str = "/nextjs-api/stream/post-to-evaluation/";
/// Followed by `{evaluation_id}/messages/{message_id}`: regenerate one answer.
pub const REGENERATE_PATH_PREFIX: &str = "/nextjs-api/stream/retry-evaluation-session-message/";
/// Path segment between the evaluation id and the message id of a regeneration.
pub const REGENERATE_PATH_MESSAGES: &str = "/messages/";
pub const CREATE_METHOD: &str = "POST";
pub const POST_METHOD: &str = "POST";
pub const REGENERATE_METHOD: &str = "PUT";
/// Same headers as the retry flow: the page sends its JSON as `text/plain`.
pub const CONTENT_TYPE: &str = RETRY_CONTENT_TYPE;
pub const ACCEPT: &str = RETRY_ACCEPT;
/// Body of a regeneration.
pub const REGENERATE_BODY: &str = "{}";
/// reCAPTCHA v3 action the page uses for a new message.
pub const RECAPTCHA_ACTION: &str = "chat_submit";
/// Body field the tab puts the reCAPTCHA token into.
pub const RECAPTCHA_FIELD: &str = "recaptchaV3Token";
/// Values of `mode`.
pub const MODE_DIRECT: &str = "direct";
pub const MODE_BATTLE: &str = "battle";
/// Values of `modality`.
pub const MODALITY_CHAT: &str = "chat";
pub const MODALITY_IMAGE: &str = "image";
pub const MODALITY_SEARCH: &str = "search";
/// How many conversations [`EvaluationHistory`] remembers unless configured otherwise.
pub const DEFAULT_HISTORY_CAPACITY: usize = 512;

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

/// The reCAPTCHA instruction that goes with create and post requests in the fetch frame.
pub fn recaptcha_spec() -> RecaptchaSpec {
    RecaptchaSpec {
        action: RECAPTCHA_ACTION.to_owned(),
        field: RECAPTCHA_FIELD.to_owned(),
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

/// `mode` for a configured mode.
pub fn mode_value(mode: Mode) -> &'static str {
    match mode {
        Mode::DirectChat => MODE_DIRECT,
        Mode::Battle => MODE_BATTLE,
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

/// A create or post request, with the ids it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluationRequest {
    pub request: UpstreamRequest,
    /// Always set for create and post: the tab must add a token before sending.
    pub recaptcha: Option<RecaptchaSpec>,
    pub evaluation_id: Uuid,
    pub user_message_id: Uuid,
    pub model_a_message_id: Uuid,
    pub model_b_message_id: Uuid,
}

/// `POST create-evaluation`: a new evaluation whose first user message is `prompt`.
///
/// Ids are drawn from `ids` in this order: evaluation, user message, model A message, model B
/// message. A direct chat needs a model id (`modelAId`); a battle sends `null` when the model
/// has none.
pub fn build_create(
    prompt: &FoldedPrompt,
    model: &ResolvedModel,
    mode: Mode,
    ids: &mut dyn IdSource,
) -> Result<EvaluationRequest, BuildError> {
    if mode == Mode::DirectChat && model.model_id.is_none() {
        return Err(BuildError {
            message: format!(
                "Model '{}' has no LMArena model id in models.json; the evaluation flow needs one \
                 for a direct chat (add \"{}\": \"<model id>\" to models.json).",
                model.public_name, model.public_name
            ),
            param: Some("model".to_owned()),
        });
    }
    let evaluation_id = ids.next_id();
    build_message_request(
        evaluation_id,
        Some(mode),
        CREATE_PATH.to_owned(),
        prompt,
        model,
        ids,
    )
}

/// `POST post-to-evaluation/{evaluation_id}`: `prompt` as the next user message of an
/// evaluation. Same body as create without `mode`; ids drawn: user, model A, model B message.
pub fn build_post(
    evaluation_id: Uuid,
    prompt: &FoldedPrompt,
    model: &ResolvedModel,
    ids: &mut dyn IdSource,
) -> Result<EvaluationRequest, BuildError> {
    build_message_request(
        evaluation_id,
        None,
        format!("{POST_PATH_PREFIX}{evaluation_id}"),
        prompt,
        model,
        ids,
    )
}

/// `PUT retry-evaluation-session-message/{evaluation_id}/messages/{message_id}` with body `{}`.
/// Carries no reCAPTCHA token: UPSTREAM.md §3 documents the body as empty.
pub fn build_regenerate(evaluation_id: Uuid, message_id: Uuid) -> UpstreamRequest {
    UpstreamRequest {
        path: format!(
            "{REGENERATE_PATH_PREFIX}{evaluation_id}{REGENERATE_PATH_MESSAGES}{message_id}"
        ),
        method: REGENERATE_METHOD.to_owned(),
        headers: headers(),
        body: REGENERATE_BODY.to_owned(),
    }
}

fn build_message_request(
    evaluation_id: Uuid,
    mode: Option<Mode>,
    path: String,
    prompt: &FoldedPrompt,
    model: &ResolvedModel,
    ids: &mut dyn IdSource,
) -> Result<EvaluationRequest, BuildError> {
    let user_message_id = ids.next_id();
    let model_a_message_id = ids.next_id();
    let model_b_message_id = ids.next_id();
    let body = WireBody {
        id: evaluation_id,
        mode: mode.map(mode_value),
        model_a_id: model.model_id.as_deref(),
        user_message_id,
        model_a_message_id,
        model_b_message_id,
        prompt,
        modality: modality(&model.kind),
    };
    let body = serde_json::to_string(&body).map_err(|e| BuildError {
        message: format!("could not encode the upstream body: {e}"),
        param: None,
    })?;
    let method = if mode.is_some() {
        CREATE_METHOD
    } else {
        POST_METHOD
    };
    Ok(EvaluationRequest {
        request: UpstreamRequest {
            path,
            method: method.to_owned(),
            headers: headers(),
            body,
        },
        recaptcha: Some(recaptcha_spec()),
        evaluation_id,
        user_message_id,
        model_a_message_id,
        model_b_message_id,
    })
}

fn headers() -> BTreeMap<String, String> {
    BTreeMap::from([
        (HEADER_CONTENT_TYPE.to_owned(), CONTENT_TYPE.to_owned()),
        (HEADER_ACCEPT.to_owned(), ACCEPT.to_owned()),
    ])
}

/// Create/post body, keys in the page's order, names from [`fields`].
struct WireBody<'a> {
    id: Uuid,
    mode: Option<&'static str>,
    model_a_id: Option<&'a str>,
    user_message_id: Uuid,
    model_a_message_id: Uuid,
    model_b_message_id: Uuid,
    prompt: &'a FoldedPrompt,
    modality: &'static str,
}

impl Serialize for WireBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(fields::ID, &self.id)?;
        if let Some(mode) = self.mode {
            map.serialize_entry(fields::MODE, mode)?;
        }
        map.serialize_entry(fields::MODEL_A_ID, &self.model_a_id)?;
        map.serialize_entry(fields::USER_MESSAGE_ID, &self.user_message_id)?;
        map.serialize_entry(fields::MODEL_A_MESSAGE_ID, &self.model_a_message_id)?;
        map.serialize_entry(fields::MODEL_B_MESSAGE_ID, &self.model_b_message_id)?;
        map.serialize_entry(fields::USER_MESSAGE, &WireUserMessage(self.prompt))?;
        map.serialize_entry(fields::MODALITY, self.modality)?;
        map.end()
    }
}

struct WireUserMessage<'a>(&'a FoldedPrompt);

impl Serialize for WireUserMessage<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry(fields::CONTENT, &self.0.content)?;
        map.serialize_entry(fields::EXPERIMENTAL_ATTACHMENTS, &self.0.attachments)?;
        map.serialize_entry(fields::METADATA, &serde_json::Map::new())?;
        map.end()
    }
}

// ---------------------------------------------------------------------------------------------
// Folding

/// The switches of [`fold_messages`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FoldOptions {
    /// Tavern mode: every system message goes into the leading `<system>` block.
    pub tavern_mode: bool,
}

impl FoldOptions {
    pub fn from_config(config: &Config) -> Self {
        Self {
            tavern_mode: config.tavern_mode_enabled,
        }
    }
}

/// An OpenAI history as the one user message of a new evaluation (format: module docs).
pub fn fold_messages(
    messages: &[ChatMessage],
    opts: FoldOptions,
) -> Result<FoldedPrompt, BuildError> {
    // Bypass mode and image-model statuses are retry-flow matters; only conversion is reused.
    // An evaluation has no assistant turn to hide `--bypass` images on: they stay with the
    // user message (the suffix is still removed).
    let message_opts = MessageOptions {
        tavern_mode: opts.tavern_mode,
        keep_bypass_images: true,
        ..MessageOptions::default()
    };
    let turns = build_messages(messages, &message_opts)?;
    let folded = fold_turns(&turns);
    if folded.content.is_empty() && folded.attachments.is_empty() {
        return Err(BuildError {
            message: "Nothing to send: the messages have no text and no attachments.".to_owned(),
            param: Some("messages".to_owned()),
        });
    }
    Ok(folded)
}

fn fold_turns(turns: &[ArenaMessage]) -> FoldedPrompt {
    use transcript::*;

    let leading = turns
        .iter()
        .take_while(|t| t.role == ArenaRole::System)
        .count();
    let (system, rest) = turns.split_at(leading);
    let (prefill, rest) = match rest.split_last() {
        Some((last, before)) if last.role == ArenaRole::Assistant => (Some(last), before),
        _ => (None, rest),
    };
    let (current, history) = match rest.split_last() {
        Some((last, before)) if last.role == ArenaRole::User => (Some(last), before),
        _ => (None, rest),
    };

    let mut carried = Carried::default();
    let mut blocks: Vec<String> = Vec::new();

    let system_texts: Vec<String> = system
        .iter()
        .map(|t| carried.annotated(t))
        .filter(|body| !body.trim().is_empty())
        .collect();
    if !system_texts.is_empty() {
        blocks.push(tagged(SYSTEM_TAG, &system_texts.join(TEXT_JOINER)));
    }

    if !history.is_empty() {
        let turns: Vec<String> = history
            .iter()
            .map(|t| tagged(role_tag(t.role), &carried.annotated(t)))
            .collect();
        blocks.push(tagged(CONVERSATION_TAG, &turns.join("\n")));
    }

    if let Some(current) = current {
        for attachment in &current.attachments {
            carried.add(attachment);
        }
        blocks.push(current.content.clone());
    }

    if let Some(prefill) = prefill {
        let body = carried.annotated(prefill);
        if !body.trim().is_empty() {
            blocks.push(tagged(ANSWER_START_TAG, &body));
            blocks.push(CONTINUE_INSTRUCTION.to_owned());
        }
    }

    FoldedPrompt {
        content: blocks.join(BLOCK_SEPARATOR),
        attachments: carried.list,
    }
}

fn role_tag(role: ArenaRole) -> &'static str {
    match role {
        ArenaRole::System => transcript::SYSTEM_TAG,
        ArenaRole::User => transcript::USER_TAG,
        ArenaRole::Assistant => transcript::ASSISTANT_TAG,
        ArenaRole::Tool => transcript::TOOL_TAG,
        ArenaRole::Function => transcript::FUNCTION_TAG,
    }
}

fn tagged(tag: &str, body: &str) -> String {
    if body.is_empty() {
        format!("<{tag}>\n</{tag}>")
    } else {
        format!("<{tag}>\n{body}\n</{tag}>")
    }
}

/// The attachments of a fold, each URL once, in order of first appearance.
#[derive(Default)]
struct Carried {
    list: Vec<Attachment>,
}

impl Carried {
    /// Adds `attachment` unless its URL is already carried; returns its 1-based number.
    fn add(&mut self, attachment: &Attachment) -> usize {
        match self.list.iter().position(|a| a.url == attachment.url) {
            Some(i) => i + 1,
            None => {
                self.list.push(attachment.clone());
                self.list.len()
            }
        }
    }

    /// The turn's text followed by one `[attachment N: name]` line per attachment.
    fn annotated(&mut self, turn: &ArenaMessage) -> String {
        let mut body = turn.content.clone();
        for attachment in &turn.attachments {
            let n = self.add(attachment);
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(&format!(
                "[{} {n}: {}]",
                transcript::ATTACHMENT_LABEL,
                attachment.name
            ));
        }
        body
    }
}

// ---------------------------------------------------------------------------------------------
// History mapping

/// How to send one chat request in the evaluation flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Post `new_user` to the evaluation this conversation already is ([`build_post`]).
    Continue {
        evaluation_id: Uuid,
        /// The side whose answer the client got before (and gets again).
        participant: ParticipantPosition,
        /// The request's last (user) message, converted, not folded.
        new_user: FoldedPrompt,
    },
    /// Start a new evaluation with the whole history folded ([`build_create`]).
    Fresh { folded: FoldedPrompt },
}

/// An evaluation this server created, as remembered by [`EvaluationHistory`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownEvaluation {
    pub evaluation_id: Uuid,
    pub model_name: String,
    pub participant: ParticipantPosition,
}

/// 128-bit hash of a model name and a normalised message list (see [`TurnKey`]).
type HistoryKey = u128;

/// The conversations this server created, so that a client sending the same history plus one
/// user message continues the evaluation instead of starting over.
///
/// Bounded: at most `capacity` conversations, the least recently recorded one is dropped
/// first. Keys are hashes, so no prompt text is kept. A [`Plan::Continue`] takes its entry out
/// (two requests can never post to one evaluation at once, and a continuation that fails is not
/// tried again); [`EvaluationHistory::record`] puts the grown conversation back after a
/// successful answer.
#[derive(Debug)]
pub struct EvaluationHistory {
    /// `None` when the capacity is 0: nothing is remembered, every request is fresh.
    entries: Option<LruCache<HistoryKey, KnownEvaluation>>,
    /// Evaluation id → its one current key, to forget and to replace outdated histories.
    keys: HashMap<Uuid, HistoryKey>,
    /// Random keys per process: nobody can craft a history that collides with another.
    hasher: RandomState,
}

impl Default for EvaluationHistory {
    fn default() -> Self {
        Self::new(DEFAULT_HISTORY_CAPACITY)
    }
}

impl EvaluationHistory {
    /// A history remembering at most `capacity` conversations; 0 remembers none.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: NonZeroUsize::new(capacity).map(LruCache::new),
            keys: HashMap::new(),
            hasher: RandomState::new(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.entries.as_ref().map_or(0, |e| e.cap().get())
    }

    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, LruCache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a conversation of this evaluation is remembered.
    pub fn contains(&self, evaluation_id: Uuid) -> bool {
        self.keys.contains_key(&evaluation_id)
    }

    /// Decides how to send `messages` for the model the client named. A continuation is taken
    /// out of the history (see the type docs). Errors are the conversion errors of the messages
    /// (400 for the client).
    pub fn plan(
        &mut self,
        messages: &[ChatMessage],
        model_name: &str,
        opts: FoldOptions,
    ) -> Result<Plan, BuildError> {
        if let Some((last, earlier)) = messages.split_last() {
            if last.role == Role::User && !earlier.is_empty() {
                let key = self.key(model_name, earlier.iter().map(TurnKey::from_message));
                let known = self
                    .entries
                    .as_ref()
                    .and_then(|e| e.peek(&key))
                    .is_some_and(|k| k.model_name == model_name);
                if known {
                    // Convert before taking the entry, so a bad message does not lose it.
                    let new_user = fold_messages(std::slice::from_ref(last), opts)?;
                    if let Some(known) = self.take(key) {
                        return Ok(Plan::Continue {
                            evaluation_id: known.evaluation_id,
                            participant: known.participant,
                            new_user,
                        });
                    }
                }
            }
        }
        Ok(Plan::Fresh {
            folded: fold_messages(messages, opts)?,
        })
    }

    /// Remembers that evaluation `evaluation_id` now holds `sent_messages` (the whole OpenAI
    /// history of the request just answered) followed by the answer `answer_text`. Any older
    /// history of the same evaluation is dropped: it no longer matches what upstream holds.
    pub fn record(
        &mut self,
        sent_messages: &[ChatMessage],
        answer_text: &str,
        evaluation_id: Uuid,
        model_name: &str,
        participant: ParticipantPosition,
    ) {
        if self.entries.is_none() {
            return;
        }
        let answer = TurnKey {
            role: TurnRole::Assistant,
            text: Cow::Borrowed(answer_text.trim()),
            media: Vec::new(),
        };
        let key = self.key(
            model_name,
            sent_messages
                .iter()
                .map(TurnKey::from_message)
                .chain(std::iter::once(answer)),
        );
        self.forget(evaluation_id);
        let Some(entries) = self.entries.as_mut() else {
            return;
        };
        let entry = KnownEvaluation {
            evaluation_id,
            model_name: model_name.to_owned(),
            participant,
        };
        // `push` hands back what it displaced: the same key's old entry or the evicted one.
        if let Some((_, old)) = entries.push(key, entry) {
            if old.evaluation_id != evaluation_id {
                self.keys.remove(&old.evaluation_id);
            }
        }
        self.keys.insert(evaluation_id, key);
    }

    /// Drops what is remembered of `evaluation_id` (e.g. upstream rejected a continuation).
    /// Returns whether anything was remembered.
    pub fn forget(&mut self, evaluation_id: Uuid) -> bool {
        let Some(key) = self.keys.remove(&evaluation_id) else {
            return false;
        };
        if let Some(entries) = self.entries.as_mut() {
            entries.pop(&key);
        }
        true
    }

    fn take(&mut self, key: HistoryKey) -> Option<KnownEvaluation> {
        let known = self.entries.as_mut()?.pop(&key)?;
        self.keys.remove(&known.evaluation_id);
        Some(known)
    }

    fn key<'a>(&self, model_name: &str, turns: impl Iterator<Item = TurnKey<'a>>) -> HistoryKey {
        let turns: Vec<TurnKey<'a>> = turns.collect();
        let half = |domain: u8| {
            let mut h = self.hasher.build_hasher();
            h.write_u8(domain);
            model_name.hash(&mut h);
            turns.hash(&mut h);
            h.finish()
        };
        (u128::from(half(0)) << 64) | u128::from(half(1))
    }
}

/// Role of a turn for matching: `developer` and `system` are the same thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum TurnRole {
    System,
    User,
    Assistant,
    Tool,
    Function,
}

/// One message as matching sees it: role, text (parts joined, ends trimmed, as clients often
/// re-send an answer trimmed or as a text part) and the URLs/data of its media. The name and
/// image `detail` are not part of it.
#[derive(Debug, Hash)]
struct TurnKey<'a> {
    role: TurnRole,
    text: Cow<'a, str>,
    media: Vec<Cow<'a, str>>,
}

impl<'a> TurnKey<'a> {
    fn from_message(message: &'a ChatMessage) -> Self {
        let role = match message.role {
            Role::System | Role::Developer => TurnRole::System,
            Role::User => TurnRole::User,
            Role::Assistant => TurnRole::Assistant,
            Role::Tool => TurnRole::Tool,
            Role::Function => TurnRole::Function,
        };
        let (text, media) = match &message.content {
            MessageContent::Text(text) => (Cow::Borrowed(text.trim()), Vec::new()),
            MessageContent::None => (Cow::Borrowed(""), Vec::new()),
            MessageContent::Parts(parts) => {
                let mut texts = Vec::new();
                let mut media = Vec::new();
                for part in parts {
                    match part {
                        ContentPart::Text { text } => texts.push(text.as_str()),
                        ContentPart::Refusal { refusal } => texts.push(refusal.as_str()),
                        ContentPart::ImageUrl { image_url } => {
                            media.push(Cow::Borrowed(image_url.url.as_str()));
                        }
                        ContentPart::InputAudio { input_audio } => {
                            media.push(Cow::Borrowed(input_audio.data.as_str()));
                        }
                        ContentPart::File { file } => {
                            let data = file.file_data.as_deref().or(file.file_id.as_deref());
                            media.push(Cow::Borrowed(data.unwrap_or("")));
                        }
                        ContentPart::Unknown(value) => media.push(Cow::Owned(value.to_string())),
                    }
                }
                let text = texts.join(TEXT_JOINER).trim().to_owned();
                (Cow::Owned(text), media)
            }
        };
        Self { role, text, media }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(value: serde_json::Value) -> Vec<ChatMessage> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn an_empty_block_has_no_blank_line() {
        assert_eq!(tagged("assistant", ""), "<assistant>\n</assistant>");
        assert_eq!(tagged("user", "hi"), "<user>\nhi\n</user>");
    }

    #[test]
    fn history_keys_ignore_names_and_image_detail_only() {
        let history = EvaluationHistory::new(1);
        let key = |value: serde_json::Value| {
            let list = messages(value);
            history.key("m", list.iter().map(TurnKey::from_message))
        };
        let base = key(serde_json::json!([
            {"role": "system", "content": "s"},
            {"role": "user", "content": [
                {"type": "text", "text": "hi"},
                {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "auto"}}
            ]}
        ]));
        let same = key(serde_json::json!([
            {"role": "developer", "content": " s "},
            {"role": "user", "name": "me", "content": [
                {"type": "text", "text": "hi"},
                {"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "low"}}
            ]}
        ]));
        assert_eq!(base, same);
        let different = [
            serde_json::json!([
                {"role": "system", "content": "s"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png"}}
                ]}
            ]),
            serde_json::json!([
                {"role": "system", "content": "s"},
                {"role": "user", "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "https://x/b.png"}}
                ]}
            ]),
            serde_json::json!([
                {"role": "system", "content": "s"},
                {"role": "user", "content": "hi"}
            ]),
            serde_json::json!([
                {"role": "user", "content": "s"},
                {"role": "user", "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png"}}
                ]}
            ]),
        ];
        for value in different {
            assert_ne!(base, key(value.clone()), "{value}");
        }
        // Turn boundaries count: one turn "a\n\nb" is not two turns "a", "b".
        assert_ne!(
            key(serde_json::json!([{"role": "user", "content": "a\n\nb"}])),
            key(serde_json::json!([
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"}
            ]))
        );
        let list = messages(serde_json::json!([{"role": "user", "content": "x"}]));
        assert_ne!(
            history.key("m", list.iter().map(TurnKey::from_message)),
            history.key("n", list.iter().map(TurnKey::from_message))
        );
    }
}
