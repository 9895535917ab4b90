//! What the server counts: [method get_stats] and Godot's performance monitors.

use godot::prelude::*;

use super::WebSocketServer;
use crate::core::Refused;

#[godot_api(secondary)]
impl WebSocketServer {
    /// The server's statistics since this object was made: `peers` and `handshakes` (now),
    /// `accepted` (connections that became peers), `refused` (a Dictionary by reason:
    /// `subprotocol`, `limit`, `per_ip_limit`, `origin`, `decision`, `handshake_timeout`,
    /// `bad_request`, `refusing`, `file_descriptors`), `messages_in`, `bytes_in`, `messages_out`, `bytes_out`
    /// (message payloads), `dropped_packets` (unreliable packets dropped for congested
    /// peers), `poll_usec` and `poll_usec_average` (the time [method MultiplayerPeer.poll]
    /// took, signals included, in microseconds), `inbound_buffered_bytes` (received and not
    /// yet read by the game) and `outbound_buffered_bytes` (queued and not yet handed to
    /// the sockets), summed over the peers now.
    #[func]
    fn get_stats(&self) -> VarDictionary {
        let stats = self.server.stats();
        let mut refused = VarDictionary::new();
        for reason in Refused::ALL {
            refused.set(reason.name(), stats.refused_for(reason) as i64);
        }
        let mut dict = VarDictionary::new();
        dict.set("peers", stats.peers as i64);
        dict.set("handshakes", stats.handshakes as i64);
        dict.set("accepted", stats.accepted as i64);
        dict.set("refused", &refused);
        dict.set("messages_in", stats.messages_in as i64);
        dict.set("bytes_in", stats.bytes_in as i64);
        dict.set("messages_out", stats.messages_out as i64);
        dict.set("bytes_out", stats.bytes_out as i64);
        dict.set("dropped_packets", stats.dropped as i64);
        dict.set("poll_usec", stats.poll_last_ns as f64 / 1000.0);
        dict.set("poll_usec_average", stats.poll_average_ns as f64 / 1000.0);
        let (inbound, outbound) = self.server.buffered_bytes();
        dict.set("inbound_buffered_bytes", inbound as i64);
        dict.set("outbound_buffered_bytes", outbound as i64);
        dict
    }

    /// The prefix of this server's custom performance monitors (registered at the first
    /// [method listen]; "" before): `websocket_server`, or `websocket_server_2` ... when
    /// several servers run in one process. The monitors are `<prefix>/peers`,
    /// `/handshakes`, `/bytes_in_per_second`, `/bytes_out_per_second`,
    /// `/messages_in_per_second`, `/messages_out_per_second` and `/poll_usec`; the editor's
    /// debugger graphs them (Monitors tab) and [method Performance.get_custom_monitor] reads
    /// them. They are removed when the server is freed.
    #[func]
    fn get_monitor_prefix(&self) -> GString {
        self.monitors
            .as_ref()
            .map(|m| GString::from(m.prefix()))
            .unwrap_or_default()
    }
}
