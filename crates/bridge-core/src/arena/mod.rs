//! Everything that knows LMArena's wire details: upstream request builders and the stream
//! parser. When LMArena changes, this module and its fixtures change; nothing else does.

pub mod catalog;
pub mod evaluation;
pub mod recaptcha;
pub mod retry;
pub mod stream;
pub mod upload;
pub mod upstream_error;
pub mod wire;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The page a readiness probe GETs through the tab: same-origin, harmless, needs no token.
pub const PROBE_PATH: &str = "/";
/// The reCAPTCHA action a readiness probe mints a (discarded) token for: the chat's own.
pub const PROBE_RECAPTCHA_ACTION: &str = recaptcha::ACTION_CHAT_SUBMIT;

/// One complete upstream HTTP request, as the tab will perform it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamRequest {
    /// Same-origin path, e.g. `/nextjs-api/stream/retry-evaluation-session-message/…`.
    pub path: String,
    pub method: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}
