//! Helpers of the CLI tests: fixture paths, temp config dirs and the command; the helpers both
//! CLIs' tests use (and the HTTP stub standing in for bridge-server) come from
//! `bridge_test_support::cli`.

#![allow(dead_code, unused_imports)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use bridge_test_support::cli;
pub(crate) use bridge_test_support::cli::{
    assert_fails_unchanged, assert_failure, assert_server_down, closed_url, header, read, snapshot,
    Stub,
};

pub(crate) fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pages")
}

pub(crate) fn page(name: &str) -> PathBuf {
    fixtures().join(format!("{name}.html"))
}

/// A temp config dir holding copies of `tests/fixtures/pages/config/*`.
pub(crate) fn config_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixtures().join("config")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

/// The binary on config dir `dir` (see [`cli::command`]).
pub(crate) fn updater(dir: &Path) -> Command {
    cli::command(env!("CARGO_BIN_EXE_bridge-model-updater"), dir)
}
