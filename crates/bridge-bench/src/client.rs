//! The OpenAI client side: C closed-loop workers posting chat completions for a fixed time,
//! checking every answer (status, number of deltas, finish reason, `[DONE]`) and recording
//! end-to-end latency, time to first token and per-chunk latency from the stamps in the text.
//! Also the memory run's held streams.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::time::Instant;

use crate::server::MODEL_NAME;
use crate::stamp::{event_stamp, text_stamps, Clock};
use crate::stats::Latencies;

/// Path of the chat completions route.
pub(crate) const CHAT_PATH: &str = "/v1/chat/completions";
/// SSE event separator, comment start, data prefix and stream end.
const EVENT_END: &[u8] = b"\n\n";
const COMMENT_START: u8 = b':';
const DATA_PREFIX: &str = "data: ";
const DONE: &str = "[DONE]";
/// Markers of an error event and of a finished choice in an OpenAI chunk.
const ERROR_START: &str = "{\"error\"";
const FINISH_STOP: &str = "\"finish_reason\":\"stop\"";
/// Most of an error body shown.
const ERROR_BODY_CHARS: usize = 300;

/// The question every worker asks.
const QUESTION: &str = "Say twenty words.";

/// The request every worker sends. With `history` it carries an earlier exchange, so the
/// `evaluation` flow looks the conversation up in its memory (and misses: the answers are
/// stamped, so no two match).
pub(crate) fn request_body(stream: bool, history: bool) -> Bytes {
    let mut messages = Vec::new();
    if history {
        messages.push(serde_json::json!({"role": "user", "content": "Hello."}));
        messages.push(serde_json::json!({"role": "assistant", "content": "Hello!"}));
    }
    messages.push(serde_json::json!({"role": "user", "content": QUESTION}));
    let body = serde_json::json!({
        "model": MODEL_NAME,
        "messages": messages,
        "stream": stream,
    });
    Bytes::from(body.to_string())
}

/// Fills the `evaluation` flow's conversation memory: `count` answered one-message
/// conversations, each remembered by the server, sent non-streaming by `concurrency` workers.
/// Returns the first failure.
pub(crate) async fn fill_conversations(
    client: &reqwest::Client,
    url: &str,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(url).with_context(|| format!("bad URL {url}"))?;
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (client, url, next) = (client.clone(), url.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        return anyhow::Ok(());
                    }
                    let body = serde_json::json!({
                        "model": MODEL_NAME,
                        "messages": [{"role": "user", "content": format!("Conversation {i}.")}],
                        "stream": false,
                    });
                    let response =
                        send(&client, url.clone(), Bytes::from(body.to_string())).await?;
                    response.bytes().await.context("answer body")?;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.context("a fill worker failed")??;
    }
    Ok(())
}

/// An HTTP client for `connections` parallel requests on loopback.
pub(crate) fn http_client(connections: usize) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(connections)
        .build()
        .context("cannot build the HTTP client")
}

/// What one load run does.
#[derive(Debug, Clone)]
pub(crate) struct LoadSpec {
    /// Full URL of the chat completions route.
    pub url: String,
    pub stream: bool,
    /// Send an earlier exchange with every request (see [`request_body`]).
    pub history: bool,
    /// Text deltas every answer must carry.
    pub lines: usize,
    pub concurrency: usize,
    /// Answers finished in this first period are not counted.
    pub warmup: Duration,
    /// The measured period after the warm-up.
    pub duration: Duration,
}

/// Figures of one load run.
#[derive(Debug, Clone, Default)]
pub(crate) struct LoadResult {
    /// Answers completed (and checked) inside the measured period.
    pub completed: u64,
    pub window: Duration,
    pub e2e: Latencies,
    pub ttft: Latencies,
    pub chunk: Latencies,
    pub errors: u64,
    pub first_error: Option<String>,
}

impl LoadResult {
    pub(crate) fn rps(&self) -> f64 {
        let secs = self.window.as_secs_f64();
        if secs > 0.0 {
            self.completed as f64 / secs
        } else {
            0.0
        }
    }

    fn error(&mut self, message: String) {
        self.errors += 1;
        self.first_error.get_or_insert(message);
    }

    /// Adds a later run of the same kind: windows add up.
    pub(crate) fn append(&mut self, other: LoadResult) {
        self.window += other.window;
        self.merge(other);
    }

    /// Keeps only the errors of a warm-up run.
    pub(crate) fn count_errors_of(&mut self, warmup: LoadResult) {
        self.errors += warmup.errors;
        if self.first_error.is_none() {
            self.first_error = warmup.first_error;
        }
    }

    fn merge(&mut self, other: LoadResult) {
        self.completed += other.completed;
        self.e2e.merge(&other.e2e);
        self.ttft.merge(&other.ttft);
        self.chunk.merge(&other.chunk);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Runs `spec.concurrency` workers against `spec.url` and merges their figures.
pub(crate) async fn drive(client: &reqwest::Client, spec: &LoadSpec, clock: Clock) -> LoadResult {
    let start = Instant::now();
    let measure_from = start + spec.warmup;
    let end = measure_from + spec.duration;
    let body = request_body(spec.stream, spec.history);
    let mut total = LoadResult {
        window: spec.duration,
        ..LoadResult::default()
    };
    // Parsed once: URL parsing is a visible share of a client's work per request.
    let url = match reqwest::Url::parse(&spec.url) {
        Ok(u) => u,
        Err(e) => {
            total.error(format!("bad URL {}: {e}", spec.url));
            return total;
        }
    };
    let workers: Vec<_> = (0..spec.concurrency.max(1))
        .map(|_| {
            let client = client.clone();
            let spec = spec.clone();
            let body = body.clone();
            let url = url.clone();
            tokio::spawn(async move {
                worker(&client, &spec, &url, body, clock, measure_from, end).await
            })
        })
        .collect();
    for w in workers {
        match w.await {
            Ok(r) => total.merge(r),
            Err(e) => total.error(format!("a client worker failed: {e}")),
        }
    }
    total
}

/// Timings of one checked answer, in clock nanoseconds.
struct Answer {
    first_content: u64,
    end: u64,
}

async fn worker(
    client: &reqwest::Client,
    spec: &LoadSpec,
    url: &reqwest::Url,
    body: Bytes,
    clock: Clock,
    measure_from: Instant,
    end: Instant,
) -> LoadResult {
    let mut result = LoadResult::default();
    // Chunk latencies of the answer in flight; kept only if it lands in the window.
    let mut chunk = Vec::with_capacity(spec.lines + 1);
    while Instant::now() < end {
        let sent = clock.now();
        let outcome = if spec.stream {
            stream_once(client, spec, url, body.clone(), clock, &mut chunk).await
        } else {
            whole_once(client, spec, url, body.clone(), clock).await
        };
        let finished = Instant::now();
        match outcome {
            Ok(a) if finished >= measure_from && finished <= end => {
                result.completed += 1;
                result.e2e.record(a.end.saturating_sub(sent));
                result.ttft.record(a.first_content.saturating_sub(sent));
                for &c in &chunk {
                    result.chunk.record(c);
                }
            }
            Ok(_) => {}
            Err(e) => result.error(format!("{e:#}")),
        }
        chunk.clear();
    }
    result
}

async fn send(
    client: &reqwest::Client,
    url: reqwest::Url,
    body: Bytes,
) -> anyhow::Result<reqwest::Response> {
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .context("request failed")?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        bail!("HTTP {status}: {}", clip(&text));
    }
    Ok(response)
}

async fn stream_once(
    client: &reqwest::Client,
    spec: &LoadSpec,
    url: &reqwest::Url,
    body: Bytes,
    clock: Clock,
    chunk: &mut Vec<u64>,
) -> anyhow::Result<Answer> {
    let response = send(client, url.clone(), body).await?;
    let mut stream = response.bytes_stream();
    let mut reader = SseReader::default();
    let mut check = StreamCheck::default();
    while let Some(bytes) = stream.next().await {
        let bytes = bytes.context("stream broke")?;
        let now = clock.now();
        reader.push(&bytes, |event| check.event(event, now, chunk));
        if check.done {
            break;
        }
    }
    let end = clock.now();
    let first_content = check.verify(spec.lines)?;
    Ok(Answer { first_content, end })
}

async fn whole_once(
    client: &reqwest::Client,
    spec: &LoadSpec,
    url: &reqwest::Url,
    body: Bytes,
    clock: Clock,
) -> anyhow::Result<Answer> {
    let response = send(client, url.clone(), body).await?;
    let bytes = response.bytes().await.context("body broke")?;
    let end = clock.now();
    check_completion(&bytes, spec.lines)?;
    Ok(Answer {
        first_content: end,
        end,
    })
}

/// Checks a non-streamed answer: `lines` stamped words and finish reason `stop`.
pub(crate) fn check_completion(body: &[u8], lines: usize) -> anyhow::Result<()> {
    let value: serde_json::Value = serde_json::from_slice(body).context("answer is not JSON")?;
    let choice = value
        .get("choices")
        .and_then(|c| c.get(0))
        .context("answer without choices")?;
    let text = choice
        .get("message")
        .and_then(|m| m.get("content"))
        .and_then(|c| c.as_str())
        .context("answer without message content")?;
    let stamps = text_stamps(text).context("answer text is not the transcript")?;
    if stamps.len() != lines {
        bail!("answer has {} deltas, expected {lines}", stamps.len());
    }
    let finish = choice.get("finish_reason").and_then(|f| f.as_str());
    if finish != Some("stop") {
        bail!("finish_reason {finish:?}, expected \"stop\"");
    }
    Ok(())
}

/// Splits a byte stream into SSE events (text between blank lines).
#[derive(Debug, Default)]
pub(crate) struct SseReader {
    buf: Vec<u8>,
}

impl SseReader {
    /// Appends bytes and hands every complete event to `on_event`.
    pub(crate) fn push(&mut self, bytes: &[u8], mut on_event: impl FnMut(&str)) {
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(at) = find(&self.buf[start..], EVENT_END) {
            let event = &self.buf[start..start + at];
            on_event(std::str::from_utf8(event).unwrap_or(""));
            start += at + EVENT_END.len();
        }
        self.buf.drain(..start);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What the client saw of one streamed answer.
#[derive(Debug, Default)]
pub(crate) struct StreamCheck {
    pub content: usize,
    pub first_content: Option<u64>,
    pub finished: bool,
    pub done: bool,
    pub error: Option<String>,
    pub other: usize,
}

impl StreamCheck {
    /// Takes one event received at `now` (clock nanoseconds); pushes the latency of each
    /// stamped delta onto `chunk`.
    pub(crate) fn event(&mut self, event: &str, now: u64, chunk: &mut Vec<u64>) {
        if event.as_bytes().first() == Some(&COMMENT_START) {
            return;
        }
        let Some(data) = event.strip_prefix(DATA_PREFIX) else {
            self.other += 1;
            return;
        };
        if data == DONE {
            self.done = true;
        } else if data.starts_with(ERROR_START) {
            self.error.get_or_insert_with(|| clip(data));
        } else if let Some(stamp) = event_stamp(data) {
            self.content += 1;
            self.first_content.get_or_insert(now);
            chunk.push(now.saturating_sub(stamp));
        } else if data.contains(FINISH_STOP) {
            self.finished = true;
        } else {
            self.other += 1;
        }
    }

    /// Checks the whole answer; returns the time of the first delta.
    pub(crate) fn verify(&self, lines: usize) -> anyhow::Result<u64> {
        if let Some(e) = &self.error {
            bail!("error event: {e}");
        }
        if self.content != lines || !self.finished || !self.done || self.other != 0 {
            bail!(
                "incomplete stream: {} deltas of {lines}, finish {}, [DONE] {}, {} other events",
                self.content,
                self.finished,
                self.done,
                self.other
            );
        }
        self.first_content.context("no delta")
    }
}

fn clip(text: &str) -> String {
    text.chars().take(ERROR_BODY_CHARS).collect()
}

/// Streams held open for the memory run.
#[derive(Debug)]
pub(crate) struct Held {
    release: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Streams that got their first delta.
    pub open: usize,
    /// Each open stream's time from its request to its first delta.
    pub open_times: Latencies,
    pub errors: Vec<String>,
}

impl Held {
    /// Lets every stream go (the server then aborts the jobs in the tab).
    pub(crate) async fn release(self) {
        let _ = self.release.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Opens `count` streaming requests and returns once each has its first delta (or failed),
/// or after `timeout`.
pub(crate) async fn hold_streams(
    client: &reqwest::Client,
    url: &str,
    count: usize,
    opening: usize,
    timeout: Duration,
) -> Held {
    let (release, release_rx) = watch::channel(false);
    let url = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(e) => {
            return Held {
                release,
                tasks: Vec::new(),
                open: 0,
                open_times: Latencies::new(),
                errors: vec![format!("bad URL {url}: {e}")],
            }
        }
    };
    let (ready_tx, mut ready_rx) = mpsc::channel::<Result<Duration, String>>(count.max(1));
    let body = request_body(true, false);
    // At most `opening` streams between their request and their first delta (0: no limit).
    let opening = Arc::new(Semaphore::new(if opening == 0 {
        count.max(1)
    } else {
        opening
    }));
    let tasks = (0..count)
        .map(|_| {
            let opening = Arc::clone(&opening);
            let client = client.clone();
            let url = url.clone();
            let body = body.clone();
            let ready = ready_tx.clone();
            let mut release = release_rx.clone();
            tokio::spawn(async move {
                let Ok(permit) = opening.acquire_owned().await else {
                    return;
                };
                let sent = Instant::now();
                let opened = open_one(&client, url, body).await;
                drop(permit);
                let stream = match opened {
                    Ok(s) => {
                        let _ = ready.send(Ok(sent.elapsed())).await;
                        s
                    }
                    Err(e) => {
                        let _ = ready.send(Err(format!("{e:#}"))).await;
                        return;
                    }
                };
                // Keep reading (keep-alive comments) until released.
                let drain = stream.for_each(|_| async {});
                tokio::select! {
                    _ = drain => {}
                    _ = release.wait_for(|r| *r) => {}
                }
            })
        })
        .collect();
    drop(ready_tx);
    let mut open = 0;
    let mut open_times = Latencies::new();
    let mut errors = Vec::new();
    let deadline = Instant::now() + timeout;
    while open + errors.len() < count {
        match tokio::time::timeout_at(deadline, ready_rx.recv()).await {
            Ok(Some(Ok(took))) => {
                open += 1;
                open_times.record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
            }
            Ok(Some(Err(e))) => errors.push(e),
            Ok(None) => break,
            Err(_) => {
                errors.push(format!(
                    "{} streams had no first delta within {} s",
                    count - open - errors.len(),
                    timeout.as_secs()
                ));
                break;
            }
        }
    }
    Held {
        release,
        tasks,
        open,
        open_times,
        errors,
    }
}

type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// Sends one streaming request and reads until its first delta.
async fn open_one(
    client: &reqwest::Client,
    url: reqwest::Url,
    body: Bytes,
) -> anyhow::Result<ByteStream> {
    let response = send(client, url, body).await?;
    let mut stream: ByteStream = Box::pin(response.bytes_stream());
    let mut reader = SseReader::default();
    let mut check = StreamCheck::default();
    let mut ignored = Vec::new();
    while let Some(bytes) = stream.next().await {
        reader.push(&bytes.context("stream broke")?, |e| {
            check.event(e, 0, &mut ignored)
        });
        if let Some(e) = check.error {
            bail!("error event: {e}");
        }
        if check.content > 0 {
            return Ok(stream);
        }
    }
    bail!("the stream ended before its first delta")
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: &str = r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"t100 "},"finish_reason":null}]}"#;
    const SECOND: &str = r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"t150 "},"finish_reason":null}]}"#;
    const FINISH: &str = r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;

    fn answer() -> String {
        format!(": keep-alive\n\n{FIRST}\n\n{SECOND}\n\n{FINISH}\n\ndata: [DONE]\n\n")
    }

    #[test]
    fn reader_splits_events_across_any_split() {
        let text = answer();
        for split in 0..text.len() {
            let mut reader = SseReader::default();
            let mut events = Vec::new();
            reader.push(&text.as_bytes()[..split], |e| events.push(e.to_owned()));
            reader.push(&text.as_bytes()[split..], |e| events.push(e.to_owned()));
            assert_eq!(events.len(), 5, "split at {split}");
            assert_eq!(events[1], FIRST);
            assert_eq!(events[4], "data: [DONE]");
        }
    }

    #[test]
    fn a_complete_answer_passes_and_records_chunk_latency() {
        let mut check = StreamCheck::default();
        let mut chunk = Vec::new();
        let mut reader = SseReader::default();
        reader.push(answer().as_bytes(), |e| check.event(e, 1_000, &mut chunk));
        assert_eq!(check.verify(2).unwrap(), 1_000);
        assert_eq!(chunk, vec![900, 850]);
        assert!(check.verify(3).is_err(), "wrong delta count must fail");
    }

    #[test]
    fn missing_done_or_error_event_fails() {
        let mut chunk = Vec::new();
        let mut check = StreamCheck::default();
        for e in [FIRST, SECOND, FINISH] {
            check.event(e, 1, &mut chunk);
        }
        assert!(check.verify(2).is_err(), "no [DONE]");
        let mut check = StreamCheck::default();
        check.event(FIRST, 1, &mut chunk);
        check.event(
            r#"data: {"error":{"message":"tab lost","type":"upstream_error"}}"#,
            1,
            &mut chunk,
        );
        check.event("data: [DONE]", 1, &mut chunk);
        let err = check.verify(1).unwrap_err().to_string();
        assert!(err.contains("tab lost"), "{err}");
    }

    #[test]
    fn completion_check_counts_words_and_finish() {
        let ok = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"t1 t2 "},"finish_reason":"stop"}]}"#;
        check_completion(ok, 2).unwrap();
        assert!(check_completion(ok, 3).is_err());
        let cut = br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"t1 t2 "},"finish_reason":"length"}]}"#;
        assert!(check_completion(cut, 2).is_err());
        assert!(check_completion(b"{}", 0).is_err());
    }
}
