//! Fuzz target: a file read as config.jsonc, models.json and model_endpoint_map.json: a value or a typed error. Input: the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bridge_core::fuzzing::check_config_text(&String::from_utf8_lossy(data));
});
