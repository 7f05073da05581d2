//! Errors that lead somewhere: a chat that cannot be served names every reason, a missing
//! tab first with the URL the userscript must use; `/status` names config that cannot work,
//! the "Ready to chat?" checks, and what each tab said in hello.

mod common;

use bridge_test_support::fake_tab::FakeTabOptions;
use common::*;
use serde_json::Value;

const PLACEHOLDERS: &str = r#"{"session_id": "YOUR_SESSION_ID", "message_id": "YOUR_MESSAGE_ID",
                              "upstream_flow": "retry"}"#;

/// Names of the failed "Ready to chat?" checks of a `/status` answer.
fn failed_checks(status: &Value) -> Vec<&str> {
    status["ready"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_with_placeholders_and_no_tab_names_both_reasons_tab_first() {
    let server = TestServer::start(PLACEHOLDERS);
    let res = chat(&server, "text-model", "hi", true).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["x-should-retry"], "false");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "session_not_configured");
    let msg = v["error"]["message"].as_str().unwrap();
    let tab = msg.find("(1) No LMArena tab is connected").expect(msg);
    let ids = msg.find("(2) model `text-model`").expect(msg);
    assert!(tab < ids, "{msg}");
    let url = format!("ws://127.0.0.1:{}/ws", server.port);
    for needle in [
        url.as_str(),
        "YOUR_SESSION_ID",
        "bridge-id-updater",
        "\"upstream_flow\": \"evaluation\"",
    ] {
        assert!(msg.contains(needle), "{needle} in {msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_with_placeholders_and_a_tab_names_only_the_ids() {
    let server = TestServer::start(PLACEHOLDERS);
    let _tab = server.tab(|_| hello_reply()).await;
    let v: Value = chat(&server, "text-model", "hi", false)
        .await
        .json()
        .await
        .unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(!msg.contains("No LMArena tab"), "{msg}");
    assert!(
        msg.starts_with("model `text-model` uses the global ids"),
        "{msg}"
    );
    assert!(msg.contains("\"upstream_flow\": \"evaluation\""), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tab_under_evaluation_names_the_userscript_url_of_this_server() {
    let server = TestServer::start(r#"{"upstream_flow": "evaluation"}"#);
    let res = chat(&server, "text-model", "hi", false).await;
    assert_eq!(res.status(), 503);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "no_tab_connected");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("Install the LMArenaApiBridge userscript"),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "set its server URL to ws://127.0.0.1:{}/ws",
            server.port
        )),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_placeholders_and_shows_the_ready_checks() {
    let server = TestServer::start(PLACEHOLDERS);
    let v = get_json(&server.url("/status")).await;
    let warnings = v["config"]["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("YOUR_SESSION_ID")),
        "{warnings:?}"
    );
    assert_eq!(
        v["userscript_url"],
        format!("ws://127.0.0.1:{}/ws", server.port)
    );
    assert_eq!(v["userscript_url_is_default"], false);
    let failed = failed_checks(&v);
    assert_eq!(failed, ["config", "tab", "flow"], "{}", v["ready"]);
    assert!(v["ready"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["ok"] == true || c["fix"].is_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_tabs_show_client_and_late_injection() {
    let server = TestServer::start(r#"{"upstream_flow": "evaluation"}"#);
    let _tab = server
        .tab_with(
            |o: &mut FakeTabOptions| o.late_injection = true,
            |_| hello_reply(),
        )
        .await;
    let v = get_json(&server.url("/status")).await;
    assert_eq!(v["tabs"][0]["client"], "FakeTab/test");
    assert_eq!(v["tabs"][0]["late_injection"], true);
    assert_eq!(v["config"]["warnings"], serde_json::json!([]));
    let failed = failed_checks(&v);
    assert_eq!(failed, ["userscript"], "{}", v["ready"]);
}
