//! The messages the upstream prompt is built from when a request uses the emulated features:
//! the tools block and the `response_format` instruction join the system prompt, and the tool
//! loop in the history (assistant `tool_calls`, `role: "tool"` results) is folded into plain
//! turns with [`fold_history`]. Both upstream flows build from these messages, so the retry
//! flow gets the block in its system message (merged in tavern mode) and the evaluation flow
//! folds it like any system prompt.

use super::content::{ContentPart, MessageContent};
use super::request::{ChatCompletionRequest, ChatMessage, Role};
use crate::tokens;
use crate::tools::{fold_history, tools_prompt, HistoryItem, TurnRole};

/// Joins the parts of the instruction block and the text parts of a message.
const JOINER: &str = "\n\n";

impl ChatMessage {
    /// A plain text message.
    pub fn text_message(role: Role, text: String) -> Self {
        Self {
            role,
            content: MessageContent::Text(text),
            name: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
        }
    }

    /// The text of the message: a string as is, text (and refusal) parts joined with a blank
    /// line; media parts are left out.
    pub fn text(&self) -> String {
        match &self.content {
            MessageContent::Text(text) => text.clone(),
            MessageContent::None => String::new(),
            MessageContent::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text { text } => Some(text.as_str()),
                    ContentPart::Refusal { refusal } => Some(refusal.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join(JOINER),
        }
    }

    /// Whether the message is part of a tool loop and must be folded into text.
    fn in_tool_loop(&self) -> bool {
        matches!(self.role, Role::Tool | Role::Function) || !self.tool_calls.is_empty()
    }

    fn history_item(&self) -> HistoryItem {
        match self.role {
            Role::Tool | Role::Function => HistoryItem::ToolResult {
                // The legacy `function` role has no call id; its name identifies the call.
                call_id: self
                    .tool_call_id
                    .clone()
                    .or_else(|| self.name.clone())
                    .unwrap_or_default(),
                name: self.name.clone(),
                content: self.text(),
            },
            _ => HistoryItem::Assistant {
                text: self.text(),
                tool_calls: self.tool_calls.clone(),
            },
        }
    }
}

impl ChatCompletionRequest {
    /// The instructions the emulated features add to the system prompt, if any.
    pub fn emulation_instructions(&self) -> Option<String> {
        let parts: Vec<String> = [
            tools_prompt(&self.tools),
            self.response_format.instruction(),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!parts.is_empty()).then(|| parts.join(JOINER))
    }

    /// The request as the upstream builders should see it: instructions added after the
    /// leading system messages, tool loops folded. Unchanged when nothing is emulated.
    pub fn for_upstream(&self) -> ChatCompletionRequest {
        let instructions = self.emulation_instructions();
        if instructions.is_none() && !self.messages.iter().any(ChatMessage::in_tool_loop) {
            return self.clone();
        }
        let mut messages = Vec::with_capacity(self.messages.len() + 1);
        let mut run: Vec<HistoryItem> = Vec::new();
        let flush = |run: &mut Vec<HistoryItem>, out: &mut Vec<ChatMessage>| {
            for turn in fold_history(run) {
                let role = match turn.role {
                    TurnRole::System => Role::System,
                    TurnRole::User => Role::User,
                    TurnRole::Assistant => Role::Assistant,
                };
                out.push(ChatMessage::text_message(role, turn.text));
            }
            run.clear();
        };
        for message in &self.messages {
            if message.in_tool_loop() {
                run.push(message.history_item());
            } else {
                flush(&mut run, &mut messages);
                messages.push(message.clone());
            }
        }
        flush(&mut run, &mut messages);
        if let Some(text) = instructions {
            let leading = messages
                .iter()
                .take_while(|m| matches!(m.role, Role::System | Role::Developer))
                .count();
            messages.insert(leading, ChatMessage::text_message(Role::System, text));
        }
        ChatCompletionRequest {
            messages,
            ..self.clone()
        }
    }

    /// Estimated prompt tokens of the messages' text (for `usage` when LMArena reports none).
    pub fn estimate_prompt_tokens(&self) -> u64 {
        self.messages
            .iter()
            .map(|m| tokens::count(&m.text()) as u64)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(value: serde_json::Value) -> ChatCompletionRequest {
        ChatCompletionRequest::from_json(value).unwrap()
    }

    fn weather_tools() -> serde_json::Value {
        json!([{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
    }

    #[test]
    fn without_emulation_the_request_is_unchanged() {
        let r = request(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}));
        assert_eq!(r.for_upstream(), r);
    }

    #[test]
    fn tools_block_follows_the_leading_system_messages() {
        let r = request(json!({"model": "m", "tools": weather_tools(), "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris?"}]}));
        let up = r.for_upstream();
        assert_eq!(up.messages.len(), 3);
        assert_eq!(up.messages[0].text(), "Be brief.");
        assert_eq!(up.messages[1].role, Role::System);
        assert!(up.messages[1].text().contains("get_weather"));
        assert!(up.messages[1].text().contains("<tool_call>"));
        assert_eq!(up.messages[2].text(), "Weather in Paris?");
    }

    #[test]
    fn tool_choice_none_describes_no_tools_but_still_folds_the_loop() {
        let r = request(
            json!({"model": "m", "tools": weather_tools(), "tool_choice": "none",
            "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "user", "content": "Thanks"}]}),
        );
        let up = r.for_upstream();
        let roles: Vec<Role> = up.messages.iter().map(|m| m.role).collect();
        assert_eq!(roles, [Role::User, Role::Assistant, Role::User, Role::User]);
        assert!(up.messages[1].text().starts_with("<tool_call>"));
        assert!(up.messages[1].text().contains("\"city\":\"Paris\""));
        let result = up.messages[2].text();
        assert!(result.contains("id=\"call_1\"") && result.contains("name=\"get_weather\""));
        assert!(result.contains("18C"));
        assert!(up.messages.iter().all(|m| m.tool_calls.is_empty()));
    }

    #[test]
    fn response_format_instruction_joins_the_tools_block() {
        let r = request(json!({"model": "m", "tools": weather_tools(),
            "response_format": {"type": "json_object"},
            "messages": [{"role": "user", "content": "x"}]}));
        let text = r.emulation_instructions().unwrap();
        assert!(text.contains("get_weather") && text.contains("JSON object"));
    }

    #[test]
    fn request_with_tools_round_trips_through_serde() {
        let r = request(json!({"model": "m", "tools": weather_tools(),
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "parallel_tool_calls": false, "stop": ["END"],
            "response_format": {"type": "json_object"},
            "messages": [{"role": "user", "content": "x"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "ok"}]}));
        let again = request(serde_json::to_value(&r).unwrap());
        assert_eq!(again, r);
    }
}
