//! The real bridge-server on a loopback port 0, in its own actix system thread, for tests of
//! the server and of the CLIs that talk to it.

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use bridge_server::{AppState, ServerOptions};

/// A running bridge-server. Dropping it stops the server (gracefully) and waits for it.
pub struct RunningServer {
    pub port: u16,
    pub state: AppState,
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Writes the three config files into `dir`.
pub fn write_config_dir(dir: &Path, config: &str, models: &str, endpoint_map: &str) {
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text)
            .unwrap_or_else(|e| panic!("cannot write {name} into {}: {e}", dir.display()))
    };
    write("config.jsonc", config);
    write("models.json", models);
    write("model_endpoint_map.json", endpoint_map);
}

impl RunningServer {
    /// Loads `config_dir` and serves it on 127.0.0.1:0. Config watching is off and the
    /// shutdown grace is short unless `tweak` says otherwise.
    pub fn start(config_dir: &Path, tweak: impl FnOnce(&mut ServerOptions)) -> RunningServer {
        let loaded = bridge_server::load_dir(config_dir)
            .unwrap_or_else(|e| panic!("test config does not load: {e}"));
        let mut options = ServerOptions::new(config_dir);
        options.watch_config = false;
        options.shutdown_grace = Duration::from_millis(300);
        tweak(&mut options);
        let state = AppState::new(loaded, options);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let server_state = state.clone();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let (tx, rx) = tokio::sync::oneshot::channel::<()>();
                std::thread::spawn(move || {
                    let _ = stop_rx.recv();
                    let _ = tx.send(());
                });
                let _ = bridge_server::run(listener, server_state, async move {
                    let _ = rx.await;
                })
                .await;
            });
        });
        RunningServer {
            port,
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// Waits (up to 2 s) until the pool has more than `before` tabs.
    pub async fn wait_for_tabs_above(&self, before: usize) -> bool {
        for _ in 0..400 {
            if self.state.pool().tab_count() > before {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        false
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
