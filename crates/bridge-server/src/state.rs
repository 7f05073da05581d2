//! Shared server state: the current configuration snapshot (config, model files and the model
//! table built from them, swapped whole on reload), the tab pool, and the shutdown signal.

use std::net::IpAddr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use bridge_core::config::{self, Config};
use bridge_core::models::{config_problems, ModelTable, Registry};
use tokio::sync::watch;

use crate::conversations::Conversations;
use crate::known_models::KnownModels;
use crate::pool::TabPool;
use crate::response_memory::ResponseMemory;
use crate::stats::Stats;

/// Settings that are not user configuration: intervals tests shorten.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub config_dir: PathBuf,
    /// How often tabs are pinged; a tab silent for two intervals is dropped.
    pub ping_interval: Duration,
    /// How often a queued streaming request gets an SSE keep-alive comment.
    pub keepalive_interval: Duration,
    /// How long in-flight requests may go on after a shutdown signal.
    pub shutdown_grace: Duration,
    /// How long a tab has to answer a page-source command.
    pub page_source_timeout: Duration,
    /// Watch the config directory for changes.
    pub watch_config: bool,
    /// The download rules' test settings (a trusted test certificate, loopback hosts).
    pub downloads: crate::download::DownloadOptions,
}

impl ServerOptions {
    pub fn new(config_dir: impl Into<PathBuf>) -> Self {
        Self {
            config_dir: config_dir.into(),
            ping_interval: Duration::from_secs(15),
            keepalive_interval: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            page_source_timeout: Duration::from_secs(30),
            watch_config: true,
            downloads: crate::download::DownloadOptions::default(),
        }
    }
}

/// The outcome of the last (re)load, for /status.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct ReloadStatus {
    pub(crate) ok: bool,
    pub(crate) message: String,
    pub(crate) warnings: Vec<String>,
}

/// Everything loaded from the config directory.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub registry: Registry,
    pub warnings: Vec<String>,
}

/// Loads config.jsonc, models.json and model_endpoint_map.json from `dir`.
pub fn load_dir(dir: &Path) -> Result<Loaded, String> {
    let path = config::config_file(dir);
    let (config, warnings) = config::load_config(&path).map_err(|e| e.to_string())?;
    let registry = Registry::load(dir).map_err(|e| e.to_string())?;
    bridge_core::models::check_ids(
        &config,
        &path,
        &registry.endpoint_map,
        &config::endpoint_map_file(dir),
    )
    .map_err(|e| e.to_string())?;
    // Config that loads but cannot work is named at startup, on reload and on /status.
    let warnings = warnings
        .iter()
        .map(ToString::to_string)
        .chain(
            config_problems(&config, &registry)
                .iter()
                .map(|p| format!("{p}; {}", p.fix())),
        )
        .collect();
    Ok(Loaded {
        config,
        registry,
        warnings,
    })
}

/// One configuration as loaded: read by requests through an `Arc`, replaced whole on reload,
/// never copied. The model table (lookup, flows, session pools) is built here, once.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) config: Arc<Config>,
    pub(crate) registry: Registry,
    pub(crate) models: ModelTable,
}

impl Snapshot {
    fn new(config: Config, registry: Registry) -> Self {
        let models = ModelTable::build(&registry, &config);
        Self {
            config: Arc::new(config),
            registry,
            models,
        }
    }
}

#[derive(Debug)]
struct Shared {
    snapshot: RwLock<Arc<Snapshot>>,
    reload: Mutex<ReloadStatus>,
    pool: TabPool,
    conversations: Conversations,
    /// The site's model list as last seen.
    known_models: KnownModels,
    response_memory: Arc<ResponseMemory>,
    uploads: crate::upload_cache::UploadCache,
    stats: Stats,
    options: ServerOptions,
    started: Instant,
    next_conn: AtomicU64,
    /// The address [`crate::run`] serves on, once it does.
    listen_addr: OnceLock<SocketAddr>,
    /// The address the server listens on, once it does (for the reload safety checks).
    bound: OnceLock<IpAddr>,
    shutdown_tx: watch::Sender<bool>,
}

/// Cloneable handle to the server state.
#[derive(Debug, Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

impl AppState {
    pub fn new(loaded: Loaded, options: ServerOptions) -> Self {
        let pool = TabPool::new(
            loaded.config.max_concurrent_per_tab,
            loaded.config.queue_limit,
        );
        pool.set_min_interval(Duration::from_secs(
            loaded.config.upstream_min_interval_seconds,
        ));
        let (shutdown_tx, _) = watch::channel(false);
        let conversations = Conversations::new(loaded.config.evaluation_history_size);
        Self {
            shared: Arc::new(Shared {
                reload: Mutex::new(ReloadStatus {
                    ok: true,
                    message: "loaded".to_owned(),
                    warnings: loaded.warnings,
                }),
                snapshot: RwLock::new(Arc::new(Snapshot::new(loaded.config, loaded.registry))),
                pool,
                conversations,
                known_models: KnownModels::load(&config::available_models_file(
                    &options.config_dir,
                )),
                response_memory: Arc::default(),
                uploads: crate::upload_cache::UploadCache::default(),
                stats: Stats::new(),
                options,
                started: Instant::now(),
                next_conn: AtomicU64::new(1),
                listen_addr: OnceLock::new(),
                bound: OnceLock::new(),
                shutdown_tx,
            }),
        }
    }

    pub(crate) fn config(&self) -> Arc<Config> {
        self.snapshot().config.clone()
    }

    /// The current configuration: one `Arc` clone, whatever its size.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.shared
            .snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn pool(&self) -> &TabPool {
        &self.shared.pool
    }

    /// Conversations of the `evaluation` flow this server created.
    pub(crate) fn conversations(&self) -> &Conversations {
        &self.shared.conversations
    }

    /// The site's model list as last seen (catalog, else `available_models.json`).
    pub(crate) fn known_models(&self) -> &KnownModels {
        &self.shared.known_models
    }

    /// The Responses API's memory (shared with the stream tasks that record into it).
    pub(crate) fn response_memory(&self) -> Arc<ResponseMemory> {
        Arc::clone(&self.shared.response_memory)
    }

    /// Request statistics and the Prometheus recorder of this server.
    pub(crate) fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    pub(crate) fn uploads(&self) -> &crate::upload_cache::UploadCache {
        &self.shared.uploads
    }

    pub(crate) fn options(&self) -> &ServerOptions {
        &self.shared.options
    }

    pub(crate) fn uptime(&self) -> Duration {
        self.shared.started.elapsed()
    }

    /// Notes the address the server listens on (the first call wins).
    pub(crate) fn set_listen_addr(&self, addr: SocketAddr) {
        let _ = self.shared.listen_addr.set(addr);
    }

    /// The WebSocket URL the userscript must use to reach this server.
    pub(crate) fn userscript_url(&self) -> String {
        match self.shared.listen_addr.get() {
            Some(addr) => crate::guide::userscript_url(*addr),
            None => crate::guide::DEFAULT_USERSCRIPT_URL.to_owned(),
        }
    }

    /// [`Self::userscript_url`] when it is not the userscript's default, which a person must
    /// then set in the userscript.
    pub(crate) fn custom_userscript_url(&self) -> Option<String> {
        Some(self.userscript_url()).filter(|u| u != crate::guide::DEFAULT_USERSCRIPT_URL)
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.shared.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn reload_status(&self) -> ReloadStatus {
        self.shared
            .reload
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Notes the address the server listens on (set once, by `run`).
    pub(crate) fn set_bound(&self, ip: IpAddr) {
        let _ = self.shared.bound.set(ip);
    }

    /// Re-reads the config directory. A broken file, or one that fails the startup safety
    /// checks, keeps the last good config.
    pub fn reload(&self) -> Result<(), String> {
        let bound = self.shared.bound.get().copied();
        let result = load_dir(&self.shared.options.config_dir).and_then(|loaded| {
            crate::guard::check_reload(&loaded.config, bound)?;
            Ok(loaded)
        });
        let mut status = self.shared.reload.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    tracing::warn!("config: {w}");
                }
                self.shared.pool.set_limits(
                    loaded.config.max_concurrent_per_tab,
                    loaded.config.queue_limit,
                );
                self.shared.pool.set_min_interval(Duration::from_secs(
                    loaded.config.upstream_min_interval_seconds,
                ));
                self.shared
                    .conversations
                    .set_capacity(loaded.config.evaluation_history_size);
                // Built before taking the lock: requests keep reading the old one meanwhile.
                let snapshot = Arc::new(Snapshot::new(loaded.config, loaded.registry));
                *self
                    .shared
                    .snapshot
                    .write()
                    .unwrap_or_else(|p| p.into_inner()) = snapshot;
                *status = ReloadStatus {
                    ok: true,
                    message: "reloaded".to_owned(),
                    warnings: loaded.warnings,
                };
                tracing::info!("configuration reloaded");
                Ok(())
            }
            Err(e) => {
                tracing::error!("configuration reload failed, keeping the last good one: {e}");
                status.ok = false;
                status.message = e.clone();
                Err(e)
            }
        }
    }

    /// A receiver that turns true when the server is shutting down and in-flight requests
    /// must end.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shared.shutdown_tx.subscribe()
    }

    pub(crate) fn trigger_shutdown(&self) {
        self.shared.stats.note_shutdown();
        self.shared.shutdown_tx.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_dir(dir: &Path, sessions: usize) {
        let pool: Vec<serde_json::Value> = (0..sessions)
            .map(|i| {
                serde_json::json!({
                    "session_id": format!("{i:08}-0000-4000-8000-000000000000"),
                    "message_id": "00000000-0000-4000-8000-0000000000ff",
                })
            })
            .collect();
        std::fs::write(dir.join("config.jsonc"), "{}").unwrap();
        std::fs::write(dir.join("models.json"), r#"{"m": "id"}"#).unwrap();
        std::fs::write(
            dir.join("model_endpoint_map.json"),
            serde_json::json!({ "m": pool }).to_string(),
        )
        .unwrap();
    }

    #[actix_web::test]
    async fn requests_share_one_snapshot_until_a_reload_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 3);
        let state = AppState::new(
            load_dir(dir.path()).unwrap(),
            ServerOptions::new(dir.path()),
        );
        let (a, b) = (state.snapshot(), state.snapshot());
        assert!(Arc::ptr_eq(&a, &b));
        assert!(Arc::ptr_eq(&a.config, &state.config()));
        let pool = |s: &Snapshot| s.models.resolve("m").unwrap().sessions().unwrap().clone();
        assert!(Arc::ptr_eq(&pool(&a), &pool(&b)));
        let held = a.models.resolve("m").unwrap().choose_sessions(1).unwrap();

        write_dir(dir.path(), 5);
        state.reload().unwrap();
        let c = state.snapshot();
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(pool(&c).len(), 5);
        assert_eq!(pool(&c).in_flight(), [0; 5]);
        // A session taken before the reload is released into the pool it came from.
        assert_eq!(pool(&a).in_flight(), [1, 0, 0]);
        drop(held);
        assert_eq!(pool(&a).in_flight(), [0, 0, 0]);
    }
}
