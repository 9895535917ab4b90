//! Sends written by the caller's thread: a message for one peer, with nothing queued
//! before it on the send queue, goes to an idle plain socket in one non-blocking write
//! from the thread that sends it (the game's main thread), instead of waking the send
//! task. A game's reply then leaves when `send()` returns, as it does with Godot's
//! TCPServer + WebSocketPeer, and no network thread is woken or waited for.
//!
//! Order is kept: with anything on the send queue (a broadcast, a close, an earlier send)
//! the message is queued behind it; the socket is written only at a frame boundary with
//! nothing of the peer queued ([`crate::core::socket::direct`]). Messages to be compressed
//! are left to the send task, so compression never runs on the caller's thread.

use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::Fanout;
use crate::core::peer::{Outgoing, PeerShared};

/// Environment variable that turns the caller's writes off (`0`), for benchmarks that
/// set the two ways side by side.
pub const CALLER_WRITES_ENV: &str = "GODOT_WEBSOCKET_SERVER_CALLER_WRITES";

fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var(CALLER_WRITES_ENV).map_or(true, |v| v != "0"))
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
            && data.len() >= self.compression_threshold.load(Ordering::Relaxed);
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
