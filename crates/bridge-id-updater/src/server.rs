//! Asking bridge-server to arm id capture in its connected tab
//! (`POST /internal/start_id_capture`), and the one answer this route words its own way.

use std::time::Duration;

use bridge_cli::server::StatusCode;
use bridge_cli::{call_internal, InternalError};
use serde::Deserialize;

use crate::exit::{Exit, Failure};

/// bridge-server route that sends `activate_id_capture` to a tab (DESIGN.md §4).
pub const START_ID_CAPTURE_PATH: &str = "/internal/start_id_capture";
/// The server answers at once (it only forwards a command to the tab).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The server's answer when capture is armed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Armed {
    /// Connection number of the tab that was armed.
    pub tab: Option<u64>,
    /// Where the tab will report.
    pub report_to: Option<String>,
    /// The tab's userscript started after the page: it cannot see the request to capture.
    #[serde(default)]
    pub late_injection: bool,
}

/// Ask the server at `server` to arm capture, reporting to `listen_port`.
pub async fn start_id_capture(
    server: &str,
    api_key: Option<&str>,
    listen_port: u16,
) -> Result<Armed, Failure> {
    let (server, api_key) = (server.to_owned(), api_key.map(str::to_owned));
    let body = serde_json::json!({ "listen_port": listen_port });
    // The shared client is blocking: keep it off the runtime, which drives the listener.
    let answer = tokio::task::spawn_blocking(move || {
        call_internal(
            &server,
            START_ID_CAPTURE_PATH,
            api_key.as_deref(),
            Some(&body),
            REQUEST_TIMEOUT,
        )
    })
    .await
    .map_err(|e| {
        Failure::msg(
            Exit::Other,
            format!("the request to bridge-server failed: {e}"),
        )
    })?;
    let body = answer.map_err(failure)?;
    // The server is ours, but an older or foreign one may answer differently: only the status
    // matters, the details are for the message.
    Ok(serde_json::from_str(&body).unwrap_or_default())
}

/// The shared failure, except a 403: the server refuses internal calls from other machines.
fn failure(error: InternalError) -> Failure {
    match error {
        InternalError::Status {
            status: StatusCode::FORBIDDEN,
            said,
            ..
        } => Failure::msg(
            Exit::Other,
            format!(
                "bridge-server refused the request: run bridge-id-updater on the machine where \
                 bridge-server runs (server said: {said})"
            ),
        ),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: StatusCode) -> InternalError {
        InternalError::from_answer(status, r#"{"error":{"message":"nope"}}"#, true)
    }

    #[test]
    fn forbidden_says_where_to_run() {
        let f = failure(status(StatusCode::FORBIDDEN));
        assert_eq!(f.exit, Exit::Other);
        assert!(
            f.message
                .contains("run bridge-id-updater on the machine where bridge-server runs")
                && f.message.ends_with("(server said: nope)"),
            "{f}"
        );
    }

    #[test]
    fn other_answers_get_the_shared_failures() {
        let no_tab = failure(status(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(no_tab.exit, Exit::NoTab);
        assert!(no_tab.message.ends_with("(server said: nope)"), "{no_tab}");
        assert_eq!(
            failure(status(StatusCode::GATEWAY_TIMEOUT)).exit,
            Exit::Other
        );
        let timeout = failure(InternalError::Timeout {
            server: "http://127.0.0.1:1".to_owned(),
            after: REQUEST_TIMEOUT,
        });
        assert_eq!(timeout.exit, Exit::ServerDown);
        assert!(timeout.message.contains("within 15 s"), "{timeout}");
    }
}
