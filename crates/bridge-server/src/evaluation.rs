//! The `evaluation` upstream flow on the server side: plan each request against the
//! conversations this server created (continue one, or start a new one with the history
//! folded in), remember answered conversations, and fall back to a fresh conversation once
//! when LMArena rejects a continuation.

use std::sync::Mutex;

use bridge_core::arena::evaluation::{
    build_create, build_post, fold_messages, EvaluationHistory, EvaluationTarget, FoldOptions,
    Plan, V7Ids,
};
use bridge_core::arena::retry::ParticipantPosition;
use bridge_core::arena::stream::Participant;
use bridge_core::config::Config;
use bridge_core::models::ResolvedModel;
use bridge_core::openai::{ChatCompletionRequest, ChatMessage};
use uuid::Uuid;

use crate::error::ApiError;
use crate::relay::Dispatch;
use crate::state::AppState;

/// What to do after an evaluation job: remember its conversation, or retry it fresh.
#[derive(Debug, Clone)]
pub struct EvalJob {
    pub evaluation_id: Uuid,
    pub messages: Vec<ChatMessage>,
    pub model_name: String,
    pub side: ParticipantPosition,
    /// For a continuation: the fresh-conversation request to send once if LMArena rejects
    /// the continuation (404/401).
    pub fresh_fallback: Option<Box<Dispatch>>,
}

/// The conversations this server created, bounded.
#[derive(Debug)]
pub struct Conversations {
    inner: Mutex<EvaluationHistory>,
}

impl Conversations {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(EvaluationHistory::new(capacity)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, EvaluationHistory> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies a reloaded capacity (a change starts with an empty history).
    pub fn set_capacity(&self, capacity: usize) {
        let mut h = self.lock();
        if h.capacity() != capacity {
            *h = EvaluationHistory::new(capacity);
        }
    }

    /// Remembers an answered conversation.
    pub fn record(&self, job: &EvalJob, answer: &str) {
        self.lock().record(
            &job.messages,
            answer,
            job.evaluation_id,
            &job.model_name,
            job.side,
        );
    }
}

/// Builds the dispatches of an evaluation-flow request.
pub fn prepare(
    state: &AppState,
    config: &Config,
    chat: &ChatCompletionRequest,
    model: &ResolvedModel,
    n: usize,
) -> Result<Vec<Dispatch>, ApiError> {
    let target = EvaluationTarget::resolve(model, config)?;
    let side = target.side();
    let opts = FoldOptions::from_config(config);
    let fresh = |ids: &mut V7Ids| -> Result<Dispatch, ApiError> {
        let folded = fold_messages(&chat.messages, opts)?;
        let ev = build_create(&folded, &target, ids)?;
        Ok(Dispatch {
            request: ev.request,
            recaptcha: ev.recaptcha,
            session_key: None,
            participant: Participant::from(side),
            eval: Some(EvalJob {
                evaluation_id: ev.evaluation_id,
                messages: chat.messages.clone(),
                model_name: chat.model.clone(),
                side,
                fresh_fallback: None,
            }),
        })
    };
    let mut ids = V7Ids;
    if n > 1 {
        // Several images: independent new conversations, not remembered.
        return (0..n)
            .map(|_| {
                fresh(&mut ids).map(|mut d| {
                    d.eval = None;
                    d
                })
            })
            .collect();
    }
    let plan = state
        .conversations()
        .lock()
        .plan(&chat.messages, &chat.model, opts)?;
    let dispatch = match plan {
        Plan::Fresh { .. } => fresh(&mut ids)?,
        Plan::Continue {
            evaluation_id,
            participant: side,
            new_user,
        } => {
            let ev = build_post(evaluation_id, &new_user, &target, &mut ids)?;
            Dispatch {
                request: ev.request,
                recaptcha: ev.recaptcha,
                // One message at a time per conversation.
                session_key: Some(format!("evaluation/{evaluation_id}")),
                participant: Participant::from(side),
                eval: Some(EvalJob {
                    evaluation_id,
                    messages: chat.messages.clone(),
                    model_name: chat.model.clone(),
                    side,
                    fresh_fallback: Some(Box::new(fresh(&mut ids)?)),
                }),
            }
        }
    };
    Ok(vec![dispatch])
}

/// True when LMArena's answer to a continuation means "start a new conversation instead".
pub fn continuation_rejected(err: &ApiError) -> bool {
    matches!(err.upstream_status, Some(401 | 403 | 404))
        && err.code.as_deref() != Some("recaptcha_failed")
}
