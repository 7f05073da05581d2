//! Failures of a run, each with the exit code documented in `--help`.
//!
//! The numbering follows bridge-model-updater where the meanings overlap (3 server down, 4 no
//! tab, 5 nothing arrived in time, 6 unauthorized, 7 file not written, 8 config unreadable,
//! 9 unknown model, 64 usage, 130 interrupted); 2 stays unused because clap reports usage
//! errors with it by default.

use std::fmt;

/// The process exit codes (listed for users in [`crate::cli::EXIT_CODES_HELP`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    Other,
    /// bridge-server is not reachable.
    ServerDown,
    /// bridge-server has no LMArena tab (HTTP 503).
    NoTab,
    /// No capture arrived within `--timeout`.
    Timeout,
    /// bridge-server refused the api key (HTTP 401).
    Unauthorized,
    /// The captured ids could not be written.
    Write,
    /// A config file is missing, unreadable or invalid.
    Config,
    /// `--model` is not a known model.
    UnknownModel,
    /// The listener port is taken.
    PortInUse,
    /// Invalid command line.
    Usage,
    /// Ctrl-C, or Esc at a prompt.
    Interrupted,
}

impl Exit {
    /// Every exit, for the help text check.
    pub const ALL: [Exit; 12] = [
        Exit::Ok,
        Exit::Other,
        Exit::ServerDown,
        Exit::NoTab,
        Exit::Timeout,
        Exit::Unauthorized,
        Exit::Write,
        Exit::Config,
        Exit::UnknownModel,
        Exit::PortInUse,
        Exit::Usage,
        Exit::Interrupted,
    ];

    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Other => 1,
            Exit::ServerDown => 3,
            Exit::NoTab => 4,
            Exit::Timeout => 5,
            Exit::Unauthorized => 6,
            Exit::Write => 7,
            Exit::Config => 8,
            Exit::UnknownModel => 9,
            Exit::PortInUse => 10,
            Exit::Usage => 64,
            Exit::Interrupted => 130,
        }
    }
}

/// An error and the exit code it ends the process with.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub error: anyhow::Error,
}

impl Failure {
    pub fn new(exit: Exit, error: impl Into<anyhow::Error>) -> Self {
        Self {
            exit,
            error: error.into(),
        }
    }

    /// A failure from a message.
    pub fn msg(exit: Exit, message: impl fmt::Display) -> Self {
        Self::new(exit, anyhow::anyhow!("{message}"))
    }
}

impl fmt::Display for Failure {
    /// One line: the error with its causes, joined with `: `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format!("{:#}", self.error);
        f.write_str(&one_line(&text))
    }
}

/// Collapse whitespace runs (newlines from a server or OS message) into single spaces.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn display_is_one_line_with_causes() {
        let err: Result<(), std::io::Error> = Err(std::io::Error::other("disk\nfull"));
        let failure = Failure::new(Exit::Write, err.context("cannot write x").unwrap_err());
        assert_eq!(failure.to_string(), "cannot write x: disk full");
        assert_eq!(failure.exit.code(), 7);
    }

    #[test]
    fn codes_are_distinct_and_avoid_clap_usage_code() {
        let mut codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert!(!codes.contains(&2));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Exit::ALL.len());
    }
}
