//! The chaos run of issue 16, shared by `bridge-server`'s `tests/chaos.rs` (the server in the
//! test process) and `bridge-bench --chaos-requests` (the server binary as its own process,
//! so its RSS can be read): concurrent streaming clients while tabs stall, send garbage,
//! disconnect and come back, and clients go away or stop reading, all drawn from one seeded
//! generator. Afterwards: every request ended exactly once (an answer or a clear error), no
//! answer is garbled or mixed with another's (each answer is a function of its prompt), no
//! slot is left taken (in-flight 0, queue 0, every tab idle), and the server still serves.
//!
//! [`run`] talks to the server only over HTTP and WebSockets on a loopback port.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bridge_core::config::keys;
use bridge_core::protocol::FetchRequest;
use serde_json::{json, Value};

use crate::fake_tab::{FakeTab, FakeTabOptions, Handler, Reply};
use crate::sse::sse_data;

/// Marks the request number in a prompt; the fake tabs read it back from the upstream body.
const MARK: &str = "chaos#";
/// Prompts of clients that will stop reading ask for an answer too big for socket buffers.
const BIG: &str = "big";
const BIG_CHUNKS: usize = 1500;
const BIG_CHUNK_BYTES: usize = 2048;

/// The server's first-byte and idle timeouts in a chaos run: short, so stalls end quickly.
pub const FIRST_BYTE_TIMEOUT_SECONDS: u64 = 1;
pub const IDLE_TIMEOUT_SECONDS: u64 = 1;
/// A queued request waits this long; the queue holds every client of a run.
const QUEUE_TIMEOUT_SECONDS: u64 = 10;
const QUEUE_LIMIT: u64 = 1000;

/// How long the server may take to end every request after the last client, and to see the
/// chaos tabs gone.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);
const POLL_EVERY: Duration = Duration::from_millis(20);
/// The tab supervisor's tick, and the chance (percent) that it kills a tab on a tick.
const SUPERVISOR_TICK: Duration = Duration::from_millis(40);
const KILL_PERCENT: u64 = 4;
/// How long a client that goes away reads before it drops the connection.
const GOES_AWAY_AFTER: Duration = Duration::from_millis(50);
/// A client that stops reading holds its connection this much longer than the idle timeout.
const STOPS_READING_MARGIN: Duration = Duration::from_millis(500);
/// Whole-request timeout of a client that reads everything.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);
const CHAT_PATH: &str = "/v1/chat/completions";
const STATUS_PATH: &str = "/status";
/// Bytes of a body or status quoted in a violation.
const QUOTE_CHARS: usize = 300;

/// The config entries of a chaos server: the short timeouts above and a queue that holds
/// every waiting client.
pub fn config_entries() -> Vec<(&'static str, Value)> {
    vec![
        (
            keys::FIRST_BYTE_TIMEOUT_SECONDS,
            json!(FIRST_BYTE_TIMEOUT_SECONDS),
        ),
        (
            keys::STREAM_RESPONSE_TIMEOUT_SECONDS,
            json!(IDLE_TIMEOUT_SECONDS),
        ),
        (keys::QUEUE_TIMEOUT_SECONDS, json!(QUEUE_TIMEOUT_SECONDS)),
        (keys::QUEUE_LIMIT, json!(QUEUE_LIMIT)),
    ]
}

/// The seeded generator: the same seed draws the same faults, though which request meets
/// which fault follows the scheduler, so a failing seed is worth rerunning.
type Rng = fastrand::Rng;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Faults injected, by kind.
#[derive(Debug, Default)]
struct Faults(Mutex<BTreeMap<&'static str, u64>>);

impl Faults {
    fn add(&self, kind: &'static str) {
        *lock(&self.0).entry(kind).or_insert(0) += 1;
    }

    fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        lock(&self.0).clone()
    }
}

/// The answer text a request must get: made from its number, so another request's text in
/// it, a lost piece or a doubled one shows.
fn expected_answer(n: u64) -> String {
    answer_pieces(n, false).concat()
}

fn answer_pieces(n: u64, big: bool) -> Vec<String> {
    if big {
        let pad = "x".repeat(BIG_CHUNK_BYTES);
        (0..BIG_CHUNKS).map(|i| format!("{n}.{i}{pad} ")).collect()
    } else {
        (0..3 + n % 4).map(|i| format!("{n}.{i} ")).collect()
    }
}

fn stream_lines(pieces: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = pieces
        .iter()
        .map(|p| format!("a0:{}\n", Value::String(p.clone())))
        .collect();
    lines.push("ad:{\"finishReason\":\"stop\"}\n".to_owned());
    lines
}

/// The request number and size named in an upstream body.
fn prompt_of(fetch: &FetchRequest) -> Option<(u64, bool)> {
    let at = fetch.body.find(MARK)? + MARK.len();
    let digits: String = fetch.body[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let n = digits.parse().ok()?;
    let big = fetch.body[at + digits.len()..].starts_with(BIG);
    Some((n, big))
}

/// The right answer to a chaos prompt, for a well-behaved tab.
fn good_reply(fetch: &FetchRequest) -> Reply {
    match prompt_of(fetch) {
        Some((n, big)) => Reply::chunks(stream_lines(&answer_pieces(n, big))),
        None => Reply::NetworkError("no chaos mark in the request".to_owned()),
    }
}

const GARBAGE: &[&str] = &[
    "not json at all",
    "{\"type\":\"chunk\"}",
    "{\"type\":\"chunk\",\"id\":1152921504606846976,\"data\":\"a0:\\\"stray\\\"\\n\"}",
    "{\"type\":\"done\",\"id\":1152921504606846977}",
    "{\"type\":\"nonsense\",\"id\":3}",
    "{\"type\":\"hello\",\"protocol\":2,\"tab_id\":\"again\"}",
    "[1,2,3]",
    "{\"type\":\"error\",\"message\":\"tab-level complaint\"}",
    "\u{0}\u{1}\u{7f}",
];

/// How a chaos tab answers one fetch: mostly right, sometimes not at all (never wrong when
/// `inject` is off).
fn chaos_reply(rng: &Mutex<Rng>, faults: &Faults, inject: bool, fetch: &FetchRequest) -> Reply {
    let Some((n, big)) = prompt_of(fetch) else {
        return Reply::NetworkError("no chaos mark in the request".to_owned());
    };
    let lines = stream_lines(&answer_pieces(n, big));
    let half = lines[..lines.len() / 2].to_vec();
    let (roll, pick, delay) = {
        let mut rng = lock(rng);
        (rng.u64(..100), rng.usize(..GARBAGE.len()), rng.u64(..4))
    };
    let normal = Reply::Stream {
        status: 200,
        headers: BTreeMap::from([("content-type".into(), "text/event-stream".into())]),
        chunks: lines,
        delay: if big {
            Duration::ZERO
        } else {
            Duration::from_millis(delay)
        },
    };
    if !inject {
        return normal;
    }
    match roll {
        0..=5 => {
            faults.add("tab_stalls_before_answering");
            Reply::Hang
        }
        6..=10 => {
            faults.add("tab_stalls_mid_answer");
            Reply::StreamThenHang(half)
        }
        11..=15 => {
            faults.add("tab_disconnects_mid_answer");
            Reply::StreamThenDisconnect(half)
        }
        16..=19 => {
            faults.add("tab_disconnects_before_answering");
            Reply::Disconnect
        }
        20..=31 => {
            faults.add("tab_sends_garbage");
            Reply::RawThen(GARBAGE[pick].to_owned(), Box::new(normal))
        }
        _ => normal,
    }
}

/// What one client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientPlan {
    /// Streams and reads everything.
    Reads,
    /// Asks for one JSON answer.
    Whole,
    /// Streams, reads a little, goes away.
    GoesAway,
    /// Streams a big answer and stops reading (longer than the idle timeout), then goes away.
    StopsReading,
}

/// How a fully read answer ended; anything else is a violation.
#[derive(Debug)]
enum Ending {
    Answered,
    Error(String),
    /// 408 from the HTTP layer: the request head was not read in time (a starved machine),
    /// so the bridge never saw the request.
    NeverReceived,
}

fn quote(text: &str) -> String {
    text.chars().take(QUOTE_CHARS).collect()
}

/// Checks a streamed body: exactly one `[DONE]`, last; then either the whole expected text
/// with one finish reason, or one error event after a prefix of it.
fn check_stream(n: u64, body: &str) -> Result<Ending, String> {
    let data = sse_data(body);
    let dones = data.iter().filter(|d| *d == "[DONE]").count();
    if dones != 1 || data.last().map(String::as_str) != Some("[DONE]") {
        return Err(format!("#{n}: {dones} [DONE], not last: {}", quote(body)));
    }
    let mut content = String::new();
    let mut finishes = 0;
    let mut errors = Vec::new();
    for d in &data[..data.len() - 1] {
        let v: Value = serde_json::from_str(d).map_err(|e| format!("#{n}: bad SSE json {e}"))?;
        if let Some(err) = v.get("error") {
            errors.push(err["message"].as_str().unwrap_or_default().to_owned());
            continue;
        }
        let choice = &v["choices"][0];
        if let Some(t) = choice["delta"]["content"].as_str() {
            content.push_str(t);
        }
        if choice["finish_reason"].is_string() {
            finishes += 1;
        }
    }
    let expected = expected_answer(n);
    match (finishes, errors.as_slice()) {
        (1, []) if content == expected => Ok(Ending::Answered),
        (0, [message]) if expected.starts_with(&content) && !message.is_empty() => {
            Ok(Ending::Error(message.clone()))
        }
        _ => Err(format!(
            "#{n}: {finishes} finish reasons, errors {errors:?}, content {:?} (want {expected:?})",
            quote(&content)
        )),
    }
}

/// Checks an answer that is not a 200 stream: a 200 completion with the expected text, or an
/// OpenAI error object with a message.
fn check_whole(n: u64, status: u16, body: &str) -> Result<Ending, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("#{n}: {status} body {e}"))?;
    if status == 200 {
        let content = v["choices"][0]["message"]["content"].as_str();
        if content == Some(expected_answer(n).as_str())
            && v["choices"][0]["finish_reason"] == "stop"
        {
            return Ok(Ending::Answered);
        }
        return Err(format!("#{n}: wrong answer {}", quote(&v.to_string())));
    }
    match v["error"]["message"].as_str() {
        Some(m) if !m.is_empty() && status >= 400 => Ok(Ending::Error(m.to_owned())),
        _ => Err(format!(
            "#{n}: {status} without an error message: {}",
            quote(body)
        )),
    }
}

/// The chaos server: where it listens and the model its pool serves.
#[derive(Debug, Clone)]
struct Target {
    base: String,
    port: u16,
    model: String,
    http: reqwest::Client,
}

impl Target {
    async fn status(&self) -> Result<Value, String> {
        let res = self
            .http
            .get(format!("{}{STATUS_PATH}", self.base))
            .send()
            .await
            .map_err(|e| format!("GET {STATUS_PATH} failed: {e}"))?;
        if !res.status().is_success() {
            return Err(format!("GET {STATUS_PATH} answered {}", res.status()));
        }
        res.json()
            .await
            .map_err(|e| format!("GET {STATUS_PATH} is not JSON: {e}"))
    }

    /// Polls `/status` until `pred` holds (at most [`SETTLE_TIMEOUT`]); returns the last
    /// answer, or a violation naming `what`.
    async fn poll_status(
        &self,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value, String> {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        loop {
            let v = self.status().await?;
            if pred(&v) {
                return Ok(v);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} s after the last client, still waiting for {what}: {}",
                    SETTLE_TIMEOUT.as_secs(),
                    quote(&v.to_string())
                ));
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    async fn client(&self, n: u64, plan: ClientPlan) -> Result<Ending, String> {
        let big = plan == ClientPlan::StopsReading;
        let stream = plan != ClientPlan::Whole;
        let prompt = format!("{MARK}{n}{}", if big { BIG } else { "" });
        let body = json!({
            "model": self.model,
            "stream": stream,
            "messages": [{"role": "user", "content": prompt}],
        });
        let res = self
            .http
            .post(format!("{}{CHAT_PATH}", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("#{n}: request failed: {e}"))?;
        let status = res.status().as_u16();
        if status == 408 {
            return Ok(Ending::NeverReceived);
        }
        match plan {
            ClientPlan::GoesAway => {
                let mut res = res;
                let _ = tokio::time::timeout(GOES_AWAY_AFTER, res.chunk()).await;
                drop(res);
                Ok(Ending::Error("client went away".to_owned()))
            }
            ClientPlan::StopsReading => {
                // Hold the connection without reading for longer than the idle timeout.
                let idle = Duration::from_secs(IDLE_TIMEOUT_SECONDS);
                tokio::time::sleep(idle + STOPS_READING_MARGIN).await;
                drop(res);
                Ok(Ending::Error("client stopped reading".to_owned()))
            }
            ClientPlan::Reads | ClientPlan::Whole => {
                let body = res
                    .text()
                    .await
                    .map_err(|e| format!("#{n}: reading the body failed: {e}"))?;
                if stream && status == 200 {
                    check_stream(n, &body)
                } else {
                    check_whole(n, status, &body)
                }
            }
        }
    }
}

/// One chaos round.
#[derive(Debug, Clone)]
pub struct ChaosPlan {
    pub seed: u64,
    pub requests: u64,
    /// Clients at a time.
    pub concurrency: usize,
    /// Chaos tabs kept connected.
    pub tabs: usize,
    /// The model the clients ask for (its pool should have a session per client or more).
    pub model: String,
    /// Inject faults; off, the same round is a clean load (a warm-up).
    pub faults: bool,
}

/// What a round did and found.
#[derive(Debug, Default)]
pub struct ChaosReport {
    pub requests: u64,
    pub faults: BTreeMap<&'static str, u64>,
    pub answered: u64,
    /// Clear errors the clients got, by message (cut to 48 characters), and the clients that
    /// left on purpose.
    pub errors: BTreeMap<String, u64>,
    /// Refused with 408 by the HTTP layer before the bridge saw them (a starved machine).
    pub never_received: u64,
    /// The server's `counts.by_outcome` after the round (cumulative).
    pub outcomes: Value,
    pub violations: Vec<String>,
    pub elapsed: Duration,
}

impl ChaosReport {
    pub fn faults_total(&self) -> u64 {
        self.faults.values().sum()
    }

    pub fn errors_total(&self) -> u64 {
        self.errors.values().sum()
    }

    /// One line of figures.
    pub fn summary(&self) -> String {
        format!(
            "{} requests in {:.1?}; faults injected {} {:?}; answered {}; clear errors {} {:?}; \
             refused by the HTTP layer before the bridge saw them (408) {}; outcomes {}; \
             violations {}",
            self.requests,
            self.elapsed,
            self.faults_total(),
            self.faults,
            self.answered,
            self.errors_total(),
            self.errors,
            self.never_received,
            self.outcomes,
            self.violations.len()
        )
    }
}

fn counted(status: &Value) -> (u64, u64) {
    let total = status["counts"]["total"].as_u64().unwrap_or_default();
    let outcomes = status["counts"]["by_outcome"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or_default();
    (total, outcomes)
}

fn settled(status: &Value) -> bool {
    status["in_flight"].as_array().is_some_and(Vec::is_empty)
        && status["queue"] == 0
        && status["tabs"]
            .as_array()
            .is_some_and(|t| t.iter().all(|t| t["in_flight"] == 0))
}

/// Runs one chaos round against the server on loopback `port` and checks the invariants.
/// Network failures of the harness itself are reported as violations, never panics.
pub async fn run(port: u16, plan: &ChaosPlan) -> ChaosReport {
    let mut report = ChaosReport {
        requests: plan.requests,
        ..ChaosReport::default()
    };
    let http = match reqwest::Client::builder()
        .timeout(CLIENT_TIMEOUT)
        // A connection per request, as separate clients would have.
        .pool_max_idle_per_host(0)
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            report.violations.push(format!("no HTTP client: {e}"));
            return report;
        }
    };
    let target = Target {
        base: format!("http://127.0.0.1:{port}"),
        port,
        model: plan.model.clone(),
        http,
    };
    let before = match target.status().await {
        Ok(v) => counted(&v),
        Err(e) => {
            report.violations.push(e);
            return report;
        }
    };
    let faults = Arc::new(Faults::default());
    let rng = Arc::new(Mutex::new(Rng::with_seed(plan.seed)));
    let started = Instant::now();
    let tabs = supervise_tabs(&target, plan, &faults, &rng).await;
    let results = drive_clients(&target, plan, &faults, &rng).await;
    report.elapsed = started.elapsed();
    for (plan, result) in results {
        match result {
            Ok(Ending::Answered) => report.answered += 1,
            Ok(Ending::NeverReceived) => report.never_received += 1,
            Ok(Ending::Error(m)) => {
                let key = if matches!(plan, ClientPlan::GoesAway | ClientPlan::StopsReading) {
                    m
                } else {
                    m.chars().take(48).collect()
                };
                *report.errors.entry(key).or_insert(0) += 1;
            }
            Err(v) => report.violations.push(v),
        }
    }
    let tabs = match tabs {
        Ok(supervisor) => supervisor.stop().await,
        Err(e) => {
            report.violations.push(e);
            Vec::new()
        }
    };
    report.faults = faults.snapshot();
    let received = plan.requests.saturating_sub(report.never_received);

    // No slot, queue place or request left behind; every request ended exactly once.
    match target
        .poll_status("every request to end", |v| {
            settled(v) && counted(v).0 == before.0 + received
        })
        .await
    {
        Ok(status) => {
            let outcomes = counted(&status).1.saturating_sub(before.1);
            if outcomes != received {
                report.violations.push(format!(
                    "{outcomes} outcomes for {received} requests received"
                ));
            }
            report.outcomes = status["counts"]["by_outcome"].clone();
        }
        Err(e) => report.violations.push(e),
    }

    // The server still serves: a well-behaved tab answers the next request exactly.
    drop(tabs);
    if let Err(e) = target
        .poll_status("the chaos tabs to leave", |v| {
            v["tabs"].as_array().is_some_and(Vec::is_empty)
        })
        .await
    {
        report.violations.push(e);
    }
    let handler: Handler = Arc::new(good_reply);
    match FakeTab::connect(FakeTabOptions::new(port), handler).await {
        Ok(healthy) => {
            match target.client(plan.requests + 1, ClientPlan::Whole).await {
                Ok(Ending::Answered) => {}
                other => report
                    .violations
                    .push(format!("the server no longer serves: {other:?}")),
            }
            healthy.close().await;
        }
        Err(e) => report
            .violations
            .push(format!("a healthy tab cannot connect after the round: {e}")),
    }
    report
}

/// The chaos tabs and the task that keeps them coming back.
struct Supervisor {
    done: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<Vec<FakeTab>>,
}

impl Supervisor {
    async fn stop(self) -> Vec<FakeTab> {
        self.done.notify_one();
        self.task.await.unwrap_or_default()
    }
}

/// Connects `plan.tabs` chaos tabs and keeps them coming back: closed ones reconnect, and
/// with faults on, now and then one is killed.
async fn supervise_tabs(
    target: &Target,
    plan: &ChaosPlan,
    faults: &Arc<Faults>,
    rng: &Arc<Mutex<Rng>>,
) -> Result<Supervisor, String> {
    // Tabs connect without waiting to be counted: others may leave at the same moment.
    let connect = {
        let port = target.port;
        let faults = faults.clone();
        let rng = rng.clone();
        let inject = plan.faults;
        move || {
            let faults = faults.clone();
            let rng = rng.clone();
            let handler: Handler = Arc::new(move |fetch| chaos_reply(&rng, &faults, inject, fetch));
            async move { FakeTab::connect(FakeTabOptions::new(port), handler).await }
        }
    };
    let mut tabs: Vec<FakeTab> = Vec::new();
    for _ in 0..plan.tabs {
        tabs.push(
            connect()
                .await
                .map_err(|e| format!("a chaos tab cannot connect: {e}"))?,
        );
    }
    let done = Arc::new(tokio::sync::Notify::new());
    let task = {
        let done = done.clone();
        let faults = faults.clone();
        let rng = rng.clone();
        let (count, inject) = (plan.tabs, plan.faults);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = done.notified() => break,
                    _ = tokio::time::sleep(SUPERVISOR_TICK) => {}
                }
                let kill = inject
                    .then(|| {
                        let mut rng = lock(&rng);
                        (rng.u64(..100) < KILL_PERCENT && !tabs.is_empty())
                            .then(|| rng.usize(..tabs.len()))
                    })
                    .flatten();
                if let Some(i) = kill {
                    faults.add("tab_killed");
                    tabs.remove(i).close().await;
                }
                tabs.retain(|t| !t.is_closed());
                // Like the userscript, a tab whose handshake fails tries again on the next tick.
                while tabs.len() < count {
                    faults.add("tab_reconnects");
                    match connect().await {
                        Ok(tab) => tabs.push(tab),
                        Err(e) => {
                            eprintln!("chaos: a tab could not reconnect ({e}); trying again");
                            break;
                        }
                    }
                }
            }
            tabs
        })
    };
    Ok(Supervisor { done, task })
}

/// Runs `plan.requests` clients, `plan.concurrency` at a time; returns each one's plan and
/// ending.
async fn drive_clients(
    target: &Target,
    plan: &ChaosPlan,
    faults: &Faults,
    rng: &Mutex<Rng>,
) -> Vec<(ClientPlan, Result<Ending, String>)> {
    let plans: Vec<ClientPlan> = {
        let mut rng = lock(rng);
        (0..plan.requests)
            .map(|_| match rng.u64(..100) {
                0..=9 if plan.faults => ClientPlan::GoesAway,
                10..=15 if plan.faults => ClientPlan::StopsReading,
                0..=35 => ClientPlan::Whole,
                _ => ClientPlan::Reads,
            })
            .collect()
    };
    for p in &plans {
        match p {
            ClientPlan::GoesAway => faults.add("client_goes_away"),
            ClientPlan::StopsReading => faults.add("client_stops_reading"),
            ClientPlan::Reads | ClientPlan::Whole => {}
        }
    }
    let plans = Arc::new(plans);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..plan.concurrency.max(1) {
        let plans = plans.clone();
        let next = next.clone();
        let target = target.clone();
        workers.push(tokio::spawn(async move {
            let mut results = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(&plan) = plans.get(i) else { break };
                results.push((plan, target.client(i as u64, plan).await));
            }
            results
        }));
    }
    let mut results = Vec::new();
    for worker in workers {
        match worker.await {
            Ok(r) => results.extend(r),
            Err(e) => results.push((ClientPlan::Reads, Err(format!("a client task died: {e}")))),
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mixed_or_short_answer_is_a_violation() {
        let event = |text: &str, finish: Option<&str>| {
            let v = json!({"choices": [{"delta": {"content": text}, "finish_reason": finish}]});
            format!("data: {v}\n\n")
        };
        let whole: String = answer_pieces(5, false)
            .iter()
            .map(|p| event(p, None))
            .collect();
        let good = format!("{whole}{}data: [DONE]\n\n", event("", Some("stop")));
        assert!(matches!(check_stream(5, &good), Ok(Ending::Answered)));
        // Another request's answer, a missing [DONE] and a finish without the whole text fail.
        assert!(check_stream(6, &good).is_err());
        assert!(check_stream(5, &whole).is_err());
        let short = format!(
            "{}{}data: [DONE]\n\n",
            event("5.0 ", None),
            event("", Some("stop"))
        );
        assert!(check_stream(5, &short).is_err());
        let error = format!(
            "{}data: {}\n\ndata: [DONE]\n\n",
            event("5.0 ", None),
            json!({"error": {"message": "tab went away"}})
        );
        assert!(matches!(check_stream(5, &error), Ok(Ending::Error(_))));
    }
}
