//! The TLS record layer after the handshake, on records sealed from arbitrary pieces
//! mixed with raw bytes (`godot_websocket_server::core::fuzzing::tls_records` has the
//! invariants). The first byte picks the record format and cipher.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    godot_websocket_server::core::fuzzing::tls_records(data);
});
