//! Calls coming out of the parser and going back to clients: [`ToolEvent`], [`ToolCall`] with
//! its OpenAI wire shapes (`delta.tool_calls[]`, `message.tool_calls[]`), rejections, ids, and
//! the assistant calls found in a request's history.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::spec::FUNCTION_TYPE;

/// Prefix of OpenAI tool call ids.
const CALL_ID_PREFIX: &str = "call_";
/// Hex digits after the prefix (OpenAI's ids are of this length).
const CALL_ID_RANDOM_LEN: usize = 24;

/// A fresh OpenAI-style call id: `call_` and 24 random hex digits.
pub fn new_call_id() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{CALL_ID_PREFIX}{}", &random[..CALL_ID_RANDOM_LEN])
}

/// What the parser makes of the model's answer, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ToolEvent {
    /// Answer text that is not part of a call: stream it as `content`.
    Text(String),
    /// A complete, valid call.
    Call(ToolCall),
    /// Something written as a call that cannot be used. Send `raw` as `content` text; if no
    /// call was emitted the answer ends with finish reason `stop`.
    Rejected(RejectedCall),
}

/// One valid call, checked against the tool's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    /// Position among the calls of this answer (`delta.tool_calls[].index`).
    pub index: usize,
    /// `call_…` id.
    pub id: String,
    pub name: String,
    /// The arguments object as compact JSON text (OpenAI sends it as a string).
    pub arguments: String,
    /// Whether the model's JSON needed the local repair attempt.
    pub repaired: bool,
}

impl ToolCall {
    /// The element of `choices[].delta.tool_calls` that streams this whole call in one chunk.
    pub fn delta(&self) -> ToolCallDelta<'_> {
        ToolCallDelta {
            index: self.index,
            id: &self.id,
            kind: FUNCTION_TYPE,
            function: FunctionCall {
                name: &self.name,
                arguments: &self.arguments,
            },
        }
    }

    /// The element of `choices[].message.tool_calls` (non-streamed answers).
    pub fn message(&self) -> ToolCallMessage<'_> {
        ToolCallMessage {
            id: &self.id,
            kind: FUNCTION_TYPE,
            function: FunctionCall {
                name: &self.name,
                arguments: &self.arguments,
            },
        }
    }

    /// The arguments as a JSON value (Responses and Anthropic shapes want an object).
    pub fn arguments_value(&self) -> Value {
        serde_json::from_str(&self.arguments).unwrap_or(Value::Null)
    }
}

/// `{"index","id","type":"function","function":{"name","arguments"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolCallDelta<'a> {
    pub index: usize,
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionCall<'a>,
}

/// `{"id","type":"function","function":{"name","arguments"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolCallMessage<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionCall<'a>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionCall<'a> {
    pub name: &'a str,
    pub arguments: &'a str,
}

/// A call-like block that was not turned into a call, with the model's text unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedCall {
    pub raw: String,
    pub reason: RejectReason,
}

/// Why a call-like block was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    #[error("call is not valid JSON even after one repair attempt: {detail}")]
    Unparseable { detail: String },
    #[error("call names {name:?}, which is not one of the tools")]
    UnknownTool { name: String },
    #[error("call names {name:?}, but tool_choice requires {chosen:?}")]
    NotChosen { name: String, chosen: String },
    #[error("second call {name:?} although parallel_tool_calls is false")]
    ParallelNotAllowed { name: String },
    #[error("arguments of {name:?} do not match its schema: {detail}")]
    InvalidArguments { name: String, detail: String },
}

/// How an answer with tools ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolFinish {
    /// At least one call was emitted: finish reason `tool_calls`.
    ToolCalls,
    /// No call: the upstream finish reason stands (`stop` for a rejected call).
    NoCalls,
}

/// An assistant call from a request's history, as OpenAI clients send it back
/// (`{"id","type":"function","function":{"name","arguments"}}`; `arguments` may be a string
/// or, from lenient clients, an object).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Value")]
pub struct AssistantToolCall {
    pub id: String,
    pub name: String,
    /// JSON text of the arguments.
    pub arguments: String,
}

impl AssistantToolCall {
    pub fn new(id: &str, name: &str, arguments: &str) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            arguments: arguments.to_owned(),
        }
    }
}

impl TryFrom<Value> for AssistantToolCall {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, String> {
        let id = value
            .get("id")
            .and_then(Value::as_str)
            .ok_or("tool_calls[].id: a string expected")?;
        let function = value
            .get("function")
            .ok_or("tool_calls[].function: missing")?;
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .ok_or("tool_calls[].function.name: a string expected")?;
        let arguments = match function.get("arguments") {
            None | Some(Value::Null) => "{}".to_owned(),
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
        };
        Ok(Self::new(id, name, &arguments))
    }
}
