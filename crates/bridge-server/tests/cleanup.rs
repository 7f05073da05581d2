//! `evaluation_cleanup` (issue 14 item 4): the conversations the `evaluation` flow creates
//! are kept, deleted after the answer, or deleted when they leave the continuation memory,
//! through the tab's `deleteEvaluationSession` action; failures never touch the answer and
//! are counted on /status.
mod common;

use std::time::Duration;

use bridge_core::protocol::ServerMessage;
use bridge_test_support::fake_tab::{FakeTab, Reply};
use common::*;
use serde_json::{json, Value};

fn config(cleanup: &str, history: usize) -> String {
    format!(
        r#"{{ "upstream_flow": "evaluation", "evaluation_cleanup": "{cleanup}", "evaluation_history_size": {history} }}"#
    )
}

async fn ask(server: &TestServer, text: &str) -> (u16, Value) {
    let res = post(
        server,
        "/v1/chat/completions",
        &json!({"model": "text-model", "messages": [{"role": "user", "content": text}]}),
    )
    .await;
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

fn answer() -> Reply {
    Reply::lines(&[r#"a0:"an answer""#, r#"ad:{"finishReason":"stop"}"#])
}

/// The evaluation ids the tab created, in order.
fn created(tab: &FakeTab) -> Vec<String> {
    tab.fetches()
        .iter()
        .filter(|f| f.path.ends_with("/create-evaluation"))
        .map(|f| {
            let body: Value = serde_json::from_str(&f.body).unwrap();
            body["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// The ids the tab was asked to delete, in order.
fn deletions(tab: &FakeTab) -> Vec<String> {
    tab.frames()
        .into_iter()
        .filter_map(|f| match f {
            ServerMessage::Action { name, args, .. } if name == "deleteEvaluationSession" => {
                Some(args[0].as_str().unwrap().to_owned())
            }
            _ => None,
        })
        .collect()
}

async fn status(server: &TestServer) -> Value {
    client()
        .get(server.url("/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls /status until `pred` holds (the deletion runs in the background).
async fn status_until(server: &TestServer, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..200 {
        let v = status(server).await;
        if pred(&v) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    status(server).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_deletes_nothing() {
    let server = TestServer::start(&config("keep", 8));
    let tab = server.tab(|_| answer()).await;
    assert_eq!(ask(&server, "hi").await.0, 200);
    assert_eq!(ask(&server, "hello").await.0, 200);
    assert_eq!(created(&tab).len(), 2);
    assert!(deletions(&tab).is_empty());
    let v = status(&server).await;
    assert_eq!(v["evaluation_cleanup"]["mode"], "keep");
    assert_eq!(v["evaluation_cleanup"]["deleted"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_after_answer_deletes_each_conversation_it_created() {
    let server = TestServer::start(&config("delete_after_answer", 8));
    let tab = server.tab(|_| answer()).await;
    let (code, v) = ask(&server, "hi").await;
    assert_eq!(code, 200);
    assert_eq!(v["choices"][0]["message"]["content"], "an answer");
    assert_eq!(ask(&server, "hello").await.0, 200);
    let v = status_until(&server, |v| v["evaluation_cleanup"]["deleted"] == 2).await;
    assert_eq!(v["evaluation_cleanup"]["deleted"], 2, "{v}");
    assert_eq!(deletions(&tab), created(&tab));
    // A deleted conversation is never continued: the same history plus a turn starts anew.
    let res = post(
        &server,
        "/v1/chat/completions",
        &json!({"model": "text-model", "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": "more"}
        ]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(created(&tab).len(), 3);
    assert!(!tab
        .fetches()
        .iter()
        .any(|f| f.path.contains("post-to-evaluation")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_on_evict_deletes_what_leaves_the_memory() {
    let server = TestServer::start(&config("delete_on_evict", 1));
    let tab = server.tab(|_| answer()).await;
    assert_eq!(ask(&server, "first").await.0, 200);
    assert!(deletions(&tab).is_empty(), "the only remembered one stays");
    assert_eq!(ask(&server, "second").await.0, 200);
    status_until(&server, |v| v["evaluation_cleanup"]["deleted"] == 1).await;
    let ids = created(&tab);
    assert_eq!(deletions(&tab), vec![ids[0].clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deletions_are_counted_and_the_answer_is_untouched() {
    let server = TestServer::start(&config("delete_after_answer", 8));
    let _tab = server
        .tab_with(|o| o.action_status = Some(500), |_| answer())
        .await;
    let (code, v) = ask(&server, "hi").await;
    assert_eq!(code, 200);
    assert_eq!(v["choices"][0]["message"]["content"], "an answer");
    let v = status_until(&server, |v| v["evaluation_cleanup"]["failed"] == 1).await;
    assert_eq!(v["evaluation_cleanup"]["failed"], 1, "{v}");
    assert_eq!(v["evaluation_cleanup"]["deleted"], 0);
    drop(_tab);

    let server = TestServer::start(&config("delete_after_answer", 8));
    let _tab = server
        .tab_with(|o| o.action_status = None, |_| answer())
        .await;
    assert_eq!(ask(&server, "hi").await.0, 200);
    let v = status_until(&server, |v| v["evaluation_cleanup"]["failed"] == 1).await;
    assert_eq!(v["evaluation_cleanup"]["failed"], 1, "{v}");
}
