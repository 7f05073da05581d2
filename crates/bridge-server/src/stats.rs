//! What the server has been doing, for `/status` and `/metrics`: requests in flight, a ring of
//! recent requests, counts by outcome, upstream statuses, unknown upstream line types, client
//! aborts, and the result of the background update check.
//!
//! Every [`Stats`] owns its own Prometheus recorder (no global recorder: tests run many
//! servers in one process) and records into it with `metrics::with_local_recorder`.
//!
//! A request is followed by a [`RequestTrack`], a handle passed explicitly to whoever learns a
//! fact about it: the relay job notes the tab and the upstream bytes, the answer task notes the
//! first token and the outcome. Each fact is recorded in one place. A track dropped before an
//! outcome was noted is a client abort (or a cut at shutdown).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use serde::Serialize;

use crate::pool::{ConnId, TabSnapshot, TabState};

/// Requests kept in the recent list.
pub(crate) const RECENT_LIMIT: usize = 50;
/// Distinct unknown line types kept; further ones count under [`OTHER_KEY`].
pub(crate) const UNKNOWN_TYPES_LIMIT: usize = 64;
/// Key for unknown line types past the limit, and for network failures without a status.
pub(crate) const OTHER_KEY: &str = "other";
/// Longest model name kept for /status (names come from clients).
const MODEL_NAME_LIMIT: usize = 120;
/// Histograms are drained into their buckets every this many finished requests, so samples do
/// not pile up when nobody scrapes.
const UPKEEP_EVERY: u64 = 64;
/// Bucket bounds (seconds) of the latency and time-to-first-token histograms.
const SECONDS_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Metric names (see README-ops-section.md for the list with meanings).
pub(crate) mod names {
    pub(crate) const REQUESTS: &str = "bridge_requests_total";
    pub(crate) const REQUEST_DURATION: &str = "bridge_request_duration_seconds";
    pub(crate) const FIRST_TOKEN: &str = "bridge_time_to_first_token_seconds";
    pub(crate) const IN_FLIGHT: &str = "bridge_requests_in_flight";
    pub(crate) const CLIENT_ABORTS: &str = "bridge_client_aborts_total";
    pub(crate) const TABS: &str = "bridge_tabs";
    pub(crate) const TAB_CONNECTIONS: &str = "bridge_tab_connections_total";
    pub(crate) const TAB_MALFORMED_FRAMES: &str = "bridge_tab_malformed_frames_total";
    pub(crate) const QUEUE_LENGTH: &str = "bridge_queue_length";
    pub(crate) const UPSTREAM_RESPONSES: &str = "bridge_upstream_responses_total";
    pub(crate) const UPSTREAM_BYTES: &str = "bridge_upstream_bytes_total";
    pub(crate) const UNKNOWN_LINES: &str = "bridge_upstream_unknown_lines_total";
    pub(crate) const FRESH_FALLBACKS: &str = "bridge_evaluation_fallbacks_total";
    pub(crate) const UPTIME: &str = "bridge_uptime_seconds";
    pub(crate) const BUILD_INFO: &str = "bridge_build_info";
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    Ok,
    /// The client sent something the bridge or LMArena refused (4xx).
    Invalid,
    NoTab,
    QueueFull,
    QueueTimeout,
    /// LMArena answered 429.
    RateLimited,
    /// LMArena failed, answered nothing usable, or the tab lost the answer (502).
    UpstreamError,
    /// A tab or challenge made LMArena unavailable (other 503s).
    Unavailable,
    Timeout,
    /// The client went away before the answer was complete.
    Aborted,
    /// The server shut down during the answer.
    Shutdown,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Invalid => "invalid",
            Outcome::NoTab => "no_tab",
            Outcome::QueueFull => "queue_full",
            Outcome::QueueTimeout => "queue_timeout",
            Outcome::RateLimited => "rate_limited",
            Outcome::UpstreamError => "upstream_error",
            Outcome::Unavailable => "unavailable",
            Outcome::Timeout => "timeout",
            Outcome::Aborted => "aborted",
            Outcome::Shutdown => "shutdown",
        }
    }
}

/// A request in flight, for /status.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LiveRequest {
    pub id: String,
    pub model: String,
    /// Connection id of the tab running it; `None` while it waits for a tab.
    pub tab: Option<ConnId>,
    pub stream: bool,
    pub age_ms: u64,
    /// Upstream body bytes received so far.
    pub bytes: u64,
    pub ttft_ms: Option<u64>,
}

/// A finished request, for /status.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FinishedRequest {
    pub id: String,
    pub model: String,
    pub tab: Option<ConnId>,
    pub stream: bool,
    pub outcome: Outcome,
    /// HTTP status the client got (or would have got, for aborts: 499).
    pub status: u16,
    pub duration_ms: u64,
    pub ttft_ms: Option<u64>,
    pub bytes: u64,
    /// Unix time (seconds) it ended.
    pub ended_at: i64,
}

/// What the last background update check found (`update.state` on /status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum UpdateState {
    UpToDate,
    Available,
    Installed,
    /// The release server could not be asked (offline, blocked, slow): not a problem to show
    /// loudly, the server works as before.
    CheckFailed,
    /// A newer release was found but installing it failed.
    InstallFailed,
}

/// The last background update check, for /status and the page.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct UpdateInfo {
    pub state: UpdateState,
    pub current: String,
    pub latest: Option<String>,
    pub message: String,
}

/// Everything /status shows about requests.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StatsSnapshot {
    pub in_flight: Vec<LiveRequest>,
    /// Newest first.
    pub recent: Vec<FinishedRequest>,
    pub total: u64,
    pub outcomes: BTreeMap<&'static str, u64>,
    pub client_aborts: u64,
    /// Evaluation continuations LMArena refused, sent again as a fresh conversation.
    pub fresh_fallbacks: u64,
    /// Bridge conversations deleted from the person's history (`evaluation_cleanup`), and
    /// deletions that failed.
    pub cleanup: CleanupCounts,
    pub upstream_statuses: BTreeMap<String, u64>,
    pub unknown_line_types: BTreeMap<String, u64>,
    pub update: Option<UpdateInfo>,
}

/// Outcomes of `evaluation_cleanup` deletions.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct CleanupCounts {
    pub(crate) deleted: u64,
    pub(crate) failed: u64,
}

#[derive(Debug)]
struct Live {
    id: String,
    model: String,
    stream: bool,
    started: Instant,
    tab: Option<ConnId>,
    /// Shared with the request's track, which adds to it without taking the book's lock.
    bytes: Arc<AtomicU64>,
    first_token: Option<Duration>,
}

#[derive(Debug, Default)]
struct Book {
    next: u64,
    live: BTreeMap<u64, Live>,
    recent: VecDeque<FinishedRequest>,
    total: u64,
    outcomes: BTreeMap<&'static str, u64>,
    client_aborts: u64,
    fresh_fallbacks: u64,
    cleanup: CleanupCounts,
    upstream_statuses: BTreeMap<String, u64>,
    unknown_types: BTreeMap<String, u64>,
    update: Option<UpdateInfo>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    book: Mutex<Book>,
    /// Notified whenever a request ends, for [`Stats::wait_until_idle`].
    ended: Condvar,
    shutting_down: AtomicBool,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats").finish_non_exhaustive()
    }
}

/// Cloneable handle to the statistics of one server.
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    inner: Arc<Inner>,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    pub(crate) fn new() -> Self {
        let builder = PrometheusBuilder::new()
            .set_buckets(SECONDS_BUCKETS)
            .unwrap_or_else(|e| {
                tracing::warn!("metrics buckets rejected ({e}); histograms become summaries");
                PrometheusBuilder::new()
            });
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let stats = Self {
            inner: Arc::new(Inner {
                recorder,
                handle,
                book: Mutex::new(Book::default()),
                ended: Condvar::new(),
                shutting_down: AtomicBool::new(false),
            }),
        };
        stats.describe();
        stats
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        self.inner.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.inner.recorder, f)
    }

    fn describe(&self) {
        use metrics::Unit;
        self.record(|| {
            metrics::describe_counter!(
                names::REQUESTS,
                "Requests dispatched to LMArena, by model and outcome."
            );
            metrics::describe_histogram!(
                names::REQUEST_DURATION,
                Unit::Seconds,
                "Time from request to the end of the answer, by model."
            );
            metrics::describe_histogram!(
                names::FIRST_TOKEN,
                Unit::Seconds,
                "Time from request to the first answer token, by model."
            );
            metrics::describe_gauge!(names::IN_FLIGHT, "Requests being answered or waiting.");
            metrics::describe_counter!(
                names::CLIENT_ABORTS,
                "Requests whose client went away before the answer was complete."
            );
            metrics::describe_gauge!(names::TABS, "Connected LMArena tabs, by state.");
            metrics::describe_counter!(names::TAB_CONNECTIONS, "Tabs that said hello.");
            metrics::describe_counter!(
                names::TAB_MALFORMED_FRAMES,
                "Frames from tabs that were not valid relay messages (skipped)."
            );
            metrics::describe_gauge!(names::QUEUE_LENGTH, "Requests waiting for a free tab.");
            metrics::describe_counter!(
                names::UPSTREAM_RESPONSES,
                "LMArena response statuses seen by the tabs (\"other\": no status, network error)."
            );
            metrics::describe_counter!(
                names::UPSTREAM_BYTES,
                Unit::Bytes,
                "Upstream body bytes relayed by the tabs."
            );
            metrics::describe_counter!(
                names::UNKNOWN_LINES,
                "Upstream stream lines of a type the parser does not know, by line prefix."
            );
            metrics::describe_counter!(
                names::FRESH_FALLBACKS,
                "Evaluation continuations LMArena refused, sent again as a fresh conversation."
            );
            metrics::describe_gauge!(names::UPTIME, Unit::Seconds, "Seconds since start.");
            metrics::describe_gauge!(names::BUILD_INFO, "Always 1; the version is a label.");
        });
    }

    /// Starts following a request for `model`; `id` is the request id of the log line.
    pub(crate) fn begin(&self, id: &str, model: &str, stream: bool) -> RequestTrack {
        let model = truncate(model, MODEL_NAME_LIMIT);
        let bytes = Arc::new(AtomicU64::new(0));
        let seq = {
            let mut book = self.book();
            book.next += 1;
            let seq = book.next;
            book.live.insert(
                seq,
                Live {
                    id: id.to_owned(),
                    model: model.clone(),
                    stream,
                    started: Instant::now(),
                    tab: None,
                    bytes: bytes.clone(),
                    first_token: None,
                },
            );
            seq
        };
        RequestTrack {
            inner: Arc::new(TrackInner {
                stats: self.clone(),
                seq,
                bytes,
                first_token_seen: AtomicBool::new(false),
                finished: AtomicBool::new(false),
            }),
        }
    }

    fn with_live(&self, seq: u64, f: impl FnOnce(&mut Live)) {
        if let Some(live) = self.book().live.get_mut(&seq) {
            f(live);
        }
    }

    fn end(&self, seq: u64, outcome: Outcome, status: u16) {
        let finished = {
            let mut book = self.book();
            let Some(live) = book.live.remove(&seq) else {
                return;
            };
            let finished = FinishedRequest {
                id: live.id,
                model: live.model,
                tab: live.tab,
                stream: live.stream,
                outcome,
                status,
                duration_ms: millis(live.started.elapsed()),
                ttft_ms: live.first_token.map(millis),
                bytes: live.bytes.load(Ordering::Relaxed),
                ended_at: crate::clock::unix_now(),
            };
            book.total += 1;
            *book.outcomes.entry(outcome.as_str()).or_insert(0) += 1;
            if outcome == Outcome::Aborted {
                book.client_aborts += 1;
            }
            if book.recent.len() >= RECENT_LIMIT {
                book.recent.pop_back();
            }
            book.recent.push_front(finished.clone());
            (finished, book.total)
        };
        self.inner.ended.notify_all();
        let (f, total) = finished;
        let duration = Duration::from_millis(f.duration_ms).as_secs_f64();
        self.record(|| {
            metrics::counter!(names::UPSTREAM_BYTES).increment(f.bytes);
            metrics::counter!(names::REQUESTS, "model" => f.model.clone(), "outcome" => outcome.as_str())
                .increment(1);
            metrics::histogram!(names::REQUEST_DURATION, "model" => f.model.clone()).record(duration);
            if let Some(ttft) = f.ttft_ms {
                metrics::histogram!(names::FIRST_TOKEN, "model" => f.model.clone())
                    .record(Duration::from_millis(ttft).as_secs_f64());
            }
            if outcome == Outcome::Aborted {
                metrics::counter!(names::CLIENT_ABORTS).increment(1);
            }
        });
        if total % UPKEEP_EVERY == 0 {
            self.inner.handle.run_upkeep();
        }
    }

    /// A response head (or a failure with a status) from LMArena; `None` is a network failure.
    pub(crate) fn upstream_status(&self, status: Option<u16>) {
        let key = status.map_or_else(|| OTHER_KEY.to_owned(), |s| s.to_string());
        *self
            .book()
            .upstream_statuses
            .entry(key.clone())
            .or_insert(0) += 1;
        self.record(|| metrics::counter!(names::UPSTREAM_RESPONSES, "status" => key).increment(1));
    }

    /// Adds a finished job's unknown line types.
    pub(crate) fn unknown_lines(&self, unknown_types: &BTreeMap<String, u64>) {
        if unknown_types.is_empty() {
            return;
        }
        let mut counted = Vec::new();
        {
            let mut book = self.book();
            for (key, n) in unknown_types {
                let key = if book.unknown_types.contains_key(key)
                    || book.unknown_types.len() < UNKNOWN_TYPES_LIMIT
                {
                    truncate(key, 32)
                } else {
                    OTHER_KEY.to_owned()
                };
                *book.unknown_types.entry(key.clone()).or_insert(0) += n;
                counted.push((key, *n));
            }
        }
        self.record(|| {
            for (key, n) in counted {
                metrics::counter!(names::UNKNOWN_LINES, "type" => key).increment(n);
            }
        });
    }

    /// A refused continuation was sent again as a fresh conversation.
    pub(crate) fn fresh_fallback(&self) {
        self.book().fresh_fallbacks += 1;
        self.record(|| metrics::counter!(names::FRESH_FALLBACKS).increment(1));
    }

    /// A bridge conversation was deleted upstream (`ok`) or its deletion failed.
    pub(crate) fn cleanup(&self, ok: bool) {
        let mut book = self.book();
        if ok {
            book.cleanup.deleted += 1;
        } else {
            book.cleanup.failed += 1;
        }
    }

    pub(crate) fn tab_connected(&self) {
        self.record(|| metrics::counter!(names::TAB_CONNECTIONS).increment(1));
    }

    pub(crate) fn malformed_frame(&self) {
        self.record(|| metrics::counter!(names::TAB_MALFORMED_FRAMES).increment(1));
    }

    /// From now on, unfinished requests end as [`Outcome::Shutdown`].
    pub(crate) fn note_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Relaxed);
    }

    pub(crate) fn set_update(&self, info: UpdateInfo) {
        self.book().update = Some(info);
    }

    /// Requests in flight right now.
    pub(crate) fn in_flight(&self) -> usize {
        self.book().live.len()
    }

    /// Blocks the calling (non-async) thread until no request is in flight, at most `limit`;
    /// true when idle.
    pub(crate) fn wait_until_idle(&self, limit: Duration) -> bool {
        let book = self.book();
        let (book, _) = self
            .inner
            .ended
            .wait_timeout_while(book, limit, |b| !b.live.is_empty())
            .unwrap_or_else(|p| p.into_inner());
        book.live.is_empty()
    }

    pub(crate) fn snapshot(&self) -> StatsSnapshot {
        let book = self.book();
        let now = Instant::now();
        StatsSnapshot {
            in_flight: book
                .live
                .values()
                .map(|l| LiveRequest {
                    id: l.id.clone(),
                    model: l.model.clone(),
                    tab: l.tab,
                    stream: l.stream,
                    age_ms: millis(now.duration_since(l.started)),
                    bytes: l.bytes.load(Ordering::Relaxed),
                    ttft_ms: l.first_token.map(millis),
                })
                .collect(),
            recent: book.recent.iter().cloned().collect(),
            total: book.total,
            outcomes: book.outcomes.clone(),
            client_aborts: book.client_aborts,
            fresh_fallbacks: book.fresh_fallbacks,
            cleanup: book.cleanup,
            upstream_statuses: book.upstream_statuses.clone(),
            unknown_line_types: book.unknown_types.clone(),
            update: book.update.clone(),
        }
    }

    /// Prometheus text: the recorded series plus gauges taken now from the pool.
    pub(crate) fn render_prometheus(
        &self,
        tabs: &[TabSnapshot],
        queue: usize,
        uptime: Duration,
    ) -> String {
        let in_flight = self.in_flight();
        self.record(|| {
            for state in TabState::ALL {
                let n = tabs.iter().filter(|t| t.state == state).count();
                metrics::gauge!(names::TABS, "state" => tab_state_label(state)).set(n as f64);
            }
            metrics::gauge!(names::QUEUE_LENGTH).set(queue as f64);
            metrics::gauge!(names::IN_FLIGHT).set(in_flight as f64);
            metrics::gauge!(names::UPTIME).set(uptime.as_secs_f64().floor());
            metrics::gauge!(names::BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        });
        self.inner.handle.render()
    }
}

fn tab_state_label(state: TabState) -> &'static str {
    match state {
        TabState::Ready => "ready",
        TabState::Busy => "busy",
        TabState::Challenged => "challenged",
        TabState::CoolingDown => "cooling_down",
        TabState::NeedsHuman => "needs_human",
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[derive(Debug)]
struct TrackInner {
    stats: Stats,
    seq: u64,
    bytes: Arc<AtomicU64>,
    first_token_seen: AtomicBool,
    finished: AtomicBool,
}

impl Drop for TrackInner {
    fn drop(&mut self) {
        if !self.finished.swap(true, Ordering::AcqRel) {
            let (outcome, status) = if self.stats.inner.shutting_down.load(Ordering::Relaxed) {
                (Outcome::Shutdown, 503)
            } else {
                // 499: nginx's "client closed request"; the client saw no final status.
                (Outcome::Aborted, 499)
            };
            self.stats.end(self.seq, outcome, status);
        }
    }
}

/// Follows one request; clones share it. See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct RequestTrack {
    inner: Arc<TrackInner>,
}

impl RequestTrack {
    /// The tab the request runs on (the latest, after a retry on another tab).
    pub(crate) fn set_tab(&self, conn: ConnId) {
        self.inner
            .stats
            .with_live(self.inner.seq, |l| l.tab = Some(conn));
    }

    pub(crate) fn first_token(&self) {
        if self.inner.first_token_seen.swap(true, Ordering::Relaxed) {
            return;
        }
        self.inner.stats.with_live(self.inner.seq, |l| {
            if l.first_token.is_none() {
                l.first_token = Some(l.started.elapsed());
            }
        });
    }

    pub(crate) fn add_bytes(&self, n: u64) {
        self.inner.bytes.fetch_add(n, Ordering::Relaxed);
    }

    /// Notes the outcome; only the first call counts.
    pub(crate) fn finish(&self, outcome: Outcome, status: u16) {
        if !self.inner.finished.swap(true, Ordering::AcqRel) {
            self.inner.stats.end(self.inner.seq, outcome, status);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_requests_are_counted_and_the_ring_is_bounded() {
        let stats = Stats::new();
        for i in 0..(RECENT_LIMIT + 5) {
            let t = stats.begin(&format!("r{i}"), "m", true);
            t.set_tab(7);
            t.add_bytes(10);
            t.first_token();
            t.finish(Outcome::Ok, 200);
            t.finish(Outcome::Timeout, 504);
        }
        let snap = stats.snapshot();
        assert_eq!(snap.total, (RECENT_LIMIT + 5) as u64);
        assert_eq!(snap.outcomes["ok"], (RECENT_LIMIT + 5) as u64);
        assert!(!snap.outcomes.contains_key("timeout"));
        assert_eq!(snap.recent.len(), RECENT_LIMIT);
        assert_eq!(snap.recent[0].id, format!("r{}", RECENT_LIMIT + 4));
        assert_eq!(snap.recent[0].tab, Some(7));
        assert_eq!(snap.recent[0].bytes, 10);
        assert!(snap.recent[0].ttft_ms.is_some());
        assert!(snap.in_flight.is_empty());
    }

    #[test]
    fn dropped_track_is_an_abort_or_a_shutdown() {
        let stats = Stats::new();
        let t = stats.begin("a", "m", false);
        assert_eq!(stats.snapshot().in_flight.len(), 1);
        let clone = t.clone();
        drop(t);
        assert_eq!(
            stats.snapshot().in_flight.len(),
            1,
            "a clone keeps it alive"
        );
        drop(clone);
        let snap = stats.snapshot();
        assert_eq!(snap.recent[0].outcome, Outcome::Aborted);
        assert_eq!(snap.client_aborts, 1);
        stats.note_shutdown();
        drop(stats.begin("b", "m", false));
        assert_eq!(stats.snapshot().recent[0].outcome, Outcome::Shutdown);
        assert_eq!(stats.snapshot().client_aborts, 1);
    }

    #[test]
    fn waiting_for_idle_ends_when_the_last_request_ends() {
        let stats = Stats::new();
        assert!(stats.wait_until_idle(Duration::ZERO));
        let t = stats.begin("1", "m", true);
        assert!(!stats.wait_until_idle(Duration::from_millis(10)));
        let waiter = {
            let stats = stats.clone();
            std::thread::spawn(move || stats.wait_until_idle(Duration::from_secs(30)))
        };
        t.finish(Outcome::Ok, 200);
        assert!(waiter.join().unwrap());
    }

    #[test]
    fn unknown_types_are_bounded() {
        let stats = Stats::new();
        let many: BTreeMap<String, u64> = (0..UNKNOWN_TYPES_LIMIT + 10)
            .map(|i| (format!("x{i}"), 1))
            .collect();
        stats.unknown_lines(&many);
        let snap = stats.snapshot();
        assert_eq!(snap.unknown_line_types.len(), UNKNOWN_TYPES_LIMIT + 1);
        assert_eq!(snap.unknown_line_types[OTHER_KEY], 10);
    }

    #[test]
    fn two_servers_keep_separate_metrics() {
        let a = Stats::new();
        let b = Stats::new();
        a.begin("1", "only-in-a", true).finish(Outcome::Ok, 200);
        let text_a = a.render_prometheus(&[], 0, Duration::ZERO);
        let text_b = b.render_prometheus(&[], 0, Duration::ZERO);
        assert!(text_a.contains("only-in-a"));
        assert!(!text_b.contains("only-in-a"));
    }

    #[test]
    fn long_model_names_are_cut() {
        let stats = Stats::new();
        let long = "m".repeat(500);
        let t = stats.begin("1", &long, true);
        assert!(stats.snapshot().in_flight[0].model.chars().count() <= MODEL_NAME_LIMIT + 1);
        t.finish(Outcome::Ok, 200);
    }
}
