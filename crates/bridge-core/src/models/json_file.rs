//! The JSONC reading and order-keeping pretty writing that `models.json` and
//! `model_endpoint_map.json` share.

use std::fmt::Write as _;
use std::path::Path;

use jsonc_parser::ast::{Object, Value};
use jsonc_parser::common::Ranged;

use super::ModelsError;
use crate::config::{line_col, parse_jsonc, value_kind};

/// Parses `text` as a JSONC object; an empty file counts as `{}`.
pub(super) fn parse_object<'a>(
    text: &'a str,
    path: &Path,
    expected: &str,
) -> Result<Option<Object<'a>>, ModelsError> {
    let parsed = parse_jsonc(text).map_err(|e| ModelsError::Syntax {
        path: path.to_owned(),
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    match parsed {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(invalid(
            text,
            path,
            &other,
            format!("expected {expected}, found {}", value_kind(&other)),
        )),
    }
}

pub(super) fn invalid(text: &str, path: &Path, at: &Value<'_>, message: String) -> ModelsError {
    let (line, column) = line_col(text, at.start());
    ModelsError::Invalid {
        path: path.to_owned(),
        line,
        column,
        message,
    }
}

/// A JSON string literal.
pub(super) fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// `{ "k": v, … }` with keys in the given order (serde_json's map would sort them); values are
/// already rendered JSON. The closing brace is indented by `indent` spaces.
pub(super) fn pretty_object<'a>(
    items: impl Iterator<Item = (&'a str, String)>,
    indent: usize,
) -> String {
    pretty_container(
        '{',
        '}',
        items.map(|(k, v)| format!("{}: {v}", json_string(k))),
        indent,
    )
}

pub(super) fn pretty_container(
    open: char,
    close: char,
    items: impl Iterator<Item = String>,
    indent: usize,
) -> String {
    let mut out = String::from(open);
    let mut first = true;
    for item in items {
        out.push_str(if first { "\n" } else { ",\n" });
        first = false;
        let _ = write!(out, "{:width$}{item}", "", width = indent + 2);
    }
    if !first {
        let _ = write!(out, "\n{:indent$}", "");
    }
    out.push(close);
    out
}
