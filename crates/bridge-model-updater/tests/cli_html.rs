//! `bridge-model-updater --html`: the page from a file or stdin, written files, models.json
//! additions, dry runs and failures (no server involved).

mod common;

use common::{assert_fails_unchanged, assert_failure, config_dir, page, read, snapshot, updater};
use serde_json::Value;

const BASIC_NAMES: [&str; 8] = [
    "gemini-2.5-pro",
    "gpt-4.1-2025-04-14",
    "claude-opus-4-20250514",
    "dall-e-3",
    "gemini-2.5-flash-image-preview",
    "grok-4-search",
    "ppl-sonar-pro-high",
    "mystery-model-x",
];

fn available_names(dir: &std::path::Path) -> Vec<String> {
    let list: Vec<Value> = serde_json::from_str(&read(dir, "available_models.json")).unwrap();
    list.iter()
        .map(|m| m["publicName"].as_str().unwrap().to_owned())
        .collect()
}

fn model_names(dir: &std::path::Path) -> Vec<String> {
    // models.json may hold comments: read it the way the server does.
    let text = read(dir, "models.json");
    let models = bridge_core::models::Models::parse(&text, std::path::Path::new("m")).unwrap();
    models.iter().map(|e| e.public_name.clone()).collect()
}

const ORIGINAL_MODELS: [&str; 4] = [
    "gpt-4.1-2025-04-14",
    "dall-e-3",
    "old-image-model",
    "gemini-2.5-pro",
];

#[test]
fn html_file_writes_available_models_and_summary() {
    let dir = config_dir();
    let models_before = read(dir.path(), "models.json");
    let output = updater(dir.path())
        .arg("--html")
        .arg(page("arena_basic"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("Scraped 8 models: 4 text, 2 image, 2 search; 3 accept images (vision)."),
        "{stdout}"
    );
    assert!(stdout.contains(
        "New since the last available_models.json (5): claude-opus-4-20250514, \
         gemini-2.5-flash-image-preview, grok-4-search, ppl-sonar-pro-high, mystery-model-x"
    ));
    assert!(
        stdout.contains("No longer listed (1): retired-model"),
        "{stdout}"
    );
    // Not a terminal and no --add/--all-new: models.json is left alone, with a hint.
    assert!(stdout.contains("5 scraped models are not in models.json"));
    assert_eq!(read(dir.path(), "models.json"), models_before);
    assert_eq!(available_names(dir.path()), BASIC_NAMES);

    // Every field of the page is kept.
    let list: Vec<Value> =
        serde_json::from_str(&read(dir.path(), "available_models.json")).unwrap();
    assert_eq!(
        list[3]["capabilities"]["outputCapabilities"]["image"]["aspectRatios"][1],
        "16:9"
    );
    assert_eq!(list[0]["rank"], 1);
    assert!(read(dir.path(), "available_models.json").starts_with("[\n  {\n"));
}

#[test]
fn html_from_stdin() {
    let dir = config_dir();
    std::fs::remove_file(dir.path().join("available_models.json")).unwrap();
    let html = std::fs::read(page("arena_escaped_values")).unwrap();
    let output = updater(dir.path())
        .args(["--html", "-"])
        .write_stdin(html)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("No previous available_models.json"),
        "{stdout}"
    );
    assert_eq!(
        available_names(dir.path()),
        [
            "model \"quoted\" {x}",
            "brace}]-model",
            "模型-中文 🚀",
            "back\\slash"
        ]
    );
}

#[test]
fn add_appends_named_models_and_keeps_existing_entries() {
    let dir = config_dir();
    let before = read(dir.path(), "models.json");
    let output = updater(dir.path())
        .arg("--html")
        .arg(page("arena_basic"))
        .args(["--add", "grok-4-search", "dall-e-3", "gemini-2.5-pro"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("dall-e-3 is already in models.json."),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "gemini-2.5-pro is already in models.json as \"0000-stale-id\"; the site says \
             \"0198a1b2-0000-7000-8000-000000000001\"; left as it is."
        ),
        "{stdout}"
    );
    let after = read(dir.path(), "models.json");
    // Everything before the closing brace is byte-identical: comment, order, values.
    let kept = before.trim_end().trim_end_matches('}').trim_end();
    assert!(after.starts_with(kept), "{after}");
    assert!(after.contains("\"grok-4-search\": \"0198a1b2-0000-7000-8000-000000000006:search\""));
    let mut expected: Vec<&str> = ORIGINAL_MODELS.to_vec();
    expected.push("grok-4-search");
    assert_eq!(model_names(dir.path()), expected);
}

#[test]
fn all_new_adds_every_missing_model_with_its_type_and_is_idempotent() {
    let dir = config_dir();
    let run = || {
        updater(dir.path())
            .arg("--html")
            .arg(page("arena_basic"))
            .arg("--all-new")
            .output()
            .unwrap()
    };
    let output = run();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("Adding 5 models to"), "{stdout}");
    let text = read(dir.path(), "models.json");
    for line in [
        "\"claude-opus-4-20250514\": \"0198a1b2-0000-7000-8000-000000000003\"",
        "\"gemini-2.5-flash-image-preview\": \"0198a1b2-0000-7000-8000-000000000005:image\"",
        "\"grok-4-search\": \"0198a1b2-0000-7000-8000-000000000006:search\"",
        "\"ppl-sonar-pro-high\": \"0198a1b2-0000-7000-8000-000000000007:search\"",
        "\"mystery-model-x\": \"0198a1b2-0000-7000-8000-000000000008\"",
        "\"gemini-2.5-pro\": \"0000-stale-id\"",
        "// Models already configured by hand",
    ] {
        assert!(text.contains(line), "{line} missing from {text}");
    }
    let names = model_names(dir.path());
    assert_eq!(names[..4], ORIGINAL_MODELS);
    assert_eq!(names.len(), 9);

    let again = run();
    assert!(again.status.success());
    assert!(String::from_utf8(again.stdout)
        .unwrap()
        .contains("models.json unchanged."));
    assert_eq!(read(dir.path(), "models.json"), text);
}

#[test]
fn models_json_is_created_when_missing() {
    let dir = config_dir();
    std::fs::remove_file(dir.path().join("models.json")).unwrap();
    let output = updater(dir.path())
        .arg("--html")
        .arg(page("arena_other_objects"))
        .arg("--all-new")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        read(dir.path(), "models.json"),
        "{\n  \"leader-one\": \"0198a1b2-0000-7000-8000-000000000031\",\n  \
         \"leader-two\": \"0198a1b2-0000-7000-8000-000000000032:search\",\n  \
         \"pair-model\": \"0198a1b2-0000-7000-8000-000000000033\"\n}\n"
    );
}

#[test]
fn dry_run_writes_nothing() {
    let dir = config_dir();
    let before = snapshot(dir.path());
    let output = updater(dir.path())
        .arg("--html")
        .arg(page("arena_basic"))
        .args(["--all-new", "--dry-run"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("Dry run: would write"), "{stdout}");
    assert!(stdout.contains("Would add 5 models to"), "{stdout}");
    assert!(stdout.contains(
        "  + \"gemini-2.5-flash-image-preview\": \"0198a1b2-0000-7000-8000-000000000005:image\""
    ));
    assert!(stdout.contains("Dry run: nothing written."));
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn dry_run_creates_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = updater(dir.path())
        .arg("--html")
        .arg(page("arena_split_push"))
        .args(["--add", "quote-split", "--dry-run"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(snapshot(dir.path()).is_empty());
}

#[test]
fn unknown_add_name_lists_close_names_and_writes_nothing() {
    let dir = config_dir();
    let mut cmd = updater(dir.path());
    cmd.arg("--html")
        .arg(page("arena_basic"))
        .args(["--add", "gemini-2.5", "grok-4-search"]);
    let error = assert_fails_unchanged(&mut cmd, dir.path(), 9);
    assert!(
        error.contains("\"gemini-2.5\" (did you mean \"gemini-2.5-pro\""),
        "{error}"
    );
}

#[test]
fn page_without_model_list_exits_2() {
    for name in ["arena_no_model_list", "cloudflare_challenge"] {
        let dir = config_dir();
        let mut cmd = updater(dir.path());
        cmd.arg("--html").arg(page(name));
        let error = assert_fails_unchanged(&mut cmd, dir.path(), 2);
        assert!(
            error.contains("LMArena may have changed its page"),
            "{error}"
        );
    }
}

#[test]
fn missing_html_file_exits_7() {
    let dir = config_dir();
    let output = updater(dir.path())
        .args(["--html", "/nonexistent/page.html"])
        .output()
        .unwrap();
    let error = assert_failure(&output, 7);
    assert!(
        error.contains("cannot read /nonexistent/page.html"),
        "{error}"
    );
}

#[test]
fn missing_config_dir_exits_7() {
    let dir = tempfile::tempdir().unwrap();
    let output = updater(&dir.path().join("nope"))
        .arg("--html")
        .arg(page("arena_basic"))
        .output()
        .unwrap();
    let error = assert_failure(&output, 7);
    assert!(error.contains("cannot write"), "{error}");
    assert!(error.contains("--config-dir"), "{error}");
}

#[test]
fn broken_models_json_exits_8() {
    let dir = config_dir();
    std::fs::write(dir.path().join("models.json"), "{\"a\": \"1\",,}").unwrap();
    let mut cmd = updater(dir.path());
    cmd.arg("--html").arg(page("arena_basic")).arg("--all-new");
    let error = assert_fails_unchanged(&mut cmd, dir.path(), 8);
    assert!(error.contains("models.json:1:"), "{error}");
}

#[test]
fn usage_error_exits_64_and_help_documents_exit_codes() {
    let dir = config_dir();
    let output = updater(dir.path())
        .args(["--add", "x", "--all-new"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));

    let help = updater(dir.path()).arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8(help.stdout).unwrap();
    for line in [
        "Exit codes:",
        "  2    no model list in the HTML",
        "  3    bridge-server is not running",
        "  4    no LMArena tab",
        "  9    a --add name",
    ] {
        assert!(text.contains(line), "{line} missing from help");
    }
}
