//! Chaos run (issue 16) with the server in this process: concurrent streaming clients while
//! tabs stall, send garbage, disconnect and come back, and clients go away or stop reading,
//! all drawn from one seeded generator; then the invariants (`bridge_test_support::chaos`).
//! `bridge-bench --chaos-requests N` runs the same round against the server binary in its own
//! process and checks its RSS too.
//!
//! The default run takes a few seconds. Longer: `CHAOS_REQUESTS=2000 CHAOS_SEED=7 cargo test
//! -p bridge-server --test chaos -- --nocapture` (docs/CHAOS.md has the figures).

mod common;

use bridge_test_support::chaos::{self, ChaosPlan};
use common::*;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// RSS of this whole process (server, tabs and clients), in KiB.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The test config with the chaos timeouts, and a pool of `sessions` sessions.
fn chaos_config(sessions: usize) -> (String, String) {
    let entries: String = chaos::config_entries()
        .iter()
        .map(|(key, value)| format!(",\n  \"{key}\": {value}"))
        .collect();
    // The chaos entries set the stream timeout themselves.
    let config = config_with_stream_timeout(None, &entries);
    let pool: Vec<String> = (0..sessions)
        .map(|i| {
            format!(
                r#"{{"session_id": "33333333-0000-4000-8000-{i:012}", "message_id": "44444444-0000-4000-8000-{i:012}"}}"#
            )
        })
        .collect();
    let map = format!(r#"{{"text-model": [{}]}}"#, pool.join(", "));
    (config, map)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_run_keeps_every_invariant() {
    let plan = ChaosPlan {
        seed: env_or("CHAOS_SEED", 16),
        requests: env_or("CHAOS_REQUESTS", 48),
        concurrency: env_or("CHAOS_CONCURRENCY", 8) as usize,
        tabs: env_or("CHAOS_TABS", 3) as usize,
        model: "text-model".to_owned(),
        faults: true,
    };
    let (config, map) = chaos_config(plan.concurrency * 2);
    let server = TestServer::start_with(&config, MODELS, &map, |_| {});
    let rss_idle = rss_kib();
    let report = chaos::run(server.port, &plan).await;
    let rss_end = rss_kib();
    println!(
        "chaos: seed {}, {} at a time, {} tabs: {}; RSS of the test process idle {rss_idle:?} \
         KiB, after {rss_end:?} KiB",
        plan.seed,
        plan.concurrency,
        plan.tabs,
        report.summary()
    );
    assert!(
        report.violations.is_empty(),
        "violations: {:#?}",
        report.violations
    );
    assert!(report.faults_total() > 0, "no fault was injected");
}
