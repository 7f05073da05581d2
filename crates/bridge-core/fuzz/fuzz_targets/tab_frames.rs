//! Fuzz target: a text frame from a tab: the chunk fast path agrees with the full frame parser, parsed frames round-trip. Input: the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bridge_core::fuzzing::check_tab_frame(&String::from_utf8_lossy(data));
});
