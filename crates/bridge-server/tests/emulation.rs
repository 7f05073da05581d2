//! The emulated request features through the real server and a fake tab: tool calls in the
//! shapes models really write, the tool loop folded upstream, stop sequences, max_tokens,
//! estimated usage, response_format and the legacy /v1/completions route.

mod common;

use std::time::Duration;

use bridge_core::protocol::ServerMessage;
use bridge_test_support::fake_tab::Reply;
use common::*;
use serde_json::{json, Value};

/// Upstream lines carrying these model text deltas, then a `stop` finish.
fn text_lines(deltas: &[&str]) -> Vec<String> {
    let mut lines: Vec<String> = deltas
        .iter()
        .map(|d| format!("a0:{}\n", serde_json::to_string(d).unwrap()))
        .collect();
    lines.push("ad:{\"finishReason\":\"stop\"}\n".to_owned());
    lines
}

/// The model text as an answer whose frames split the upstream lines in the middle.
fn model_says(deltas: &[&str]) -> Reply {
    let raw: String = text_lines(deltas).concat();
    let cut = raw.len() / 3;
    let cut = (cut..raw.len()).find(|i| raw.is_char_boundary(*i)).unwrap();
    let cut2 = (cut + raw.len() / 3..raw.len())
        .find(|i| raw.is_char_boundary(*i))
        .unwrap();
    Reply::chunks(vec![
        raw[..cut].to_owned(),
        raw[cut..cut2].to_owned(),
        raw[cut2..].to_owned(),
    ])
}

/// The text deltas sent, then an upstream answer that never ends (so only an abort ends it).
fn model_says_and_hangs(deltas: &[&str]) -> Reply {
    let mut lines = text_lines(deltas);
    lines.pop();
    Reply::StreamThenHang(lines)
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather",
        "description": "Current weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}])
}

fn ask(stream: bool, extra: Value) -> Value {
    let mut body = json!({"model": "text-model", "stream": stream,
        "messages": [{"role": "user", "content": "Weather in Paris?"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn chunks_of(body: &str) -> Vec<Value> {
    sse_data(body)
        .iter()
        .filter(|d| d.as_str() != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn streamed_calls(chunks: &[Value]) -> Vec<Value> {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .cloned()
        .collect()
}

fn finish_of(chunks: &[Value]) -> Value {
    chunks
        .iter()
        .find(|c| !c["choices"][0]["finish_reason"].is_null())
        .map(|c| c["choices"][0]["finish_reason"].clone())
        .unwrap_or(Value::Null)
}

async fn aborted(tab: &bridge_test_support::fake_tab::FakeTab) -> bool {
    tab.wait_for(Duration::from_secs(10), |f| {
        matches!(f, ServerMessage::Abort { .. })
    })
    .await
    .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fenced_call_becomes_tool_calls_with_null_content() {
    let server = TestServer::start(&base_config(""));
    let tab = server
        .tab(|_| {
            model_says(&[
                "```json\n{\"name\": \"get_weather\", ",
                "\"arguments\": {\"city\": \"Paris\"}}\n```",
            ])
        })
        .await;
    let res = post(
        &server,
        "/v1/chat/completions",
        &ask(false, json!({"tools": weather_tool()})),
    )
    .await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert!(choice["message"]["content"].is_null(), "{v}");
    let call = &choice["message"]["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris"}));
    assert_eq!(v["usage"]["estimated"], true);
    // The tools block went upstream in the system message (retry flow).
    let body = &tab.fetches()[0].body;
    assert!(
        body.contains("<tools>") && body.contains("get_weather"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_call_split_across_frames_after_prose() {
    let server = TestServer::start(&base_config(""));
    let _tab = server
        .tab(|_| {
            model_says(&[
                "Let me check that.\n<tool",
                "_call>{\"name\": \"get_",
                "weather\", \"arguments\": {\"city\": ",
                "\"Paris\"}}</tool_call>",
            ])
        })
        .await;
    let res = post(
        &server,
        "/v1/chat/completions",
        &ask(true, json!({"tools": weather_tool()})),
    )
    .await;
    let body = res.text().await.unwrap();
    let chunks = chunks_of(&body);
    assert_eq!(sse_content(&body).trim_end(), "Let me check that.");
    let calls = streamed_calls(&chunks);
    assert_eq!(calls.len(), 1, "{body}");
    assert_eq!(calls[0]["index"], 0);
    assert_eq!(calls[0]["type"], "function");
    assert!(calls[0]["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(calls[0]["function"]["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(finish_of(&chunks), "tool_calls");
    assert!(!body.contains("tool_call>"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_call_is_repaired_once() {
    let server = TestServer::start(&base_config(""));
    let _tab = server
        .tab(|_| {
            model_says(&[
                "<tool_call>{'name': 'get_weather', 'arguments': {'city': 'Paris',}}</tool_call>",
            ])
        })
        .await;
    let v = json_of(
        post(
            &server,
            "/v1/chat/completions",
            &ask(false, json!({"tools": weather_tool()})),
        )
        .await,
    )
    .await;
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_call_is_returned_as_text_with_stop() {
    let server = TestServer::start(&base_config(""));
    let raw = "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": 75}}</tool_call>";
    let _tab = server.tab(move |_| model_says(&[raw])).await;
    for stream in [false, true] {
        let res = post(
            &server,
            "/v1/chat/completions",
            &ask(stream, json!({"tools": weather_tool()})),
        )
        .await;
        if stream {
            let body = res.text().await.unwrap();
            let chunks = chunks_of(&body);
            assert!(streamed_calls(&chunks).is_empty());
            assert_eq!(sse_content(&body), raw);
            assert_eq!(finish_of(&chunks), "stop");
        } else {
            let v = json_of(res).await;
            assert_eq!(v["choices"][0]["message"]["content"], raw);
            assert!(v["choices"][0]["message"].get("tool_calls").is_none());
            assert_eq!(v["choices"][0]["finish_reason"], "stop");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_choice_without_a_call_is_plain_text_with_stop() {
    let server = TestServer::start(&base_config(""));
    let _tab = server
        .tab(|_| model_says(&["I would rather not call anything."]))
        .await;
    let v = json_of(
        post(
            &server,
            "/v1/chat/completions",
            &ask(
                false,
                json!({"tools": weather_tool(), "tool_choice": "required"}),
            ),
        )
        .await,
    )
    .await;
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "I would rather not call anything."
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

fn loop_history() -> Value {
    json!([
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_abc", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "18C and sunny"}
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_loop_history_is_folded_in_both_flows() {
    for config in [
        base_config(""),
        r#"{ "upstream_flow": "evaluation" }"#.to_owned(),
    ] {
        let server = TestServer::start(&config);
        let tab = server
            .tab(|_| model_says(&["It is 18C and sunny in Paris."]))
            .await;
        let v = json_of(
            post(&server, "/v1/chat/completions",
                &json!({"model": "text-model", "tools": weather_tool(), "messages": loop_history()})).await,
        )
        .await;
        assert_eq!(
            v["choices"][0]["message"]["content"],
            "It is 18C and sunny in Paris."
        );
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        let fetch = tab.fetches().pop().unwrap();
        let body: Value = serde_json::from_str(&fetch.body).unwrap();
        let text = body.to_string();
        assert!(
            text.contains("<tool_result") && text.contains("18C and sunny"),
            "{text}"
        );
        assert!(
            text.contains("call_abc") && text.contains("<tools>"),
            "{text}"
        );
        assert!(!text.contains("\"role\":\"tool\""), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_sequence_across_chunks_cuts_and_aborts_upstream() {
    let server = TestServer::start(&base_config(""));
    let tab = server
        .tab(|_| model_says_and_hangs(&["Hello wor", "ld. EN", "D and more text"]))
        .await;
    let res = post(
        &server,
        "/v1/chat/completions",
        &ask(true, json!({"stop": ["END", "zzz"]})),
    )
    .await;
    let body = res.text().await.unwrap();
    assert_eq!(sse_content(&body), "Hello world. ");
    assert_eq!(finish_of(&chunks_of(&body)), "stop");
    assert!(body.ends_with("data: [DONE]\n\n"));
    assert!(aborted(&tab).await, "the upstream answer was not aborted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_tokens_ends_with_length_and_estimated_usage() {
    let server = TestServer::start(&base_config(""));
    let tab = server
        .tab(|_| model_says_and_hangs(&["one two three", " four five six seven"]))
        .await;
    let v = json_of(
        post(
            &server,
            "/v1/chat/completions",
            &ask(false, json!({"max_completion_tokens": 4})),
        )
        .await,
    )
    .await;
    assert_eq!(v["choices"][0]["message"]["content"], "one two three four");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 4);
    assert_eq!(v["usage"]["estimated"], true);
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
    assert!(aborted(&tab).await, "the upstream answer was not aborted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_format_violation_is_a_502_or_a_stream_error() {
    let server = TestServer::start(&base_config(""));
    let tab = server
        .tab(|req| {
            if req.body.contains("valid please") {
                model_says(&["{\"city\": ", "\"Paris\"}"])
            } else {
                model_says(&["Sure! Here is the JSON: {\"city\": \"Paris\"}"])
            }
        })
        .await;
    let format = json!({"response_format": {"type": "json_object"}});
    let res = post(&server, "/v1/chat/completions", &ask(false, format.clone())).await;
    assert_eq!(res.status(), 502);
    let e = json_of(res).await;
    assert_eq!(e["error"]["code"], "response_format_violation");
    assert_eq!(e["error"]["param"], "response_format");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    // The instruction went upstream.
    assert!(tab.fetches()[0].body.contains("JSON object"));

    let body = post(&server, "/v1/chat/completions", &ask(true, format.clone()))
        .await
        .text()
        .await
        .unwrap();
    let data = sse_data(&body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let last: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(last["error"]["code"], "response_format_violation");

    let mut ok = ask(false, format);
    ok["messages"][0]["content"] = json!("valid please");
    let v = json_of(post(&server, "/v1/chat/completions", &ok).await).await;
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "{\"city\": \"Paris\"}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_emulation_params_are_400_naming_the_param() {
    let server = TestServer::start(&base_config(""));
    let cases = [
        (
            json!({"tools": [{"type": "function", "function": {"name": "bad name"}}]}),
            "tools[0].function.name",
        ),
        (
            json!({"tools": weather_tool(), "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
            "tool_choice",
        ),
        (json!({"parallel_tool_calls": "yes"}), "parallel_tool_calls"),
        (json!({"stop": 7}), "stop"),
        (json!({"stop": ["a", "b", "c", "d", "e"]}), "stop"),
        (
            json!({"response_format": {"type": "yaml"}}),
            "response_format.type",
        ),
        (json!({"max_tokens": "10"}), "max_tokens"),
        (
            json!({"stream_options": {"include_usage": "yes"}}),
            "stream_options.include_usage",
        ),
    ];
    for (extra, param) in cases {
        let res = post(&server, "/v1/chat/completions", &ask(false, extra.clone())).await;
        assert_eq!(res.status(), 400, "{extra}");
        let e = json_of(res).await;
        assert_eq!(e["error"]["param"], param, "{extra}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_completions_answer_text_completion_objects() {
    let server = TestServer::start(&base_config(""));
    let tab = server
        .tab(|_| model_says(&["Once upon ", "a time.\nThe end"]))
        .await;
    let body = json!({"model": "text-model", "prompt": ["Tell", "a story"], "stop": "\n"});
    let v = json_of(post(&server, "/v1/completions", &body).await).await;
    assert_eq!(v["object"], "text_completion");
    assert!(v["id"].as_str().unwrap().starts_with("cmpl-"));
    assert_eq!(v["choices"][0]["text"], "Once upon a time.");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["choices"][0]["logprobs"].is_null());
    assert_eq!(v["usage"]["estimated"], true);
    assert!(tab.fetches()[0].body.contains("Tell\\n\\na story"));

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    streamed["stop"] = Value::Null;
    let text = post(&server, "/completions", &streamed)
        .await
        .text()
        .await
        .unwrap();
    let chunks = chunks_of(&text);
    assert!(chunks.iter().all(|c| c["object"] == "text_completion"));
    let joined: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(joined, "Once upon a time.\nThe end");
    assert_eq!(
        chunks[chunks.len() - 2]["choices"][0]["finish_reason"],
        "stop"
    );
    assert_eq!(chunks.last().unwrap()["usage"]["estimated"], true);

    let res = post(
        &server,
        "/v1/completions",
        &json!({"model": "text-model", "prompt": 5}),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert_eq!(json_of(res).await["error"]["param"], "prompt");
}
