//! The JSONC dialect shared by the three config files, and positions for messages.

use jsonc_parser::ast::Value;
use jsonc_parser::{CollectOptions, ParseOptions};

/// The JSONC dialect of all three config files: comments and trailing commas, otherwise strict
/// JSON, so a missing comma is reported instead of silently accepted.
pub(crate) fn jsonc_options() -> ParseOptions {
    ParseOptions {
        allow_comments: true,
        allow_trailing_commas: true,
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
    }
}

/// Editors on Windows may save a UTF-8 byte order mark, which the JSON parser rejects.
pub(crate) fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// 1-based line and character column of a byte offset (same counting as jsonc-parser).
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let mut line = 1;
    let mut col = 1;
    let mut chars = before.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' || (c == '\r' && chars.peek() != Some(&'\n')) {
            line += 1;
            col = 1;
        } else if c != '\r' {
            col += 1;
        }
    }
    (line, col)
}

/// A JSONC syntax error with its 1-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Parses `text` (BOM already stripped) in the dialect of [`jsonc_options`]; `None` for an
/// empty document.
pub(crate) fn parse_jsonc(text: &str) -> Result<Option<Value<'_>>, SyntaxError> {
    if let Some(start) = find_line_break_in_string(text) {
        let (line, column) = line_col(text, start);
        return Err(SyntaxError {
            line,
            column,
            message: "Unterminated string literal (a string must end on the line where it \
                      starts)"
                .to_owned(),
        });
    }
    jsonc_parser::parse_to_ast(text, &CollectOptions::default(), &jsonc_options())
        .map(|parsed| parsed.value)
        .map_err(|e| SyntaxError {
            line: e.line_display(),
            column: e.column_display(),
            message: e.kind().to_string(),
        })
}

/// Byte offset of the opening quote of the first string that contains a raw line break.
///
/// JSON forbids them, but jsonc-parser accepts them, so a forgotten closing quote would
/// swallow the following lines and be reported somewhere after; this points at the string.
pub(super) fn find_line_break_in_string(text: &str) -> Option<usize> {
    enum State {
        Code,
        Str { start: usize, escaped: bool },
        LineComment,
        BlockComment { star: bool },
    }
    let mut state = State::Code;
    let mut prev_slash = false;
    for (i, c) in text.char_indices() {
        state = match state {
            State::Code => {
                let slash = prev_slash;
                prev_slash = false;
                match c {
                    '"' => State::Str {
                        start: i,
                        escaped: false,
                    },
                    '/' if slash => State::LineComment,
                    '*' if slash => State::BlockComment { star: false },
                    '/' => {
                        prev_slash = true;
                        State::Code
                    }
                    _ => State::Code,
                }
            }
            State::Str { start, .. } if c == '\n' || c == '\r' => return Some(start),
            State::Str {
                start,
                escaped: false,
            } => match c {
                '"' => State::Code,
                '\\' => State::Str {
                    start,
                    escaped: true,
                },
                _ => State::Str {
                    start,
                    escaped: false,
                },
            },
            State::Str {
                start,
                escaped: true,
            } => State::Str {
                start,
                escaped: false,
            },
            State::LineComment if c == '\n' || c == '\r' => State::Code,
            State::LineComment => State::LineComment,
            State::BlockComment { star: true } if c == '/' => State::Code,
            State::BlockComment { .. } => State::BlockComment { star: c == '*' },
        };
    }
    None
}

/// What kind of JSON value this is, for messages.
pub(crate) fn value_kind(value: &Value<'_>) -> &'static str {
    match value {
        Value::StringLit(_) => "a string",
        Value::NumberLit(_) => "a number",
        Value::BooleanLit(_) => "a boolean",
        Value::Object(_) => "an object",
        Value::Array(_) => "an array",
        Value::NullKeyword(_) => "null",
    }
}
