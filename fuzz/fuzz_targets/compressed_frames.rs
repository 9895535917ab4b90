//! permessage-deflate's inflation in front of the frame reader, on arbitrary bytes
//! (`godot_websocket_server::core::fuzzing::compressed_frames` has the invariants). The
//! first byte sets the size of the pieces the rest arrives in.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    godot_websocket_server::core::fuzzing::compressed_frames(data);
});
