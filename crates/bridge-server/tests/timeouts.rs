//! Timeouts: first byte, idle (stream_response_timeout_seconds), total.

mod common;

use bridge_test_support::fake_tab::Reply;
use common::*;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_byte_timeout_is_504() {
    let server = TestServer::start(&base_config(",\n  \"first_byte_timeout_seconds\": 1"));
    let tab = server.tab(|_| Reply::Hang).await;
    let res = chat(&server, "text-model", "hi", false).await;
    assert_eq!(res.status(), 504);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "timeout");
    // The given-up job is aborted in the tab.
    assert!(tab
        .wait_for(std::time::Duration::from_secs(3), |f| matches!(
            f,
            bridge_core::protocol::ServerMessage::Abort { .. }
        ))
        .await
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_after_first_byte_is_an_sse_error() {
    let config = r#"{ "session_id": "11111111-1111-4111-8111-111111111111", "message_id": "22222222-2222-4222-8222-222222222222", "stream_response_timeout_seconds": 1 }"#;
    let server = TestServer::start(config);
    let _tab = server
        .tab(|_| Reply::StreamThenHang(vec!["a0:\"hi\"\n".into()]))
        .await;
    let res = chat(&server, "text-model", "hi", true).await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    let data = sse_data(&body);
    let err: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(err["error"]["code"], "timeout");
    assert_eq!(sse_content(&body), "hi");
    // Non-streaming: a real 504.
    let res = chat(&server, "text-model", "hi", false).await;
    assert_eq!(res.status(), 504);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn total_timeout_is_enforced() {
    let server = TestServer::start(&base_config(",\n  \"total_timeout_seconds\": 1"));
    let _tab = server
        .tab(|_| Reply::Stream {
            status: 200,
            headers: Default::default(),
            chunks: (0..100).map(|i| format!("a0:\"{i} \"\n")).collect(),
            delay: std::time::Duration::from_millis(50),
        })
        .await;
    let res = chat(&server, "text-model", "hi", false).await;
    assert_eq!(res.status(), 504);
    let v: Value = res.json().await.unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("total_timeout_seconds"));
}

/// 2026 (UPSTREAM.md §7): during long thinking LMArena sends only `a2:[{"type":"heartbeat"}]`
/// lines. They keep the idle timeout from firing, add nothing to the answer and are not
/// counted as unknown lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeat_lines_keep_the_idle_timeout_from_firing() {
    let server = TestServer::start(&base_config(",\n  \"stream_response_timeout_seconds\": 1"));
    let heartbeat = "a2:[{\"type\":\"heartbeat\"}]\n".to_owned();
    // Eight pauses of 400 ms: the answer takes about three idle timeouts.
    let mut chunks = vec![heartbeat; 6];
    chunks.push("a0:\"still here\"\n".to_owned());
    chunks.push("ad:{\"finishReason\":\"stop\"}\n".to_owned());
    let _tab = server
        .tab(move |_| Reply::Stream {
            status: 200,
            headers: Default::default(),
            chunks: chunks.clone(),
            delay: std::time::Duration::from_millis(400),
        })
        .await;
    let res = chat(&server, "text-model", "think long", false).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "still here");
    let res = chat(&server, "text-model", "think long", true).await;
    assert_eq!(res.status(), 200);
    assert_eq!(sse_content(&res.text().await.unwrap()), "still here");
    let status = get_json(&server.url("/status")).await;
    assert_eq!(status["unknown_line_types"], serde_json::json!({}));
}
