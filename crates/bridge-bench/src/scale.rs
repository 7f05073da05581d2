//! The two long checks, kept out of the default run (and out of `scripts/test`): the scale
//! run (many concurrent open streams over several fake tabs: RSS, CPU, time to open) and the
//! soak run (a steady moderate load for a long time, sampling RSS to show it stays flat after
//! warm-up).

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{bail, Context as _};
use tokio::time::Instant;

use crate::client::{self, CHAT_PATH};
use crate::cpu;
use crate::run::{loaded_server, spec as spec_for, start_server, Plan};
use crate::server::{Memory, Shape};
use crate::stamp::Clock;
use crate::stats::Latencies;
use crate::tab::{self, Behavior};

/// File descriptors besides the streams: tabs, log, listener, the runtime's own.
const FD_MARGIN: u64 = 256;
/// How long the scale run waits for all its streams to open.
const SCALE_OPEN_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the scale run measures the server while every stream is held open and idle.
const SCALE_HOLD: Duration = Duration::from_secs(5);
/// Extra sessions in a scale server's pool beyond one per stream.
const SPARE_SESSIONS: usize = 4;
const KIB_PER_MIB: f64 = 1024.0;

/// Limits file, its open-files line, and the tool that sets a running process's limits.
const LIMITS_FILE: &str = "/proc/self/limits";
const OPEN_FILES_LINE: &str = "Max open files";
const PRLIMIT: &str = "prlimit";

/// Soft and hard open-files limits from the text of `/proc/<pid>/limits`.
pub(crate) fn parse_open_files(limits: &str) -> Option<(u64, u64)> {
    let line = limits.lines().find(|l| l.starts_with(OPEN_FILES_LINE))?;
    let mut fields = line[OPEN_FILES_LINE.len()..].split_whitespace();
    let mut limit = || -> Option<u64> {
        match fields.next()? {
            "unlimited" => Some(u64::MAX),
            n => n.parse().ok(),
        }
    };
    Some((limit()?, limit()?))
}

fn open_files_limit() -> anyhow::Result<(u64, u64)> {
    let text = std::fs::read_to_string(LIMITS_FILE)
        .with_context(|| format!("cannot read {LIMITS_FILE}"))?;
    parse_open_files(&text).with_context(|| format!("no '{OPEN_FILES_LINE}' in {LIMITS_FILE}"))
}

/// Raises this process's soft `RLIMIT_NOFILE` to its hard limit (with util-linux `prlimit`,
/// as the workspace has no unsafe code for `setrlimit`); the server, a child started later,
/// inherits it. Each open stream costs one descriptor in the bench and one in the server,
/// so `streams` must fit under the hard limit. Returns the limit now in force.
pub(crate) fn raise_file_limit(streams: usize) -> anyhow::Result<u64> {
    let (soft, hard) = open_files_limit()?;
    if soft < hard {
        let status = std::process::Command::new(PRLIMIT)
            .arg("--pid")
            .arg(std::process::id().to_string())
            .arg(format!("--nofile={hard}:{hard}"))
            .status()
            .with_context(|| format!("cannot run {PRLIMIT} (util-linux) to raise RLIMIT_NOFILE"))?;
        if !status.success() {
            bail!("{PRLIMIT} could not raise RLIMIT_NOFILE to {hard}: {status}");
        }
    }
    let (soft, hard) = open_files_limit()?;
    let needed = streams as u64 + FD_MARGIN;
    if soft < needed {
        bail!(
            "{streams} streams need {needed} file descriptors per process; the limit is {soft} \
             (hard {hard}): raise the hard limit, e.g. `ulimit -Hn {needed}` as root"
        );
    }
    Ok(soft)
}

/// The scale run's figures.
#[derive(Debug)]
pub(crate) struct ScaleResult {
    pub streams: usize,
    pub tabs: usize,
    pub opening: usize,
    pub file_limit: u64,
    pub open: usize,
    pub errors: Vec<String>,
    /// Server memory with the tabs connected, and with every stream open.
    pub before: Memory,
    pub with: Memory,
    /// From the first request sent to the last stream's first delta.
    pub open_all: Duration,
    /// Each stream's time from its request to its first delta.
    pub open_each: Latencies,
    /// Server CPU while the streams opened, and during [`SCALE_HOLD`] with all of them idle.
    pub cpu_open_ns: u64,
    pub cpu_hold_ns: u64,
}

/// Opens `streams` streams (at most `opening` at a time between request and first delta, 0:
/// all at once) over `plan.tabs` tabs that answer each with one delta and
/// then hold it, and measures the server.
pub(crate) async fn scale_run(
    plan: &Plan,
    streams: usize,
    opening: usize,
    file_limit: u64,
    clock: Clock,
) -> anyhow::Result<ScaleResult> {
    let server = start_server(plan, Shape::retry(streams + SPARE_SESSIONS)).await?;
    let _tabs = tab::connect(server.port, plan.tabs, Behavior::Hold, clock).await?;
    let before = server.memory()?;
    let http = client::http_client(streams)?;
    let url = format!("{}{CHAT_PATH}", server.base_url());
    let pid = server.pid().to_string();
    let cpu0 = cpu::threads_cpu(&pid, "")?.total_ns();
    let started = Instant::now();
    let held = client::hold_streams(&http, &url, streams, opening, SCALE_OPEN_TIMEOUT).await;
    let open_all = started.elapsed();
    let cpu1 = cpu::threads_cpu(&pid, "")?.total_ns();
    let with = server.memory()?;
    tokio::time::sleep(SCALE_HOLD).await;
    let cpu2 = cpu::threads_cpu(&pid, "")?.total_ns();
    let result = ScaleResult {
        streams,
        tabs: plan.tabs,
        opening,
        file_limit,
        open: held.open,
        errors: held.errors.clone(),
        before,
        with,
        open_all,
        open_each: held.open_times.clone(),
        cpu_open_ns: cpu1.saturating_sub(cpu0),
        cpu_hold_ns: cpu2.saturating_sub(cpu1),
    };
    held.release().await;
    server.stop();
    Ok(result)
}

impl ScaleResult {
    pub(crate) fn render(&self) -> String {
        let mib = |kib: u64| kib as f64 / KIB_PER_MIB;
        let per_stream = (self.open > 0).then(|| {
            self.with.rss_kib.saturating_sub(self.before.rss_kib) as f64 / self.open as f64
        });
        let q = |p: f64| {
            self.open_each
                .quantile_ms(p)
                .map_or("-".to_owned(), |v| format!("{v:.1}"))
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nscale: {} streams over {} tabs, {} (RLIMIT_NOFILE {})",
            self.streams,
            self.tabs,
            match self.opening {
                0 => "all opened at once".to_owned(),
                n => format!("at most {n} opening at a time"),
            },
            self.file_limit
        );
        let _ = writeln!(
            out,
            "  open               {} of {}",
            self.open, self.streams
        );
        let _ = writeln!(
            out,
            "  time to open all   {:.2} s; each stream to its first delta p50 {} / p99 {} / max {} ms",
            self.open_all.as_secs_f64(),
            q(0.5),
            q(0.99),
            q(1.0)
        );
        let _ = writeln!(
            out,
            "  server RSS         {:.1} MiB with the tabs, {:.1} MiB with the streams (peak {:.1}); {} KiB per stream",
            mib(self.before.rss_kib),
            mib(self.with.rss_kib),
            mib(self.with.peak_kib),
            per_stream.map_or("-".to_owned(), |k| format!("{k:.1}"))
        );
        let _ = writeln!(
            out,
            "  server CPU         {:.0} ms to open them ({:.0} µs per stream); {:.1}% of a core while all are held idle",
            self.cpu_open_ns as f64 / 1e6,
            self.cpu_open_ns as f64 / 1e3 / self.open.max(1) as f64,
            self.cpu_hold_ns as f64 / SCALE_HOLD.as_nanos() as f64 * 100.0
        );
        let _ = writeln!(out, "  errors             {}", self.errors.len());
        for e in self.errors.iter().take(3) {
            let _ = writeln!(out, "    {e}");
        }
        out
    }
}

/// One sample of the soak run: the window since the previous sample.
#[derive(Debug, Clone)]
pub(crate) struct SoakSample {
    /// Seconds since the soak began, at the end of the window.
    pub at: f64,
    pub completed: u64,
    pub errors: u64,
    pub rss_kib: u64,
    pub cpu_ns: u64,
    pub window: Duration,
}

/// The soak run's figures.
#[derive(Debug)]
pub(crate) struct SoakResult {
    pub concurrency: usize,
    pub warmup: Duration,
    pub samples: Vec<SoakSample>,
    pub first_error: Option<String>,
}

/// What the soak run does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SoakSpec {
    pub duration: Duration,
    pub every: Duration,
    pub warmup: Duration,
    pub concurrency: usize,
}

/// Drives `spec.concurrency` clients for `spec.duration` against one server, sampling its RSS
/// and CPU every `spec.every`. The load is moderate when the tabs pace their answers
/// (`--gap-ms`).
pub(crate) async fn soak_run(
    plan: &Plan,
    spec: SoakSpec,
    clock: Clock,
) -> anyhow::Result<SoakResult> {
    let (server, _tabs) = loaded_server(plan, spec.concurrency, clock).await?;
    let http = client::http_client(spec.concurrency)?;
    let base_url = server.base_url();
    let pid = server.pid().to_string();
    let began = Instant::now();
    let mut samples = Vec::new();
    let mut first_error = None;
    let mut cpu_before = cpu::threads_cpu(&pid, "")?.total_ns();
    while began.elapsed() < spec.duration {
        let window = spec
            .every
            .min(spec.duration.saturating_sub(began.elapsed()));
        let load = spec_for(
            plan,
            &base_url,
            spec.concurrency,
            window.max(Duration::from_millis(1)),
        );
        let result = client::drive(&http, &load, clock).await;
        let cpu_now = cpu::threads_cpu(&pid, "")?.total_ns();
        let memory = server.memory()?;
        if first_error.is_none() {
            first_error.clone_from(&result.first_error);
        }
        samples.push(SoakSample {
            at: began.elapsed().as_secs_f64(),
            completed: result.completed,
            errors: result.errors,
            rss_kib: memory.rss_kib,
            cpu_ns: cpu_now.saturating_sub(cpu_before),
            window: load.duration,
        });
        cpu_before = cpu_now;
    }
    server.stop();
    Ok(SoakResult {
        concurrency: spec.concurrency,
        warmup: spec.warmup,
        samples,
        first_error,
    })
}

/// RSS after warm-up: first, last, least and most, and the growth per hour fitted by least
/// squares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Flatness {
    pub first_kib: u64,
    pub last_kib: u64,
    pub min_kib: u64,
    pub max_kib: u64,
    pub slope_kib_per_hour: f64,
}

/// How flat the RSS samples taken at or after `warmup` seconds are; `None` without two.
pub(crate) fn flatness(samples: &[SoakSample], warmup: f64) -> Option<Flatness> {
    let after: Vec<&SoakSample> = samples.iter().filter(|s| s.at >= warmup).collect();
    if after.len() < 2 {
        return None;
    }
    let n = after.len() as f64;
    let mean_t = after.iter().map(|s| s.at).sum::<f64>() / n;
    let mean_r = after.iter().map(|s| s.rss_kib as f64).sum::<f64>() / n;
    let (mut cov, mut var) = (0.0, 0.0);
    for s in &after {
        cov += (s.at - mean_t) * (s.rss_kib as f64 - mean_r);
        var += (s.at - mean_t).powi(2);
    }
    let slope = if var > 0.0 { cov / var } else { 0.0 };
    Some(Flatness {
        first_kib: after.first()?.rss_kib,
        last_kib: after.last()?.rss_kib,
        min_kib: after.iter().map(|s| s.rss_kib).min()?,
        max_kib: after.iter().map(|s| s.rss_kib).max()?,
        slope_kib_per_hour: slope * 3600.0,
    })
}

impl SoakResult {
    pub(crate) fn errors(&self) -> u64 {
        self.samples.iter().map(|s| s.errors).sum()
    }

    pub(crate) fn render(&self) -> String {
        let mib = |kib: u64| kib as f64 / KIB_PER_MIB;
        let mut out = String::new();
        let total: u64 = self.samples.iter().map(|s| s.completed).sum();
        let secs = self.samples.last().map_or(0.0, |s| s.at);
        let _ = writeln!(
            out,
            "\nsoak: {:.0} s, {} clients, {} requests ({:.0}/s), {} errors",
            secs,
            self.concurrency,
            total,
            total as f64 / secs.max(1e-9),
            self.errors()
        );
        let _ = writeln!(
            out,
            "  {:>8} {:>8} {:>7} {:>9} {:>7}",
            "t s", "req/s", "errors", "RSS MiB", "CPU %"
        );
        for s in &self.samples {
            let w = s.window.as_secs_f64().max(1e-9);
            let _ = writeln!(
                out,
                "  {:>8.0} {:>8.0} {:>7} {:>9.2} {:>7.1}",
                s.at,
                s.completed as f64 / w,
                s.errors,
                mib(s.rss_kib),
                s.cpu_ns as f64 / 1e9 / w * 100.0
            );
        }
        match flatness(&self.samples, self.warmup.as_secs_f64()) {
            Some(f) => {
                let _ = writeln!(
                    out,
                    "  after {:.0} s warm-up: RSS {:.2} → {:.2} MiB (min {:.2}, max {:.2}), fitted growth {:+.1} KiB/hour",
                    self.warmup.as_secs_f64(),
                    mib(f.first_kib),
                    mib(f.last_kib),
                    mib(f.min_kib),
                    mib(f.max_kib),
                    f.slope_kib_per_hour
                );
            }
            None => {
                let _ = writeln!(out, "  too few samples after the warm-up to judge RSS");
            }
        }
        if let Some(e) = &self.first_error {
            let _ = writeln!(out, "  first error: {e}");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at: f64, rss_kib: u64) -> SoakSample {
        SoakSample {
            at,
            completed: 10,
            errors: 0,
            rss_kib,
            cpu_ns: 0,
            window: Duration::from_secs(1),
        }
    }

    #[test]
    fn flatness_ignores_the_warm_up_and_fits_the_growth() {
        let samples = [
            sample(10.0, 1000),
            sample(60.0, 5000),
            sample(120.0, 5000),
            sample(180.0, 5060),
        ];
        let f = flatness(&samples, 60.0).unwrap();
        assert_eq!((f.first_kib, f.last_kib), (5000, 5060));
        assert_eq!((f.min_kib, f.max_kib), (5000, 5060));
        // Least squares over the three points after the warm-up: 0.5 KiB/s.
        assert!((f.slope_kib_per_hour - 1800.0).abs() < 1.0, "{f:?}");
        let flat = [sample(60.0, 7000), sample(120.0, 7000)];
        assert_eq!(flatness(&flat, 0.0).unwrap().slope_kib_per_hour, 0.0);
        assert!(
            flatness(&samples, 170.0).is_none(),
            "one sample is not a trend"
        );
    }

    #[test]
    fn open_files_limits_are_read() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
                    Max processes             unlimited            unlimited            processes\n\
                    Max open files            1024                 20000                files\n";
        assert_eq!(parse_open_files(text), Some((1024, 20000)));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files(unlimited), Some((u64::MAX, u64::MAX)));
        assert_eq!(parse_open_files("Max processes 1 1\n"), None);
    }

    #[test]
    fn the_file_limit_is_raised_and_checked() {
        let limit = raise_file_limit(1).unwrap();
        assert!(limit > FD_MARGIN);
        assert!(raise_file_limit(usize::MAX / 2).is_err());
    }
}
