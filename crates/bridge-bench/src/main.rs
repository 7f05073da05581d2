//! bridge-bench: a benchmark of the whole relay. It starts the release `bridge-server` on a
//! free loopback port with a temporary config, connects fake tabs that answer every job at once
//! with a stamped transcript, drives concurrent OpenAI clients for a fixed time, and runs the
//! same client loop against a no-relay baseline server in this process. Then it holds many
//! streams open to measure memory, and times the server's start.
//!
//! Modules:
//! - [`stamp`]: send times carried in the answer text, one clock for the process.
//! - [`server`]: the server process, its temporary config and its memory.
//! - [`tab`]: the lean fake tab.
//! - [`client`]: the client workers, answer checks, held streams.
//! - [`baseline`]: the no-relay SSE server.
//! - [`stats`]: latency histograms, median/min/max over runs.
//! - [`cpu`]: CPU time of the server and of the bench's threads.
//! - [`run`]: the measurements.
//! - [`report`]: printing and the targets.
//! - [`scale`]: the scale run (many open streams) and the soak run (RSS over a long load).
//! - [`chaos`]: the chaos run against the server process, with its RSS (issue 16).

mod baseline;
mod chaos;
mod client;
mod cpu;
mod report;
mod run;
mod scale;
mod server;
mod stamp;
mod stats;
mod tab;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use bridge_core::config::UpstreamFlow;
use clap::Parser;

/// Benchmark of the lmarena-bridge relay (bridge-server + fake tabs + OpenAI clients) against
/// a no-relay baseline. Build first: cargo build --release -p bridge-server -p bridge-bench
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The bridge-server binary to benchmark.
    #[arg(long, default_value = "target/release/bridge-server")]
    server: PathBuf,
    /// Fake tabs connected to the server (K).
    #[arg(short = 'k', long, default_value_t = 1)]
    tabs: usize,
    /// Text lines (deltas) in every answer (L).
    #[arg(short = 'l', long, default_value_t = 20)]
    lines: usize,
    /// Concurrent clients (C); a comma-separated list runs each level.
    #[arg(short = 'c', long, value_delimiter = ',', default_values_t = [8, 64])]
    concurrency: Vec<usize>,
    /// Measured seconds of each load run (D).
    #[arg(short = 'd', long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds of warm-up of each side before measuring.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Relay and baseline alternate in slices of about this many seconds, so a change in
    /// the machine's other load hits both alike.
    #[arg(long, default_value_t = 1.0)]
    slice: f64,
    /// Milliseconds before each text line of an answer, in the fake tabs and the baseline
    /// (0: the whole answer at once). A gap paces answers like a model producing tokens, so
    /// per-chunk latency shows what the relay adds rather than queueing at saturation.
    #[arg(long, default_value_t = 0.0)]
    gap_ms: f64,
    /// Non-streaming requests instead of streaming ones.
    #[arg(long)]
    no_stream: bool,
    /// Repeat every load run this many times; figures are the median, with min and max.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Streams held open in the memory run (0 skips it).
    #[arg(long, default_value_t = 1000)]
    memory: usize,
    /// Server starts timed (0 skips them).
    #[arg(long, default_value_t = 5)]
    starts: usize,
    /// RUST_LOG of the server (its log goes to a file in the temporary directory, beside the
    /// config directory).
    #[arg(long, default_value = "info")]
    server_log: String,
    /// Skip the no-relay baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Sessions in the model's pool for the load runs (default: 4 per client, at least 16).
    /// Requests to one session never run at once, so fewer than C make clients wait.
    #[arg(long)]
    sessions: Option<usize>,
    /// Extra models in models.json besides the benchmarked one (the server's per-request
    /// work must not grow with them).
    #[arg(long, default_value_t = 0)]
    models: usize,
    /// Upstream flow of the benchmarked model: `retry` (a session pool) or `evaluation`
    /// (conversation memory; requests carry an earlier exchange, so each one is looked up).
    #[arg(long, default_value = "retry", value_parser = parse_flow)]
    flow: UpstreamFlow,
    /// Conversations remembered by the server before each load run (`--flow evaluation`):
    /// filled by that many answered requests.
    #[arg(long, default_value_t = 0)]
    conversations: usize,
    /// Scale mode: open this many streams at once over the K tabs and hold them (RSS, CPU,
    /// time to open). The soft file-descriptor limit is raised to the hard one first. Only
    /// the scale (and soak) runs happen.
    #[arg(long, default_value_t = 0)]
    scale: usize,
    /// Scale mode: at most this many streams between their request and their first delta
    /// at a time (0: all at once).
    #[arg(long, default_value_t = 1000)]
    scale_opening: usize,
    /// Soak mode: seconds of steady load by the first C clients against one server, sampling
    /// its RSS and CPU; pace it with --gap-ms. Only the soak (and scale) runs happen.
    #[arg(long, default_value_t = 0.0)]
    soak: f64,
    /// Seconds between soak samples.
    #[arg(long, default_value_t = 10.0)]
    soak_every: f64,
    /// Seconds of the soak run before RSS must stay flat.
    #[arg(long, default_value_t = 60.0)]
    soak_warmup: f64,
    /// Chaos mode: requests per chaos round (faulty tabs and clients, then the invariants and
    /// the server's RSS back near idle), by the first C clients over K tabs. Only the chaos
    /// run happens.
    #[arg(long, default_value_t = 0)]
    chaos_requests: u64,
    /// Seed of the chaos run (round i uses seed + i).
    #[arg(long, default_value_t = 16)]
    seed: u64,
    /// Chaos rounds; RSS must not grow from one to the next.
    #[arg(long, default_value_t = 2)]
    chaos_rounds: usize,
    /// Requests of the clean warm-up before the idle RSS is read (default: as a round).
    #[arg(long)]
    chaos_warmup: Option<u64>,
    /// Seconds the server gets to settle after a round before its RSS is read.
    #[arg(long, default_value_t = 3.0)]
    chaos_settle: f64,
    /// Start the server with glibc's mmap and trim thresholds fixed at 128 KiB, so its RSS
    /// follows the memory it holds, not what glibc keeps for reuse (every mode).
    #[arg(long)]
    fixed_malloc: bool,
}

/// The scale and soak modes.
async fn long_runs(
    plan: &run::Plan,
    streams: usize,
    opening: usize,
    soak: scale::SoakSpec,
    clock: stamp::Clock,
) -> anyhow::Result<()> {
    println!("bridge-bench: machine {}", report::machine());
    let mut errors = 0;
    if streams > 0 {
        let limit = scale::raise_file_limit(streams)?;
        let result = scale::scale_run(plan, streams, opening, limit, clock).await?;
        print!("{}", result.render());
        errors += streams.saturating_sub(result.open) as u64;
    }
    if !soak.duration.is_zero() {
        let result = scale::soak_run(plan, soak, clock).await?;
        print!("{}", result.render());
        errors += result.errors();
    }
    if errors > 0 {
        bail!("{errors} errors: the relay must answer every request correctly");
    }
    Ok(())
}

fn parse_flow(value: &str) -> Result<UpstreamFlow, String> {
    value.parse().map_err(|e| format!("{e}"))
}

fn seconds(value: f64, name: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| anyhow::anyhow!("--{name} must be >= 0"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.tabs == 0 || args.lines == 0 || args.runs == 0 {
        bail!("--tabs, --lines and --runs must be at least 1");
    }
    if args.concurrency.contains(&0) {
        bail!("--concurrency values must be at least 1");
    }
    let plan = run::Plan {
        server: args.server,
        tabs: args.tabs,
        lines: args.lines,
        concurrency: args.concurrency,
        duration: seconds(args.duration, "duration")?,
        warmup: seconds(args.warmup, "warmup")?,
        slice: seconds(args.slice, "slice")?,
        gap: seconds(args.gap_ms / 1e3, "gap-ms")?,
        stream: !args.no_stream,
        runs: args.runs,
        memory: args.memory,
        starts: args.starts,
        server_log: args.server_log,
        baseline: !args.no_baseline,
        sessions: args.sessions,
        models: args.models,
        flow: args.flow,
        conversations: args.conversations,
        fixed_malloc: args.fixed_malloc,
    };
    plan.check()?;
    if !plan.server.is_file() {
        bail!(
            "{} not found; build it first: cargo build --release -p bridge-server -p bridge-bench",
            plan.server.display()
        );
    }
    if args.chaos_requests > 0 {
        let spec = chaos::ChaosSpec {
            seed: args.seed,
            requests: args.chaos_requests,
            rounds: args.chaos_rounds.max(1),
            warmup_requests: args.chaos_warmup.unwrap_or(args.chaos_requests),
            settle: seconds(args.chaos_settle, "chaos-settle")?,
            concurrency: plan.concurrency[0],
            tabs: plan.tabs,
        };
        println!("bridge-bench: machine {}", report::machine());
        let result = chaos::chaos_run(&plan, spec).await?;
        print!("{}", result.render());
        let failures = result.failures().len();
        if failures > 0 {
            bail!("{failures} violations in the chaos run");
        }
        return Ok(());
    }
    let clock = stamp::Clock::new();
    let soak = seconds(args.soak, "soak")?;
    if args.scale > 0 || !soak.is_zero() {
        let spec = scale::SoakSpec {
            duration: soak,
            every: seconds(args.soak_every, "soak-every")?.max(Duration::from_millis(100)),
            warmup: seconds(args.soak_warmup, "soak-warmup")?,
            concurrency: plan.concurrency[0],
        };
        return long_runs(&plan, args.scale, args.scale_opening, spec, clock).await;
    }
    let starts_ms = run::measure_starts(&plan).await?;
    let levels = run::load_runs(&plan, clock).await?;
    let mut memory = Vec::new();
    if plan.memory > 0 {
        for _ in 0..plan.runs {
            memory.push(run::memory_run(&plan, clock).await?);
        }
    }
    let report = report::Report {
        plan,
        machine: report::machine(),
        starts_ms,
        levels,
        memory,
    };
    print!("{}", report.render());
    let (errors, _) = report.errors();
    if errors > 0 {
        bail!("{errors} errors: the relay must answer every request correctly");
    }
    Ok(())
}
