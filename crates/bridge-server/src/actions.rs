//! The site's server actions, called through a tab (UPSTREAM.md §7): the server names the
//! action and its arguments (`bridge_core::arena::upload`), the tab finds the action's id in
//! the page and POSTs. Used for `evaluation_cleanup`: deleting the bridge's conversations from
//! the person's history in the background, never in the way of an answer, and for image
//! uploads (`uploads`).

use bridge_core::arena::upload::{
    delete_evaluation_session_args, ACTION_DELETE_EVALUATION_SESSION,
};
use tracing::Instrument as _;
use uuid::Uuid;

use bridge_core::protocol::{JobId, ServerMessage};

use crate::pool::{start_job_on, ActionOutcome, JobEvent, TabLink, WaitEnd};
use crate::state::AppState;

/// Why an action did not answer with a 2xx status.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ActionError {
    #[error("no tab is connected")]
    NoTab,
    #[error("the tab went away")]
    TabLost,
    #[error("the tab did not answer within {0} s")]
    Timeout(u64),
    #[error("the tab did not send it: {0}")]
    NotSent(String),
    #[error("the site answered HTTP {0}")]
    Status(u16),
}

/// Calls server action `name` with `args` on the least-busy ready tab; the answer text on a
/// 2xx status.
pub(crate) async fn call(
    state: &AppState,
    name: &str,
    args: serde_json::Value,
) -> Result<String, ActionError> {
    let link = state.pool().any_ready_tab().ok_or(ActionError::NoTab)?;
    call_on(state, &link, name, args).await
}

/// Calls server action `name` on the tab of `link`.
pub(crate) async fn call_on(
    state: &AppState,
    link: &TabLink,
    name: &str,
    args: serde_json::Value,
) -> Result<String, ActionError> {
    step(state, link, |id| ServerMessage::Action {
        id,
        name: name.to_owned(),
        args,
    })
    .await
}

/// PUTs `bytes` to an upload URL a `generateUploadUrl` call answered on the tab of `link`.
pub(crate) async fn put_on(
    state: &AppState,
    link: &TabLink,
    url: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<String, ActionError> {
    use base64::Engine as _;
    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
    step(state, link, |id| ServerMessage::Upload {
        id,
        url: url.to_owned(),
        content_type: content_type.to_owned(),
        data,
    })
    .await
}

/// Sends one step to a tab and waits for its `action_result`.
async fn step(
    state: &AppState,
    link: &TabLink,
    make: impl FnOnce(JobId) -> ServerMessage,
) -> Result<String, ActionError> {
    let (mut guard, mut rx) = start_job_on(state.pool(), link, make);
    let limit = state.options().page_source_timeout;
    let outcome = rx
        .answer(limit, |event| match event {
            JobEvent::Action(outcome) => Some(*outcome),
            _ => None,
        })
        .await
        .map_err(|end| match end {
            WaitEnd::TabLost => ActionError::TabLost,
            WaitEnd::TimedOut => ActionError::Timeout(limit.as_secs()),
        })?;
    guard.finish();
    match outcome {
        ActionOutcome {
            status: Some(status),
            body,
            ..
        } if (200..300).contains(&status) => Ok(body.unwrap_or_default()),
        ActionOutcome {
            status: Some(status),
            ..
        } => Err(ActionError::Status(status)),
        ActionOutcome { message, .. } => Err(ActionError::NotSent(
            message.unwrap_or_else(|| "no reason given".to_owned()),
        )),
    }
}

/// Deletes a bridge conversation from the person's history in the background; the outcome
/// is counted on /status and a failure logged.
pub(crate) fn delete_in_background(state: &AppState, evaluation_id: Uuid) {
    let state = state.clone();
    let task = async move {
        let args = delete_evaluation_session_args(&evaluation_id.to_string());
        let result = call(&state, ACTION_DELETE_EVALUATION_SESSION, args).await;
        if let Err(e) = &result {
            tracing::warn!(%evaluation_id, "could not delete the conversation upstream: {e}");
        } else {
            tracing::debug!(%evaluation_id, "conversation deleted upstream");
        }
        state.stats().cleanup(result.is_ok());
    };
    actix_web::rt::spawn(task.in_current_span());
}
