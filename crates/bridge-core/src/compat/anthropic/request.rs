//! Anthropic Messages request → chat completions request JSON.

use serde_json::{json, Map, Value};

use crate::compat::fields::{
    self, body, copy, function_tools, missing, object, opt_bool, req_str, str_at, unsupported,
    wrong_type,
};
use crate::compat::{assistant_message, ChatCall};
use crate::openai::RequestError;

/// `max_tokens` when a client leaves it out (the Messages API requires it; lenient clients
/// and proxies do forget it).
pub const DEFAULT_MAX_TOKENS: u64 = 400;

/// A translated Messages request.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagesRequest {
    /// The chat completions request for the chat pipeline (without `stop`: the stop
    /// sequences are cut by the translator, which must say which one matched).
    pub chat: Value,
    pub model: String,
    pub stream: bool,
    pub stop_sequences: Vec<String>,
}

/// Translates a Messages request body.
pub fn translate_request(value: Value) -> Result<MessagesRequest, RequestError> {
    let map = body(value)?;
    let model = req_str(&map, "model")?.to_owned();
    let stream = opt_bool(&map, "stream")?.unwrap_or(false);
    let max_tokens = match map.get("max_tokens") {
        None | Some(Value::Null) => DEFAULT_MAX_TOKENS,
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| wrong_type("max_tokens", "a positive integer"))?,
    };
    let stop_sequences = match map.get("stop_sequences") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| wrong_type(&format!("stop_sequences[{i}]"), "a string"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(wrong_type("stop_sequences", "an array of strings")),
    };

    let mut messages = Vec::new();
    if let Some(system) = system_text(map.get("system"))? {
        messages.push(json!({"role": "system", "content": system}));
    }
    let items = match map.get("messages") {
        None | Some(Value::Null) => return Err(missing("messages")),
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => {
            return Err(unsupported(
                "messages",
                "'messages' must contain at least one message.",
            ))
        }
        Some(_) => return Err(wrong_type("messages", "an array")),
    };
    for (i, item) in items.iter().enumerate() {
        translate_message(item, &format!("messages[{i}]"), &mut messages)?;
    }

    let mut chat = Map::new();
    chat.insert("model".into(), model.clone().into());
    chat.insert("messages".into(), Value::Array(messages));
    chat.insert("stream".into(), stream.into());
    if stream {
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    chat.insert("max_tokens".into(), max_tokens.into());
    copy(&map, &mut chat, &["temperature", "top_p"]);
    if let Some(tools) = translate_tools(map.get("tools"))? {
        chat.insert("tools".into(), tools);
    }
    if let Some(choice) = map.get("tool_choice").filter(|v| !v.is_null()) {
        let (choice, parallel) = translate_tool_choice(choice)?;
        chat.insert("tool_choice".into(), choice);
        if let Some(parallel) = parallel {
            chat.insert("parallel_tool_calls".into(), parallel.into());
        }
    }
    Ok(MessagesRequest {
        chat: Value::Object(chat),
        model,
        stream,
        stop_sequences,
    })
}

/// `system`: a string or a list of text blocks.
fn system_text(value: Option<&Value>) -> Result<Option<String>, RequestError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone()).filter(|s| !s.is_empty())),
        Some(Value::Array(blocks)) => {
            let mut parts = Vec::new();
            for (i, block) in blocks.iter().enumerate() {
                let param = format!("system[{i}]");
                let block = object(block, &param)?;
                parts.push(str_at(block, "text", &param)?.to_owned());
            }
            Ok(Some(parts.join("\n\n")).filter(|s| !s.is_empty()))
        }
        Some(_) => Err(wrong_type("system", "a string or an array of text blocks")),
    }
}

/// One Messages API message → chat messages (a user turn with tool results becomes `tool`
/// messages first, then the user's own content).
fn translate_message(item: &Value, param: &str, out: &mut Vec<Value>) -> Result<(), RequestError> {
    let msg = object(item, param)?;
    let role = str_at(msg, "role", param)?;
    let assistant = match role {
        "user" => false,
        "assistant" => true,
        other => {
            return Err(unsupported(
                &format!("{param}.role"),
                format!(
                "Invalid '{param}.role': '{other}'. Supported values are 'user' and 'assistant'."
            ),
            ))
        }
    };
    let blocks = match msg.get("content") {
        None | Some(Value::Null) => return Err(missing(&format!("{param}.content"))),
        Some(Value::String(text)) => {
            out.push(json!({"role": role, "content": text}));
            return Ok(());
        }
        Some(Value::Array(blocks)) => blocks,
        Some(_) => {
            return Err(wrong_type(
                &format!("{param}.content"),
                "a string or an array",
            ))
        }
    };
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut calls = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let bparam = format!("{param}.content[{i}]");
        let b = object(block, &bparam)?;
        match str_at(b, "type", &bparam)? {
            "text" => {
                let t = str_at(b, "text", &bparam)?;
                if assistant {
                    text.push_str(t);
                } else {
                    parts.push(json!({"type": "text", "text": t}));
                }
            }
            "image" if !assistant => parts.push(image_part(b, &bparam)?),
            "tool_use" if assistant => {
                let input = b.get("input").cloned().unwrap_or_else(|| json!({}));
                calls.push(ChatCall {
                    id: str_at(b, "id", &bparam)?.to_owned(),
                    name: str_at(b, "name", &bparam)?.to_owned(),
                    arguments: input.to_string(),
                });
            }
            "tool_result" if !assistant => out.push(json!({
                "role": "tool",
                "tool_call_id": str_at(b, "tool_use_id", &bparam)?,
                "content": tool_result_text(b, &bparam)?,
            })),
            // The model's own reasoning of an earlier turn: nothing to send upstream.
            "thinking" | "redacted_thinking" if assistant => {}
            other => {
                return Err(unsupported(
                    &format!("{bparam}.type"),
                    format!("Content block type '{other}' is not supported in a {role} message."),
                ))
            }
        }
    }
    if assistant {
        out.push(assistant_message(&text, &calls));
    } else if !parts.is_empty() {
        out.push(json!({"role": "user", "content": parts}));
    }
    Ok(())
}

/// An image block (`source` base64 or url) → an `image_url` part.
fn image_part(block: &Map<String, Value>, param: &str) -> Result<Value, RequestError> {
    let sparam = format!("{param}.source");
    let source = object(block.get("source").unwrap_or(&Value::Null), &sparam)?;
    let url = match str_at(source, "type", &sparam)? {
        "base64" => format!(
            "data:{};base64,{}",
            str_at(source, "media_type", &sparam)?,
            str_at(source, "data", &sparam)?
        ),
        "url" => str_at(source, "url", &sparam)?.to_owned(),
        other => {
            return Err(unsupported(
                &format!("{sparam}.type"),
                format!("Image source type '{other}' is not supported (use 'base64' or 'url')."),
            ))
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// The text of a `tool_result` (`content` string or text blocks; `is_error` is said in words).
fn tool_result_text(block: &Map<String, Value>, param: &str) -> Result<String, RequestError> {
    let mut text = match block.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                let pparam = format!("{param}.content[{i}]");
                let p = object(part, &pparam)?;
                match str_at(p, "type", &pparam)? {
                    "text" => texts.push(str_at(p, "text", &pparam)?.to_owned()),
                    other => {
                        return Err(unsupported(
                            &format!("{pparam}.type"),
                            format!("Only text is supported inside a tool_result, not '{other}'."),
                        ))
                    }
                }
            }
            texts.join("\n")
        }
        Some(_) => {
            return Err(wrong_type(
                &format!("{param}.content"),
                "a string or an array",
            ))
        }
    };
    if fields::opt_bool(block, "is_error")?.unwrap_or(false) {
        text.insert_str(0, "Error: ");
    }
    Ok(text)
}

/// `tools` (`{name, description, input_schema}`) → OpenAI function tools.
fn translate_tools(value: Option<&Value>) -> Result<Option<Value>, RequestError> {
    function_tools(value, |t, param| {
        if let Some(kind) = t
            .get("type")
            .and_then(Value::as_str)
            .filter(|k| *k != "custom")
        {
            return Err(unsupported(
                &format!("{param}.type"),
                format!("Server tool '{kind}' is not supported; only client tools (name, input_schema) are emulated."),
            ));
        }
        let mut function = Map::new();
        function.insert("name".into(), str_at(t, "name", param)?.into());
        copy(t, &mut function, &["description"]);
        if let Some(schema) = t.get("input_schema").filter(|v| !v.is_null()) {
            function.insert("parameters".into(), schema.clone());
        }
        Ok(function)
    })
}

/// `tool_choice` → OpenAI `tool_choice` and `parallel_tool_calls`.
fn translate_tool_choice(value: &Value) -> Result<(Value, Option<bool>), RequestError> {
    let c = object(value, "tool_choice")?;
    let parallel = fields::opt_bool(c, "disable_parallel_tool_use")?.map(|d| !d);
    let choice = match str_at(c, "type", "tool_choice")? {
        "auto" => json!("auto"),
        "any" => json!("required"),
        "none" => json!("none"),
        "tool" => json!({"type": "function", "function": {"name": str_at(c, "name", "tool_choice")?}}),
        other => {
            return Err(unsupported(
                "tool_choice.type",
                format!("Invalid 'tool_choice.type': '{other}'. Supported values are 'auto', 'any', 'tool' and 'none'."),
            ))
        }
    };
    Ok((choice, parallel))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(body: Value) -> Value {
        translate_request(body).unwrap().chat
    }

    fn err_param(body: Value) -> Option<String> {
        translate_request(body).unwrap_err().param
    }

    #[test]
    fn simple_request_gets_system_and_default_max_tokens() {
        let out = translate_request(json!({"model":"m","system":"be brief",
            "messages":[{"role":"user","content":"hi"}],"stop_sequences":["END"],"temperature":0.2}))
        .unwrap();
        assert_eq!(out.stop_sequences, vec!["END".to_owned()]);
        assert!(!out.stream);
        assert_eq!(
            out.chat,
            json!({"model":"m","stream":false,"max_tokens":400,"temperature":0.2,"messages":[
                {"role":"system","content":"be brief"},{"role":"user","content":"hi"}]})
        );
    }

    #[test]
    fn blocks_images_tool_use_and_results_become_chat_messages() {
        let out = chat(json!({"model":"m","max_tokens":50,"stream":true,
            "system":[{"type":"text","text":"a"},{"type":"text","text":"b"}],
            "messages":[
              {"role":"user","content":[{"type":"text","text":"look"},
                {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAA"}},
                {"type":"image","source":{"type":"url","url":"https://x/i.png"}}]},
              {"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"s"},
                {"type":"text","text":"Let me check."},
                {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"sunny"}]},
                {"type":"tool_result","tool_use_id":"toolu_2","content":"down","is_error":true},
                {"type":"text","text":"thanks"}]}]}));
        assert_eq!(
            out["messages"],
            json!([
              {"role":"system","content":"a\n\nb"},
              {"role":"user","content":[{"type":"text","text":"look"},
                {"type":"image_url","image_url":{"url":"data:image/png;base64,AAA"}},
                {"type":"image_url","image_url":{"url":"https://x/i.png"}}]},
              {"role":"assistant","content":"Let me check.","tool_calls":[{"id":"toolu_1","type":"function",
                "function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
              {"role":"tool","tool_call_id":"toolu_1","content":"sunny"},
              {"role":"tool","tool_call_id":"toolu_2","content":"Error: down"},
              {"role":"user","content":[{"type":"text","text":"thanks"}]}
            ])
        );
        assert_eq!(out["stream_options"], json!({"include_usage":true}));
        assert_eq!(out["max_tokens"], json!(50));
    }

    #[test]
    fn tools_and_tool_choice_become_openai_shapes() {
        let table = [
            (json!({"type":"auto"}), json!("auto"), None),
            (
                json!({"type":"any","disable_parallel_tool_use":true}),
                json!("required"),
                Some(false),
            ),
            (json!({"type":"none"}), json!("none"), None),
            (
                json!({"type":"tool","name":"f"}),
                json!({"type":"function","function":{"name":"f"}}),
                None,
            ),
        ];
        for (choice, want, parallel) in table {
            let out = chat(
                json!({"model":"m","messages":[{"role":"user","content":"x"}],
                "tools":[{"name":"f","description":"d","input_schema":{"type":"object"}}],"tool_choice":choice}),
            );
            assert_eq!(out["tool_choice"], want);
            assert_eq!(
                out.get("parallel_tool_calls").and_then(Value::as_bool),
                parallel
            );
            assert_eq!(
                out["tools"],
                json!([{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"}}}])
            );
        }
    }

    #[test]
    fn bad_requests_name_the_field() {
        let table = [
            (json!({"messages":[]}), "model"),
            (json!({"model":"m"}), "messages"),
            (json!({"model":"m","messages":[]}), "messages"),
            (
                json!({"model":"m","messages":[{"role":"system","content":"x"}]}),
                "messages[0].role",
            ),
            (
                json!({"model":"m","messages":[{"role":"user","content":[{"type":"document"}]}]}),
                "messages[0].content[0].type",
            ),
            (
                json!({"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"file"}}]}]}),
                "messages[0].content[0].source.type",
            ),
            (
                json!({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]}),
                "max_tokens",
            ),
            (
                json!({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}),
                "tools[0].type",
            ),
            (
                json!({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"maybe"}}),
                "tool_choice.type",
            ),
            (
                json!({"model":"m","messages":[{"role":"user","content":"x"}],"stop_sequences":[1]}),
                "stop_sequences[0]",
            ),
        ];
        for (body, param) in table {
            assert_eq!(err_param(body.clone()).as_deref(), Some(param), "{body}");
        }
    }
}
