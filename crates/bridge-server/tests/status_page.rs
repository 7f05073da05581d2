//! The status page in headless Chromium, driven over the DevTools protocol: it renders, shows a
//! connected fake tab, updates when a request completes, says what to do without a tab, asks
//! for the API key once and keeps it, shows hostile text as text, and shows an update check
//! that could not reach the release server as a quiet note.
//!
//! Chromium is required (scripts/test installs it): without it these tests fail, they do not
//! skip. `CHROMIUM=/path/to/chrome` picks another binary.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Where Debian and most distributions put Chromium.
const CHROMIUM_CANDIDATES: &[&str] = &[
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
];
/// How long the page gets to show something.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

fn chromium_path() -> PathBuf {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(p);
    }
    CHROMIUM_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "headless Chromium is needed for the status page tests and was not found at {CHROMIUM_CANDIDATES:?}; \
                 install it (scripts/install-test-deps does: apt-get install chromium) or set CHROMIUM=/path"
            )
        })
}

/// A headless Chromium with a fresh profile, killed on drop.
struct Browser {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch() -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(chromium_path())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--remote-debugging-port=0",
                "--window-size=400,900",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium_path().display()));
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            // Keep draining so Chromium never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(rest) = line.split("DevTools listening on ws://127.0.0.1:").nth(1) {
                        let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                        let _ = tx.send(port);
                        sent = true;
                    }
                }
            }
        });
        let port = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("Chromium did not report its DevTools port")
            .parse()
            .unwrap();
        Browser {
            child,
            port,
            _profile: profile,
        }
    }

    /// Connects to the one page Chromium opened.
    async fn page(&self) -> Page {
        let list: Value = client()
            .get(format!("http://127.0.0.1:{}/json/list", self.port))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let url = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .to_owned();
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Page { ws, next: 0 }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One page, spoken to with DevTools protocol commands.
struct Page {
    ws: Ws,
    next: u64,
}

impl Page {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({"id": id, "method": method, "params": params});
        self.ws.send(Message::text(msg.to_string())).await.unwrap();
        loop {
            let frame = tokio::time::timeout(PAGE_TIMEOUT, self.ws.next())
                .await
                .expect("DevTools answer")
                .expect("DevTools connection open")
                .unwrap();
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    async fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
    }

    /// Evaluates `expr` in the page and returns its value.
    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true}),
            )
            .await;
        r["result"]["value"].clone()
    }

    /// Waits until `expr` evaluates to true; panics with the page text otherwise.
    async fn wait_for(&mut self, what: &str, expr: &str) {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            if self.eval(expr).await == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let text = self
                    .eval("document.body ? document.body.innerText : ''")
                    .await;
                panic!("page never showed {what} ({expr}); it shows:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text_of(&mut self, selector: &str) -> String {
        let expr = format!(
            "(function(){{var e=document.querySelector({sel});return e?e.innerText:null}})()",
            sel = serde_json::to_string(selector).unwrap()
        );
        self.eval(&expr)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

fn js_has(selector: &str, needle: &str) -> String {
    format!(
        "(function(){{var e=document.querySelector({});return !!e && e.innerText.indexOf({})>=0}})()",
        serde_json::to_string(selector).unwrap(),
        serde_json::to_string(needle).unwrap()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_shows_the_tab_and_updates_when_a_request_completes() {
    let server = TestServer::start(&base_config(""));
    let _tab = server
        .tab_with(
            |o| o.tab_id = "feedface-0000-4000-8000-000000000001".to_owned(),
            |_| hello_reply(),
        )
        .await;
    let browser = Browser::launch();
    let mut page = browser.page().await;
    page.goto(&server.url("/")).await;

    page.wait_for("the tab", &js_has("#tabs", "feedface")).await;
    let tabs = page.text_of("#tabs").await;
    assert!(
        tabs.contains("ready") && tabs.contains("https://lmarena.ai"),
        "{tabs}"
    );
    assert!(tabs.contains("served 0"), "{tabs}");
    assert!(tabs.contains("FakeTab/test"), "{tabs}");
    page.wait_for("the checklist", &js_has("#ready-pill", "yes"))
        .await;
    assert_eq!(
        page.eval("document.getElementById('notab').hidden").await,
        true
    );
    page.wait_for("the empty recent list", &js_has("#recent", "Nothing yet."))
        .await;
    let base = page.text_of("#base-url").await;
    assert_eq!(base, server.url("/v1"));
    page.wait_for("the model list", &js_has("#models", "image-model"))
        .await;
    let models = page.text_of("#models").await;
    assert!(
        models.contains("text-model") && models.contains("search-model"),
        "{models}"
    );
    assert!(page.text_of("#conn").await.contains("running"));

    // A request completes while the page is open: the next poll shows it.
    let res = chat(&server, "text-model", "hi", false).await;
    assert_eq!(res.status(), 200);
    page.wait_for("the finished request", &js_has("#recent", "text-model"))
        .await;
    let recent = page.text_of("#recent").await;
    assert!(
        recent.contains("ok") && recent.contains("HTTP 200"),
        "{recent}"
    );
    assert_eq!(
        page.eval("document.querySelectorAll('#recent .row').length")
            .await,
        1
    );
    page.wait_for("the served count", &js_has("#tabs", "served 1"))
        .await;
    assert!(page.text_of("#outcomes").await.contains("ok 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_without_a_tab_says_what_to_do() {
    let server = TestServer::start(&base_config(""));
    let browser = Browser::launch();
    let mut page = browser.page().await;
    page.goto(&server.url("/")).await;
    page.wait_for(
        "the no-tab help",
        "document.getElementById('notab').hidden === false",
    )
    .await;
    let help = page.text_of("#notab").await;
    assert!(help.contains("No LMArena tab is connected"), "{help}");
    assert!(
        help.contains("https://lmarena.ai") && help.contains("userscript"),
        "{help}"
    );
    assert!(page.text_of("#conn").await.contains("no tab"));
    // The checklist says what is missing, and the server URL the userscript must use
    // (the test server is never on the default port) is there to copy.
    page.wait_for("the checklist", &js_has("#ready-list", "✗ tab"))
        .await;
    assert_eq!(
        page.eval("document.getElementById('ws-url-box').hidden")
            .await,
        false
    );
    assert_eq!(
        page.text_of("#ws-url").await,
        format!("ws://127.0.0.1:{}/ws", server.port)
    );
    page.eval("document.getElementById('ws-url-copy').click()")
        .await;
    page.wait_for("the copy", &js_has("#copied", "ws://127.0.0.1"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_asks_for_the_api_key_once_and_keeps_it() {
    let server = TestServer::start(&base_config(",\n  \"api_key\": \"sk-page\""));
    let _tab = server.tab(|_| hello_reply()).await;
    let browser = Browser::launch();
    let mut page = browser.page().await;
    page.goto(&server.url("/")).await;
    page.wait_for(
        "the key prompt",
        "document.getElementById('auth').hidden === false",
    )
    .await;
    assert_eq!(
        page.eval("document.querySelectorAll('#tabs .row').length")
            .await,
        0
    );

    let submit = |key: &str| {
        format!(
            "document.getElementById('auth-key').value={};document.getElementById('auth-form').requestSubmit();true",
            serde_json::to_string(key).unwrap()
        )
    };
    page.eval(&submit("sk-wrong")).await;
    page.wait_for("the refusal", &js_has("#auth-error", "refused"))
        .await;
    page.eval(&submit("sk-page")).await;
    page.wait_for(
        "the tab after the key",
        "document.querySelectorAll('#tabs .row').length === 1",
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('auth').hidden").await,
        true
    );
    assert_eq!(
        page.eval("localStorage.getItem('lmarena-bridge.api_key')")
            .await,
        "sk-page"
    );
    page.wait_for("the model list", &js_has("#models", "text-model"))
        .await;
    assert!(page.text_of("#key-hint").await.contains("api_key"));

    // A reload uses the saved key without asking.
    page.call("Page.reload", json!({})).await;
    page.wait_for(
        "the tab after reload",
        "document.querySelectorAll('#tabs .row').length === 1",
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('auth').hidden").await,
        true
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_shows_hostile_names_as_text() {
    let hostile = "<img src=x onerror=\"document.title='pwned'\">";
    let models = format!(
        "{{ {}: \"aaaaaaaa-0000-4000-8000-000000000009\" }}",
        serde_json::to_string(hostile).unwrap()
    );
    let server = TestServer::start_with(&base_config(""), &models, "{}", |_| {});
    let _tab = server.tab(|_| hello_reply()).await;
    let res = chat(&server, hostile, "hi", false).await;
    assert_eq!(res.status(), 200);
    let browser = Browser::launch();
    let mut page = browser.page().await;
    page.goto(&server.url("/")).await;
    page.wait_for("the hostile model name", &js_has("#recent", hostile))
        .await;
    page.wait_for("the model list", &js_has("#models", hostile))
        .await;
    assert_eq!(
        page.eval("document.querySelectorAll('img').length").await,
        0
    );
    assert_eq!(page.eval("document.title").await, "lmarena-bridge");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_shows_an_offline_update_check_as_a_quiet_note() {
    let server = TestServer::start(&base_config(""));
    run_offline_update_check(&server).await;
    let browser = Browser::launch();
    let mut page = browser.page().await;
    page.goto(&server.url("/")).await;
    page.wait_for(
        "the update note",
        &js_has("#update-note", "Could not check for updates"),
    )
    .await;
    assert_eq!(
        page.eval("document.getElementById('update-note').hidden")
            .await,
        false
    );
    assert_eq!(
        page.eval("document.getElementById('update-note').classList.contains('muted')")
            .await,
        true
    );
    // No update box, and nothing of the underlying error.
    assert_eq!(
        page.eval("document.getElementById('update').hidden").await,
        true
    );
    let text = page.text_of("body").await;
    for detail in ["refused", "Transport", "release server", "Update"] {
        assert!(!text.contains(detail), "the page shows {detail:?}:\n{text}");
    }
}
