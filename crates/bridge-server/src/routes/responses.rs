//! `POST /v1/responses`: the OpenAI Responses API (stateless subset), translated to a chat
//! request, run through the chat pipeline, and translated back (response object or
//! Responses stream events). `previous_response_id` continues a remembered response.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use bridge_core::compat::responses::{
    previous_not_found, translate_request, ResponseShell, ResponseStream,
};
use bridge_core::compat::SseEvent;
use bridge_core::openai::ChatCompletionRequest;
use serde_json::Value;

use super::chat;
use super::read_body;
use super::sse_response;
use super::translate::{self, StreamTranslator};
use crate::clock::unix_now;
use crate::error::ApiError;
use crate::output::SSE_KEEPALIVE;
use crate::pipeline::ChatOutput;
use crate::response_memory::ResponseMemory;
use crate::state::AppState;

/// A Responses stream that remembers its history when it completes.
struct Remembering {
    stream: ResponseStream,
    memory: Arc<ResponseMemory>,
    /// History before this response's answer (earlier turns and this input).
    history: Vec<Value>,
}

impl StreamTranslator for Remembering {
    fn start(&mut self) -> Vec<SseEvent> {
        self.stream.start()
    }

    fn chunk(&mut self, chunk: &Value) -> Vec<SseEvent> {
        self.stream.feed(chunk)
    }

    fn keepalive(&self) -> String {
        SSE_KEEPALIVE.to_owned()
    }

    fn done(&self) -> bool {
        self.stream.is_done()
    }

    fn finish(&mut self) -> Vec<SseEvent> {
        let (events, answer) = self.stream.finish();
        if let Some(answer) = answer {
            let mut history = std::mem::take(&mut self.history);
            history.push(answer);
            self.memory.put(self.stream.id(), history);
        }
        events
    }
}

pub(crate) async fn responses(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = state.config().max_request_bytes;
    let body = read_body(&req, payload, limit).await?;
    let translated = translate_request(super::json_body(&body)?)?;
    let memory = state.response_memory();
    let earlier = match &translated.previous_response_id {
        None => Arc::new(Vec::new()),
        Some(id) => memory.get(id).ok_or_else(|| previous_not_found(id))?,
    };
    let chat = ChatCompletionRequest::from_json(translated.chat_request(&earlier))?;
    let mut history = Vec::with_capacity(earlier.len() + translated.input.len() + 1);
    history.extend(earlier.iter().cloned());
    history.extend(translated.input.iter().cloned());
    let shell = ResponseShell::new(&translated, unix_now());
    match chat::run(&req, &state, &chat).await? {
        ChatOutput::Stream(frames) => {
            let translator = Remembering {
                stream: ResponseStream::new(shell),
                memory,
                history,
            };
            Ok(sse_response(translate::spawn(frames, translator)))
        }
        ChatOutput::Complete(completion) => {
            let completion = serde_json::to_value(&completion)
                .map_err(|e| ApiError::internal(format!("Rendering the answer failed: {e}")))?;
            let (response, answer) = shell.from_completion(&completion);
            history.push(answer);
            memory.put(shell.id(), history);
            Ok(HttpResponse::Ok().json(response))
        }
    }
}
