//! The `evaluation` upstream flow: plan each request against the conversations this server
//! created (continue one, or start a new one with the history folded in), fall back to a
//! fresh conversation once when LMArena rejects a continuation, and remember answered
//! conversations. The relay only runs the upstream requests this module builds.

use bridge_core::arena::evaluation::{
    build_create, build_post, fold_messages, EvaluationTarget, FoldOptions, Plan, V7Ids,
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
    let target = EvaluationTarget::resolve(model, config)?;
    let side = target.side();
    let opts = FoldOptions::from_config(config);
    let remember = |evaluation_id| Remember {
        evaluation_id,
        messages: chat.messages.clone(),
        model_name: chat.model.clone(),
        side,
    };
    let fresh = |ids: &mut V7Ids| -> Result<(Dispatch, Remember), ApiError> {
        let folded = fold_messages(&chat.messages, opts)?;
        let ev = build_create(&folded, &target, ids)?;
        let dispatch = Dispatch {
            stop: ev.stop(side),
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
            let ev = build_post(evaluation_id, &new_user, &target, &mut ids)?;
            let dispatch = Dispatch {
                stop: ev.stop(side),
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

/// True when LMArena's answer to a continuation means "start a new conversation instead": it
/// says the conversation cannot take this turn (a battle turn is due, the mode is refused), or
/// it no longer knows or lets this account use the conversation. A refused token, a login gate,
/// a challenge or a rate limit would refuse a fresh conversation just the same.
fn continuation_rejected(err: &JobError) -> bool {
    let JobError::Upstream { error, .. } = err else {
        return false;
    };
    match error {
        UpstreamError::ConversationCannotContinue { .. }
        | UpstreamError::DirectModeRefused { .. }
        | UpstreamError::Unauthorized { .. } => true,
        UpstreamError::Server { status, .. } => *status == 404,
        UpstreamError::Challenge
        | UpstreamError::RateLimited { .. }
        | UpstreamError::PromptFailed { .. }
        | UpstreamError::ModelUnavailable { .. }
        | UpstreamError::LoginRequired { .. }
        | UpstreamError::TooLarge { .. }
        | UpstreamError::Rejected { .. }
        | UpstreamError::Recaptcha { .. } => false,
    }
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
                tracing::warn!(
                    error = ?e,
                    "continuation refused by LMArena; starting a new conversation"
                );
                state.stats().fresh_fallback();
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
    fn a_continuation_is_rejected_by_a_battle_turn_a_refused_mode_401_403_404_not_a_token() {
        let battle = JobError::Upstream {
            tab: None,
            error: UpstreamError::ConversationCannotContinue {
                message: "expected a BATTLE turn".into(),
            },
        };
        assert!(continuation_rejected(&battle));
        let mode = JobError::Upstream {
            tab: None,
            error: UpstreamError::DirectModeRefused {
                message: "'direct' mode is not allowed".into(),
            },
        };
        assert!(continuation_rejected(&mode));
        let login = JobError::Upstream {
            tab: None,
            error: UpstreamError::LoginRequired {
                status: 401,
                message: "User not found".into(),
            },
        };
        assert!(!continuation_rejected(&login));
        let rejected = JobError::Upstream {
            tab: None,
            error: UpstreamError::Rejected {
                status: 400,
                message: "moderation".into(),
            },
        };
        assert!(!continuation_rejected(&rejected));
        let unauthorized = |status| JobError::Upstream {
            tab: None,
            error: UpstreamError::Unauthorized {
                status,
                message: "gone".into(),
            },
        };
        assert!(continuation_rejected(&unauthorized(401)));
        assert!(continuation_rejected(&unauthorized(403)));
        let not_found = JobError::Upstream {
            tab: None,
            error: UpstreamError::Server {
                status: 404,
                message: "no such evaluation".into(),
            },
        };
        assert!(continuation_rejected(&not_found));
        let token = JobError::Upstream {
            tab: None,
            error: UpstreamError::Recaptcha {
                message: "recaptcha validation failed".into(),
            },
        };
        assert!(!continuation_rejected(&token));
        let server = JobError::Upstream {
            tab: None,
            error: UpstreamError::Server {
                status: 500,
                message: "boom".into(),
            },
        };
        assert!(!continuation_rejected(&server));
        assert!(!continuation_rejected(&JobError::NoTab {
            custom_url: None
        }));
    }
}
