//! `POST /v1/chat/completions`: read and parse the body, hand the request to the request
//! layer, and answer as OpenAI would, streaming (SSE) or not.

use std::convert::Infallible;

use actix_web::{web, HttpRequest, HttpResponse};
use bridge_core::openai::parse_chat_request;
use futures_util::StreamExt;

use super::read_body;
use crate::answer::{self, Observer};
use crate::clock::unix_now;
use crate::error::ApiError;
use crate::output::ChunkWriter;
use crate::request;
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
    set_log_facts(&req, Some(&chat.model), None);
    let n = chat.n.unwrap_or(1).max(1) as usize;
    let prepared = request::prepare(&state, &chat, n)?;
    let choices = prepared.jobs.len();
    let track = state
        .stats()
        .begin(&request_id(&req), &prepared.model, chat.stream);
    let events = request::start(&state, prepared.jobs, &track);
    let observer = Observer::new(track, choices);
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let writer = ChunkWriter::new(id, unix_now(), prepared.model, choices);
    if chat.stream {
        let answer = answer::stream(&state, events, observer, writer, chat.include_usage());
        let tab = answer
            .head
            .await
            .map_err(|_| ApiError::internal("The answer task ended unexpectedly."))??;
        set_log_facts(&req, None, tab);
        let body =
            tokio_stream::wrappers::ReceiverStream::new(answer.body).map(Ok::<_, Infallible>);
        Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("Cache-Control", "no-cache"))
            .insert_header(("X-Accel-Buffering", "no"))
            .streaming(body))
    } else {
        let (completion, tab) = answer::collect(&state, events, observer, writer).await?;
        set_log_facts(&req, None, tab);
        Ok(HttpResponse::Ok().json(completion))
    }
}
