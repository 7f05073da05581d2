//! Folding: an OpenAI history as the one user message of a new evaluation (format: the
//! `evaluation` module docs).

use super::{transcript, FoldedPrompt};
use crate::arena::retry::{
    build_messages, ArenaMessage, ArenaRole, Attachment, BuildError, MessageOptions, TEXT_JOINER,
};
use crate::config::Config;
use crate::openai::ChatMessage;

/// The switches of [`fold_messages`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FoldOptions {
    /// Tavern mode: every system message goes into the leading `<system>` block.
    pub tavern_mode: bool,
}

impl FoldOptions {
    pub fn from_config(config: &Config) -> Self {
        Self {
            tavern_mode: config.tavern_mode_enabled,
        }
    }
}

/// An OpenAI history as the one user message of a new evaluation (format: module docs).
pub fn fold_messages(
    messages: &[ChatMessage],
    opts: FoldOptions,
) -> Result<FoldedPrompt, BuildError> {
    // Bypass mode and image-model statuses are retry-flow matters; only conversion is reused.
    // An evaluation has no assistant turn to hide `--bypass` images on: they stay with the
    // user message (the suffix is still removed).
    let message_opts = MessageOptions {
        tavern_mode: opts.tavern_mode,
        keep_bypass_images: true,
        ..MessageOptions::default()
    };
    let turns = build_messages(messages, &message_opts)?;
    let folded = fold_turns(&turns);
    if folded.content.is_empty() && folded.attachments.is_empty() {
        return Err(BuildError {
            message: "Nothing to send: the messages have no text and no attachments.".to_owned(),
            param: Some("messages".to_owned()),
        });
    }
    Ok(folded)
}

fn fold_turns(turns: &[ArenaMessage]) -> FoldedPrompt {
    use transcript::*;

    let leading = turns
        .iter()
        .take_while(|t| t.role == ArenaRole::System)
        .count();
    let (system, rest) = turns.split_at(leading);
    let (prefill, rest) = match rest.split_last() {
        Some((last, before)) if last.role == ArenaRole::Assistant => (Some(last), before),
        _ => (None, rest),
    };
    let (current, history) = match rest.split_last() {
        Some((last, before)) if last.role == ArenaRole::User => (Some(last), before),
        _ => (None, rest),
    };

    let mut carried = Carried::default();
    let mut blocks: Vec<String> = Vec::new();

    let system_texts: Vec<String> = system
        .iter()
        .map(|t| carried.annotated(t))
        .filter(|body| !body.trim().is_empty())
        .collect();
    if !system_texts.is_empty() {
        blocks.push(tagged(SYSTEM_TAG, &system_texts.join(TEXT_JOINER)));
    }

    if !history.is_empty() {
        let turns: Vec<String> = history
            .iter()
            .map(|t| tagged(role_tag(t.role), &carried.annotated(t)))
            .collect();
        blocks.push(tagged(CONVERSATION_TAG, &turns.join("\n")));
    }

    if let Some(current) = current {
        for attachment in &current.attachments {
            carried.add(attachment);
        }
        blocks.push(current.content.clone());
    }

    if let Some(prefill) = prefill {
        let body = carried.annotated(prefill);
        if !body.trim().is_empty() {
            blocks.push(tagged(ANSWER_START_TAG, &body));
            blocks.push(CONTINUE_INSTRUCTION.to_owned());
        }
    }

    FoldedPrompt {
        content: blocks.join(BLOCK_SEPARATOR),
        attachments: carried.list,
    }
}

fn role_tag(role: ArenaRole) -> &'static str {
    match role {
        ArenaRole::System => transcript::SYSTEM_TAG,
        ArenaRole::User => transcript::USER_TAG,
        ArenaRole::Assistant => transcript::ASSISTANT_TAG,
        ArenaRole::Tool => transcript::TOOL_TAG,
        ArenaRole::Function => transcript::FUNCTION_TAG,
    }
}

fn tagged(tag: &str, body: &str) -> String {
    if body.is_empty() {
        format!("<{tag}>\n</{tag}>")
    } else {
        format!("<{tag}>\n{body}\n</{tag}>")
    }
}

/// The attachments of a fold, each URL once, in order of first appearance.
#[derive(Default)]
struct Carried {
    list: Vec<Attachment>,
}

impl Carried {
    /// Adds `attachment` unless its URL is already carried; returns its 1-based number.
    fn add(&mut self, attachment: &Attachment) -> usize {
        match self.list.iter().position(|a| a.url == attachment.url) {
            Some(i) => i + 1,
            None => {
                self.list.push(attachment.clone());
                self.list.len()
            }
        }
    }

    /// The turn's text followed by one `[attachment N: name]` line per attachment.
    fn annotated(&mut self, turn: &ArenaMessage) -> String {
        let mut body = turn.content.clone();
        for attachment in &turn.attachments {
            let n = self.add(attachment);
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(&format!(
                "[{} {n}: {}]",
                transcript::ATTACHMENT_LABEL,
                attachment.name
            ));
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_block_has_no_blank_line() {
        assert_eq!(tagged("assistant", ""), "<assistant>\n</assistant>");
        assert_eq!(tagged("user", "hi"), "<user>\nhi\n</user>");
    }
}
