//! `bridge-server doctor`: every ✗ case through the built binary (assert_cmd), on temporary
//! config directories, against nothing, a foreign program, or the real server with fake tabs.

mod common;

use std::path::Path;

use bridge_core::protocol::ServerMessage;
use bridge_test_support::cli::{command, free_port, Stub};
use bridge_test_support::fake_tab::ProbeReply;
use common::*;

const EXE: &str = env!("CARGO_BIN_EXE_bridge-server");

/// Runs `doctor` on `dir` against `port`; returns the exit code and stdout.
async fn doctor(dir: &Path, port: u16) -> (i32, String) {
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let out = command(EXE, &dir)
            .arg("doctor")
            .arg("--port")
            .arg(port.to_string())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn dir_with(config: &str, models: &str, map: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    bridge_test_support::server::write_config_dir(dir.path(), config, models, map);
    dir
}

/// The lines of `out` that start with `mark`.
fn marked(out: &str, mark: char) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with(mark)).collect()
}

fn evaluation_config() -> String {
    base_config(r#", "upstream_flow": "evaluation""#)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_that_does_not_parse_is_named_with_its_place() {
    let dir = dir_with("{ \"port\": 5102,, }", MODELS, "{}");
    let (code, out) = doctor(dir.path(), free_port()).await;
    assert_eq!(code, 1, "{out}");
    let failed = marked(&out, '✗');
    assert_eq!(failed.len(), 1, "{out}");
    assert!(failed[0].contains("config.jsonc"), "{out}");
    assert!(out.contains("→ fix the file"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_placeholders_under_retry_and_no_server_are_each_a_cross_with_a_fix() {
    let config = r#"{"session_id": "YOUR_SESSION_ID", "message_id": "YOUR_MESSAGE_ID",
                     "upstream_flow": "retry"}"#;
    let dir = dir_with(config, MODELS, "{}");
    let port = free_port();
    let (code, out) = doctor(dir.path(), port).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("✓ config files"), "{out}");
    let failed = marked(&out, '✗');
    assert!(
        failed[0].starts_with("✗ config: the retry flow cannot serve 3 model(s)")
            && failed[0].contains("YOUR_SESSION_ID"),
        "{out}"
    );
    assert!(out.contains("\"upstream_flow\": \"evaluation\""), "{out}");
    assert!(
        failed
            .iter()
            .any(|l| l.starts_with(&format!("✗ server: nothing listens on 127.0.0.1:{port}"))),
        "{out}"
    );
    assert!(out.contains("→ start the server"), "{out}");
    assert!(out.ends_with("Not ready: 2 check(s) failed.\n"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_that_are_not_uuids_stop_the_config_and_are_named() {
    // Non-UUID ids are a load error (the server does not start on them): doctor names the
    // file, the key and what an id must look like.
    let config = r#"{"session_id": "abc", "message_id": "22222222-2222-4222-8222-222222222222",
                     "upstream_flow": "evaluation"}"#;
    let dir = dir_with(config, MODELS, "{}");
    let (code, out) = doctor(dir.path(), free_port()).await;
    assert_eq!(code, 1, "{out}");
    for needle in [
        "✗ config:",
        "config.jsonc: `session_id` must be a UUID",
        "found `abc`",
        "run bridge-id-updater",
    ] {
        assert!(out.contains(needle), "{needle} in {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_only_models_are_named() {
    let config = r#"{"upstream_flow": "evaluation"}"#;
    let map = r#"{"only-in-map": {"session_id": "11111111-1111-4111-8111-111111111111",
                                  "message_id": "22222222-2222-4222-8222-222222222222"}}"#;
    let dir = dir_with(config, MODELS, map);
    let (code, out) = doctor(dir.path(), free_port()).await;
    assert_eq!(code, 1, "{out}");
    for needle in [
        "✗ config: model `only-in-map` is only in model_endpoint_map.json",
        "→ add `only-in-map` to config/models.json",
    ] {
        assert!(out.contains(needle), "{needle} in {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_held_by_another_program_is_not_taken_for_the_server() {
    let stub = Stub::start(404, "text/plain", "not a bridge");
    let port: u16 = stub.url.rsplit(':').next().unwrap().parse().unwrap();
    let dir = dir_with(&evaluation_config(), MODELS, "{}");
    let (code, out) = doctor(dir.path(), port).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "✗ server: port {port} on 127.0.0.1 is in use, but not by a bridge-server"
        )),
        "{out}"
    );
    assert!(stub.request().starts_with("POST /internal/doctor"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tab_says_how_to_connect_with_this_servers_url() {
    let server = TestServer::start(&evaluation_config());
    let (code, out) = doctor(&server.config_dir(), server.port).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("✓ server: bridge-server answers"), "{out}");
    assert!(out.contains("✗ tab: no LMArena tab is connected"), "{out}");
    assert!(
        out.contains(&format!(
            "set its server URL to ws://127.0.0.1:{}/ws",
            server.port
        )),
        "{out}"
    );
    assert_eq!(marked(&out, '✗').len(), 1, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_tab_is_ready_to_chat() {
    let server = TestServer::start(&evaluation_config());
    let tab = server.tab(|_| hello_reply()).await;
    let (code, out) = doctor(&server.config_dir(), server.port).await;
    assert_eq!(code, 0, "{out}");
    assert!(marked(&out, '✗').is_empty(), "{out}");
    assert!(
        out.contains("FakeTab/test"),
        "the userscript version is shown: {out}"
    );
    assert!(
        out.contains("✓ site: the tab reaches https://lmarena.ai (GET /: 200)"),
        "{out}"
    );
    assert!(
        out.contains("✓ recaptcha: the tab minted a reCAPTCHA token"),
        "{out}"
    );
    assert!(out.contains("✓ flow: evaluation"), "{out}");
    assert!(out.ends_with("Ready to chat.\n"), "{out}");
    // The probe asked for the page and a token, and nothing was fetched upstream.
    let probes: Vec<_> = tab
        .frames()
        .into_iter()
        .filter_map(|f| match f {
            ServerMessage::Probe {
                path,
                recaptcha_action,
                ..
            } => Some((path, recaptcha_action)),
            _ => None,
        })
        .collect();
    assert_eq!(probes, [("/".to_owned(), Some("chat_submit".to_owned()))]);
    assert!(tab.fetches().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_injected_userscript_is_a_cross() {
    let server = TestServer::start(&evaluation_config());
    let _tab = server
        .tab_with(|o| o.late_injection = true, |_| hello_reply())
        .await;
    let (code, out) = doctor(&server.config_dir(), server.port).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("✗ userscript: the userscript was injected after the page"),
        "{out}"
    );
    assert!(out.contains("Injection Mode"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_without_recaptcha_or_site_fails_under_evaluation() {
    let server = TestServer::start(&evaluation_config());
    let _tab = server
        .tab_with(
            |o| {
                o.probe = Some(ProbeReply {
                    status: Some(403),
                    recaptcha: false,
                    message: Some("no reCAPTCHA on this page".to_owned()),
                })
            },
            |_| hello_reply(),
        )
        .await;
    let (code, out) = doctor(&server.config_dir(), server.port).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("✗ site: the tab cannot reach https://lmarena.ai: HTTP 403"),
        "{out}"
    );
    assert!(
        out.contains(
            "✗ recaptcha: the tab could not mint a reCAPTCHA token (no reCAPTCHA on this page)"
        ),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recaptcha_is_not_needed_by_the_retry_flow() {
    let server = TestServer::start(&base_config(r#", "upstream_flow": "retry""#));
    let _tab = server
        .tab_with(
            |o| {
                o.probe = Some(ProbeReply {
                    recaptcha: false,
                    ..ProbeReply::healthy()
                })
            },
            |_| hello_reply(),
        )
        .await;
    let (code, out) = doctor(&server.config_dir(), server.port).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("the retry flow does not need one"), "{out}");
    assert!(
        out.contains("✓ flow: retry: 3 model(s) have captured ids"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_that_does_not_answer_the_probe_is_a_cross() {
    let server = TestServer::start_with(&evaluation_config(), MODELS, "{}", |o| {
        o.page_source_timeout = std::time::Duration::from_millis(300)
    });
    let _tab = server.tab_with(|o| o.probe = None, |_| hello_reply()).await;
    let (code, out) = doctor(&server.config_dir(), server.port).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("✗ site: the tab did not answer the check"),
        "{out}"
    );
    assert!(out.contains("→ update the userscript"), "{out}");
}
