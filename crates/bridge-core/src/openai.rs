//! OpenAI request and response types, tolerant the way real clients need.
//!
//! Owns the OpenAI side of the bridge: chat completion and image generation requests as
//! openai-python, openai-node, SillyTavern, Open WebUI, LobeChat and friends send them, the
//! validation that turns a bad request into a precise 400 (message, `param`, `code` as OpenAI
//! words them), and the response, stream chunk, model list and error bodies the server sends.
//!
//! Requests are parsed by walking a [`serde_json::Value`] rather than by derived
//! deserializers, so every error can name the exact offending field (`messages[2].role`,
//! `messages[0].content[1]`). Unknown fields are ignored everywhere; unknown content part
//! types are kept as [`ContentPart::Unknown`] for the request builders to judge.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// `object` of a non-streamed chat completion.
pub const CHAT_COMPLETION_OBJECT: &str = "chat.completion";
/// `object` of a streamed chat completion chunk.
pub const CHAT_COMPLETION_CHUNK_OBJECT: &str = "chat.completion.chunk";
/// `object` of one entry of `GET /v1/models`.
pub const MODEL_OBJECT: &str = "model";
/// `object` of a list answer (`GET /v1/models`).
pub const LIST_OBJECT: &str = "list";
/// Role of every answer message and of the first stream delta.
pub const ASSISTANT_ROLE: &str = "assistant";
/// Error `type` of a request the client got wrong (HTTP 400).
pub const INVALID_REQUEST_ERROR: &str = "invalid_request_error";

/// OpenAI error codes used by the validation below (same words as OpenAI's API).
pub mod codes {
    pub const MISSING_REQUIRED_PARAMETER: &str = "missing_required_parameter";
    pub const INVALID_TYPE: &str = "invalid_type";
    pub const INVALID_VALUE: &str = "invalid_value";
    pub const EMPTY_ARRAY: &str = "empty_array";
    pub const EMPTY_STRING: &str = "empty_string";
    pub const INTEGER_BELOW_MIN_VALUE: &str = "integer_below_min_value";
}

// ---------------------------------------------------------------------------------------------
// Request errors

/// A request the client got wrong; becomes a 400 `invalid_request_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// One line, naming the field.
    pub message: String,
    /// The offending field, e.g. `messages[2].role`; `None` when the body as a whole is bad.
    pub param: Option<String>,
    /// OpenAI error code, e.g. `invalid_type`.
    pub code: Option<String>,
}

impl RequestError {
    pub fn new(message: impl Into<String>, param: Option<String>, code: Option<&str>) -> Self {
        Self {
            message: message.into(),
            param,
            code: code.map(str::to_owned),
        }
    }

    fn invalid_json(err: &serde_json::Error) -> Self {
        Self::new(
            format!("We could not parse the JSON body of your request: {err}"),
            None,
            None,
        )
    }

    fn missing(param: &str) -> Self {
        Self::new(
            format!("Missing required parameter: '{param}'."),
            Some(param.to_owned()),
            Some(codes::MISSING_REQUIRED_PARAMETER),
        )
    }

    fn invalid_type(param: &str, expected: &str, got: &Value) -> Self {
        Self::new(
            format!(
                "Invalid type for '{param}': expected {expected}, but got {} instead.",
                json_type_name(got)
            ),
            Some(param.to_owned()),
            Some(codes::INVALID_TYPE),
        )
    }

    fn invalid_value(param: &str, message: String) -> Self {
        Self::new(message, Some(param.to_owned()), Some(codes::INVALID_VALUE))
    }

    fn empty_string(param: &str) -> Self {
        Self::new(
            format!("Invalid '{param}': empty string. Expected a non-empty string."),
            Some(param.to_owned()),
            Some(codes::EMPTY_STRING),
        )
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RequestError {}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "an integer",
        Value::Number(_) => "a decimal",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// Field readers over a JSON object. `null` counts as absent, as OpenAI treats it.

fn take_object(value: Value, param: &str) -> Result<Map<String, Value>, RequestError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(RequestError::invalid_type(param, "an object", &other)),
    }
}

fn opt_string(
    map: &mut Map<String, Value>,
    key: &str,
    param: &str,
) -> Result<Option<String>, RequestError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(RequestError::invalid_type(param, "a string", &other)),
    }
}

fn req_string(
    map: &mut Map<String, Value>,
    key: &str,
    param: &str,
) -> Result<String, RequestError> {
    opt_string(map, key, param)?.ok_or_else(|| RequestError::missing(param))
}

fn opt_bool(map: &mut Map<String, Value>, key: &str) -> Result<Option<bool>, RequestError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(other) => Err(RequestError::invalid_type(key, "a boolean", &other)),
    }
}

fn opt_u64(map: &mut Map<String, Value>, key: &str) -> Result<Option<u64>, RequestError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_u64() => Ok(n.as_u64()),
        Some(Value::Number(n)) if n.is_i64() => Err(RequestError::new(
            format!("Invalid '{key}': integer below minimum value. Expected a value >= 0, but got {n} instead."),
            Some(key.to_owned()),
            Some(codes::INTEGER_BELOW_MIN_VALUE),
        )),
        Some(other) => Err(RequestError::invalid_type(key, "an integer", &other)),
    }
}

fn opt_f64(map: &mut Map<String, Value>, key: &str) -> Result<Option<f64>, RequestError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(RequestError::invalid_type(key, "a number", &other)),
    }
}

/// `n`: absent or an integer from 1 to `u32::MAX`.
fn opt_n(map: &mut Map<String, Value>) -> Result<Option<u32>, RequestError> {
    let Some(n) = opt_u64(map, "n")? else {
        return Ok(None);
    };
    if n == 0 {
        return Err(RequestError::new(
            "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.",
            Some("n".to_owned()),
            Some(codes::INTEGER_BELOW_MIN_VALUE),
        ));
    }
    u32::try_from(n)
        .map(Some)
        .map_err(|_| RequestError::invalid_value("n", format!("Invalid 'n': {n} is too large.")))
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, RequestError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| RequestError::invalid_json(&e))?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(RequestError::new(
            format!(
                "The request body must be a JSON object, but got {} instead.",
                json_type_name(&other)
            ),
            None,
            Some(codes::INVALID_TYPE),
        )),
    }
}

fn de_error<E: serde::de::Error>(err: RequestError) -> E {
    E::custom(err.message)
}

// ---------------------------------------------------------------------------------------------
// Chat completion request

/// `POST /v1/chat/completions` body. Fields the bridge cannot honour upstream (sampling
/// parameters, tools, …) are accepted; the ones listed here are validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatCompletionRequest {
    pub model: String,
    /// Never empty after [`parse_chat_request`].
    pub messages: Vec<ChatMessage>,
    /// `null` or absent means false; anything but a JSON boolean is rejected.
    pub stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
}

/// `stream_options` of a streamed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct StreamOptions {
    /// Send a last chunk carrying `usage` (when upstream reported usage).
    pub include_usage: bool,
}

/// Parses and validates a chat completion request body.
pub fn parse_chat_request(body: &[u8]) -> Result<ChatCompletionRequest, RequestError> {
    ChatCompletionRequest::from_object(parse_body(body)?)
}

impl ChatCompletionRequest {
    /// Validates an already parsed JSON value (see [`parse_chat_request`]).
    pub fn from_json(value: Value) -> Result<Self, RequestError> {
        match value {
            Value::Object(map) => Self::from_object(map),
            other => Err(RequestError::new(
                format!(
                    "The request body must be a JSON object, but got {} instead.",
                    json_type_name(&other)
                ),
                None,
                Some(codes::INVALID_TYPE),
            )),
        }
    }

    fn from_object(mut map: Map<String, Value>) -> Result<Self, RequestError> {
        let model = req_string(&mut map, "model", "model")?;
        if model.trim().is_empty() {
            return Err(RequestError::empty_string("model"));
        }
        let messages = match map.remove("messages") {
            None | Some(Value::Null) => return Err(RequestError::missing("messages")),
            Some(Value::Array(items)) if items.is_empty() => {
                return Err(RequestError::new(
                    "Invalid 'messages': empty array. Expected an array with minimum length 1, \
                     but got an empty array instead.",
                    Some("messages".to_owned()),
                    Some(codes::EMPTY_ARRAY),
                ))
            }
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| ChatMessage::from_json(item, &format!("messages[{i}]")))
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => return Err(RequestError::invalid_type("messages", "an array", &other)),
        };
        let stream = opt_bool(&mut map, "stream")?.unwrap_or(false);
        let n = opt_n(&mut map)?;
        let stream_options = match map.remove("stream_options") {
            None | Some(Value::Null) => None,
            Some(Value::Object(mut options)) => Some(StreamOptions {
                include_usage: match options.remove("include_usage") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => b,
                    Some(other) => {
                        return Err(RequestError::invalid_type(
                            "stream_options.include_usage",
                            "a boolean",
                            &other,
                        ))
                    }
                },
            }),
            Some(other) => {
                return Err(RequestError::invalid_type(
                    "stream_options",
                    "an object",
                    &other,
                ))
            }
        };
        Ok(Self {
            model,
            messages,
            stream,
            n,
            stream_options,
            max_tokens: opt_u64(&mut map, "max_tokens")?,
            max_completion_tokens: opt_u64(&mut map, "max_completion_tokens")?,
            temperature: opt_f64(&mut map, "temperature")?,
            top_p: opt_f64(&mut map, "top_p")?,
        })
    }

    /// True when the client asked for a final usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options.is_some_and(|o| o.include_usage)
    }
}

impl<'de> Deserialize<'de> for ChatCompletionRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_json(Value::deserialize(deserializer)?).map_err(de_error)
    }
}

/// Author of a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    /// Newer name for `system` (o1 and later models).
    Developer,
    User,
    Assistant,
    Tool,
    Function,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::System,
        Role::Developer,
        Role::User,
        Role::Assistant,
        Role::Tool,
        Role::Function,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::Developer => "developer",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Function => "function",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == value)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One message of `messages`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: MessageContent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ChatMessage {
    /// Validates one message; `param` names it in errors (e.g. `messages[3]`).
    pub fn from_json(value: Value, param: &str) -> Result<Self, RequestError> {
        let mut map = take_object(value, param)?;
        let role_param = format!("{param}.role");
        let role = match map.remove("role") {
            None | Some(Value::Null) => return Err(RequestError::missing(&role_param)),
            Some(Value::String(s)) => Role::parse(&s).ok_or_else(|| {
                RequestError::invalid_value(
                    &role_param,
                    format!(
                        "Invalid value for '{role_param}': '{s}'. Supported values are: 'system', \
                         'developer', 'user', 'assistant', 'tool' and 'function'."
                    ),
                )
            })?,
            Some(other) => return Err(RequestError::invalid_type(&role_param, "a string", &other)),
        };
        let content_param = format!("{param}.content");
        let content = match map.remove("content") {
            // An assistant turn that only called tools has no content.
            None | Some(Value::Null) if role == Role::Assistant => MessageContent::None,
            None | Some(Value::Null) => return Err(RequestError::missing(&content_param)),
            Some(value) => MessageContent::from_json(value, &content_param)?,
        };
        let name = opt_string(&mut map, "name", &format!("{param}.name"))?;
        Ok(Self {
            role,
            content,
            name,
        })
    }

    /// A message with plain text content.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: MessageContent::Text(text.into()),
            name: None,
        }
    }
}

impl<'de> Deserialize<'de> for ChatMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_json(Value::deserialize(deserializer)?, "message").map_err(de_error)
    }
}

/// `content` of a message: a string, a list of parts, or nothing (assistant tool calls).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
    None,
}

impl MessageContent {
    /// Validates a content value; `param` names it in errors (e.g. `messages[3].content`).
    pub fn from_json(value: Value, param: &str) -> Result<Self, RequestError> {
        match value {
            Value::Null => Ok(Self::None),
            Value::String(s) => Ok(Self::Text(s)),
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(j, item)| ContentPart::from_json(item, &format!("{param}[{j}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Self::Parts),
            other => Err(RequestError::invalid_type(
                param,
                "a string or an array of content parts",
                &other,
            )),
        }
    }
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_json(Value::deserialize(deserializer)?, "content").map_err(de_error)
    }
}

/// One element of a content array.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text {
        text: String,
    },
    ImageUrl {
        image_url: ImageUrl,
    },
    InputAudio {
        input_audio: InputAudio,
    },
    File {
        file: FileData,
    },
    /// An assistant's refusal, sent back in the history by some clients.
    Refusal {
        refusal: String,
    },
    /// A part type this crate does not know, kept whole so the request builder can decide.
    #[serde(untagged)]
    Unknown(Value),
}

/// `image_url` of an image part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageUrl {
    /// A `data:` URI or an http(s) URL.
    pub url: String,
    /// OpenAI's resolution hint (`auto`, `low`, `high`); not a file name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `input_audio` of an audio part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputAudio {
    /// Base64 audio.
    pub data: String,
    /// `wav`, `mp3`, …
    pub format: String,
}

/// `file` of a file part.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct FileData {
    /// A `data:` URI (or bare base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
}

impl ContentPart {
    /// The part's `type` as the client wrote it.
    pub fn type_name(&self) -> &str {
        match self {
            ContentPart::Text { .. } => "text",
            ContentPart::ImageUrl { .. } => "image_url",
            ContentPart::InputAudio { .. } => "input_audio",
            ContentPart::File { .. } => "file",
            ContentPart::Refusal { .. } => "refusal",
            ContentPart::Unknown(value) => value
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("(missing)"),
        }
    }

    /// Validates one part; `param` names it in errors (e.g. `messages[0].content[2]`).
    /// Known types must be well formed; unknown types are kept as [`ContentPart::Unknown`].
    pub fn from_json(value: Value, param: &str) -> Result<Self, RequestError> {
        let mut map = take_object(value, param)?;
        let kind = match map.get("type") {
            Some(Value::String(s)) => s.as_str(),
            None | Some(Value::Null) => {
                return Err(RequestError::missing(&format!("{param}.type")))
            }
            Some(other) => {
                return Err(RequestError::invalid_type(
                    &format!("{param}.type"),
                    "a string",
                    other,
                ))
            }
        };
        match kind {
            "text" => Ok(Self::Text {
                text: req_string(&mut map, "text", &format!("{param}.text"))?,
            }),
            "refusal" => Ok(Self::Refusal {
                refusal: req_string(&mut map, "refusal", &format!("{param}.refusal"))?,
            }),
            "image_url" => {
                let field = format!("{param}.image_url");
                let image_url = match map.remove("image_url") {
                    None | Some(Value::Null) => return Err(RequestError::missing(&field)),
                    // Some clients send the URL directly instead of `{"url": …}`.
                    Some(Value::String(url)) => ImageUrl { url, detail: None },
                    Some(Value::Object(mut inner)) => ImageUrl {
                        url: req_string(&mut inner, "url", &format!("{field}.url"))?,
                        detail: opt_string(&mut inner, "detail", &format!("{field}.detail"))?,
                    },
                    Some(other) => {
                        return Err(RequestError::invalid_type(&field, "an object", &other))
                    }
                };
                Ok(Self::ImageUrl { image_url })
            }
            "input_audio" => {
                let field = format!("{param}.input_audio");
                let mut inner = match map.remove("input_audio") {
                    None | Some(Value::Null) => return Err(RequestError::missing(&field)),
                    Some(value) => take_object(value, &field)?,
                };
                Ok(Self::InputAudio {
                    input_audio: InputAudio {
                        data: req_string(&mut inner, "data", &format!("{field}.data"))?,
                        format: req_string(&mut inner, "format", &format!("{field}.format"))?,
                    },
                })
            }
            "file" => {
                let field = format!("{param}.file");
                let mut inner = match map.remove("file") {
                    None | Some(Value::Null) => return Err(RequestError::missing(&field)),
                    Some(value) => take_object(value, &field)?,
                };
                Ok(Self::File {
                    file: FileData {
                        file_data: opt_string(
                            &mut inner,
                            "file_data",
                            &format!("{field}.file_data"),
                        )?,
                        filename: opt_string(&mut inner, "filename", &format!("{field}.filename"))?,
                        file_id: opt_string(&mut inner, "file_id", &format!("{field}.file_id"))?,
                    },
                })
            }
            _ => Ok(Self::Unknown(Value::Object(map))),
        }
    }
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_json(Value::deserialize(deserializer)?, "content_part").map_err(de_error)
    }
}

// ---------------------------------------------------------------------------------------------
// Image generation request

/// `response_format` of an image generation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageResponseFormat {
    Url,
    B64Json,
}

/// `POST /v1/images/generations` body. Other fields (`quality`, `style`, …) are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageGenerationRequest {
    /// Never empty after [`parse_image_request`].
    pub prompt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ImageResponseFormat>,
}

/// Parses and validates an image generation request body.
pub fn parse_image_request(body: &[u8]) -> Result<ImageGenerationRequest, RequestError> {
    ImageGenerationRequest::from_object(parse_body(body)?)
}

impl ImageGenerationRequest {
    fn from_object(mut map: Map<String, Value>) -> Result<Self, RequestError> {
        let prompt = req_string(&mut map, "prompt", "prompt")?;
        if prompt.trim().is_empty() {
            return Err(RequestError::empty_string("prompt"));
        }
        let model = opt_string(&mut map, "model", "model")?;
        let n = opt_n(&mut map)?;
        let size = opt_string(&mut map, "size", "size")?;
        let response_format = match opt_string(&mut map, "response_format", "response_format")? {
            None => None,
            Some(s) => Some(match s.as_str() {
                "url" => ImageResponseFormat::Url,
                "b64_json" => ImageResponseFormat::B64Json,
                _ => {
                    return Err(RequestError::invalid_value(
                        "response_format",
                        format!(
                            "Invalid value for 'response_format': '{s}'. Supported values are: \
                             'url' and 'b64_json'."
                        ),
                    ))
                }
            }),
        };
        Ok(Self {
            prompt,
            model,
            n,
            size,
            response_format,
        })
    }
}

impl<'de> Deserialize<'de> for ImageGenerationRequest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = take_object(Value::deserialize(deserializer)?, "body").map_err(de_error)?;
        Self::from_object(map).map_err(de_error)
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

/// Why generation ended, in OpenAI's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ContentFilter,
    ToolCalls,
}

/// Token counts, only ever as reported by upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
        }
    }
}

/// Non-streamed answer (`stream: false`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    pub id: String,
    pub object: Cow<'static, str>,
    /// Unix seconds.
    pub created: i64,
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl ChatCompletion {
    pub fn new(
        id: impl Into<String>,
        created: i64,
        model: impl Into<String>,
        choices: Vec<Choice>,
    ) -> Self {
        Self {
            id: id.into(),
            object: Cow::Borrowed(CHAT_COMPLETION_OBJECT),
            created,
            model: model.into(),
            choices,
            usage: None,
        }
    }
}

/// One choice of a non-streamed answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub index: u32,
    pub message: ResponseMessage,
    pub finish_reason: Option<FinishReason>,
}

/// The assistant message of a non-streamed answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseMessage {
    pub role: Cow<'static, str>,
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
}

impl ResponseMessage {
    /// An assistant message.
    pub fn assistant(content: Option<String>, reasoning_content: Option<String>) -> Self {
        Self {
            role: Cow::Borrowed(ASSISTANT_ROLE),
            content,
            reasoning_content,
        }
    }
}

/// One streamed chunk (`data: {…}` of the SSE stream). Borrows where it can, since the server
/// builds one per upstream delta.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk<'a> {
    pub id: Cow<'a, str>,
    pub object: Cow<'a, str>,
    /// Unix seconds.
    pub created: i64,
    pub model: Cow<'a, str>,
    pub choices: Vec<ChunkChoice<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl<'a> ChatCompletionChunk<'a> {
    pub fn new(
        id: impl Into<Cow<'a, str>>,
        created: i64,
        model: impl Into<Cow<'a, str>>,
        choices: Vec<ChunkChoice<'a>>,
    ) -> Self {
        Self {
            id: id.into(),
            object: Cow::Borrowed(CHAT_COMPLETION_CHUNK_OBJECT),
            created,
            model: model.into(),
            choices,
            usage: None,
        }
    }
}

/// One choice of a chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice<'a> {
    pub index: u32,
    pub delta: Delta<'a>,
    /// `null` until the last chunk of the choice (OpenAI sends the key every time).
    pub finish_reason: Option<FinishReason>,
}

impl<'a> ChunkChoice<'a> {
    pub fn new(index: u32, delta: Delta<'a>, finish_reason: Option<FinishReason>) -> Self {
        Self {
            index,
            delta,
            finish_reason,
        }
    }
}

/// What a chunk adds to its choice; absent fields are left out of the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Delta<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<Cow<'a, str>>,
}

impl<'a> Delta<'a> {
    /// The first delta of a choice: `{"role":"assistant","content":""}`.
    pub fn assistant_start() -> Self {
        Self {
            role: Some(Cow::Borrowed(ASSISTANT_ROLE)),
            content: Some(Cow::Borrowed("")),
            reasoning_content: None,
        }
    }

    pub fn content(text: impl Into<Cow<'a, str>>) -> Self {
        Self {
            content: Some(text.into()),
            ..Self::default()
        }
    }

    pub fn reasoning(text: impl Into<Cow<'a, str>>) -> Self {
        Self {
            reasoning_content: Some(text.into()),
            ..Self::default()
        }
    }
}

/// One entry of `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelObject {
    pub id: String,
    pub object: Cow<'static, str>,
    /// Unix seconds.
    pub created: i64,
    pub owned_by: String,
}

impl ModelObject {
    pub fn new(id: impl Into<String>, created: i64, owned_by: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            object: Cow::Borrowed(MODEL_OBJECT),
            created,
            owned_by: owned_by.into(),
        }
    }
}

/// `GET /v1/models` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelList {
    pub object: Cow<'static, str>,
    pub data: Vec<ModelObject>,
}

impl ModelList {
    pub fn new(data: Vec<ModelObject>) -> Self {
        Self {
            object: Cow::Borrowed(LIST_OBJECT),
            data,
        }
    }
}

/// `POST /v1/images/generations` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagesResponse {
    /// Unix seconds.
    pub created: i64,
    pub data: Vec<ImageData>,
}

/// One generated image.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImageData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b64_json: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revised_prompt: Option<String>,
}

/// OpenAI's error body: `{"error":{"message","type","param","code"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`]; `param` and `code` are `null` when unset, as OpenAI sends them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub r#type: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl ErrorBody {
    pub fn new(
        message: impl Into<String>,
        r#type: impl Into<String>,
        param: Option<String>,
        code: Option<String>,
    ) -> Self {
        Self {
            error: ErrorDetail {
                message: message.into(),
                r#type: r#type.into(),
                param,
                code,
            },
        }
    }
}

impl From<RequestError> for ErrorBody {
    fn from(err: RequestError) -> Self {
        Self::new(err.message, INVALID_REQUEST_ERROR, err.param, err.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(body: &str) -> RequestError {
        parse_chat_request(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn unknown_part_type_is_kept_and_serializes_back() {
        let part = ContentPart::from_json(json!({"type":"video_url","video_url":{"url":"x"}}), "p")
            .unwrap();
        assert_eq!(part.type_name(), "video_url");
        assert_eq!(
            serde_json::to_value(&part).unwrap(),
            json!({"type":"video_url","video_url":{"url":"x"}})
        );
    }

    #[test]
    fn known_parts_serialize_with_their_type_tag() {
        let part = ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: "https://x/a.png".into(),
                detail: Some("auto".into()),
            },
        };
        assert_eq!(
            serde_json::to_value(&part).unwrap(),
            json!({"type":"image_url","image_url":{"url":"https://x/a.png","detail":"auto"}})
        );
    }

    #[test]
    fn request_round_trips_through_serde() {
        let body = r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant","content":null}],"stream":true,"n":1}"#;
        let parsed = parse_chat_request(body.as_bytes()).unwrap();
        let again: ChatCompletionRequest =
            serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
        assert_eq!(parsed, again);
    }

    #[test]
    fn deserialize_impl_reports_validation_errors() {
        let e = serde_json::from_str::<ChatCompletionRequest>(r#"{"model":"m","messages":[]}"#)
            .unwrap_err();
        assert!(e.to_string().contains("empty array"), "{e}");
    }

    #[test]
    fn negative_max_tokens_is_rejected() {
        let e = err(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-1}"#);
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
    }
}
