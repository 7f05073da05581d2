//! `fake-lmarena`: run the fake LMArena upstream (see `bridge_test_support::fake_arena`) as a
//! process, for browser tests. Prints one JSON line `{"port":N,"host":…,"site_key":…,"cert_pem":…}`
//! on stdout once listening.

use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::Context;
use bridge_test_support::fake_arena::{self, FakeArenaOptions, FAKE_SITE_KEY};
use clap::Parser;
use tokio::io::AsyncReadExt;

/// Fake LMArena over HTTPS with a self-signed certificate, for tests.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on; 0 picks a free port (printed on stdout).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Delay between the awkward network writes of a stream, in milliseconds.
    #[arg(long, default_value_t = 5)]
    delay_ms: u64,
    /// Interval between lines of the `slow` scenario, in milliseconds.
    #[arg(long, default_value_t = 200)]
    slow_interval_ms: u64,
    /// Number of lines of the `slow` scenario.
    #[arg(long, default_value_t = 600)]
    slow_lines: u32,
    /// Exit when standard input closes (so a crashed test harness leaves no server behind).
    #[arg(long)]
    exit_on_stdin_close: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let opts = FakeArenaOptions {
        host: args.host,
        port: args.port,
        write_delay: Duration::from_millis(args.delay_ms),
        slow_interval: Duration::from_millis(args.slow_interval_ms),
        slow_lines: args.slow_lines,
        ..FakeArenaOptions::default()
    };
    let handle = fake_arena::start(opts).await.context("starting the fake")?;
    let ready = serde_json::json!({
        "port": handle.port(),
        "host": args.host.to_string(),
        "site_key": FAKE_SITE_KEY,
        "cert_pem": handle.certificate_pem(),
    });
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{ready}").context("writing the port line")?;
    stdout.flush().context("flushing stdout")?;
    drop(stdout);

    let stdin_closed = async {
        if args.exit_on_stdin_close {
            let mut sink = [0u8; 256];
            let mut stdin = tokio::io::stdin();
            // Any read result other than data means the parent is gone.
            while let Ok(n) = stdin.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        () = stdin_closed => {}
    }
    handle.shutdown();
    Ok(())
}
