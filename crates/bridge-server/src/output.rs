//! Turning parsed upstream events into OpenAI output: content and reasoning deltas per the
//! `reasoning_output` setting, the model's text through the emulated features (tool calls,
//! stop, max_tokens; see `emulate`), images as Markdown, finish reasons, SSE framing of chat
//! chunks or legacy `text_completion` chunks.

use std::io::Write as _;
use std::sync::Arc;

use bridge_core::arena::stream::{self, StreamEvent};
use bridge_core::config::ReasoningOutput;
use bridge_core::openai::{
    ChatCompletionChunk, ChunkChoice, Delta, FinishReason, TextChoice, TextCompletion, ToolCallOut,
    Usage, CHAT_COMPLETION_CHUNK_OBJECT,
};
use bridge_core::tools::ToolCall;
use bytes::{BufMut as _, BytesMut};

use crate::emulate::{Emulation, Shaper};

/// SSE data line prefix and the stream terminator.
pub(crate) const SSE_DATA: &str = "data: ";
pub(crate) const SSE_DONE: &str = "data: [DONE]\n\n";
pub(crate) const SSE_KEEPALIVE: &str = ": keep-alive\n\n";

/// What one upstream event becomes for one choice.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Rendered {
    pub content: Option<String>,
    pub reasoning: Option<String>,
    pub tool_calls: Vec<ToolCall>,
}

impl Rendered {
    fn content(text: String) -> Self {
        Self {
            content: Some(text),
            ..Self::default()
        }
    }

    fn is_empty(&self) -> bool {
        self.content.is_none() && self.reasoning.is_none() && self.tool_calls.is_empty()
    }
}

/// Per-choice rendering state.
#[derive(Debug)]
pub(crate) struct ChoiceRenderer {
    mode: ReasoningOutput,
    in_think: bool,
    wrote_content: bool,
    shaper: Shaper,
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
    pub(crate) fn new(mode: ReasoningOutput, emulation: Arc<Emulation>) -> Self {
        Self {
            mode,
            in_think: false,
            wrote_content: false,
            shaper: Shaper::new(emulation),
            finish: None,
            usage: None,
        }
    }

    /// Renders one event. Finish events are recorded, not rendered; errors are the caller's.
    /// After [`Self::cut`] says the answer ended early, events render to nothing.
    pub(crate) fn render(&mut self, event: StreamEvent) -> Rendered {
        match event {
            StreamEvent::Text(t) => {
                let shaped = self.shaper.feed(&t);
                self.text(shaped.text, shaped.calls)
            }
            StreamEvent::Reasoning(t) => match self.mode {
                ReasoningOutput::ReasoningContent => Rendered {
                    reasoning: Some(t),
                    ..Rendered::default()
                },
                ReasoningOutput::ThinkTags => {
                    let content = if self.in_think {
                        t
                    } else {
                        self.in_think = true;
                        format!("<think>{t}")
                    };
                    Rendered::content(content)
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
                Rendered::content(content)
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

    /// Model text and calls after the emulation, with an open `<think>` block closed first.
    fn text(&mut self, text: String, tool_calls: Vec<ToolCall>) -> Rendered {
        if text.is_empty() && tool_calls.is_empty() {
            return Rendered::default();
        }
        let content = if self.in_think {
            self.in_think = false;
            Some(format!("</think>\n\n{text}"))
        } else {
            (!text.is_empty()).then_some(text)
        };
        self.wrote_content |= content.is_some();
        Rendered {
            content,
            reasoning: None,
            tool_calls,
        }
    }

    /// The end of the answer: text the emulation held back, and an open `<think>` block
    /// closed.
    pub(crate) fn close(&mut self) -> Rendered {
        let shaped = self.shaper.finish();
        let mut out = self.text(shaped.text, shaped.calls);
        if self.in_think {
            self.in_think = false;
            out.content = Some("</think>".to_owned());
        }
        out
    }

    /// Why the answer ended early (a stop sequence or `max_tokens`), if it did.
    pub(crate) fn cut(&self) -> Option<FinishReason> {
        self.shaper.cut()
    }

    pub(crate) fn finish_reason(&self) -> FinishReason {
        self.shaper
            .finish_reason(self.finish.unwrap_or(FinishReason::Stop))
    }

    /// `response_format` checked on the whole answer.
    pub(crate) fn check_format(&self) -> Result<(), String> {
        self.shaper.check_format()
    }

    /// Usage as LMArena reported it, else counted by the bridge (marked estimated).
    pub(crate) fn usage(&self) -> Usage {
        self.usage.unwrap_or_else(|| self.shaper.estimated_usage())
    }
}

/// Which OpenAI object the answer is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `chat.completion(.chunk)` (`/v1/chat/completions`).
    Chat,
    /// `text_completion` (the legacy `/v1/completions`); reasoning is left out.
    Text,
}

/// Writes SSE events of one completion: one id, one created, one model.
#[derive(Debug)]
pub(crate) struct ChunkWriter {
    pub id: String,
    pub created: i64,
    pub model: String,
    pub shape: Shape,
    role_sent: Vec<bool>,
    /// `data: {"id":…,"model":…,"choices":[{"index":`, the bytes every plain text delta of
    /// this completion starts with: made once, so a delta serializes only its text.
    text_prefix: Vec<u8>,
}

impl ChunkWriter {
    pub(crate) fn new(
        id: String,
        created: i64,
        model: String,
        choices: usize,
        shape: Shape,
    ) -> Self {
        let mut text_prefix = Vec::with_capacity(96 + id.len() + model.len());
        text_prefix.extend_from_slice(SSE_DATA.as_bytes());
        text_prefix.extend_from_slice(b"{\"id\":");
        // Serializing a string into memory cannot fail.
        let _ = serde_json::to_writer(&mut text_prefix, &id);
        text_prefix.extend_from_slice(b",\"object\":");
        let _ = serde_json::to_writer(&mut text_prefix, CHAT_COMPLETION_CHUNK_OBJECT);
        text_prefix.extend_from_slice(format!(",\"created\":{created},\"model\":").as_bytes());
        let _ = serde_json::to_writer(&mut text_prefix, &model);
        text_prefix.extend_from_slice(b",\"choices\":[{\"index\":");
        Self {
            id,
            created,
            model,
            shape,
            role_sent: vec![false; choices.max(1)],
            text_prefix,
        }
    }

    /// Appends the most common event, a delta of text only after the role was sent, without
    /// building the chunk: the same bytes as serializing the [`ChatCompletionChunk`].
    fn plain_text_frame(&self, index: usize, text: &str, out: &mut BytesMut) {
        out.extend_from_slice(&self.text_prefix);
        let _ = write!(out.writer(), "{index}");
        out.extend_from_slice(b",\"delta\":{\"content\":");
        let _ = serde_json::to_writer(out.writer(), text);
        out.extend_from_slice(b"},\"finish_reason\":null}]}\n\n");
    }

    /// Appends one SSE event to `out`: serialized straight into the answer's buffer, which
    /// is reused from chunk to chunk (no allocation per event once it has grown).
    fn frame(out: &mut BytesMut, chunk: &impl serde::Serialize) {
        out.extend_from_slice(SSE_DATA.as_bytes());
        // Serializing these plain structs into memory cannot fail.
        let _ = serde_json::to_writer(out.writer(), chunk);
        out.extend_from_slice(b"\n\n");
    }

    fn text_frame(
        &self,
        index: usize,
        text: String,
        finish: Option<FinishReason>,
        out: &mut BytesMut,
    ) {
        let choice = TextChoice {
            text,
            index: index as u32,
            logprobs: None,
            finish_reason: finish,
        };
        let chunk = TextCompletion::new(
            self.id.as_str(),
            self.created,
            self.model.as_str(),
            vec![choice],
        );
        Self::frame(out, &chunk);
    }

    /// Number of choices in this completion.
    pub(crate) fn choices(&self) -> usize {
        self.role_sent.len()
    }

    /// Appends one delta for choice `index` to `out`; the first chunk of each choice carries
    /// the role. False when there was nothing to write.
    pub(crate) fn delta(&mut self, index: usize, r: Rendered, out: &mut BytesMut) -> bool {
        if self.shape == Shape::Text {
            let Some(text) = r.content else { return false };
            self.text_frame(index, text, None, out);
            return true;
        }
        if r.is_empty() {
            return false;
        }
        let role_sent = self.role_sent.get(index).copied().unwrap_or(true);
        if role_sent && r.reasoning.is_none() && r.tool_calls.is_empty() {
            if let Some(text) = &r.content {
                self.plain_text_frame(index, text, out);
                return true;
            }
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
        if !r.tool_calls.is_empty() {
            delta.tool_calls = Some(r.tool_calls.iter().map(ToolCallOut::delta).collect());
        }
        let chunk = ChatCompletionChunk::new(
            self.id.as_str(),
            self.created,
            self.model.as_str(),
            vec![ChunkChoice::new(index as u32, delta, None)],
        );
        Self::frame(out, &chunk);
        true
    }

    /// Appends the final chunk of choice `index`, with its finish reason, to `out`.
    pub(crate) fn finish(&mut self, index: usize, reason: FinishReason, out: &mut BytesMut) {
        if self.shape == Shape::Text {
            return self.text_frame(index, String::new(), Some(reason), out);
        }
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
        Self::frame(out, &chunk);
    }

    /// Appends the usage chunk sent when the client asked for `stream_options.include_usage`.
    pub(crate) fn usage(&self, usage: Usage, out: &mut BytesMut) {
        let (id, model) = (self.id.as_str(), self.model.as_str());
        match self.shape {
            Shape::Chat => Self::frame(
                out,
                &ChatCompletionChunk {
                    usage: Some(usage),
                    ..ChatCompletionChunk::new(id, self.created, model, vec![])
                },
            ),
            Shape::Text => Self::frame(
                out,
                &TextCompletion {
                    usage: Some(usage),
                    ..TextCompletion::new(id, self.created, model, vec![])
                },
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> Arc<Emulation> {
        let chat = bridge_core::openai::ChatCompletionRequest::from_json(
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
        )
        .unwrap();
        let upstream = Arc::new(chat.clone());
        Arc::new(Emulation::new(&chat, upstream))
    }

    #[test]
    fn think_tags_wrap_reasoning_and_close_before_text() {
        let mut r = ChoiceRenderer::new(ReasoningOutput::ThinkTags, plain());
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
        let mut r = ChoiceRenderer::new(ReasoningOutput::Omit, plain());
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
        let mut w = ChunkWriter::new("chatcmpl-1".into(), 7, "m".into(), 1, Shape::Chat);
        let mut out = BytesMut::new();
        assert!(w.delta(0, Rendered::content("a".into()), &mut out));
        let first = out.split();
        assert!(w.delta(0, Rendered::content("b".into()), &mut out));
        let second = out.split();
        assert!(!w.delta(0, Rendered::default(), &mut out) && out.is_empty());
        let s1 = std::str::from_utf8(&first).unwrap();
        let s2 = std::str::from_utf8(&second).unwrap();
        assert!(s1.starts_with("data: {") && s1.ends_with("}\n\n"));
        assert!(s1.contains("\"role\":\"assistant\""));
        assert!(!s2.contains("role"));
        assert!(s2.contains("\"id\":\"chatcmpl-1\"") && s2.contains("\"created\":7"));
    }
    #[test]
    fn plain_text_deltas_are_the_bytes_of_the_serialized_chunk() {
        let texts = [
            "plain",
            "",
            "quote \" backslash \\ newline \n tab \t",
            "\u{0}\u{1f} control, é, 漢字, 🦀",
            "</script>&<>'",
        ];
        for (id, model) in [("chatcmpl-1", "m"), ("id \"odd\"\n", "模型 \\ x")] {
            for index in [0usize, 1, 12] {
                let mut w = ChunkWriter::new(id.into(), -5, model.into(), 13, Shape::Chat);
                w.role_sent[index] = true;
                for text in texts {
                    let mut fast = BytesMut::new();
                    assert!(w.delta(index, Rendered::content(text.into()), &mut fast));
                    let mut slow = BytesMut::new();
                    let delta = Delta {
                        content: Some(text.into()),
                        ..Delta::default()
                    };
                    let chunk = ChatCompletionChunk::new(
                        id,
                        -5,
                        model,
                        vec![ChunkChoice::new(index as u32, delta, None)],
                    );
                    ChunkWriter::frame(&mut slow, &chunk);
                    assert_eq!(
                        std::str::from_utf8(&fast).unwrap(),
                        std::str::from_utf8(&slow).unwrap()
                    );
                }
            }
        }
    }
}
