//! Running one upstream job on a tab: take a lease, send `fetch`, wait for the response
//! head (retrying on another tab when the tab is lost before the first byte), then turn the
//! streamed body into [`StreamEvent`]s with the core parser, under first-byte, idle and total
//! timeouts. Dropping a [`RelayJob`] before it finished aborts the fetch in the tab.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bridge_core::arena::stream::{classify_upstream_error, Participant, StreamEvent, StreamParser};
use bridge_core::arena::UpstreamRequest;
use bridge_core::protocol::{FetchRequest, RecaptchaSpec, ServerMessage};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::pool::{AcquireError, Acquired, ConnId, JobEvent, JobGuard, Lease, Waiting};
use crate::state::AppState;

/// Tabs tried for one job before giving up (a tab lost before the first byte).
const MAX_TAB_ATTEMPTS: usize = 3;
/// `code` of the error for a refused reCAPTCHA token.
const RECAPTCHA_FAILED: &str = "recaptcha_failed";
/// Most of a failed upstream body kept for classification.
const ERROR_BODY_LIMIT: usize = 4096;

/// One upstream request to run.
#[derive(Debug, Clone)]
pub struct Dispatch {
    pub request: UpstreamRequest,
    pub recaptcha: Option<RecaptchaSpec>,
    /// Upstream `session_id/message_id`; jobs with the same key never run at once.
    pub session_key: Option<String>,
    pub participant: Participant,
    /// Set for the `evaluation` flow: what to remember after the answer.
    pub eval: Option<crate::evaluation::EvalJob>,
}

/// Maps a pool refusal to the client's error.
pub fn acquire_error(e: AcquireError, state: &AppState) -> ApiError {
    let cfg = state.config();
    match e {
        AcquireError::NoTab => ApiError::no_tab(),
        AcquireError::AllChallenged => {
            ApiError::from_upstream(&bridge_core::arena::stream::UpstreamError::Challenge)
                .with_retry_after(30)
        }
        AcquireError::QueueFull => ApiError::queue_full(cfg.queue_timeout_seconds.clamp(1, 30)),
        AcquireError::Timeout => ApiError::queue_timeout(cfg.queue_timeout_seconds.clamp(1, 30)),
    }
}

/// Takes a slot at once or a place in the queue.
pub fn acquire(
    state: &AppState,
    dispatch: &Dispatch,
    wait_without_tabs: bool,
) -> Result<Acquired, ApiError> {
    state
        .pool()
        .acquire(dispatch.session_key.clone(), wait_without_tabs)
        .map_err(|e| acquire_error(e, state))
}

/// Waits in the queue up to `queue_timeout_seconds`.
pub async fn wait_in_queue(state: &AppState, waiting: Waiting) -> Result<Lease, ApiError> {
    let timeout = Duration::from_secs(state.config().queue_timeout_seconds);
    waiting
        .wait(timeout)
        .await
        .map_err(|e| acquire_error(e, state))
}

enum HeadOutcome {
    Ok,
    Failed(ApiError),
    Lost,
}

/// A job whose upstream answer is streaming in.
#[derive(Debug)]
pub struct RelayJob {
    state: AppState,
    lease: Lease,
    guard: JobGuard,
    rx: mpsc::UnboundedReceiver<JobEvent>,
    parser: StreamParser,
    pending: VecDeque<StreamEvent>,
    scratch: Vec<StreamEvent>,
    done: bool,
    failed: bool,
    idle: Duration,
    deadline: Instant,
    bytes: u64,
}

impl RelayJob {
    /// Sends the fetch and waits for the response head. A tab lost before the first byte
    /// hands the job to another tab.
    pub async fn start(
        state: &AppState,
        dispatch: &Dispatch,
        mut lease: Lease,
    ) -> Result<RelayJob, ApiError> {
        let cfg = state.config();
        let first_byte = Duration::from_secs(cfg.first_byte_timeout_seconds.max(1));
        let idle = Duration::from_secs(cfg.stream_response_timeout_seconds.max(1));
        let deadline = Instant::now() + Duration::from_secs(cfg.total_timeout_seconds.max(1));
        let mut recaptcha_retried = false;
        let mut attempt = 0;
        while attempt < MAX_TAB_ATTEMPTS {
            attempt += 1;
            crate::stats::note_tab(lease.conn());
            let (mut guard, mut rx) = lease.start_job(|id| ServerMessage::Fetch {
                id,
                request: FetchRequest {
                    path: dispatch.request.path.clone(),
                    method: dispatch.request.method.clone(),
                    headers: dispatch.request.headers.clone(),
                    body: dispatch.request.body.clone(),
                },
                recaptcha: dispatch.recaptcha.clone(),
            });
            let outcome =
                match tokio::time::timeout(first_byte, wait_head(state, lease.conn(), &mut rx))
                    .await
                {
                    Ok(o) => o,
                    Err(_) => {
                        state.pool().record_outcome(lease.conn(), false);
                        return Err(ApiError::timeout(format!(
                            "LMArena did not start answering within {} s \
                             (first_byte_timeout_seconds).",
                            first_byte.as_secs()
                        )));
                    }
                };
            match outcome {
                HeadOutcome::Ok => {
                    return Ok(RelayJob {
                        state: state.clone(),
                        lease,
                        guard,
                        rx,
                        parser: StreamParser::new(dispatch.participant),
                        pending: VecDeque::new(),
                        scratch: Vec::new(),
                        done: false,
                        failed: false,
                        idle,
                        deadline,
                        bytes: 0,
                    });
                }
                HeadOutcome::Failed(err) => {
                    state.pool().record_outcome(lease.conn(), false);
                    // A refused reCAPTCHA token gets one more try: the tab mints a fresh
                    // token for every fetch.
                    if err.code.as_deref() == Some(RECAPTCHA_FAILED)
                        && dispatch.recaptcha.is_some()
                        && !recaptcha_retried
                    {
                        recaptcha_retried = true;
                        attempt -= 1;
                        guard.finish();
                        drop(guard);
                        tracing::warn!("reCAPTCHA token refused; retrying once with a fresh token");
                        continue;
                    }
                    return Err(err);
                }
                HeadOutcome::Lost => {
                    drop(guard);
                    drop(lease);
                    tracing::warn!(
                        attempt,
                        "tab lost before the first byte; retrying on another tab"
                    );
                    if attempt == MAX_TAB_ATTEMPTS {
                        break;
                    }
                    lease = match acquire(state, dispatch, true)? {
                        Acquired::Ready(l) => l,
                        Acquired::Queued(w) => wait_in_queue(state, w).await?,
                    };
                }
            }
        }
        Err(ApiError::bad_gateway(
            "The LMArena tab disconnected before answering, several times in a row.",
        ))
    }

    /// The tab this job runs on.
    pub fn conn(&self) -> ConnId {
        self.lease.conn()
    }

    /// Unknown upstream line types seen so far.
    pub fn unknown_types(&self) -> &BTreeMap<String, u64> {
        &self.parser.stats().unknown_types
    }

    /// The next parsed event; `None` once the upstream body is complete.
    pub async fn next_event(&mut self) -> Option<Result<StreamEvent, ApiError>> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(Ok(ev));
            }
            if self.done || self.failed {
                return None;
            }
            let idle_deadline = Instant::now() + self.idle;
            let total = idle_deadline >= self.deadline;
            let until = if total { self.deadline } else { idle_deadline };
            let event = match tokio::time::timeout_at(until, self.rx.recv()).await {
                Ok(ev) => ev,
                Err(_) => {
                    return Some(Err(self.fail(ApiError::timeout(if total {
                        "The answer took longer than total_timeout_seconds.".to_owned()
                    } else {
                        format!(
                            "LMArena sent nothing for {} s (stream_response_timeout_seconds).",
                            self.idle.as_secs()
                        )
                    }))));
                }
            };
            match event {
                Some(JobEvent::Chunk(data)) => {
                    self.bytes += data.len() as u64;
                    crate::stats::note_upstream_bytes(data.len() as u64);
                    self.parser.push_into(&data, &mut self.scratch);
                    self.pending.extend(self.scratch.drain(..));
                }
                Some(JobEvent::Done) => {
                    self.pending.extend(self.parser.finish());
                    self.done = true;
                    self.guard.finish();
                    self.state.pool().record_outcome(self.lease.conn(), true);
                }
                Some(JobEvent::Failed { message, .. }) => {
                    self.guard.finish();
                    return Some(Err(self.fail(ApiError::bad_gateway(format!(
                        "The LMArena tab lost the answer midway: {message}"
                    )))));
                }
                Some(JobEvent::TabLost) | None => {
                    self.guard.finish();
                    return Some(Err(self.fail(ApiError::bad_gateway(
                        "The LMArena tab disconnected during the answer.",
                    ))));
                }
                Some(JobEvent::Head { .. }) | Some(JobEvent::PageSource(_)) => {}
            }
        }
    }

    fn fail(&mut self, err: ApiError) -> ApiError {
        self.failed = true;
        self.state.pool().record_outcome(self.lease.conn(), false);
        err
    }
}

impl Drop for RelayJob {
    fn drop(&mut self) {
        self.state
            .stats()
            .upstream_job_done(self.bytes, self.unknown_types());
    }
}

/// Waits for the response head; a non-2xx head is followed by the failed body.
async fn wait_head(
    state: &AppState,
    conn: ConnId,
    rx: &mut mpsc::UnboundedReceiver<JobEvent>,
) -> HeadOutcome {
    let mut head: Option<(u16, BTreeMap<String, String>)> = None;
    let mut body = String::new();
    loop {
        match rx.recv().await {
            Some(JobEvent::Head { status, headers }) => {
                state.stats().upstream_status(Some(status));
                if (200..300).contains(&status) {
                    return HeadOutcome::Ok;
                }
                head = Some((status, headers));
            }
            Some(JobEvent::Chunk(data)) => {
                if head.is_none() {
                    // A body without a head: treat as success (older userscripts).
                    return HeadOutcome::Ok;
                }
                if body.len() < ERROR_BODY_LIMIT {
                    body.push_str(&data);
                }
            }
            Some(JobEvent::Failed {
                message,
                status,
                body: failed_body,
            }) => {
                if head.is_none() {
                    state.stats().upstream_status(status);
                }
                let status = status.or(head.as_ref().map(|h| h.0));
                let headers = head.map(|h| h.1).unwrap_or_default();
                let body = failed_body.unwrap_or(body);
                return HeadOutcome::Failed(upstream_failure(
                    state, conn, status, &headers, &body, &message,
                ));
            }
            Some(JobEvent::Done) => {
                let Some((status, headers)) = head else {
                    return HeadOutcome::Ok;
                };
                return HeadOutcome::Failed(upstream_failure(
                    state,
                    conn,
                    Some(status),
                    &headers,
                    &body,
                    "",
                ));
            }
            Some(JobEvent::TabLost) | None => return HeadOutcome::Lost,
            Some(JobEvent::PageSource(_)) => {}
        }
    }
}

fn upstream_failure(
    state: &AppState,
    conn: ConnId,
    status: Option<u16>,
    headers: &BTreeMap<String, String>,
    body: &str,
    message: &str,
) -> ApiError {
    let Some(status) = status else {
        return ApiError::bad_gateway(format!(
            "The LMArena tab could not complete the request: {message}"
        ));
    };
    let err = classify_upstream_error(status, headers, truncate(body));
    if matches!(err, bridge_core::arena::stream::UpstreamError::Challenge) {
        tracing::warn!(conn, "Cloudflare challenge in a tab; asking it to reload");
        state.pool().mark_challenged(conn);
    }
    let mut api = ApiError::from_upstream(&err);
    api.upstream_status = Some(status);
    api
}

fn truncate(body: &str) -> &str {
    if body.len() <= ERROR_BODY_LIMIT {
        return body;
    }
    let mut end = ERROR_BODY_LIMIT;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}
