//! Security defaults: API key on every route but /health, / and /ws; CORS; internal routes;
//! body limit; config reload; startup refusals.

mod common;

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
async fn api_key_guards_every_route_but_health_index_and_ws() {
    let server = TestServer::start(&keyed());
    let _tab = server.tab(|_| hello_reply()).await;
    let c = client();
    for (method, path) in [
        ("POST", "/v1/chat/completions"),
        ("POST", "/chat/completions"),
        ("GET", "/v1/models"),
        ("POST", "/v1/images/generations"),
        ("GET", "/status"),
        ("POST", "/internal/request_model_update"),
        ("POST", "/internal/start_id_capture"),
    ] {
        for auth in [
            None,
            Some("Bearer wrong"),
            Some("Basic sk-test-key"),
            Some("Bearer sk-test-ke"),
        ] {
            let mut req = c.request(method.parse().unwrap(), server.url(path));
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 401, "{method} {path} {auth:?}");
            let v: Value = res.json().await.unwrap();
            assert_eq!(v["error"]["code"], "invalid_api_key");
        }
    }
    for path in ["/health", "/"] {
        assert_eq!(
            c.get(server.url(path)).send().await.unwrap().status(),
            200,
            "{path}"
        );
    }
    // The key works with any scheme casing.
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let res = c
            .post(server.url("/v1/chat/completions"))
            .header("authorization", format!("{scheme} sk-test-key"))
            .json(&chat_body("text-model", "hi", false))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{scheme}");
    }
    // The tab connected without a key (checked by Origin).
    assert_eq!(server.state.pool().tab_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_checked_before_the_body_is_read() {
    let server = TestServer::start(&keyed());
    // An oversize, broken body without a key is a 401, not a 413 or 400.
    let res = client()
        .post(server.url("/v1/chat/completions"))
        .body(vec![b'x'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_off_by_default_and_exact_when_configured() {
    let server = TestServer::start(&base_config(""));
    let res = client()
        .request(reqwest::Method::OPTIONS, server.url("/v1/chat/completions"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    let res = client()
        .get(server.url("/v1/models"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));

    let server = TestServer::start(&base_config(
        ",\n  \"cors_allowed_origins\": [\"https://chat.example\"]",
    ));
    let res = client()
        .request(reqwest::Method::OPTIONS, server.url("/v1/chat/completions"))
        .header("origin", "https://chat.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, x-stainless-os, cookie",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://chat.example"
    );
    let allowed = res.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allowed.contains("authorization") && allowed.contains("x-stainless-os"));
    assert!(!allowed.contains("cookie"));
    let res = client()
        .get(server.url("/v1/models"))
        .header("origin", "https://chat.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://chat.example"
    );
    let res = client()
        .get(server.url("/v1/models"))
        .header("origin", "https://other.example")
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_refuses_unsafe_settings() {
    let (cfg, _) =
        bridge_core::config::parse_config("{}", std::path::Path::new("c.jsonc")).unwrap();
    assert!(bridge_server::check_startup(&cfg, "127.0.0.1").is_ok());
    assert!(bridge_server::check_startup(&cfg, "::1").is_ok());
    let err = bridge_server::check_startup(&cfg, "0.0.0.0").unwrap_err();
    assert!(err.contains("api_key"));
    let (star, _) = bridge_core::config::parse_config(
        r#"{"cors_allowed_origins": ["*"]}"#,
        std::path::Path::new("c.jsonc"),
    )
    .unwrap();
    assert!(bridge_server::check_startup(&star, "127.0.0.1").is_err());
    let (keyed, _) = bridge_core::config::parse_config(
        r#"{"cors_allowed_origins": ["*"], "api_key": "k"}"#,
        std::path::Path::new("c.jsonc"),
    )
    .unwrap();
    assert!(bridge_server::check_startup(&keyed, "0.0.0.0").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_body_is_413() {
    let server = TestServer::start(&base_config(",\n  \"max_request_bytes\": 2048"));
    let big = "x".repeat(4096);
    let res = chat(&server, "text-model", &big, false).await;
    assert_eq!(res.status(), 413);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    // Chunked (no Content-Length) is limited too.
    let stream =
        futures_util::stream::iter((0..8).map(|_| Ok::<_, std::io::Error>(vec![b' '; 512])));
    let res = client()
        .post(server.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_routes_need_loopback_without_origin() {
    let server = TestServer::start(&base_config(""));
    // No tab: 503.
    let res = client()
        .post(server.url("/internal/request_model_update"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    let tab = server
        .tab_with(
            |o| o.page_html = "<html><script>initialModels</script></html>".into(),
            |_| hello_reply(),
        )
        .await;
    // A browser page (Origin header) may not use them.
    let res = client()
        .post(server.url("/internal/request_model_update"))
        .header("origin", "https://lmarena.ai")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = client()
        .post(server.url("/internal/request_model_update"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(res.text().await.unwrap().contains("initialModels"));

    let res = post(
        &server,
        "/internal/start_id_capture",
        &json!({"listen_port": 5999}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let cmd = tab
        .wait_for(Duration::from_secs(3), |f| {
            matches!(
                f,
                bridge_core::protocol::ServerMessage::Command {
                    command: bridge_core::protocol::Command::ActivateIdCapture,
                    ..
                }
            )
        })
        .await
        .unwrap();
    match cmd {
        bridge_core::protocol::ServerMessage::Command { report_to, .. } => {
            assert_eq!(report_to.as_deref(), Some("http://127.0.0.1:5999/update"));
        }
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_source_timeout_is_504() {
    let server = TestServer::start_with(&base_config(""), MODELS, "{}", |o| {
        o.page_source_timeout = Duration::from_millis(300);
    });
    let _tab = server
        .tab_with(|o| o.answer_page_source = false, |_| hello_reply())
        .await;
    let res = client()
        .post(server.url("/internal/request_model_update"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 504);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "timeout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_reload_applies_and_a_broken_edit_keeps_the_last_good_config() {
    let server = TestServer::start_with(&base_config(""), MODELS, "{}", |o| {
        o.watch_config = true;
    });
    let _tab = server.tab(|_| hello_reply()).await;
    let models_path = server.config_dir().join("models.json");
    std::fs::write(
        &models_path,
        r#"{"new-model": "bbbbbbbb-0000-4000-8000-000000000009"}"#,
    )
    .unwrap();
    poll_until(&server, "/v1/models", "the models.json change", |v| {
        v["data"][0]["id"] == "new-model"
    })
    .await;
    // Broken config: keep serving with the last good one, and say why on /status.
    std::fs::write(
        server.config_dir().join("config.jsonc"),
        "{ \"port\": 1,, }",
    )
    .unwrap();
    let v = poll_until(&server, "/status", "the broken config report", |v| {
        v["config"]["ok"] == false
    })
    .await;
    assert!(v["config"]["message"]
        .as_str()
        .unwrap()
        .contains("config.jsonc"));
    let res = chat(&server, "new-model", "hi", false).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_in_flight_streams_with_an_error_event() {
    let server = TestServer::start(&base_config(""));
    let _tab = server
        .tab(|_| Reply::StreamThenHang(vec!["a0:\"start\"\n".into()]))
        .await;
    let mut res = chat(&server, "text-model", "hi", true).await;
    let first = res.chunk().await.unwrap().unwrap();
    assert!(std::str::from_utf8(&first).unwrap().contains("start"));
    let stopper = std::thread::spawn(move || server.stop());
    let mut rest = String::new();
    while let Ok(Some(chunk)) = res.chunk().await {
        rest.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    stopper.join().unwrap();
    assert!(rest.contains("shutting down"), "{rest}");
    assert!(rest.trim_end().ends_with("data: [DONE]"));
}
