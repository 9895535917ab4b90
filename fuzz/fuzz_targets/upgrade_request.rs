//! The HTTP upgrade request reader and checker on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    godot_websocket_server::core::fuzzing::upgrade_request(data);
});
