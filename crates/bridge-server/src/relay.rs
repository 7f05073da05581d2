//! Running one upstream request on a tab, as a plain service for the request layer: take a
//! lease (the one place a job gets a tab, first try and retries), send `fetch`, wait for the
//! response head (retrying on another tab when the tab is lost before the first byte), then
//! turn the streamed body into [`StreamEvent`]s with the core parser, under first-byte, idle
//! and total timeouts. What went wrong is a [`JobError`]; it becomes the client's error only at
//! the HTTP edge. Dropping a [`RelayJob`] before it finished aborts the fetch in the tab.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::time::Duration;

use bridge_core::arena::recaptcha::with_v2;
use bridge_core::arena::stream::{
    classify_upstream_error, Participant, StreamEvent, StreamParser, UpstreamError,
};
use bridge_core::arena::UpstreamRequest;
use bridge_core::config::Config;
use bridge_core::protocol::{FetchRequest, RecaptchaSpec, ServerMessage};
use tokio::time::Instant;

use crate::pool::{
    AcquireError, Acquired, ConnId, HumanWait, JobEvent, JobEvents, JobGuard, Lease, TabFailure,
};
use crate::state::AppState;
use crate::stats::{Outcome, RequestTrack};

/// Tabs tried for one job before giving up (a tab lost before the first byte).
const MAX_TAB_ATTEMPTS: usize = 3;
/// Most of a failed upstream body kept for classification.
const ERROR_BODY_LIMIT: usize = 4096;

/// One upstream request to run.
#[derive(Debug, Clone)]
pub(crate) struct Dispatch {
    pub(crate) request: UpstreamRequest,
    pub(crate) recaptcha: Option<RecaptchaSpec>,
    /// Upstream `session_id/message_id`; jobs with the same key never run at once.
    pub(crate) session_key: Option<String>,
    pub(crate) participant: Participant,
    /// The upstream request that stops this answer on LMArena's side (the `evaluation` flow),
    /// sent when the client goes away mid-answer.
    pub(crate) stop: Option<UpstreamRequest>,
}

/// Which timeout ended a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeoutKind {
    /// No response head within `first_byte_timeout_seconds` (the value).
    FirstByte(u64),
    /// Nothing for `stream_response_timeout_seconds` (the value) during the answer.
    Idle(u64),
    /// The whole answer took longer than `total_timeout_seconds`.
    Total,
}

/// What went wrong with a job (or with the answer built from it).
#[derive(Debug, Clone)]
pub(crate) enum JobError {
    /// No tab is connected; the server URL the userscript must use, when not its default.
    NoTab {
        custom_url: Option<String>,
    },
    /// Every connected tab is stuck on a Cloudflare challenge.
    AllChallenged,
    /// The wait queue is full; retry after this many seconds.
    QueueFull {
        retry_after: u64,
    },
    /// Waited `queue_timeout_seconds` without a free tab; retry after this many seconds.
    QueueTimeout {
        retry_after: u64,
    },
    /// Every tab that could serve is cooling down after a rate limit for longer than
    /// `queue_timeout_seconds`; the shortest cooldown ends after this many seconds.
    CoolingDown {
        retry_after: u64,
    },
    /// A v2 checkbox in the tab waited `recaptcha_v2_wait_seconds` (the value) for a person,
    /// or the tab already shows one.
    NeedsHuman {
        waited_secs: u64,
    },
    Timeout(TimeoutKind),
    /// LMArena answered a non-2xx status, classified by core; `tab` is the tab that asked
    /// (named in the advice, e.g. which tab must log in).
    Upstream {
        error: UpstreamError,
        tab: Option<ConnId>,
    },
    /// The tab could not complete the fetch (network error, no status).
    TabFailed {
        message: String,
    },
    /// The tab lost the answer midway.
    TabLostMidway {
        message: String,
    },
    /// The tab disconnected during the answer.
    TabDisconnected,
    /// The answer's frames piled up faster than its client read them (more than
    /// `pool::JOB_EVENTS_CAPACITY` waiting): the job was given up, the tab aborted it.
    FellBehind,
    /// Tabs disconnected before answering, [`MAX_TAB_ATTEMPTS`] times in a row.
    TabsKeptDisconnecting,
    /// LMArena reported an error inside the stream.
    InBand {
        message: String,
    },
    /// LMArena ended the answer without content.
    EmptyAnswer,
    /// The server is shutting down and cut the answer short.
    ShuttingDown,
}

impl JobError {
    fn from_acquire(e: AcquireError, state: &AppState, config: &Config) -> Self {
        let retry_after = config.queue_timeout_seconds.clamp(1, 30);
        match e {
            AcquireError::NoTab => JobError::NoTab {
                custom_url: state.custom_userscript_url(),
            },
            AcquireError::AllChallenged => JobError::AllChallenged,
            AcquireError::QueueFull => JobError::QueueFull { retry_after },
            AcquireError::Timeout => JobError::QueueTimeout { retry_after },
        }
    }

    /// How a request that ended with this error is counted.
    pub(crate) fn outcome(&self) -> Outcome {
        match self {
            JobError::NoTab { .. } => Outcome::NoTab,
            JobError::QueueFull { .. } => Outcome::QueueFull,
            JobError::QueueTimeout { .. } => Outcome::QueueTimeout,
            JobError::CoolingDown { .. } => Outcome::RateLimited,
            JobError::NeedsHuman { .. } => Outcome::Unavailable,
            JobError::AllChallenged => Outcome::Unavailable,
            JobError::Timeout(_) | JobError::FellBehind => Outcome::Timeout,
            JobError::Upstream { error, .. } => match error {
                UpstreamError::Challenge => Outcome::Unavailable,
                UpstreamError::RateLimited { .. } | UpstreamError::PromptFailed { .. } => {
                    Outcome::RateLimited
                }
                UpstreamError::TooLarge { .. }
                | UpstreamError::Rejected { .. }
                | UpstreamError::ModelUnavailable { .. } => Outcome::Invalid,
                UpstreamError::Recaptcha { .. }
                | UpstreamError::Unauthorized { .. }
                | UpstreamError::LoginRequired { .. }
                | UpstreamError::ConversationCannotContinue { .. }
                | UpstreamError::DirectModeRefused { .. }
                | UpstreamError::Server { .. } => Outcome::UpstreamError,
            },
            JobError::TabFailed { .. }
            | JobError::TabLostMidway { .. }
            | JobError::TabDisconnected
            | JobError::TabsKeptDisconnecting
            | JobError::InBand { .. }
            | JobError::EmptyAnswer => Outcome::UpstreamError,
            JobError::ShuttingDown => Outcome::Shutdown,
        }
    }

    fn recaptcha_refused(&self) -> bool {
        matches!(
            self,
            JobError::Upstream {
                error: UpstreamError::Recaptcha { .. },
                ..
            }
        )
    }
}

/// Told when a job has to wait in the queue for a free tab (first try only), so the answer
/// can start with a keep-alive instead of a silent wait.
pub(crate) trait QueueWatch: Sync {
    fn queued(&self) -> impl Future<Output = ()> + Send;
}

/// Takes a slot at once, or waits in the queue up to `queue_timeout_seconds`.
async fn take_lease(
    state: &AppState,
    dispatch: &Dispatch,
    retry: bool,
    watch: Option<&impl QueueWatch>,
) -> Result<Lease, JobError> {
    let config = state.config();
    let max_wait = Duration::from_secs(config.queue_timeout_seconds);
    if let Some(cooldown) = state.pool().cooldown_wait().filter(|c| *c > max_wait) {
        // Waiting would outlast the queue timeout: say so now instead of hitting the site.
        return Err(JobError::CoolingDown {
            retry_after: cooldown.as_secs() + u64::from(cooldown.subsec_nanos() > 0),
        });
    }
    let acquired = state
        .pool()
        .acquire(dispatch.session_key.clone(), retry)
        .map_err(|e| JobError::from_acquire(e, state, &config))?;
    match acquired {
        Acquired::Ready(lease) => Ok(lease),
        Acquired::Queued(waiting) => {
            if let Some(w) = watch {
                w.queued().await;
            }
            waiting
                .wait(max_wait)
                .await
                .map_err(|e| JobError::from_acquire(e, state, &config))
        }
    }
}

enum HeadOutcome {
    Ok,
    Failed(JobError),
    Lost,
}

/// A job whose upstream answer is streaming in.
#[derive(Debug)]
pub(crate) struct RelayJob {
    state: AppState,
    track: RequestTrack,
    lease: Lease,
    guard: JobGuard,
    rx: JobEvents,
    parser: StreamParser,
    pending: VecDeque<StreamEvent>,
    scratch: Vec<StreamEvent>,
    done: bool,
    failed: bool,
    idle: Duration,
    deadline: Instant,
    /// Sent to the tab when the job is dropped mid-answer (see [`Dispatch::stop`]).
    stop: Option<UpstreamRequest>,
}

impl RelayJob {
    /// Takes a tab (queueing if needed), sends the fetch and waits for the response head. A
    /// tab lost before the first byte hands the job to another tab. The request's `track`
    /// gets the tab and the upstream bytes.
    pub(crate) async fn start(
        state: &AppState,
        dispatch: &Dispatch,
        track: &RequestTrack,
        watch: &impl QueueWatch,
    ) -> Result<RelayJob, JobError> {
        let cfg = state.config();
        let first_byte = Duration::from_secs(cfg.first_byte_timeout_seconds.max(1));
        let idle = Duration::from_secs(cfg.stream_response_timeout_seconds.max(1));
        let deadline = Instant::now() + Duration::from_secs(cfg.total_timeout_seconds.max(1));
        let v2_wait = Duration::from_secs(cfg.recaptcha_v2_wait_seconds.max(1));
        // The token instruction of the next try: after two refused v3 tokens it asks a person
        // for the v2 checkbox, while `human` keeps the tab out of the pool.
        let mut recaptcha = dispatch.recaptcha.clone();
        let mut refusals = 0;
        let mut human: Option<HumanWait> = None;
        let mut attempt = 0;
        // A lease kept for another try on the same tab (a refused reCAPTCHA token).
        let mut kept: Option<Lease> = None;
        loop {
            let lease = match kept.take() {
                Some(lease) => lease,
                None => {
                    attempt += 1;
                    if attempt > MAX_TAB_ATTEMPTS {
                        return Err(JobError::TabsKeptDisconnecting);
                    }
                    // Retries wait for a tab even when none is connected: a reloading tab
                    // comes back within seconds.
                    let first = attempt == 1;
                    take_lease(state, dispatch, !first, first.then_some(watch)).await?
                }
            };
            track.set_tab(lease.conn());
            let (mut guard, mut rx) = lease.start_job(|id| ServerMessage::Fetch {
                id,
                request: fetch_request(&dispatch.request),
                recaptcha: recaptcha.clone(),
            });
            let head_wait = if human.is_some() {
                v2_wait + first_byte
            } else {
                first_byte
            };
            let head = tokio::time::timeout(head_wait, wait_head(state, lease.conn(), &mut rx));
            let Ok(outcome) = head.await else {
                state.pool().record_outcome(lease.conn(), false);
                // Dropping the guard aborts the fetch, which also removes the checkbox.
                return Err(match human {
                    Some(_) => JobError::NeedsHuman {
                        waited_secs: v2_wait.as_secs(),
                    },
                    None => JobError::Timeout(TimeoutKind::FirstByte(first_byte.as_secs())),
                });
            };
            // A head or a failure: the person (if one was asked) is done.
            human = None;
            match outcome {
                HeadOutcome::Ok => {
                    return Ok(RelayJob {
                        state: state.clone(),
                        track: track.clone(),
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
                        stop: dispatch.stop.clone(),
                    });
                }
                HeadOutcome::Failed(err) => {
                    state.pool().record_outcome(lease.conn(), false);
                    let v3 = recaptcha.as_ref().filter(|r| r.v2.is_none()).cloned();
                    let Some(v3) = v3.filter(|_| err.recaptcha_refused()) else {
                        return Err(err);
                    };
                    guard.finish();
                    drop(guard);
                    refusals += 1;
                    if refusals == 1 {
                        // One more try: the tab mints a fresh token for every fetch.
                        tracing::warn!("reCAPTCHA token refused; retrying once with a fresh token");
                    } else {
                        // Refused twice: only a person ticking the v2 checkbox gets through.
                        let Some(wait) = state.pool().await_human(lease.conn()) else {
                            return Err(JobError::NeedsHuman {
                                waited_secs: v2_wait.as_secs(),
                            });
                        };
                        tracing::warn!(
                            conn = lease.conn(),
                            "reCAPTCHA token refused twice; asking a person to tick the checkbox"
                        );
                        // Starts a streaming answer, whose keep-alives then hold the client.
                        watch.queued().await;
                        recaptcha = Some(with_v2(v3));
                        human = Some(wait);
                    }
                    kept = Some(lease);
                    continue;
                }
                HeadOutcome::Lost => {
                    drop(guard);
                    drop(lease);
                    tracing::warn!(
                        attempt,
                        "tab lost before the first byte; retrying on another tab"
                    );
                }
            }
        }
    }

    /// The tab this job runs on.
    pub(crate) fn conn(&self) -> ConnId {
        self.lease.conn()
    }

    /// The next parsed event; `None` once the upstream body is complete.
    pub(crate) async fn next_event(&mut self) -> Option<Result<StreamEvent, JobError>> {
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
                    let kind = if total {
                        TimeoutKind::Total
                    } else {
                        TimeoutKind::Idle(self.idle.as_secs())
                    };
                    return Some(Err(self.fail(JobError::Timeout(kind))));
                }
            };
            match event {
                Some(JobEvent::Chunk(data)) => {
                    self.track.add_bytes(data.len() as u64);
                    self.parser.push_into(&data, &mut self.scratch);
                    self.pending.extend(self.scratch.drain(..));
                }
                Some(JobEvent::Done) => {
                    self.pending.extend(self.parser.finish());
                    self.done = true;
                    self.guard.finish();
                    self.state.pool().record_outcome(self.lease.conn(), true);
                }
                Some(JobEvent::Failed(failure)) => {
                    self.guard.finish();
                    let message = failure.message;
                    return Some(Err(self.fail(JobError::TabLostMidway { message })));
                }
                Some(JobEvent::TabLost) | None => {
                    self.guard.finish();
                    return Some(Err(self.fail(JobError::TabDisconnected)));
                }
                Some(JobEvent::Overflowed) => {
                    // The route already told the tab to abort.
                    self.guard.finish();
                    return Some(Err(self.fail(JobError::FellBehind)));
                }
                Some(
                    JobEvent::Head { .. }
                    | JobEvent::PageSource(_)
                    | JobEvent::Probe(_)
                    | JobEvent::Action(_),
                ) => {}
            }
        }
    }

    fn fail(&mut self, err: JobError) -> JobError {
        self.failed = true;
        self.state.pool().record_outcome(self.lease.conn(), false);
        err
    }
}

impl Drop for RelayJob {
    fn drop(&mut self) {
        if !self.done && !self.failed {
            if let Some(stop) = self.stop.take() {
                // Fire and forget: aborting the fetch alone leaves LMArena generating.
                self.lease.send_untracked(|id| ServerMessage::Fetch {
                    id,
                    request: fetch_request(&stop),
                    recaptcha: None,
                });
            }
        }
        self.state
            .stats()
            .unknown_lines(&self.parser.stats().unknown_types);
    }
}

/// The `fetch` frame's request for an upstream request.
pub(crate) fn fetch_request(request: &UpstreamRequest) -> FetchRequest {
    FetchRequest {
        path: request.path.clone(),
        method: request.method.clone(),
        headers: request.headers.clone(),
        body: request.body.clone(),
    }
}

/// Waits for the response head; a non-2xx head is followed by the failed body.
async fn wait_head(state: &AppState, conn: ConnId, rx: &mut JobEvents) -> HeadOutcome {
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
            Some(JobEvent::Failed(failure)) => {
                let TabFailure {
                    message,
                    status,
                    body: failed_body,
                } = *failure;
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
            Some(JobEvent::Overflowed) => return HeadOutcome::Failed(JobError::FellBehind),
            Some(JobEvent::PageSource(_) | JobEvent::Probe(_) | JobEvent::Action(_)) => {}
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
) -> JobError {
    let Some(status) = status else {
        return JobError::TabFailed {
            message: message.to_owned(),
        };
    };
    let err = classify_upstream_error(status, headers, truncate(body));
    if matches!(err, UpstreamError::Challenge) {
        tracing::warn!(conn, "Cloudflare challenge in a tab; asking it to reload");
        state.pool().mark_challenged(conn);
    }
    if let UpstreamError::RateLimited {
        retry_after: Some(secs),
        ..
    } = &err
    {
        tracing::warn!(conn, secs, "LMArena rate limit; the tab cools down");
        state.pool().cool_down(conn, *secs);
    }
    JobError::Upstream {
        error: err,
        tab: Some(conn),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    fn upstream(error: UpstreamError) -> JobError {
        JobError::Upstream { error, tab: None }
    }

    /// The outcome of each variant, and the status the client gets for it.
    #[test]
    fn outcomes_and_statuses_of_job_errors() {
        let message = || "m".to_owned();
        let cases = [
            (JobError::NoTab { custom_url: None }, Outcome::NoTab, 503),
            (JobError::AllChallenged, Outcome::Unavailable, 503),
            (
                JobError::QueueFull { retry_after: 1 },
                Outcome::QueueFull,
                429,
            ),
            (
                JobError::QueueTimeout { retry_after: 1 },
                Outcome::QueueTimeout,
                503,
            ),
            (
                JobError::Timeout(TimeoutKind::FirstByte(3)),
                Outcome::Timeout,
                504,
            ),
            (
                JobError::Timeout(TimeoutKind::Idle(3)),
                Outcome::Timeout,
                504,
            ),
            (JobError::Timeout(TimeoutKind::Total), Outcome::Timeout, 504),
            (JobError::FellBehind, Outcome::Timeout, 504),
            (
                upstream(UpstreamError::Challenge),
                Outcome::Unavailable,
                503,
            ),
            (
                upstream(UpstreamError::RateLimited {
                    message: message(),
                    retry_after: None,
                }),
                Outcome::RateLimited,
                429,
            ),
            (
                upstream(UpstreamError::TooLarge { message: message() }),
                Outcome::Invalid,
                413,
            ),
            (
                upstream(UpstreamError::Rejected {
                    status: 400,
                    message: message(),
                }),
                Outcome::Invalid,
                400,
            ),
            (
                upstream(UpstreamError::Recaptcha { message: message() }),
                Outcome::UpstreamError,
                502,
            ),
            (
                upstream(UpstreamError::Unauthorized {
                    status: 401,
                    message: message(),
                }),
                Outcome::UpstreamError,
                502,
            ),
            (
                upstream(UpstreamError::Server {
                    status: 500,
                    message: message(),
                }),
                Outcome::UpstreamError,
                502,
            ),
            (
                JobError::TabFailed { message: message() },
                Outcome::UpstreamError,
                502,
            ),
            (
                JobError::TabLostMidway { message: message() },
                Outcome::UpstreamError,
                502,
            ),
            (JobError::TabDisconnected, Outcome::UpstreamError, 502),
            (JobError::TabsKeptDisconnecting, Outcome::UpstreamError, 502),
            (
                JobError::InBand { message: message() },
                Outcome::UpstreamError,
                502,
            ),
            (JobError::EmptyAnswer, Outcome::UpstreamError, 502),
            (JobError::ShuttingDown, Outcome::Shutdown, 503),
        ];
        for (err, outcome, status) in cases {
            assert_eq!(err.outcome(), outcome, "{err:?}");
            assert_eq!(
                ApiError::from(err.clone()).status.as_u16(),
                status,
                "{err:?}"
            );
        }
        let behind = ApiError::from(JobError::FellBehind);
        assert_eq!(behind.code.as_deref(), Some("client_fell_behind"));
        let capacity = crate::pool::JOB_EVENTS_CAPACITY.to_string();
        assert!(behind.message.contains(&capacity), "{}", behind.message);
    }

    #[test]
    fn only_a_refused_recaptcha_token_is_retried() {
        let refused = upstream(UpstreamError::Recaptcha {
            message: "x".into(),
        });
        assert!(refused.recaptcha_refused());
        let other = upstream(UpstreamError::Unauthorized {
            status: 403,
            message: "x".into(),
        });
        assert!(!other.recaptcha_refused());
    }
}
