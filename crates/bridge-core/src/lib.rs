//! Core library of lmarena-bridge.
//!
//! Owns everything that is pure data transformation and needs neither a socket nor a terminal:
//!
//! - [`config`]: `config.jsonc` parsing (JSON with comments) and comment-preserving edits.
//! - [`models`]: `models.json` and `model_endpoint_map.json`, session pools and session choice.
//! - [`openai`]: OpenAI request and response types as real clients send them.
//! - [`arena`]: the only module that knows LMArena's wire details: upstream request builders
//!   and the incremental stream parser.
//! - [`protocol`]: relay protocol v2 frames exchanged with the userscript.
//! - [`scrape`]: the model list scraped from the LMArena page HTML.
//! - [`fsutil`]: atomic file writes.
//! - [`clip`]: length caps for strings from clients and tabs.
//! - [`tools`]: tool-call emulation (prompt block, history folding, streaming call parser).
//! - [`stop`]: stop sequences over streamed text.
//! - [`tokens`]: token counting and the `max_tokens` budget.
//! - [`compat`]: the Responses and Anthropic Messages APIs as translators around chat
//!   completions (requests, answers, stream events, errors).
//! - [`fuzzing`]: invariant checks shared by the fuzz targets and their corpus tests.

pub mod arena;
pub mod clip;
pub mod compat;
pub mod config;
pub mod fsutil;
pub mod fuzzing;
pub mod models;
pub mod openai;
pub mod protocol;
pub mod scrape;
pub mod stop;
pub mod tokens;
pub mod tools;
