//! Fuzz target: the stop matcher cuts where a direct search says, for any split. Input: first
//! line holds up to 4 sequences separated by `|`, then 2 bytes of cut seed, then the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (sequences, rest) = bridge_core::fuzzing::sequences_and_rest(data);
    let (cuts, text) = bridge_core::fuzzing::cuts_and_text(rest);
    bridge_core::fuzzing::check_stop_matcher(&sequences, &text, &cuts);
});
