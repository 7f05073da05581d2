//! Scripted answers of the fake LMArena: which scenario a request asks for (a
//! `[scenario:NAME]` marker in the last user message), the transcript or error response of
//! each scenario, and how a transcript is cut into awkward network writes.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use bridge_core::tools::{TOOL_RESULT_CLOSE, TOOL_RESULT_OPEN};

use super::page::{ModelKind, FAKE_IMAGE_PATH};

/// Marker prefix looked for in the last user message: `[scenario:rate_limit]`.
pub const SCENARIO_MARKER_PREFIX: &str = "[scenario:";

/// Content type of every successful stream, as LMArena sends it.
pub const STREAM_CONTENT_TYPE: &str = "text/event-stream";

/// `Retry-After` of the `rate_limit` scenario.
pub const RATE_LIMIT_RETRY_AFTER_SECS: u32 = 7;

/// The fixed Chinese/emoji opening of the `text` scenario's answer.
pub const TEXT_GREETING: &str = "你好，世界 👋🏽 ";

/// The site's 400 to `mode:"direct"` on create (UPSTREAM.md §7, 2026-07).
pub const DIRECT_MODE_REFUSED_TEXT: &str =
    "'direct' mode is not allowed when starting a new conversation";
/// The site's 400 when a direct chat must take a battle turn (UPSTREAM.md §7, 2026-03-08).
pub const BATTLE_TURN_TEXT: &str = "Bad next turn request in Battles in Direct mode. DIRECT was \
    requested, but expected a BATTLE turn";
/// A text delta that means "the answer failed upstream" (UPSTREAM.md §7).
pub const ARENA_ERROR_TEXT: &str = "hasArenaError";

/// What a request asks the fake to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Text with CJK, emoji, JSON escapes and an echo of the user message; finish `stop`.
    Text,
    /// `ag:` reasoning lines, then `a0:` text.
    Reasoning,
    /// One `a2:` image item.
    Image,
    /// An `ac:` citation line, then text.
    Search,
    /// Interleaved `a`/`b` lines with two finish lines.
    Battle,
    /// Some text, then finish `content-filter`.
    ContentFilter,
    /// `a3:` in-band error, finish `error`.
    InbandError,
    /// A 200 body whose first line is JSON `{"error":…}`.
    JsonError,
    /// Lines of unknown types (`af:`, `a9:`) around ordinary text.
    UnknownLines,
    /// One line per `slow_interval` for a long time (abort tests).
    Slow,
    /// 429 with `Retry-After`.
    RateLimit,
    /// 403 Cloudflare challenge page (HTML).
    Challenge,
    /// 413.
    TooLarge,
    /// 403 `{"error":"recaptcha validation failed"}`.
    RecaptchaFail,
    /// 401 session not owned.
    Unauthorized,
    /// 422 moderation.
    Moderation,
    /// 2026: heartbeat lines (`a2:[{"type":"heartbeat"}]`) around reasoning and text.
    Heartbeat,
    /// 2026: some text, then `a0:"hasArenaError"`.
    ArenaError,
    /// 2026: 429 with `cf-mitigated: challenge` and the HTML challenge page.
    ChallengeRateLimit,
    /// 2026: 429 `{"error":"prompt failed"}`.
    PromptFailed,
    /// 2026: 404 `Models not found…`.
    ModelsNotFound,
    /// 2026: 401 `User not found` (a guest session).
    LoginRequired,
    /// A model using the bridge's tools: prose and a `<tool_call>` split over several deltas
    /// when the prompt has no tool result yet, else a final answer that uses the result.
    ToolCall,
}

impl Scenario {
    /// Every scenario, for docs and tests.
    pub const ALL: &'static [Scenario] = &[
        Scenario::Text,
        Scenario::Reasoning,
        Scenario::Image,
        Scenario::Search,
        Scenario::Battle,
        Scenario::ContentFilter,
        Scenario::InbandError,
        Scenario::JsonError,
        Scenario::UnknownLines,
        Scenario::Slow,
        Scenario::RateLimit,
        Scenario::Challenge,
        Scenario::TooLarge,
        Scenario::RecaptchaFail,
        Scenario::Unauthorized,
        Scenario::Moderation,
        Scenario::Heartbeat,
        Scenario::ArenaError,
        Scenario::ChallengeRateLimit,
        Scenario::PromptFailed,
        Scenario::ModelsNotFound,
        Scenario::LoginRequired,
        Scenario::ToolCall,
    ];

    /// The marker name, e.g. `content_filter`.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Text => "text",
            Scenario::Reasoning => "reasoning",
            Scenario::Image => "image",
            Scenario::Search => "search",
            Scenario::Battle => "battle",
            Scenario::ContentFilter => "content_filter",
            Scenario::InbandError => "inband_error",
            Scenario::JsonError => "json_error",
            Scenario::UnknownLines => "unknown_lines",
            Scenario::Slow => "slow",
            Scenario::RateLimit => "rate_limit",
            Scenario::Challenge => "challenge",
            Scenario::TooLarge => "too_large",
            Scenario::RecaptchaFail => "recaptcha_fail",
            Scenario::Unauthorized => "unauthorized",
            Scenario::Moderation => "moderation",
            Scenario::Heartbeat => "heartbeat",
            Scenario::ArenaError => "arena_error",
            Scenario::ChallengeRateLimit => "challenge_429",
            Scenario::PromptFailed => "prompt_failed",
            Scenario::ModelsNotFound => "models_not_found",
            Scenario::LoginRequired => "login_required",
            Scenario::ToolCall => "tool_call",
        }
    }

    pub fn from_name(name: &str) -> Option<Scenario> {
        Scenario::ALL.iter().copied().find(|s| s.name() == name)
    }

    /// The scenario a model answers with when the message carries no marker: a tool loop's
    /// follow-up (its last user turn is the tool results) stays in `tool_call`.
    pub fn default_for(kind: Option<ModelKind>, content: &str) -> Scenario {
        if content.contains(TOOL_RESULT_OPEN) {
            return Scenario::ToolCall;
        }
        match kind {
            Some(ModelKind::Image) => Scenario::Image,
            Some(ModelKind::Search) => Scenario::Search,
            Some(ModelKind::Text) | None => Scenario::Text,
        }
    }
}

/// The final answer of the `tool_call` scenario once the prompt carries a tool result.
pub(crate) const TOOL_ANSWER: &str = "The weather tool says: ";

/// The scenario named by the last `[scenario:NAME]` marker in `content`.
/// `Ok(None)`: no marker; `Err(name)`: a marker with an unknown name.
pub fn scenario_from_content(content: &str) -> Result<Option<Scenario>, String> {
    let Some(start) = content.rfind(SCENARIO_MARKER_PREFIX) else {
        return Ok(None);
    };
    let rest = &content[start + SCENARIO_MARKER_PREFIX.len()..];
    let Some(end) = rest.find(']') else {
        return Err(rest.to_owned());
    };
    let name = rest[..end].trim();
    Scenario::from_name(name)
        .map(Some)
        .ok_or_else(|| name.to_owned())
}

/// How a successful stream is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pacing {
    /// Cut at awkward places (inside UTF-8 characters and JSON escapes), a short delay
    /// between writes.
    Awkward,
    /// One whole line per write, `interval` apart.
    Lines(Duration),
}

/// The fake's answer to an accepted upstream request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// 200 `text/event-stream` with this transcript.
    Stream { transcript: String, pacing: Pacing },
    /// A complete non-streamed response.
    Fixed {
        status: u16,
        content_type: &'static str,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
}

pub(crate) struct ReplyContext<'a> {
    /// Text of the last user message (echoed by `text`).
    pub user_text: &'a str,
    /// The session/evaluation id in the request (named in the 401 message).
    pub session_id: &'a str,
    /// Origin the request was made on, for absolute image URLs.
    pub origin: &'a str,
    pub slow_interval: Duration,
    pub slow_lines: u32,
}

fn line(prefix: &str, value: &Value) -> String {
    format!("{prefix}:{value}\n")
}

fn text_line(prefix: &str, text: &str) -> String {
    line(prefix, &Value::String(text.to_owned()))
}

const ECHO_LIMIT_CHARS: usize = 200;

fn json_error(status: u16, body: Value) -> Reply {
    Reply::Fixed {
        status,
        content_type: "application/json",
        headers: Vec::new(),
        body: body.to_string(),
    }
}

pub(crate) fn too_large_reply() -> Reply {
    Reply::Fixed {
        status: 413,
        content_type: "text/plain; charset=utf-8",
        headers: Vec::new(),
        body: "Request Entity Too Large\n\nFUNCTION_PAYLOAD_TOO_LARGE\n".to_owned(),
    }
}

pub(crate) fn invalid_content_reply() -> Reply {
    json_error(400, serde_json::json!({"error": "Invalid content"}))
}

pub(crate) fn recaptcha_failed_reply() -> Reply {
    json_error(
        403,
        serde_json::json!({"error": "recaptcha validation failed"}),
    )
}

/// 400 on create with `mode:"direct"` (UPSTREAM.md §7).
pub(crate) fn direct_mode_refused_reply() -> Reply {
    json_error(400, serde_json::json!({"error": DIRECT_MODE_REFUSED_TEXT}))
}

/// 400 on a follow-up when the site demands a battle turn (UPSTREAM.md §7, 2026-03-08).
pub(crate) fn battle_turn_reply() -> Reply {
    json_error(400, serde_json::json!({"error": BATTLE_TURN_TEXT}))
}

pub(crate) fn not_found_reply(what: &str) -> Reply {
    json_error(
        404,
        serde_json::json!({ "error": format!("{what} not found") }),
    )
}

/// The reply of `scenario` for one request.
pub(crate) fn reply(scenario: Scenario, ctx: &ReplyContext<'_>) -> Reply {
    let stream = |transcript: String| Reply::Stream {
        transcript,
        pacing: Pacing::Awkward,
    };
    let stop = "ad:{\"finishReason\":\"stop\"}\n";
    match scenario {
        Scenario::Text => {
            let echo: String = ctx.user_text.chars().take(ECHO_LIMIT_CHARS).collect();
            let prompt_tokens = ctx.user_text.chars().count().div_ceil(4);
            stream(format!(
                "{}{}{}{}{}ad:{{\"finishReason\":\"stop\",\"usage\":{{\"promptTokens\":{prompt_tokens},\"completionTokens\":21}}}}\n",
                text_line("a0", TEXT_GREETING),
                text_line("a0", "Echo: "),
                text_line("a0", &echo),
                text_line("a0", "\n\"quoted\" \\ back\tslash — café 🇨🇳 𝄞"),
                // A \u escape as LMArena's serializer may emit it: "— done ✓".
                "a0:\" \\u2014 done \\u2713\"\n",
            ))
        }
        Scenario::ToolCall => match ctx.user_text.find(TOOL_RESULT_OPEN) {
            // The result is quoted back, so tests see it reached the model.
            Some(at) => {
                let result = ctx.user_text[at..]
                    .split_once('>')
                    .map(|(_, rest)| rest.split(TOOL_RESULT_CLOSE).next().unwrap_or(""))
                    .unwrap_or("")
                    .trim();
                stream(format!(
                    "{}{}{stop}",
                    text_line("a0", TOOL_ANSWER),
                    text_line("a0", result)
                ))
            }
            None => stream(format!(
                "{}{}{}{}{stop}",
                text_line("a0", "I will look that up.\n"),
                text_line("a0", "<tool_call>{\"name\": \"get_"),
                text_line("a0", "weather\", \"arguments\": {\"city\": "),
                text_line("a0", "\"Paris\"}}</tool_call>"),
            )),
        },
        Scenario::Reasoning => stream(format!(
            "{}{}{}{stop}",
            text_line("ag", "Let me think about this… "),
            text_line("ag", "用户在问候，我应该友好地回答。"),
            text_line("a0", "答案是 42 ✨"),
        )),
        Scenario::Image => {
            let items = serde_json::json!([{
                "type": "image",
                "image": format!("{}{}", ctx.origin, FAKE_IMAGE_PATH),
                "mimeType": "image/png",
            }]);
            stream(format!("{}{stop}", line("a2", &items)))
        }
        Scenario::Search => {
            let citation = serde_json::json!({
                "toolCallId": "call_fake_search_1",
                "argsTextDelta": "{\"query\":\"rust language\",\"sources\":[{\"url\":\"https://www.rust-lang.org/\",\"title\":\"Rust\"}]}",
            });
            stream(format!(
                "{}{}{stop}",
                line("ac", &citation),
                text_line("a0", "Rust is a systems programming language [1]. 🦀"),
            ))
        }
        Scenario::Battle => stream(format!(
            "{}{}{}{}ad:{{\"finishReason\":\"stop\"}}\nbd:{{\"finishReason\":\"stop\"}}\n",
            text_line("a0", "Hello from A 🅰️ "),
            text_line("b0", "Hello from B 🅱️ "),
            text_line("a0", "更多 A"),
            text_line("b0", "更多 B"),
        )),
        Scenario::ContentFilter => stream(format!(
            "{}ad:{{\"finishReason\":\"content-filter\"}}\n",
            text_line("a0", "I can't continue with "),
        )),
        Scenario::InbandError => stream(format!(
            "{}ad:{{\"finishReason\":\"error\"}}\n",
            text_line(
                "a3",
                "An error occurred: the model provider is overloaded (模型过载)"
            ),
        )),
        Scenario::JsonError => {
            stream("{\"error\":{\"message\":\"Internal error: fake upstream failure\"}}\n".to_owned())
        }
        Scenario::UnknownLines => stream(format!(
            "af:{{\"messageId\":\"0199c0de-0000-7000-8000-00000000c003\"}}\n{}a9:{{\"future\":[1,2,3]}}\n{}{stop}",
            text_line("a0", "Before "),
            text_line("a0", "after."),
        )),
        Scenario::Slow => {
            let mut transcript = String::new();
            for i in 0..ctx.slow_lines {
                transcript.push_str(&text_line("a0", &format!("tick {i} ")));
            }
            transcript.push_str(stop);
            Reply::Stream {
                transcript,
                pacing: Pacing::Lines(ctx.slow_interval),
            }
        }
        Scenario::RateLimit => Reply::Fixed {
            status: 429,
            content_type: "application/json",
            headers: vec![
                ("retry-after", RATE_LIMIT_RETRY_AFTER_SECS.to_string()),
                (
                    "ratelimit",
                    format!("limit=3000, remaining=0, reset={RATE_LIMIT_RETRY_AFTER_SECS}"),
                ),
                ("ratelimit-policy", "3000;w=300".to_owned()),
            ],
            body: serde_json::json!({"error": "Too Many Requests", "message": "Too Many Requests"})
                .to_string(),
        },
        Scenario::Challenge => Reply::Fixed {
            status: 403,
            content_type: "text/html; charset=UTF-8",
            headers: vec![("cf-mitigated", "challenge".to_owned())],
            body: super::page::challenge_page(),
        },
        Scenario::TooLarge => too_large_reply(),
        Scenario::RecaptchaFail => recaptcha_failed_reply(),
        Scenario::Unauthorized => json_error(
            401,
            serde_json::json!({ "error": format!(
                "User 0199c0de-0000-7000-8000-0000000000aa does not have access to evaluation session {}",
                ctx.session_id
            ) }),
        ),
        Scenario::Moderation => json_error(
            422,
            serde_json::json!({"error": "Request rejected: Content violates our terms of use (fake moderation)"}),
        ),
        Scenario::Heartbeat => {
            let beat = "a2:[{\"type\":\"heartbeat\"}]\n";
            stream(format!(
                "{beat}{}{beat}{beat}{}{beat}{}{stop}",
                text_line("ag", "Thinking hard… "),
                text_line("a0", "After the heartbeats: "),
                text_line("a0", "done ✓"),
            ))
        }
        Scenario::ArenaError => stream(format!(
            "{}{}ad:{{\"finishReason\":\"error\"}}\n",
            text_line("a0", "Partial answer "),
            text_line("a0", ARENA_ERROR_TEXT),
        )),
        Scenario::ChallengeRateLimit => Reply::Fixed {
            status: 429,
            content_type: "text/html; charset=UTF-8",
            headers: vec![("cf-mitigated", "challenge".to_owned())],
            body: super::page::challenge_page(),
        },
        Scenario::PromptFailed => json_error(429, serde_json::json!({"error": "prompt failed"})),
        Scenario::ModelsNotFound => json_error(
            404,
            serde_json::json!({"error": "Models not found for this mode and modality"}),
        ),
        Scenario::LoginRequired => json_error(401, serde_json::json!({"error": "User not found"})),
    }
}

/// Cut `text` into writes at awkward places: inside every multi-byte UTF-8 character (at a
/// varying byte offset), right after every backslash (inside a JSON escape), and between a
/// line's participant letter and its type on every other line. Pure, so tests can check it.
pub fn awkward_writes(text: &str) -> Vec<&[u8]> {
    let mut cuts = BTreeSet::new();
    let mut multibyte = 0usize;
    let mut line_no = 0usize;
    let mut at_line_start = true;
    for (i, ch) in text.char_indices() {
        if at_line_start {
            if line_no % 2 == 1 && ch.is_ascii() {
                cuts.insert(i + 1);
            }
            line_no += 1;
        }
        let len = ch.len_utf8();
        if len > 1 {
            cuts.insert(i + 1 + multibyte % (len - 1));
            multibyte += 1;
        }
        if ch == '\\' {
            cuts.insert(i + 1);
        }
        at_line_start = ch == '\n';
    }
    let bytes = text.as_bytes();
    let mut writes = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        if cut > start && cut < bytes.len() {
            writes.push(&bytes[start..cut]);
            start = cut;
        }
    }
    if start < bytes.len() {
        writes.push(&bytes[start..]);
    }
    writes
}

/// Cut `text` into whole lines (each keeps its `\n`).
pub(crate) fn line_writes(text: &str) -> Vec<&[u8]> {
    text.split_inclusive('\n').map(str::as_bytes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(user_text: &str) -> ReplyContext<'_> {
        ReplyContext {
            user_text,
            session_id: "s1",
            origin: "https://lmarena.ai",
            slow_interval: Duration::from_millis(200),
            slow_lines: 3,
        }
    }

    #[test]
    fn marker_parsing() {
        assert_eq!(scenario_from_content("hi"), Ok(None));
        assert_eq!(
            scenario_from_content("x [scenario:text] y [scenario:rate_limit]"),
            Ok(Some(Scenario::RateLimit))
        );
        assert_eq!(
            scenario_from_content("[scenario:nope]"),
            Err("nope".to_owned())
        );
        assert_eq!(
            scenario_from_content("[scenario:text"),
            Err("text".to_owned())
        );
        for s in Scenario::ALL {
            assert_eq!(Scenario::from_name(s.name()), Some(*s));
        }
    }

    #[test]
    fn every_stream_transcript_is_lines_of_prefix_and_json() {
        for s in Scenario::ALL {
            let Reply::Stream { transcript, .. } = reply(*s, &ctx("héllo \"you\" 世界")) else {
                continue;
            };
            assert!(transcript.ends_with('\n'), "{s:?}");
            for l in transcript.lines() {
                let json = match l.split_once(':') {
                    Some((p, rest)) if p.len() == 2 => rest,
                    _ => l,
                };
                serde_json::from_str::<Value>(json)
                    .unwrap_or_else(|e| panic!("{s:?}: line {l:?} is not prefix+JSON: {e}"));
            }
        }
    }

    #[test]
    fn text_echoes_user_message_and_contains_cjk_and_emoji() {
        let Reply::Stream { transcript, .. } = reply(Scenario::Text, &ctx("say \"hi\"")) else {
            panic!("text must stream");
        };
        assert!(transcript.starts_with("a0:\"你好，世界 👋🏽 \"\n"));
        assert!(transcript.contains("a0:\"say \\\"hi\\\"\"\n"));
        assert!(transcript.ends_with("\"completionTokens\":21}}\n"));
    }

    #[test]
    fn awkward_writes_cut_inside_characters_and_escapes() {
        let Reply::Stream { transcript, .. } = reply(Scenario::Text, &ctx("x")) else {
            panic!("text must stream");
        };
        let writes = awkward_writes(&transcript);
        assert_eq!(writes.concat(), transcript.as_bytes());
        let not_utf8 = writes
            .iter()
            .filter(|w| std::str::from_utf8(w).is_err())
            .count();
        assert!(not_utf8 >= 5, "only {not_utf8} writes split a character");
        assert!(writes.iter().any(|w| w.ends_with(b"\\")));
        assert!(writes.iter().all(|w| !w.is_empty()));
    }

    #[test]
    fn error_scenarios_have_their_status() {
        let status = |s| match reply(s, &ctx("x")) {
            Reply::Fixed { status, .. } => status,
            Reply::Stream { .. } => 200,
        };
        assert_eq!(status(Scenario::RateLimit), 429);
        assert_eq!(status(Scenario::Challenge), 403);
        assert_eq!(status(Scenario::TooLarge), 413);
        assert_eq!(status(Scenario::RecaptchaFail), 403);
        assert_eq!(status(Scenario::Unauthorized), 401);
        assert_eq!(status(Scenario::Moderation), 422);
        assert_eq!(status(Scenario::ChallengeRateLimit), 429);
        assert_eq!(status(Scenario::PromptFailed), 429);
        assert_eq!(status(Scenario::ModelsNotFound), 404);
        assert_eq!(status(Scenario::LoginRequired), 401);
        let Reply::Fixed { headers, .. } = reply(Scenario::RateLimit, &ctx("x")) else {
            panic!("fixed");
        };
        assert!(headers.contains(&("retry-after", "7".to_owned())));
    }

    #[test]
    fn slow_writes_whole_lines() {
        let Reply::Stream { transcript, pacing } = reply(Scenario::Slow, &ctx("x")) else {
            panic!("slow must stream");
        };
        assert_eq!(pacing, Pacing::Lines(Duration::from_millis(200)));
        assert_eq!(line_writes(&transcript).len(), 4);
    }
}
