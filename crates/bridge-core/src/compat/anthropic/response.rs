//! `chat.completion` → Anthropic `message` object; stop sequences cut by the translator (so
//! it can say which one matched); the Anthropic error body.

use serde_json::{json, Value};

use super::{MESSAGE_ID_PREFIX, MESSAGE_TYPE};
use crate::compat::{new_id, ChatAnswer, ChatFinish, ChatUsage};
use crate::openai::RequestError;
use crate::stop::{StopError, StopMatcher};

/// `stop_reason` of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
    Refusal,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EndTurn => "end_turn",
            Self::MaxTokens => "max_tokens",
            Self::StopSequence => "stop_sequence",
            Self::ToolUse => "tool_use",
            Self::Refusal => "refusal",
        }
    }

    pub(crate) fn from_chat(finish: ChatFinish, stopped: bool) -> Self {
        match finish {
            _ if stopped => Self::StopSequence,
            ChatFinish::Stop => Self::EndTurn,
            ChatFinish::Length => Self::MaxTokens,
            ChatFinish::ToolCalls => Self::ToolUse,
            ChatFinish::ContentFilter => Self::Refusal,
        }
    }
}

/// `usage` of a message or a `message_delta`.
pub(crate) fn usage_json(usage: Option<ChatUsage>) -> Value {
    let u = usage.unwrap_or_default();
    json!({"input_tokens": u.prompt_tokens, "output_tokens": u.completion_tokens})
}

/// Stop sequences over the answer text, remembering which sequence matched.
#[derive(Debug)]
pub(crate) struct StopCut {
    sequences: Vec<String>,
    matcher: StopMatcher,
    /// Text fed so far, as the model wrote it (needed to name the matched sequence).
    raw: String,
    /// Length of the text released so far.
    released: usize,
    matched: Option<String>,
}

impl StopCut {
    pub(crate) fn new(sequences: &[String]) -> Result<Self, RequestError> {
        let matcher = StopMatcher::new(sequences).map_err(|e: StopError| {
            crate::compat::fields::unsupported("stop_sequences", e.to_string())
        })?;
        Ok(Self {
            sequences: sequences.to_vec(),
            matcher,
            raw: String::new(),
            released: 0,
            matched: None,
        })
    }

    /// Feeds answer text; returns what may be shown now.
    pub(crate) fn feed(&mut self, text: &str) -> String {
        if self.matched.is_some() {
            return String::new();
        }
        self.raw.push_str(text);
        let step = self.matcher.feed(text);
        self.released += step.text.len();
        if step.stopped {
            // The match starts right after the released text and is the shortest sequence
            // there (the matcher picks the match that ends first).
            let rest = self.raw.get(self.released..).unwrap_or_default();
            self.matched = self
                .sequences
                .iter()
                .filter(|s| !s.is_empty() && rest.starts_with(s.as_str()))
                .min_by_key(|s| s.len())
                .cloned()
                .or_else(|| Some(String::new()));
        }
        step.text
    }

    /// The held-back tail at the end of the answer.
    pub(crate) fn finish(&mut self) -> String {
        self.matcher.finish()
    }

    /// The sequence that matched, once one did.
    pub(crate) fn matched(&self) -> Option<&str> {
        self.matched.as_deref()
    }
}

/// A non-streamed `message` from a `chat.completion`.
pub fn message_from_completion(
    completion: &Value,
    model: &str,
    stop_sequences: &[String],
) -> Result<Value, RequestError> {
    let answer = ChatAnswer::from_completion(completion);
    let mut cut = StopCut::new(stop_sequences)?;
    let mut text = cut.feed(&answer.text);
    text.push_str(&cut.finish());
    let stopped = cut.matched().is_some();
    let mut content = Vec::new();
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    if !stopped {
        for call in &answer.calls {
            content.push(json!({"type": "tool_use", "id": call.id, "name": call.name,
                "input": call.arguments_object()}));
        }
    }
    let finish = if stopped || !answer.calls.is_empty() || answer.finish != ChatFinish::ToolCalls {
        answer.finish
    } else {
        ChatFinish::Stop
    };
    Ok(json!({
        "id": new_id(MESSAGE_ID_PREFIX),
        "type": MESSAGE_TYPE,
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": StopReason::from_chat(finish, stopped).as_str(),
        "stop_sequence": cut.matched(),
        "usage": usage_json(answer.usage),
    }))
}

/// Anthropic error `type`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    RequestTooLarge,
    RateLimit,
    Api,
    Timeout,
    Overloaded,
}

impl ErrorKind {
    /// The kind Anthropic uses for an HTTP status.
    pub fn from_status(status: u16) -> Self {
        match status {
            401 => Self::Authentication,
            403 => Self::Permission,
            404 => Self::NotFound,
            413 => Self::RequestTooLarge,
            429 => Self::RateLimit,
            503 | 529 => Self::Overloaded,
            504 => Self::Timeout,
            400..=499 => Self::InvalidRequest,
            _ => Self::Api,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request_error",
            Self::Authentication => "authentication_error",
            Self::Permission => "permission_error",
            Self::NotFound => "not_found_error",
            Self::RequestTooLarge => "request_too_large",
            Self::RateLimit => "rate_limit_error",
            Self::Api => "api_error",
            Self::Timeout => "timeout_error",
            Self::Overloaded => "overloaded_error",
        }
    }
}

/// `{"type":"error","error":{"type","message"}}` for an HTTP status (the body of an error
/// answer, and the data of a stream `error` event).
pub fn error_body(kind: ErrorKind, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind.as_str(), "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn completion(content: Value, calls: Value, finish: &str) -> Value {
        json!({"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m",
            "choices":[{"index":0,"message":{"role":"assistant","content":content,"tool_calls":calls},
            "finish_reason":finish}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}})
    }

    fn without_id(mut v: Value) -> Value {
        let id = v["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("msg_") && id.len() == 28, "{id}");
        v.as_object_mut().unwrap().remove("id");
        v
    }

    #[test]
    fn text_answer_becomes_message() {
        let msg = message_from_completion(
            &completion(json!("Hello"), Value::Null, "stop"),
            "claude-x",
            &[],
        )
        .unwrap();
        assert_eq!(
            without_id(msg),
            json!({"type":"message","role":"assistant","model":"claude-x",
                "content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","stop_sequence":null,
                "usage":{"input_tokens":11,"output_tokens":7}})
        );
    }

    #[test]
    fn tool_calls_become_tool_use_blocks_with_object_input() {
        let calls = json!([{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]);
        let msg = message_from_completion(
            &completion(json!("Checking."), calls, "tool_calls"),
            "m",
            &[],
        )
        .unwrap();
        assert_eq!(
            msg["content"],
            json!([{"type":"text","text":"Checking."},
                {"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Paris"}}])
        );
        assert_eq!(msg["stop_reason"], "tool_use");
    }

    #[test]
    fn finish_reasons_map_to_stop_reasons() {
        for (finish, want) in [
            ("stop", "end_turn"),
            ("length", "max_tokens"),
            ("content_filter", "refusal"),
        ] {
            let msg =
                message_from_completion(&completion(json!("x"), Value::Null, finish), "m", &[])
                    .unwrap();
            assert_eq!(msg["stop_reason"], want, "{finish}");
        }
    }

    #[test]
    fn stop_sequence_cuts_text_and_is_named() {
        let seqs = vec!["ZZZ".to_owned(), "END".to_owned(), "EN".to_owned()];
        let msg = message_from_completion(
            &completion(json!("one ENDtwo"), Value::Null, "stop"),
            "m",
            &seqs,
        )
        .unwrap();
        assert_eq!(msg["content"], json!([{"type":"text","text":"one "}]));
        assert_eq!(msg["stop_reason"], "stop_sequence");
        assert_eq!(msg["stop_sequence"], "EN");
    }

    #[test]
    fn stop_cut_names_a_match_split_across_deltas() {
        let mut cut = StopCut::new(&["<END>".to_owned()]).unwrap();
        let mut out = cut.feed("abc<E");
        out.push_str(&cut.feed("ND>tail"));
        assert_eq!(out, "abc");
        assert_eq!(cut.matched(), Some("<END>"));
        assert_eq!(cut.feed("more"), "");
    }

    #[test]
    fn statuses_map_to_error_kinds() {
        let table = [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (502, "api_error"),
            (503, "overloaded_error"),
            (504, "timeout_error"),
            (422, "invalid_request_error"),
        ];
        for (status, want) in table {
            assert_eq!(ErrorKind::from_status(status).as_str(), want, "{status}");
        }
        assert_eq!(
            error_body(ErrorKind::NotFound, "no such model"),
            json!({"type":"error","error":{"type":"not_found_error","message":"no such model"}})
        );
    }
}
