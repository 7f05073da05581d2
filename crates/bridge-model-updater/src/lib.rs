//! bridge-model-updater: fetches the LMArena page HTML (through the running bridge-server,
//! whose connected tab sends it, or from a file), scrapes its model list with
//! [`bridge_core::scrape`], writes `available_models.json` and can add chosen models to
//! `models.json`. What it shares with bridge-id-updater (entry point, shared exit codes, the call
//! to the server) is in [`bridge_cli`].
//!
//! Modules:
//! - [`cli`]: the command line and its documented exit codes.
//! - [`exit`]: this CLI's own exit codes, and its failure type.
//! - [`source`]: where the page HTML comes from.
//! - [`update`]: the summary of a scraped list and the `models.json` additions, as pure
//!   functions.
//! - [`app`]: one run, from arguments to written files.

pub mod app;
pub mod cli;
pub mod exit;
pub mod source;
pub mod update;
