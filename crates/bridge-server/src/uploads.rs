//! Images uploaded the site's way before the message is sent (UPSTREAM.md §7 "Image
//! uploads"): through one tab, `generateUploadUrl`, a PUT of the bytes to the presigned URL,
//! `getSignedUrl`; the image part then carries the upload and the attachment names it.
//! Identical images within one server run are uploaded once (content hash → signed URL while
//! it is reused). When the tab cannot (no action id in the page, a 404 after one refresh of
//! the ids, any failed step) the request's images go inline as `data:` URIs, and the log says
//! so.

use base64::Engine as _;
use bridge_core::arena::upload::{
    generate_upload_url_args, get_signed_url_args, parse_signed_url, parse_upload_target,
    upload_file_name, ACTION_GENERATE_UPLOAD_URL, ACTION_GET_SIGNED_URL,
};
use bridge_core::openai::{ChatCompletionRequest, ContentPart, MessageContent, UploadedImage};

use crate::actions::{self, ActionError};
use crate::pool::TabLink;
use crate::state::AppState;

/// Uploads every `data:` image of the request (already checked by `media`); on any failure
/// the request keeps its images inline.
pub(crate) async fn upload_images(state: &AppState, request: &mut ChatCompletionRequest) {
    let mut link: Option<TabLink> = None;
    for message in &mut request.messages {
        let MessageContent::Parts(parts) = &mut message.content else {
            continue;
        };
        for part in parts.iter_mut() {
            let ContentPart::ImageUrl { image_url } = part else {
                continue;
            };
            let Some((content_type, bytes)) = decode(&image_url.url) else {
                continue;
            };
            let key = state.uploads().hash(&content_type, &bytes);
            if let Some(up) = state.uploads().get(key) {
                image_url.uploaded = Some(up);
                continue;
            }
            if link.is_none() {
                link = state.pool().any_ready_tab();
            }
            let Some(tab) = &link else {
                return;
            };
            match upload_one(state, tab, &content_type, &bytes).await {
                Ok(up) => {
                    state.uploads().put(key, up.clone());
                    image_url.uploaded = Some(up);
                }
                Err(e) => {
                    tracing::warn!(
                        "image upload failed ({e}); sending this request's images inline"
                    );
                    for message in &mut request.messages {
                        if let MessageContent::Parts(parts) = &mut message.content {
                            for part in parts {
                                if let ContentPart::ImageUrl { image_url } = part {
                                    image_url.uploaded = None;
                                }
                            }
                        }
                    }
                    return;
                }
            }
        }
    }
}

/// Why one upload failed.
#[derive(Debug, thiserror::Error)]
enum UploadError {
    #[error("{step}: {source}")]
    Step {
        step: &'static str,
        source: ActionError,
    },
    #[error("{step} answered something unexpected: {why}")]
    Answer { step: &'static str, why: String },
}

async fn upload_one(
    state: &AppState,
    tab: &TabLink,
    content_type: &str,
    bytes: &[u8],
) -> Result<UploadedImage, UploadError> {
    let step = |step: &'static str| move |source| UploadError::Step { step, source };
    let answer = |step: &'static str| {
        move |e: bridge_core::arena::upload::ActionAnswerError| UploadError::Answer {
            step,
            why: e.to_string(),
        }
    };
    let args = generate_upload_url_args(&upload_file_name(content_type), content_type);
    let text = actions::call_on(state, tab, ACTION_GENERATE_UPLOAD_URL, args)
        .await
        .map_err(step(ACTION_GENERATE_UPLOAD_URL))?;
    let target = parse_upload_target(&text).map_err(answer(ACTION_GENERATE_UPLOAD_URL))?;
    actions::put_on(state, tab, &target.upload_url, content_type, bytes)
        .await
        .map_err(step("PUT"))?;
    let text = actions::call_on(
        state,
        tab,
        ACTION_GET_SIGNED_URL,
        get_signed_url_args(&target.key),
    )
    .await
    .map_err(step(ACTION_GET_SIGNED_URL))?;
    let url = parse_signed_url(&text).map_err(answer(ACTION_GET_SIGNED_URL))?;
    Ok(UploadedImage {
        key: target.key,
        content_type: content_type.to_owned(),
        url,
    })
}

/// Content type and bytes of a base64 image `data:` URI.
fn decode(url: &str) -> Option<(String, Vec<u8>)> {
    let rest = url
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("data:"))
        .map(|_| &url[5..])?;
    let (head, payload) = rest.split_once(',')?;
    let mut params = head.split(';');
    let mime = params.next()?.trim().to_ascii_lowercase();
    if !mime.starts_with("image/") || !params.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload.trim())
        .ok()?;
    Some((mime, bytes))
}
