//! Invariant checks shared by the fuzz targets (`fuzz/fuzz_targets/`) and their stable tests
//! (`tests/fuzz_corpus.rs`: the seed corpus in `fuzz/corpus/<target>/`, mutations of it, and
//! proptest input). One target per kind of input: `tool_calls`, `stop_sequences` (answer
//! emulation, here) and, in [`inputs`], everything read from outside: `stream` (LMArena's
//! answer), `tab_frames`, `requests` (OpenAI, Anthropic, Responses bodies), `config_files`,
//! `pages`. Each check panics when an invariant breaks.
//!
//! Longer runs on stable: `PROPTEST_CASES=20000 cargo test -p bridge-core --test fuzz_corpus --
//! _mutants_hold stream_of_any_text` (see docs/FUZZING.md). Coverage-guided, with a nightly toolchain and cargo-fuzz:
//! `cd crates/bridge-core/fuzz && cargo +nightly fuzz run stream -- -max_total_time=600`.

use serde_json::json;

mod inputs;

pub use inputs::{
    check_config_text, check_page, check_request_body, check_stream, check_tab_frame,
    MAX_ERROR_MESSAGE_BYTES,
};

use crate::stop::StopMatcher;
use crate::tools::{ToolCallParser, ToolChoice, ToolEvent, ToolSet, ToolSpec};

/// The tools every fuzz run parses against.
pub fn fuzz_tools() -> ToolSet {
    let weather = ToolSpec::new(
        "get_weather",
        Some("Weather for a city"),
        Some(json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"]
        })),
    );
    let time = ToolSpec::new("get_time", None, None);
    match (weather, time) {
        (Ok(weather), Ok(time)) => ToolSet::new(vec![weather, time], ToolChoice::Auto, true)
            .unwrap_or_else(|e| panic!("fuzz tool set: {e}")),
        (Err(e), _) | (_, Err(e)) => panic!("fuzz tools: {e}"),
    }
}

/// Feeds `text` whole and split at the points given by `cuts`; the events must agree (ids
/// aside, adjacent text merged), and every byte of the input must come out as text, a call
/// or a rejected block.
pub fn check_tool_parser(text: &str, cuts: &[usize]) {
    let tools = fuzz_tools();
    let whole = normalized(run_parser(&tools, &[text]));
    let pieces = split_at_cuts(text, cuts);
    let split = normalized(run_parser(&tools, &pieces));
    assert_eq!(whole, split, "split {pieces:?} changed the events");
    for event in &whole {
        if let ToolEvent::Call(call) = event {
            let parsed: serde_json::Value = serde_json::from_str(&call.arguments)
                .unwrap_or_else(|e| panic!("call arguments are not JSON: {e}"));
            assert!(parsed.is_object(), "arguments must be an object");
        }
    }
    let has_call = whole.iter().any(|e| matches!(e, ToolEvent::Call(_)));
    if !has_call {
        let mut echoed = String::new();
        for event in &whole {
            match event {
                ToolEvent::Text(t) => echoed.push_str(t),
                ToolEvent::Rejected(r) => echoed.push_str(&r.raw),
                ToolEvent::Call(_) => {}
            }
        }
        assert_eq!(
            echoed, text,
            "without calls the answer must come back unchanged"
        );
    }
}

/// Feeds `text` split at `cuts` through a stop matcher and checks it against a direct search.
pub fn check_stop_matcher(sequences: &[String], text: &str, cuts: &[usize]) {
    let Ok(mut matcher) = StopMatcher::new(sequences) else {
        return;
    };
    let mut out = String::new();
    let mut stopped = false;
    for piece in split_at_cuts(text, cuts) {
        let step = matcher.feed(piece);
        out.push_str(&step.text);
        if step.stopped {
            stopped = true;
            break;
        }
    }
    if !stopped {
        out.push_str(&matcher.finish());
    }
    let expected = sequences
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()).map(|start| (start + s.len(), start)))
        .min()
        .map(|(_, start)| start);
    match expected {
        Some(start) => {
            assert!(
                stopped,
                "a stop sequence is in the text but did not stop it"
            );
            assert_eq!(out, &text[..start]);
        }
        None => {
            assert!(!stopped, "stopped without a match");
            assert_eq!(out, text);
        }
    }
}

/// Splits at the given byte offsets, each moved down to a char boundary.
pub fn split_at_cuts<'a>(text: &'a str, cuts: &[usize]) -> Vec<&'a str> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|&c| {
            let mut c = c % (text.len() + 1);
            while !text.is_char_boundary(c) {
                c -= 1;
            }
            c
        })
        .collect();
    points.sort_unstable();
    points.dedup();
    let mut pieces = Vec::with_capacity(points.len() + 1);
    let mut from = 0;
    for p in points {
        pieces.push(&text[from..p]);
        from = p;
    }
    pieces.push(&text[from..]);
    pieces
}

/// Runs a parser over the pieces and returns all events.
pub fn run_parser(tools: &ToolSet, pieces: &[&str]) -> Vec<ToolEvent> {
    let mut parser = ToolCallParser::new(tools.clone());
    let mut events = Vec::new();
    for piece in pieces {
        events.extend(parser.feed(piece));
    }
    events.extend(parser.finish());
    events
}

/// Events with ids blanked and adjacent text merged, for comparing runs.
pub fn normalized(events: Vec<ToolEvent>) -> Vec<ToolEvent> {
    let mut out: Vec<ToolEvent> = Vec::with_capacity(events.len());
    for event in events {
        match (out.last_mut(), event) {
            (Some(ToolEvent::Text(prev)), ToolEvent::Text(next)) => prev.push_str(&next),
            (_, ToolEvent::Text(t)) if t.is_empty() => {}
            (_, ToolEvent::Call(mut call)) => {
                call.id.clear();
                out.push(ToolEvent::Call(call));
            }
            (_, other) => out.push(other),
        }
    }
    out
}

/// Turns fuzz bytes into cut points (from the first two bytes) and lossy UTF-8 text.
pub fn cuts_and_text(data: &[u8]) -> (Vec<usize>, String) {
    let (seed, text) = data.split_at(data.len().min(2));
    let cuts = seed.iter().map(|&b| usize::from(b) * 7 + 1).collect();
    (cuts, String::from_utf8_lossy(text).into_owned())
}

/// Splits fuzz bytes into stop sequences (first line, `|`-separated, at most four) and the rest.
pub fn sequences_and_rest(data: &[u8]) -> (Vec<String>, &[u8]) {
    let (head, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(nl) => (&data[..nl], &data[nl + 1..]),
        None => (data, &[][..]),
    };
    let sequences = String::from_utf8_lossy(head)
        .split('|')
        .take(crate::stop::MAX_STOP_SEQUENCES)
        .map(str::to_owned)
        .collect();
    (sequences, rest)
}
