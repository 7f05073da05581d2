//! The `--check-update` and `--update` flags shared by every binary, and the report they print.

use std::io::Write;
use std::process::ExitCode;

use crate::{CheckOutcome, ReleaseSource, UpdateError, UpdateOutcome, Updater, Verification};

/// Flags to flatten into a binary's clap arguments (`#[command(flatten)]`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct UpdateFlags {
    /// Check the project's GitHub releases for a newer version, print the result and exit.
    #[arg(long, conflicts_with = "update")]
    pub check_update: bool,
    /// Download the newest release, verify its checksum, replace this binary and exit.
    #[arg(long)]
    pub update: bool,
}

impl UpdateFlags {
    /// The action asked for, if any.
    pub fn action(&self) -> Option<Action> {
        if self.update {
            Some(Action::Update)
        } else if self.check_update {
            Some(Action::Check)
        } else {
            None
        }
    }
}

/// What the user asked for on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `--check-update`: report only.
    Check,
    /// `--update`: install now.
    Update,
}

/// Runs `action` for the running binary against the releases named by the environment, prints
/// the report on stdout (errors on stderr) and returns the exit code: 0 done (also "up to date"
/// and "newer version available"), 1 failed.
pub fn run_cli(action: Action, bin_name: &str, version: &str) -> ExitCode {
    let result = ReleaseSource::from_env()
        .and_then(|source| report(action, &Updater::new(bin_name, version, source)));
    match result {
        Ok(text) => {
            let _ = writeln!(std::io::stdout(), "{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `action` and describes the outcome in one or two sentences.
pub fn report(action: Action, updater: &Updater) -> Result<String, UpdateError> {
    let bin = updater.bin_name();
    match action {
        Action::Check => Ok(match updater.check()? {
            CheckOutcome::UpToDate { current } => {
                format!("{bin} {current} is up to date.")
            }
            CheckOutcome::Available(a) if a.has_asset => format!(
                "{bin} {} is available (running {}). Install it with `{bin} --update`.",
                a.latest, a.current
            ),
            CheckOutcome::Available(a) => format!(
                "{bin} {} is available (running {}), but the release has no {}: there is no \
                 build for this platform.",
                a.latest,
                a.current,
                updater.asset_name()
            ),
        }),
        Action::Update => Ok(match updater.update()? {
            UpdateOutcome::UpToDate { current } => {
                format!("{bin} {current} is up to date; nothing to install.")
            }
            UpdateOutcome::Updated {
                from,
                to,
                path,
                verification,
            } => {
                let verified = match verification {
                    Verification::ChecksumAsset => "checksum verified",
                    Verification::ReleaseDigest => "verified against GitHub's digest",
                    Verification::Unverified => "the release publishes no checksum",
                };
                format!(
                    "Updated {bin} {from} -> {to} at {} ({verified}). The next start runs the new \
                     version.",
                    path.display()
                )
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Args {
        #[command(flatten)]
        update: UpdateFlags,
    }

    #[test]
    fn flags_map_to_actions_and_conflict() {
        let none = Args::try_parse_from(["x"]).unwrap();
        assert_eq!(none.update.action(), None);
        let check = Args::try_parse_from(["x", "--check-update"]).unwrap();
        assert_eq!(check.update.action(), Some(Action::Check));
        let update = Args::try_parse_from(["x", "--update"]).unwrap();
        assert_eq!(update.update.action(), Some(Action::Update));
        assert!(Args::try_parse_from(["x", "--update", "--check-update"]).is_err());
    }
}
