//! The tab pool: every connected LMArena tab is a worker. Requests take a [`Lease`] on the
//! least-busy ready tab under `max_concurrent_per_tab`, or wait in a bounded FIFO queue.
//! Requests for the same upstream session never run at the same time. A tab also takes no work
//! while its [`gate`] is closed: a rate-limit cooldown, pacing, or a person needed in the tab.
//!
//! All pool state lives in one small struct behind a mutex that is never held across an
//! `.await`; frames for a job travel from the tab's reader task to the job through a channel
//! found in the tab's own route table, so chunk routing does not touch the pool lock.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bridge_core::protocol::{Command, JobId, ServerMessage};
use tokio::sync::{mpsc, oneshot};

mod gate;

use gate::Gate;

/// Connection id of one tab (unique for the life of the process).
pub type ConnId = u64;

/// What a job hears from its tab.
#[derive(Debug)]
pub(crate) enum JobEvent {
    /// Upstream response head.
    Head {
        status: u16,
        headers: BTreeMap<String, String>,
    },
    Chunk(String),
    Done,
    /// The tab reported a failure (network error, or a non-2xx answer with its body).
    Failed(Box<TabFailure>),
    /// Answer to a page-source command.
    PageSource(String),
    /// Answer to a `probe`.
    Probe(Box<ProbeOutcome>),
    /// Answer to an `action`.
    Action(Box<ActionOutcome>),
    /// The tab's connection closed.
    TabLost,
    /// More than [`JOB_EVENTS_CAPACITY`] frames waited for this job: it could not keep up (its
    /// client stopped reading), so the tab was told to abort it. Made by [`JobEvents::recv`]
    /// after the frames that fit, never sent by a tab.
    Overflowed,
}

/// A failure a tab reported for one job. Boxed in [`JobEvent`], which stays 32 bytes: a job's
/// channel allocates 32 slots up front, so the rare large variants would cost every open
/// stream 1 KiB.
#[derive(Debug)]
pub(crate) struct TabFailure {
    pub message: String,
    pub status: Option<u16>,
    pub body: Option<String>,
}

/// Frames from a tab that may wait for one job before the job is given up. Bounds what a
/// stalled answer holds in memory; frames of other jobs of the same tab never wait on it.
pub(crate) const JOB_EVENTS_CAPACITY: usize = 4096;

/// The receiving end of one job's frames (bounded, see [`JOB_EVENTS_CAPACITY`]).
#[derive(Debug)]
pub(crate) struct JobEvents {
    rx: mpsc::Receiver<JobEvent>,
    overflowed: Arc<AtomicBool>,
}

/// Why a one-shot tab job (probe, action, page source, catalog) ended without its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitEnd {
    /// The tab's connection closed (or the job was dropped).
    TabLost,
    /// No answer within the time given.
    TimedOut,
}

impl JobEvents {
    /// Feeds this job's frames to `step` until it returns an answer, for at most `limit`.
    /// `step` never sees [`JobEvent::TabLost`]: the tab going away ends the wait.
    pub(crate) async fn answer<T>(
        &mut self,
        limit: Duration,
        mut step: impl FnMut(JobEvent) -> Option<T>,
    ) -> Result<T, WaitEnd> {
        let wait = async {
            while let Some(event) = self.recv().await {
                if matches!(event, JobEvent::TabLost) {
                    break;
                }
                if let Some(answer) = step(event) {
                    return Ok(answer);
                }
            }
            Err(WaitEnd::TabLost)
        };
        tokio::time::timeout(limit, wait)
            .await
            .unwrap_or(Err(WaitEnd::TimedOut))
    }

    /// The next frame; after an overflow, the frames that fit and then one
    /// [`JobEvent::Overflowed`]. `None` once the route is gone.
    pub(crate) async fn recv(&mut self) -> Option<JobEvent> {
        match self.rx.recv().await {
            Some(ev) => Some(ev),
            None if self.overflowed.swap(false, Ordering::AcqRel) => Some(JobEvent::Overflowed),
            None => None,
        }
    }
}

/// Where a tab's reader delivers one job's frames.
#[derive(Debug)]
struct Route {
    tx: mpsc::Sender<JobEvent>,
    overflowed: Arc<AtomicBool>,
}

/// What a tab got from a server action: the HTTP status and answer, or why it was not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActionOutcome {
    pub(crate) status: Option<u16>,
    pub(crate) body: Option<String>,
    pub(crate) message: Option<String>,
}

/// What a tab found when probed: the same-origin GET and the reCAPTCHA token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct ProbeOutcome {
    pub(crate) ok: bool,
    pub(crate) status: Option<u16>,
    pub(crate) recaptcha: bool,
    pub(crate) message: Option<String>,
}

/// What a tab said about itself in `hello`.
#[derive(Debug, Clone, Default)]
pub(crate) struct TabHello {
    pub(crate) tab_id: String,
    pub(crate) page: Option<String>,
    pub(crate) origin: String,
    /// `client` of hello: the userscript's name and version.
    pub(crate) client: Option<String>,
    pub(crate) late_injection: bool,
}

type Routes = Arc<Mutex<HashMap<JobId, Route>>>;

/// Lock a mutex, recovering the data if a panicking thread poisoned it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The state of a tab as shown on /status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TabState {
    Ready,
    Busy,
    Challenged,
    /// LMArena rate-limited this tab; it gets no work until `retry-after` has passed.
    CoolingDown,
    /// A reCAPTCHA checkbox in the tab waits for a person to tick it.
    NeedsHuman,
}

impl TabState {
    /// Every state, for gauges that list each one.
    pub(crate) const ALL: [TabState; 5] = [
        TabState::Ready,
        TabState::Busy,
        TabState::Challenged,
        TabState::CoolingDown,
        TabState::NeedsHuman,
    ];
}

/// The sending half of a tab connection, as held by the pool.
#[derive(Debug, Clone)]
pub(crate) struct TabLink {
    pub(crate) conn: ConnId,
    out: mpsc::UnboundedSender<String>,
    routes: Routes,
}

impl TabLink {
    /// Creates a link and the receiver its writer task drains.
    pub(crate) fn new(conn: ConnId) -> (Self, mpsc::UnboundedReceiver<String>) {
        let (out, rx) = mpsc::unbounded_channel();
        (
            Self {
                conn,
                out,
                routes: Arc::default(),
            },
            rx,
        )
    }

    /// Serializes and queues a frame for the tab; false when the tab is gone.
    pub(crate) fn send(&self, msg: &ServerMessage) -> bool {
        match serde_json::to_string(msg) {
            Ok(text) => self.out.send(text).is_ok(),
            Err(_) => false,
        }
    }

    /// Delivers a frame from the tab to the job it belongs to, without waiting. Frames for
    /// finished or unknown jobs are dropped quietly (returns false). A job whose channel is
    /// full loses its route and is aborted in the tab: it ends with [`JobEvent::Overflowed`]
    /// once it has read what it was sent, and the tab's other jobs go on.
    pub(crate) fn route(&self, id: JobId, event: JobEvent) -> bool {
        let mut routes = lock(&self.routes);
        let Some(route) = routes.get(&id) else {
            return false;
        };
        match route.tx.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if let Some(route) = routes.remove(&id) {
                    route.overflowed.store(true, Ordering::Release);
                }
                drop(routes);
                tracing::warn!(
                    conn = self.conn,
                    job = id.0,
                    "job fell {JOB_EVENTS_CAPACITY} frames behind its tab; aborted"
                );
                self.send(&ServerMessage::Abort { id });
                false
            }
        }
    }

    /// Tells every job of this tab that the tab is gone (a job with a full channel learns it
    /// from the closed channel).
    pub(crate) fn fail_all(&self) {
        let routes = std::mem::take(&mut *lock(&self.routes));
        for route in routes.values() {
            let _ = route.tx.try_send(JobEvent::TabLost);
        }
    }
}

#[derive(Debug)]
struct TabEntry {
    link: TabLink,
    hello: TabHello,
    challenged: bool,
    gate: Gate,
    in_flight: usize,
    /// Jobs ever granted; breaks ties so sequential requests alternate between tabs.
    granted: u64,
    served: u64,
    errors: u64,
    connected_at: Instant,
    last_seen: Instant,
}

#[derive(Debug)]
struct Waiter {
    id: u64,
    session_key: Option<String>,
    tx: oneshot::Sender<Lease>,
}

#[derive(Debug)]
struct PoolInner {
    tabs: BTreeMap<ConnId, TabEntry>,
    queue: VecDeque<Waiter>,
    busy_sessions: HashSet<String>,
    max_per_tab: usize,
    queue_limit: usize,
    /// `upstream_min_interval_seconds`: least time between two upstream starts of one tab.
    min_interval: Duration,
    next_waiter: u64,
}

/// Why a lease could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AcquireError {
    /// No tab is connected.
    NoTab,
    /// Every connected tab is stuck on a Cloudflare challenge.
    AllChallenged,
    /// The wait queue is full.
    QueueFull,
    /// Waited `queue_timeout_seconds` without a free tab.
    Timeout,
}

/// A snapshot of one tab for /status.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TabSnapshot {
    pub conn: ConnId,
    pub tab_id: String,
    pub page: Option<String>,
    pub origin: String,
    /// The userscript's name and version (`client` of hello).
    pub client: Option<String>,
    /// The userscript started after the page: it cannot capture ids in this tab.
    pub late_injection: bool,
    pub state: TabState,
    /// Seconds left of a rate-limit cooldown (`None` when not cooling down).
    pub cooldown_secs: Option<u64>,
    pub in_flight: usize,
    pub served: u64,
    pub errors: u64,
    pub connected_secs: u64,
    pub last_seen_secs: u64,
}

/// Cloneable handle to the pool.
#[derive(Debug, Clone)]
pub struct TabPool {
    inner: Arc<Mutex<PoolInner>>,
    next_job: Arc<AtomicU64>,
}

impl TabPool {
    pub(crate) fn new(max_per_tab: usize, queue_limit: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(PoolInner {
                tabs: BTreeMap::new(),
                queue: VecDeque::new(),
                busy_sessions: HashSet::new(),
                max_per_tab: max_per_tab.max(1),
                queue_limit,
                min_interval: Duration::ZERO,
                next_waiter: 0,
            })),
            next_job: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Applies reloaded limits.
    pub(crate) fn set_limits(&self, max_per_tab: usize, queue_limit: usize) {
        let mut inner = lock(&self.inner);
        inner.max_per_tab = max_per_tab.max(1);
        inner.queue_limit = queue_limit;
        self.assign(&mut inner);
    }

    /// Applies `upstream_min_interval_seconds` (zero: no pacing).
    pub(crate) fn set_min_interval(&self, interval: Duration) {
        lock(&self.inner).min_interval = interval;
    }

    /// Adds a tab that said hello.
    pub(crate) fn add_tab(&self, link: TabLink, hello: TabHello) {
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        inner.tabs.insert(
            link.conn,
            TabEntry {
                link,
                hello,
                challenged: false,
                gate: Gate::default(),
                in_flight: 0,
                granted: 0,
                served: 0,
                errors: 0,
                connected_at: now,
                last_seen: now,
            },
        );
        self.assign(&mut inner);
    }

    /// Removes a tab whose connection closed and fails its jobs.
    pub(crate) fn remove_tab(&self, conn: ConnId) {
        let entry = lock(&self.inner).tabs.remove(&conn);
        if let Some(entry) = entry {
            entry.link.fail_all();
        }
    }

    /// Records that the tab was heard from.
    pub(crate) fn touch(&self, conn: ConnId) {
        if let Some(t) = lock(&self.inner).tabs.get_mut(&conn) {
            t.last_seen = Instant::now();
        }
    }

    /// Marks a tab as challenged and asks it to reload, once. It gets no work until it
    /// reconnects (a reload makes a new connection).
    pub(crate) fn mark_challenged(&self, conn: ConnId) {
        let mut inner = lock(&self.inner);
        if let Some(t) = inner.tabs.get_mut(&conn) {
            if !t.challenged {
                t.challenged = true;
                t.link.send(&ServerMessage::Command {
                    command: Command::Refresh,
                    id: None,
                    report_to: None,
                });
            }
        }
    }

    /// LMArena rate-limited this tab: it gets no work for `secs` seconds. Waiters go to other
    /// tabs meanwhile, or to this one once the cooldown ends.
    pub(crate) fn cool_down(&self, conn: ConnId, secs: u64) {
        let until = Instant::now() + Duration::from_secs(secs);
        let mut inner = lock(&self.inner);
        if let Some(t) = inner.tabs.get_mut(&conn) {
            t.gate.cool_down(until);
            self.wake_at(until);
        }
    }

    /// When every tab that could serve is cooling down: the shortest cooldown left. `None`
    /// when some usable tab is not cooling down (or no tab could serve at all).
    pub(crate) fn cooldown_wait(&self) -> Option<Duration> {
        let inner = lock(&self.inner);
        let now = Instant::now();
        let mut shortest: Option<Duration> = None;
        for t in inner.tabs.values().filter(|t| !t.challenged) {
            let left = t.gate.cooldown_left(now)?;
            shortest = Some(shortest.map_or(left, |s| s.min(left)));
        }
        shortest
    }

    /// Marks `conn` as waiting for a person (a v2 checkbox is shown): it gets no new work
    /// until the returned guard is dropped. `None` when that tab already waits for a person:
    /// at most one prompt per tab.
    pub(crate) fn await_human(&self, conn: ConnId) -> Option<HumanWait> {
        let mut inner = lock(&self.inner);
        let t = inner.tabs.get_mut(&conn)?;
        t.gate.set_needs_human(true).then(|| HumanWait {
            pool: self.clone(),
            conn,
        })
    }

    /// Hands out slots again at `at`, when a closed gate opens (needs a tokio runtime; without
    /// one, the next release or new tab does it).
    fn wake_at(&self, at: Instant) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool = self.clone();
        runtime.spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            let mut inner = lock(&pool.inner);
            pool.assign(&mut inner);
        });
    }

    /// Counts a finished job on its tab.
    pub(crate) fn record_outcome(&self, conn: ConnId, ok: bool) {
        if let Some(t) = lock(&self.inner).tabs.get_mut(&conn) {
            if ok {
                t.served += 1;
            } else {
                t.errors += 1;
            }
        }
    }

    pub fn tab_count(&self) -> usize {
        lock(&self.inner).tabs.len()
    }

    pub fn queue_len(&self) -> usize {
        lock(&self.inner).queue.len()
    }

    pub fn snapshot(&self) -> Vec<TabSnapshot> {
        let inner = lock(&self.inner);
        let now = Instant::now();
        inner
            .tabs
            .values()
            .map(|t| TabSnapshot {
                conn: t.link.conn,
                tab_id: t.hello.tab_id.clone(),
                page: t.hello.page.clone(),
                origin: t.hello.origin.clone(),
                client: t.hello.client.clone(),
                late_injection: t.hello.late_injection,
                state: if t.challenged {
                    TabState::Challenged
                } else if t.gate.needs_human() {
                    TabState::NeedsHuman
                } else if t.gate.cooldown_left(now).is_some() {
                    TabState::CoolingDown
                } else if t.in_flight >= inner.max_per_tab {
                    TabState::Busy
                } else {
                    TabState::Ready
                },
                cooldown_secs: t
                    .gate
                    .cooldown_left(now)
                    .map(|d| d.as_secs() + u64::from(d.subsec_nanos() > 0)),
                in_flight: t.in_flight,
                served: t.served,
                errors: t.errors,
                connected_secs: now.duration_since(t.connected_at).as_secs(),
                last_seen_secs: now.duration_since(t.last_seen).as_secs(),
            })
            .collect()
    }

    /// The snapshot of one tab, if it is still connected.
    pub(crate) fn snapshot_of(&self, conn: ConnId) -> Option<TabSnapshot> {
        self.snapshot().into_iter().find(|t| t.conn == conn)
    }

    /// The link of any ready tab (for commands that need no slot), least busy first.
    pub(crate) fn any_ready_tab(&self) -> Option<TabLink> {
        let inner = lock(&self.inner);
        inner
            .tabs
            .values()
            .filter(|t| !t.challenged)
            .min_by_key(|t| t.in_flight)
            .map(|t| t.link.clone())
    }

    /// A fresh job id.
    pub(crate) fn next_job_id(&self) -> JobId {
        JobId(self.next_job.fetch_add(1, Ordering::Relaxed))
    }

    /// Takes a slot on the least-busy ready tab, or queues. `wait_without_tabs` keeps a job
    /// waiting (up to the queue timeout) when no tab is connected, for retries after a tab
    /// was lost: a reloading tab comes back within seconds.
    pub(crate) fn acquire(
        &self,
        session_key: Option<String>,
        wait_without_tabs: bool,
    ) -> Result<Acquired, AcquireError> {
        let mut inner = lock(&self.inner);
        if !wait_without_tabs {
            if inner.tabs.is_empty() {
                return Err(AcquireError::NoTab);
            }
            if inner.tabs.values().all(|t| t.challenged) {
                return Err(AcquireError::AllChallenged);
            }
        }
        let session_free = session_key
            .as_ref()
            .is_none_or(|k| !inner.busy_sessions.contains(k));
        // FIFO: a newcomer may go first only when nobody is waiting.
        if inner.queue.is_empty() && session_free {
            if let Some(lease) = Self::pick_tab(&inner)
                .and_then(|conn| self.grant(&mut inner, conn, session_key.clone()))
            {
                return Ok(Acquired::Ready(lease));
            }
        }
        if inner.queue.len() >= inner.queue_limit {
            return Err(AcquireError::QueueFull);
        }
        let (tx, rx) = oneshot::channel();
        inner.next_waiter += 1;
        let id = inner.next_waiter;
        inner.queue.push_back(Waiter {
            id,
            session_key,
            tx,
        });
        self.assign(&mut inner);
        Ok(Acquired::Queued(Waiting {
            pool: self.clone(),
            id,
            rx: Some(rx),
        }))
    }

    fn pick_tab(inner: &PoolInner) -> Option<ConnId> {
        let now = Instant::now();
        inner
            .tabs
            .values()
            .filter(|t| !t.challenged && t.gate.open(now) && t.in_flight < inner.max_per_tab)
            .min_by_key(|t| (t.in_flight, t.granted))
            .map(|t| t.link.conn)
    }

    /// Takes a slot on `conn`; `None` only if that tab is not connected.
    fn grant(
        &self,
        inner: &mut PoolInner,
        conn: ConnId,
        session_key: Option<String>,
    ) -> Option<Lease> {
        let interval = inner.min_interval;
        let t = inner.tabs.get_mut(&conn)?;
        t.in_flight += 1;
        t.granted += 1;
        let link = t.link.clone();
        if let Some(reopens) = t.gate.started(Instant::now(), interval) {
            self.wake_at(reopens);
        }
        if let Some(k) = &session_key {
            inner.busy_sessions.insert(k.clone());
        }
        Some(Lease {
            pool: self.clone(),
            link,
            session_key,
            armed: true,
        })
    }

    /// Undoes a grant whose lease never reached anyone (called with the lock held).
    fn ungrant(inner: &mut PoolInner, mut lease: Lease) {
        lease.armed = false;
        if let Some(t) = inner.tabs.get_mut(&lease.link.conn) {
            t.in_flight = t.in_flight.saturating_sub(1);
            t.granted = t.granted.saturating_sub(1);
        }
        if let Some(k) = lease.session_key.take() {
            inner.busy_sessions.remove(&k);
        }
    }

    /// Hands free slots to waiters in FIFO order, skipping those whose session is busy.
    fn assign(&self, inner: &mut PoolInner) {
        let mut i = 0;
        while i < inner.queue.len() {
            if inner.queue[i].tx.is_closed() {
                inner.queue.remove(i);
                continue;
            }
            let session_busy = inner.queue[i]
                .session_key
                .as_ref()
                .is_some_and(|k| inner.busy_sessions.contains(k));
            if session_busy {
                i += 1;
                continue;
            }
            let Some(conn) = Self::pick_tab(inner) else {
                return;
            };
            let Some(waiter) = inner.queue.remove(i) else {
                return;
            };
            let Some(lease) = self.grant(inner, conn, waiter.session_key) else {
                return;
            };
            if let Err(lease) = waiter.tx.send(lease) {
                Self::ungrant(inner, lease);
            }
        }
    }

    fn release(&self, conn: ConnId, session_key: Option<String>) {
        let mut inner = lock(&self.inner);
        if let Some(t) = inner.tabs.get_mut(&conn) {
            t.in_flight = t.in_flight.saturating_sub(1);
        }
        if let Some(k) = session_key {
            inner.busy_sessions.remove(&k);
        }
        self.assign(&mut inner);
    }

    fn cancel_waiter(&self, id: u64) {
        let mut inner = lock(&self.inner);
        inner.queue.retain(|w| w.id != id);
        // The waiter may have been granted a lease right before it gave up; that lease is
        // dropped with the receiver and released through Lease::drop.
    }
}

/// A tab waiting for a person (see [`TabPool::await_human`]); dropping it gives the tab work
/// again.
#[derive(Debug)]
pub(crate) struct HumanWait {
    pool: TabPool,
    conn: ConnId,
}

impl Drop for HumanWait {
    fn drop(&mut self) {
        let mut inner = lock(&self.pool.inner);
        if let Some(t) = inner.tabs.get_mut(&self.conn) {
            t.gate.set_needs_human(false);
        }
        self.pool.assign(&mut inner);
    }
}

/// Result of [`TabPool::acquire`].
#[derive(Debug)]
pub(crate) enum Acquired {
    Ready(Lease),
    Queued(Waiting),
}

/// A place in the wait queue. Dropping it leaves the queue.
#[derive(Debug)]
pub(crate) struct Waiting {
    pool: TabPool,
    id: u64,
    rx: Option<oneshot::Receiver<Lease>>,
}

impl Waiting {
    /// Waits for a lease, up to `timeout`.
    pub(crate) async fn wait(mut self, timeout: Duration) -> Result<Lease, AcquireError> {
        let Some(rx) = self.rx.as_mut() else {
            return Err(AcquireError::Timeout);
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(lease)) => Ok(lease),
            _ => Err(AcquireError::Timeout),
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.pool.cancel_waiter(self.id);
        if let Some(mut rx) = self.rx.take() {
            // A lease granted at the last moment is released here.
            rx.close();
            drop(rx.try_recv());
        }
    }
}

/// A slot on one tab. Dropping it frees the slot and the session.
#[derive(Debug)]
pub(crate) struct Lease {
    pool: TabPool,
    link: TabLink,
    session_key: Option<String>,
    armed: bool,
}

impl Lease {
    pub(crate) fn conn(&self) -> ConnId {
        self.link.conn
    }

    /// Registers a job on this lease's tab and sends it the frame `make(id)`.
    pub(crate) fn start_job(
        &self,
        make: impl FnOnce(JobId) -> ServerMessage,
    ) -> (JobGuard, JobEvents) {
        start_job_on(&self.pool, &self.link, make)
    }

    /// Sends this lease's tab the frame `make(id)` for a job nobody follows: whatever the tab
    /// answers is dropped.
    pub(crate) fn send_untracked(&self, make: impl FnOnce(JobId) -> ServerMessage) {
        self.link.send(&make(self.pool.next_job_id()));
    }
}

/// Registers a job on a tab, sends the first frame, and returns the guard and event stream.
pub(crate) fn start_job_on(
    pool: &TabPool,
    link: &TabLink,
    make: impl FnOnce(JobId) -> ServerMessage,
) -> (JobGuard, JobEvents) {
    let id = pool.next_job_id();
    let (tx, rx) = mpsc::channel(JOB_EVENTS_CAPACITY);
    let overflowed = Arc::new(AtomicBool::new(false));
    lock(&link.routes).insert(
        id,
        Route {
            tx: tx.clone(),
            overflowed: overflowed.clone(),
        },
    );
    if !link.send(&make(id)) {
        let _ = tx.try_send(JobEvent::TabLost);
    }
    (
        JobGuard {
            link: link.clone(),
            id,
            finished: false,
        },
        JobEvents { rx, overflowed },
    )
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.armed {
            self.pool.release(self.link.conn, self.session_key.take());
        }
    }
}

/// The route of one job. Dropping it before [`JobGuard::finish`] aborts the job in the tab
/// (the client went away, or the server gave up).
#[derive(Debug)]
pub(crate) struct JobGuard {
    link: TabLink,
    id: JobId,
    finished: bool,
}

impl JobGuard {
    /// The job ended normally: no abort is sent.
    pub(crate) fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for JobGuard {
    fn drop(&mut self) {
        let was_routed = lock(&self.link.routes).remove(&self.id).is_some();
        if !self.finished && was_routed {
            self.link.send(&ServerMessage::Abort { id: self.id });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tab(pool: &TabPool, conn: ConnId) -> mpsc::UnboundedReceiver<String> {
        let (link, rx) = TabLink::new(conn);
        pool.add_tab(
            link,
            TabHello {
                tab_id: format!("tab-{conn}"),
                origin: "https://lmarena.ai".into(),
                ..TabHello::default()
            },
        );
        rx
    }

    fn ready(a: Result<Acquired, AcquireError>) -> Lease {
        match a {
            Ok(Acquired::Ready(l)) => l,
            other => panic!("expected a ready lease, got {other:?}"),
        }
    }

    #[test]
    fn a_tab_waiting_for_a_person_is_skipped_and_asked_once() {
        let pool = TabPool::new(2, 4);
        let _rx1 = tab(&pool, 1);
        let wait = pool.await_human(1).expect("first prompt");
        assert!(
            pool.await_human(1).is_none(),
            "one prompt per tab at a time"
        );
        assert_eq!(pool.snapshot()[0].state, TabState::NeedsHuman);
        assert!(matches!(pool.acquire(None, false), Ok(Acquired::Queued(_))));
        drop(wait);
        assert_eq!(pool.snapshot()[0].state, TabState::Ready);
        assert!(pool.await_human(1).is_some());
    }

    #[test]
    fn a_cooling_tab_is_skipped_and_reported_with_its_time_left() {
        let pool = TabPool::new(2, 4);
        let _rx1 = tab(&pool, 1);
        let _rx2 = tab(&pool, 2);
        pool.cool_down(1, 60);
        assert_eq!(pool.cooldown_wait(), None, "tab 2 can still serve");
        let lease = ready(pool.acquire(None, false));
        assert_eq!(lease.conn(), 2);
        pool.cool_down(2, 30);
        let wait = pool.cooldown_wait().unwrap();
        assert!(wait <= Duration::from_secs(30) && wait > Duration::from_secs(28));
        let snap = pool.snapshot();
        assert_eq!(snap[0].state, TabState::CoolingDown);
        assert_eq!(snap[0].cooldown_secs, Some(60));
    }

    #[tokio::test]
    async fn a_one_shot_job_ends_with_its_answer_a_lost_tab_or_the_time_limit() {
        let pool = TabPool::new(2, 4);
        let (link, mut frames) = TabLink::new(1);
        let pick = |event| match event {
            JobEvent::PageSource(html) => Some(html),
            _ => None,
        };
        let limit = Duration::from_secs(5);
        let frame_id = |frames: &mut mpsc::UnboundedReceiver<String>| {
            let text = frames.try_recv().unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            JobId(v["id"].as_u64().unwrap())
        };
        let command = |id| ServerMessage::Command {
            command: Command::SendPageSource,
            id: Some(id),
            report_to: None,
        };

        // Frames it does not want are skipped until the answer.
        let (_guard, mut rx) = start_job_on(&pool, &link, command);
        let id = frame_id(&mut frames);
        assert!(link.route(id, JobEvent::Done));
        assert!(link.route(id, JobEvent::PageSource("<html>".into())));
        assert_eq!(rx.answer(limit, pick).await, Ok("<html>".to_owned()));

        let (_guard, mut rx) = start_job_on(&pool, &link, command);
        let id = frame_id(&mut frames);
        assert!(link.route(id, JobEvent::TabLost));
        assert_eq!(rx.answer(limit, pick).await, Err(WaitEnd::TabLost));

        let (_guard, mut rx) = start_job_on(&pool, &link, command);
        assert_eq!(
            rx.answer(Duration::from_millis(20), pick).await,
            Err(WaitEnd::TimedOut)
        );
    }

    #[test]
    fn no_tab_is_an_error() {
        let pool = TabPool::new(2, 4);
        assert_eq!(pool.acquire(None, false).unwrap_err(), AcquireError::NoTab);
    }

    #[test]
    fn least_busy_tab_wins() {
        let pool = TabPool::new(4, 4);
        let _r1 = tab(&pool, 1);
        let _r2 = tab(&pool, 2);
        let a = ready(pool.acquire(None, false));
        let b = ready(pool.acquire(None, false));
        assert_ne!(a.conn(), b.conn());
        drop(a);
        let c = ready(pool.acquire(None, false));
        assert_ne!(c.conn(), b.conn());
    }

    #[test]
    fn sequential_jobs_alternate_between_idle_tabs() {
        let pool = TabPool::new(4, 4);
        let _r1 = tab(&pool, 1);
        let _r2 = tab(&pool, 2);
        let conns: Vec<ConnId> = (0..4)
            .map(|_| ready(pool.acquire(None, false)).conn())
            .collect();
        assert_eq!(conns, [1, 2, 1, 2]);
    }

    #[tokio::test]
    async fn queue_is_fifo_and_bounded() {
        let pool = TabPool::new(1, 2);
        let _r = tab(&pool, 1);
        let first = ready(pool.acquire(None, false));
        let Ok(Acquired::Queued(w1)) = pool.acquire(None, false) else {
            panic!("expected queued")
        };
        let Ok(Acquired::Queued(w2)) = pool.acquire(None, false) else {
            panic!("expected queued")
        };
        assert_eq!(
            pool.acquire(None, false).unwrap_err(),
            AcquireError::QueueFull
        );
        assert_eq!(pool.queue_len(), 2);
        drop(first);
        let l1 = w1.wait(Duration::from_secs(1)).await.unwrap();
        drop(l1);
        let l2 = w2.wait(Duration::from_secs(1)).await.unwrap();
        assert_eq!(l2.conn(), 1);
        assert_eq!(pool.queue_len(), 0);
    }

    #[tokio::test]
    async fn same_session_waits_other_session_passes() {
        let pool = TabPool::new(4, 4);
        let _r = tab(&pool, 1);
        let a = ready(pool.acquire(Some("s/m".into()), false));
        let Ok(Acquired::Queued(same)) = pool.acquire(Some("s/m".into()), false) else {
            panic!("same session must wait")
        };
        // Queue is not empty, so a different session still queues, but is granted at once.
        let Ok(Acquired::Queued(other)) = pool.acquire(Some("x/y".into()), false) else {
            panic!("expected queued")
        };
        let o = other.wait(Duration::from_millis(100)).await.unwrap();
        assert_eq!(o.conn(), 1);
        drop(a);
        let s = same.wait(Duration::from_secs(1)).await.unwrap();
        assert_eq!(s.conn(), 1);
    }

    #[tokio::test]
    async fn abandoned_waiter_frees_its_place() {
        let pool = TabPool::new(1, 1);
        let _r = tab(&pool, 1);
        let first = ready(pool.acquire(None, false));
        let Ok(Acquired::Queued(w)) = pool.acquire(None, false) else {
            panic!("expected queued")
        };
        assert!(w.wait(Duration::from_millis(10)).await.is_err());
        assert_eq!(pool.queue_len(), 0);
        drop(first);
        let again = ready(pool.acquire(None, false));
        assert_eq!(again.conn(), 1);
    }

    #[test]
    fn challenged_tab_gets_no_work_and_one_refresh() {
        let pool = TabPool::new(2, 2);
        let mut r1 = tab(&pool, 1);
        let _r2 = tab(&pool, 2);
        pool.mark_challenged(1);
        pool.mark_challenged(1);
        let refreshes = std::iter::from_fn(|| r1.try_recv().ok())
            .filter(|f| f.contains("refresh"))
            .count();
        assert_eq!(refreshes, 1);
        for _ in 0..2 {
            let l = ready(pool.acquire(None, false));
            assert_eq!(l.conn(), 2);
            std::mem::forget(l);
        }
        pool.mark_challenged(2);
        assert_eq!(
            pool.acquire(None, false).unwrap_err(),
            AcquireError::AllChallenged
        );
    }

    #[test]
    fn job_guard_aborts_unless_finished() {
        let pool = TabPool::new(2, 2);
        let mut rx = tab(&pool, 1);
        let lease = ready(pool.acquire(None, false));
        let (guard, _events) = lease.start_job(|id| ServerMessage::Abort { id });
        let _ = rx.try_recv();
        drop(guard);
        assert!(rx.try_recv().unwrap().contains("\"abort\""));
        let (mut guard, _events) = lease.start_job(|id| ServerMessage::Abort { id });
        let _ = rx.try_recv();
        guard.finish();
        drop(guard);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn lost_tab_fails_its_jobs() {
        let pool = TabPool::new(2, 2);
        let _rx = tab(&pool, 1);
        let lease = ready(pool.acquire(None, false));
        let (_guard, mut events) = lease.start_job(|_| ServerMessage::Ping);
        pool.remove_tab(1);
        assert!(matches!(events.rx.try_recv(), Ok(JobEvent::TabLost)));
    }

    /// Regression (issue 16): the per-job channel was unbounded, so a job that stopped reading
    /// kept every frame its tab sent.
    #[tokio::test]
    async fn a_job_that_falls_behind_is_aborted_and_its_tab_keeps_serving() {
        let pool = TabPool::new(2, 2);
        let mut frames = tab(&pool, 1);
        let lease = ready(pool.acquire(None, false));
        let (slow_guard, mut slow) = lease.start_job(|_| ServerMessage::Ping);
        let (guard, mut other) = lease.start_job(|_| ServerMessage::Ping);
        let link = lease.link.clone();
        let slow_id = slow_guard.id;
        let mut delivered = 0;
        for i in 0..JOB_EVENTS_CAPACITY * 2 {
            if link.route(slow_id, JobEvent::Chunk(format!("c{i}"))) {
                delivered += 1;
            }
        }
        assert_eq!(
            delivered, JOB_EVENTS_CAPACITY,
            "the channel holds its capacity, no more"
        );
        let sent: Vec<String> = std::iter::from_fn(|| frames.try_recv().ok()).collect();
        let aborts = sent.iter().filter(|f| f.contains("\"abort\"")).count();
        assert_eq!(aborts, 1, "the tab is told once to stop the job: {sent:?}");
        // The other job of the same tab is not held up.
        assert!(link.route(guard.id, JobEvent::Done));
        assert!(matches!(other.recv().await, Some(JobEvent::Done)));
        // The slow job reads what fit, then learns why it ends.
        for _ in 0..JOB_EVENTS_CAPACITY {
            assert!(matches!(slow.recv().await, Some(JobEvent::Chunk(_))));
        }
        assert!(matches!(slow.recv().await, Some(JobEvent::Overflowed)));
        assert!(slow.recv().await.is_none());
    }
}
