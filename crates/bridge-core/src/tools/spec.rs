//! Tool definitions, `tool_choice` and `parallel_tool_calls` as clients send them, parsed
//! tolerantly into a [`ToolSet`] with compiled JSON-schema validators.
//!
//! Accepted tool shapes: OpenAI chat (`{"type":"function","function":{name,description,
//! parameters}}`), OpenAI Responses (`{"type":"function",name,description,parameters}`) and
//! Anthropic (`{name,description,input_schema}`), so the three routes share one parser.

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value};

/// Longest tool name OpenAI accepts.
const MAX_TOOL_NAME_LEN: usize = 64;
/// The only tool type that can be emulated, also the `type` of every call.
pub(crate) const FUNCTION_TYPE: &str = "function";

/// A tool definition or choice that cannot be used; the message names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    #[error("{field}: {expected} expected")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("{field}: missing")]
    Missing { field: String },
    #[error("{field}: tool type {kind:?} is not supported (only \"function\")")]
    UnsupportedType { field: String, kind: String },
    #[error(
        "{field}: {name:?} is not a valid function name (1-64 of a-z, A-Z, 0-9, '_', '-', '.', ':')"
    )]
    BadName { field: String, name: String },
    #[error("{field}: a tool named {name:?} is already defined")]
    DuplicateName { field: String, name: String },
    #[error("{field}: not a usable JSON schema: {detail}")]
    BadSchema { field: String, detail: String },
    #[error(
        "{field}: unknown value {value:?} (expected auto, none, required or a named function)"
    )]
    UnknownChoice { field: String, value: String },
    #[error("tool_choice: no tool named {name:?} is defined in tools")]
    ChoiceNotDefined { name: String },
    #[error("tool_choice: {choice} needs at least one tool in tools")]
    ChoiceWithoutTools { choice: &'static str },
}

impl ToolError {
    /// The request field the error is about, for the `param` of an OpenAI error body.
    pub fn field(&self) -> &str {
        match self {
            Self::WrongType { field, .. }
            | Self::Missing { field }
            | Self::UnsupportedType { field, .. }
            | Self::BadName { field, .. }
            | Self::DuplicateName { field, .. }
            | Self::BadSchema { field, .. }
            | Self::UnknownChoice { field, .. } => field,
            Self::ChoiceNotDefined { .. } | Self::ChoiceWithoutTools { .. } => "tool_choice",
        }
    }
}

/// One function tool: what the model is told and what its arguments are checked against.
#[derive(Clone)]
pub struct ToolSpec {
    name: String,
    description: Option<String>,
    parameters: Value,
    validator: Arc<jsonschema::Validator>,
}

impl fmt::Debug for ToolSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolSpec")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("parameters", &self.parameters)
            .finish_non_exhaustive()
    }
}

impl PartialEq for ToolSpec {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.description == other.description
            && self.parameters == other.parameters
    }
}

impl ToolSpec {
    /// Builds a tool from its parts; `parameters` is its JSON schema (`None`: no arguments).
    pub fn new(
        name: &str,
        description: Option<&str>,
        parameters: Option<Value>,
    ) -> Result<Self, ToolError> {
        Self::build("tool", name, description, parameters)
    }

    fn build(
        field: &str,
        name: &str,
        description: Option<&str>,
        parameters: Option<Value>,
    ) -> Result<Self, ToolError> {
        if !valid_name(name) {
            return Err(ToolError::BadName {
                field: format!("{field}.name"),
                name: name.to_owned(),
            });
        }
        let parameters = parameters.unwrap_or_else(empty_object_schema);
        let validator =
            jsonschema::validator_for(&parameters).map_err(|e| ToolError::BadSchema {
                field: format!("{field}.parameters"),
                detail: e.to_string(),
            })?;
        Ok(Self {
            name: name.to_owned(),
            description: description
                .map(str::to_owned)
                .filter(|d| !d.trim().is_empty()),
            parameters,
            validator: Arc::new(validator),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The JSON schema of the arguments.
    pub fn parameters(&self) -> &Value {
        &self.parameters
    }

    /// Checks arguments against the schema; the error names the first failing location.
    pub(crate) fn check_arguments(&self, arguments: &Value) -> Result<(), String> {
        check_schema(&self.validator, arguments)
    }
}

/// Checks a value against a compiled schema; the error names the first failing location
/// (`at /path: message`).
pub(crate) fn check_schema(validator: &jsonschema::Validator, value: &Value) -> Result<(), String> {
    match validator.iter_errors(value).next() {
        None => Ok(()),
        Some(error) => {
            let path = error.instance_path().to_string();
            let at = if path.is_empty() {
                "/".to_owned()
            } else {
                path
            };
            Err(format!("at {at}: {error}"))
        }
    }
}

fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOOL_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

/// The `tools` array of a request, already checked (names, schemas).
///
/// Deserializes from any of the accepted shapes; serde's error then carries the
/// [`ToolError`] message naming the field.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(try_from = "Value")]
pub struct ToolSpecs(pub Vec<ToolSpec>);

impl TryFrom<Value> for ToolSpecs {
    type Error = ToolError;

    fn try_from(value: Value) -> Result<Self, ToolError> {
        parse_tools(&value).map(ToolSpecs)
    }
}

/// Parses a `tools` array. `null` is an empty list.
pub fn parse_tools(value: &Value) -> Result<Vec<ToolSpec>, ToolError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => {
            return Err(ToolError::WrongType {
                field: "tools".into(),
                expected: "an array",
            })
        }
    };
    let mut specs: Vec<ToolSpec> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("tools[{i}]");
        let spec = parse_tool(&field, item)?;
        if specs.iter().any(|s| s.name == spec.name) {
            return Err(ToolError::DuplicateName {
                field: format!("{field}.name"),
                name: spec.name,
            });
        }
        specs.push(spec);
    }
    Ok(specs)
}

fn parse_tool(field: &str, item: &Value) -> Result<ToolSpec, ToolError> {
    let obj = as_object(field, item)?;
    if let Some(kind) = obj.get("type").filter(|k| !k.is_null()) {
        let kind = as_str(&format!("{field}.type"), kind)?;
        // Anthropic's own shape has no type, or a versioned server-tool type we cannot run.
        if kind != FUNCTION_TYPE && kind != "custom" {
            return Err(ToolError::UnsupportedType {
                field: format!("{field}.type"),
                kind: kind.to_owned(),
            });
        }
    }
    // Chat: nested under "function"; Responses and Anthropic: flat.
    let (base, inner) = match obj.get("function") {
        Some(function) => {
            let base = format!("{field}.function");
            let inner = as_object(&base, function)?;
            (base, inner)
        }
        None => (field.to_owned(), obj),
    };
    let name = match inner.get("name") {
        Some(name) => as_str(&format!("{base}.name"), name)?,
        None => {
            return Err(ToolError::Missing {
                field: format!("{base}.name"),
            })
        }
    };
    let description = match inner.get("description") {
        None | Some(Value::Null) => None,
        Some(d) => Some(as_str(&format!("{base}.description"), d)?),
    };
    let schema_key = if inner.contains_key("input_schema") {
        "input_schema"
    } else {
        "parameters"
    };
    let parameters = match inner.get(schema_key) {
        None | Some(Value::Null) => None,
        Some(p @ Value::Object(_)) => Some(p.clone()),
        Some(_) => {
            return Err(ToolError::WrongType {
                field: format!("{base}.{schema_key}"),
                expected: "a JSON schema object",
            })
        }
    };
    ToolSpec::build(&base, name, description, parameters).map_err(|e| match e {
        // build() names the schema "parameters"; keep the key the client used.
        ToolError::BadSchema { detail, .. } => ToolError::BadSchema {
            field: format!("{base}.{schema_key}"),
            detail,
        },
        other => other,
    })
}

fn as_object<'v>(field: &str, value: &'v Value) -> Result<&'v Map<String, Value>, ToolError> {
    value.as_object().ok_or_else(|| ToolError::WrongType {
        field: field.to_owned(),
        expected: "an object",
    })
}

fn as_str<'v>(field: &str, value: &'v Value) -> Result<&'v str, ToolError> {
    value.as_str().ok_or_else(|| ToolError::WrongType {
        field: field.to_owned(),
        expected: "a string",
    })
}

/// What the model may or must do with the tools.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(try_from = "Value")]
pub enum ToolChoice {
    /// The model decides (the default when tools are given).
    #[default]
    Auto,
    /// No calls; the tools are not described to the model.
    None,
    /// At least one call.
    Required,
    /// Exactly this function.
    Function(String),
}

impl TryFrom<Value> for ToolChoice {
    type Error = ToolError;

    fn try_from(value: Value) -> Result<Self, ToolError> {
        parse_tool_choice(&value)
    }
}

/// Parses `tool_choice` in the OpenAI chat, Responses and Anthropic spellings.
pub fn parse_tool_choice(value: &Value) -> Result<ToolChoice, ToolError> {
    const FIELD: &str = "tool_choice";
    match value {
        Value::Null => Ok(ToolChoice::Auto),
        Value::String(mode) => mode_choice(FIELD, mode),
        Value::Object(obj) => {
            let kind = match obj.get("type") {
                Some(kind) => as_str("tool_choice.type", kind)?,
                None => {
                    return Err(ToolError::Missing {
                        field: "tool_choice.type".into(),
                    })
                }
            };
            if kind != FUNCTION_TYPE && kind != "tool" {
                return mode_choice("tool_choice.type", kind);
            }
            let (field, name) = match obj.get("function") {
                Some(function) => (
                    "tool_choice.function.name",
                    as_object("tool_choice.function", function)?.get("name"),
                ),
                None => ("tool_choice.name", obj.get("name")),
            };
            let name = name.ok_or_else(|| ToolError::Missing {
                field: field.to_owned(),
            })?;
            Ok(ToolChoice::Function(as_str(field, name)?.to_owned()))
        }
        _ => Err(ToolError::WrongType {
            field: FIELD.into(),
            expected: "a string or an object",
        }),
    }
}

fn mode_choice(field: &str, mode: &str) -> Result<ToolChoice, ToolError> {
    match mode {
        "auto" => Ok(ToolChoice::Auto),
        "none" => Ok(ToolChoice::None),
        // "any" is Anthropic's word for required.
        "required" | "any" => Ok(ToolChoice::Required),
        other => Err(ToolError::UnknownChoice {
            field: field.to_owned(),
            value: other.to_owned(),
        }),
    }
}

/// Parses `parallel_tool_calls`; absent or `null` means allowed (OpenAI's default).
pub fn parse_parallel_tool_calls(value: Option<&Value>) -> Result<bool, ToolError> {
    match value {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ToolError::WrongType {
            field: "parallel_tool_calls".into(),
            expected: "a boolean",
        }),
    }
}

/// The tools of one request with their choice and parallelism, ready for prompt and parser.
/// Cheap to clone (the tool list is shared).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSet {
    tools: Arc<[ToolSpec]>,
    choice: ToolChoice,
    parallel: bool,
}

impl ToolSet {
    /// Checks that a named choice exists and that `required`/named come with tools.
    pub fn new(
        tools: Vec<ToolSpec>,
        choice: ToolChoice,
        parallel: bool,
    ) -> Result<Self, ToolError> {
        match &choice {
            ToolChoice::Function(name) if !tools.iter().any(|t| &t.name == name) => {
                return Err(ToolError::ChoiceNotDefined { name: name.clone() })
            }
            ToolChoice::Required if tools.is_empty() => {
                return Err(ToolError::ChoiceWithoutTools { choice: "required" })
            }
            _ => {}
        }
        Ok(Self {
            tools: tools.into(),
            choice,
            parallel,
        })
    }

    /// Parses the three request fields at once (each may be absent).
    pub fn from_request(
        tools: Option<&Value>,
        tool_choice: Option<&Value>,
        parallel_tool_calls: Option<&Value>,
    ) -> Result<Self, ToolError> {
        let tools = tools.map(parse_tools).transpose()?.unwrap_or_default();
        let choice = tool_choice
            .map(parse_tool_choice)
            .transpose()?
            .unwrap_or_default();
        Self::new(
            tools,
            choice,
            parse_parallel_tool_calls(parallel_tool_calls)?,
        )
    }

    pub fn tools(&self) -> &[ToolSpec] {
        &self.tools
    }

    pub fn choice(&self) -> &ToolChoice {
        &self.choice
    }

    /// Whether more than one call per answer is allowed.
    pub fn parallel(&self) -> bool {
        self.parallel
    }

    /// Whether the model is told about tools and its answer is parsed for calls.
    pub fn calls_enabled(&self) -> bool {
        !self.tools.is_empty() && self.choice != ToolChoice::None
    }

    /// Whether an answer without a call breaks the rules given to the model.
    pub fn call_required(&self) -> bool {
        matches!(self.choice, ToolChoice::Required | ToolChoice::Function(_))
    }

    pub fn find(&self, name: &str) -> Option<&ToolSpec> {
        self.tools.iter().find(|t| t.name == name)
    }
}
