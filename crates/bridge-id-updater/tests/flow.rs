//! `bridge-id-updater` run with flags only, against the real bridge-server and a fake tab that
//! answers `activate_id_capture` like the userscript: each destination, the listener's
//! refusals, the timeout and a taken port.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::Duration;

use bridge_core::config::{load_config, BattleTarget, Mode};
use bridge_core::models::EndpointMap;
use common::{
    assert_fails_unchanged, changed_lines, config_dir, fixture_config, free_port, read, snapshot,
    updater, Server, API_KEY, MESSAGE, OLD_MESSAGE, OLD_SESSION, SESSION,
};

const WAIT: Duration = Duration::from_secs(10);

fn map_of(dir: &std::path::Path) -> EndpointMap {
    let path = dir.join("model_endpoint_map.json");
    EndpointMap::parse(&std::fs::read_to_string(&path).unwrap(), &path).unwrap()
}

#[test]
fn global_ids_full_flow_with_fake_tab() {
    let server = Server::start(API_KEY);
    let tab = server.tab(Some((SESSION, MESSAGE)));
    let dir = config_dir();
    let before_map = read(dir.path(), "model_endpoint_map.json");
    let port = free_port();
    let output = updater(dir.path())
        .args(["--server", &server.url(), "--yes", "--mode", "direct_chat"])
        .args(["--listen-port", &port.to_string(), "--timeout", "30"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    // The server armed the tab with this listener's address.
    assert_eq!(
        server.capture_command(&tab, WAIT).as_deref(),
        Some(format!("http://127.0.0.1:{port}/update").as_str())
    );
    assert!(stdout.contains("Click Retry"), "{stdout}");
    assert!(
        stdout.contains(SESSION) && stdout.contains(MESSAGE),
        "{stdout}"
    );
    assert!(stdout.contains("Wrote "), "{stdout}");

    let (config, _) = load_config(&dir.path().join("config.jsonc")).unwrap();
    assert_eq!(config.session_id.as_deref(), Some(SESSION));
    assert_eq!(config.message_id.as_deref(), Some(MESSAGE));
    assert_eq!(config.id_updater_last_mode, Mode::DirectChat);
    // Not given and not asked: the side stays the config's.
    assert_eq!(config.id_updater_battle_target, BattleTarget::B);
    let fixture = std::fs::read_to_string(fixture_config()).unwrap();
    let changed = changed_lines(&fixture, &read(dir.path(), "config.jsonc"));
    assert_eq!(changed.len(), 3, "{changed:#?}");
    assert_eq!(read(dir.path(), "model_endpoint_map.json"), before_map);
}

#[test]
fn pool_append_keeps_the_existing_session() {
    let server = Server::start(API_KEY);
    let _tab = server.tab(Some((SESSION, MESSAGE)));
    let dir = config_dir();
    let before_config = read(dir.path(), "config.jsonc");
    let output = updater(dir.path())
        .args([
            "--server",
            &server.url(),
            "--yes",
            "--model",
            "gpt-5",
            "--append",
        ])
        .args(["--mode", "battle", "--target", "A"])
        .args(["--listen-port", &free_port().to_string()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("(now 2 sessions)"), "{stdout}");
    let map = map_of(dir.path());
    let pool = map.pool("gpt-5").unwrap();
    assert_eq!(pool.len(), 2);
    assert_eq!(pool[0].session_id.as_deref(), Some(OLD_SESSION));
    assert_eq!(pool[0].message_id.as_deref(), Some(OLD_MESSAGE));
    assert_eq!(pool[1].session_id.as_deref(), Some(SESSION));
    assert_eq!(pool[1].message_id.as_deref(), Some(MESSAGE));
    assert_eq!(pool[1].mode, Some(Mode::Battle));
    assert_eq!(pool[1].battle_target, Some(BattleTarget::A));
    // The global ids and their mode are untouched by a pool capture.
    assert_eq!(read(dir.path(), "config.jsonc"), before_config);
}

#[test]
fn pool_replace_leaves_one_session() {
    let server = Server::start(API_KEY);
    let _tab = server.tab(Some((SESSION, MESSAGE)));
    let dir = config_dir();
    let output = updater(dir.path())
        .args(["--server", &server.url(), "--model", "gpt-5", "--replace"])
        .args(["--mode", "direct_chat"])
        .args(["--listen-port", &free_port().to_string()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let map = map_of(dir.path());
    let pool = map.pool("gpt-5").unwrap();
    assert_eq!(pool.len(), 1);
    assert_eq!(pool[0].session_id.as_deref(), Some(SESSION));
    assert_eq!(pool[0].mode, Some(Mode::DirectChat));
    assert_eq!(pool[0].battle_target, None);
}

#[test]
fn pool_of_a_new_model_is_created() {
    let server = Server::start(API_KEY);
    let _tab = server.tab(Some((SESSION, MESSAGE)));
    let dir = config_dir();
    let output = updater(dir.path())
        .args(["--server", &server.url(), "--yes", "--model", "web-search"])
        .args(["--mode", "battle", "--target", "B"])
        .args(["--listen-port", &free_port().to_string()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("warning: `web-search` is a search model"),
        "{stdout}"
    );
    let map = map_of(dir.path());
    assert_eq!(map.pool("web-search").unwrap().len(), 1);
    assert_eq!(map.pool("gpt-5").unwrap().len(), 1);
}

/// The binary running in the background; killed and reaped if a test fails midway.
struct Running {
    child: std::process::Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary with a tab that never reports; returns it once it waits for the capture.
fn waiting_updater(
    server: &Server,
    dir: &std::path::Path,
    port: u16,
) -> (Running, BufReader<std::process::ChildStdout>) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_bridge-id-updater"))
        .env_remove("BRIDGE_CONFIG_DIR")
        .env_remove("RUST_LOG")
        .arg("--config-dir")
        .arg(dir)
        .args(["--server", &server.url(), "--yes", "--mode", "battle"])
        .args(["--listen-port", &port.to_string(), "--timeout", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = Running { child };
    let mut stdout = BufReader::new(running.child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "ended before waiting: {seen}"
        );
        seen.push_str(&line);
        if line.starts_with("Waiting up to") {
            return (running, stdout);
        }
    }
}

fn send(
    client: &reqwest::blocking::Client,
    method: reqwest::Method,
    url: &str,
    origin: Option<&str>,
    body: Option<String>,
) -> reqwest::blocking::Response {
    let mut req = client.request(method, url);
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    if let Some(b) = body {
        req = req
            .header("Content-Type", "text/plain;charset=UTF-8")
            .body(b);
    }
    req.send().unwrap()
}

#[test]
fn listener_refuses_bad_requests_then_accepts_a_good_one() {
    let server = Server::start(API_KEY);
    let tab = server.tab(None);
    let dir = config_dir();
    let before = snapshot(dir.path());
    let port = free_port();
    let (mut running, mut stdout) = waiting_updater(&server, dir.path(), port);
    assert!(server.capture_command(&tab, WAIT).is_some());

    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(WAIT)
        .build()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/update");
    let lm = Some("https://lmarena.ai");
    let good = format!(r#"{{"sessionId":"{SESSION}","messageId":"{MESSAGE}"}}"#);
    let get = send(&client, reqwest::Method::GET, &url, lm, None);
    assert_eq!(get.status(), 405);
    let file = send(
        &client,
        reqwest::Method::GET,
        &format!("http://127.0.0.1:{port}/config.jsonc"),
        lm,
        None,
    );
    assert_eq!(file.status(), 404);
    assert!(!file.text().unwrap().contains(API_KEY));
    let wrong_origin = send(
        &client,
        reqwest::Method::POST,
        &url,
        Some("https://evil.example"),
        Some(good.clone()),
    );
    assert_eq!(wrong_origin.status(), 403);
    let malformed = send(
        &client,
        reqwest::Method::POST,
        &url,
        lm,
        Some("{oops".into()),
    );
    assert_eq!(malformed.status(), 400);
    let not_uuid = send(
        &client,
        reqwest::Method::POST,
        &url,
        lm,
        Some(format!(r#"{{"sessionId":"{SESSION}","messageId":"1234"}}"#)),
    );
    assert_eq!(not_uuid.status(), 400);
    // Nothing was written by any of these.
    assert_eq!(snapshot(dir.path()), before);

    let ok = send(&client, reqwest::Method::POST, &url, lm, Some(good));
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "https://lmarena.ai"
    );
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = running.child.wait().unwrap();
    let mut stderr = String::new();
    running
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{stderr}");
    assert!(rest.contains(SESSION), "{rest}");
    // Each refusal was reported to the user, and the run went on.
    assert_eq!(stderr.matches("note: refused").count(), 5, "{stderr}");
    assert!(
        stderr.contains("(HTTP 403)") && stderr.contains("not a UUID"),
        "{stderr}"
    );
    let (config, _) = load_config(&dir.path().join("config.jsonc")).unwrap();
    assert_eq!(config.session_id.as_deref(), Some(SESSION));
    assert_eq!(config.message_id.as_deref(), Some(MESSAGE));
    assert_eq!(config.id_updater_last_mode, Mode::Battle);
}

#[test]
fn timeout_exits_5_and_writes_nothing() {
    let server = Server::start(API_KEY);
    let tab = server.tab(None);
    let dir = config_dir();
    let mut cmd = updater(dir.path());
    cmd.args(["--server", &server.url(), "--yes", "--timeout", "1"])
        .args(["--listen-port", &free_port().to_string()]);
    let error = assert_fails_unchanged(&mut cmd, dir.path(), 5);
    assert!(error.contains("no capture arrived within 1 s"), "{error}");
    assert!(error.contains("--timeout"), "{error}");
    assert!(server.capture_command(&tab, WAIT).is_some());
}

#[test]
fn taken_port_exits_10_before_arming_the_tab() {
    let server = Server::start(API_KEY);
    let tab = server.tab(Some((SESSION, MESSAGE)));
    let dir = config_dir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut cmd = updater(dir.path());
    cmd.args(["--server", &server.url(), "--yes"])
        .args(["--listen-port", &port.to_string()]);
    let error = assert_fails_unchanged(&mut cmd, dir.path(), 10);
    assert!(error.contains(&format!("port {port}")), "{error}");
    assert!(error.contains("--listen-port"), "{error}");
    assert_eq!(
        server.capture_command(&tab, Duration::from_millis(300)),
        None
    );
}

#[test]
fn late_injected_userscript_exits_11_instead_of_waiting() {
    let server = Server::start(API_KEY);
    // It would even report ids, but a late userscript cannot see the page's request.
    let _tab = server.tab_with(Some((SESSION, MESSAGE)), true);
    let dir = config_dir();
    let mut cmd = updater(dir.path());
    cmd.args(["--server", &server.url(), "--yes", "--timeout", "30"])
        .args(["--listen-port", &free_port().to_string()]);
    let error = assert_fails_unchanged(&mut cmd, dir.path(), 11);
    assert!(error.contains("injected after the page started"), "{error}");
    assert!(error.contains("Injection Mode"), "{error}");
}
