//! One job of a request, as a task: start it on the relay (through the evaluation flow when
//! it has a follow-up), forward its events to the answer task, and remember an answered
//! evaluation conversation.

use bridge_core::arena::stream::StreamEvent;
use bridge_core::config::EvaluationCleanup;
use bridge_core::models::SessionLease;
use tokio::sync::mpsc;

use super::evaluation;
use crate::actions;
use crate::pool::ConnId;
use crate::relay::{Dispatch, JobError, QueueWatch, RelayJob};
use crate::state::AppState;
use crate::stats::RequestTrack;

/// One planned upstream job: the request for the relay and, for the `evaluation` flow, what
/// to do around it.
#[derive(Debug)]
pub(crate) struct Planned {
    dispatch: Dispatch,
    followup: Option<evaluation::Followup>,
    /// The `retry` flow's session, in flight on its pool until the job ends.
    session: Option<SessionLease>,
}

impl Planned {
    pub(super) fn new(dispatch: Dispatch, followup: Option<evaluation::Followup>) -> Self {
        Self {
            dispatch,
            followup,
            session: None,
        }
    }

    pub(super) fn with_session(self, session: SessionLease) -> Self {
        Self {
            session: Some(session),
            ..self
        }
    }
}

/// What a job task reports to the answer task, tagged with its choice index.
#[derive(Debug)]
pub(crate) enum JobMsg {
    /// No free tab: the job waits in the queue.
    Queued,
    /// The upstream answer started on this tab.
    Started(ConnId),
    Event(StreamEvent),
    /// The upstream answer is complete.
    End,
    Failed(Box<JobError>),
}

/// The job's end of the channel to the answer task.
struct Reporter {
    index: usize,
    out: mpsc::Sender<(usize, JobMsg)>,
}

impl Reporter {
    /// Sends a message; false when the answer task stopped listening.
    async fn send(&self, msg: JobMsg) -> bool {
        self.out.send((self.index, msg)).await.is_ok()
    }
}

impl QueueWatch for Reporter {
    async fn queued(&self) {
        self.send(JobMsg::Queued).await;
    }
}

/// Runs one job and reports its messages; ends (aborting the job) as soon as the answer task
/// stops listening.
pub(super) async fn run(
    state: AppState,
    index: usize,
    planned: Box<Planned>,
    out: mpsc::Sender<(usize, JobMsg)>,
    track: RequestTrack,
) {
    let reporter = Reporter { index, out };
    let work = async {
        let Planned {
            dispatch,
            mut followup,
            session: _session,
        } = *planned;
        // The start (lease, queue, uploads, retries) is boxed: its state is large and only
        // needed until the answer begins, and this future lives as long as the stream.
        let mut job = match followup.as_mut() {
            Some(f) => Box::pin(evaluation::start(&state, &dispatch, f, &track, &reporter)).await?,
            None => Box::pin(RelayJob::start(&state, &dispatch, &track, &reporter)).await?,
        };
        drop(dispatch);
        if !reporter.send(JobMsg::Started(job.conn())).await {
            return Ok(());
        }
        let mut answer = String::new();
        while let Some(event) = job.next_event().await {
            match event? {
                StreamEvent::Error(message) => return Err(JobError::InBand { message }),
                ev => {
                    if followup.is_some() {
                        if let StreamEvent::Text(t) = &ev {
                            answer.push_str(t);
                        }
                    }
                    if !reporter.send(JobMsg::Event(ev)).await {
                        return Ok(());
                    }
                }
            }
        }
        if let Some(f) = &followup {
            remember_or_delete(&state, f, &answer);
        }
        Ok::<(), JobError>(())
    };
    tokio::select! {
        result = work => {
            let msg = match result {
                Ok(()) => JobMsg::End,
                Err(e) => {
                    tracing::info!(error = ?e, "upstream job failed");
                    JobMsg::Failed(Box::new(e))
                }
            };
            reporter.send(msg).await;
        }
        _ = reporter.out.closed() => {}
    }
}

/// After a complete evaluation answer: remember the conversation for continuation, or delete
/// it upstream as `evaluation_cleanup` says (in the background; the answer is not held up).
fn remember_or_delete(state: &AppState, followup: &evaluation::Followup, answer: &str) {
    match state.config().evaluation_cleanup {
        EvaluationCleanup::DeleteAfterAnswer => {
            actions::delete_in_background(state, followup.remember.evaluation_id);
        }
        EvaluationCleanup::DeleteOnEvict => {
            if let Some(evicted) = state.conversations().record(&followup.remember, answer) {
                actions::delete_in_background(state, evicted);
            }
        }
        EvaluationCleanup::Keep => {
            state.conversations().record(&followup.remember, answer);
        }
    }
}
