//! Chat completion chunks → the Messages stream: `message_start`, `ping`, per block
//! `content_block_start` / `content_block_delta` (`text_delta`, `input_json_delta`) /
//! `content_block_stop`, then `message_delta` (stop reason, usage) and `message_stop`.

use serde_json::{json, Value};

use super::response::{error_body, usage_json, ErrorKind, StopCut, StopReason};
use super::{MESSAGE_ID_PREFIX, MESSAGE_TYPE};
use crate::compat::{chunk_pieces, new_id, ChatFinish, ChatPiece, ChatUsage, SseEvent};
use crate::openai::RequestError;

/// The content block being streamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    /// A tool_use block for the chat call with this index.
    Tool(u64),
}

/// Translates one streamed chat answer into Messages stream events.
#[derive(Debug)]
pub struct MessageStream {
    id: String,
    model: String,
    cut: StopCut,
    open: Option<Block>,
    /// Index of the next content block.
    next_index: u64,
    calls: u64,
    finish: Option<ChatFinish>,
    usage: Option<ChatUsage>,
    /// The chat stream carried an error: the `error` event ended the message.
    failed: bool,
}

impl MessageStream {
    pub fn new(model: &str, stop_sequences: &[String]) -> Result<Self, RequestError> {
        Ok(Self {
            id: new_id(MESSAGE_ID_PREFIX),
            model: model.to_owned(),
            cut: StopCut::new(stop_sequences)?,
            open: None,
            next_index: 0,
            calls: 0,
            finish: None,
            usage: None,
            failed: false,
        })
    }

    /// `message_start` (an empty message) and a first `ping`.
    pub fn start(&self) -> Vec<SseEvent> {
        let message = json!({
            "id": self.id, "type": MESSAGE_TYPE, "role": "assistant", "model": self.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": usage_json(None),
        });
        vec![
            SseEvent::new(
                "message_start",
                json!({"type": "message_start", "message": message}),
            ),
            Self::ping(),
        ]
    }

    /// A keep-alive `ping` event.
    pub fn ping() -> SseEvent {
        SseEvent::new("ping", json!({"type": "ping"}))
    }

    /// True once a stop sequence matched or an error was sent: nothing more will be sent but
    /// [`Self::finish`], so the caller may stop reading the chat answer.
    pub fn is_done(&self) -> bool {
        self.failed || self.cut.matched().is_some()
    }

    /// Events for one chat chunk. An error inside the chat stream gives an `error` event (the
    /// stream then ends without `message_stop`, as Anthropic's does).
    pub fn feed(&mut self, chunk: &Value) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for piece in chunk_pieces(chunk) {
            if self.is_done() {
                break;
            }
            match piece {
                ChatPiece::Text(text) => {
                    let shown = self.cut.feed(&text);
                    self.text(&shown, &mut out);
                }
                ChatPiece::CallStart { index, id, name } => {
                    self.flush_text(&mut out);
                    self.close(&mut out);
                    out.push(SseEvent::new("content_block_start", json!({
                        "type": "content_block_start", "index": self.next_index,
                        "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}},
                    })));
                    self.open = Some(Block::Tool(index));
                    self.calls += 1;
                }
                ChatPiece::CallArguments { index, text } => {
                    if self.open == Some(Block::Tool(index)) {
                        out.push(
                            self.delta(json!({"type": "input_json_delta", "partial_json": text})),
                        );
                    }
                }
                ChatPiece::Finish(finish) => self.finish = Some(finish),
                ChatPiece::Usage(usage) => self.usage = Some(usage),
                ChatPiece::Error(err) => {
                    self.failed = true;
                    out.push(Self::error(ErrorKind::Api, &err.message));
                }
            }
        }
        out
    }

    /// The closing events: the open block's stop, `message_delta`, `message_stop` (none
    /// after an error).
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        if self.failed {
            return out;
        }
        self.flush_text(&mut out);
        self.close(&mut out);
        let stopped = self.cut.matched().is_some();
        let finish = match self.finish.unwrap_or(ChatFinish::Stop) {
            ChatFinish::ToolCalls if self.calls == 0 => ChatFinish::Stop,
            f => f,
        };
        let usage = self.usage.unwrap_or_default();
        out.push(SseEvent::new("message_delta", json!({
            "type": "message_delta",
            "delta": {"stop_reason": StopReason::from_chat(finish, stopped).as_str(),
                      "stop_sequence": self.cut.matched()},
            "usage": {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens},
        })));
        out.push(SseEvent::new(
            "message_stop",
            json!({"type": "message_stop"}),
        ));
        out
    }

    /// An `error` event.
    pub fn error(kind: ErrorKind, message: &str) -> SseEvent {
        SseEvent::new("error", error_body(kind, message))
    }

    /// The held-back tail of the text (a stop sequence that did not complete).
    fn flush_text(&mut self, out: &mut Vec<SseEvent>) {
        if self.cut.matched().is_none() {
            let tail = self.cut.finish();
            self.text(&tail, out);
        }
    }

    fn text(&mut self, text: &str, out: &mut Vec<SseEvent>) {
        if text.is_empty() {
            return;
        }
        if self.open != Some(Block::Text) {
            self.close(out);
            out.push(SseEvent::new(
                "content_block_start",
                json!({
                    "type": "content_block_start", "index": self.next_index,
                    "content_block": {"type": "text", "text": ""},
                }),
            ));
            self.open = Some(Block::Text);
        }
        out.push(self.delta(json!({"type": "text_delta", "text": text})));
    }

    fn delta(&self, delta: Value) -> SseEvent {
        SseEvent::new(
            "content_block_delta",
            json!({
                "type": "content_block_delta", "index": self.next_index, "delta": delta,
            }),
        )
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        if self.open.take().is_some() {
            out.push(SseEvent::new(
                "content_block_stop",
                json!({
                    "type": "content_block_stop", "index": self.next_index,
                }),
            ));
            self.next_index += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::test_chunks::{call_args, call_start, chunk, hello_stream};

    /// Runs a chat stream through the translator; events as (name, data).
    fn run(chunks: &[Value], stops: &[&str]) -> Vec<(&'static str, Value)> {
        let stops: Vec<String> = stops.iter().map(|s| (*s).to_owned()).collect();
        let mut t = MessageStream::new("claude-x", &stops).unwrap();
        let mut events = t.start();
        for c in chunks {
            events.extend(t.feed(c));
            if t.is_done() {
                break;
            }
        }
        events.extend(t.finish());
        events.into_iter().map(|e| (e.name, e.data)).collect()
    }

    fn names(events: &[(&'static str, Value)]) -> Vec<&'static str> {
        events.iter().map(|(n, _)| *n).collect()
    }

    #[test]
    fn text_stream_has_the_official_event_sequence() {
        let events = run(&hello_stream(5), &[]);
        assert_eq!(
            names(&events),
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let start = &events[0].1["message"];
        assert_eq!(start["type"], "message");
        assert_eq!(start["content"], json!([]));
        assert!(start["stop_reason"].is_null());
        assert_eq!(
            events[2].1,
            json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})
        );
        assert_eq!(
            events[4].1,
            json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}})
        );
        assert_eq!(events[5].1, json!({"type":"content_block_stop","index":0}));
        assert_eq!(
            events[6].1,
            json!({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},
                "usage":{"input_tokens":5,"output_tokens":2}})
        );
    }

    #[test]
    fn tool_calls_stream_as_tool_use_blocks_with_json_deltas() {
        let events = run(
            &[
                chunk(json!({"content":"Let me check."}), Value::Null),
                call_start(0, "call_a", "get_weather"),
                call_args(0, "{\"city\":"),
                call_args(0, "\"Paris\"}"),
                call_start(1, "call_b", "get_time"),
                call_args(1, "{}"),
                chunk(json!({}), json!("tool_calls")),
            ],
            &[],
        );
        assert_eq!(
            names(&events),
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(
            events[5].1,
            json!({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_a","name":"get_weather","input":{}}})
        );
        assert_eq!(
            events[7].1,
            json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}})
        );
        assert_eq!(events[9].1["index"], 2);
        assert_eq!(events[12].1["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn stop_sequence_across_chunks_ends_the_message() {
        let events = run(
            &[
                chunk(json!({"content":"abc ST"}), Value::Null),
                chunk(json!({"content":"OP never"}), Value::Null),
                chunk(json!({"content":"shown"}), Value::Null),
            ],
            &["STOP"],
        );
        let text: String = events
            .iter()
            .filter_map(|(_, d)| d["delta"]["text"].as_str())
            .collect();
        assert_eq!(text, "abc ");
        let delta = &events[events.len() - 2].1["delta"];
        assert_eq!(delta["stop_reason"], "stop_sequence");
        assert_eq!(delta["stop_sequence"], "STOP");
    }

    #[test]
    fn held_back_tail_is_released_at_the_end() {
        let events = run(
            &[
                chunk(json!({"content":"abc ST"}), Value::Null),
                chunk(json!({}), json!("length")),
            ],
            &["STOP"],
        );
        let text: String = events
            .iter()
            .filter_map(|(_, d)| d["delta"]["text"].as_str())
            .collect();
        assert_eq!(text, "abc ST");
        assert_eq!(
            events[events.len() - 2].1["delta"]["stop_reason"],
            "max_tokens"
        );
    }

    #[test]
    fn empty_answer_still_closes_the_message() {
        let events = run(&[chunk(json!({}), json!("stop"))], &[]);
        assert_eq!(
            names(&events),
            ["message_start", "ping", "message_delta", "message_stop"]
        );
    }

    #[test]
    fn chat_error_becomes_error_event() {
        let mut t = MessageStream::new("m", &[]).unwrap();
        let events = t.feed(&json!({"error":{"message":"upstream broke","type":"upstream_error","param":null,"code":null}}));
        assert_eq!(events.len(), 1);
        assert!(t.is_done());
        assert!(t.finish().is_empty());
        assert_eq!(
            events[0].to_sse(),
            "event: error\ndata: {\"error\":{\"message\":\"upstream broke\",\"type\":\"api_error\"},\"type\":\"error\"}\n\n"
        );
    }
}
