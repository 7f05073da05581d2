//! The README's error table, row by row: what the client sees for each upstream failure,
//! before the first SSE byte (a real HTTP status) and after it (an SSE error event).

mod common;

use bridge_test_support::fake_tab::Reply;
use common::*;
use serde_json::Value;

const CHALLENGE_HTML: &str =
    "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>cf</body></html>";

struct Row {
    name: &'static str,
    reply: Reply,
    status: u16,
    code: Option<&'static str>,
    retry_after: Option<&'static str>,
    message_contains: &'static str,
}

fn rows() -> Vec<Row> {
    let mut rate = Reply::fail(
        429,
        "application/json",
        r#"{"error":"Too Many Requests","message":"Too Many Requests"}"#,
    );
    if let Reply::Fail { headers, .. } = &mut rate {
        headers.insert("retry-after".into(), "7".into());
    }
    let mut cf_challenge = Reply::fail(429, "text/html; charset=UTF-8", CHALLENGE_HTML);
    if let Reply::Fail { headers, .. } = &mut cf_challenge {
        headers.insert("cf-mitigated".into(), "challenge".into());
        headers.insert("retry-after".into(), "30".into());
    }
    vec![
        Row {
            name: "challenge 429 cf-mitigated",
            reply: cf_challenge,
            status: 503,
            code: Some("cloudflare_challenge"),
            retry_after: None,
            message_contains: "challenge",
        },
        Row {
            name: "429 prompt failed",
            reply: Reply::fail(429, "application/json", r#"{"error":"prompt failed"}"#),
            status: 429,
            code: Some("upstream_prompt_failed"),
            retry_after: None,
            message_contains: "quota",
        },
        Row {
            name: "404 models not found",
            reply: Reply::fail(404, "application/json", r#"{"error":"Models not found"}"#),
            status: 404,
            code: Some("model_unavailable_upstream"),
            retry_after: None,
            message_contains: "Models not found",
        },
        Row {
            name: "401 user not found",
            reply: Reply::fail(401, "application/json", r#"{"error":"User not found"}"#),
            status: 502,
            code: Some("upstream_login_required"),
            retry_after: None,
            message_contains: "log in to arena.ai in the browser of tab #1.",
        },
        Row {
            name: "400 battle turn",
            reply: Reply::fail(
                400,
                "application/json",
                r#"{"error":"Bad next turn request in Battles in Direct mode. DIRECT was requested, but expected a BATTLE turn"}"#,
            ),
            status: 502,
            code: Some("upstream_conversation_ended"),
            retry_after: None,
            message_contains: "BATTLE turn",
        },
        Row {
            name: "400 direct mode",
            reply: Reply::fail(
                400,
                "application/json",
                r#"{"error":"'direct' mode is not allowed when starting a new conversation"}"#,
            ),
            status: 502,
            code: Some("upstream_mode_refused"),
            retry_after: None,
            message_contains: "'direct' mode",
        },
        Row {
            name: "hasArenaError",
            reply: Reply::lines(&[r#"a0:"hasArenaError""#, r#"ad:{"finishReason":"error"}"#]),
            status: 502,
            code: Some("upstream_inband_error"),
            retry_after: None,
            message_contains: "hasArenaError",
        },
        Row {
            name: "429",
            reply: rate,
            status: 429,
            code: Some("upstream_rate_limited"),
            retry_after: Some("7"),
            message_contains: "Too Many Requests",
        },
        Row {
            name: "413",
            reply: Reply::fail(413, "text/plain", "Request Entity Too Large"),
            status: 413,
            code: Some("request_too_large"),
            retry_after: None,
            message_contains: "too large",
        },
        Row {
            name: "400",
            reply: Reply::fail(400, "application/json", r#"{"error":"Invalid content"}"#),
            status: 400,
            code: Some("upstream_rejected"),
            retry_after: None,
            message_contains: "Invalid content",
        },
        Row {
            name: "422",
            reply: Reply::fail(
                422,
                "application/json",
                r#"{"error":"Request rejected: Content violates our terms of use"}"#,
            ),
            status: 400,
            code: Some("upstream_rejected"),
            retry_after: None,
            message_contains: "terms of use",
        },
        Row {
            name: "401",
            reply: Reply::fail(
                401,
                "application/json",
                r#"{"error":"User abc does not have access to evaluation session xyz"}"#,
            ),
            status: 502,
            code: Some("upstream_unauthorized"),
            retry_after: None,
            message_contains: "bridge-id-updater",
        },
        Row {
            name: "403 recaptcha",
            reply: Reply::fail(
                403,
                "application/json",
                r#"{"error":"recaptcha validation failed"}"#,
            ),
            status: 502,
            code: Some("recaptcha_failed"),
            retry_after: None,
            message_contains: "reCAPTCHA",
        },
        Row {
            name: "500",
            reply: Reply::fail(500, "text/plain", "boom 413 inside"),
            status: 502,
            code: Some("upstream_error"),
            retry_after: None,
            message_contains: "500",
        },
        Row {
            name: "network",
            reply: Reply::NetworkError("TypeError: Failed to fetch".into()),
            status: 502,
            code: Some("upstream_error"),
            retry_after: None,
            message_contains: "Failed to fetch",
        },
        Row {
            name: "in-band",
            reply: Reply::lines(&[r#"a3:"An error occurred in the model""#]),
            status: 502,
            code: Some("upstream_inband_error"),
            retry_after: None,
            message_contains: "An error occurred",
        },
        Row {
            name: "200 json error",
            reply: Reply::lines(&[r#"{"error":{"message":"Model is overloaded"}}"#]),
            status: 502,
            code: Some("upstream_inband_error"),
            retry_after: None,
            message_contains: "overloaded",
        },
        Row {
            name: "challenge",
            reply: Reply::fail(403, "text/html; charset=UTF-8", CHALLENGE_HTML),
            status: 503,
            code: Some("cloudflare_challenge"),
            retry_after: None,
            message_contains: "challenge",
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_upstream_error_row_before_the_first_byte() {
    for row in rows() {
        let server = TestServer::start(&base_config(""));
        let reply = row.reply.clone();
        let _tab = server.tab(move |_| reply.clone()).await;
        for stream in [false, true] {
            let res = chat(&server, "text-model", "hi", stream).await;
            assert_eq!(
                res.status().as_u16(),
                row.status,
                "{} stream={stream}",
                row.name
            );
            assert_eq!(
                res.headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap()),
                row.retry_after,
                "{}",
                row.name
            );
            if row.name.starts_with("challenge") {
                assert_eq!(res.headers()["x-should-retry"], "false");
            }
            let v: Value = res.json().await.unwrap();
            assert_eq!(v["error"]["code"].as_str(), row.code, "{}", row.name);
            let msg = v["error"]["message"].as_str().unwrap();
            assert!(msg.contains(row.message_contains), "{}: {msg}", row.name);
            assert!(!msg.contains("<html"), "{}: raw HTML leaked", row.name);
            if row.name.starts_with("challenge") || row.name == "429" || row.name == "403 recaptcha"
            {
                // The tab is now challenged or cooling down: it gets no more work (the
                // cooldown has tests of its own in tests/cooldown.rs). A token refused twice
                // asks a person first, which starts a stream (tests/recaptcha.rs).
                break;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_after_the_first_byte_is_an_sse_error_event() {
    let server = TestServer::start(&base_config(""));
    let _tab = server
        .tab(|_| Reply::lines(&[r#"a0:"partial ""#, r#"a3:"upstream broke""#]))
        .await;
    let res = chat(&server, "text-model", "hi", true).await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    let data = sse_data(&body);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let err: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert!(err["error"]["message"]
        .as_str()
        .unwrap()
        .contains("upstream broke"));
    // The error never appears as assistant text.
    assert_eq!(sse_content(&body), "partial ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn model_quoting_the_challenge_sentence_is_just_text() {
    let server = TestServer::start(&base_config(""));
    let _tab = server
        .tab(|_| {
            Reply::lines(&[
                r#"a0:"<title>Just a moment...</title>""#,
                r#"ad:{"finishReason":"stop"}"#,
            ])
        })
        .await;
    let v: Value = json_of(chat(&server, "text-model", "hi", false).await).await;
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "<title>Just a moment...</title>"
    );
    assert_eq!(
        server.state.pool().snapshot()[0].state,
        bridge_server::pool::TabState::Ready
    );
}
