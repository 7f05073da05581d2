//! The update check bridge-server runs at startup. It runs on its own thread, so startup never
//! waits for the network. A check that cannot reach the release server (offline is normal for
//! a local tool) is one info line and a small note on the status page; the error itself is
//! logged at debug level only. When a newer release exists it is logged and shown on `/status`;
//! only with `enable_auto_update: true` is it installed, and then the server is asked to restart
//! once no request is in flight (the binary's `main` stops the server gracefully and re-executes
//! the new binary).

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::Duration;

use bridge_update::{CheckOutcome, UpdateOutcome, Updater};
use tokio::sync::oneshot;

use crate::state::AppState;
use crate::stats::{UpdateInfo, UpdateState};

/// What /status and the page say when the release server could not be asked; the reason is
/// only in the debug log.
pub const CHECK_FAILED_NOTE: &str = "Could not check for updates.";

/// Longest wait for in-flight requests before restarting anyway (the graceful stop still gives
/// them `shutdown_grace`).
const DRAIN_LIMIT: Duration = Duration::from_secs(15 * 60);

/// An installed update the server should restart into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    pub path: PathBuf,
    pub version: String,
}

/// The running check.
#[derive(Debug)]
pub struct UpdateTask {
    /// The check thread; it ends after the check (or after the drain wait).
    pub thread: JoinHandle<()>,
    /// Yields the installed update once no request is in flight; closes without a value when
    /// there is nothing to restart into.
    pub restart: oneshot::Receiver<Restart>,
}

/// Starts the check on a background thread and returns at once. With `install`, a newer
/// release is downloaded, verified and installed over `updater`'s install path.
pub fn spawn(state: AppState, updater: Updater, install: bool) -> std::io::Result<UpdateTask> {
    let (tx, rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("update-check".to_owned())
        .spawn(move || {
            if let Some(restart) = run(&state, &updater, install) {
                if !state.stats().wait_until_idle(DRAIN_LIMIT) {
                    tracing::warn!(
                        "requests still in flight after {} s; restarting anyway",
                        DRAIN_LIMIT.as_secs()
                    );
                }
                let _ = tx.send(restart);
            }
        })?;
    Ok(UpdateTask {
        thread,
        restart: rx,
    })
}

/// The check itself; returns the installed update when a restart is due.
fn run(state: &AppState, updater: &Updater, install: bool) -> Option<Restart> {
    let bin = updater.bin_name().to_owned();
    let current = updater.current_version().to_owned();
    let info = |state: UpdateState, latest: Option<String>, message: String| UpdateInfo {
        state,
        current: current.clone(),
        latest,
        message,
    };
    let available = match updater.check() {
        Ok(CheckOutcome::UpToDate { .. }) => {
            tracing::info!("{bin} {current} is the newest release");
            state.stats().set_update(info(
                UpdateState::UpToDate,
                None,
                "This is the newest release.".into(),
            ));
            return None;
        }
        Ok(CheckOutcome::Available(a)) => a,
        Err(e) => {
            tracing::info!(
                "could not check for updates; the server works as before (RUST_LOG=debug shows why)"
            );
            tracing::debug!("update check failed: {e}");
            state.stats().set_update(info(
                UpdateState::CheckFailed,
                None,
                CHECK_FAILED_NOTE.to_owned(),
            ));
            return None;
        }
    };
    if !install {
        let message = format!(
            "{bin} {} is available (running {current}). To install it, stop the server and run \
             `{bin} --update`; with \"enable_auto_update\": true in config.jsonc the server \
             installs new releases itself at startup.",
            available.latest
        );
        tracing::info!("{message}");
        state.stats().set_update(info(
            UpdateState::Available,
            Some(available.latest),
            message,
        ));
        return None;
    }
    tracing::info!(
        "{bin} {} is available; enable_auto_update is on, installing it",
        available.latest
    );
    match updater.update() {
        Ok(UpdateOutcome::Updated { to, path, .. }) => {
            let message = format!(
                "{bin} {to} was installed at {}; the server restarts into it once no request is \
                 in flight.",
                path.display()
            );
            tracing::info!("{message}");
            state
                .stats()
                .set_update(info(UpdateState::Installed, Some(to.clone()), message));
            Some(Restart { path, version: to })
        }
        Ok(UpdateOutcome::UpToDate { .. }) => None,
        Err(e) => {
            tracing::warn!("automatic update failed, keeping {current}: {e}");
            state.stats().set_update(info(
                UpdateState::InstallFailed,
                Some(available.latest),
                format!("Automatic update failed, {current} kept: {e}"),
            ));
            None
        }
    }
}
