//! The site's model catalog through the server: `POST /internal/request_model_catalog` (a GET
//! through the tab, no reCAPTCHA), `GET /v1/models` with `type` and `?all=true`, and a chat to
//! a model only the catalog names.

mod common;

use bridge_core::protocol::ServerMessage;
use bridge_test_support::fake_tab::Reply;
use common::*;
use serde_json::{json, Value};

const CATALOG_PATH: &str = "/nextjs-api/model-catalog";

fn catalog_fixture() -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/catalog/model_catalog_2026-10.json"),
    )
    .unwrap()
}

/// The fixture in three chunks, cut inside a string.
fn catalog_reply() -> Reply {
    let text = catalog_fixture();
    let (a, rest) = text.split_at(text.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    let mut reply = Reply::chunks(vec![a.to_owned(), b.to_owned(), c.to_owned()]);
    if let Reply::Stream { headers, .. } = &mut reply {
        headers.insert("content-type".into(), "application/json".into());
    }
    reply
}

fn answer(text: &str) -> Reply {
    Reply::lines(&[
        &format!("a0:{}", serde_json::to_string(text).unwrap()),
        r#"ad:{"finishReason":"stop"}"#,
    ])
}

async fn models(server: &TestServer, query: &str) -> Vec<(String, String)> {
    let res = client()
        .get(server.url(&format!("/v1/models{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["id"].as_str().unwrap().to_owned(),
                m["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn request_catalog(server: &TestServer) -> reqwest::Response {
    client()
        .post(server.url("/internal/request_model_catalog"))
        .send()
        .await
        .unwrap()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_model_says_its_type_and_all_adds_only_with_a_list() {
    let server = TestServer::start(&base_config(""));
    let configured = pairs(&[
        ("text-model", "chat"),
        ("image-model", "image"),
        ("search-model", "search"),
    ]);
    assert_eq!(models(&server, "").await, configured);
    // No catalog seen and no available_models.json: nothing to add.
    assert_eq!(models(&server, "?all=true").await, configured);
    // A query the route does not know is ignored.
    assert_eq!(models(&server, "?all=maybe&x=%ZZ").await, configured);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_comes_through_the_tab_and_feeds_all_models() {
    let server = TestServer::start(&base_config(""));
    let tab = server
        .tab(|req| {
            if req.path == CATALOG_PATH {
                catalog_reply()
            } else {
                Reply::fail(404, "application/json", r#"{"error":"Not Found"}"#)
            }
        })
        .await;
    let res = request_catalog(&server).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    // The site's body, as it came.
    assert_eq!(res.text().await.unwrap(), catalog_fixture());

    let fetch = tab
        .frames()
        .into_iter()
        .find_map(|f| match f {
            ServerMessage::Fetch {
                request, recaptcha, ..
            } => Some((request, recaptcha)),
            _ => None,
        })
        .unwrap();
    assert_eq!(fetch.0.path, CATALOG_PATH);
    assert_eq!(fetch.0.method, "GET");
    assert_eq!(fetch.0.body, "");
    assert!(fetch.1.is_none(), "the catalog needs no reCAPTCHA token");

    let plain = models(&server, "").await;
    assert_eq!(plain.len(), 3);
    let all = models(&server, "?all=true").await;
    assert_eq!(&all[..3], &plain[..]);
    let added = pairs(&[
        ("gemini-2.5-pro", "chat"),
        ("claude-opus-4-1-20250805", "chat"),
        ("gpt-5-chat", "chat"),
        ("gpt-5-high", "chat"),
        ("internal-preview-model", "chat"),
        ("grok-4-search", "search"),
        ("sonar-pro-high", "search"),
        ("gpt-image-1", "image"),
        ("imagen-4.0-generate", "image"),
        ("claude-sonnet-4-5-webdev", "chat"),
        ("veo-3-fast", "chat"),
    ]);
    assert_eq!(&all[3..], &added[..]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_only_the_catalog_names_is_served_by_its_catalog_id() {
    let server = TestServer::start(r#"{ "upstream_flow": "evaluation" }"#);
    let tab = server
        .tab(|req| {
            if req.path == CATALOG_PATH {
                catalog_reply()
            } else {
                answer("from the catalog model")
            }
        })
        .await;
    let chat = json!({"model": "gpt-5-high", "messages": [{"role": "user", "content": "hi"}]});
    // Before the catalog is known the name is unknown.
    let res = post(&server, "/v1/chat/completions", &chat).await;
    assert_eq!(res.status(), 404);

    assert_eq!(request_catalog(&server).await.status(), 200);
    let res = post(&server, "/v1/chat/completions", &chat).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "from the catalog model"
    );
    let create = tab
        .fetches()
        .into_iter()
        .find(|f| f.path.ends_with("/create-evaluation"))
        .unwrap();
    let body: Value = serde_json::from_str(&create.body).unwrap();
    assert_eq!(body["modelAId"], "0199d7e4-2b8a-7f10-b3c5-6e2a9d41f001");
    assert_eq!(body["modality"], "chat");

    // Still unknown: a name on neither list.
    let res = post(
        &server,
        "/v1/chat/completions",
        &json!({"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(res.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_foreign_catalog_is_a_502_and_keeps_the_last_list() {
    let server = TestServer::start(&base_config(""));
    let step = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = step.clone();
    let _tab = server
        .tab(
            move |_| match seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => catalog_reply(),
                1 => Reply::fail(
                    403,
                    "text/html",
                    "<!DOCTYPE html><title>Just a moment...</title>",
                ),
                2 => Reply::chunks(vec!["<html>not json</html>".to_owned()]),
                _ => Reply::chunks(vec![r#"[{"arena":"text","models":[]}]"#.to_owned()]),
            },
        )
        .await;
    assert_eq!(request_catalog(&server).await.status(), 200);
    let before = models(&server, "?all=true").await;
    assert!(before.len() > 3);
    for said in ["HTTP 403", "not JSON", "no model"] {
        let res = request_catalog(&server).await;
        assert_eq!(res.status(), 502);
        let v: Value = res.json().await.unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(said), "{message}");
        assert_eq!(models(&server, "?all=true").await, before);
    }
}

/// A tab that never answers is a 504 after the time limit, one that goes away a 502; both
/// name the catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_that_hangs_or_leaves_on_the_catalog_is_a_504_or_a_502() {
    let server = TestServer::start_with(&base_config(""), MODELS, "{}", |o| {
        o.page_source_timeout = std::time::Duration::from_millis(300);
    });
    for (reply, status, said) in [
        (Reply::Hang, 504, "did not send the model catalog within"),
        (
            Reply::Disconnect,
            502,
            "disconnected before sending the model catalog",
        ),
    ] {
        let tab = server.tab(move |_| reply.clone()).await;
        let res = request_catalog(&server).await;
        assert_eq!(res.status(), status);
        let v: Value = res.json().await.unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(said), "{message}");
        drop(tab);
        poll_until(&server, "/status", "the tab gone", |s| {
            s["tabs"].as_array().is_some_and(|t| t.is_empty())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_tab_the_catalog_route_says_so() {
    let server = TestServer::start(&base_config(""));
    let res = request_catalog(&server).await;
    assert_eq!(res.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_available_models_json_is_the_list_until_a_catalog_comes() {
    let dir = tempfile::tempdir().unwrap();
    bridge_test_support::server::write_config_dir(dir.path(), &base_config(""), MODELS, "{}");
    std::fs::write(
        dir.path().join("available_models.json"),
        r#"[{"id":"x1","publicName":"text-model"},
            {"id":"x2","publicName":"saved-search","capabilities":{"outputCapabilities":{"search":true}}}]"#,
    )
    .unwrap();
    let server = bridge_test_support::server::RunningServer::start(dir.path(), |_| {});
    let res = reqwest::get(server.url("/v1/models?all=1")).await.unwrap();
    let v: Value = res.json().await.unwrap();
    let names: Vec<(&str, &str)> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_str().unwrap(), m["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("text-model", "chat"),
            ("image-model", "image"),
            ("search-model", "search"),
            ("saved-search", "search")
        ]
    );
    server.stop();
}

/// bridge-model-updater rewrites available_models.json while the server runs: `?all=true`
/// follows without a restart, and a broken file keeps the list it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_available_models_json_is_taken_while_running() {
    let server = TestServer::start_with(&base_config(""), MODELS, "{}", |o| o.watch_config = true);
    let configured = models(&server, "").await;
    assert_eq!(models(&server, "?all=true").await, configured);
    let file = server.config_dir().join("available_models.json");
    std::fs::write(
        &file,
        r#"[{"id":"11111111-2222-4333-8444-555555555555","publicName":"fresh-model"}]"#,
    )
    .unwrap();
    let listed = |all: Vec<(String, String)>| all.iter().any(|(id, _)| id == "fresh-model");
    poll_until(&server, "/v1/models?all=true", "the rewritten list", |v| {
        v["data"]
            .as_array()
            .is_some_and(|d| d.iter().any(|m| m["id"] == "fresh-model"))
    })
    .await;
    std::fs::write(&file, "[{ broken").unwrap();
    // Well past the watcher's debounce: the broken file was read and ignored.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert!(listed(models(&server, "?all=true").await));
}
