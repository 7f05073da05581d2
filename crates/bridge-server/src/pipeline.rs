//! Runs one parsed chat request end to end: the emulated features prepared (tools block,
//! folded tool loop, format instruction in the upstream prompt), the request layer's jobs
//! started, and the answer task reading them. The chat and legacy completion routes use it,
//! and so can any route that translates its API into a chat request.

use std::sync::Arc;

use bridge_core::openai::{ChatCompletion, ChatCompletionRequest};
use tokio::sync::mpsc;

use crate::answer::{self, Observer};
use crate::clock::unix_now;
use crate::emulate::Emulation;
use crate::error::ApiError;
use crate::media;
use crate::output::{ChunkWriter, Shape};
use crate::pool::ConnId;
use crate::request;
use crate::state::AppState;
use crate::uploads;

/// What a run produced.
pub(crate) enum ChatOutput {
    /// SSE frames (chunks of the requested [`Shape`], then `[DONE]`); errors after the first
    /// frame are an SSE error event.
    Stream(mpsc::Receiver<bytes::Bytes>),
    /// The whole answer (`stream: false`).
    Complete(ChatCompletion),
}

/// The answer of one run and the tab that served it (for the request log line).
pub(crate) struct ChatRun {
    pub(crate) output: ChatOutput,
    pub(crate) tab: Option<ConnId>,
}

/// Runs a chat request; errors before the answer started are the HTTP answer.
pub(crate) async fn run_chat(
    state: &AppState,
    chat: &ChatCompletionRequest,
    request_id: &str,
    shape: Shape,
) -> Result<ChatRun, ApiError> {
    // An unknown model is refused before any image is downloaded or uploaded.
    let snapshot = state.snapshot();
    let found = request::find_route(state, &snapshot, &chat.model)?;
    let mut upstream = chat.for_upstream();
    media::inline_images(&mut upstream, &state.options().downloads).await?;
    uploads::upload_images(state, &mut upstream).await;
    let upstream = Arc::new(upstream);
    let n = chat.n.unwrap_or(1).max(1) as usize;
    let prepared = request::prepare(state, &snapshot.config, &found, &upstream, n)?;
    let choices = prepared.jobs.len();
    let track = state
        .stats()
        .begin(request_id, &prepared.model, chat.stream);
    let emulation = Arc::new(Emulation::new(chat, upstream));
    let started = request::start(state, prepared.jobs, &track);
    let observer = Observer::new(track, choices);
    let id = match shape {
        Shape::Chat => format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        Shape::Text => format!("cmpl-{}", uuid::Uuid::new_v4().simple()),
    };
    let writer = ChunkWriter::new(id, unix_now(), prepared.model, choices, shape);
    if chat.stream {
        let answer = answer::stream(
            state,
            started,
            observer,
            writer,
            emulation,
            chat.include_usage(),
        );
        let tab = answer
            .head
            .await
            .map_err(|_| ApiError::internal("The answer task ended unexpectedly."))??;
        Ok(ChatRun {
            output: ChatOutput::Stream(answer.body),
            tab,
        })
    } else {
        let collect = answer::collect(state, started.events, observer, writer, emulation);
        let (completion, tab) = request::Started::alongside(started.inline, collect).await?;
        Ok(ChatRun {
            output: ChatOutput::Complete(completion),
            tab,
        })
    }
}
