//! Fuzz target: the LMArena stream parser gives the same events for any split and no more text than came in. Input: 1 byte side, 2 bytes of cut seed, then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (side, rest) = data.split_first().map_or((0, data), |(s, r)| (*s, r));
    let (cuts, text) = bridge_core::fuzzing::cuts_and_text(rest);
    bridge_core::fuzzing::check_stream(side, &text, &cuts);
});
