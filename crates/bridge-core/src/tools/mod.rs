//! Tool-call emulation: LMArena has no tool calling, so the tools are described in the
//! upstream prompt and the model's answer is parsed for calls.
//!
//! - [`spec`]: `tools` / `tool_choice` / `parallel_tool_calls` → [`ToolSet`] (schemas compiled).
//! - [`prompt`]: the tools block for the prompt and the history folded into text.
//! - [`parse`]: [`ToolCallParser`], the streaming parser of the answer.
//! - [`call`]: parser events, calls and their OpenAI wire shapes.
//! - `repair`: lenient JSON (one local repair attempt) and call-object shapes.
//!
//! Flow for one request: `ToolSet::from_request` → `tools_prompt` + `fold_history` into the
//! upstream prompt → every answer delta through `ToolCallParser::feed`, then `finish` →
//! `Text` as `content`, `Call` as `delta.tool_calls` (finish `tool_calls`), `Rejected` as
//! `content` text (finish `stop` when no call was made).

pub mod call;
pub mod parse;
pub mod prompt;
mod repair;
pub mod spec;

pub use call::{
    new_call_id, AssistantToolCall, FunctionCall, RejectReason, RejectedCall, ToolCall,
    ToolCallDelta, ToolCallMessage, ToolEvent, ToolFinish,
};
pub use parse::ToolCallParser;
pub use prompt::{
    fold_history, render_call, render_tool_result, tools_prompt, FoldedTurn, HistoryItem, TurnRole,
    TOOLS_CLOSE, TOOLS_OPEN, TOOL_CALL_CLOSE, TOOL_CALL_OPEN, TOOL_RESULT_CLOSE, TOOL_RESULT_OPEN,
};
pub use spec::{
    parse_parallel_tool_calls, parse_tool_choice, parse_tools, ToolChoice, ToolError, ToolSet,
    ToolSpec, ToolSpecs,
};
