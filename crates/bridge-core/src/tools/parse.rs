//! [`ToolCallParser`]: turns a model's streamed answer into text and tool calls.
//!
//! Pure and incremental: feed text deltas split anywhere, get [`ToolEvent`]s; the events do not
//! depend on how the answer was split (up to how `Text` is cut into pieces). Text is released
//! as soon as it cannot be the start of a call; held back are only a partial `<tool_call>` tag,
//! a code fence that may hold a call, a `{` at the start of a line that may open a bare JSON
//! call, and a trailing run of whitespace (dropped if a call follows it).
//!
//! Recognised calls: `<tool_call>{…}</tool_call>` (the format the prompt asks for; a missing
//! close tag is tolerated), a ```` ```json ```` (or plain ```` ``` ````) fence holding one call
//! object, and a bare call object that is the whole rest of the answer.

use super::call::{new_call_id, RejectReason, RejectedCall, ToolCall, ToolEvent, ToolFinish};
use super::prompt::{TOOL_CALL_CLOSE, TOOL_CALL_OPEN};
use super::repair::{call_shape, parse_lenient, CallShape};
use super::spec::{ToolChoice, ToolSet};

/// Markdown code fence.
const FENCE: &str = "```";
/// Fence info strings that may hold a call.
const CALL_FENCE_LANGUAGES: [&str; 6] = ["", "json", "json5", "jsonc", "tool_call", "tool_code"];
/// Longest fence info string looked at; a longer first line is not a call fence.
const MAX_FENCE_HEADER: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Ordinary text. `line_start`: only spaces or tabs since the last newline (or the start).
    /// `foreign_fence`: inside a code fence of another language, where nothing is a call.
    Prose {
        line_start: bool,
        foreign_fence: bool,
    },
    /// After `<tool_call>`; the buffer holds the call text so far.
    Tag,
    /// After a fence opening; the buffer holds its info string so far.
    FenceHeader,
    /// Inside a fence that may hold a call; `header` is the opening line as written.
    FenceBody { header: String },
    /// The buffer starts with a `{` opened at the start of a line.
    Bare(JsonScan),
    /// The buffer starts with a complete call object of `len` bytes; it is a call if only
    /// whitespace follows up to the end of the answer.
    BareDone { len: usize },
}

/// Finds where a top-level JSON object ends, fed bytes incrementally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct JsonScan {
    pos: usize,
    depth: usize,
    quote: Option<u8>,
    escaped: bool,
}

impl JsonScan {
    /// Scans `text` from where the last call stopped; returns the end of the object if found.
    fn advance(&mut self, text: &str) -> Option<usize> {
        let bytes = text.as_bytes();
        while self.pos < bytes.len() {
            let b = bytes[self.pos];
            self.pos += 1;
            if let Some(q) = self.quote {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == q {
                    self.quote = None;
                }
                continue;
            }
            match b {
                b'"' => self.quote = Some(b),
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        return Some(self.pos);
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// Where a block came from; tags are explicit calls, fences and bare objects only maybe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockKind {
    Tag,
    Loose,
}

/// What a block of model text turned out to be.
enum Block {
    NotACall,
    Broken(String),
    Call(CallShape),
}

/// The streaming tool-call parser for one answer.
#[derive(Debug)]
pub struct ToolCallParser {
    tools: ToolSet,
    /// Whether calls are recognised at all (tools given and `tool_choice` not `none`).
    active: bool,
    state: State,
    /// Input not yet decided on.
    buf: String,
    /// Decided text not yet emitted.
    text: String,
    /// Whitespace after the decided text, emitted only when non-call text follows.
    pending_ws: String,
    events: Vec<ToolEvent>,
    calls: usize,
    rejected: usize,
    finished: bool,
}

impl ToolCallParser {
    /// A parser for an answer to a request with these tools. Without tools, or with
    /// `tool_choice: none`, everything is text.
    pub fn new(tools: ToolSet) -> Self {
        Self {
            active: tools.calls_enabled(),
            tools,
            state: State::Prose {
                line_start: true,
                foreign_fence: false,
            },
            buf: String::new(),
            text: String::new(),
            pending_ws: String::new(),
            events: Vec::new(),
            calls: 0,
            rejected: 0,
            finished: false,
        }
    }

    /// Feeds the next piece of the answer; returns what can be decided now.
    pub fn feed(&mut self, delta: &str) -> Vec<ToolEvent> {
        if self.finished || delta.is_empty() {
            return Vec::new();
        }
        if !self.active {
            return vec![ToolEvent::Text(delta.to_owned())];
        }
        self.buf.push_str(delta);
        self.pump(false);
        self.take_events()
    }

    /// Ends the answer: decides everything still held back.
    pub fn finish(&mut self) -> Vec<ToolEvent> {
        if self.finished {
            return Vec::new();
        }
        self.finished = true;
        if self.active {
            self.pump(true);
            if self.calls == 0 {
                let ws = std::mem::take(&mut self.pending_ws);
                self.text.push_str(&ws);
            }
        }
        self.take_events()
    }

    /// Number of calls emitted so far.
    pub fn calls(&self) -> usize {
        self.calls
    }

    /// Number of call-like blocks rejected so far.
    pub fn rejected(&self) -> usize {
        self.rejected
    }

    /// How the answer ends: `tool_calls` if any call was emitted.
    pub fn finish_reason(&self) -> ToolFinish {
        if self.calls > 0 {
            ToolFinish::ToolCalls
        } else {
            ToolFinish::NoCalls
        }
    }

    fn take_events(&mut self) -> Vec<ToolEvent> {
        self.flush_text();
        std::mem::take(&mut self.events)
    }

    fn flush_text(&mut self) {
        if !self.text.is_empty() {
            self.events
                .push(ToolEvent::Text(std::mem::take(&mut self.text)));
        }
    }

    /// Decided text: everything but its trailing whitespace is released now.
    fn push_text(&mut self, piece: &str) {
        if piece.is_empty() {
            return;
        }
        let body_len = piece.trim_end().len();
        if body_len > 0 {
            let ws = std::mem::take(&mut self.pending_ws);
            self.text.push_str(&ws);
            self.text.push_str(&piece[..body_len]);
        }
        self.pending_ws.push_str(&piece[body_len..]);
    }

    fn pump(&mut self, at_end: bool) {
        loop {
            let progressed = match self.state.clone() {
                State::Prose {
                    line_start,
                    foreign_fence,
                } => self.prose(line_start, foreign_fence, at_end),
                State::Tag => self.tag(at_end),
                State::FenceHeader => self.fence_header(at_end),
                State::FenceBody { header } => self.fence_body(header, at_end),
                State::Bare(scan) => self.bare(scan, at_end),
                State::BareDone { len } => self.bare_done(len, at_end),
            };
            if !progressed {
                return;
            }
        }
    }

    /// Moves `buf[..end]` to text and drops `skip` more bytes of markup.
    fn release(&mut self, end: usize) {
        let piece: String = self.buf.drain(..end).collect();
        self.push_text(&piece);
    }

    fn prose(&mut self, mut line_start: bool, mut foreign_fence: bool, at_end: bool) -> bool {
        let mut i = 0;
        while i < self.buf.len() {
            let rest = &self.buf[i..];
            let Some(c) = rest.chars().next() else { break };
            if c == '<' && !foreign_fence {
                match prefix_state(rest, TOOL_CALL_OPEN, at_end) {
                    Prefix::Full => {
                        self.release(i);
                        self.buf.drain(..TOOL_CALL_OPEN.len());
                        self.state = State::Tag;
                        return true;
                    }
                    Prefix::Partial => return self.wait_in_prose(i, line_start, foreign_fence),
                    Prefix::No => {}
                }
            }
            if c == '`' && line_start {
                match prefix_state(rest, FENCE, at_end) {
                    Prefix::Full if foreign_fence => {
                        foreign_fence = false;
                        line_start = false;
                        i += FENCE.len();
                        continue;
                    }
                    Prefix::Full => {
                        self.release(i);
                        self.buf.drain(..FENCE.len());
                        self.state = State::FenceHeader;
                        return true;
                    }
                    Prefix::Partial => return self.wait_in_prose(i, line_start, foreign_fence),
                    Prefix::No => {}
                }
            }
            if c == '{' && line_start && !foreign_fence {
                self.release(i);
                self.state = State::Bare(JsonScan::default());
                return true;
            }
            match c {
                '\n' => line_start = true,
                ' ' | '\t' | '\r' => {}
                _ => line_start = false,
            }
            i += c.len_utf8();
        }
        self.wait_in_prose(self.buf.len(), line_start, foreign_fence)
    }

    fn wait_in_prose(&mut self, decided: usize, line_start: bool, foreign_fence: bool) -> bool {
        self.release(decided);
        self.state = State::Prose {
            line_start,
            foreign_fence,
        };
        false
    }

    fn tag(&mut self, at_end: bool) -> bool {
        let close = self.buf.find(TOOL_CALL_CLOSE);
        // A second open tag before any close: the model left the first call unclosed.
        let reopen = self.buf.find(TOOL_CALL_OPEN);
        let (end, marker, next) = match (close, reopen) {
            (Some(c), Some(o)) if o < c => (o, TOOL_CALL_OPEN, State::Tag),
            (Some(c), _) => (c, TOOL_CALL_CLOSE, prose_after_block()),
            (None, Some(o)) => (o, TOOL_CALL_OPEN, State::Tag),
            (None, None) if at_end => (self.buf.len(), "", prose_after_block()),
            (None, None) => return false,
        };
        let content: String = self.buf.drain(..end).collect();
        let closing = if marker == TOOL_CALL_CLOSE {
            TOOL_CALL_CLOSE
        } else {
            ""
        };
        self.buf.drain(..marker.len());
        let raw = format!("{TOOL_CALL_OPEN}{content}{closing}");
        let block = interpret(strip_fence(&content), BlockKind::Tag);
        self.settle(raw, block);
        self.state = next;
        true
    }

    fn fence_header(&mut self, at_end: bool) -> bool {
        let window = &self.buf.as_bytes()[..self.buf.len().min(MAX_FENCE_HEADER + 1)];
        match window.iter().position(|&b| b == b'\n') {
            Some(nl) => {
                let header_line: String = self.buf.drain(..=nl).collect();
                let language = header_line.trim().to_ascii_lowercase();
                let raw_header = format!("{FENCE}{header_line}");
                if CALL_FENCE_LANGUAGES.contains(&language.as_str()) {
                    self.state = State::FenceBody { header: raw_header };
                } else {
                    self.push_text(&raw_header);
                    self.state = State::Prose {
                        line_start: true,
                        foreign_fence: true,
                    };
                }
                true
            }
            None if self.buf.len() > MAX_FENCE_HEADER || at_end => {
                // Not a fence opening line we understand: plain text, no fence tracking.
                self.push_text(FENCE);
                self.state = State::Prose {
                    line_start: false,
                    foreign_fence: false,
                };
                true
            }
            None => false,
        }
    }

    fn fence_body(&mut self, header: String, at_end: bool) -> bool {
        if let Some(first) = self.buf.trim_start().chars().next() {
            if first != '{' {
                // Code, not a call: the fence streams as text from here on.
                self.push_text(&header);
                self.state = State::Prose {
                    line_start: true,
                    foreign_fence: true,
                };
                return true;
            }
        }
        let (end, closed) = match self.buf.find(FENCE) {
            Some(end) => (end, true),
            None if at_end => (self.buf.len(), false),
            None => return false,
        };
        let body: String = self.buf.drain(..end).collect();
        if closed {
            self.buf.drain(..FENCE.len());
        }
        let raw = format!("{header}{body}{}", if closed { FENCE } else { "" });
        let block = interpret(&body, BlockKind::Loose);
        self.settle(raw, block);
        self.state = prose_after_block();
        true
    }

    fn bare(&mut self, mut scan: JsonScan, at_end: bool) -> bool {
        match scan.advance(&self.buf) {
            Some(len) => {
                self.state = match interpret(&self.buf[..len], BlockKind::Loose) {
                    Block::NotACall => {
                        self.release(len);
                        prose_after_block()
                    }
                    Block::Broken(_) | Block::Call(_) => State::BareDone { len },
                };
                true
            }
            None if at_end => {
                let raw = std::mem::take(&mut self.buf);
                let block = interpret(&raw, BlockKind::Loose);
                self.settle(raw, block);
                self.state = prose_after_block();
                true
            }
            None => {
                self.state = State::Bare(scan);
                false
            }
        }
    }

    fn bare_done(&mut self, len: usize, at_end: bool) -> bool {
        let rest = &self.buf[len..];
        let next = rest.trim_start();
        let Some(c) = next.chars().next() else {
            if !at_end {
                return false;
            }
            let raw: String = self.buf.drain(..len).collect();
            let block = interpret(&raw, BlockKind::Loose);
            self.settle(raw, block);
            self.state = prose_after_block();
            return true;
        };
        // Another object on a new line: models list parallel calls that way.
        let new_line_object = c == '{' && rest[..rest.len() - next.len()].contains('\n');
        if new_line_object {
            let raw: String = self.buf.drain(..len).collect();
            let block = interpret(&raw, BlockKind::Loose);
            self.settle(raw, block);
        } else {
            // More text follows: the object was an example in a normal answer.
            self.release(len);
        }
        self.state = prose_after_block();
        true
    }

    /// Turns a decided block into a call, a rejection, or text.
    fn settle(&mut self, raw: String, block: Block) {
        let shape = match block {
            Block::NotACall => {
                self.push_text(&raw);
                return;
            }
            Block::Broken(detail) => {
                self.reject(raw, RejectReason::Unparseable { detail });
                return;
            }
            Block::Call(shape) => shape,
        };
        match self.check(shape) {
            Ok(call) => {
                self.pending_ws.clear();
                self.flush_text();
                self.calls += 1;
                self.events.push(ToolEvent::Call(call));
            }
            Err(reason) => self.reject(raw, reason),
        }
    }

    fn reject(&mut self, raw: String, reason: RejectReason) {
        let ws = std::mem::take(&mut self.pending_ws);
        self.text.push_str(&ws);
        self.flush_text();
        self.rejected += 1;
        self.events
            .push(ToolEvent::Rejected(RejectedCall { raw, reason }));
    }

    fn check(&self, shape: CallShape) -> Result<ToolCall, RejectReason> {
        let name = shape.name;
        let Some(spec) = self.tools.find(&name) else {
            return Err(RejectReason::UnknownTool { name });
        };
        if let ToolChoice::Function(chosen) = self.tools.choice() {
            if *chosen != name {
                return Err(RejectReason::NotChosen {
                    name,
                    chosen: chosen.clone(),
                });
            }
        }
        if self.calls > 0 && !self.tools.parallel() {
            return Err(RejectReason::ParallelNotAllowed { name });
        }
        let arguments = shape
            .arguments
            .map_err(|detail| RejectReason::Unparseable { detail })?;
        if let Err(detail) = spec.check_arguments(&arguments) {
            return Err(RejectReason::InvalidArguments { name, detail });
        }
        Ok(ToolCall {
            index: self.calls,
            id: new_call_id(),
            name,
            arguments: arguments.to_string(),
            repaired: shape.repaired,
        })
    }
}

fn prose_after_block() -> State {
    State::Prose {
        line_start: false,
        foreign_fence: false,
    }
}

/// How far `text` matches `marker` from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix {
    Full,
    /// `text` is a proper prefix of `marker`: more input decides (never at the end).
    Partial,
    No,
}

fn prefix_state(text: &str, marker: &str, at_end: bool) -> Prefix {
    if text.starts_with(marker) {
        Prefix::Full
    } else if !at_end && marker.starts_with(text) {
        Prefix::Partial
    } else {
        Prefix::No
    }
}

/// Content of a call tag without a code fence around it (some models fence inside the tag).
fn strip_fence(content: &str) -> &str {
    let trimmed = content.trim();
    let Some(after_open) = trimmed.strip_prefix(FENCE) else {
        return trimmed;
    };
    let body = after_open
        .split_once('\n')
        .map_or(after_open, |(_, body)| body);
    body.trim_end().strip_suffix(FENCE).unwrap_or(body).trim()
}

fn interpret(text: &str, kind: BlockKind) -> Block {
    match (parse_lenient(text), kind) {
        (Ok(parsed), _) => match call_shape(&parsed.value, kind == BlockKind::Loose) {
            Some(mut shape) => {
                shape.repaired |= parsed.repaired;
                Block::Call(shape)
            }
            None if kind == BlockKind::Tag => {
                Block::Broken("no function name in the call object".to_owned())
            }
            None => Block::NotACall,
        },
        (Err(detail), BlockKind::Tag) => Block::Broken(detail),
        (Err(_), BlockKind::Loose) => Block::NotACall,
    }
}
