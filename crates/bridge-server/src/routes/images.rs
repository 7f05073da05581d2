//! `POST /v1/images/generations`: runs `n` upstream jobs of an image model in parallel and
//! answers with the image URLs, or downloads them for `response_format: "b64_json"`.

use super::read_body;
use crate::answer::{self, Observer};
use crate::clock::unix_now;
use crate::download::{self, DownloadOptions};
use crate::error::ApiError;
use crate::request;
use crate::security::{request_id, set_log_facts};
use crate::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine as _;
use bridge_core::models::ModelKind;
use bridge_core::openai::{
    parse_image_request, ChatCompletionRequest, ImageData, ImageResponseFormat, ImagesResponse,
};

/// Most bytes downloaded for one `b64_json` answer, all its images together.
const DOWNLOAD_LIMIT: usize = 32 * 1024 * 1024;

pub(crate) async fn generations(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let limit = state.config().max_request_bytes;
    let body = read_body(&req, payload, limit).await?;
    let image_req = parse_image_request(&body)?;
    let model = match image_req.model.clone() {
        Some(m) if !m.is_empty() => m,
        _ => state
            .snapshot()
            .models
            .first_image_model()
            .map(str::to_owned)
            .ok_or_else(|| {
                ApiError::invalid_request(
                    "No model given and models.json has no image model (\"id:image\").",
                )
                .with_param("model")
            })?,
    };
    set_log_facts(&req, Some(&model), None);
    let n = image_req.n.unwrap_or(1).max(1) as usize;
    let chat = ChatCompletionRequest::from_json(serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": image_req.prompt}],
        "n": n,
    }))?;
    let snapshot = state.snapshot();
    let found = request::find_route(&state, &snapshot, &model)?;
    let prepared = request::prepare(&state, &snapshot.config, &found, &chat, n)?;
    if prepared.kind != ModelKind::Image {
        return Err(ApiError::invalid_request(format!(
            "Model '{model}' is not an image model; mark it \"id:image\" in models.json."
        ))
        .with_param("model"));
    }
    let choices = prepared.jobs.len();
    let track = state.stats().begin(&request_id(&req), &model, false);
    let started = request::start(&state, prepared.jobs, &track);
    let observer = Observer::new(track, choices);
    let collect = answer::collect_images(started.events, observer, |conn| {
        set_log_facts(&req, None, Some(conn))
    });
    let urls = request::Started::alongside(started.inline, collect).await?;
    if urls.is_empty() {
        return Err(ApiError::bad_gateway(
            "LMArena finished without returning an image.",
        ));
    }
    let b64 = image_req.response_format == Some(ImageResponseFormat::B64Json);
    let mut data = Vec::with_capacity(urls.len());
    let mut budget = DOWNLOAD_LIMIT;
    for url in urls {
        if b64 {
            let image = download_b64(&url, &mut budget, &state.options().downloads).await?;
            data.push(ImageData {
                b64_json: Some(image),
                ..ImageData::default()
            });
        } else {
            data.push(ImageData {
                url: Some(url),
                ..ImageData::default()
            });
        }
    }
    Ok(HttpResponse::Ok().json(ImagesResponse {
        created: unix_now(),
        data,
    }))
}

/// Fetches an image under the download rules, within what is left of `budget`, and returns
/// it as base64 (a `data:` URL is decoded in place).
async fn download_b64(
    url: &str,
    budget: &mut usize,
    options: &DownloadOptions,
) -> Result<String, ApiError> {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((_, b64)) = rest.split_once(";base64,") {
            return Ok(b64.to_owned());
        }
    }
    let got = download::fetch(url, *budget, options).await.map_err(|e| {
        ApiError::bad_gateway(format!(
            "Could not download the generated image for b64_json ({e}); ask for response_format \"url\" instead."
        ))
    })?;
    *budget -= got.bytes.len();
    Ok(base64::engine::general_purpose::STANDARD.encode(got.bytes))
}
