//! Test helpers shared by the workspace's tests:
//!
//! - [`fake_tab`]: a fake userscript tab speaking relay protocol v2 over a real WebSocket.
//! - [`fake_arena`]: a fake LMArena over HTTPS (also the `fake-lmarena` binary).
//! - [`https_host`]: a small HTTPS file host for download tests.
//! - [`server`]: the real bridge-server on a loopback port 0.
//! - [`cli`]: helpers for tests that run the CLI binaries.
pub mod cli;
pub mod fake_arena;
pub mod fake_tab;
pub mod https_host;
pub mod server;
