use std::net::TcpListener;

use anyhow::Context as _;
use clap::Parser;

/// OpenAI-compatible API server that relays requests to LMArena through a browser tab.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Directory holding config.jsonc, models.json and model_endpoint_map.json.
    #[arg(long, env = "BRIDGE_CONFIG_DIR", default_value = "config")]
    config_dir: std::path::PathBuf,
    /// Address to listen on (overrides the config key `host`).
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on (overrides the config key `port`).
    #[arg(long)]
    port: Option<u16>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
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
    let state = bridge_server::AppState::new(
        loaded,
        bridge_server::ServerOptions::new(args.config_dir.clone()),
    );
    actix_web::rt::System::new().block_on(async move {
        tracing::info!(
            "bridge-server listening on http://{addr} (OpenAI base URL http://{addr}/v1)"
        );
        bridge_server::run(listener, state, shutdown_signal()).await
    })?;
    Ok(())
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
