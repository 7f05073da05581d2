//! The fake over real HTTPS: a reqwest client that trusts its certificate and resolves
//! lmarena.ai to it.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::*;

const WAIT: Duration = Duration::from_secs(5);

async fn fake() -> FakeArenaHandle {
    start(FakeArenaOptions {
        write_delay: Duration::from_millis(1),
        slow_interval: Duration::from_millis(50),
        max_body_bytes: 64 * 1024,
        ..FakeArenaOptions::default()
    })
    .await
    .expect("fake starts")
}

fn client(handle: &FakeArenaHandle) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(handle.certificate_pem().as_bytes()).expect("pem");
    reqwest::Client::builder()
        .add_root_certificate(cert)
        .resolve("lmarena.ai", handle.addr())
        .resolve("arena.ai", handle.addr())
        .build()
        .expect("client")
}

fn url(handle: &FakeArenaHandle, path: &str) -> String {
    format!("https://lmarena.ai:{}{}", handle.port(), path)
}

const SESSION: &str = FAKE_PAGE_SESSION_ID;

fn retry_path(session: &str) -> String {
    format!(
        "{}{session}/messages/{FAKE_PAGE_MESSAGE_ID}",
        RETRY_PATH_PREFIXES[0]
    )
}

fn retry_body(content: &str) -> Value {
    let t = "2025-11-01T10:00:00.000Z";
    let user = uuid::Uuid::new_v4().to_string();
    let common = json!({
        "evaluationId": null, "evaluationSessionId": SESSION, "experimental_attachments": [],
        "failureReason": null, "metadata": null, "participantPosition": "a",
        "createdAt": t, "updatedAt": t,
    });
    let mut u = common.clone();
    let mut a = common;
    for (m, role, id, parents, status, c) in [
        (&mut u, "user", user.clone(), json!([]), "success", content),
        (
            &mut a,
            "assistant",
            uuid::Uuid::new_v4().to_string(),
            json!([user]),
            "pending",
            "",
        ),
    ] {
        m["role"] = json!(role);
        m["id"] = json!(id);
        m["parentMessageIds"] = parents;
        m["status"] = json!(status);
        m["content"] = json!(c);
    }
    json!({ "messages": [u, a], "modelId": FAKE_MODELS[0].id })
}

async fn put_retry(c: &reqwest::Client, h: &FakeArenaHandle, body: &Value) -> reqwest::Response {
    c.put(url(h, &retry_path(SESSION)))
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body.to_string())
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn page_sets_the_cookie_and_carries_models_and_recaptcha() {
    let h = fake().await;
    let c = client(&h);
    let resp = c.get(url(&h, "/")).send().await.expect("page");
    assert_eq!(resp.status(), 200);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(cookie.starts_with(AUTH_COOKIE_NAME));
    let html = resp.text().await.expect("html");
    assert!(html.contains("\\\"initialModels\\\""));
    assert!(html.contains(&format!("<title>{PAGE_TITLE}</title>")));
    assert!(html.contains(&format!("{RECAPTCHA_SCRIPT_PATH}?render={FAKE_SITE_KEY}")));
    let js = c
        .get(url(&h, RECAPTCHA_SCRIPT_PATH))
        .send()
        .await
        .expect("script");
    assert!(js
        .text()
        .await
        .expect("js")
        .contains("grecaptcha.enterprise"));
}

#[tokio::test]
async fn text_stream_arrives_in_many_pieces_equal_to_the_recorded_transcript() {
    let h = fake().await;
    let c = client(&h);
    let resp = put_retry(&c, &h, &retry_body("hi [scenario:text]")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get("content-type").map(|v| v.as_bytes()),
        Some(STREAM_CONTENT_TYPE.as_bytes())
    );
    let mut pieces = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(piece) = stream.next().await {
        pieces.push(piece.expect("piece"));
    }
    let body: Vec<u8> = pieces.concat();
    let recorded = h.requests();
    let last = recorded.last().expect("recorded");
    assert_eq!(last.scenario.as_deref(), Some("text"));
    assert_eq!(
        last.transcript.as_deref().map(str::as_bytes),
        Some(&body[..])
    );
    assert!(pieces.len() > 5, "only {} pieces", pieces.len());
    assert!(pieces.iter().any(|p| std::str::from_utf8(p).is_err()));
    let stats = h
        .wait_for_stats(WAIT, |s| s.completed_streams == 1)
        .await
        .expect("completed");
    assert_eq!(stats.aborted_streams, 0);
}

#[tokio::test]
async fn error_scenarios_and_invalid_bodies() {
    let h = fake().await;
    let c = client(&h);
    let resp = put_retry(&c, &h, &retry_body("[scenario:rate_limit]")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(
        resp.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"7"[..])
    );
    let resp = put_retry(&c, &h, &retry_body("[scenario:challenge]")).await;
    assert_eq!(resp.status(), 403);
    assert!(resp
        .text()
        .await
        .expect("text")
        .contains("Just a moment..."));

    let mut broken = retry_body("x");
    broken["messages"][1]["parentMessageIds"] = json!([]);
    let resp = put_retry(&c, &h, &broken).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<Value>().await.expect("json"),
        json!({"error": "Invalid content"})
    );
    let rejection = h.requests().last().and_then(|r| r.rejection.clone());
    assert!(rejection.is_some_and(|r| r.contains("parentMessageIds")));

    let resp = put_retry(&c, &h, &retry_body("[scenario:no_such_thing]")).await;
    assert_eq!(resp.status(), 400);

    let huge = retry_body(&"x".repeat(70 * 1024));
    assert_eq!(put_retry(&c, &h, &huge).await.status(), 413);
}

#[tokio::test]
async fn a_dropped_stream_is_counted_as_aborted() {
    let h = fake().await;
    let c = client(&h);
    let resp = put_retry(&c, &h, &retry_body("[scenario:slow]")).await;
    let mut stream = resp.bytes_stream();
    let first = stream.next().await.expect("first line").expect("bytes");
    assert!(first.starts_with(b"a0:\"tick 0"));
    drop(stream);
    let stats = h
        .wait_for_stats(WAIT, |s| s.aborted_streams == 1)
        .await
        .expect("abort seen");
    assert_eq!(stats.active_streams, 0);
    assert_eq!(stats.completed_streams, 0);
}

async fn mint(c: &reqwest::Client, h: &FakeArenaHandle, action: &str) -> String {
    let resp = c
        .post(url(h, RECAPTCHA_MINT_PATH))
        .json(&json!({"key": FAKE_SITE_KEY, "action": action}))
        .send()
        .await
        .expect("mint");
    let v: Value = resp.json().await.expect("json");
    v["token"].as_str().expect("token").to_owned()
}

fn v7() -> String {
    uuid::Uuid::now_v7().to_string()
}

#[tokio::test]
async fn evaluation_flow_checks_tokens_and_remembers_evaluations() {
    let h = fake().await;
    let c = client(&h);
    let id = v7();
    let model_a_message = v7();
    let mut body = json!({
        "id": id, "mode": "direct-battle", "modelAId": FAKE_MODELS[0].id, "userMessageId": v7(),
        "modelAMessageId": model_a_message, "modelBMessageId": v7(),
        "userMessage": {"content": "hello [scenario:text]", "experimental_attachments": [], "metadata": {}},
        "modality": "chat", "recaptchaV3Token": mint(&c, &h, RECAPTCHA_ACTION).await,
    });
    let create = url(&h, CREATE_EVALUATION_PATH);
    let resp = c
        .post(&create)
        .body(body.to_string())
        .send()
        .await
        .expect("create");
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.expect("text").contains(TEXT_GREETING));

    // Tokens are single-use, must be issued by the page, and for the right action.
    body["id"] = json!(v7());
    let reused = c
        .post(&create)
        .body(body.to_string())
        .send()
        .await
        .expect("reuse");
    assert_eq!(reused.status(), 403);
    body["recaptchaV3Token"] = json!(mint(&c, &h, "login").await);
    let wrong = c
        .post(&create)
        .body(body.to_string())
        .send()
        .await
        .expect("action");
    assert_eq!(wrong.status(), 403);
    h.reject_next_recaptcha(1);
    body["recaptchaV3Token"] = json!(mint(&c, &h, RECAPTCHA_ACTION).await);
    let rejected = c
        .post(&create)
        .body(body.to_string())
        .send()
        .await
        .expect("rejected");
    assert_eq!(rejected.status(), 403);
    assert_eq!(h.stats().recaptcha_rejections, 3);

    // Follow-up on the created evaluation; an unknown one is 404.
    let mut follow = json!({
        "id": id, "modelAId": FAKE_MODELS[0].id, "userMessageId": v7(),
        "modelAMessageId": v7(), "modelBMessageId": v7(),
        "userMessage": {"content": "more [scenario:reasoning]", "experimental_attachments": [], "metadata": {}},
        "modality": "chat", "recaptchaV3Token": mint(&c, &h, RECAPTCHA_ACTION).await,
    });
    let post = url(&h, &format!("{POST_TO_EVALUATION_PREFIX}{id}"));
    let resp = c
        .post(&post)
        .body(follow.to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.expect("text").starts_with("ag:"));
    let other = v7();
    follow["id"] = json!(other);
    follow["recaptchaV3Token"] = json!(mint(&c, &h, RECAPTCHA_ACTION).await);
    let missing = c
        .post(url(&h, &format!("{POST_TO_EVALUATION_PREFIX}{other}")))
        .body(follow.to_string())
        .send()
        .await
        .expect("missing");
    assert_eq!(missing.status(), 404);

    // Regenerate of the first answer: `{}` on the retry path is an old message → 404; the
    // latest answer's message id works.
    let regenerate = |message: &str| {
        url(
            &h,
            &format!("{}{id}/messages/{message}", RETRY_PATH_PREFIXES[0]),
        )
    };
    let old = c
        .put(regenerate(&model_a_message))
        .body("{}")
        .send()
        .await
        .expect("old");
    assert_eq!(old.status(), 404);
    let latest = h
        .requests()
        .iter()
        .rev()
        .find(|r| r.status == 200 && r.path.starts_with(POST_TO_EVALUATION_PREFIX))
        .and_then(|r| {
            r.body.as_ref()?["modelAMessageId"]
                .as_str()
                .map(str::to_owned)
        })
        .expect("latest message id");
    let again = c
        .put(regenerate(&latest))
        .body("{}")
        .send()
        .await
        .expect("again");
    assert_eq!(again.status(), 200);
    assert_eq!(h.stats().evaluations, 1);
}

#[tokio::test]
async fn control_endpoints_list_wait_and_reset() {
    let h = fake().await;
    let c = client(&h);
    c.get(url(&h, "/?recaptcha=0")).send().await.expect("page");
    let requests: Value = c
        .get(url(&h, "/__fake/requests"))
        .send()
        .await
        .expect("requests")
        .json()
        .await
        .expect("json");
    assert_eq!(requests[0]["path"], "/");
    assert_eq!(requests[0]["query"], "recaptcha=0");
    assert_eq!(requests.as_array().map(Vec::len), Some(1));

    let waited = c
        .get(url(
            &h,
            "/__fake/wait?counter=requests&min=1&timeout_ms=100",
        ))
        .send()
        .await
        .expect("wait");
    assert_eq!(waited.status(), 200);
    let timed_out = c
        .get(url(
            &h,
            "/__fake/wait?counter=aborted_streams&min=1&timeout_ms=50",
        ))
        .send()
        .await
        .expect("wait");
    assert_eq!(timed_out.status(), 408);
    let unknown = c
        .get(url(&h, "/__fake/wait?counter=nope"))
        .send()
        .await
        .expect("wait");
    assert_eq!(unknown.status(), 400);

    let reset = c
        .post(url(&h, "/__fake/reset"))
        .send()
        .await
        .expect("reset");
    assert_eq!(reset.status(), 200);
    assert!(h.requests().is_empty());
    assert_eq!(h.stats(), FakeStats::default());
}

#[tokio::test]
async fn arena_ai_is_served_too_and_image_urls_follow_the_host() {
    let h = fake().await;
    let c = client(&h);
    let image = FAKE_MODELS
        .iter()
        .find(|m| m.kind == ModelKind::Image)
        .expect("image model");
    let mut body = retry_body("draw a cat");
    body["modelId"] = json!(image.id);
    body["messages"][1]["status"] = json!("success");
    let resp = c
        .put(format!(
            "https://arena.ai:{}{}",
            h.port(),
            retry_path(SESSION)
        ))
        .body(body.to_string())
        .send()
        .await
        .expect("image");
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("text");
    assert!(text.starts_with("a2:[{"), "{text}");
    assert!(text.contains(&format!("https://arena.ai:{}{FAKE_IMAGE_PATH}", h.port())));
}

/// A create body of the 2026 site for the first text model, with a fresh v3 token.
async fn create_body(c: &reqwest::Client, h: &FakeArenaHandle, mode: &str, content: &str) -> Value {
    json!({
        "id": v7(), "mode": mode, "modelAId": FAKE_MODELS[0].id, "userMessageId": v7(),
        "modelAMessageId": v7(),
        "userMessage": {"content": content, "experimental_attachments": [], "metadata": {}},
        "modality": "chat", "recaptchaV3Token": mint(c, h, RECAPTCHA_ACTION).await,
    })
}

async fn post_json(c: &reqwest::Client, url: String, body: &Value) -> (u16, String) {
    let resp = c
        .post(url)
        .body(body.to_string())
        .send()
        .await
        .expect("post");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("text"))
}

#[tokio::test]
async fn direct_mode_is_refused_with_the_sites_400_and_tokens_are_required() {
    let h = fake().await;
    let c = client(&h);
    let create = url(&h, CREATE_EVALUATION_PATH);
    let body = create_body(&c, &h, "direct", "hi").await;
    let (status, text) = post_json(&c, create.clone(), &body).await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&text).expect("json")["error"],
        DIRECT_MODE_REFUSED_TEXT
    );
    assert_eq!(h.stats().direct_mode_refusals, 1);

    let mut body = create_body(&c, &h, "direct-battle", "hi").await;
    body.as_object_mut().map(|o| o.remove("recaptchaV3Token"));
    assert_eq!(post_json(&c, create.clone(), &body).await.0, 400);
    body["recaptchaV3Token"] = Value::Null;
    assert_eq!(post_json(&c, create.clone(), &body).await.0, 400);
    body["recaptchaV3Token"] = json!("made-up");
    let (status, text) = post_json(&c, create, &body).await;
    assert_eq!(status, 403);
    assert!(text.contains("recaptcha validation failed"));
}

#[tokio::test]
async fn a_v2_checkbox_token_is_accepted_after_a_refusal_once() {
    let h = fake().await;
    let c = client(&h);
    let create = url(&h, CREATE_EVALUATION_PATH);
    h.reject_next_recaptcha(1);
    let mut body = create_body(&c, &h, "direct-battle", "v2 [scenario:text]").await;
    assert_eq!(post_json(&c, create.clone(), &body).await.0, 403);
    let v2 = c
        .post(url(&h, RECAPTCHA_MINT_PATH))
        .json(&json!({"key": FAKE_V2_SITE_KEY, "action": "v2"}))
        .send()
        .await
        .expect("mint v2");
    let v2: Value = v2.json().await.expect("json");
    body["recaptchaV3Token"] = Value::Null;
    body["recaptchaV2Token"] = v2["token"].clone();
    let (status, text) = post_json(&c, create.clone(), &body).await;
    assert_eq!(status, 200, "{text}");
    // Single-use, and a v3 token cannot pose as a v2 one.
    body["id"] = json!(v7());
    assert_eq!(post_json(&c, create.clone(), &body).await.0, 403);
    body["recaptchaV2Token"] = json!(mint(&c, &h, RECAPTCHA_ACTION).await);
    assert_eq!(post_json(&c, create, &body).await.0, 403);
}

#[tokio::test]
async fn battle_turn_after_n_turns_and_stop_calls_are_recorded() {
    let h = fake().await;
    let c = client(&h);
    h.set_battle_turn_after(Some(2));
    let body = create_body(&c, &h, "direct-battle", "one [scenario:text]").await;
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        post_json(&c, url(&h, CREATE_EVALUATION_PATH), &body)
            .await
            .0,
        200
    );
    let follow = |content: &'static str| {
        let c = c.clone();
        let h = &h;
        async move {
            json!({
                "modelAId": FAKE_MODELS[0].id, "userMessageId": v7(), "modelAMessageId": v7(),
                "userMessage": {"content": content, "experimental_attachments": [], "metadata": {}},
                "modality": "chat", "recaptchaV3Token": mint(&c, h, RECAPTCHA_ACTION).await,
            })
        }
    };
    let post = url(&h, &format!("{POST_TO_EVALUATION_PREFIX}{id}"));
    let two = follow("two").await;
    // The stop call names the latest answer of the conversation.
    let answer = two["modelAMessageId"].as_str().expect("message").to_owned();
    assert_eq!(post_json(&c, post.clone(), &two).await.0, 200);
    let (status, text) = post_json(&c, post, &follow("three").await).await;
    assert_eq!(status, 400);
    assert!(text.contains("expected a BATTLE turn"), "{text}");
    assert_eq!(h.stats().battle_turn_refusals, 1);

    let stop = |message: &str| url(&h, &format!("{STOP_PREFIX}{id}/messages/{message}"));
    assert_eq!(
        c.post(stop(&answer)).send().await.expect("stop").status(),
        200
    );
    assert_eq!(
        c.post(stop(&v7())).send().await.expect("stop").status(),
        404
    );
    assert_eq!(h.stats().stop_calls, 1);
}

#[tokio::test]
async fn anonymous_battle_and_retry_tokens() {
    let h = fake().await;
    let c = client(&h);
    let mut body = create_body(&c, &h, "battle", "pick [scenario:battle]").await;
    body.as_object_mut().map(|o| o.remove("modelAId"));
    assert_eq!(
        post_json(&c, url(&h, CREATE_EVALUATION_PATH), &body)
            .await
            .0,
        400
    );
    body["modelBMessageId"] = json!(v7());
    body["recaptchaV3Token"] = json!(mint(&c, &h, RECAPTCHA_ACTION).await);
    assert_eq!(
        post_json(&c, url(&h, CREATE_EVALUATION_PATH), &body)
            .await
            .0,
        200
    );

    // The retry PUT checks a token when it carries one: chat_retry, not chat_submit.
    let mut retry = retry_body("again");
    retry["recaptchaV3Token"] = json!(mint(&c, &h, RECAPTCHA_ACTION).await);
    let put = |b: &Value| {
        c.put(url(&h, &retry_path(SESSION)))
            .body(b.to_string())
            .send()
    };
    assert_eq!(put(&retry).await.expect("put").status(), 403);
    retry["recaptchaV3Token"] = json!(mint(&c, &h, RETRY_RECAPTCHA_ACTION).await);
    assert_eq!(put(&retry).await.expect("put").status(), 200);
}

#[tokio::test]
async fn lmarena_ai_redirects_to_arena_ai_when_asked() {
    let h = fake().await;
    let c = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(h.certificate_pem().as_bytes()).expect("pem"),
        )
        .resolve("lmarena.ai", h.addr())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    assert_eq!(c.get(url(&h, "/")).send().await.expect("get").status(), 200);
    h.set_redirect_lmarena(true);
    let resp = c
        .get(url(&h, "/text/direct?x=1"))
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 301);
    assert_eq!(
        resp.headers()["location"],
        "https://arena.ai/text/direct?x=1"
    );
}
