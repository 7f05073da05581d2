//! Chat completions through the real server and a fake tab over a real WebSocket.

mod common;

use bridge_test_support::fake_tab::Reply;
use common::*;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_answer_has_role_content_finish_and_done() {
    let server = TestServer::start(&base_config(""));
    let tab = server.tab(|_| hello_reply()).await;
    let res = chat(&server, "text-model", "hi", true).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    assert_eq!(res.headers()["cache-control"], "no-cache");
    assert_eq!(res.headers()["x-accel-buffering"], "no");
    assert!(res.headers().contains_key("x-request-id"));
    let body = res.text().await.unwrap();
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[0]["object"], "chat.completion.chunk");
    let ids: std::collections::HashSet<_> = chunks.iter().map(|c| c["id"].clone()).collect();
    let created: std::collections::HashSet<_> =
        chunks.iter().map(|c| c["created"].clone()).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(created.len(), 1);
    assert_eq!(sse_content(&body), "Hello there!");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
    // The tab got a retry-flow request for the configured session.
    let fetch = &tab.fetches()[0];
    assert_eq!(fetch.method, "PUT");
    assert!(fetch.path.contains(SESSION) && fetch.path.contains(MESSAGE));
    let upstream: Value = serde_json::from_str(&fetch.body).unwrap();
    assert_eq!(upstream["modelId"], "aaaaaaaa-0000-4000-8000-000000000001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_answer_is_one_completion() {
    let server = TestServer::start(&base_config(""));
    let _tab = server
        .tab(|_| {
            Reply::lines(&[
                r#"a0:"你好，世界 👋🏽""#,
                r#"ad:{"finishReason":"stop","usage":{"promptTokens":3,"completionTokens":5}}"#,
            ])
        })
        .await;
    let res = post(
        &server,
        "/chat/completions",
        &chat_body("text-model", "hi", false),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], "你好，世界 👋🏽");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(v["usage"]["total_tokens"], 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finish_reasons_are_mapped() {
    let server = TestServer::start(&base_config(""));
    let _tab = server
        .tab(|req| {
            let reason = if req.body.contains("filter") {
                "content-filter"
            } else if req.body.contains("long") {
                "length"
            } else {
                "unknown"
            };
            Reply::lines(&[r#"a0:"x""#, &format!(r#"ad:{{"finishReason":"{reason}"}}"#)])
        })
        .await;
    for (prompt, expected) in [
        ("filter", "content_filter"),
        ("long", "length"),
        ("other", "stop"),
    ] {
        for stream in [false, true] {
            let res = chat(&server, "text-model", prompt, stream).await;
            assert_eq!(res.status(), 200);
            let reason = if stream {
                let body = res.text().await.unwrap();
                let data = sse_data(&body);
                let last: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
                last["choices"][0]["finish_reason"].clone()
            } else {
                let v: Value = res.json().await.unwrap();
                v["choices"][0]["finish_reason"].clone()
            };
            assert_eq!(reason, expected, "prompt {prompt} stream {stream}");
        }
    }
}

fn reasoning_reply() -> Reply {
    Reply::lines(&[
        r#"ag:"Let me ""#,
        r#"ag:"think""#,
        r#"a0:"Answer""#,
        r#"ad:{"finishReason":"stop"}"#,
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_output_modes() {
    for (mode, content, reasoning) in [
        ("reasoning_content", "Answer", Some("Let me think")),
        ("think_tags", "<think>Let me think</think>\n\nAnswer", None),
        ("omit", "Answer", None),
    ] {
        let server = TestServer::start(&base_config(&format!(
            ",\n  \"reasoning_output\": \"{mode}\""
        )));
        let _tab = server.tab(|_| reasoning_reply()).await;
        let v: Value = json_of(chat(&server, "text-model", "hi", false).await).await;
        assert_eq!(v["choices"][0]["message"]["content"], content, "{mode}");
        assert_eq!(
            v["choices"][0]["message"]["reasoning_content"].as_str(),
            reasoning,
            "{mode}"
        );
        // Streaming gives the same content.
        let body = chat(&server, "text-model", "hi", true)
            .await
            .text()
            .await
            .unwrap();
        assert_eq!(sse_content(&body), content, "{mode} streaming");
        let streamed_reasoning: String = sse_data(&body)
            .iter()
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["reasoning_content"]
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        assert_eq!(
            streamed_reasoning,
            reasoning.unwrap_or(""),
            "{mode} streaming"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_model_answers_markdown_and_n_runs_in_parallel() {
    let server = TestServer::start(&base_config(""));
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = counter.clone();
    let tab = server
        .tab(move |_| {
            let i = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Reply::lines(&[
                &format!(
                    r#"a2:[{{"type":"image","image":"https://img.example/{i}.png","mimeType":"image/png"}}]"#
                ),
                r#"ad:{"finishReason":"stop"}"#,
            ])
        })
        .await;
    let v: Value = json_of(
        post(
            &server,
            "/v1/chat/completions",
            &json!({"model":"image-model","n":2,"messages":[{"role":"user","content":"a cat"}]}),
        )
        .await,
    )
    .await;
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 2);
    let mut contents: Vec<String> = choices
        .iter()
        .map(|c| c["message"]["content"].as_str().unwrap().to_owned())
        .collect();
    contents.sort();
    assert_eq!(
        contents,
        vec![
            "![image](https://img.example/0.png)",
            "![image](https://img.example/1.png)"
        ]
    );
    assert_eq!(tab.fetches().len(), 2);
    // Image model bodies mark every message success.
    let body: Value = serde_json::from_str(&tab.fetches()[0].body).unwrap();
    assert!(body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["status"] == "success"));

    // images/generations with the same model.
    let v: Value = json_of(
        post(
            &server,
            "/v1/images/generations",
            &json!({"model":"image-model","prompt":"a dog","n":2}),
        )
        .await,
    )
    .await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert!(v["data"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("https://img.example/"));

    // n > 1 for a text model is refused.
    let res = post(
        &server,
        "/v1/chat/completions",
        &json!({"model":"text-model","n":2,"messages":[{"role":"user","content":"x"}]}),
    )
    .await;
    assert_eq!(res.status(), 400);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["param"], "n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_b64_json_downloads_data_urls_and_refuses_text_models() {
    let server = TestServer::start(&base_config(""));
    let _tab = server
        .tab(|_| {
            Reply::lines(&[
                r#"a2:[{"type":"image","image":"data:image/png;base64,iVBORw0KGgo=","mimeType":"image/png"}]"#,
                r#"ad:{"finishReason":"stop"}"#,
            ])
        })
        .await;
    let v: Value = json_of(
        post(
            &server,
            "/images/generations",
            &json!({"model":"image-model","prompt":"x","response_format":"b64_json"}),
        )
        .await,
    )
    .await;
    assert_eq!(v["data"][0]["b64_json"], "iVBORw0KGgo=");
    let res = post(
        &server,
        "/v1/images/generations",
        &json!({"model":"text-model","prompt":"x"}),
    )
    .await;
    assert_eq!(res.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_list_has_openai_shape() {
    let server = TestServer::start(&base_config(""));
    let v: Value = client()
        .get(server.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["text-model", "image-model", "search-model"]);
    assert_eq!(v["data"][0]["owned_by"], "lmarena");
    assert_eq!(v["data"][0]["object"], "model");

    let empty = TestServer::start_with(&base_config(""), "{}", "{}", |_| {});
    let v: Value = client()
        .get(empty.url("/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_model_is_404_and_bad_requests_are_400() {
    let server = TestServer::start(&base_config(""));
    let _tab = server.tab(|_| hello_reply()).await;
    let res = chat(&server, "nope", "hi", false).await;
    assert_eq!(res.status(), 404);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["code"], "model_not_found");
    assert!(e["error"]["message"].as_str().unwrap().contains("nope"));

    let res = client()
        .post(server.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["type"], "invalid_request_error");

    let res = post(
        &server,
        "/v1/chat/completions",
        &json!({"model":"text-model","stream":"false","messages":[{"role":"user","content":"x"}]}),
    )
    .await;
    assert_eq!(res.status(), 400);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["param"], "stream");

    let res = post(
        &server,
        "/v1/chat/completions",
        &json!({"model":"text-model","messages":[]}),
    )
    .await;
    assert_eq!(res.status(), 400);

    let res = client()
        .get(server.url("/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let e: Value = res.json().await.unwrap();
    assert!(e["error"]["message"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placeholder_session_ids_tell_the_user_to_run_the_id_updater() {
    let config = r#"{ "upstream_flow": "retry", "session_id": "YOUR_SESSION_ID",
        "message_id": "YOUR_MESSAGE_ID" }"#;
    let server = TestServer::start(config);
    let _tab = server.tab(|_| hello_reply()).await;
    let res = chat(&server, "text-model", "hi", false).await;
    assert_eq!(res.status(), 400);
    let e: Value = res.json().await.unwrap();
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("bridge-id-updater"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn include_usage_sends_a_usage_chunk() {
    let server = TestServer::start(&base_config(""));
    let _tab = server.tab(|_| hello_reply()).await;
    let body = client()
        .post(server.url("/v1/chat/completions"))
        .json(
            &json!({"model":"text-model","stream":true,"stream_options":{"include_usage":true},
                      "messages":[{"role":"user","content":"x"}]}),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let data = sse_data(&body);
    let usage_chunk: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    // Upstream gave no usage: counted by the bridge and marked as an estimate.
    let usage = &usage_chunk["usage"];
    assert_eq!(usage["estimated"], json!(true));
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(usage["completion_tokens"].as_u64().unwrap() > 0);
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn battle_mode_reads_the_target_side() {
    let config = base_config(
        ",\n  \"id_updater_last_mode\": \"battle\",\n  \"id_updater_battle_target\": \"B\"",
    );
    let server = TestServer::start(&config);
    let _tab = server
        .tab(|_| {
            Reply::lines(&[
                r#"a0:"from a""#,
                r#"b0:"from b""#,
                r#"ad:{"finishReason":"stop"}"#,
                r#"bd:{"finishReason":"length"}"#,
            ])
        })
        .await;
    let v: Value = json_of(chat(&server, "text-model", "hi", false).await).await;
    assert_eq!(v["choices"][0]["message"]["content"], "from b");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
}
