//! A fake userscript tab in Rust: connects to bridge-server's `/ws` over a real WebSocket,
//! speaks relay protocol v2, and answers `fetch` jobs with scripted replies. Every frame it
//! receives is recorded, and tests wait for frames through a notification instead of sleeping.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bridge_core::protocol::{Command, FetchRequest, JobId, ServerMessage, TabMessage};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// How the fake tab answers one `fetch`.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A response head, body chunks (with a pause before each), then `done`.
    Stream {
        status: u16,
        headers: BTreeMap<String, String>,
        chunks: Vec<String>,
        delay: Duration,
    },
    /// A response head with a failing status, then `error` carrying the body.
    Fail {
        status: u16,
        headers: BTreeMap<String, String>,
        body: String,
    },
    /// A network failure in the tab: `error` with no status.
    NetworkError(String),
    /// Never answer (until aborted).
    Hang,
    /// Send these chunks after a 200 head, then never finish.
    StreamThenHang(Vec<String>),
    /// Close the WebSocket without answering.
    Disconnect,
    /// Send a 200 head and these chunks, then close the WebSocket.
    StreamThenDisconnect(Vec<String>),
    /// Send a raw text frame first (e.g. malformed JSON), then answer with the inner reply.
    RawThen(String, Box<Reply>),
}

impl Reply {
    /// A 200 event-stream answer of these body lines, each line one chunk.
    pub fn lines(lines: &[&str]) -> Self {
        Reply::Stream {
            status: 200,
            headers: event_stream_headers(),
            chunks: lines.iter().map(|l| format!("{l}\n")).collect(),
            delay: Duration::ZERO,
        }
    }

    /// A 200 answer with the given text split into chunks as given.
    pub fn chunks(chunks: Vec<String>) -> Self {
        Reply::Stream {
            status: 200,
            headers: event_stream_headers(),
            chunks,
            delay: Duration::ZERO,
        }
    }

    /// A failing answer with a content type.
    pub fn fail(status: u16, content_type: &str, body: &str) -> Self {
        let mut headers = BTreeMap::new();
        headers.insert("content-type".to_owned(), content_type.to_owned());
        Reply::Fail {
            status,
            headers,
            body: body.to_owned(),
        }
    }
}

fn event_stream_headers() -> BTreeMap<String, String> {
    let mut h = BTreeMap::new();
    h.insert("content-type".to_owned(), "text/event-stream".to_owned());
    h
}

/// Decides the reply to each fetch.
pub type Handler = Arc<dyn Fn(&FetchRequest) -> Reply + Send + Sync>;

/// Options of a fake tab.
#[derive(Clone)]
pub struct FakeTabOptions {
    pub ws_url: String,
    pub origin: Option<String>,
    pub tab_id: String,
    pub answer_pings: bool,
    pub page_html: String,
    /// Answer `send_page_source` commands (false: stay silent, for timeout tests).
    pub answer_page_source: bool,
    /// Sent as the capture after `activate_id_capture` (session id, message id), if any.
    pub capture: Option<(String, String)>,
    pub protocol: u32,
    /// Sent as `api_key` in `hello`.
    pub api_key: Option<String>,
    /// Said in `hello`: the userscript was injected after the page started.
    pub late_injection: bool,
    /// How `probe` frames are answered (`None`: stay silent, for timeout tests).
    pub probe: Option<ProbeReply>,
    /// The HTTP status `action` frames are answered with (`None`: the action id was not found
    /// in the page, nothing sent).
    pub action_status: Option<u16>,
}

/// The fake tab's answer to a `probe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReply {
    /// HTTP status of the GET; `None` for a network failure.
    pub status: Option<u16>,
    /// Whether minting a reCAPTCHA token works (when one is asked for).
    pub recaptcha: bool,
    /// The tab's explanation of a failure.
    pub message: Option<String>,
}

impl ProbeReply {
    /// A tab that reaches the site and mints tokens.
    pub fn healthy() -> Self {
        Self {
            status: Some(200),
            recaptcha: true,
            message: None,
        }
    }
}

impl FakeTabOptions {
    pub fn new(server_port: u16) -> Self {
        Self {
            ws_url: format!("ws://127.0.0.1:{server_port}/ws"),
            origin: Some("https://lmarena.ai".to_owned()),
            tab_id: uuid::Uuid::new_v4().to_string(),
            answer_pings: true,
            page_html: "<html><body>fake page</body></html>".to_owned(),
            answer_page_source: true,
            capture: None,
            protocol: bridge_core::protocol::PROTOCOL_VERSION,
            api_key: None,
            late_injection: false,
            probe: Some(ProbeReply::healthy()),
            action_status: Some(200),
        }
    }
}

#[derive(Default)]
struct Log {
    frames: Mutex<Vec<ServerMessage>>,
    notify: Notify,
}

/// A running fake tab. Dropping it closes the connection.
pub struct FakeTab {
    log: Arc<Log>,
    stop: Option<mpsc::UnboundedSender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeTab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTab").finish_non_exhaustive()
    }
}

/// Why a fake tab could not connect.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("WebSocket handshake refused with HTTP {0}")]
    Refused(u16),
    #[error("WebSocket connection failed: {0}")]
    Other(String),
}

impl FakeTab {
    /// Connects, says hello and waits for `welcome`.
    pub async fn connect(opts: FakeTabOptions, handler: Handler) -> Result<FakeTab, ConnectError> {
        let mut request = opts
            .ws_url
            .as_str()
            .into_client_request()
            .map_err(|e| ConnectError::Other(e.to_string()))?;
        if let Some(origin) = &opts.origin {
            let value = origin
                .parse()
                .map_err(|_| ConnectError::Other("bad origin".to_owned()))?;
            request.headers_mut().insert("Origin", value);
        }
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| match e {
                tokio_tungstenite::tungstenite::Error::Http(res) => {
                    ConnectError::Refused(res.status().as_u16())
                }
                other => ConnectError::Other(other.to_string()),
            })?;
        let (mut sink, mut stream) = ws.split();
        let hello = TabMessage::Hello {
            protocol: opts.protocol,
            tab_id: opts.tab_id.clone(),
            client: Some("FakeTab/test".to_owned()),
            page: Some("https://lmarena.ai/".to_owned()),
            api_key: opts.api_key.clone(),
            late_injection: opts.late_injection,
        };
        send(&mut sink, &hello)
            .await
            .map_err(|e| ConnectError::Other(e.to_string()))?;
        // Wait for welcome.
        loop {
            match tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    if let Ok(ServerMessage::Welcome { .. }) = serde_json::from_str(&t) {
                        break;
                    }
                }
                Ok(Some(Ok(_))) => {}
                _ => return Err(ConnectError::Other("no welcome from the server".to_owned())),
            }
        }
        let log = Arc::new(Log::default());
        let (stop_tx, stop_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(opts, handler, sink, stream, log.clone(), stop_rx));
        Ok(FakeTab {
            log,
            stop: Some(stop_tx),
            task,
        })
    }

    /// Every frame received since connecting (after `welcome`).
    pub fn frames(&self) -> Vec<ServerMessage> {
        self.log
            .frames
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default()
    }

    /// The fetch requests received.
    pub fn fetches(&self) -> Vec<FetchRequest> {
        self.frames()
            .into_iter()
            .filter_map(|f| match f {
                ServerMessage::Fetch { request, .. } => Some(request),
                _ => None,
            })
            .collect()
    }

    /// Waits until a received frame satisfies `pred` (up to `timeout`); returns it.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&ServerMessage) -> bool,
    ) -> Option<ServerMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.log.notify.notified();
            if let Some(f) = self.frames().into_iter().find(|f| pred(f)) {
                return Some(f);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Closes the connection and waits for the task to end.
    pub async fn close(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// True once the connection task has ended (server closed it, or Disconnect).
    pub fn is_closed(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for FakeTab {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Sink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

async fn send(
    sink: &mut Sink,
    msg: &TabMessage,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let text = serde_json::to_string(msg).unwrap_or_default();
    sink.send(Message::text(text)).await
}

enum Out {
    Frame(TabMessage),
    Raw(String),
    Close,
}

async fn run(
    opts: FakeTabOptions,
    handler: Handler,
    mut sink: Sink,
    mut stream: futures_util::stream::SplitStream<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    >,
    log: Arc<Log>,
    mut stop: mpsc::UnboundedReceiver<()>,
) {
    // Job tasks write through this channel so replies interleave like a real tab's. A browser
    // reads and writes a WebSocket independently, so the writer is a task of its own: a
    // server that is slow to read never stops this tab from reading.
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Out>();
    let (closed_tx, mut closed) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(async move {
        while let Some(out) = out_rx.recv().await {
            let result = match out {
                Out::Frame(f) => send(&mut sink, &f).await,
                Out::Raw(t) => sink.send(Message::text(t)).await,
                Out::Close => break,
            };
            if result.is_err() {
                break;
            }
        }
        let _ = sink.close().await;
        let _ = closed_tx.send(());
    });
    let mut jobs: BTreeMap<JobId, tokio::task::JoinHandle<()>> = BTreeMap::new();
    loop {
        tokio::select! {
            _ = stop.recv() => break,
            _ = &mut closed => break,
            msg = stream.next() => {
                let Some(Ok(msg)) = msg else { break };
                let Message::Text(text) = msg else { continue };
                let Ok(frame) = serde_json::from_str::<ServerMessage>(&text) else { continue };
                if let Ok(mut frames) = log.frames.lock() {
                    frames.push(frame.clone());
                }
                log.notify.notify_waiters();
                match frame {
                    ServerMessage::Ping if opts.answer_pings => {
                        let _ = out_tx.send(Out::Frame(TabMessage::Pong));
                    }
                    ServerMessage::Fetch { id, request, .. } => {
                        let reply = handler(&request);
                        let tx = out_tx.clone();
                        jobs.insert(id, tokio::spawn(answer(id, reply, tx)));
                    }
                    ServerMessage::Abort { id } => {
                        if let Some(job) = jobs.remove(&id) {
                            job.abort();
                        }
                    }
                    ServerMessage::Command { command: Command::SendPageSource, id: Some(id), .. } if opts.answer_page_source => {
                        let _ = out_tx.send(Out::Frame(TabMessage::PageSource { id, html: opts.page_html.clone() }));
                    }
                    ServerMessage::Command { command: Command::ActivateIdCapture, report_to: Some(url), .. } => {
                        if let Some((s, m)) = opts.capture.clone() {
                            tokio::spawn(post_capture(url, s, m));
                        }
                    }
                    ServerMessage::Action { id, name, args } => {
                        let _ = out_tx.send(Out::Frame(TabMessage::ActionResult {
                            id,
                            status: opts.action_status,
                            body: opts.action_status.map(|_| action_answer(id, &name, &args)),
                            message: opts.action_status.is_none().then(|| "no id for this action in the page".to_owned()),
                        }));
                    }
                    ServerMessage::Upload { id, .. } => {
                        let _ = out_tx.send(Out::Frame(TabMessage::ActionResult {
                            id,
                            status: Some(opts.action_status.unwrap_or(200)),
                            body: Some(String::new()),
                            message: None,
                        }));
                    }
                    ServerMessage::Probe { id, recaptcha_action, .. } => {
                        if let Some(p) = &opts.probe {
                            let _ = out_tx.send(Out::Frame(TabMessage::ProbeResult {
                                id,
                                ok: p.status.is_some_and(|s| (200..300).contains(&s)),
                                status: p.status,
                                recaptcha: recaptcha_action.is_some() && p.recaptcha,
                                message: p.message.clone(),
                            }));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    for (_, job) in jobs {
        job.abort();
    }
    let _ = out_tx.send(Out::Close);
    let _ = writer.await;
}

/// Host of the fake tab's upload and signed URLs.
pub const FAKE_STORAGE: &str = "https://storage.fake-tab.test";

/// The answer of a server action in the site's shape: an upload target for
/// `generateUploadUrl` (key `k<job id>`), a signed URL for `getSignedUrl`, else success.
fn action_answer(id: JobId, name: &str, args: &serde_json::Value) -> String {
    let result = match name {
        "generateUploadUrl" => serde_json::json!({"success": true, "data": {
            "uploadUrl": format!("{FAKE_STORAGE}/put/k{id}?sig=1"), "key": format!("k{id}")}}),
        "getSignedUrl" => serde_json::json!({"success": true, "data": {
            "url": format!("{FAKE_STORAGE}/get/{}?sig=1", args[0].as_str().unwrap_or(""))}}),
        _ => serde_json::json!({"success": true}),
    };
    format!("0:{{}}\n1:{result}\n")
}

async fn answer(id: JobId, reply: Reply, tx: mpsc::UnboundedSender<Out>) {
    let frame = |f: TabMessage| {
        let _ = tx.send(Out::Frame(f));
    };
    match reply {
        Reply::Stream {
            status,
            headers,
            chunks,
            delay,
        } => {
            frame(TabMessage::Response {
                id,
                status,
                headers,
            });
            for data in chunks {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                frame(TabMessage::Chunk { id, data });
            }
            frame(TabMessage::Done { id });
        }
        Reply::Fail {
            status,
            headers,
            body,
        } => {
            frame(TabMessage::Response {
                id,
                status,
                headers,
            });
            frame(TabMessage::Error {
                id: Some(id),
                message: format!("HTTP {status}"),
                status: Some(status),
                body: Some(body),
            });
        }
        Reply::NetworkError(message) => frame(TabMessage::Error {
            id: Some(id),
            message,
            status: None,
            body: None,
        }),
        Reply::Hang => std::future::pending::<()>().await,
        Reply::StreamThenHang(chunks) => {
            frame(TabMessage::Response {
                id,
                status: 200,
                headers: event_stream_headers(),
            });
            for data in chunks {
                frame(TabMessage::Chunk { id, data });
            }
            std::future::pending::<()>().await;
        }
        Reply::Disconnect => {
            let _ = tx.send(Out::Close);
        }
        Reply::StreamThenDisconnect(chunks) => {
            frame(TabMessage::Response {
                id,
                status: 200,
                headers: event_stream_headers(),
            });
            for data in chunks {
                frame(TabMessage::Chunk { id, data });
            }
            // A tab that dies mid-answer: let the chunks travel before the socket goes.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = tx.send(Out::Close);
        }
        Reply::RawThen(raw, inner) => {
            let _ = tx.send(Out::Raw(raw));
            Box::pin(answer(id, *inner, tx)).await;
        }
    }
}

async fn post_capture(url: String, session_id: String, message_id: String) {
    let body = serde_json::json!({"sessionId": session_id, "messageId": message_id});
    let client = reqwest::Client::new();
    let _ = client
        .post(url)
        .header("Origin", "https://lmarena.ai")
        .json(&body)
        .send()
        .await;
}
