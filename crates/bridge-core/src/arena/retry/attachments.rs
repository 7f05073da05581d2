//! Step 2 of the message builder: an OpenAI message's content parts → text and LMArena
//! attachments (`data:` URIs and http(s) URLs typed by MIME or extension, audio, files).

use super::{Attachment, BuildError, OCTET_STREAM, TEXT_JOINER};
use crate::openai::{ContentPart, MessageContent};

/// Step 2: text parts joined with a blank line, media parts turned into attachments.
pub(super) fn convert_content(
    content: &MessageContent,
    index: usize,
) -> Result<(String, Vec<Attachment>), BuildError> {
    let parts = match content {
        MessageContent::Text(text) => return Ok((text.clone(), Vec::new())),
        MessageContent::None => return Ok((String::new(), Vec::new())),
        MessageContent::Parts(parts) => parts,
    };
    let mut texts: Vec<&str> = Vec::new();
    let mut attachments = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let param = || format!("messages[{index}].content[{j}]");
        match part {
            ContentPart::Text { text } => texts.push(text),
            ContentPart::Refusal { refusal } => texts.push(refusal),
            ContentPart::ImageUrl { image_url } => match &image_url.uploaded {
                // Uploaded the site's way (UPSTREAM.md §7 "Image uploads"): name is the key.
                Some(up) => attachments.push(Attachment {
                    name: up.key.clone(),
                    content_type: up.content_type.clone(),
                    url: up.url.clone(),
                }),
                None => attachments
                    .push(url_attachment(&image_url.url).map_err(|m| part_error(m, param()))?),
            },
            ContentPart::InputAudio { input_audio } => {
                attachments.push(
                    audio_attachment(&input_audio.data, &input_audio.format)
                        .map_err(|m| part_error(m, param()))?,
                );
            }
            ContentPart::File { file } => {
                let attachment = match (&file.file_data, &file.file_id) {
                    (Some(data), _) => file_attachment(data, file.filename.as_deref()),
                    (None, Some(_)) => Err(
                        "file_id references are not supported; send the file inline as file_data (a data: URI)"
                            .to_owned(),
                    ),
                    (None, None) => Err("file part has no file_data".to_owned()),
                };
                attachments.push(attachment.map_err(|m| part_error(m, param()))?);
            }
            ContentPart::Unknown(_) => {
                return Err(part_error(
                    format!(
                        "content part type '{}' is not supported; send text, image_url, input_audio or file parts",
                        part.type_name()
                    ),
                    param(),
                ));
            }
        }
    }
    Ok((texts.join(TEXT_JOINER), attachments))
}

fn part_error(reason: String, param: String) -> BuildError {
    BuildError::new(format!("Invalid '{param}': {reason}."), Some(param))
}

/// An `image_url` URL: a `data:` URI, or an http(s) URL typed by its path's extension.
fn url_attachment(url: &str) -> Result<Attachment, String> {
    if let UrlKind::Data(mime) = classify_url(url)? {
        let content_type = mime.unwrap_or_else(|| OCTET_STREAM.to_owned());
        return Ok(Attachment {
            name: file_name_for_mime(&content_type),
            content_type,
            url: url.to_owned(),
        });
    }
    let Some(rest) = strip_prefix_ignore_case(url, "https://")
        .or_else(|| strip_prefix_ignore_case(url, "http://"))
    else {
        return Err("the URL must be a data: URI or an http(s) URL".to_owned());
    };
    // The query and fragment never name the type (PITFALLS #19); the host is not a path.
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let path = rest[..end].find('/').map_or("", |slash| &rest[slash..end]);
    let content_type = extension_of(path)
        .and_then(mime_for_extension)
        .unwrap_or(OCTET_STREAM)
        .to_owned();
    Ok(Attachment {
        name: file_name_for_mime(&content_type),
        content_type,
        url: url.to_owned(),
    })
}

/// `input_audio`: bare base64 plus a format (`wav`, `mp3`).
fn audio_attachment(data: &str, format: &str) -> Result<Attachment, String> {
    let format = format.trim().to_ascii_lowercase();
    if format.is_empty() || !format.bytes().all(is_extension_byte) {
        return Err(format!(
            "input_audio format {format:?} is not a valid audio format"
        ));
    }
    let (content_type, url) = match classify_url(data)? {
        UrlKind::Data(mime) => (mime.unwrap_or_else(|| audio_mime(&format)), data.to_owned()),
        UrlKind::Other => {
            let mime = audio_mime(&format);
            let url = base64_data_uri(&mime, data)?;
            (mime, url)
        }
    };
    Ok(Attachment {
        name: format!("audio.{format}"),
        content_type,
        url,
    })
}

fn audio_mime(format: &str) -> String {
    mime_for_extension(format)
        .filter(|m| m.starts_with("audio/"))
        .map_or_else(|| format!("audio/{format}"), str::to_owned)
}

/// A `file` part: a `data:` URI (or bare base64) with an optional file name.
fn file_attachment(data: &str, filename: Option<&str>) -> Result<Attachment, String> {
    // Only the last path component of a client-side path is a name.
    let filename = filename
        .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f).trim())
        .filter(|f| !f.is_empty());
    let from_name = filename.and_then(extension_of).and_then(mime_for_extension);
    let (content_type, url) = match classify_url(data)? {
        UrlKind::Data(mime) => (
            mime.or(from_name.map(str::to_owned))
                .unwrap_or_else(|| OCTET_STREAM.to_owned()),
            data.to_owned(),
        ),
        UrlKind::Other => {
            let mime = from_name.unwrap_or(OCTET_STREAM);
            (mime.to_owned(), base64_data_uri(mime, data)?)
        }
    };
    Ok(Attachment {
        name: filename.map_or_else(|| file_name_for_mime(&content_type), str::to_owned),
        content_type,
        url,
    })
}

fn base64_data_uri(mime: &str, data: &str) -> Result<String, String> {
    let data = data.trim();
    let is_base64 = !data.is_empty()
        && data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'));
    if is_base64 {
        Ok(format!("data:{mime};base64,{data}"))
    } else {
        Err("the data is neither a data: URI nor base64".to_owned())
    }
}

/// What a URL string is, as far as typing an attachment goes.
#[derive(Debug, PartialEq, Eq)]
enum UrlKind {
    /// A `data:` URI; its media type in lower case, `None` when it names none.
    Data(Option<String>),
    /// Anything else.
    Other,
}

/// Reads the media type of a `data:` URI; a malformed data URI is an error.
fn classify_url(s: &str) -> Result<UrlKind, String> {
    let Some(rest) = strip_prefix_ignore_case(s, "data:") else {
        return Ok(UrlKind::Other);
    };
    let Some(comma) = rest.find(',') else {
        return Err("the data: URI has no ',' before its data".to_owned());
    };
    let mime = rest[..comma].split(';').next().unwrap_or("").trim();
    if mime.is_empty() {
        return Ok(UrlKind::Data(None));
    }
    let valid = mime
        .split_once('/')
        .is_some_and(|(t, sub)| is_token(t) && is_token(sub));
    if !valid {
        return Err(format!("the data: URI has an invalid media type {mime:?}"));
    }
    Ok(UrlKind::Data(Some(mime.to_ascii_lowercase())))
}

/// RFC 9110 token characters, as allowed in a media type.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

fn is_extension_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-'
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The extension of the last path segment, without the dot.
fn extension_of(path: &str) -> Option<&str> {
    let segment = path.rsplit('/').next().unwrap_or(path);
    let (stem, ext) = segment.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then_some(ext)
}

/// Media types of the file extensions clients attach; case-insensitive.
fn mime_for_extension(ext: &str) -> Option<&'static str> {
    let ext = ext.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" | "jpe" | "jfif" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "svg" => "image/svg+xml",
        "avif" => "image/avif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "tif" | "tiff" => "image/tiff",
        "ico" => "image/x-icon",
        "pdf" => "application/pdf",
        "json" => "application/json",
        "txt" => "text/plain",
        "md" => "text/markdown",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "m4a" => "audio/mp4",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        _ => return None,
    })
}

/// `image/png` → `image.png`, `application/pdf` → `file.pdf`, unknown → `file`.
fn file_name_for_mime(mime: &str) -> String {
    let (top, sub) = mime.split_once('/').unwrap_or((mime, ""));
    let stem = match top {
        "image" | "audio" | "video" => top,
        _ => "file",
    };
    let ext = match mime {
        OCTET_STREAM => None,
        "image/svg+xml" => Some("svg"),
        "image/x-icon" | "image/vnd.microsoft.icon" => Some("ico"),
        "audio/mpeg" => Some("mp3"),
        "text/plain" => Some("txt"),
        "video/quicktime" => Some("mov"),
        _ => {
            let sub = sub.strip_prefix("x-").unwrap_or(sub);
            let sub = sub.split('+').next().unwrap_or(sub);
            (!sub.is_empty() && sub.len() <= 16 && sub.bytes().all(is_extension_byte))
                .then_some(sub)
        }
    };
    match ext {
        Some(ext) => format!("{stem}.{ext}"),
        None => stem.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_ignores_host_query_and_case() {
        let att = url_attachment("https://cdn.example.com/a/b/photo.JPG?x=1.png#frag.gif").unwrap();
        assert_eq!(att.content_type, "image/jpeg");
        assert_eq!(att.name, "image.jpeg");
        let att = url_attachment("https://example.png").unwrap();
        assert_eq!(att.content_type, OCTET_STREAM);
        assert_eq!(att.name, "file");
        let att = url_attachment("https://example.com/.png").unwrap();
        assert_eq!(att.content_type, OCTET_STREAM);
    }

    #[test]
    fn data_uri_media_types() {
        assert_eq!(
            classify_url("DATA:image/PNG;base64,AA").unwrap(),
            UrlKind::Data(Some("image/png".into()))
        );
        assert_eq!(classify_url("data:,hello").unwrap(), UrlKind::Data(None));
        assert_eq!(classify_url("https://x").unwrap(), UrlKind::Other);
        assert!(classify_url("data:image/png;base64").is_err());
        assert!(classify_url("data:image;base64,AA").is_err());
    }

    #[test]
    fn file_names_from_media_types() {
        assert_eq!(file_name_for_mime("image/png"), "image.png");
        assert_eq!(file_name_for_mime("image/svg+xml"), "image.svg");
        assert_eq!(
            file_name_for_mime("image/x-portable-pixmap"),
            "image.portable-pixmap"
        );
        assert_eq!(file_name_for_mime("application/pdf"), "file.pdf");
        assert_eq!(file_name_for_mime("audio/mpeg"), "audio.mp3");
        assert_eq!(file_name_for_mime(OCTET_STREAM), "file");
    }
}
