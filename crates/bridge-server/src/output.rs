//! Turning parsed upstream events into OpenAI output: content and reasoning deltas per the
//! `reasoning_output` setting, images as Markdown, finish reasons, SSE framing.

use bridge_core::arena::stream::{self, StreamEvent};
use bridge_core::config::ReasoningOutput;
use bridge_core::openai::{ChatCompletionChunk, ChunkChoice, Delta, FinishReason, Usage};

/// SSE data line prefix and the stream terminator.
pub(crate) const SSE_DATA: &str = "data: ";
pub(crate) const SSE_DONE: &str = "data: [DONE]\n\n";
pub(crate) const SSE_KEEPALIVE: &str = ": keep-alive\n\n";

/// What one upstream event becomes for one choice.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Rendered {
    pub content: Option<String>,
    pub reasoning: Option<String>,
}

/// Per-choice rendering state.
#[derive(Debug)]
pub(crate) struct ChoiceRenderer {
    mode: ReasoningOutput,
    in_think: bool,
    wrote_content: bool,
    pub finish: Option<FinishReason>,
    pub usage: Option<Usage>,
}

pub(crate) fn finish_reason(r: stream::FinishReason) -> FinishReason {
    match r {
        stream::FinishReason::Stop => FinishReason::Stop,
        stream::FinishReason::Length => FinishReason::Length,
        stream::FinishReason::ContentFilter => FinishReason::ContentFilter,
    }
}

impl ChoiceRenderer {
    pub(crate) fn new(mode: ReasoningOutput) -> Self {
        Self {
            mode,
            in_think: false,
            wrote_content: false,
            finish: None,
            usage: None,
        }
    }

    /// Renders one event. Finish events are recorded, not rendered; errors are the caller's.
    pub(crate) fn render(&mut self, event: StreamEvent) -> Rendered {
        match event {
            StreamEvent::Text(t) => {
                if t.is_empty() {
                    return Rendered::default();
                }
                let content = if self.in_think {
                    self.in_think = false;
                    format!("</think>\n\n{t}")
                } else {
                    t
                };
                self.wrote_content = true;
                Rendered {
                    content: Some(content),
                    reasoning: None,
                }
            }
            StreamEvent::Reasoning(t) => match self.mode {
                ReasoningOutput::ReasoningContent => Rendered {
                    content: None,
                    reasoning: Some(t),
                },
                ReasoningOutput::ThinkTags => {
                    let content = if self.in_think {
                        t
                    } else {
                        self.in_think = true;
                        format!("<think>{t}")
                    };
                    Rendered {
                        content: Some(content),
                        reasoning: None,
                    }
                }
                ReasoningOutput::Omit => Rendered::default(),
            },
            StreamEvent::Image { url, .. } => {
                let mut content = String::new();
                if self.in_think {
                    self.in_think = false;
                    content.push_str("</think>\n\n");
                } else if self.wrote_content {
                    content.push_str("\n\n");
                }
                content.push_str("![image](");
                content.push_str(&url);
                content.push(')');
                self.wrote_content = true;
                Rendered {
                    content: Some(content),
                    reasoning: None,
                }
            }
            StreamEvent::Finish { reason, usage } => {
                // Battle answers or retries may carry several; the last one wins.
                self.finish = Some(finish_reason(reason));
                if let Some(u) = usage {
                    self.usage = Some(Usage::new(u.prompt_tokens, u.completion_tokens));
                }
                Rendered::default()
            }
            StreamEvent::Citation(_) | StreamEvent::Error(_) | StreamEvent::Heartbeat => {
                Rendered::default()
            }
        }
    }

    /// Closes an open `<think>` block at the end of the answer.
    pub(crate) fn close(&mut self) -> Rendered {
        if self.in_think {
            self.in_think = false;
            return Rendered {
                content: Some("</think>".to_owned()),
                reasoning: None,
            };
        }
        Rendered::default()
    }

    pub(crate) fn finish_reason(&self) -> FinishReason {
        self.finish.unwrap_or(FinishReason::Stop)
    }
}

/// Writes SSE events of one chat completion: one id, one created, one model.
#[derive(Debug)]
pub(crate) struct ChunkWriter {
    pub id: String,
    pub created: i64,
    pub model: String,
    role_sent: Vec<bool>,
}

impl ChunkWriter {
    pub(crate) fn new(id: String, created: i64, model: String, choices: usize) -> Self {
        Self {
            id,
            created,
            model,
            role_sent: vec![false; choices.max(1)],
        }
    }

    fn frame(&self, chunk: &ChatCompletionChunk<'_>) -> bytes::Bytes {
        let mut buf = Vec::with_capacity(192);
        buf.extend_from_slice(SSE_DATA.as_bytes());
        // Serializing these plain structs cannot fail.
        let _ = serde_json::to_writer(&mut buf, chunk);
        buf.extend_from_slice(b"\n\n");
        bytes::Bytes::from(buf)
    }

    /// Number of choices in this completion.
    pub(crate) fn choices(&self) -> usize {
        self.role_sent.len()
    }

    /// One delta for choice `index`; the first chunk of each choice carries the role.
    pub(crate) fn delta(&mut self, index: usize, r: Rendered) -> Option<bytes::Bytes> {
        if r.content.is_none() && r.reasoning.is_none() {
            return None;
        }
        let mut delta = Delta::default();
        if let Some(sent) = self.role_sent.get_mut(index) {
            if !*sent {
                *sent = true;
                delta.role = Some("assistant".into());
            }
        }
        delta.content = r.content.map(Into::into);
        delta.reasoning_content = r.reasoning.map(Into::into);
        let chunk = ChatCompletionChunk::new(
            self.id.as_str(),
            self.created,
            self.model.as_str(),
            vec![ChunkChoice::new(index as u32, delta, None)],
        );
        Some(self.frame(&chunk))
    }

    /// The final chunk of choice `index` with its finish reason.
    pub(crate) fn finish(&mut self, index: usize, reason: FinishReason) -> bytes::Bytes {
        let mut delta = Delta::default();
        if let Some(sent) = self.role_sent.get_mut(index) {
            if !*sent {
                *sent = true;
                delta.role = Some("assistant".into());
                delta.content = Some("".into());
            }
        }
        let chunk = ChatCompletionChunk::new(
            self.id.as_str(),
            self.created,
            self.model.as_str(),
            vec![ChunkChoice::new(index as u32, delta, Some(reason))],
        );
        self.frame(&chunk)
    }

    /// The usage chunk sent when the client asked for `stream_options.include_usage`.
    pub(crate) fn usage(&self, usage: Option<Usage>) -> bytes::Bytes {
        let mut chunk =
            ChatCompletionChunk::new(self.id.as_str(), self.created, self.model.as_str(), vec![]);
        chunk.usage = usage;
        let mut buf = Vec::with_capacity(192);
        buf.extend_from_slice(SSE_DATA.as_bytes());
        let mut value = serde_json::to_value(&chunk).unwrap_or_default();
        if let Some(obj) = value.as_object_mut() {
            // OpenAI sends `usage: null` when it has none; we never invent numbers.
            obj.entry("usage").or_insert(serde_json::Value::Null);
        }
        let _ = serde_json::to_writer(&mut buf, &value);
        buf.extend_from_slice(b"\n\n");
        bytes::Bytes::from(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn think_tags_wrap_reasoning_and_close_before_text() {
        let mut r = ChoiceRenderer::new(ReasoningOutput::ThinkTags);
        let a = r.render(StreamEvent::Reasoning("hm".into()));
        let b = r.render(StreamEvent::Reasoning(" ok".into()));
        let c = r.render(StreamEvent::Text("Hi".into()));
        assert_eq!(a.content.as_deref(), Some("<think>hm"));
        assert_eq!(b.content.as_deref(), Some(" ok"));
        assert_eq!(c.content.as_deref(), Some("</think>\n\nHi"));
        assert_eq!(r.close(), Rendered::default());
    }

    #[test]
    fn omit_drops_reasoning_and_images_become_markdown() {
        let mut r = ChoiceRenderer::new(ReasoningOutput::Omit);
        assert_eq!(
            r.render(StreamEvent::Reasoning("x".into())),
            Rendered::default()
        );
        let img = r.render(StreamEvent::Image {
            url: "https://i/1.png".into(),
            mime: None,
        });
        assert_eq!(img.content.as_deref(), Some("![image](https://i/1.png)"));
        let img2 = r.render(StreamEvent::Image {
            url: "https://i/2.png".into(),
            mime: None,
        });
        assert_eq!(
            img2.content.as_deref(),
            Some("\n\n![image](https://i/2.png)")
        );
    }

    #[test]
    fn first_chunk_has_role_once() {
        let mut w = ChunkWriter::new("chatcmpl-1".into(), 7, "m".into(), 1);
        let first = w
            .delta(
                0,
                Rendered {
                    content: Some("a".into()),
                    reasoning: None,
                },
            )
            .unwrap();
        let second = w
            .delta(
                0,
                Rendered {
                    content: Some("b".into()),
                    reasoning: None,
                },
            )
            .unwrap();
        let s1 = std::str::from_utf8(&first).unwrap();
        let s2 = std::str::from_utf8(&second).unwrap();
        assert!(s1.starts_with("data: {") && s1.ends_with("}\n\n"));
        assert!(s1.contains("\"role\":\"assistant\""));
        assert!(!s2.contains("role"));
        assert!(s2.contains("\"id\":\"chatcmpl-1\"") && s2.contains("\"created\":7"));
    }
}
