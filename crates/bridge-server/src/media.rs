//! A chat request's images before anything is sent: every `image_url` part must be an image
//! of at most 10 MiB (413 above, 400 for another content type); an http(s) URL is downloaded
//! under the download rules and sent inline as a `data:` URI.

use std::collections::HashMap;

use base64::Engine as _;
use bridge_core::arena::upload::{self, ImageError, MAX_IMAGE_BYTES};
use bridge_core::openai::{ChatCompletionRequest, ContentPart, MessageContent};

use crate::download::{self, DownloadError, DownloadOptions};
use crate::error::ApiError;

/// Checks every image part and replaces http(s) URLs with `data:` URIs of the downloaded
/// bytes (an URL named twice is downloaded once).
pub(crate) async fn inline_images(
    request: &mut ChatCompletionRequest,
    options: &DownloadOptions,
) -> Result<(), ApiError> {
    let mut fetched: HashMap<String, String> = HashMap::new();
    for (i, message) in request.messages.iter_mut().enumerate() {
        let MessageContent::Parts(parts) = &mut message.content else {
            continue;
        };
        for (j, part) in parts.iter_mut().enumerate() {
            let ContentPart::ImageUrl { image_url } = part else {
                continue;
            };
            let param = || format!("messages[{i}].content[{j}].image_url");
            if let Some((mime, b64)) = data_uri(&image_url.url) {
                upload::check_image(Some(mime), upload::base64_decoded_len(b64))
                    .map_err(|e| image_error(&e, param()))?;
                continue;
            }
            if let Some(inline) = fetched.get(&image_url.url) {
                image_url.url = inline.clone();
                continue;
            }
            let inline = download_inline(&image_url.url, options, param).await?;
            fetched.insert(image_url.url.clone(), inline.clone());
            image_url.url = inline;
        }
    }
    Ok(())
}

/// `(media type, base64 payload)` of a base64 `data:` URI.
fn data_uri(url: &str) -> Option<(&str, &str)> {
    let rest = url
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("data:"))
        .map(|_| &url[5..])?;
    let (head, payload) = rest.split_once(',')?;
    let mime = head.split(';').next().unwrap_or("");
    Some((mime, payload))
}

async fn download_inline(
    url: &str,
    options: &DownloadOptions,
    param: impl Fn() -> String,
) -> Result<String, ApiError> {
    let got = download::fetch(url, MAX_IMAGE_BYTES, options)
        .await
        .map_err(|e| match e {
            DownloadError::TooLarge { .. } => {
                ApiError::too_large(format!("The image at '{}' is larger than 10 MiB.", param()))
                    .with_param(param())
            }
            other => ApiError::invalid_request(format!(
                "Cannot use the image at '{}': {other}.",
                param()
            ))
            .with_code("invalid_image_url")
            .with_param(param()),
        })?;
    upload::check_image(got.content_type.as_deref(), got.bytes.len())
        .map_err(|e| image_error(&e, param()))?;
    let mime = got.content_type.unwrap_or_default();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&got.bytes);
    Ok(format!("data:{mime};base64,{b64}"))
}

fn image_error(e: &ImageError, param: String) -> ApiError {
    let message = format!("Invalid '{param}': {e}.");
    match e {
        ImageError::TooLarge { .. } => ApiError::too_large(message),
        ImageError::NotImage(_) => ApiError::invalid_request(message).with_code("invalid_image"),
    }
    .with_param(param)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris_are_split_into_type_and_payload() {
        assert_eq!(
            data_uri("DATA:image/png;base64,AAAA"),
            Some(("image/png", "AAAA"))
        );
        assert_eq!(data_uri("data:,x"), Some(("", "x")));
        assert_eq!(data_uri("https://x/a.png"), None);
        assert_eq!(data_uri("dat"), None);
    }
}
