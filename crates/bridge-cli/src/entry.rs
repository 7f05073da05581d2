//! The entry point both binaries share: parse the arguments (usage errors exit 64), answer
//! `--check-update`/`--update`, set up tracing, decide whether prompts may be shown, run, and
//! turn the outcome into the exit code.

use std::convert::Infallible;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::exit::{exit_code_problems, finish, Exit, Failure, OwnExit};

/// Log filter unless `RUST_LOG` says otherwise: the report on stdout is what the user reads;
/// logs are for debugging.
const DEFAULT_LOG_FILTER: &str = "warn";

/// What the entry point needs from a CLI's arguments besides parsing them.
pub trait CliArgs: Parser {
    /// The flattened `--check-update`/`--update` flags, and whether `--yes` (never prompt)
    /// was given.
    fn common_flags(&self) -> (&bridge_update::UpdateFlags, bool);
}

/// The whole `main` of a CLI named `bin_name` at `version`: `run(args, interactive, stdout)`
/// does the work; `interactive` is false with `--yes` or when standard input or standard error
/// is not a terminal. Returns the code the process exits with.
pub fn run_main<A, O>(
    bin_name: &str,
    version: &str,
    run: impl FnOnce(&A, bool, &mut dyn Write) -> Result<(), Failure<O>>,
) -> ExitCode
where
    A: CliArgs,
    O: OwnExit,
{
    let args: A = parse_args_or_exit();
    let (update, yes) = args.common_flags();
    if let Some(action) = update.action() {
        return bridge_update::run_cli(action, bin_name, version);
    }
    init_tracing();
    // inquire draws on stderr and reads the terminal.
    let interactive = !yes && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    finish(run(&args, interactive, &mut std::io::stdout()))
}

/// The parsed command line. `--help` and `--version` print their text and end the process
/// with 0; a usage error prints clap's message and ends it with 64 ([`Exit::Usage`]), not
/// clap's 2.
pub fn parse_args_or_exit<A: Parser>() -> A {
    match A::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            let exit: Exit<Infallible> = if e.use_stderr() {
                Exit::Usage
            } else {
                Exit::Ok
            };
            // `process::exit` runs no destructors: flush what clap wrote first.
            let _ = std::io::stdout().flush();
            let _ = std::io::stderr().flush();
            std::process::exit(i32::from(exit.code()))
        }
    }
}

/// What is wrong with a CLI's command line `A` and its exit codes `O`, for the CLI's tests:
/// clap's consistency checks (they panic), a code used twice, a code `exit_codes_help` leaves
/// out, `--help` not ending with `exit_codes_help`. Empty when all is well.
pub fn cli_problems<A: clap::CommandFactory, O: OwnExit>(exit_codes_help: &str) -> Vec<String> {
    A::command().debug_assert();
    let mut problems = exit_code_problems::<O>(exit_codes_help);
    let help = A::command().render_long_help().to_string();
    if !help.trim_end().ends_with(exit_codes_help.trim_end()) {
        problems.push(format!("--help does not end with the exit codes:\n{help}"));
    }
    problems
}

/// Logs go to stderr (stdout carries the report) at `warn` unless `RUST_LOG` says otherwise.
/// A second call changes nothing.
pub fn init_tracing() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    /// A help listing every shared code.
    fn exit_codes_help() -> String {
        let lines: Vec<String> = Exit::<Infallible>::all()
            .iter()
            .map(|e| format!("  {:<4} {e:?}", e.code()))
            .collect();
        format!("Exit codes:\n{}", lines.join("\n"))
    }

    #[derive(Parser)]
    #[command(after_help = exit_codes_help())]
    struct Documented {
        #[arg(long)]
        yes: bool,
    }

    #[derive(Parser)]
    struct Undocumented {
        #[arg(long)]
        yes: bool,
    }

    #[test]
    fn cli_problems_name_what_is_missing() {
        let help = exit_codes_help();
        assert_eq!(
            cli_problems::<Documented, Infallible>(&help),
            Vec::<String>::new()
        );
        let problems = cli_problems::<Undocumented, Infallible>(&help);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("--help does not end with the exit codes"));
        let without_usage = help.replace("\n  64   Usage", "");
        let problems = cli_problems::<Documented, Infallible>(&without_usage);
        assert_eq!(problems[0], "Usage (code 64) is missing from the help");
    }
}
