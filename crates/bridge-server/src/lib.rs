//! bridge-server: the OpenAI-compatible API server of lmarena-bridge.
//!
//! Modules, from the HTTP edge inwards; each uses only modules further down this list (no
//! import cycle, nothing imports from `routes`):
//! - `routes`: HTTP handlers: parse, call the request layer, render.
//! - `security`: the gate every request passes: request id and span, CORS, API key, the
//!   request log line.
//! - `pipeline`: runs one parsed chat request (emulation prepared, jobs started, answer
//!   task); the chat and legacy completion routes use it.
//! - `answer`: the answer task: job messages → SSE frames or one completion; where a job
//!   error becomes the client's error.
//! - `request`: the request layer: prepare (model, sessions, upstream requests) and start the
//!   jobs; the `evaluation` flow (continuation, fresh fallback, recording).
//! - [`doctor`]: readiness checks (`bridge-server doctor`, `/status` `ready`, the probe).
//! - `uploads`: a request's images uploaded the site's way through a tab (content-hash
//!   cache, inline fallback).
//! - `actions`: the site's server actions through a tab (uploads, conversation clean-up).
//! - `ws`: the tabs' WebSocket (`/ws`).
//! - `guard`: pure checks of the gate and `/ws`: Host, JSON POSTs and their Origin, reload
//!   safety, tab admission.
//! - `error`: the OpenAI-shaped error the client sees (`From<JobError>` is the one
//!   conversion of job failures).
//! - `catalog`: the site's model catalog, fetched through a tab for the model updater.
//! - `media`: a chat request's images checked (type, size) and http(s) ones downloaded.
//! - `relay`: running one upstream request on a tab (lease, retries, timeouts, parsing) and
//!   the typed `JobError`.
//! - `watch`: config directory watcher; [`autoupdate`]: the background update check.
//! - [`state`]: config and model registry (reloaded on change), options, shutdown signal.
//! - `conversations`: the `evaluation` flow's conversation memory.
//! - `known_models`: the site's model list as last seen (catalog or `available_models.json`).
//! - `upload_cache`: content hash → signed URL of the images uploaded in this run.
//! - `response_memory`: the Responses API's `previous_response_id` memory.
//! - `stats`: request statistics and Prometheus metrics for `/status` and `/metrics`.
//! - `output`: OpenAI chunks and SSE framing.
//! - `emulate`: the emulated answer features per choice (tool calls, stop, max_tokens,
//!   response_format check, estimated usage).
//! - [`pool`]: the tab pool, leases, queue, job routing.
//! - `guide`: advice for a person (how a tab connects, why a chat cannot be served).
//! - `clock`: wall-clock time.
//! - [`log_writer`]: the log lines, written in batches by a background thread.
//! - `download`: the rules for every download the server makes (https only, public
//!   addresses, no redirects, size cap).
//!
//! [`run`] serves on a given listener until a shutdown future resolves, so tests start the
//! real server on port 0.

mod actions;
mod answer;
pub mod autoupdate;
mod catalog;
mod clock;
mod conversations;
pub mod doctor;
mod download;
mod emulate;
mod error;
mod guard;
mod guide;
mod known_models;
pub mod log_writer;
mod media;
mod output;
mod pipeline;
pub mod pool;
mod relay;
mod request;
mod response_memory;
mod routes;
mod security;
pub mod state;
mod stats;
mod upload_cache;
mod uploads;
mod watch;
mod ws;

use std::future::Future;
use std::net::TcpListener;

use actix_web::{middleware, web, App, HttpServer};

pub use download::DownloadOptions;
pub use guard::{check_reload, tab_admitted};
pub use state::{load_dir, AppState, Loaded, ServerOptions};

use crate::error::ApiError;

/// Registers every route (with and without the `/v1` prefix).
fn configure(cfg: &mut web::ServiceConfig) {
    for prefix in ["/v1", ""] {
        cfg.route(
            &format!("{prefix}/chat/completions"),
            web::post().to(routes::chat::chat_completions),
        )
        .route(
            &format!("{prefix}/completions"),
            web::post().to(routes::completions::completions),
        )
        .route(
            &format!("{prefix}/models"),
            web::get().to(routes::models::list_models),
        )
        .route(
            &format!("{prefix}/images/generations"),
            web::post().to(routes::images::generations),
        )
        .route(
            &format!("{prefix}/messages"),
            web::post().to(routes::messages::messages),
        )
        .route(
            &format!("{prefix}/responses"),
            web::post().to(routes::responses::responses),
        );
    }
    cfg.route("/ws", web::get().to(ws::ws_route))
        .route("/health", web::get().to(routes::ops::health))
        .route("/status", web::get().to(routes::ops::status))
        .route("/metrics", web::get().to(routes::ops::metrics))
        .route("/", web::get().to(routes::ops::index))
        .route(
            "/internal/start_id_capture",
            web::post().to(routes::internal::start_id_capture),
        )
        .route(
            "/internal/request_model_update",
            web::post().to(routes::internal::request_model_update),
        )
        .route(
            "/internal/request_model_catalog",
            web::post().to(routes::catalog::request_model_catalog),
        )
        .route("/internal/doctor", web::post().to(routes::doctor::doctor));
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found(
        "Unknown route. The OpenAI base URL of this server is http://<host>:<port>/v1.",
    )
    .with_code("unknown_url"))
}

/// Checks settings that must refuse to start.
pub fn check_startup(config: &bridge_core::config::Config, host: &str) -> Result<(), String> {
    let loopback = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    };
    if !loopback && config.api_key.is_none() {
        return Err(format!(
            "Refusing to listen on {host} without an api_key: anyone who can reach this address \
             could use your LMArena account. Set \"api_key\" in config.jsonc, or listen on 127.0.0.1."
        ));
    }
    if config
        .cors_allowed_origins
        .iter()
        .any(|o| o == bridge_core::config::CORS_ANY)
        && config.api_key.is_none()
    {
        return Err(
            "cors_allowed_origins contains \"*\" but no api_key is set: any web page could use \
             the bridge. Set an api_key or list the allowed origins."
                .to_owned(),
        );
    }
    Ok(())
}

/// Serves on `listener` until `shutdown` resolves, then stops accepting, gives in-flight
/// requests `shutdown_grace`, ends what is left with an error event, and returns.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let _watcher = if state.options().watch_config {
        match watch::watch_config_dir(state.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("cannot watch the config directory, changes need a restart: {e}");
                None
            }
        }
    } else {
        None
    };
    if let Ok(addr) = listener.local_addr() {
        state.set_listen_addr(addr);
        state.set_bound(addr.ip());
    }
    let grace = state.options().shutdown_grace;
    let data = web::Data::new(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(middleware::from_fn(security::gate))
            .configure(configure)
            .default_service(web::to(not_found))
    })
    // Small SSE and WebSocket writes must not wait for a delayed ACK (Nagle). Set before
    // `listen`: actix-web applies its socket settings when a listener is added.
    .tcp_nodelay(true)
    .listen(listener)?
    .disable_signals()
    // A client that closes its side has gone away: drop its request so the tab's job is
    // aborted instead of generating for nobody.
    .h1_allow_half_closed(false)
    .shutdown_timeout(grace.as_secs() + 2)
    .run();
    let handle = server.handle();
    let stopper = state.clone();
    actix_web::rt::spawn(async move {
        shutdown.await;
        tracing::info!(
            "shutting down: no new connections; in-flight requests get {} s",
            grace.as_secs()
        );
        let stop = handle.stop(true);
        let cut = async {
            tokio::time::sleep(grace).await;
            stopper.trigger_shutdown();
        };
        tokio::join!(stop, cut);
    });
    server.await
}
