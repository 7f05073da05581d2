//! LMArena's rate limits (issue 13): a 429 with `retry-after` cools its tab down (status,
//! /metrics), work goes to other tabs or waits, a wait longer than the queue timeout is a 429 at
//! once without touching the site, a Cloudflare 429 is a challenge instead, and optional pacing
//! spaces the upstream requests of one tab.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bridge_test_support::fake_tab::Reply;
use common::*;
use serde_json::Value;

fn rate_limited(retry_after: &str) -> Reply {
    let mut reply = Reply::fail(429, "application/json", r#"{"error":"Too Many Requests"}"#);
    if let Reply::Fail { headers, .. } = &mut reply {
        headers.insert("retry-after".into(), retry_after.into());
    }
    reply
}

/// A handler whose first fetch (over every tab that shares it) gets `first`, later ones hello.
fn first_then_hello(
    first: Reply,
) -> impl Fn(&bridge_core::protocol::FetchRequest) -> Reply + Send + Sync + Clone + 'static {
    let calls = Arc::new(AtomicUsize::new(0));
    move |_| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            first.clone()
        } else {
            hello_reply()
        }
    }
}

async fn metrics(server: &TestServer) -> String {
    client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn tab_states(status: &Value) -> Vec<String> {
    status["tabs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_cools_its_tab_down_and_work_goes_to_the_other_tab() {
    let server = TestServer::start(&base_config(""));
    let handler = first_then_hello(rate_limited("600"));
    let a = server.tab(handler.clone()).await;
    let b = server.tab(handler).await;

    let res = chat(&server, "text-model", "hi", false).await;
    assert_eq!(res.status(), 429, "the first 429 reaches the client");
    assert_eq!(res.headers()["retry-after"], "600");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "upstream_rate_limited");

    let status = get_json(&server.url("/status")).await;
    let mut states = tab_states(&status);
    states.sort();
    assert_eq!(states, ["cooling_down", "ready"], "{status:#}");
    let cooling = status["tabs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["state"] == "cooling_down")
        .unwrap();
    let secs = cooling["cooldown_secs"].as_u64().unwrap();
    assert!((590..=600).contains(&secs), "{secs}");
    let ready = status["tabs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["state"] == "ready")
        .unwrap();
    assert!(ready["cooldown_secs"].is_null());
    assert!(metrics(&server)
        .await
        .contains(r#"bridge_tabs{state="cooling_down"} 1"#));

    let (hit, other) = if a.fetches().len() == 1 {
        (&a, &b)
    } else {
        (&b, &a)
    };
    for _ in 0..2 {
        let res = chat(&server, "text-model", "again", false).await;
        assert_eq!(res.status(), 200);
    }
    assert_eq!(hit.fetches().len(), 1, "the cooling tab got no more work");
    assert_eq!(other.fetches().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_tabs_cooling_down_past_the_queue_timeout_is_a_429_at_once() {
    let server = TestServer::start(&base_config(r#", "queue_timeout_seconds": 5"#));
    let tab = server.tab(first_then_hello(rate_limited("600"))).await;
    assert_eq!(chat(&server, "text-model", "hi", false).await.status(), 429);

    let started = Instant::now();
    for stream in [false, true] {
        let res = chat(&server, "text-model", "hi", stream).await;
        assert_eq!(res.status(), 429, "stream={stream}");
        let retry_after: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((590..=600).contains(&retry_after), "{retry_after}");
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["error"]["code"], "tabs_cooling_down");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cooling down"));
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered at once, not after the queue timeout"
    );
    assert_eq!(tab.fetches().len(), 1, "nothing more reached the site");
    let status = get_json(&server.url("/status")).await;
    assert_eq!(status["counts"]["by_outcome"]["rate_limited"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_shorter_than_the_queue_timeout_waits_in_the_queue() {
    let server = TestServer::start(&base_config(r#", "queue_timeout_seconds": 10"#));
    let tab = server.tab(first_then_hello(rate_limited("1"))).await;
    let first_at = Instant::now();
    assert_eq!(chat(&server, "text-model", "hi", false).await.status(), 429);
    let res = chat(&server, "text-model", "hi", false).await;
    assert_eq!(res.status(), 200);
    assert!(
        first_at.elapsed() >= Duration::from_millis(900),
        "the second request waited for the cooldown"
    );
    assert_eq!(tab.fetches().len(), 2);
    let status = get_json(&server.url("/status")).await;
    assert_eq!(tab_states(&status), ["ready"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloudflare_429_is_a_challenge_not_a_cooldown() {
    let server = TestServer::start(&base_config(""));
    let mut challenge = Reply::fail(
        429,
        "text/html; charset=UTF-8",
        "<!DOCTYPE html><html><head><title>Just a moment...</title></head></html>",
    );
    if let Reply::Fail { headers, .. } = &mut challenge {
        headers.insert("cf-mitigated".into(), "challenge".into());
        headers.insert("retry-after".into(), "600".into());
    }
    let tab = server.tab(first_then_hello(challenge)).await;
    let res = chat(&server, "text-model", "hi", false).await;
    assert_eq!(res.status(), 503);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "cloudflare_challenge");
    let status = get_json(&server.url("/status")).await;
    assert_eq!(tab_states(&status), ["challenged"]);
    assert!(status["tabs"][0]["cooldown_secs"].is_null());
    let refresh = tab
        .wait_for(Duration::from_secs(5), |f| {
            matches!(f, bridge_core::protocol::ServerMessage::Command { .. })
        })
        .await;
    assert!(refresh.is_some(), "the tab was asked to reload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_spaces_the_upstream_requests_of_one_tab() {
    let server = TestServer::start(&base_config(r#", "upstream_min_interval_seconds": 1"#));
    let tab = server.tab(|_| hello_reply()).await;
    let started = Instant::now();
    for _ in 0..3 {
        assert_eq!(chat(&server, "text-model", "hi", false).await.status(), 200);
    }
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "three requests one second apart take two seconds: {:?}",
        started.elapsed()
    );
    assert_eq!(tab.fetches().len(), 3);
    let status = get_json(&server.url("/status")).await;
    assert_eq!(tab_states(&status), ["ready"], "pacing is not a cooldown");
}
