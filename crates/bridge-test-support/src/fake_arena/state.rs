//! What the fake LMArena remembers: recorded requests, stream counters, issued reCAPTCHA
//! tokens and the evaluations it created. One struct behind a mutex (never held across an
//! await); a watch channel tells waiters that something changed.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;

/// One request the fake received (everything but `/__fake/*`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedRequest {
    /// 1-based order of arrival since the last reset.
    pub seq: u64,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub content_type: Option<String>,
    /// The request's `Origin` header (browsers send it on same-origin PUT/POST).
    pub origin: Option<String>,
    /// Whether the cookie the page sets came back (`credentials` working).
    pub has_auth_cookie: bool,
    /// The body parsed as JSON, when it is JSON.
    pub body: Option<Value>,
    /// The body as text, when it is not JSON (lossy UTF-8).
    pub body_text: Option<String>,
    pub body_len: usize,
    /// Status the fake answered with.
    pub status: u16,
    /// Scenario name, for upstream API requests.
    pub scenario: Option<String>,
    /// Why the fake rejected the request (validation failures and similar).
    pub rejection: Option<String>,
    /// The complete streamed body of a 200 stream, exactly as written.
    pub transcript: Option<String>,
}

/// Counters of the fake (JSON at `/__fake/stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FakeStats {
    /// Requests recorded since the last reset.
    pub requests: u64,
    pub started_streams: u64,
    pub completed_streams: u64,
    /// Streams whose client went away before the last write (aborts).
    pub aborted_streams: u64,
    pub active_streams: u64,
    pub recaptcha_tokens_issued: u64,
    /// Requests refused with 403 `recaptcha validation failed` because of their token.
    pub recaptcha_rejections: u64,
    pub evaluations: u64,
    /// Accepted `stop/{evaluation}/messages/{message}` calls.
    pub stop_calls: u64,
    /// Follow-ups refused with the battle-turn 400.
    pub battle_turn_refusals: u64,
    /// Creates refused because they asked for `mode:"direct"`.
    pub direct_mode_refusals: u64,
    /// Conversations removed with the `deleteEvaluationSession` server action.
    pub deleted_evaluations: u64,
    /// Presigned URLs handed out by `generateUploadUrl`.
    pub upload_urls: u64,
    /// PUTs of image bytes accepted by the object store.
    pub uploads: u64,
}

impl FakeStats {
    /// A counter by its JSON name (for `/__fake/wait`).
    pub fn counter(&self, name: &str) -> Option<u64> {
        Some(match name {
            "requests" => self.requests,
            "started_streams" => self.started_streams,
            "completed_streams" => self.completed_streams,
            "aborted_streams" => self.aborted_streams,
            "active_streams" => self.active_streams,
            "recaptcha_tokens_issued" => self.recaptcha_tokens_issued,
            "recaptcha_rejections" => self.recaptcha_rejections,
            "evaluations" => self.evaluations,
            "stop_calls" => self.stop_calls,
            "battle_turn_refusals" => self.battle_turn_refusals,
            "direct_mode_refusals" => self.direct_mode_refusals,
            "deleted_evaluations" => self.deleted_evaluations,
            "upload_urls" => self.upload_urls,
            "uploads" => self.uploads,
            _ => return None,
        })
    }
}

/// Which widget minted a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// `execute(key, {action})` with the page's v3 key.
    V3,
    /// The v2 checkbox drawn by `render()`.
    V2,
}

#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    pub kind: TokenKind,
    pub action: String,
    pub used: bool,
}

/// An evaluation created through create-evaluation.
#[derive(Debug, Clone)]
pub(crate) struct Evaluation {
    /// `mode` of the create request.
    pub mode: Option<String>,
    /// Accepted messages (create + follow-ups).
    pub turns: u32,
    pub last_user_content: String,
    pub model_message_ids: Vec<String>,
    pub model_kind: Option<super::page::ModelKind>,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenRefusal {
    Missing,
    Unknown,
    WrongKind,
    Reused,
    WrongAction,
    RejectedOnRequest,
}

impl TokenRefusal {
    pub(super) fn reason(self) -> &'static str {
        match self {
            TokenRefusal::Missing => "no reCAPTCHA token in the body",
            TokenRefusal::Unknown => "reCAPTCHA token was not issued by the page",
            TokenRefusal::WrongKind => "reCAPTCHA token is of the other kind (v2/v3)",
            TokenRefusal::Reused => "reCAPTCHA token was already used",
            TokenRefusal::WrongAction => "reCAPTCHA token was minted for another action",
            TokenRefusal::RejectedOnRequest => "reCAPTCHA token refused on request (reject-next)",
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub requests: Vec<RecordedRequest>,
    pub stats: FakeStats,
    pub tokens: HashMap<String, IssuedToken>,
    pub reject_next_tokens: u32,
    pub evaluations: HashMap<String, Evaluation>,
    /// Follow-ups of a direct-battle evaluation with at least this many turns get the
    /// battle-turn 400 (`None`: never).
    pub battle_turn_after: Option<u32>,
    /// Page requests on `lmarena.ai` answer 301 to the same path on `arena.ai`.
    pub redirect_lmarena: bool,
    /// The site's deployment: server-action ids belong to one (`actions`).
    pub deployment: u32,
    /// Evaluations deleted by the server action, in order.
    pub deleted: Vec<String>,
    /// Object keys handed out by `generateUploadUrl` → the stored (content type, size), once
    /// the PUT arrived.
    pub objects: HashMap<String, Option<(String, usize)>>,
}

impl State {
    /// Accept or refuse the tokens of a body: a v2 token when there is one (the site's way out
    /// after a refusal), else a v3 token for `action`. Consumes the token either way.
    pub(super) fn redeem_tokens(
        &mut self,
        v3: Option<&str>,
        v2: Option<&str>,
        action: &str,
    ) -> Result<(), TokenRefusal> {
        match (v2, v3) {
            (Some(v2), _) => self.redeem(v2, TokenKind::V2, None),
            (None, Some(v3)) => self.redeem(v3, TokenKind::V3, Some(action)),
            (None, None) => {
                self.stats.recaptcha_rejections += 1;
                Err(TokenRefusal::Missing)
            }
        }
    }

    /// Accept or refuse a v3 token for `action`, consuming it either way.
    pub(super) fn redeem_token(&mut self, token: &str, action: &str) -> Result<(), TokenRefusal> {
        self.redeem(token, TokenKind::V3, Some(action))
    }

    fn redeem(
        &mut self,
        token: &str,
        kind: TokenKind,
        action: Option<&str>,
    ) -> Result<(), TokenRefusal> {
        let refusal = match self.tokens.get_mut(token) {
            None => Some(TokenRefusal::Unknown),
            Some(t) if t.used => Some(TokenRefusal::Reused),
            Some(t) => {
                t.used = true;
                if t.kind != kind {
                    Some(TokenRefusal::WrongKind)
                } else if kind == TokenKind::V2 {
                    None
                } else if action.is_some_and(|a| t.action != a) {
                    Some(TokenRefusal::WrongAction)
                } else if self.reject_next_tokens > 0 {
                    self.reject_next_tokens -= 1;
                    Some(TokenRefusal::RejectedOnRequest)
                } else {
                    None
                }
            }
        };
        match refusal {
            Some(r) => {
                self.stats.recaptcha_rejections += 1;
                Err(r)
            }
            None => Ok(()),
        }
    }
}

/// The shared state plus its change notification.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    changed: watch::Sender<u64>,
}

impl Shared {
    pub(super) fn new() -> Shared {
        Shared {
            state: Mutex::new(State::default()),
            changed: watch::Sender::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the plain data inconsistent enough to
        // matter for a test fake; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Read the state.
    pub(super) fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.lock())
    }

    /// Change the state and wake waiters.
    pub(super) fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut self.lock());
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
        out
    }

    /// Wait until `check` returns `Some`, or `timeout` passes (`None`). No polling: it wakes
    /// on every state change.
    pub(super) async fn wait_for<T>(
        &self,
        timeout: std::time::Duration,
        check: impl Fn(&State) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        // Subscribe before the first look so no change slips between look and wait.
        let mut changes = self.changed.subscribe();
        loop {
            if let Some(found) = self.read(&check) {
                return Some(found);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    /// Record a request; returns its sequence number.
    pub(super) fn record(&self, mut request: RecordedRequest) -> u64 {
        self.update(|s| {
            s.stats.requests += 1;
            request.seq = s.stats.requests;
            s.requests.push(request);
            s.stats.requests
        })
    }

    pub(super) fn stream_started(&self) {
        self.update(|s| {
            s.stats.started_streams += 1;
            s.stats.active_streams += 1;
        });
    }

    pub(super) fn stream_ended(&self, completed: bool) {
        self.update(|s| {
            s.stats.active_streams = s.stats.active_streams.saturating_sub(1);
            if completed {
                s.stats.completed_streams += 1;
            } else {
                s.stats.aborted_streams += 1;
            }
        });
    }

    pub(super) fn reset(&self) {
        self.update(|s| {
            // Streams still running keep being counted as active.
            let active = s.stats.active_streams;
            *s = State::default();
            s.stats.active_streams = active;
        });
    }
}
