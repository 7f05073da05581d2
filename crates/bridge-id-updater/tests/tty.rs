//! `bridge-id-updater` on a terminal: the real prompts driven through a pseudo-terminal against
//! the real server and a fake tab that reports a capture.

mod common;

use std::path::Path;

use bridge_test_support::cli::{spawn_tty, tty_exit_code as exit_code};
use common::{
    changed_lines, config_dir, fixture_config, free_port, read, Server, API_KEY, MESSAGE, SESSION,
};
use rexpect::session::PtySession;

const DOWN: &str = "\x1b[B";
const ENTER: &str = "\r";

fn spawn(dir: &Path, server: &Server, extra: &[&str]) -> PtySession {
    let port = free_port().to_string();
    let url = server.url();
    let mut args = vec!["--server", &url, "--listen-port", &port, "--timeout", "30"];
    args.extend_from_slice(extra);
    spawn_tty(env!("CARGO_BIN_EXE_bridge-id-updater"), dir, &args)
}

#[test]
fn prompts_battle_side_b_into_the_global_ids() {
    let server = Server::start(API_KEY);
    let _tab = server.tab(Some((SESSION, MESSAGE)));
    let dir = config_dir();
    // Start from direct chat / side A, so choosing battle / B must move both cursors and
    // change both lines.
    let fixture = std::fs::read_to_string(fixture_config()).unwrap();
    let start = fixture
        .replace(
            "\"id_updater_last_mode\": \"battle\"",
            "\"id_updater_last_mode\": \"direct_chat\"",
        )
        .replace(
            "\"id_updater_battle_target\": \"B\"",
            "\"id_updater_battle_target\": \"A\"",
        );
    assert_eq!(changed_lines(&fixture, &start).len(), 2);
    std::fs::write(dir.path().join("config.jsonc"), &start).unwrap();

    let mut p = spawn(dir.path(), &server, &[]);
    p.exp_string("Capture a session for which mode?").unwrap();
    p.send(DOWN).unwrap();
    p.send(ENTER).unwrap();
    p.flush().unwrap();
    p.exp_string("Which battle side answers?").unwrap();
    p.exp_string("search models answer only on side A").unwrap();
    p.send(DOWN).unwrap();
    p.send(ENTER).unwrap();
    p.flush().unwrap();
    p.exp_string("Where do the captured ids go?").unwrap();
    p.send(ENTER).unwrap();
    p.flush().unwrap();
    p.exp_string("under the answer of Assistant B (right)")
        .unwrap();
    p.exp_string("Captured from https://lmarena.ai (battle, side B)")
        .unwrap();
    p.exp_string("Wrote ").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(exit_code(&p), 0);

    let after = read(dir.path(), "config.jsonc");
    let mut changed = changed_lines(&start, &after);
    changed.sort();
    let old_session = "8f1c2a4e-3b5d-4c6e-9f70-1a2b3c4d5e6f";
    let old_message = "0d9e8f7a-6b5c-4d3e-8a2f-9e8d7c6b5a4f";
    let mut expected = vec![
        (
            format!("  \"session_id\": \"{old_session}\","),
            format!("  \"session_id\": \"{SESSION}\","),
        ),
        (
            format!(
                "  \"message_id\": \"{old_message}\", // 点击 Retry 时捕获 / captured on Retry"
            ),
            format!("  \"message_id\": \"{MESSAGE}\", // 点击 Retry 时捕获 / captured on Retry"),
        ),
        (
            "  \"id_updater_last_mode\": \"direct_chat\",".to_owned(),
            "  \"id_updater_last_mode\": \"battle\",".to_owned(),
        ),
        (
            "  \"id_updater_battle_target\": \"A\",".to_owned(),
            "  \"id_updater_battle_target\": \"B\",".to_owned(),
        ),
    ];
    expected.sort();
    assert_eq!(changed, expected);
    // Against the untouched fixture (battle / B already): only the two id lines.
    assert_eq!(changed_lines(&fixture, &after).len(), 2);
}

#[test]
fn escape_at_the_first_prompt_changes_nothing() {
    let server = Server::start(API_KEY);
    let _tab = server.tab(None);
    let dir = config_dir();
    let before = common::snapshot(dir.path());
    let mut p = spawn(dir.path(), &server, &[]);
    p.exp_string("Capture a session for which mode?").unwrap();
    p.send("\x1b").unwrap();
    p.flush().unwrap();
    p.exp_string("cancelled; nothing was changed").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(exit_code(&p), 130);
    assert_eq!(common::snapshot(dir.path()), before);
}

#[test]
fn countdown_then_ctrl_c_exits_130() {
    let server = Server::start(API_KEY);
    let _tab = server.tab(None);
    let dir = config_dir();
    let before = common::snapshot(dir.path());
    let mut p = spawn(dir.path(), &server, &["--yes"]);
    p.exp_string("Waiting up to 30 s").unwrap();
    p.exp_string("left (Ctrl-C to stop)").unwrap();
    p.send("\x03").unwrap();
    p.flush().unwrap();
    p.exp_string("interrupted; nothing was written").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(exit_code(&p), 130);
    assert_eq!(common::snapshot(dir.path()), before);
}
