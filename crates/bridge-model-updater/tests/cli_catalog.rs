//! `bridge-model-updater` with the site's model catalog: `--catalog FILE` (no server), the
//! `available_models.json` it writes (one entry per `publicName`, with `arenas`), drifted
//! ids reported and, with `--fix-ids`, rewritten in place; and the same drift report from the
//! page HTML fixtures.

mod common;

use std::path::PathBuf;

use common::*;

fn catalog_fixture() -> PathBuf {
    fixtures().join("../catalog/model_catalog_2026-10.json")
}

/// `[publicName, models.json value, arenas]` rows of the catalog fixture.
fn expected_rows() -> Vec<(String, String, Vec<String>)> {
    let text =
        std::fs::read_to_string(fixtures().join("../catalog/model_catalog_2026-10.expected.json"))
            .unwrap();
    serde_json::from_str(&text).unwrap()
}

const MODELS: &str = r#"{
  // mine, by hand
  "gemini-2.5-pro": "0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a00",
  "gpt-image-1": "old-image-id:image", // the image model
  "keep-me": "null:image",
  "gpt-5-chat": "0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a03"
}
"#;

/// `MODELS` with the two drifted ids rewritten and nothing else touched.
const FIXED: &str = r#"{
  // mine, by hand
  "gemini-2.5-pro": "0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a01",
  "gpt-image-1": "0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a04:image", // the image model
  "keep-me": "null:image",
  "gpt-5-chat": "0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a03"
}
"#;

fn dir_with_models() -> tempfile::TempDir {
    let dir = config_dir();
    std::fs::write(dir.path().join("models.json"), MODELS).unwrap();
    dir
}

fn run(dir: &std::path::Path, args: &[&str]) -> String {
    let output = updater(dir).args(args).output().unwrap();
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn a_saved_catalog_fills_available_models_one_entry_per_name_with_arenas() {
    let dir = dir_with_models();
    let catalog = catalog_fixture();
    let stdout = run(
        dir.path(),
        &["--catalog", catalog.to_str().unwrap(), "--yes"],
    );
    assert!(stdout.contains("6 arenas, 15 entries"), "{stdout}");
    let available: Vec<serde_json::Value> =
        serde_json::from_str(&read(dir.path(), "available_models.json")).unwrap();
    let rows = expected_rows();
    assert_eq!(available.len(), rows.len());
    for (model, (name, value, arenas)) in available.iter().zip(&rows) {
        assert_eq!(model["publicName"], name.as_str());
        assert_eq!(model["id"], value.split(':').next().unwrap());
        assert_eq!(model["arenas"], serde_json::json!(arenas));
        // The catalog's own fields, as they came.
        for field in [
            "name",
            "displayName",
            "organization",
            "capabilities",
            "userSelectable",
        ] {
            assert!(model.get(field).is_some(), "{name} lacks {field}");
        }
    }
    // Reported, not changed: without --fix-ids models.json stays byte-identical.
    assert!(
        stdout.contains(
            "Model ids that changed on the site (2; same name, new id):\n  ~ \"gemini-2.5-pro\": \
             0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a00 -> 0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a01\n  ~ \
             \"gpt-image-1\": old-image-id -> 0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a04\n\
             Run with --fix-ids"
        ),
        "{stdout}"
    );
    assert_eq!(read(dir.path(), "models.json"), MODELS);
}

#[test]
fn fix_ids_rewrites_only_the_drifted_values_in_place() {
    let dir = dir_with_models();
    let catalog = catalog_fixture();
    let catalog = catalog.to_str().unwrap();
    let dry = run(
        dir.path(),
        &["--catalog", catalog, "--fix-ids", "--dry-run"],
    );
    assert!(dry.contains("Dry run: nothing written."), "{dry}");
    assert_eq!(read(dir.path(), "models.json"), MODELS);

    let stdout = run(dir.path(), &["--catalog", catalog, "--fix-ids", "--yes"]);
    assert!(!stdout.contains("Run with --fix-ids"), "{stdout}");
    assert_eq!(read(dir.path(), "models.json"), FIXED);
    // Nothing left to fix.
    let again = run(dir.path(), &["--catalog", catalog, "--fix-ids", "--yes"]);
    assert!(!again.contains("changed on the site"), "{again}");
    assert!(again.contains("models.json unchanged."), "{again}");
}

#[test]
fn fix_ids_and_additions_go_into_one_write() {
    let dir = dir_with_models();
    let catalog = catalog_fixture();
    run(
        dir.path(),
        &[
            "--catalog",
            catalog.to_str().unwrap(),
            "--fix-ids",
            "--add",
            "gpt-5-high",
            "sonar-pro-high",
        ],
    );
    let text = read(dir.path(), "models.json");
    let kept = FIXED.trim_end().trim_end_matches('}').trim_end();
    assert!(text.starts_with(kept), "{text}");
    assert!(text.contains("\"gpt-5-high\": \"0199d7e4-2b8a-7f10-b3c5-6e2a9d41f001\""));
    assert!(text.contains("\"sonar-pro-high\": \"0199d7e4-2b8a-7f10-b3c5-6e2a9d41f004:search\""));
}

#[test]
fn a_catalog_from_standard_input_works_too() {
    let dir = dir_with_models();
    let text = std::fs::read_to_string(catalog_fixture()).unwrap();
    let output = updater(dir.path())
        .args(["--catalog", "-", "--yes"])
        .write_stdin(text)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(read(dir.path(), "available_models.json").contains("\"arenas\""));
}

#[test]
fn a_file_that_is_not_a_catalog_exits_2_and_writes_nothing() {
    for body in [
        "<html>Just a moment...</html>",
        "[]",
        r#"{"error":"Not Found"}"#,
    ] {
        let dir = dir_with_models();
        let file = dir.path().join("saved.json");
        std::fs::write(&file, body).unwrap();
        let before = snapshot(dir.path());
        let output = updater(dir.path())
            .args(["--catalog", file.to_str().unwrap(), "--yes"])
            .output()
            .unwrap();
        let error = assert_failure(&output, 2);
        assert!(error.contains("model catalog"), "{error}");
        assert_eq!(snapshot(dir.path()), before);
    }
}

#[test]
fn the_page_html_reports_the_drifted_id_of_the_fixture_config() {
    // tests/fixtures/pages/config/models.json holds a stale id for gemini-2.5-pro.
    for name in ["arena_basic", "arena_key_orders", "arena_split_push"] {
        let dir = config_dir();
        let page = page(name);
        let stdout = run(dir.path(), &["--html", page.to_str().unwrap(), "--yes"]);
        assert!(
            stdout.contains(
                "  ~ \"gemini-2.5-pro\": 0000-stale-id -> 0198a1b2-0000-7000-8000-000000000001"
            ),
            "{name}: {stdout}"
        );
        let before = read(dir.path(), "models.json");
        run(
            dir.path(),
            &["--html", page.to_str().unwrap(), "--fix-ids", "--yes"],
        );
        let after = read(dir.path(), "models.json");
        assert_eq!(
            after,
            before.replace("0000-stale-id", "0198a1b2-0000-7000-8000-000000000001"),
            "{name}"
        );
    }
}
