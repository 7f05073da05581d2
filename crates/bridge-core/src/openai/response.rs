//! What the server answers: completions, stream chunks, the model list, images and the
//! OpenAI error body.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::validate::RequestError;
use super::{
    ASSISTANT_ROLE, CHAT_COMPLETION_CHUNK_OBJECT, CHAT_COMPLETION_OBJECT, INVALID_REQUEST_ERROR,
    LIST_OBJECT, MODEL_OBJECT, TEXT_COMPLETION_OBJECT,
};
use crate::models::ModelKind;
use crate::tools::spec::FUNCTION_TYPE;
use crate::tools::ToolCall;

/// Why generation ended, in OpenAI's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
    ContentFilter,
    ToolCalls,
}

/// Token counts: as reported by upstream, or counted by the bridge and then marked
/// `"estimated": true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    /// Present (true) only when the bridge counted the tokens itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated: Option<bool>,
}

impl Usage {
    /// Numbers reported by upstream.
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            estimated: None,
        }
    }

    /// Numbers the bridge counted with its own tokenizer.
    pub fn estimated(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            estimated: Some(true),
            ..Self::new(prompt_tokens, completion_tokens)
        }
    }
}

/// One tool call of an answer: `message.tool_calls[]` (no `index`) or
/// `delta.tool_calls[]` (with `index`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallOut {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Cow<'static, str>,
    pub function: FunctionOut,
}

/// `function` of a [`ToolCallOut`]; `arguments` is JSON text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionOut {
    pub name: String,
    pub arguments: String,
}

impl ToolCallOut {
    /// The whole call as one streamed `delta.tool_calls[]` element.
    pub fn delta(call: &ToolCall) -> Self {
        Self {
            index: Some(call.index as u32),
            ..Self::message(call)
        }
    }

    /// The call as a `message.tool_calls[]` element.
    pub fn message(call: &ToolCall) -> Self {
        Self {
            index: None,
            id: call.id.clone(),
            kind: Cow::Borrowed(FUNCTION_TYPE),
            function: FunctionOut {
                name: call.name.clone(),
                arguments: call.arguments.clone(),
            },
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallOut>>,
}

impl ResponseMessage {
    /// An assistant message.
    pub fn assistant(content: Option<String>, reasoning_content: Option<String>) -> Self {
        Self {
            role: Cow::Borrowed(ASSISTANT_ROLE),
            content,
            reasoning_content,
            tool_calls: None,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallOut>>,
}

impl<'a> Delta<'a> {
    /// The first delta of a choice: `{"role":"assistant","content":""}`.
    pub fn assistant_start() -> Self {
        Self {
            role: Some(Cow::Borrowed(ASSISTANT_ROLE)),
            content: Some(Cow::Borrowed("")),
            reasoning_content: None,
            tool_calls: None,
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

/// A legacy `/v1/completions` answer, and also each of its stream chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextCompletion {
    pub id: String,
    pub object: Cow<'static, str>,
    /// Unix seconds.
    pub created: i64,
    pub model: String,
    pub choices: Vec<TextChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

impl TextCompletion {
    pub fn new(
        id: impl Into<String>,
        created: i64,
        model: impl Into<String>,
        choices: Vec<TextChoice>,
    ) -> Self {
        Self {
            id: id.into(),
            object: Cow::Borrowed(TEXT_COMPLETION_OBJECT),
            created,
            model: model.into(),
            choices,
            usage: None,
        }
    }

    /// The legacy shape of a chat answer (the text of each choice's message).
    pub fn from_chat(chat: ChatCompletion) -> Self {
        let choices = chat
            .choices
            .into_iter()
            .map(|c| TextChoice {
                text: c.message.content.unwrap_or_default(),
                index: c.index,
                logprobs: None,
                finish_reason: c.finish_reason,
            })
            .collect();
        let mut out = Self::new(chat.id, chat.created, chat.model, choices);
        out.usage = chat.usage;
        out
    }
}

/// One choice of a [`TextCompletion`]; `logprobs` is always `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextChoice {
    pub text: String,
    pub index: u32,
    pub logprobs: Option<serde_json::Value>,
    pub finish_reason: Option<FinishReason>,
}

/// One entry of `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelObject {
    pub id: String,
    pub object: Cow<'static, str>,
    /// Unix seconds.
    pub created: i64,
    pub owned_by: String,
    /// An extra field clients ignore: `chat`, `search` or `image` ([`ModelKind::api_type`]).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Cow<'static, str>>,
}

impl ModelObject {
    pub fn new(id: impl Into<String>, created: i64, owned_by: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            object: Cow::Borrowed(MODEL_OBJECT),
            created,
            owned_by: owned_by.into(),
            kind: None,
        }
    }

    /// The entry with its `type` field for a model of `kind`.
    pub fn with_kind(mut self, kind: &ModelKind) -> Self {
        self.kind = Some(Cow::Borrowed(kind.api_type()));
        self
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
