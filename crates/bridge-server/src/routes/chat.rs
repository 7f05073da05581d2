//! `POST /v1/chat/completions`: read and parse the body, run it through the chat pipeline,
//! and answer as OpenAI would, streaming (SSE) or not. [`run`] is also what the translated
//! APIs (`/v1/messages`, `/v1/responses`) call between their translations.

use actix_web::{web, HttpRequest, HttpResponse};
use bridge_core::openai::{parse_chat_request, ChatCompletionRequest};

use super::{read_body, sse_response};
use crate::error::ApiError;
use crate::output::Shape;
use crate::pipeline::{run_chat, ChatOutput};
use crate::security::{request_id, set_log_facts};
use crate::state::AppState;

pub(crate) async fn chat_completions(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = state.config().max_request_bytes;
    let body = read_body(&req, payload, limit).await?;
    let chat = parse_chat_request(&body)?;
    Ok(match run(&req, &state, &chat).await? {
        ChatOutput::Stream(body) => sse_response(body),
        ChatOutput::Complete(completion) => HttpResponse::Ok().json(completion),
    })
}

/// Runs a parsed chat request through the pipeline, with the request's log facts (model,
/// tab). Errors before the first streamed byte are the `Err`; later ones are in the stream.
pub(crate) async fn run(
    req: &HttpRequest,
    state: &AppState,
    chat: &ChatCompletionRequest,
) -> Result<ChatOutput, ApiError> {
    set_log_facts(req, Some(&chat.model), None);
    let run = run_chat(state, chat, &request_id(req), Shape::Chat).await?;
    set_log_facts(req, None, run.tab);
    Ok(run.output)
}
