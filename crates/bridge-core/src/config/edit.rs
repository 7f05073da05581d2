//! Comment-preserving edits of `config.jsonc` through the jsonc-parser CST.
//!
//! Only the edited values change: comments, blank lines, escapes such as `"http:\/\/…"`,
//! indentation and line endings stay byte-identical. [`edit_file`] checks that the result still
//! loads before it replaces the file atomically.

use std::path::{Path, PathBuf};

use jsonc_parser::cst::{CstInputValue, CstRootNode};

use super::{jsonc_options, parse_config, parse_jsonc, ConfigError};
use crate::fsutil::write_atomic;

/// Why an edit was not made. The file on disk is never left changed by a failed edit.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text to edit is not valid JSON with comments.
    #[error("syntax error at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// The text to edit is valid JSON but its top level is not an object.
    #[error("the config must contain one JSON object `{{ … }}` at the top level")]
    NotAnObject,
    /// The file did not load before the edit; nothing was changed.
    #[error("refusing to edit a config that does not load: {0}")]
    Invalid(#[source] ConfigError),
    /// The edited text would not load (e.g. a string written to a number key); nothing was
    /// written.
    #[error("the edit would make the config invalid, file left unchanged: {0}")]
    Rejected(#[source] ConfigError),
}

/// Set top-level `key: "value"` pairs in JSONC `text`, keeping everything else byte-identical.
///
/// An existing property keeps its position and any comment after it; a missing one is appended
/// at the end of the object. Values are JSON-escaped, so quotes, backslashes and control
/// characters in them cannot break the file. When a key occurs more than once, every occurrence
/// is set (the parser uses the last one).
pub fn set_string_values(text: &str, edits: &[(&str, &str)]) -> Result<String, EditError> {
    let (bom, body) = match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    };
    // Same dialect checks as loading (e.g. no line breaks inside strings).
    parse_jsonc(body).map_err(|e| EditError::Syntax {
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    let root = CstRootNode::parse(body, &jsonc_options()).map_err(|e| EditError::Syntax {
        line: e.line_display(),
        column: e.column_display(),
        message: e.kind().to_string(),
    })?;
    let object = root.object_value().ok_or(EditError::NotAnObject)?;
    for (key, value) in edits {
        let mut found = false;
        for prop in object.properties() {
            if prop.decoded_name().as_deref() != Some(*key) {
                continue;
            }
            found = true;
            match prop.value().and_then(|v| v.as_string_lit()) {
                // Replacing only the literal's text keeps the node, and so everything around it.
                Some(lit) => lit.set_raw_value(json_string(value)),
                None => prop.set_value(CstInputValue::String((*value).to_owned())),
            }
        }
        if !found {
            object.append(key, CstInputValue::String((*value).to_owned()));
        }
    }
    Ok(format!("{bom}{root}"))
}

/// `value` as a JSON string literal, quotes included.
fn json_string(value: &str) -> String {
    serde_json::Value::String(value.to_owned()).to_string()
}

/// Read the config at `path`, apply [`set_string_values`], check that the result still loads
/// with [`parse_config`], then replace the file atomically.
pub fn edit_file(path: &Path, edits: &[(&str, &str)]) -> Result<(), EditError> {
    let text = std::fs::read_to_string(path).map_err(|source| EditError::Read {
        path: path.to_owned(),
        source,
    })?;
    // Report a broken file with its own path, line and column rather than a bare CST error.
    parse_config(&text, path).map_err(EditError::Invalid)?;
    let edited = set_string_values(&text, edits)?;
    parse_config(&edited, path).map_err(EditError::Rejected)?;
    write_atomic(path, edited.as_bytes()).map_err(|source| EditError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_value() {
        let text = "{\n  // 会话 ID\n  \"session_id\": \"old\", // after\n  \"url\": \"http:\\/\\/h/u\"\n}\n";
        let out = set_string_values(text, &[("session_id", "new")]).unwrap();
        assert_eq!(out, text.replace("\"old\"", "\"new\""));
    }

    #[test]
    fn escapes_values() {
        let nasty = "a\"b\\c\n\u{1}d</script>中";
        let text = "{\"session_id\": \"x\"}";
        let out = set_string_values(text, &[("session_id", nasty), ("message_id", nasty)]).unwrap();
        let (config, warnings) = parse_config(&out, Path::new("t")).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(config.session_id.as_deref(), Some(nasty));
        assert_eq!(config.message_id.as_deref(), Some(nasty));
    }

    #[test]
    fn appends_missing_key_and_replaces_non_string() {
        let text = "{\n  \"port\": 5102, // p\n  \"session_id\": null /* none */\n}\n";
        let out = set_string_values(text, &[("session_id", "s"), ("message_id", "m")]).unwrap();
        assert!(out.contains("\"session_id\": \"s\", /* none */"), "{out}");
        assert!(out.contains("\"port\": 5102, // p"), "{out}");
        let (config, _) = parse_config(&out, Path::new("t")).unwrap();
        assert_eq!(config.session_id.as_deref(), Some("s"));
        assert_eq!(config.message_id.as_deref(), Some("m"));
        assert_eq!(config.port, 5102);
    }

    #[test]
    fn empty_object_gets_keys() {
        let out = set_string_values("{}", &[("session_id", "s")]).unwrap();
        let (config, _) = parse_config(&out, Path::new("t")).unwrap();
        assert_eq!(config.session_id.as_deref(), Some("s"));
    }

    #[test]
    fn keeps_crlf_and_bom() {
        let text = "\u{feff}{\r\n  \"session_id\": \"a\", // c\r\n  \"port\": 1\r\n}\r\n";
        let out = set_string_values(text, &[("session_id", "b"), ("message_id", "m")]).unwrap();
        assert!(out.starts_with('\u{feff}'));
        assert!(!out.replace("\r\n", "").contains('\n'), "{out:?}");
        assert!(out.contains("\"session_id\": \"b\", // c\r\n"));
    }

    #[test]
    fn duplicate_keys_all_set() {
        let out = set_string_values(
            r#"{"session_id": "a", "session_id": "b"}"#,
            &[("session_id", "c")],
        )
        .unwrap();
        assert_eq!(out, r#"{"session_id": "c", "session_id": "c"}"#);
    }

    #[test]
    fn broken_text_is_an_error() {
        assert!(matches!(
            set_string_values("{\n\"a\": 1\n\"b\": 2}", &[("a", "x")]),
            Err(EditError::Syntax {
                line: 2,
                column: 7,
                ..
            })
        ));
        assert!(matches!(
            set_string_values("[1]", &[("a", "x")]),
            Err(EditError::NotAnObject)
        ));
    }

    #[test]
    fn edit_file_writes_and_rejects() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.jsonc");
        let original = "{\n  // keep me\n  \"session_id\": \"old\",\n  \"port\": 5102\n}\n";
        std::fs::write(&path, original).unwrap();

        edit_file(&path, &[("session_id", "new"), ("message_id", "m")]).unwrap();
        let (config, _) = crate::config::load_config(&path).unwrap();
        assert_eq!(config.session_id.as_deref(), Some("new"));
        assert_eq!(config.message_id.as_deref(), Some("m"));
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("// keep me"));

        // A string into a number key would not load: refused, file unchanged.
        let before = std::fs::read_to_string(&path).unwrap();
        let e = edit_file(&path, &[("port", "80")]).unwrap_err();
        assert!(
            matches!(e, EditError::Rejected(ConfigError::InvalidValue { .. })),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);

        // A broken file is reported with its path and position, and not touched.
        std::fs::write(&path, "{\n  \"a\": 1\n  \"b\": 2\n}").unwrap();
        let e = edit_file(&path, &[("session_id", "x")]).unwrap_err();
        assert!(e.to_string().contains("config.jsonc:2:9"), "{e}");

        let missing = dir.path().join("nope.jsonc");
        assert!(matches!(
            edit_file(&missing, &[]),
            Err(EditError::Read { .. })
        ));
    }
}
