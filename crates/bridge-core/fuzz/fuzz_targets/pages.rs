//! Fuzz target: the model scraper on any page HTML: models found in the page or an error. Input: the HTML.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    bridge_core::fuzzing::check_page(&String::from_utf8_lossy(data));
});
