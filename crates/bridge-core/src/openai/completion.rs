//! `POST /v1/completions` (the legacy text completion API): the prompt becomes one user
//! message of a chat request, so the chat pipeline (stop, max_tokens, usage) answers it.

use serde_json::{Map, Value};

use super::request::ChatCompletionRequest;
use super::validate::{parse_body, RequestError};

/// Joins the strings of a list prompt into the one user message.
const PROMPT_JOINER: &str = "\n\n";
/// Keys of a legacy request that mean the same in a chat request.
const SHARED_KEYS: [&str; 8] = [
    "model",
    "stream",
    "stream_options",
    "stop",
    "max_tokens",
    "n",
    "temperature",
    "top_p",
];

/// A parsed legacy completion request: the chat request that answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    pub chat: ChatCompletionRequest,
}

/// Parses and validates a `/v1/completions` body.
pub fn parse_completion_request(body: &[u8]) -> Result<CompletionRequest, RequestError> {
    CompletionRequest::from_object(parse_body(body)?)
}

impl CompletionRequest {
    fn from_object(mut map: Map<String, Value>) -> Result<Self, RequestError> {
        let prompt = match map.remove("prompt") {
            None | Some(Value::Null) => return Err(RequestError::missing("prompt")),
            Some(Value::String(text)) => text,
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(text) => Ok(text),
                    other => Err(RequestError::invalid_type(
                        &format!("prompt[{i}]"),
                        "a string (token-id prompts are not supported)",
                        &other,
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?
                .join(PROMPT_JOINER),
            Some(other) => {
                return Err(RequestError::invalid_type(
                    "prompt",
                    "a string or an array of strings",
                    &other,
                ))
            }
        };
        if prompt.trim().is_empty() {
            return Err(RequestError::empty_string("prompt"));
        }
        if matches!(map.get("echo"), Some(Value::Bool(true))) {
            return Err(RequestError::invalid_value(
                "echo",
                "Invalid 'echo': echoing the prompt is not supported.".to_owned(),
            ));
        }
        let mut chat = Map::new();
        for key in SHARED_KEYS {
            if let Some(value) = map.remove(key) {
                chat.insert(key.to_owned(), value);
            }
        }
        chat.insert(
            "messages".to_owned(),
            serde_json::json!([{"role": "user", "content": prompt}]),
        );
        Ok(Self {
            chat: ChatCompletionRequest::from_json(Value::Object(chat))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<CompletionRequest, RequestError> {
        parse_completion_request(body.as_bytes())
    }

    #[test]
    fn a_string_or_a_list_becomes_one_user_message() {
        let one = parse(r#"{"model":"m","prompt":"Say hi","max_tokens":5,"stop":"\n"}"#).unwrap();
        assert_eq!(one.chat.messages.len(), 1);
        assert_eq!(one.chat.messages[0].text(), "Say hi");
        assert_eq!(one.chat.max_tokens, Some(5));
        assert_eq!(one.chat.stop, ["\n"]);
        let list = parse(r#"{"model":"m","prompt":["a","b"],"stream":true}"#).unwrap();
        assert_eq!(list.chat.messages[0].text(), "a\n\nb");
        assert!(list.chat.stream);
    }

    #[test]
    fn bad_prompts_name_the_param() {
        let param = |body: &str| parse(body).unwrap_err().param;
        assert_eq!(param(r#"{"model":"m"}"#).as_deref(), Some("prompt"));
        assert_eq!(
            param(r#"{"model":"m","prompt":[1,2]}"#).as_deref(),
            Some("prompt[0]")
        );
        assert_eq!(
            param(r#"{"model":"m","prompt":"  "}"#).as_deref(),
            Some("prompt")
        );
        assert_eq!(
            param(r#"{"model":"m","prompt":"x","echo":true}"#).as_deref(),
            Some("echo")
        );
        assert_eq!(
            param(r#"{"model":"m","prompt":"x","stop":5}"#).as_deref(),
            Some("stop")
        );
    }
}
