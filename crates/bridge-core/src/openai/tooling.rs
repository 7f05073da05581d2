//! Serializing the tool fields of a parsed chat request back into OpenAI's shapes, so a
//! [`super::ChatCompletionRequest`] round-trips through serde.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::Serializer;
use serde_json::{json, Value};

use crate::tools::{AssistantToolCall, ToolChoice, ToolSet};

const FUNCTION: &str = "function";

/// `tools`, `tool_choice`, `parallel_tool_calls` as top-level keys (flattened); nothing when
/// the request had no tools and the defaults.
pub(super) fn serialize_tool_set<S: Serializer>(set: &ToolSet, s: S) -> Result<S::Ok, S::Error> {
    let mut map = s.serialize_map(None)?;
    if !set.tools().is_empty() {
        let tools: Vec<Value> = set
            .tools()
            .iter()
            .map(|t| {
                let mut function = json!({"name": t.name(), "parameters": t.parameters()});
                if let Some(d) = t.description() {
                    function["description"] = Value::from(d);
                }
                json!({"type": FUNCTION, "function": function})
            })
            .collect();
        map.serialize_entry("tools", &tools)?;
    }
    match set.choice() {
        ToolChoice::Auto => {}
        ToolChoice::None => map.serialize_entry("tool_choice", "none")?,
        ToolChoice::Required => map.serialize_entry("tool_choice", "required")?,
        ToolChoice::Function(name) => map.serialize_entry(
            "tool_choice",
            &json!({"type": FUNCTION, "function": {"name": name}}),
        )?,
    }
    if !set.parallel() {
        map.serialize_entry("parallel_tool_calls", &false)?;
    }
    map.end()
}

/// An assistant turn's `tool_calls` in OpenAI's shape.
pub(super) fn serialize_calls<S: Serializer>(
    calls: &[AssistantToolCall],
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut seq = s.serialize_seq(Some(calls.len()))?;
    for call in calls {
        seq.serialize_element(&json!({
            "id": call.id,
            "type": FUNCTION,
            "function": {"name": call.name, "arguments": call.arguments},
        }))?;
    }
    seq.end()
}
