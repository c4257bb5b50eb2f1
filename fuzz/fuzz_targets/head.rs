//! The HTTP request-head parser must never panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = wshub::fuzzing::parse_head(data);
});
