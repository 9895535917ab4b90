//! Sends written by the caller's thread, when asked for (`GODOT_WEBSOCKET_SERVER_CALLER_WRITES=1`):
//! a message for one peer, with nothing queued before it on the send queue, goes to an
//! idle plain socket in one non-blocking write from the thread that sends it (the game's
//! main thread), instead of waking the send task.
//!
//! Off by default, by measurement (tools/bench-engine.sh, 2 cores): at the wire it saved
//! 0.03-0.3 ms per answer at best, within run-to-run spread, while under load every echo
//! became a system call of its own on the main thread (on loopback about 10 µs, the
//! receiver's side included) instead of the connection tasks' batched writes on a network
//! thread: 70,000-87,000 echoes/s at 15 µs of CPU each, against 227,000-468,000 at 3.4 µs.
//!
//! Order is kept: with anything on the send queue (a broadcast, a close, an earlier send)
//! the message is queued behind it; the socket is written only at a frame boundary with
//! nothing of the peer queued ([`crate::core::socket::direct`]). Messages to be compressed
//! are left to the send task, so compression never runs on the caller's thread.

use std::sync::atomic::{AtomicU8, Ordering};

use bytes::Bytes;

use super::Fanout;
use crate::core::peer::{Outgoing, PeerShared};

/// Environment variable that turns the caller's writes on (`1`), for benchmarks that set
/// the two ways side by side.
pub const CALLER_WRITES_ENV: &str = "GODOT_WEBSOCKET_SERVER_CALLER_WRITES";

/// 0: not decided yet (the environment decides), 1: off, 2: on.
static CALLER_WRITES: AtomicU8 = AtomicU8::new(0);

/// Turns the caller's writes on or off for the whole process (tests and benchmarks; the
/// default comes from [`CALLER_WRITES_ENV`]).
pub fn set_caller_writes(on: bool) {
    CALLER_WRITES.store(if on { 2 } else { 1 }, Ordering::Relaxed);
}

fn enabled() -> bool {
    match CALLER_WRITES.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var(CALLER_WRITES_ENV).is_ok_and(|v| v == "1");
            set_caller_writes(on);
            on
        }
        state => state == 2,
    }
}

impl Fanout {
    /// Writes `data` to `peer`'s socket from this thread if nothing is queued before it
    /// and the socket is idle; gives the data back otherwise. Its limits are reserved
    /// already (as for the send queue).
    pub(super) fn write_from_caller(
        &self,
        peer: &PeerShared,
        data: Bytes,
        is_text: bool,
    ) -> Result<(), Bytes> {
        if !enabled() || self.pending.load(Ordering::Acquire) != 0 {
            return Err(data);
        }
        let compressible = peer.deflate_window().is_some()
            && data.len() >= self.settings.current().live.compression_threshold;
        if compressible {
            return Err(data);
        }
        let message = Outgoing::plain(data, is_text);
        if peer.write_direct(&message, true) {
            Ok(())
        } else {
            Err(message.data)
        }
    }
}
