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
//!
//! Files: `values` (the enums written as strings), `origin` (origin patterns), `error`
//! (warnings and errors), `jsonc` (the JSONC dialect shared by all three files, positions),
//! `read` (key by key into [`Config`]), `edit` (comment-keeping writes).

pub mod edit;
mod error;
mod jsonc;
mod origin;
mod read;
mod values;

use std::path::{Path, PathBuf};

pub use error::{ConfigError, ConfigWarning};
pub(crate) use jsonc::{jsonc_options, line_col, parse_jsonc, strip_bom, value_kind};
pub use origin::{origin_matches, CORS_ANY};
pub use read::{load_config, parse_config};
pub use values::{
    BattleTarget, EvaluationCleanup, Mode, ReasoningOutput, UnknownValue, UpstreamFlow,
    RETRY_FLOW_WARNING,
};

/// Default config directory, relative to the working directory.
pub const DEFAULT_CONFIG_DIR: &str = "config";
/// Main settings file.
pub const CONFIG_FILE_NAME: &str = "config.jsonc";
/// Public model name → LMArena model id (`"id"`, `"id:image"`, `"null:image"`).
pub const MODELS_FILE_NAME: &str = "models.json";
/// Per-model session pools.
pub const ENDPOINT_MAP_FILE_NAME: &str = "model_endpoint_map.json";

/// The model list bridge-model-updater writes (one entry per `publicName`, the site's fields).
pub const AVAILABLE_MODELS_FILE_NAME: &str = "available_models.json";

/// `DIR/available_models.json`.
pub fn available_models_file(dir: &Path) -> PathBuf {
    dir.join(AVAILABLE_MODELS_FILE_NAME)
}

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
    pub const EVALUATION_CLEANUP: &str = "evaluation_cleanup";
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
        EVALUATION_CLEANUP,
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
    /// What happens to the conversations the `evaluation` flow creates upstream.
    pub evaluation_cleanup: EvaluationCleanup,
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
            evaluation_cleanup: EvaluationCleanup::Keep,
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

#[cfg(test)]
mod tests {
    use super::jsonc::find_line_break_in_string;
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
