//! Asking bridge-server to arm id capture in its connected tab
//! (`POST /internal/start_id_capture`), and turning its answers into exits with hints.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

use crate::exit::{one_line, Exit, Failure};

/// bridge-server route that sends `activate_id_capture` to a tab (DESIGN.md §4).
pub const START_ID_CAPTURE_PATH: &str = "/internal/start_id_capture";
/// The server answers at once (it only forwards a command to the tab).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// A server that is up accepts at once; anything slower is as good as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// What to tell a user whose server is not running.
pub const SERVER_START_HINT: &str =
    "start bridge-server first: cargo run --release -p bridge-server";
/// How much of an unexpected error body is quoted.
const QUOTED_BODY_CHARS: usize = 200;

/// The server's answer when capture is armed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Armed {
    /// Connection number of the tab that was armed.
    pub tab: Option<u64>,
    /// Where the tab will report.
    pub report_to: Option<String>,
}

/// Ask the server at `server` to arm capture, reporting to `listen_port`.
pub async fn start_id_capture(
    server: &str,
    api_key: Option<&str>,
    listen_port: u16,
) -> Result<Armed, Failure> {
    let url = format!("{server}{START_ID_CAPTURE_PATH}");
    let mut builder = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(CONNECT_TIMEOUT);
    if is_loopback_url(server) {
        // An HTTP_PROXY from the environment must not carry a request meant for this machine.
        builder = builder.no_proxy();
    }
    let client = builder
        .build()
        .map_err(|e| Failure::msg(Exit::Other, format!("cannot set up the HTTP client: {e}")))?;
    let mut request = client
        .post(&url)
        .json(&serde_json::json!({ "listen_port": listen_port }));
    if let Some(key) = api_key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.map_err(|e| send_failure(server, &e))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| send_failure(server, &e))?;
    if status != StatusCode::OK {
        return Err(status_failure(status, &body, api_key.is_some()));
    }
    // The server is ours, but an older or foreign one may answer differently: only the status
    // matters, the details are for the message.
    Ok(serde_json::from_str(&body).unwrap_or_default())
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

fn send_failure(server: &str, error: &reqwest::Error) -> Failure {
    if error.is_connect() {
        Failure::msg(
            Exit::ServerDown,
            format!("cannot connect to bridge-server at {server}: {SERVER_START_HINT}"),
        )
    } else if error.is_timeout() {
        Failure::msg(
            Exit::ServerDown,
            format!(
                "bridge-server at {server} did not answer within {} s: check that it is running \
                 and responsive (see its log), then retry",
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
                 userscript enabled (its title shows ✅), then retry (server said: {said})"
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
        StatusCode::FORBIDDEN => Failure::msg(
            Exit::Other,
            format!(
                "bridge-server refused the request: run bridge-id-updater on the machine where \
                 bridge-server runs (server said: {said})"
            ),
        ),
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
    fn statuses_map_to_exit_codes() {
        let cases = [
            (StatusCode::SERVICE_UNAVAILABLE, Exit::NoTab),
            (StatusCode::UNAUTHORIZED, Exit::Unauthorized),
            (StatusCode::FORBIDDEN, Exit::Other),
            (StatusCode::BAD_REQUEST, Exit::Other),
            (StatusCode::INTERNAL_SERVER_ERROR, Exit::Other),
        ];
        for (status, exit) in cases {
            assert_eq!(status_failure(status, "", true).exit, exit, "{status}");
        }
    }

    #[test]
    fn messages_quote_the_server() {
        let body =
            r#"{"error":{"message":"No LMArena tab\nis connected.","code":"no_tab_connected"}}"#;
        let f = status_failure(StatusCode::SERVICE_UNAVAILABLE, body, false);
        let text = f.to_string();
        assert!(
            text.contains("(server said: No LMArena tab is connected.)"),
            "{text}"
        );
        let f = status_failure(StatusCode::UNAUTHORIZED, "", false);
        assert!(f.to_string().contains("set api_key"), "{f}");
        assert!(f.to_string().contains("(empty body)"), "{f}");
        let f = status_failure(StatusCode::BAD_GATEWAY, &"x".repeat(500), true);
        assert!(f.to_string().len() < 300, "{f}");
    }
}
