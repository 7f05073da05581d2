//! `config.jsonc` against the fixtures of `tests/fixtures/config/` and the shipped default.

use std::path::{Path, PathBuf};

use bridge_core::config::edit::{edit_file, set_string_values};
use bridge_core::config::{
    load_config, parse_config, BattleTarget, Config, ConfigError, EvaluationCleanup, Mode,
    ReasoningOutput, UpstreamFlow, RETRY_FLOW_WARNING,
};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/config").join(name)
}

#[test]
fn original_shape_loads_with_its_values() {
    let (config, warnings) = load_config(&fixture("original.jsonc")).unwrap();
    let expected = Config {
        session_id: Some("8f1c2a4e-3b5d-4c6e-9f70-1a2b3c4d5e6f".into()),
        message_id: Some("0d9e8f7a-6b5c-4d3e-8a2f-9e8d7c6b5a4f".into()),
        id_updater_last_mode: Mode::Battle,
        id_updater_battle_target: BattleTarget::B,
        bypass_enabled: true,
        tavern_mode_enabled: false,
        use_default_ids_if_mapping_not_found: true,
        stream_response_timeout_seconds: 360,
        api_key: Some("sk-local-test-key".into()),
        enable_auto_update: true,
        version: Some("2.7.3".into()),
        ..Config::default()
    };
    assert_eq!(config, expected);
    let keys: Vec<&str> = warnings.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "file_bed_enabled",
            "file_bed_upload_url",
            "file_bed_api_key",
            "enable_idle_restart",
            "idle_restart_timeout_seconds",
        ]
    );
    for w in &warnings {
        assert!(w.message.contains("ignored"), "{w}");
    }
}

#[test]
fn every_key_is_read() {
    let (c, warnings) = load_config(&fixture("all_keys.jsonc")).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let expected = Config {
        session_id: Some("s-1".into()),
        message_id: Some("m-1".into()),
        id_updater_last_mode: Mode::DirectChat,
        id_updater_battle_target: BattleTarget::A,
        bypass_enabled: true,
        tavern_mode_enabled: true,
        use_default_ids_if_mapping_not_found: false,
        stream_response_timeout_seconds: 120,
        api_key: None,
        enable_auto_update: false,
        version: Some("1.0.0".into()),
        host: "0.0.0.0".into(),
        port: 6102,
        allowed_origins: vec!["https://lmarena.ai".into(), "https://*.lmarena.ai".into()],
        cors_allowed_origins: vec!["http://localhost:3000".into()],
        upstream_flow: UpstreamFlow::Evaluation,
        max_concurrent_per_tab: 3,
        queue_limit: 10,
        queue_timeout_seconds: 30,
        first_byte_timeout_seconds: 45,
        total_timeout_seconds: 900,
        reasoning_output: ReasoningOutput::ThinkTags,
        max_request_bytes: 1_048_576,
        evaluation_history_size: 512,
        evaluation_cleanup: EvaluationCleanup::DeleteOnEvict,
        recaptcha_site_key: "6LeTestKey_-0123456789abcdefghijklmnopqrst".into(),
        recaptcha_v2_wait_seconds: 30,
        upstream_min_interval_seconds: 3,
    };
    assert_eq!(c, expected);
}

#[test]
fn broken_files_give_file_line_and_column() {
    // (file, line, column, text the message must contain)
    let cases = [
        ("missing_comma.jsonc", 3, 22, "Expected comma"),
        ("unterminated_string.jsonc", 4, 17, "Unterminated string"),
        (
            "wrong_type.jsonc",
            5,
            38,
            "`stream_response_timeout_seconds`",
        ),
        ("top_level_array.jsonc", 2, 1, "found an array"),
    ];
    for (name, line, column, needle) in cases {
        let path = fixture(name);
        let err = load_config(&path).unwrap_err();
        assert_eq!(err.path(), path.as_path(), "{name}");
        assert_eq!(err.position(), Some((line, column)), "{name}: {err}");
        let msg = err.to_string();
        assert!(msg.contains(name), "{msg}");
        assert!(msg.contains(&format!(":{line}:{column}:")), "{msg}");
        assert!(msg.contains(needle), "{msg}");
    }
    assert!(matches!(
        load_config(&fixture("wrong_type.jsonc")),
        Err(ConfigError::InvalidValue { ref key, .. }) if key == "stream_response_timeout_seconds"
    ));
    assert!(matches!(
        load_config(&fixture("top_level_array.jsonc")),
        Err(ConfigError::NotAnObject { .. })
    ));
}

/// Lines of `a` and `b` that differ, by index; both must have the same number of lines.
fn changed_lines<'a>(a: &'a str, b: &'a str) -> Vec<(usize, &'a str, &'a str)> {
    let (la, lb): (Vec<_>, Vec<_>) = (a.split('\n').collect(), b.split('\n').collect());
    assert_eq!(la.len(), lb.len(), "line count changed");
    la.iter()
        .zip(&lb)
        .enumerate()
        .filter(|(_, (x, y))| x != y)
        .map(|(i, (x, y))| (i, *x, *y))
        .collect()
}

#[test]
fn editing_two_keys_changes_exactly_two_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.jsonc");
    let original = std::fs::read_to_string(fixture("original.jsonc")).unwrap();
    std::fs::write(&path, &original).unwrap();

    edit_file(
        &path,
        &[("session_id", "new-session"), ("message_id", "new-message")],
    )
    .unwrap();

    let edited = std::fs::read_to_string(&path).unwrap();
    let changed = changed_lines(&original, &edited);
    assert_eq!(
        changed,
        [
            (
                8,
                "  \"session_id\": \"8f1c2a4e-3b5d-4c6e-9f70-1a2b3c4d5e6f\",",
                "  \"session_id\": \"new-session\","
            ),
            (
                11,
                "  \"message_id\": \"0d9e8f7a-6b5c-4d3e-8a2f-9e8d7c6b5a4f\", // 点击 Retry 时捕获 / captured on Retry",
                "  \"message_id\": \"new-message\", // 点击 Retry 时捕获 / captured on Retry"
            ),
        ]
    );
    // The escaped URL and the comments survive byte for byte.
    assert!(edited
        .contains(r#""file_bed_upload_url": "http:\/\/127.0.0.1:5180/upload", // 图床上传地址"#));
    let (config, _) = load_config(&path).unwrap();
    assert_eq!(config.session_id.as_deref(), Some("new-session"));
    assert_eq!(config.message_id.as_deref(), Some("new-message"));
    // No temporary file is left next to the config.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn captured_values_with_quotes_and_backslashes_cannot_corrupt_the_file() {
    let original = std::fs::read_to_string(fixture("original.jsonc")).unwrap();
    let hostile = r#"x", "api_key": "stolen\"; // \\ \u0000"#;
    let edited =
        set_string_values(&original, &[("session_id", hostile), ("mode", "m\nn")]).unwrap();
    let (config, _) =
        bridge_core::config::parse_config(&edited, Path::new("config.jsonc")).unwrap();
    assert_eq!(config.session_id.as_deref(), Some(hostile));
    // The injected key did not take effect.
    assert_eq!(config.api_key.as_deref(), Some("sk-local-test-key"));
    // Only the edited line changed; the missing key was appended at the end.
    let without_appended = edited.replacen(",\n  \"mode\": \"m\\nn\"", "", 1);
    let changed = changed_lines(&original, &without_appended);
    assert_eq!(changed.len(), 1, "{changed:?}");
}

#[test]
fn shipped_config_loads_without_warnings_and_is_editable() {
    let path = repo_root().join("config/config.jsonc");
    let (config, warnings) = load_config(&path).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    // Placeholders load; session choice turns them into a "run bridge-id-updater" error.
    assert_eq!(config.session_id.as_deref(), Some("YOUR_SESSION_ID"));
    assert_eq!(config.message_id.as_deref(), Some("YOUR_MESSAGE_ID"));
    let defaults = Config {
        session_id: config.session_id.clone(),
        message_id: config.message_id.clone(),
        ..Config::default()
    };
    assert_eq!(config, defaults, "the shipped file documents the defaults");

    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("config.jsonc");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&copy, &text).unwrap();
    edit_file(
        &copy,
        &[
            ("session_id", "s"),
            ("message_id", "m"),
            ("id_updater_last_mode", "battle"),
            ("id_updater_battle_target", "B"),
        ],
    )
    .unwrap();
    let edited = std::fs::read_to_string(&copy).unwrap();
    assert_eq!(changed_lines(&text, &edited).len(), 4);
    let (config, _) = load_config(&copy).unwrap();
    assert_eq!(config.id_updater_last_mode, Mode::Battle);
    assert_eq!(config.id_updater_battle_target, BattleTarget::B);
}

#[test]
fn the_default_flow_is_evaluation_and_retry_is_kept_with_a_warning() {
    let path = Path::new("config.jsonc");
    let (c, warnings) = parse_config("{}", path).unwrap();
    assert_eq!(c.upstream_flow, UpstreamFlow::Evaluation);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(
        c.recaptcha_site_key,
        bridge_core::arena::recaptcha::V3_SITE_KEY
    );
    assert_eq!(c.recaptcha_v2_wait_seconds, 120);
    assert_eq!(c.upstream_min_interval_seconds, 0);

    let (c, warnings) = parse_config(r#"{"upstream_flow": "retry"}"#, path).unwrap();
    assert_eq!(c.upstream_flow, UpstreamFlow::Retry);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].key, "upstream_flow");
    assert_eq!(warnings[0].message, RETRY_FLOW_WARNING);
    assert!(warnings[0].message.contains("ignores the history"));

    let (_, warnings) = parse_config(r#"{"upstream_flow": "evaluation"}"#, path).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn recaptcha_and_pacing_keys_are_validated() {
    let path = Path::new("config.jsonc");
    for text in [
        r#"{"recaptcha_site_key": ""}"#,
        r#"{"recaptcha_site_key": "has space"}"#,
        r#"{"recaptcha_site_key": 5}"#,
        r#"{"recaptcha_v2_wait_seconds": 0}"#,
        r#"{"recaptcha_v2_wait_seconds": -1}"#,
        r#"{"upstream_min_interval_seconds": 1.5}"#,
        r#"{"upstream_min_interval_seconds": "3"}"#,
    ] {
        let err = parse_config(text, path).unwrap_err();
        let key = text.split('"').nth(1).unwrap();
        assert!(err.to_string().contains(key), "{text}: {err}");
    }
    let (c, _) = parse_config(
        r#"{"recaptcha_site_key": " k-1 ", "upstream_min_interval_seconds": 0}"#,
        path,
    )
    .unwrap();
    assert_eq!(c.recaptcha_site_key, "k-1");
    assert_eq!(c.upstream_min_interval_seconds, 0);
}
