//! A fake LMArena upstream for tests: an HTTPS server (self-signed certificate for
//! lmarena.ai, arena.ai and their subdomains) that browsers reach through
//! `--host-resolver-rules`.
//!
//! It speaks the 2026 site (UPSTREAM.md §7): refuses `mode:"direct"` on create with the real
//! 400, checks single-use reCAPTCHA tokens bound to key and action (missing, reused or
//! wrong-action → 403), accepts a v2 checkbox token instead, can demand a battle turn after N
//! turns, can redirect lmarena.ai to arena.ai, and records stop calls.
//!
//! It serves the app page with the model list in `self.__next_f` pushes and a stub
//! `grecaptcha.enterprise` (also as `https://www.google.com/recaptcha/enterprise.js` for a
//! browser that maps that host onto the fake), checks upstream request bodies as strictly as
//! UPSTREAM.md describes them, and answers with scripted transcripts chosen by a `[scenario:NAME]` marker in
//! the last user message, written in awkward pieces (inside UTF-8 characters and JSON escapes)
//! with small delays. Everything it receives is recorded for inspection.
//!
//! Modules: `page` (models, page, reCAPTCHA stub), `shipped` (the models of the shipped
//! `config/models.json`, also accepted), `scenario` (markers, transcripts, write splitting),
//! `validate` (body checks), `state` (records and counters), `tls`, `server` (routing and the
//! `/__fake/*` control endpoints).
//!
//! Endpoints: `GET /` (any non-API GET) the page (`?recaptcha=0`: without reCAPTCHA);
//! `PUT /nextjs-api/stream/retry-evaluation-session-message/{session}/messages/{message}` (also
//! under `/api/stream/`); `POST /nextjs-api/stream/create-evaluation`;
//! `POST /nextjs-api/stream/post-to-evaluation/{id}`;
//! `POST /nextjs-api/stream/stop/{id}/messages/{message}`; `GET /nextjs-api/model-catalog`
//! (the catalog fixture, module `catalog`); `GET /recaptcha/enterprise.js`;
//! `POST /recaptcha/enterprise/mint`; control: `GET /__fake/requests`, `GET /__fake/stats`,
//! `GET /__fake/wait?counter=NAME&min=N&timeout_ms=T`, `POST /__fake/reset`,
//! `POST /__fake/recaptcha/reject-next` `{"count":N}`, `POST /__fake/battle-turn-after`
//! `{"turns":N|null}`, `POST /__fake/redirect-lmarena` `{"on":bool}`, `GET /__fake/cert`.

pub mod actions;
mod catalog;
mod page;
mod scenario;
mod server;
mod shipped;
mod state;
#[cfg(test)]
mod tests;
pub(crate) mod tls;
mod validate;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub use catalog::{MODEL_CATALOG_JSON, MODEL_CATALOG_PATH};
pub use page::{
    FakeModel, ModelKind, AUTH_COOKIE_NAME, FAKE_IMAGE_PATH, FAKE_MODELS, FAKE_PAGE_MESSAGE_ID,
    FAKE_PAGE_SESSION_ID, FAKE_SITE_KEY, FAKE_V2_SITE_KEY, PAGE_TITLE, RECAPTCHA_MINT_PATH,
    RECAPTCHA_SCRIPT_PATH, V2_CHECKBOX_CLASS,
};
pub use scenario::{
    awkward_writes, scenario_from_content, Scenario, ARENA_ERROR_TEXT, BATTLE_TURN_TEXT,
    DIRECT_MODE_REFUSED_TEXT, RATE_LIMIT_RETRY_AFTER_SECS, SCENARIO_MARKER_PREFIX,
    STREAM_CONTENT_TYPE, TEXT_GREETING,
};
pub use server::{
    CONTROL_PREFIX, CREATE_EVALUATION_PATH, POST_TO_EVALUATION_PREFIX, RECAPTCHA_ACTION,
    REDIRECTED_HOST, REDIRECT_TARGET_HOST, RETRY_PATH_PREFIXES, RETRY_RECAPTCHA_ACTION,
    STOP_PREFIX,
};
pub use shipped::shipped_models;
pub use state::{FakeStats, RecordedRequest};
pub use tls::CERT_HOST_NAMES;

/// How to run the fake.
#[derive(Debug, Clone)]
pub struct FakeArenaOptions {
    /// Address to bind (loopback by default).
    pub host: IpAddr,
    /// Port; 0 picks a free one.
    pub port: u16,
    /// Delay between the awkward writes of a stream.
    pub write_delay: Duration,
    /// Interval between the lines of the `slow` scenario.
    pub slow_interval: Duration,
    /// Number of lines of the `slow` scenario.
    pub slow_lines: u32,
    /// Request bodies above this get 413 (LMArena's limit is about 5 MB).
    pub max_body_bytes: usize,
}

impl Default for FakeArenaOptions {
    fn default() -> Self {
        FakeArenaOptions {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            write_delay: Duration::from_millis(5),
            slow_interval: Duration::from_millis(200),
            slow_lines: 600,
            max_body_bytes: 5 * 1024 * 1024,
        }
    }
}

/// Why the fake could not start.
#[derive(Debug, thiserror::Error)]
pub enum FakeArenaError {
    #[error("fake LMArena: cannot generate the self-signed certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("fake LMArena: cannot build the TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("fake LMArena: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running fake LMArena. Dropping it stops the server and closes its connections.
#[derive(Debug)]
pub struct FakeArenaHandle {
    addr: SocketAddr,
    cert_pem: String,
    shared: Arc<state::Shared>,
    shutdown: watch::Sender<bool>,
}

/// Start the fake on the current tokio runtime.
pub async fn start(opts: FakeArenaOptions) -> Result<FakeArenaHandle, FakeArenaError> {
    let (tls_config, cert_pem) = tls::server_config()?;
    let addr = SocketAddr::new(opts.host, opts.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| FakeArenaError::Bind { addr, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| FakeArenaError::Bind { addr, source })?;
    let shared = Arc::new(state::Shared::new());
    let (shutdown, shutdown_rx) = watch::channel(false);
    let ctx = Arc::new(server::Ctx {
        shared: shared.clone(),
        opts,
        cert_pem: cert_pem.clone(),
    });
    tokio::spawn(server::serve(
        listener,
        TlsAcceptor::from(tls_config),
        ctx,
        shutdown_rx,
    ));
    Ok(FakeArenaHandle {
        addr,
        cert_pem,
        shared,
        shutdown,
    })
}

impl FakeArenaHandle {
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:<port>` (clients must trust [`Self::certificate_pem`] or skip checks).
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The self-signed certificate, PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Every request received since the last reset, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.read(|s| s.requests.clone())
    }

    pub fn stats(&self) -> FakeStats {
        self.shared.read(|s| s.stats)
    }

    /// Forget requests, counters, tokens and evaluations.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Follow-ups of a direct-battle conversation with `turns` or more turns get the
    /// battle-turn 400 (`None`: never).
    pub fn set_battle_turn_after(&self, turns: Option<u32>) {
        self.shared.update(|s| s.battle_turn_after = turns);
    }

    /// Page requests on lmarena.ai answer 301 to arena.ai.
    pub fn set_redirect_lmarena(&self, on: bool) {
        self.shared.update(|s| s.redirect_lmarena = on);
    }

    /// Refuse the next `count` reCAPTCHA tokens with 403 `recaptcha validation failed`.
    pub fn reject_next_recaptcha(&self, count: u32) {
        self.shared.update(|s| s.reject_next_tokens = count);
    }

    /// Wait (without polling) until `check` holds for the counters; `None` on timeout.
    pub async fn wait_for_stats(
        &self,
        timeout: Duration,
        check: impl Fn(&FakeStats) -> bool,
    ) -> Option<FakeStats> {
        self.shared
            .wait_for(timeout, |s| check(&s.stats).then_some(s.stats))
            .await
    }

    /// Wait until a recorded request satisfies `check`; returns it, `None` on timeout.
    pub async fn wait_for_request(
        &self,
        timeout: Duration,
        check: impl Fn(&RecordedRequest) -> bool,
    ) -> Option<RecordedRequest> {
        self.shared
            .wait_for(timeout, |s| s.requests.iter().find(|r| check(r)).cloned())
            .await
    }

    /// A new deployment of the site: new server-action ids; the old ones answer 404.
    pub fn rotate_deployment(&self) -> u32 {
        self.shared.update(|s| {
            s.deployment += 1;
            s.deployment
        })
    }

    /// Ids of the conversations in the person's history (created and not deleted), sorted.
    pub fn history(&self) -> Vec<String> {
        self.shared.read(|s| {
            let mut ids: Vec<String> = s.evaluations.keys().cloned().collect();
            ids.sort();
            ids
        })
    }

    /// Ids deleted with the `deleteEvaluationSession` action, in order.
    pub fn deleted(&self) -> Vec<String> {
        self.shared.read(|s| s.deleted.clone())
    }

    /// Stop accepting and close every connection (streams in progress count as aborted).
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

impl Drop for FakeArenaHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}
