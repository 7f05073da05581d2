//! Request validation: [`RequestError`], the 400 a bad request becomes, and the JSON field
//! readers that name the offending field in it.

use std::fmt;

use serde_json::{Map, Value};

use super::codes;
use crate::clip::{clip_owned, NAME_CHARS, TEXT_CHARS};

/// A request the client got wrong; becomes a 400 `invalid_request_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// One line, naming the field.
    pub message: String,
    /// The offending field, e.g. `messages[2].role`; `None` when the body as a whole is bad.
    pub param: Option<String>,
    /// OpenAI error code, e.g. `invalid_type`.
    pub code: Option<String>,
}

impl RequestError {
    /// Message and param are clipped: they may quote what the client sent, and a 1 MB value
    /// must not come back as a 1 MB error (found by the `requests` fuzz target).
    pub(crate) fn new(
        message: impl Into<String>,
        param: Option<String>,
        code: Option<&str>,
    ) -> Self {
        Self {
            message: clip_owned(message.into(), TEXT_CHARS),
            param: param.map(|p| clip_owned(p, NAME_CHARS)),
            code: code.map(str::to_owned),
        }
    }

    fn invalid_json(err: &serde_json::Error) -> Self {
        Self::new(
            format!("We could not parse the JSON body of your request: {err}"),
            None,
            None,
        )
    }

    pub(super) fn missing(param: &str) -> Self {
        Self::new(
            format!("Missing required parameter: '{param}'."),
            Some(param.to_owned()),
            Some(codes::MISSING_REQUIRED_PARAMETER),
        )
    }

    pub(super) fn invalid_type(param: &str, expected: &str, got: &Value) -> Self {
        Self::new(
            format!(
                "Invalid type for '{param}': expected {expected}, but got {} instead.",
                json_type_name(got)
            ),
            Some(param.to_owned()),
            Some(codes::INVALID_TYPE),
        )
    }

    pub(super) fn invalid_value(param: &str, message: String) -> Self {
        Self::new(message, Some(param.to_owned()), Some(codes::INVALID_VALUE))
    }

    pub(super) fn empty_string(param: &str) -> Self {
        Self::new(
            format!("Invalid '{param}': empty string. Expected a non-empty string."),
            Some(param.to_owned()),
            Some(codes::EMPTY_STRING),
        )
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RequestError {}

fn json_type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "an integer",
        Value::Number(_) => "a decimal",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

// Field readers over a JSON object. `null` counts as absent, as OpenAI treats it.

pub(super) fn take_object(value: Value, param: &str) -> Result<Map<String, Value>, RequestError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(RequestError::invalid_type(param, "an object", &other)),
    }
}

pub(super) fn opt_string(
    map: &mut Map<String, Value>,
    key: &str,
    param: &str,
) -> Result<Option<String>, RequestError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(RequestError::invalid_type(param, "a string", &other)),
    }
}

pub(super) fn req_string(
    map: &mut Map<String, Value>,
    key: &str,
    param: &str,
) -> Result<String, RequestError> {
    opt_string(map, key, param)?.ok_or_else(|| RequestError::missing(param))
}

pub(super) fn opt_bool(
    map: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<bool>, RequestError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(other) => Err(RequestError::invalid_type(key, "a boolean", &other)),
    }
}

pub(super) fn opt_u64(
    map: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<u64>, RequestError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_u64() => Ok(n.as_u64()),
        Some(Value::Number(n)) if n.is_i64() => Err(RequestError::new(
            format!("Invalid '{key}': integer below minimum value. Expected a value >= 0, but got {n} instead."),
            Some(key.to_owned()),
            Some(codes::INTEGER_BELOW_MIN_VALUE),
        )),
        Some(other) => Err(RequestError::invalid_type(key, "an integer", &other)),
    }
}

pub(super) fn opt_f64(
    map: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<f64>, RequestError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(RequestError::invalid_type(key, "a number", &other)),
    }
}

/// The largest `n` OpenAI accepts; one upstream job runs per choice, so a larger `n` is
/// refused before anything is allocated per choice.
pub(crate) const MAX_N: u32 = 10;

/// `n`: absent or an integer from 1 to [`MAX_N`].
pub(super) fn opt_n(map: &mut Map<String, Value>) -> Result<Option<u32>, RequestError> {
    let Some(n) = opt_u64(map, "n")? else {
        return Ok(None);
    };
    if n == 0 {
        return Err(RequestError::new(
            "Invalid 'n': integer below minimum value. Expected a value >= 1, but got 0 instead.",
            Some("n".to_owned()),
            Some(codes::INTEGER_BELOW_MIN_VALUE),
        ));
    }
    match u32::try_from(n) {
        Ok(n) if n <= MAX_N => Ok(Some(n)),
        _ => Err(RequestError::new(
            format!(
                "Invalid 'n': integer above maximum value. Expected a value <= {MAX_N}, but got \
                 {n} instead."
            ),
            Some("n".to_owned()),
            Some(codes::INTEGER_ABOVE_MAX_VALUE),
        )),
    }
}

pub(super) fn parse_body(body: &[u8]) -> Result<Map<String, Value>, RequestError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| RequestError::invalid_json(&e))?;
    body_object(value)
}

/// The request body as an object; anything else is the whole body's fault (no `param`).
pub(super) fn body_object(value: Value) -> Result<Map<String, Value>, RequestError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(RequestError::new(
            format!(
                "The request body must be a JSON object, but got {} instead.",
                json_type_name(&other)
            ),
            None,
            Some(codes::INVALID_TYPE),
        )),
    }
}

pub(super) fn de_error<E: serde::de::Error>(err: RequestError) -> E {
    E::custom(err.message)
}
