//! Image uploads and clean-up the site's way (UPSTREAM.md §7 "Image uploads", "Stop and
//! clean-up"): the Next.js server actions `generateUploadUrl`, `getSignedUrl` and
//! `deleteEvaluationSession`, their argument bodies and answer shapes, and the limits an
//! image must meet before anything is sent. The tab only sees generic steps built here.

use serde_json::{json, Value};

/// Largest image the bridge uploads (decoded bytes); larger ones are refused with 413.
pub const MAX_IMAGE_BYTES: usize = 10 * 1024 * 1024;
/// Server action that returns a presigned upload URL and the object key.
pub const ACTION_GENERATE_UPLOAD_URL: &str = "generateUploadUrl";
/// Server action that returns the signed download URL of an uploaded object.
pub const ACTION_GET_SIGNED_URL: &str = "getSignedUrl";
/// Server action that deletes a conversation from the person's history.
pub const ACTION_DELETE_EVALUATION_SESSION: &str = "deleteEvaluationSession";
/// Every action the tab may be asked to call (its allow-list grows by exactly these).
pub const ACTIONS: &[&str] = &[
    ACTION_GENERATE_UPLOAD_URL,
    ACTION_GET_SIGNED_URL,
    ACTION_DELETE_EVALUATION_SESSION,
];
/// Page path a server action is POSTed to.
pub const ACTION_PATH: &str = "/";
/// Header that names the action id.
pub const ACTION_ID_HEADER: &str = "next-action";
pub const ACTION_ACCEPT: &str = "text/x-component";
pub const ACTION_CONTENT_TYPE: &str = "text/plain;charset=UTF-8";
/// Length of an action id (hex characters); ids change with each deployment of the site.
pub const ACTION_ID_LEN: usize = 42;
/// The call in the page's JavaScript chunks that carries an action id and its name:
/// `createServerReference("<id>", …, "<name>")`.
pub const SERVER_REFERENCE_CALL: &str = "createServerReference";
/// Prefix of the answer line that carries an action's result.
pub const ACTION_RESULT_PREFIX: &str = "1:";

/// How long a signed URL is reused for the same image bytes (the site's expiry is not
/// known; reusing within this time uploads identical images once).
pub const SIGNED_URL_REUSE: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// The file name an image is uploaded under: `image.<subtype>` (`image.png`).
pub fn upload_file_name(content_type: &str) -> String {
    let sub = content_type
        .split_once('/')
        .map(|(_, s)| s.split(['+', ';']).next().unwrap_or(s))
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric()))
        .unwrap_or("bin");
    format!("image.{}", sub.to_ascii_lowercase())
}

/// Why an image cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error(
        "the image is {size} bytes; images up to {MAX_IMAGE_BYTES} bytes (10 MiB) are accepted"
    )]
    TooLarge { size: usize },
    #[error("the content type {0:?} is not an image type (image/…)")]
    NotImage(String),
}

/// Checks an image's content type and size before anything is sent.
pub fn check_image(content_type: Option<&str>, size: usize) -> Result<(), ImageError> {
    let ct = content_type.unwrap_or("").trim();
    let is_image = ct
        .split_once('/')
        .is_some_and(|(t, sub)| t.eq_ignore_ascii_case("image") && !sub.is_empty());
    if !is_image {
        return Err(ImageError::NotImage(ct.chars().take(80).collect()));
    }
    if size > MAX_IMAGE_BYTES {
        return Err(ImageError::TooLarge { size });
    }
    Ok(())
}

/// Decoded size of a base64 payload (padding and whitespace not counted).
pub fn base64_decoded_len(b64: &str) -> usize {
    let chars = b64
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
        .count();
    chars / 4 * 3 + (chars % 4).saturating_sub(1)
}

/// Arguments of `generateUploadUrl`.
pub fn generate_upload_url_args(file_name: &str, content_type: &str) -> Value {
    json!([file_name, content_type])
}

/// Arguments of `getSignedUrl`.
pub fn get_signed_url_args(key: &str) -> Value {
    json!([key])
}

/// Arguments of `deleteEvaluationSession`.
pub fn delete_evaluation_session_args(evaluation_id: &str) -> Value {
    json!([evaluation_id])
}

/// Where to PUT the bytes, and the object's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadTarget {
    pub upload_url: String,
    pub key: String,
}

/// Why an action's answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionAnswerError {
    #[error("the answer has no result line")]
    NoResult,
    #[error("the action reported failure")]
    Failed,
    #[error("the result lacks {0}")]
    Missing(&'static str),
}

/// The `data` object of the `1:{"success":true,"data":{…}}` line.
fn result_data(answer: &str) -> Result<Value, ActionAnswerError> {
    let line = answer
        .lines()
        .find_map(|l| l.strip_prefix(ACTION_RESULT_PREFIX))
        .ok_or(ActionAnswerError::NoResult)?;
    let value: Value = serde_json::from_str(line).map_err(|_| ActionAnswerError::NoResult)?;
    if value.get("success") != Some(&Value::Bool(true)) {
        return Err(ActionAnswerError::Failed);
    }
    value
        .get("data")
        .cloned()
        .ok_or(ActionAnswerError::Missing("data"))
}

fn https_field(data: &Value, field: &'static str) -> Result<String, ActionAnswerError> {
    data.get(field)
        .and_then(Value::as_str)
        .filter(|u| u.starts_with("https://"))
        .map(str::to_owned)
        .ok_or(ActionAnswerError::Missing(field))
}

/// Reads the answer of `generateUploadUrl`.
pub fn parse_upload_target(answer: &str) -> Result<UploadTarget, ActionAnswerError> {
    let data = result_data(answer)?;
    let key = data
        .get("key")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or(ActionAnswerError::Missing("key"))?;
    Ok(UploadTarget {
        upload_url: https_field(&data, "uploadUrl")?,
        key: key.to_owned(),
    })
}

/// Reads the answer of `getSignedUrl`.
pub fn parse_signed_url(answer: &str) -> Result<String, ActionAnswerError> {
    https_field(&result_data(answer)?, "url")
}

/// Finds `createServerReference("<id>", …, "<name>")` calls in page JavaScript: (name, id)
/// for the names in [`ACTIONS`]. The userscript does the same in the tab; the fake site and
/// tests use this one.
pub fn find_action_ids(js: &str) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    for (at, _) in js.match_indices(SERVER_REFERENCE_CALL) {
        let rest = &js[at + SERVER_REFERENCE_CALL.len()..];
        // Minified chunks call it as `(0,n.createServerReference)("…", …)`.
        let Some(call) = rest
            .strip_prefix("(\"")
            .or_else(|| rest.strip_prefix(")(\""))
        else {
            continue;
        };
        let Some(id) = call.get(..ACTION_ID_LEN) else {
            continue;
        };
        if !id.bytes().all(|b| b.is_ascii_hexdigit()) || !call[ACTION_ID_LEN..].starts_with('"') {
            continue;
        }
        let Some(close) = call.find(')') else {
            continue;
        };
        let args = &call[..close];
        if let Some(name) = ACTIONS
            .iter()
            .find(|name| args.ends_with(&format!("\"{name}\"")))
        {
            found.push((*name, id.to_owned()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_checked_for_type_and_size() {
        assert_eq!(check_image(Some("image/png"), 10), Ok(()));
        assert_eq!(check_image(Some("IMAGE/JPEG"), MAX_IMAGE_BYTES), Ok(()));
        assert_eq!(
            check_image(Some("image/png"), MAX_IMAGE_BYTES + 1),
            Err(ImageError::TooLarge {
                size: MAX_IMAGE_BYTES + 1
            })
        );
        assert!(matches!(
            check_image(Some("text/html"), 1),
            Err(ImageError::NotImage(_))
        ));
        assert!(matches!(check_image(None, 1), Err(ImageError::NotImage(_))));
        assert!(matches!(
            check_image(Some("image/"), 1),
            Err(ImageError::NotImage(_))
        ));
    }

    #[test]
    fn upload_file_names_follow_the_type() {
        assert_eq!(upload_file_name("image/png"), "image.png");
        assert_eq!(upload_file_name("image/svg+xml"), "image.svg");
        assert_eq!(upload_file_name("image/x-icon"), "image.bin");
    }

    #[test]
    fn base64_length_is_the_decoded_length() {
        use base64::Engine as _;
        for n in 0..20 {
            let data = vec![7u8; n];
            let b64 = base64::engine::general_purpose::STANDARD.encode(&data);
            assert_eq!(base64_decoded_len(&b64), n, "{b64}");
        }
    }

    #[test]
    fn action_answers_are_read() {
        let answer = "0:{\"a\":\"$@1\",\"f\":\"\",\"b\":\"x\"}\n1:{\"success\":true,\"data\":{\"uploadUrl\":\"https://store.example/put?sig=1\",\"key\":\"u/abc.png\"}}\n";
        assert_eq!(
            parse_upload_target(answer),
            Ok(UploadTarget {
                upload_url: "https://store.example/put?sig=1".to_owned(),
                key: "u/abc.png".to_owned()
            })
        );
        assert_eq!(
            parse_signed_url("1:{\"success\":true,\"data\":{\"url\":\"https://cdn/x\"}}"),
            Ok("https://cdn/x".to_owned())
        );
        assert_eq!(
            parse_signed_url("1:{\"success\":false}"),
            Err(ActionAnswerError::Failed)
        );
        assert_eq!(
            parse_signed_url("1:{\"success\":true,\"data\":{\"url\":\"http://cdn/x\"}}"),
            Err(ActionAnswerError::Missing("url"))
        );
        assert_eq!(
            parse_upload_target("<html>"),
            Err(ActionAnswerError::NoResult)
        );
    }

    #[test]
    fn action_ids_are_found_in_page_javascript() {
        let id_a = "7f".repeat(21);
        let id_b = "0a".repeat(21);
        let js = format!(
            "let a=(0,n.createServerReference)(\"{id_a}\",n.callServer,void 0,n.findSourceMapURL,\"generateUploadUrl\");\
             createServerReference(\"{id_b}\",c,void 0,f,\"deleteEvaluationSession\");\
             createServerReference(\"{}\",c,void 0,f,\"somethingElse\");\
             createServerReference(\"short\",c,void 0,f,\"getSignedUrl\");",
            "1".repeat(42)
        );
        assert_eq!(
            find_action_ids(&js),
            vec![
                (ACTION_GENERATE_UPLOAD_URL, id_a),
                (ACTION_DELETE_EVALUATION_SESSION, id_b)
            ]
        );
    }
}
