//! The server-mediated path end to end: bridge-model-updater → the real bridge-server →
//! a fake userscript tab (real WebSocket) answering `send_page_source` with a fixture page.

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

fn tab(rt: &tokio::runtime::Runtime, server: &RunningServer, html: String) -> FakeTab {
    let mut opts = FakeTabOptions::new(server.port);
    opts.page_html = html;
    let handler: Handler = Arc::new(|_| Reply::Hang);
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
    let _tab = tab(&rt, &server, html);
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
