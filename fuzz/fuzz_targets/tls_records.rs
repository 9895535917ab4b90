//! A wss connection's TLS after a real handshake, on records a rustls client seals
//! from arbitrary pieces mixed with raw bytes (`godot_websocket_server::core::fuzzing::
//! TlsRecords` has the invariants). The first byte picks the TLS version and the size of
//! the chunks the server is fed.
#![no_main]

use std::sync::LazyLock;

use godot_websocket_server::core::fuzzing::TlsRecords;
use libfuzzer_sys::fuzz_target;

static RECORDS: LazyLock<TlsRecords> = LazyLock::new(|| {
    TlsRecords::new(
        include_str!("../tls/cert.pem"),
        include_str!("../tls/key.pem"),
    )
});

fuzz_target!(|data: &[u8]| {
    RECORDS.run(data);
});
