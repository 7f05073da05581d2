//! `POST /v1/chat/completions`: validate, resolve model and session, build the upstream
//! request in core, dispatch to a tab, and answer as OpenAI would, streaming or not.

use std::convert::Infallible;

use actix_web::{web, HttpRequest, HttpResponse};
use bridge_core::arena::evaluation::answer_side;
use bridge_core::arena::retry::{build_retry_request, RetryContext};
use bridge_core::arena::stream::{Participant, StreamEvent};
use bridge_core::config::UpstreamFlow;
use bridge_core::models::{choose_sessions, ModelKind};
use bridge_core::openai::{
    parse_chat_request, ChatCompletion, ChatCompletionRequest, Choice, ResponseMessage,
};
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::{read_body, request_id, set_log_facts, unix_now};
use crate::error::ApiError;
use crate::output::{ChoiceRenderer, ChunkWriter, SSE_DONE, SSE_KEEPALIVE};
use crate::pool::{Acquired, ConnId};
use crate::relay::{self, Dispatch, RelayJob};
use crate::state::AppState;
use crate::stats::Observer;

/// A validated request, ready to dispatch: one [`Dispatch`] per choice.
#[derive(Debug)]
pub struct Prepared {
    pub model: String,
    pub kind: ModelKind,
    pub dispatches: Vec<Dispatch>,
}

/// Resolves the model and sessions and builds the upstream requests.
pub fn prepare(
    state: &AppState,
    chat: &ChatCompletionRequest,
    n: usize,
) -> Result<Prepared, ApiError> {
    let config = state.config();
    let registry = state.registry();
    let model = registry.resolve(&chat.model)?;
    if n > 1 && model.kind != ModelKind::Image {
        return Err(ApiError::invalid_request(
            "n > 1 is only supported for image models; LMArena answers one completion per request.",
        )
        .with_param("n"));
    }
    let flow = model.flow(config.upstream_flow);
    if flow == UpstreamFlow::Evaluation {
        let dispatches = crate::evaluation::prepare(state, &config, chat, &model, n)?;
        return Ok(Prepared {
            model: chat.model.clone(),
            kind: model.kind,
            dispatches,
        });
    }
    let picks = choose_sessions(&model, &config, state.strategy(), n).map_err(|e| {
        ApiError::invalid_request(e.to_string()).with_code("session_not_configured")
    })?;
    let now = time::OffsetDateTime::now_utc();
    let mut dispatches = Vec::with_capacity(picks.len());
    for pick in &picks {
        let ctx = RetryContext {
            config: &config,
            model: &model,
            session: pick,
        };
        let mut ids = bridge_core::arena::retry::RandomIds;
        let request = build_retry_request(chat, &ctx, &mut ids, now)?;
        let participant = Participant::from(answer_side(pick.mode, pick.battle_target));
        dispatches.push(Dispatch {
            request,
            recaptcha: Some(bridge_core::arena::retry::recaptcha_spec(&config)),
            session_key: Some(format!("{}/{}", pick.session_id, pick.message_id)),
            participant,
            eval: None,
        });
    }
    Ok(Prepared {
        model: chat.model.clone(),
        kind: model.kind,
        dispatches,
    })
}

pub async fn chat_completions(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = state.config().max_request_bytes;
    let body = read_body(&req, payload, limit).await?;
    let chat = parse_chat_request(&body)?;
    set_log_facts(&req, Some(&chat.model), None);
    let n = chat.n.unwrap_or(1).max(1) as usize;
    let prepared = prepare(&state, &chat, n)?;
    let include_usage = chat.include_usage();
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = unix_now();
    let (events_tx, events_rx) = mpsc::channel(EVENTS_CAPACITY);
    let choices = prepared.dispatches.len();
    let track = state
        .stats()
        .begin(&request_id(&req), &prepared.model, chat.stream);
    for (index, dispatch) in prepared.dispatches.into_iter().enumerate() {
        actix_web::rt::spawn(track.scope(run_dispatch(
            state.get_ref().clone(),
            index,
            dispatch,
            events_tx.clone(),
        )));
    }
    drop(events_tx);
    let observer = track.observer(choices);
    let writer = ChunkWriter::new(id, created, prepared.model, choices);
    if chat.stream {
        let (tx, rx) = mpsc::channel(EVENTS_CAPACITY);
        let (head_tx, head_rx) = oneshot::channel();
        actix_web::rt::spawn(stream_answer(
            state.get_ref().clone(),
            events_rx,
            observer,
            writer,
            include_usage,
            tx,
            head_tx,
        ));
        let tab = head_rx
            .await
            .map_err(|_| ApiError::internal("The answer task ended unexpectedly."))??;
        set_log_facts(&req, None, tab);
        let body = tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, Infallible>);
        Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("Cache-Control", "no-cache"))
            .insert_header(("X-Accel-Buffering", "no"))
            .streaming(body))
    } else {
        let (completion, tab) = collect_answer(&state, events_rx, observer, writer).await?;
        set_log_facts(&req, None, tab);
        Ok(HttpResponse::Ok().json(completion))
    }
}

/// Messages buffered between tasks of one request; small, since the consumer is never far
/// behind and every slot costs memory on each open stream.
const EVENTS_CAPACITY: usize = 16;

/// What a dispatch task reports to the answer task.
#[derive(Debug)]
pub enum JobMsg {
    /// No free tab: the job waits in the queue.
    Queued,
    /// The upstream answer started on this tab.
    Started(ConnId),
    Event(StreamEvent),
    /// The upstream answer is complete.
    End,
    Failed(Box<ApiError>),
}

/// Takes a tab (queueing if needed) and starts the upstream job.
async fn start(
    state: &AppState,
    index: &usize,
    dispatch: &Dispatch,
    out: &mpsc::Sender<(usize, JobMsg)>,
) -> Result<RelayJob, ApiError> {
    let lease = match relay::acquire(state, dispatch, false)? {
        Acquired::Ready(l) => l,
        Acquired::Queued(w) => {
            let _ = out.send((*index, JobMsg::Queued)).await;
            relay::wait_in_queue(state, w).await?
        }
    };
    RelayJob::start(state, dispatch, lease).await
}

/// Runs one upstream job and reports its events; ends (aborting the job) as soon as the
/// answer task stops listening.
pub async fn run_dispatch(
    state: AppState,
    index: usize,
    dispatch: Dispatch,
    out: mpsc::Sender<(usize, JobMsg)>,
) {
    let work = async {
        let mut dispatch = dispatch;
        let mut job = match start(&state, &index, &dispatch, &out).await {
            Ok(job) => job,
            Err(e) => {
                // LMArena no longer knows a conversation this server continued: start a new
                // one with the history folded in, once.
                let fallback = dispatch
                    .eval
                    .as_mut()
                    .and_then(|ev| ev.fresh_fallback.take());
                match fallback {
                    Some(fresh) if crate::evaluation::continuation_rejected(&e) => {
                        tracing::warn!(
                            "continuation refused by LMArena; starting a new conversation"
                        );
                        dispatch = *fresh;
                        start(&state, &index, &dispatch, &out).await?
                    }
                    _ => return Err(e),
                }
            }
        };
        if out
            .send((index, JobMsg::Started(job.conn())))
            .await
            .is_err()
        {
            return Ok(());
        }
        let mut answer = String::new();
        while let Some(event) = job.next_event().await {
            match event? {
                StreamEvent::Error(message) => {
                    return Err(ApiError::bad_gateway(format!(
                        "LMArena reported an error: {message}"
                    ))
                    .with_code("upstream_inband_error"));
                }
                ev => {
                    if dispatch.eval.is_some() {
                        if let StreamEvent::Text(t) = &ev {
                            answer.push_str(t);
                        }
                    }
                    if out.send((index, JobMsg::Event(ev))).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
        if let Some(ev) = &dispatch.eval {
            state.conversations().record(ev, &answer);
        }
        Ok::<(), ApiError>(())
    };
    tokio::select! {
        result = work => {
            let msg = match result {
                Ok(()) => JobMsg::End,
                Err(e) => JobMsg::Failed(Box::new(e)),
            };
            let _ = out.send((index, msg)).await;
        }
        _ = out.closed() => {}
    }
}

/// Streams the answer as SSE. The HTTP status is decided at the first upstream event (or
/// when the request has to queue), so early failures are real HTTP errors.
async fn stream_answer(
    state: AppState,
    mut events: mpsc::Receiver<(usize, JobMsg)>,
    mut observer: Observer,
    mut writer: ChunkWriter,
    include_usage: bool,
    tx: mpsc::Sender<bytes::Bytes>,
    head_tx: oneshot::Sender<Result<Option<ConnId>, ApiError>>,
) {
    let config = state.config();
    let choices = writer.choices();
    let mut renderers: Vec<ChoiceRenderer> = (0..choices)
        .map(|_| ChoiceRenderer::new(config.reasoning_output))
        .collect();
    let mut head_tx = Some(head_tx);
    let mut tab: Option<ConnId> = None;
    let mut ended = 0usize;
    let keepalive_every = state.options().keepalive_interval;
    let mut keepalive = tokio::time::interval_at(
        tokio::time::Instant::now() + keepalive_every,
        keepalive_every,
    );
    let mut shutdown = state.shutdown_signal();
    let send = |b: bytes::Bytes| tx.send(b);

    loop {
        tokio::select! {
            msg = events.recv() => {
                let Some((index, msg)) = msg else { break };
                observer.see(&msg);
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
                        let Some(r) = renderers.get_mut(index) else { continue };
                        let rendered = r.render(ev);
                        if let Some(frame) = writer.delta(index, rendered) {
                            if send(frame).await.is_err() {
                                return;
                            }
                            keepalive.reset();
                        }
                    }
                    JobMsg::End => {
                        if let Some(h) = head_tx.take() {
                            if h.send(Ok(tab)).is_err() {
                                return;
                            }
                        }
                        if let Some(r) = renderers.get_mut(index) {
                            let closing = r.close();
                            if let Some(frame) = writer.delta(index, closing) {
                                if send(frame).await.is_err() {
                                    return;
                                }
                            }
                            let reason = r.finish_reason();
                            if send(writer.finish(index, reason)).await.is_err() {
                                return;
                            }
                        }
                        ended += 1;
                        if ended == choices {
                            break;
                        }
                    }
                    JobMsg::Failed(err) => {
                        if let Some(h) = head_tx.take() {
                            let _ = h.send(Err(*err));
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
                let err = ApiError::shutting_down();
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
    if let Some(h) = head_tx.take() {
        let _ = h.send(Err(ApiError::bad_gateway(
            "LMArena ended the answer without content.",
        )));
        return;
    }
    if include_usage {
        let usage = renderers.first().and_then(|r| r.usage);
        if send(writer.usage(usage)).await.is_err() {
            return;
        }
    }
    let _ = send(bytes::Bytes::from_static(SSE_DONE.as_bytes())).await;
}

/// Collects the whole answer for a non-streaming request.
async fn collect_answer(
    state: &AppState,
    mut events: mpsc::Receiver<(usize, JobMsg)>,
    mut observer: Observer,
    writer: ChunkWriter,
) -> Result<(ChatCompletion, Option<ConnId>), ApiError> {
    let config = state.config();
    let choices = writer.choices();
    let mut renderers: Vec<ChoiceRenderer> = (0..choices)
        .map(|_| ChoiceRenderer::new(config.reasoning_output))
        .collect();
    let mut content: Vec<String> = vec![String::new(); choices];
    let mut reasoning: Vec<String> = vec![String::new(); choices];
    let mut tab = None;
    let mut shutdown = state.shutdown_signal();
    loop {
        let msg = tokio::select! {
            m = events.recv() => m,
            _ = shutdown.wait_for(|v| *v) => {
                return Err(ApiError::shutting_down());
            }
        };
        let Some((index, msg)) = msg else { break };
        observer.see(&msg);
        match msg {
            JobMsg::Queued => {}
            JobMsg::Started(conn) => {
                tab.get_or_insert(conn);
            }
            JobMsg::Event(ev) => {
                if let Some(r) = renderers.get_mut(index) {
                    let out = r.render(ev);
                    if let (Some(c), Some(buf)) = (out.content, content.get_mut(index)) {
                        buf.push_str(&c);
                    }
                    if let (Some(t), Some(buf)) = (out.reasoning, reasoning.get_mut(index)) {
                        buf.push_str(&t);
                    }
                }
            }
            JobMsg::End => {
                if let (Some(r), Some(buf)) = (renderers.get_mut(index), content.get_mut(index)) {
                    if let Some(c) = r.close().content {
                        buf.push_str(&c);
                    }
                }
            }
            JobMsg::Failed(err) => return Err(*err),
        }
    }
    let mut out_choices = Vec::with_capacity(choices);
    let mut usage = None;
    for (i, r) in renderers.iter().enumerate() {
        let text = std::mem::take(&mut content[i]);
        let think = std::mem::take(&mut reasoning[i]);
        out_choices.push(Choice {
            index: i as u32,
            message: ResponseMessage::assistant(
                Some(text),
                if think.is_empty() { None } else { Some(think) },
            ),
            finish_reason: Some(r.finish_reason()),
        });
        if usage.is_none() {
            usage = r.usage;
        }
    }
    let mut completion = ChatCompletion::new(writer.id, writer.created, writer.model, out_choices);
    completion.usage = usage;
    Ok((completion, tab))
}
