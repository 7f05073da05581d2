//! Responses request → chat completions request JSON, and what the `response` object echoes.

use serde_json::{json, Map, Value};

use crate::compat::fields::{
    body, copy, function_tools, object, opt_bool, req_str, str_at, unsupported, wrong_type,
};
use crate::openai::{codes, RequestError};

/// Makes the default of an echoed field.
type EchoDefault = fn() -> Value;

/// Fields a `response` object echoes from its request, with the API's defaults.
const ECHO_DEFAULTS: [(&str, EchoDefault); 6] = [
    ("instructions", || Value::Null),
    ("max_output_tokens", || Value::Null),
    ("temperature", || Value::Null),
    ("top_p", || Value::Null),
    ("tool_choice", || json!("auto")),
    ("metadata", || json!({})),
];

/// A translated Responses request.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponsesRequest {
    pub model: String,
    pub stream: bool,
    pub previous_response_id: Option<String>,
    /// `instructions`, sent as the system message of this turn only (not remembered).
    pub instructions: Option<String>,
    /// This request's `input` as chat messages.
    pub input: Vec<Value>,
    /// Chat request fields other than `messages`.
    chat_fields: Map<String, Value>,
    /// What the `response` object echoes (see [`crate::compat::responses::ResponseShell`]).
    pub(crate) echo: Map<String, Value>,
}

impl ResponsesRequest {
    /// The chat request: instructions, the remembered `history` (empty without
    /// `previous_response_id`), then this input.
    pub fn chat_request(&self, history: &[Value]) -> Value {
        let mut messages = Vec::with_capacity(history.len() + self.input.len() + 1);
        if let Some(text) = &self.instructions {
            messages.push(json!({"role": "system", "content": text}));
        }
        messages.extend(history.iter().cloned());
        messages.extend(self.input.iter().cloned());
        let mut chat = self.chat_fields.clone();
        chat.insert("messages".into(), Value::Array(messages));
        Value::Object(chat)
    }
}

/// The 400 for a `previous_response_id` this server does not remember.
pub fn previous_not_found(id: &str) -> RequestError {
    RequestError::new(
        format!(
            "Previous response with id '{id}' not found. This server keeps recent responses in \
             memory only (lost on restart, oldest dropped first)."
        ),
        Some("previous_response_id".to_owned()),
        Some("previous_response_not_found"),
    )
}

/// Translates a Responses request body.
pub fn translate_request(value: Value) -> Result<ResponsesRequest, RequestError> {
    let map = body(value)?;
    let model = req_str(&map, "model")?.to_owned();
    let stream = opt_bool(&map, "stream")?.unwrap_or(false);
    let instructions = match map.get("instructions") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()).filter(|s| !s.is_empty()),
        Some(_) => return Err(wrong_type("instructions", "a string")),
    };
    let previous_response_id = match map.get("previous_response_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(wrong_type("previous_response_id", "a string")),
    };
    let input = match map.get("input") {
        None | Some(Value::Null) => return Err(crate::compat::fields::missing("input")),
        Some(Value::String(text)) => vec![json!({"role": "user", "content": text})],
        Some(Value::Array(items)) => translate_items(items)?,
        Some(_) => return Err(wrong_type("input", "a string or an array of items")),
    };
    if input.is_empty() {
        return Err(RequestError::new(
            "'input' must contain at least one message or function call output.",
            Some("input".to_owned()),
            Some(codes::EMPTY_ARRAY),
        ));
    }

    let mut chat = Map::new();
    chat.insert("model".into(), model.clone().into());
    chat.insert("stream".into(), stream.into());
    if stream {
        chat.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(max) = map.get("max_output_tokens").filter(|v| !v.is_null()) {
        chat.insert("max_tokens".into(), max.clone());
    }
    copy(
        &map,
        &mut chat,
        &["temperature", "top_p", "parallel_tool_calls"],
    );
    if let Some(tools) = translate_tools(map.get("tools"))? {
        chat.insert("tools".into(), tools);
    }
    if let Some(choice) = map.get("tool_choice").filter(|v| !v.is_null()) {
        chat.insert("tool_choice".into(), translate_tool_choice(choice)?);
    }
    if let Some(format) = map
        .get("text")
        .and_then(|t| t.get("format"))
        .filter(|v| !v.is_null())
    {
        if let Some(rf) = translate_format(format)? {
            chat.insert("response_format".into(), rf);
        }
    }

    let mut echo = Map::new();
    for (key, default) in ECHO_DEFAULTS {
        echo.insert(
            key.into(),
            map.get(key)
                .filter(|v| !v.is_null())
                .cloned()
                .unwrap_or_else(default),
        );
    }
    echo.insert(
        "instructions".into(),
        instructions.clone().map_or(Value::Null, Value::from),
    );
    echo.insert(
        "previous_response_id".into(),
        previous_response_id
            .clone()
            .map_or(Value::Null, Value::from),
    );
    echo.insert(
        "parallel_tool_calls".into(),
        opt_bool(&map, "parallel_tool_calls")?
            .unwrap_or(true)
            .into(),
    );
    echo.insert(
        "tools".into(),
        map.get("tools")
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(|| json!([])),
    );
    echo.insert(
        "text".into(),
        map.get("text")
            .filter(|v| !v.is_null())
            .cloned()
            .unwrap_or_else(|| json!({"format": {"type": "text"}})),
    );
    Ok(ResponsesRequest {
        model,
        stream,
        previous_response_id,
        instructions,
        input,
        chat_fields: chat,
        echo,
    })
}

/// `input` items → chat messages; consecutive function calls join one assistant message.
fn translate_items(items: &[Value]) -> Result<Vec<Value>, RequestError> {
    let mut out: Vec<Value> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let param = format!("input[{i}]");
        let it = object(item, &param)?;
        let kind = match it.get("type") {
            None | Some(Value::Null) => "message",
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(wrong_type(&format!("{param}.type"), "a string")),
        };
        match kind {
            "message" => out.push(message_item(it, &param)?),
            "function_call" => {
                let call = json!({
                    "id": str_at(it, "call_id", &param)?,
                    "type": "function",
                    "function": {"name": str_at(it, "name", &param)?, "arguments": arguments_text(it.get("arguments"))},
                });
                match out.last_mut().and_then(Value::as_object_mut) {
                    Some(last) if last.get("role").and_then(Value::as_str) == Some("assistant") => {
                        let calls = last.entry("tool_calls").or_insert_with(|| json!([]));
                        if let Some(calls) = calls.as_array_mut() {
                            calls.push(call);
                        }
                    }
                    _ => out.push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
                }
            }
            "function_call_output" => out.push(json!({
                "role": "tool",
                "tool_call_id": str_at(it, "call_id", &param)?,
                "content": output_text(it.get("output"), &format!("{param}.output"))?,
            })),
            // Reasoning items of an earlier turn carry nothing to send upstream.
            "reasoning" => {}
            other => {
                return Err(unsupported(
                    &format!("{param}.type"),
                    format!("Input item type '{other}' is not supported (message, function_call and function_call_output are)."),
                ))
            }
        }
    }
    Ok(out)
}

/// Arguments of a `function_call` item: a JSON string, or an object from lenient clients.
fn arguments_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "{}".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// A `message` item (`role`, `content` string or parts) → a chat message.
fn message_item(item: &Map<String, Value>, param: &str) -> Result<Value, RequestError> {
    let role = str_at(item, "role", param)?;
    if !matches!(role, "user" | "assistant" | "system" | "developer") {
        return Err(unsupported(
            &format!("{param}.role"),
            format!("Invalid '{param}.role': '{role}'. Supported values are 'user', 'assistant', 'system' and 'developer'."),
        ));
    }
    let parts = match item.get("content") {
        None | Some(Value::Null) => {
            return Err(crate::compat::fields::missing(&format!("{param}.content")))
        }
        Some(Value::String(text)) => return Ok(json!({"role": role, "content": text})),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(wrong_type(
                &format!("{param}.content"),
                "a string or an array",
            ))
        }
    };
    let mut out = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let pparam = format!("{param}.content[{i}]");
        let p = object(part, &pparam)?;
        match str_at(p, "type", &pparam)? {
            "input_text" | "output_text" | "text" => {
                out.push(json!({"type": "text", "text": str_at(p, "text", &pparam)?}));
            }
            "refusal" => out.push(json!({"type": "text", "text": str_at(p, "refusal", &pparam)?})),
            "input_image" if role == "user" => {
                let url = match p.get("image_url") {
                    Some(Value::String(url)) => url,
                    _ => {
                        return Err(unsupported(
                            &format!("{pparam}.image_url"),
                            "Only input_image parts with an image_url (https or data URL) are supported; file_id needs the Files API.",
                        ))
                    }
                };
                let mut image = Map::new();
                image.insert("url".into(), url.clone().into());
                copy(p, &mut image, &["detail"]);
                out.push(json!({"type": "image_url", "image_url": image}));
            }
            other => {
                return Err(unsupported(
                    &format!("{pparam}.type"),
                    format!("Content part type '{other}' is not supported in a {role} message."),
                ))
            }
        }
    }
    // Non-user roles take plain text in every chat client; join their parts.
    if role != "user" {
        let text: Vec<&str> = out.iter().filter_map(|p| p["text"].as_str()).collect();
        return Ok(json!({"role": role, "content": text.join("\n")}));
    }
    Ok(json!({"role": role, "content": out}))
}

/// `output` of a `function_call_output`: a string or text parts.
fn output_text(value: Option<&Value>, param: &str) -> Result<String, RequestError> {
    match value {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                let pparam = format!("{param}[{i}]");
                texts.push(str_at(object(part, &pparam)?, "text", &pparam)?.to_owned());
            }
            Ok(texts.join("\n"))
        }
        Some(_) => Err(wrong_type(param, "a string or an array of text parts")),
    }
}

/// Flat function tools → chat function tools.
fn translate_tools(value: Option<&Value>) -> Result<Option<Value>, RequestError> {
    function_tools(value, |t, param| {
        let kind = str_at(t, "type", param)?;
        if kind != "function" {
            return Err(unsupported(
                &format!("{param}.type"),
                format!("Tool type '{kind}' is not supported; only function tools are emulated."),
            ));
        }
        let mut function = Map::new();
        function.insert("name".into(), str_at(t, "name", param)?.into());
        copy(t, &mut function, &["description", "parameters", "strict"]);
        Ok(function)
    })
}

/// `tool_choice`: the strings pass; `{"type":"function","name"}` becomes the chat shape.
fn translate_tool_choice(value: &Value) -> Result<Value, RequestError> {
    match value {
        Value::String(_) => Ok(value.clone()),
        Value::Object(c) => match str_at(c, "type", "tool_choice")? {
            "function" => Ok(json!({"type": "function", "function": {"name": str_at(c, "name", "tool_choice")?}})),
            other => Err(unsupported(
                "tool_choice.type",
                format!("tool_choice type '{other}' is not supported (only function tools are emulated)."),
            )),
        },
        _ => Err(wrong_type("tool_choice", "a string or an object")),
    }
}

/// `text.format` → chat `response_format`.
fn translate_format(format: &Value) -> Result<Option<Value>, RequestError> {
    let f = object(format, "text.format")?;
    Ok(match str_at(f, "type", "text.format")? {
        "text" => None,
        "json_object" => Some(json!({"type": "json_object"})),
        "json_schema" => {
            let mut schema = Map::new();
            copy(f, &mut schema, &["name", "schema", "strict", "description"]);
            Some(json!({"type": "json_schema", "json_schema": schema}))
        }
        other => {
            return Err(unsupported(
                "text.format.type",
                format!("Invalid 'text.format.type': '{other}'. Supported values are 'text', 'json_object' and 'json_schema'."),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_input_with_instructions_and_options() {
        let req = translate_request(json!({"model":"gpt-x","input":"Hi","instructions":"Be terse",
            "max_output_tokens":64,"temperature":0.5,"stream":true,"text":{"format":{"type":"json_object"}}}))
        .unwrap();
        assert!(req.stream);
        assert_eq!(
            req.chat_request(&[]),
            json!({"model":"gpt-x","stream":true,"stream_options":{"include_usage":true},"max_tokens":64,
                "temperature":0.5,"response_format":{"type":"json_object"},
                "messages":[{"role":"system","content":"Be terse"},{"role":"user","content":"Hi"}]})
        );
        assert_eq!(req.echo["instructions"], "Be terse");
        assert_eq!(req.echo["tool_choice"], "auto");
        assert_eq!(req.echo["parallel_tool_calls"], true);
        assert_eq!(req.echo["tools"], json!([]));
    }

    #[test]
    fn items_become_messages_calls_and_tool_results() {
        let req = translate_request(json!({"model":"m","input":[
            {"role":"developer","content":"rules"},
            {"type":"message","role":"user","content":[{"type":"input_text","text":"What is this?"},
                {"type":"input_image","image_url":"data:image/png;base64,AA","detail":"low"}]},
            {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Checking.","annotations":[]}]},
            {"type":"function_call","call_id":"call_1","name":"look","arguments":"{\"x\":1}"},
            {"type":"function_call","call_id":"call_2","name":"look","arguments":{"x":2}},
            {"type":"reasoning","id":"rs_1","summary":[]},
            {"type":"function_call_output","call_id":"call_1","output":"a cat"},
            {"type":"function_call_output","call_id":"call_2","output":[{"type":"input_text","text":"a dog"}]}
        ],"tools":[{"type":"function","name":"look","description":"d","parameters":{"type":"object"},"strict":true}],
          "tool_choice":{"type":"function","name":"look"}}))
        .unwrap();
        let chat = req.chat_request(&[json!({"role":"user","content":"earlier"})]);
        assert_eq!(
            chat["messages"],
            json!([
                {"role":"user","content":"earlier"},
                {"role":"developer","content":"rules"},
                {"role":"user","content":[{"type":"text","text":"What is this?"},
                    {"type":"image_url","image_url":{"url":"data:image/png;base64,AA","detail":"low"}}]},
                {"role":"assistant","content":"Checking.","tool_calls":[
                    {"id":"call_1","type":"function","function":{"name":"look","arguments":"{\"x\":1}"}},
                    {"id":"call_2","type":"function","function":{"name":"look","arguments":"{\"x\":2}"}}]},
                {"role":"tool","tool_call_id":"call_1","content":"a cat"},
                {"role":"tool","tool_call_id":"call_2","content":"a dog"}
            ])
        );
        assert_eq!(
            chat["tools"],
            json!([{"type":"function","function":{"name":"look","description":"d","parameters":{"type":"object"},"strict":true}}])
        );
        assert_eq!(
            chat["tool_choice"],
            json!({"type":"function","function":{"name":"look"}})
        );
    }

    #[test]
    fn bad_requests_name_the_field() {
        let table = [
            (json!({"input":"x"}), "model"),
            (json!({"model":"m"}), "input"),
            (json!({"model":"m","input":[]}), "input"),
            (json!({"model":"m","input":7}), "input"),
            (
                json!({"model":"m","input":[{"role":"tool","content":"x"}]}),
                "input[0].role",
            ),
            (
                json!({"model":"m","input":[{"type":"item_reference","id":"x"}]}),
                "input[0].type",
            ),
            (
                json!({"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]}),
                "input[0].content[0].type",
            ),
            (
                json!({"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"f"}]}]}),
                "input[0].content[0].image_url",
            ),
            (
                json!({"model":"m","input":[{"type":"function_call_output","output":"x"}]}),
                "input[0].call_id",
            ),
            (
                json!({"model":"m","input":"x","tools":[{"type":"web_search"}]}),
                "tools[0].type",
            ),
            (
                json!({"model":"m","input":"x","text":{"format":{"type":"xml"}}}),
                "text.format.type",
            ),
            (
                json!({"model":"m","input":"x","previous_response_id":5}),
                "previous_response_id",
            ),
        ];
        for (body, param) in table {
            let e = translate_request(body.clone()).unwrap_err();
            assert_eq!(e.param.as_deref(), Some(param), "{body}");
        }
        assert_eq!(
            previous_not_found("resp_1").code.as_deref(),
            Some("previous_response_not_found")
        );
    }
}
