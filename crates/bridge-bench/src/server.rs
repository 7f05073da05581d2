//! The `bridge-server` under test: a temporary config directory, the child process on a free
//! loopback port, the time from spawn to an accepted connection, and its memory from
//! `/proc/<pid>/status`.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use bridge_core::config::{config_file, endpoint_map_file, keys, models_file, UpstreamFlow};
use serde_json::{json, Map, Value};

/// The public model name the clients ask for.
pub(crate) const MODEL_NAME: &str = "bench-model";
/// Prefix of the extra models of `--models` (never asked for; they only make the file big).
const EXTRA_MODEL_PREFIX: &str = "bench-extra-";
/// Conversation memory of an `evaluation` bench server: the same for every `--conversations`,
/// so runs differ only in how full it is.
pub(crate) const HISTORY_CAPACITY: usize = 65_536;
/// Admission limits high enough that the pool never queues or refuses a bench request.
const UNLIMITED: u64 = 1_000_000;
/// How long a server may take to accept its first connection before the bench gives up.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between connection attempts while waiting for the port.
const POLL_EVERY: Duration = Duration::from_micros(100);
/// Server log file inside the temporary directory, beside (not inside) the config directory:
/// the server watches its config directory, and a log written there would wake the watcher
/// on every line and be counted as server CPU.
const LOG_FILE: &str = "server.log";
/// The config directory inside the temporary directory.
const CONFIG_DIR: &str = "config";
/// Last bytes of the server log shown when it fails.
const LOG_TAIL_BYTES: usize = 4000;

/// What the config of a bench server holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Sessions in the pool of the benchmarked model (used by the `retry` flow).
    pub sessions: usize,
    /// Extra models in `models.json` besides the benchmarked one.
    pub extra_models: usize,
    pub flow: UpstreamFlow,
    /// The chaos run's short timeouts and queue (`bridge_test_support::chaos`).
    pub chaos: bool,
}

/// glibc's tunables that fix its mmap and trim thresholds at 128 KiB (setting either turns
/// the dynamic thresholds off): freed memory above that goes back to the system at once.
pub(crate) const FIXED_MALLOC_THRESHOLDS: [(&str, &str); 2] = [
    ("MALLOC_MMAP_THRESHOLD_", "131072"),
    ("MALLOC_TRIM_THRESHOLD_", "131072"),
];

impl Shape {
    /// A `retry` config with `sessions` sessions and no extra models.
    pub(crate) fn retry(sessions: usize) -> Self {
        Self {
            sessions,
            extra_models: 0,
            flow: UpstreamFlow::Retry,
            chaos: false,
        }
    }
}

/// The three config files of a bench server: one model with a pool of `shape.sessions`
/// distinct sessions (requests to one session are serialized by design, so parallel requests
/// need many), `shape.extra_models` more models, the flow, and admission limits that never
/// get in the way.
pub(crate) fn write_config_dir(dir: &Path, shape: Shape) -> anyhow::Result<()> {
    let id = || Value::String(uuid::Uuid::new_v4().to_string());
    let mut config = Map::new();
    config.insert(keys::SESSION_ID.into(), id());
    config.insert(keys::MESSAGE_ID.into(), id());
    config.insert(keys::HOST.into(), json!(Ipv4Addr::LOCALHOST.to_string()));
    config.insert(keys::MAX_CONCURRENT_PER_TAB.into(), json!(UNLIMITED));
    config.insert(keys::QUEUE_LIMIT.into(), json!(UNLIMITED));
    config.insert(keys::ENABLE_AUTO_UPDATE.into(), json!(false));
    config.insert(keys::UPSTREAM_FLOW.into(), json!(shape.flow.as_str()));
    if shape.flow == UpstreamFlow::Evaluation {
        config.insert(
            keys::EVALUATION_HISTORY_SIZE.into(),
            json!(HISTORY_CAPACITY),
        );
    }
    if shape.chaos {
        config.extend(
            bridge_test_support::chaos::config_entries()
                .into_iter()
                .map(|(key, value)| (key.to_owned(), value)),
        );
    }
    let mut models = Map::new();
    for i in 0..shape.extra_models {
        models.insert(format!("{EXTRA_MODEL_PREFIX}{i}"), id());
    }
    models.insert(MODEL_NAME.into(), id());
    let models = Value::Object(models);
    let pool: Vec<Value> = (0..shape.sessions.max(1))
        .map(|_| json!({ keys::SESSION_ID: id(), keys::MESSAGE_ID: id() }))
        .collect();
    let map = json!({ MODEL_NAME: pool });
    let write = |path: PathBuf, value: &Value| -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value)?;
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
    };
    write(config_file(dir), &Value::Object(config))?;
    write(models_file(dir), &models)?;
    write(endpoint_map_file(dir), &map)?;
    Ok(())
}

/// Memory of a process, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Memory {
    /// Resident set now (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set since the start (`VmHWM`).
    pub peak_kib: u64,
}

/// Reads `VmRSS` and `VmHWM` from the text of `/proc/<pid>/status`.
pub(crate) fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

/// A running `bridge-server`; killed when dropped.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Writes a config, spawns the server on a free port and waits until the port accepts a
    /// connection. Returns the server and the time from spawn to the accepted connection.
    /// With `fixed_malloc`, the server runs with [`FIXED_MALLOC_THRESHOLDS`], so its RSS
    /// follows the memory it holds rather than what glibc keeps after a burst
    /// (docs/CHAOS.md).
    pub(crate) fn start(
        bin: &Path,
        shape: Shape,
        log_level: &str,
        fixed_malloc: bool,
    ) -> anyhow::Result<(ServerProcess, Duration)> {
        let dir = tempfile::Builder::new()
            .prefix("bridge-bench-")
            .tempdir()
            .context("cannot create a temporary config directory")?;
        let config_dir = dir.path().join(CONFIG_DIR);
        std::fs::create_dir(&config_dir).context("cannot create the config directory")?;
        write_config_dir(&config_dir, shape)?;
        let port = free_port()?;
        let log = File::create(dir.path().join(LOG_FILE)).context("cannot create the log")?;
        let started = Instant::now();
        let mut command = Command::new(bin);
        if fixed_malloc {
            command.envs(FIXED_MALLOC_THRESHOLDS);
        }
        let child = command
            .arg("--config-dir")
            .arg(&config_dir)
            .arg("--host")
            .arg(Ipv4Addr::LOCALHOST.to_string())
            .arg("--port")
            .arg(port.to_string())
            .env("RUST_LOG", log_level)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (build it first: cargo build --release -p bridge-server)",
                    bin.display()
                )
            })?;
        let mut server = ServerProcess { child, port, dir };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if TcpStream::connect(addr).is_ok() {
                return Ok((server, started.elapsed()));
            }
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "bridge-server exited with {status} before listening; its log:\n{}",
                    server.log_tail()
                );
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "bridge-server did not listen on {addr} within {} s; its log:\n{}",
                    START_TIMEOUT.as_secs(),
                    server.log_tail()
                );
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}:{}", Ipv4Addr::LOCALHOST, self.port)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn memory(&self) -> anyhow::Result<Memory> {
        let path = format!("/proc/{}/status", self.child.id());
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        parse_status(&text).with_context(|| format!("no VmRSS/VmHWM in {path}"))
    }

    /// The end of the server's log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(LOG_FILE)).unwrap_or_default();
        let mut start = text.len().saturating_sub(LOG_TAIL_BYTES);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_owned()
    }

    /// Kills the server and reaps it.
    pub(crate) fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port that was free a moment ago.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("no free port")?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_memory_fields_are_read() {
        let text =
            "Name:\tbridge-server\nVmPeak:\t  100 kB\nVmHWM:\t    8200 kB\nVmRSS:\t    7100 kB\n";
        assert_eq!(
            parse_status(text),
            Some(Memory {
                rss_kib: 7100,
                peak_kib: 8200
            })
        );
        assert_eq!(parse_status("Name:\tx\n"), None);
    }

    #[test]
    fn written_config_loads_with_a_pool_of_distinct_sessions() {
        let dir = tempfile::tempdir().unwrap();
        let shape = Shape {
            sessions: 5,
            extra_models: 3,
            flow: UpstreamFlow::Evaluation,
            chaos: false,
        };
        write_config_dir(dir.path(), shape).unwrap();
        let (config, warnings) =
            bridge_core::config::load_config(&config_file(dir.path())).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.host, "127.0.0.1");
        assert!(config.max_concurrent_per_tab >= 1000 && config.queue_limit >= 1000);
        assert_eq!(config.upstream_flow, UpstreamFlow::Evaluation);
        assert_eq!(config.evaluation_history_size, HISTORY_CAPACITY);
        let registry = bridge_core::models::Registry::load(dir.path()).unwrap();
        assert_eq!(registry.models.len(), 4);
        assert!(registry.models.contains(MODEL_NAME));
        let model = registry.resolve(MODEL_NAME).unwrap();
        let sessions: std::collections::HashSet<_> = model
            .pool
            .iter()
            .map(|e| e.session_id.clone().unwrap())
            .collect();
        assert_eq!(sessions.len(), 5);
    }
}
