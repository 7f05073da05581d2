//! Anthropic Messages API (`POST /v1/messages`) on the chat pipeline.
//!
//! - `request`: Messages request → chat completions request JSON ([`translate_request`]).
//! - `response`: `chat.completion` → `message` object ([`message_from_completion`]), stop
//!   sequences, the error body ([`error_body`], [`ErrorKind`]).
//! - `stream`: chat chunks → the Messages stream events ([`MessageStream`]).

mod request;
mod response;
mod stream;

pub use request::{translate_request, MessagesRequest, DEFAULT_MAX_TOKENS};
pub use response::{error_body, message_from_completion, ErrorKind, StopReason};
pub use stream::MessageStream;

/// `type` of a message object.
const MESSAGE_TYPE: &str = "message";
/// Prefix of message ids.
const MESSAGE_ID_PREFIX: &str = "msg_";
