//! The no-relay baseline: a minimal HTTP/1.1 server (hyper) on its own runtime that answers
//! every request at once with the same OpenAI chunks the relay produces (built with the same
//! `bridge-core` types), stamped as it writes them. Driven by the same client loop, its
//! throughput is the yardstick for the relay's.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bridge_core::openai::{
    ChatCompletion, ChatCompletionChunk, Choice, ChunkChoice, Delta, FinishReason, ResponseMessage,
};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use crate::server::MODEL_NAME;
use crate::stamp::{stamp_text, Clock};

/// SSE framing as the relay writes it.
const SSE_DATA: &[u8] = b"data: ";
const SSE_EVENT_END: &[u8] = b"\n\n";
const SSE_DONE: &[u8] = b"data: [DONE]\n\n";
const EVENT_STREAM: &str = "text/event-stream";
const JSON: &str = "application/json";
const NO_CACHE: &str = "no-cache";
const ASSISTANT: &str = "assistant";
const ID_PREFIX: &str = "chatcmpl-";

/// Name of the baseline's runtime threads, so their CPU time can be told apart.
pub(crate) const BASELINE_THREAD: &str = "baseline";

type Body = BoxBody<Bytes, Infallible>;

#[derive(Debug)]
struct Answerer {
    stream: bool,
    lines: usize,
    /// Pause before each text line, as the paced fake tab makes.
    gap: Duration,
    clock: Clock,
}

/// A running baseline server; stops when dropped.
#[derive(Debug)]
pub(crate) struct Baseline {
    pub port: u16,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Baseline {
    /// Starts the server on a free loopback port, on a runtime of `workers` threads of its own
    /// (the relay server has its own process and threads too).
    pub(crate) fn start(
        stream: bool,
        lines: usize,
        gap: Duration,
        clock: Clock,
        workers: usize,
    ) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers.max(1))
            .thread_name(BASELINE_THREAD)
            .enable_all()
            .build()
            .context("cannot build the baseline runtime")?;
        let std_listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .context("baseline cannot bind")?;
        std_listener.set_nonblocking(true)?;
        let port = std_listener.local_addr()?.port();
        let answerer = Arc::new(Answerer {
            stream,
            lines,
            gap,
            clock,
        });
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        runtime.spawn(accept_loop(listener, answerer));
        Ok(Baseline {
            port,
            runtime: Some(runtime),
        })
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}:{}", Ipv4Addr::LOCALHOST, self.port)
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, answerer: Arc<Answerer>) {
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        // As the relay does: every SSE event leaves at once.
        let _ = tcp.set_nodelay(true);
        let answerer = answerer.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, answerer.clone()));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}

async fn answer(
    req: Request<Incoming>,
    answerer: Arc<Answerer>,
) -> Result<Response<Body>, hyper::Error> {
    // Read the whole request, as the relay must before it can answer.
    let _request = req.into_body().collect().await?;
    let id = format!("{ID_PREFIX}{}", uuid::Uuid::new_v4().simple());
    let created = unix_now();
    let (body, content_type) = if answerer.stream {
        let lines = answerer.lines;
        let clock = answerer.clock;
        let gap = answerer.gap;
        let id: Arc<str> = id.into();
        let frame = move |i: usize| {
            let bytes = if i < lines {
                let mut delta = Delta::content(stamp_text(clock.now()));
                if i == 0 {
                    delta.role = Some(ASSISTANT.into());
                }
                sse_chunk(&id, created, delta, None)
            } else if i == lines {
                sse_chunk(&id, created, Delta::default(), Some(FinishReason::Stop))
            } else {
                Bytes::from_static(SSE_DONE)
            };
            Ok::<_, Infallible>(Frame::data(bytes))
        };
        let body = if gap.is_zero() {
            BodyExt::boxed(StreamBody::new(
                futures_util::stream::iter(0..lines + 2).map(frame),
            ))
        } else {
            let start = tokio::time::Instant::now();
            let paced = futures_util::stream::unfold(0usize, move |i| {
                let frame = frame.clone();
                async move {
                    if i >= lines + 2 {
                        return None;
                    }
                    if i < lines {
                        tokio::time::sleep_until(start + gap * (i as u32 + 1)).await;
                    }
                    Some((frame(i), i + 1))
                }
            });
            BodyExt::boxed(StreamBody::new(paced))
        };
        (body, EVENT_STREAM)
    } else {
        let text: String = (0..answerer.lines)
            .map(|_| stamp_text(answerer.clock.now()))
            .collect();
        let completion = ChatCompletion::new(
            id,
            created,
            MODEL_NAME,
            vec![Choice {
                index: 0,
                message: ResponseMessage::assistant(Some(text), None),
                finish_reason: Some(FinishReason::Stop),
            }],
        );
        let json = serde_json::to_vec(&completion).unwrap_or_default();
        (Full::new(Bytes::from(json)).boxed(), JSON)
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if answerer.stream {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    }
    Ok(response)
}

/// `data: {chunk}\n\n`, serialized as the relay serializes it.
fn sse_chunk(id: &str, created: i64, delta: Delta<'_>, finish: Option<FinishReason>) -> Bytes {
    let chunk = ChatCompletionChunk::new(
        id,
        created,
        MODEL_NAME,
        vec![ChunkChoice::new(0, delta, finish)],
    );
    let mut buf = Vec::with_capacity(192);
    buf.extend_from_slice(SSE_DATA);
    let _ = serde_json::to_writer(&mut buf, &chunk);
    buf.extend_from_slice(SSE_EVENT_END);
    Bytes::from(buf)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{check_completion, SseReader, StreamCheck};

    #[tokio::test]
    async fn baseline_answers_pass_the_client_checks() {
        let clock = Clock::new();
        for stream in [true, false] {
            let server = Baseline::start(stream, 3, Duration::ZERO, clock, 1).unwrap();
            let client = crate::client::http_client(1).unwrap();
            let response = client
                .post(format!("{}{}", server.base_url(), crate::client::CHAT_PATH))
                .body(crate::client::request_body(stream, false))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let body = response.bytes().await.unwrap();
            if stream {
                let mut check = StreamCheck::default();
                let mut chunk = Vec::new();
                SseReader::default().push(&body, |e| check.event(e, clock.now(), &mut chunk));
                check.verify(3).unwrap();
                assert_eq!(chunk.len(), 3);
            } else {
                check_completion(&body, 3).unwrap();
            }
        }
    }
}
