//! Test helpers shared by the workspace's tests: a fake userscript speaking relay protocol v2,
//! a fake LMArena upstream, and fixture loading.
pub mod fake_arena;
pub mod fake_tab;
pub mod server;
