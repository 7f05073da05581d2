//! The chaos mode (`--chaos-requests N`): the seeded chaos round of
//! `bridge_test_support::chaos` (faulty tabs and clients, then the invariants) against the
//! `bridge-server` binary in its own process, so its own RSS can be read. A clean warm-up
//! round first, then the settled RSS is "idle"; after each chaos round the server settles and
//! its RSS must be back near idle, and must not grow from round to round.

use std::fmt::Write as _;
use std::time::Duration;

use bridge_test_support::chaos::{self, ChaosPlan, ChaosReport};

use crate::run::{start_server, Plan};
use crate::server::{Memory, Shape, MODEL_NAME};

const KIB_PER_MIB: u64 = 1024;
/// "Near idle": the settled RSS after a chaos round may exceed the idle RSS (settled after a
/// clean warm-up) by this many KiB or this percentage of idle, whichever is larger. The
/// allowance is wide because glibc keeps freed memory: the tokenizer's tables, built during
/// the warm-up, free blocks of tens of MB, which raises glibc's dynamic mmap threshold, and
/// freed heap below twice that threshold is kept for reuse (measured: 62 -> 76-82 MiB with
/// glibc's defaults, but 62 -> 65-66 MiB with `MALLOC_MMAP_THRESHOLD_` and
/// `MALLOC_TRIM_THRESHOLD_` fixed; see docs/CHAOS.md). A leak shows in the tighter check
/// between rounds below.
const NEAR_IDLE_MIN_KIB: u64 = 24 * KIB_PER_MIB;
const NEAR_IDLE_PERCENT: u64 = 40;
/// No growth between rounds (the leak check): every later round's settled RSS is within this
/// of the first round's, or at most the peak (`VmHWM`) the server had already reached before
/// that round. Memory up to an earlier peak may be freed memory the allocator keeps for reuse
/// (seen in CI: round 1 peaked at 86.1 MiB and settled at 77.1, round 2 settled at 85.2); a
/// leak grows with every round and so ends up past every earlier peak.
const ROUND_GROWTH_MIN_KIB: u64 = 4 * KIB_PER_MIB;
const ROUND_GROWTH_PERCENT: u64 = 10;
/// Sessions in the pool per client, so no client waits for another's session.
const SESSIONS_PER_CLIENT: usize = 2;

/// What the chaos mode runs.
#[derive(Debug, Clone)]
pub(crate) struct ChaosSpec {
    pub seed: u64,
    /// Requests in each chaos round.
    pub requests: u64,
    pub rounds: usize,
    /// Requests of the clean warm-up round.
    pub warmup_requests: u64,
    /// Pause after a round before RSS is read.
    pub settle: Duration,
    pub concurrency: usize,
    pub tabs: usize,
}

/// One round and the server's memory once it settled.
#[derive(Debug)]
pub(crate) struct Round {
    pub report: ChaosReport,
    pub settled: Memory,
}

#[derive(Debug)]
pub(crate) struct ChaosResult {
    pub spec: ChaosSpec,
    /// Whether the server ran with glibc's malloc thresholds fixed.
    pub fixed_malloc: bool,
    pub warmup: Round,
    pub rounds: Vec<Round>,
}

/// `base` plus the larger of `min_kib` and `percent` % of `base`.
fn limit(base: u64, min_kib: u64, percent: u64) -> u64 {
    base + min_kib.max(base * percent / 100)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / KIB_PER_MIB as f64
}

impl ChaosResult {
    pub(crate) fn idle_kib(&self) -> u64 {
        self.warmup.settled.rss_kib
    }

    pub(crate) fn near_idle_kib(&self) -> u64 {
        limit(self.idle_kib(), NEAR_IDLE_MIN_KIB, NEAR_IDLE_PERCENT)
    }

    /// The first round's settled RSS plus the growth allowance.
    fn growth_limit_kib(&self) -> Option<u64> {
        self.rounds.first().map(|r| {
            limit(
                r.settled.rss_kib,
                ROUND_GROWTH_MIN_KIB,
                ROUND_GROWTH_PERCENT,
            )
        })
    }

    /// The most round `i`'s settled RSS may be: the growth limit, or the peak reached before
    /// the round (read when the round before it settled), whichever is larger.
    fn round_limit_kib(&self, i: usize) -> Option<u64> {
        let growth = self.growth_limit_kib()?;
        let before = i.checked_sub(1).and_then(|p| self.rounds.get(p))?;
        Some(growth.max(before.settled.peak_kib))
    }

    /// Everything that went wrong: invariant violations of any round (the warm-up included),
    /// RSS not back near idle, RSS growing from round to round.
    pub(crate) fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let all = std::iter::once(("warm-up".to_owned(), &self.warmup)).chain(
            self.rounds
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("round {}", i + 1), r)),
        );
        for (name, round) in all {
            failures.extend(
                round
                    .report
                    .violations
                    .iter()
                    .map(|v| format!("{name}: {v}")),
            );
        }
        let near = self.near_idle_kib();
        for (i, round) in self.rounds.iter().enumerate() {
            let after = round.settled.rss_kib;
            if after > near {
                failures.push(format!(
                    "round {}: RSS after settling {:.1} MiB is not near idle (at most {:.1} MiB)",
                    i + 1,
                    mib(after),
                    mib(near)
                ));
            }
            if let Some(growth) = self.round_limit_kib(i).filter(|g| after > *g) {
                failures.push(format!(
                    "round {}: RSS after settling {:.1} MiB grew past the first round's \
                     and the peak before it (at most {:.1} MiB)",
                    i + 1,
                    mib(after),
                    mib(growth)
                ));
            }
        }
        failures
    }

    pub(crate) fn render(&self) -> String {
        let s = &self.spec;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "chaos: seed {}, {} rounds of {} requests after a clean warm-up of {}, {} clients \
             at a time, {} tabs, {:.1} s to settle, malloc {}",
            s.seed,
            s.rounds,
            s.requests,
            s.warmup_requests,
            s.concurrency,
            s.tabs,
            s.settle.as_secs_f64(),
            if self.fixed_malloc {
                "thresholds fixed at 128 KiB"
            } else {
                "glibc defaults"
            }
        );
        let _ = writeln!(out, "  warm-up: {}", self.warmup.report.summary());
        let _ = writeln!(
            out,
            "  RSS idle (settled after the warm-up) {:.1} MiB",
            mib(self.idle_kib())
        );
        for (i, round) in self.rounds.iter().enumerate() {
            let _ = writeln!(out, "  round {}: {}", i + 1, round.report.summary());
            let _ = writeln!(
                out,
                "  round {}: RSS after settling {:.1} MiB, peak so far (VmHWM) {:.1} MiB",
                i + 1,
                mib(round.settled.rss_kib),
                mib(round.settled.peak_kib)
            );
        }
        let peak = self
            .rounds
            .last()
            .map_or(self.warmup.settled.peak_kib, |r| r.settled.peak_kib);
        let after = self.rounds.last().map_or(0, |r| r.settled.rss_kib);
        let _ = writeln!(
            out,
            "  RSS idle {:.1} -> peak {:.1} -> after {:.1} MiB",
            mib(self.idle_kib()),
            mib(peak),
            mib(after)
        );
        let _ = writeln!(
            out,
            "  rule: after <= idle + max({} MiB, {NEAR_IDLE_PERCENT} %) = {:.1} MiB; every \
             later round's after <= the larger of round 1's + max({} MiB, \
             {ROUND_GROWTH_PERCENT} %){} and the peak before that round",
            NEAR_IDLE_MIN_KIB / KIB_PER_MIB,
            mib(self.near_idle_kib()),
            ROUND_GROWTH_MIN_KIB / KIB_PER_MIB,
            self.growth_limit_kib()
                .map(|g| format!(" = {:.1} MiB", mib(g)))
                .unwrap_or_default()
        );
        let failures = self.failures();
        let _ = writeln!(out, "  violations: {}", failures.len());
        for f in &failures {
            let _ = writeln!(out, "    {f}");
        }
        out
    }
}

/// Starts the server, runs the warm-up and the chaos rounds, and reads its memory after each.
pub(crate) async fn chaos_run(plan: &Plan, spec: ChaosSpec) -> anyhow::Result<ChaosResult> {
    let mut shape = Shape::retry(spec.concurrency * SESSIONS_PER_CLIENT);
    shape.chaos = true;
    let server = start_server(plan, shape).await?;
    let round = |requests: u64, seed: u64, faults: bool| ChaosPlan {
        seed,
        requests,
        concurrency: spec.concurrency,
        tabs: spec.tabs,
        model: MODEL_NAME.to_owned(),
        faults,
    };
    let settle = async |report: ChaosReport| -> anyhow::Result<Round> {
        tokio::time::sleep(spec.settle).await;
        Ok(Round {
            report,
            settled: server.memory()?,
        })
    };
    let warmup = chaos::run(server.port, &round(spec.warmup_requests, spec.seed, false)).await;
    let warmup = settle(warmup).await?;
    let mut rounds = Vec::with_capacity(spec.rounds);
    for i in 0..spec.rounds as u64 {
        // Each round draws its own faults; the first uses the seed as given.
        let report = chaos::run(
            server.port,
            &round(spec.requests, spec.seed.wrapping_add(i), true),
        )
        .await;
        rounds.push(settle(report).await?);
    }
    server.stop();
    Ok(ChaosResult {
        spec,
        fixed_malloc: plan.fixed_malloc,
        warmup,
        rounds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(rss_kib: u64) -> Memory {
        Memory {
            rss_kib,
            peak_kib: rss_kib + KIB_PER_MIB,
        }
    }

    fn result(idle: u64, afters: &[u64], violation: bool) -> ChaosResult {
        let round = |rss: u64| Round {
            report: ChaosReport::default(),
            settled: memory(rss),
        };
        let mut rounds: Vec<Round> = afters.iter().map(|a| round(*a)).collect();
        if violation {
            rounds[0].report.violations.push("#3: mixed".to_owned());
        }
        ChaosResult {
            spec: ChaosSpec {
                seed: 1,
                requests: 10,
                rounds: afters.len(),
                warmup_requests: 10,
                settle: Duration::ZERO,
                concurrency: 2,
                tabs: 1,
            },
            fixed_malloc: false,
            warmup: round(idle),
            rounds,
        }
    }

    #[test]
    fn near_idle_is_24_mib_or_40_percent_over_idle() {
        let mib = KIB_PER_MIB;
        assert!(result(10 * mib, &[34 * mib], false).failures().is_empty());
        assert_eq!(result(10 * mib, &[34 * mib + 1], false).failures().len(), 1);
        assert!(result(100 * mib, &[140 * mib], false).failures().is_empty());
        assert_eq!(result(100 * mib, &[141 * mib], false).failures().len(), 1);
    }

    #[test]
    fn growth_between_rounds_and_violations_fail() {
        let mib = KIB_PER_MIB;
        let grew = result(40 * mib, &[41 * mib, 46 * mib], false).failures();
        assert_eq!(grew.len(), 1, "{grew:?}");
        assert!(grew[0].contains("grew"), "{grew:?}");
        assert!(result(40 * mib, &[41 * mib, 44 * mib], false)
            .failures()
            .is_empty());
        let violated = result(40 * mib, &[40 * mib], true).failures();
        assert_eq!(violated, vec!["round 1: #3: mixed".to_owned()]);
        assert!(result(40 * mib, &[40 * mib], false)
            .render()
            .contains("violations: 0"));
    }

    #[test]
    fn settling_below_an_earlier_peak_is_not_growth_but_passing_it_is() {
        let kib = |mib: f64| (mib * KIB_PER_MIB as f64) as u64;
        // The CI run: round 1 peaked at 86.1 and settled at 77.1 MiB (growth limit 84.8).
        let with_round_two = |after: f64| {
            let mut r = result(kib(73.4), &[kib(77.1), kib(after)], false);
            r.rounds[0].settled.peak_kib = kib(86.1);
            r.failures()
        };
        assert!(with_round_two(85.2).is_empty());
        assert!(with_round_two(86.0).is_empty());
        let grew = with_round_two(86.2);
        assert_eq!(grew.len(), 1, "{grew:?}");
        assert!(grew[0].starts_with("round 2: RSS"), "{grew:?}");
        // A leak grows every round, past each earlier peak.
        let mut leaking = result(kib(40.0), &[kib(41.0), kib(44.0), kib(47.0)], false);
        leaking.rounds[1].settled.peak_kib = kib(46.0);
        let grew = leaking.failures();
        assert_eq!(grew.len(), 1, "{grew:?}");
        assert!(grew[0].starts_with("round 3: RSS"), "{grew:?}");
    }

    /// The debug `bridge-server` next to this test's binary (`target/debug/`), which
    /// `cargo test --workspace` (scripts/test) builds before running any test.
    fn debug_server() -> std::path::PathBuf {
        let exe = std::env::current_exe().unwrap();
        let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
        let bin = dir.join(format!("bridge-server{}", std::env::consts::EXE_SUFFIX));
        assert!(
            bin.is_file(),
            "{} not found: build it first (cargo build -p bridge-server)",
            bin.display()
        );
        bin
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_chaos_run_against_the_server_process_passes() {
        let plan = Plan {
            // Rounds this small leave glibc's retained memory at a different level each time
            // (round 2 settled 3.8 MiB below to 10.7 MiB above round 1 in six runs of a debug
            // build with its defaults, 0.1-2.3 MiB above with the thresholds fixed), which is
            // not what the growth check is about.
            fixed_malloc: true,
            ..Plan::for_server(debug_server())
        };
        let spec = ChaosSpec {
            seed: 16,
            requests: 32,
            rounds: 2,
            warmup_requests: 16,
            settle: Duration::from_millis(500),
            concurrency: 6,
            tabs: 2,
        };
        let result = chaos_run(&plan, spec).await.unwrap();
        let text = result.render();
        println!("{text}");
        for round in &result.rounds {
            assert!(round.report.faults_total() > 0, "{text}");
            assert_eq!(round.report.requests, 32);
        }
        assert_eq!(result.warmup.report.faults_total(), 0, "{text}");
        assert!(result.idle_kib() > 0);
        assert!(result.failures().is_empty(), "{text}");
    }
}
