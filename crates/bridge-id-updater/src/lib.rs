//! bridge-id-updater: captures the `session_id`/`message_id` of an LMArena conversation for the
//! `retry` flow. It asks (or reads from flags) the mode and where the ids go, opens a temporary
//! listener on `127.0.0.1`, has bridge-server arm capture in the connected tab, and stores the
//! ids the tab reports when the user clicks Retry: the global ids in `config.jsonc` (comments
//! kept) or a model's pool in `model_endpoint_map.json`. What it shares with
//! bridge-model-updater (entry point, shared exit codes, the call to the server) is in
//! [`bridge_cli`].
//!
//! Modules:
//! - [`cli`]: the command line and its documented exit codes.
//! - [`exit`]: this CLI's own exit codes, and its failure type.
//! - [`plan`]: mode, side and destination, and the models a pool can belong to.
//! - [`prompt`]: the interactive questions (inquire).
//! - [`capture`]: validation of the report the tab sends.
//! - [`listener`]: the capture listener (`POST /update` and its CORS preflight, nothing else).
//! - [`server`]: asking bridge-server to arm capture.
//! - [`store`]: writing the ids.
//! - [`progress`]: the countdown while waiting.
//! - [`app`]: one run, from arguments to written files.

pub mod app;
pub mod capture;
pub mod cli;
pub mod exit;
pub mod listener;
pub mod plan;
pub mod progress;
pub mod prompt;
pub mod server;
pub mod store;
