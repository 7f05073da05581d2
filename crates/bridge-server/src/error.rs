//! The one server error type: every failure a client sees is rendered here as OpenAI's error
//! JSON `{"error":{"message","type","param","code"}}` with a real HTTP status.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use bridge_core::arena::recaptcha::V2_PROMPT;
use bridge_core::arena::retry::BuildError;
use bridge_core::arena::stream::UpstreamError;
use bridge_core::models::ResolveError;
use bridge_core::openai::{ErrorBody, ErrorDetail, RequestError};

use crate::pool::ConnId;
use crate::pool::{WaitEnd, JOB_EVENTS_CAPACITY};
use crate::relay::{JobError, TimeoutKind};

/// An error answered to an OpenAI client.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) kind: &'static str,
    pub(crate) param: Option<String>,
    pub(crate) code: Option<String>,
    /// Seconds for a `Retry-After` header.
    pub(crate) retry_after: Option<u64>,
    /// Sends `x-should-retry: false` so official clients do not retry blindly.
    pub(crate) no_retry: bool,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: bridge_core::clip::clip_owned(message.into(), bridge_core::clip::TEXT_CHARS),
            kind,
            param: None,
            code: None,
            retry_after: None,
            no_retry: false,
        }
    }

    pub(crate) fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub(crate) fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub(crate) fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub(crate) fn no_retry(mut self) -> Self {
        self.no_retry = true;
        self
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "Incorrect API key provided. Send the api_key from config/config.jsonc as \
             'Authorization: Bearer <key>'.",
        )
        .with_code("invalid_api_key")
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
    }

    pub(crate) fn model_not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
            .with_code("model_not_found")
            .with_param("model")
    }

    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            message,
        )
        .with_code("request_too_large")
    }

    /// No tab is connected; `custom_url` is the server URL the userscript must use when it
    /// is not its default.
    pub(crate) fn no_tab(custom_url: Option<&str>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            format!("{} Then retry.", crate::guide::connect_advice(custom_url)),
        )
        .with_code("no_tab_connected")
        .with_retry_after(5)
    }

    pub(crate) fn queue_full(retry_after: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_error",
            "Too many requests are waiting for a free LMArena tab; retry shortly.",
        )
        .with_code("queue_full")
        .with_retry_after(retry_after)
    }

    pub(crate) fn queue_timeout(retry_after: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "Timed out waiting for a free LMArena tab; retry shortly.",
        )
        .with_code("queue_timeout")
        .with_retry_after(retry_after)
    }

    pub(crate) fn timeout(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout_error", message).with_code("timeout")
    }

    /// The answer does not satisfy the request's `response_format`.
    pub(crate) fn format_violation(why: &str) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "upstream_error",
            format!("The model's answer does not satisfy response_format: {why}."),
        )
        .with_param("response_format")
        .with_code("response_format_violation")
        .no_retry()
    }

    pub(crate) fn bad_gateway(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "upstream_error", message).with_code("upstream_error")
    }

    /// A one-shot tab job (page source, model catalog) that ended without `what`: the tab
    /// went away (502) or took longer than `limit` (504).
    pub(crate) fn tab_wait(end: WaitEnd, what: &str, limit: std::time::Duration) -> Self {
        match end {
            WaitEnd::TabLost => {
                Self::bad_gateway(format!("The tab disconnected before sending {what}."))
            }
            WaitEnd::TimedOut => Self::timeout(format!(
                "The tab did not send {what} within {} s.",
                limit.as_secs()
            )),
        }
    }

    /// The server is stopping and cuts the answer short.
    pub(crate) fn shutting_down() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "bridge-server is shutting down; the answer was cut short.",
        )
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// The JSON body of this error.
    pub(crate) fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                message: self.message.clone(),
                r#type: self.kind.to_owned(),
                param: self.param.clone(),
                code: self.code.clone(),
            },
        }
    }

    /// The error as one SSE event (`data: {...}\n\n`), for errors after the stream started.
    pub(crate) fn sse_event(&self) -> String {
        let json = serde_json::to_string(&self.body()).unwrap_or_else(|_| "{}".to_owned());
        format!("data: {json}\n\n")
    }

    /// Maps a classified upstream failure to what the client gets (README error table);
    /// `tab` is the tab that got it, named where the advice is about that tab.
    pub(crate) fn from_upstream(err: &UpstreamError, tab: Option<ConnId>) -> Self {
        match err {
            UpstreamError::Challenge => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_error",
                "LMArena answered with a Cloudflare challenge. A person must solve it in the \
                 LMArena tab (the tab was asked to reload); other tabs keep serving.",
            )
            .with_code("cloudflare_challenge")
            .no_retry(),
            UpstreamError::RateLimited {
                message,
                retry_after,
            } => {
                let e = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limit_error",
                    format!("LMArena rate limit: {message}"),
                )
                .with_code("upstream_rate_limited");
                match retry_after {
                    Some(s) => e.with_retry_after(*s),
                    None => e,
                }
            }
            UpstreamError::PromptFailed { message } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!(
                    "LMArena refused the prompt ({message}). Possible causes: the account's \
                     quota is used up, LMArena refused the reCAPTCHA token, or the prompt is \
                     too large."
                ),
            )
            .with_code("upstream_prompt_failed"),
            UpstreamError::ModelUnavailable { message } => Self::not_found(format!(
                "LMArena does not offer this model in this mode or modality ({message}); pick \
                 another model or update models.json."
            ))
            .with_code("model_unavailable_upstream")
            .with_param("model"),
            UpstreamError::LoginRequired { status, message } => Self::bad_gateway(format!(
                "LMArena answered {status}: {message}. The tab is not logged in: log in to \
                 arena.ai in the browser of {}.",
                tab.map_or_else(|| "that tab".to_owned(), |n| format!("tab #{n}"))
            ))
            .with_code("upstream_login_required"),
            UpstreamError::ConversationCannotContinue { message } => Self::bad_gateway(format!(
                "LMArena will not continue this conversation: {message}"
            ))
            .with_code("upstream_conversation_ended"),
            UpstreamError::DirectModeRefused { message } => Self::bad_gateway(format!(
                "LMArena refused the conversation mode the bridge sent: {message}"
            ))
            .with_code("upstream_mode_refused"),
            UpstreamError::TooLarge { message } => Self::too_large(format!(
                "LMArena rejected the request as too large (about 5 MB is its limit; send \
                 smaller or fewer images): {message}"
            )),
            UpstreamError::Rejected { message, .. } => {
                Self::invalid_request(format!("LMArena rejected the request: {message}"))
                    .with_code("upstream_rejected")
            }
            UpstreamError::Recaptcha { message } => Self::bad_gateway(format!(
                "LMArena refused the reCAPTCHA token ({message}). Reload the LMArena tab, \
                 interact with the page once, and retry."
            ))
            .with_code("recaptcha_failed"),
            UpstreamError::Unauthorized { status, message } => Self::bad_gateway(format!(
                "LMArena answered {status}: {message}. The captured session is not usable by \
                 the logged-in account: log in to LMArena in the tab and run bridge-id-updater \
                 to capture a session of your own."
            ))
            .with_code("upstream_unauthorized"),
            UpstreamError::Server { status, message } => {
                Self::bad_gateway(format!("LMArena answered {status}: {message}"))
            }
        }
    }
}

/// The one place a job's failure becomes what the client sees.
impl From<JobError> for ApiError {
    fn from(e: JobError) -> Self {
        match e {
            JobError::NoTab { custom_url } => Self::no_tab(custom_url.as_deref()),
            JobError::AllChallenged => {
                Self::from_upstream(&UpstreamError::Challenge, None).with_retry_after(30)
            }
            JobError::QueueFull { retry_after } => Self::queue_full(retry_after),
            JobError::QueueTimeout { retry_after } => Self::queue_timeout(retry_after),
            JobError::CoolingDown { retry_after } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!(
                    "Every LMArena tab is cooling down after LMArena's rate limit (its \
                     retry-after); the bridge sends nothing meanwhile, since requests during \
                     the penalty prolong it. Retry after {retry_after} s."
                ),
            )
            .with_code("tabs_cooling_down")
            .with_retry_after(retry_after),
            JobError::NeedsHuman { waited_secs } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                format!(
                    "LMArena refused the reCAPTCHA token twice and asks for its checkbox: tick \
                     the box \"{V2_PROMPT}\" in the arena.ai tab (waited {waited_secs} s, \
                     recaptcha_v2_wait_seconds), or reload that tab, then retry."
                ),
            )
            .with_code("recaptcha_needs_human")
            .no_retry(),
            JobError::Timeout(TimeoutKind::FirstByte(secs)) => Self::timeout(format!(
                "LMArena did not start answering within {secs} s (first_byte_timeout_seconds)."
            )),
            JobError::Timeout(TimeoutKind::Idle(secs)) => Self::timeout(format!(
                "LMArena sent nothing for {secs} s (stream_response_timeout_seconds)."
            )),
            JobError::Timeout(TimeoutKind::Total) => {
                Self::timeout("The answer took longer than total_timeout_seconds.")
            }
            JobError::Upstream { error, tab } => Self::from_upstream(&error, tab),
            JobError::TabFailed { message } => Self::bad_gateway(format!(
                "The LMArena tab could not complete the request: {message}"
            )),
            JobError::TabLostMidway { message } => {
                Self::bad_gateway(format!("The LMArena tab lost the answer midway: {message}"))
            }
            JobError::TabDisconnected => {
                Self::bad_gateway("The LMArena tab disconnected during the answer.")
            }
            JobError::FellBehind => Self::timeout(format!(
                "The answer arrived faster than it was read: more than {JOB_EVENTS_CAPACITY} \
                 frames waited for this client, so the bridge gave the answer up (the tab keeps \
                 serving other requests). Read the stream as it arrives."
            ))
            .with_code("client_fell_behind"),
            JobError::TabsKeptDisconnecting => Self::bad_gateway(
                "The LMArena tab disconnected before answering, several times in a row.",
            ),
            JobError::InBand { message } => {
                Self::bad_gateway(format!("LMArena reported an error: {message}"))
                    .with_code("upstream_inband_error")
            }
            JobError::EmptyAnswer => Self::bad_gateway("LMArena ended the answer without content."),
            JobError::ShuttingDown => Self::shutting_down(),
        }
    }
}

impl From<BuildError> for ApiError {
    fn from(e: BuildError) -> Self {
        let mut err = Self::invalid_request(e.message);
        err.param = e.param;
        err
    }
}

impl From<ResolveError> for ApiError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::ModelNotFound { .. } => Self::model_not_found(e.to_string()),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        let mut err = Self::invalid_request(e.message);
        err.param = e.param;
        err.code = e.code;
        err
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        self.response_with(self.body())
    }
}

impl ApiError {
    /// This error's status and headers with `body` (another API's error shape).
    pub(crate) fn response_with(&self, body: impl serde::Serialize) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after {
            res.insert_header(("Retry-After", secs.to_string()));
        }
        if self.no_retry {
            res.insert_header(("x-should-retry", "false"));
        }
        res.json(body)
    }
}
