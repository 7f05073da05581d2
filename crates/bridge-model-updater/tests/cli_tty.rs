//! `bridge-model-updater` on a terminal: the checklist of models not yet in models.json,
//! driven through a pseudo-terminal.

mod common;

use std::path::Path;

use bridge_test_support::cli::{spawn_tty, tty_exit_code as exit_code};
use common::{config_dir, page, read, snapshot};
use rexpect::session::PtySession;

const PROMPT: &str = "Add which models to models.json?";
const DOWN: &str = "\x1b[B";
const ESC: &str = "\x1b";

fn spawn(dir: &Path, extra: &[&str]) -> PtySession {
    let page = page("arena_basic");
    let mut args = vec!["--html", page.to_str().unwrap()];
    args.extend_from_slice(extra);
    spawn_tty(env!("CARGO_BIN_EXE_bridge-model-updater"), dir, &args)
}

#[test]
fn checklist_adds_the_ticked_models() {
    let dir = config_dir();
    let mut p = spawn(dir.path(), &[]);
    p.exp_string(PROMPT).unwrap();
    // The list holds the models not yet in models.json, in page order.
    p.exp_string("claude-opus-4-20250514 [vision]").unwrap();
    p.exp_string("grok-4-search [search]").unwrap();
    // Tick the first and the third (grok-4-search), then confirm.
    p.send(" ").unwrap();
    p.send(DOWN).unwrap();
    p.send(DOWN).unwrap();
    p.send(" ").unwrap();
    p.send("\r").unwrap();
    p.flush().unwrap();
    p.exp_string("Adding 2 models to").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(exit_code(&p), 0);
    let models = read(dir.path(), "models.json");
    assert!(models.contains("\"claude-opus-4-20250514\": \"0198a1b2-0000-7000-8000-000000000003\""));
    assert!(models.contains("\"grok-4-search\": \"0198a1b2-0000-7000-8000-000000000006:search\""));
    assert!(!models.contains("mystery-model-x"), "{models}");
}

#[test]
fn escape_leaves_models_json_unchanged() {
    let dir = config_dir();
    let before = read(dir.path(), "models.json");
    let mut p = spawn(dir.path(), &[]);
    p.exp_string(PROMPT).unwrap();
    p.send(" ").unwrap();
    p.send(ESC).unwrap();
    p.flush().unwrap();
    p.exp_string("models.json unchanged.").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(exit_code(&p), 0);
    assert_eq!(read(dir.path(), "models.json"), before);
}

#[test]
fn yes_on_a_terminal_does_not_prompt() {
    let dir = config_dir();
    let mut p = spawn(dir.path(), &["--yes", "--dry-run"]);
    let before = snapshot(dir.path());
    let output = p.exp_eof().unwrap();
    assert!(!output.contains(PROMPT), "{output}");
    assert!(
        output.contains("5 scraped models are not in models.json"),
        "{output}"
    );
    assert_eq!(exit_code(&p), 0);
    assert_eq!(snapshot(dir.path()), before);
}
