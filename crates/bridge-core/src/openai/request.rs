//! Chat completion and image generation request bodies, parsed and validated.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::codes;
use super::content::MessageContent;
use super::format::ResponseFormat;
use super::validate::{
    body_object, de_error, opt_bool, opt_f64, opt_n, opt_string, opt_u64, parse_body, req_string,
    take_object, RequestError,
};
use crate::stop::parse_stop;
use crate::tools::{AssistantToolCall, ToolSet};

/// `POST /v1/chat/completions` body. Fields the bridge cannot honour upstream (sampling
/// parameters, …) are accepted; the ones listed here are validated. Tools, `stop`,
/// `max_tokens` and `response_format` are emulated by the server.
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
    /// `tools`, `tool_choice` and `parallel_tool_calls`, checked (empty when absent).
    #[serde(flatten, serialize_with = "super::tooling::serialize_tool_set")]
    pub tools: ToolSet,
    /// Stop sequences (at most four, empty ones dropped).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    #[serde(skip_serializing_if = "ResponseFormat::is_text")]
    pub response_format: ResponseFormat,
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
        Self::from_object(body_object(value)?)
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
        let tools = ToolSet::from_request(
            map.get("tools"),
            map.get("tool_choice"),
            map.get("parallel_tool_calls"),
        )
        .map_err(|e| {
            RequestError::invalid_value(e.field(), format!("Invalid '{}': {e}", e.field()))
        })?;
        let stop = parse_stop(map.get("stop"))
            .map_err(|e| RequestError::invalid_value("stop", format!("Invalid 'stop': {e}")))?;
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
            tools,
            stop,
            response_format: ResponseFormat::from_json(map.remove("response_format"))?,
        })
    }

    /// True when the client asked for a final usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options.is_some_and(|o| o.include_usage)
    }

    /// The answer's token limit: `max_completion_tokens`, else `max_tokens`.
    pub fn token_limit(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
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
    pub(crate) const ALL: [Role; 6] = [
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
    /// Calls an assistant turn made (sent back by clients in a tool loop).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "super::tooling::serialize_calls"
    )]
    pub tool_calls: Vec<AssistantToolCall>,
    /// The call a `role: "tool"` message answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// Validates one message; `param` names it in errors (e.g. `messages[3]`).
    pub(crate) fn from_json(value: Value, param: &str) -> Result<Self, RequestError> {
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
        let calls_param = format!("{param}.tool_calls");
        let tool_calls = match map.remove("tool_calls") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(j, item)| {
                    AssistantToolCall::try_from(item).map_err(|reason| {
                        let at = format!("{calls_param}[{j}]");
                        RequestError::invalid_value(&at, format!("Invalid '{at}': {reason}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => {
                return Err(RequestError::invalid_type(&calls_param, "an array", &other))
            }
        };
        let tool_call_id = opt_string(&mut map, "tool_call_id", &format!("{param}.tool_call_id"))?;
        Ok(Self {
            role,
            content,
            name,
            tool_calls,
            tool_call_id,
        })
    }
}

impl<'de> Deserialize<'de> for ChatMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_json(Value::deserialize(deserializer)?, "message").map_err(de_error)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> RequestError {
        parse_chat_request(body.as_bytes()).unwrap_err()
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
