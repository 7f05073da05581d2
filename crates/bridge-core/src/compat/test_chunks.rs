//! Chat stream chunks for the stream translators' tests.

use serde_json::{json, Value};

/// A chunk of choice 0 with this delta and finish reason.
pub(crate) fn chunk(delta: Value, finish: Value) -> Value {
    json!({"id":"c","object":"chat.completion.chunk","created":1,"model":"m",
        "choices":[{"index":0,"delta":delta,"finish_reason":finish}]})
}

/// A chunk starting tool call `index` (with no arguments yet).
pub(crate) fn call_start(index: u64, id: &str, name: &str) -> Value {
    chunk(
        json!({"tool_calls":[{"index":index,"id":id,"type":"function",
            "function":{"name":name,"arguments":""}}]}),
        Value::Null,
    )
}

/// A chunk with a piece of the arguments of tool call `index`.
pub(crate) fn call_args(index: u64, text: &str) -> Value {
    chunk(
        json!({"tool_calls":[{"index":index,"function":{"arguments":text}}]}),
        Value::Null,
    )
}

/// "Hello" as the chat pipeline streams it: role chunk, two deltas, finish `stop`, usage
/// (`prompt_tokens` and 2 completion tokens).
pub(crate) fn hello_stream(prompt_tokens: u64) -> Vec<Value> {
    vec![
        chunk(json!({"role":"assistant","content":""}), Value::Null),
        chunk(json!({"content":"Hel"}), Value::Null),
        chunk(json!({"content":"lo"}), Value::Null),
        chunk(json!({}), json!("stop")),
        json!({"id":"c","choices":[],"usage":{"prompt_tokens":prompt_tokens,
            "completion_tokens":2,"total_tokens":prompt_tokens + 2}}),
    ]
}
