//! Message content: a string or a list of parts (text, image URL, input audio, file, refusal,
//! or a kept unknown part).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::validate::{de_error, opt_string, req_string, take_object, RequestError};

/// `content` of a message: a string, a list of parts, or nothing (assistant tool calls).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
    None,
}

impl MessageContent {
    /// Validates a content value; `param` names it in errors (e.g. `messages[3].content`).
    pub(crate) fn from_json(value: Value, param: &str) -> Result<Self, RequestError> {
        match value {
            Value::Null => Ok(Self::None),
            Value::String(s) => Ok(Self::Text(s)),
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(j, item)| ContentPart::from_json(item, &format!("{param}[{j}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Self::Parts),
            other => Err(RequestError::invalid_type(
                param,
                "a string or an array of content parts",
                &other,
            )),
        }
    }
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_json(Value::deserialize(deserializer)?, "content").map_err(de_error)
    }
}

/// One element of a content array.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text {
        text: String,
    },
    ImageUrl {
        image_url: ImageUrl,
    },
    InputAudio {
        input_audio: InputAudio,
    },
    File {
        file: FileData,
    },
    /// An assistant's refusal, sent back in the history by some clients.
    Refusal {
        refusal: String,
    },
    /// A part type this crate does not know, kept whole so the request builder can decide.
    #[serde(untagged)]
    Unknown(Value),
}

/// `image_url` of an image part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageUrl {
    /// A `data:` URI or an http(s) URL.
    pub url: String,
    /// OpenAI's resolution hint (`auto`, `low`, `high`); not a file name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Set by the server once the image was uploaded the site's way: the attachment then
    /// names the upload instead of carrying `url` inline. Never read from or sent to a client.
    #[serde(skip)]
    pub uploaded: Option<UploadedImage>,
}

/// An image stored by the site (its object key, type and signed URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedImage {
    pub key: String,
    pub content_type: String,
    pub url: String,
}

/// `input_audio` of an audio part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputAudio {
    /// Base64 audio.
    pub data: String,
    /// `wav`, `mp3`, …
    pub format: String,
}

/// `file` of a file part.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct FileData {
    /// A `data:` URI (or bare base64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
}

impl ContentPart {
    /// The part's `type` as the client wrote it.
    pub fn type_name(&self) -> &str {
        match self {
            ContentPart::Text { .. } => "text",
            ContentPart::ImageUrl { .. } => "image_url",
            ContentPart::InputAudio { .. } => "input_audio",
            ContentPart::File { .. } => "file",
            ContentPart::Refusal { .. } => "refusal",
            ContentPart::Unknown(value) => value
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("(missing)"),
        }
    }

    /// Validates one part; `param` names it in errors (e.g. `messages[0].content[2]`).
    /// Known types must be well formed; unknown types are kept as [`ContentPart::Unknown`].
    pub(crate) fn from_json(value: Value, param: &str) -> Result<Self, RequestError> {
        let mut map = take_object(value, param)?;
        let kind = match map.get("type") {
            Some(Value::String(s)) => s.as_str(),
            None | Some(Value::Null) => {
                return Err(RequestError::missing(&format!("{param}.type")))
            }
            Some(other) => {
                return Err(RequestError::invalid_type(
                    &format!("{param}.type"),
                    "a string",
                    other,
                ))
            }
        };
        match kind {
            "text" => Ok(Self::Text {
                text: req_string(&mut map, "text", &format!("{param}.text"))?,
            }),
            "refusal" => Ok(Self::Refusal {
                refusal: req_string(&mut map, "refusal", &format!("{param}.refusal"))?,
            }),
            "image_url" => {
                let field = format!("{param}.image_url");
                let image_url = match map.remove("image_url") {
                    None | Some(Value::Null) => return Err(RequestError::missing(&field)),
                    // Some clients send the URL directly instead of `{"url": …}`.
                    Some(Value::String(url)) => ImageUrl {
                        url,
                        detail: None,
                        uploaded: None,
                    },
                    Some(Value::Object(mut inner)) => ImageUrl {
                        url: req_string(&mut inner, "url", &format!("{field}.url"))?,
                        detail: opt_string(&mut inner, "detail", &format!("{field}.detail"))?,
                        uploaded: None,
                    },
                    Some(other) => {
                        return Err(RequestError::invalid_type(&field, "an object", &other))
                    }
                };
                Ok(Self::ImageUrl { image_url })
            }
            "input_audio" => {
                let field = format!("{param}.input_audio");
                let mut inner = match map.remove("input_audio") {
                    None | Some(Value::Null) => return Err(RequestError::missing(&field)),
                    Some(value) => take_object(value, &field)?,
                };
                Ok(Self::InputAudio {
                    input_audio: InputAudio {
                        data: req_string(&mut inner, "data", &format!("{field}.data"))?,
                        format: req_string(&mut inner, "format", &format!("{field}.format"))?,
                    },
                })
            }
            "file" => {
                let field = format!("{param}.file");
                let mut inner = match map.remove("file") {
                    None | Some(Value::Null) => return Err(RequestError::missing(&field)),
                    Some(value) => take_object(value, &field)?,
                };
                Ok(Self::File {
                    file: FileData {
                        file_data: opt_string(
                            &mut inner,
                            "file_data",
                            &format!("{field}.file_data"),
                        )?,
                        filename: opt_string(&mut inner, "filename", &format!("{field}.filename"))?,
                        file_id: opt_string(&mut inner, "file_id", &format!("{field}.file_id"))?,
                    },
                })
            }
            _ => Ok(Self::Unknown(Value::Object(map))),
        }
    }
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_json(Value::deserialize(deserializer)?, "content_part").map_err(de_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_part_type_is_kept_and_serializes_back() {
        let part = ContentPart::from_json(json!({"type":"video_url","video_url":{"url":"x"}}), "p")
            .unwrap();
        assert_eq!(part.type_name(), "video_url");
        assert_eq!(
            serde_json::to_value(&part).unwrap(),
            json!({"type":"video_url","video_url":{"url":"x"}})
        );
    }

    #[test]
    fn known_parts_serialize_with_their_type_tag() {
        let part = ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: "https://x/a.png".into(),
                detail: Some("auto".into()),
                uploaded: None,
            },
        };
        assert_eq!(
            serde_json::to_value(&part).unwrap(),
            json!({"type":"image_url","image_url":{"url":"https://x/a.png","detail":"auto"}})
        );
    }
}
