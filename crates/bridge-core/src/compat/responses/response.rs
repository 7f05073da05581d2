//! The `response` object: its fixed parts ([`ResponseShell`]), output items, status and
//! usage, built from a `chat.completion` or from a finished stream.

use serde_json::{json, Map, Value};

use super::request::ResponsesRequest;
use super::{FUNCTION_ITEM_PREFIX, MESSAGE_ITEM_PREFIX, RESPONSE_ID_PREFIX};
use crate::compat::{new_id, ChatAnswer, ChatCall, ChatFinish, ChatUsage};

/// `object` of a response.
const RESPONSE_OBJECT: &str = "response";

/// Status of a response and, when incomplete, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    InProgress,
    Completed,
    Incomplete(&'static str),
    Failed,
}

impl Status {
    pub(crate) fn from_finish(finish: ChatFinish) -> Self {
        match finish {
            ChatFinish::Stop | ChatFinish::ToolCalls => Self::Completed,
            ChatFinish::Length => Self::Incomplete("max_output_tokens"),
            ChatFinish::ContentFilter => Self::Incomplete("content_filter"),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Incomplete(_) => "incomplete",
            Self::Failed => "failed",
        }
    }
}

/// What every `response` object of one request shares: id, time, model, echoed fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseShell {
    id: String,
    created_at: i64,
    model: String,
    echo: Map<String, Value>,
}

impl ResponseShell {
    /// A new response (fresh `resp_…` id) for `request`, created at `created_at` (Unix s).
    pub fn new(request: &ResponsesRequest, created_at: i64) -> Self {
        Self {
            id: new_id(RESPONSE_ID_PREFIX),
            created_at,
            model: request.model.clone(),
            echo: request.echo.clone(),
        }
    }

    /// The `resp_…` id, the key a later `previous_response_id` names.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The `response` object with this status, output and usage.
    pub(crate) fn object(
        &self,
        status: Status,
        output: &[Value],
        usage: Option<ChatUsage>,
        error: Option<Value>,
    ) -> Value {
        let mut obj = Map::new();
        obj.insert("id".into(), self.id.clone().into());
        obj.insert("object".into(), RESPONSE_OBJECT.into());
        obj.insert("created_at".into(), self.created_at.into());
        obj.insert("status".into(), status.as_str().into());
        obj.insert("error".into(), error.unwrap_or(Value::Null));
        obj.insert(
            "incomplete_details".into(),
            match status {
                Status::Incomplete(reason) => json!({"reason": reason}),
                _ => Value::Null,
            },
        );
        obj.insert("model".into(), self.model.clone().into());
        obj.insert("output".into(), Value::Array(output.to_vec()));
        obj.insert("usage".into(), usage.map_or(Value::Null, usage_json));
        obj.insert("truncation".into(), "disabled".into());
        obj.insert("store".into(), true.into());
        for (k, v) in &self.echo {
            obj.insert(k.clone(), v.clone());
        }
        Value::Object(obj)
    }

    /// The non-streamed `response` for a `chat.completion`, and the assistant message to
    /// remember for a later `previous_response_id`.
    pub fn from_completion(&self, completion: &Value) -> (Value, Value) {
        let answer = ChatAnswer::from_completion(completion);
        let mut output = Vec::new();
        if !answer.text.is_empty() {
            output.push(message_item(
                &new_id(MESSAGE_ITEM_PREFIX),
                &answer.text,
                "completed",
            ));
        }
        for call in &answer.calls {
            output.push(function_item(
                &new_id(FUNCTION_ITEM_PREFIX),
                call,
                "completed",
            ));
        }
        let response = self.object(
            Status::from_finish(answer.finish),
            &output,
            answer.usage,
            None,
        );
        (response, answer.assistant_message())
    }
}

/// `usage` of a response.
fn usage_json(u: ChatUsage) -> Value {
    json!({
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": u.prompt_tokens.saturating_add(u.completion_tokens),
    })
}

/// An `output_text` content part.
pub(crate) fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

/// An output `message` item (`content` empty while it is being streamed).
pub(crate) fn message_item(id: &str, text: &str, status: &str) -> Value {
    let content = if status == "in_progress" {
        json!([])
    } else {
        json!([text_part(text)])
    };
    json!({"id": id, "type": "message", "status": status, "role": "assistant", "content": content})
}

/// An output `function_call` item.
pub(crate) fn function_item(id: &str, call: &ChatCall, status: &str) -> Value {
    json!({"id": id, "type": "function_call", "status": status, "call_id": call.id,
        "name": call.name, "arguments": call.arguments})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compat::responses::translate_request;

    fn shell() -> ResponseShell {
        let req = translate_request(json!({"model":"gpt-x","input":"hi","instructions":"I",
            "tools":[{"type":"function","name":"f","parameters":{"type":"object"}}]}))
        .unwrap();
        ResponseShell::new(&req, 1_700_000_000)
    }

    fn completion(content: Value, calls: Value, finish: &str) -> Value {
        json!({"id":"c","object":"chat.completion","created":1,"model":"gpt-x","choices":[{"index":0,
            "message":{"role":"assistant","content":content,"tool_calls":calls},"finish_reason":finish}],
            "usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}})
    }

    #[test]
    fn text_completion_becomes_completed_response() {
        let s = shell();
        let (resp, remembered) =
            s.from_completion(&completion(json!("Hello"), Value::Null, "stop"));
        assert!(s.id().starts_with("resp_"));
        assert_eq!(resp["id"], s.id());
        assert_eq!(resp["object"], "response");
        assert_eq!(resp["created_at"], 1_700_000_000);
        assert_eq!(resp["status"], "completed");
        assert_eq!(resp["model"], "gpt-x");
        assert_eq!(resp["instructions"], "I");
        assert_eq!(resp["tool_choice"], "auto");
        assert_eq!(resp["tools"][0]["name"], "f");
        assert!(resp["error"].is_null() && resp["incomplete_details"].is_null());
        let item = &resp["output"][0];
        assert!(item["id"].as_str().unwrap().starts_with("msg_"));
        assert_eq!(item["type"], "message");
        assert_eq!(item["status"], "completed");
        assert_eq!(
            item["content"],
            json!([{"type":"output_text","text":"Hello","annotations":[],"logprobs":[]}])
        );
        assert_eq!(
            resp["usage"],
            json!({"input_tokens":9,"input_tokens_details":{"cached_tokens":0},"output_tokens":3,
                "output_tokens_details":{"reasoning_tokens":0},"total_tokens":12})
        );
        assert_eq!(remembered, json!({"role":"assistant","content":"Hello"}));
    }

    #[test]
    fn tool_calls_become_function_call_items() {
        let calls = json!([{"id":"call_7","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]);
        let (resp, remembered) =
            shell().from_completion(&completion(Value::Null, calls, "tool_calls"));
        assert_eq!(resp["output"].as_array().unwrap().len(), 1);
        let item = &resp["output"][0];
        assert!(item["id"].as_str().unwrap().starts_with("fc_"));
        assert_eq!(item["type"], "function_call");
        assert_eq!(item["call_id"], "call_7");
        assert_eq!(item["name"], "f");
        assert_eq!(item["arguments"], "{\"a\":1}");
        assert_eq!(remembered["tool_calls"][0]["id"], "call_7");
    }

    #[test]
    fn length_and_filter_are_incomplete_with_a_reason() {
        for (finish, reason) in [
            ("length", "max_output_tokens"),
            ("content_filter", "content_filter"),
        ] {
            let (resp, _) = shell().from_completion(&completion(json!("x"), Value::Null, finish));
            assert_eq!(resp["status"], "incomplete");
            assert_eq!(resp["incomplete_details"], json!({"reason": reason}));
        }
    }
}
