//! `POST /v1/messages`: the Anthropic Messages API, translated to a chat request, run through
//! the chat pipeline, and translated back (message object or Messages stream events). Every
//! error is Anthropic-shaped: `{"type":"error","error":{"type","message"}}`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use bridge_core::compat::anthropic::{
    error_body, message_from_completion, translate_request, ErrorKind, MessageStream,
};
use bridge_core::compat::SseEvent;
use bridge_core::openai::ChatCompletionRequest;
use serde_json::Value;

use super::chat;
use super::read_body;
use super::sse_response;
use super::translate::{self, StreamTranslator};
use crate::error::ApiError;
use crate::pipeline::ChatOutput;
use crate::state::AppState;

/// An [`ApiError`] answered in Anthropic's shape (same status and headers).
#[derive(Debug)]
pub(crate) struct AnthropicError(ApiError);

impl<E: Into<ApiError>> From<E> for AnthropicError {
    fn from(err: E) -> Self {
        Self(err.into())
    }
}

impl std::fmt::Display for AnthropicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for AnthropicError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse {
        let kind = ErrorKind::from_status(self.0.status.as_u16());
        self.0.response_with(error_body(kind, &self.0.message))
    }
}

impl StreamTranslator for MessageStream {
    fn start(&mut self) -> Vec<SseEvent> {
        MessageStream::start(self)
    }

    fn chunk(&mut self, chunk: &Value) -> Vec<SseEvent> {
        self.feed(chunk)
    }

    fn keepalive(&self) -> String {
        MessageStream::ping().to_sse()
    }

    fn done(&self) -> bool {
        self.is_done()
    }

    fn finish(&mut self) -> Vec<SseEvent> {
        MessageStream::finish(self)
    }
}

pub(crate) async fn messages(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, AnthropicError> {
    let limit = state.config().max_request_bytes;
    let body = read_body(&req, payload, limit).await?;
    let translated = translate_request(super::json_body(&body)?)?;
    let chat = ChatCompletionRequest::from_json(translated.chat)?;
    // Built first: too many stop sequences is a 400 before anything runs.
    let stream = MessageStream::new(&translated.model, &translated.stop_sequences)?;
    match chat::run(&req, &state, &chat).await? {
        ChatOutput::Stream(frames) => Ok(sse_response(translate::spawn(frames, stream))),
        ChatOutput::Complete(completion) => {
            let completion = serde_json::to_value(&completion)
                .map_err(|e| ApiError::internal(format!("Rendering the answer failed: {e}")))?;
            let message = message_from_completion(
                &completion,
                &translated.model,
                &translated.stop_sequences,
            )?;
            Ok(HttpResponse::Ok().json(message))
        }
    }
}
