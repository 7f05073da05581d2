//! `POST /v1/chat/completions`: read and parse the body, hand the request to the request
//! layer, and answer as OpenAI would, streaming (SSE) or not. [`run`] is the chat pipeline
//! itself, also used by the translated APIs (`/v1/messages`, `/v1/responses`).

use std::convert::Infallible;

use actix_web::{web, HttpRequest, HttpResponse};
use bridge_core::openai::{parse_chat_request, ChatCompletion, ChatCompletionRequest};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::read_body;
use crate::answer::{self, Observer};
use crate::clock::unix_now;
use crate::error::ApiError;
use crate::output::ChunkWriter;
use crate::request;
use crate::security::{request_id, set_log_facts};
use crate::state::AppState;

/// What the chat pipeline answered: the SSE frames of a stream (`data: {…}`, keep-alive
/// comments, `data: [DONE]`), or one completion.
pub(crate) enum ChatRun {
    Stream(mpsc::Receiver<bytes::Bytes>),
    Complete(ChatCompletion),
}

pub(crate) async fn chat_completions(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = state.config().max_request_bytes;
    let body = read_body(&req, payload, limit).await?;
    let chat = parse_chat_request(&body)?;
    match run(&req, &state, &chat).await? {
        ChatRun::Stream(frames) => Ok(sse_response(tokio_stream::wrappers::ReceiverStream::new(
            frames,
        ))),
        ChatRun::Complete(completion) => Ok(HttpResponse::Ok().json(completion)),
    }
}

/// Runs a parsed chat request through the pipeline. Errors before the first streamed byte
/// are the `Err`; later ones are in the stream.
pub(crate) async fn run(
    req: &HttpRequest,
    state: &AppState,
    chat: &ChatCompletionRequest,
) -> Result<ChatRun, ApiError> {
    set_log_facts(req, Some(&chat.model), None);
    let n = chat.n.unwrap_or(1).max(1) as usize;
    let prepared = request::prepare(state, chat, n)?;
    let choices = prepared.jobs.len();
    let track = state
        .stats()
        .begin(&request_id(req), &prepared.model, chat.stream);
    let events = request::start(state, prepared.jobs, &track);
    let observer = Observer::new(track, choices);
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let writer = ChunkWriter::new(id, unix_now(), prepared.model, choices);
    if chat.stream {
        let answer = answer::stream(state, events, observer, writer, chat.include_usage());
        let tab = answer
            .head
            .await
            .map_err(|_| ApiError::internal("The answer task ended unexpectedly."))??;
        set_log_facts(req, None, tab);
        Ok(ChatRun::Stream(answer.body))
    } else {
        let (completion, tab) = answer::collect(state, events, observer, writer).await?;
        set_log_facts(req, None, tab);
        Ok(ChatRun::Complete(completion))
    }
}

/// A `text/event-stream` answer with the headers that keep proxies from buffering it.
pub(crate) fn sse_response(
    body: impl futures_util::Stream<Item = bytes::Bytes> + 'static,
) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body.map(Ok::<_, Infallible>))
}
