//! Test helpers shared by the workspace's tests:
//!
//! - [`chaos`]: the seeded chaos run of issue 16 (faulty tabs and clients, invariants).
//! - [`fake_tab`]: a fake userscript tab speaking relay protocol v2 over a real WebSocket.
//! - [`fake_arena`]: a fake LMArena over HTTPS (also the `fake-lmarena` binary).
//! - [`https_host`]: a small HTTPS file host for download tests.
//! - [`sse`]: reading a streamed answer's events.
//! - [`server`]: the real bridge-server on a loopback port 0.
//! - [`cli`]: helpers for tests that run the CLI binaries.
pub mod chaos;
pub mod cli;
pub mod fake_arena;
pub mod fake_tab;
pub mod https_host;
pub mod server;
pub mod sse;
