//! Where the page HTML comes from: the running bridge-server (which asks a connected LMArena
//! tab for it) or a file / standard input.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use reqwest::StatusCode;

use crate::exit::{one_line, Exit, Failure, OrExit};

/// bridge-server route that answers with the HTML of a connected tab (DESIGN.md §4).
pub const REQUEST_MODEL_UPDATE_PATH: &str = "/internal/request_model_update";
/// Longer than the server's own wait for the tab, so its 504 arrives before we give up.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);
/// A server that is up accepts at once; anything slower is as good as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// What to tell a user whose server is not running.
pub const SERVER_START_HINT: &str =
    "start bridge-server first: cargo run --release -p bridge-server";
/// How much of an unexpected error body is quoted.
const QUOTED_BODY_CHARS: usize = 200;

/// Read the page from `path`, or from standard input when `stdin` is set.
pub fn read_html(path: &Path, stdin: bool) -> Result<String, Failure> {
    let bytes = if stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read the page HTML from standard input")
            .or_exit(Exit::File)?;
        bytes
    } else {
        std::fs::read(path)
            .with_context(|| format!("cannot read {}", path.display()))
            .or_exit(Exit::File)?
    };
    // A saved page may hold a stray invalid byte; that must not hide the model list.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Ask bridge-server at `server` for the page HTML of a connected tab.
pub fn fetch_from_server(server: &str, api_key: Option<&str>) -> Result<String, Failure> {
    let url = format!("{server}{REQUEST_MODEL_UPDATE_PATH}");
    let client = reqwest::blocking::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .context("cannot set up the HTTP client")
        .or_exit(Exit::Other)?;
    // An explicit empty body, so the request carries `Content-Length: 0`.
    let mut request = client.post(&url).body("");
    if let Some(key) = api_key {
        request = request.bearer_auth(key);
    }
    let response = request.send().map_err(|e| send_failure(server, &e))?;
    let status = response.status();
    let body = response.text().map_err(|e| send_failure(server, &e))?;
    if status == StatusCode::OK {
        return Ok(body);
    }
    Err(status_failure(status, &body, api_key.is_some()))
}

fn send_failure(server: &str, error: &reqwest::Error) -> Failure {
    if error.is_connect() {
        Failure::msg(
            Exit::ServerDown,
            format!("cannot connect to bridge-server at {server}: {SERVER_START_HINT}"),
        )
    } else if error.is_timeout() {
        Failure::msg(
            Exit::TabTimeout,
            format!(
                "bridge-server at {server} sent no page within {} s: check that the LMArena tab \
                 is loaded and not showing a challenge, then retry",
                REQUEST_TIMEOUT.as_secs()
            ),
        )
    } else {
        Failure::msg(
            Exit::Other,
            format!("request to bridge-server at {server} failed: {error}"),
        )
    }
}

/// Map a non-200 answer of the server to a failure with a hint.
pub fn status_failure(status: StatusCode, body: &str, sent_key: bool) -> Failure {
    let said = server_message(body);
    match status {
        StatusCode::SERVICE_UNAVAILABLE => Failure::msg(
            Exit::NoTab,
            format!(
                "no LMArena tab is connected to bridge-server: open https://lmarena.ai with the \
                 userscript enabled, then retry (server said: {said})"
            ),
        ),
        StatusCode::GATEWAY_TIMEOUT => Failure::msg(
            Exit::TabTimeout,
            format!(
                "the LMArena tab did not send the page in time: check that it is loaded and not \
                 showing a challenge, then retry (server said: {said})"
            ),
        ),
        StatusCode::UNAUTHORIZED => {
            let hint = if sent_key {
                "the api_key in config.jsonc does not match the server's"
            } else {
                "the server needs an api key: set api_key in config.jsonc"
            };
            Failure::msg(
                Exit::Unauthorized,
                format!("bridge-server refused the request: {hint} (server said: {said})"),
            )
        }
        _ => Failure::msg(
            Exit::Other,
            format!("bridge-server answered HTTP {status}: {said}"),
        ),
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
    use super::*;

    #[test]
    fn statuses_map_to_exit_codes() {
        let cases = [
            (StatusCode::SERVICE_UNAVAILABLE, Exit::NoTab),
            (StatusCode::GATEWAY_TIMEOUT, Exit::TabTimeout),
            (StatusCode::UNAUTHORIZED, Exit::Unauthorized),
            (StatusCode::FORBIDDEN, Exit::Other),
            (StatusCode::INTERNAL_SERVER_ERROR, Exit::Other),
        ];
        for (status, exit) in cases {
            assert_eq!(status_failure(status, "", false).exit, exit, "{status}");
        }
    }

    #[test]
    fn server_message_from_openai_error() {
        let body =
            r#"{"error":{"message":"No tab\nconnected","type":"x","param":null,"code":null}}"#;
        assert_eq!(server_message(body), "No tab connected");
        assert_eq!(server_message(r#"{"error":"plain"}"#), "plain");
        assert_eq!(server_message(""), "(empty body)");
        let long = "x".repeat(1000);
        assert_eq!(server_message(&long).len(), QUOTED_BODY_CHARS);
    }

    #[test]
    fn unauthorized_hint_depends_on_key() {
        let with = status_failure(StatusCode::UNAUTHORIZED, "", true).to_string();
        assert!(with.contains("does not match"), "{with}");
        let without = status_failure(StatusCode::UNAUTHORIZED, "", false).to_string();
        assert!(without.contains("set api_key"), "{without}");
    }
}
