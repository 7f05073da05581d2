//! The measurements: start to listening, relay and baseline load runs, the memory run.
//! Each relay run gets a fresh server so its peak RSS is its own.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use bridge_core::config::UpstreamFlow;

use crate::baseline::{Baseline, BASELINE_THREAD};
use crate::client::{self, LoadResult, LoadSpec, CHAT_PATH};
use crate::cpu;
use crate::server::{Memory, ServerProcess, Shape, HISTORY_CAPACITY};
use crate::stamp::Clock;
use crate::tab::{self, Behavior};

/// Sessions in the pool of a load-run server: enough that round-robin picks seldom land on a
/// session still busy with an earlier request (that request would wait, by design), and few
/// enough to look like a real config (the server's per-request work grows with the pool).
const MIN_POOL_SESSIONS: usize = 16;
const POOL_SESSIONS_PER_CLIENT: usize = 4;
/// Sessions of the server timed at start: a small, typical config.
const START_POOL_SESSIONS: usize = 4;
/// How long the memory run waits for all its streams to open.
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);
/// Clients that fill the conversation memory before a run.
const FILL_CLIENTS: usize = 16;
/// Path of the server's status route and the key of its conversation memory figures.
const STATUS_PATH: &str = "/status";
const STATUS_MEMORY: &str = "evaluation_history";
const STATUS_CONVERSATIONS: &str = "conversations";

/// What the whole bench does.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub server: PathBuf,
    pub tabs: usize,
    pub lines: usize,
    pub concurrency: Vec<usize>,
    pub duration: Duration,
    pub warmup: Duration,
    /// Relay and baseline alternate in slices of about this length.
    pub slice: Duration,
    /// Pause before each text line of an answer (zero: the whole answer at once).
    pub gap: Duration,
    pub stream: bool,
    pub runs: usize,
    pub memory: usize,
    pub starts: usize,
    pub server_log: String,
    pub baseline: bool,
    /// Sessions in the model's pool for load runs; `None`: 4 per client, at least 16.
    pub sessions: Option<usize>,
    /// Extra models in `models.json`.
    pub models: usize,
    /// The upstream flow of the benchmarked model.
    pub flow: UpstreamFlow,
    /// Conversations in the `evaluation` flow's memory before each load run.
    pub conversations: usize,
    /// Start every server with glibc's malloc thresholds fixed (`--fixed-malloc`).
    pub fixed_malloc: bool,
}

#[cfg(test)]
impl Plan {
    /// One short run against `server`, for tests.
    pub(crate) fn for_server(server: PathBuf) -> Self {
        Plan {
            server,
            tabs: 1,
            lines: 20,
            concurrency: vec![8],
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            stream: true,
            runs: 1,
            memory: 0,
            starts: 1,
            server_log: "info".into(),
            slice: Duration::from_secs(1),
            gap: Duration::ZERO,
            baseline: true,
            sessions: None,
            models: 0,
            flow: bridge_core::config::UpstreamFlow::Retry,
            conversations: 0,
            fixed_malloc: false,
        }
    }
}

impl Plan {
    /// Checks what the flags cannot express.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        if self.conversations > 0 && self.flow != UpstreamFlow::Evaluation {
            bail!("--conversations needs --flow evaluation (the retry flow has no memory)");
        }
        if self.conversations > HISTORY_CAPACITY {
            bail!("--conversations is at most {HISTORY_CAPACITY} (the bench server's memory)");
        }
        Ok(())
    }

    pub(crate) fn shape(&self, sessions: usize) -> Shape {
        Shape {
            sessions,
            extra_models: self.models,
            flow: self.flow,
            chaos: false,
        }
    }
}

/// One side (relay or baseline) of a load run, summed over its slices.
#[derive(Debug, Default)]
pub(crate) struct Side {
    pub load: LoadResult,
    /// CPU of the server: the `bridge-server` process, or the baseline's threads.
    pub server_cpu_ns: u64,
    /// CPU of the rest of the bench process: the clients, and for the relay the fake tabs.
    pub client_cpu_ns: u64,
}

impl Side {
    fn per_request_us(&self, ns: u64) -> Option<f64> {
        (self.load.completed > 0).then(|| ns as f64 / 1e3 / self.load.completed as f64)
    }

    /// Server CPU per answered request, in microseconds.
    pub(crate) fn server_us(&self) -> Option<f64> {
        self.per_request_us(self.server_cpu_ns)
    }

    /// Client (and fake tab) CPU per answered request, in microseconds.
    pub(crate) fn client_us(&self) -> Option<f64> {
        self.per_request_us(self.client_cpu_ns)
    }

    /// All CPU per answered request, in microseconds.
    pub(crate) fn total_us(&self) -> Option<f64> {
        self.per_request_us(self.server_cpu_ns + self.client_cpu_ns)
    }
}

/// One load run of the relay and, if asked, of the baseline, in alternating slices.
#[derive(Debug)]
pub(crate) struct RunPair {
    pub relay: Side,
    /// Peak RSS of the server during the run.
    pub relay_peak: Memory,
    pub baseline: Option<Side>,
    /// Conversations in the server's memory when the measurement began (`evaluation` flow).
    pub remembered: Option<usize>,
}

/// Every run at one concurrency.
#[derive(Debug)]
pub(crate) struct LevelResult {
    pub concurrency: usize,
    pub runs: Vec<RunPair>,
}

/// The memory run.
#[derive(Debug)]
pub(crate) struct MemoryResult {
    pub streams: usize,
    pub open: usize,
    pub before: Memory,
    pub with: Memory,
    pub errors: Vec<String>,
}

impl MemoryResult {
    /// Server memory added per open stream, in KiB.
    pub(crate) fn per_stream_kib(&self) -> Option<f64> {
        if self.open == 0 {
            return None;
        }
        Some(self.with.rss_kib.saturating_sub(self.before.rss_kib) as f64 / self.open as f64)
    }
}

/// Times `count` starts of the server (spawn → port accepts), in milliseconds.
pub(crate) async fn measure_starts(plan: &Plan) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::with_capacity(plan.starts);
    for _ in 0..plan.starts {
        let bin = plan.server.clone();
        let log = plan.server_log.clone();
        let fixed_malloc = plan.fixed_malloc;
        let (server, took) = tokio::task::spawn_blocking(move || {
            ServerProcess::start(&bin, Shape::retry(START_POOL_SESSIONS), &log, fixed_malloc)
        })
        .await
        .context("start task failed")??;
        server.stop();
        times.push(took.as_secs_f64() * 1e3);
    }
    Ok(times)
}

pub(crate) async fn start_server(plan: &Plan, shape: Shape) -> anyhow::Result<ServerProcess> {
    let bin = plan.server.clone();
    let log = plan.server_log.clone();
    let fixed_malloc = plan.fixed_malloc;
    let (server, _) =
        tokio::task::spawn_blocking(move || ServerProcess::start(&bin, shape, &log, fixed_malloc))
            .await
            .context("start task failed")??;
    Ok(server)
}

pub(crate) fn spec(
    plan: &Plan,
    base_url: &str,
    concurrency: usize,
    duration: Duration,
) -> LoadSpec {
    LoadSpec {
        url: format!("{base_url}{CHAT_PATH}"),
        stream: plan.stream,
        history: plan.flow == UpstreamFlow::Evaluation,
        lines: plan.lines,
        concurrency,
        warmup: Duration::ZERO,
        duration,
    }
}

/// Drives one slice and measures the CPU it took: of the server process `server_pid`, or,
/// without one, of this process's baseline threads; and of the rest of this process.
async fn measured_slice(
    http: &reqwest::Client,
    spec: &LoadSpec,
    clock: Clock,
    server_pid: Option<u32>,
) -> anyhow::Result<Side> {
    let server_cpu = |pid: Option<u32>| -> anyhow::Result<u64> {
        Ok(match pid {
            Some(p) => cpu::threads_cpu(&p.to_string(), "")?.total_ns(),
            None => 0,
        })
    };
    let server_before = server_cpu(server_pid)?;
    let me_before = cpu::threads_cpu("self", BASELINE_THREAD)?;
    let load = client::drive(http, spec, clock).await;
    let me = cpu::threads_cpu("self", BASELINE_THREAD)?.since(&me_before);
    let server_ns = match server_pid {
        Some(_) => server_cpu(server_pid)?.saturating_sub(server_before),
        None => me.matching_ns,
    };
    Ok(Side {
        load,
        server_cpu_ns: server_ns,
        client_cpu_ns: me.other_ns,
    })
}

fn add(total: &mut Side, slice: Side) {
    total.load.append(slice.load);
    total.server_cpu_ns += slice.server_cpu_ns;
    total.client_cpu_ns += slice.client_cpu_ns;
}

/// A fresh server for a load at `concurrency`, with `plan.tabs` fake tabs that answer in full.
pub(crate) async fn loaded_server(
    plan: &Plan,
    concurrency: usize,
    clock: Clock,
) -> anyhow::Result<(ServerProcess, tab::Tabs)> {
    let sessions = plan
        .sessions
        .unwrap_or(MIN_POOL_SESSIONS.max(concurrency * POOL_SESSIONS_PER_CLIENT));
    let server = start_server(plan, plan.shape(sessions)).await?;
    let tabs = tab::connect(
        server.port,
        plan.tabs,
        Behavior::Burst {
            lines: plan.lines,
            gap: plan.gap,
        },
        clock,
    )
    .await
    .with_context(|| {
        format!(
            "fake tabs could not connect; server log:\n{}",
            server.log_tail()
        )
    })?;
    Ok((server, tabs))
}

/// One run at `concurrency` on a fresh server with `plan.tabs` fake tabs: a warm-up of each
/// side, then relay and baseline in alternating slices of about `plan.slice`, so a change in
/// the machine's other load hits both sides alike.
pub(crate) async fn load_run(
    plan: &Plan,
    concurrency: usize,
    baseline: Option<&Baseline>,
    clock: Clock,
) -> anyhow::Result<RunPair> {
    let (server, _tabs) = loaded_server(plan, concurrency, clock).await?;
    let relay_http = client::http_client(concurrency)?;
    let base_http = client::http_client(concurrency)?;
    let relay_url = server.base_url();
    let remembered = if plan.flow == UpstreamFlow::Evaluation {
        let url = format!("{relay_url}{CHAT_PATH}");
        client::fill_conversations(&relay_http, &url, plan.conversations, FILL_CLIENTS)
            .await
            .context("filling the conversation memory failed")?;
        let remembered = remembered_conversations(&relay_http, &relay_url).await?;
        if remembered < plan.conversations {
            bail!(
                "the server remembers {remembered} conversations after {} were filled",
                plan.conversations
            );
        }
        Some(remembered)
    } else {
        None
    };
    let base_url = baseline.map(Baseline::base_url);
    let mut relay = Side::default();
    let mut base = baseline.map(|_| Side::default());
    if !plan.warmup.is_zero() {
        let warm = spec(plan, &relay_url, concurrency, plan.warmup);
        relay
            .load
            .count_errors_of(client::drive(&relay_http, &warm, clock).await);
        if let (Some(url), Some(b)) = (&base_url, base.as_mut()) {
            let warm = spec(plan, url, concurrency, plan.warmup);
            b.load
                .count_errors_of(client::drive(&base_http, &warm, clock).await);
        }
    }
    let slices = slice_count(plan);
    let slice = plan.duration / slices;
    for _ in 0..slices {
        let s = spec(plan, &relay_url, concurrency, slice);
        add(
            &mut relay,
            measured_slice(&relay_http, &s, clock, Some(server.pid())).await?,
        );
        if let (Some(url), Some(b)) = (&base_url, base.as_mut()) {
            let s = spec(plan, url, concurrency, slice);
            add(b, measured_slice(&base_http, &s, clock, None).await?);
        }
    }
    let relay_peak = server.memory()?;
    server.stop();
    Ok(RunPair {
        relay,
        relay_peak,
        baseline: base,
        remembered,
    })
}

/// Conversations in the server's memory, from `/status`.
async fn remembered_conversations(http: &reqwest::Client, base_url: &str) -> anyhow::Result<usize> {
    let status: serde_json::Value = http
        .get(format!("{base_url}{STATUS_PATH}"))
        .send()
        .await
        .context("GET /status failed")?
        .json()
        .await
        .context("GET /status: not JSON")?;
    status[STATUS_MEMORY][STATUS_CONVERSATIONS]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .with_context(|| format!("no {STATUS_MEMORY}.{STATUS_CONVERSATIONS} in /status"))
}

/// Into how many slices each side's measured time is cut: slices of at least `plan.slice`,
/// and of at least twice a paced answer's length, since only answers that finish inside a
/// slice count.
fn slice_count(plan: &Plan) -> u32 {
    let answer = plan
        .gap
        .saturating_mul(u32::try_from(plan.lines).unwrap_or(u32::MAX));
    let slice = plan
        .slice
        .max(answer.saturating_mul(2))
        .as_secs_f64()
        .max(1e-3);
    (plan.duration.as_secs_f64() / slice).floor().max(1.0) as u32
}

/// Every load run: for each concurrency, `runs` runs.
pub(crate) async fn load_runs(plan: &Plan, clock: Clock) -> anyhow::Result<Vec<LevelResult>> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let baseline = if plan.baseline {
        Some(Baseline::start(
            plan.stream,
            plan.lines,
            plan.gap,
            clock,
            workers,
        )?)
    } else {
        None
    };
    let mut levels = Vec::with_capacity(plan.concurrency.len());
    for &c in &plan.concurrency {
        let mut runs = Vec::with_capacity(plan.runs);
        for _ in 0..plan.runs {
            runs.push(load_run(plan, c, baseline.as_ref(), clock).await?);
        }
        levels.push(LevelResult {
            concurrency: c,
            runs,
        });
    }
    Ok(levels)
}

/// `plan.memory` streams held open by tabs that send one delta and then nothing.
pub(crate) async fn memory_run(plan: &Plan, clock: Clock) -> anyhow::Result<MemoryResult> {
    let streams = plan.memory;
    let server = start_server(plan, Shape::retry(streams + POOL_SESSIONS_PER_CLIENT)).await?;
    let tabs = tab::connect(server.port, plan.tabs, Behavior::Hold, clock).await?;
    let before = server.memory()?;
    let http = client::http_client(streams)?;
    let url = format!("{}{CHAT_PATH}", server.base_url());
    let held = client::hold_streams(&http, &url, streams, 0, OPEN_TIMEOUT).await;
    let with = server.memory()?;
    let open = held.open;
    let errors = held.errors.clone();
    held.release().await;
    drop(tabs);
    server.stop();
    Ok(MemoryResult {
        streams,
        open,
        before,
        with,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(duration: f64, slice: f64, gap_ms: u64, lines: usize) -> Plan {
        Plan {
            server: "bridge-server".into(),
            tabs: 1,
            lines,
            concurrency: vec![8],
            duration: Duration::from_secs_f64(duration),
            warmup: Duration::ZERO,
            slice: Duration::from_secs_f64(slice),
            gap: Duration::from_millis(gap_ms),
            stream: true,
            runs: 1,
            memory: 0,
            starts: 0,
            server_log: "info".into(),
            baseline: true,
            sessions: None,
            models: 0,
            flow: UpstreamFlow::Retry,
            conversations: 0,
            fixed_malloc: false,
        }
    }

    #[test]
    fn slices_are_long_enough_for_paced_answers() {
        assert_eq!(slice_count(&plan(5.0, 1.0, 0, 20)), 5);
        assert_eq!(
            slice_count(&plan(5.5, 1.0, 0, 20)),
            5,
            "never shorter than asked"
        );
        // 20 lines 50 ms apart take 1 s: slices of at least 2 s.
        assert_eq!(slice_count(&plan(5.0, 1.0, 50, 20)), 2);
        assert_eq!(slice_count(&plan(1.0, 1.0, 50, 20)), 1, "at least one");
        assert_eq!(slice_count(&plan(1.0, 0.0, 0, 20)), 1000);
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    #[test]
    fn conversations_need_the_evaluation_flow_and_fit_the_memory() {
        let mut plan = Plan {
            server: "bridge-server".into(),
            tabs: 1,
            lines: 20,
            concurrency: vec![8],
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            slice: Duration::from_secs(1),
            gap: Duration::ZERO,
            stream: true,
            runs: 1,
            memory: 0,
            starts: 0,
            server_log: "info".into(),
            baseline: false,
            sessions: Some(1024),
            models: 10_000,
            flow: UpstreamFlow::Retry,
            conversations: 0,
            fixed_malloc: false,
        };
        assert!(plan.check().is_ok());
        plan.conversations = 10;
        assert!(plan.check().is_err());
        plan.flow = UpstreamFlow::Evaluation;
        assert!(plan.check().is_ok());
        plan.conversations = HISTORY_CAPACITY + 1;
        assert!(plan.check().is_err());
        assert_eq!(plan.shape(3).extra_models, 10_000);
    }
}
