//! The `evaluation` upstream flow: plan each request against the conversations this server
//! created (continue one, or start a new one with the history folded in), fall back to a
//! fresh conversation once when LMArena rejects a continuation, and remember answered
//! conversations. The relay only runs the upstream requests this module builds.

use bridge_core::arena::evaluation::{
    answer_side, build_create, build_post, fold_messages, FoldOptions, Plan, V7Ids,
};
use bridge_core::arena::stream::{Participant, UpstreamError};
use bridge_core::config::Config;
use bridge_core::models::ModelRoute;
use bridge_core::openai::ChatCompletionRequest;

use crate::conversations::Remember;
use crate::error::ApiError;
use crate::relay::{Dispatch, JobError, QueueWatch, RelayJob};
use crate::state::AppState;
use crate::stats::RequestTrack;

/// What the evaluation flow does around one upstream job.
#[derive(Debug)]
pub(crate) struct Followup {
    /// What to remember once the answer is complete.
    pub(crate) remember: Remember,
    /// For a continuation: the fresh-conversation request to send once if LMArena rejects
    /// the continuation, and what to remember then.
    fresh_fallback: Option<(Dispatch, Remember)>,
}

/// Builds the dispatches of an evaluation-flow request, each with what to do around it
/// (`None`: several images, independent new conversations, not remembered).
pub(super) fn prepare(
    state: &AppState,
    config: &Config,
    chat: &ChatCompletionRequest,
    route: &ModelRoute,
    n: usize,
) -> Result<Vec<(Dispatch, Option<Followup>)>, ApiError> {
    let model = &route.model;
    let (mode, target) = route.evaluation_side();
    let side = answer_side(mode, target);
    let opts = FoldOptions::from_config(config);
    let remember = |evaluation_id| Remember {
        evaluation_id,
        messages: chat.messages.clone(),
        model_name: chat.model.clone(),
        side,
    };
    let fresh = |ids: &mut V7Ids| -> Result<(Dispatch, Remember), ApiError> {
        let folded = fold_messages(&chat.messages, opts)?;
        let ev = build_create(&folded, model, mode, ids)?;
        let dispatch = Dispatch {
            request: ev.request,
            recaptcha: ev.recaptcha,
            session_key: None,
            participant: Participant::from(side),
        };
        Ok((dispatch, remember(ev.evaluation_id)))
    };
    let mut ids = V7Ids;
    if n > 1 {
        return (0..n)
            .map(|_| fresh(&mut ids).map(|(d, _)| (d, None)))
            .collect();
    }
    let plan = state
        .conversations()
        .plan(&chat.messages, &chat.model, opts)?;
    let planned = match plan {
        Plan::Fresh { .. } => {
            let (dispatch, remember) = fresh(&mut ids)?;
            let followup = Followup {
                remember,
                fresh_fallback: None,
            };
            (dispatch, Some(followup))
        }
        Plan::Continue {
            evaluation_id,
            participant: side,
            new_user,
        } => {
            let ev = build_post(evaluation_id, &new_user, model, &mut ids)?;
            let dispatch = Dispatch {
                request: ev.request,
                recaptcha: ev.recaptcha,
                // One message at a time per conversation.
                session_key: Some(format!("evaluation/{evaluation_id}")),
                participant: Participant::from(side),
            };
            let followup = Followup {
                remember: Remember {
                    side,
                    ..remember(evaluation_id)
                },
                fresh_fallback: Some(fresh(&mut ids)?),
            };
            (dispatch, Some(followup))
        }
    };
    Ok(vec![planned])
}

/// True when LMArena's answer to a continuation means "start a new conversation instead".
fn continuation_rejected(err: &JobError) -> bool {
    matches!(
        err,
        JobError::Upstream { status: 401 | 403 | 404, error }
            if !matches!(error, UpstreamError::Recaptcha { .. })
    )
}

/// Starts the job of an evaluation request; a rejected continuation is sent once more as a
/// fresh conversation (whose id is then the one remembered).
pub(super) async fn start(
    state: &AppState,
    dispatch: &Dispatch,
    followup: &mut Followup,
    track: &RequestTrack,
    watch: &impl QueueWatch,
) -> Result<RelayJob, JobError> {
    match RelayJob::start(state, dispatch, track, watch).await {
        Ok(job) => Ok(job),
        Err(e) => match followup.fresh_fallback.take() {
            Some((fresh, remember)) if continuation_rejected(&e) => {
                tracing::warn!("continuation refused by LMArena; starting a new conversation");
                followup.remember = remember;
                RelayJob::start(state, &fresh, track, watch).await
            }
            _ => Err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_continuation_is_rejected_by_401_403_404_but_not_by_a_refused_token() {
        let unauthorized = |status| JobError::Upstream {
            status,
            error: UpstreamError::Unauthorized {
                status,
                message: "gone".into(),
            },
        };
        assert!(continuation_rejected(&unauthorized(401)));
        assert!(continuation_rejected(&unauthorized(403)));
        let not_found = JobError::Upstream {
            status: 404,
            error: UpstreamError::Server {
                status: 404,
                message: "no such evaluation".into(),
            },
        };
        assert!(continuation_rejected(&not_found));
        let token = JobError::Upstream {
            status: 403,
            error: UpstreamError::Recaptcha {
                message: "recaptcha validation failed".into(),
            },
        };
        assert!(!continuation_rejected(&token));
        let server = JobError::Upstream {
            status: 500,
            error: UpstreamError::Server {
                status: 500,
                message: "boom".into(),
            },
        };
        assert!(!continuation_rejected(&server));
        assert!(!continuation_rejected(&JobError::NoTab));
    }
}
