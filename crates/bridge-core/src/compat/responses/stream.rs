//! Chat completion chunks → the Responses stream: `response.created`,
//! `response.in_progress`, per output item `response.output_item.added` … `.done` (a message
//! with its `output_text` part and deltas, or a function call with its argument deltas), and
//! `response.completed` (or `response.incomplete`); every event has a `sequence_number`.

use serde_json::{json, Value};

use super::response::{function_item, message_item, text_part, ResponseShell, Status};
use super::{FUNCTION_ITEM_PREFIX, MESSAGE_ITEM_PREFIX};
use crate::compat::{
    assistant_message, chunk_pieces, new_id, CallAssembler, ChatError, ChatFinish, ChatPiece,
    ChatUsage, SseEvent,
};

/// The output item being streamed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Open {
    /// A message item: its id and the text so far.
    Message { id: String, text: String },
    /// A function call item for the chat call with this index.
    Call { id: String, index: u64 },
}

/// Translates one streamed chat answer into Responses stream events.
#[derive(Debug)]
pub struct ResponseStream {
    shell: ResponseShell,
    sequence: u64,
    open: Option<Open>,
    /// Finished output items, in order.
    output: Vec<Value>,
    text: String,
    calls: CallAssembler,
    finish: Option<ChatFinish>,
    usage: Option<ChatUsage>,
    failed: bool,
}

impl ResponseStream {
    pub fn new(shell: ResponseShell) -> Self {
        Self {
            shell,
            sequence: 0,
            open: None,
            output: Vec::new(),
            text: String::new(),
            calls: CallAssembler::default(),
            finish: None,
            usage: None,
            failed: false,
        }
    }

    /// The response's id.
    pub fn id(&self) -> &str {
        self.shell.id()
    }

    /// True once an error was sent: the stream is over.
    pub fn is_done(&self) -> bool {
        self.failed
    }

    /// `response.created` and `response.in_progress`.
    pub fn start(&mut self) -> Vec<SseEvent> {
        let response = self.shell.object(Status::InProgress, &[], None, None);
        vec![
            self.event("response.created", json!({"response": response.clone()})),
            self.event("response.in_progress", json!({"response": response})),
        ]
    }

    /// Events for one chat chunk. An error inside the chat stream gives `error` and
    /// `response.failed`; later chunks are ignored.
    pub fn feed(&mut self, chunk: &Value) -> Vec<SseEvent> {
        let mut out = Vec::new();
        for piece in chunk_pieces(chunk) {
            if self.failed {
                break;
            }
            match piece {
                ChatPiece::Text(text) => self.text(&text, &mut out),
                ChatPiece::CallStart { index, id, name } => {
                    self.close(&mut out);
                    self.calls.start(index, &id, &name);
                    let item_id = new_id(FUNCTION_ITEM_PREFIX);
                    if let Some(call) = self.calls.last() {
                        let item = function_item(&item_id, call, "in_progress");
                        let e = self.event(
                            "response.output_item.added",
                            json!({"output_index": self.output.len(), "item": item}),
                        );
                        out.push(e);
                    }
                    self.open = Some(Open::Call { id: item_id, index });
                }
                ChatPiece::CallArguments { index, text } => {
                    if let Some(Open::Call { id, index: open }) = &self.open {
                        if *open == index && self.calls.append(index, &text) {
                            let data = json!({"item_id": id, "output_index": self.output.len(), "delta": text});
                            out.push(self.event("response.function_call_arguments.delta", data));
                        }
                    }
                }
                ChatPiece::Finish(finish) => self.finish = Some(finish),
                ChatPiece::Usage(usage) => self.usage = Some(usage),
                ChatPiece::Error(err) => out.extend(self.fail(&err)),
            }
        }
        out
    }

    /// Ends the stream with an error: `error`, then `response.failed`.
    pub fn fail(&mut self, err: &ChatError) -> Vec<SseEvent> {
        self.failed = true;
        let error = json!({"code": err.code.clone().unwrap_or_else(|| "server_error".to_owned()),
            "message": err.message});
        let response = self
            .shell
            .object(Status::Failed, &self.output, self.usage, Some(error));
        vec![
            self.event(
                "error",
                json!({"code": err.code, "message": err.message, "param": err.param}),
            ),
            self.event("response.failed", json!({"response": response})),
        ]
    }

    /// Closes the open item and sends `response.completed` (or `response.incomplete`). Also
    /// gives the assistant message to remember for a later `previous_response_id` (none, and
    /// no events, after an error).
    pub fn finish(&mut self) -> (Vec<SseEvent>, Option<Value>) {
        let mut out = Vec::new();
        if self.failed {
            return (out, None);
        }
        self.close(&mut out);
        let calls: Vec<_> = self.calls.calls().cloned().collect();
        let finish = match self.finish.unwrap_or(ChatFinish::Stop) {
            ChatFinish::ToolCalls if calls.is_empty() => ChatFinish::Stop,
            f => f,
        };
        let status = Status::from_finish(finish);
        let name = match status {
            Status::Incomplete(_) => "response.incomplete",
            _ => "response.completed",
        };
        let response = self.shell.object(status, &self.output, self.usage, None);
        out.push(self.event(name, json!({"response": response})));
        (out, Some(assistant_message(&self.text, &calls)))
    }

    fn text(&mut self, text: &str, out: &mut Vec<SseEvent>) {
        if !matches!(self.open, Some(Open::Message { .. })) {
            self.close(out);
            let id = new_id(MESSAGE_ITEM_PREFIX);
            let index = self.output.len();
            let e = self.event(
                "response.output_item.added",
                json!({"output_index": index, "item": message_item(&id, "", "in_progress")}),
            );
            out.push(e);
            let e = self.event("response.content_part.added",
                json!({"item_id": id, "output_index": index, "content_index": 0, "part": text_part("")}));
            out.push(e);
            self.open = Some(Open::Message {
                id,
                text: String::new(),
            });
        }
        let index = self.output.len();
        if let Some(Open::Message { id, text: so_far }) = &mut self.open {
            so_far.push_str(text);
            let data = json!({"item_id": id, "output_index": index, "content_index": 0,
                "delta": text, "logprobs": []});
            self.text.push_str(text);
            out.push(self.event("response.output_text.delta", data));
        }
    }

    /// Sends the `.done` events of the open item and moves it to the output.
    fn close(&mut self, out: &mut Vec<SseEvent>) {
        let index = self.output.len();
        let item = match self.open.take() {
            None => return,
            Some(Open::Message { id, text }) => {
                let e = self.event(
                    "response.output_text.done",
                    json!({"item_id": id,
                    "output_index": index, "content_index": 0, "text": text, "logprobs": []}),
                );
                out.push(e);
                let e = self.event(
                    "response.content_part.done",
                    json!({"item_id": id,
                    "output_index": index, "content_index": 0, "part": text_part(&text)}),
                );
                out.push(e);
                message_item(&id, &text, "completed")
            }
            // The open call is always the last one started.
            Some(Open::Call { id, .. }) => {
                let Some(call) = self.calls.last().cloned() else {
                    return;
                };
                let e = self.event(
                    "response.function_call_arguments.done",
                    json!({"item_id": id,
                    "output_index": index, "name": call.name, "arguments": call.arguments}),
                );
                out.push(e);
                function_item(&id, &call, "completed")
            }
        };
        let e = self.event(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
        out.push(e);
        self.output.push(item);
    }

    /// An event of type `name` with the next sequence number.
    fn event(&mut self, name: &'static str, mut data: Value) -> SseEvent {
        if let Some(obj) = data.as_object_mut() {
            obj.insert("type".into(), name.into());
            obj.insert("sequence_number".into(), self.sequence.into());
        }
        self.sequence += 1;
        SseEvent::new(name, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::responses::translate_request;
    use crate::compat::test_chunks::{call_args, call_start, chunk, hello_stream};

    fn stream() -> ResponseStream {
        let req = translate_request(json!({"model":"gpt-x","input":"hi","stream":true})).unwrap();
        ResponseStream::new(ResponseShell::new(&req, 5))
    }

    fn run(chunks: &[Value]) -> (Vec<SseEvent>, Value) {
        let mut t = stream();
        let mut events = t.start();
        for c in chunks {
            events.extend(t.feed(c));
        }
        let (end, remembered) = t.finish();
        events.extend(end);
        (events, remembered.unwrap())
    }

    fn check_common(events: &[SseEvent]) {
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.data["type"], e.name);
            assert_eq!(e.data["sequence_number"], i as u64, "{}", e.name);
        }
    }

    #[test]
    fn text_stream_has_the_official_event_sequence() {
        let (events, remembered) = run(&hello_stream(4));
        check_common(&events);
        let names: Vec<_> = events.iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        assert_eq!(events[0].data["response"]["status"], "in_progress");
        assert_eq!(events[0].data["response"]["output"], json!([]));
        let added = &events[2].data;
        assert_eq!(added["output_index"], 0);
        assert_eq!(added["item"]["type"], "message");
        assert_eq!(added["item"]["status"], "in_progress");
        let item_id = added["item"]["id"].clone();
        assert_eq!(
            events[3].data["part"],
            json!({"type":"output_text","text":"","annotations":[],"logprobs":[]})
        );
        assert_eq!(events[5].data["delta"], "lo");
        assert_eq!(events[5].data["item_id"], item_id);
        assert_eq!(events[6].data["text"], "Hello");
        let done = &events[9].data["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
        assert_eq!(done["output"][0]["id"], item_id);
        assert_eq!(done["usage"]["total_tokens"], 6);
        assert_eq!(remembered, json!({"role":"assistant","content":"Hello"}));
    }

    #[test]
    fn function_calls_stream_arguments_and_complete() {
        let (events, remembered) = run(&[
            chunk(json!({"content":"On it."}), Value::Null),
            call_start(0, "call_a", "get_weather"),
            call_args(0, "{\"city\":"),
            call_args(0, "\"Oslo\"}"),
            chunk(json!({}), json!("tool_calls")),
        ]);
        check_common(&events);
        let names: Vec<_> = events.iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed"
            ]
        );
        let added = &events[8].data;
        assert_eq!(added["output_index"], 1);
        assert_eq!(added["item"]["type"], "function_call");
        assert_eq!(added["item"]["call_id"], "call_a");
        assert_eq!(added["item"]["arguments"], "");
        assert_eq!(events[11].data["arguments"], "{\"city\":\"Oslo\"}");
        assert_eq!(events[11].data["name"], "get_weather");
        let done = &events[13].data["response"];
        assert_eq!(done["output"][1]["arguments"], "{\"city\":\"Oslo\"}");
        assert_eq!(done["output"][1]["status"], "completed");
        assert_eq!(remembered["content"], "On it.");
        assert_eq!(
            remembered["tool_calls"][0]["function"]["name"],
            "get_weather"
        );
    }

    #[test]
    fn length_gives_response_incomplete() {
        let (events, _) = run(&[chunk(json!({"content":"x"}), json!("length"))]);
        let last = events.last().unwrap();
        assert_eq!(last.name, "response.incomplete");
        assert_eq!(
            last.data["response"]["incomplete_details"]["reason"],
            "max_output_tokens"
        );
    }

    #[test]
    fn chat_error_gives_error_and_response_failed() {
        let mut t = stream();
        let mut events = t.start();
        events.extend(t.feed(&chunk(json!({"content":"par"}), Value::Null)));
        events.extend(t.feed(&json!({"error":{"message":"tab gone","type":"upstream_error","param":null,"code":"tab_lost"}})));
        events.extend(t.feed(&chunk(json!({"content":"ignored"}), Value::Null)));
        assert!(t.is_done());
        assert_eq!(t.finish(), (vec![], None));
        check_common(&events);
        let names: Vec<_> = events.iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "error",
                "response.failed"
            ]
        );
        assert_eq!(events[5].data["code"], "tab_lost");
        assert_eq!(events[5].data["message"], "tab gone");
        assert_eq!(events[6].data["response"]["status"], "failed");
        assert_eq!(
            events[6].data["response"]["error"],
            json!({"code":"tab_lost","message":"tab gone"})
        );
    }
}
