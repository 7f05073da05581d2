//! Harness for the CLI tests: the real bridge-server on port 0 in its own actix thread, fake
//! userscript tabs on a Tokio runtime, temp config directories and the command; the helpers both
//! CLIs' tests use come from `bridge_test_support::cli`.

#![allow(dead_code, unused_imports)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use assert_cmd::Command;
use bridge_core::protocol::{Command as TabCommand, ServerMessage};
use bridge_server::AppState;
use bridge_test_support::cli;
pub(crate) use bridge_test_support::cli::{
    assert_fails_unchanged, assert_failure, assert_server_down, closed_url, free_port, read,
    snapshot,
};
use bridge_test_support::fake_tab::{FakeTab, FakeTabOptions, Handler, Reply};
use bridge_test_support::server::{write_config_dir, RunningServer};

/// The api_key of `tests/fixtures/config/original.jsonc`.
pub(crate) const API_KEY: &str = "sk-local-test-key";
/// What the fake tab captures.
pub(crate) const SESSION: &str = "3c4d5e6f-1a2b-4c3d-8e9f-0a1b2c3d4e5f";
pub(crate) const MESSAGE: &str = "9e8d7c6b-5a4f-4e3d-9c2b-1a0f9e8d7c6b";
/// The session already in the pool of `gpt-5` in [`config_dir`].
pub(crate) const OLD_SESSION: &str = "aaaaaaaa-0000-4000-8000-000000000001";
pub(crate) const OLD_MESSAGE: &str = "aaaaaaaa-0000-4000-8000-000000000002";

pub(crate) const MODELS: &str = r#"{
  "gpt-5": "0198a1b2-0000-7000-8000-000000000001",
  "web-search": "0198a1b2-0000-7000-8000-000000000002:search"
}"#;

pub(crate) fn fixture_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/config/original.jsonc")
}

/// A temp config dir: the original project's config.jsonc (comments, api_key
/// [`API_KEY`]), two models, and a pool of one session for `gpt-5`.
pub(crate) fn config_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(fixture_config(), dir.path().join("config.jsonc")).unwrap();
    std::fs::write(dir.path().join("models.json"), MODELS).unwrap();
    let map = format!(
        r#"{{"gpt-5": {{"session_id": "{OLD_SESSION}", "message_id": "{OLD_MESSAGE}", "mode": "direct_chat"}}}}"#
    );
    std::fs::write(dir.path().join("model_endpoint_map.json"), map).unwrap();
    dir
}

/// The lines that differ between two texts with the same number of lines, as (old, new).
pub(crate) fn changed_lines(before: &str, after: &str) -> Vec<(String, String)> {
    assert_eq!(
        before.lines().count(),
        after.lines().count(),
        "line count changed:\n{after}"
    );
    before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

/// The binary on config dir `dir` (see [`cli::command`]).
pub(crate) fn updater(dir: &Path) -> Command {
    cli::command(env!("CARGO_BIN_EXE_bridge-id-updater"), dir)
}

/// bridge-server on a loopback port, with a runtime for fake tabs.
pub(crate) struct Server {
    pub port: u16,
    state: AppState,
    _dir: tempfile::TempDir,
    server: RunningServer,
    rt: tokio::runtime::Runtime,
}

impl Server {
    /// A server whose config has `api_key` (empty for none).
    pub(crate) fn start(api_key: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = format!("{{\n  // test server\n  \"api_key\": \"{api_key}\"\n}}\n");
        write_config_dir(dir.path(), &config, MODELS, "{}");
        let server = RunningServer::start(dir.path(), |o| {
            o.shutdown_grace = Duration::from_millis(200);
        });
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Server {
            port: server.port,
            state: server.state.clone(),
            _dir: dir,
            server,
            rt,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A connected fake tab that reports `capture` when armed (or never, with `None`).
    pub(crate) fn tab(&self, capture: Option<(&str, &str)>) -> FakeTab {
        self.tab_with(capture, false)
    }

    /// Like [`Self::tab`]; `late_injection` is what the tab says about its userscript.
    pub(crate) fn tab_with(&self, capture: Option<(&str, &str)>, late_injection: bool) -> FakeTab {
        let mut opts = FakeTabOptions::new(self.port);
        opts.capture = capture.map(|(s, m)| (s.to_owned(), m.to_owned()));
        opts.late_injection = late_injection;
        let handler: Handler = Arc::new(|_| Reply::Hang);
        let before = self.state.pool().tab_count();
        let tab = self
            .rt
            .block_on(FakeTab::connect(opts, handler))
            .expect("fake tab connects");
        // The pool registers the tab right after welcome; wait until it is there.
        assert!(
            self.rt.block_on(self.server.wait_for_tabs_above(before)),
            "the server did not register the tab"
        );
        tab
    }

    /// The `report_to` of the first `activate_id_capture` the tab got within `timeout`.
    pub(crate) fn capture_command(&self, tab: &FakeTab, timeout: Duration) -> Option<String> {
        let frame = self.rt.block_on(tab.wait_for(timeout, |f| {
            matches!(
                f,
                ServerMessage::Command {
                    command: TabCommand::ActivateIdCapture,
                    ..
                }
            )
        }))?;
        match frame {
            ServerMessage::Command { report_to, .. } => report_to,
            _ => None,
        }
    }
}
