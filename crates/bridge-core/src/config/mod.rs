//! `config.jsonc`: JSON with comments, parsed with `jsonc-parser` into a typed [`Config`].
//!
//! Every key of the original LMArena Bridge is accepted with the same meaning; keys this
//! project does not implement (and keys it does not know) are accepted and reported once each
//! as a [`ConfigWarning`], never as an error. A file that does not parse, or a known key with a
//! value of the wrong type, is a [`ConfigError`] naming the file, line and column.
//! Edits go through [`edit`], which keeps comments and layout.
//!
//! The names of the three files of the config directory live here too
//! ([`CONFIG_FILE_NAME`], [`MODELS_FILE_NAME`], [`ENDPOINT_MAP_FILE_NAME`]).

pub mod edit;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use jsonc_parser::ast::{ObjectProp, Value};
use jsonc_parser::common::Ranged;
use jsonc_parser::{CollectOptions, ParseOptions};
use serde::{Deserialize, Serialize};

/// Default config directory, relative to the working directory.
pub const DEFAULT_CONFIG_DIR: &str = "config";
/// Main settings file.
pub const CONFIG_FILE_NAME: &str = "config.jsonc";
/// Public model name → LMArena model id (`"id"`, `"id:image"`, `"null:image"`).
pub const MODELS_FILE_NAME: &str = "models.json";
/// Per-model session pools.
pub const ENDPOINT_MAP_FILE_NAME: &str = "model_endpoint_map.json";

/// `DIR/config.jsonc`.
pub fn config_file(dir: &Path) -> PathBuf {
    dir.join(CONFIG_FILE_NAME)
}

/// `DIR/models.json`.
pub fn models_file(dir: &Path) -> PathBuf {
    dir.join(MODELS_FILE_NAME)
}

/// `DIR/model_endpoint_map.json`.
pub fn endpoint_map_file(dir: &Path) -> PathBuf {
    dir.join(ENDPOINT_MAP_FILE_NAME)
}

/// The key names of `config.jsonc`, as written in the file.
pub mod keys {
    pub const SESSION_ID: &str = "session_id";
    pub const MESSAGE_ID: &str = "message_id";
    pub const ID_UPDATER_LAST_MODE: &str = "id_updater_last_mode";
    pub const ID_UPDATER_BATTLE_TARGET: &str = "id_updater_battle_target";
    pub const BYPASS_ENABLED: &str = "bypass_enabled";
    pub const TAVERN_MODE_ENABLED: &str = "tavern_mode_enabled";
    pub const USE_DEFAULT_IDS_IF_MAPPING_NOT_FOUND: &str = "use_default_ids_if_mapping_not_found";
    pub const STREAM_RESPONSE_TIMEOUT_SECONDS: &str = "stream_response_timeout_seconds";
    pub const API_KEY: &str = "api_key";
    pub const ENABLE_AUTO_UPDATE: &str = "enable_auto_update";
    pub const VERSION: &str = "version";
    pub const HOST: &str = "host";
    pub const PORT: &str = "port";
    pub const ALLOWED_ORIGINS: &str = "allowed_origins";
    pub const CORS_ALLOWED_ORIGINS: &str = "cors_allowed_origins";
    pub const UPSTREAM_FLOW: &str = "upstream_flow";
    pub const MAX_CONCURRENT_PER_TAB: &str = "max_concurrent_per_tab";
    pub const QUEUE_LIMIT: &str = "queue_limit";
    pub const QUEUE_TIMEOUT_SECONDS: &str = "queue_timeout_seconds";
    pub const FIRST_BYTE_TIMEOUT_SECONDS: &str = "first_byte_timeout_seconds";
    pub const TOTAL_TIMEOUT_SECONDS: &str = "total_timeout_seconds";
    pub const REASONING_OUTPUT: &str = "reasoning_output";
    pub const MAX_REQUEST_BYTES: &str = "max_request_bytes";
    pub const EVALUATION_HISTORY_SIZE: &str = "evaluation_history_size";
    pub const RECAPTCHA_SITE_KEY: &str = "recaptcha_site_key";
    pub const RECAPTCHA_V2_WAIT_SECONDS: &str = "recaptcha_v2_wait_seconds";
    pub const UPSTREAM_MIN_INTERVAL_SECONDS: &str = "upstream_min_interval_seconds";

    /// Every key that sets a [`Config`](super::Config) field.
    pub const KNOWN: &[&str] = &[
        SESSION_ID,
        MESSAGE_ID,
        ID_UPDATER_LAST_MODE,
        ID_UPDATER_BATTLE_TARGET,
        BYPASS_ENABLED,
        TAVERN_MODE_ENABLED,
        USE_DEFAULT_IDS_IF_MAPPING_NOT_FOUND,
        STREAM_RESPONSE_TIMEOUT_SECONDS,
        API_KEY,
        ENABLE_AUTO_UPDATE,
        VERSION,
        HOST,
        PORT,
        ALLOWED_ORIGINS,
        CORS_ALLOWED_ORIGINS,
        UPSTREAM_FLOW,
        MAX_CONCURRENT_PER_TAB,
        QUEUE_LIMIT,
        QUEUE_TIMEOUT_SECONDS,
        FIRST_BYTE_TIMEOUT_SECONDS,
        TOTAL_TIMEOUT_SECONDS,
        REASONING_OUTPUT,
        MAX_REQUEST_BYTES,
        EVALUATION_HISTORY_SIZE,
        RECAPTCHA_SITE_KEY,
        RECAPTCHA_V2_WAIT_SECONDS,
        UPSTREAM_MIN_INTERVAL_SECONDS,
    ];

    /// Keys of the original that this project accepts but does not implement.
    pub const ENABLE_IDLE_RESTART: &str = "enable_idle_restart";
    pub const IDLE_RESTART_TIMEOUT_SECONDS: &str = "idle_restart_timeout_seconds";
    /// Prefix of the original's file-bed upload keys (`file_bed_enabled`, `file_bed_upload_url`, …).
    pub const FILE_BED_PREFIX: &str = "file_bed_";
}

/// How captured sessions are used upstream: a direct chat or one side of a battle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    #[default]
    DirectChat,
    Battle,
}

/// Which side of a battle answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BattleTarget {
    #[default]
    A,
    B,
}

/// Which LMArena API the server talks to (UPSTREAM.md §2, §3 and §7).
///
/// `evaluation` is the default: today's site ignores the history the `retry` flow sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamFlow {
    Retry,
    #[default]
    Evaluation,
}

/// The warning a config naming `"upstream_flow": "retry"` gets (logged, shown on /status).
pub const RETRY_FLOW_WARNING: &str = "the legacy retry flow only regenerates the captured \
    answer: today's LMArena rebuilds it from that conversation's own history and ignores the \
    history your client sends (UPSTREAM.md §7). Remove the key or set \"evaluation\" to chat \
    with the history you send.";

/// How reasoning deltas reach the OpenAI client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasoningOutput {
    /// `delta.reasoning_content` (DeepSeek style).
    #[default]
    ReasoningContent,
    /// `<think>…</think>` around the reasoning, inside `content`.
    ThinkTags,
    /// Dropped.
    Omit,
}

/// A string that is not one of an enum's spellings in the config files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not one of {expected}")]
pub struct UnknownValue {
    pub value: String,
    /// The accepted spellings, for the message.
    pub expected: &'static str,
}

impl Mode {
    pub const DIRECT_CHAT: &'static str = "direct_chat";
    pub const BATTLE: &'static str = "battle";

    /// The spelling used in the config files.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::DirectChat => Self::DIRECT_CHAT,
            Mode::Battle => Self::BATTLE,
        }
    }
}

impl FromStr for Mode {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case(Self::DIRECT_CHAT) {
            Ok(Mode::DirectChat)
        } else if t.eq_ignore_ascii_case(Self::BATTLE) {
            Ok(Mode::Battle)
        } else {
            Err(unknown(s, Self::EXPECTED))
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl BattleTarget {
    /// The spelling used in the config files (upper case, as the original wrote it).
    pub fn as_str(self) -> &'static str {
        match self {
            BattleTarget::A => "A",
            BattleTarget::B => "B",
        }
    }
}

impl FromStr for BattleTarget {
    type Err = UnknownValue;
    /// `A`/`B`, either case (some forks of the original wrote `a`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "A" | "a" => Ok(BattleTarget::A),
            "B" | "b" => Ok(BattleTarget::B),
            _ => Err(unknown(s, Self::EXPECTED)),
        }
    }
}

impl fmt::Display for BattleTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl UpstreamFlow {
    pub const RETRY: &'static str = "retry";
    pub const EVALUATION: &'static str = "evaluation";

    pub fn as_str(self) -> &'static str {
        match self {
            UpstreamFlow::Retry => Self::RETRY,
            UpstreamFlow::Evaluation => Self::EVALUATION,
        }
    }
}

impl FromStr for UpstreamFlow {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case(Self::RETRY) {
            Ok(UpstreamFlow::Retry)
        } else if t.eq_ignore_ascii_case(Self::EVALUATION) {
            Ok(UpstreamFlow::Evaluation)
        } else {
            Err(unknown(s, Self::EXPECTED))
        }
    }
}

impl fmt::Display for UpstreamFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ReasoningOutput {
    pub const REASONING_CONTENT: &'static str = "reasoning_content";
    pub const THINK_TAGS: &'static str = "think_tags";
    pub const OMIT: &'static str = "omit";

    pub fn as_str(self) -> &'static str {
        match self {
            ReasoningOutput::ReasoningContent => Self::REASONING_CONTENT,
            ReasoningOutput::ThinkTags => Self::THINK_TAGS,
            ReasoningOutput::Omit => Self::OMIT,
        }
    }
}

impl FromStr for ReasoningOutput {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        [
            ReasoningOutput::ReasoningContent,
            ReasoningOutput::ThinkTags,
            ReasoningOutput::Omit,
        ]
        .into_iter()
        .find(|v| t.eq_ignore_ascii_case(v.as_str()))
        .ok_or_else(|| unknown(s, Self::EXPECTED))
    }
}

impl fmt::Display for ReasoningOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Enums written as strings in the config files.
trait Spelled: FromStr<Err = UnknownValue> {
    /// The accepted spellings, for messages.
    const EXPECTED: &'static str;
}

impl Spelled for Mode {
    const EXPECTED: &'static str = "\"direct_chat\" or \"battle\"";
}

impl Spelled for BattleTarget {
    const EXPECTED: &'static str = "\"A\" or \"B\"";
}

impl Spelled for UpstreamFlow {
    const EXPECTED: &'static str = "\"retry\" or \"evaluation\"";
}

impl Spelled for ReasoningOutput {
    const EXPECTED: &'static str = "\"reasoning_content\", \"think_tags\" or \"omit\"";
}

fn unknown(value: &str, expected: &'static str) -> UnknownValue {
    UnknownValue {
        value: value.to_owned(),
        expected,
    }
}

/// The typed contents of `config.jsonc`, every key with its default.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub session_id: Option<String>,
    pub message_id: Option<String>,
    pub id_updater_last_mode: Mode,
    pub id_updater_battle_target: BattleTarget,
    pub bypass_enabled: bool,
    pub tavern_mode_enabled: bool,
    pub use_default_ids_if_mapping_not_found: bool,
    pub stream_response_timeout_seconds: u64,
    /// `None` when absent or empty.
    pub api_key: Option<String>,
    pub enable_auto_update: bool,
    pub version: Option<String>,
    pub host: String,
    pub port: u16,
    /// Tab origins accepted on `/ws`; `https://*.example.com` matches subdomains.
    pub allowed_origins: Vec<String>,
    /// Browser origins allowed by CORS on the API; empty means CORS off.
    pub cors_allowed_origins: Vec<String>,
    pub upstream_flow: UpstreamFlow,
    pub max_concurrent_per_tab: usize,
    pub queue_limit: usize,
    pub queue_timeout_seconds: u64,
    /// Time allowed until the first upstream byte.
    pub first_byte_timeout_seconds: u64,
    /// Time allowed for a whole answer.
    pub total_timeout_seconds: u64,
    pub reasoning_output: ReasoningOutput,
    /// Largest accepted request body.
    pub max_request_bytes: usize,
    /// Conversations of the `evaluation` flow remembered for continuation (0 = none).
    pub evaluation_history_size: usize,
    /// reCAPTCHA Enterprise v3 key a tab mints with when its page has no reCAPTCHA script.
    pub recaptcha_site_key: String,
    /// How long a tab waits for a person to tick the reCAPTCHA v2 checkbox.
    pub recaptcha_v2_wait_seconds: u64,
    /// Least time between two upstream requests of one tab (0 = no pacing).
    pub upstream_min_interval_seconds: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            session_id: None,
            message_id: None,
            id_updater_last_mode: Mode::DirectChat,
            id_updater_battle_target: BattleTarget::A,
            bypass_enabled: false,
            tavern_mode_enabled: false,
            use_default_ids_if_mapping_not_found: true,
            stream_response_timeout_seconds: 360,
            api_key: None,
            enable_auto_update: false,
            version: None,
            host: "127.0.0.1".to_owned(),
            port: 5102,
            allowed_origins: vec![
                "https://lmarena.ai".to_owned(),
                "https://*.lmarena.ai".to_owned(),
                "https://arena.ai".to_owned(),
                "https://*.arena.ai".to_owned(),
            ],
            cors_allowed_origins: Vec::new(),
            upstream_flow: UpstreamFlow::Evaluation,
            max_concurrent_per_tab: 6,
            queue_limit: 64,
            queue_timeout_seconds: 60,
            first_byte_timeout_seconds: 120,
            total_timeout_seconds: 1800,
            reasoning_output: ReasoningOutput::ReasoningContent,
            max_request_bytes: 32 * 1024 * 1024,
            evaluation_history_size: 512,
            recaptcha_site_key: crate::arena::recaptcha::V3_SITE_KEY.to_owned(),
            recaptcha_v2_wait_seconds: 120,
            upstream_min_interval_seconds: 0,
        }
    }
}

impl Config {
    /// Whether a tab with this `Origin` header may connect to `/ws` (see [`origin_matches`]).
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|pattern| origin_matches(pattern, origin))
    }

    /// Whether a browser page with this `Origin` may call the API (CORS), same matching rules.
    /// `"*"` allows any origin, but only when an `api_key` is set.
    pub fn cors_origin_allowed(&self, origin: &str) -> bool {
        self.cors_allowed_origins.iter().any(|pattern| {
            (pattern == CORS_ANY && self.api_key.is_some()) || origin_matches(pattern, origin)
        })
    }
}

/// The `cors_allowed_origins` entry that allows every origin (needs an `api_key`).
pub const CORS_ANY: &str = "*";

/// `scheme://host[:port]`, split; `None` for anything that is not a plain origin.
fn split_origin(s: &str) -> Option<(&str, &str, Option<&str>)> {
    let s = s.trim();
    // A pattern written with a trailing slash still means the origin.
    let s = s.strip_suffix('/').unwrap_or(s);
    let (scheme, rest) = s.split_once("://")?;
    if scheme.is_empty() || rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    let (host, port) = if let Some(after_bracket) = rest.strip_prefix('[') {
        // IPv6 literal: `[::1]` or `[::1]:5102`.
        let close = after_bracket.find(']')?;
        let host_len = close + 2;
        let host = rest.get(..host_len)?;
        match rest.get(host_len..)? {
            "" => (host, None),
            tail => (host, Some(tail.strip_prefix(':')?)),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    if host.is_empty() {
        return None;
    }
    Some((scheme, host, port))
}

/// Whether `origin` (an `Origin` header value) matches `pattern` from the config.
///
/// A pattern is an exact origin (`https://lmarena.ai`) or a subdomain wildcard
/// (`https://*.lmarena.ai`), which matches any subdomain but not the bare domain, nor
/// `https://evil-lmarena.ai` or `https://lmarena.ai.evil.com`. Scheme and host compare
/// case-insensitively; a port must match exactly and is only allowed where the pattern writes
/// one.
pub fn origin_matches(pattern: &str, origin: &str) -> bool {
    let (Some((p_scheme, p_host, p_port)), Some((o_scheme, o_host, o_port))) =
        (split_origin(pattern), split_origin(origin))
    else {
        return false;
    };
    if !p_scheme.eq_ignore_ascii_case(o_scheme) || p_port != o_port {
        return false;
    }
    match p_host.strip_prefix("*.") {
        Some(domain) => {
            if domain.is_empty() || domain.contains('*') {
                return false;
            }
            // `get` rather than slicing: the cut may fall inside a multi-byte character.
            let cut = o_host.len().saturating_sub(domain.len());
            let (Some(label), Some(tail)) = (o_host.get(..cut), o_host.get(cut..)) else {
                return false;
            };
            // The label needs at least one character plus the dot before the domain.
            label.is_ascii()
                && label.len() >= 2
                && label.ends_with('.')
                && !label.starts_with('.')
                && !label.contains("..")
                && tail.eq_ignore_ascii_case(domain)
        }
        None => !p_host.contains('*') && p_host.eq_ignore_ascii_case(o_host),
    }
}

/// A key that was accepted but has no effect (not implemented, or unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config key `{}`: {}", self.key, self.message)
    }
}

/// Why `config.jsonc` could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not valid JSON with comments.
    #[error("{}:{line}:{column}: syntax error: {message}", path.display())]
    Syntax {
        path: PathBuf,
        /// 1-based.
        line: usize,
        /// 1-based, in characters.
        column: usize,
        message: String,
    },
    /// The file is valid JSON but not an object.
    #[error("{}:{line}:{column}: the file must contain one JSON object `{{ … }}`, found {found}", path.display())]
    NotAnObject {
        path: PathBuf,
        line: usize,
        column: usize,
        found: &'static str,
    },
    /// A known key with a value of the wrong type or out of range.
    #[error("{}:{line}:{column}: invalid value for `{key}`: expected {expected}", path.display())]
    InvalidValue {
        path: PathBuf,
        key: String,
        line: usize,
        column: usize,
        expected: String,
    },
}

impl ConfigError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ConfigError::Io { path, .. }
            | ConfigError::Syntax { path, .. }
            | ConfigError::NotAnObject { path, .. }
            | ConfigError::InvalidValue { path, .. } => path,
        }
    }

    /// 1-based line and column, when the error has a position.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::Syntax { line, column, .. }
            | ConfigError::NotAnObject { line, column, .. }
            | ConfigError::InvalidValue { line, column, .. } => Some((*line, *column)),
        }
    }
}

/// The JSONC dialect of all three config files: comments and trailing commas, otherwise strict
/// JSON, so a missing comma is reported instead of silently accepted.
pub(crate) fn jsonc_options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

/// Editors on Windows may save a UTF-8 byte order mark, which the JSON parser rejects.
pub(crate) fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// 1-based line and character column of a byte offset (same counting as jsonc-parser).
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let mut line = 1;
    let mut col = 1;
    let mut chars = before.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' || (c == '\r' && chars.peek() != Some(&'\n')) {
            line += 1;
            col = 1;
        } else if c != '\r' {
            col += 1;
        }
    }
    (line, col)
}

/// A JSONC syntax error with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parses `text` (BOM already stripped) in the dialect of [`jsonc_options`]; `None` for an
/// empty document.
pub(crate) fn parse_jsonc(text: &str) -> Result<Option<Value<'_>>, SyntaxError> {
    if let Some(start) = find_line_break_in_string(text) {
        let (line, column) = line_col(text, start);
        return Err(SyntaxError {
            line,
            column,
            message: "Unterminated string literal (a string must end on the line where it \
                      starts)"
                .to_owned(),
        });
    }
    jsonc_parser::parse_to_ast(text, &CollectOptions::default(), &jsonc_options())
        .map(|parsed| parsed.value)
        .map_err(|e| SyntaxError {
            line: e.line_display(),
            column: e.column_display(),
            message: e.kind().to_string(),
        })
}

/// Byte offset of the opening quote of the first string that contains a raw line break.
///
/// JSON forbids them, but jsonc-parser accepts them, so a forgotten closing quote would
/// swallow the following lines and be reported somewhere after; this points at the string.
fn find_line_break_in_string(text: &str) -> Option<usize> {
    enum State {
        Code,
        Str { start: usize, escaped: bool },
        LineComment,
        BlockComment { star: bool },
    }
    let mut state = State::Code;
    let mut prev_slash = false;
    for (i, c) in text.char_indices() {
        state = match state {
            State::Code => {
                let slash = prev_slash;
                prev_slash = false;
                match c {
                    '"' => State::Str {
                        start: i,
                        escaped: false,
                    },
                    '/' if slash => State::LineComment,
                    '*' if slash => State::BlockComment { star: false },
                    '/' => {
                        prev_slash = true;
                        State::Code
                    }
                    _ => State::Code,
                }
            }
            State::Str { start, .. } if c == '\n' || c == '\r' => return Some(start),
            State::Str {
                start,
                escaped: false,
            } => match c {
                '"' => State::Code,
                '\\' => State::Str {
                    start,
                    escaped: true,
                },
                _ => State::Str {
                    start,
                    escaped: false,
                },
            },
            State::Str {
                start,
                escaped: true,
            } => State::Str {
                start,
                escaped: false,
            },
            State::LineComment if c == '\n' || c == '\r' => State::Code,
            State::LineComment => State::LineComment,
            State::BlockComment { star: true } if c == '/' => State::Code,
            State::BlockComment { .. } => State::BlockComment { star: c == '*' },
        };
    }
    None
}

/// What kind of JSON value this is, for messages.
pub(crate) fn value_kind(value: &Value<'_>) -> &'static str {
    match value {
        Value::StringLit(_) => "a string",
        Value::NumberLit(_) => "a number",
        Value::BooleanLit(_) => "a boolean",
        Value::Object(_) => "an object",
        Value::Array(_) => "an array",
        Value::NullKeyword(_) => "null",
    }
}

/// Parse the text of `config.jsonc`. `path` is only used in messages.
pub fn parse_config(text: &str, path: &Path) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
    let text = strip_bom(text);
    let parsed = parse_jsonc(text).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    let object = match parsed {
        Some(Value::Object(object)) => object,
        Some(other) => {
            let (line, column) = line_col(text, other.start());
            return Err(ConfigError::NotAnObject {
                path: path.to_owned(),
                line,
                column,
                found: value_kind(&other),
            });
        }
        None => {
            return Err(ConfigError::NotAnObject {
                path: path.to_owned(),
                line: 1,
                column: 1,
                found: "nothing (the file is empty)",
            })
        }
    };

    let reader = Reader { text, path };
    let mut config = Config::default();
    let mut warnings = Vec::new();
    let mut seen = HashSet::new();
    for prop in &object.properties {
        let key = prop.name.as_str();
        if !seen.insert(key) {
            warnings.push(ConfigWarning {
                key: key.to_owned(),
                message: "appears more than once; the last value is used".to_owned(),
            });
        }
        if let Some(warning) = reader.apply(&mut config, key, prop)? {
            warnings.push(warning);
        }
    }
    Ok((config, warnings))
}

/// Read and parse `config.jsonc` at `path`.
pub fn load_config(path: &Path) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_config(&text, path)
}

/// Typed access to property values, producing errors with positions.
struct Reader<'t> {
    text: &'t str,
    path: &'t Path,
}

impl Reader<'_> {
    fn invalid(&self, key: &str, value: &Value<'_>, expected: impl Into<String>) -> ConfigError {
        let (line, column) = line_col(self.text, value.start());
        ConfigError::InvalidValue {
            path: self.path.to_owned(),
            key: key.to_owned(),
            line,
            column,
            expected: format!("{}, found {}", expected.into(), value_kind(value)),
        }
    }

    fn invalid_text(&self, key: &str, value: &Value<'_>, message: String) -> ConfigError {
        let (line, column) = line_col(self.text, value.start());
        ConfigError::InvalidValue {
            path: self.path.to_owned(),
            key: key.to_owned(),
            line,
            column,
            expected: message,
        }
    }

    /// Applies one property; returns the warning for keys that have no effect.
    fn apply(
        &self,
        config: &mut Config,
        key: &str,
        prop: &ObjectProp<'_>,
    ) -> Result<Option<ConfigWarning>, ConfigError> {
        let v = &prop.value;
        // `null` means "not set": the default stays.
        let is_null = matches!(v, Value::NullKeyword(_));
        match key {
            keys::SESSION_ID => config.session_id = self.opt_string(key, v)?,
            keys::MESSAGE_ID => config.message_id = self.opt_string(key, v)?,
            keys::API_KEY => config.api_key = self.opt_string(key, v)?,
            keys::VERSION => config.version = self.opt_string(key, v)?,
            k if is_null && keys::KNOWN.contains(&k) => {}
            keys::ID_UPDATER_LAST_MODE => config.id_updater_last_mode = self.parsed(key, v)?,
            keys::ID_UPDATER_BATTLE_TARGET => {
                config.id_updater_battle_target = self.parsed(key, v)?
            }
            keys::UPSTREAM_FLOW => {
                config.upstream_flow = self.parsed(key, v)?;
                if config.upstream_flow == UpstreamFlow::Retry {
                    return Ok(Some(ConfigWarning {
                        key: key.to_owned(),
                        message: RETRY_FLOW_WARNING.to_owned(),
                    }));
                }
            }
            keys::RECAPTCHA_SITE_KEY => {
                let site_key = self.string(key, v)?;
                let site_key = site_key.trim();
                if site_key.is_empty()
                    || !site_key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    return Err(self.invalid_text(
                        key,
                        v,
                        "a reCAPTCHA site key (letters, digits, '_' and '-'), as in the page's \
                         recaptcha/enterprise.js?render=<key>"
                            .to_owned(),
                    ));
                }
                config.recaptcha_site_key = site_key.to_owned();
            }
            keys::RECAPTCHA_V2_WAIT_SECONDS => {
                config.recaptcha_v2_wait_seconds = self.whole_number(key, v, 1)?
            }
            keys::UPSTREAM_MIN_INTERVAL_SECONDS => {
                config.upstream_min_interval_seconds = self.whole_number(key, v, 0)?
            }
            keys::REASONING_OUTPUT => config.reasoning_output = self.parsed(key, v)?,
            keys::BYPASS_ENABLED => config.bypass_enabled = self.boolean(key, v)?,
            keys::TAVERN_MODE_ENABLED => config.tavern_mode_enabled = self.boolean(key, v)?,
            keys::USE_DEFAULT_IDS_IF_MAPPING_NOT_FOUND => {
                config.use_default_ids_if_mapping_not_found = self.boolean(key, v)?
            }
            keys::ENABLE_AUTO_UPDATE => config.enable_auto_update = self.boolean(key, v)?,
            keys::STREAM_RESPONSE_TIMEOUT_SECONDS => {
                config.stream_response_timeout_seconds = self.whole_number(key, v, 1)?
            }
            keys::QUEUE_TIMEOUT_SECONDS => {
                config.queue_timeout_seconds = self.whole_number(key, v, 1)?
            }
            keys::FIRST_BYTE_TIMEOUT_SECONDS => {
                config.first_byte_timeout_seconds = self.whole_number(key, v, 1)?
            }
            keys::TOTAL_TIMEOUT_SECONDS => {
                config.total_timeout_seconds = self.whole_number(key, v, 1)?
            }
            keys::MAX_CONCURRENT_PER_TAB => {
                config.max_concurrent_per_tab =
                    self.to_usize(key, v, self.whole_number(key, v, 1)?)?
            }
            keys::EVALUATION_HISTORY_SIZE => {
                config.evaluation_history_size =
                    self.to_usize(key, v, self.whole_number(key, v, 0)?)?
            }
            keys::MAX_REQUEST_BYTES => {
                config.max_request_bytes = self.to_usize(key, v, self.whole_number(key, v, 1)?)?
            }
            keys::QUEUE_LIMIT => {
                config.queue_limit = self.to_usize(key, v, self.whole_number(key, v, 0)?)?
            }
            keys::HOST => {
                let host = self.string(key, v)?;
                if host.trim().is_empty() {
                    return Err(self.invalid_text(
                        key,
                        v,
                        "a host name or IP address such as \"127.0.0.1\"".to_owned(),
                    ));
                }
                config.host = host.trim().to_owned();
            }
            keys::PORT => {
                let n = self.whole_number(key, v, 0)?;
                config.port = u16::try_from(n).map_err(|_| {
                    self.invalid_text(key, v, format!("a port number 0-65535, found {n}"))
                })?;
            }
            keys::ALLOWED_ORIGINS => config.allowed_origins = self.origins(key, v)?,
            keys::CORS_ALLOWED_ORIGINS => config.cors_allowed_origins = self.origins(key, v)?,
            keys::ENABLE_IDLE_RESTART | keys::IDLE_RESTART_TIMEOUT_SECONDS => {
                return Ok(Some(ConfigWarning {
                    key: key.to_owned(),
                    message: "idle restart is not implemented (tabs reconnect on their own); \
                              ignored"
                        .to_owned(),
                }))
            }
            _ if key.starts_with(keys::FILE_BED_PREFIX) => {
                return Ok(Some(ConfigWarning {
                    key: key.to_owned(),
                    message: "file bed uploads are not implemented (attachments are sent \
                              inline); ignored"
                        .to_owned(),
                }))
            }
            _ => {
                return Ok(Some(ConfigWarning {
                    key: key.to_owned(),
                    message: "unknown key; ignored".to_owned(),
                }))
            }
        }
        Ok(None)
    }

    fn string(&self, key: &str, v: &Value<'_>) -> Result<String, ConfigError> {
        match v {
            Value::StringLit(s) => Ok(s.value.to_string()),
            _ => Err(self.invalid(key, v, "a string")),
        }
    }

    /// A string where `""` and `null` both mean "not set".
    fn opt_string(&self, key: &str, v: &Value<'_>) -> Result<Option<String>, ConfigError> {
        match v {
            Value::NullKeyword(_) => Ok(None),
            Value::StringLit(s) if s.value.trim().is_empty() => Ok(None),
            Value::StringLit(s) => Ok(Some(s.value.to_string())),
            _ => Err(self.invalid(key, v, "a string")),
        }
    }

    fn parsed<T: Spelled>(&self, key: &str, v: &Value<'_>) -> Result<T, ConfigError> {
        match v {
            Value::StringLit(s) => s
                .value
                .parse()
                .map_err(|e: UnknownValue| self.invalid_text(key, v, e.to_string())),
            _ => Err(self.invalid(key, v, T::EXPECTED)),
        }
    }

    fn boolean(&self, key: &str, v: &Value<'_>) -> Result<bool, ConfigError> {
        match v {
            Value::BooleanLit(b) => Ok(b.value),
            _ => Err(self.invalid(key, v, "true or false")),
        }
    }

    /// A whole number of at least `min`; `360.0` is accepted, `360.5` and `-1` are not.
    fn whole_number(&self, key: &str, v: &Value<'_>, min: u64) -> Result<u64, ConfigError> {
        let expected = match min {
            0 => "a whole number (0 or more)".to_owned(),
            1 => "a whole number above 0".to_owned(),
            _ => format!("a whole number of at least {min}"),
        };
        let Value::NumberLit(n) = v else {
            return Err(self.invalid(key, v, expected));
        };
        let parsed = n.value.parse::<u64>().ok().or_else(|| {
            let x = n.value.parse::<f64>().ok()?;
            // Below 2^53 every whole f64 is exact; beyond it nobody means a real setting.
            (x >= 0.0 && x.fract() == 0.0 && x < 9.0e15).then_some(x as u64)
        });
        match parsed {
            Some(x) if x >= min => Ok(x),
            _ => Err(self.invalid_text(key, v, format!("{expected}, found {}", n.value))),
        }
    }

    fn to_usize(&self, key: &str, v: &Value<'_>, n: u64) -> Result<usize, ConfigError> {
        usize::try_from(n)
            .map_err(|_| self.invalid_text(key, v, format!("a smaller number, found {n}")))
    }

    fn origins(&self, key: &str, v: &Value<'_>) -> Result<Vec<String>, ConfigError> {
        const EXPECTED: &str = "a list of origins such as [\"https://lmarena.ai\"]";
        let Value::Array(items) = v else {
            return Err(self.invalid(key, v, EXPECTED));
        };
        let mut out = Vec::with_capacity(items.elements.len());
        for item in &items.elements {
            match item {
                // `*` is only meaningful for CORS, and only honoured with an api_key.
                Value::StringLit(s)
                    if key == keys::CORS_ALLOWED_ORIGINS && s.value.trim() == CORS_ANY =>
                {
                    out.push(CORS_ANY.to_owned())
                }
                Value::StringLit(s) if split_origin(&s.value).is_some() => {
                    out.push(s.value.trim().to_owned())
                }
                Value::StringLit(s) => {
                    return Err(self.invalid_text(
                        key,
                        item,
                        format!(
                            "an origin `scheme://host[:port]` such as \"https://lmarena.ai\" or \
                             \"https://*.lmarena.ai\", found \"{}\"",
                            s.value
                        ),
                    ))
                }
                _ => return Err(self.invalid(key, item, "a string origin")),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
        parse_config(text, Path::new("test.jsonc"))
    }

    #[test]
    fn empty_object_gives_defaults() {
        let (config, warnings) = parse("{}").unwrap();
        assert_eq!(config, Config::default());
        assert!(warnings.is_empty());
    }

    #[test]
    fn new_keys_are_read() {
        let text = r#"{
            "host": "0.0.0.0", "port": 8080,
            "allowed_origins": ["https://example.com", "https://*.example.com:8443"],
            "cors_allowed_origins": ["http://localhost:3000"],
            "upstream_flow": "evaluation", "max_concurrent_per_tab": 2, "queue_limit": 0,
            "queue_timeout_seconds": 5, "first_byte_timeout_seconds": 7,
            "total_timeout_seconds": 9, "reasoning_output": "think_tags",
            "max_request_bytes": 1024, "stream_response_timeout_seconds": 360.0,
        }"#;
        let (c, w) = parse(text).unwrap();
        assert!(w.is_empty());
        assert_eq!(c.host, "0.0.0.0");
        assert_eq!(c.port, 8080);
        assert_eq!(
            c.allowed_origins,
            ["https://example.com", "https://*.example.com:8443"]
        );
        assert_eq!(c.cors_allowed_origins, ["http://localhost:3000"]);
        assert_eq!(c.upstream_flow, UpstreamFlow::Evaluation);
        assert_eq!(c.max_concurrent_per_tab, 2);
        assert_eq!(c.queue_limit, 0);
        assert_eq!(c.queue_timeout_seconds, 5);
        assert_eq!(c.first_byte_timeout_seconds, 7);
        assert_eq!(c.total_timeout_seconds, 9);
        assert_eq!(c.reasoning_output, ReasoningOutput::ThinkTags);
        assert_eq!(c.max_request_bytes, 1024);
        assert_eq!(c.stream_response_timeout_seconds, 360);
    }

    #[test]
    fn empty_and_null_strings_are_none() {
        let text = r#"{"api_key": "", "session_id": "  ", "message_id": null, "version": null}"#;
        let (c, _) = parse(text).unwrap();
        assert_eq!(c.api_key, None);
        assert_eq!(c.session_id, None);
        assert_eq!(c.message_id, None);
        assert_eq!(c.version, None);
    }

    #[test]
    fn null_keeps_default() {
        let (c, w) =
            parse(r#"{"port": null, "use_default_ids_if_mapping_not_found": null}"#).unwrap();
        assert_eq!(c, Config::default());
        assert!(w.is_empty());
    }

    #[test]
    fn enum_spellings() {
        let (c, _) =
            parse(r#"{"id_updater_last_mode": "battle", "id_updater_battle_target": "b"}"#)
                .unwrap();
        assert_eq!(c.id_updater_last_mode, Mode::Battle);
        assert_eq!(c.id_updater_battle_target, BattleTarget::B);
        let (c, _) =
            parse(r#"{"id_updater_last_mode": "direct_chat", "id_updater_battle_target": "A"}"#)
                .unwrap();
        assert_eq!(c.id_updater_last_mode, Mode::DirectChat);
        assert_eq!(c.id_updater_battle_target, BattleTarget::A);
        assert_eq!("a".parse::<BattleTarget>(), Ok(BattleTarget::A));
        assert!("C".parse::<BattleTarget>().is_err());
        assert_eq!("omit".parse::<ReasoningOutput>(), Ok(ReasoningOutput::Omit));
    }

    #[test]
    fn invalid_values_name_the_key_and_position() {
        let cases: &[(&str, &str, (usize, usize), &str)] = &[
            ("{\n  \"port\": \"80\"\n}", "port", (2, 11), "whole number"),
            ("{\"port\": 70000}", "port", (1, 10), "0-65535"),
            (
                "{\"bypass_enabled\": \"yes\"}",
                "bypass_enabled",
                (1, 20),
                "true or false",
            ),
            (
                "{\"id_updater_last_mode\": \"duel\"}",
                "id_updater_last_mode",
                (1, 26),
                "battle",
            ),
            (
                "{\"id_updater_battle_target\": \"C\"}",
                "id_updater_battle_target",
                (1, 30),
                "\"A\"",
            ),
            (
                "{\"upstream_flow\": 1}",
                "upstream_flow",
                (1, 19),
                "evaluation",
            ),
            ("{\"session_id\": 123}", "session_id", (1, 16), "a string"),
            (
                "{\"stream_response_timeout_seconds\": -1}",
                "stream_response_timeout_seconds",
                (1, 37),
                "above 0",
            ),
            (
                "{\"max_concurrent_per_tab\": 0}",
                "max_concurrent_per_tab",
                (1, 28),
                "above 0",
            ),
            (
                "{\"queue_limit\": 1.5}",
                "queue_limit",
                (1, 17),
                "whole number",
            ),
            (
                "{\"allowed_origins\": \"https://lmarena.ai\"}",
                "allowed_origins",
                (1, 21),
                "list",
            ),
            (
                "{\"allowed_origins\": [\"lmarena.ai\"]}",
                "allowed_origins",
                (1, 22),
                "scheme://",
            ),
            (
                "{\"allowed_origins\": [1]}",
                "allowed_origins",
                (1, 22),
                "string origin",
            ),
            ("{\"host\": \"\"}", "host", (1, 10), "host name"),
            (
                "{\"reasoning_output\": \"all\"}",
                "reasoning_output",
                (1, 22),
                "think_tags",
            ),
        ];
        for (text, want_key, want_pos, want_msg) in cases {
            match parse(text) {
                Err(e @ ConfigError::InvalidValue { .. }) => {
                    let ConfigError::InvalidValue {
                        key, line, column, ..
                    } = &e
                    else {
                        unreachable!()
                    };
                    assert_eq!(key, want_key, "{text}");
                    assert_eq!((*line, *column), *want_pos, "{text}: {e}");
                    let msg = e.to_string();
                    assert!(msg.contains(want_msg), "{text}: {msg}");
                    assert!(msg.starts_with("test.jsonc:"), "{msg}");
                    assert!(msg.contains(want_key), "{msg}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn ignored_keys_warn_once_each_whatever_their_type() {
        let text = r#"{
            "enable_idle_restart": "maybe", "idle_restart_timeout_seconds": -1,
            "file_bed_enabled": true, "file_bed_upload_url": "http:\/\/x/upload",
            "file_bed_api_key": "k", "file_bed_selection_strategy": "random",
            "auto_open_browser": true
        }"#;
        let (c, w) = parse(text).unwrap();
        assert_eq!(c, Config::default());
        let keys: Vec<_> = w.iter().map(|w| w.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "enable_idle_restart",
                "idle_restart_timeout_seconds",
                "file_bed_enabled",
                "file_bed_upload_url",
                "file_bed_api_key",
                "file_bed_selection_strategy",
                "auto_open_browser"
            ]
        );
        assert!(w[0].to_string().contains("enable_idle_restart"));
        assert!(w[6].message.contains("unknown"));
    }

    #[test]
    fn null_unknown_keys_still_warn() {
        let (_, w) = parse(r#"{"file_bed_enabled": null, "mystery": null}"#).unwrap();
        assert_eq!(w.len(), 2, "{w:?}");
    }

    #[test]
    fn every_known_key_is_read() {
        // Each known key with a value of the wrong type must fail: proves none falls through
        // to the "unknown key" warning.
        for key in keys::KNOWN {
            let text = format!("{{\"{key}\": {{}}}}");
            match parse(&text) {
                Err(ConfigError::InvalidValue { key: k, .. }) => assert_eq!(k, *key),
                other => panic!("{key}: {other:?}"),
            }
        }
    }

    #[test]
    fn duplicate_key_warns_and_last_wins() {
        let (c, w) = parse(r#"{"port": 1, "port": 2}"#).unwrap();
        assert_eq!(c.port, 2);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].key, "port");
    }

    #[test]
    fn syntax_errors_have_positions() {
        // A missing comma is reported where the comma belongs: right after the value.
        let e = parse("{\n  \"a\": 1\n  \"b\": 2\n}").unwrap_err();
        assert_eq!(e.position(), Some((2, 9)), "{e:?}");
        assert!(
            e.to_string()
                .starts_with("test.jsonc:2:9: syntax error: Expected comma"),
            "{e}"
        );
        // Single quotes and hex are not JSON; we do not accept them silently.
        assert!(matches!(parse("{'a': 1}"), Err(ConfigError::Syntax { .. })));
        assert!(matches!(
            parse("{\"port\": 0x10}"),
            Err(ConfigError::Syntax { .. })
        ));
    }

    #[test]
    fn not_an_object() {
        for (text, found) in [("[]", "an array"), ("  \"x\"", "a string"), ("", "nothing")] {
            match parse(text) {
                Err(ConfigError::NotAnObject { found: f, .. }) => assert!(f.contains(found)),
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let e = parse("\n  [1]").unwrap_err();
        assert_eq!(e.position(), Some((2, 3)));
    }

    #[test]
    fn comment_after_value_does_not_empty_the_config() {
        // Pitfall 15: a `//` after a value made the original parse the whole file as `{}`.
        let text =
            "{\n  \"port\": 6000, // the port\n  \"api_key\": \"k//not a comment\" /* x */\n}";
        let (c, _) = parse(text).unwrap();
        assert_eq!(c.port, 6000);
        assert_eq!(c.api_key.as_deref(), Some("k//not a comment"));
    }

    #[test]
    fn line_break_inside_a_string_points_at_the_string() {
        let cases: &[(&str, Option<(usize, usize)>)] = &[
            ("{\n  \"a\": \"x,\n  \"b\": \"\"\n}", Some((2, 8))),
            ("{\"a\": \"x\\\ny\"}", Some((1, 7))),
            ("{\"a\": \"x\\\"y // z\"}", None),
            ("{\"a\": \"http://h\" // \"\n}", None),
            ("{/* \"\n */ \"a\": 1}", None),
            ("{/* *\"/ \"x\n\" */\"a\": \"b\r\"}", Some((2, 10))),
            ("{\"a\": 1 / 2}", None),
        ];
        for (text, want) in cases {
            let got = find_line_break_in_string(text).map(|at| line_col(text, at));
            assert_eq!(got, *want, "{text:?}");
        }
        let e = parse("{\n  \"session_id\": \"abc,\n  \"api_key\": \"\"\n}").unwrap_err();
        assert_eq!(e.position(), Some((2, 17)));
        assert!(e.to_string().contains("Unterminated string"), "{e}");
    }

    #[test]
    fn byte_order_mark_is_accepted() {
        let (c, _) = parse("\u{feff}{\"port\": 7}").unwrap();
        assert_eq!(c.port, 7);
    }

    #[test]
    fn line_col_counts_chars_and_crlf() {
        let text = "ab\r\n中文x\ry";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 4), (2, 1));
        assert_eq!(line_col(text, 10), (2, 3));
        assert_eq!(line_col(text, 12), (3, 1));
        // Past the end or inside a char: clamps, never panics.
        assert_eq!(line_col(text, 5), line_col(text, text.len()));
    }

    #[test]
    fn origin_matching() {
        let config = Config::default();
        let yes = [
            "https://lmarena.ai",
            "https://LMArena.AI",
            "HTTPS://lmarena.ai",
            "https://canary.lmarena.ai",
            "https://a.b.lmarena.ai",
            "https://arena.ai",
            "https://www.arena.ai",
        ];
        let no = [
            "http://lmarena.ai",
            "https://lmarena.ai:8443",
            "https://evil-lmarena.ai",
            "https://lmarena.ai.evil.com",
            "https://canary.lmarena.ai.evil.com",
            "https://xarena.ai",
            "https://.lmarena.ai",
            "https://a..lmarena.ai",
            "null",
            "",
            "https://lmarena.ai/path",
            "https://user@lmarena.ai",
            "https://中.lmarena.ai",
        ];
        for o in yes {
            assert!(config.origin_allowed(o), "{o}");
        }
        for o in no {
            assert!(!config.origin_allowed(o), "{o}");
        }
        assert!(origin_matches(
            "https://*.x.com:8443",
            "https://a.x.com:8443"
        ));
        assert!(!origin_matches("https://*.x.com:8443", "https://a.x.com"));
        assert!(!origin_matches("https://*.x.com", "https://x.com"));
        assert!(origin_matches(
            "http://127.0.0.1:5102/",
            "http://127.0.0.1:5102"
        ));
        assert!(origin_matches("http://[::1]:5102", "http://[::1]:5102"));
        assert!(!origin_matches("http://[::1]", "http://[::1]:5102"));
        assert!(!origin_matches("https://*", "https://a.com"));
        // Regression: the cut before the domain fell inside `é` and panicked.
        assert!(!origin_matches("https://*.ab", "https://xéb"));
        assert!(!origin_matches("https://*.ab", "https://é.ab"));
        assert!(!Config::default().cors_origin_allowed("http://localhost:3000"));
    }

    #[test]
    fn file_helpers() {
        let dir = Path::new("cfg");
        assert_eq!(config_file(dir), Path::new("cfg/config.jsonc"));
        assert_eq!(models_file(dir), Path::new("cfg/models.json"));
        assert_eq!(
            endpoint_map_file(dir),
            Path::new("cfg/model_endpoint_map.json")
        );
    }

    #[test]
    fn load_names_missing_file() {
        let e = load_config(Path::new("/nonexistent/dir/config.jsonc")).unwrap_err();
        assert!(matches!(e, ConfigError::Io { .. }));
        assert!(e.to_string().contains("/nonexistent/dir/config.jsonc"));
    }
}
