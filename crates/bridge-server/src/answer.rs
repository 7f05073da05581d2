//! The answer task: reads the job messages of one request and turns them into the client's
//! answer, SSE frames as they come or one `chat.completion` (or the image URLs). It owns all
//! rendering state (including the emulated features: a choice cut by a stop sequence or
//! `max_tokens` ends there, and once every choice ended the job channel is dropped, which
//! aborts the upstream answer), notes first token and outcome on the request's track, and
//! is where a [`JobError`] becomes the client's [`ApiError`] (once, through `From`).

use std::sync::Arc;

use bridge_core::arena::stream::StreamEvent;
use bridge_core::openai::{ChatCompletion, Choice, ResponseMessage, ToolCallOut};
use bytes::BytesMut;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use crate::emulate::Emulation;
use crate::error::ApiError;
use crate::output::{ChoiceRenderer, ChunkWriter, Rendered, SSE_DONE, SSE_KEEPALIVE};
use crate::pool::ConnId;
use crate::relay::JobError;
use crate::request::{JobMsg, Started, EVENTS_CAPACITY};
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

/// Spawns the answer task of a streaming request in the caller's span; a lone job runs in
/// the same task.
pub(crate) fn stream(
    state: &AppState,
    started: Started,
    observer: Observer,
    writer: ChunkWriter,
    emulation: Arc<Emulation>,
    include_usage: bool,
) -> StreamAnswer {
    let (tx, body) = mpsc::channel(EVENTS_CAPACITY);
    let (head_tx, head) = oneshot::channel();
    let task = stream_answer(
        state.clone(),
        started.events,
        observer,
        writer,
        (emulation, include_usage),
        tx,
        head_tx,
    );
    let task = Started::alongside(started.inline, task);
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

/// Most bytes of SSE events gathered into one write to the client: the events that are
/// ready when the answer task wakes go out together, up to this much.
const COALESCE_BYTES: usize = 16 * 1024;

/// What the stream does after one job message.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Go on reading.
    Go,
    /// Every choice ended.
    AllEnded,
    /// Write what is gathered (an error event and `[DONE]`) and end.
    Finish,
    /// End without writing: the handler no longer waits for the answer.
    Abandon,
}

/// The rendering side of a streamed answer: everything but the channels and timers.
struct StreamState {
    observer: Observer,
    writer: ChunkWriter,
    choices: Choices,
    head_tx: Option<oneshot::Sender<Result<Option<ConnId>, ApiError>>>,
    tab: Option<ConnId>,
}

impl StreamState {
    /// Sends the head decision (the answer starts) if it was not sent yet; false when the
    /// handler no longer waits for it.
    fn start_answer(&mut self) -> bool {
        match self.head_tx.take() {
            Some(h) => h.send(Ok(self.tab)).is_ok(),
            None => true,
        }
    }

    /// Handles one job message, appending the SSE events it makes to `out`.
    fn handle(&mut self, index: usize, msg: JobMsg, out: &mut BytesMut) -> Step {
        // A choice cut short by the emulation ignores the rest of its upstream answer.
        if self.choices.open(index).is_none() && !matches!(msg, JobMsg::Queued | JobMsg::Started(_))
        {
            return Step::Go;
        }
        if !matches!(msg, JobMsg::End) {
            self.observer.see(&msg);
        }
        match msg {
            JobMsg::Queued => {
                if let Some(h) = self.head_tx.take() {
                    let _ = h.send(Ok(None));
                }
                Step::Go
            }
            JobMsg::Started(conn) => {
                self.tab.get_or_insert(conn);
                Step::Go
            }
            JobMsg::Event(ev) => {
                if !self.start_answer() {
                    return Step::Abandon;
                }
                let Some(r) = self.choices.open(index) else {
                    return Step::Go;
                };
                let rendered = r.render(ev);
                let cut = r.cut().is_some();
                self.writer.delta(index, rendered, out);
                if cut {
                    self.observer.see(&JobMsg::End);
                    return self.end_choice(index, out);
                }
                Step::Go
            }
            JobMsg::End => {
                if !self.start_answer() {
                    return Step::Abandon;
                }
                let verdict = self.choices.open(index).map(|r| {
                    let closing = r.close();
                    (closing, r.check_format())
                });
                if let Some((closing, verdict)) = verdict {
                    self.writer.delta(index, closing, out);
                    if let Err(why) = verdict {
                        // The text is already out: the violation ends the stream as an error
                        // event instead of a finish chunk.
                        let err = ApiError::format_violation(&why);
                        self.observer.violated(&err);
                        tracing::warn!("streamed answer broke response_format: {why}");
                        error_tail(&err, out);
                        return Step::Finish;
                    }
                }
                self.observer.see(&JobMsg::End);
                self.end_choice(index, out)
            }
            JobMsg::Failed(err) => {
                let err = self.observer.fail(*err);
                if let Some(h) = self.head_tx.take() {
                    let _ = h.send(Err(err));
                    return Step::Abandon;
                }
                tracing::warn!(
                    status = err.status.as_u16(),
                    "answer failed after the stream started: {}",
                    err.message
                );
                error_tail(&err, out);
                Step::Finish
            }
        }
    }

    /// Appends the finish chunk of a choice and marks it ended.
    fn end_choice(&mut self, index: usize, out: &mut BytesMut) -> Step {
        if let Some(r) = self.choices.open(index) {
            let reason = r.finish_reason();
            self.writer.finish(index, reason, out);
        }
        if self.choices.end(index) {
            Step::AllEnded
        } else {
            Step::Go
        }
    }
}

/// Appends an error event and `[DONE]`: how a stream that already started ends in error.
fn error_tail(err: &ApiError, out: &mut BytesMut) {
    out.extend_from_slice(err.sse_event().as_bytes());
    out.extend_from_slice(SSE_DONE.as_bytes());
}

/// Streams the answer as SSE. The HTTP status is decided at the first upstream event (or
/// when the request has to queue), so early failures are real HTTP errors. The events of all
/// job messages ready at one wake-up go to the client in one write.
async fn stream_answer(
    state: AppState,
    mut events: mpsc::Receiver<(usize, JobMsg)>,
    observer: Observer,
    writer: ChunkWriter,
    (emulation, include_usage): (Arc<Emulation>, bool),
    tx: mpsc::Sender<bytes::Bytes>,
    head_tx: oneshot::Sender<Result<Option<ConnId>, ApiError>>,
) {
    let mut st = StreamState {
        choices: Choices::new(&state, writer.choices(), &emulation),
        observer,
        writer,
        head_tx: Some(head_tx),
        tab: None,
    };
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
    let send = |b: bytes::Bytes| deliver(&tx, b, idle, &stopping);
    // Reused from write to write: a frozen write shares it until the HTTP writer drops it.
    let mut out = BytesMut::new();
    let mut all_ended = false;

    while !all_ended {
        tokio::select! {
            msg = events.recv() => {
                let Some(mut next) = msg else { break };
                let step = loop {
                    let (index, msg) = next;
                    let step = st.handle(index, msg, &mut out);
                    if step != Step::Go || out.len() >= COALESCE_BYTES {
                        break step;
                    }
                    match events.try_recv() {
                        Ok(m) => next = m,
                        Err(_) => break Step::Go,
                    }
                };
                if step == Step::Abandon {
                    return;
                }
                if !out.is_empty() {
                    if send(out.split().freeze()).await.is_err() {
                        return;
                    }
                    keepalive.reset();
                }
                match step {
                    Step::Finish => return,
                    Step::AllEnded => all_ended = true,
                    Step::Go | Step::Abandon => {}
                }
            }
            // Comments while nothing else is written: clients and proxies keep the
            // connection, and a client that went away is noticed at the next write.
            _ = keepalive.tick(), if st.head_tx.is_none() => {
                if send(bytes::Bytes::from_static(SSE_KEEPALIVE.as_bytes())).await.is_err() {
                    return;
                }
            }
            _ = shutdown.wait_for(|v| *v) => {
                let err = ApiError::from(JobError::ShuttingDown);
                match st.head_tx.take() {
                    Some(h) => { let _ = h.send(Err(err)); }
                    None => {
                        error_tail(&err, &mut out);
                        let _ = send(out.split().freeze()).await;
                    }
                }
                return;
            }
            _ = tx.closed() => return,
        }
    }
    // Every choice ended: dropping the job channel aborts upstream answers still running.
    drop(events);
    if let Some(h) = st.head_tx.take() {
        let _ = h.send(Err(ApiError::from(JobError::EmptyAnswer)));
        return;
    }
    if include_usage {
        if let Some(usage) = st.choices.renderers.first().map(ChoiceRenderer::usage) {
            st.writer.usage(usage, &mut out);
        }
    }
    out.extend_from_slice(SSE_DONE.as_bytes());
    let _ = send(out.split().freeze()).await;
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

/// Sends one write to the client's body: at once when it fits in the channel, else raced
/// against the idle timeout and shutdown.
async fn deliver(
    tx: &mpsc::Sender<bytes::Bytes>,
    frame: bytes::Bytes,
    idle: std::time::Duration,
    stopping: &tokio::sync::watch::Receiver<bool>,
) -> Result<(), Undelivered> {
    let frame = match tx.try_send(frame) {
        Ok(()) => return Ok(()),
        Err(mpsc::error::TrySendError::Closed(_)) => return Err(Undelivered::Closed),
        Err(mpsc::error::TrySendError::Full(frame)) => frame,
    };
    let mut stopping = stopping.clone();
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
