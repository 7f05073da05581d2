//! The server-mediated path end to end: bridge-model-updater → the real bridge-server →
//! a fake userscript tab (real WebSocket) answering the catalog GET with the catalog fixture,
//! or failing it so that `send_page_source` with a fixture page is the fallback.

mod common;

use std::sync::Arc;

use bridge_test_support::fake_tab::{FakeTab, FakeTabOptions, Handler, Reply};
use bridge_test_support::server::{write_config_dir, RunningServer};
use common::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn server(api_key: &str) -> (tempfile::TempDir, RunningServer) {
    let dir = tempfile::tempdir().unwrap();
    write_config_dir(
        dir.path(),
        &format!(r#"{{"api_key": "{api_key}"}}"#),
        "{}",
        "{}",
    );
    let server = RunningServer::start(dir.path(), |_| {});
    (dir, server)
}

/// A tab whose page is `html` and whose catalog GET answers `catalog` (404 when `None`).
fn tab(
    rt: &tokio::runtime::Runtime,
    server: &RunningServer,
    html: String,
    catalog: Option<String>,
) -> FakeTab {
    let mut opts = FakeTabOptions::new(server.port);
    opts.page_html = html;
    let handler: Handler = Arc::new(move |req| match (&catalog, req.path.as_str()) {
        (Some(body), "/nextjs-api/model-catalog") => Reply::chunks(vec![body.clone()]),
        _ => Reply::fail(404, "application/json", r#"{"error":"Not Found"}"#),
    });
    rt.block_on(async {
        let tab = FakeTab::connect(opts, handler).await.unwrap();
        assert!(server.wait_for_tabs_above(0).await);
        tab
    })
}

#[test]
fn page_from_a_connected_tab_through_the_real_server() {
    let rt = runtime();
    let (_server_dir, server) = server("");
    let html = std::fs::read_to_string(page("arena_basic")).unwrap();
    let _tab = tab(&rt, &server, html, None);
    let dir = config_dir();
    let output = updater(dir.path())
        .args(["--server", &server.url(""), "--all-new", "--yes"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("HTTP 404") && stdout.contains("using the page HTML instead"),
        "{stdout}"
    );
    let available: serde_json::Value =
        serde_json::from_str(&read(dir.path(), "available_models.json")).unwrap();
    // Each expected row is [publicName, models.json value, vision].
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("arena_basic.expected.json")).unwrap(),
    )
    .unwrap();
    let expected = expected.as_array().unwrap();
    let available = available.as_array().unwrap();
    assert_eq!(available.len(), expected.len());
    let models = bridge_core::models::Models::parse(
        &read(dir.path(), "models.json"),
        std::path::Path::new("models.json"),
    )
    .unwrap();
    for (row, model) in expected.iter().zip(available) {
        let name = row[0].as_str().unwrap();
        let value = row[1].as_str().unwrap();
        assert_eq!(model["publicName"], name);
        assert_eq!(model["id"], value.split(':').next().unwrap());
        assert!(models.contains(name), "{name} missing from models.json");
    }
}

#[test]
fn catalog_from_a_connected_tab_first_with_drift_and_all_models() {
    let rt = runtime();
    let (_server_dir, server) = server("");
    let catalog =
        std::fs::read_to_string(fixtures().join("../catalog/model_catalog_2026-10.json")).unwrap();
    // A page without any model list: the catalog must be what fills the files.
    let html = std::fs::read_to_string(page("arena_no_model_list")).unwrap();
    let _tab = tab(&rt, &server, html, Some(catalog));
    let dir = config_dir();
    std::fs::write(
        dir.path().join("models.json"),
        "{\n  \"gemini-2.5-pro\": \"0000-stale-id\"\n}\n",
    )
    .unwrap();
    let output = updater(dir.path())
        .args(["--server", &server.url(""), "--fix-ids", "--yes"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout.contains("Model catalog from the LMArena tab: 6 arenas"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "~ \"gemini-2.5-pro\": 0000-stale-id -> 0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a01"
        ),
        "{stdout}"
    );
    assert_eq!(
        read(dir.path(), "models.json"),
        "{\n  \"gemini-2.5-pro\": \"0199b1a2-6f1b-7c3e-9a41-2f5d8e7c1a01\"\n}\n"
    );
    let available: Vec<serde_json::Value> =
        serde_json::from_str(&read(dir.path(), "available_models.json")).unwrap();
    assert_eq!(available.len(), 11);
    assert_eq!(
        available[0]["arenas"],
        serde_json::json!(["text", "vision", "webdev"])
    );
    // The server kept the catalog: its catalog-only models are listed with ?all=true.
    let all: serde_json::Value = rt
        .block_on(async {
            reqwest::get(server.url("/v1/models?all=true"))
                .await
                .unwrap()
                .json()
                .await
        })
        .unwrap();
    let ids: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 11);
    assert!(ids.contains(&"gpt-5-high"));
}

#[test]
fn api_key_is_sent_to_a_keyed_server_and_no_tab_exits_4() {
    let (_server_dir, server) = server("sk-model-updater");
    let dir = config_dir();
    // The config dir of the CLI has no key: the keyed server refuses it (exit 6).
    let out = updater(dir.path())
        .args(["--server", &server.url(""), "--yes"])
        .output()
        .unwrap();
    assert_failure(&out, 6);
    std::fs::write(
        dir.path().join("config.jsonc"),
        r#"{"api_key": "sk-model-updater"}"#,
    )
    .unwrap();
    // With the key, but no tab connected: 503 → exit 4.
    let out = updater(dir.path())
        .args(["--server", &server.url(""), "--yes"])
        .output()
        .unwrap();
    let line = assert_failure(&out, 4);
    assert!(line.contains("tab"), "{line}");
}
