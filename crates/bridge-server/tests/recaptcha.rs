//! reCAPTCHA with a person in the loop (issue 13): a v3 token refused twice makes the server
//! resend the request to the same tab with the v2 checkbox step; that tab is `needs_human`
//! (and gets no other work) until the answer starts or the wait ends with 503
//! `recaptcha_needs_human` and an abort; other tabs keep serving.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bridge_core::arena::recaptcha::{V2_PROMPT, V2_SITE_KEY};
use bridge_core::protocol::ServerMessage;
use bridge_test_support::fake_tab::Reply;
use common::*;
use serde_json::{json, Value};

fn refused() -> Reply {
    Reply::fail(
        403,
        "application/json",
        r#"{"error":"recaptcha validation failed"}"#,
    )
}

/// Two refused tokens, then `third` (the request that carries the v2 step), then hello.
fn refuse_twice_then(
    third: Reply,
) -> impl Fn(&bridge_core::protocol::FetchRequest) -> Reply + Send + Sync + 'static {
    let calls = Arc::new(AtomicUsize::new(0));
    move |_| match calls.fetch_add(1, Ordering::SeqCst) {
        0 | 1 => refused(),
        2 => third.clone(),
        _ => hello_reply(),
    }
}

fn config(wait: u64) -> String {
    // The head may come `first_byte_timeout_seconds` after the wait for the tick.
    format!(
        r#"{{ "recaptcha_v2_wait_seconds": {wait}, "first_byte_timeout_seconds": 1,
             "queue_timeout_seconds": 5 }}"#
    )
}

fn recaptcha_of(frame: &ServerMessage) -> Option<bridge_core::protocol::RecaptchaSpec> {
    match frame {
        ServerMessage::Fetch { recaptcha, .. } => recaptcha.clone(),
        _ => None,
    }
}

fn fetch_frames(tab: &bridge_test_support::fake_tab::FakeTab) -> Vec<ServerMessage> {
    tab.frames()
        .into_iter()
        .filter(|f| matches!(f, ServerMessage::Fetch { .. }))
        .collect()
}

async fn ask(server: &TestServer, stream: bool) -> reqwest::Response {
    post(
        server,
        "/v1/chat/completions",
        &json!({"model": "text-model", "stream": stream,
                "messages": [{"role":"user","content":"hi"}]}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_refused_twice_asks_for_the_checkbox_then_the_answer_arrives() {
    let server = TestServer::start(&config(30));
    let tab = server.tab(refuse_twice_then(hello_reply())).await;
    let res = ask(&server, false).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "Hello there!");
    let fetches = fetch_frames(&tab);
    assert_eq!(fetches.len(), 3);
    assert!(recaptcha_of(&fetches[0]).unwrap().v2.is_none());
    assert!(recaptcha_of(&fetches[1]).unwrap().v2.is_none());
    let third = recaptcha_of(&fetches[2]).unwrap();
    let v2 = third.v2.expect("the third try asks for the v2 checkbox");
    assert_eq!(v2.site_key, V2_SITE_KEY);
    assert_eq!(v2.prompt, V2_PROMPT);
    // The same request, resent.
    let bodies: Vec<String> = tab.fetches().iter().map(|f| f.body.clone()).collect();
    assert_eq!(bodies[0], bodies[2]);
    let status = get_json(&server.url("/status")).await;
    assert_eq!(status["tabs"][0]["state"], "ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_ticking_is_a_503_naming_what_to_do_and_other_tabs_keep_serving() {
    let server = TestServer::start(&config(2));
    let stuck = server.tab(refuse_twice_then(Reply::Hang)).await;
    let url = server.url("/v1/chat/completions");
    let waiting = tokio::spawn(async move {
        client()
            .post(url)
            .json(&chat_body("text-model", "hi", false))
            .send()
            .await
            .unwrap()
    });
    let status = poll_until(&server, "/status", "needs_human", |s| {
        s["tabs"][0]["state"] == "needs_human"
    })
    .await;
    assert_eq!(status["tabs"].as_array().unwrap().len(), 1);
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(r#"bridge_tabs{state="needs_human"} 1"#));

    // Another tab serves meanwhile; the waiting tab gets nothing new.
    let other = server.tab(|_| hello_reply()).await;
    assert_eq!(ask(&server, false).await.status(), 200);
    assert_eq!(other.fetches().len(), 1);
    assert_eq!(stuck.fetches().len(), 3);

    let res = waiting.await.unwrap();
    assert_eq!(res.status(), 503);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "recaptcha_needs_human");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("tick the box") && msg.contains("reload"),
        "{msg}"
    );
    let abort = stuck
        .wait_for(Duration::from_secs(5), |f| {
            matches!(f, ServerMessage::Abort { .. })
        })
        .await;
    assert!(abort.is_some(), "the tab was told to drop the checkbox");
    poll_until(&server, "/status", "the tab back in service", |s| {
        s["tabs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "ready")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_client_gets_keepalives_while_a_person_is_asked() {
    let server = TestServer::start_with(&config(1), MODELS, "{}", |o| {
        o.keepalive_interval = Duration::from_millis(100);
    });
    let _tab = server.tab(refuse_twice_then(Reply::Hang)).await;
    let res = ask(&server, true).await;
    assert_eq!(
        res.status(),
        200,
        "the stream starts while the person is asked"
    );
    let body = res.text().await.unwrap();
    assert!(body.contains(": keep-alive"), "{body}");
    assert!(body.contains("recaptcha_needs_human"), "{body}");
    assert!(body.trim_end().ends_with("data: [DONE]"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_waiting_for_a_person_gets_no_second_request_and_no_second_checkbox() {
    let server = TestServer::start(
        r#"{ "recaptcha_v2_wait_seconds": 30, "first_byte_timeout_seconds": 1,
             "queue_timeout_seconds": 1, "max_concurrent_per_tab": 2 }"#,
    );
    let tab = server.tab(refuse_twice_then(Reply::Hang)).await;
    let url = server.url("/v1/chat/completions");
    let first = tokio::spawn(async move {
        client()
            .post(url)
            .json(&chat_body("text-model", "hi", false))
            .send()
            .await
            .unwrap()
    });
    poll_until(&server, "/status", "needs_human", |s| {
        s["tabs"][0]["state"] == "needs_human"
    })
    .await;
    // The tab has a free slot, but while it waits for a person it gets no work: the
    // request waits in the queue and times out.
    let res = ask(&server, false).await;
    assert_eq!(res.status(), 503);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "queue_timeout");
    let prompts = fetch_frames(&tab)
        .iter()
        .filter(|f| recaptcha_of(f).is_some_and(|r| r.v2.is_some()))
        .count();
    assert_eq!(prompts, 1, "never a second checkbox");
    assert_eq!(tab.fetches().len(), 3);
    first.abort();
}
