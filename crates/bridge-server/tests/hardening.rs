//! Hardening (issue 16): `n` limit, Host check, JSON-only POSTs with a known Origin, reload
//! safety checks, UUID ids, length-capped strings, tab authentication, slow readers.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use bridge_test_support::fake_tab::Reply;
use common::*;
use serde_json::{json, Value};

fn keyed() -> String {
    format!(
        r#"{{ "session_id": "{SESSION}", "message_id": "{MESSAGE}", "api_key": "sk-test-key" }}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_above_ten_is_a_400_before_any_job_starts() {
    let server = TestServer::start(&base_config(""));
    let tab = server.tab(|_| hello_reply()).await;
    for n in [11u64, 1000, u64::from(u32::MAX)] {
        let mut body = chat_body("text-model", "hi", false);
        body["n"] = json!(n);
        let res = post(&server, "/v1/chat/completions", &body).await;
        assert_eq!(res.status(), 400, "chat n={n}");
        let v = json_of(res).await;
        assert_eq!(v["error"]["param"], "n", "{v}");
        let res = post(
            &server,
            "/v1/images/generations",
            &json!({"model": "image-model", "prompt": "a cat", "n": n}),
        )
        .await;
        assert_eq!(res.status(), 400, "images n={n}");
        let v = json_of(res).await;
        assert_eq!(v["error"]["param"], "n", "{v}");
    }
    assert!(
        tab.fetches().is_empty(),
        "a refused request reached the tab"
    );
    // Ten is OpenAI's limit: not refused for `n` (this tab answers no image: a 502).
    let res = post(
        &server,
        "/v1/images/generations",
        &json!({"model": "image-model", "prompt": "a cat", "n": 10}),
    )
    .await;
    let status = res.status();
    let v = json_of(res).await;
    assert_ne!(v["error"]["param"], "n", "{status} {v}");
    assert_eq!(tab.fetches().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_header_is_421_while_bound_to_loopback() {
    let server = TestServer::start(&base_config(""));
    let c = client();
    for host in [
        "evil.example",
        "evil.example:5102",
        "127.0.0.1.evil.example",
        "localhost.evil.example:80",
        "[::2]:5102",
        "10.0.0.1",
    ] {
        for path in ["/v1/models", "/status", "/health"] {
            let res = c
                .get(server.url(path))
                .header("host", host)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 421, "{host} {path}");
            let v: Value = res.json().await.unwrap();
            assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        }
    }
    for host in [
        "127.0.0.1",
        "localhost:9",
        "LOCALHOST:5102",
        "[::1]:5102",
        "[::1]",
    ] {
        let res = c
            .get(server.url("/v1/models"))
            .header("host", host)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{host}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_posts_need_json_and_a_known_browser_origin() {
    let server = TestServer::start(&base_config(
        ",\n  \"cors_allowed_origins\": [\"https://chat.example\"]",
    ));
    let tab = server.tab(|_| hello_reply()).await;
    let c = client();
    let body = chat_body("text-model", "hi", false).to_string();
    for path in ["/v1/chat/completions", "/v1/images/generations"] {
        for ct in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
            Some("application/jsonp"),
            None,
        ] {
            let mut req = c.post(server.url(path)).body(body.clone());
            if let Some(ct) = ct {
                req = req.header("content-type", ct);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 415, "{path} {ct:?}");
            let v: Value = res.json().await.unwrap();
            assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
        }
        for origin in ["https://evil.example", "null", "http://127.0.0.1:1"] {
            let res = c
                .post(server.url(path))
                .header("content-type", "application/json")
                .header("origin", origin)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 403, "{path} {origin}");
            let v: Value = res.json().await.unwrap();
            assert_eq!(v["error"]["type"], "permission_error", "{v}");
        }
    }
    assert!(
        tab.fetches().is_empty(),
        "a refused request reached the tab"
    );
    let own = format!("http://127.0.0.1:{}", server.port);
    for (ct, origin) in [
        ("application/json", None),
        ("application/json; charset=utf-8", None),
        ("Application/JSON", Some(own.as_str())),
        ("application/json", Some("https://chat.example")),
    ] {
        let mut req = c
            .post(server.url("/v1/chat/completions"))
            .header("content-type", ct)
            .body(body.clone());
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200, "{ct} {origin:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_runs_the_startup_checks_and_keeps_the_last_good_config() {
    let start = format!(
        r#"{{ "session_id": "{SESSION}", "message_id": "{MESSAGE}", "api_key": "sk-test-key",
             "cors_allowed_origins": ["*"] }}"#
    );
    let server = TestServer::start(&start);
    // Clearing the key while "*" is allowed would let any web page use the bridge.
    std::fs::write(
        server.config_dir().join("config.jsonc"),
        format!(
            r#"{{ "session_id": "{SESSION}", "message_id": "{MESSAGE}", "api_key": "",
                 "cors_allowed_origins": ["*"] }}"#
        ),
    )
    .unwrap();
    let err = server.state.reload().unwrap_err();
    assert!(err.contains("api_key"), "{err}");
    let res = client().get(server.url("/v1/models")).send().await.unwrap();
    assert_eq!(res.status(), 401, "the key must still be required");
    let res = client()
        .get(server.url("/status"))
        .bearer_auth("sk-test-key")
        .send()
        .await
        .unwrap();
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["config"]["ok"], false);
}

#[test]
fn reload_checks_the_bound_address() {
    let (cfg, _) =
        bridge_core::config::parse_config("{}", std::path::Path::new("c.jsonc")).unwrap();
    let any: std::net::IpAddr = "0.0.0.0".parse().unwrap();
    let err = bridge_server::check_reload(&cfg, Some(any)).unwrap_err();
    assert!(err.contains("api_key"), "{err}");
    assert!(bridge_server::check_reload(&cfg, Some("127.0.0.1".parse().unwrap())).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_that_are_not_uuids_stop_startup_and_are_refused_on_reload() {
    let dir = tempfile::tempdir().unwrap();
    for (key, config) in [
        (
            "session_id",
            format!(r#"{{ "session_id": "../../x", "message_id": "{MESSAGE}" }}"#),
        ),
        (
            "message_id",
            format!(r#"{{ "session_id": "{SESSION}", "message_id": "abc?d=1" }}"#),
        ),
    ] {
        bridge_test_support::server::write_config_dir(dir.path(), &config, MODELS, "{}");
        let err = bridge_server::load_dir(dir.path()).unwrap_err();
        assert!(err.contains("config.jsonc"), "{err}");
        assert!(err.contains(key), "{err}");
    }
    let map = r#"{"text-model": {"session_id": "11111111-1111-4111-8111-111111111111", "message_id": "m/../../evil"}}"#;
    bridge_test_support::server::write_config_dir(dir.path(), &base_config(""), MODELS, map);
    let err = bridge_server::load_dir(dir.path()).unwrap_err();
    assert!(err.contains("model_endpoint_map.json"), "{err}");
    assert!(err.contains("message_id"), "{err}");
    // The shipped placeholders mean "not configured" and still load.
    bridge_test_support::server::write_config_dir(
        dir.path(),
        r#"{ "session_id": "YOUR_SESSION_ID", "message_id": "YOUR_MESSAGE_ID" }"#,
        MODELS,
        "{}",
    );
    assert!(bridge_server::load_dir(dir.path()).is_ok());

    let server = TestServer::start(&base_config(""));
    let _tab = server.tab(|_| hello_reply()).await;
    std::fs::write(
        server.config_dir().join("config.jsonc"),
        format!(r#"{{ "session_id": "not-a-uuid", "message_id": "{MESSAGE}" }}"#),
    )
    .unwrap();
    assert!(server.state.reload().is_err());
    let res = chat(&server, "text-model", "hi", false).await;
    assert_eq!(res.status(), 200, "the last good ids stay");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_client_and_tab_strings_are_capped() {
    let server = TestServer::start(&base_config(""));
    let long_tab = "t".repeat(1 << 20);
    let _tab = server
        .tab_with(|o| o.tab_id = long_tab.clone(), |_| hello_reply())
        .await;
    let status = client().get(server.url("/status")).send().await.unwrap();
    let text = status.text().await.unwrap();
    assert!(text.len() < 64 * 1024, "/status is {} bytes", text.len());

    let model = "m".repeat(1 << 20);
    let res = chat(&server, &model, "hi", false).await;
    assert_eq!(res.status(), 404);
    let text = res.text().await.unwrap();
    assert!(text.len() < 4096, "the error is {} bytes", text.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_with_a_wrong_key_is_closed_and_the_right_key_is_admitted() {
    let server = TestServer::start(&keyed());
    let mut opts = bridge_test_support::fake_tab::FakeTabOptions::new(server.port);
    opts.api_key = Some("sk-wrong".to_owned());
    let handler: bridge_test_support::fake_tab::Handler = std::sync::Arc::new(|_| hello_reply());
    let refused = bridge_test_support::fake_tab::FakeTab::connect(opts, handler.clone()).await;
    assert!(refused.is_err(), "a tab with a wrong key got a welcome");
    assert_eq!(server.state.pool().tab_count(), 0);
    let _tab = server
        .tab_with(
            |o| o.api_key = Some("sk-test-key".to_owned()),
            |_| hello_reply(),
        )
        .await;
    assert_eq!(server.state.pool().tab_count(), 1);
}

#[test]
fn tab_admission_needs_the_key_from_outside_loopback() {
    use bridge_server::tab_admitted;
    let lan: std::net::IpAddr = "192.168.1.20".parse().unwrap();
    let lo: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let v6lo: std::net::IpAddr = "::1".parse().unwrap();
    // No key configured: only loopback tabs.
    assert!(tab_admitted(None, Some(lo), None));
    assert!(tab_admitted(None, Some(v6lo), None));
    // A key configured: LAN tabs need it, exactly.
    assert!(!tab_admitted(Some("k1"), Some(lan), None));
    assert!(!tab_admitted(Some("k1"), Some(lan), Some("k2")));
    assert!(!tab_admitted(Some("k1"), Some(lan), Some("k1 ")));
    assert!(!tab_admitted(Some("k1"), None, None));
    assert!(tab_admitted(Some("k1"), Some(lan), Some("k1")));
    // Loopback without a key is the local userscript; a wrong key is still refused.
    assert!(tab_admitted(Some("k1"), Some(lo), None));
    assert!(!tab_admitted(Some("k1"), Some(lo), Some("nope")));
}

/// A client that sends a streaming request and then never reads: the answer must not pin the
/// tab's slot past the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_frees_the_slot_at_the_idle_timeout() {
    let config = format!(
        r#"{{ "session_id": "{SESSION}", "message_id": "{MESSAGE}",
             "stream_response_timeout_seconds": 1, "max_concurrent_per_tab": 1 }}"#
    );
    let server = TestServer::start(&config);
    // A big answer (16 MiB) that fills every buffer between the tab and the client.
    let line = format!(
        "a0:{}",
        serde_json::to_string(&"x".repeat(16 * 1024)).unwrap()
    );
    let lines: Vec<&str> = std::iter::repeat_n(line.as_str(), 1024).collect();
    let big = Reply::lines(&lines);
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let _tab = server
        .tab(move |_| {
            if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                big.clone()
            } else {
                hello_reply()
            }
        })
        .await;
    let body = chat_body("text-model", "hi", true).to_string();
    let port = server.port;
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    // A tiny receive buffer so the server's writes stall quickly.
    write!(
        sock,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut first = [0u8; 64];
    let _ = sock.read(&mut first).unwrap();
    // The client now never reads again; the slot must come free.
    poll_until(&server, "/status", "the slot of the stalled reader", |v| {
        v["tabs"][0]["in_flight"] == 0
    })
    .await;
    let res = tokio::time::timeout(
        Duration::from_secs(10),
        chat(&server, "text-model", "hi", false),
    )
    .await
    .expect("the next request waited on the stalled slot");
    assert_eq!(res.status(), 200);
    drop(sock);
}
