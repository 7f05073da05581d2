//! The answer side of the emulated request features, per choice: the model's text goes
//! through the tool-call parser (when tools are active), then the stop matcher, then the
//! token budget of `max_tokens`; calls come out as [`ToolCall`]s. Also the final checks:
//! the finish reason, `response_format` validation and estimated usage.

use std::sync::Arc;

use bridge_core::openai::{ChatCompletionRequest, FinishReason, ResponseFormat, Usage};
use bridge_core::stop::StopMatcher;
use bridge_core::tokens::{self, TokenBudget};
use bridge_core::tools::{ToolCall, ToolCallParser, ToolEvent, ToolSet};

/// What one request asked to be emulated; shared by its choices.
#[derive(Debug)]
pub(crate) struct Emulation {
    tools: ToolSet,
    stop: Vec<String>,
    limit: Option<u64>,
    format: ResponseFormat,
    /// The request as sent upstream, for the estimated prompt tokens.
    upstream: Arc<ChatCompletionRequest>,
}

impl Emulation {
    /// From the client's request and the request as it goes upstream.
    pub(crate) fn new(chat: &ChatCompletionRequest, upstream: Arc<ChatCompletionRequest>) -> Self {
        Self {
            tools: chat.tools.clone(),
            stop: chat.stop.clone(),
            limit: chat.token_limit(),
            format: chat.response_format.clone(),
            upstream,
        }
    }

    /// The prompt's tokens, counted with the bridge's tokenizer.
    fn prompt_tokens(&self) -> u64 {
        self.upstream.estimate_prompt_tokens()
    }
}

/// What one text delta (or the end) gave.
#[derive(Debug, Default)]
pub(crate) struct Shaped {
    /// Text for `content`.
    pub(crate) text: String,
    /// Calls to send as `tool_calls`.
    pub(crate) calls: Vec<ToolCall>,
}

/// Per-choice state of the emulation.
#[derive(Debug)]
pub(crate) struct Shaper {
    spec: Arc<Emulation>,
    parser: Option<ToolCallParser>,
    stop: StopMatcher,
    budget: Option<TokenBudget>,
    /// All `content` released so far.
    released: String,
    calls: Vec<ToolCall>,
    rejected: usize,
    /// Set when a stop sequence or the token budget ended the answer early.
    cut: Option<FinishReason>,
}

impl Shaper {
    pub(crate) fn new(spec: Arc<Emulation>) -> Self {
        let parser = spec
            .tools
            .calls_enabled()
            .then(|| ToolCallParser::new(spec.tools.clone()));
        // parse_stop already limited the sequences; a matcher over them cannot fail.
        let stop = StopMatcher::new(&spec.stop).unwrap_or_else(|_| {
            StopMatcher::new(&[]).expect("an empty stop list is always accepted")
        });
        let budget = spec
            .limit
            .map(|l| TokenBudget::new(usize::try_from(l).unwrap_or(usize::MAX)));
        Self {
            spec,
            parser,
            stop,
            budget,
            released: String::new(),
            calls: Vec::new(),
            rejected: 0,
            cut: None,
        }
    }

    /// Why the answer ended early (`stop` sequence or `length`), if it did: the caller ends the
    /// choice and lets go of the upstream answer.
    pub(crate) fn cut(&self) -> Option<FinishReason> {
        self.cut
    }

    /// Feeds one text delta of the model.
    pub(crate) fn feed(&mut self, delta: &str) -> Shaped {
        let mut out = Shaped::default();
        if self.cut.is_some() {
            return out;
        }
        match self.parser.as_mut() {
            Some(parser) => {
                let events = parser.feed(delta);
                self.take(events, &mut out);
            }
            None => self.release(delta, &mut out),
        }
        out
    }

    /// The end of the model's answer: releases what was held back.
    pub(crate) fn finish(&mut self) -> Shaped {
        let mut out = Shaped::default();
        if self.cut.is_some() {
            return out;
        }
        if let Some(parser) = self.parser.as_mut() {
            let events = parser.finish();
            self.take(events, &mut out);
        }
        let held = self.stop.finish();
        self.pass_budget(&held, &mut out);
        if self.spec.tools.call_required() && self.calls.is_empty() {
            tracing::info!(
                "tool_choice required a call but the model answered without one; \
                 returning its text with finish reason stop"
            );
        }
        out
    }

    fn take(&mut self, events: Vec<ToolEvent>, out: &mut Shaped) {
        for event in events {
            if self.cut.is_some() {
                return;
            }
            match event {
                ToolEvent::Text(text) => self.release(&text, out),
                ToolEvent::Rejected(rejected) => {
                    tracing::info!(reason = %rejected.reason, "model wrote an unusable tool call; returning it as text");
                    self.rejected += 1;
                    self.release(&rejected.raw, out);
                }
                ToolEvent::Call(call) => {
                    // Text held by the stop matcher comes before the call.
                    let held = self.stop.finish();
                    self.pass_budget(&held, out);
                    self.calls.push(call.clone());
                    out.calls.push(call);
                }
            }
        }
    }

    fn release(&mut self, text: &str, out: &mut Shaped) {
        let step = self.stop.feed(text);
        self.pass_budget(&step.text, out);
        if step.stopped && self.cut.is_none() {
            self.cut = Some(FinishReason::Stop);
        }
    }

    fn pass_budget(&mut self, text: &str, out: &mut Shaped) {
        if text.is_empty() || self.cut.is_some() {
            return;
        }
        let fits = match self.budget.as_mut() {
            Some(budget) => {
                let step = budget.feed(text);
                if step.exhausted {
                    self.cut = Some(FinishReason::Length);
                }
                step.fits
            }
            None => text,
        };
        self.released.push_str(fits);
        out.text.push_str(fits);
    }

    /// The finish reason of the choice, given upstream's.
    pub(crate) fn finish_reason(&self, upstream: FinishReason) -> FinishReason {
        match self.cut {
            Some(reason) => reason,
            None if !self.calls.is_empty() => FinishReason::ToolCalls,
            None if self.rejected > 0 || self.spec.tools.call_required() => FinishReason::Stop,
            None => upstream,
        }
    }

    /// Checks `response_format` on the whole answer (answers with calls are not checked).
    pub(crate) fn check_format(&self) -> Result<(), String> {
        if !self.calls.is_empty() {
            return Ok(());
        }
        self.spec.format.check(&self.released)
    }

    /// Usage counted by the bridge: the upstream prompt and what the client received.
    pub(crate) fn estimated_usage(&self) -> Usage {
        let calls: u64 = self
            .calls
            .iter()
            .map(|c| (tokens::count(&c.name) + tokens::count(&c.arguments)) as u64)
            .sum();
        let text = match &self.budget {
            Some(budget) => budget.used() as u64,
            None => tokens::count(&self.released) as u64,
        };
        Usage::estimated(self.spec.prompt_tokens(), text + calls)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn shaper(request: serde_json::Value) -> Shaper {
        let chat = ChatCompletionRequest::from_json(request).unwrap();
        let upstream = Arc::new(chat.for_upstream());
        Shaper::new(Arc::new(Emulation::new(&chat, upstream)))
    }

    fn base(extra: serde_json::Value) -> serde_json::Value {
        let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    #[test]
    fn stop_cuts_across_deltas() {
        let mut s = shaper(base(json!({"stop": ["END"]})));
        let mut text = s.feed("one E").text;
        assert_eq!(s.cut(), None);
        text.push_str(&s.feed("ND two").text);
        assert_eq!(text, "one ");
        assert_eq!(s.cut(), Some(FinishReason::Stop));
        assert_eq!(s.finish_reason(FinishReason::Length), FinishReason::Stop);
    }

    #[test]
    fn budget_ends_with_length_and_usage_is_estimated() {
        let mut s = shaper(base(json!({"max_tokens": 3})));
        let text = s.feed("one two three four five").text;
        assert_eq!(text, "one two three");
        assert_eq!(s.cut(), Some(FinishReason::Length));
        let usage = s.estimated_usage();
        assert_eq!(usage.completion_tokens, 3);
        assert_eq!(usage.estimated, Some(true));
        assert!(usage.prompt_tokens > 0);
    }

    #[test]
    fn a_call_comes_out_as_a_call_and_finishes_with_tool_calls() {
        let tools = json!([{"type": "function", "function": {"name": "f",
            "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}}}}]);
        let mut s = shaper(base(json!({"tools": tools})));
        let a = s.feed("Let me check.\n<tool_call>{\"name\": \"f\", \"argu");
        let b = s.feed("ments\": {\"x\": 1}}</tool_call>");
        let c = s.finish();
        let text: String = [a.text, b.text, c.text].concat();
        assert_eq!(text.trim_end(), "Let me check.");
        let calls: Vec<ToolCall> = [a.calls, b.calls, c.calls].concat();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].arguments, "{\"x\":1}");
        assert_eq!(s.finish_reason(FinishReason::Stop), FinishReason::ToolCalls);
        assert!(s.check_format().is_ok());
    }

    #[test]
    fn format_is_checked_on_the_released_text() {
        let mut s = shaper(base(json!({"response_format": {"type": "json_object"}})));
        s.feed("not json");
        s.finish();
        assert!(s.check_format().unwrap_err().contains("not valid JSON"));
    }
}
