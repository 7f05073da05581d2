//! `response_format` of a chat request: `text`, `json_object` or `json_schema`. The bridge
//! cannot constrain LMArena's decoding, so a JSON format becomes an instruction in the prompt
//! ([`ResponseFormat::instruction`]) and the final answer text is checked
//! ([`ResponseFormat::check`]).

use std::fmt;
use std::sync::Arc;

use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

use super::validate::RequestError;
use crate::tools::spec::check_schema;

const TYPE_TEXT: &str = "text";
const TYPE_JSON_OBJECT: &str = "json_object";
const TYPE_JSON_SCHEMA: &str = "json_schema";

const JSON_OBJECT_RULE: &str = "Answer with one JSON object and nothing else: no prose before \
or after it, no Markdown code fence.";

/// What the answer must look like.
#[derive(Clone, Default)]
pub enum ResponseFormat {
    /// Free text (the default).
    #[default]
    Text,
    /// Any JSON object.
    JsonObject,
    /// A JSON value matching `schema`.
    JsonSchema {
        name: String,
        schema: Value,
        validator: Arc<jsonschema::Validator>,
    },
}

impl fmt::Debug for ResponseFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text => f.write_str("Text"),
            Self::JsonObject => f.write_str("JsonObject"),
            Self::JsonSchema { name, schema, .. } => f
                .debug_struct("JsonSchema")
                .field("name", name)
                .field("schema", schema)
                .finish_non_exhaustive(),
        }
    }
}

impl PartialEq for ResponseFormat {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Text, Self::Text) | (Self::JsonObject, Self::JsonObject) => true,
            (
                Self::JsonSchema { name, schema, .. },
                Self::JsonSchema {
                    name: n2,
                    schema: s2,
                    ..
                },
            ) => name == n2 && schema == s2,
            _ => false,
        }
    }
}

impl Serialize for ResponseFormat {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl ResponseFormat {
    /// Parses `response_format` (absent or `null` is [`ResponseFormat::Text`]).
    pub(crate) fn from_json(value: Option<Value>) -> Result<Self, RequestError> {
        const PARAM: &str = "response_format";
        let mut map = match value {
            None | Some(Value::Null) => return Ok(Self::Text),
            Some(Value::Object(map)) => map,
            Some(other) => return Err(RequestError::invalid_type(PARAM, "an object", &other)),
        };
        let kind = match map.remove("type") {
            Some(Value::String(kind)) => kind,
            None | Some(Value::Null) => return Err(RequestError::missing("response_format.type")),
            Some(other) => {
                return Err(RequestError::invalid_type(
                    "response_format.type",
                    "a string",
                    &other,
                ))
            }
        };
        match kind.as_str() {
            TYPE_TEXT => Ok(Self::Text),
            TYPE_JSON_OBJECT => Ok(Self::JsonObject),
            TYPE_JSON_SCHEMA => Self::schema_from(map.remove(TYPE_JSON_SCHEMA)),
            other => Err(RequestError::invalid_value(
                "response_format.type",
                format!(
                    "Invalid value for 'response_format.type': '{other}'. Supported values are: \
                     'text', 'json_object' and 'json_schema'."
                ),
            )),
        }
    }

    fn schema_from(value: Option<Value>) -> Result<Self, RequestError> {
        const PARAM: &str = "response_format.json_schema";
        let mut map = match value {
            Some(Value::Object(map)) => map,
            None | Some(Value::Null) => return Err(RequestError::missing(PARAM)),
            Some(other) => return Err(RequestError::invalid_type(PARAM, "an object", &other)),
        };
        let name = match map.remove("name") {
            Some(Value::String(name)) if !name.trim().is_empty() => name,
            Some(Value::String(_)) => {
                return Err(RequestError::empty_string(
                    "response_format.json_schema.name",
                ))
            }
            None | Some(Value::Null) => {
                return Err(RequestError::missing("response_format.json_schema.name"))
            }
            Some(other) => {
                return Err(RequestError::invalid_type(
                    "response_format.json_schema.name",
                    "a string",
                    &other,
                ))
            }
        };
        let schema = match map.remove("schema") {
            // OpenAI allows a schema-less json_schema format: any JSON.
            None | Some(Value::Null) => json!({}),
            Some(schema @ Value::Object(_)) => schema,
            Some(other) => {
                return Err(RequestError::invalid_type(
                    "response_format.json_schema.schema",
                    "an object",
                    &other,
                ))
            }
        };
        let validator = jsonschema::validator_for(&schema).map_err(|e| {
            RequestError::invalid_value(
                "response_format.json_schema.schema",
                format!(
                    "Invalid 'response_format.json_schema.schema': not a usable JSON schema: {e}"
                ),
            )
        })?;
        Ok(Self::JsonSchema {
            name,
            schema,
            validator: Arc::new(validator),
        })
    }

    fn to_json(&self) -> Value {
        match self {
            Self::Text => json!({"type": TYPE_TEXT}),
            Self::JsonObject => json!({"type": TYPE_JSON_OBJECT}),
            Self::JsonSchema { name, schema, .. } => {
                let mut inner = Map::new();
                inner.insert("name".into(), Value::from(name.as_str()));
                inner.insert("schema".into(), schema.clone());
                json!({"type": TYPE_JSON_SCHEMA, TYPE_JSON_SCHEMA: inner})
            }
        }
    }

    /// Whether the answer is checked at all.
    pub fn is_text(&self) -> bool {
        matches!(self, Self::Text)
    }

    /// The instruction for the upstream prompt, `None` for free text.
    pub fn instruction(&self) -> Option<String> {
        match self {
            Self::Text => None,
            Self::JsonObject => Some(JSON_OBJECT_RULE.to_owned()),
            Self::JsonSchema { name, schema, .. } => Some(format!(
                "Answer with one JSON value and nothing else (no prose, no Markdown code fence). \
                 It must match this JSON schema, named {}:\n{schema}",
                Value::from(name.as_str())
            )),
        }
    }

    /// Checks the whole answer text; the error says what is wrong.
    pub fn check(&self, text: &str) -> Result<(), String> {
        let value = match self {
            Self::Text => return Ok(()),
            Self::JsonObject | Self::JsonSchema { .. } => {
                serde_json::from_str::<Value>(text.trim())
                    .map_err(|e| format!("the answer is not valid JSON ({e})"))?
            }
        };
        match self {
            Self::Text => Ok(()),
            Self::JsonObject if value.is_object() => Ok(()),
            Self::JsonObject => Err("the answer is JSON but not an object".to_owned()),
            Self::JsonSchema {
                name, validator, ..
            } => check_schema(validator, &value)
                .map_err(|e| format!("the answer does not match the schema {name:?} {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<ResponseFormat, RequestError> {
        ResponseFormat::from_json(Some(v))
    }

    #[test]
    fn kinds_parse_and_bad_values_name_the_param() {
        assert_eq!(
            parse(json!({"type": "text"})).unwrap(),
            ResponseFormat::Text
        );
        assert_eq!(
            parse(json!({"type": "json_object"})).unwrap(),
            ResponseFormat::JsonObject
        );
        assert_eq!(
            parse(json!({"type": "xml"})).unwrap_err().param.as_deref(),
            Some("response_format.type")
        );
        assert_eq!(
            parse(json!("json")).unwrap_err().param.as_deref(),
            Some("response_format")
        );
        assert_eq!(
            parse(json!({"type": "json_schema"}))
                .unwrap_err()
                .param
                .as_deref(),
            Some("response_format.json_schema")
        );
        let bad_schema =
            json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 5}}});
        assert_eq!(
            parse(bad_schema).unwrap_err().param.as_deref(),
            Some("response_format.json_schema.schema")
        );
    }

    #[test]
    fn json_object_checks_the_whole_text() {
        let f = ResponseFormat::JsonObject;
        assert!(f.check(" {\"a\": 1}\n").is_ok());
        assert!(f.check("[1]").unwrap_err().contains("not an object"));
        assert!(f
            .check("Sure: {\"a\": 1}")
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(f.instruction().is_some());
        assert!(ResponseFormat::Text.check("anything").is_ok());
    }

    #[test]
    fn json_schema_names_the_failing_location() {
        let f = parse(json!({"type": "json_schema", "json_schema": {"name": "city",
            "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}}))
        .unwrap();
        assert!(f.check("{\"n\": 3}").is_ok());
        let err = f.check("{\"n\": \"three\"}").unwrap_err();
        assert!(err.contains("/n") && err.contains("\"city\""), "{err}");
        assert!(f.instruction().unwrap().contains("\"integer\""));
    }
}
