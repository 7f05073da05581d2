//! OpenAI Responses API (`POST /v1/responses`), stateless subset, on the chat pipeline.
//!
//! - `request`: Responses request → chat completions request JSON ([`translate_request`]);
//!   `previous_response_id` is the caller's: it hands the remembered history to
//!   [`ResponsesRequest::chat_request`].
//! - `response`: the `response` object ([`ResponseShell`]) from a `chat.completion`.
//! - `stream`: chat chunks → the Responses stream events ([`ResponseStream`]).
//!
//! Errors keep the OpenAI shape (`{"error":{…}}`), as the Responses API does.

mod request;
mod response;
mod stream;

pub use request::{previous_not_found, translate_request, ResponsesRequest};
pub use response::ResponseShell;
pub use stream::ResponseStream;

/// Prefix of response ids.
const RESPONSE_ID_PREFIX: &str = "resp_";
/// Prefix of output message item ids.
const MESSAGE_ITEM_PREFIX: &str = "msg_";
/// Prefix of function call item ids (the call itself keeps its `call_…` id as `call_id`).
const FUNCTION_ITEM_PREFIX: &str = "fc_";
