//! Failures of a run, each with the exit code documented in `--help`.

use std::fmt;

/// The process exit codes (listed for users in [`crate::cli::EXIT_CODES_HELP`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    Other,
    /// The HTML holds no model list.
    NoModelList,
    /// bridge-server is not reachable.
    ServerDown,
    /// bridge-server has no LMArena tab (HTTP 503).
    NoTab,
    /// The tab did not send the page in time (HTTP 504, or no answer at all).
    TabTimeout,
    /// bridge-server refused the api key (HTTP 401).
    Unauthorized,
    /// A file could not be read or written.
    File,
    /// `config.jsonc` or `models.json` could not be parsed.
    Config,
    /// A `--add` name is not on the page.
    UnknownModel,
    /// Invalid command line.
    Usage,
    /// Ctrl-C at a prompt.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Other => 1,
            Exit::NoModelList => 2,
            Exit::ServerDown => 3,
            Exit::NoTab => 4,
            Exit::TabTimeout => 5,
            Exit::Unauthorized => 6,
            Exit::File => 7,
            Exit::Config => 8,
            Exit::UnknownModel => 9,
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

/// Attach an exit code to any error.
pub trait OrExit<T> {
    fn or_exit(self, exit: Exit) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> OrExit<T> for Result<T, E> {
    fn or_exit(self, exit: Exit) -> Result<T, Failure> {
        self.map_err(|e| Failure::new(exit, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn display_is_one_line_with_causes() {
        let err: Result<(), std::io::Error> = Err(std::io::Error::other("disk\nfull"));
        let failure = err
            .context("cannot write models.json")
            .or_exit(Exit::File)
            .unwrap_err();
        assert_eq!(failure.to_string(), "cannot write models.json: disk full");
        assert_eq!(failure.exit.code(), 7);
    }

    #[test]
    fn codes_are_distinct() {
        let all = [
            Exit::Ok,
            Exit::Other,
            Exit::NoModelList,
            Exit::ServerDown,
            Exit::NoTab,
            Exit::TabTimeout,
            Exit::Unauthorized,
            Exit::File,
            Exit::Config,
            Exit::UnknownModel,
            Exit::Usage,
            Exit::Interrupted,
        ];
        let mut codes: Vec<u8> = all.iter().map(|e| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }
}
