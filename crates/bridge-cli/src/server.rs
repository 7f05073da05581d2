//! Talking to bridge-server: the `--server` URL (default and check), and [`call_internal`], the
//! one way both CLIs call its loopback-only internal routes (DESIGN.md §4), with the failures
//! both word the same: server down, no tab, wrong api key.

use std::time::Duration;

pub use reqwest::StatusCode;

use crate::exit::{one_line, Exit, Failure};

/// Where bridge-server listens unless told otherwise (DESIGN.md §4).
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:5102";
/// What to tell a user whose server is not running.
pub const SERVER_START_HINT: &str =
    "start bridge-server first: cargo run --release -p bridge-server";
/// A server that is up accepts at once; anything slower is as good as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of an unexpected error body is quoted.
const QUOTED_BODY_CHARS: usize = 200;

/// An `http://` or `https://` URL with a host, kept without a trailing slash (a clap
/// `value_parser` for `--server`).
pub fn parse_server_url(value: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(value).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("expected http://HOST:PORT".to_owned());
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// Why a call to an internal route got no 200 answer. It converts into the [`Failure`] both
/// CLIs report; a CLI matches first the cases it words its own way (a timeout, a status that
/// means something for its route).
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    #[error("cannot set up the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("cannot connect to bridge-server at {server}")]
    Connect {
        server: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("bridge-server at {server} did not answer within {} s", after.as_secs())]
    Timeout { server: String, after: Duration },
    #[error("request to bridge-server at {server} failed")]
    Request {
        server: String,
        #[source]
        source: reqwest::Error,
    },
    /// `said` is the server's own message, on one line.
    #[error("bridge-server answered HTTP {status}: {said}")]
    Status {
        status: StatusCode,
        said: String,
        sent_key: bool,
    },
}

/// POST `path` on the bridge-server at `server` (as [`parse_server_url`] keeps it), with
/// `api_key` as a Bearer token, `body` as JSON (none: an empty body, `Content-Length: 0`), and
/// `timeout` for the whole exchange. Returns the body of a 200 answer.
pub fn call_internal(
    server: &str,
    path: &str,
    api_key: Option<&str>,
    body: Option<&serde_json::Value>,
    timeout: Duration,
) -> Result<String, InternalError> {
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(CONNECT_TIMEOUT);
    if is_loopback_url(server) {
        // An HTTP_PROXY from the environment must not carry a request (and its api key) meant
        // for this machine.
        builder = builder.no_proxy();
    }
    let client = builder.build().map_err(InternalError::Client)?;
    let url = format!("{server}{path}");
    let mut request = match body {
        Some(json) => client.post(&url).json(json),
        None => client.post(&url).body(""),
    };
    if let Some(key) = api_key {
        request = request.bearer_auth(key);
    }
    let sent = |source| send_error(server, timeout, source);
    let response = request.send().map_err(sent)?;
    let status = response.status();
    let text = response.text().map_err(sent)?;
    if status == StatusCode::OK {
        return Ok(text);
    }
    Err(InternalError::from_answer(status, &text, api_key.is_some()))
}

impl InternalError {
    /// A non-200 answer with `body`, to a request that carried an api key if `sent_key`.
    pub fn from_answer(status: StatusCode, body: &str, sent_key: bool) -> Self {
        InternalError::Status {
            status,
            said: server_message(body),
            sent_key,
        }
    }
}

fn send_error(server: &str, timeout: Duration, source: reqwest::Error) -> InternalError {
    let server = server.to_owned();
    if source.is_connect() {
        InternalError::Connect { server, source }
    } else if source.is_timeout() {
        InternalError::Timeout {
            server,
            after: timeout,
        }
    } else {
        InternalError::Request { server, source }
    }
}

impl<O> From<InternalError> for Failure<O> {
    fn from(error: InternalError) -> Self {
        match &error {
            InternalError::Client(_) => Failure::new(Exit::Other, error),
            InternalError::Connect { .. } => {
                Failure::msg(Exit::ServerDown, format!("{error}: {SERVER_START_HINT}"))
            }
            InternalError::Timeout { .. } => Failure::msg(
                Exit::ServerDown,
                format!(
                    "{error}: check that it is running and responsive (see its log), then retry"
                ),
            ),
            // The transport error's own text only: its causes repeat the URL.
            InternalError::Request { source, .. } => {
                Failure::msg(Exit::Other, format!("{error}: {source}"))
            }
            InternalError::Status {
                status: StatusCode::SERVICE_UNAVAILABLE,
                said,
                ..
            } => Failure::msg(
                Exit::NoTab,
                format!(
                    "no LMArena tab is connected to bridge-server: open https://lmarena.ai with \
                     the userscript enabled (its title shows ✅), then retry (server said: {said})"
                ),
            ),
            InternalError::Status {
                status: StatusCode::UNAUTHORIZED,
                said,
                sent_key,
            } => {
                let hint = if *sent_key {
                    "the api_key in config.jsonc does not match the server's"
                } else {
                    "the server needs an api key: set api_key in config.jsonc"
                };
                Failure::msg(
                    Exit::Unauthorized,
                    format!("bridge-server refused the request: {hint} (server said: {said})"),
                )
            }
            InternalError::Status { .. } => Failure::msg(Exit::Other, &error),
        }
    }
}

/// Whether `url` points at this machine (`127.0.0.0/8`, `[::1]` or `localhost`).
fn is_loopback_url(url: &str) -> bool {
    let Some(host) = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
    else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => bare.eq_ignore_ascii_case("localhost"),
    }
}

/// The `error.message` of an OpenAI-shaped error body, else the start of the body.
fn server_message(body: &str) -> String {
    let parsed = serde_json::from_str::<serde_json::Value>(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(|e| e.get("message").and_then(|m| m.as_str()).or(e.as_str()));
    match message {
        Some(m) => one_line(m),
        None if body.trim().is_empty() => "(empty body)".to_owned(),
        None => one_line(&body.chars().take(QUOTED_BODY_CHARS).collect::<String>()),
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    fn failure(status: StatusCode, body: &str, sent_key: bool) -> Failure<Infallible> {
        InternalError::from_answer(status, body, sent_key).into()
    }

    #[test]
    fn loopback_urls() {
        for url in [
            "http://127.0.0.1:5102",
            "http://127.1.2.3",
            "http://[::1]:5102",
            "http://LOCALHOST:1",
        ] {
            assert!(is_loopback_url(url), "{url}");
        }
        for url in ["http://10.0.0.2:5102", "https://example.com", "not a url"] {
            assert!(!is_loopback_url(url), "{url}");
        }
    }

    #[test]
    fn server_url_is_checked_and_trimmed() {
        assert_eq!(
            parse_server_url("http://127.0.0.1:9/").as_deref(),
            Ok("http://127.0.0.1:9")
        );
        assert_eq!(
            parse_server_url(DEFAULT_SERVER).as_deref(),
            Ok(DEFAULT_SERVER)
        );
        for bad in ["127.0.0.1:5102", "ftp://h", "http://", ""] {
            assert!(parse_server_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn server_message_from_openai_error() {
        let body =
            r#"{"error":{"message":"No tab\nconnected","type":"x","param":null,"code":null}}"#;
        assert_eq!(server_message(body), "No tab connected");
        assert_eq!(server_message(r#"{"error":"plain"}"#), "plain");
        assert_eq!(server_message(" \n"), "(empty body)");
        let long = "x".repeat(1000);
        assert_eq!(server_message(&long).len(), QUOTED_BODY_CHARS);
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        let cases = [
            (StatusCode::SERVICE_UNAVAILABLE, Exit::NoTab),
            (StatusCode::UNAUTHORIZED, Exit::Unauthorized),
            (StatusCode::FORBIDDEN, Exit::Other),
            (StatusCode::GATEWAY_TIMEOUT, Exit::Other),
            (StatusCode::INTERNAL_SERVER_ERROR, Exit::Other),
        ];
        for (status, exit) in cases {
            assert_eq!(failure(status, "", true).exit, exit, "{status}");
        }
    }

    #[test]
    fn messages_quote_the_server_and_say_what_to_do() {
        let body =
            r#"{"error":{"message":"No LMArena tab\nis connected.","code":"no_tab_connected"}}"#;
        let text = failure(StatusCode::SERVICE_UNAVAILABLE, body, false).message;
        assert!(
            text.contains("open https://lmarena.ai")
                && text.ends_with("(server said: No LMArena tab is connected.)"),
            "{text}"
        );
        let with = failure(StatusCode::UNAUTHORIZED, "", true).message;
        assert!(with.contains("does not match"), "{with}");
        let without = failure(StatusCode::UNAUTHORIZED, "", false).message;
        assert!(
            without.contains("set api_key") && without.contains("(empty body)"),
            "{without}"
        );
        let other = failure(StatusCode::BAD_GATEWAY, &"x".repeat(500), true).message;
        assert!(
            other.starts_with("bridge-server answered HTTP 502 Bad Gateway: xxx")
                && other.len() < 300,
            "{other}"
        );
    }

    #[test]
    fn timeout_means_server_down_unless_the_cli_says_otherwise() {
        let f: Failure<Infallible> = InternalError::Timeout {
            server: "http://127.0.0.1:1".to_owned(),
            after: Duration::from_secs(15),
        }
        .into();
        assert_eq!(f.exit, Exit::ServerDown);
        assert_eq!(
            f.message,
            "bridge-server at http://127.0.0.1:1 did not answer within 15 s: check that it is \
             running and responsive (see its log), then retry"
        );
    }
}
