//! Offline is normal for a local tool: a startup update check that cannot reach the release
//! server is one info line and a quiet note on /status, never a warning; the reason is logged
//! at debug level only. Checked on the library (/status) and on the real binary (its log).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bridge_server::autoupdate::CHECK_FAILED_NOTE;
use bridge_test_support::server::write_config_dir;
use common::*;
use serde_json::json;

/// The info line of a check that could not reach the release server.
const NOTE_IN_LOG: &str = "could not check for updates";
/// The module the update check logs from (the target in each log line).
const CHECK_TARGET: &str = "bridge_server::autoupdate";
/// Texts of the underlying error that must not reach the user at the default level.
const ERROR_DETAILS: &[&str] = &[
    "TransportError",
    "Connection refused",
    "cannot reach the release server",
];
/// How long the binary gets to log what a test waits for.
const LOG_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_check_is_a_quiet_note_on_status() {
    let server = TestServer::start(&base_config(""));
    run_offline_update_check(&server).await;
    let v = get_json(&server.url("/status")).await;
    assert_eq!(
        v["update"],
        json!({
            "state": "check_failed",
            "current": "0.1.0",
            "latest": null,
            "message": CHECK_FAILED_NOTE,
        })
    );
    let text = v.to_string();
    for detail in ERROR_DETAILS {
        assert!(!text.contains(detail), "/status shows {detail:?}: {v:#}");
    }
}

/// The real bridge-server binary whose release server refuses connections; its log lines
/// (stderr) arrive on a channel.
struct OfflineServer {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    _dir: tempfile::TempDir,
}

impl OfflineServer {
    /// Starts it on port 0 with `RUST_LOG` set to `rust_log`, or unset.
    fn start(rust_log: Option<&str>) -> OfflineServer {
        let dir = tempfile::tempdir().unwrap();
        write_config_dir(dir.path(), &base_config(""), MODELS, "{}");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bridge-server"));
        cmd.arg("--config-dir")
            .arg(dir.path())
            .args(["--port", "0"])
            .env("BRIDGE_UPDATE_REPO", "o/r")
            .env(
                "BRIDGE_UPDATE_API",
                format!("http://127.0.0.1:{}", closed_port()),
            )
            .env_remove("BRIDGE_NO_UPDATE_CHECK")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        match rust_log {
            Some(filter) => cmd.env("RUST_LOG", filter),
            None => cmd.env_remove("RUST_LOG"),
        };
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        OfflineServer {
            child,
            lines,
            seen: Vec::new(),
            _dir: dir,
        }
    }

    /// Waits for the first log line containing `needle` and returns it.
    fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + LOG_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "bridge-server never logged {needle:?} ({e}); it logged:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Waits for the line that logs the server's address and returns its base URL.
    fn base_url(&mut self) -> String {
        const PREFIX: &str = "http://127.0.0.1:";
        let line = self.wait_for_line(PREFIX);
        let rest = &line[line.find(PREFIX).unwrap() + PREFIX.len()..];
        let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
        format!("{PREFIX}{port}")
    }
}

impl Drop for OfflineServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_check_logs_one_info_line_and_no_error() {
    let mut server = OfflineServer::start(None);
    let status = format!("{}/status", server.base_url());
    // Once /status shows the outcome, the check has logged all it will log.
    let v = poll_url_until(&status, "the update check", |v| !v["update"].is_null()).await;
    assert_eq!(v["update"]["state"], "check_failed", "{v:#}");
    // Every request is logged with its id, after all that was logged before it.
    let res = client().get(&status).send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    tokio::task::block_in_place(|| server.wait_for_line(&id));

    let log = &server.seen;
    let from_check: Vec<&String> = log.iter().filter(|l| l.contains(CHECK_TARGET)).collect();
    assert_eq!(from_check.len(), 1, "the whole log:\n{}", log.join("\n"));
    assert!(
        from_check[0].contains(" INFO ") && from_check[0].contains(NOTE_IN_LOG),
        "{}",
        from_check[0]
    );
    for detail in ERROR_DETAILS {
        assert!(
            !log.iter().any(|l| l.contains(detail)),
            "the log shows {detail:?}:\n{}",
            log.join("\n")
        );
    }
}

#[test]
fn offline_check_gives_the_reason_at_debug_level() {
    let mut server = OfflineServer::start(Some("debug"));
    server.wait_for_line(NOTE_IN_LOG);
    let detail = server.wait_for_line("update check failed");
    assert!(
        detail.contains("DEBUG")
            && detail.contains(CHECK_TARGET)
            && detail.contains("cannot reach the release server"),
        "{detail}"
    );
}
