//! Fuzz target: a request body through the chat, completion and image parsers and the Anthropic / Responses translators: no panic, short errors, `n` capped. Input: the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bridge_core::fuzzing::check_request_body(data);
});
