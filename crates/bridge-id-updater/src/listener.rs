//! The temporary capture listener on `127.0.0.1:PORT`.
//!
//! It answers exactly two requests: `POST /update` carrying the captured ids, and the CORS
//! preflight `OPTIONS /update` a browser may send first (with Private Network Access, since a
//! public page calls a loopback address). Everything else is 404 or 405, and no file is ever
//! served (the original's listener was a file server that handed out the config). A request
//! counts only with an `Origin` allowed by the config's `allowed_origins`; the allowed origin is
//! echoed, never `*`. Every refusal and the one accepted capture are handed to the caller as
//! [`Event`]s; the capture is answered only after the caller has stored the ids.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bridge_core::config::origin_matches;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::capture::{parse_report, CapturedIds};

/// The only path the listener serves (the server's `report_to` ends with it).
pub const UPDATE_PATH: &str = "/update";
/// A report is two UUIDs in a small JSON object; anything much larger is not one.
pub const MAX_REPORT_BYTES: usize = 4096;
/// Methods announced in `Allow` and in the preflight answer.
const ALLOW: &str = "POST, OPTIONS";
const ALLOW_METHODS: &str = "POST";
const ALLOW_HEADERS: &str = "content-type";
/// Preflight answers may be cached briefly; the listener lives only minutes.
const PREFLIGHT_MAX_AGE: &str = "60";
/// `Access-Control-Allow-Private-Network` (Private Network Access); not in `hyper::header`.
pub const ALLOW_PRIVATE_NETWORK: &str = "access-control-allow-private-network";
/// A client gets this long to send its headers, and again its body.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);
/// Longest piece of a request (origin, path) quoted in a message.
const QUOTE_CHARS: usize = 80;

/// What happened at the listener.
#[derive(Debug)]
pub enum Event {
    /// A request was refused with `status`; the listener keeps waiting.
    Refused { status: u16, reason: String },
    /// A valid capture. Send `Ok(())` on `reply` once the ids are stored (the tab gets 200),
    /// or `Err(())` when they could not be (the tab gets 500).
    Capture {
        ids: CapturedIds,
        origin: String,
        reply: oneshot::Sender<Result<(), ()>>,
    },
}

struct Shared {
    /// `allowed_origins` of the config.
    origins: Vec<String>,
    events: mpsc::UnboundedSender<Event>,
    /// Set by the first valid capture; later ones are refused.
    taken: AtomicBool,
    /// Notified once the answer to the accepted capture has been written out.
    answered: Notify,
}

impl Shared {
    fn refuse(&self, status: StatusCode, reason: String) {
        let _ = self.events.send(Event::Refused {
            status: status.as_u16(),
            reason,
        });
    }
}

/// A bound listener serving in the background until dropped.
pub struct CaptureListener {
    port: u16,
    events: mpsc::UnboundedReceiver<Event>,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for CaptureListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureListener")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl CaptureListener {
    /// Bind `127.0.0.1:port` (0 picks a free port) and start serving. Must run inside a Tokio
    /// runtime. Binding is the only step that can fail, so a caller binds before it asks the
    /// server to arm capture and no report can arrive at a closed port.
    pub async fn bind(port: u16, allowed_origins: Vec<String>) -> std::io::Result<Self> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).await?;
        let port = listener.local_addr()?.port();
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            origins: allowed_origins,
            events: tx,
            taken: AtomicBool::new(false),
            answered: Notify::new(),
        });
        let task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(Self {
            port,
            events: rx,
            shared,
            task,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The next event (never `None` while the listener runs).
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// Wait (up to `within`) until the answer to the accepted capture has been sent, so the
    /// tab sees it before the process exits. False when it was not sent in time.
    pub async fn answered(&self, within: Duration) -> bool {
        tokio::time::timeout(within, self.shared.answered.notified())
            .await
            .is_ok()
    }
}

impl Drop for CaptureListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::debug!("capture listener: accept failed: {e}");
                tokio::time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let delivered = Arc::new(AtomicBool::new(false));
            let service = {
                let shared = shared.clone();
                let delivered = delivered.clone();
                service_fn(move |req| {
                    let shared = shared.clone();
                    let delivered = delivered.clone();
                    async move { Ok::<_, Infallible>(handle(req, &shared, &delivered).await) }
                })
            };
            // One request per connection: the connection (and so this task) ends right after
            // the answer is written, which is what `answered` waits for.
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(READ_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!("capture listener: connection error: {e}");
            }
            if delivered.load(Ordering::SeqCst) {
                shared.answered.notify_one();
            }
        });
    }
}

/// What a request asks for, from its method and path alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    NotFound,
    MethodNotAllowed,
    Preflight,
    Report,
}

/// Routes a request: only `/update` exists, for `POST` and `OPTIONS`.
pub fn route(method: &Method, path: &str) -> Route {
    if path != UPDATE_PATH {
        Route::NotFound
    } else if method == Method::POST {
        Route::Report
    } else if method == Method::OPTIONS {
        Route::Preflight
    } else {
        Route::MethodNotAllowed
    }
}

/// The request's `Origin` when it is one of `patterns` (same matching as the server's `/ws`).
pub fn allowed_origin<'a>(patterns: &[String], origin: Option<&'a HeaderValue>) -> Option<&'a str> {
    let origin = origin?.to_str().ok()?;
    patterns
        .iter()
        .any(|p| origin_matches(p, origin))
        .then_some(origin)
}

async fn handle(
    req: Request<Incoming>,
    shared: &Shared,
    delivered: &AtomicBool,
) -> Response<Full<Bytes>> {
    let refuse = |status: StatusCode, reason: String| shared.refuse(status, reason);
    let what = format!("{} {}", req.method(), quote(req.uri().path()));
    let origin_header = req.headers().get(header::ORIGIN);
    let described_origin = origin_header
        .map(|v| quote(&String::from_utf8_lossy(v.as_bytes())))
        .unwrap_or_else(|| "none".to_owned());
    match route(req.method(), req.uri().path()) {
        Route::NotFound => {
            refuse(StatusCode::NOT_FOUND, format!("{what}: not found"));
            json(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#)
        }
        Route::MethodNotAllowed => {
            refuse(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("{what}: method not allowed"),
            );
            let mut res = json(
                StatusCode::METHOD_NOT_ALLOWED,
                r#"{"error":"method not allowed"}"#,
            );
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
            res
        }
        Route::Preflight => match allowed_origin(&shared.origins, origin_header) {
            Some(origin) => preflight(origin),
            None => {
                refuse(
                    StatusCode::FORBIDDEN,
                    format!("{what} from origin {described_origin}: not in allowed_origins"),
                );
                json(StatusCode::FORBIDDEN, r#"{"error":"origin not allowed"}"#)
            }
        },
        Route::Report => {
            let Some(origin) = allowed_origin(&shared.origins, origin_header).map(str::to_owned)
            else {
                refuse(
                    StatusCode::FORBIDDEN,
                    format!("{what} from origin {described_origin}: not in allowed_origins"),
                );
                return json(StatusCode::FORBIDDEN, r#"{"error":"origin not allowed"}"#);
            };
            let mut res = report(req, &origin, shared, delivered).await;
            add_cors(&mut res, &origin);
            res
        }
    }
}

async fn report(
    req: Request<Incoming>,
    origin: &str,
    shared: &Shared,
    delivered: &AtomicBool,
) -> Response<Full<Bytes>> {
    let refuse = |status: StatusCode, reason: String| shared.refuse(status, reason);
    let body = Limited::new(req.into_body(), MAX_REPORT_BYTES).collect();
    let body = match tokio::time::timeout(READ_TIMEOUT, body).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a report from {origin} larger than {MAX_REPORT_BYTES} bytes"),
            );
            return json(
                StatusCode::PAYLOAD_TOO_LARGE,
                r#"{"error":"body too large"}"#,
            );
        }
        Ok(Err(_)) | Err(_) => {
            refuse(
                StatusCode::BAD_REQUEST,
                format!("a report from {origin} whose body did not arrive"),
            );
            return json(StatusCode::BAD_REQUEST, r#"{"error":"body not received"}"#);
        }
    };
    let ids = match parse_report(&body) {
        Ok(ids) => ids,
        Err(e) => {
            refuse(
                StatusCode::BAD_REQUEST,
                format!("a report from {origin}: {e}"),
            );
            let body = serde_json::json!({ "error": e.to_string() }).to_string();
            return json(StatusCode::BAD_REQUEST, &body);
        }
    };
    if shared.taken.swap(true, Ordering::SeqCst) {
        refuse(
            StatusCode::CONFLICT,
            format!("a second report from {origin}: the first one is being saved"),
        );
        return json(
            StatusCode::CONFLICT,
            r#"{"error":"a capture was already received"}"#,
        );
    }
    let (tx, rx) = oneshot::channel();
    let sent = shared.events.send(Event::Capture {
        ids,
        origin: origin.to_owned(),
        reply: tx,
    });
    let res = match (sent, rx.await) {
        (Ok(()), Ok(Ok(()))) => json(StatusCode::OK, r#"{"status":"ok"}"#),
        (Ok(()), Ok(Err(()))) => json(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":"the ids could not be saved; see bridge-id-updater's output"}"#,
        ),
        _ => json(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"error":"bridge-id-updater is stopping"}"#,
        ),
    };
    delivered.store(true, Ordering::SeqCst);
    res
}

fn preflight(origin: &str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::NO_CONTENT;
    add_cors(&mut res, origin);
    let headers = res.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOW_HEADERS),
    );
    headers.insert(ALLOW_PRIVATE_NETWORK, HeaderValue::from_static("true"));
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE),
    );
    res
}

/// Echo an allowed origin (it came from a header, so it is a valid header value).
fn add_cors(res: &mut Response<Full<Bytes>>, origin: &str) {
    if let Ok(value) = HeaderValue::from_str(origin) {
        res.headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    res.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Origin"));
}

fn json(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body.to_owned())));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// Text from the network, made safe to print: control characters escaped, length bounded.
fn quote(text: &str) -> String {
    let short: String = text.chars().take(QUOTE_CHARS).collect();
    let ellipsis = if text.chars().count() > QUOTE_CHARS {
        "…"
    } else {
        ""
    };
    format!("{short:?}{ellipsis}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_core::config::Config;

    const S: &str = "8f1c2a4e-3b5d-4c6e-9f70-1a2b3c4d5e6f";
    const M: &str = "0d9e8f7a-6b5c-4d3e-8a2f-9e8d7c6b5a4f";

    #[test]
    fn routes() {
        assert_eq!(route(&Method::POST, "/update"), Route::Report);
        assert_eq!(route(&Method::OPTIONS, "/update"), Route::Preflight);
        for m in [Method::GET, Method::HEAD, Method::PUT, Method::DELETE] {
            assert_eq!(route(&m, "/update"), Route::MethodNotAllowed);
        }
        for p in [
            "/",
            "/config.jsonc",
            "/update/",
            "/UPDATE",
            "/../config/config.jsonc",
        ] {
            assert_eq!(route(&Method::POST, p), Route::NotFound, "{p}");
            assert_eq!(route(&Method::GET, p), Route::NotFound, "{p}");
        }
    }

    #[test]
    fn origins() {
        let patterns = Config::default().allowed_origins;
        let check = |o: Option<&str>| {
            let v = o.map(|o| HeaderValue::from_str(o).unwrap());
            allowed_origin(&patterns, v.as_ref()).map(str::to_owned)
        };
        assert_eq!(
            check(Some("https://lmarena.ai")).as_deref(),
            Some("https://lmarena.ai")
        );
        assert!(check(Some("https://canary.lmarena.ai")).is_some());
        assert!(check(Some("https://arena.ai")).is_some());
        for bad in [
            None,
            Some("null"),
            Some("http://lmarena.ai"),
            Some("https://evil-lmarena.ai"),
            Some("https://lmarena.ai.evil.com"),
            Some("http://127.0.0.1:5103"),
        ] {
            assert_eq!(check(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn quote_escapes_and_bounds() {
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
        let long = "x".repeat(200);
        let q = quote(&long);
        assert!(q.ends_with('…') && q.chars().count() < 90, "{q}");
    }

    async fn client_call(
        port: u16,
        method: reqwest::Method,
        path: &str,
        origin: Option<&str>,
        body: Option<String>,
    ) -> reqwest::Response {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut req = client.request(method, format!("http://127.0.0.1:{port}{path}"));
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "text/plain;charset=UTF-8")
                .body(b);
        }
        req.send().await.unwrap()
    }

    fn refused(event: Option<Event>) -> (u16, String) {
        match event {
            Some(Event::Refused { status, reason }) => (status, reason),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn serves_only_the_report_and_its_preflight() {
        let mut listener = CaptureListener::bind(0, Config::default().allowed_origins)
            .await
            .unwrap();
        let port = listener.port();
        let good = format!(r#"{{"sessionId":"{S}","messageId":"{M}"}}"#);
        let lm = Some("https://lmarena.ai");

        let res = client_call(port, reqwest::Method::GET, "/config.jsonc", lm, None).await;
        assert_eq!(res.status(), 404);
        assert!(!res.text().await.unwrap().contains("session"));
        assert_eq!(refused(listener.next_event().await).0, 404);

        let res = client_call(port, reqwest::Method::GET, "/update", lm, None).await;
        assert_eq!(res.status(), 405);
        assert_eq!(res.headers()["allow"], "POST, OPTIONS");
        assert_eq!(refused(listener.next_event().await).0, 405);

        // Preflight from LMArena: the origin is echoed, with Private Network Access.
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let res = client
            .request(
                reqwest::Method::OPTIONS,
                format!("http://127.0.0.1:{port}/update"),
            )
            .header("Origin", "https://lmarena.ai")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .header("Access-Control-Request-Private-Network", "true")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        let h = res.headers();
        assert_eq!(h["access-control-allow-origin"], "https://lmarena.ai");
        assert_eq!(h["access-control-allow-private-network"], "true");
        assert_eq!(h["access-control-allow-methods"], "POST");
        assert_eq!(h["access-control-allow-headers"], "content-type");
        assert_eq!(h["vary"], "Origin");

        // Preflight and report from elsewhere: 403, no CORS headers.
        let res = client_call(
            port,
            reqwest::Method::OPTIONS,
            "/update",
            Some("https://evil.example"),
            None,
        )
        .await;
        assert_eq!(res.status(), 403);
        assert!(res.headers().get("access-control-allow-origin").is_none());
        let (status, reason) = refused(listener.next_event().await);
        assert_eq!(status, 403);
        assert!(reason.contains("\"https://evil.example\""), "{reason}");
        for origin in [Some("https://evil.example"), None] {
            let res = client_call(
                port,
                reqwest::Method::POST,
                "/update",
                origin,
                Some(good.clone()),
            )
            .await;
            assert_eq!(res.status(), 403, "{origin:?}");
            assert!(res.headers().get("access-control-allow-origin").is_none());
            assert_eq!(refused(listener.next_event().await).0, 403);
        }

        // Bad bodies from the right origin: 400 (with CORS, so the page can read why).
        for body in [
            "{not json".to_owned(),
            format!(r#"{{"sessionId":"{S}"}}"#),
            format!(r#"{{"sessionId":"{S}","messageId":"not-a-uuid"}}"#),
        ] {
            let res = client_call(port, reqwest::Method::POST, "/update", lm, Some(body)).await;
            assert_eq!(res.status(), 400);
            assert_eq!(
                res.headers()["access-control-allow-origin"],
                "https://lmarena.ai"
            );
            assert_eq!(refused(listener.next_event().await).0, 400);
        }
        let res = client_call(
            port,
            reqwest::Method::POST,
            "/update",
            lm,
            Some("x".repeat(MAX_REPORT_BYTES + 1)),
        )
        .await;
        assert_eq!(res.status(), 413);
        assert_eq!(refused(listener.next_event().await).0, 413);

        // Still waiting: a good report is handed over and answered once stored.
        let call = tokio::spawn(client_call(
            port,
            reqwest::Method::POST,
            "/update",
            Some("https://canary.lmarena.ai"),
            Some(good.clone()),
        ));
        let Some(Event::Capture { ids, origin, reply }) = listener.next_event().await else {
            panic!("expected the capture");
        };
        assert_eq!((ids.session_id.as_str(), ids.message_id.as_str()), (S, M));
        assert_eq!(origin, "https://canary.lmarena.ai");
        reply.send(Ok(())).unwrap();
        let res = call.await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["access-control-allow-origin"],
            "https://canary.lmarena.ai"
        );
        assert!(listener.answered(Duration::from_secs(5)).await);

        // Only one capture is taken.
        let res = client_call(port, reqwest::Method::POST, "/update", lm, Some(good)).await;
        assert_eq!(res.status(), 409);
        assert_eq!(refused(listener.next_event().await).0, 409);
    }

    #[tokio::test]
    async fn failed_store_answers_500() {
        let mut listener = CaptureListener::bind(0, Config::default().allowed_origins)
            .await
            .unwrap();
        let port = listener.port();
        let good = format!(r#"{{"sessionId":"{S}","messageId":"{M}"}}"#);
        let call = tokio::spawn(client_call(
            port,
            reqwest::Method::POST,
            "/update",
            Some("https://lmarena.ai"),
            Some(good),
        ));
        let Some(Event::Capture { reply, .. }) = listener.next_event().await else {
            panic!("expected the capture");
        };
        reply.send(Err(())).unwrap();
        assert_eq!(call.await.unwrap().status(), 500);
    }

    #[tokio::test]
    async fn port_in_use_is_an_error() {
        let first = CaptureListener::bind(0, Vec::new()).await.unwrap();
        let e = CaptureListener::bind(first.port(), Vec::new())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    }
}
