//! Translators that let the OpenAI Responses API and the Anthropic Messages API run on the
//! chat completions pipeline: their requests become chat completion request JSON, and the
//! chat pipeline's answer (one `chat.completion`, or its stream chunks) becomes their answer.
//!
//! - [`anthropic`]: `POST /v1/messages` request, `message` object, stream events, errors.
//! - [`responses`]: `POST /v1/responses` (stateless subset) request, `response` object,
//!   stream events, errors.
//! - this module: what both read from the chat side ([`ChatPiece`] from a chunk,
//!   [`ChatAnswer`] from a completion), SSE event framing and field readers for requests.
//!
//! Both sides are handled as [`serde_json::Value`]: the translators depend only on the
//! OpenAI wire shapes, not on how the chat pipeline builds them.

pub mod anthropic;
pub mod responses;
#[cfg(test)]
mod test_chunks;

use serde_json::{Map, Value};

use crate::openai::{codes, RequestError};

/// Why a chat answer ended, as the chat pipeline reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatFinish {
    Stop,
    Length,
    ContentFilter,
    ToolCalls,
}

impl ChatFinish {
    fn parse(value: &Value) -> Option<Self> {
        Some(match value.as_str()? {
            "stop" => Self::Stop,
            "length" => Self::Length,
            "content_filter" => Self::ContentFilter,
            "tool_calls" | "function_call" => Self::ToolCalls,
            _ => return None,
        })
    }
}

/// Token counts of a chat answer (`usage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChatUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl ChatUsage {
    fn parse(value: &Value) -> Option<Self> {
        let obj = value.as_object()?;
        Some(Self {
            prompt_tokens: obj
                .get("prompt_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            completion_tokens: obj
                .get("completion_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        })
    }
}

/// An error the chat pipeline sent inside its stream (`data: {"error":{…}}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatError {
    pub message: String,
    /// OpenAI error `type`, e.g. `upstream_error`.
    pub kind: Option<String>,
    pub code: Option<String>,
    pub param: Option<String>,
}

impl ChatError {
    /// Reads an OpenAI error body (`{"error":{…}}`).
    pub fn from_body(value: &Value) -> Option<Self> {
        let err = value.get("error")?.as_object()?;
        let text = |key: &str| err.get(key).and_then(Value::as_str).map(str::to_owned);
        Some(Self {
            message: text("message").unwrap_or_else(|| "The request failed.".to_owned()),
            kind: text("type"),
            code: text("code"),
            param: text("param"),
        })
    }
}

/// One thing a chat completion chunk says, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatPiece {
    /// Answer text (`delta.content`).
    Text(String),
    /// A tool call begins (`delta.tool_calls[]` with `id` and `function.name`).
    CallStart {
        index: u64,
        id: String,
        name: String,
    },
    /// A piece of the arguments JSON text of call `index`.
    CallArguments {
        index: u64,
        text: String,
    },
    /// `finish_reason` of the choice.
    Finish(ChatFinish),
    Usage(ChatUsage),
    Error(ChatError),
}

/// Reads the pieces of one chunk of choice 0 (the translated APIs have one choice). Call
/// starts come before their arguments; a piece of arguments for a call whose start has not
/// been seen yet is reported with the start (the caller keeps `started`).
pub fn chunk_pieces(chunk: &Value) -> Vec<ChatPiece> {
    let mut out = Vec::new();
    if let Some(err) = ChatError::from_body(chunk) {
        out.push(ChatPiece::Error(err));
        return out;
    }
    let choice = chunk
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| {
            c.iter()
                .find(|c| c.get("index").and_then(Value::as_u64) == Some(0))
        });
    if let Some(choice) = choice {
        if let Some(delta) = choice.get("delta") {
            if let Some(text) = delta.get("content").and_then(Value::as_str) {
                if !text.is_empty() {
                    out.push(ChatPiece::Text(text.to_owned()));
                }
            }
            for (pos, call) in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let index = call
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(pos as u64);
                let function = call.get("function");
                let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
                if let (Some(id), Some(name)) = (call.get("id").and_then(Value::as_str), name) {
                    out.push(ChatPiece::CallStart {
                        index,
                        id: id.to_owned(),
                        name: name.to_owned(),
                    });
                }
                if let Some(text) = function
                    .and_then(|f| f.get("arguments"))
                    .and_then(Value::as_str)
                {
                    if !text.is_empty() {
                        out.push(ChatPiece::CallArguments {
                            index,
                            text: text.to_owned(),
                        });
                    }
                }
            }
        }
        if let Some(finish) = choice.get("finish_reason").and_then(ChatFinish::parse) {
            out.push(ChatPiece::Finish(finish));
        }
    }
    if let Some(usage) = chunk.get("usage").and_then(ChatUsage::parse) {
        out.push(ChatPiece::Usage(usage));
    }
    out
}

/// One tool call of a chat answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatCall {
    pub id: String,
    pub name: String,
    /// The arguments as JSON text.
    pub arguments: String,
}

impl ChatCall {
    /// The arguments as a JSON object (`{}` when they are not an object).
    pub fn arguments_object(&self) -> Value {
        arguments_object(&self.arguments)
    }
}

/// Arguments JSON text as an object; anything else (including bad JSON) is `{}`, since both
/// APIs promise an object.
fn arguments_object(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::Object(Map::new()),
    }
}

/// What a non-streamed `chat.completion` (choice 0) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatAnswer {
    pub text: String,
    pub calls: Vec<ChatCall>,
    pub finish: ChatFinish,
    pub usage: Option<ChatUsage>,
}

impl ChatAnswer {
    /// Reads a `chat.completion`; a missing choice is an empty answer.
    pub fn from_completion(completion: &Value) -> Self {
        let choice = completion
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first());
        let message = choice.and_then(|c| c.get("message"));
        let text = message
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let calls = message
            .and_then(|m| m.get("tool_calls"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|call| {
                let function = call.get("function")?;
                Some(ChatCall {
                    id: call.get("id")?.as_str()?.to_owned(),
                    name: function.get("name")?.as_str()?.to_owned(),
                    arguments: function
                        .get("arguments")
                        .and_then(Value::as_str)
                        .unwrap_or("{}")
                        .to_owned(),
                })
            })
            .collect();
        let finish = choice
            .and_then(|c| c.get("finish_reason"))
            .and_then(ChatFinish::parse)
            .unwrap_or(ChatFinish::Stop);
        Self {
            text,
            calls,
            finish,
            usage: completion.get("usage").and_then(ChatUsage::parse),
        }
    }

    /// The assistant message of this answer in chat request shape (for a later turn).
    pub fn assistant_message(&self) -> Value {
        assistant_message(&self.text, &self.calls)
    }
}

/// An assistant chat message with text and tool calls.
pub(crate) fn assistant_message(text: &str, calls: &[ChatCall]) -> Value {
    let mut msg = Map::new();
    msg.insert("role".into(), "assistant".into());
    msg.insert(
        "content".into(),
        if text.is_empty() && !calls.is_empty() {
            Value::Null
        } else {
            text.into()
        },
    );
    if !calls.is_empty() {
        let calls = calls
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                })
            })
            .collect();
        msg.insert("tool_calls".into(), Value::Array(calls));
    }
    Value::Object(msg)
}

/// Tool calls assembled from stream pieces, in the order they started.
#[derive(Debug, Default)]
pub(crate) struct CallAssembler {
    calls: Vec<(u64, ChatCall)>,
}

impl CallAssembler {
    pub(crate) fn start(&mut self, index: u64, id: &str, name: &str) {
        self.calls.push((
            index,
            ChatCall {
                id: id.to_owned(),
                name: name.to_owned(),
                arguments: String::new(),
            },
        ));
    }

    /// Appends arguments text; false when no call with this index has started.
    pub(crate) fn append(&mut self, index: u64, text: &str) -> bool {
        match self.calls.iter_mut().rev().find(|(i, _)| *i == index) {
            Some((_, call)) => {
                call.arguments.push_str(text);
                true
            }
            None => false,
        }
    }

    pub(crate) fn last(&self) -> Option<&ChatCall> {
        self.calls.last().map(|(_, c)| c)
    }

    pub(crate) fn calls(&self) -> impl Iterator<Item = &ChatCall> {
        self.calls.iter().map(|(_, c)| c)
    }
}

/// One server-sent event with an `event:` name, as both APIs frame their streams.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub name: &'static str,
    pub data: Value,
}

impl SseEvent {
    pub(crate) fn new(name: &'static str, data: Value) -> Self {
        Self { name, data }
    }

    /// `event: <name>\ndata: <json>\n\n`.
    pub fn to_sse(&self) -> String {
        format!("event: {}\ndata: {}\n\n", self.name, self.data)
    }
}

/// A fresh id: `prefix` and 24 random hex digits.
pub(crate) fn new_id(prefix: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &random[..24])
}

/// Field readers for the translated requests; errors name the field like the chat parser's.
pub(crate) mod fields {
    use super::*;

    pub(crate) fn missing(param: &str) -> RequestError {
        RequestError::new(
            format!("Missing required parameter: '{param}'."),
            Some(param.to_owned()),
            Some(codes::MISSING_REQUIRED_PARAMETER),
        )
    }

    pub(crate) fn wrong_type(param: &str, expected: &str) -> RequestError {
        RequestError::new(
            format!("Invalid type for '{param}': expected {expected}."),
            Some(param.to_owned()),
            Some(codes::INVALID_TYPE),
        )
    }

    pub(crate) fn unsupported(param: &str, message: impl Into<String>) -> RequestError {
        RequestError::new(message, Some(param.to_owned()), Some(codes::INVALID_VALUE))
    }

    /// The request body as an object.
    pub(crate) fn body(value: Value) -> Result<Map<String, Value>, RequestError> {
        match value {
            Value::Object(map) => Ok(map),
            _ => Err(RequestError::new(
                "The request body must be a JSON object.",
                None,
                Some(codes::INVALID_TYPE),
            )),
        }
    }

    /// A required non-empty string.
    pub(crate) fn req_str<'a>(
        map: &'a Map<String, Value>,
        key: &str,
    ) -> Result<&'a str, RequestError> {
        match map.get(key) {
            None | Some(Value::Null) => Err(missing(key)),
            Some(Value::String(s)) if s.trim().is_empty() => Err(RequestError::new(
                format!("Invalid '{key}': empty string."),
                Some(key.to_owned()),
                Some(codes::EMPTY_STRING),
            )),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(wrong_type(key, "a string")),
        }
    }

    /// A string field of a nested object (`param` names it).
    pub(crate) fn str_at<'a>(
        map: &'a Map<String, Value>,
        key: &str,
        param: &str,
    ) -> Result<&'a str, RequestError> {
        match map.get(key) {
            None | Some(Value::Null) => Err(missing(&format!("{param}.{key}"))),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(wrong_type(&format!("{param}.{key}"), "a string")),
        }
    }

    /// An optional boolean (`null` is absent).
    pub(crate) fn opt_bool(
        map: &Map<String, Value>,
        key: &str,
    ) -> Result<Option<bool>, RequestError> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(wrong_type(key, "a boolean")),
        }
    }

    /// Copies the listed fields that are present (and not `null`) from `from` into `to`.
    pub(crate) fn copy(from: &Map<String, Value>, to: &mut Map<String, Value>, keys: &[&str]) {
        for key in keys {
            if let Some(v) = from.get(*key).filter(|v| !v.is_null()) {
                to.insert((*key).to_owned(), v.clone());
            }
        }
    }

    /// `tools` of a translated request → OpenAI function tools: each tool object goes
    /// through `function` (with its param, e.g. `tools[2]`), which gives the inside of
    /// `{"type":"function","function":…}`. Absent → `None`.
    pub(crate) fn function_tools(
        value: Option<&Value>,
        function: impl Fn(&Map<String, Value>, &str) -> Result<Map<String, Value>, RequestError>,
    ) -> Result<Option<Value>, RequestError> {
        let tools = match value {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::Array(tools)) => tools,
            Some(_) => return Err(wrong_type("tools", "an array")),
        };
        let mut out = Vec::with_capacity(tools.len());
        for (i, tool) in tools.iter().enumerate() {
            let param = format!("tools[{i}]");
            let f = function(object(tool, &param)?, &param)?;
            out.push(serde_json::json!({"type": "function", "function": f}));
        }
        Ok(Some(Value::Array(out)))
    }

    /// An object element of an array (`param` names it).
    pub(crate) fn object<'a>(
        value: &'a Value,
        param: &str,
    ) -> Result<&'a Map<String, Value>, RequestError> {
        value
            .as_object()
            .ok_or_else(|| wrong_type(param, "an object"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn chunk_pieces_read_text_calls_finish_and_usage() {
        let chunk = json!({"choices":[{"index":0,"delta":{"content":"Hi","tool_calls":[
            {"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\""}},
            {"index":1,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}],
            "usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}});
        assert_eq!(
            chunk_pieces(&chunk),
            vec![
                ChatPiece::Text("Hi".into()),
                ChatPiece::CallStart {
                    index: 0,
                    id: "call_1".into(),
                    name: "f".into()
                },
                ChatPiece::CallArguments {
                    index: 0,
                    text: "{\"a\"".into()
                },
                ChatPiece::CallArguments {
                    index: 1,
                    text: ":1}".into()
                },
                ChatPiece::Finish(ChatFinish::ToolCalls),
                ChatPiece::Usage(ChatUsage {
                    prompt_tokens: 3,
                    completion_tokens: 4
                }),
            ]
        );
    }

    #[test]
    fn chunk_pieces_skip_empty_role_chunk_and_read_errors() {
        let first = json!({"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]});
        assert!(chunk_pieces(&first).is_empty());
        let err =
            json!({"error":{"message":"boom","type":"upstream_error","param":null,"code":"x"}});
        assert_eq!(
            chunk_pieces(&err),
            vec![ChatPiece::Error(ChatError {
                message: "boom".into(),
                kind: Some("upstream_error".into()),
                code: Some("x".into()),
                param: None,
            })]
        );
    }

    #[test]
    fn completion_is_read_with_calls_and_assistant_message_round_trips() {
        let completion = json!({"id":"c","object":"chat.completion","choices":[{"index":0,
            "message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_9","type":"function",
            "function":{"name":"get","arguments":"{\"q\":1}"}}]},"finish_reason":"tool_calls"}]});
        let answer = ChatAnswer::from_completion(&completion);
        assert_eq!(answer.finish, ChatFinish::ToolCalls);
        assert_eq!(answer.text, "");
        assert_eq!(answer.usage, None);
        assert_eq!(answer.calls[0].arguments_object(), json!({"q":1}));
        assert_eq!(
            answer.assistant_message(),
            json!({"role":"assistant","content":null,"tool_calls":[{"id":"call_9","type":"function",
                "function":{"name":"get","arguments":"{\"q\":1}"}}]})
        );
    }

    #[test]
    fn arguments_that_are_not_an_object_become_empty_object() {
        assert_eq!(arguments_object("[1]"), json!({}));
        assert_eq!(arguments_object("{bad"), json!({}));
    }

    #[test]
    fn sse_event_names_the_event() {
        assert_eq!(
            SseEvent::new("ping", json!({"type":"ping"})).to_sse(),
            "event: ping\ndata: {\"type\":\"ping\"}\n\n"
        );
    }
}
