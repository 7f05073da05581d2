//! Tab pool behaviour through the real server: dispatch, queue, retries, aborts, challenges,
//! origins, malformed frames, liveness.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bridge_core::protocol::ServerMessage;
use bridge_test_support::fake_tab::{ConnectError, FakeTab, FakeTabOptions, Reply};
use common::*;
use serde_json::Value;

fn is_abort(f: &ServerMessage) -> bool {
    matches!(f, ServerMessage::Abort { .. })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tab_is_503_with_retry_after_and_advice() {
    let server = TestServer::start(&base_config(""));
    let res = chat(&server, "text-model", "hi", true).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let v: Value = res.json().await.unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("userscript"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tab_lost_before_first_byte_retries_on_another_tab() {
    let server = TestServer::start(&base_config(""));
    let lost = server.tab(|_| Reply::Disconnect).await;
    // Make sure the first request goes to the tab that drops (least busy tie → first tab).
    let good = server.tab(|_| hello_reply()).await;
    let v: Value = json_of(chat(&server, "text-model", "hi", false).await).await;
    assert_eq!(v["choices"][0]["message"]["content"], "Hello there!");
    assert_eq!(lost.fetches().len(), 1, "the first tab got the job first");
    assert_eq!(good.fetches().len(), 1, "the second tab finished it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tab_lost_after_first_byte_is_an_error_event() {
    let server = TestServer::start(&base_config(""));
    let _tab = server
        .tab(|_| Reply::StreamThenDisconnect(vec!["a0:\"par\"\n".into()]))
        .await;
    let res = chat(&server, "text-model", "hi", true).await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    let data = sse_data(&body);
    let err: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("disconnected"));
    assert_eq!(sse_content(&body), "par");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_full_is_429_and_queued_stream_gets_keepalives() {
    let config = base_config(",\n  \"max_concurrent_per_tab\": 1,\n  \"queue_limit\": 1");
    let server = TestServer::start_with(&config, MODELS, "{}", |o| {
        o.keepalive_interval = Duration::from_millis(100);
    });
    let tab = server.tab(hang_first()).await;
    // 1st occupies the only slot (it hangs).
    let first = start_request(&server, &tab, "one").await;
    // 2nd (streaming) queues and gets keep-alive comments.
    let mut second = chat(&server, "text-model", "two", true).await;
    assert_eq!(second.status(), 200);
    let mut seen = String::new();
    while !seen.contains(": keep-alive") {
        let chunk = tokio::time::timeout(Duration::from_secs(3), second.chunk())
            .await
            .expect("keep-alive in time")
            .unwrap()
            .unwrap();
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    // 3rd: the queue (limit 1) is full.
    let res = chat(&server, "text-model", "three", false).await;
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    // Freeing the slot (aborting the first client) lets the queued one run.
    first.abort();
    drop(first);
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        let mut all = seen.clone();
        while let Some(chunk) = second.chunk().await.unwrap() {
            all.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        all
    })
    .await
    .unwrap();
    assert_eq!(sse_content(&rest), "Hello there!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_disconnect_aborts_the_job_in_the_tab() {
    let server = TestServer::start(&base_config(""));
    let tab = server
        .tab(|_| Reply::StreamThenHang(vec!["a0:\"tick\"\n".into()]))
        .await;
    let mut res = chat(&server, "text-model", "hi", true).await;
    let _ = res.chunk().await.unwrap();
    drop(res);
    let abort = tab.wait_for(Duration::from_secs(5), is_abort).await;
    assert!(abort.is_some(), "the tab must get an abort");
    // The slot is free again.
    for _ in 0..100 {
        if server.state.pool().snapshot()[0].in_flight == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.state.pool().snapshot()[0].in_flight, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_client_disconnect_aborts_too() {
    let server = TestServer::start(&base_config(""));
    let tab = server.tab(|_| Reply::Hang).await;
    let req = start_request(&server, &tab, "hi").await;
    req.abort();
    assert!(tab
        .wait_for(Duration::from_secs(5), is_abort)
        .await
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_upstream_session_never_runs_twice_at_once() {
    let server = TestServer::start(&base_config(""));
    // The first answer never comes; later ones do. Both requests use the global session.
    let tab = server.tab(hang_first()).await;
    let first = start_request(&server, &tab, "1").await;
    let url = server.url("/v1/chat/completions");
    let second = tokio::spawn(async move {
        client()
            .post(url)
            .json(&chat_body("text-model", "2", false))
            .send()
            .await
            .unwrap()
    });
    // The second waits in the queue although the tab has free slots.
    for _ in 0..200 {
        if server.state.pool().queue_len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(server.state.pool().queue_len(), 1);
    assert_eq!(tab.fetches().len(), 1);
    // When the first goes away, the second runs.
    first.abort();
    let res = second.await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(tab.fetches().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn challenge_marks_the_tab_refreshes_it_and_the_other_serves() {
    let server = TestServer::start(&base_config(""));
    let challenged = server
        .tab(|_| {
            Reply::fail(
                403,
                "text/html",
                "<html><head><title>Just a moment...</title></head></html>",
            )
        })
        .await;
    let healthy = server.tab(|_| hello_reply()).await;
    let res = chat(&server, "text-model", "hi", false).await;
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["x-should-retry"], "false");
    assert!(challenged
        .wait_for(Duration::from_secs(3), |f| matches!(
            f,
            ServerMessage::Command {
                command: bridge_core::protocol::Command::Refresh,
                ..
            }
        ))
        .await
        .is_some());
    for _ in 0..3 {
        let v: Value = json_of(chat(&server, "text-model", "hi", false).await).await;
        assert_eq!(v["choices"][0]["message"]["content"], "Hello there!");
    }
    assert_eq!(challenged.fetches().len(), 1);
    assert_eq!(healthy.fetches().len(), 3);
    let refreshes = challenged
        .frames()
        .iter()
        .filter(|f| matches!(f, ServerMessage::Command { .. }))
        .count();
    assert_eq!(refreshes, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_origin_is_refused_before_the_upgrade() {
    let server = TestServer::start(&base_config(""));
    for origin in [
        Some("https://evil.example"),
        Some("https://lmarena.ai.evil.example"),
        Some("http://lmarena.ai"),
        None,
    ] {
        let mut opts = FakeTabOptions::new(server.port);
        opts.origin = origin.map(str::to_owned);
        let err = FakeTab::connect(opts, Arc::new(|_| hello_reply()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ConnectError::Refused(403)),
            "{origin:?}: {err}"
        );
    }
    for origin in [
        "https://lmarena.ai",
        "https://canary.lmarena.ai",
        "https://arena.ai",
    ] {
        let mut opts = FakeTabOptions::new(server.port);
        opts.origin = Some(origin.to_owned());
        assert!(
            FakeTab::connect(opts, Arc::new(|_| hello_reply()))
                .await
                .is_ok(),
            "{origin}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frame_is_skipped_and_late_frames_are_dropped() {
    let server = TestServer::start(&base_config(""));
    let _tab = server
        .tab(|_| {
            Reply::RawThen(
                "{this is not json".into(),
                Box::new(Reply::RawThen(
                    r#"{"type":"chunk","id":999999,"data":"late"}"#.into(),
                    Box::new(hello_reply()),
                )),
            )
        })
        .await;
    for _ in 0..2 {
        let v: Value = json_of(chat(&server, "text-model", "hi", false).await).await;
        assert_eq!(v["choices"][0]["message"]["content"], "Hello there!");
    }
    assert_eq!(server.state.pool().tab_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tab_that_misses_pongs_is_dropped() {
    let server = TestServer::start_with(&base_config(""), MODELS, "{}", |o| {
        o.ping_interval = Duration::from_millis(100);
    });
    let quiet = server
        .tab_with(|o| o.answer_pings = false, |_| hello_reply())
        .await;
    let alive = server.tab(|_| hello_reply()).await;
    for _ in 0..100 {
        if quiet.is_closed() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(quiet.is_closed(), "silent tab must be dropped");
    assert!(!alive.is_closed());
    assert_eq!(server.state.pool().tab_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_protocol_is_refused() {
    let server = TestServer::start(&base_config(""));
    let mut opts = FakeTabOptions::new(server.port);
    opts.protocol = 1;
    // The handshake succeeds but the server closes instead of welcoming.
    assert!(FakeTab::connect(opts, Arc::new(|_| hello_reply()))
        .await
        .is_err());
    assert_eq!(server.state.pool().tab_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_is_spread_over_two_tabs() {
    let config = base_config(",\n  \"max_concurrent_per_tab\": 1");
    let server = TestServer::start(&config);
    let slow = || Reply::Stream {
        status: 200,
        headers: Default::default(),
        chunks: vec!["a0:\"x\"\n".into()],
        delay: Duration::from_millis(200),
    };
    let t1 = server.tab(move |_| slow()).await;
    let t2 = server.tab(move |_| slow()).await;
    // Distinct sessions through a pool so both run at once.
    let map = format!(
        r#"{{"text-model":[{{"session_id":"{SESSION}","message_id":"{MESSAGE}"}},{{"session_id":"33333333-3333-4333-8333-333333333333","message_id":"44444444-4444-4444-8444-444444444444"}}]}}"#
    );
    std::fs::write(server.config_dir().join("model_endpoint_map.json"), map).unwrap();
    server.state.reload().unwrap();
    let (a, b) = tokio::join!(
        client()
            .post(server.url("/v1/chat/completions"))
            .json(&chat_body("text-model", "1", false))
            .send(),
        client()
            .post(server.url("/v1/chat/completions"))
            .json(&chat_body("text-model", "2", false))
            .send(),
    );
    assert_eq!(a.unwrap().status(), 200);
    assert_eq!(b.unwrap().status(), 200);
    assert_eq!(t1.fetches().len(), 1);
    assert_eq!(t2.fetches().len(), 1);
}
