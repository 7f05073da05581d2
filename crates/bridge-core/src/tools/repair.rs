//! Lenient JSON for model-written calls: strict parse first, then one local repair attempt
//! (JSON5 for trailing commas, single quotes, unquoted keys and comments; closing of
//! unterminated strings, objects and arrays; dropping text after the first complete value).

use serde_json::{Map, Value};

/// A value parsed from model text, and whether it needed the repair attempt.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lenient {
    pub(crate) value: Value,
    pub(crate) repaired: bool,
}

/// Parses `text` as JSON, with one repair attempt if the strict parse fails.
pub(crate) fn parse_lenient(text: &str) -> Result<Lenient, String> {
    let text = text.trim();
    let strict_error = match serde_json::from_str::<Value>(text) {
        Ok(value) => {
            return Ok(Lenient {
                value,
                repaired: false,
            })
        }
        Err(e) => e.to_string(),
    };
    let candidate = balance(text);
    match json5::from_str::<Value>(&candidate) {
        Ok(value) => Ok(Lenient {
            value: normalize_numbers(value),
            repaired: true,
        }),
        Err(_) => Err(strict_error),
    }
}

/// Cuts text after the first complete top-level value and closes what is left open.
fn balance(text: &str) -> String {
    let mut closers: Vec<u8> = Vec::new();
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    let mut end = text.len();
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == q {
                quote = None;
            }
            continue;
        }
        match b {
            b'"' | b'\'' => quote = Some(b),
            b'{' => closers.push(b'}'),
            b'[' => closers.push(b']'),
            b'}' | b']' => {
                if closers.last() == Some(&b) {
                    closers.pop();
                }
                if closers.is_empty() {
                    end = i + 1;
                    break;
                }
            }
            _ => {}
        }
    }
    let mut out = String::with_capacity(end + closers.len() + 1);
    out.push_str(&text[..end]);
    if let Some(q) = quote {
        if escaped {
            out.pop();
        }
        out.push(char::from(q));
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    // A dangling `,` or `:` before a closer cannot be fixed by closing; drop a trailing comma.
    if !closers.is_empty() && out.ends_with(',') {
        out.pop();
    }
    out.extend(closers.iter().rev().map(|&c| char::from(c)));
    out
}

/// JSON5 reads every number as a float; give integral values back their integer form so the
/// repaired arguments look like what the model meant (`3`, not `3.0`).
fn normalize_numbers(value: Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                // Exact: |f| < 2^53, so the cast is lossless.
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        Value::Array(items) => Value::Array(items.into_iter().map(normalize_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, normalize_numbers(v)))
                .collect::<Map<String, Value>>(),
        ),
        other => other,
    }
}

/// The parts of a call found in a JSON object, before any check against the tools.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CallShape {
    pub(crate) name: String,
    /// The arguments object, or why it is not one.
    pub(crate) arguments: Result<Value, String>,
    /// Whether the arguments needed the repair attempt.
    pub(crate) repaired: bool,
}

/// Keys under which models put the arguments, in order of preference.
const ARGUMENT_KEYS: [&str; 4] = ["arguments", "parameters", "args", "input"];
/// Keys under which models put the function name.
const NAME_KEYS: [&str; 3] = ["name", "tool", "tool_name"];

/// Finds `name` and `arguments` in a call object. Accepted: `{"name","arguments"}` (also
/// `tool`/`tool_name` for the name and `parameters`/`args`/`input` for the arguments) and
/// `{"function": {"name","arguments"}}`. With `arguments_required` false (inside explicit
/// call tags) missing arguments mean `{}`.
pub(crate) fn call_shape(value: &Value, arguments_required: bool) -> Option<CallShape> {
    let obj = value.as_object()?;
    let inner = match obj.get("function") {
        Some(Value::Object(function)) => function,
        _ => obj,
    };
    let name = NAME_KEYS
        .iter()
        .find_map(|k| inner.get(*k).and_then(Value::as_str))?;
    let raw_arguments = ARGUMENT_KEYS.iter().find_map(|k| inner.get(*k));
    let (arguments, repaired) = match raw_arguments {
        None if arguments_required => return None,
        None | Some(Value::Null) => (Ok(Value::Object(Map::new())), false),
        Some(Value::String(text)) if text.trim().is_empty() => {
            (Ok(Value::Object(Map::new())), false)
        }
        // Arguments given as a JSON string, as in OpenAI's own wire format.
        Some(Value::String(text)) => match parse_lenient(text) {
            Ok(parsed) => (Ok(parsed.value), parsed.repaired),
            Err(e) => (Err(format!("arguments string is not JSON: {e}")), false),
        },
        Some(other) => (Ok(other.clone()), false),
    };
    Some(CallShape {
        name: name.to_owned(),
        arguments,
        repaired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repairs_the_usual_mistakes_once() {
        let cases = [
            (r#"{"a": 1}"#, json!({"a": 1}), false),
            (r#"{"a": 1,}"#, json!({"a": 1}), true),
            (r#"{'a': 'x'}"#, json!({"a": "x"}), true),
            (r#"{a: [1, 2,]}"#, json!({"a": [1, 2]}), true),
            (r#"{"a": {"b": 2"#, json!({"a": {"b": 2}}), true),
            (r#"{"a": "unterminated"#, json!({"a": "unterminated"}), true),
            (r#"{"a": 1}} trailing"#, json!({"a": 1}), true),
            (r#"{"a": 1.5, "b": -2}"#, json!({"a": 1.5, "b": -2}), false),
            ("{\"a\": 1, // why\n}", json!({"a": 1}), true),
        ];
        for (text, want, repaired) in cases {
            let got = parse_lenient(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(got.value, want, "{text}");
            assert_eq!(got.repaired, repaired, "{text}");
        }
    }

    #[test]
    fn gives_up_on_what_one_repair_cannot_fix() {
        for text in ["", "not json", r#"{"a" "b"}"#, "{:}"] {
            assert!(parse_lenient(text).is_err(), "{text}");
        }
    }

    #[test]
    fn finds_call_shapes_in_the_variants_models_write() {
        let cases = [
            (json!({"name": "f", "arguments": {"x": 1}}), true),
            (json!({"name": "f", "arguments": "{\"x\": 1}"}), true),
            (json!({"tool": "f", "parameters": {"x": 1}}), true),
            (
                json!({"function": {"name": "f", "arguments": {"x": 1}}}),
                true,
            ),
            (
                json!({"type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}}),
                true,
            ),
        ];
        for (value, _) in cases {
            let shape = call_shape(&value, true).unwrap_or_else(|| panic!("{value}"));
            assert_eq!(shape.name, "f");
            assert_eq!(shape.arguments, Ok(json!({"x": 1})), "{value}");
        }
        assert_eq!(call_shape(&json!({"name": "Alice", "age": 3}), true), None);
        assert_eq!(call_shape(&json!([1]), true), None);
        let bare = call_shape(&json!({"name": "f"}), false).unwrap();
        assert_eq!(bare.arguments, Ok(json!({})));
        let broken = call_shape(&json!({"name": "f", "arguments": "{{{"}), true).unwrap();
        assert!(broken.arguments.is_err());
    }
}
