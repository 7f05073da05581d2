//! What loading `config.jsonc` can report: warnings for keys without effect, errors with
//! file, line and column.

use std::fmt;
use std::path::{Path, PathBuf};

/// A key that was accepted but has no effect (not implemented, or unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config key `{}`: {}", self.key, self.message)
    }
}

/// Why `config.jsonc` could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not valid JSON with comments.
    #[error("{}:{line}:{column}: syntax error: {message}", path.display())]
    Syntax {
        path: PathBuf,
        /// 1-based.
        line: usize,
        /// 1-based, in characters.
        column: usize,
        message: String,
    },
    /// The file is valid JSON but not an object.
    #[error("{}:{line}:{column}: the file must contain one JSON object `{{ … }}`, found {found}", path.display())]
    NotAnObject {
        path: PathBuf,
        line: usize,
        column: usize,
        found: &'static str,
    },
    /// A known key with a value of the wrong type or out of range.
    #[error("{}:{line}:{column}: invalid value for `{key}`: expected {expected}", path.display())]
    InvalidValue {
        path: PathBuf,
        key: String,
        line: usize,
        column: usize,
        expected: String,
    },
}

impl ConfigError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            ConfigError::Io { path, .. }
            | ConfigError::Syntax { path, .. }
            | ConfigError::NotAnObject { path, .. }
            | ConfigError::InvalidValue { path, .. } => path,
        }
    }

    /// 1-based line and column, when the error has a position.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ConfigError::Io { .. } => None,
            ConfigError::Syntax { line, column, .. }
            | ConfigError::NotAnObject { line, column, .. }
            | ConfigError::InvalidValue { line, column, .. } => Some((*line, *column)),
        }
    }
}
