//! Incremental parser of LMArena's streamed answer (UPSTREAM.md §4, §7).
//!
//! - [`StreamParser`] turns body text, fed in chunks split anywhere, into the [`StreamEvent`]s of
//!   one [`Participant`]. It keeps only the incomplete last line between calls; an incomplete
//!   line is a normal state, not an error. Unknown and malformed lines are counted in
//!   [`ParseStats`] and skipped.
//! - The classification of error answers lives in [`super::upstream_error`] and is re-exported
//!   here ([`classify_upstream_error`], [`UpstreamError`]).
//!
//! The wire literals live in [`super::wire`].

use std::collections::BTreeMap;

use serde_json::Value;

use super::upstream_error::{clean_message, error_value_message};
use super::wire;
use crate::config::BattleTarget;

pub use super::upstream_error::{
    classify_upstream_error, upstream_error_message, UpstreamError, MAX_ERROR_MESSAGE_CHARS,
};

/// Longest line the parser buffers; the rest of a longer line is dropped and counted as
/// malformed, so a stream without newlines cannot grow memory without bound. Generous because
/// an image item may carry an inline `data:` URI.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// Distinct keys kept in [`ParseStats::unknown_types`]; further ones are counted under
/// [`OTHER_UNKNOWN_TYPE`], so hostile input cannot grow the map without bound.
const MAX_UNKNOWN_TYPE_KEYS: usize = 64;
/// Longest line prefix (before `:`) recorded as an unknown type key.
const MAX_UNKNOWN_TYPE_KEY_LEN: usize = 8;
/// Key in [`ParseStats::unknown_types`] for lines without a usable prefix, and for overflow.
pub const OTHER_UNKNOWN_TYPE: &str = "?";

/// Which side of the answer to follow: `a`, or `b` in a battle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Participant {
    #[default]
    A,
    B,
}

impl Participant {
    /// The participant byte that starts this side's lines.
    pub const fn wire_byte(self) -> u8 {
        match self {
            Self::A => wire::PARTICIPANT_A,
            Self::B => wire::PARTICIPANT_B,
        }
    }
}

impl From<super::retry::ParticipantPosition> for Participant {
    fn from(side: super::retry::ParticipantPosition) -> Self {
        match side {
            super::retry::ParticipantPosition::A => Participant::A,
            super::retry::ParticipantPosition::B => Participant::B,
        }
    }
}

impl From<BattleTarget> for Participant {
    fn from(target: BattleTarget) -> Self {
        match target {
            BattleTarget::A => Self::A,
            BattleTarget::B => Self::B,
        }
    }
}

/// Why the model stopped, mapped to OpenAI's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FinishReason {
    Stop,
    Length,
    ContentFilter,
}

impl FinishReason {
    /// Maps an upstream `finishReason`; anything not known to mean otherwise (`stop`, `unknown`,
    /// `error`, new values) is `Stop`, because OpenAI clients only understand their own names.
    pub fn from_upstream(reason: &str) -> Self {
        match reason {
            wire::FINISH_CONTENT_FILTER => Self::ContentFilter,
            wire::FINISH_LENGTH => Self::Length,
            _ => Self::Stop,
        }
    }

    /// OpenAI's `finish_reason` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ContentFilter => "content_filter",
        }
    }
}

/// Token usage reported by upstream in the finish line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Usage {
    /// `prompt_tokens + completion_tokens`.
    pub const fn total_tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// One event of the followed participant, in stream order.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// Text delta (`0` lines). Empty deltas are not reported.
    Text(String),
    /// Reasoning delta (`g` lines). Empty deltas are not reported.
    Reasoning(String),
    /// Generated image (`2` lines, one event per image item).
    Image { url: String, mime: Option<String> },
    /// Tool-call delta / citation (`c` lines), the whole object.
    Citation(Value),
    /// End of the answer (`d` lines). Every finish line is reported; the consumer picks.
    Finish {
        reason: FinishReason,
        usage: Option<Usage>,
    },
    /// In-band error (`3` lines), a text delta that is exactly `hasArenaError`, or a 200 body
    /// whose first line is a JSON `{"error": …}`.
    Error(String),
    /// Keep-alive (`2` lines with a `heartbeat` item): the answer is still coming.
    Heartbeat,
}

/// Counters of what the parser saw, for logs and metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// Non-blank lines, of either participant.
    pub lines: u64,
    /// Lines without a known `<participant><type>:` prefix (either participant).
    pub unknown_lines: u64,
    /// Lines of the followed participant with a known type whose payload did not parse.
    pub malformed_lines: u64,
    /// Unknown line prefixes (text before `:`, e.g. `a9`) and how often each was seen.
    pub unknown_types: BTreeMap<String, u64>,
}

impl ParseStats {
    fn count_unknown(&mut self, line: &str) {
        self.unknown_lines += 1;
        let key = unknown_type_key(line);
        if let Some(n) = self.unknown_types.get_mut(key) {
            *n += 1;
        } else if self.unknown_types.len() < MAX_UNKNOWN_TYPE_KEYS {
            self.unknown_types.insert(key.to_owned(), 1);
        } else if let Some(n) = self.unknown_types.get_mut(OTHER_UNKNOWN_TYPE) {
            *n += 1;
        } else {
            self.unknown_types.insert(OTHER_UNKNOWN_TYPE.to_owned(), 1);
        }
    }
}

/// The key an unknown line is counted under: its prefix before `:` when short and plain,
/// else [`OTHER_UNKNOWN_TYPE`]. Looks at no more than a few bytes of the line.
fn unknown_type_key(line: &str) -> &str {
    let bytes = line.as_bytes();
    let limit = bytes.len().min(MAX_UNKNOWN_TYPE_KEY_LEN + 1);
    let prefix_len = bytes
        .iter()
        .take(limit)
        .position(|&b| b == wire::TYPE_SEPARATOR);
    match prefix_len {
        Some(n) if n > 0 => match line.get(..n) {
            Some(key) if key.bytes().all(|b| b.is_ascii_alphanumeric()) => key,
            _ => OTHER_UNKNOWN_TYPE,
        },
        _ => OTHER_UNKNOWN_TYPE,
    }
}

/// Incremental parser of one upstream answer body.
///
/// Feed body text with [`push`](Self::push) / [`push_into`](Self::push_into) as it arrives and
/// call [`finish`](Self::finish) at the end of the body to flush a last line without `'\n'`.
#[derive(Debug)]
pub struct StreamParser {
    lines: LineParser,
    /// The incomplete last line (without its `'\n'`).
    tail: String,
    /// Set while dropping the rest of a line longer than [`MAX_LINE_BYTES`].
    discarding: bool,
}

impl StreamParser {
    /// A parser that reports the events of `participant`.
    pub fn new(participant: Participant) -> Self {
        Self {
            lines: LineParser {
                participant: participant.wire_byte(),
                stats: ParseStats::default(),
                seen_first_line: false,
            },
            tail: String::new(),
            discarding: false,
        }
    }

    /// Feeds `chunk` and returns the events of the lines it completed.
    pub fn push(&mut self, chunk: &str) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        self.push_into(chunk, &mut out);
        out
    }

    /// Feeds `chunk` and appends the events of the lines it completed to `out`.
    pub fn push_into(&mut self, chunk: &str, out: &mut Vec<StreamEvent>) {
        let mut rest = chunk;
        if self.discarding || !self.tail.is_empty() {
            let Some((head, after)) = rest.split_once('\n') else {
                self.buffer_tail(rest);
                return;
            };
            if self.discarding {
                self.discarding = false;
            } else if self.tail.len() + head.len() > MAX_LINE_BYTES {
                self.lines.count_oversized();
                self.tail.clear();
            } else {
                self.tail.push_str(head);
                self.lines.line(&self.tail, out);
                self.tail.clear();
            }
            rest = after;
        }
        while let Some((line, after)) = rest.split_once('\n') {
            self.lines.line(line, out);
            rest = after;
        }
        self.buffer_tail(rest);
    }

    /// Flushes a last line that had no `'\n'` and returns its events.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        self.finish_into(&mut out);
        out
    }

    /// Like [`finish`](Self::finish), appending to `out`.
    pub fn finish_into(&mut self, out: &mut Vec<StreamEvent>) {
        if self.discarding {
            self.discarding = false;
        } else if !self.tail.is_empty() {
            self.lines.line(&self.tail, out);
        }
        self.tail.clear();
    }

    /// What the parser has seen so far.
    pub fn stats(&self) -> &ParseStats {
        &self.lines.stats
    }

    fn buffer_tail(&mut self, part: &str) {
        if part.is_empty() || self.discarding {
            return;
        }
        if self.tail.len() + part.len() > MAX_LINE_BYTES {
            self.lines.count_oversized();
            self.tail.clear();
            self.discarding = true;
        } else {
            self.tail.push_str(part);
        }
    }
}

/// Turns one complete line into events; kept apart from the buffer so both can be borrowed.
#[derive(Debug)]
struct LineParser {
    participant: u8,
    stats: ParseStats,
    seen_first_line: bool,
}

impl LineParser {
    fn count_oversized(&mut self) {
        self.stats.lines += 1;
        self.stats.malformed_lines += 1;
    }

    fn line(&mut self, raw: &str, out: &mut Vec<StreamEvent>) {
        if raw.len() > MAX_LINE_BYTES {
            self.count_oversized();
            return;
        }
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let line = match line.strip_prefix(wire::DATA_PREFIX) {
            Some(rest) => rest.strip_prefix(' ').unwrap_or(rest),
            None => line,
        };
        if line.trim_ascii().is_empty() {
            return;
        }
        self.stats.lines += 1;

        if !self.seen_first_line {
            self.seen_first_line = true;
            if line.starts_with('{') {
                if let Some(message) = first_line_error(line) {
                    out.push(StreamEvent::Error(message));
                    return;
                }
            }
        }

        let (participant, kind, payload) = match line.as_bytes() {
            [p, t, wire::TYPE_SEPARATOR, ..]
                if (*p == wire::PARTICIPANT_A || *p == wire::PARTICIPANT_B)
                    && is_known_type(*t) =>
            {
                // The first three bytes are ASCII, so byte 3 is a char boundary.
                match line.get(3..) {
                    Some(payload) => (*p, *t, payload),
                    None => return self.stats.count_unknown(line),
                }
            }
            _ => return self.stats.count_unknown(line),
        };
        if participant != self.participant {
            return;
        }
        if self.payload(kind, payload, out).is_none() {
            self.stats.malformed_lines += 1;
        }
    }

    /// Decodes the payload of a known type; `None` when it does not parse.
    fn payload(&self, kind: u8, payload: &str, out: &mut Vec<StreamEvent>) -> Option<()> {
        match kind {
            wire::TYPE_TEXT => {
                let text = json_string(payload)?;
                if text == wire::ARENA_ERROR_TEXT {
                    out.push(StreamEvent::Error(wire::ARENA_ERROR_MESSAGE.to_owned()));
                } else if !text.is_empty() {
                    out.push(StreamEvent::Text(text));
                }
            }
            wire::TYPE_REASONING => {
                let text = json_string(payload)?;
                if !text.is_empty() {
                    out.push(StreamEvent::Reasoning(text));
                }
            }
            wire::TYPE_DATA => {
                let items: Vec<Value> = serde_json::from_str(payload).ok()?;
                for item in &items {
                    if is_heartbeat(item) {
                        out.push(StreamEvent::Heartbeat);
                    } else if let Some(image) = image_item(item) {
                        out.push(image);
                    }
                }
            }
            wire::TYPE_CITATION => {
                let value: Value = serde_json::from_str(payload).ok()?;
                if !value.is_object() {
                    return None;
                }
                out.push(StreamEvent::Citation(value));
            }
            wire::TYPE_ERROR => {
                let value: Value = serde_json::from_str(payload).ok()?;
                let message = match &value {
                    Value::String(s) => s.clone(),
                    Value::Object(_) => error_value_message(&value)?,
                    _ => return None,
                };
                out.push(StreamEvent::Error(message));
            }
            wire::TYPE_FINISH => {
                let value: Value = serde_json::from_str(payload).ok()?;
                let finish = value.as_object()?;
                let reason = finish
                    .get(wire::FINISH_REASON_KEY)
                    .and_then(Value::as_str)
                    .map_or(FinishReason::Stop, FinishReason::from_upstream);
                let usage = finish.get(wire::FINISH_USAGE_KEY).and_then(usage_from);
                out.push(StreamEvent::Finish { reason, usage });
            }
            _ => return None,
        }
        Some(())
    }
}

const fn is_known_type(t: u8) -> bool {
    matches!(
        t,
        wire::TYPE_TEXT
            | wire::TYPE_REASONING
            | wire::TYPE_DATA
            | wire::TYPE_CITATION
            | wire::TYPE_ERROR
            | wire::TYPE_FINISH
    )
}

/// Decodes a JSON string payload. Most deltas are plain text without escapes: those are taken
/// as a slice, without serde; anything else goes through serde_json.
fn json_string(payload: &str) -> Option<String> {
    if let [b'"', inner @ .., b'"'] = payload.as_bytes() {
        if !inner.iter().any(|&b| b == b'\\' || b == b'"' || b < 0x20) {
            // Both quotes are ASCII, so the inner range lies on char boundaries.
            return payload.get(1..1 + inner.len()).map(str::to_owned);
        }
    }
    serde_json::from_str(payload).ok()
}

/// A keep-alive data item `{"type":"heartbeat"}`.
fn is_heartbeat(item: &Value) -> bool {
    item.get(wire::ITEM_TYPE_KEY).and_then(Value::as_str) == Some(wire::ITEM_TYPE_HEARTBEAT)
}

/// An image data item `{"type":"image","image":url,"mimeType":…}`; other items are not ours.
fn image_item(item: &Value) -> Option<StreamEvent> {
    let item = item.as_object()?;
    if item.get(wire::ITEM_TYPE_KEY)?.as_str()? != wire::ITEM_TYPE_IMAGE {
        return None;
    }
    let url = item.get(wire::ITEM_IMAGE_URL_KEY)?.as_str()?;
    if url.is_empty() {
        return None;
    }
    let mime = item
        .get(wire::ITEM_MIME_TYPE_KEY)
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some(StreamEvent::Image {
        url: url.to_owned(),
        mime,
    })
}

/// Usage from the finish object's `usage`, only when both counts are present: never invented.
fn usage_from(usage: &Value) -> Option<Usage> {
    let usage = usage.as_object()?;
    let count = |keys: &[&str]| keys.iter().find_map(|k| usage.get(*k)?.as_u64());
    Some(Usage {
        prompt_tokens: count(wire::USAGE_PROMPT_TOKENS_KEYS)?,
        completion_tokens: count(wire::USAGE_COMPLETION_TOKENS_KEYS)?,
    })
}

/// A 200 body whose first line is `{"error": …}` is an error answer, not model output.
fn first_line_error(line: &str) -> Option<String> {
    let value: Value = serde_json::from_str(line).ok()?;
    let error = value.as_object()?.get(wire::ERROR_KEY)?;
    match error {
        Value::String(s) => Some(clean_message(s)),
        Value::Object(o) => Some(match o.get(wire::MESSAGE_KEY).and_then(Value::as_str) {
            Some(m) => clean_message(m),
            None => clean_message(&error.to_string()),
        }),
        _ => None,
    }
}
