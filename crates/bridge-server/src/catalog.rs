//! The site's model catalog, fetched through a connected tab: one same-origin GET (core's
//! [`catalog_request`], no reCAPTCHA), the whole body collected up to
//! [`MAX_CATALOG_BYTES`] and parsed by core. The CLI's internal route calls this; the result
//! also becomes the server's list of known models.

use bridge_core::arena::catalog::{
    catalog_request, parse_catalog, Catalog, MAX_CATALOG_BYTES, MODEL_CATALOG_PATH,
};
use bridge_core::protocol::ServerMessage;

use crate::error::ApiError;
use crate::pool::{start_job_on, JobEvent};
use crate::relay::fetch_request;
use crate::state::AppState;

/// How much of a failed answer's body an error quotes.
const QUOTED_BODY_CHARS: usize = 200;

/// The catalog body as the site sent it, and what core made of it.
pub(crate) async fn fetch_catalog(state: &AppState) -> Result<(String, Catalog), ApiError> {
    let link = state
        .pool()
        .any_ready_tab()
        .ok_or_else(|| ApiError::no_tab(state.custom_userscript_url().as_deref()))?;
    let request = fetch_request(&catalog_request());
    let (mut guard, mut rx) = start_job_on(state.pool(), &link, |id| ServerMessage::Fetch {
        id,
        request,
        recaptcha: None,
    });
    let timeout = state.options().page_source_timeout;
    let mut body = String::new();
    let body = rx
        .answer(timeout, |event| match event {
            JobEvent::Chunk(data) if body.len() + data.len() > MAX_CATALOG_BYTES => {
                Some(Err(ApiError::bad_gateway(format!(
                    "The model catalog is larger than {MAX_CATALOG_BYTES} bytes."
                ))))
            }
            JobEvent::Chunk(data) => {
                body.push_str(&data);
                None
            }
            JobEvent::Done => Some(Ok(std::mem::take(&mut body))),
            JobEvent::Failed(failure) => Some(Err(failed(&failure.message, failure.status))),
            _ => None,
        })
        .await
        .map_err(|end| ApiError::tab_wait(end, "the model catalog", timeout))??;
    guard.finish();
    let catalog = parse_catalog(&body)
        .map_err(|e| ApiError::bad_gateway(format!("{MODEL_CATALOG_PATH}: {e}")))?;
    Ok((body, catalog))
}

fn failed(message: &str, status: Option<u16>) -> ApiError {
    let message: String = message.chars().take(QUOTED_BODY_CHARS).collect();
    ApiError::bad_gateway(match status {
        Some(status) => format!("The tab's GET {MODEL_CATALOG_PATH} answered HTTP {status}."),
        None => format!("The tab's GET {MODEL_CATALOG_PATH} failed: {message}"),
    })
}
