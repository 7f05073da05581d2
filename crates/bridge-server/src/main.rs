use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use bridge_server::autoupdate::Restart;
use clap::Parser;

/// The name releases use for this binary's archives.
const BIN_NAME: &str = env!("CARGO_PKG_NAME");

/// OpenAI-compatible API server that relays requests to LMArena through a browser tab.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Directory holding config.jsonc, models.json and model_endpoint_map.json.
    #[arg(
        long,
        global = true,
        env = "BRIDGE_CONFIG_DIR",
        default_value = "config"
    )]
    config_dir: std::path::PathBuf,
    /// Address to listen on (overrides the config key `host`).
    #[arg(long, global = true)]
    host: Option<String>,
    /// Port to listen on (overrides the config key `port`).
    #[arg(long, global = true)]
    port: Option<u16>,
    /// Do not look for a newer release at startup.
    #[arg(long, env = "BRIDGE_NO_UPDATE_CHECK", value_parser = clap::builder::FalseyValueParser::new())]
    no_update_check: bool,
    #[command(flatten)]
    update: bridge_update::UpdateFlags,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(clap::Subcommand, Debug)]
enum Cmd {
    /// Check whether a chat would work: config files, port, the running server's tab, the
    /// flow in use. Exit code 0 only when every check passes.
    Doctor,
}

fn main() -> anyhow::Result<ExitCode> {
    let args = Args::parse();
    if let Some(Cmd::Doctor) = args.command {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        return Ok(runtime.block_on(bridge_server::doctor::cli::run(
            &args.config_dir,
            args.host.clone(),
            args.port,
        )));
    }
    if let Some(action) = args.update.action() {
        return Ok(bridge_update::run_cli(
            action,
            BIN_NAME,
            env!("CARGO_PKG_VERSION"),
        ));
    }
    // Log lines are written in batches by a background thread, so request handling never
    // waits on the terminal; colours only when stderr is a terminal.
    let (log_writer, log_guard) = bridge_server::log_writer::batched(std::io::stderr())
        .context("cannot start the log writer thread")?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(log_writer)
        .init();
    let loaded = bridge_server::load_dir(&args.config_dir)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot start with this configuration")?;
    for w in &loaded.warnings {
        tracing::warn!("config: {w}");
    }
    let host = args
        .host
        .clone()
        .unwrap_or_else(|| loaded.config.host.clone());
    let port = args.port.unwrap_or(loaded.config.port);
    bridge_server::check_startup(&loaded.config, &host).map_err(|e| anyhow::anyhow!(e))?;
    let listener = TcpListener::bind((host.as_str(), port)).with_context(|| {
        format!("cannot listen on {host}:{port} (is another bridge-server running?)")
    })?;
    let addr = listener.local_addr()?;
    let mut auto_update = loaded.config.enable_auto_update;
    if let Ok(version) = std::env::var(bridge_update::JUST_UPDATED_ENV) {
        // Started by an automatic update: check, but do not install again now.
        tracing::info!("restarted after updating to {version}");
        auto_update = false;
    }
    let state = bridge_server::AppState::new(
        loaded,
        bridge_server::ServerOptions::new(args.config_dir.clone()),
    );
    let restart_rx = if args.no_update_check {
        None
    } else {
        start_update_check(&state, auto_update)
    };
    // Set when an automatic update was installed: after the graceful stop, exec it.
    let restart_into: Arc<Mutex<Option<Restart>>> = Arc::default();
    let restart_slot = restart_into.clone();
    actix_web::rt::System::new().block_on(async move {
        tracing::info!(
            "bridge-server listening on http://{addr} (OpenAI base URL http://{addr}/v1, status page http://{addr}/)"
        );
        let shutdown = async move {
            match restart_rx {
                Some(rx) => {
                    tokio::select! {
                        _ = shutdown_signal() => {}
                        Ok(restart) = rx => {
                            tracing::info!("restarting into {} {}", BIN_NAME, restart.version);
                            *restart_slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(restart);
                        }
                    }
                }
                None => shutdown_signal().await,
            }
        };
        bridge_server::run(listener, state, shutdown).await
    })?;
    let restart = restart_into
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(restart) = restart {
        // The new program replaces this one: write the log lines still waiting first.
        drop(log_guard);
        let err = bridge_update::reexec(&restart.path, &restart.version);
        anyhow::bail!(
            "the update was installed at {} but starting it failed: {err}; start it by hand",
            restart.path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts the background release check; returns the channel that asks for a restart.
fn start_update_check(
    state: &bridge_server::AppState,
    auto_update: bool,
) -> Option<tokio::sync::oneshot::Receiver<Restart>> {
    let source = match bridge_update::ReleaseSource::from_env() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("no update check: {e}");
            return None;
        }
    };
    let updater = bridge_update::Updater::new(BIN_NAME, env!("CARGO_PKG_VERSION"), source);
    match bridge_server::autoupdate::spawn(state.clone(), updater, auto_update) {
        Ok(task) => Some(task.restart),
        Err(e) => {
            tracing::warn!("cannot start the update check: {e}");
            None
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
