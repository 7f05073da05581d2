//! The `evaluation` flow through the server: new conversations, continuation of a
//! conversation this server created, fallback when LMArena forgot it, reCAPTCHA retry.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bridge_core::protocol::ServerMessage;
use bridge_test_support::fake_tab::{FakeTab, Reply};
use common::*;
use serde_json::{json, Value};

fn eval_config() -> String {
    r#"{ "upstream_flow": "evaluation" }"#.to_owned()
}

fn answer(text: &str) -> Reply {
    Reply::lines(&[
        &format!("a0:{}", serde_json::to_string(text).unwrap()),
        r#"ad:{"finishReason":"stop"}"#,
    ])
}

async fn ask(server: &TestServer, messages: Value) -> reqwest::Response {
    post(
        server,
        "/v1/chat/completions",
        &json!({"model": "text-model", "messages": messages}),
    )
    .await
}

/// A conversation whose follow-up (`post-to-evaluation`) LMArena refuses with `status` and
/// `body`, while every new conversation answers `text`: the first turn, then the follow-up's
/// response.
async fn refused_follow_up(
    server: &TestServer,
    status: u16,
    body: &'static str,
    text: &'static str,
) -> (FakeTab, reqwest::Response) {
    let tab = server
        .tab(move |req| {
            if req.path.contains("post-to-evaluation") {
                Reply::fail(status, "application/json", body)
            } else {
                answer(text)
            }
        })
        .await;
    let first = ask(server, json!([{"role":"user","content":"one"}])).await;
    assert_eq!(first.status(), 200);
    let res = ask(
        server,
        json!([
            {"role":"user","content":"one"},
            {"role":"assistant","content":text},
            {"role":"user","content":"two"}
        ]),
    )
    .await;
    (tab, res)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_conversation_then_continuation_needs_no_captured_ids() {
    let server = TestServer::start(&eval_config());
    let tab = server
        .tab(|req| {
            if req.path.ends_with("/create-evaluation") {
                answer("Hello from a new evaluation")
            } else {
                answer("Second answer")
            }
        })
        .await;
    let res = ask(
        &server,
        json!([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello from a new evaluation"
    );

    let frames = tab.frames();
    let (first, recaptcha) = frames
        .iter()
        .find_map(|f| match f {
            ServerMessage::Fetch {
                request, recaptcha, ..
            } => Some((request.clone(), recaptcha.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/nextjs-api/stream/create-evaluation");
    let recaptcha = recaptcha.expect("create-evaluation asks the tab for a reCAPTCHA token");
    assert_eq!(recaptcha.action, "chat_submit");
    assert_eq!(recaptcha.field, "recaptchaV3Token");
    let body: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(body["mode"], "direct-battle");
    assert!(body.get("modelBMessageId").is_none());
    assert_eq!(
        recaptcha.site_key.as_deref(),
        Some(bridge_core::arena::recaptcha::V3_SITE_KEY)
    );
    assert_eq!(body["modality"], "chat");
    assert_eq!(body["modelAId"], "aaaaaaaa-0000-4000-8000-000000000001");
    assert_eq!(
        body["userMessage"]["content"],
        "<system>\nBe brief.\n</system>\n\nHi"
    );
    let evaluation_id = body["id"].as_str().unwrap().to_owned();

    // The same history plus one new user message continues that evaluation.
    let res = ask(
        &server,
        json!([
            {"role":"system","content":"Be brief."},
            {"role":"user","content":"Hi"},
            {"role":"assistant","content":"Hello from a new evaluation"},
            {"role":"user","content":"And now?"}
        ]),
    )
    .await;
    assert_eq!(res.status(), 200);
    let fetches = tab.fetches();
    let second = &fetches[1];
    assert_eq!(
        second.path,
        format!("/nextjs-api/stream/post-to-evaluation/{evaluation_id}")
    );
    let body: Value = serde_json::from_str(&second.body).unwrap();
    assert_eq!(body["userMessage"]["content"], "And now?");
    assert!(body.get("mode").is_none());

    // An edited history starts a new evaluation with the turns folded in.
    let res = ask(
        &server,
        json!([
            {"role":"user","content":"Hi"},
            {"role":"assistant","content":"Something else"},
            {"role":"user","content":"And now?"}
        ]),
    )
    .await;
    assert_eq!(res.status(), 200);
    let third = &tab.fetches()[2];
    assert_eq!(third.path, "/nextjs-api/stream/create-evaluation");
    let body: Value = serde_json::from_str(&third.body).unwrap();
    let content = body["userMessage"]["content"].as_str().unwrap();
    assert!(
        content.contains("<conversation>") && content.contains("Something else"),
        "{content}"
    );
    assert!(content.ends_with("And now?"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_continuation_falls_back_to_a_fresh_evaluation_once() {
    let server = TestServer::start(&eval_config());
    let (tab, res) =
        refused_follow_up(&server, 404, r#"{"error":"Evaluation not found"}"#, "ok").await;
    assert_eq!(res.status(), 200);
    let paths: Vec<String> = tab.fetches().iter().map(|f| f.path.clone()).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(paths[1].contains("post-to-evaluation"));
    assert!(paths[2].ends_with("create-evaluation"));
    let body: Value = serde_json::from_str(&tab.fetches()[2].body).unwrap();
    assert!(body["userMessage"]["content"]
        .as_str()
        .unwrap()
        .contains("<conversation>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_recaptcha_is_retried_once_then_a_person_is_asked_then_reported() {
    let server = TestServer::start(&eval_config());
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let _tab = server
        .tab(move |_| {
            // 1st: refused, 2nd: fine; 3rd and 4th: refused, 5th (with the v2 checkbox
            // token a person ticked) refused too.
            match c.fetch_add(1, Ordering::SeqCst) {
                1 => answer("fine"),
                _ => Reply::fail(
                    403,
                    "application/json",
                    r#"{"error":"recaptcha validation failed"}"#,
                ),
            }
        })
        .await;
    let res = ask(&server, json!([{"role":"user","content":"x"}])).await;
    assert_eq!(res.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let res = ask(&server, json!([{"role":"user","content":"y"}])).await;
    assert_eq!(res.status(), 502);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "recaptcha_failed");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Reload the LMArena tab"));
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_model_flow_override_and_image_modality() {
    // Global flow retry, but the image model uses evaluation through its map entry.
    let map = r#"{"image-model": {"flow": "evaluation"}}"#;
    let server = TestServer::start_with(&base_config(""), MODELS, map, |_| {});
    let tab = server
        .tab(|_| {
            Reply::lines(&[
                r#"a2:[{"type":"image","image":"https://img.example/x.png","mimeType":"image/png"}]"#,
                r#"ad:{"finishReason":"stop"}"#,
            ])
        })
        .await;
    let res = post(
        &server,
        "/v1/images/generations",
        &json!({"model":"image-model","prompt":"a cat","n":2}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let fetches = tab.fetches();
    assert_eq!(fetches.len(), 2);
    for f in &fetches {
        assert!(f.path.ends_with("create-evaluation"));
        let body: Value = serde_json::from_str(&f.body).unwrap();
        assert_eq!(body["modality"], "image");
        assert_eq!(body["userMessage"]["content"], "a cat");
    }
    let a: Value = serde_json::from_str(&fetches[0].body).unwrap();
    let b: Value = serde_json::from_str(&fetches[1].body).unwrap();
    assert_ne!(a["id"], b["id"]);
}

/// Regression: a config reload left the conversation memory at its starting
/// `evaluation_history_size`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloaded_history_size_is_applied_to_the_conversation_memory() {
    let config = |size: usize| {
        format!(r#"{{ "upstream_flow": "evaluation", "evaluation_history_size": {size} }}"#)
    };
    let server = TestServer::start_with(&config(5), MODELS, "{}", |o| o.watch_config = true);
    let _tab = server.tab(|_| answer("ok")).await;
    let conversations = |server: &TestServer, from: usize| {
        let url = server.url("/v1/chat/completions");
        async move {
            for i in from..from + 3 {
                let body = json!({
                    "model": "text-model",
                    "messages": [{"role": "user", "content": format!("conversation {i}")}],
                });
                let res = client().post(&url).json(&body).send().await.unwrap();
                assert_eq!(res.status(), 200);
            }
        }
    };
    conversations(&server, 0).await;
    let v = get_json(&server.url("/status")).await;
    assert_eq!(v["evaluation_history"]["capacity"], 5);
    assert_eq!(v["evaluation_history"]["conversations"], 3);

    std::fs::write(server.config_dir().join("config.jsonc"), config(2)).unwrap();
    poll_until(&server, "/status", "the new history size", |v| {
        v["evaluation_history"]["capacity"] == 2
    })
    .await;
    conversations(&server, 3).await;
    let v = get_json(&server.url("/status")).await;
    assert_eq!(
        v["evaluation_history"]["conversations"], 2,
        "three new conversations in a memory of two: the oldest is evicted"
    );
}

/// Issue 13: after a few turns LMArena demands a battle turn in a direct chat (a typed 400);
/// the server answers from a fresh conversation instead, once, and counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn battle_turn_400_starts_a_fresh_conversation_and_is_counted() {
    let server = TestServer::start(&eval_config());
    let (tab, res) = refused_follow_up(&server, 400, r#"{"error":"Bad next turn request in Battles in Direct mode. DIRECT was requested, but expected a BATTLE turn"}"#, "fresh answer").await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "fresh answer");
    let paths: Vec<String> = tab.fetches().iter().map(|f| f.path.clone()).collect();
    assert_eq!(paths.len(), 3, "{paths:?}");
    assert!(paths[1].contains("post-to-evaluation"));
    assert!(paths[2].ends_with("create-evaluation"));
    let status = get_json(&server.url("/status")).await;
    assert_eq!(status["counts"]["fresh_fallbacks"], 1);
    let metrics = client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("bridge_evaluation_fallbacks_total 1"),
        "{metrics}"
    );

    // The fresh conversation is the one remembered: the next turn continues it.
    let res = ask(
        &server,
        json!([
            {"role":"user","content":"one"},
            {"role":"assistant","content":"fresh answer"},
            {"role":"user","content":"two"},
            {"role":"assistant","content":"fresh answer"},
            {"role":"user","content":"three"}
        ]),
    )
    .await;
    assert_eq!(res.status(), 200);
    let fetches = tab.fetches();
    let fresh: Value = serde_json::from_str(&fetches[2].body).unwrap();
    assert!(fetches[3].path.contains("post-to-evaluation"));
    assert!(
        fetches[3].path.contains(fresh["id"].as_str().unwrap()),
        "{}",
        fetches[3].path
    );
}

/// A login gate on a continuation is not "start a new conversation": a fresh one would be
/// refused the same way, so the client hears it at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_gate_on_a_continuation_is_reported_without_a_fresh_conversation() {
    let server = TestServer::start(&eval_config());
    let (tab, res) = refused_follow_up(&server, 401, r#"{"error":"User not found"}"#, "ok").await;
    assert_eq!(res.status(), 502);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "upstream_login_required");
    assert_eq!(tab.fetches().len(), 2);
    let status = get_json(&server.url("/status")).await;
    assert_eq!(status["counts"]["fresh_fallbacks"], 0);
}

/// Issue 13: a client that goes away mid-answer makes the tab abort its fetch AND call the stop
/// endpoint with that request's evaluation id and answer message id (aborting alone leaves
/// LMArena generating).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_going_away_mid_answer_stops_the_upstream_answer() {
    let server = TestServer::start(&eval_config());
    let tab = server
        .tab(|req| {
            if req.path.ends_with("/create-evaluation") {
                Reply::StreamThenHang(vec!["a0:\"partial \"\n".to_owned()])
            } else {
                Reply::Hang
            }
        })
        .await;
    let mut res = post(
        &server,
        "/v1/chat/completions",
        &json!({"model": "text-model", "stream": true,
                "messages": [{"role":"user","content":"long one"}]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let _ = res.chunk().await.unwrap();
    drop(res);
    let stop = tab
        .wait_for(std::time::Duration::from_secs(5), |f| {
            matches!(f, ServerMessage::Fetch { request, .. } if request.path.contains("/stop/"))
        })
        .await
        .expect("a stop fetch reaches the tab");
    let abort = tab
        .wait_for(std::time::Duration::from_secs(5), |f| {
            matches!(f, ServerMessage::Abort { .. })
        })
        .await;
    assert!(abort.is_some(), "the answer's fetch is aborted too");
    let create: Value = serde_json::from_str(&tab.fetches()[0].body).unwrap();
    let ServerMessage::Fetch {
        request, recaptcha, ..
    } = stop
    else {
        unreachable!()
    };
    let expected = bridge_core::arena::evaluation::build_stop(
        create["id"].as_str().unwrap().parse().unwrap(),
        create["modelAMessageId"].as_str().unwrap().parse().unwrap(),
    );
    assert_eq!(request.path, expected.path);
    assert_eq!(request.method, expected.method);
    assert!(recaptcha.is_none(), "the stop call needs no token");
}

/// A finished answer sends no stop call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_answer_sends_no_stop_call() {
    let server = TestServer::start(&eval_config());
    let tab = server.tab(|_| answer("done")).await;
    let res = ask(&server, json!([{"role":"user","content":"x"}])).await;
    assert_eq!(res.status(), 200);
    let _ = res.text().await.unwrap();
    let res = ask(&server, json!([{"role":"user","content":"y"}])).await;
    assert_eq!(res.status(), 200);
    assert!(tab.fetches().iter().all(|f| !f.path.contains("/stop/")));
}
