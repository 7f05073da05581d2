//! The fake's HTTP side: TLS accept loop, routing, the upstream endpoints, the page, the
//! reCAPTCHA stub endpoints and the `/__fake/*` control endpoints.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::channel::{Channel, Sender};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::actions;
use super::catalog;
use super::page::{
    self, ModelKind, AUTH_COOKIE_NAME, FAKE_IMAGE_PATH, FAKE_SITE_KEY, FAKE_V2_SITE_KEY,
    RECAPTCHA_MINT_PATH, RECAPTCHA_SCRIPT_PATH,
};
use super::scenario::{
    self, awkward_writes, line_writes, Pacing, Reply, ReplyContext, Scenario, STREAM_CONTENT_TYPE,
};
use super::state::{Evaluation, IssuedToken, RecordedRequest, Shared, TokenKind};
use super::validate;
use super::FakeArenaOptions;

type Body = BoxBody<Bytes, Infallible>;

/// Path prefixes of the upstream API (both generations of the retry path).
pub const RETRY_PATH_PREFIXES: &[&str] = &[
    "/nextjs-api/stream/retry-evaluation-session-message/",
    "/api/stream/retry-evaluation-session-message/",
];
pub const CREATE_EVALUATION_PATH: &str = "/nextjs-api/stream/create-evaluation";
pub const POST_TO_EVALUATION_PREFIX: &str = "/nextjs-api/stream/post-to-evaluation/";
/// The reCAPTCHA action the evaluation endpoints expect tokens for.
pub const RECAPTCHA_ACTION: &str = "chat_submit";
/// The reCAPTCHA action of the retry PUT (checked when the body carries a token).
pub const RETRY_RECAPTCHA_ACTION: &str = "chat_retry";
/// Body fields of the two tokens.
pub(super) const V3_TOKEN_FIELD: &str = "recaptchaV3Token";
/// `POST {STOP_PREFIX}{evaluation}/messages/{message}` stops an answer (UPSTREAM.md §7).
pub const STOP_PREFIX: &str = "/nextjs-api/stream/stop/";
/// Host whose pages answer 301 to [`REDIRECT_TARGET_HOST`] when the redirect is on.
pub const REDIRECTED_HOST: &str = "lmarena.ai";
pub const REDIRECT_TARGET_HOST: &str = "arena.ai";
/// Prefix of the control and inspection endpoints (never recorded).
pub const CONTROL_PREFIX: &str = "/__fake/";

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const CONTROL_BODY_LIMIT: usize = 64 * 1024;
const MAX_WAIT: Duration = Duration::from_secs(60);

pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub opts: FakeArenaOptions,
    pub cert_pem: String,
}

pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ctx: Arc<Ctx>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    tokio::spawn(connection(tcp, acceptor.clone(), ctx.clone(), shutdown.clone()));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("fake-lmarena: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}

async fn connection(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    ctx: Arc<Ctx>,
    mut shutdown: watch::Receiver<bool>,
) {
    let tls = match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!("fake-lmarena: TLS handshake failed: {e}");
            return;
        }
        Err(_) => return,
    };
    let service = service_fn(move |req| {
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(handle(req, ctx).await) }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(tls), service);
    tokio::select! {
        result = conn => {
            if let Err(e) = result {
                tracing::debug!("fake-lmarena: connection ended: {e}");
            }
        }
        _ = shutdown.changed() => {}
    }
}

/// What one routed request produced, besides the response.
#[derive(Default)]
struct Notes {
    scenario: Option<Scenario>,
    rejection: Option<String>,
}

fn full(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(Full::new(body.into()).boxed());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn json_response(status: u16, value: &Value) -> Response<Body> {
    full(status, "application/json", value.to_string())
}

fn header_str(req: &Request<Incoming>, name: header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn handle(req: Request<Incoming>, ctx: Arc<Ctx>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if path.starts_with(CONTROL_PREFIX) {
        return control(req, &ctx).await;
    }
    let method = req.method().clone();
    let query = req.uri().query().map(str::to_owned);
    let content_type = header_str(&req, header::CONTENT_TYPE);
    let origin = header_str(&req, header::ORIGIN);
    let next_action = req
        .headers()
        .get(actions::NEXT_ACTION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let has_auth_cookie = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains(&format!("{AUTH_COOKIE_NAME}=")));
    // Absolute URLs (the image scenario) use the host the browser asked for.
    let host = req
        .uri()
        .authority()
        .map(|a| a.to_string())
        .or_else(|| header_str(&req, header::HOST))
        .unwrap_or_else(|| "lmarena.ai".to_owned());
    let site_origin = format!("https://{host}");
    let redirect_to = (method == Method::GET
        && host.split(':').next() == Some(REDIRECTED_HOST)
        && ctx.shared.read(|s| s.redirect_lmarena))
    .then(|| {
        let rest = req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        format!("https://{REDIRECT_TARGET_HOST}{rest}")
    });

    let mut record = RecordedRequest {
        seq: 0,
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type,
        origin,
        has_auth_cookie,
        body: None,
        body_text: None,
        body_len: 0,
        status: 0,
        scenario: None,
        rejection: None,
        transcript: None,
    };

    let collected = Limited::new(req.into_body(), ctx.opts.max_body_bytes)
        .collect()
        .await;
    let bytes = match collected {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            let reply = if e.is::<http_body_util::LengthLimitError>() {
                record.rejection = Some(format!(
                    "body larger than {} bytes",
                    ctx.opts.max_body_bytes
                ));
                scenario::too_large_reply()
            } else {
                record.rejection = Some(format!("body could not be read: {e}"));
                scenario::invalid_content_reply()
            };
            let (resp, status, _) = reply_response(reply, &ctx);
            record.status = status;
            ctx.shared.record(record);
            return resp;
        }
    };
    record.body_len = bytes.len();
    let body_json: Option<Value> = serde_json::from_slice(&bytes).ok();
    if body_json.is_none() && !bytes.is_empty() {
        record.body_text = Some(String::from_utf8_lossy(&bytes).into_owned());
    }
    record.body = body_json;

    let mut notes = Notes::default();
    if let Some(location) = redirect_to {
        let mut resp = full(301, "text/plain; charset=utf-8", "Moved Permanently");
        if let Ok(v) = HeaderValue::from_str(&location) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        record.status = 301;
        ctx.shared.record(record);
        return resp;
    }
    let action = if host.split(':').next() == Some(actions::UPLOAD_HOST) {
        Some(storage_route(&method, &path, &record, &ctx, &mut notes))
    } else {
        action_route(
            &method,
            &path,
            next_action.as_deref(),
            &record,
            &ctx,
            &mut notes,
        )
    };
    let (resp, status, transcript) = match action {
        Some(resp) => {
            let status = resp.status().as_u16();
            (resp, status, None)
        }
        None => route(
            &method,
            &path,
            query.as_deref(),
            record.body.as_ref(),
            &site_origin,
            &ctx,
            &mut notes,
        ),
    };
    record.status = status;
    record.transcript = transcript;
    record.scenario = notes.scenario.map(|s| s.name().to_owned());
    record.rejection = notes.rejection;
    ctx.shared.record(record);
    resp
}

#[allow(clippy::too_many_arguments)]
fn route(
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: Option<&Value>,
    site_origin: &str,
    ctx: &Ctx,
    notes: &mut Notes,
) -> (Response<Body>, u16, Option<String>) {
    let fixed = |resp: Response<Body>| {
        let status = resp.status().as_u16();
        (resp, status, None)
    };
    if *method == Method::PUT {
        if let Some((session, message)) = retry_ids(path) {
            let reply = retry(ctx, session, message, body, site_origin, notes);
            return reply_response(reply, ctx);
        }
    }
    if *method == Method::POST && path == CREATE_EVALUATION_PATH {
        let reply = evaluation(ctx, None, body, site_origin, notes);
        return reply_response(reply, ctx);
    }
    if *method == Method::POST {
        if let Some(id) = path.strip_prefix(POST_TO_EVALUATION_PREFIX) {
            if !id.is_empty() && !id.contains('/') {
                let reply = evaluation(ctx, Some(id), body, site_origin, notes);
                return reply_response(reply, ctx);
            }
        }
    }
    if *method == Method::POST {
        if let Some((evaluation, message)) = stop_ids(path) {
            return fixed(stop(ctx, evaluation, message, notes));
        }
    }
    if *method == Method::POST && path == RECAPTCHA_MINT_PATH {
        return fixed(mint_token(ctx, body, notes));
    }
    if *method == Method::GET && path == RECAPTCHA_SCRIPT_PATH {
        return fixed(full(
            200,
            "application/javascript; charset=utf-8",
            page::recaptcha_script(),
        ));
    }
    if *method == Method::GET && path == FAKE_IMAGE_PATH {
        return fixed(full(200, "image/png", page::PNG_1X1));
    }
    if *method == Method::GET && path == catalog::MODEL_CATALOG_PATH {
        return fixed(full(200, "application/json", catalog::MODEL_CATALOG_JSON));
    }
    let api = path.starts_with("/nextjs-api/") || path.starts_with("/api/");
    if *method == Method::GET && !api {
        let with_recaptcha = !query.is_some_and(|q| q.split('&').any(|kv| kv == "recaptcha=0"));
        let deployment = ctx.shared.read(|s| s.deployment);
        let mut resp = full(
            200,
            "text/html; charset=utf-8",
            actions::with_chunk(page::app_page(with_recaptcha), deployment),
        );
        let cookie = format!(
            "{AUTH_COOKIE_NAME}=fake-session-cookie; Path=/; Secure; HttpOnly; SameSite=Lax"
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
        return fixed(resp);
    }
    notes.rejection = Some(format!("no route for {method} {path}"));
    fixed(json_response(404, &json!({"error": "Not Found"})))
}

/// The action chunk (`GET`) and server-action calls (`POST /` with `next-action`).
fn action_route(
    method: &Method,
    path: &str,
    next_action: Option<&str>,
    record: &RecordedRequest,
    ctx: &Ctx,
    notes: &mut Notes,
) -> Option<Response<Body>> {
    let deployment = ctx.shared.read(|s| s.deployment);
    if *method == Method::GET && path.starts_with(actions::ACTION_CHUNK_PREFIX) {
        // Chunks of earlier deployments stay served (as on a CDN), with their old ids.
        if let Some(n) = (0..=deployment).find(|n| path == actions::chunk_path(*n)) {
            return Some(full(
                200,
                "application/javascript; charset=utf-8",
                actions::chunk_js(n),
            ));
        }
        notes.rejection = Some(format!("no chunk {path} in deployment {deployment}"));
        return Some(full(404, "text/plain", "Not Found"));
    }
    let id =
        next_action.filter(|_| *method == Method::POST && path == actions::ACTION_POST_PATH)?;
    let call = actions::parse_call(
        deployment,
        id,
        record.body_text.as_deref(),
        record.body.as_ref(),
    );
    let component = |v: Value| full(200, "text/x-component", actions::answer(&v));
    Some(match call {
        None => {
            notes.rejection = Some(format!("no server action {id} in deployment {deployment}"));
            full(404, "text/plain", "Server action not found.")
        }
        Some(Err(reason)) => {
            notes.rejection = Some(reason);
            full(500, "text/plain", "Internal Server Error")
        }
        Some(Ok(actions::ActionCall::GenerateUploadUrl {
            file_name,
            content_type,
        })) => {
            let key = format!("uploads/{}/{file_name}", uuid::Uuid::new_v4().simple());
            let ok = content_type.starts_with("image/") && !file_name.contains('/');
            if ok {
                ctx.shared.update(|s| {
                    s.objects.insert(key.clone(), None);
                    s.stats.upload_urls += 1;
                });
                let upload_url = format!(
                    "https://{}{}{key}?X-Amz-Signature=fake",
                    actions::UPLOAD_HOST,
                    actions::PUT_PREFIX
                );
                component(json!({"success": true, "data": {"uploadUrl": upload_url, "key": key}}))
            } else {
                notes.rejection = Some(format!(
                    "generateUploadUrl: bad {file_name:?} {content_type:?}"
                ));
                component(json!({"success": false, "error": "Invalid file"}))
            }
        }
        Some(Ok(actions::ActionCall::GetSignedUrl(key))) => {
            let stored = ctx
                .shared
                .read(|s| s.objects.get(&key).is_some_and(Option::is_some));
            if stored {
                let url = format!(
                    "https://{}{}{key}?X-Amz-Signature=fake-get",
                    actions::UPLOAD_HOST,
                    actions::GET_PREFIX
                );
                component(json!({"success": true, "data": {"url": url}}))
            } else {
                notes.rejection = Some(format!("getSignedUrl: nothing stored under {key}"));
                component(json!({"success": false, "error": "Not found"}))
            }
        }
        Some(Ok(actions::ActionCall::Delete(evaluation))) => {
            let known = ctx.shared.update(|s| {
                let known = s.evaluations.remove(&evaluation).is_some();
                if known {
                    s.deleted.push(evaluation.clone());
                    s.stats.deleted_evaluations += 1;
                }
                known
            });
            if known {
                component(json!({"success": true}))
            } else {
                notes.rejection = Some(format!("delete: no evaluation {evaluation}"));
                component(json!({"success": false, "error": "Evaluation session not found"}))
            }
        }
    })
}

/// The object store on the upload host: CORS preflight, the presigned PUT (only to a key that
/// `generateUploadUrl` handed out), and GETs of stored objects.
fn storage_route(
    method: &Method,
    path: &str,
    record: &RecordedRequest,
    ctx: &Ctx,
    notes: &mut Notes,
) -> Response<Body> {
    let cors = |mut resp: Response<Body>| {
        let h = resp.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("PUT, GET"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        resp
    };
    if *method == Method::OPTIONS {
        return cors(full(204, "text/plain", ""));
    }
    if *method == Method::PUT {
        if let Some(key) = path.strip_prefix(actions::PUT_PREFIX) {
            let content_type = record.content_type.clone().unwrap_or_default();
            let stored = ctx.shared.update(|s| match s.objects.get_mut(key) {
                Some(slot @ None) if content_type.starts_with("image/") && record.body_len > 0 => {
                    *slot = Some((content_type.clone(), record.body_len));
                    s.stats.uploads += 1;
                    true
                }
                _ => false,
            });
            if stored {
                return cors(full(200, "text/plain", ""));
            }
            notes.rejection = Some(format!("PUT {key}: not a pending upload, or not an image"));
            return cors(full(
                403,
                "application/xml",
                "<Error><Code>AccessDenied</Code></Error>",
            ));
        }
    }
    if *method == Method::GET {
        if let Some(key) = path.strip_prefix(actions::GET_PREFIX) {
            if let Some(Some((content_type, _))) = ctx.shared.read(|s| s.objects.get(key).cloned())
            {
                return cors(full(200, &content_type, page::PNG_1X1));
            }
        }
    }
    notes.rejection = Some(format!("object store: no route for {method} {path}"));
    cors(full(
        404,
        "application/xml",
        "<Error><Code>NoSuchKey</Code></Error>",
    ))
}

/// `{evaluation}` and `{message}` of a stop path.
fn stop_ids(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix(STOP_PREFIX)?;
    let (evaluation, message) = rest.split_once("/messages/")?;
    (!evaluation.is_empty() && !message.is_empty() && !message.contains('/'))
        .then_some((evaluation, message))
}

/// The stop call: 200 for a message of an evaluation this fake created, else 404.
fn stop(ctx: &Ctx, evaluation: &str, message: &str, notes: &mut Notes) -> Response<Body> {
    let known = ctx.shared.update(|s| {
        let known = s
            .evaluations
            .get(evaluation)
            .is_some_and(|e| e.model_message_ids.iter().any(|m| m == message));
        if known {
            s.stats.stop_calls += 1;
        }
        known
    });
    if known {
        json_response(200, &json!({"success": true}))
    } else {
        notes.rejection = Some(format!(
            "stop: no message {message} in evaluation {evaluation}"
        ));
        json_response(404, &json!({"error": "Message not found"}))
    }
}

/// `{session}` and `{message}` of a retry path.
fn retry_ids(path: &str) -> Option<(&str, &str)> {
    let rest = RETRY_PATH_PREFIXES
        .iter()
        .find_map(|p| path.strip_prefix(p))?;
    let mut parts = rest.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(session), Some("messages"), Some(message), None)
            if !session.is_empty() && !message.is_empty() =>
        {
            Some((session, message))
        }
        _ => None,
    }
}

fn invalid(notes: &mut Notes, reason: String) -> Reply {
    notes.rejection = Some(reason);
    scenario::invalid_content_reply()
}

/// The reply for a request whose user text is `content`.
fn scenario_reply(
    ctx: &Ctx,
    content: &str,
    kind: Option<ModelKind>,
    session_id: &str,
    site_origin: &str,
    notes: &mut Notes,
) -> Reply {
    let scenario = match scenario::scenario_from_content(content) {
        Ok(found) => found.unwrap_or_else(|| Scenario::default_for(kind, content)),
        Err(name) => {
            notes.rejection = Some(format!("unknown scenario marker {name:?}"));
            return Reply::Fixed {
                status: 400,
                content_type: "application/json",
                headers: Vec::new(),
                body: json!({ "error": format!("fake-lmarena: unknown scenario {name:?}") })
                    .to_string(),
            };
        }
    };
    notes.scenario = Some(scenario);
    scenario::reply(
        scenario,
        &ReplyContext {
            user_text: content,
            session_id,
            origin: site_origin,
            slow_interval: ctx.opts.slow_interval,
            slow_lines: ctx.opts.slow_lines,
        },
    )
}

fn retry(
    ctx: &Ctx,
    session: &str,
    message: &str,
    body: Option<&Value>,
    site_origin: &str,
    notes: &mut Notes,
) -> Reply {
    let Some(body) = body else {
        return invalid(notes, "body is not JSON".to_owned());
    };
    // 2026: the site sends a `chat_retry` token; when a body carries one, it must be good.
    // (A body without one is still served, so pages and tests of the older site keep working.)
    let mut body = body.clone();
    if let Some(token) = body.as_object_mut().and_then(|o| o.remove(V3_TOKEN_FIELD)) {
        let token = token.as_str().unwrap_or_default().to_owned();
        if let Err(refusal) = ctx
            .shared
            .update(|s| s.redeem_token(&token, RETRY_RECAPTCHA_ACTION))
        {
            notes.rejection = Some(refusal.reason().to_owned());
            return scenario::recaptcha_failed_reply();
        }
    }
    let body = &body;
    // Evaluation flow "regenerate": `{}` on an evaluation this fake created.
    if body.as_object().is_some_and(|o| o.is_empty()) {
        let evaluation = ctx.shared.read(|s| s.evaluations.get(session).cloned());
        return match evaluation {
            None => {
                notes.rejection = Some(format!("no evaluation {session}"));
                scenario::not_found_reply("Evaluation")
            }
            Some(e) if !e.model_message_ids.iter().any(|m| m == message) => {
                notes.rejection = Some(format!("evaluation {session} has no message {message}"));
                scenario::not_found_reply("Message")
            }
            Some(e) => scenario_reply(
                ctx,
                &e.last_user_content,
                e.model_kind,
                session,
                site_origin,
                notes,
            ),
        };
    }
    match validate::retry_body(body, session) {
        Ok(b) => scenario_reply(
            ctx,
            &b.last_user_content,
            b.model_kind,
            session,
            site_origin,
            notes,
        ),
        Err(reason) => invalid(notes, reason),
    }
}

/// create-evaluation (`path_id: None`) or post-to-evaluation.
fn evaluation(
    ctx: &Ctx,
    path_id: Option<&str>,
    body: Option<&Value>,
    site_origin: &str,
    notes: &mut Notes,
) -> Reply {
    let Some(body) = body else {
        return invalid(notes, "body is not JSON".to_owned());
    };
    let b = match validate::evaluation_body(body, path_id) {
        Ok(b) => b,
        Err(reason) => return invalid(notes, reason),
    };
    if b.mode.as_deref() == Some(validate::MODE_DIRECT) {
        ctx.shared.update(|s| s.stats.direct_mode_refusals += 1);
        notes.rejection = Some("mode \"direct\" on create".to_owned());
        return scenario::direct_mode_refused_reply();
    }
    let existing = ctx.shared.read(|s| s.evaluations.get(&b.id).cloned());
    match (path_id, &existing) {
        (None, Some(_)) => return invalid(notes, format!("evaluation {} already exists", b.id)),
        (Some(id), None) => {
            notes.rejection = Some(format!("no evaluation {id}"));
            return scenario::not_found_reply("Evaluation");
        }
        _ => {}
    }
    if let Err(refusal) = ctx.shared.update(|s| {
        s.redeem_tokens(
            b.recaptcha_token.as_deref(),
            b.recaptcha_v2_token.as_deref(),
            RECAPTCHA_ACTION,
        )
    }) {
        notes.rejection = Some(refusal.reason().to_owned());
        return scenario::recaptcha_failed_reply();
    }
    if let Some(e) = &existing {
        let limit = ctx.shared.read(|s| s.battle_turn_after);
        let direct = e.mode.as_deref() == Some(validate::MODE_DIRECT_BATTLE);
        if direct && limit.is_some_and(|n| e.turns >= n) {
            ctx.shared.update(|s| s.stats.battle_turn_refusals += 1);
            notes.rejection = Some(format!("battle turn demanded after {} turns", e.turns));
            return scenario::battle_turn_reply();
        }
    }
    let reply = scenario_reply(
        ctx,
        &b.user_content,
        b.model_kind,
        &b.id,
        site_origin,
        notes,
    );
    if matches!(reply, Reply::Stream { .. }) {
        let evaluation = Evaluation {
            mode: existing
                .as_ref()
                .and_then(|e| e.mode.clone())
                .or(b.mode.clone()),
            turns: existing.as_ref().map_or(0, |e| e.turns) + 1,
            last_user_content: b.user_content.clone(),
            model_message_ids: std::iter::once(b.model_a_message_id.clone())
                .chain(b.model_b_message_id.clone())
                .collect(),
            model_kind: b.model_kind,
        };
        ctx.shared.update(|s| {
            let created = path_id.is_none();
            let kind = s
                .evaluations
                .get(&b.id)
                .and_then(|e| e.model_kind)
                .or(evaluation.model_kind);
            s.evaluations.insert(
                b.id.clone(),
                Evaluation {
                    model_kind: kind,
                    ..evaluation
                },
            );
            if created {
                s.stats.evaluations += 1;
            }
        });
        tracing::debug!(mode = ?b.mode, "fake-lmarena: evaluation {} accepted", b.id);
    }
    reply
}

fn mint_token(ctx: &Ctx, body: Option<&Value>, notes: &mut Notes) -> Response<Body> {
    let key = body.and_then(|b| b.get("key")).and_then(Value::as_str);
    let action = body.and_then(|b| b.get("action")).and_then(Value::as_str);
    let kind = match key {
        Some(FAKE_SITE_KEY) => TokenKind::V3,
        Some(FAKE_V2_SITE_KEY) => TokenKind::V2,
        _ => {
            notes.rejection = Some("mint needs a site key of this arena".to_owned());
            return json_response(400, &json!({"error": "invalid site key or action"}));
        }
    };
    let Some(action) = action else {
        notes.rejection = Some("mint needs an action".to_owned());
        return json_response(400, &json!({"error": "invalid site key or action"}));
    };
    let token = format!("fake-recaptcha-{}", uuid::Uuid::new_v4());
    ctx.shared.update(|s| {
        s.tokens.insert(
            token.clone(),
            IssuedToken {
                kind,
                action: action.to_owned(),
                used: false,
            },
        );
        s.stats.recaptcha_tokens_issued += 1;
    });
    json_response(200, &json!({ "token": token }))
}

/// Turn a scenario reply into a response; a stream is written by a task of its own.
/// Returns the response, its status and the transcript of a stream.
fn reply_response(reply: Reply, ctx: &Ctx) -> (Response<Body>, u16, Option<String>) {
    match reply {
        Reply::Fixed {
            status,
            content_type,
            headers,
            body,
        } => {
            let mut resp = full(status, content_type, body);
            for (name, value) in headers {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    resp.headers_mut().insert(name, v);
                }
            }
            (resp, status, None)
        }
        Reply::Stream { transcript, pacing } => {
            let (writes, delay): (Vec<Bytes>, Duration) = match pacing {
                Pacing::Awkward => (
                    awkward_writes(&transcript)
                        .into_iter()
                        .map(Bytes::copy_from_slice)
                        .collect(),
                    ctx.opts.write_delay,
                ),
                Pacing::Lines(interval) => (
                    line_writes(&transcript)
                        .into_iter()
                        .map(Bytes::copy_from_slice)
                        .collect(),
                    interval,
                ),
            };
            let (tx, body) = Channel::<Bytes, Infallible>::new(1);
            ctx.shared.stream_started();
            tokio::spawn(pump(tx, writes, delay, ctx.shared.clone()));
            let mut resp = Response::new(body.boxed());
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(STREAM_CONTENT_TYPE),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            h.insert(
                "ratelimit",
                HeaderValue::from_static("limit=3000, remaining=2987, reset=39"),
            );
            h.insert("ratelimit-policy", HeaderValue::from_static("3000;w=300"));
            (resp, 200, Some(transcript))
        }
    }
}

/// Write one stream, a delay between writes; a failed send means the client went away.
async fn pump(mut tx: Sender<Bytes>, writes: Vec<Bytes>, delay: Duration, shared: Arc<Shared>) {
    for (i, w) in writes.into_iter().enumerate() {
        if i > 0 && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if tx.send_data(w).await.is_err() {
            shared.stream_ended(false);
            return;
        }
    }
    shared.stream_ended(true);
}

async fn control(req: Request<Incoming>, ctx: &Ctx) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let body: Option<Value> = match Limited::new(req.into_body(), CONTROL_BODY_LIMIT)
        .collect()
        .await
    {
        Ok(c) => serde_json::from_slice(&c.to_bytes()).ok(),
        Err(_) => None,
    };
    let Some(name) = path.strip_prefix(CONTROL_PREFIX) else {
        return json_response(404, &json!({"error": "Not Found"}));
    };
    match (method, name) {
        (Method::GET, "requests") => {
            let requests = ctx.shared.read(|s| s.requests.clone());
            json_response(200, &json!(requests))
        }
        (Method::GET, "stats") => json_response(200, &json!(ctx.shared.read(|s| s.stats))),
        (Method::GET, "cert") => full(200, "application/x-pem-file", ctx.cert_pem.clone()),
        (Method::POST, "reset") => {
            ctx.shared.reset();
            json_response(200, &json!({"ok": true}))
        }
        (Method::POST, "recaptcha/reject-next") => {
            let count = body
                .as_ref()
                .and_then(|b| b.get("count"))
                .and_then(Value::as_u64)
                .and_then(|c| u32::try_from(c).ok());
            let Some(count) = count else {
                return json_response(400, &json!({"error": "body must be {\"count\": N}"}));
            };
            ctx.shared.update(|s| s.reject_next_tokens = count);
            json_response(200, &json!({"ok": true}))
        }
        (Method::POST, "battle-turn-after") => {
            // `{"turns": N}`: follow-ups of a direct-battle conversation with N turns or more
            // get the battle-turn 400; `{"turns": null}` turns it off.
            let Some(turns) = body.as_ref().and_then(|b| b.get("turns")) else {
                return json_response(400, &json!({"error": "body must be {\"turns\": N|null}"}));
            };
            let limit = turns.as_u64().and_then(|n| u32::try_from(n).ok());
            if limit.is_none() && !turns.is_null() {
                return json_response(400, &json!({"error": "turns must be a number or null"}));
            }
            ctx.shared.update(|s| s.battle_turn_after = limit);
            json_response(200, &json!({"ok": true}))
        }
        (Method::POST, "redirect-lmarena") => {
            let Some(on) = body
                .as_ref()
                .and_then(|b| b.get("on"))
                .and_then(Value::as_bool)
            else {
                return json_response(400, &json!({"error": "body must be {\"on\": true|false}"}));
            };
            ctx.shared.update(|s| s.redirect_lmarena = on);
            json_response(200, &json!({"ok": true}))
        }
        (Method::POST, "deploy") => {
            let deployment = ctx.shared.update(|s| {
                s.deployment += 1;
                s.deployment
            });
            json_response(200, &json!({"deployment": deployment}))
        }
        (Method::GET, "history") => {
            let (mut evaluations, deleted) = ctx.shared.read(|s| {
                let ids: Vec<String> = s.evaluations.keys().cloned().collect();
                (ids, s.deleted.clone())
            });
            evaluations.sort();
            json_response(
                200,
                &json!({"evaluations": evaluations, "deleted": deleted}),
            )
        }
        (Method::GET, "wait") => wait(ctx, &query).await,
        _ => json_response(404, &json!({"error": "Not Found"})),
    }
}

/// `GET /__fake/wait?counter=aborted_streams&min=1&timeout_ms=5000`: answer when the counter
/// reaches `min` (200 with the stats) or when the time is up (408 with the stats).
async fn wait(ctx: &Ctx, query: &str) -> Response<Body> {
    let param = |key: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_owned())
    };
    let counter = param("counter").unwrap_or_default();
    let min = param("min")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1);
    let timeout = param("timeout_ms")
        .and_then(|v| v.parse::<u64>().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(10))
        .min(MAX_WAIT);
    if ctx.shared.read(|s| s.stats.counter(&counter)).is_none() {
        return json_response(
            400,
            &json!({ "error": format!("unknown counter {counter:?}") }),
        );
    }
    let reached = ctx
        .shared
        .wait_for(timeout, |s| {
            s.stats
                .counter(&counter)
                .filter(|v| *v >= min)
                .map(|_| s.stats)
        })
        .await;
    match reached {
        Some(stats) => json_response(200, &json!(stats)),
        None => json_response(408, &json!(ctx.shared.read(|s| s.stats))),
    }
}
