//! Checks for every kind of outside bytes the bridge reads: the LMArena stream, tab frames,
//! OpenAI (and Anthropic / Responses) request bodies, the three config files, the page HTML.
//! Each check panics when an invariant breaks: a panic inside the code under test, an answer
//! that grows faster than its input, or two readings of the same bytes that disagree.

use std::path::Path;

use serde_json::Value;

use crate::arena::stream::{Participant, StreamEvent, StreamParser};
use crate::clip::{NAME_CHARS, TEXT_CHARS};
use crate::compat::{anthropic, responses};
use crate::config::parse_config;
use crate::models::{EndpointMap, Models, Registry};
use crate::openai::{
    parse_chat_request, parse_completion_request, parse_image_request, RequestError,
};
use crate::protocol::{ChunkFrame, TabMessage};
use crate::scrape::extract_models;

use super::split_at_cuts;

/// Longest error message a request body may cause: every client string it quotes is clipped.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 4 * (TEXT_CHARS + NAME_CHARS) + 1024;

/// Most a parsed stream may hold beyond its input: a constant per event (finish reasons,
/// fixed error texts) on top of the input's own bytes.
const EVENT_OVERHEAD_BYTES: usize = 256;

/// The stream parser, fed `text` whole and split at `cuts`, for the side chosen by `side`:
/// the same events either way, and no more text out than came in.
pub fn check_stream(side: u8, text: &str, cuts: &[usize]) {
    let participant = if side.is_multiple_of(2) {
        Participant::A
    } else {
        Participant::B
    };
    let whole = merged(feed_stream(participant, &[text]));
    let pieces = split_at_cuts(text, cuts);
    let split = merged(feed_stream(participant, &pieces));
    assert_eq!(whole, split, "split {pieces:?} changed the events");
    let out: usize = whole.iter().map(event_bytes).sum();
    assert!(
        out <= text.len() + EVENT_OVERHEAD_BYTES * whole.len(),
        "{out} bytes of events from {} bytes of stream",
        text.len()
    );
}

fn feed_stream(participant: Participant, pieces: &[&str]) -> Vec<StreamEvent> {
    let mut parser = StreamParser::new(participant);
    let mut events = Vec::new();
    for piece in pieces {
        parser.push_into(piece, &mut events);
    }
    parser.finish_into(&mut events);
    events
}

/// Adjacent text and reasoning deltas merged: where a split falls may cut a delta in two.
fn merged(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    let mut out: Vec<StreamEvent> = Vec::with_capacity(events.len());
    for event in events {
        match (out.last_mut(), event) {
            (Some(StreamEvent::Text(prev)), StreamEvent::Text(next)) => prev.push_str(&next),
            (Some(StreamEvent::Reasoning(prev)), StreamEvent::Reasoning(next)) => {
                prev.push_str(&next)
            }
            (_, other) => out.push(other),
        }
    }
    out
}

fn event_bytes(event: &StreamEvent) -> usize {
    match event {
        StreamEvent::Text(t) | StreamEvent::Reasoning(t) | StreamEvent::Error(t) => t.len(),
        StreamEvent::Image { url, mime } => url.len() + mime.as_ref().map_or(0, String::len),
        StreamEvent::Citation(v) => v.to_string().len(),
        StreamEvent::Finish { .. } | StreamEvent::Heartbeat => 0,
    }
}

/// One text frame from a tab, read as the server reads it: the `chunk` fast path must agree
/// with the full frame parser, and nothing read is larger than the frame.
pub fn check_tab_frame(text: &str) {
    let full = serde_json::from_str::<TabMessage>(text);
    if let Some((id, data)) = ChunkFrame::parse(text) {
        assert!(data.len() <= text.len(), "chunk data larger than its frame");
        if let Ok(message) = &full {
            match message {
                TabMessage::Chunk {
                    id: full_id,
                    data: full_data,
                } => {
                    assert_eq!(id, *full_id, "the two parsers read different job ids");
                    assert_eq!(data, *full_data, "the two parsers read different data");
                }
                other => panic!("the fast path read a chunk, the full parser {other:?}"),
            }
        }
    }
    if let Ok(message) = full {
        // A frame parsed back out agrees with itself.
        let again = serde_json::to_string(&message)
            .ok()
            .and_then(|t| serde_json::from_str::<TabMessage>(&t).ok());
        assert_eq!(again.as_ref(), Some(&message), "frame does not round-trip");
    }
}

/// One request body, as each API route reads it: the chat, legacy completion and image
/// parsers, and the Anthropic Messages and Responses translators followed by the chat parser
/// they feed. Errors must stay short (client strings in them clipped); an image request never
/// asks for more than OpenAI's 10 images.
pub fn check_request_body(body: &[u8]) {
    bounded(parse_chat_request(body).map(drop));
    bounded(parse_completion_request(body).map(drop));
    match parse_image_request(body) {
        Ok(request) => {
            assert!(
                request.n.is_none_or(|n| (1..=10).contains(&n)),
                "n out of range"
            );
            assert!(!request.prompt.trim().is_empty(), "empty prompt accepted");
        }
        Err(e) => bounded::<()>(Err(e)),
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    match anthropic::translate_request(value.clone()) {
        Ok(translated) => {
            let chat = serde_json::to_vec(&translated.chat).unwrap_or_default();
            bounded(parse_chat_request(&chat).map(drop));
        }
        Err(e) => bounded::<()>(Err(e)),
    }
    match responses::translate_request(value) {
        Ok(translated) => {
            let chat = serde_json::to_vec(&translated.chat_request(&[])).unwrap_or_default();
            bounded(parse_chat_request(&chat).map(drop));
        }
        Err(e) => bounded::<()>(Err(e)),
    }
}

fn bounded<T>(result: Result<T, RequestError>) {
    if let Err(e) = result {
        let param = e.param.as_deref().map_or(0, str::len);
        assert!(
            e.message.len() <= MAX_ERROR_MESSAGE_BYTES && param <= MAX_ERROR_MESSAGE_BYTES,
            "error of {} bytes (param {param}): {}…",
            e.message.len(),
            crate::clip::clip(&e.message, 120)
        );
    }
}

/// One file's text read as `config.jsonc`, `models.json` and `model_endpoint_map.json`
/// (alone and together): an answer or a typed error, never a panic.
pub fn check_config_text(text: &str) {
    let path = Path::new("fuzz/config.jsonc");
    if let Err(e) = parse_config(text, path) {
        let _ = e.to_string();
    }
    if let Err(e) = Models::parse(text, Path::new("fuzz/models.json")) {
        let _ = e.to_string();
    }
    if let Err(e) = EndpointMap::parse(text, Path::new("fuzz/model_endpoint_map.json")) {
        let _ = e.to_string();
    }
    if let Err(e) = Registry::parse(text, text) {
        let _ = e.to_string();
    }
}

/// The page scraper on any HTML: models or an error, each model's name and id found in the
/// page, never more models than the page has bytes.
pub fn check_page(html: &str) {
    if let Ok(models) = extract_models(html) {
        assert!(models.len() <= html.len(), "more models than bytes");
        for model in &models {
            assert!(model.public_name().len() <= html.len());
            assert!(model.id().len() <= html.len());
        }
    }
}
