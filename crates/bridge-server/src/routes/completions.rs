//! `POST /v1/completions` (legacy): the prompt runs as a one-message chat request and the
//! answer comes back as `text_completion` objects, streaming or not.

use actix_web::{web, HttpRequest, HttpResponse};
use bridge_core::openai::{parse_completion_request, TextCompletion};

use super::{read_body, sse_response};
use crate::error::ApiError;
use crate::output::Shape;
use crate::pipeline::{run_chat, ChatOutput};
use crate::security::{request_id, set_log_facts};
use crate::state::AppState;

pub(crate) async fn completions(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = state.config().max_request_bytes;
    let body = read_body(&req, payload, limit).await?;
    let chat = parse_completion_request(&body)?.chat;
    set_log_facts(&req, Some(&chat.model), None);
    let run = run_chat(&state, &chat, &request_id(&req), Shape::Text).await?;
    set_log_facts(&req, None, run.tab);
    Ok(match run.output {
        ChatOutput::Stream(body) => sse_response(body),
        ChatOutput::Complete(completion) => {
            HttpResponse::Ok().json(TextCompletion::from_chat(completion))
        }
    })
}
