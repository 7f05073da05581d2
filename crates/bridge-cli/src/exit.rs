//! Exit codes and failures. The codes of [`Exit`] mean the same in both CLIs; each CLI adds a
//! few of its own through [`OwnExit`] (its `--help` lists them all). A [`Failure`] is one line
//! for the user and the code the process ends with.
//!
//! 2 is not a shared code: clap reports usage errors with it by default, so usage errors get 64
//! here, and bridge-model-updater uses 2 for "no model list".

use std::collections::HashSet;
use std::convert::Infallible;
use std::error::Error;
use std::fmt;
use std::io::Write;
use std::process::ExitCode;

/// A process exit code: one both CLIs share, or one of the CLI's own codes `O`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit<O> {
    /// Success (0).
    Ok,
    /// Any failure without a code of its own (1).
    Other,
    /// bridge-server is not reachable (3).
    ServerDown,
    /// bridge-server has no LMArena tab: HTTP 503 (4).
    NoTab,
    /// bridge-server refused the api key: HTTP 401 (6).
    Unauthorized,
    /// A file could not be written, or read (7).
    File,
    /// A config file is invalid, or one the CLI needs is missing or unreadable (8).
    Config,
    /// Invalid command line (64).
    Usage,
    /// Ctrl-C, or Esc at a prompt (130).
    Interrupted,
    /// A code only this CLI uses.
    Own(O),
}

/// The codes a CLI adds to the shared ones.
pub trait OwnExit: Copy + fmt::Debug + 'static {
    /// Every own code, for the checks that codes are distinct and documented.
    const ALL: &'static [Self];
    /// The number the process exits with.
    fn code(self) -> u8;
}

/// No codes of its own: failures that any CLI can report.
impl OwnExit for Infallible {
    const ALL: &'static [Self] = &[];
    fn code(self) -> u8 {
        match self {}
    }
}

impl<O: OwnExit> Exit<O> {
    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Other => 1,
            Exit::ServerDown => 3,
            Exit::NoTab => 4,
            Exit::Unauthorized => 6,
            Exit::File => 7,
            Exit::Config => 8,
            Exit::Usage => 64,
            Exit::Interrupted => 130,
            Exit::Own(own) => own.code(),
        }
    }

    /// Every code of the CLI: the shared ones, then its own.
    pub fn all() -> Vec<Self> {
        [
            Exit::Ok,
            Exit::Other,
            Exit::ServerDown,
            Exit::NoTab,
            Exit::Unauthorized,
            Exit::File,
            Exit::Config,
            Exit::Usage,
            Exit::Interrupted,
        ]
        .into_iter()
        .chain(O::ALL.iter().copied().map(Exit::Own))
        .collect()
    }
}

/// What is wrong with a CLI's exit codes and the help text listing them (a `\n  CODE ` line
/// each): a code used twice, a code the help leaves out. Empty when all is well.
pub fn exit_code_problems<O: OwnExit>(help: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut problems = Vec::new();
    for exit in Exit::<O>::all() {
        let code = exit.code();
        if !seen.insert(code) {
            problems.push(format!("{exit:?} reuses code {code}"));
        }
        if !help.contains(&format!("\n  {code:<4} ")) {
            problems.push(format!("{exit:?} (code {code}) is missing from the help"));
        }
    }
    problems
}

/// What ended a run: one line for the user and the code the process exits with.
#[derive(Debug)]
pub struct Failure<O> {
    pub exit: Exit<O>,
    /// The error with its causes, joined with `: `, on one line.
    pub message: String,
}

impl<O> Failure<O> {
    /// A failure from an error (any error type, or an `anyhow::Error` with its context): its
    /// message followed by each cause.
    pub fn new(exit: Exit<O>, error: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        let error = error.into();
        let mut text = error.to_string();
        let mut cause = error.source();
        while let Some(c) = cause {
            text.push_str(": ");
            text.push_str(&c.to_string());
            cause = c.source();
        }
        Self::msg(exit, text)
    }

    /// A failure from a message.
    pub fn msg(exit: Exit<O>, message: impl fmt::Display) -> Self {
        Self {
            exit,
            message: one_line(&message.to_string()),
        }
    }
}

impl<O> fmt::Display for Failure<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Collapse whitespace runs (newlines from a server or OS message) into single spaces.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Attach an exit code to any error.
pub trait OrExit<T> {
    fn or_exit<O>(self, exit: Exit<O>) -> Result<T, Failure<O>>;
}

impl<T, E: Into<Box<dyn Error + Send + Sync>>> OrExit<T> for Result<T, E> {
    fn or_exit<O>(self, exit: Exit<O>) -> Result<T, Failure<O>> {
        self.map_err(|e| Failure::new(exit, e))
    }
}

/// The end of a run: a failure is printed as one `error: …` line on stderr; either way the
/// code the process exits with.
pub fn finish<O: OwnExit>(outcome: Result<(), Failure<O>>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // A closed stderr must not turn a failure into a panic.
            let _ = writeln!(std::io::stderr(), "error: {failure}");
            ExitCode::from(failure.exit.code())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    /// A CLI's own codes, as the two CLIs declare them.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Mine {
        Timeout,
        Clash,
    }

    impl OwnExit for Mine {
        const ALL: &'static [Self] = &[Mine::Timeout, Mine::Clash];
        fn code(self) -> u8 {
            match self {
                Mine::Timeout => 5,
                Mine::Clash => 3,
            }
        }
    }

    #[test]
    fn shared_codes_are_distinct_and_leave_2_free() {
        let codes: Vec<u8> = Exit::<Infallible>::all().iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 3, 4, 6, 7, 8, 64, 130]);
        let help = "Exit codes:\n  0    ok\n  1    other\n  3    down\n  4    tab\n  6    key\n  \
                    7    file\n  8    config\n  64   usage\n  130  interrupted\n";
        assert!(exit_code_problems::<Infallible>(help).is_empty());
    }

    #[test]
    fn own_codes_follow_and_problems_are_named() {
        let all = Exit::<Mine>::all();
        assert_eq!(
            all[all.len() - 2..],
            [Exit::Own(Mine::Timeout), Exit::Own(Mine::Clash)]
        );
        assert_eq!(Exit::Own(Mine::Timeout).code(), 5);
        let help = "Exit codes:\n  0    ok\n  1    other\n  3    down\n  4    tab\n  6    key\n  \
                    7    file\n  8    config\n  64   usage\n  130  interrupted\n";
        assert_eq!(
            exit_code_problems::<Mine>(help),
            [
                "Own(Timeout) (code 5) is missing from the help",
                "Own(Clash) reuses code 3"
            ]
        );
    }

    #[test]
    fn anyhow_context_is_one_line_with_causes() {
        let err: Result<(), std::io::Error> = Err(std::io::Error::other("disk\nfull"));
        let failure = err
            .context("cannot write models.json")
            .or_exit(Exit::<Infallible>::File)
            .unwrap_err();
        assert_eq!(failure.to_string(), "cannot write models.json: disk full");
        assert_eq!(failure.exit.code(), 7);
    }

    #[test]
    fn error_sources_are_joined() {
        #[derive(Debug, thiserror::Error)]
        #[error("cannot read config.jsonc")]
        struct Outer(#[source] std::io::Error);
        let failure: Failure<Infallible> =
            Failure::new(Exit::Config, Outer(std::io::Error::other("denied")));
        assert_eq!(failure.message, "cannot read config.jsonc: denied");
        let failure: Failure<Infallible> = Failure::msg(Exit::Other, "a\n  b\tc ");
        assert_eq!(failure.message, "a b c");
    }
}
