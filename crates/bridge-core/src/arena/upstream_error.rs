//! Classification of LMArena's non-2xx answers (UPSTREAM.md §5, and §7 for the 2026 answers):
//! status, response headers and the first bytes of the body → a typed [`UpstreamError`].
//!
//! Markers are matched only where they mean something: a challenge only in an HTML answer or
//! from Cloudflare's `cf-mitigated` header, message markers only in the message of a JSON error
//! body of the right status. Never in model text.

use std::collections::BTreeMap;

use serde_json::Value;

use super::wire;

/// Longest error message kept from an upstream body, in characters.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 500;

/// A non-2xx upstream answer, classified for the server (which maps it to an OpenAI error and
/// decides what happens to the tab).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// A Cloudflare challenge (an HTML challenge page, or `cf-mitigated: challenge`): a person
    /// must solve it in the tab. Not a rate limit, even as a 429.
    #[error("LMArena answered with a Cloudflare challenge page")]
    Challenge,
    /// 429 `Too Many Requests` (per IP), with its `retry-after` in seconds when given.
    #[error("LMArena rate limit (429): {message}")]
    RateLimited {
        message: String,
        retry_after: Option<u64>,
    },
    /// 429 `prompt failed` (per account): quota, a refused token or an oversized prompt.
    #[error("LMArena refused the prompt (429): {message}")]
    PromptFailed { message: String },
    /// 404 `Models not found…`: the model is not offered in this mode or modality.
    #[error("LMArena does not offer this model here (404): {message}")]
    ModelUnavailable { message: String },
    /// 401 `User not found` or a login gate: the person must log in to arena.ai in that tab.
    #[error("LMArena needs a logged-in account ({status}): {message}")]
    LoginRequired { status: u16, message: String },
    /// 400 "expected a BATTLE turn" and other answers meaning this conversation cannot take
    /// another message: start a new one.
    #[error("LMArena will not continue this conversation (400): {message}")]
    ConversationCannotContinue { message: String },
    /// 400 `'direct' mode is not allowed when starting a new conversation`.
    #[error("LMArena refused the conversation mode (400): {message}")]
    DirectModeRefused { message: String },
    /// 413: the request body is too large.
    #[error("LMArena rejected the request as too large (413): {message}")]
    TooLarge { message: String },
    /// 400 / 422: moderation, invalid content.
    #[error("LMArena rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
    /// 403 `recaptcha validation failed`.
    #[error("LMArena refused the reCAPTCHA token (403): {message}")]
    Recaptcha { message: String },
    /// 401, or another 403 (e.g. a session owned by another account).
    #[error("LMArena refused access ({status}): {message}")]
    Unauthorized { status: u16, message: String },
    /// 5xx and anything else.
    #[error("LMArena answered {status}: {message}")]
    Server { status: u16, message: String },
}

/// Classifies a non-2xx upstream answer from its status, its response headers (names in any
/// case) and the first bytes of its body.
///
/// A challenge is recognised from `cf-mitigated: challenge` (any status, §7: also on a 429), or
/// from a 403/503 HTML answer with a challenge marker; never from text inside a body that is not
/// an HTML page. A 429 HTML page without that header stays a rate limit.
/// `TooLarge` only from status 413.
pub fn classify_upstream_error(
    status: u16,
    headers: &BTreeMap<String, String>,
    body: &str,
) -> UpstreamError {
    let content_type = header(headers, wire::HEADER_CONTENT_TYPE);
    let mitigated = header(headers, wire::HEADER_CF_MITIGATED)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(wire::CF_MITIGATED_CHALLENGE));
    let html = is_html(content_type, body);
    if mitigated || (html && matches!(status, 403 | 503) && has_challenge_marker(body)) {
        return UpstreamError::Challenge;
    }
    let json_message = upstream_error_message(body);
    let marked = |markers: &[&str]| {
        json_message.as_deref().is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            markers.iter().any(|marker| m.contains(marker))
        })
    };
    let message = json_message.clone().unwrap_or_else(|| {
        if html {
            describe_html(body)
        } else {
            plain_text_message(status, body)
        }
    });
    match status {
        429 if marked(wire::PROMPT_FAILED_MARKERS) => UpstreamError::PromptFailed { message },
        429 => UpstreamError::RateLimited {
            message,
            retry_after: header(headers, wire::HEADER_RETRY_AFTER)
                .and_then(|v| v.trim().parse().ok()),
        },
        404 if marked(wire::MODEL_UNAVAILABLE_MARKERS) => {
            UpstreamError::ModelUnavailable { message }
        }
        400 if marked(wire::DIRECT_MODE_REFUSED_MARKERS) => {
            UpstreamError::DirectModeRefused { message }
        }
        400 if marked(wire::CANNOT_CONTINUE_MARKERS) => {
            UpstreamError::ConversationCannotContinue { message }
        }
        413 => UpstreamError::TooLarge { message },
        400 | 422 => UpstreamError::Rejected { status, message },
        403 if marked(&[wire::RECAPTCHA_MARKER]) => UpstreamError::Recaptcha { message },
        401 | 403 if marked(wire::LOGIN_REQUIRED_MARKERS) => {
            UpstreamError::LoginRequired { status, message }
        }
        401 | 403 => UpstreamError::Unauthorized { status, message },
        _ => UpstreamError::Server { status, message },
    }
}

/// The message of a JSON error body: `{"error":"…"}`, `{"error":{"message":…}}` or
/// `{"message":…}`; cleaned and truncated to [`MAX_ERROR_MESSAGE_CHARS`].
pub fn upstream_error_message(body: &str) -> Option<String> {
    let value: Value = serde_json::from_str(body.trim()).ok()?;
    error_value_message(&value)
}

/// A header's value, its name matched in any case.
fn header<'a>(headers: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The message of an error object: `{"error":"…"}`, `{"error":{"message":"…"}}` or
/// `{"message":"…"}`.
pub(super) fn error_value_message(value: &Value) -> Option<String> {
    let obj = value.as_object()?;
    if let Some(error) = obj.get(wire::ERROR_KEY) {
        match error {
            Value::String(s) if !s.trim().is_empty() => return Some(clean_message(s)),
            Value::Object(o) => {
                if let Some(m) = o.get(wire::MESSAGE_KEY).and_then(Value::as_str) {
                    return Some(clean_message(m));
                }
            }
            _ => {}
        }
    }
    obj.get(wire::MESSAGE_KEY)
        .and_then(Value::as_str)
        .filter(|m| !m.trim().is_empty())
        .map(clean_message)
}

fn is_html(content_type: Option<&str>, body: &str) -> bool {
    content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains(wire::HTML_CONTENT_TYPE))
        || looks_like_html(body)
}

fn looks_like_html(body: &str) -> bool {
    let start = body.trim_start().as_bytes();
    wire::HTML_DOCUMENT_STARTS.iter().any(|marker| {
        start
            .get(..marker.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(marker.as_bytes()))
    })
}

fn has_challenge_marker(body: &str) -> bool {
    wire::CHALLENGE_MARKERS.iter().any(|m| body.contains(m))
}

/// Describes an HTML error page by the text of its `<title>`, never by its markup.
fn describe_html(body: &str) -> String {
    let title = scraper::Selector::parse("title")
        .ok()
        .and_then(|selector| {
            let page = scraper::Html::parse_document(body);
            // Title text is raw text in HTML: it may still hold markup characters.
            let title: String = page
                .select(&selector)
                .next()?
                .text()
                .flat_map(str::chars)
                .filter(|c| !matches!(c, '<' | '>'))
                .collect();
            Some(clean_message(&title))
        })
        .unwrap_or_default();
    if title.is_empty() {
        "an HTML page instead of an API answer".to_owned()
    } else {
        format!("an HTML page instead of an API answer: {title}")
    }
}

fn plain_text_message(status: u16, body: &str) -> String {
    let message = clean_message(body);
    if message.is_empty() {
        format!("HTTP {status} with an empty body")
    } else {
        message
    }
}

/// Collapses whitespace and control characters, trims, and truncates to
/// [`MAX_ERROR_MESSAGE_CHARS`] characters.
pub(super) fn clean_message(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(MAX_ERROR_MESSAGE_CHARS + 4));
    let mut chars = 0usize;
    let mut pending_space = false;
    for c in raw.chars() {
        if c.is_whitespace() || c.is_control() {
            pending_space = !out.is_empty();
            continue;
        }
        if chars >= MAX_ERROR_MESSAGE_CHARS {
            out.push('…');
            break;
        }
        if pending_space {
            out.push(' ');
            chars += 1;
            pending_space = false;
        }
        out.push(c);
        chars += 1;
    }
    out
}
