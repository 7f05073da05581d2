//! What the model is told: the tools block for the upstream prompt, and the history folded
//! into text (assistant calls as `<tool_call>` blocks, tool results as `<tool_result>` blocks)
//! so the model sees the whole call → result loop. Output is deterministic.

use std::collections::HashMap;

use serde_json::Value;

use super::call::AssistantToolCall;
use super::spec::{ToolChoice, ToolSet};

/// Opens and closes the block describing the tools.
pub const TOOLS_OPEN: &str = "<tools>";
pub const TOOLS_CLOSE: &str = "</tools>";
/// Wraps one call in the model's answer (and in folded history).
pub const TOOL_CALL_OPEN: &str = "<tool_call>";
pub const TOOL_CALL_CLOSE: &str = "</tool_call>";
/// Wraps one tool result in folded history; the open tag carries `id` and `name`.
pub const TOOL_RESULT_OPEN: &str = "<tool_result";
pub const TOOL_RESULT_CLOSE: &str = "</tool_result>";

const INTRO: &str =
    "You can call functions (tools) to answer. Each is described below as one JSON \
object with its name, description and the JSON schema of its arguments:";
const CALL_FORMAT: &str = "To call a function, write exactly this, with the arguments as a JSON \
object that matches the function's schema:";
const CALL_EXAMPLE: &str = r#"{"name": "<function name>", "arguments": {<arguments>}}"#;
const RULE_AUTO: &str = "- Call a function only when it helps; otherwise answer normally, \
without any tool_call block.";
const RULE_REQUIRED: &str = "- You must call at least one function in this answer.";
const RULE_PARALLEL: &str =
    "- You may call several functions at once: write one tool_call block per call.";
const RULE_SINGLE: &str = "- Call at most one function in this answer.";
const RULE_WAIT: &str = "- After your call(s), stop: the results come back in tool_result \
blocks. Never write a tool_result yourself, and do not describe the call in prose instead of \
making it.";

/// The tools block for the upstream prompt, or `None` when the model must not call anything
/// (no tools, or `tool_choice: none`: the tools are then not described at all).
pub fn tools_prompt(tools: &ToolSet) -> Option<String> {
    if !tools.calls_enabled() {
        return None;
    }
    let mut out = String::new();
    out.push_str(INTRO);
    out.push('\n');
    out.push_str(TOOLS_OPEN);
    out.push('\n');
    for tool in tools.tools() {
        out.push_str(&describe(
            tool.name(),
            tool.description(),
            tool.parameters(),
        ));
        out.push('\n');
    }
    out.push_str(TOOLS_CLOSE);
    out.push_str("\n\n");
    out.push_str(CALL_FORMAT);
    out.push('\n');
    out.push_str(&format!("{TOOL_CALL_OPEN}{CALL_EXAMPLE}{TOOL_CALL_CLOSE}"));
    out.push_str("\nRules:\n");
    let choice_rule = match tools.choice() {
        ToolChoice::Auto | ToolChoice::None => RULE_AUTO.to_owned(),
        ToolChoice::Required => RULE_REQUIRED.to_owned(),
        ToolChoice::Function(name) => format!(
            "- You must call the function {} in this answer, and no other function.",
            json_string(name)
        ),
    };
    out.push_str(&choice_rule);
    out.push('\n');
    out.push_str(if tools.parallel() {
        RULE_PARALLEL
    } else {
        RULE_SINGLE
    });
    out.push('\n');
    out.push_str(RULE_WAIT);
    Some(out)
}

/// One tool as a single JSON line, keys in a fixed order.
fn describe(name: &str, description: Option<&str>, parameters: &Value) -> String {
    let description = description
        .map(|d| format!(", \"description\": {}", json_string(d)))
        .unwrap_or_default();
    format!(
        "{{\"name\": {}{description}, \"parameters\": {parameters}}}",
        json_string(name)
    )
}

fn json_string(text: &str) -> String {
    Value::from(text).to_string()
}

/// An assistant call as the model would have written it.
pub fn render_call(name: &str, arguments: &str) -> String {
    let arguments = match serde_json::from_str::<Value>(arguments) {
        Ok(value) => value.to_string(),
        // Keep what the client sent, as a JSON string, rather than drop it.
        Err(_) => json_string(arguments),
    };
    format!(
        "{TOOL_CALL_OPEN}{{\"name\": {}, \"arguments\": {arguments}}}{TOOL_CALL_CLOSE}",
        json_string(name)
    )
}

/// A tool result block naming the call it answers.
pub fn render_tool_result(call_id: &str, name: Option<&str>, content: &str) -> String {
    let name = name
        .map(|n| format!(" name={}", json_string(n)))
        .unwrap_or_default();
    format!(
        "{TOOL_RESULT_OPEN} id={}{name}>\n{}\n{TOOL_RESULT_CLOSE}",
        json_string(call_id),
        content.trim_end()
    )
}

/// One message of a conversation with tools, as the routes read it from their request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryItem {
    System(String),
    User(String),
    /// An assistant turn: its text (may be empty) and the calls it made.
    Assistant {
        text: String,
        tool_calls: Vec<AssistantToolCall>,
    },
    /// `role: "tool"` (OpenAI) or a `tool_result` block (Anthropic). `name` is looked up from
    /// the earlier call with the same id when the client did not send it.
    ToolResult {
        call_id: String,
        name: Option<String>,
        content: String,
    },
}

/// The roles the upstream transcript knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnRole {
    System,
    User,
    Assistant,
}

/// One turn of the folded transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoldedTurn {
    pub role: TurnRole,
    pub text: String,
}

/// Folds a history with tool calls into plain turns: calls become `<tool_call>` blocks after
/// the assistant's text, and consecutive tool results become one user turn of
/// `<tool_result>` blocks. Other turns pass through.
pub fn fold_history(items: &[HistoryItem]) -> Vec<FoldedTurn> {
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut turns: Vec<FoldedTurn> = Vec::with_capacity(items.len());
    let mut results_open = false;
    for item in items {
        let (role, text) = match item {
            HistoryItem::System(text) => (TurnRole::System, text.clone()),
            HistoryItem::User(text) => (TurnRole::User, text.clone()),
            HistoryItem::Assistant { text, tool_calls } => {
                let mut parts: Vec<String> = Vec::with_capacity(tool_calls.len() + 1);
                if !text.trim().is_empty() {
                    parts.push(text.trim_end().to_owned());
                }
                for call in tool_calls {
                    names.insert(&call.id, &call.name);
                    parts.push(render_call(&call.name, &call.arguments));
                }
                (TurnRole::Assistant, parts.join("\n"))
            }
            HistoryItem::ToolResult {
                call_id,
                name,
                content,
            } => {
                let name = name
                    .as_deref()
                    .or_else(|| names.get(call_id.as_str()).copied());
                let block = render_tool_result(call_id, name, content);
                match turns.last_mut() {
                    Some(last) if results_open => {
                        last.text.push_str("\n\n");
                        last.text.push_str(&block);
                    }
                    _ => turns.push(FoldedTurn {
                        role: TurnRole::User,
                        text: block,
                    }),
                }
                results_open = true;
                continue;
            }
        };
        results_open = false;
        turns.push(FoldedTurn { role, text });
    }
    turns
}
