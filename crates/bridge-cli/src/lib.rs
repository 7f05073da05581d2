//! bridge-cli: the plumbing bridge-id-updater and bridge-model-updater share, so both CLIs
//! start, talk to bridge-server and fail the same way.
//!
//! Modules:
//! - [`exit`]: the exit codes both CLIs share (each adds its own), [`Failure`] and how it is
//!   printed.
//! - [`entry`]: the entry point: argument parsing with usage errors mapped to 64, the update
//!   flags, tracing, the prompt decision, the final exit code.
//! - [`server`]: the `--server` URL, and calling bridge-server's loopback-only internal routes
//!   with the failures their answers map to.

pub mod entry;
pub mod exit;
pub mod server;

pub use entry::{init_tracing, parse_args_or_exit, run_main, CliArgs};
pub use exit::{finish, one_line, Exit, Failure, OrExit, OwnExit};
pub use server::{call_internal, parse_server_url, InternalError, DEFAULT_SERVER};

/// Write a line of a CLI's report to `$out` (a `dyn Write`); a closed stdout must not end the
/// run (or panic, as `println!` would).
#[macro_export]
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}
