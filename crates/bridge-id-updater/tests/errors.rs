//! `bridge-id-updater` failing before any capture: each failure has its documented exit code,
//! one `error:` line saying what to do, and leaves every file as it was.

mod common;

use common::{
    assert_fails_unchanged, assert_failure, assert_server_down, closed_url, config_dir, free_port,
    updater, Server, API_KEY,
};

#[test]
fn server_down_exits_3() {
    let dir = config_dir();
    let port = free_port().to_string();
    assert_server_down(
        updater(dir.path()).args(["--yes", "--listen-port", &port]),
        dir.path(),
    );
}

#[test]
fn no_tab_exits_4() {
    let server = Server::start(API_KEY);
    let dir = config_dir();
    let mut cmd = updater(dir.path());
    cmd.args(["--server", &server.url(), "--yes"])
        .args(["--listen-port", &free_port().to_string()]);
    let error = assert_fails_unchanged(&mut cmd, dir.path(), 4);
    assert!(error.contains("no LMArena tab is connected"), "{error}");
    assert!(error.contains("open https://lmarena.ai"), "{error}");
}

#[test]
fn wrong_api_key_exits_6() {
    let server = Server::start("sk-some-other-key");
    let _tab = server.tab(None);
    let dir = config_dir();
    let mut cmd = updater(dir.path());
    cmd.args(["--server", &server.url(), "--yes"])
        .args(["--listen-port", &free_port().to_string()]);
    let error = assert_fails_unchanged(&mut cmd, dir.path(), 6);
    assert!(error.contains("does not match"), "{error}");
}

#[test]
fn broken_or_missing_config_exits_8() {
    let dir = config_dir();
    std::fs::write(dir.path().join("config.jsonc"), "{\n  \"api_key\": \n}").unwrap();
    let output = updater(dir.path())
        .args(["--server", &closed_url(), "--yes"])
        .output()
        .unwrap();
    let error = assert_failure(&output, 8);
    assert!(error.contains("config.jsonc:"), "{error}");

    let empty = tempfile::tempdir().unwrap();
    let output = updater(empty.path()).arg("--yes").output().unwrap();
    let error = assert_failure(&output, 8);
    assert!(error.contains("--config-dir"), "{error}");
}

#[test]
fn unknown_model_exits_9() {
    let dir = config_dir();
    let mut cmd = updater(dir.path());
    cmd.args(["--server", &closed_url(), "--yes", "--model", "gpt5"]);
    let error = assert_fails_unchanged(&mut cmd, dir.path(), 9);
    assert!(error.contains("did you mean `gpt-5`?"), "{error}");
}

#[test]
fn usage_errors_exit_64_and_help_lists_codes() {
    let dir = config_dir();
    let output = updater(dir.path()).arg("--replace").output().unwrap();
    assert_eq!(output.status.code(), Some(64), "{output:?}");
    let output = updater(dir.path())
        .args(["--mode", "duel"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64), "{output:?}");
    let output = updater(dir.path()).arg("--help").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--config-dir",
        "--server",
        "--mode",
        "--target",
        "--model",
        "--append",
        "--replace",
        "--listen-port",
        "--timeout",
        "--yes",
        "BRIDGE_CONFIG_DIR",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    for code in [
        "  3 ", "  4 ", "  5 ", "  6 ", "  8 ", "  9 ", "  10 ", "  11 ", "  64 ",
    ] {
        assert!(help.contains(code), "{code:?} missing from --help");
    }
}
