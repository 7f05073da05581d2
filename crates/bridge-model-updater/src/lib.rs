//! bridge-model-updater: gets the LMArena model list (the site's model catalog through the
//! running bridge-server, whose connected tab fetches it, parsed by
//! [`bridge_core::arena::catalog`]; else the page HTML, scraped by [`bridge_core::scrape`]; or
//! either from a file), writes `available_models.json`, reports `models.json` ids that changed
//! on the site (rewriting them with `--fix-ids`) and can add chosen models to `models.json`. What it shares with bridge-id-updater (entry point, shared exit codes, the call
//! to the server) is in [`bridge_cli`].
//!
//! Modules:
//! - [`cli`]: the command line and its documented exit codes.
//! - [`exit`]: this CLI's own exit codes, and its failure type.
//! - [`source`]: where the catalog or the page HTML comes from.
//! - [`update`]: the summary of a list, drifted ids and the `models.json` additions, as pure
//!   functions.
//! - [`app`]: one run, from arguments to written files.

pub mod app;
pub mod cli;
pub mod exit;
pub mod source;
pub mod update;
