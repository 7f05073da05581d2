//! The server's downloads (issue 16 "image downloads", issue 14 item 3): the generated images
//! of a `b64_json` answer and the http(s) images of a chat request are fetched over https
//! only, from public addresses only, without redirects, and within a size cap. The test host
//! runs on 127.0.0.1, so the positive cases let loopback through with `allow_loopback`; the
//! refusals run with the rules as shipped.
mod common;

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bridge_server::DownloadOptions;
use bridge_test_support::fake_tab::Reply;
use bridge_test_support::https_host::{Hosted, HttpsHost};
use common::*;
use serde_json::{json, Value};

const PNG: &[u8] = b"\x89PNG fake image bytes";

fn trusting(host: &HttpsHost) -> impl FnOnce(&mut bridge_server::ServerOptions) {
    let pem = host.certificate_pem.clone();
    move |o| {
        o.downloads = DownloadOptions {
            extra_root_pem: Some(pem),
            allow_loopback: true,
        }
    }
}

/// A tab whose image model answers with `image`.
async fn image_tab(server: &TestServer, image: String) -> bridge_test_support::fake_tab::FakeTab {
    server
        .tab(move |_| {
            Reply::lines(&[
                &format!(r#"a2:[{{"type":"image","image":"{image}","mimeType":"image/png"}}]"#),
                r#"ad:{"finishReason":"stop"}"#,
            ])
        })
        .await
}

async fn b64(server: &TestServer) -> reqwest::Response {
    post(
        server,
        "/v1/images/generations",
        &json!({"model":"image-model","prompt":"x","response_format":"b64_json"}),
    )
    .await
}

/// A 502 whose message contains `needle`.
async fn refused(res: reqwest::Response, needle: &str) {
    assert_eq!(res.status(), 502);
    let e: Value = res.json().await.unwrap();
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains(needle), "{message}");
}

fn png_file() -> Hosted {
    Hosted::File {
        content_type: "image/png",
        body: PNG.to_vec(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b64_json_downloads_an_https_image() {
    let host = HttpsHost::start(vec![("/a.png", png_file())]).await;
    let server = TestServer::start_with(&base_config(""), MODELS, "{}", trusting(&host));
    let _tab = image_tab(&server, host.url("/a.png")).await;
    let v: Value = json_of(b64(&server).await).await;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(v["data"][0]["b64_json"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, PNG);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b64_json_refuses_loopback_http_and_redirects() {
    // With the shipped rules a loopback https host is refused before any request reaches it.
    let host = HttpsHost::start(vec![
        ("/a.png", png_file()),
        ("/moved", Hosted::Redirect("/a.png".to_owned())),
    ])
    .await;
    let server = TestServer::start(&base_config(""));
    let _tab = image_tab(&server, host.url("/a.png")).await;
    refused(b64(&server).await, "non-public").await;
    assert_eq!(host.hits(), 0);

    let plain = TestServer::start(&base_config(""));
    let _tab = image_tab(&plain, format!("http://127.0.0.1:{}/a.png", host.port)).await;
    refused(b64(&plain).await, "https").await;

    let trusted = TestServer::start_with(&base_config(""), MODELS, "{}", trusting(&host));
    let _tab = image_tab(&trusted, host.url("/moved")).await;
    refused(b64(&trusted).await, "redirect").await;
    assert_eq!(host.hits(), 1, "the redirect was not followed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b64_json_stops_reading_at_the_cap() {
    let host = HttpsHost::start(vec![(
        "/big.png",
        Hosted::File {
            content_type: "image/png",
            body: vec![0u8; 33 * 1024 * 1024],
        },
    )])
    .await;
    let server = TestServer::start_with(&base_config(""), MODELS, "{}", trusting(&host));
    let _tab = image_tab(&server, host.url("/big.png")).await;
    refused(b64(&server).await, "larger than").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_images_by_url_are_downloaded_and_sent_inline() {
    let host = HttpsHost::start(vec![
        ("/a.png", png_file()),
        (
            "/page.html",
            Hosted::File {
                content_type: "text/html",
                body: b"<html>".to_vec(),
            },
        ),
        (
            "/big.png",
            Hosted::File {
                content_type: "image/png",
                body: vec![0u8; 10 * 1024 * 1024 + 1],
            },
        ),
    ])
    .await;
    let server = TestServer::start_with(&base_config(""), MODELS, "{}", trusting(&host));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    // A tab whose page names no upload action: the images go inline (the fallback).
    let _tab = server
        .tab_with(
            |o| o.action_status = None,
            move |req| {
                seen.lock().unwrap().push(req.body.clone());
                Reply::lines(&[r#"a0:"a picture""#, r#"ad:{"finishReason":"stop"}"#])
            },
        )
        .await;
    let res = post(
        &server,
        "/v1/chat/completions",
        &image_chat(&host.url("/a.png")),
    )
    .await;
    assert_eq!(res.status(), 200);
    let inline = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(PNG)
    );
    let sent = bodies.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].contains(&inline), "{}", sent[0]);
    assert!(!sent[0].contains("127.0.0.1"), "{}", sent[0]);

    let res = post(
        &server,
        "/v1/chat/completions",
        &image_chat(&host.url("/page.html")),
    )
    .await;
    assert_eq!(res.status(), 400);
    let res = post(
        &server,
        "/v1/chat/completions",
        &image_chat(&host.url("/big.png")),
    )
    .await;
    assert_eq!(res.status(), 413);
    let e: Value = res.json().await.unwrap();
    assert_eq!(e["error"]["param"], "messages[0].content[1].image_url");
    assert_eq!(
        bodies.lock().unwrap().len(),
        1,
        "nothing sent for refused images"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_images_are_refused_before_anything_is_sent() {
    let server = TestServer::start(&base_config(""));
    let bodies = Arc::new(Mutex::new(0usize));
    let seen = bodies.clone();
    let _tab = server
        .tab(move |_| {
            *seen.lock().unwrap() += 1;
            Reply::lines(&[r#"a0:"x""#, r#"ad:{"finishReason":"stop"}"#])
        })
        .await;
    for (url, status) in [
        ("http://example.com/a.png".to_owned(), 400),
        ("https://127.0.0.1:9/a.png".to_owned(), 400),
        ("https://[::1]:9/a.png".to_owned(), 400),
        ("data:text/plain;base64,aGVsbG8=".to_owned(), 400),
        (
            format!(
                "data:image/png;base64,{}",
                "A".repeat((10 * 1024 * 1024 + 3) / 3 * 4)
            ),
            413,
        ),
    ] {
        let res = post(&server, "/v1/chat/completions", &image_chat(&url)).await;
        assert_eq!(res.status(), status, "{}", &url[..url.len().min(60)]);
    }
    assert_eq!(*bodies.lock().unwrap(), 0);
}
