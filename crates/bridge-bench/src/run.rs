//! The measurements: start to listening, relay and baseline load runs, the memory run.
//! Each relay run gets a fresh server so its peak RSS is its own.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::baseline::Baseline;
use crate::client::{self, LoadResult, LoadSpec, CHAT_PATH};
use crate::server::{Memory, ServerProcess};
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

/// What the whole bench does.
#[derive(Debug, Clone)]
pub struct Plan {
    pub server: PathBuf,
    pub tabs: usize,
    pub lines: usize,
    pub concurrency: Vec<usize>,
    pub duration: Duration,
    pub warmup: Duration,
    pub stream: bool,
    pub runs: usize,
    pub memory: usize,
    pub starts: usize,
    pub server_log: String,
    pub baseline: bool,
    /// Sessions in the model's pool for load runs; `None`: 4 per client, at least 16.
    pub sessions: Option<usize>,
}

/// One load run of the relay and, if asked, of the baseline.
#[derive(Debug)]
pub struct RunPair {
    pub relay: LoadResult,
    /// Peak RSS of the server during the relay run.
    pub relay_peak: Memory,
    pub baseline: Option<LoadResult>,
}

/// Every run at one concurrency.
#[derive(Debug)]
pub struct LevelResult {
    pub concurrency: usize,
    pub runs: Vec<RunPair>,
}

/// The memory run.
#[derive(Debug)]
pub struct MemoryResult {
    pub streams: usize,
    pub open: usize,
    pub before: Memory,
    pub with: Memory,
    pub errors: Vec<String>,
}

impl MemoryResult {
    /// Server memory added per open stream, in KiB.
    pub fn per_stream_kib(&self) -> Option<f64> {
        if self.open == 0 {
            return None;
        }
        Some(self.with.rss_kib.saturating_sub(self.before.rss_kib) as f64 / self.open as f64)
    }
}

/// Times `count` starts of the server (spawn → port accepts), in milliseconds.
pub async fn measure_starts(plan: &Plan) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::with_capacity(plan.starts);
    for _ in 0..plan.starts {
        let bin = plan.server.clone();
        let log = plan.server_log.clone();
        let (server, took) = tokio::task::spawn_blocking(move || {
            ServerProcess::start(&bin, START_POOL_SESSIONS, &log)
        })
        .await
        .context("start task failed")??;
        server.stop();
        times.push(took.as_secs_f64() * 1e3);
    }
    Ok(times)
}

async fn start_server(plan: &Plan, sessions: usize) -> anyhow::Result<ServerProcess> {
    let bin = plan.server.clone();
    let log = plan.server_log.clone();
    let (server, _) =
        tokio::task::spawn_blocking(move || ServerProcess::start(&bin, sessions, &log))
            .await
            .context("start task failed")??;
    Ok(server)
}

fn spec(plan: &Plan, base_url: &str, concurrency: usize) -> LoadSpec {
    LoadSpec {
        url: format!("{base_url}{CHAT_PATH}"),
        stream: plan.stream,
        lines: plan.lines,
        concurrency,
        warmup: plan.warmup,
        duration: plan.duration,
    }
}

/// One relay load run on a fresh server with `plan.tabs` fake tabs.
pub async fn relay_run(
    plan: &Plan,
    concurrency: usize,
    clock: Clock,
) -> anyhow::Result<(LoadResult, Memory)> {
    let sessions = plan
        .sessions
        .unwrap_or(MIN_POOL_SESSIONS.max(concurrency * POOL_SESSIONS_PER_CLIENT));
    let server = start_server(plan, sessions).await?;
    let tabs = tab::connect(
        server.port,
        plan.tabs,
        Behavior::Burst { lines: plan.lines },
        clock,
    )
    .await
    .with_context(|| {
        format!(
            "fake tabs could not connect; server log:\n{}",
            server.log_tail()
        )
    })?;
    let http = client::http_client(concurrency)?;
    let result = client::drive(&http, &spec(plan, &server.base_url(), concurrency), clock).await;
    let memory = server.memory()?;
    drop(tabs);
    server.stop();
    Ok((result, memory))
}

/// One baseline load run.
pub async fn baseline_run(
    plan: &Plan,
    baseline: &Baseline,
    concurrency: usize,
    clock: Clock,
) -> anyhow::Result<LoadResult> {
    let http = client::http_client(concurrency)?;
    Ok(client::drive(&http, &spec(plan, &baseline.base_url(), concurrency), clock).await)
}

/// Every load run: for each concurrency, `runs` times relay then baseline.
pub async fn load_runs(plan: &Plan, clock: Clock) -> anyhow::Result<Vec<LevelResult>> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let baseline = if plan.baseline {
        Some(Baseline::start(plan.stream, plan.lines, clock, workers)?)
    } else {
        None
    };
    let mut levels = Vec::with_capacity(plan.concurrency.len());
    for &c in &plan.concurrency {
        let mut runs = Vec::with_capacity(plan.runs);
        for _ in 0..plan.runs {
            let (relay, relay_peak) = relay_run(plan, c, clock).await?;
            let baseline = match &baseline {
                Some(b) => Some(baseline_run(plan, b, c, clock).await?),
                None => None,
            };
            runs.push(RunPair {
                relay,
                relay_peak,
                baseline,
            });
        }
        levels.push(LevelResult {
            concurrency: c,
            runs,
        });
    }
    Ok(levels)
}

/// `plan.memory` streams held open by tabs that send one delta and then nothing.
pub async fn memory_run(plan: &Plan, clock: Clock) -> anyhow::Result<MemoryResult> {
    let streams = plan.memory;
    let server = start_server(plan, streams + POOL_SESSIONS_PER_CLIENT).await?;
    let tabs = tab::connect(server.port, plan.tabs, Behavior::Hold, clock).await?;
    let before = server.memory()?;
    let http = client::http_client(streams)?;
    let url = format!("{}{CHAT_PATH}", server.base_url());
    let held = client::hold_streams(&http, &url, streams, OPEN_TIMEOUT).await;
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
