//! The translated APIs (`/v1/messages`, `/v1/responses`) through the real server and a fake
//! tab: shapes, event sequences, stop sequences, errors, `x-api-key`, and
//! `previous_response_id`.

mod common;

use bridge_test_support::fake_tab::Reply;
use common::*;
use serde_json::{json, Value};

fn usage_reply() -> Reply {
    Reply::lines(&[
        r#"a0:"Hello ""#,
        r#"a0:"there!""#,
        r#"ad:{"finishReason":"stop","usage":{"promptTokens":3,"completionTokens":5}}"#,
    ])
}

/// `(event name, data)` of every event of an SSE body with `event:` lines.
fn named_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|frame| {
            let name = frame.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = frame.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name.to_owned(), serde_json::from_str(data).unwrap()))
        })
        .collect()
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_non_streaming_is_a_message_object() {
    let server = TestServer::start(&base_config(""));
    let _tab = server.tab(|_| usage_reply()).await;
    let res = post(
        &server,
        "/v1/messages",
        &json!({"model":"text-model","max_tokens":100,"system":"Be kind",
            "messages":[{"role":"user","content":"hi"}]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v = json_of(res).await;
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "text-model");
    assert_eq!(v["content"], json!([{"type":"text","text":"Hello there!"}]));
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"], json!({"input_tokens":3,"output_tokens":5}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_stream_has_the_official_event_sequence() {
    let server = TestServer::start(&base_config(""));
    let _tab = server.tab(|_| usage_reply()).await;
    let res = post(
        &server,
        "/messages",
        &json!({"model":"text-model","max_tokens":100,"stream":true,
            "messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let events = named_events(&res.text().await.unwrap());
    let n = names(&events);
    assert_eq!(&n[..3], ["message_start", "ping", "content_block_start"]);
    assert_eq!(
        &n[n.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let text: String = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "Hello there!");
    let delta = &events[n.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_stop_sequences_cut_and_are_named() {
    let server = TestServer::start(&base_config(""));
    let _tab = server.tab(|_| usage_reply()).await;
    for stream in [false, true] {
        let res = post(
            &server,
            "/v1/messages",
            &json!({"model":"text-model","max_tokens":100,"stream":stream,"stop_sequences":["o th"],
                "messages":[{"role":"user","content":"hi"}]}),
        )
        .await;
        assert_eq!(res.status(), 200);
        let (text, delta) = if stream {
            let events = named_events(&res.text().await.unwrap());
            let text: String = events
                .iter()
                .filter_map(|(_, d)| d["delta"]["text"].as_str().map(str::to_owned))
                .collect();
            let delta =
                events.iter().find(|(n, _)| n == "message_delta").unwrap().1["delta"].clone();
            assert_eq!(events.last().unwrap().0, "message_stop");
            (text, delta)
        } else {
            let v = json_of(res).await;
            (v["content"][0]["text"].as_str().unwrap().to_owned(), v)
        };
        assert_eq!(text, "Hell", "stream: {stream}");
        assert_eq!(delta["stop_reason"], "stop_sequence");
        assert_eq!(delta["stop_sequence"], "o th");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_errors_are_anthropic_shaped() {
    let server = TestServer::start(&base_config(""));
    let _tab = server.tab(|_| usage_reply()).await;
    let table = [
        (
            json!({"model":"no-such-model","max_tokens":5,"messages":[{"role":"user","content":"x"}]}),
            404,
            "not_found_error",
        ),
        (
            json!({"model":"text-model","messages":[{"role":"system","content":"x"}]}),
            400,
            "invalid_request_error",
        ),
        (
            json!({"model":"text-model","messages":"x"}),
            400,
            "invalid_request_error",
        ),
    ];
    for (body, status, kind) in table {
        let res = post(&server, "/v1/messages", &body).await;
        assert_eq!(res.status(), status, "{body}");
        let v = json_of(res).await;
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], kind, "{body}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    let res = client()
        .post(server.url("/v1/messages"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(json_of(res).await["error"]["type"], "invalid_request_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_api_key_is_accepted_as_the_key() {
    let server = TestServer::start(&format!(
        r#"{{ "session_id": "{SESSION}", "message_id": "{MESSAGE}", "api_key": "sk-test-key" }}"#
    ));
    let _tab = server.tab(|_| usage_reply()).await;
    let body =
        json!({"model":"text-model","max_tokens":5,"messages":[{"role":"user","content":"x"}]});
    for (key, status) in [("sk-test-key", 200), ("sk-test-kez", 401)] {
        let res = client()
            .post(server.url("/v1/messages"))
            .header("x-api-key", key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{key}");
    }
    let res = client()
        .post(server.url("/v1/messages"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_non_streaming_and_previous_response_id() {
    let server = TestServer::start(&base_config(""));
    let tab = server.tab(|_| usage_reply()).await;
    let res = post(
        &server,
        "/v1/responses",
        &json!({"model":"text-model","input":"first question","instructions":"Be brief"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v = json_of(res).await;
    let id = v["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("resp_"));
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["instructions"], "Be brief");
    assert_eq!(v["output"][0]["type"], "message");
    assert_eq!(v["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(v["output"][0]["content"][0]["text"], "Hello there!");
    assert_eq!(v["usage"]["input_tokens"], 3);
    assert_eq!(v["usage"]["output_tokens"], 5);
    assert_eq!(v["usage"]["total_tokens"], 8);

    let res = post(
        &server,
        "/v1/responses",
        &json!({"model":"text-model","input":"second question","previous_response_id":id}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(json_of(res).await["previous_response_id"], id.as_str());
    // The follow-up carried the remembered turn upstream.
    let upstream = &tab.fetches()[1].body;
    for text in ["first question", "Hello there!", "second question"] {
        assert!(upstream.contains(text), "{text} missing in {upstream}");
    }

    let res = post(
        &server,
        "/v1/responses",
        &json!({"model":"text-model","input":"x","previous_response_id":"resp_unknown"}),
    )
    .await;
    assert_eq!(res.status(), 400);
    let v = json_of(res).await;
    assert_eq!(v["error"]["code"], "previous_response_not_found");
    assert_eq!(v["error"]["param"], "previous_response_id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_stream_has_the_official_event_sequence() {
    let server = TestServer::start(&base_config(""));
    let tab = server.tab(|_| usage_reply()).await;
    let res = post(
        &server,
        "/v1/responses",
        &json!({"model":"text-model","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}],"stream":true}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let events = named_events(&res.text().await.unwrap());
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["type"], name.as_str());
        assert_eq!(data["sequence_number"], i as u64);
    }
    let done = &events.last().unwrap().1["response"];
    assert_eq!(done["output"][0]["content"][0]["text"], "Hello there!");
    assert_eq!(done["usage"]["output_tokens"], 5);

    // A streamed response is remembered too.
    let id = done["id"].as_str().unwrap();
    let res = post(
        &server,
        "/v1/responses",
        &json!({"model":"text-model","input":"again","previous_response_id":id}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(tab.fetches()[1].body.contains("Hello there!"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_errors_are_openai_shaped() {
    let server = TestServer::start(&base_config(""));
    let res = post(
        &server,
        "/v1/responses",
        &json!({"model":"no-such-model","input":"x"}),
    )
    .await;
    assert_eq!(res.status(), 404);
    assert!(json_of(res).await["error"]["message"].is_string());
    let res = post(
        &server,
        "/v1/responses",
        &json!({"model":"text-model","input":[{"type":"web_search_call"}]}),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(json_of(res).await["error"]["param"], "input[0].type");
}
