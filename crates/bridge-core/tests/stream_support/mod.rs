//! Loading of the upstream transcript fixtures (tests/fixtures/upstream) shared by the stream
//! parser tests, and the hand-written expected-event format (see that folder's README).

use std::collections::BTreeMap;
use std::path::PathBuf;

use bridge_core::arena::stream::{
    FinishReason, ParseStats, Participant, StreamEvent, StreamParser, Usage,
};
use serde_json::Value;

pub(crate) fn upstream_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/upstream")
}

/// One transcript and its expected events.
pub(crate) struct Fixture {
    pub name: String,
    pub transcript: String,
    pub expected: Value,
}

impl Fixture {
    /// Expected events for `side` (`"a"` or `"b"`), if the fixture states them.
    pub(crate) fn expected_events(&self, side: &str) -> Option<Vec<StreamEvent>> {
        let list = self.expected.get(side)?.as_array().unwrap_or_else(|| {
            panic!("{}: `{side}` must be an array", self.name);
        });
        Some(
            list.iter()
                .map(|v| event_from_json(&self.name, v))
                .collect(),
        )
    }

    /// Expected stats for `side`, if the fixture states them.
    pub(crate) fn expected_stats(&self, side: &str) -> Option<ParseStats> {
        let s = self.expected.get(format!("stats_{side}"))?;
        let n = |k: &str| {
            s.get(k)
                .and_then(Value::as_u64)
                .unwrap_or_else(|| panic!("{}: stats_{side}.{k} missing", self.name))
        };
        let unknown_types: BTreeMap<String, u64> = s
            .get("unknown_types")
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("{}: stats_{side}.unknown_types missing", self.name))
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().expect("count")))
            .collect();
        Some(ParseStats {
            lines: n("lines"),
            unknown_lines: n("unknown_lines"),
            malformed_lines: n("malformed_lines"),
            unknown_types,
        })
    }
}

/// Every `*.txt` transcript directly in the upstream folder, sorted by name.
pub(crate) fn transcripts() -> Vec<Fixture> {
    let dir = upstream_dir();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("read tests/fixtures/upstream") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("txt") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_owned();
        let transcript = std::fs::read_to_string(&path).expect("transcript is UTF-8");
        let expected_path = dir.join(format!("{name}.expected.json"));
        let expected_text = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        let expected = serde_json::from_str(&expected_text)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        out.push(Fixture {
            name,
            transcript,
            expected,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

pub(crate) fn side(participant: Participant) -> &'static str {
    match participant {
        Participant::A => "a",
        Participant::B => "b",
    }
}

/// Decodes one hand-written expected event.
pub(crate) fn event_from_json(fixture: &str, v: &Value) -> StreamEvent {
    let obj = v.as_object().expect("event is an object");
    assert_eq!(obj.len(), 1, "{fixture}: event {v} must have one key");
    let (kind, val) = obj.iter().next().expect("one key");
    let string = |x: &Value| x.as_str().expect("string").to_owned();
    match kind.as_str() {
        "text" => StreamEvent::Text(string(val)),
        "reasoning" => StreamEvent::Reasoning(string(val)),
        "error" => StreamEvent::Error(string(val)),
        "citation" => StreamEvent::Citation(val.clone()),
        "heartbeat" => StreamEvent::Heartbeat,
        "image" => StreamEvent::Image {
            url: string(&val["url"]),
            mime: val["mime"].as_str().map(str::to_owned),
        },
        "finish" => StreamEvent::Finish {
            reason: match val["reason"].as_str() {
                Some("stop") => FinishReason::Stop,
                Some("length") => FinishReason::Length,
                Some("content_filter") => FinishReason::ContentFilter,
                other => panic!("{fixture}: bad finish reason {other:?}"),
            },
            usage: match &val["usage"] {
                Value::Null => None,
                u => Some(Usage {
                    prompt_tokens: u["prompt_tokens"].as_u64().expect("prompt_tokens"),
                    completion_tokens: u["completion_tokens"].as_u64().expect("completion_tokens"),
                }),
            },
        },
        other => panic!("{fixture}: unknown event kind {other}"),
    }
}

/// Feeds `pieces` in order, then finishes; returns all events and the final stats.
pub(crate) fn feed(pieces: &[&str], participant: Participant) -> (Vec<StreamEvent>, ParseStats) {
    let mut parser = StreamParser::new(participant);
    let mut events = Vec::new();
    for piece in pieces {
        events.extend(parser.push(piece));
    }
    events.extend(parser.finish());
    (events, parser.stats().clone())
}

/// Char boundaries of `text` strictly inside it (possible split points).
pub(crate) fn split_points(text: &str) -> Vec<usize> {
    (1..text.len())
        .filter(|&i| text.is_char_boundary(i))
        .collect()
}

/// Splits `text` at the given byte offsets (sorted, deduplicated, char boundaries).
pub(crate) fn split_at_points<'a>(text: &'a str, points: &[usize]) -> Vec<&'a str> {
    let mut pieces = Vec::with_capacity(points.len() + 1);
    let mut start = 0;
    for &p in points {
        pieces.push(&text[start..p]);
        start = p;
    }
    pieces.push(&text[start..]);
    pieces
}
