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

use super::recaptcha::{v3_spec, TokenAction};
use super::UpstreamRequest;
use crate::config::{BattleTarget, Config, Mode};
use crate::models::{ModelKind, ResolvedModel, SessionPick};
use crate::openai::{ChatCompletionRequest, ChatMessage, ContentPart, MessageContent, Role};
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

/// Step 2: text parts joined with a blank line, media parts turned into attachments.
fn convert_content(
    content: &MessageContent,
    index: usize,
) -> Result<(String, Vec<Attachment>), BuildError> {
    let parts = match content {
        MessageContent::Text(text) => return Ok((text.clone(), Vec::new())),
        MessageContent::None => return Ok((String::new(), Vec::new())),
        MessageContent::Parts(parts) => parts,
    };
    let mut texts: Vec<&str> = Vec::new();
    let mut attachments = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let param = || format!("messages[{index}].content[{j}]");
        match part {
            ContentPart::Text { text } => texts.push(text),
            ContentPart::Refusal { refusal } => texts.push(refusal),
            ContentPart::ImageUrl { image_url } => {
                attachments
                    .push(url_attachment(&image_url.url).map_err(|m| part_error(m, param()))?);
            }
            ContentPart::InputAudio { input_audio } => {
                attachments.push(
                    audio_attachment(&input_audio.data, &input_audio.format)
                        .map_err(|m| part_error(m, param()))?,
                );
            }
            ContentPart::File { file } => {
                let attachment = match (&file.file_data, &file.file_id) {
                    (Some(data), _) => file_attachment(data, file.filename.as_deref()),
                    (None, Some(_)) => Err(
                        "file_id references are not supported; send the file inline as file_data (a data: URI)"
                            .to_owned(),
                    ),
                    (None, None) => Err("file part has no file_data".to_owned()),
                };
                attachments.push(attachment.map_err(|m| part_error(m, param()))?);
            }
            ContentPart::Unknown(_) => {
                return Err(part_error(
                    format!(
                        "content part type '{}' is not supported; send text, image_url, input_audio or file parts",
                        part.type_name()
                    ),
                    param(),
                ));
            }
        }
    }
    Ok((texts.join(TEXT_JOINER), attachments))
}

fn part_error(reason: String, param: String) -> BuildError {
    BuildError::new(format!("Invalid '{param}': {reason}."), Some(param))
}

/// An `image_url` URL: a `data:` URI, or an http(s) URL typed by its path's extension.
fn url_attachment(url: &str) -> Result<Attachment, String> {
    if let UrlKind::Data(mime) = classify_url(url)? {
        let content_type = mime.unwrap_or_else(|| OCTET_STREAM.to_owned());
        return Ok(Attachment {
            name: file_name_for_mime(&content_type),
            content_type,
            url: url.to_owned(),
        });
    }
    let Some(rest) = strip_prefix_ignore_case(url, "https://")
        .or_else(|| strip_prefix_ignore_case(url, "http://"))
    else {
        return Err("the URL must be a data: URI or an http(s) URL".to_owned());
    };
    // The query and fragment never name the type (PITFALLS #19); the host is not a path.
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let path = rest[..end].find('/').map_or("", |slash| &rest[slash..end]);
    let content_type = extension_of(path)
        .and_then(mime_for_extension)
        .unwrap_or(OCTET_STREAM)
        .to_owned();
    Ok(Attachment {
        name: file_name_for_mime(&content_type),
        content_type,
        url: url.to_owned(),
    })
}

/// `input_audio`: bare base64 plus a format (`wav`, `mp3`).
fn audio_attachment(data: &str, format: &str) -> Result<Attachment, String> {
    let format = format.trim().to_ascii_lowercase();
    if format.is_empty() || !format.bytes().all(is_extension_byte) {
        return Err(format!(
            "input_audio format {format:?} is not a valid audio format"
        ));
    }
    let (content_type, url) = match classify_url(data)? {
        UrlKind::Data(mime) => (mime.unwrap_or_else(|| audio_mime(&format)), data.to_owned()),
        UrlKind::Other => {
            let mime = audio_mime(&format);
            let url = base64_data_uri(&mime, data)?;
            (mime, url)
        }
    };
    Ok(Attachment {
        name: format!("audio.{format}"),
        content_type,
        url,
    })
}

fn audio_mime(format: &str) -> String {
    mime_for_extension(format)
        .filter(|m| m.starts_with("audio/"))
        .map_or_else(|| format!("audio/{format}"), str::to_owned)
}

/// A `file` part: a `data:` URI (or bare base64) with an optional file name.
fn file_attachment(data: &str, filename: Option<&str>) -> Result<Attachment, String> {
    // Only the last path component of a client-side path is a name.
    let filename = filename
        .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f).trim())
        .filter(|f| !f.is_empty());
    let from_name = filename.and_then(extension_of).and_then(mime_for_extension);
    let (content_type, url) = match classify_url(data)? {
        UrlKind::Data(mime) => (
            mime.or(from_name.map(str::to_owned))
                .unwrap_or_else(|| OCTET_STREAM.to_owned()),
            data.to_owned(),
        ),
        UrlKind::Other => {
            let mime = from_name.unwrap_or(OCTET_STREAM);
            (mime.to_owned(), base64_data_uri(mime, data)?)
        }
    };
    Ok(Attachment {
        name: filename.map_or_else(|| file_name_for_mime(&content_type), str::to_owned),
        content_type,
        url,
    })
}

fn base64_data_uri(mime: &str, data: &str) -> Result<String, String> {
    let data = data.trim();
    let is_base64 = !data.is_empty()
        && data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'));
    if is_base64 {
        Ok(format!("data:{mime};base64,{data}"))
    } else {
        Err("the data is neither a data: URI nor base64".to_owned())
    }
}

/// What a URL string is, as far as typing an attachment goes.
#[derive(Debug, PartialEq, Eq)]
enum UrlKind {
    /// A `data:` URI; its media type in lower case, `None` when it names none.
    Data(Option<String>),
    /// Anything else.
    Other,
}

/// Reads the media type of a `data:` URI; a malformed data URI is an error.
fn classify_url(s: &str) -> Result<UrlKind, String> {
    let Some(rest) = strip_prefix_ignore_case(s, "data:") else {
        return Ok(UrlKind::Other);
    };
    let Some(comma) = rest.find(',') else {
        return Err("the data: URI has no ',' before its data".to_owned());
    };
    let mime = rest[..comma].split(';').next().unwrap_or("").trim();
    if mime.is_empty() {
        return Ok(UrlKind::Data(None));
    }
    let valid = mime
        .split_once('/')
        .is_some_and(|(t, sub)| is_token(t) && is_token(sub));
    if !valid {
        return Err(format!("the data: URI has an invalid media type {mime:?}"));
    }
    Ok(UrlKind::Data(Some(mime.to_ascii_lowercase())))
}

/// RFC 9110 token characters, as allowed in a media type.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

fn is_extension_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The extension of the last path segment, without the dot.
fn extension_of(path: &str) -> Option<&str> {
    let segment = path.rsplit('/').next().unwrap_or(path);
    let (stem, ext) = segment.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then_some(ext)
}

/// Media types of the file extensions clients attach; case-insensitive.
fn mime_for_extension(ext: &str) -> Option<&'static str> {
    let ext = ext.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" | "jpe" | "jfif" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "svg" => "image/svg+xml",
        "avif" => "image/avif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "tif" | "tiff" => "image/tiff",
        "ico" => "image/x-icon",
        "pdf" => "application/pdf",
        "json" => "application/json",
        "txt" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "m4a" => "audio/mp4",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        _ => return None,
    })
}

/// `image/png` → `image.png`, `application/pdf` → `file.pdf`, unknown → `file`.
fn file_name_for_mime(mime: &str) -> String {
    let (top, sub) = mime.split_once('/').unwrap_or((mime, ""));
    let stem = match top {
        "image" | "audio" | "video" => top,
        _ => "file",
    };
    let ext = match mime {
        OCTET_STREAM => None,
        "image/svg+xml" => Some("svg"),
        "image/x-icon" | "image/vnd.microsoft.icon" => Some("ico"),
        "audio/mpeg" => Some("mp3"),
        "text/plain" => Some("txt"),
        "video/quicktime" => Some("mov"),
        _ => {
            let sub = sub.strip_prefix("x-").unwrap_or(sub);
            let sub = sub.split('+').next().unwrap_or(sub);
            (!sub.is_empty() && sub.len() <= 16 && sub.bytes().all(is_extension_byte))
                .then_some(sub)
        }
    };
    match ext {
        Some(ext) => format!("{stem}.{ext}"),
        None => stem.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_ignores_host_query_and_case() {
        let att = url_attachment("https://cdn.example.com/a/b/photo.JPG?x=1.png#frag.gif").unwrap();
        assert_eq!(att.content_type, "image/jpeg");
        assert_eq!(att.name, "image.jpeg");
        let att = url_attachment("https://example.png").unwrap();
        assert_eq!(att.content_type, OCTET_STREAM);
        assert_eq!(att.name, "file");
        let att = url_attachment("https://example.com/.png").unwrap();
        assert_eq!(att.content_type, OCTET_STREAM);
    }

    #[test]
    fn data_uri_media_types() {
        assert_eq!(
            classify_url("DATA:image/PNG;base64,AA").unwrap(),
            UrlKind::Data(Some("image/png".into()))
        );
        assert_eq!(classify_url("data:,hello").unwrap(), UrlKind::Data(None));
        assert_eq!(classify_url("https://x").unwrap(), UrlKind::Other);
        assert!(classify_url("data:image/png;base64").is_err());
        assert!(classify_url("data:image;base64,AA").is_err());
    }

    #[test]
    fn file_names_from_media_types() {
        assert_eq!(file_name_for_mime("image/png"), "image.png");
        assert_eq!(file_name_for_mime("image/svg+xml"), "image.svg");
        assert_eq!(
            file_name_for_mime("image/x-portable-pixmap"),
            "image.portable-pixmap"
        );
        assert_eq!(file_name_for_mime("application/pdf"), "file.pdf");
        assert_eq!(file_name_for_mime("audio/mpeg"), "audio.mp3");
        assert_eq!(file_name_for_mime(OCTET_STREAM), "file");
    }

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
