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
//!
//! Split by seam: `request` (chat completion and image generation requests), `content`
//! (message content and its parts: text, images, audio, files), `format`
//! (`response_format`), `completion` (the legacy `/v1/completions` request as a chat
//! request), `prompt` (the messages the upstream prompt is built from: tools block, format
//! instruction, folded tool loop), `tooling` (tool fields back to JSON), `validate`
//! ([`RequestError`] and the field readers that name the offending field), `response`
//! (answers, stream chunks, model list, error body).

mod completion;
mod content;
mod format;
mod prompt;
mod request;
mod response;
mod tooling;
mod validate;

pub use completion::{parse_completion_request, CompletionRequest};
pub use content::{ContentPart, FileData, ImageUrl, InputAudio, MessageContent, UploadedImage};
pub use format::ResponseFormat;
pub use request::{
    parse_chat_request, parse_image_request, ChatCompletionRequest, ChatMessage,
    ImageGenerationRequest, ImageResponseFormat, Role, StreamOptions,
};
pub use response::{
    ChatCompletion, ChatCompletionChunk, Choice, ChunkChoice, Delta, ErrorBody, ErrorDetail,
    FinishReason, FunctionOut, ImageData, ImagesResponse, ModelList, ModelObject, ResponseMessage,
    TextChoice, TextCompletion, ToolCallOut, Usage,
};
pub use validate::RequestError;

/// `object` of a non-streamed chat completion.
pub(crate) const CHAT_COMPLETION_OBJECT: &str = "chat.completion";
/// `object` of a legacy text completion and of its stream chunks.
pub(crate) const TEXT_COMPLETION_OBJECT: &str = "text_completion";
/// `object` of a streamed chat completion chunk.
pub const CHAT_COMPLETION_CHUNK_OBJECT: &str = "chat.completion.chunk";
/// `object` of one entry of `GET /v1/models`.
pub(crate) const MODEL_OBJECT: &str = "model";
/// `object` of a list answer (`GET /v1/models`).
pub(crate) const LIST_OBJECT: &str = "list";
/// Role of every answer message and of the first stream delta.
pub(crate) const ASSISTANT_ROLE: &str = "assistant";
/// Error `type` of a request the client got wrong (HTTP 400).
pub(crate) const INVALID_REQUEST_ERROR: &str = "invalid_request_error";

/// OpenAI error codes of [`RequestError`] (same words as OpenAI's API).
pub(crate) mod codes {
    pub(crate) const MISSING_REQUIRED_PARAMETER: &str = "missing_required_parameter";
    pub(crate) const INVALID_TYPE: &str = "invalid_type";
    pub(crate) const INVALID_VALUE: &str = "invalid_value";
    pub(crate) const EMPTY_ARRAY: &str = "empty_array";
    pub(crate) const EMPTY_STRING: &str = "empty_string";
    pub(crate) const INTEGER_BELOW_MIN_VALUE: &str = "integer_below_min_value";
    pub(crate) const INTEGER_ABOVE_MAX_VALUE: &str = "integer_above_max_value";
}
