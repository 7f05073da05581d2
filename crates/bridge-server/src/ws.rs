//! `GET /ws`: the WebSocket of the userscript tabs. Checks the `Origin` before the upgrade,
//! admits a tab at `hello` only with the right `api_key` when one is needed (see
//! `guard::tab_admitted`), answers `hello` with `welcome`, pings, and routes job frames to their jobs. A malformed
//! frame is logged and skipped; it never ends the connection.

use std::time::Instant;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::AggregatedMessage;
use bridge_core::clip::{clip, clip_owned, NAME_CHARS, TEXT_CHARS};
use bridge_core::protocol::{ChunkFrame, ServerMessage, TabMessage, PROTOCOL_VERSION};

use crate::error::ApiError;
use crate::guard::tab_admitted;
use crate::pool::{ActionOutcome, JobEvent, ProbeOutcome, TabFailure, TabHello, TabLink};
use crate::state::AppState;

/// Longest server-action answer kept (the answers the bridge reads are a few hundred bytes).
const ACTION_ANSWER_CHARS: usize = 64 * 1024;

/// Largest frame accepted from a tab (page sources can be a few MB).
const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;

/// The server's name in `welcome`.
pub(crate) const SERVER_NAME: &str = concat!("bridge-server/", env!("CARGO_PKG_VERSION"));

pub(crate) async fn ws_route(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let config = state.config();
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let origin = match origin {
        Some(o) if config.origin_allowed(&o) => o,
        other => {
            tracing::warn!(origin = ?other, "refused a tab connection from an origin not in allowed_origins");
            return Err(ApiError::new(
                actix_web::http::StatusCode::FORBIDDEN,
                "permission_error",
                "This Origin may not connect as an LMArena tab (see allowed_origins in config.jsonc).",
            ));
        }
    };
    let peer = req.peer_addr().map(|a| a.ip());
    let (res, session, stream) = actix_ws::handle(&req, body)
        .map_err(|e| ApiError::invalid_request(format!("WebSocket handshake failed: {e}")))?;
    let stream = stream
        .max_frame_size(MAX_FRAME_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_FRAME_BYTES);
    actix_web::rt::spawn(tab_session(
        state.get_ref().clone(),
        session,
        stream,
        origin,
        peer,
    ));
    Ok(res)
}

async fn tab_session(
    state: AppState,
    mut session: actix_ws::Session,
    mut stream: actix_ws::AggregatedMessageStream,
    origin: String,
    peer: Option<std::net::IpAddr>,
) {
    let conn = state.next_conn_id();
    let (link, mut outbox) = TabLink::new(conn);
    let ping_every = state.options().ping_interval;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let mut last_heard = Instant::now();
    let mut registered = false;
    tracing::debug!(conn, %origin, "tab connected");

    loop {
        tokio::select! {
            msg = stream.recv() => {
                let Some(msg) = msg else { break };
                match msg {
                    Ok(AggregatedMessage::Text(text)) => {
                        last_heard = Instant::now();
                        if !handle_frame(&state, &link, &mut session, &text, (&origin, peer), &mut registered).await {
                            break;
                        }
                    }
                    Ok(AggregatedMessage::Binary(_)) => {
                        tracing::warn!(conn, "tab sent a binary frame; skipped");
                    }
                    Ok(AggregatedMessage::Ping(bytes)) => {
                        last_heard = Instant::now();
                        if session.pong(&bytes).await.is_err() {
                            break;
                        }
                    }
                    Ok(AggregatedMessage::Pong(_)) => last_heard = Instant::now(),
                    Ok(AggregatedMessage::Close(_)) => break,
                    Err(e) => {
                        tracing::warn!(conn, "tab WebSocket protocol error: {e}");
                        break;
                    }
                }
            }
            out = outbox.recv() => {
                let Some(text) = out else { break };
                if session.text(text).await.is_err() {
                    break;
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > ping_every * 2 + ping_every / 2 {
                    tracing::warn!(conn, "tab missed two pings; dropping it");
                    break;
                }
                if let Ok(text) = serde_json::to_string(&ServerMessage::Ping) {
                    if session.text(text).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    if registered {
        state.pool().remove_tab(conn);
        tracing::info!(conn, "tab disconnected");
    }
    let _ = session.close(None).await;
}

/// Handles one text frame; false ends the connection.
async fn handle_frame(
    state: &AppState,
    link: &TabLink,
    session: &mut actix_ws::Session,
    text: &str,
    (origin, peer): (&str, Option<std::net::IpAddr>),
    registered: &mut bool,
) -> bool {
    if let Some((id, data)) = ChunkFrame::parse(text) {
        link.route(id, JobEvent::Chunk(data.into_owned()));
        return true;
    }
    let msg: TabMessage = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(conn = link.conn, "malformed frame from tab skipped: {e}");
            state.stats().malformed_frame();
            return true;
        }
    };
    match msg {
        TabMessage::Hello {
            protocol,
            tab_id,
            client,
            page,
            late_injection,
            api_key,
        } => {
            if protocol != PROTOCOL_VERSION {
                tracing::warn!(
                    conn = link.conn,
                    protocol,
                    "tab speaks another protocol version; update the userscript"
                );
                let _ = session
                    .clone()
                    .close(Some(actix_ws::CloseReason {
                        code: actix_ws::CloseCode::Policy,
                        description: Some(format!(
                            "protocol {protocol} not supported; this server speaks {PROTOCOL_VERSION}: update the userscript"
                        )),
                    }))
                    .await;
                return false;
            }
            if *registered {
                return true;
            }
            let config = state.config();
            if !tab_admitted(config.api_key.as_deref(), peer, api_key.as_deref()) {
                tracing::warn!(
                    conn = link.conn,
                    ?peer,
                    "refused a tab without the right api_key"
                );
                let _ = session
                    .clone()
                    .close(Some(actix_ws::CloseReason {
                        code: actix_ws::CloseCode::Policy,
                        description: Some(
                            "this server needs its api_key from tabs: set localStorage \
                             lmarenaBridge.apiKey in the LMArena tab"
                                .to_owned(),
                        ),
                    }))
                    .await;
                return false;
            }
            let tab_id = clip_owned(tab_id, NAME_CHARS);
            let client = client.map(|c| clip_owned(c, NAME_CHARS));
            let page = page.map(|p| clip_owned(p, TEXT_CHARS));
            let welcome = ServerMessage::Welcome {
                protocol: PROTOCOL_VERSION,
                server: SERVER_NAME.to_owned(),
            };
            if !link.send(&welcome) {
                return false;
            }
            tracing::info!(conn = link.conn, client = ?client, "tab ready");
            if late_injection {
                tracing::warn!(
                    conn = link.conn,
                    "the userscript in this tab started after the page: id capture cannot work \
                     there (set Tampermonkey's injection mode to instant, see the README)"
                );
            }
            let hello = TabHello {
                tab_id,
                page,
                origin: origin.to_owned(),
                client,
                late_injection,
            };
            state.pool().add_tab(link.clone(), hello);
            *registered = true;
            state.stats().tab_connected();
        }
        TabMessage::Response {
            id,
            status,
            headers,
        } => {
            link.route(id, JobEvent::Head { status, headers });
        }
        TabMessage::Chunk { id, data } => {
            link.route(id, JobEvent::Chunk(data));
        }
        TabMessage::Done { id } => {
            link.route(id, JobEvent::Done);
        }
        TabMessage::Error {
            id,
            message,
            status,
            body,
        } => match id {
            Some(id) => {
                link.route(
                    id,
                    JobEvent::Failed(Box::new(TabFailure {
                        message,
                        status,
                        body,
                    })),
                );
            }
            None => tracing::warn!(
                conn = link.conn,
                "tab reported an error: {}",
                clip(&message, TEXT_CHARS)
            ),
        },
        TabMessage::PageSource { id, html } => {
            link.route(id, JobEvent::PageSource(html));
        }
        TabMessage::Pong => state.pool().touch(link.conn),
        TabMessage::ActionResult {
            id,
            status,
            body,
            message,
        } => {
            let outcome = ActionOutcome {
                status,
                body: body.map(|b| clip_owned(b, ACTION_ANSWER_CHARS)),
                message: message.map(|m| clip(&m, TEXT_CHARS).into_owned()),
            };
            link.route(id, JobEvent::Action(Box::new(outcome)));
        }
        TabMessage::ProbeResult {
            id,
            ok,
            status,
            recaptcha,
            message,
        } => {
            let outcome = ProbeOutcome {
                ok,
                status,
                recaptcha,
                message,
            };
            link.route(id, JobEvent::Probe(Box::new(outcome)));
        }
    }
    true
}
