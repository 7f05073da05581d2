//! Images uploaded the site's way (issue 14 item 3, UPSTREAM.md §7 "Image uploads"): the
//! server asks the tab for `generateUploadUrl`, a PUT of the bytes to the URL that answered,
//! and `getSignedUrl`; the message's attachment names the key and carries the signed URL.
//! Identical images are uploaded once; without the actions the images go inline.
mod common;

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bridge_core::protocol::ServerMessage;
use bridge_test_support::fake_tab::{FakeTab, Reply, FAKE_STORAGE};
use common::*;
use serde_json::{json, Value};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n fake image";

fn data_uri() -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(PNG)
    )
}

fn actions(tab: &FakeTab, name: &str) -> Vec<Value> {
    tab.frames()
        .into_iter()
        .filter_map(|f| match f {
            ServerMessage::Action { name: n, args, .. } if n == name => Some(args),
            _ => None,
        })
        .collect()
}

fn puts(tab: &FakeTab) -> Vec<(String, String, String)> {
    tab.frames()
        .into_iter()
        .filter_map(|f| match f {
            ServerMessage::Upload {
                url,
                content_type,
                data,
                ..
            } => Some((url, content_type, data)),
            _ => None,
        })
        .collect()
}

async fn start(action_status: Option<u16>) -> (TestServer, FakeTab, Arc<Mutex<Vec<String>>>) {
    let server = TestServer::start(&base_config(""));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let tab = server
        .tab_with(
            move |o| o.action_status = action_status,
            move |req| {
                seen.lock().unwrap().push(req.body.clone());
                Reply::lines(&[r#"a0:"a picture""#, r#"ad:{"finishReason":"stop"}"#])
            },
        )
        .await;
    (server, tab, bodies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_is_uploaded_and_the_attachment_names_the_upload() {
    let (server, tab, bodies) = start(Some(200)).await;
    let res = post(&server, "/v1/chat/completions", &image_chat(&data_uri())).await;
    assert_eq!(res.status(), 200);

    assert_eq!(
        actions(&tab, "generateUploadUrl"),
        vec![json!(["image.png", "image/png"])]
    );
    let puts = puts(&tab);
    assert_eq!(puts.len(), 1);
    let (url, content_type, data) = &puts[0];
    assert!(url.starts_with(&format!("{FAKE_STORAGE}/put/k")), "{url}");
    assert_eq!(content_type, "image/png");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
        PNG
    );
    let key = url
        .trim_start_matches(&format!("{FAKE_STORAGE}/put/"))
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(actions(&tab, "getSignedUrl"), vec![json!([key])]);

    let sent = bodies.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    // The attachment as the site's own client writes it (name, contentType, url).
    let attachment = format!(
        r#"{{"name":"{key}","contentType":"image/png","url":"{FAKE_STORAGE}/get/{key}?sig=1"}}"#
    );
    assert!(
        sent[0].contains(&attachment),
        "{} lacks {attachment}",
        sent[0]
    );
    assert!(
        !sent[0].contains("data:image/png"),
        "sent inline: {}",
        sent[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_images_are_uploaded_once() {
    let (server, tab, bodies) = start(Some(200)).await;
    for _ in 0..2 {
        let res = post(&server, "/v1/chat/completions", &image_chat(&data_uri())).await;
        assert_eq!(res.status(), 200);
    }
    assert_eq!(actions(&tab, "generateUploadUrl").len(), 1);
    assert_eq!(puts(&tab).len(), 1);
    let sent = bodies.lock().unwrap().clone();
    assert_eq!(sent.len(), 2);
    let signed = format!("{FAKE_STORAGE}/get/");
    assert!(sent.iter().all(|b| b.contains(&signed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_actions_the_images_go_inline() {
    let (server, tab, bodies) = start(None).await;
    let res = post(&server, "/v1/chat/completions", &image_chat(&data_uri())).await;
    assert_eq!(res.status(), 200);
    assert_eq!(actions(&tab, "generateUploadUrl").len(), 1, "it was tried");
    assert!(puts(&tab).is_empty());
    let sent = bodies.lock().unwrap().clone();
    assert!(sent[0].contains(&data_uri()), "{}", sent[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_images_send_nothing_to_the_tab() {
    let (server, tab, bodies) = start(Some(200)).await;
    let big = format!(
        "data:image/png;base64,{}",
        "A".repeat((10 * 1024 * 1024 + 3) / 3 * 4)
    );
    let res = post(&server, "/v1/chat/completions", &image_chat(&big)).await;
    assert_eq!(res.status(), 413);
    let res = post(
        &server,
        "/v1/chat/completions",
        &image_chat("data:application/pdf;base64,JVBERg=="),
    )
    .await;
    assert_eq!(res.status(), 400);
    assert!(actions(&tab, "generateUploadUrl").is_empty());
    assert!(puts(&tab).is_empty());
    assert!(bodies.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_model_is_refused_before_its_images_are_uploaded() {
    let (server, tab, bodies) = start(Some(200)).await;
    let mut chat = image_chat(&data_uri());
    chat["model"] = json!("no-such-model");
    let res = post(&server, "/v1/chat/completions", &chat).await;
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found", "{body}");
    assert!(actions(&tab, "generateUploadUrl").is_empty());
    assert!(puts(&tab).is_empty());
    assert!(bodies.lock().unwrap().is_empty());
}
