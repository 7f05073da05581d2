//! Fuzz target: the tool-call parser never panics, gives the same events for any split, and
//! echoes the answer unchanged when it finds no call. Input: 2 bytes of cut seed, then text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (cuts, text) = bridge_core::fuzzing::cuts_and_text(data);
    bridge_core::fuzzing::check_tool_parser(&text, &cuts);
});
