//! The answer task: reads the job messages of one request and turns them into the client's
//! answer, SSE frames as they come or one `chat.completion` (or the image URLs). It owns all
//! rendering state (including the emulated features: a choice cut by a stop sequence or
//! `max_tokens` ends there, and once every choice ended the job channel is dropped, which
//! aborts the upstream answer), notes first token and outcome on the request's track, and
//! is where a [`JobError`] becomes the client's [`ApiError`] (once, through `From`).

use std::sync::Arc;

use bridge_core::arena::stream::StreamEvent;
use bridge_core::openai::{ChatCompletion, Choice, ResponseMessage, ToolCallOut};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::emulate::Emulation;
use crate::error::ApiError;
use crate::output::{ChoiceRenderer, ChunkWriter, Rendered, SSE_DONE, SSE_KEEPALIVE};
use crate::pool::ConnId;
use crate::relay::JobError;
use crate::request::{JobMsg, EVENTS_CAPACITY};
use crate::state::AppState;
use crate::stats::{Outcome, RequestTrack};

/// Notes first token and outcome of a request from the job messages as the answer task reads
/// them (no extra task or channel).
#[derive(Debug)]
pub(crate) struct Observer {
    track: RequestTrack,
    choices: usize,
    ended: usize,
    answered: bool,
}

impl Observer {
    pub(crate) fn new(track: RequestTrack, choices: usize) -> Self {
        Self {
            track,
            choices,
            ended: 0,
            answered: false,
        }
    }

    /// Notes one message of a job task.
    fn see(&mut self, msg: &JobMsg) {
        match msg {
            JobMsg::Event(ev) => {
                if !self.answered
                    && matches!(
                        ev,
                        StreamEvent::Text(_)
                            | StreamEvent::Reasoning(_)
                            | StreamEvent::Image { .. }
                    )
                {
                    self.answered = true;
                    self.track.first_token();
                }
            }
            JobMsg::End => {
                self.ended += 1;
                if self.ended >= self.choices {
                    if self.answered {
                        self.track.finish(Outcome::Ok, 200);
                    } else {
                        // The answer task turns an empty answer into a 502.
                        self.track.finish(Outcome::UpstreamError, 502);
                    }
                }
            }
            JobMsg::Failed(_) | JobMsg::Queued | JobMsg::Started(_) => {}
        }
    }

    /// Notes an answer that arrived but breaks the request's `response_format`.
    fn violated(&mut self, err: &ApiError) {
        self.track
            .finish(Outcome::UpstreamError, err.status.as_u16());
    }

    /// Notes a failed job and gives the client's error for it: the outcome comes from the
    /// variant, the status from the one conversion.
    fn fail(&mut self, err: JobError) -> ApiError {
        let outcome = err.outcome();
        let api = ApiError::from(err);
        self.track.finish(outcome, api.status.as_u16());
        api
    }
}

/// A streaming answer: the SSE body, and the head decision (the tab, or the error that must
/// be the HTTP answer), which comes at the first upstream event or when the request queues.
pub(crate) struct StreamAnswer {
    pub(crate) body: mpsc::Receiver<bytes::Bytes>,
    pub(crate) head: oneshot::Receiver<Result<Option<ConnId>, ApiError>>,
}

/// Spawns the answer task of a streaming request in the caller's span.
pub(crate) fn stream(
    state: &AppState,
    events: mpsc::Receiver<(usize, JobMsg)>,
    observer: Observer,
    writer: ChunkWriter,
    emulation: Arc<Emulation>,
    include_usage: bool,
) -> StreamAnswer {
    let (tx, body) = mpsc::channel(EVENTS_CAPACITY);
    let (head_tx, head) = oneshot::channel();
    let task = stream_answer(
        state.clone(),
        events,
        observer,
        writer,
        (emulation, include_usage),
        tx,
        head_tx,
    );
    actix_web::rt::spawn(task.in_current_span());
    StreamAnswer { body, head }
}

/// Renderers of one request's choices, with which of them have ended.
struct Choices {
    renderers: Vec<ChoiceRenderer>,
    ended: Vec<bool>,
}

impl Choices {
    fn new(state: &AppState, count: usize, emulation: &Arc<Emulation>) -> Self {
        let mode = state.config().reasoning_output;
        Self {
            renderers: (0..count)
                .map(|_| ChoiceRenderer::new(mode, emulation.clone()))
                .collect(),
            ended: vec![false; count],
        }
    }

    /// The renderer of a choice still running.
    fn open(&mut self, index: usize) -> Option<&mut ChoiceRenderer> {
        match self.ended.get(index) {
            Some(false) => self.renderers.get_mut(index),
            _ => None,
        }
    }

    /// Marks a choice ended; true when it was the last one.
    fn end(&mut self, index: usize) -> bool {
        if let Some(e) = self.ended.get_mut(index) {
            *e = true;
        }
        self.ended.iter().all(|e| *e)
    }
}

/// Streams the answer as SSE. The HTTP status is decided at the first upstream event (or
/// when the request has to queue), so early failures are real HTTP errors.
async fn stream_answer(
    state: AppState,
    mut events: mpsc::Receiver<(usize, JobMsg)>,
    mut observer: Observer,
    mut writer: ChunkWriter,
    (emulation, include_usage): (Arc<Emulation>, bool),
    tx: mpsc::Sender<bytes::Bytes>,
    head_tx: oneshot::Sender<Result<Option<ConnId>, ApiError>>,
) {
    let mut choices = Choices::new(&state, writer.choices(), &emulation);
    let mut head_tx = Some(head_tx);
    let mut tab: Option<ConnId> = None;
    let keepalive_every = state.options().keepalive_interval;
    let mut keepalive = tokio::time::interval_at(
        tokio::time::Instant::now() + keepalive_every,
        keepalive_every,
    );
    let mut shutdown = state.shutdown_signal();
    // A client that stops reading must not hold the tab: each write gives up after the idle
    // timeout, or at shutdown, and the request ends (its jobs abort, the slot comes free).
    let idle = std::time::Duration::from_secs(state.config().stream_response_timeout_seconds);
    let stopping = state.shutdown_signal();
    let send = |b: bytes::Bytes| deliver(&tx, b, idle, stopping.clone());
    let mut all_ended = false;

    while !all_ended {
        tokio::select! {
            msg = events.recv() => {
                let Some((index, msg)) = msg else { break };
                // A choice cut short by the emulation ignores the rest of its upstream answer.
                if choices.open(index).is_none() && !matches!(msg, JobMsg::Queued | JobMsg::Started(_)) {
                    continue;
                }
                if !matches!(msg, JobMsg::End) {
                    observer.see(&msg);
                }
                match msg {
                    JobMsg::Queued => {
                        if let Some(h) = head_tx.take() {
                            let _ = h.send(Ok(None));
                        }
                    }
                    JobMsg::Started(conn) => {
                        tab.get_or_insert(conn);
                    }
                    JobMsg::Event(ev) => {
                        if let Some(h) = head_tx.take() {
                            if h.send(Ok(tab)).is_err() {
                                return;
                            }
                        }
                        let Some(r) = choices.open(index) else { continue };
                        let rendered = r.render(ev);
                        let cut = r.cut().is_some();
                        if let Some(frame) = writer.delta(index, rendered) {
                            if send(frame).await.is_err() {
                                return;
                            }
                            keepalive.reset();
                        }
                        if cut {
                            observer.see(&JobMsg::End);
                            match end_choice(&mut choices, &mut writer, index, &send).await {
                                Ok(last) => all_ended = last,
                                Err(()) => return,
                            }
                        }
                    }
                    JobMsg::End => {
                        if let Some(h) = head_tx.take() {
                            if h.send(Ok(tab)).is_err() {
                                return;
                            }
                        }
                        let verdict = choices.open(index).map(|r| {
                            let closing = r.close();
                            (closing, r.check_format())
                        });
                        if let Some((closing, verdict)) = verdict {
                            if let Some(frame) = writer.delta(index, closing) {
                                if send(frame).await.is_err() {
                                    return;
                                }
                            }
                            if let Err(why) = verdict {
                                // The text is already out: the violation ends the stream as
                                // an error event instead of a finish chunk.
                                let err = ApiError::format_violation(&why);
                                observer.violated(&err);
                                tracing::warn!("streamed answer broke response_format: {why}");
                                let _ = send(bytes::Bytes::from(err.sse_event())).await;
                                let _ = send(bytes::Bytes::from_static(SSE_DONE.as_bytes())).await;
                                return;
                            }
                        }
                        observer.see(&JobMsg::End);
                        match end_choice(&mut choices, &mut writer, index, &send).await {
                            Ok(last) => all_ended = last,
                            Err(()) => return,
                        }
                    }
                    JobMsg::Failed(err) => {
                        let err = observer.fail(*err);
                        if let Some(h) = head_tx.take() {
                            let _ = h.send(Err(err));
                            return;
                        }
                        tracing::warn!(status = err.status.as_u16(), "answer failed after the stream started: {}", err.message);
                        let _ = send(bytes::Bytes::from(err.sse_event())).await;
                        let _ = send(bytes::Bytes::from_static(SSE_DONE.as_bytes())).await;
                        return;
                    }
                }
            }
            // Comments while nothing else is written: clients and proxies keep the
            // connection, and a client that went away is noticed at the next write.
            _ = keepalive.tick(), if head_tx.is_none() => {
                if send(bytes::Bytes::from_static(SSE_KEEPALIVE.as_bytes())).await.is_err() {
                    return;
                }
            }
            _ = shutdown.wait_for(|v| *v) => {
                let err = ApiError::from(JobError::ShuttingDown);
                match head_tx.take() {
                    Some(h) => { let _ = h.send(Err(err)); }
                    None => {
                        let _ = send(bytes::Bytes::from(err.sse_event())).await;
                        let _ = send(bytes::Bytes::from_static(SSE_DONE.as_bytes())).await;
                    }
                }
                return;
            }
            _ = tx.closed() => return,
        }
    }
    // Every choice ended: dropping the job channel aborts upstream answers still running.
    drop(events);
    if let Some(h) = head_tx.take() {
        let _ = h.send(Err(ApiError::from(JobError::EmptyAnswer)));
        return;
    }
    if include_usage {
        let usage = choices.renderers.first().map(ChoiceRenderer::usage);
        if let Some(usage) = usage {
            if send(writer.usage(usage)).await.is_err() {
                return;
            }
        }
    }
    let _ = send(bytes::Bytes::from_static(SSE_DONE.as_bytes())).await;
}

/// Why a write to the client's body did not happen.
#[derive(Debug)]
enum Undelivered {
    /// The client went away.
    Closed,
    /// The client did not take the frame within the idle timeout.
    Stalled,
    /// The server is shutting down.
    ShuttingDown,
}

/// Sends one frame to the client's body, raced against the idle timeout and shutdown (a
/// frame that fits in the channel is sent first, whatever else is ready).
async fn deliver(
    tx: &mpsc::Sender<bytes::Bytes>,
    frame: bytes::Bytes,
    idle: std::time::Duration,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> Result<(), Undelivered> {
    let result = tokio::select! {
        biased;
        sent = tx.send(frame) => sent.map_err(|_| Undelivered::Closed),
        _ = tokio::time::sleep(idle) => Err(Undelivered::Stalled),
        _ = stopping.wait_for(|v| *v) => Err(Undelivered::ShuttingDown),
    };
    if let Err(why) = &result {
        if !matches!(why, Undelivered::Closed) {
            tracing::info!(
                ?why,
                "the client is not reading its answer; ending the request"
            );
        }
    }
    result
}

/// Writes the finish chunk of a choice and marks it ended; `Ok(true)` when it was the last
/// choice, `Err` when the client went away.
async fn end_choice<F, Fut>(
    choices: &mut Choices,
    writer: &mut ChunkWriter,
    index: usize,
    send: &F,
) -> Result<bool, ()>
where
    F: Fn(bytes::Bytes) -> Fut,
    Fut: std::future::Future<Output = Result<(), Undelivered>>,
{
    if let Some(r) = choices.open(index) {
        let reason = r.finish_reason();
        send(writer.finish(index, reason)).await.map_err(|_| ())?;
    }
    Ok(choices.end(index))
}

/// Collects the whole answer for a non-streaming request.
pub(crate) async fn collect(
    state: &AppState,
    mut events: mpsc::Receiver<(usize, JobMsg)>,
    mut observer: Observer,
    writer: ChunkWriter,
    emulation: Arc<Emulation>,
) -> Result<(ChatCompletion, Option<ConnId>), ApiError> {
    let count = writer.choices();
    let mut choices = Choices::new(state, count, &emulation);
    let mut parts: Vec<Collected> = (0..count).map(|_| Collected::default()).collect();
    let mut tab = None;
    let mut shutdown = state.shutdown_signal();
    loop {
        let msg = tokio::select! {
            m = events.recv() => m,
            _ = shutdown.wait_for(|v| *v) => {
                return Err(JobError::ShuttingDown.into());
            }
        };
        let Some((index, msg)) = msg else { break };
        let Some(r) = choices.open(index) else {
            continue;
        };
        if !matches!(msg, JobMsg::End) {
            observer.see(&msg);
        }
        let ended = match msg {
            JobMsg::Queued => false,
            JobMsg::Started(conn) => {
                tab.get_or_insert(conn);
                false
            }
            JobMsg::Event(ev) => {
                let out = r.render(ev);
                let cut = r.cut().is_some();
                if let Some(buf) = parts.get_mut(index) {
                    buf.add(out);
                }
                cut
            }
            JobMsg::End => {
                let out = r.close();
                if let Some(buf) = parts.get_mut(index) {
                    buf.add(out);
                }
                true
            }
            JobMsg::Failed(err) => return Err(observer.fail(*err)),
        };
        if ended {
            if let Some(Err(why)) = choices.open(index).map(|r| r.check_format()) {
                let err = ApiError::format_violation(&why);
                observer.violated(&err);
                return Err(err);
            }
            observer.see(&JobMsg::End);
            if choices.end(index) {
                // Dropping the job channel aborts upstream answers still running.
                break;
            }
        }
    }
    drop(events);
    let mut out_choices = Vec::with_capacity(count);
    let mut usage = None;
    for (i, (r, part)) in choices.renderers.iter().zip(parts).enumerate() {
        let mut message = ResponseMessage::assistant(
            // Only calls: content is null, as OpenAI sends it.
            (!part.content.is_empty() || part.calls.is_empty()).then_some(part.content),
            (!part.reasoning.is_empty()).then_some(part.reasoning),
        );
        if !part.calls.is_empty() {
            message.tool_calls = Some(part.calls);
        }
        out_choices.push(Choice {
            index: i as u32,
            message,
            finish_reason: Some(r.finish_reason()),
        });
        usage.get_or_insert_with(|| r.usage());
    }
    let mut completion = ChatCompletion::new(writer.id, writer.created, writer.model, out_choices);
    completion.usage = usage;
    Ok((completion, tab))
}

/// One choice of a non-streamed answer as it is collected.
#[derive(Default)]
struct Collected {
    content: String,
    reasoning: String,
    calls: Vec<ToolCallOut>,
}

impl Collected {
    fn add(&mut self, out: Rendered) {
        if let Some(c) = out.content {
            self.content.push_str(&c);
        }
        if let Some(t) = out.reasoning {
            self.reasoning.push_str(&t);
        }
        self.calls
            .extend(out.tool_calls.iter().map(ToolCallOut::message));
    }
}

/// Collects the image URLs of an image request, in choice order. The tab of each job that
/// starts is reported through `on_tab` (for the request log line).
pub(crate) async fn collect_images(
    mut events: mpsc::Receiver<(usize, JobMsg)>,
    mut observer: Observer,
    mut on_tab: impl FnMut(ConnId),
) -> Result<Vec<String>, ApiError> {
    let mut urls: Vec<Vec<String>> = vec![Vec::new(); observer.choices];
    while let Some((i, msg)) = events.recv().await {
        observer.see(&msg);
        match msg {
            JobMsg::Event(StreamEvent::Image { url, .. }) => {
                if let Some(list) = urls.get_mut(i) {
                    list.push(url);
                }
            }
            JobMsg::Started(conn) => on_tab(conn),
            JobMsg::Failed(e) => return Err(observer.fail(*e)),
            _ => {}
        }
    }
    Ok(urls.into_iter().flatten().collect())
}
