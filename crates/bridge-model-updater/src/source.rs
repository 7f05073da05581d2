//! Where the model list comes from: the running bridge-server (which asks a connected LMArena
//! tab for the site's model catalog, or for the page HTML; see [`bridge_cli::call_internal`])
//! or a file / standard input.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bridge_cli::server::StatusCode;
use bridge_cli::{call_internal, InternalError, OrExit};

use crate::exit::{Exit, Failure, Own};

/// bridge-server route that answers with the HTML of a connected tab (DESIGN.md §4).
pub const REQUEST_MODEL_UPDATE_PATH: &str = "/internal/request_model_update";
/// bridge-server route that answers with the site's model catalog, fetched by a connected tab.
pub const REQUEST_MODEL_CATALOG_PATH: &str = "/internal/request_model_catalog";
/// Longer than the server's own wait for the tab, so its 504 arrives before we give up.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);

/// Read the page (or a saved catalog) from `path`, or from standard input when `stdin` is
/// set.
pub fn read_html(path: &Path, stdin: bool) -> Result<String, Failure> {
    let bytes = if stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")
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
    call_internal(
        server,
        REQUEST_MODEL_UPDATE_PATH,
        api_key,
        None,
        REQUEST_TIMEOUT,
    )
    .map_err(fetch_failure)
}

/// Ask bridge-server at `server` for the site's model catalog through a connected tab. An
/// error that the page HTML might get around (an older server without the route, the tab's
/// GET failing or not JSON, a timeout) is [`CatalogMiss::Fallback`]; one that it cannot (no
/// server, no tab, a refused key) is [`CatalogMiss::Fatal`].
pub fn fetch_catalog_from_server(
    server: &str,
    api_key: Option<&str>,
) -> Result<String, CatalogMiss> {
    call_internal(
        server,
        REQUEST_MODEL_CATALOG_PATH,
        api_key,
        None,
        REQUEST_TIMEOUT,
    )
    .map_err(classify)
}

fn classify(error: InternalError) -> CatalogMiss {
    match &error {
        InternalError::Timeout { .. } => CatalogMiss::Fallback(error.to_string()),
        InternalError::Status { status, .. }
            if (status.is_server_error() && *status != StatusCode::SERVICE_UNAVAILABLE)
                || *status == StatusCode::NOT_FOUND =>
        {
            CatalogMiss::Fallback(error.to_string())
        }
        _ => CatalogMiss::Fatal(fetch_failure(error)),
    }
}

/// Why the catalog did not come from the server.
#[derive(Debug)]
pub enum CatalogMiss {
    /// Try the page HTML instead; what the server said.
    Fallback(String),
    /// Stop with this failure.
    Fatal(Failure),
}

/// The shared failure, except when the page did not come in time: that is the tab's doing.
fn fetch_failure(error: InternalError) -> Failure {
    match error {
        InternalError::Timeout { server, after } => Failure::msg(
            Exit::Own(Own::TabTimeout),
            format!(
                "bridge-server at {server} sent no page within {} s: check that the LMArena tab \
                 is loaded and not showing a challenge, then retry",
                after.as_secs()
            ),
        ),
        InternalError::Status {
            status: StatusCode::GATEWAY_TIMEOUT,
            said,
            ..
        } => Failure::msg(
            Exit::Own(Own::TabTimeout),
            format!(
                "the LMArena tab did not send the page in time: check that it is loaded and not \
                 showing a challenge, then retry (server said: {said})"
            ),
        ),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: StatusCode) -> InternalError {
        InternalError::from_answer(status, "late", false)
    }

    #[test]
    fn statuses_map_to_exit_codes() {
        let cases = [
            (StatusCode::SERVICE_UNAVAILABLE, Exit::NoTab),
            (StatusCode::GATEWAY_TIMEOUT, Exit::Own(Own::TabTimeout)),
            (StatusCode::UNAUTHORIZED, Exit::Unauthorized),
            (StatusCode::FORBIDDEN, Exit::Other),
            (StatusCode::INTERNAL_SERVER_ERROR, Exit::Other),
        ];
        for (code, exit) in cases {
            assert_eq!(fetch_failure(status(code)).exit, exit, "{code}");
        }
        let f = fetch_failure(status(StatusCode::GATEWAY_TIMEOUT));
        assert!(f.message.ends_with("(server said: late)"), "{f}");
    }

    #[test]
    fn catalog_misses_fall_back_only_when_the_page_can_help() {
        let fallback = [
            StatusCode::NOT_FOUND,
            StatusCode::BAD_GATEWAY,
            StatusCode::GATEWAY_TIMEOUT,
            StatusCode::INTERNAL_SERVER_ERROR,
        ];
        let fatal = [
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
        ];
        for code in fallback {
            assert!(
                matches!(classify(status(code)), CatalogMiss::Fallback(_)),
                "{code}"
            );
        }
        for code in fatal {
            assert!(
                matches!(classify(status(code)), CatalogMiss::Fatal(_)),
                "{code}"
            );
        }
    }

    #[test]
    fn no_answer_in_time_is_a_tab_timeout() {
        let f = fetch_failure(InternalError::Timeout {
            server: "http://127.0.0.1:1".to_owned(),
            after: REQUEST_TIMEOUT,
        });
        assert_eq!(f.exit, Exit::Own(Own::TabTimeout));
        assert!(f.message.contains("sent no page within 40 s"), "{f}");
    }
}
