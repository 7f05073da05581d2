//! The request layer between the HTTP routes and the relay: [`prepare`] turns a parsed
//! request into planned upstream jobs (model and session resolved, upstream requests built in
//! core), and [`start`] runs them as tasks that report [`JobMsg`]s to the answer task. The
//! `evaluation` flow's continuation, fresh fallback and conversation memory live in
//! [`evaluation`]; one job's run is in [`job`].

mod evaluation;
mod job;

pub(crate) use job::{JobMsg, Planned};

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use bridge_core::arena::evaluation::answer_side;
use bridge_core::arena::retry::{build_retry_request, recaptcha_spec, RandomIds, RetryContext};
use bridge_core::arena::stream::Participant;
use bridge_core::config::{Config, UpstreamFlow};
use bridge_core::models::{ModelKind, ModelRoute, SessionError};
use bridge_core::openai::ChatCompletionRequest;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::error::ApiError;
use crate::guide;
use crate::relay::Dispatch;
use crate::state::{AppState, Snapshot};
use crate::stats::RequestTrack;

/// Messages buffered between tasks of one request; small, since the consumer is never far
/// behind and every slot costs memory on each open stream.
pub(crate) const EVENTS_CAPACITY: usize = 16;

/// A validated request, ready to start: one [`Planned`] job per choice.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) model: String,
    pub(crate) kind: ModelKind,
    pub(crate) jobs: Vec<Planned>,
}

/// The route of model `name` in `snapshot`, looked up once per request: borrowed from the
/// config files, or made for a model that is only on the site's list (served by its catalog
/// id); else the model-not-found error. A chat looks it up before its images are downloaded
/// or uploaded and prepares with it afterwards.
pub(crate) fn find_route<'a>(
    state: &AppState,
    snapshot: &'a Snapshot,
    name: &str,
) -> Result<Cow<'a, ModelRoute>, ApiError> {
    match snapshot.models.resolve(name) {
        Ok(route) => Ok(Cow::Borrowed(route)),
        Err(not_found) => {
            let known = state.known_models().current();
            let m = known.get(name).ok_or(not_found)?;
            Ok(Cow::Owned(ModelRoute::unlisted(
                &m.name,
                &m.id,
                m.kind.clone(),
                &snapshot.config,
            )))
        }
    }
}

/// Resolves the sessions of the model `route` for `chat` and builds the upstream requests.
pub(crate) fn prepare(
    state: &AppState,
    config: &Config,
    route: &ModelRoute,
    chat: &ChatCompletionRequest,
    n: usize,
) -> Result<Prepared, ApiError> {
    let model = &route.model;
    if n > 1 && model.kind != ModelKind::Image {
        return Err(ApiError::invalid_request(
            "n > 1 is only supported for image models; LMArena answers one completion per request.",
        )
        .with_param("n"));
    }
    let jobs = if route.flow(config.upstream_flow) == UpstreamFlow::Evaluation {
        evaluation::prepare(state, config, chat, route, n)?
            .into_iter()
            .map(|(dispatch, followup)| Planned::new(dispatch, followup))
            .collect()
    } else {
        let leases = route
            .choose_sessions(n)
            .map_err(|e| unservable(state, &e))?;
        let now = time::OffsetDateTime::now_utc();
        let mut jobs = Vec::with_capacity(leases.len());
        for lease in leases {
            let pick = lease.pick();
            let ctx = RetryContext {
                config,
                model,
                session: pick,
            };
            let request = build_retry_request(chat, &ctx, &mut RandomIds, now)?;
            let participant = Participant::from(answer_side(pick.mode, pick.battle_target));
            let dispatch = Dispatch {
                request,
                recaptcha: Some(recaptcha_spec(config)),
                session_key: Some(lease.key().to_owned()),
                participant,
                stop: None,
            };
            jobs.push(Planned::new(dispatch, None).with_session(lease));
        }
        jobs
    };
    Ok(Prepared {
        model: chat.model.clone(),
        kind: model.kind.clone(),
        jobs,
    })
}

/// The error for a `retry` request without a usable session: every reason it cannot be
/// served, a missing tab first.
fn unservable(state: &AppState, err: &SessionError) -> ApiError {
    let mut reasons = Vec::with_capacity(2);
    if state.pool().tab_count() == 0 {
        reasons.push(guide::connect_advice(
            state.custom_userscript_url().as_deref(),
        ));
    }
    reasons.push(guide::session_advice(err));
    ApiError::invalid_request(guide::reasons(&reasons))
        .with_code("session_not_configured")
        .no_retry()
}

/// A lone job's run, to be driven inside the answer's own task.
pub(crate) type InlineJob = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The jobs of a request, started: the channel their messages arrive on and, for the common
/// single-choice request, the job itself. A lone job runs in the task of the answer that
/// reads it ([`Started::alongside`]): no task of its own, no cross-task wake-up per message.
pub(crate) struct Started {
    pub(crate) events: mpsc::Receiver<(usize, JobMsg)>,
    pub(crate) inline: Option<InlineJob>,
}

impl Started {
    /// Runs `answer` (the reader of `events`) with the inline job, if any, in one task. The
    /// job ends (aborting its upstream fetch) once the answer has dropped `events`, so this
    /// returns right after the answer does.
    ///
    /// A plain function, not an `async fn`: an `async fn` would keep `answer` twice in its
    /// state (the argument and the awaited join), about 1.5 KiB more per open stream.
    pub(crate) fn alongside<T>(
        inline: Option<InlineJob>,
        answer: impl Future<Output = T>,
    ) -> impl Future<Output = T> {
        use futures_util::future::{join, Either};
        use futures_util::FutureExt as _;
        match inline {
            Some(job) => Either::Left(join(job, answer).map(|(_, out)| out)),
            None => Either::Right(answer),
        }
    }
}

/// Starts the jobs of a prepared request in the caller's span (the request's): several as
/// tasks of their own, a single one inline (see [`Started`]). A job ends (aborting its
/// upstream fetch) as soon as the events channel is dropped.
pub(crate) fn start(state: &AppState, jobs: Vec<Planned>, track: &RequestTrack) -> Started {
    let (tx, events) = mpsc::channel(EVENTS_CAPACITY);
    if jobs.len() == 1 {
        let inline = jobs.into_iter().next().map(|planned| {
            let run = job::run(state.clone(), 0, Box::new(planned), tx, track.clone());
            Box::pin(run.in_current_span()) as InlineJob
        });
        return Started { events, inline };
    }
    for (index, planned) in jobs.into_iter().enumerate() {
        let task = job::run(
            state.clone(),
            index,
            Box::new(planned),
            tx.clone(),
            track.clone(),
        );
        actix_web::rt::spawn(task.in_current_span());
    }
    Started {
        events,
        inline: None,
    }
}
