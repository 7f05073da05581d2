//! Printing the figures (median over runs, with min and max) and checking them against the
//! targets of the performance issue.

use std::fmt::Write as _;

use crate::run::{LevelResult, MemoryResult, Plan, Side};
use crate::stats::Spread;

/// Targets (2-core machine, release build).
pub(crate) const TARGET_EFFICIENCY: f64 = 0.60;
pub(crate) const TARGET_EFFICIENCY_CONCURRENCY: usize = 8;
pub(crate) const TARGET_EFFICIENCY_LINES: usize = 20;
pub(crate) const TARGET_CHUNK_P99_MS: f64 = 1.0;
pub(crate) const TARGET_CHUNK_CONCURRENCY: usize = 64;
/// Issue 17: 1,000 open streams within 34 MiB, i.e. about 20 KiB per stream.
pub(crate) const TARGET_RSS_MIB: f64 = 34.0;
pub(crate) const TARGET_RSS_STREAMS: usize = 1000;
pub(crate) const TARGET_START_MS: f64 = 50.0;

const KIB_PER_MIB: f64 = 1024.0;

/// Everything measured.
#[derive(Debug)]
pub(crate) struct Report {
    pub plan: Plan,
    pub machine: String,
    pub starts_ms: Vec<f64>,
    pub levels: Vec<LevelResult>,
    /// One memory run per `plan.runs` (empty when skipped).
    pub memory: Vec<MemoryResult>,
}

/// One target and whether it was met.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TargetCheck {
    pub what: String,
    pub figure: String,
    pub met: bool,
}

/// `nproc × model name` of this machine.
pub(crate) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim());
    format!("{cores} cores, {model}")
}

fn fmt_spread(values: &[f64], decimals: usize) -> String {
    match Spread::of(values) {
        None => "-".to_owned(),
        Some(s) if values.len() == 1 => format!("{:.*}", decimals, s.median),
        Some(s) => format!(
            "{:.*} ({:.*}…{:.*})",
            decimals, s.median, decimals, s.min, decimals, s.max
        ),
    }
}

fn median(values: &[f64]) -> Option<f64> {
    Spread::of(values).map(|s| s.median)
}

type Figure = fn(&Side) -> Option<f64>;

const ROWS: &[(&str, Figure, usize)] = &[
    ("requests/s", |s| Some(s.load.rps()), 0),
    ("e2e p50 ms", |s| s.load.e2e.quantile_ms(0.50), 2),
    ("e2e p90 ms", |s| s.load.e2e.quantile_ms(0.90), 2),
    ("e2e p99 ms", |s| s.load.e2e.quantile_ms(0.99), 2),
    ("TTFT p50 ms", |s| s.load.ttft.quantile_ms(0.50), 2),
    ("TTFT p99 ms", |s| s.load.ttft.quantile_ms(0.99), 2),
    ("chunk p50 ms", |s| s.load.chunk.quantile_ms(0.50), 3),
    ("chunk p99 ms", |s| s.load.chunk.quantile_ms(0.99), 3),
    ("server CPU us/req", Side::server_us, 1),
    ("bench CPU us/req", Side::client_us, 1),
    ("errors", |s| Some(s.load.errors as f64), 0),
];

impl Report {
    /// Errors of every run, and the first message of each kind of run that had one.
    pub(crate) fn errors(&self) -> (u64, Vec<String>) {
        let mut total = 0;
        let mut first = Vec::new();
        for level in &self.levels {
            for run in &level.runs {
                for side in std::iter::once(&run.relay).chain(run.baseline.as_ref()) {
                    total += side.load.errors;
                    if let Some(e) = &side.load.first_error {
                        first.push(format!("C={}: {e}", level.concurrency));
                    }
                }
            }
        }
        for m in &self.memory {
            total += m.errors.len() as u64;
            first.extend(m.errors.iter().take(1).map(|e| format!("memory run: {e}")));
        }
        (total, first)
    }

    pub(crate) fn render(&self) -> String {
        let p = &self.plan;
        let mut out = String::new();
        let _ = writeln!(out, "bridge-bench: the relay against a no-relay baseline");
        let _ = writeln!(out, "machine: {}", self.machine);
        let _ = writeln!(
            out,
            "server: {}; K={} tabs, L={} lines{}, {}, D={} s after {} s warm-up, {} run(s): median (min…max)",
            p.server.display(),
            p.tabs,
            p.lines,
            if p.gap.is_zero() {
                " at once".to_owned()
            } else {
                format!(" {} ms apart", p.gap.as_secs_f64() * 1e3)
            },
            if p.stream { "streaming" } else { "not streaming" },
            p.duration.as_secs_f64(),
            p.warmup.as_secs_f64(),
            p.runs
        );
        let _ = writeln!(
            out,
            "config: flow {}, pool of {} sessions, {} extra models, {} conversations remembered before each run",
            p.flow,
            p.sessions
                .map_or_else(|| "4 per client (at least 16)".to_owned(), |n| n.to_string()),
            p.models,
            p.conversations
        );
        if !self.starts_ms.is_empty() {
            let _ = writeln!(
                out,
                "\nstart to listening: {} ms over {} starts",
                fmt_spread(&self.starts_ms, 1),
                self.starts_ms.len()
            );
        }
        for level in &self.levels {
            let _ = writeln!(out, "\nC={}", level.concurrency);
            let _ = writeln!(out, "  {:<20}{:<30}baseline", "", "relay");
            for (name, figure, decimals) in ROWS {
                let relay: Vec<f64> = level.runs.iter().filter_map(|r| figure(&r.relay)).collect();
                let base: Vec<f64> = level
                    .runs
                    .iter()
                    .filter_map(|r| r.baseline.as_ref().and_then(figure))
                    .collect();
                let _ = writeln!(
                    out,
                    "  {:<20}{:<30}{}",
                    name,
                    fmt_spread(&relay, *decimals),
                    fmt_spread(&base, *decimals)
                );
            }
            let remembered: Vec<f64> = level
                .runs
                .iter()
                .filter_map(|r| r.remembered.map(|n| n as f64))
                .collect();
            if !remembered.is_empty() {
                let _ = writeln!(
                    out,
                    "  {:<20}{}",
                    "remembered at start",
                    fmt_spread(&remembered, 0)
                );
            }
            let peak: Vec<f64> = level
                .runs
                .iter()
                .map(|r| r.relay_peak.peak_kib as f64 / KIB_PER_MIB)
                .collect();
            let _ = writeln!(
                out,
                "  {:<20}{}",
                "peak server RSS MiB",
                fmt_spread(&peak, 1)
            );
            let eff = efficiencies(level);
            if !eff.is_empty() {
                let _ = writeln!(
                    out,
                    "  relay efficiency (relay rps / baseline rps): {}",
                    fmt_spread(&eff, 2)
                );
            }
            let cpu_eff = cpu_efficiencies(level);
            if !cpu_eff.is_empty() {
                let _ = writeln!(
                    out,
                    "  CPU efficiency (baseline CPU/req / relay CPU/req): {}",
                    fmt_spread(&cpu_eff, 2)
                );
            }
        }
        if let Some(first) = self.memory.first() {
            let mib = |f: fn(&MemoryResult) -> u64| -> Vec<f64> {
                self.memory
                    .iter()
                    .map(|m| f(m) as f64 / KIB_PER_MIB)
                    .collect()
            };
            let open: Vec<f64> = self.memory.iter().map(|m| m.open as f64).collect();
            let per_stream: Vec<f64> = self
                .memory
                .iter()
                .filter_map(MemoryResult::per_stream_kib)
                .collect();
            let _ = writeln!(out, "\nmemory: {} streams held open", first.streams);
            let _ = writeln!(out, "  {:<28}{}", "streams open", fmt_spread(&open, 0));
            let _ = writeln!(
                out,
                "  {:<28}{}",
                "server RSS before MiB",
                fmt_spread(&mib(|m| m.before.rss_kib), 1)
            );
            let _ = writeln!(
                out,
                "  {:<28}{}",
                "server RSS with them MiB",
                fmt_spread(&mib(|m| m.with.rss_kib), 1)
            );
            let _ = writeln!(
                out,
                "  {:<28}{}",
                "per stream KiB",
                fmt_spread(&per_stream, 1)
            );
        }
        let (errors, messages) = self.errors();
        let _ = writeln!(out, "\nerrors: {errors}");
        for m in messages.iter().take(5) {
            let _ = writeln!(out, "  {m}");
        }
        let checks = self.targets();
        if !checks.is_empty() {
            let _ = writeln!(out, "\ntargets:");
            for t in &checks {
                let mark = if t.met { "met   " } else { "MISSED" };
                let _ = writeln!(out, "  {mark} {}: {}", t.what, t.figure);
            }
        }
        out
    }

    /// The targets this run's settings can speak to, with the median figures.
    pub(crate) fn targets(&self) -> Vec<TargetCheck> {
        let p = &self.plan;
        let mut checks = Vec::new();
        if let Some(start) = median(&self.starts_ms) {
            checks.push(TargetCheck {
                what: format!("start to listening <= {TARGET_START_MS} ms"),
                figure: format!("{start:.1} ms"),
                met: start <= TARGET_START_MS,
            });
        }
        for level in &self.levels {
            // Paced answers are bound by the gaps, not by the relay: no throughput target.
            if p.stream
                && p.gap.is_zero()
                && p.lines == TARGET_EFFICIENCY_LINES
                && level.concurrency == TARGET_EFFICIENCY_CONCURRENCY
            {
                if let Some(eff) = median(&efficiencies(level)) {
                    checks.push(TargetCheck {
                        what: format!(
                            "relay throughput >= {:.0}% of baseline at C={}, L={}",
                            TARGET_EFFICIENCY * 100.0,
                            TARGET_EFFICIENCY_CONCURRENCY,
                            TARGET_EFFICIENCY_LINES
                        ),
                        figure: format!("{:.0}%", eff * 100.0),
                        met: eff >= TARGET_EFFICIENCY,
                    });
                }
            }
            if p.stream && level.concurrency == TARGET_CHUNK_CONCURRENCY {
                let p99: Vec<f64> = level
                    .runs
                    .iter()
                    .filter_map(|r| r.relay.load.chunk.quantile_ms(0.99))
                    .collect();
                if let Some(p99) = median(&p99) {
                    checks.push(TargetCheck {
                        what: format!(
                            "per-chunk added latency p99 <= {TARGET_CHUNK_P99_MS} ms at C={TARGET_CHUNK_CONCURRENCY}"
                        ),
                        figure: format!("{p99:.3} ms"),
                        met: p99 <= TARGET_CHUNK_P99_MS,
                    });
                }
            }
        }
        let with: Vec<f64> = self
            .memory
            .iter()
            .map(|m| m.with.rss_kib as f64 / KIB_PER_MIB)
            .collect();
        if let (Some(first), Some(mib)) = (self.memory.first(), median(&with)) {
            if first.streams >= TARGET_RSS_STREAMS {
                checks.push(TargetCheck {
                    what: format!(
                        "server RSS <= {TARGET_RSS_MIB} MiB with {} open streams",
                        first.streams
                    ),
                    figure: format!("{mib:.1} MiB"),
                    met: mib <= TARGET_RSS_MIB && self.memory.iter().all(|m| m.open == m.streams),
                });
            }
        }
        let (errors, _) = self.errors();
        checks.push(TargetCheck {
            what: "zero errors".to_owned(),
            figure: errors.to_string(),
            met: errors == 0,
        });
        checks
    }
}

/// Relay rps / baseline rps of each run.
fn efficiencies(level: &LevelResult) -> Vec<f64> {
    level
        .runs
        .iter()
        .filter_map(|r| {
            let base = r.baseline.as_ref()?.load.rps();
            (base > 0.0).then(|| r.relay.load.rps() / base)
        })
        .collect()
}

/// Baseline CPU per request / relay CPU per request of each run: the share of the relay's
/// machine time that a no-relay server would need, which other load barely moves.
fn cpu_efficiencies(level: &LevelResult) -> Vec<f64> {
    level
        .runs
        .iter()
        .filter_map(|r| {
            let base = r.baseline.as_ref()?.total_us()?;
            let relay = r.relay.total_us()?;
            (relay > 0.0).then(|| base / relay)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::LoadResult;
    use crate::run::{MemoryResult, RunPair};
    use crate::server::Memory;
    use std::time::Duration;

    fn plan() -> Plan {
        Plan::for_server("bridge-server".into())
    }

    fn load(completed: u64, errors: u64) -> Side {
        Side {
            load: LoadResult {
                completed,
                window: Duration::from_secs(1),
                errors,
                ..LoadResult::default()
            },
            server_cpu_ns: completed * 100_000,
            client_cpu_ns: completed * 50_000,
        }
    }

    fn report(relay: u64, base: u64, relay_errors: u64) -> Report {
        Report {
            plan: plan(),
            machine: "test".into(),
            starts_ms: vec![10.0, 70.0, 20.0],
            levels: vec![LevelResult {
                concurrency: 8,
                runs: vec![RunPair {
                    relay: load(relay, relay_errors),
                    relay_peak: Memory {
                        rss_kib: 1,
                        peak_kib: 2048,
                    },
                    baseline: Some(load(base, 0)),
                    remembered: None,
                }],
            }],
            memory: Vec::new(),
        }
    }

    #[test]
    fn efficiency_target_uses_the_rps_ratio() {
        let r = report(700, 1000, 0);
        let checks = r.targets();
        let eff = checks
            .iter()
            .find(|c| c.what.contains("throughput"))
            .unwrap();
        assert!(eff.met);
        assert_eq!(eff.figure, "70%");
        let start = checks.iter().find(|c| c.what.contains("start")).unwrap();
        assert_eq!(start.figure, "20.0 ms", "median of the starts");
        // Same CPU per request on both sides.
        assert_eq!(cpu_efficiencies(&r.levels[0]), vec![1.0]);
        let low = report(500, 1000, 0);
        assert!(
            !low.targets()
                .iter()
                .find(|c| c.what.contains("throughput"))
                .unwrap()
                .met
        );
    }

    #[test]
    fn errors_fail_the_zero_errors_target_and_are_printed() {
        let r = report(700, 1000, 3);
        assert_eq!(r.errors().0, 3);
        let zero = r
            .targets()
            .into_iter()
            .find(|c| c.what == "zero errors")
            .unwrap();
        assert!(!zero.met);
        assert!(r.render().contains("errors: 3"));
    }

    #[test]
    fn memory_target_uses_rss_with_the_streams_and_needs_all_open() {
        let mut r = report(700, 1000, 0);
        let run = |open, with_mib: u64| MemoryResult {
            streams: 1000,
            open,
            before: Memory {
                rss_kib: 10 * 1024,
                peak_kib: 10 * 1024,
            },
            with: Memory {
                rss_kib: with_mib * 1024,
                peak_kib: with_mib * 1024,
            },
            errors: Vec::new(),
        };
        r.memory = vec![run(1000, 20), run(1000, 25), run(1000, 40)];
        let rss = |r: &Report| {
            r.targets()
                .into_iter()
                .find(|c| c.what.contains("RSS"))
                .unwrap()
        };
        assert!(rss(&r).met, "median 25 MiB");
        assert_eq!(rss(&r).figure, "25.0 MiB");
        assert_eq!(r.memory[0].per_stream_kib(), Some(10.24));
        r.memory[1].open = 999;
        assert!(!rss(&r).met, "a stream that did not open fails the target");
        assert!(r.render().contains("per stream KiB"));
    }

    #[test]
    fn spread_format_shows_min_and_max_only_for_several_runs() {
        assert_eq!(fmt_spread(&[1.234], 2), "1.23");
        assert_eq!(fmt_spread(&[3.0, 1.0, 2.0], 1), "2.0 (1.0…3.0)");
        assert_eq!(fmt_spread(&[], 1), "-");
    }
}
