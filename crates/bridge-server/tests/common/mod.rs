//! Test harness: the real server on port 0 with a temporary config directory, in its own
//! actix system thread, plus helpers to connect fake tabs and read SSE answers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bridge_server::{AppState, ServerOptions};
use bridge_test_support::fake_tab::{FakeTab, FakeTabOptions, Handler, Reply};
use bridge_test_support::server::{write_config_dir, RunningServer};

pub(crate) const SESSION: &str = "11111111-1111-4111-8111-111111111111";
pub(crate) const MESSAGE: &str = "22222222-2222-4222-8222-222222222222";

/// A config for the `retry` flow, which these tests were written for (the default is now
/// `evaluation`); `extra` is appended inside the object.
pub(crate) fn base_config(extra: &str) -> String {
    config_with_stream_timeout(Some(5), extra)
}

/// [`base_config`] with `stream_response_timeout_seconds` set to `seconds`, or left out (for
/// a test whose `extra` sets it).
pub(crate) fn config_with_stream_timeout(seconds: Option<u64>, extra: &str) -> String {
    let timeout = seconds
        .map(|s| format!("\n  \"stream_response_timeout_seconds\": {s},"))
        .unwrap_or_default();
    format!(
        r#"{{
  // test config
  "upstream_flow": "retry",
  "session_id": "{SESSION}",
  "message_id": "{MESSAGE}",{timeout}
  "api_key": ""{extra}
}}"#
    )
}

pub(crate) const MODELS: &str = r#"{
  "text-model": "aaaaaaaa-0000-4000-8000-000000000001",
  "image-model": "aaaaaaaa-0000-4000-8000-000000000002:image",
  "search-model": "aaaaaaaa-0000-4000-8000-000000000003:search"
}"#;

pub(crate) struct TestServer {
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub state: AppState,
    server: Option<RunningServer>,
}

impl TestServer {
    pub(crate) fn start(config: &str) -> TestServer {
        Self::start_with(config, MODELS, "{}", |_| {})
    }

    pub(crate) fn start_with(
        config: &str,
        models: &str,
        map: &str,
        tweak: impl FnOnce(&mut ServerOptions),
    ) -> TestServer {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
                .with_test_writer()
                .try_init();
        }
        let dir = tempfile::tempdir().unwrap();
        write_config_dir(dir.path(), config, models, map);
        let server = RunningServer::start(dir.path(), tweak);
        TestServer {
            port: server.port,
            state: server.state.clone(),
            dir,
            server: Some(server),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    pub(crate) fn config_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    pub(crate) async fn tab(
        &self,
        handler: impl Fn(&bridge_core::protocol::FetchRequest) -> Reply + Send + Sync + 'static,
    ) -> FakeTab {
        self.tab_with(|_| {}, handler).await
    }

    pub(crate) async fn tab_with(
        &self,
        tweak: impl FnOnce(&mut FakeTabOptions),
        handler: impl Fn(&bridge_core::protocol::FetchRequest) -> Reply + Send + Sync + 'static,
    ) -> FakeTab {
        let mut opts = FakeTabOptions::new(self.port);
        tweak(&mut opts);
        let before = self.state.pool().tab_count();
        let handler: Handler = Arc::new(handler);
        let tab = FakeTab::connect(opts, handler).await.unwrap();
        // The pool registers the tab right after welcome; wait until it is there.
        if let Some(server) = &self.server {
            assert!(
                server.wait_for_tabs_above(before).await,
                "tab was not registered"
            );
        }
        tab
    }

    /// Stops the server (graceful) and waits for it.
    pub(crate) fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
    }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub(crate) fn chat_body(model: &str, text: &str, stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    })
}

/// A chat request of `text-model` with one text part and one image part of `url`.
pub(crate) fn image_chat(url: &str) -> serde_json::Value {
    serde_json::json!({
        "model": "text-model",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": url}}
        ]}]
    })
}

pub(crate) use bridge_test_support::sse::sse_data;

/// Concatenated `delta.content` of an SSE body.
pub(crate) fn sse_content(body: &str) -> String {
    sse_data(body)
        .iter()
        .filter(|d| d.as_str() != "[DONE]")
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// A standard text reply.
pub(crate) fn hello_reply() -> Reply {
    Reply::lines(&[
        r#"a0:"Hello ""#,
        r#"a0:"there!""#,
        r#"ad:{"finishReason":"stop"}"#,
    ])
}

/// POSTs JSON to a path of the server.
pub(crate) async fn post(
    server: &TestServer,
    path: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    client()
        .post(server.url(path))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A one-message chat completion request.
pub(crate) async fn chat(
    server: &TestServer,
    model: &str,
    text: &str,
    stream: bool,
) -> reqwest::Response {
    post(
        server,
        "/v1/chat/completions",
        &chat_body(model, text, stream),
    )
    .await
}

/// The JSON body of a response.
pub(crate) async fn json_of(res: reqwest::Response) -> serde_json::Value {
    res.json().await.unwrap()
}

/// Starts a non-streaming chat request in the background and waits until `tab` got its
/// `fetch`; the handle gives the response (abort it to play a client that goes away).
pub(crate) async fn start_request(
    server: &TestServer,
    tab: &FakeTab,
    text: &'static str,
) -> tokio::task::JoinHandle<reqwest::Response> {
    let fetches = tab.fetches().len();
    let url = server.url("/v1/chat/completions");
    let handle = tokio::spawn(async move {
        client()
            .post(url)
            .json(&chat_body("text-model", text, false))
            .send()
            .await
            .unwrap()
    });
    let got = tab
        .wait_for(Duration::from_secs(5), |_| tab.fetches().len() > fetches)
        .await;
    assert!(got.is_some(), "the tab never got the request");
    handle
}

/// GETs a JSON answer (asserting 200).
pub(crate) async fn get_json(url: &str) -> serde_json::Value {
    let res = client().get(url).send().await.unwrap();
    assert_eq!(res.status(), 200, "{url}");
    res.json().await.unwrap()
}

/// Polls a JSON route of the server until `pred` holds (at most 10 s); returns the last answer.
pub(crate) async fn poll_until(
    server: &TestServer,
    path: &str,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    poll_url_until(&server.url(path), what, pred).await
}

/// [`poll_until`] for any URL (a server that is not a [`TestServer`]).
pub(crate) async fn poll_url_until(
    url: &str,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v = get_json(url).await;
        if pred(&v) {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {v:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A tab handler whose first fetch never gets an answer and every later one gets
/// [`hello_reply`]: the first request holds its slot (and session) until it is abandoned.
pub(crate) fn hang_first(
) -> impl Fn(&bridge_core::protocol::FetchRequest) -> Reply + Send + Sync + 'static {
    let calls = std::sync::atomic::AtomicUsize::new(0);
    move |_| {
        if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Reply::Hang
        } else {
            hello_reply()
        }
    }
}

/// A local port nothing listens on: connecting to it is refused at once, as when offline.
pub(crate) fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Runs the startup update check of `server` against a release server that refuses
/// connections, and waits until it has finished.
pub(crate) async fn run_offline_update_check(server: &TestServer) {
    let api = format!("http://127.0.0.1:{}", closed_port());
    let source = bridge_update::ReleaseSource::from_values(Some("o/r"), Some(&api)).unwrap();
    let updater = bridge_update::Updater::new("bridge-server", "0.1.0", source)
        .with_install_path(server.dir.path().join("bridge-server"))
        .with_timeout(Duration::from_secs(5));
    let task = bridge_server::autoupdate::spawn(server.state.clone(), updater, false).unwrap();
    tokio::task::spawn_blocking(move || task.thread.join().unwrap())
        .await
        .unwrap();
}
